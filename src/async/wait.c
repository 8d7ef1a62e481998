/* Why each future waits, and which locks each task holds: see include/ai/wait.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/util.h"
#include "ai/wait.h"

/* Ancestors kept while walking a tree (the lock frame of an Acquire is a few levels up). */
#define MAX_ANCESTORS 64
/* Nesting followed to find a member by name inside wrappers (Instant, AtomicUsize...). */
#define MAX_NEST 8

struct walker {
	struct ai_async *as;
	struct ai_memory *mem;
	struct ai_snapshot *snapshot;
	const struct ai_await_node *ancestors[MAX_ANCESTORS];
	size_t depth;
};

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static const struct ai_type *underlying(const struct ai_type *t)
{
	const struct ai_type *u;
	struct ai_error *err = ai_type_underlying(t, &u);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return u;
}

static const struct ai_type *member_type(const struct ai_type *t, const struct ai_member *m)
{
	const struct ai_type *mt;
	struct ai_error *err = ai_type_member_type(t, m, &mt);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return underlying(mt);
}

static const struct ai_type *type_of_die(struct walker *w, uint64_t die)
{
	const struct ai_type *t;
	if (!die)
		return NULL;
	struct ai_error *err = ai_types_get(w->as->types, die, &t);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return underlying(t);
}

static const char *qname(const struct ai_type *t)
{
	const char *n = t ? ai_type_qualified_name(t) : NULL;
	return n ? n : (t && t->name ? t->name : "?");
}

/* "a.b.c" from a struct: the offset of c from the start of the outer value, and c's type. */
static bool member_path(const struct ai_type *t, const char *path, uint64_t *offset_ret,
			const struct ai_type **type_ret)
{
	uint64_t offset = 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		if (!t)
			return false;
		const struct ai_member *m = ai_type_find_member(t, part);
		if (!m)
			return false;
		offset += m->offset;
		t = member_type(t, m);
	}
	if (!t)
		return false;
	*offset_ret = offset;
	*type_ret = t;
	return true;
}

/* A bounded search for the first nested member named name (through wrappers of any version). */
static bool find_nested(const struct ai_type *t, const char *name, unsigned depth, uint64_t *offset_ret,
			const struct ai_type **type_ret)
{
	if (!t || depth > MAX_NEST || (t->kind != AI_TYPE_STRUCT && t->kind != AI_TYPE_UNION))
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		if (m->name && strcmp(m->name, name) == 0) {
			const struct ai_type *mt = member_type(t, m);
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
		if (find_nested(member_type(t, m), name, depth + 1, &off, type_ret)) {
			*offset_ret = m->offset + off;
			return true;
		}
	}
	return false;
}

/* The integer inside wrappers (AtomicUsize { inner: UnsafeCell { value } }, Nanoseconds(u32)). */
static bool int_leaf(const struct ai_type *t, unsigned depth, uint64_t *offset_ret, uint64_t *size_ret)
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
		const struct ai_type *mt = member_type(t, &t->members[i]);
		if (!mt || (mt->has_size && mt->size == 0))
			continue;
		uint64_t off;
		if (int_leaf(mt, depth + 1, &off, size_ret)) {
			*offset_ret = t->members[i].offset + off;
			return true;
		}
		return false;
	}
	return false;
}

static bool read_uint(struct walker *w, uint64_t address, uint64_t size, uint64_t *ret)
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
static bool read_int_path(struct walker *w, const struct ai_type *t, uint64_t address, const char *path,
			  uint64_t *ret)
{
	uint64_t off, leaf_off, size;
	const struct ai_type *mt;
	if (!member_path(t, path, &off, &mt) || !int_leaf(mt, 0, &leaf_off, &size))
		return false;
	return read_uint(w, address + off + leaf_off, size, ret);
}

/* A pointer member (&T, *const T, NonNull's `pointer`): its value and pointee type. */
static bool read_pointer_path(struct walker *w, const struct ai_type *t, uint64_t address, const char *path,
			      uint64_t *ptr_ret, const struct ai_type **pointee_ret)
{
	uint64_t off;
	const struct ai_type *mt;
	if (!member_path(t, path, &off, &mt) || mt->kind != AI_TYPE_POINTER)
		return false;
	uint64_t ptr;
	if (!read_uint(w, address + off, 8, &ptr) || ptr == 0 || (ptr & 7) != 0 ||
	    ptr > 0x00007fffffffffffULL)
		return false;
	const struct ai_type *pt;
	struct ai_error *err = ai_type_target(mt, &pt);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	*ptr_ret = ptr;
	*pointee_ret = underlying(pt);
	return *pointee_ret != NULL;
}

/* Arc<T> at address: the address of T (ArcInner.data, whose offset DWARF gives) and T's type. */
static bool read_arc(struct walker *w, const struct ai_type *arc, uint64_t address, uint64_t *data_ret,
		     const struct ai_type **data_type_ret)
{
	uint64_t inner, off;
	const struct ai_type *inner_t, *dt;
	if (!read_pointer_path(w, arc, address, "ptr.pointer", &inner, &inner_t) ||
	    !member_path(inner_t, "data", &off, &dt))
		return false;
	*data_ret = inner + off;
	*data_type_ret = dt;
	return true;
}

/* "tokio::sync::mutex::Mutex<bank::Ledger>" -> "Mutex<bank::Ledger>". */
static char *short_resource_name(const char *qualified)
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

static char *format_duration(int64_t ns)
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

static struct ai_wait *new_wait(const char *kind)
{
	struct ai_wait *wait = xcalloc(1, sizeof(*wait));
	wait->kind = xstrdup(kind);
	return wait;
}

/* ---- Timers ---- */

/* The deadline of a Sleep: `deadline` (1.54), `entry.deadline` (1.38, 1.47), `inner.deadline` (1.24),
 * an Instant whose Timespec has tv_sec and tv_nsec. */
static bool sleep_deadline(struct walker *w, const struct ai_type *t, uint64_t address, int64_t *ns_ret)
{
	static const char *const paths[] = { "deadline", "entry.deadline", "inner.deadline" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(paths); i++) {
		uint64_t off, sec_off, nsec_off, leaf_off, size;
		const struct ai_type *it, *st, *nt;
		if (!member_path(t, paths[i], &off, &it))
			continue;
		if (!find_nested(it, "tv_sec", 0, &sec_off, &st) || !find_nested(it, "tv_nsec", 0, &nsec_off, &nt))
			return false;
		uint64_t sec, nsec;
		if (!read_uint(w, address + off + sec_off, st->size, &sec) || !int_leaf(nt, 0, &leaf_off, &size) ||
		    !read_uint(w, address + off + nsec_off + leaf_off, size, &nsec) || nsec >= 1000000000ULL)
			return false;
		*ns_ret = (int64_t)sec * 1000000000LL + (int64_t)nsec;
		return true;
	}
	return false;
}

static struct ai_wait *decode_sleep(struct walker *w, const struct ai_type *t, uint64_t address)
{
	bool in_timeout = false;
	if (w->depth > 0) {
		const struct ai_await_node *parent = w->ancestors[w->depth - 1];
		in_timeout = starts_with(parent->type, "tokio::time::timeout::Timeout<");
	}
	struct ai_wait *wait = new_wait(in_timeout ? "timeout" : "sleep");
	int64_t deadline;
	if (!sleep_deadline(w, t, address, &deadline)) {
		wait->description = xasprintf("%s, deadline not understood (%s)", wait->kind, qname(t));
		return wait;
	}
	wait->has_deadline = true;
	wait->deadline_ns = deadline;
	if (w->snapshot->has_monotonic) {
		wait->has_remaining = true;
		wait->remaining_ns = deadline - w->snapshot->monotonic_ns;
		char *d = format_duration(wait->remaining_ns);
		if (in_timeout)
			wait->description = xasprintf(wait->remaining_ns >= 0 ? "timeout in %s" : "timeout overdue by %s", d);
		else
			wait->description = xasprintf(wait->remaining_ns >= 0 ? "sleep, %s left" : "sleep, overdue by %s", d);
		free(d);
	} else {
		wait->description = xasprintf("%s, deadline %" PRId64 ".%03" PRId64 " s (CLOCK_MONOTONIC)", wait->kind,
					      (int64_t)(deadline / 1000000000LL), (int64_t)(deadline / 1000000LL % 1000));
	}
	return wait;
}

/* ---- Locks ---- */

/* The batch semaphore inside a Mutex (`s`), RwLock (`s`), or sync::Semaphore (`ll_sem`), and the
 * kind of lock. */
static const char *lock_kind(const struct ai_type *t, uint64_t *sem_offset_ret)
{
	const char *name = qname(t);
	const struct ai_type *st;
	if (starts_with(name, "tokio::sync::mutex::Mutex<") && member_path(t, "s", sem_offset_ret, &st))
		return "mutex";
	if (starts_with(name, "tokio::sync::rwlock::RwLock<") && member_path(t, "s", sem_offset_ret, &st))
		return "rwlock";
	if (strcmp(name, "tokio::sync::semaphore::Semaphore") == 0 &&
	    member_path(t, "ll_sem", sem_offset_ret, &st))
		return "semaphore";
	return NULL;
}

/* The Mutex/RwLock/Semaphore named by the `self` of an enclosing coroutine (lock, acquire, write,
 * read...) whose batch semaphore is `sem`. */
static bool enclosing_lock(struct walker *w, uint64_t sem, uint64_t *address_ret, const struct ai_type **type_ret,
			   const char **kind_ret)
{
	for (size_t i = w->depth; i-- > 0;) {
		const struct ai_await_node *a = w->ancestors[i];
		const struct ai_type *t = type_of_die(w, a->type_die);
		if (!t || !a->state || !ai_type_is_coroutine(t))
			continue;
		const struct ai_variant *v = ai_type_find_variant(t, a->state);
		const struct ai_type *vt = v ? member_type(t, &v->member) : NULL;
		if (!vt)
			continue;
		static const char *const names[] = { "self", "_ref__self" };
		for (size_t k = 0; k < AI_ARRAY_SIZE(names); k++) {
			uint64_t ptr, sem_off;
			const struct ai_type *pt;
			if (!read_pointer_path(w, vt, a->address, names[k], &ptr, &pt))
				continue;
			/* _ref__self may be &&Mutex. */
			if (pt->kind == AI_TYPE_POINTER) {
				uint64_t p2;
				const struct ai_type *t2;
				struct ai_error *err = ai_type_target(pt, &t2);
				if (err) {
					ai_error_destroy(err);
					continue;
				}
				if (!read_uint(w, ptr, 8, &p2) || !(t2 = underlying(t2)))
					continue;
				ptr = p2;
				pt = t2;
			}
			const char *kind = lock_kind(pt, &sem_off);
			if (kind && ptr + sem_off == sem) {
				*address_ret = ptr;
				*type_ret = pt;
				*kind_ret = kind;
				return true;
			}
		}
	}
	return false;
}

static bool semaphore_available(struct walker *w, uint64_t sem, const struct ai_type *sem_type, uint64_t *ret)
{
	uint64_t v;
	if (!read_int_path(w, sem_type, sem, "permits", &v))
		return false;
	*ret = v >> 1; /* bit 0: closed */
	return true;
}

static struct ai_wait *decode_acquire(struct walker *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = new_wait("semaphore");
	uint64_t sem, wanted, queued;
	const struct ai_type *sem_t;
	if (!read_pointer_path(w, t, address, "semaphore", &sem, &sem_t)) {
		wait->description = xasprintf("semaphore acquire, layout not understood (%s)", qname(t));
		return wait;
	}
	wait->semaphore = sem;
	wait->address = sem;
	if (semaphore_available(w, sem, sem_t, &wait->permits_available))
		wait->has_permits = true;
	if (read_int_path(w, t, address, "node.state", &wanted))
		wait->permits_wanted = wanted;
	if (read_int_path(w, t, address, "queued", &queued))
		wait->queued = queued & 1;
	uint64_t lock;
	const struct ai_type *lock_t;
	const char *kind;
	if (enclosing_lock(w, sem, &lock, &lock_t, &kind)) {
		free(wait->kind);
		wait->kind = xstrdup(kind);
		wait->address = lock;
		wait->resource_type = short_resource_name(qname(lock_t));
	} else {
		wait->resource_type = xstrdup("batch_semaphore::Semaphore");
	}
	char permits[64] = "";
	if (wait->has_permits)
		snprintf(permits, sizeof(permits), ", %" PRIu64 " permit%s available", wait->permits_available,
			 wait->permits_available == 1 ? "" : "s");
	wait->description = xasprintf("%s %s @ 0x%" PRIx64 "%s%s", strcmp(wait->kind, "semaphore") == 0 ? "acquire" : "lock",
				      wait->resource_type, wait->address, permits,
				      wait->queued && wait->permits_wanted == 0 ? " (granted, not yet polled)" : "");
	return wait;
}

/* ---- Join ---- */

static struct ai_wait *decode_join(struct walker *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = new_wait("join");
	wait->resource_type = short_resource_name(qname(t));
	uint64_t header;
	const struct ai_type *ht;
	if (!read_pointer_path(w, t, address, "raw.ptr.pointer", &header, &ht)) {
		wait->description = xasprintf("join, task pointer not understood (%s)", qname(t));
		return wait;
	}
	wait->address = header;
	for (size_t i = 0; i < w->snapshot->task_count; i++) {
		const struct ai_snapshot_task *task = &w->snapshot->tasks[i];
		if (strcmp(task->kind, "task") == 0 && task->address == header && task->has_id) {
			wait->has_target_id = true;
			wait->target_task_id = task->id;
			wait->target_status = task->status ? xstrdup(task->status) : NULL;
			break;
		}
	}
	if (wait->has_target_id)
		wait->description = xasprintf("join Task %" PRIu64 " (%s)", wait->target_task_id,
					      wait->target_status ? wait->target_status : "?");
	else
		wait->description = xasprintf("join the task at 0x%" PRIx64 " (not in the runtime's list: finished?)",
					      header);
	return wait;
}

static void decode_leaf(struct walker *w, struct ai_await_node *node)
{
	const struct ai_type *t = type_of_die(w, node->type_die);
	const char *name = t ? qname(t) : node->type;
	struct ai_wait *wait = NULL;
	if (t && strcmp(name, "tokio::time::sleep::Sleep") == 0)
		wait = decode_sleep(w, t, node->address);
	else if (t && strcmp(name, "tokio::sync::batch_semaphore::Acquire") == 0)
		wait = decode_acquire(w, t, node->address);
	else if (t && starts_with(name, "tokio::runtime::task::join::JoinHandle<"))
		wait = decode_join(w, t, node->address);
	if (!wait) {
		wait = new_wait("unknown");
		wait->resource_type = xstrdup(name ? name : "?");
		wait->description = xasprintf("unknown (%s)", name ? name : "?");
	}
	node->wait = wait;
}

/* ---- Held guards ---- */

/* The lock a guard value names: kind, the lock's address and type, its batch semaphore. */
static const char *guard_lock(struct walker *w, const struct ai_type *gt, uint64_t address, uint64_t *lock_ret,
			      const struct ai_type **lock_type_ret, uint64_t *sem_ret)
{
	const char *name = qname(gt);
	uint64_t ptr, sem_off;
	const struct ai_type *pt = NULL;
	const char *kind = NULL;
	if (starts_with(name, "tokio::sync::mutex::MutexGuard<")) {
		if (!read_pointer_path(w, gt, address, "lock", &ptr, &pt))
			return NULL;
		kind = "mutex";
	} else if (starts_with(name, "tokio::sync::mutex::OwnedMutexGuard<")) {
		uint64_t off;
		const struct ai_type *arc;
		if (!member_path(gt, "lock", &off, &arc) || !read_arc(w, arc, address + off, &ptr, &pt))
			return NULL;
		kind = "mutex";
	} else if (starts_with(name, "tokio::sync::semaphore::SemaphorePermit")) {
		if (!read_pointer_path(w, gt, address, "sem", &ptr, &pt))
			return NULL;
		kind = "semaphore";
	} else if (starts_with(name, "tokio::sync::semaphore::OwnedSemaphorePermit")) {
		uint64_t off;
		const struct ai_type *arc;
		if (!member_path(gt, "sem", &off, &arc) || !read_arc(w, arc, address + off, &ptr, &pt))
			return NULL;
		kind = "semaphore";
	} else if (starts_with(name, "tokio::sync::rwlock::read_guard::RwLockReadGuard<") ||
		   starts_with(name, "tokio::sync::rwlock::write_guard::RwLockWriteGuard<")) {
		/* { s: &batch_semaphore::Semaphore, .. }: the RwLock itself is not named. */
		const struct ai_type *st;
		if (!read_pointer_path(w, gt, address, "s", &ptr, &st))
			return NULL;
		*lock_ret = ptr;
		*lock_type_ret = NULL;
		*sem_ret = ptr;
		return strstr(name, "ReadGuard") ? "rwlock_read" : "rwlock_write";
	} else {
		return NULL;
	}
	const char *lk = lock_kind(pt, &sem_off);
	if (!lk)
		return NULL;
	*lock_ret = ptr;
	*lock_type_ret = pt;
	*sem_ret = ptr + sem_off;
	return kind;
}

/* (not inlined: gcc warns about comparing constant kinds that cannot match) */
__attribute__((noinline)) static bool is_exclusive(const char *kind)
{
	return strcmp(kind, "mutex") == 0 || strcmp(kind, "rwlock_write") == 0;
}

static void find_guards(struct walker *w, struct ai_snapshot_task *task, const struct ai_await_node *node)
{
	const struct ai_type *t = type_of_die(w, node->type_die);
	if (!t || !node->state || !ai_type_is_coroutine(t))
		return;
	const struct ai_variant *v = ai_type_find_variant(t, node->state);
	const struct ai_type *vt = v ? member_type(t, &v->member) : NULL;
	if (!vt)
		return;
	for (size_t i = 0; i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		if (!m->name || m->artificial || starts_with(m->name, "__"))
			continue;
		const struct ai_type *gt = member_type(vt, m);
		if (!gt || gt->kind != AI_TYPE_STRUCT || !starts_with(qname(gt), "tokio::sync::"))
			continue;
		uint64_t lock, sem, available;
		const struct ai_type *lock_t;
		const char *kind = guard_lock(w, gt, node->address + m->offset, &lock, &lock_t, &sem);
		if (!kind)
			continue;
		/* The liveness rule: an exclusive guard on an unlocked lock is stale (moved out or
		 * dropped, yet still in this suspend variant). */
		const struct ai_type *sem_t = NULL;
		uint64_t sem_off;
		if (lock_t && lock_kind(lock_t, &sem_off)) {
			const struct ai_type *mt;
			member_path(lock_t, strcmp(lock_kind(lock_t, &sem_off), "semaphore") == 0 ? "ll_sem" : "s",
				    &sem_off, &mt);
			sem_t = mt;
		}
		if (is_exclusive(kind)) {
			if (!sem_t) {
				/* RwLockWriteGuard: s is &Semaphore; read its permits by its own type. */
				uint64_t p;
				const struct ai_type *st;
				if (!read_pointer_path(w, gt, node->address + m->offset, "s", &p, &st))
					continue;
				sem_t = st;
			}
			if (!semaphore_available(w, sem, sem_t, &available) || available != 0)
				continue;
		}
		bool dup = false;
		for (size_t k = 0; k < task->held_count && !dup; k++)
			dup = task->held[k].semaphore == sem;
		if (dup)
			continue;
		struct ai_held *h = ai_snapshot_task_add_held(task);
		h->kind = xstrdup(kind);
		h->guard_type = ai_type_short_name(qname(gt));
		h->local = xstrdup(m->name);
		h->function = node->function ? xstrdup(node->function) : NULL;
		h->file = node->file ? xstrdup(node->file) : NULL;
		h->line = node->line;
		h->address = lock;
		h->semaphore = sem;
		h->resource_type = lock_t ? short_resource_name(qname(lock_t)) : xstrdup("RwLock");
	}
}

static void walk(struct walker *w, struct ai_snapshot_task *task, struct ai_await_node *node)
{
	if (node->error)
		return;
	if (node->leaf)
		decode_leaf(w, node);
	else
		find_guards(w, task, node);
	if (w->depth == MAX_ANCESTORS)
		return;
	w->ancestors[w->depth++] = node;
	for (size_t i = 0; i < node->child_count; i++)
		walk(w, task, &node->children[i]);
	w->depth--;
}

/* The wait at the end of an exclusive chain (one child at every level). */
static const struct ai_wait *chain_wait(const struct ai_await_node *node)
{
	for (unsigned depth = 0; depth < 4096; depth++) {
		if (node->leaf)
			return node->wait;
		if (node->child_count != 1)
			return NULL;
		node = &node->children[0];
	}
	return NULL;
}

static void drop_held(struct ai_snapshot_task *task, size_t k)
{
	struct ai_held *h = &task->held[k];
	free(h->kind);
	free(h->guard_type);
	free(h->local);
	free(h->function);
	free(h->file);
	free(h->resource_type);
	memmove(h, h + 1, (task->held_count - k - 1) * sizeof(*h));
	task->held_count--;
}

void ai_wait_collect(struct ai_async *as, struct ai_snapshot *snapshot)
{
	struct walker w = { .as = as, .mem = as->target->memory, .snapshot = snapshot };
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		w.depth = 0;
		walk(&w, task, &task->tree);
		task->wait = chain_wait(&task->tree);
	}
	/* Two tasks claiming one exclusive lock: at least one guard is stale; trust neither. */
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		for (size_t k = 0; k < task->held_count;) {
			struct ai_held *h = &task->held[k];
			bool shared = false;
			for (size_t j = 0; j < snapshot->task_count && is_exclusive(h->kind); j++) {
				const struct ai_snapshot_task *o = &snapshot->tasks[j];
				for (size_t l = 0; j != i && l < o->held_count; l++)
					shared |= o->held[l].semaphore == h->semaphore;
			}
			if (shared) {
				/* Remove this claim in every task. */
				uint64_t sem = h->semaphore;
				for (size_t j = 0; j < snapshot->task_count; j++) {
					struct ai_snapshot_task *o = &snapshot->tasks[j];
					for (size_t l = 0; l < o->held_count;) {
						if (o->held[l].semaphore == sem && is_exclusive(o->held[l].kind))
							drop_held(o, l);
						else
							l++;
					}
				}
				k = 0;
				continue;
			}
			k++;
		}
	}
}
