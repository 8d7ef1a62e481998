/* What the editor sees of one snapshot: one DAP thread per task (then the OS threads), a task's
 * await chain as its stack (innermost .await first, each frame at its suspend point's file and
 * line), and scopes and variables built on demand. Every id is valid for this model only, but
 * thread ids are taken from struct ai_dap_ids so that a task keeps its id across snapshots. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dap.h"
#include "ai/frontend.h"
#include "ai/util.h"

/* A stack is the await tree flattened; a huge tree is cut with a label saying so. */
#define MAX_FRAMES 2000

/* ---- Thread ids by identity ---- */

struct id_entry {
	char *key; /* owned; NULL: free slot */
	json_int_t id;
};

struct ai_dap_ids {
	struct id_entry *slots;
	size_t capacity, count; /* capacity: a power of two */
	json_int_t next;
};

struct ai_dap_ids *ai_dap_ids_create(void)
{
	struct ai_dap_ids *ids = xcalloc(1, sizeof(*ids));
	ids->next = 1;
	return ids;
}

static void slots_free(struct id_entry *slots, size_t capacity)
{
	for (size_t i = 0; i < capacity; i++)
		free(slots[i].key);
	free(slots);
}

void ai_dap_ids_destroy(struct ai_dap_ids *ids)
{
	if (!ids)
		return;
	slots_free(ids->slots, ids->capacity);
	free(ids);
}

static uint64_t hash_key(const char *key)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return h;
}

static struct id_entry *slot_of(struct id_entry *slots, size_t capacity, const char *key)
{
	if (!capacity)
		return NULL;
	for (size_t i = hash_key(key) & (capacity - 1);; i = (i + 1) & (capacity - 1)) {
		if (!slots[i].key || strcmp(slots[i].key, key) == 0)
			return &slots[i];
	}
}

/* The ids of one snapshot: each identity keeps the id it had in `old`; identities not seen again
 * are forgotten, so the table stays the size of one snapshot. */
struct id_builder {
	struct ai_dap_ids *ids;
	struct id_entry *slots;
	size_t capacity, count;
};

static void id_builder_init(struct id_builder *b, struct ai_dap_ids *ids, size_t expected)
{
	b->ids = ids;
	b->capacity = 16;
	while (b->capacity < expected * 2 + 2)
		b->capacity *= 2;
	b->slots = xcalloc(b->capacity, sizeof(*b->slots));
	b->count = 0;
}

static json_int_t id_builder_take(struct id_builder *b, char *key)
{
	struct id_entry *mine = slot_of(b->slots, b->capacity, key);
	if (mine->key) {
		/* Two threads of one snapshot with one identity (never expected): a fresh id each. */
		free(key);
		return b->ids->next++;
	}
	struct id_entry *old = slot_of(b->ids->slots, b->ids->capacity, key);
	mine->key = key;
	mine->id = old && old->key ? old->id : b->ids->next++;
	b->count++;
	return mine->id;
}

static void id_builder_finish(struct id_builder *b)
{
	slots_free(b->ids->slots, b->ids->capacity);
	b->ids->slots = b->slots;
	b->ids->capacity = b->capacity;
	b->ids->count = b->count;
}

static char *task_key(const struct ai_snapshot_task *t)
{
	if (strcmp(t->kind, "task") == 0 && t->has_id)
		return xasprintf("task %s %" PRIx64 " %" PRIu64, t->runtime, t->runtime_address, t->id);
	return xasprintf("%s %s %d %" PRIx64, t->kind, t->runtime ? t->runtime : "", (int)t->thread, t->address);
}

/* ---- The model ---- */

struct mframe {
	json_int_t id;
	char *label;                          /* owned: a label frame (no source), or NULL */
	const struct ai_await_node *node;     /* an await frame, or NULL */
	const struct ai_snapshot_frame *native; /* a machine frame, or NULL */
	size_t thread;                        /* index in model->threads */
	json_int_t scopes[3];                 /* locals, wait, task: variables references, 0 if none */
	bool scoped;
};

struct mthread {
	json_int_t id;
	char *name;                                  /* owned */
	const struct ai_snapshot_task *task;         /* a task's thread, or NULL */
	const struct ai_snapshot_thread *os;         /* an OS thread, or NULL */
	size_t first_frame, frame_count;
	bool built;
	json_int_t task_scope;
};

enum container_kind {
	CONTAINER_LOCALS, /* node's saved locals */
	CONTAINER_VALUE,  /* the parts of a structured value */
	CONTAINER_WAIT,   /* node's wait */
	CONTAINER_TASK,   /* the task's fields */
	CONTAINER_HELD,   /* the guards the task holds */
};

struct container {
	enum container_kind kind;
	const struct ai_await_node *node;
	const struct ai_snapshot_task *task;
	const json_t *value; /* CONTAINER_VALUE's (owned by the model's parsed values) */
};

/* A local's structured value, parsed once (the compact JSON the printer wrote). */
struct parsed_local {
	const struct ai_snapshot_local *local;
	json_t *value; /* owned; NULL: none, or not JSON */
};

struct ai_dap_model {
	const struct ai_snapshot *snapshot; /* borrowed */
	struct mthread *threads;
	size_t thread_count;
	struct mframe *frames;
	size_t frame_count, frame_capacity;
	struct container *containers;
	size_t container_count, container_capacity;
	struct parsed_local *parsed;
	size_t parsed_count, parsed_capacity;
};

/* A JSON string of s, with bytes that are not UTF-8 replaced: jansson takes only UTF-8, and names
 * and values come from the target. */
static json_t *jstr(const char *s)
{
	if (!s)
		s = "";
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t len = strlen(s);
	char *clean = xmalloc(len * 3 + 1), *o = clean;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = n > 0 && i + n <= len;
		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		if (ok) {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3;
			i++;
		}
	}
	*o = '\0';
	j = json_string(clean);
	free(clean);
	return j ? j : json_string("?");
}

static void set_str(json_t *obj, const char *key, const char *value)
{
	json_object_set_new(obj, key, jstr(value));
}

static void set_int(json_t *obj, const char *key, json_int_t value)
{
	json_object_set_new(obj, key, json_integer(value));
}

/* The short name of an async fn path: its last component ("handle_conn"), with the enclosing one
 * for a block or closure ("main::{async_block#0}"); `::` inside generics does not count. */
static char *short_function(const char *path)
{
	if (!path)
		return xstrdup("?");
	size_t len = strlen(path);
	size_t cuts[64], n = 0;
	int angle = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (path[i] == '<')
			angle++;
		else if (path[i] == '>')
			angle--;
		else if (angle == 0 && path[i] == ':' && path[i + 1] == ':' && n < AI_ARRAY_SIZE(cuts))
			cuts[n++] = i + 2;
	}
	if (n == 0)
		return xstrdup(path);
	size_t k = n - 1;
	while (k > 0 && path[cuts[k]] == '{')
		k--;
	return xstrdup(path + cuts[k]);
}

static const char *thread_name_of(const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; i < s->thread_count; i++)
		if (s->threads[i].tid == tid)
			return s->threads[i].name ? s->threads[i].name : "";
	return "";
}

/* "task 17 handle_conn [idle]", "block_on main::{async_block#0} [thread 1234 main]". */
static char *task_thread_name(const struct ai_snapshot *s, const struct ai_snapshot_task *t)
{
	char *what = t->name ? xstrdup(t->name) : short_function(t->future ? t->future : t->tree.type);
	char *name;
	if (strcmp(t->kind, "block_on") == 0)
		name = xasprintf("block_on %s [thread %d %s]", what, (int)t->thread, thread_name_of(s, t->thread));
	else if (t->has_id)
		name = xasprintf("%s %" PRIu64 " %s [%s]", strcmp(t->kind, "blocking") == 0 ? "blocking" : "task",
				 t->id, what, t->status ? t->status : "?");
	else
		name = xasprintf("%s 0x%" PRIx64 " %s [%s]", strcmp(t->kind, "blocking") == 0 ? "blocking" : "task",
				 t->address, what, t->status ? t->status : "?");
	free(what);
	return name;
}

struct ai_dap_model *ai_dap_model_create(const struct ai_snapshot *snapshot, struct ai_dap_ids *ids)
{
	struct ai_dap_model *m = xcalloc(1, sizeof(*m));
	m->snapshot = snapshot;
	m->thread_count = snapshot->task_count + snapshot->thread_count;
	m->threads = xcalloc(m->thread_count ? m->thread_count : 1, sizeof(*m->threads));
	struct id_builder b;
	id_builder_init(&b, ids, m->thread_count);
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *t = &snapshot->tasks[i];
		m->threads[i].task = t;
		m->threads[i].name = task_thread_name(snapshot, t);
		m->threads[i].id = id_builder_take(&b, task_key(t));
	}
	for (size_t i = 0; i < snapshot->thread_count; i++) {
		const struct ai_snapshot_thread *th = &snapshot->threads[i];
		struct mthread *mt = &m->threads[snapshot->task_count + i];
		mt->os = th;
		mt->name = xasprintf("thread %d %s [%s]", (int)th->tid, th->name ? th->name : "",
				     ai_thread_state_name(th->state));
		mt->id = id_builder_take(&b, xasprintf("thread %d", (int)th->tid));
	}
	id_builder_finish(&b);
	return m;
}

void ai_dap_model_destroy(struct ai_dap_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->thread_count; i++)
		free(m->threads[i].name);
	for (size_t i = 0; i < m->frame_count; i++)
		free(m->frames[i].label);
	for (size_t i = 0; i < m->parsed_count; i++)
		json_decref(m->parsed[i].value);
	free(m->parsed);
	free(m->threads);
	free(m->frames);
	free(m->containers);
	free(m);
}

json_int_t ai_dap_model_first_thread(const struct ai_dap_model *m)
{
	return m->thread_count ? m->threads[0].id : 0;
}

json_t *ai_dap_model_threads(struct ai_dap_model *m)
{
	json_t *threads = json_array();
	for (size_t i = 0; i < m->thread_count; i++) {
		json_t *t = json_object();
		set_int(t, "id", m->threads[i].id);
		set_str(t, "name", m->threads[i].name);
		json_array_append_new(threads, t);
	}
	json_t *body = json_object();
	json_object_set_new(body, "threads", threads);
	return body;
}

static struct mthread *find_thread(struct ai_dap_model *m, json_int_t id)
{
	for (size_t i = 0; i < m->thread_count; i++)
		if (m->threads[i].id == id)
			return &m->threads[i];
	return NULL;
}

static struct mframe *add_frame(struct ai_dap_model *m, size_t thread)
{
	AI_GROW(m->frames, m->frame_capacity, m->frame_count + 1);
	struct mframe *f = &m->frames[m->frame_count++];
	memset(f, 0, sizeof(*f));
	f->id = (json_int_t)m->frame_count;
	f->thread = thread;
	return f;
}

static const char *node_name(const struct ai_await_node *node)
{
	return node->function ? node->function : node->type ? node->type : "?";
}

/* A node's frames: its chain through first children, innermost first; the other branches of
 * every combinator on it follow after the chain, each under a label. */
static void add_chain(struct ai_dap_model *m, size_t thread, const struct ai_await_node *root, size_t *budget)
{
	const struct ai_await_node *chain[256];
	size_t n = 0;
	for (const struct ai_await_node *node = root; node && n < AI_ARRAY_SIZE(chain);
	     node = node->child_count ? &node->children[0] : NULL)
		chain[n++] = node;
	for (size_t i = n; i-- > 0 && *budget > 0; (*budget)--)
		add_frame(m, thread)->node = chain[i];
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 1; k < chain[i]->child_count; k++) {
			if (*budget == 0)
				return;
			(*budget)--;
			add_frame(m, thread)->label = xasprintf("branch %zu of %s", k + 1,
								 chain[i]->macro ? chain[i]->macro : node_name(chain[i]));
			add_chain(m, thread, &chain[i]->children[k], budget);
		}
	}
}

static void build_frames(struct ai_dap_model *m, struct mthread *t)
{
	if (t->built)
		return;
	t->built = true;
	size_t index = (size_t)(t - m->threads);
	t->first_frame = m->frame_count;
	size_t budget = MAX_FRAMES;
	const struct ai_snapshot_thread *os = t->os;
	if (t->task) {
		add_chain(m, index, &t->task->tree, &budget);
		if (budget == 0)
			add_frame(m, index)->label = xasprintf("(cut at %d frames)", MAX_FRAMES);
		/* A task polled right now: its memory is mid-change; the thread's stack is the truth. */
		if (t->task->thread && t->task->status && strcmp(t->task->status, "running") == 0) {
			for (size_t i = 0; i < m->snapshot->thread_count; i++)
				if (m->snapshot->threads[i].tid == t->task->thread)
					os = &m->snapshot->threads[i];
			if (os)
				add_frame(m, index)->label = xasprintf("polled now by thread %d: its stack", (int)os->tid);
		}
	}
	if (os) {
		for (size_t i = 0; i < os->frame_count; i++)
			add_frame(m, index)->native = &os->frames[i];
		if (os->stack_error)
			add_frame(m, index)->label = xasprintf("(stack ends: %s)", os->stack_error);
	}
	t->frame_count = m->frame_count - t->first_frame;
}

static json_t *source_of(const char *file, bool dependency)
{
	json_t *source = json_object();
	const char *base = strrchr(file, '/');
	set_str(source, "name", base ? base + 1 : file);
	set_str(source, "path", file);
	if (dependency)
		set_str(source, "presentationHint", "deemphasize");
	return source;
}

static json_t *frame_json(const struct mframe *f)
{
	json_t *j = json_object();
	set_int(j, "id", f->id);
	int line = 0;
	if (f->label) {
		set_str(j, "name", f->label);
		set_str(j, "presentationHint", "label");
	} else if (f->node) {
		const struct ai_await_node *node = f->node;
		char *name;
		if (node->function) {
			bool suspended = node->state && ai_starts_with(node->state, "Suspend");
			name = xasprintf("%s%s%s%s%s%s", node->function, suspended || !node->state ? "" : " [",
					 suspended || !node->state ? "" : node->state,
					 suspended || !node->state ? "" : "]", node->macro ? " in " : "",
					 node->macro ? node->macro : "");
		} else if (node->wait && node->wait->description) {
			name = xasprintf("%s: %s", node->type ? node->type : "?", node->wait->description);
		} else {
			name = xstrdup(node->type ? node->type : "?");
		}
		if (node->error) {
			char *with = xasprintf("%s <%s>", name, node->error);
			free(name);
			name = with;
		}
		set_str(j, "name", name);
		free(name);
		if (node->file && node->line > 0) {
			json_object_set_new(j, "source", source_of(node->file, node->dependency));
			line = node->line;
		}
		if (node->dependency || !node->function)
			set_str(j, "presentationHint", "subtle");
	} else {
		const struct ai_snapshot_frame *nf = f->native;
		char *name = nf->function ? xasprintf("%s%s", nf->function, nf->inlined ? " [inlined]" : "")
					  : xasprintf("0x%" PRIx64 " in %s", nf->pc, nf->module ? nf->module : "?");
		set_str(j, "name", name);
		free(name);
		char pc[32];
		snprintf(pc, sizeof(pc), "0x%" PRIx64, nf->pc);
		set_str(j, "instructionPointerReference", pc);
		if (nf->file && nf->line > 0) {
			json_object_set_new(j, "source", source_of(nf->file, false));
			line = nf->line;
		} else {
			set_str(j, "presentationHint", "subtle");
		}
	}
	set_int(j, "line", line);
	set_int(j, "column", line ? 1 : 0);
	return j;
}

json_t *ai_dap_model_stack_trace(struct ai_dap_model *m, json_int_t thread_id, json_int_t start,
				 json_int_t levels, const char **message_ret)
{
	struct mthread *t = find_thread(m, thread_id);
	if (!t) {
		*message_ret = "no such thread in this snapshot";
		return NULL;
	}
	build_frames(m, t);
	json_t *frames = json_array();
	size_t first = start > 0 ? (size_t)start : 0;
	size_t end = levels > 0 ? first + (size_t)levels : t->frame_count;
	for (size_t i = first; i < end && i < t->frame_count; i++)
		json_array_append_new(frames, frame_json(&m->frames[t->first_frame + i]));
	json_t *body = json_object();
	json_object_set_new(body, "stackFrames", frames);
	set_int(body, "totalFrames", (json_int_t)t->frame_count);
	return body;
}

static json_int_t add_container(struct ai_dap_model *m, enum container_kind kind, const struct ai_await_node *node,
				const struct ai_snapshot_task *task, const json_t *value)
{
	AI_GROW(m->containers, m->container_capacity, m->container_count + 1);
	m->containers[m->container_count++] = (struct container){ kind, node, task, value };
	return (json_int_t)m->container_count;
}

static json_t *scope_json(const char *name, const char *hint, json_int_t reference, size_t named)
{
	json_t *s = json_object();
	set_str(s, "name", name);
	if (hint)
		set_str(s, "presentationHint", hint);
	set_int(s, "variablesReference", reference);
	if (named)
		set_int(s, "namedVariables", (json_int_t)named);
	json_object_set_new(s, "expensive", json_false());
	return s;
}

json_t *ai_dap_model_scopes(struct ai_dap_model *m, json_int_t frame_id, const char **message_ret)
{
	if (frame_id < 1 || (size_t)frame_id > m->frame_count) {
		*message_ret = "no such frame in this snapshot";
		return NULL;
	}
	struct mframe *f = &m->frames[frame_id - 1];
	struct mthread *t = &m->threads[f->thread];
	json_t *scopes = json_array();
	if (!f->scoped) {
		f->scoped = true;
		if (f->node && (f->node->function || f->node->local_count))
			f->scopes[0] = add_container(m, CONTAINER_LOCALS, f->node, NULL, NULL);
		if (f->node && f->node->wait)
			f->scopes[1] = add_container(m, CONTAINER_WAIT, f->node, NULL, NULL);
		if (t->task && !t->task_scope)
			t->task_scope = add_container(m, CONTAINER_TASK, NULL, t->task, NULL);
		f->scopes[2] = t->task_scope;
	}
	if (f->scopes[0])
		json_array_append_new(scopes, scope_json("Locals", "locals", f->scopes[0], f->node->local_count));
	if (f->scopes[1])
		json_array_append_new(scopes, scope_json("Wait", NULL, f->scopes[1], 0));
	if (f->scopes[2])
		json_array_append_new(scopes, scope_json("Task", NULL, f->scopes[2], 0));
	json_t *body = json_object();
	json_object_set_new(body, "scopes", scopes);
	return body;
}

/* The structured value of a live local (NULL when it has none), parsed on first use. */
static const json_t *local_value(struct ai_dap_model *m, const struct ai_snapshot_local *l)
{
	if (l->state != AI_LOCAL_LIVE || !l->structured)
		return NULL;
	for (size_t i = 0; i < m->parsed_count; i++)
		if (m->parsed[i].local == l)
			return m->parsed[i].value;
	AI_GROW(m->parsed, m->parsed_capacity, m->parsed_count + 1);
	json_t *value = json_loads(l->structured, JSON_DECODE_ANY, NULL);
	m->parsed[m->parsed_count++] = (struct parsed_local){ l, value };
	return value;
}

/* A variable showing text; value (its structured form, or NULL) gives it parts to expand into,
 * with paging hints: how many are named, how many indexed (a list's items). */
static json_t *variable(struct ai_dap_model *m, const char *name, const char *text, const char *type,
			const json_t *value)
{
	json_t *v = json_object();
	set_str(v, "name", name);
	set_str(v, "value", text ? text : "");
	if (type)
		set_str(v, "type", type);
	json_int_t reference = 0;
	if (value) {
		struct ai_dap_value_parts parts;
		ai_dap_value_parts_of(value, &parts);
		if (parts.count) {
			reference = add_container(m, CONTAINER_VALUE, NULL, NULL, value);
			if (parts.named)
				set_int(v, "namedVariables", (json_int_t)parts.named);
			if (parts.indexed)
				set_int(v, "indexedVariables", (json_int_t)parts.indexed);
		}
		ai_dap_value_parts_free(&parts);
	}
	set_int(v, "variablesReference", reference);
	return v;
}

/* A local: its summary (or `<moved>`, `<uninit>`) and its parts, both from the structured value
 * of the same decode. The text is written from it as the printer writes (10 items a list, as
 * dump): the session decodes lists further than dump, for paging, so the printer's own text
 * would list them all. */
static json_t *local_variable(struct ai_dap_model *m, const struct ai_snapshot_local *l)
{
	const json_t *value = local_value(m, l);
	char *text = value ? ai_dap_value_text(value) : NULL;
	json_t *v = variable(m, l->name, text ? text : ai_local_text(l), l->type, value);
	free(text);
	if (l->state != AI_LOCAL_LIVE) {
		/* not there: the editor greys it out and does not offer to change it */
		json_t *hint = json_object();
		set_str(hint, "kind", "data");
		json_object_set_new(hint, "attributes", json_pack("[s]", "readOnly"));
		json_object_set_new(v, "presentationHint", hint);
	}
	return v;
}

static void add_plain(json_t *list, struct ai_dap_model *m, const char *name, const char *value)
{
	json_array_append_new(list, variable(m, name, value, NULL, NULL));
}

static void add_printf(json_t *list, struct ai_dap_model *m, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_printf(json_t *list, struct ai_dap_model *m, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	add_plain(list, m, name, text ? text : "?");
	free(text);
}

static void wait_variables(json_t *list, struct ai_dap_model *m, const struct ai_wait *w)
{
	add_plain(list, m, "kind", w->kind);
	if (w->description)
		add_plain(list, m, "description", w->description);
	if (w->resource_type)
		add_plain(list, m, "resource", w->resource_type);
	if (w->address)
		add_printf(list, m, "address", "0x%" PRIx64, w->address);
	if (w->has_remaining)
		add_printf(list, m, "remaining", "%.3f s", (double)w->remaining_ns / 1e9);
	if (w->has_deadline)
		add_printf(list, m, "deadline", "%" PRId64 " ns (CLOCK_MONOTONIC)", w->deadline_ns);
	if (w->has_permits)
		add_printf(list, m, "permits", "%" PRIu64 " available, %" PRIu64 " wanted%s", w->permits_available,
			   w->permits_wanted, w->queued ? ", queued" : "");
	if (w->has_target_id)
		add_printf(list, m, "awaited task", "%" PRIu64 "%s%s", w->target_task_id,
			   w->target_status ? " " : "", w->target_status ? w->target_status : "");
	if (w->has_sender_alive)
		add_plain(list, m, "sender alive", w->sender_alive ? "true" : "false");
	if (w->has_senders)
		add_printf(list, m, "senders", "%" PRIu64 " (%" PRIu64 " its own)", w->senders_alive, w->senders_own);
	if (w->has_messages)
		add_printf(list, m, "queued", "%" PRIu64, w->messages_queued);
	if (w->has_capacity)
		add_printf(list, m, "capacity", "%" PRIu64, w->capacity);
	if (w->has_fd)
		add_printf(list, m, "fd", "%d%s%s", w->fd, w->fd_target ? " " : "", w->fd_target ? w->fd_target : "");
	if (w->socket_kind)
		add_printf(list, m, "socket", "%s %s%s%s %s", w->socket_kind, w->local_address ? w->local_address : "",
			   w->peer_address ? " -> " : "", w->peer_address ? w->peer_address : "",
			   w->socket_state ? w->socket_state : "");
	if (w->warning)
		add_plain(list, m, "warning", w->warning);
}

static void task_variables(json_t *list, struct ai_dap_model *m, const struct ai_snapshot_task *t)
{
	if (t->has_id)
		add_printf(list, m, "id", "%" PRIu64, t->id);
	add_plain(list, m, "kind", t->kind);
	add_plain(list, m, "runtime", t->runtime);
	if (t->status)
		add_plain(list, m, "status", t->status);
	if (t->flavor)
		add_plain(list, m, "flavor", t->flavor);
	if (t->name)
		add_plain(list, m, "name", t->name);
	add_plain(list, m, "future", t->future);
	add_printf(list, m, "address", "0x%" PRIx64, t->address);
	if (t->thread)
		add_printf(list, m, "thread", "%d", (int)t->thread);
	char buf[512];
	const char *wait = ai_task_wait_summary(t, buf, sizeof(buf));
	if (*wait)
		add_plain(list, m, "waits for", wait);
	if (t->held_count) {
		json_t *v = variable(m, "holds", NULL, NULL, NULL);
		char *count = xasprintf("%zu guard%s", t->held_count, t->held_count == 1 ? "" : "s");
		set_str(v, "value", count);
		free(count);
		set_int(v, "variablesReference", add_container(m, CONTAINER_HELD, NULL, t, NULL));
		json_array_append_new(list, v);
	}
	if (t->read_live)
		add_plain(list, m, "read live", "true (not in the capped copy: may mix two moments)");
}

json_t *ai_dap_model_variables(struct ai_dap_model *m, json_int_t reference, const char *filter, json_int_t start,
			       json_int_t count, const char **message_ret)
{
	if (reference < 1 || (size_t)reference > m->container_count) {
		*message_ret = "no such variablesReference in this snapshot";
		return NULL;
	}
	/* Copied: adding containers below moves the array. */
	struct container c = m->containers[reference - 1];
	json_t *list = json_array();
	switch (c.kind) {
	case CONTAINER_LOCALS:
		for (size_t i = 0; i < c.node->local_count; i++)
			json_array_append_new(list, local_variable(m, &c.node->locals[i]));
		break;
	case CONTAINER_VALUE: {
		/* filter "named" / "indexed": the editor pages a list's items apart from its facts,
		 * start counting from the first indexed part */
		struct ai_dap_value_parts parts;
		ai_dap_value_parts_of(c.value, &parts);
		bool named = !filter || strcmp(filter, "named") == 0, indexed = !filter || strcmp(filter, "indexed") == 0;
		for (size_t i = 0; i < parts.count; i++) {
			const struct ai_dap_value_part *part = &parts.parts[i];
			if (part->indexed ? !indexed : !named)
				continue;
			char *text = part->text ? NULL : ai_dap_value_text(part->value);
			json_array_append_new(list, variable(m, part->name, part->text ? part->text : text, NULL, part->value));
			free(text);
		}
		ai_dap_value_parts_free(&parts);
		break;
	}
	case CONTAINER_WAIT:
		wait_variables(list, m, c.node->wait);
		break;
	case CONTAINER_TASK:
		task_variables(list, m, c.task);
		break;
	case CONTAINER_HELD:
		for (size_t i = 0; i < c.task->held_count; i++) {
			const struct ai_held *h = &c.task->held[i];
			char *value = xasprintf("%s %s%s%s @ 0x%" PRIx64 ", held in %s at %s:%d", h->kind,
						h->guard_type ? h->guard_type : "?", h->resource_type ? " of " : "",
						h->resource_type ? h->resource_type : "", h->address,
						h->function ? h->function : "?", h->file ? ai_short_path(h->file) : "?", h->line);
			add_plain(list, m, h->local ? h->local : "?", value);
			free(value);
		}
		break;
	}
	/* Paging (start, count) over the whole list. */
	size_t first = start > 0 ? (size_t)start : 0, total = json_array_size(list);
	if (first > 0 || (count > 0 && (size_t)count < total)) {
		json_t *page = json_array();
		for (size_t i = first; i < total && (count <= 0 || i < first + (size_t)count); i++)
			json_array_append(page, json_array_get(list, i));
		json_decref(list);
		list = page;
	}
	json_t *body = json_object();
	json_object_set_new(body, "variables", list);
	return body;
}

json_int_t ai_dap_model_task_thread(const struct ai_dap_model *m, const struct ai_snapshot_task *task)
{
	for (size_t i = 0; task && i < m->thread_count; i++)
		if (m->threads[i].task == task)
			return m->threads[i].id;
	return 0;
}

const struct ai_snapshot_task *ai_dap_model_thread_task(const struct ai_dap_model *m, json_int_t thread_id)
{
	for (size_t i = 0; i < m->thread_count; i++)
		if (m->threads[i].id == thread_id)
			return m->threads[i].task;
	return NULL;
}

bool ai_dap_model_frame(const struct ai_dap_model *m, json_int_t frame_id, const struct ai_snapshot_task **task_ret,
			const struct ai_await_node **node_ret)
{
	if (frame_id < 1 || (size_t)frame_id > m->frame_count)
		return false;
	const struct mframe *f = &m->frames[frame_id - 1];
	*task_ret = m->threads[f->thread].task;
	*node_ret = f->node;
	return true;
}

json_t *ai_dap_model_evaluate_body(struct ai_dap_model *m, const struct ai_await_node *node, const char *expression,
				  const char *text)
{
	/* A local or a path into it (`account.owner`, `values[0]`) expands as the local's part does. */
	const json_t *value = NULL;
	size_t name_len = strcspn(expression, ".[");
	for (size_t i = 0; node && i < node->local_count && !value; i++) {
		const struct ai_snapshot_local *l = &node->locals[i];
		if (strlen(l->name) == name_len && strncmp(l->name, expression, name_len) == 0)
			value = ai_dap_value_find(local_value(m, l), expression + name_len);
	}
	/* its text as the variables show it (lists cut at 10 items, not the printer's 1000) */
	char *shown = value ? ai_dap_value_text(value) : NULL;
	json_t *body = variable(m, "", shown ? shown : text, NULL, value);
	free(shown);
	json_object_set(body, "result", json_object_get(body, "value"));
	json_object_del(body, "value");
	json_object_del(body, "name");
	return body;
}

json_t *ai_dap_model_deadlocks(struct ai_dap_model *m)
{
	const struct ai_snapshot *s = m->snapshot;
	if (!s->deadlock_count)
		return NULL;
	json_t *cycles = json_array();
	for (size_t i = 0; i < s->deadlock_count; i++) {
		const struct ai_deadlock *d = &s->deadlocks[i];
		json_t *tasks = json_array(), *edges = json_array();
		for (size_t k = 0; k < d->count; k++) {
			json_t *t = json_object();
			set_int(t, "threadId", m->threads[d->tasks[k]].id);
			set_str(t, "name", m->threads[d->tasks[k]].name);
			json_array_append_new(tasks, t);
			const struct ai_deadlock_edge *e = &d->edges[k];
			json_t *edge = json_object();
			set_int(edge, "from", m->threads[e->from].id);
			set_int(edge, "to", m->threads[e->to].id);
			if (e->wait) {
				set_str(edge, "kind", e->wait->kind);
				set_str(edge, "wait", e->wait->description ? e->wait->description : e->wait->kind);
			}
			if (e->held) {
				json_t *h = json_object();
				set_str(h, "local", e->held->local);
				set_str(h, "guardType", e->held->guard_type);
				set_str(h, "function", e->held->function);
				if (e->held->file) {
					set_str(h, "file", e->held->file);
					set_int(h, "line", e->held->line);
				}
				json_object_set_new(edge, "held", h);
			}
			if (e->unpolled) {
				json_t *u = json_object();
				set_str(u, "local", e->unpolled->local);
				set_str(u, "futureType", e->unpolled->future_type);
				set_str(u, "function", e->unpolled->function);
				if (e->unpolled->file) {
					set_str(u, "file", e->unpolled->file);
					set_int(u, "line", e->unpolled->line);
				}
				json_object_set_new(u, "granted", json_boolean(e->unpolled->granted));
				json_object_set_new(edge, "unpolled", u);
			}
			json_array_append_new(edges, edge);
		}
		json_t *cycle = json_object();
		json_object_set_new(cycle, "futurelock", json_boolean(d->futurelock));
		json_object_set_new(cycle, "tasks", tasks);
		json_object_set_new(cycle, "edges", edges);
		json_array_append_new(cycles, cycle);
	}
	json_t *body = json_object();
	json_object_set_new(body, "cycles", cycles);
	return body;
}
