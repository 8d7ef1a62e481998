/* tokio's locks: the batch semaphore under Mutex, RwLock and Semaphore; its Acquire futures and
 * the guards and permits saved in coroutines (the liveness rule: include/ai/wait.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "tokio_wait.h"

/* ---- Locks ---- */

/* The batch semaphore inside a Mutex (`s`), RwLock (`s`), or sync::Semaphore (`ll_sem`), and the
 * kind of lock. */
const char *tk_lock_kind(const struct ai_type *t, uint64_t *sem_offset_ret)
{
	const char *name = ai_wait_type_name(t);
	const struct ai_type *st;
	if (ai_starts_with(name, "tokio::sync::mutex::Mutex<") && ai_wait_member_path(t, "s", sem_offset_ret, &st))
		return "mutex";
	if (ai_starts_with(name, "tokio::sync::rwlock::RwLock<") && ai_wait_member_path(t, "s", sem_offset_ret, &st))
		return "rwlock";
	if (strcmp(name, "tokio::sync::semaphore::Semaphore") == 0 &&
	    ai_wait_member_path(t, "ll_sem", sem_offset_ret, &st))
		return "semaphore";
	return NULL;
}

/* The Mutex/RwLock/Semaphore named by the `self` of an enclosing coroutine (lock, acquire, write,
 * read...) whose batch semaphore is `sem`; for an RwLock, whether that frame is read or write. */
bool tk_enclosing_lock(struct ai_wait_walk *w, uint64_t sem, uint64_t *address_ret, const struct ai_type **type_ret,
			   const char **kind_ret, const char **access_ret)
{
	for (size_t i = w->depth; i-- > 0;) {
		const struct ai_await_node *a = w->ancestors[i];
		uint64_t ptr, sem_off;
		const struct ai_type *pt;
		if (!ai_wait_node_self(w, a, &ptr, &pt))
			continue;
		const char *kind = tk_lock_kind(pt, &sem_off);
		if (kind && ptr + sem_off == sem) {
			*address_ret = ptr;
			*type_ret = pt;
			*kind_ret = kind;
			*access_ret = NULL;
			if (strcmp(kind, "rwlock") == 0 && a->function) {
				/* rwlock::{impl#N}::write / write_owned / read / read_owned (1.38+: an
				 * async block inside it). */
				if (strstr(a->function, "::write"))
					*access_ret = "write";
				else if (strstr(a->function, "::read"))
					*access_ret = "read";
			}
			return true;
		}
	}
	return false;
}

bool tk_semaphore_available(struct ai_wait_walk *w, uint64_t sem, const struct ai_type *sem_type, uint64_t *ret)
{
	uint64_t v;
	if (!ai_wait_read_int_path(w, sem_type, sem, "permits", &v))
		return false;
	*ret = v >> 1; /* bit 0: closed */
	return true;
}

/* Waiters a place is counted through at most: a longer line is told as "unknown". */
#define MAX_LINE 100000

/* The place of Acquire `t` at address in its semaphore's wait list, 1 for the waiter served
 * next; 0 when not found. tokio pushes a new waiter at the list's head and serves from its tail
 * (batch_semaphore.rs: push_front, pop_back), so the tail is first and each `prev` link leads
 * to the one that queued after it. */
static uint64_t place_in_line(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address,
			      const struct ai_type *sem_t, uint64_t sem)
{
	uint64_t node_off, queue_off, tail_off, ptrs_off, prev_off;
	const struct ai_type *node_t, *queue_t, *tail_t, *ptrs_t, *prev_t;
	if (!ai_wait_member_path(t, "node", &node_off, &node_t) ||
	    !ai_wait_find_nested(sem_t, "queue", 0, &queue_off, &queue_t) ||
	    !ai_wait_member_path(queue_t, "tail", &tail_off, &tail_t) ||
	    !ai_wait_member_path(node_t, "pointers", &ptrs_off, &ptrs_t) ||
	    !ai_wait_find_nested(ptrs_t, "prev", 0, &prev_off, &prev_t))
		return 0;
	uint64_t node = address + node_off, at;
	if (!ai_wait_read_uint(w, sem + queue_off + tail_off, 8, &at))
		return 0;
	for (uint64_t place = 1; at && place <= MAX_LINE; place++) {
		if (at == node)
			return place;
		if (!(at >= 4096 && at < (1ULL << 47) && (at & 7) == 0) ||
		    !ai_wait_read_uint(w, at + ptrs_off + prev_off, 8, &at))
			return 0;
	}
	return 0;
}

struct ai_wait *tk_decode_acquire(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("semaphore");
	uint64_t sem, wanted, queued;
	const struct ai_type *sem_t;
	if (!ai_wait_read_pointer_path(w, t, address, "semaphore", &sem, &sem_t)) {
		wait->description = xasprintf("semaphore acquire, layout not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->semaphore = sem;
	wait->address = sem;
	if (tk_semaphore_available(w, sem, sem_t, &wait->permits_available))
		wait->has_permits = true;
	if (ai_wait_read_int_path(w, t, address, "node.state", &wanted))
		wait->permits_wanted = wanted;
	if (ai_wait_read_int_path(w, t, address, "queued", &queued))
		wait->queued = queued & 1;
	if (wait->queued)
		wait->place_in_line = place_in_line(w, t, address, sem_t, sem);
	uint64_t lock;
	const struct ai_type *lock_t;
	const char *kind, *access;
	if (tk_enclosing_lock(w, sem, &lock, &lock_t, &kind, &access)) {
		free(wait->kind);
		wait->kind = xstrdup(kind);
		wait->address = lock;
		wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(lock_t));
		wait->access = access ? xstrdup(access) : NULL;
		/* The batch semaphore is fair: a reader that comes after a queued writer queues
		 * behind it. */
		wait->bars_readers = access && strcmp(access, "write") == 0 && wait->queued && wait->permits_wanted > 0;
	} else if (tk_decode_mpsc_send(w, wait, sem)) {
		return wait;
	} else {
		wait->resource_type = xstrdup("batch_semaphore::Semaphore");
	}
	char permits[64] = "";
	if (wait->has_permits)
		snprintf(permits, sizeof(permits), ", %" PRIu64 " permit%s available", wait->permits_available,
			 wait->permits_available == 1 ? "" : "s");
	const char *verb = strcmp(wait->kind, "semaphore") == 0 ? "acquire"
			   : wait->access && strcmp(wait->access, "write") == 0 ? "write-lock"
			   : wait->access ? "read-lock" : "lock";
	char place[48] = "";
	if (wait->place_in_line && wait->permits_wanted > 0)
		snprintf(place, sizeof(place), ", place %" PRIu64 " in line", wait->place_in_line);
	wait->description = xasprintf("%s %s @ 0x%" PRIx64 "%s%s%s", verb, wait->resource_type, wait->address, permits,
				      place, wait->queued && wait->permits_wanted == 0 ? " (granted, not yet polled)" : "");
	return wait;
}

/* ---- Held guards ---- */

static bool rwlock_of_guard(struct ai_wait_walk *w, const struct ai_type *gt, uint64_t sem, uint64_t *lock_ret,
			    const struct ai_type **lock_type_ret);

/* The lock a guard value names: kind, the lock's address and type, its batch semaphore. */
static const char *guard_lock(struct ai_wait_walk *w, const struct ai_type *gt, uint64_t address, uint64_t *lock_ret,
			      const struct ai_type **lock_type_ret, uint64_t *sem_ret)
{
	const char *name = ai_wait_type_name(gt);
	uint64_t ptr, sem_off;
	const struct ai_type *pt = NULL;
	const char *kind = NULL;
	if (ai_starts_with(name, "tokio::sync::mutex::MutexGuard<")) {
		if (!ai_wait_read_pointer_path(w, gt, address, "lock", &ptr, &pt))
			return NULL;
		kind = "mutex";
	} else if (ai_starts_with(name, "tokio::sync::mutex::OwnedMutexGuard<")) {
		uint64_t off;
		const struct ai_type *arc;
		if (!ai_wait_member_path(gt, "lock", &off, &arc) || !ai_wait_read_arc(w, arc, address + off, &ptr, &pt))
			return NULL;
		kind = "mutex";
	} else if (ai_starts_with(name, "tokio::sync::semaphore::SemaphorePermit")) {
		if (!ai_wait_read_pointer_path(w, gt, address, "sem", &ptr, &pt))
			return NULL;
		kind = "semaphore";
	} else if (ai_starts_with(name, "tokio::sync::semaphore::OwnedSemaphorePermit")) {
		uint64_t off;
		const struct ai_type *arc;
		if (!ai_wait_member_path(gt, "sem", &off, &arc) || !ai_wait_read_arc(w, arc, address + off, &ptr, &pt))
			return NULL;
		kind = "semaphore";
	} else if (ai_starts_with(name, "tokio::sync::rwlock::read_guard::RwLockReadGuard<") ||
		   ai_starts_with(name, "tokio::sync::rwlock::write_guard::RwLockWriteGuard<")) {
		/* { s: &batch_semaphore::Semaphore, .. }: the RwLock is RwLock<T> of the guard's T. */
		const struct ai_type *st;
		if (!ai_wait_read_pointer_path(w, gt, address, "s", &ptr, &st))
			return NULL;
		if (!rwlock_of_guard(w, gt, ptr, lock_ret, lock_type_ret)) {
			*lock_ret = ptr;
			*lock_type_ret = NULL;
		}
		*sem_ret = ptr;
		return strstr(name, "ReadGuard") ? "rwlock_read" : "rwlock_write";
	} else {
		return NULL;
	}
	const char *lk = tk_lock_kind(pt, &sem_off);
	if (!lk)
		return NULL;
	*lock_ret = ptr;
	*lock_type_ret = pt;
	*sem_ret = ptr + sem_off;
	return kind;
}

/* (not inlined: gcc warns about comparing constant kinds that cannot match) */

void tk_find_guards(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node)
{
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, node->type_die), node->state);
	if (!vt)
		return;
	bool *live = ai_wait_live_locals(w, node, vt);
	for (size_t i = 0; i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		/* A guard its drop flag says was dropped holds nothing. */
		if (!m->name || m->artificial || ai_starts_with(m->name, "__") || !live[i])
			continue;
		const struct ai_type *gt = ai_wait_member_type(vt, m);
		if (!gt || gt->kind != AI_TYPE_STRUCT || !ai_starts_with(ai_wait_type_name(gt), "tokio::sync::"))
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
		if (lock_t && tk_lock_kind(lock_t, &sem_off)) {
			const struct ai_type *mt;
			ai_wait_member_path(lock_t, strcmp(tk_lock_kind(lock_t, &sem_off), "semaphore") == 0 ? "ll_sem" : "s",
				    &sem_off, &mt);
			sem_t = mt;
		}
		if (ai_wait_is_exclusive(kind)) {
			if (!sem_t) {
				/* RwLockWriteGuard: s is &Semaphore; read its permits by its own type. */
				uint64_t p;
				const struct ai_type *st;
				if (!ai_wait_read_pointer_path(w, gt, node->address + m->offset, "s", &p, &st))
					continue;
				sem_t = st;
			}
			if (!tk_semaphore_available(w, sem, sem_t, &available) || available != 0)
				continue;
		}
		bool dup = false;
		for (size_t k = 0; k < task->held_count && !dup; k++)
			dup = task->held[k].semaphore == sem;
		if (dup)
			continue;
		struct ai_held *h = ai_snapshot_task_add_held(task);
		h->kind = xstrdup(kind);
		h->guard_type = ai_type_short_name(ai_wait_type_name(gt));
		h->local = xstrdup(m->name);
		h->function = node->function ? xstrdup(node->function) : NULL;
		h->file = node->file ? xstrdup(node->file) : NULL;
		h->line = node->line;
		h->address = lock;
		h->semaphore = sem;
		h->resource_type = lock_t ? ai_wait_short_resource_name(ai_wait_type_name(lock_t)) : xstrdup("RwLock");
	}
	free(live);
}

/* Guards of an RwLock name only its semaphore; guard_lock finds RwLock<T> of the guard's T by name
 * in DWARF. When that fails, a waiter on the same semaphore names the RwLock. */
void tk_rwlock_addresses(struct ai_wait_walk *w, struct ai_snapshot *snapshot)
{
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		for (size_t k = 0; k < task->held_count; k++) {
			struct ai_held *h = &task->held[k];
			/* (only guards whose RwLock<T> was not found in DWARF: bare "RwLock") */
			if (!ai_starts_with(h->kind, "rwlock") || !h->resource_type || strcmp(h->resource_type, "RwLock") != 0)
				continue;
			for (size_t j = 0; j < snapshot->task_count; j++) {
				const struct ai_wait *wt = snapshot->tasks[j].wait;
				if (wt && strcmp(wt->kind, "rwlock") == 0 && wt->semaphore == h->semaphore) {
					h->address = wt->address;
					free(h->resource_type);
					h->resource_type = xstrdup(wt->resource_type);
					break;
				}
			}
		}
	}
	(void)w;
}

void tk_rwlock_queue(struct ai_snapshot *snapshot)
{
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_await_node *leaf = ai_wait_chain_leaf(&snapshot->tasks[i].tree);
		struct ai_wait *wait = leaf ? leaf->wait : NULL;
		if (!wait || !wait->access || strcmp(wait->access, "read") != 0 || !wait->queued)
			continue;
		char *names = NULL;
		size_t in_line = 0;
		for (size_t j = 0; j < snapshot->task_count; j++) {
			const struct ai_snapshot_task *o = &snapshot->tasks[j];
			if (j == i || !o->wait || !ai_wait_bars_reader(wait, o->wait))
				continue;
			char *name = o->has_id ? xasprintf("Task %" PRIu64 " %s", o->id, o->future ? o->future : "?")
					       : xasprintf("Task 0x%" PRIx64 " %s", o->address, o->future ? o->future : "?");
			char *more = xasprintf("%s%s%s", names ? names : "", names ? ", " : "", name);
			free(name);
			free(names);
			names = more;
			in_line++;
		}
		if (!in_line)
			continue;
		char *old = wait->description;
		wait->description = xasprintf("%s, behind the writer%s %s", old ? old : "read-lock", in_line == 1 ? "" : "s",
					      names);
		free(old);
		free(names);
	}
}

/* The RwLock<T> a guard's `s: &Semaphore` belongs to: T is the guard's own type parameter, and
 * RwLock<T> is found by name in the guard's compilation unit. */
static bool rwlock_of_guard(struct ai_wait_walk *w, const struct ai_type *gt, uint64_t sem, uint64_t *lock_ret,
			    const struct ai_type **lock_type_ret)
{
	const struct ai_template_param *tp = ai_type_find_template_param(gt, "T");
	const struct ai_type *param, *lt, *st;
	uint64_t off;
	struct ai_error *err = NULL; /* set when tp and gt->types are; gcc cannot see that */
	if (!tp || !gt->types || (err = ai_type_resolve(gt, &tp->type, &param))) {
		if (tp && gt->types)
			ai_error_destroy(err);
		return false;
	}
	const char *pname = param ? ai_type_qualified_name(param) : NULL;
	if (!pname)
		return false;
	char *name = xasprintf("tokio::sync::rwlock::RwLock<%s>", pname);
	err = ai_types_find(w->as->types, gt->cu_offset, name, &lt);
	free(name);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	lt = ai_wait_underlying(lt);
	if (!lt || !ai_wait_member_path(lt, "s", &off, &st) || sem < off)
		return false;
	*lock_ret = sem - off;
	*lock_type_ret = lt;
	return true;
}
