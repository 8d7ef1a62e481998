/* serve's flamegraph (`serve --profile`): the CPU samples of the live profile's model (samples.c
 * folds them into async-aware stacks as `profile` does) taken out of it at every sample, each
 * task's stacks under "task ID NAME" and each thread's outside any poll under "thread TID", kept
 * for the last AI_LIVE_FLAME_WINDOW_NS in a ring of entries (bounded: AI_LIVE_FLAME_MAX_ENTRIES,
 * oldest dropped first), and merged into one tree when the page's document is written (by the
 * sampling thread, at publish: the HTTP threads only send it). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/profile.h"
#include "ai/snapshot.h"
#include "ai/util.h"

struct entry {
	uint64_t at_ns;
	uint64_t address; /* the task's, or 0: a thread's samples outside any poll */
	char *label;      /* owned: "task 3 name", "thread 1234" */
	char *frames;     /* owned: folded, "a;b;c", outermost first */
	uint64_t count;
};

struct ai_live_flame {
	struct entry *entries; /* a ring: `first` is the oldest */
	size_t first, count, capacity;
	uint64_t samples;      /* in the entries */
};

struct ai_live_flame *ai_live_flame_create(void)
{
	return xcalloc(1, sizeof(struct ai_live_flame));
}

static void entry_free(struct entry *e)
{
	free(e->label);
	free(e->frames);
}

void ai_live_flame_destroy(struct ai_live_flame *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->count; i++)
		entry_free(&f->entries[(f->first + i) % f->capacity]);
	free(f->entries);
	free(f);
}

static void drop_oldest(struct ai_live_flame *f)
{
	struct entry *e = &f->entries[f->first];
	f->samples -= e->count;
	entry_free(e);
	f->first = (f->first + 1) % f->capacity;
	f->count--;
}

/* Takes label and frames. */
static void add(struct ai_live_flame *f, uint64_t at_ns, uint64_t address, char *label, char *frames, uint64_t count)
{
	if (f->count == AI_LIVE_FLAME_MAX_ENTRIES)
		drop_oldest(f);
	if (f->count == f->capacity) { /* grow the ring, its entries in order from 0 */
		size_t capacity = f->capacity ? 2 * f->capacity : 256;
		struct entry *entries = xcalloc(capacity, sizeof(*entries));
		for (size_t i = 0; i < f->count; i++)
			entries[i] = f->entries[(f->first + i) % f->capacity];
		free(f->entries);
		f->entries = entries;
		f->capacity = capacity;
		f->first = 0;
	}
	f->entries[(f->first + f->count) % f->capacity] =
		(struct entry){ .at_ns = at_ns, .address = address, .label = label, .frames = frames, .count = count };
	f->count++;
	f->samples += count;
}

/* Moves a task's or thread's counted stacks into the ring. prefix: the frame that goes before a
 * stack whose unwinding stopped short of the runtime's poll function (ai_profile_stack.chain). */
static void take_stacks(struct ai_live_flame *f, uint64_t now_ns, uint64_t address, const char *label,
			const char *prefix, struct ai_profile_stack **stacks, size_t *count, size_t *capacity)
{
	for (size_t i = 0; i < *count; i++) {
		struct ai_profile_stack *st = &(*stacks)[i];
		char *frames = st->chain && prefix ? xasprintf("%s;%s", prefix, st->frames) : st->frames;
		if (frames != st->frames)
			free(st->frames);
		add(f, now_ns, address, xstrdup(label), frames, st->count);
	}
	free(*stacks);
	*stacks = NULL;
	*count = *capacity = 0;
}

static char *task_label(const struct ai_snapshot_task *task, uint64_t address)
{
	if (task && task->has_id)
		return xasprintf("task %" PRIu64 "%s%s", task->id, task->name ? " " : "", task->name ? task->name : "");
	return xasprintf("task @0x%" PRIx64, address);
}

void ai_live_flame_take(struct ai_live_flame *f, struct ai_profile *model, const struct ai_snapshot *snapshot,
			uint64_t now_ns)
{
	while (f->count && f->entries[f->first].at_ns + AI_LIVE_FLAME_WINDOW_NS < now_ns)
		drop_oldest(f);
	/* The tasks of the snapshot, named by it; then those it no longer (or not yet) lists. */
	for (size_t i = 0; snapshot && i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *task = &snapshot->tasks[i];
		size_t k = ai_profile_task_index(model, task->address);
		if (k == SIZE_MAX || !model->tasks[k].stack_count)
			continue;
		struct ai_profile_task *t = &model->tasks[k];
		char *label = task_label(task, task->address);
		const char *root = task->future ? task->future : task->tree.function;
		take_stacks(f, now_ns, task->address, label, root, &t->stacks, &t->stack_count, &t->stack_capacity);
		t->samples = 0;
		free(label);
	}
	for (size_t k = 0; k < model->task_count; k++) {
		struct ai_profile_task *t = &model->tasks[k];
		if (!t->stack_count)
			continue;
		char *label = task_label(NULL, t->address);
		take_stacks(f, now_ns, t->address, label, t->future, &t->stacks, &t->stack_count, &t->stack_capacity);
		t->samples = 0;
		free(label);
	}
	for (size_t k = 0; k < model->thread_count; k++) {
		struct ai_profile_thread *th = &model->threads[k];
		if (!th->stack_count)
			continue;
		char *label = xasprintf("thread %" PRIu32, th->tid);
		take_stacks(f, now_ns, 0, label, NULL, &th->stacks, &th->stack_count, &th->stack_capacity);
		th->samples = 0;
		free(label);
	}
}

/* ---- The tree ---- */

struct node {
	char *name;     /* owned */
	uint64_t value; /* samples in it and under it */
	uint64_t address; /* a task's frame: the task */
	int pid;          /* a process's frame (several processes): the process */
	size_t child, sibling; /* indexes + 1, 0: none */
};

struct tree {
	struct node *nodes;
	size_t count, capacity;
};

static size_t child_named(struct tree *t, size_t parent, const char *name, size_t len)
{
	size_t *link = &t->nodes[parent].child;
	while (*link) {
		struct node *n = &t->nodes[*link - 1];
		if (strncmp(n->name, name, len) == 0 && n->name[len] == '\0')
			return *link - 1;
		link = &n->sibling;
	}
	AI_GROW(t->nodes, t->capacity, t->count + 1);
	size_t at = t->count++;
	t->nodes[at] = (struct node){ .name = xstrndup(name, len) };
	/* (the array may have moved: find the link again, it is the last sibling's) */
	link = &t->nodes[parent].child;
	while (*link)
		link = &t->nodes[*link - 1].sibling;
	*link = at + 1;
	return at;
}

static int heavier(const void *a, const void *b)
{
	const struct node *x = *(const struct node *const *)a, *y = *(const struct node *const *)b;
	if (x->value != y->value)
		return x->value > y->value ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void write_node(struct ai_json_writer *w, const struct tree *t, size_t at)
{
	const struct node *n = &t->nodes[at];
	ai_json_begin_object(w);
	ai_json_field_string(w, "name", n->name);
	ai_json_field_uint(w, "value", n->value);
	if (n->address)
		ai_json_field_hex(w, "address", n->address);
	if (n->pid)
		ai_json_field_int(w, "pid", n->pid);
	if (n->child) {
		ai_json_key(w, "children");
		ai_json_begin_array(w);
		/* heaviest first */
		size_t count = 0;
		for (size_t c = n->child; c; c = t->nodes[c - 1].sibling)
			count++;
		const struct node **order = xcalloc(count, sizeof(*order));
		size_t k = 0;
		for (size_t c = n->child; c; c = t->nodes[c - 1].sibling)
			order[k++] = &t->nodes[c - 1];
		qsort(order, count, sizeof(*order), heavier);
		for (size_t i = 0; i < count; i++)
			write_node(w, t, (size_t)(order[i] - t->nodes));
		free(order);
		ai_json_end_array(w);
	}
	ai_json_end_object(w);
}

/* The window's stacks of f under the frame `parent`: their oldest and newest times widen *span. */
static void add_flame(struct tree *t, size_t parent, const struct ai_live_flame *f, uint64_t span[2], bool *any)
{
	size_t label_at = SIZE_MAX;
	for (size_t i = 0; i < f->count; i++) {
		const struct entry *e = &f->entries[(f->first + i) % f->capacity];
		span[0] = *any ? AI_MIN(span[0], e->at_ns) : e->at_ns;
		span[1] = AI_MAX(span[1], e->at_ns);
		*any = true;
		t->nodes[parent].value += e->count;
		/* a task's stacks are taken one after another: its frame is the last one's, mostly */
		size_t at = label_at != SIZE_MAX && strcmp(t->nodes[label_at].name, e->label) == 0
				    ? label_at : child_named(t, parent, e->label, strlen(e->label));
		label_at = at;
		t->nodes[at].value += e->count;
		t->nodes[at].address = e->address;
		for (const char *s = e->frames; *s;) {
			size_t n = strcspn(s, ";");
			at = child_named(t, at, s, n);
			t->nodes[at].value += e->count;
			s += n + (s[n] == ';');
		}
	}
}

/* One document over the parts (one process each, or one without a pid), each part's stacks under
 * its own frame when it has a label (several processes), else under the root. */
static void write_parts(FILE *out, const struct ai_live_flame_part *parts, size_t count, unsigned rate_hz,
			bool labelled)
{
	struct tree t = { 0 };
	AI_GROW(t.nodes, t.capacity, 1);
	t.nodes[t.count++] = (struct node){ .name = xstrdup("all") };
	uint64_t span[2] = { 0, 0 }, samples = 0;
	bool any = false, available = false;
	for (size_t k = 0; k < count; k++) {
		const struct ai_live_flame_part *part = &parts[k];
		if (!part->flame)
			continue;
		available = true;
		samples += part->flame->samples;
		size_t at = 0;
		if (labelled) {
			at = child_named(&t, 0, part->label, strlen(part->label));
			t.nodes[at].pid = part->pid;
		}
		uint64_t before = t.nodes[at].value;
		add_flame(&t, at, part->flame, span, &any);
		if (at)
			t.nodes[0].value += t.nodes[at].value - before;
	}
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, false);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "format", "async-inspect-serve-flamegraph");
	ai_json_field_uint(&w, "version", 1);
	ai_json_field_bool(&w, "available", available);
	/* none has samples: the first one's reason stands for all */
	ai_json_field_string(&w, "reason", available ? NULL : count && parts[0].reason ? parts[0].reason : "no CPU samples");
	ai_json_field_uint(&w, "rate_hz", rate_hz);
	ai_json_field_uint(&w, "window_ms", AI_LIVE_FLAME_WINDOW_NS / 1000000);
	ai_json_field_uint(&w, "span_ms", (span[1] - span[0]) / 1000000);
	ai_json_field_uint(&w, "samples", samples);
	if (labelled) {
		/* each process: its root frame's name, or why it has none */
		ai_json_key(&w, "processes");
		ai_json_begin_array(&w);
		for (size_t k = 0; k < count; k++) {
			ai_json_begin_object(&w);
			ai_json_field_int(&w, "pid", parts[k].pid);
			ai_json_field_string(&w, "label", parts[k].label);
			ai_json_field_bool(&w, "available", parts[k].flame != NULL);
			ai_json_field_string(&w, "reason", parts[k].flame ? NULL : parts[k].reason);
			ai_json_field_uint(&w, "samples", parts[k].flame ? parts[k].flame->samples : 0);
			ai_json_end_object(&w);
		}
		ai_json_end_array(&w);
	}
	ai_json_key(&w, "root");
	if (available)
		write_node(&w, &t, 0);
	else
		ai_json_null(&w);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fputc('\n', out);
	for (size_t i = 0; i < t.count; i++)
		free(t.nodes[i].name);
	free(t.nodes);
}

void ai_live_flame_write(FILE *out, const struct ai_live_flame *f, unsigned rate_hz)
{
	write_parts(out, &(struct ai_live_flame_part){ .flame = f }, 1, rate_hz, false);
}

void ai_live_flame_write_parts(FILE *out, const struct ai_live_flame_part *parts, size_t count, unsigned rate_hz)
{
	write_parts(out, parts, count, rate_hz, true);
}

void ai_live_flame_write_unavailable(FILE *out, const char *reason)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, false);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "format", "async-inspect-serve-flamegraph");
	ai_json_field_uint(&w, "version", 1);
	ai_json_field_bool(&w, "available", false);
	ai_json_field_string(&w, "reason", reason);
	ai_json_field_null(&w, "root");
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fputc('\n', out);
}
