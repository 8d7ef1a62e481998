/* Reading the JSON dump format (docs/json-format.md, "async-inspect-snapshot" v1) back into a
 * snapshot, for recordings (one document per line) and their replay. It takes back everything
 * json.c writes and ignores keys it does not know, so that newer writers stay readable. A wrong
 * type or a bad reference is an error naming the key path, never a crash. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/util.h"

/* Where we are in the document, for error messages: "tasks[3].tree.children[0].line". */
struct reader {
	char path[512];
};

static struct ai_error *bad(const struct reader *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct ai_error *bad(const struct reader *r, const char *key, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s%s%s: %s", r->path, *r->path && key ? "." : "",
			       key ? key : "", what);
}

/* Appends ".key" or ".key[index]" to the path; returns the old length to restore it. */
static size_t enter(struct reader *r, const char *key, long index)
{
	size_t len = strlen(r->path);
	if (index >= 0)
		snprintf(r->path + len, sizeof(r->path) - len, "%s%s[%ld]", len ? "." : "", key, index);
	else
		snprintf(r->path + len, sizeof(r->path) - len, "%s%s", len ? "." : "", key);
	return len;
}

static void leave(struct reader *r, size_t len)
{
	r->path[len] = '\0';
}

/* A string or null (NULL): anything else is an error. */
static struct ai_error *get_string(struct reader *r, const json_t *obj, const char *key, bool required,
				   char **ret)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return bad(r, key, "missing");
		*ret = NULL;
		return NULL;
	}
	if (!json_is_string(v))
		return bad(r, key, "expected a string");
	*ret = xstrdup(json_string_value(v));
	return NULL;
}

/* An integer; *present_ret false when missing or null. */
static struct ai_error *get_int(struct reader *r, const json_t *obj, const char *key, int64_t *ret,
				bool *present_ret)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*present_ret = false;
		*ret = 0;
		return NULL;
	}
	if (!json_is_integer(v))
		return bad(r, key, "expected an integer");
	*ret = json_integer_value(v);
	*present_ret = true;
	return NULL;
}

static struct ai_error *get_bool(struct reader *r, const json_t *obj, const char *key, bool *ret,
				 bool *present_ret)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*present_ret = false;
		*ret = false;
		return NULL;
	}
	if (!json_is_boolean(v))
		return bad(r, key, "expected true or false");
	*ret = json_is_true(v);
	*present_ret = true;
	return NULL;
}

/* An address written as "0x..." (json.c's hex()); 0 when missing or null. */
static struct ai_error *get_hex(struct reader *r, const json_t *obj, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(obj, key);
	*ret = 0;
	if (!v || json_is_null(v))
		return NULL;
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s || strncmp(s, "0x", 2) != 0 || !s[2])
		return bad(r, key, "expected an address \"0x...\"");
	char *end;
	errno = 0;
	unsigned long long value = strtoull(s + 2, &end, 16);
	if (*end || errno)
		return bad(r, key, "expected an address \"0x...\", not \"%s\"", s);
	*ret = value;
	return NULL;
}

static struct ai_error *get_array(struct reader *r, const json_t *obj, const char *key, const json_t **ret)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*ret = NULL;
		return NULL;
	}
	if (!json_is_array(v))
		return bad(r, key, "expected an array");
	*ret = v;
	return NULL;
}

/* A JSON value of a document back as compact text, through the writer json.c uses: a number as
 * its shortest digits that read back the same, so that a replayed value is written as it was. */
static void write_json(struct ai_json_writer *w, const json_t *v)
{
	const char *key;
	const json_t *item;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		ai_json_begin_object(w);
		json_object_foreach((json_t *)v, key, item) {
			ai_json_key(w, key);
			write_json(w, item);
		}
		ai_json_end_object(w);
		break;
	case JSON_ARRAY:
		ai_json_begin_array(w);
		json_array_foreach(v, i, item)
			write_json(w, item);
		ai_json_end_array(w);
		break;
	case JSON_STRING:
		ai_json_string_len(w, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		ai_json_int(w, json_integer_value(v));
		break;
	case JSON_REAL: {
		char text[40];
		double d = json_real_value(v);
		for (int precision = 1; precision <= 17; precision++) {
			snprintf(text, sizeof(text), "%.*g", precision, d);
			if (strtod(text, NULL) == d)
				break;
		}
		if (!strpbrk(text, ".eE")) /* still a float when read again: 1.0, not 1 */
			strcat(text, ".0");
		ai_json_raw(w, text, strlen(text));
		break;
	}
	case JSON_TRUE:
	case JSON_FALSE:
		ai_json_bool(w, json_is_true(v));
		break;
	case JSON_NULL:
		ai_json_null(w);
		break;
	}
}

/* A local's structured value: an object kept as compact text, or absent (older documents, and
 * dumps that did not build it). */
static struct ai_error *get_structured(struct reader *r, const json_t *obj, char **ret)
{
	const json_t *v = json_object_get(obj, "structured");
	*ret = NULL;
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_object(v) || !json_is_string(json_object_get(v, "kind")))
		return bad(r, "structured", "expected an object with a \"kind\"");
	struct ai_json_writer w;
	ai_json_writer_init_buffer(&w, false);
	write_json(&w, v);
	size_t len;
	char *text = ai_json_writer_take(&w, &len);
	*ret = ai_shared_strn(text, len); /* a local's values are shared strings (snapshot.h) */
	free(text);
	return NULL;
}

/* A local's value, as the shared string a snapshot keeps (snapshot.h). */
static struct ai_error *get_shared_string(struct reader *r, const json_t *obj, const char *key, char **ret)
{
	char *plain = NULL;
	struct ai_error *err = get_string(r, obj, key, false, &plain);
	*ret = plain ? ai_shared_strn(plain, strlen(plain)) : NULL;
	free(plain);
	return err;
}

static struct ai_error *get_line(struct reader *r, const json_t *obj, const char *key, int *ret)
{
	int64_t v = 0;
	bool present = false;
	struct ai_error *err = get_int(r, obj, key, &v, &present);
	if (err)
		return err;
	if (present && (v <= 0 || v > 0x7fffffff))
		return bad(r, key, "not a line number: %lld", (long long)v);
	*ret = (int)v;
	return NULL;
}

static struct ai_error *check_object(struct reader *r, const json_t *v)
{
	return json_is_object(v) ? NULL : bad(r, NULL, "expected an object");
}

#define TRY(expr)                          \
	do {                               \
		if ((err = (expr)))        \
			goto out;          \
	} while (0)

static struct ai_error *read_u64(struct reader *r, const json_t *obj, const char *key, uint64_t *ret,
				 bool *present_ret)
{
	int64_t v = 0;
	struct ai_error *err = get_int(r, obj, key, &v, present_ret);
	if (!err && v < 0)
		err = bad(r, key, "negative");
	if (!err)
		*ret = (uint64_t)v;
	return err;
}

/* "runtimes": [{name, version, instances, decoded, module (when not the executable)}]; recordings of format version 1 have an
 * integer (tokio runtimes) and "tokio_version" instead. */
static struct ai_error *read_runtimes(struct reader *r, const json_t *root, struct ai_snapshot *s)
{
	struct ai_error *err = NULL;
	const json_t *v = json_object_get(root, "runtimes");
	if (v && json_is_integer(v)) {
		char *version = NULL;
		TRY(get_string(r, root, "tokio_version", false, &version));
		if (version || json_integer_value(v) > 0) {
			struct ai_snapshot_runtime *rt = ai_snapshot_add_runtime(s, "tokio", version);
			rt->instances = json_integer_value(v) > 0 ? (size_t)json_integer_value(v) : 0;
		}
		return NULL;
	}
	const json_t *array, *item;
	size_t i;
	TRY(get_array(r, root, "runtimes", &array));
	json_array_foreach(array, i, item) {
		size_t len = enter(r, "runtimes", (long)i);
		char *name = NULL, *version = NULL, *module = NULL;
		uint64_t instances = 0;
		bool decoded = true, present;
		TRY(check_object(r, item));
		TRY(get_string(r, item, "name", true, &name));
		err = get_string(r, item, "version", false, &version);
		if (!err)
			err = read_u64(r, item, "instances", &instances, &present);
		if (!err)
			err = get_bool(r, item, "decoded", &decoded, &present);
		if (!err)
			err = get_string(r, item, "module", false, &module);
		if (err) {
			free(name);
			free(version);
			goto out;
		}
		struct ai_snapshot_runtime *rt = ai_snapshot_add_runtime(s, name, version);
		free(name);
		rt->instances = (size_t)instances;
		rt->decoded = present ? decoded : true;
		rt->module = module;
		leave(r, len);
	}
out:
	return err;
}

static struct ai_error *read_wait(struct reader *r, const json_t *obj, struct ai_wait **ret)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	struct ai_wait *w = xcalloc(1, sizeof(*w));
	bool present = false;
	int64_t i64 = 0;
	TRY(get_string(r, obj, "kind", true, &w->kind));
	TRY(get_string(r, obj, "description", false, &w->description));
	TRY(get_string(r, obj, "type", false, &w->resource_type));
	TRY(get_hex(r, obj, "address", &w->address));
	TRY(get_hex(r, obj, "semaphore", &w->semaphore));
	TRY(get_int(r, obj, "deadline_ns", &w->deadline_ns, &w->has_deadline));
	TRY(get_int(r, obj, "remaining_ms", &i64, &w->has_remaining));
	w->remaining_ns = i64 * 1000000;
	TRY(read_u64(r, obj, "permits_available", &w->permits_available, &w->has_permits));
	TRY(read_u64(r, obj, "permits_wanted", &w->permits_wanted, &present));
	TRY(get_bool(r, obj, "queued", &w->queued, &present));
	TRY(read_u64(r, obj, "place_in_line", &w->place_in_line, &present));
	TRY(get_string(r, obj, "access", false, &w->access));
	TRY(get_bool(r, obj, "bars_readers", &w->bars_readers, &present));
	TRY(get_bool(r, obj, "sender_alive", &w->sender_alive, &w->has_sender_alive));
	TRY(read_u64(r, obj, "senders_alive", &w->senders_alive, &w->has_senders));
	TRY(read_u64(r, obj, "senders_own", &w->senders_own, &present));
	TRY(read_u64(r, obj, "messages_queued", &w->messages_queued, &w->has_messages));
	TRY(read_u64(r, obj, "capacity", &w->capacity, &w->has_capacity));
	TRY(get_bool(r, obj, "receiver_alive", &w->receiver_alive, &w->has_receiver_alive));
	TRY(get_string(r, obj, "warning", false, &w->warning));
	TRY(read_u64(r, obj, "task", &w->target_task_id, &w->has_target_id));
	TRY(get_string(r, obj, "task_status", false, &w->target_status));
	/* broadcast, watch */
	TRY(read_u64(r, obj, "unseen", &w->unseen, &w->has_unseen));
	TRY(read_u64(r, obj, "version", &w->version, &w->has_version));
	TRY(read_u64(r, obj, "seen_version", &w->seen_version, &present));
	TRY(get_bool(r, obj, "closed", &w->closed, &w->has_closed));
	/* io */
	TRY(get_int(r, obj, "fd", &i64, &w->has_fd));
	if (w->has_fd && (i64 < 0 || i64 > INT32_MAX)) {
		err = bad(r, "fd", "not a file descriptor");
		goto out;
	}
	w->fd = (int)i64;
	TRY(get_string(r, obj, "direction", false, &w->direction));
	TRY(get_string(r, obj, "fd_target", false, &w->fd_target));
	/* join_set */
	const json_t *members;
	TRY(get_array(r, obj, "members", &members));
	if (members) {
		size_t i;
		const json_t *m;
		w->has_members = true;
		w->members = xcalloc(json_array_size(members) ? json_array_size(members) : 1, sizeof(*w->members));
		json_array_foreach(members, i, m) {
			size_t len = enter(r, "members", (long)i);
			struct ai_wait_member *wm = &w->members[w->member_count++];
			TRY(check_object(r, m));
			TRY(read_u64(r, m, "id", &wm->id, &wm->has_id));
			TRY(get_hex(r, m, "address", &wm->address));
			TRY(get_string(r, m, "status", false, &wm->status));
			TRY(get_bool(r, m, "notified", &wm->notified, &present));
			leave(r, len);
		}
	}
	const json_t *socket = json_object_get(obj, "socket");
	if (socket && !json_is_null(socket)) {
		size_t len = enter(r, "socket", -1);
		TRY(check_object(r, socket));
		TRY(get_string(r, socket, "kind", true, &w->socket_kind));
		TRY(get_string(r, socket, "local", false, &w->local_address));
		TRY(get_string(r, socket, "peer", false, &w->peer_address));
		TRY(get_string(r, socket, "state", false, &w->socket_state));
		TRY(read_u64(r, socket, "inode", &w->socket_inode, &present));
		TRY(read_u64(r, socket, "peer_inode", &w->peer_inode, &present));
		leave(r, len);
	}
out:
	if (err) {
		ai_wait_destroy(w);
		return err;
	}
	*ret = w;
	return NULL;
}

static struct ai_error *read_held(struct reader *r, const json_t *obj, struct ai_held *h)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	TRY(get_string(r, obj, "kind", true, &h->kind));
	TRY(get_string(r, obj, "type", false, &h->resource_type));
	TRY(get_hex(r, obj, "address", &h->address));
	TRY(get_hex(r, obj, "semaphore", &h->semaphore));
	TRY(get_string(r, obj, "guard", false, &h->guard_type));
	TRY(get_string(r, obj, "local", false, &h->local));
	TRY(get_string(r, obj, "function", false, &h->function));
	TRY(get_string(r, obj, "file", false, &h->file));
	TRY(get_line(r, obj, "line", &h->line));
out:
	return err;
}

static struct ai_error *read_fd(struct reader *r, const json_t *obj, struct ai_task_fd *f)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	int64_t i64 = 0;
	bool present = false;
	TRY(get_int(r, obj, "fd", &i64, &present));
	if (!present || i64 < 0 || i64 > INT32_MAX) {
		err = bad(r, "fd", "not a file descriptor");
		goto out;
	}
	f->fd = (int)i64;
	TRY(get_string(r, obj, "local", false, &f->local));
	TRY(get_string(r, obj, "function", false, &f->function));
	TRY(get_string(r, obj, "fd_target", false, &f->target));
	const json_t *socket = json_object_get(obj, "socket");
	if (socket && !json_is_null(socket)) {
		size_t len = enter(r, "socket", -1);
		TRY(check_object(r, socket));
		TRY(get_string(r, socket, "kind", true, &f->socket_kind));
		TRY(get_string(r, socket, "local", false, &f->local_address));
		TRY(get_string(r, socket, "peer", false, &f->peer_address));
		TRY(get_string(r, socket, "state", false, &f->socket_state));
		TRY(read_u64(r, socket, "inode", &f->socket_inode, &present));
		TRY(read_u64(r, socket, "peer_inode", &f->peer_inode, &present));
		leave(r, len);
	}
out:
	return err;
}

static struct ai_error *read_unpolled(struct reader *r, const json_t *obj, struct ai_unpolled *u)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	bool present = false;
	TRY(get_string(r, obj, "local", false, &u->local));
	TRY(get_string(r, obj, "future", false, &u->future_type));
	TRY(get_string(r, obj, "function", false, &u->function));
	TRY(get_string(r, obj, "file", false, &u->file));
	TRY(get_line(r, obj, "line", &u->line));
	TRY(get_hex(r, obj, "acquire", &u->acquire));
	TRY(get_string(r, obj, "kind", false, &u->kind));
	TRY(get_string(r, obj, "type", false, &u->resource_type));
	TRY(get_hex(r, obj, "address", &u->address));
	TRY(get_hex(r, obj, "semaphore", &u->semaphore));
	TRY(get_bool(r, obj, "granted", &u->granted, &present));
	TRY(read_u64(r, obj, "permits_wanted", &u->permits_wanted, &present));
out:
	return err;
}

#define MAX_TREE_DEPTH 512

static struct ai_error *read_node(struct reader *r, const json_t *obj, struct ai_await_node *node,
				  unsigned depth)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	if (depth > MAX_TREE_DEPTH)
		return bad(r, NULL, "await tree deeper than %d", MAX_TREE_DEPTH);
	bool present = false;
	const json_t *locals, *children, *v;
	size_t i, len;
	TRY(get_string(r, obj, "function", false, &node->function));
	TRY(get_string(r, obj, "type", false, &node->type));
	TRY(get_string(r, obj, "state", false, &node->state));
	TRY(get_string(r, obj, "file", false, &node->file));
	TRY(get_line(r, obj, "line", &node->line));
	TRY(get_hex(r, obj, "address", &node->address));
	TRY(get_string(r, obj, "macro", false, &node->macro));
	TRY(get_string(r, obj, "macro_file", false, &node->macro_file));
	TRY(get_line(r, obj, "macro_line", &node->macro_line));
	TRY(get_string(r, obj, "span", false, &node->span));
	TRY(get_bool(r, obj, "leaf", &node->leaf, &present));
	TRY(get_bool(r, obj, "dependency", &node->dependency, &present));
	v = json_object_get(obj, "awaits");
	if (v && !json_is_null(v)) {
		len = enter(r, "awaits", -1);
		const json_t *lines;
		int64_t current = 0;
		TRY(check_object(r, v));
		TRY(get_int(r, v, "current", &current, &present));
		TRY(get_array(r, v, "lines", &lines));
		size_t count = lines ? json_array_size(lines) : 0;
		if (current < 0 || (size_t)current > count) {
			err = bad(r, "current", "not one of the %zu await points", count);
			goto out;
		}
		node->await_count = count;
		node->await_index = (size_t)current;
		node->await_lines = xcalloc(count ? count : 1, sizeof(*node->await_lines));
		for (size_t k = 0; k < count; k++) {
			const json_t *line = json_array_get(lines, k);
			node->await_lines[k] = json_is_integer(line) ? (int)json_integer_value(line) : 0;
		}
		leave(r, len);
	}
	TRY(get_string(r, obj, "error", false, &node->error));
	v = json_object_get(obj, "wait");
	if (v && !json_is_null(v)) {
		len = enter(r, "wait", -1);
		err = read_wait(r, v, &node->wait);
		if (err)
			goto out;
		leave(r, len);
	}
	TRY(get_array(r, obj, "locals", &locals));
	json_array_foreach(locals, i, v) {
		len = enter(r, "locals", (long)i);
		struct ai_snapshot_local *l = ai_await_node_add_local(node);
		if ((err = check_object(r, v)))
			goto out;
		TRY(get_string(r, v, "name", false, &l->name));
		TRY(get_string(r, v, "type", false, &l->type));
		TRY(get_shared_string(r, v, "value", &l->value));
		char *state = NULL;
		TRY(get_string(r, v, "state", false, &state));
		bool known = !state || ai_local_state_parse(state, &l->state);
		free(state);
		if (!known) {
			err = bad(r, "state", "not one of live, moved, maybe_moved, uninit");
			goto out;
		}
		TRY(get_bool(r, v, "generated", &l->generated, &present));
		/* a local with no value: its structured form is its state, written from it */
		if (l->state == AI_LOCAL_LIVE)
			TRY(get_structured(r, v, &l->structured));
		leave(r, len);
	}
	TRY(get_array(r, obj, "children", &children));
	json_array_foreach(children, i, v) {
		len = enter(r, "children", (long)i);
		TRY(read_node(r, v, ai_await_node_add_child(node), depth + 1));
		leave(r, len);
	}
out:
	return err; /* the caller's snapshot owns what was read so far */
}

/* Whether two JSON objects agree on the given keys (missing and null are the same). */
static bool same_keys(const json_t *a, const json_t *b, const char *const *keys)
{
	for (; *keys; keys++) {
		const json_t *x = json_object_get(a, *keys), *y = json_object_get(b, *keys);
		bool x_none = !x || json_is_null(x), y_none = !y || json_is_null(y);
		if (x_none != y_none || (!x_none && !json_equal(x, y)))
			return false;
	}
	return true;
}

static const char *const wait_identity[] = { "kind", "description", "type", "address", "semaphore", NULL };
static const char *const held_identity[] = { "kind", "address", "semaphore", "local", "function", "line", NULL };
static const char *const unpolled_identity[] = { "local", "acquire", "address", "semaphore", "function", "line", NULL };

/* The node whose wait is the task's: json.c writes the task's wait from that leaf. Compared on the
 * keys that identify a wait, so that fields a newer writer adds to one of them do not matter. */
static struct ai_await_node *find_wait(struct ai_await_node *node, const json_t *node_json, const json_t *wait,
				       unsigned depth)
{
	if (depth > MAX_TREE_DEPTH)
		return NULL;
	if (node->wait && same_keys(json_object_get(node_json, "wait"), wait, wait_identity))
		return node;
	const json_t *children = json_object_get(node_json, "children");
	for (size_t i = 0; i < node->child_count; i++) {
		struct ai_await_node *found = find_wait(&node->children[i], json_array_get(children, i), wait, depth + 1);
		if (found)
			return found;
	}
	return NULL;
}

static struct ai_error *read_task(struct reader *r, const json_t *obj, struct ai_snapshot_task *t)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	int64_t i64 = 0;
	bool present = false;
	size_t i, len;
	const json_t *held, *v;
	TRY(read_u64(r, obj, "id", &t->id, &t->has_id));
	TRY(get_string(r, obj, "runtime", false, &t->runtime));
	TRY(get_string(r, obj, "kind", true, &t->kind));
	TRY(get_string(r, obj, "status", false, &t->status));
	TRY(get_string(r, obj, "flavor", false, &t->flavor));
	TRY(get_int(r, obj, "thread", &i64, &present));
	t->thread = (pid_t)i64;
	TRY(get_string(r, obj, "name", false, &t->name));
	TRY(get_string(r, obj, "future", false, &t->future));
	TRY(get_string(r, obj, "driven_by", false, &t->driven_by));
	TRY(get_hex(r, obj, "address", &t->address));
	TRY(get_hex(r, obj, "runtime_address", &t->runtime_address));
	bool sampled;
	TRY(get_bool(r, obj, "sampled", &sampled, &present));
	t->read_live = present && !sampled;
	const json_t *tree = json_object_get(obj, "tree");
	if (!tree)
		return bad(r, "tree", "missing");
	len = enter(r, "tree", -1);
	TRY(read_node(r, tree, &t->tree, 0));
	leave(r, len);
	v = json_object_get(obj, "wait");
	if (v && !json_is_null(v)) {
		struct ai_await_node *leaf = find_wait(&t->tree, tree, v, 0);
		if (!leaf)
			return bad(r, "wait", "no node of the await tree has this wait");
		t->wait = leaf->wait;
	}
	TRY(get_array(r, obj, "held", &held));
	json_array_foreach(held, i, v) {
		len = enter(r, "held", (long)i);
		TRY(read_held(r, v, ai_snapshot_task_add_held(t)));
		leave(r, len);
	}
	const json_t *unpolled;
	TRY(get_array(r, obj, "unpolled", &unpolled));
	json_array_foreach(unpolled, i, v) {
		len = enter(r, "unpolled", (long)i);
		TRY(read_unpolled(r, v, ai_snapshot_task_add_unpolled(t)));
		leave(r, len);
	}
	const json_t *fds;
	TRY(get_array(r, obj, "fds", &fds));
	json_array_foreach(fds, i, v) {
		len = enter(r, "fds", (long)i);
		TRY(read_fd(r, v, ai_snapshot_task_add_fd(t)));
		leave(r, len);
	}
	const json_t *set = json_object_get(obj, "set");
	if (set && !json_is_null(set)) {
		len = enter(r, "set", -1);
		TRY(check_object(r, set));
		TRY(get_string(r, set, "type", false, &t->set_type));
		TRY(get_hex(r, set, "address", &t->set_address));
		leave(r, len);
	}
out:
	return err;
}

static struct ai_error *read_thread(struct reader *r, const json_t *obj, struct ai_snapshot_thread *t)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	int64_t i64 = 0;
	bool present = false;
	size_t i, len;
	const json_t *frames, *v;
	TRY(get_int(r, obj, "tid", &i64, &present));
	t->tid = (pid_t)i64;
	TRY(get_string(r, obj, "name", false, &t->name));
	char *code;
	TRY(get_string(r, obj, "state_code", false, &code));
	t->state = code && strlen(code) == 1 ? code[0] : '?';
	free(code);
	TRY(get_string(r, obj, "stack_error", false, &t->stack_error));
	TRY(get_array(r, obj, "frames", &frames));
	json_array_foreach(frames, i, v) {
		len = enter(r, "frames", (long)i);
		struct ai_snapshot_frame *f = ai_snapshot_thread_add_frame(t);
		if ((err = check_object(r, v)))
			goto out;
		TRY(get_hex(r, v, "pc", &f->pc));
		TRY(get_string(r, v, "function", false, &f->function));
		TRY(get_string(r, v, "file", false, &f->file));
		TRY(get_line(r, v, "line", &f->line));
		TRY(get_string(r, v, "module", false, &f->module));
		TRY(get_bool(r, v, "inlined", &f->inlined, &present));
		leave(r, len);
	}
out:
	return err;
}

/* A task named in a deadlock: its id, or its kind ("block_on") for one without an id. */
static struct ai_error *task_index(struct reader *r, const struct ai_snapshot *s, const json_t *ref,
				   const char *key, size_t *ret)
{
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if ((json_is_integer(ref) && t->has_id && (json_int_t)t->id == json_integer_value(ref)) ||
		    (json_is_string(ref) && !t->has_id && t->kind && strcmp(t->kind, json_string_value(ref)) == 0)) {
			*ret = i;
			return NULL;
		}
	}
	return bad(r, key, "names no task of this snapshot");
}

static struct ai_error *read_deadlock(struct reader *r, const json_t *obj, const json_t *tasks_json,
				      struct ai_snapshot *s, struct ai_deadlock *d)
{
	struct ai_error *err = check_object(r, obj);
	if (err)
		return err;
	const json_t *edges;
	char *kind = NULL;
	TRY(get_string(r, obj, "kind", false, &kind));
	d->futurelock = kind && strcmp(kind, "futurelock") == 0;
	free(kind);
	TRY(get_array(r, obj, "edges", &edges));
	size_t count = edges ? json_array_size(edges) : 0;
	if (!count)
		return bad(r, "edges", "a deadlock without edges");
	d->tasks = xcalloc(count, sizeof(*d->tasks));
	d->edges = xcalloc(count, sizeof(*d->edges));
	for (size_t k = 0; k < count; k++) {
		const json_t *e = json_array_get(edges, k);
		size_t len = enter(r, "edges", (long)k);
		struct ai_deadlock_edge *edge = &d->edges[k];
		if ((err = check_object(r, e)))
			goto out;
		TRY(task_index(r, s, json_object_get(e, "from"), "from", &edge->from));
		TRY(task_index(r, s, json_object_get(e, "to"), "to", &edge->to));
		/* json.c writes the waiting task's own wait as the resource */
		edge->wait = s->tasks[edge->from].wait;
		if (!edge->wait)
			return bad(r, "from", "a task without a wait");
		const json_t *held_by = json_object_get(e, "held_by");
		if (held_by && !json_is_null(held_by)) {
			const json_t *held = json_object_get(json_array_get(tasks_json, edge->to), "held");
			const struct ai_snapshot_task *to = &s->tasks[edge->to];
			for (size_t i = 0; i < to->held_count && !edge->held; i++) {
				if (same_keys(json_array_get(held, i), held_by, held_identity))
					edge->held = &to->held[i];
			}
			if (!edge->held)
				return bad(r, "held_by", "not among the guards task \"to\" holds");
		}
		const json_t *granted_to = json_object_get(e, "granted_to");
		if (granted_to && !json_is_null(granted_to)) {
			const json_t *unpolled = json_object_get(json_array_get(tasks_json, edge->to), "unpolled");
			const struct ai_snapshot_task *to = &s->tasks[edge->to];
			for (size_t i = 0; i < to->unpolled_count && !edge->unpolled; i++) {
				if (same_keys(json_array_get(unpolled, i), granted_to, unpolled_identity))
					edge->unpolled = &to->unpolled[i];
			}
			if (!edge->unpolled)
				return bad(r, "granted_to", "not among the futures task \"to\" keeps unpolled");
		}
		d->tasks[k] = edge->from;
		d->count = k + 1;
		leave(r, len);
	}
out:
	return err;
}

struct ai_error *ai_snapshot_from_json(const struct json_t *root, struct ai_snapshot **ret)
{
	struct reader reader = { .path = "" }, *r = &reader;
	if (!json_is_object(root))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "not a JSON object");
	const char *format = json_string_value(json_object_get(root, "format"));
	if (!format || strcmp(format, "async-inspect-snapshot") != 0)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "not an async-inspect snapshot (\"format\": \"%s\")",
				       format ? format : "?");
	const json_t *version = json_object_get(root, "version");
	/* Version 2 lists every runtime ("runtimes": [...]); version 1 had tokio's alone. */
	if (!json_is_integer(version) || json_integer_value(version) < 1 || json_integer_value(version) > 2)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "snapshot format version %s: versions 1 and 2 are understood",
				       json_is_integer(version) ? "other than 1 or 2" : "missing");
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_error *err;
	int64_t i64 = 0;
	bool present = false;
	size_t i, len;
	const json_t *array, *tasks_json, *v;
	TRY(get_int(r, root, "pid", &i64, &present));
	s->pid = (pid_t)i64;
	TRY(get_string(r, root, "exe", false, &s->exe));
	TRY(get_string(r, root, "command", false, &s->command));
	TRY(get_string(r, root, "host", false, &s->host));
	TRY(get_string(r, root, "core", false, &s->core));
	TRY(get_int(r, root, "captured_at", &s->captured_at_ms, &present));
	TRY(read_u64(r, root, "pause_us", &s->pause_us, &present));
	uint64_t u64;
	TRY(read_runtimes(r, root, s));
	TRY(get_int(r, root, "monotonic_ns", &s->monotonic_ns, &s->has_monotonic));
	TRY(read_u64(r, root, "max_pause_us", &s->max_pause_us, &present));
	TRY(read_u64(r, root, "tasks_sampled", &u64, &present));
	s->tasks_sampled = present ? (size_t)u64 : 0;
	TRY(read_u64(r, root, "stop_us", &s->stop_us, &present));
	TRY(get_array(r, root, "warnings", &array));
	json_array_foreach(array, i, v) {
		if (!json_is_string(v)) {
			len = enter(r, "warnings", (long)i);
			err = bad(r, NULL, "expected a string");
			goto out;
		}
		ai_snapshot_add_warning(s, "%s", json_string_value(v));
	}
	TRY(get_array(r, root, "threads", &array));
	json_array_foreach(array, i, v) {
		len = enter(r, "threads", (long)i);
		TRY(read_thread(r, v, ai_snapshot_add_thread(s)));
		leave(r, len);
	}
	TRY(get_array(r, root, "tasks", &tasks_json));
	json_array_foreach(tasks_json, i, v) {
		len = enter(r, "tasks", (long)i);
		TRY(read_task(r, v, ai_snapshot_add_task(s)));
		leave(r, len);
	}
	TRY(get_array(r, root, "deadlocks", &array));
	json_array_foreach(array, i, v) {
		len = enter(r, "deadlocks", (long)i);
		if (s->deadlock_count == s->deadlock_capacity) {
			s->deadlock_capacity = s->deadlock_capacity ? 2 * s->deadlock_capacity : 4;
			s->deadlocks = xrealloc(s->deadlocks, s->deadlock_capacity * sizeof(*s->deadlocks));
		}
		struct ai_deadlock *d = &s->deadlocks[s->deadlock_count++];
		memset(d, 0, sizeof(*d));
		TRY(read_deadlock(r, v, tasks_json, s, d));
		leave(r, len);
	}
out:
	if (err) {
		ai_snapshot_destroy(s);
		return err;
	}
	*ret = s;
	return NULL;
}

/* ---- Recordings: one snapshot document per line ---- */

struct ai_recording_reader {
	FILE *file;     /* owned */
	char *path;     /* owned */
	char *line;     /* owned: getline's buffer */
	size_t line_capacity;
	unsigned long line_number;
	bool whole;     /* the file was one JSON document (a `dump --format json`), read at once */
};

struct ai_error *ai_recording_open(const char *path, struct ai_recording_reader **ret)
{
	FILE *file = fopen(path, "r");
	if (!file)
		return ai_error_from_errno(errno, "%s", path);
	struct ai_recording_reader *rec = xcalloc(1, sizeof(*rec));
	rec->file = file;
	rec->path = xstrdup(path);
	*ret = rec;
	return NULL;
}

void ai_recording_close(struct ai_recording_reader *rec)
{
	if (!rec)
		return;
	fclose(rec->file);
	free(rec->path);
	free(rec->line);
	free(rec);
}

struct ai_error *ai_recording_next(struct ai_recording_reader *rec, struct ai_snapshot **snapshot_ret,
				   char **warning_ret)
{
	*warning_ret = NULL;
	for (;;) {
		errno = 0;
		ssize_t n = getline(&rec->line, &rec->line_capacity, rec->file);
		if (n < 0) {
			if (ferror(rec->file))
				return ai_error_from_errno(errno ? errno : EIO, "%s", rec->path);
			*snapshot_ret = NULL;
			return NULL;
		}
		rec->line_number++;
		bool complete = n > 0 && rec->line[n - 1] == '\n';
		while (n > 0 && (rec->line[n - 1] == '\n' || rec->line[n - 1] == '\r'))
			rec->line[--n] = '\0';
		if (n == 0)
			continue;
		json_error_t jerr;
		json_t *root = json_loadb(rec->line, (size_t)n, 0, &jerr);
		if (!root && rec->line_number == 1 && !rec->whole) {
			/* Not JSON lines: perhaps one pretty-printed document (`dump --format json`). */
			json_error_t whole_err;
			rewind(rec->file);
			root = json_loadf(rec->file, 0, &whole_err);
			if (root) {
				rec->whole = true;
				fseek(rec->file, 0, SEEK_END);
			} else {
				fseek(rec->file, 0, SEEK_SET);
				if (getline(&rec->line, &rec->line_capacity, rec->file) < 0) {
					/* unreachable: the first line was read above */
				}
			}
		}
		if (!root) {
			int c = getc(rec->file);
			bool last = c == EOF;
			if (!last)
				ungetc(c, rec->file);
			if (last && !complete) {
				/* A recording cut short (the recorder died mid-line): what came before stands. */
				*warning_ret = xasprintf("%s:%lu: the last line is cut short (%s); the recording ends before it",
							 rec->path, rec->line_number, jerr.text);
				*snapshot_ret = NULL;
				return NULL;
			}
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s:%lu: not JSON: %s (column %d)", rec->path,
					       rec->line_number, jerr.text, jerr.column);
		}
		struct ai_snapshot *snapshot;
		struct ai_error *err = ai_snapshot_from_json(root, &snapshot);
		json_decref(root);
		if (err)
			return ai_error_wrap(err, "%s:%lu", rec->path, rec->line_number);
		*snapshot_ret = snapshot;
		return NULL;
	}
}

unsigned long ai_recording_line(const struct ai_recording_reader *rec)
{
	return rec->line_number;
}
