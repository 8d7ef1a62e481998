/* Reading the values waits are made of, by DWARF member name: shared by the runtime adapters
 * (see include/ai/wait.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/util.h"
#include "ai/wait.h"

/* Nesting followed to find a member by name inside wrappers (Instant, AtomicUsize...). */
#define MAX_NEST 8

const struct ai_type *ai_wait_underlying(const struct ai_type *t)
{
	const struct ai_type *u;
	struct ai_error *err = ai_type_underlying(t, &u);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return u;
}

const struct ai_type *ai_wait_member_type(const struct ai_type *t, const struct ai_member *m)
{
	const struct ai_type *mt;
	struct ai_error *err = ai_type_member_type(t, m, &mt);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return ai_wait_underlying(mt);
}

/* The struct of a coroutine's current state: its saved locals and arguments. NULL when t is not
 * a coroutine or the state is unknown. */
const struct ai_type *ai_wait_state_struct(const struct ai_type *t, const char *state)
{
	if (!t || !state || !ai_type_is_coroutine(t))
		return NULL;
	const struct ai_variant *v = ai_type_find_variant(t, state);
	return v ? ai_wait_member_type(t, &v->member) : NULL;
}

const struct ai_type *ai_wait_type_of_die(struct ai_wait_walk *w, uint64_t die)
{
	const struct ai_type *t;
	if (!die)
		return NULL;
	struct ai_error *err = ai_types_get(w->as->types, die, &t);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return ai_wait_underlying(t);
}

const char *ai_wait_type_name(const struct ai_type *t)
{
	const char *n = t ? ai_type_qualified_name(t) : NULL;
	return n ? n : (t && t->name ? t->name : "?");
}

/* "a.b.c" from a struct: the offset of c from the start of the outer value, and c's type. */
bool ai_wait_member_path(const struct ai_type *t, const char *path, uint64_t *offset_ret,
			const struct ai_type **type_ret)
{
	uint64_t offset = 0;
	/* Each name between dots, in place (empty ones skipped, as strtok would). */
	for (const char *part = path; *part;) {
		size_t len = strcspn(part, ".");
		if (len == 0) {
			part++;
			continue;
		}
		if (!t)
			return false;
		const struct ai_member *m = NULL;
		for (size_t i = 0; i < t->member_count && !m; i++)
			if (t->members[i].name && strncmp(t->members[i].name, part, len) == 0 &&
			    t->members[i].name[len] == '\0')
				m = &t->members[i];
		if (!m)
			return false;
		offset += m->offset;
		t = ai_wait_member_type(t, m);
		part += len;
	}
	if (!t)
		return false;
	*offset_ret = offset;
	*type_ret = t;
	return true;
}

static bool find_nested(const struct ai_type *t, const char *name, unsigned depth, uint64_t *offset_ret,
			const struct ai_type **type_ret);

/* A bounded search for the first nested member named name (through wrappers of any version);
 * its answer depends on the type alone, and is kept on it. */
bool ai_wait_find_nested(const struct ai_type *t, const char *name, unsigned depth, uint64_t *offset_ret,
			const struct ai_type **type_ret)
{
	static const char search = 0; /* names this search among the type's memos */
	if (!t)
		return false;
	const struct ai_type_memo *m = ai_type_memo_find(t, &search, name, depth);
	if (!m) {
		uint64_t offset = 0;
		const struct ai_type *found_type = NULL;
		bool found = find_nested(t, name, depth, &offset, &found_type);
		ai_type_memo_add(t, &search, name, depth, found, offset, found_type);
		if (found) {
			*offset_ret = offset;
			*type_ret = found_type;
		}
		return found;
	}
	if (m->found) {
		*offset_ret = m->offset;
		*type_ret = m->type;
	}
	return m->found;
}

static bool find_nested(const struct ai_type *t, const char *name, unsigned depth, uint64_t *offset_ret,
			const struct ai_type **type_ret)
{
	if (!t || depth > MAX_NEST || (t->kind != AI_TYPE_STRUCT && t->kind != AI_TYPE_UNION))
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		if (m->name && strcmp(m->name, name) == 0) {
			const struct ai_type *mt = ai_wait_member_type(t, m);
			if (!mt)
				return false;
			*offset_ret = m->offset;
			*type_ret = mt;
			return true;
		}
	}
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		uint64_t off;
		if (find_nested(ai_wait_member_type(t, m), name, depth + 1, &off, type_ret)) {
			*offset_ret = m->offset + off;
			return true;
		}
	}
	return false;
}

/* The integer inside wrappers (AtomicUsize { inner: UnsafeCell { value } }, Nanoseconds(u32)). */
bool ai_wait_int_leaf(const struct ai_type *t, unsigned depth, uint64_t *offset_ret, uint64_t *size_ret)
{
	if (!t || depth > MAX_NEST)
		return false;
	if (t->kind == AI_TYPE_INT || t->kind == AI_TYPE_BOOL) {
		*offset_ret = 0;
		*size_ret = t->size;
		return t->size >= 1 && t->size <= 8;
	}
	if (t->kind != AI_TYPE_STRUCT)
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_type *mt = ai_wait_member_type(t, &t->members[i]);
		if (!mt || (mt->has_size && mt->size == 0))
			continue;
		uint64_t off;
		if (ai_wait_int_leaf(mt, depth + 1, &off, size_ret)) {
			*offset_ret = t->members[i].offset + off;
			return true;
		}
		return false;
	}
	return false;
}

bool ai_wait_read_uint(struct ai_wait_walk *w, uint64_t address, uint64_t size, uint64_t *ret)
{
	uint8_t buf[8] = { 0 };
	if (size == 0 || size > 8)
		return false;
	struct ai_error *err = ai_memory_read(w->mem, buf, address, size);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	uint64_t v = 0;
	memcpy(&v, buf, size); /* x86-64: little-endian */
	*ret = v;
	return true;
}

/* Reads the integer (behind any wrappers) of member path `path` of the value at address. */
bool ai_wait_read_int_path(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *path,
			  uint64_t *ret)
{
	uint64_t off, leaf_off, size;
	const struct ai_type *mt;
	if (!ai_wait_member_path(t, path, &off, &mt) || !ai_wait_int_leaf(mt, 0, &leaf_off, &size))
		return false;
	return ai_wait_read_uint(w, address + off + leaf_off, size, ret);
}

/* A pointer member (&T, *const T, NonNull's `pointer`): its value and pointee type. */
bool ai_wait_read_pointer_path(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *path,
			      uint64_t *ptr_ret, const struct ai_type **pointee_ret)
{
	uint64_t off;
	const struct ai_type *mt;
	if (!ai_wait_member_path(t, path, &off, &mt) || mt->kind != AI_TYPE_POINTER)
		return false;
	uint64_t ptr;
	if (!ai_wait_read_uint(w, address + off, 8, &ptr) || ptr == 0 || (ptr & 7) != 0 ||
	    ptr > 0x00007fffffffffffULL)
		return false;
	const struct ai_type *pt;
	struct ai_error *err = ai_type_target(mt, &pt);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	*ptr_ret = ptr;
	*pointee_ret = ai_wait_underlying(pt);
	return *pointee_ret != NULL;
}

/* Arc<T> at address: the address of T (ArcInner.data, whose offset DWARF gives) and T's type. */
bool ai_wait_read_arc(struct ai_wait_walk *w, const struct ai_type *arc, uint64_t address, uint64_t *data_ret,
		     const struct ai_type **data_type_ret)
{
	uint64_t inner, off;
	const struct ai_type *inner_t, *dt;
	if (!ai_wait_read_pointer_path(w, arc, address, "ptr.pointer", &inner, &inner_t) ||
	    !ai_wait_member_path(inner_t, "data", &off, &dt))
		return false;
	*data_ret = inner + off;
	*data_type_ret = dt;
	return true;
}

/* Arc<T> at address, with the ArcInner: its address and the strong count (0 if unreadable). */
bool ai_wait_read_arc_ex(struct ai_wait_walk *w, const struct ai_type *arc, uint64_t address, uint64_t *data_ret,
			const struct ai_type **data_type_ret, uint64_t *inner_ret, uint64_t *strong_ret)
{
	uint64_t inner, off, strong = 0;
	const struct ai_type *inner_t, *dt;
	if (!ai_wait_read_pointer_path(w, arc, address, "ptr.pointer", &inner, &inner_t) ||
	    !ai_wait_member_path(inner_t, "data", &off, &dt))
		return false;
	if (!ai_wait_read_int_path(w, inner_t, inner, "strong", &strong))
		strong = 0;
	*data_ret = inner + off;
	*data_type_ret = dt;
	*inner_ret = inner;
	*strong_ret = strong;
	return true;
}

/* The Arc inside Some of an Option<Arc<T>> member `path` of the value at address; false for None. */
bool ai_wait_read_option_arc(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *path,
			    uint64_t *data_ret, const struct ai_type **data_type_ret, uint64_t *strong_ret)
{
	uint64_t off, arc_off, inner;
	const struct ai_type *opt, *vt, *arc;
	if (!ai_wait_member_path(t, path, &off, &opt))
		return false;
	const struct ai_variant *v = ai_type_find_variant(opt, "Some");
	if (!v || !(vt = ai_wait_member_type(opt, &v->member)) || !ai_wait_member_path(vt, "__0", &arc_off, &arc))
		return false;
	return ai_wait_read_arc_ex(w, arc, address + off + v->member.offset + arc_off, data_ret, data_type_ret, &inner,
			   strong_ret);
}

/* The pointer at the bottom of wrappers (Pin<Box<T>> = Pin { Box { Unique { NonNull { *const T } } } }). */
bool ai_wait_deref_wrapped(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, unsigned depth,
			  uint64_t *ptr_ret, const struct ai_type **pointee_ret)
{
	if (!t || depth > MAX_NEST)
		return false;
	if (t->kind == AI_TYPE_POINTER) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (!ai_wait_read_uint(w, address, 8, &ptr) || ptr == 0 || ptr > 0x00007fffffffffffULL)
			return false;
		struct ai_error *err = ai_type_target(t, &pt);
		if (err) {
			ai_error_destroy(err);
			return false;
		}
		*ptr_ret = ptr;
		*pointee_ret = ai_wait_underlying(pt);
		return *pointee_ret != NULL;
	}
	if (t->kind != AI_TYPE_STRUCT)
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_type *mt = ai_wait_member_type(t, &t->members[i]);
		if (!mt || (mt->has_size && mt->size == 0))
			continue;
		return ai_wait_deref_wrapped(w, mt, address + t->members[i].offset, depth + 1, ptr_ret, pointee_ret);
	}
	return false;
}

bool *ai_wait_live_locals(struct ai_wait_walk *w, const struct ai_await_node *node, const struct ai_type *vt)
{
	size_t n = vt->member_count ? vt->member_count : 1;
	bool *live = xmalloc(n * sizeof(*live));
	bool memo = n <= AI_WAIT_LIVE_MEMO;
	if (memo && w->live_vt == vt && w->live_die == node->type_die && w->live_address == node->address) {
		memcpy(live, w->live_memo, n * sizeof(*live));
		return live;
	}
	enum ai_local_state *states = xcalloc(n, sizeof(*states));
	const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
	if (t)
		ai_await_local_states(w->as, t, vt, node->address, NULL, 0, states);
	for (size_t i = 0; i < n; i++)
		live[i] = states[i] == AI_LOCAL_LIVE;
	free(states);
	if (memo) {
		memcpy(w->live_memo, live, n * sizeof(*live));
		w->live_vt = vt;
		w->live_die = node->type_die;
		w->live_address = node->address;
	}
	return live;
}

/* The `self` (or `_ref__self`) of the coroutine node a in its current state, through && too. */
bool ai_wait_node_self(struct ai_wait_walk *w, const struct ai_await_node *a, uint64_t *ptr_ret,
		      const struct ai_type **type_ret)
{
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, a->type_die), a->state);
	if (!vt)
		return false;
	static const char *const names[] = { "self", "_ref__self" };
	for (size_t k = 0; k < AI_ARRAY_SIZE(names); k++) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (!ai_wait_read_pointer_path(w, vt, a->address, names[k], &ptr, &pt))
			continue;
		if (pt->kind == AI_TYPE_POINTER) {
			uint64_t p2;
			const struct ai_type *t2;
			struct ai_error *err = ai_type_target(pt, &t2);
			if (err) {
				ai_error_destroy(err);
				continue;
			}
			if (!ai_wait_read_uint(w, ptr, 8, &p2) || !(t2 = ai_wait_underlying(t2)))
				continue;
			ptr = p2;
			pt = t2;
		}
		*ptr_ret = ptr;
		*type_ret = pt;
		return true;
	}
	return false;
}

/* The nearest enclosing coroutine (at most `levels` up) whose `self` has a type starting with one
 * of the prefixes. */
bool ai_wait_enclosing_self(struct ai_wait_walk *w, const char *const *prefixes, size_t levels, uint64_t *ptr_ret,
			   const struct ai_type **type_ret)
{
	for (size_t i = w->depth; i-- > 0 && levels-- > 0;) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (!ai_wait_node_self(w, w->ancestors[i], &ptr, &pt))
			continue;
		for (const char *const *p = prefixes; *p; p++) {
			if (ai_starts_with(ai_wait_type_name(pt), *p)) {
				*ptr_ret = ptr;
				*type_ret = pt;
				return true;
			}
		}
	}
	return false;
}

/* "tokio::sync::mutex::Mutex<bank::Ledger>" -> "Mutex<bank::Ledger>". */
char *ai_wait_short_resource_name(const char *qualified)
{
	const char *lt = strchr(qualified, '<');
	size_t end = lt ? (size_t)(lt - qualified) : strlen(qualified);
	const char *start = qualified;
	for (size_t i = 0; i + 1 < end; i++) {
		if (qualified[i] == ':' && qualified[i + 1] == ':')
			start = qualified + i + 2;
	}
	return xstrdup(start);
}

char *ai_wait_format_duration(int64_t ns)
{
	bool neg = ns < 0;
	uint64_t s = (uint64_t)(neg ? -ns : ns) / 1000000000ULL;
	uint64_t ms = (uint64_t)(neg ? -ns : ns) / 1000000ULL % 1000;
	char buf[64];
	if (s >= 86400)
		snprintf(buf, sizeof(buf), "%" PRIu64 "d%" PRIu64 "h%" PRIu64 "m", s / 86400, s % 86400 / 3600,
			 s % 3600 / 60);
	else if (s >= 3600)
		snprintf(buf, sizeof(buf), "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", s / 3600, s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(buf, sizeof(buf), "%" PRIu64 "m%" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, sizeof(buf), "%" PRIu64 ".%03" PRIu64 "s", s, ms);
	return xstrdup(buf);
}

struct ai_wait *ai_wait_new(const char *kind)
{
	struct ai_wait *wait = xcalloc(1, sizeof(*wait));
	wait->kind = xstrdup(kind);
	return wait;
}

/* kind "join": the awaited task, found among the snapshot's tasks by its header address. */
void ai_wait_set_join_target(struct ai_wait_walk *w, struct ai_wait *wait, uint64_t task)
{
	wait->address = task;
	bool listed = false;
	for (size_t i = 0; i < w->snapshot->task_count; i++) {
		const struct ai_snapshot_task *t = &w->snapshot->tasks[i];
		if (strcmp(t->kind, "task") == 0 && t->address == task) {
			listed = true;
			wait->has_target_id = t->has_id;
			wait->target_task_id = t->id;
			wait->target_status = t->status ? xstrdup(t->status) : NULL;
			break;
		}
	}
	free(wait->description);
	if (wait->has_target_id)
		wait->description = xasprintf("join Task %" PRIu64 " (%s)", wait->target_task_id,
					      wait->target_status ? wait->target_status : "?");
	else if (listed) /* (a runtime whose tasks have no ids: async-task, tokio before 1.9) */
		wait->description = xasprintf("join Task 0x%" PRIx64 " (%s)", task,
					      wait->target_status ? wait->target_status : "?");
	else
		wait->description = xasprintf("join the task at 0x%" PRIx64 " (not in the runtime's list: finished?)",
					      task);
}

/* kind "sleep", "timeout" or "interval": deadline, and time left on a live target. */
void ai_wait_set_deadline(struct ai_wait_walk *w, struct ai_wait *wait, int64_t deadline)
{
	const char *what = strcmp(wait->kind, "interval") == 0 ? "interval tick" : wait->kind;
	wait->has_deadline = true;
	wait->deadline_ns = deadline;
	if (w->snapshot->has_monotonic) {
		wait->has_remaining = true;
		wait->remaining_ns = deadline - w->snapshot->monotonic_ns;
		char *d = ai_wait_format_duration(wait->remaining_ns);
		if (strcmp(wait->kind, "timeout") == 0)
			wait->description = xasprintf(wait->remaining_ns >= 0 ? "timeout in %s" : "timeout overdue by %s", d);
		else
			wait->description = xasprintf(wait->remaining_ns >= 0 ? "%s, %s left" : "%s, overdue by %s", what, d);
		free(d);
	} else {
		wait->description = xasprintf("%s, deadline %" PRId64 ".%03" PRId64 " s (CLOCK_MONOTONIC)", what,
					      (int64_t)(deadline / 1000000000LL), (int64_t)(deadline / 1000000LL % 1000));
	}
}

const char *ai_wait_plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* The integer of the first member named name nested in t (through Mutex, UnsafeCell...). */
bool ai_wait_read_nested_int(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *name,
				     uint64_t *ret)
{
	uint64_t off, leaf_off, size;
	const struct ai_type *mt;
	if (!ai_wait_find_nested(t, name, 0, &off, &mt) || !ai_wait_int_leaf(mt, 0, &leaf_off, &size))
		return false;
	return ai_wait_read_uint(w, address + off + leaf_off, size, ret);
}
