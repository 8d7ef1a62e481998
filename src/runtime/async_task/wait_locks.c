/* async-lock's locks (3.x): the Mutex, RwLock and Semaphore futures a task waits in, the guards
 * its coroutines hold, and who holds the lock a task waits for. Every field is found by its DWARF
 * member name. The locks record no owner: a holder is a task whose saved locals keep a guard that
 * the lock's own state confirms; when the state says taken and no such guard is found, the wait
 * says "holder unknown". A Semaphore records only the permits left, not how many it had. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/types.h"
#include "ai/util.h"
#include "ai/wait.h"
#include "async_task.h"

/* RawRwLock.state: bit 0 is set while a writer holds the lock or acquires it; the rest counts
 * readers, 2 each. */
#define RW_WRITER_BIT 1u

/* The pointee of the pointer member `name` found nested in t (a &T or *const T), and its type. */
static bool nested_pointer(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *name,
			   uint64_t *ptr_ret, const struct ai_type **type_ret)
{
	uint64_t off;
	const struct ai_type *pt, *target = NULL;
	if (!ai_wait_find_nested(t, name, 4, &off, &pt) || !(pt = ai_wait_underlying(pt)))
		return false;
	if (pt->kind == AI_TYPE_STRUCT && ai_starts_with(ai_wait_type_name(pt), "alloc::sync::Arc<"))
		return ai_wait_read_arc(w, pt, address + off, ptr_ret, type_ret);
	if (pt->kind != AI_TYPE_POINTER || !ai_wait_read_uint(w, address + off, 8, ptr_ret) || !*ptr_ret ||
	    ai_type_target(pt, &target) || !target)
		return false;
	*type_ret = ai_wait_underlying(target);
	return *type_ret != NULL;
}

/* The struct of the active variant of the enum value at address (its members count from the
 * start of the value); t itself when it is no enum. NULL when it cannot be read. */
static const struct ai_type *active_case_named(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address,
					       const char **name_ret)
{
	uint8_t bytes[256];
	const struct ai_variant *v;
	t = ai_wait_underlying(t);
	if (!t || t->kind != AI_TYPE_ENUM)
		return t;
	if (!t->has_size || t->size > sizeof(bytes))
		return NULL;
	struct ai_error *err = ai_memory_read(w->mem, bytes, address, t->size);
	if (!err)
		err = ai_type_active_variant(t, bytes, t->size, &v);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	if (name_ret)
		*name_ret = v->name;
	return ai_wait_member_type(t, &v->member);
}

static const struct ai_type *active_case(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	return active_case_named(w, t, address, NULL);
}

/* The first enum nested in the structs of t (LockArc's LockArcInnards): its offset and type. */
static bool first_enum(const struct ai_type *t, unsigned depth, uint64_t *offset_ret, const struct ai_type **type_ret)
{
	t = ai_wait_underlying(t);
	if (!t || depth > 4)
		return false;
	if (t->kind == AI_TYPE_ENUM) {
		*offset_ret = 0;
		*type_ret = t;
		return true;
	}
	for (size_t i = 0; t->kind == AI_TYPE_STRUCT && i < t->member_count; i++) {
		uint64_t off;
		if (first_enum(ai_wait_member_type(t, &t->members[i]), depth + 1, &off, type_ret)) {
			*offset_ret = t->members[i].offset + off;
			return true;
		}
	}
	return false;
}

/* The &T inside Some of the Option<&T> member `name` nested in t (RawUpgrade's `lock`), and T's
 * type; false for None. */
static bool option_ref(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *name,
		       uint64_t *ptr_ret, const struct ai_type **type_ret)
{
	uint64_t off;
	const struct ai_type *ot, *some;
	if (!ai_wait_find_nested(t, name, 4, &off, &ot) || !(some = active_case(w, ot, address + off)) ||
	    some == ai_wait_underlying(ot))
		return false;
	return nested_pointer(w, some, address + off, "__0", ptr_ret, type_ret);
}

/* The type RwLock<T>, T being t's own parameter T (a future's or a guard's). */
static const struct ai_type *rwlock_type(struct ai_wait_walk *w, const struct ai_type *t)
{
	const struct ai_template_param *tp = ai_type_find_template_param(t, "T");
	const struct ai_type *param = NULL, *lt;
	struct ai_error *err;
	if (!tp || !t->types)
		return NULL;
	if ((err = ai_type_resolve(t, &tp->type, &param))) {
		ai_error_destroy(err);
		return NULL;
	}
	const char *pname = param ? ai_type_qualified_name(param) : NULL;
	if (!pname)
		return NULL;
	char *name = xasprintf("async_lock::rwlock::RwLock<%s>", pname);
	err = ai_types_find(w->as->types, t->cu_offset, name, &lt);
	free(name);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return ai_wait_underlying(lt);
}

/* The RwLock<T> (T: t's own parameter) whose RawRwLock is at raw: its address and type. */
static bool rwlock_of_raw(struct ai_wait_walk *w, const struct ai_type *t, uint64_t raw, uint64_t *lock_ret,
			  const struct ai_type **type_ret)
{
	const struct ai_type *lt = rwlock_type(w, t), *rt;
	uint64_t off;
	if (!lt || !ai_wait_member_path(lt, "raw", &off, &rt) || raw < off)
		return false;
	*lock_ret = raw - off;
	*type_ret = lt;
	return true;
}

/* Mutex::lock's future holds `mutex: &Mutex<T>` (through its inner Lock / LockInner); bit 0 of
 * Mutex.state says it is locked. */
static struct ai_wait *decode_mutex(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("mutex");
	uint64_t mutex, state;
	const struct ai_type *mt;
	uint64_t eoff;
	const struct ai_type *et, *ct;
	/* LockArc: `mutex: Option<Arc<Mutex<T>>>` in each case of its LockArcInnards enum. */
	if (!nested_pointer(w, t, address, "mutex", &mutex, &mt) &&
	    !(first_enum(t, 0, &eoff, &et) && (ct = active_case(w, et, address + eoff)) &&
	      option_ref(w, ct, address + eoff, "mutex", &mutex, &mt))) {
		wait->description = xasprintf("mutex, lock not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(mt));
	wait->address = mutex;
	wait->semaphore = mutex;
	wait->permits_wanted = 1;
	if (!ai_wait_read_int_path(w, mt, mutex, "state", &state))
		wait->description = xasprintf("%s @ 0x%" PRIx64, wait->resource_type, mutex);
	else if ((wait->queued = state & 1))
		wait->description = xasprintf("%s @ 0x%" PRIx64 ", locked", wait->resource_type, mutex);
	else
		wait->description = xasprintf("%s @ 0x%" PRIx64 ", unlocked (about to be granted)", wait->resource_type,
					      mutex);
	return wait;
}

/* RwLock::read, write, upgradable_read (and their _arc forms): `raw: RawRead / RawWrite /
 * RawUpgradableRead { lock: &RawRwLock }`; RwLockUpgradableReadGuard[Arc]::upgrade: `raw:
 * RawUpgrade { lock: Option<&RawRwLock> }` (in a ManuallyDrop for UpgradeArc). An upgradable
 * reader holds the writer mutex and one reader; upgrade() trades that reader for the writer bit,
 * then waits for the other readers to leave. */
static struct ai_wait *decode_rwlock(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address,
				     const char *access)
{
	struct ai_wait *wait = ai_wait_new("rwlock");
	wait->access = xstrdup(access);
	bool upgrade = strcmp(access, "upgrade") == 0, upgradable = strcmp(access, "upgradable_read") == 0;
	bool write = strcmp(access, "write") == 0;
	const char *verb = upgrade ? "upgrade" : upgradable ? "upgradable-read-lock" : write ? "write-lock" : "read-lock";
	uint64_t off, raw = 0, state, mstate, lock;
	const struct ai_type *rt, *raw_t, *lock_t;
	if (!ai_wait_find_nested(t, "raw", 4, &off, &rt) || !(rt = ai_wait_underlying(rt)) ||
	    !(upgrade ? option_ref(w, rt, address + off, "lock", &raw, &raw_t)
		      : ai_wait_read_pointer_path(w, rt, address + off, "lock", &raw, &raw_t)) || !raw) {
		wait->description = xasprintf("%s, RwLock not understood (%s)", verb, ai_wait_type_name(t));
		return wait;
	}
	if (rwlock_of_raw(w, t, raw, &lock, &lock_t)) {
		wait->address = lock;
		wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(lock_t));
	} else {
		wait->address = raw;
		wait->resource_type = xstrdup("RwLock");
	}
	wait->semaphore = raw;
	wait->permits_wanted = 1;
	char *head = xasprintf("%s %s @ 0x%" PRIx64, verb, wait->resource_type, wait->address);
	if (!ai_wait_read_int_path(w, raw_t, raw, "state", &state) ||
	    (upgradable && !ai_wait_read_int_path(w, raw_t, raw, "mutex.state", &mstate))) {
		wait->description = head;
		return wait;
	}
	uint64_t readers = state >> 1;
	if (upgradable) {
		/* It waits for the writer mutex, which a writer or the upgradable reader holds. */
		wait->queued = (mstate & 1) != 0;
		wait->description = xasprintf(wait->queued ? "%s, a writer or an upgradable reader holds it"
							   : "%s, free (about to be granted)", head);
		free(head);
		return wait;
	}
	/* A writer waits while anyone reads or writes; a reader while a writer holds or acquires; an
	 * upgrade (its own reader already traded for the writer bit) while other readers remain. */
	wait->queued = upgrade ? state != RW_WRITER_BIT : write ? state != 0 : (state & RW_WRITER_BIT) != 0;
	/* Past RawWrite's Acquiring state (the writer mutex taken), a writer has set the writer bit:
	 * new readers wait for it; so does an upgrade from the start. */
	const char *phase = NULL;
	uint64_t soff;
	const struct ai_type *st;
	if (upgrade)
		wait->bars_readers = wait->queued;
	else if (write && wait->queued && ai_wait_find_nested(rt, "state", 1, &soff, &st) &&
		 active_case_named(w, st, address + off + soff, &phase) && phase)
		wait->bars_readers = strcmp(phase, "Acquiring") != 0;
	if (readers > 0)
		wait->description = xasprintf("%s, %" PRIu64 " reader%s hold%s it", head, readers, ai_wait_plural(readers),
					      readers == 1 ? "s" : "");
	else if (upgrade)
		wait->description = xasprintf("%s, no reader left (about to be granted)", head);
	else if (state & RW_WRITER_BIT)
		wait->description = xasprintf("%s, a writer holds it or waits for it", head);
	else
		wait->description = xasprintf("%s, free (about to be granted)", head);
	free(head);
	return wait;
}

/* Semaphore::acquire (and acquire_arc): `semaphore: &Semaphore` (or Arc); Semaphore.count is the
 * permits left. */
static struct ai_wait *decode_semaphore(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("semaphore");
	uint64_t sem, count;
	const struct ai_type *st;
	if (!nested_pointer(w, t, address, "semaphore", &sem, &st)) {
		wait->description = xasprintf("semaphore acquire, not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(st));
	wait->address = sem;
	wait->semaphore = sem;
	wait->permits_wanted = 1;
	if (!ai_wait_read_int_path(w, st, sem, "count", &count)) {
		wait->description = xasprintf("acquire %s @ 0x%" PRIx64, wait->resource_type, sem);
		return wait;
	}
	wait->has_permits = true;
	wait->permits_available = count;
	wait->queued = count == 0;
	wait->description = xasprintf("acquire %s @ 0x%" PRIx64 ", %" PRIu64 " permit%s left", wait->resource_type, sem,
				      count, ai_wait_plural(count));
	return wait;
}

struct ai_wait *ai_async_task_lock_wait(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	const char *name = ai_wait_type_name(t);
	if (ai_starts_with(name, "async_lock::mutex::Lock<") || ai_starts_with(name, "async_lock::mutex::LockArc<"))
		return decode_mutex(w, t, address);
	if (ai_starts_with(name, "async_lock::rwlock::futures::Write<") ||
	    ai_starts_with(name, "async_lock::rwlock::futures::WriteArc<"))
		return decode_rwlock(w, t, address, "write");
	if (ai_starts_with(name, "async_lock::rwlock::futures::Read<") ||
	    ai_starts_with(name, "async_lock::rwlock::futures::ReadArc<"))
		return decode_rwlock(w, t, address, "read");
	if (ai_starts_with(name, "async_lock::rwlock::futures::UpgradableRead<") ||
	    ai_starts_with(name, "async_lock::rwlock::futures::UpgradableReadArc<"))
		return decode_rwlock(w, t, address, "upgradable_read");
	if (ai_starts_with(name, "async_lock::rwlock::futures::Upgrade<") ||
	    ai_starts_with(name, "async_lock::rwlock::futures::UpgradeArc<"))
		return decode_rwlock(w, t, address, "upgrade");
	if (strcmp(name, "async_lock::semaphore::Acquire") == 0 || strcmp(name, "async_lock::semaphore::AcquireArc") == 0)
		return decode_semaphore(w, t, address);
	return NULL;
}

/* ---- Held guards ---- */

struct guard {
	const char *kind;            /* "mutex", "rwlock_read", "rwlock_upgradable", "rwlock_write", "semaphore" */
	uint64_t address, key;       /* the lock as users see it; the key the waits name */
	const struct ai_type *type;  /* the lock's type (NULL: an RwLock whose RwLock<T> is not found) */
};

/* The lock a guard value at address names, and whether its state confirms the guard is live
 * (the liveness rule: rustc keeps moved-out guards in suspend variants). */
static bool guard_lock(struct ai_wait_walk *w, const struct ai_type *gt, uint64_t address, struct guard *g)
{
	const char *name = ai_wait_type_name(gt);
	uint64_t state, mstate, raw;
	const struct ai_type *raw_t;
	if (ai_starts_with(name, "async_lock::mutex::MutexGuard<") ||
	    ai_starts_with(name, "async_lock::mutex::MutexGuardArc<")) {
		g->kind = "mutex";
		if (!nested_pointer(w, gt, address, "__0", &g->address, &g->type))
			return false;
		g->key = g->address;
		return ai_wait_read_int_path(w, g->type, g->address, "state", &state) && (state & 1);
	}
	if (ai_starts_with(name, "async_lock::semaphore::SemaphoreGuard")) {
		g->kind = "semaphore";
		uint64_t strong;
		if (strcmp(name, "async_lock::semaphore::SemaphoreGuardArc") == 0) {
			if (!ai_wait_read_option_arc(w, gt, address, "__0", &g->address, &g->type, &strong))
				return false;
		} else if (!nested_pointer(w, gt, address, "__0", &g->address, &g->type)) {
			return false;
		}
		g->key = g->address;
		return true;
	}
	bool write = ai_starts_with(name, "async_lock::rwlock::RwLockWriteGuard");
	bool upgradable = ai_starts_with(name, "async_lock::rwlock::RwLockUpgradableReadGuard");
	bool arc = ai_starts_with(name, "async_lock::rwlock::RwLockWriteGuardArc<") ||
		   ai_starts_with(name, "async_lock::rwlock::RwLockUpgradableReadGuardArc<");
	bool read_arc = ai_starts_with(name, "async_lock::rwlock::RwLockReadGuardArc<");
	if (!write && !upgradable && !read_arc && !ai_starts_with(name, "async_lock::rwlock::RwLockReadGuard<"))
		return false;
	g->kind = write ? "rwlock_write" : upgradable ? "rwlock_upgradable" : "rwlock_read";
	uint64_t off;
	const struct ai_type *rt;
	if (arc || read_arc) {
		/* `lock: Arc<RwLock<T>>`; RwLockReadGuardArc's `lock: NonNull<T>` points at the
		 * RwLock<T> (Arc::into_raw), whatever its type says. */
		if (arc ? !nested_pointer(w, gt, address, "lock", &g->address, &g->type)
			: !(ai_wait_read_pointer_path(w, gt, address, "lock.pointer", &g->address, &rt) &&
			    (g->type = rwlock_type(w, gt))))
			return false;
		if (!ai_wait_member_path(g->type, "raw", &off, &rt) || !(raw_t = ai_wait_underlying(rt)))
			return false;
		raw = g->address + off;
	} else {
		if (!ai_wait_read_pointer_path(w, gt, address, "lock", &raw, &raw_t) || !raw)
			return false;
		if (!rwlock_of_raw(w, gt, raw, &g->address, &g->type)) {
			g->address = raw;
			g->type = NULL;
		}
	}
	g->key = raw;
	if (!ai_wait_read_int_path(w, raw_t, raw, "state", &state))
		return false;
	if (!write && !upgradable)
		return state >> 1 > 0;
	if (!ai_wait_read_int_path(w, raw_t, raw, "mutex.state", &mstate) || !(mstate & 1))
		return false;
	/* An upgradable reader holds the writer mutex and a reader; a writer the mutex and no reader
	 * is left. */
	return upgradable ? state >> 1 > 0 : state == RW_WRITER_BIT;
}

void ai_async_task_held(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node)
{
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, node->type_die), node->state);
	bool *live = vt ? ai_wait_live_locals(w, node, vt) : NULL;
	for (size_t i = 0; vt && i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		/* A guard its drop flag says was dropped holds nothing. */
		if (!m->name || m->artificial || ai_starts_with(m->name, "__") || !live[i])
			continue;
		const struct ai_type *gt = ai_wait_underlying(ai_wait_member_type(vt, m));
		const char *name = gt ? ai_wait_type_name(gt) : NULL;
		struct guard g = { 0 };
		if (!name || !ai_starts_with(name, "async_lock::") || !guard_lock(w, gt, node->address + m->offset, &g))
			continue;
		bool dup = false;
		for (size_t k = 0; k < task->held_count && !dup; k++)
			dup = task->held[k].semaphore == g.key && strcmp(g.kind, "semaphore") != 0;
		if (dup)
			continue;
		struct ai_held *h = ai_snapshot_task_add_held(task);
		h->kind = xstrdup(g.kind);
		h->guard_type = ai_type_short_name(name);
		h->local = xstrdup(m->name);
		h->function = node->function ? xstrdup(node->function) : NULL;
		h->file = node->file ? xstrdup(node->file) : NULL;
		h->line = node->line;
		h->address = g.address;
		h->semaphore = g.key;
		h->resource_type = g.type ? ai_wait_short_resource_name(ai_wait_type_name(g.type)) : xstrdup("RwLock");
	}
	free(live);
}

/* ---- Who holds what a task waits for ---- */

/* "Task 0x55... locks::ba", or "this task itself". */
static void append_task(char **text, const struct ai_snapshot_task *t, bool self)
{
	char *old = *text;
	if (self)
		*text = xasprintf("%s, this task itself", old);
	else if (t->has_id)
		*text = xasprintf("%s, Task %" PRIu64 " %s", old, t->id, t->future ? t->future : "?");
	else if (t->kind && strcmp(t->kind, "task") == 0)
		*text = xasprintf("%s, Task 0x%" PRIx64 " %s", old, t->address, t->future ? t->future : "?");
	else
		*text = xasprintf("%s, %s %s", old, t->kind ? t->kind : "?", t->future ? t->future : "?");
	free(old);
}

/* Appends to a blocked wait's description the tasks whose guards hold its lock, or "holder
 * unknown". Two tasks claiming one exclusive lock cannot both be right: then none is named (the
 * wait pass drops both claims after the adapters' finish). */
static void name_holders(struct ai_snapshot *s, size_t self, struct ai_wait *wait)
{
	char *names = xstrdup("");
	size_t found = 0, exclusive = 0;
	for (size_t j = 0; j < s->task_count; j++) {
		const struct ai_snapshot_task *o = &s->tasks[j];
		for (size_t k = 0; k < o->held_count; k++) {
			if (o->held[k].semaphore != wait->semaphore || strcmp(o->held[k].kind, "mpsc_sender") == 0 ||
			    !ai_held_blocks(wait, &o->held[k]))
				continue;
			exclusive += ai_wait_is_exclusive(o->held[k].kind);
			append_task(&names, o, j == self);
			found++;
			break;
		}
	}
	/* A reader queued behind writers in line waits for them, not for the readers they wait for. */
	char *writers = xstrdup("");
	size_t in_line = 0;
	for (size_t j = 0; j < s->task_count; j++) {
		if (s->tasks[j].wait && ai_wait_bars_reader(wait, s->tasks[j].wait)) {
			append_task(&writers, &s->tasks[j], j == self);
			in_line++;
		}
	}
	char *old = wait->description;
	if (in_line && found == 0)
		wait->description = xasprintf("%s, behind the writer%s %s", old, in_line == 1 ? "" : "s", writers + 2);
	else if (in_line)
		wait->description = xasprintf("%s, held by %s, behind the writer%s %s", old, names + 2,
					      in_line == 1 ? "" : "s", writers + 2);
	else if (found == 0 || exclusive > 1)
		wait->description = xasprintf("%s, holder unknown", old);
	else
		wait->description = xasprintf("%s, held by %s", old, names + 2);
	free(old);
	free(names);
	free(writers);
}

static void finish_node(struct ai_wait_walk *w, struct ai_snapshot *s, size_t task, struct ai_await_node *node)
{
	if (node->leaf && node->wait && node->wait->queued && node->wait->semaphore) {
		const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
		const char *name = t ? ai_wait_type_name(t) : NULL;
		if (name && ai_starts_with(name, "async_lock::"))
			name_holders(s, task, node->wait);
	}
	for (size_t i = 0; i < node->child_count; i++)
		finish_node(w, s, task, &node->children[i]);
}

void ai_async_task_finish(struct ai_wait_walk *w, struct ai_snapshot *snapshot)
{
	for (size_t i = 0; i < snapshot->task_count; i++)
		finish_node(w, snapshot, i, &snapshot->tasks[i].tree);
}
