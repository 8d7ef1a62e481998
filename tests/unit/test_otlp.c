/* OTLP/JSON of hand-made snapshots (src/frontend/otlp.c): the trace id as given, distinct span
 * ids, the await tree as parent links, a socket peer in another process as a span link, a task
 * with no id named by its future, a process with no task. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/peers.h"
#include "ai/util.h"

static struct ai_snapshot *process(pid_t pid)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->pid = pid;
	s->command = xasprintf("app%d", (int)pid);
	s->host = xstrdup("h");
	s->captured_at_ms = 1700000000000;
	s->pause_us = 250;
	return s;
}

static struct ai_snapshot_task *add_task(struct ai_snapshot *s, uint64_t id)
{
	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = id;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("idle");
	t->runtime = xstrdup("tokio");
	t->future = xasprintf("app::task%llu", (unsigned long long)id);
	t->tree.function = xstrdup(t->future);
	t->tree.file = xstrdup("src/main.rs");
	t->tree.line = (int)(10 + id);
	return t;
}

static void tcp_read(struct ai_snapshot_task *t, const char *local, const char *peer)
{
	struct ai_await_node *leaf = ai_await_node_add_child(&t->tree);
	leaf->type = xstrdup("tokio::net::tcp::stream::Read");
	leaf->leaf = true;
	struct ai_wait *w = leaf->wait = xcalloc(1, sizeof(*w));
	t->wait = w;
	w->kind = xstrdup("io");
	w->description = xstrdup("waiting for read");
	w->has_fd = true;
	w->fd = 9;
	w->direction = xstrdup("read");
	w->socket_kind = xstrdup("TCP");
	w->socket_state = xstrdup("ESTABLISHED");
	w->local_address = xstrdup(local);
	w->peer_address = xstrdup(peer);
}

static char *otlp_of(const struct ai_process_set *set)
{
	uint8_t trace[16];
	for (size_t i = 0; i < 16; i++)
		trace[i] = (uint8_t)(0xa0 + i);
	struct ai_json_writer w;
	ai_json_writer_init_buffer(&w, false);
	ai_write_otlp_json(&w, set, trace, "9.9");
	return ai_json_writer_take(&w, NULL);
}

static const char *attr(json_t *span, const char *key, const char *type)
{
	size_t i;
	json_t *kv;
	json_array_foreach(json_object_get(span, "attributes"), i, kv) {
		if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
			return json_string_value(json_object_get(json_object_get(kv, "value"), type));
	}
	return NULL;
}

static json_t *spans(json_t *root, size_t process)
{
	json_t *rs = json_array_get(json_object_get(root, "resourceSpans"), process);
	return json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
}

Test(otlp_json, peer_link_tree_and_ids)
{
	struct ai_process_set set;
	ai_process_set_init(&set);
	struct ai_snapshot *client = process(100), *server = process(200), *idle = process(300);
	tcp_read(add_task(client, 1), "127.0.0.1:40000", "127.0.0.1:8080");
	struct ai_snapshot_task *b = ai_snapshot_add_task(client); /* a block_on: no id, no name */
	b->kind = xstrdup("block_on");
	b->future = xstrdup("app::main::{async_block#0}");
	b->thread = 100;
	add_task(server, 6);
	tcp_read(add_task(server, 7), "127.0.0.1:8080", "127.0.0.1:40000");
	ai_process_set_add(&set, client);
	ai_process_set_add(&set, server);
	ai_process_set_add(&set, idle);
	ai_analysis_peers(&set);
	cr_assert(client->tasks[0].wait->peer, "linked");

	char *text = otlp_of(&set);
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);
	cr_assert(root, "%s: %s", error.text, text);
	cr_assert_eq(json_array_size(json_object_get(root, "resourceSpans")), 3);
	json_t *cs = spans(root, 0), *ss = spans(root, 1);
	cr_expect_eq(json_array_size(spans(root, 2)), 0, "no task, no span");
	/* client: task 1, its root node and leaf, the block_on and its root node; server: task 6 and
	 * its root node, task 7, its root node and leaf */
	cr_assert_eq(json_array_size(cs), 5);
	cr_assert_eq(json_array_size(ss), 5);
	json_t *t1 = json_array_get(cs, 0), *leaf = json_array_get(cs, 2), *bo = json_array_get(cs, 3);
	cr_expect_str_eq(json_string_value(json_object_get(t1, "traceId")), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	cr_expect_str_eq(json_string_value(json_object_get(t1, "startTimeUnixNano")), "1700000000000000000");
	cr_expect_str_eq(json_string_value(json_object_get(t1, "endTimeUnixNano")), "1700000000000250000");
	cr_expect_eq(json_integer_value(json_object_get(t1, "kind")), 1);
	cr_expect_null(json_object_get(t1, "parentSpanId"));
	cr_expect_str_eq(attr(t1, "async_inspect.task.id", "intValue"), "1");
	cr_expect_str_eq(attr(t1, "async_inspect.wait.peer.task_id", "intValue"), "7");
	cr_expect_str_eq(attr(t1, "async_inspect.wait.socket.peer_address", "stringValue"), "127.0.0.1:8080");
	/* the await tree: task span -> root node -> leaf */
	json_t *root_node = NULL;
	size_t i;
	json_t *s;
	json_array_foreach(cs, i, s) {
		const char *parent = json_string_value(json_object_get(s, "parentSpanId"));
		if (parent && strcmp(parent, json_string_value(json_object_get(t1, "spanId"))) == 0)
			root_node = s;
	}
	cr_assert(root_node);
	cr_expect_str_eq(attr(root_node, "code.lineno", "intValue"), "11");
	cr_expect_str_eq(attr(root_node, "code.filepath", "stringValue"), "src/main.rs");
	cr_expect_str_eq(json_string_value(json_object_get(leaf, "parentSpanId")),
			 json_string_value(json_object_get(root_node, "spanId")));
	cr_expect_str_eq(attr(leaf, "async_inspect.wait.kind", "stringValue"), "io");
	/* the block_on: named by its future, no id */
	cr_expect_str_eq(json_string_value(json_object_get(bo, "name")), "app::main::{async_block#0}");
	cr_expect_null(attr(bo, "async_inspect.task.id", "intValue"));
	cr_expect_str_eq(attr(bo, "thread.id", "intValue"), "100");
	/* the peer link goes to server task 7's span */
	json_t *t7 = json_array_get(ss, 2);
	cr_expect_str_eq(attr(t7, "async_inspect.task.id", "intValue"), "7");
	json_t *link = json_array_get(json_object_get(t1, "links"), 0);
	cr_assert(link);
	cr_expect_str_eq(json_string_value(json_object_get(link, "spanId")), json_string_value(json_object_get(t7, "spanId")));
	/* every span id distinct, 16 hex digits */
	json_t *ids = json_object();
	for (size_t p = 0; p < 2; p++) {
		json_array_foreach(spans(root, p), i, s) {
			const char *id = json_string_value(json_object_get(s, "spanId"));
			cr_expect_eq(strlen(id), 16);
			cr_expect_eq(strspn(id, "0123456789abcdef"), 16);
			cr_expect_null(json_object_get(ids, id), "span id %s twice", id);
			json_object_set_new(ids, id, json_true());
		}
	}
	json_decref(ids);
	json_t *res = json_object_get(json_array_get(json_object_get(root, "resourceSpans"), 1), "resource");
	cr_expect_str_eq(attr(res, "service.name", "stringValue"), "app200");
	cr_expect_str_eq(attr(res, "process.pid", "intValue"), "200");
	json_decref(root);
	free(text);
	ai_process_set_deinit(&set);
}
