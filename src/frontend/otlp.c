/* `dump --format otlp` / `dump --otlp URL`: snapshots as one OTLP/JSON ExportTraceServiceRequest
 * (opentelemetry-proto's opentelemetry/proto/collector/trace/v1/trace_service.proto in the
 * protobuf JSON mapping the OTLP spec prescribes: lowerCamelCase keys, trace and span ids as hex,
 * enums as integers, 64-bit integers as strings), for tracing backends that store and search a
 * fleet's snapshots.
 *
 * The whole dump is one trace. Each process is a resourceSpans (service.name its command); each
 * task a root span, with a child span per node of its await tree, nested as the tree is, so a
 * trace view shows the await chain. A task's wait, the tasks holding what it waits for and the
 * task at the other end of its socket are attributes, those tasks also span links; a task in a
 * deadlock cycle has an error status. Span ids are a bijective mix of one random seed and a
 * counter: distinct within the trace, and a task's id is known before its span is written (for
 * links to it). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai/analysis.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/peers.h"
#include "ai/util.h"

/* opentelemetry/proto/trace/v1/trace.proto: Span.SpanKind and Status.StatusCode. */
enum { SPAN_KIND_INTERNAL = 1 };
enum { STATUS_CODE_ERROR = 2 };

struct otlp {
	struct ai_json_writer *w;
	const struct ai_process_set *set;
	char trace_id[33];
	uint64_t seed;
	size_t *task_base; /* per process: the counter of its first task's span */
	uint64_t next;     /* the counter of the next await-node span */
	char start[24], end[24]; /* the current process's span times, ns since the epoch */
};

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: a bijection of 64-bit values. */
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void span_id(const struct otlp *o, uint64_t n, char out[17])
{
	uint64_t id = mix64(o->seed + n);
	snprintf(out, 17, "%016" PRIx64, id ? id : 1);
}

static void task_span_id(const struct otlp *o, size_t process, size_t task, char out[17])
{
	span_id(o, o->task_base[process] + task, out);
}

/* ---- attributes: KeyValue {key, value: AnyValue} ---- */

/* {"key": KEY, "value": {TYPE: ...}}: opened here, the typed value written by the caller. */
static void attr_begin(struct ai_json_writer *w, const char *key, const char *type)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "key", key);
	ai_json_key(w, "value");
	ai_json_begin_object(w);
	ai_json_key(w, type);
}

static void attr_end(struct ai_json_writer *w)
{
	ai_json_end_object(w);
	ai_json_end_object(w);
}

static void attr_string(struct ai_json_writer *w, const char *key, const char *value)
{
	if (!value)
		return;
	attr_begin(w, key, "stringValue");
	ai_json_string(w, value);
	attr_end(w);
}

static void attr_int(struct ai_json_writer *w, const char *key, int64_t value)
{
	char text[24];
	snprintf(text, sizeof(text), "%" PRId64, value);
	attr_begin(w, key, "intValue");
	ai_json_string(w, text); /* int64: a string in the JSON mapping */
	attr_end(w);
}

static void attr_bool(struct ai_json_writer *w, const char *key, bool value)
{
	attr_begin(w, key, "boolValue");
	ai_json_bool(w, value);
	attr_end(w);
}

static void attr_hex(struct ai_json_writer *w, const char *key, uint64_t value)
{
	char text[24];
	snprintf(text, sizeof(text), "0x%" PRIx64, value);
	attr_string(w, key, text);
}

static void write_resource(struct ai_json_writer *w, const struct ai_snapshot *s)
{
	ai_json_key(w, "resource");
	ai_json_begin_object(w);
	ai_json_key(w, "attributes");
	ai_json_begin_array(w);
	attr_string(w, "service.name", ai_process_command(s));
	if (s->pid > 0)
		attr_int(w, "process.pid", s->pid);
	attr_string(w, "process.executable.path", s->exe);
	attr_string(w, "host.name", s->host);
	attr_string(w, "async_inspect.core", s->core);
	/* "tokio 1.38.0, futures": every runtime the executable uses. */
	size_t len = 0;
	char *runtimes = NULL;
	for (size_t i = 0; i < s->runtime_count; i++) {
		const struct ai_snapshot_runtime *rt = &s->runtimes[i];
		char *next = xasprintf("%s%s%s%s%s", runtimes ? runtimes : "", len ? ", " : "", rt->name,
				       rt->version ? " " : "", rt->version ? rt->version : "");
		free(runtimes);
		runtimes = next;
		len = strlen(runtimes);
	}
	attr_string(w, "async_inspect.runtimes", runtimes);
	free(runtimes);
	if (s->runtime_count) {
		/* The first runtime also under fixed keys, to search by. */
		attr_string(w, "async_inspect.runtime.name", s->runtimes[0].name);
		attr_string(w, "async_inspect.runtime.version", s->runtimes[0].version);
	}
	attr_int(w, "async_inspect.tasks", (int64_t)s->task_count);
	attr_int(w, "async_inspect.pause_us", (int64_t)s->pause_us);
	ai_json_end_array(w);
	ai_json_end_object(w);
}

/* The attributes of a wait, under prefix ("async_inspect.wait"). */
static void write_wait_attributes(struct ai_json_writer *w, const char *prefix, const struct ai_wait *wait)
{
	char key[96];
#define KEY(name) (snprintf(key, sizeof(key), "%s.%s", prefix, name), key)
	attr_string(w, KEY("kind"), wait->kind);
	attr_string(w, KEY("description"), wait->description);
	attr_string(w, KEY("resource_type"), wait->resource_type);
	if (wait->address)
		attr_hex(w, KEY("resource_address"), wait->address);
	attr_string(w, KEY("access"), wait->access);
	if (wait->has_remaining)
		attr_int(w, KEY("remaining_ns"), wait->remaining_ns);
	if (wait->has_target_id)
		attr_int(w, KEY("target_task_id"), (int64_t)wait->target_task_id);
	attr_string(w, KEY("warning"), wait->warning);
	if (wait->has_fd)
		attr_int(w, KEY("fd"), wait->fd);
	attr_string(w, KEY("socket.kind"), wait->socket_kind);
	attr_string(w, KEY("socket.local_address"), wait->local_address);
	attr_string(w, KEY("socket.peer_address"), wait->peer_address);
	attr_string(w, KEY("socket.state"), wait->socket_state);
	const struct ai_peer *peer = wait->peer;
	if (peer) {
		attr_int(w, KEY("peer.pid"), peer->pid);
		attr_string(w, KEY("peer.command"), peer->command);
		if (peer->has_task_id)
			attr_int(w, KEY("peer.task_id"), (int64_t)peer->task_id);
		attr_string(w, KEY("peer.future"), peer->task_future);
		attr_bool(w, KEY("peer.inspected"), !peer->outside);
		attr_string(w, KEY("peer.summary"), peer->summary);
	}
#undef KEY
}

static void write_times(struct otlp *o)
{
	ai_json_field_string(o->w, "startTimeUnixNano", o->start);
	ai_json_field_string(o->w, "endTimeUnixNano", o->end);
}

/* The spans of node and its children, node's parent being parent_id. */
static void write_node_spans(struct otlp *o, const struct ai_await_node *node, const char *parent_id)
{
	struct ai_json_writer *w = o->w;
	char id[17];
	span_id(o, o->next++, id);
	const char *name = node->function ? node->function : node->type ? node->type : "?";
	ai_json_begin_object(w);
	ai_json_field_string(w, "traceId", o->trace_id);
	ai_json_field_string(w, "spanId", id);
	ai_json_field_string(w, "parentSpanId", parent_id);
	ai_json_field_string(w, "name", name);
	ai_json_field_int(w, "kind", SPAN_KIND_INTERNAL);
	write_times(o);
	ai_json_key(w, "attributes");
	ai_json_begin_array(w);
	attr_string(w, "code.function", name);
	attr_string(w, "code.filepath", node->file);
	if (node->line > 0)
		attr_int(w, "code.lineno", node->line);
	attr_string(w, "async_inspect.frame.type", node->type);
	attr_string(w, "async_inspect.frame.state", node->state);
	if (node->await_index && node->await_count) {
		attr_int(w, "async_inspect.frame.await_index", (int64_t)node->await_index);
		attr_int(w, "async_inspect.frame.await_count", (int64_t)node->await_count);
	}
	attr_string(w, "async_inspect.frame.macro", node->macro);
	attr_string(w, "async_inspect.frame.span", node->span);
	if (node->leaf)
		attr_bool(w, "async_inspect.frame.leaf", true);
	if (node->dependency)
		attr_bool(w, "async_inspect.frame.dependency", true);
	attr_string(w, "async_inspect.frame.error", node->error);
	if (node->wait)
		write_wait_attributes(w, "async_inspect.wait", node->wait);
	ai_json_end_array(w);
	ai_json_end_object(w);
	/* Spans are a flat list: the tree lives in parentSpanId. */
	for (size_t i = 0; i < node->child_count; i++)
		write_node_spans(o, &node->children[i], id);
}

/* A link to the span of task `task` of process `process`, with its reason. */
static void write_link(struct otlp *o, size_t process, size_t task, const char *why)
{
	struct ai_json_writer *w = o->w;
	char id[17];
	task_span_id(o, process, task, id);
	ai_json_begin_object(w);
	ai_json_field_string(w, "traceId", o->trace_id);
	ai_json_field_string(w, "spanId", id);
	ai_json_key(w, "attributes");
	ai_json_begin_array(w);
	attr_string(w, "async_inspect.link", why);
	ai_json_end_array(w);
	ai_json_end_object(w);
}

/* What the analyses say of one task: the deadlock it is in and the tasks it waits for. */
struct task_facts {
	const char *deadlock;   /* "deadlock", "futurelock", "socket" (a cycle through sockets), NULL */
	size_t deadlock_index;  /* 1-based, within its kind's list */
	const struct ai_wait_for_edge *edges; /* its edges in the wait-for graph */
	size_t edge_count;
};

static void write_task_span(struct otlp *o, size_t process, size_t index, const struct task_facts *facts)
{
	struct ai_json_writer *w = o->w;
	const struct ai_snapshot *s = o->set->snapshots[process];
	const struct ai_snapshot_task *t = &s->tasks[index];
	char id[17];
	task_span_id(o, process, index, id);
	const char *name = t->name ? t->name : t->future ? t->future : t->kind ? t->kind : "task";
	ai_json_begin_object(w);
	ai_json_field_string(w, "traceId", o->trace_id);
	ai_json_field_string(w, "spanId", id);
	ai_json_field_string(w, "name", name);
	ai_json_field_int(w, "kind", SPAN_KIND_INTERNAL);
	write_times(o);
	ai_json_key(w, "attributes");
	ai_json_begin_array(w);
	if (t->has_id)
		attr_int(w, "async_inspect.task.id", (int64_t)t->id);
	attr_string(w, "async_inspect.task.kind", t->kind ? t->kind : "task");
	attr_string(w, "async_inspect.task.runtime", t->runtime);
	attr_string(w, "async_inspect.task.status", t->status);
	attr_string(w, "async_inspect.task.flavor", t->flavor);
	attr_string(w, "async_inspect.task.name", t->name);
	attr_string(w, "async_inspect.task.future", t->future);
	attr_string(w, "async_inspect.task.driven_by", t->driven_by);
	attr_hex(w, "async_inspect.task.address", t->address);
	if (t->thread)
		attr_int(w, "thread.id", t->thread);
	if (t->read_live)
		attr_bool(w, "async_inspect.task.read_live", true);
	if (t->wait)
		write_wait_attributes(w, "async_inspect.wait", t->wait);
	/* The tasks that hold what it waits for: "4, 7" (ids, or their kind when they have none). */
	if (facts->edge_count) {
		char holders[256] = "";
		size_t len = 0;
		for (size_t k = 0; k < facts->edge_count && len < sizeof(holders); k++) {
			if (k && facts->edges[k].to == facts->edges[k - 1].to)
				continue;
			const struct ai_snapshot_task *h = &s->tasks[facts->edges[k].to];
			char one[32];
			if (h->has_id)
				snprintf(one, sizeof(one), "%" PRIu64, h->id);
			else
				snprintf(one, sizeof(one), "%s", h->kind ? h->kind : "?");
			len += (size_t)snprintf(holders + len, sizeof(holders) - len, "%s%s", k ? ", " : "", one);
		}
		attr_string(w, "async_inspect.wait.holder", holders);
		const struct ai_snapshot_task *first = &s->tasks[facts->edges[0].to];
		if (facts->edges[facts->edge_count - 1].to == facts->edges[0].to && first->has_id)
			attr_int(w, "async_inspect.wait.holder.task_id", (int64_t)first->id);
	}
	attr_bool(w, "async_inspect.deadlock", facts->deadlock != NULL);
	if (facts->deadlock) {
		attr_string(w, "async_inspect.deadlock.kind", facts->deadlock);
		attr_int(w, "async_inspect.deadlock.index", (int64_t)facts->deadlock_index);
	}
	ai_json_end_array(w);
	ai_json_key(w, "links");
	ai_json_begin_array(w);
	for (size_t k = 0; k < facts->edge_count; k++) {
		if (!k || facts->edges[k].to != facts->edges[k - 1].to)
			write_link(o, process, facts->edges[k].to, "holder");
	}
	const struct ai_peer *peer = t->wait ? t->wait->peer : NULL;
	if (peer && peer->has_task && !peer->outside && peer->process < o->set->count &&
	    peer->task < o->set->snapshots[peer->process]->task_count)
		write_link(o, peer->process, peer->task, "peer");
	ai_json_end_array(w);
	if (facts->deadlock) {
		char message[64];
		snprintf(message, sizeof(message), "in %s %zu", strcmp(facts->deadlock, "socket") == 0 ?
			 "a deadlock through sockets" : facts->deadlock, facts->deadlock_index);
		ai_json_key(w, "status");
		ai_json_begin_object(w);
		ai_json_field_string(w, "message", message);
		ai_json_field_int(w, "code", STATUS_CODE_ERROR);
		ai_json_end_object(w);
	}
	ai_json_end_object(w);
	write_node_spans(o, &t->tree, id);
}

static void set_times(struct otlp *o, const struct ai_snapshot *s)
{
	/* When no span start is known (the runtimes keep no spawn time), every span is the
	 * snapshot's capture: from when it was taken, for as long as the target was stopped. */
	uint64_t start_ns;
	if (s->captured_at_ms > 0) {
		start_ns = (uint64_t)s->captured_at_ms * 1000000u;
	} else {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		start_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	}
	snprintf(o->start, sizeof(o->start), "%" PRIu64, start_ns);
	snprintf(o->end, sizeof(o->end), "%" PRIu64, start_ns + s->pause_us * 1000u);
}

static int compare_edges(const void *a, const void *b)
{
	const struct ai_wait_for_edge *x = a, *y = b;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

static void write_process(struct otlp *o, size_t process, const char *version)
{
	struct ai_json_writer *w = o->w;
	const struct ai_snapshot *s = o->set->snapshots[process];
	struct task_facts *facts = xcalloc(s->task_count ? s->task_count : 1, sizeof(*facts));
	for (size_t d = 0; d < s->deadlock_count; d++) {
		const struct ai_deadlock *dl = &s->deadlocks[d];
		for (size_t k = 0; k < dl->count; k++) {
			facts[dl->tasks[k]].deadlock = dl->futurelock ? "futurelock" : "deadlock";
			facts[dl->tasks[k]].deadlock_index = d + 1;
		}
	}
	for (size_t d = 0; d < o->set->deadlock_count; d++) {
		const struct ai_cross_deadlock *dl = &o->set->deadlocks[d];
		for (size_t k = 0; k < dl->count; k++) {
			if (dl->steps[k].process != process || dl->steps[k].task >= s->task_count)
				continue;
			facts[dl->steps[k].task].deadlock = "socket";
			facts[dl->steps[k].task].deadlock_index = d + 1;
		}
	}
	/* The wait-for edges, grouped by waiting task. */
	struct ai_wait_for_edge *edges = NULL;
	size_t edge_count = ai_analysis_wait_for_edges(s, &edges);
	if (edge_count)
		qsort(edges, edge_count, sizeof(*edges), compare_edges);
	for (size_t k = 0; k < edge_count; k++) {
		struct task_facts *f = &facts[edges[k].from];
		if (!f->edges)
			f->edges = &edges[k];
		f->edge_count++;
	}
	set_times(o, s);
	ai_json_begin_object(w);
	write_resource(w, s);
	ai_json_key(w, "scopeSpans");
	ai_json_begin_array(w);
	ai_json_begin_object(w);
	ai_json_key(w, "scope");
	ai_json_begin_object(w);
	ai_json_field_string(w, "name", "async-inspect");
	ai_json_field_string(w, "version", version);
	ai_json_end_object(w);
	ai_json_key(w, "spans");
	ai_json_begin_array(w);
	for (size_t i = 0; i < s->task_count; i++)
		write_task_span(o, process, i, &facts[i]);
	ai_json_end_array(w);
	ai_json_end_object(w);
	ai_json_end_array(w);
	ai_json_end_object(w);
	free(edges);
	free(facts);
}

void ai_write_otlp_json(struct ai_json_writer *w, const struct ai_process_set *set, const uint8_t trace_id[16],
			const char *version)
{
	struct otlp o = { .w = w, .set = set };
	for (size_t i = 0; i < 16; i++)
		snprintf(o.trace_id + 2 * i, 3, "%02x", trace_id[i]);
	memcpy(&o.seed, trace_id, sizeof(o.seed));
	o.task_base = xcalloc(set->count ? set->count : 1, sizeof(*o.task_base));
	size_t n = 0;
	for (size_t p = 0; p < set->count; p++) {
		o.task_base[p] = n;
		n += set->snapshots[p]->task_count;
	}
	o.next = n;
	ai_json_begin_object(w);
	ai_json_key(w, "resourceSpans");
	ai_json_begin_array(w);
	for (size_t p = 0; p < set->count; p++)
		write_process(&o, p, version);
	ai_json_end_array(w);
	ai_json_end_object(w);
	free(o.task_base);
}
