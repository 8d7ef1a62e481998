/* tokio's JoinSet (docs/tokio-layouts.md, "JoinSet"): the wait of a task in join_next(), with the
 * set's tasks, and the set each of those tasks belongs to.
 *
 * JoinSet<T> { inner: IdleNotifiedSet<JoinHandle<T>> { lists: Arc<Lists<T>>, length } }, where
 * Lists<T> is tokio's Mutex<ListsInner { notified, idle: LinkedList<ListEntry<T>>, .. }> and
 * every ListEntry { pointers, parent: Arc<Lists<T>>, value: UnsafeCell<ManuallyDrop<T>>, .. } is
 * in one of the two lists (1.21 to 1.54). join_next is an async fn whose `self` is the set and
 * whose awaitee is a PollFn: that leaf's wait is the set. Both lists are walked through
 * `pointers.next`, each entry checked (aligned, its `parent` the set's own Arc, at most `length`
 * entries); the walk must find exactly `length` entries, else the set is not listed (a warning
 * says why) rather than listed wrong. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "layout.h"
#include "tokio_wait.h"

/* Bounds: entries walked per set, tasks named in the description. */
#define MAX_MEMBERS (1u << 20)
#define NAMED_MEMBERS 8

struct set_list {
	uint64_t offset;                /* the LinkedList in ListsInner's owner (the Arc's data) */
	const struct ai_type *type;
	const char *name;               /* "notified", "idle" */
};

static struct ai_wait *not_understood(struct ai_wait_walk *w, struct ai_wait *wait, const char *why)
{
	ai_snapshot_add_warning(w->snapshot, "tokio JoinSet @ 0x%" PRIx64 ": %s; its tasks are not listed",
				wait->address, why);
	wait->description = xasprintf("join_next on %s @ 0x%" PRIx64 " (its tasks unknown: %s)",
				      wait->resource_type, wait->address, why);
	for (size_t i = 0; i < wait->member_count; i++)
		free(wait->members[i].status);
	free(wait->members);
	wait->members = NULL;
	wait->member_count = 0;
	return wait;
}

static void add_member(struct ai_wait_walk *w, struct ai_wait *wait, size_t *capacity, uint64_t header,
		       bool notified)
{
	if (wait->member_count == *capacity) {
		*capacity = *capacity ? *capacity * 2 : 8;
		wait->members = xrealloc(wait->members, *capacity * sizeof(*wait->members));
	}
	struct ai_wait_member *m = &wait->members[wait->member_count++];
	*m = (struct ai_wait_member){ .address = header, .notified = notified };
	for (size_t i = 0; i < w->snapshot->task_count; i++) {
		const struct ai_snapshot_task *task = &w->snapshot->tasks[i];
		if (strcmp(task->kind, "task") == 0 && task->address == header) {
			m->has_id = task->has_id;
			m->id = task->id;
			m->status = task->status ? xstrdup(task->status) : NULL;
			break;
		}
	}
}

/* Walks one of the set's lists into wait->members; the reason it could not, or NULL. */
static const char *walk_list(struct ai_wait_walk *w, struct ai_wait *wait, size_t *capacity,
			     const struct set_list *list, uint64_t lists, uint64_t arc_inner, uint64_t length)
{
	uint64_t head_off;
	const struct ai_type *head_type;
	if (!ai_wait_member_path(list->type, "head", &head_off, &head_type))
		return "its LinkedList has no field `head`";
	const struct ai_type *entry = tk_find_pointee(head_type, tk_match_prefix, "ListEntry<");
	if (!entry || !(entry = ai_wait_underlying(entry)))
		return "its list's head points to no ListEntry";
	uint64_t ptrs_off, next_off, parent_off, value_off;
	const struct ai_type *ptrs_type, *next_type, *parent_type, *value_type;
	if (!ai_wait_member_path(entry, "pointers", &ptrs_off, &ptrs_type) ||
	    !ai_wait_find_nested(ptrs_type, "next", 0, &next_off, &next_type))
		return "ListEntry has no field `pointers.next`";
	if (!ai_wait_member_path(entry, "parent", &parent_off, &parent_type))
		return "ListEntry has no field `parent`";
	if (!ai_wait_member_path(entry, "value", &value_off, &value_type))
		return "ListEntry has no field `value`";
	struct tk_loc handle;
	if (!tk_find_within(value_type, tk_match_prefix, "JoinHandle<", &handle))
		return "ListEntry's value holds no JoinHandle";
	uint64_t node;
	if (!ai_wait_read_uint(w, lists + list->offset + head_off, 8, &node))
		return "its list's head is unreadable";
	while (node) {
		if (wait->member_count >= length || wait->member_count >= MAX_MEMBERS)
			return "its lists hold more tasks than its length";
		if (!(node >= 4096 && node < (1ULL << 47) && (node & 7) == 0))
			return "a list entry's address is not plausible";
		uint64_t parent, data, strong, header;
		const struct ai_type *dt;
		if (!ai_wait_read_arc_ex(w, parent_type, node + parent_off, &data, &dt, &parent, &strong) ||
		    parent != arc_inner)
			return "a list entry's parent is not the set";
		if (!tk_join_target(w, handle.type, node + value_off + handle.offset, &header))
			return "a list entry's JoinHandle is unreadable";
		add_member(w, wait, capacity, header, strcmp(list->name, "notified") == 0);
		if (!ai_wait_read_uint(w, node + ptrs_off + next_off, 8, &node))
			return "a list entry's next link is unreadable";
	}
	return NULL;
}

/* Members by id (listed ones first), then address: the lists' order is the order of wakes. */
static int compare_members(const void *a, const void *b)
{
	const struct ai_wait_member *x = a, *y = b;
	if (x->has_id != y->has_id)
		return x->has_id ? -1 : 1;
	if (x->has_id && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->address < y->address ? -1 : x->address > y->address;
}

struct ai_wait *tk_decode_join_set(struct ai_wait_walk *w)
{
	static const char *const prefixes[] = { "tokio::task::join_set::JoinSet<", NULL };
	uint64_t set;
	const struct ai_type *st;
	if (!ai_wait_enclosing_self(w, prefixes, 1, &set, &st))
		return NULL;
	struct ai_wait *wait = ai_wait_new("join_set");
	wait->address = set;
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(st));
	uint64_t lists_off, length, lists, arc_inner, strong;
	const struct ai_type *arc_type, *lists_type;
	if (!ai_wait_member_path(st, "inner.lists", &lists_off, &arc_type))
		return not_understood(w, wait, "JoinSet has no field `inner.lists`");
	if (!ai_wait_read_int_path(w, st, set, "inner.length", &length))
		return not_understood(w, wait, "JoinSet has no readable `inner.length`");
	if (!ai_wait_read_arc_ex(w, arc_type, set + lists_off, &lists, &lists_type, &arc_inner, &strong))
		return not_understood(w, wait, "its `inner.lists` Arc is unreadable");
	struct set_list parts[] = { { 0, NULL, "notified" }, { 0, NULL, "idle" } };
	for (size_t i = 0; i < AI_ARRAY_SIZE(parts); i++) {
		if (!ai_wait_find_nested(lists_type, parts[i].name, 0, &parts[i].offset, &parts[i].type))
			return not_understood(w, wait, parts[i].name[0] == 'n' ? "its lists have no `notified`"
										: "its lists have no `idle`");
	}
	size_t capacity = 0;
	for (size_t i = 0; i < AI_ARRAY_SIZE(parts); i++) {
		const char *why = walk_list(w, wait, &capacity, &parts[i], lists, arc_inner, length);
		if (why)
			return not_understood(w, wait, why);
	}
	if (wait->member_count != length)
		return not_understood(w, wait, "its lists hold fewer tasks than its length");
	wait->has_members = true;
	if (wait->member_count > 1)
		qsort(wait->members, wait->member_count, sizeof(*wait->members), compare_members);
	/* "join_next on JoinSet<u64> @ 0x..: 3 tasks: Task 1 (idle), Task 2 (idle), Task 3 (idle)" */
	char *text = xasprintf("join_next on %s @ 0x%" PRIx64 ": %zu task%s", wait->resource_type, set,
			       wait->member_count, wait->member_count == 1 ? "" : "s");
	for (size_t i = 0; i < wait->member_count && i < NAMED_MEMBERS; i++) {
		const struct ai_wait_member *m = &wait->members[i];
		char *next;
		if (m->has_id)
			next = xasprintf("%s%s Task %" PRIu64 " (%s)", text, i ? "," : ":", m->id,
					 m->status ? m->status : "?");
		else if (m->status)
			next = xasprintf("%s%s Task 0x%" PRIx64 " (%s)", text, i ? "," : ":", m->address, m->status);
		else
			next = xasprintf("%s%s the task at 0x%" PRIx64 " (finished%s)", text, i ? "," : ":",
					 m->address, m->notified ? ", not joined yet" : "?");
		free(text);
		text = next;
	}
	if (wait->member_count > NAMED_MEMBERS) {
		char *next = xasprintf("%s, and %zu more", text, wait->member_count - NAMED_MEMBERS);
		free(text);
		text = next;
	}
	wait->description = text;
	return wait;
}

/* Labels the members of every set some node waits on with that set (the first set wins). */
static void label_members(struct ai_snapshot *snapshot, const struct ai_await_node *node, unsigned depth)
{
	if (depth > 256)
		return;
	const struct ai_wait *wait = node->wait;
	if (wait && wait->has_members && wait->kind && strcmp(wait->kind, "join_set") == 0) {
		for (size_t m = 0; m < wait->member_count; m++) {
			for (size_t i = 0; i < snapshot->task_count; i++) {
				struct ai_snapshot_task *task = &snapshot->tasks[i];
				if (strcmp(task->kind, "task") != 0 || task->address != wait->members[m].address ||
				    task->set_address)
					continue;
				task->set_address = wait->address;
				task->set_type = xstrdup(wait->resource_type ? wait->resource_type : "JoinSet");
			}
		}
	}
	for (size_t i = 0; i < node->child_count; i++)
		label_members(snapshot, &node->children[i], depth + 1);
}

void tk_join_set_members(struct ai_snapshot *snapshot)
{
	for (size_t i = 0; i < snapshot->task_count; i++)
		label_members(snapshot, &snapshot->tasks[i].tree, 0);
}
