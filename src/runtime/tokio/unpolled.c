/* Lock futures a task keeps but does not poll (futurelocks), and the Senders of awaited channels
 * saved in tasks (for the wait-for graph). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "tokio_wait.h"

/* ---- Lock futures kept but not polled, and the Senders of awaited channels ---- */

/* Bounds of the search through one saved local: nesting, and values looked at per task. */
#define SCAN_DEPTH 8
#define SCAN_BUDGET 4096

static const char *const ACQUIRE = "tokio::sync::batch_semaphore::Acquire";
static const char *const ONESHOT_SENDER = "tokio::sync::oneshot::Sender<";

/* What a type may contain, for the search (memoized by type: most locals are pruned unread). */
enum { MAY_UNKNOWN, MAY_BUSY, MAY_NO, MAY_YES };

struct may_memo {
	const struct ai_type **keys;
	unsigned char *values;
	size_t capacity, count;
};

struct lock_waiter {
	uint64_t semaphore, acquire;
};

/* Wait-list links followed at most, over a snapshot, to tell whether a future is queued ahead. */
#define QUEUE_BUDGET 1000000

struct scan {
	struct ai_wait_walk *w;
	struct ai_snapshot_task *task;
	const struct ai_await_node *node; /* the coroutine whose active variant saves the local */
	const char *local;
	const struct ai_type *local_type;
	const uint64_t *channels;         /* channels some task waits to receive on */
	size_t channel_count;
	const uint64_t *on_tree;          /* addresses of this task's await tree nodes (sorted) */
	size_t on_tree_count;
	unsigned budget;
	struct may_memo *memo;
	const struct lock_waiter *waiters; /* the Acquires tasks wait in, with their semaphores */
	size_t waiter_count;
	uint64_t *queue_budget;           /* wait-list links left to follow (whole snapshot) */
};

static bool is_sender_name(const char *name)
{
	for (const char *const *p = TK_MPSC_SENDERS; *p; p++) {
		if (ai_starts_with(name, *p))
			return true;
	}
	return ai_starts_with(name, ONESHOT_SENDER);
}

static bool is_followed_pointer(const struct ai_type *t)
{
	return t->kind == AI_TYPE_POINTER && ai_starts_with(t->name, "alloc::boxed::Box<");
}

static unsigned char *memo_slot(struct may_memo *m, const struct ai_type *t)
{
	if (m->count * 2 >= m->capacity) {
		struct may_memo bigger = { .capacity = m->capacity ? m->capacity * 2 : 256 };
		bigger.keys = xcalloc(bigger.capacity, sizeof(*bigger.keys));
		bigger.values = xcalloc(bigger.capacity, 1);
		for (size_t i = 0; i < m->capacity; i++) {
			if (!m->keys[i])
				continue;
			size_t h = ((uintptr_t)m->keys[i] >> 4) & (bigger.capacity - 1);
			while (bigger.keys[h])
				h = (h + 1) & (bigger.capacity - 1);
			bigger.keys[h] = m->keys[i];
			bigger.values[h] = m->values[i];
		}
		bigger.count = m->count;
		free(m->keys);
		free(m->values);
		*m = bigger;
	}
	size_t h = ((uintptr_t)t >> 4) & (m->capacity - 1);
	while (m->keys[h] && m->keys[h] != t)
		h = (h + 1) & (m->capacity - 1);
	if (!m->keys[h]) {
		m->keys[h] = t;
		m->count++;
	}
	return &m->values[h];
}

/* A Box<dyn Future> (or &mut dyn Future): { pointer, vtable }, the concrete type known only from
 * the value's vtable. */
static bool is_dyn_future(const struct ai_type *t)
{
	return t->kind == AI_TYPE_STRUCT && t->member_count == 2 && ai_type_find_member(t, "pointer") &&
	       ai_type_find_member(t, "vtable") && t->name && strstr(t->name, "dyn core::future::future::Future");
}

/* Could a value of type t hold an Acquire or a Sender, by value, in an enum or coroutine
 * variant, or behind a Box or Pin? (Types only: nothing is read.) */
static bool may_contain(struct may_memo *memo, const struct ai_type *t, unsigned depth)
{
	if (!t || depth > SCAN_DEPTH)
		return false;
	if (t->kind == AI_TYPE_POINTER) {
		const struct ai_type *pt;
		struct ai_error *err;
		if (!is_followed_pointer(t))
			return false;
		if ((err = ai_type_target(t, &pt))) {
			ai_error_destroy(err);
			return false;
		}
		return may_contain(memo, ai_wait_underlying(pt), depth + 1);
	}
	if (t->kind != AI_TYPE_STRUCT && t->kind != AI_TYPE_ENUM)
		return false;
	unsigned char *slot = memo_slot(memo, t);
	if (*slot == MAY_YES || *slot == MAY_NO || *slot == MAY_BUSY)
		return *slot == MAY_YES;
	const char *name = ai_wait_type_name(t);
	bool yes = strcmp(name, ACQUIRE) == 0 || is_sender_name(name) || is_dyn_future(t);
	if (!yes) {
		*slot = MAY_BUSY; /* a recursive type: the inner occurrence counts as no */
		bool pin = ai_starts_with(name, "core::pin::Pin<");
		for (size_t i = 0; i < t->member_count && !yes; i++) {
			const struct ai_type *mt = ai_wait_member_type(t, &t->members[i]);
			if (pin && mt && mt->kind == AI_TYPE_POINTER) {
				const struct ai_type *pt;
				struct ai_error *err = ai_type_target(mt, &pt);
				if (err)
					ai_error_destroy(err);
				else
					yes = may_contain(memo, ai_wait_underlying(pt), depth + 1);
			} else {
				yes = may_contain(memo, mt, depth + 1);
			}
		}
		for (size_t i = 0; i < t->variant_count && !yes; i++)
			yes = may_contain(memo, ai_wait_member_type(t, &t->variants[i].member), depth + 1);
		slot = memo_slot(memo, t); /* (the table may have grown) */
	}
	*slot = yes ? MAY_YES : MAY_NO;
	return yes;
}

/* The active variant of the enum or coroutine value at address (its discriminant read alone). */
static const struct ai_variant *active_variant(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	if (!t->has_discr) {
		return t->variant_count == 1 ? &t->variants[0] : NULL;
	}
	const struct ai_type *dt = ai_wait_member_type(t, &t->discr);
	if (!dt || !dt->has_size || dt->size == 0 || dt->size > 8)
		return NULL;
	size_t need = t->discr.offset + dt->size;
	uint8_t *bytes = xcalloc(need, 1);
	const struct ai_variant *v = NULL;
	struct ai_error *err = ai_memory_read(w->mem, bytes + t->discr.offset, address + t->discr.offset, dt->size);
	if (!err)
		err = ai_type_active_variant(t, bytes, need, &v);
	if (err) {
		ai_error_destroy(err);
		v = NULL;
	}
	free(bytes);
	return v;
}

static struct ai_unpolled *find_unpolled(struct ai_snapshot_task *task, uint64_t acquire)
{
	for (size_t i = 0; i < task->unpolled_count; i++) {
		if (task->unpolled[i].acquire == acquire)
			return &task->unpolled[i];
	}
	return NULL;
}

/* Is the Acquire at address (on semaphore sem) queued ahead of the Acquire a task waits in? The
 * wait list pushes new waiters at its head and serves its tail, each node's `next` pointing to
 * the one queued before it: so it is ahead if a waiter's chain of `next` reaches it. The walks of
 * a whole snapshot share one budget of reads. */
static bool queued_ahead(struct scan *sc, const struct ai_type *acquire_t, uint64_t address, uint64_t sem)
{
	uint64_t node_off, next_off;
	const struct ai_type *node_t, *next_t;
	if (!ai_wait_member_path(acquire_t, "node", &node_off, &node_t) || !ai_wait_find_nested(node_t, "next", 0, &next_off, &next_t))
		return false;
	for (size_t i = 0; i < sc->waiter_count; i++) {
		if (sc->waiters[i].semaphore != sem || sc->waiters[i].acquire == address)
			continue;
		uint64_t cur = sc->waiters[i].acquire + node_off, next;
		while (*sc->queue_budget > 0) {
			(*sc->queue_budget)--;
			if (!ai_wait_read_uint(sc->w, cur + next_off, 8, &next) || next == 0 || next == cur)
				break;
			if (next == address + node_off)
				return true;
			cur = next;
		}
	}
	return false;
}

/* An Acquire off the task's await tree: recorded when it was granted and not yet polled, or
 * queued ahead of a waiter. */
static void found_acquire(struct scan *sc, const struct ai_type *t, uint64_t address)
{
	struct ai_wait_walk *w = sc->w;
	uint64_t sem, wanted, queued;
	const struct ai_type *sem_t;
	if (ai_u64_sorted_contains(sc->on_tree, sc->on_tree_count, address) || find_unpolled(sc->task, address) ||
	    !ai_wait_read_pointer_path(w, t, address, "semaphore", &sem, &sem_t) ||
	    !ai_wait_read_int_path(w, t, address, "node.state", &wanted) || !ai_wait_read_int_path(w, t, address, "queued", &queued))
		return;
	/* Granted: the semaphore assigned it every permit it asked for (state 0) while queued, and
	 * nobody has polled it since (polling it would have cleared `queued`). Else it counts only
	 * while queued ahead of a task waiting on the same lock: the permits go to it first. */
	if (!(queued & 1) || (wanted != 0 && !queued_ahead(sc, t, address, sem)))
		return;
	struct ai_unpolled *u = ai_snapshot_task_add_unpolled(sc->task);
	u->local = xstrdup(sc->local);
	u->future_type = ai_type_short_name(ai_wait_type_name(sc->local_type));
	u->function = sc->node->function ? xstrdup(sc->node->function) : NULL;
	u->file = sc->node->file ? xstrdup(sc->node->file) : NULL;
	u->line = sc->node->line;
	u->acquire = address;
	u->semaphore = sem;
	u->granted = wanted == 0;
	u->permits_wanted = wanted;
	/* The lock: named by the wait of any task on the same semaphore, else the semaphore. */
	u->address = sem;
	for (size_t i = 0; i < w->snapshot->task_count; i++) {
		const struct ai_wait *wt = w->snapshot->tasks[i].wait;
		if (wt && wt->semaphore == sem && wt->resource_type && wt->address) {
			u->kind = xstrdup(wt->kind);
			u->resource_type = xstrdup(wt->resource_type);
			u->address = wt->address;
			break;
		}
	}
	if (!u->kind) {
		u->kind = xstrdup("semaphore");
		u->resource_type = xstrdup("batch_semaphore::Semaphore");
	}
}

/* A Sender (mpsc bounded or unbounded, oneshot) of a channel some task receives on. */
static void found_sender(struct scan *sc, const struct ai_type *t, uint64_t address)
{
	struct ai_wait_walk *w = sc->w;
	const char *name = ai_wait_type_name(t);
	uint64_t off, chan = 0, inner, strong;
	const struct ai_type *arc, *ct;
	const char *kind;
	if (ai_starts_with(name, ONESHOT_SENDER)) {
		/* Option<Arc<Inner<T>>>: None once sent or dropped. */
		if (!ai_wait_read_option_arc(w, t, address, "inner", &chan, &ct, &strong))
			return;
		kind = "oneshot_sender";
	} else {
		if (!ai_wait_member_path(t, "chan.inner", &off, &arc) ||
		    !ai_wait_read_arc_ex(w, arc, address + off, &chan, &ct, &inner, &strong))
			return;
		kind = "mpsc_sender";
	}
	if (!ai_u64_sorted_contains(sc->channels, sc->channel_count, chan))
		return;
	for (size_t k = 0; k < sc->task->held_count; k++) {
		const struct ai_held *h = &sc->task->held[k];
		if (h->address == chan && h->semaphore == 0 && h->line == sc->node->line && h->local &&
		    strcmp(h->local, sc->local) == 0)
			return; /* the same local seen twice (a value and a Pin to it) */
	}
	struct ai_held *h = ai_snapshot_task_add_held(sc->task);
	h->kind = xstrdup(kind);
	h->guard_type = ai_type_short_name(name);
	h->local = xstrdup(sc->local);
	h->function = sc->node->function ? xstrdup(sc->node->function) : NULL;
	h->file = sc->node->file ? xstrdup(sc->node->file) : NULL;
	h->line = sc->node->line;
	h->address = chan;
	h->semaphore = 0;
	h->resource_type = ai_type_short_name(name);
}

static void scan_value(struct scan *sc, const struct ai_type *t, uint64_t address, unsigned depth);

/* A future decoded from a dyn pointer inside a saved local: its Acquire leaves, and the saved
 * locals of its coroutines (still named after the outer local). */
static void scan_decoded(struct scan *sc, const struct ai_await_node *node, unsigned depth)
{
	const struct ai_type *t = ai_wait_type_of_die(sc->w, node->type_die);
	if (depth > 256 || node->error || !t)
		return;
	if (node->leaf && strcmp(ai_wait_type_name(t), ACQUIRE) == 0) {
		found_acquire(sc, t, node->address);
		return;
	}
	const struct ai_type *vt = ai_wait_state_struct(t, node->state);
	for (size_t i = 0; vt && i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		if (m->name && !m->artificial && strcmp(m->name, "__awaitee") != 0)
			scan_value(sc, ai_wait_member_type(vt, m), node->address + m->offset, SCAN_DEPTH / 2);
	}
	for (size_t i = 0; i < node->child_count; i++)
		scan_decoded(sc, &node->children[i], depth + 1);
}

static void scan_value(struct scan *sc, const struct ai_type *t, uint64_t address, unsigned depth)
{
	if (!t || depth > SCAN_DEPTH || sc->budget == 0 || !may_contain(sc->memo, t, 0))
		return;
	sc->budget--;
	struct ai_wait_walk *w = sc->w;
	const char *name = ai_wait_type_name(t);
	if (strcmp(name, ACQUIRE) == 0) {
		found_acquire(sc, t, address);
		return;
	}
	if (is_sender_name(name)) {
		if (sc->channel_count)
			found_sender(sc, t, address);
		return;
	}
	if (is_dyn_future(t)) {
		/* The await-tree decoder names the concrete future from the vtable. */
		struct ai_await_node tree = { 0 };
		ai_await_decode(w->as, address, t, &tree);
		scan_decoded(sc, &tree, 0);
		ai_await_node_deinit(&tree);
		return;
	}
	if (t->kind == AI_TYPE_STRUCT && ai_starts_with(name, "core::pin::Pin<") && t->member_count == 1) {
		const struct ai_type *mt = ai_wait_member_type(t, &t->members[0]);
		if (mt && is_dyn_future(mt)) { /* Pin<Box<dyn Future>> */
			scan_value(sc, mt, address + t->members[0].offset, depth + 1);
			return;
		}
	}
	if (t->kind == AI_TYPE_POINTER || ai_starts_with(name, "core::pin::Pin<")) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (ai_wait_deref_wrapped(w, t, address, 0, &ptr, &pt))
			scan_value(sc, pt, ptr, depth + 1);
		return;
	}
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		if (!m->artificial)
			scan_value(sc, ai_wait_member_type(t, m), address + m->offset, depth + 1);
	}
	if (t->kind == AI_TYPE_ENUM) {
		const struct ai_variant *v = active_variant(w, t, address);
		if (v)
			scan_value(sc, ai_wait_member_type(t, &v->member), address + v->member.offset, depth + 1);
	}
}

static void collect_tree_addresses(const struct ai_await_node *node, uint64_t **v, size_t *n, size_t *cap,
				   unsigned depth)
{
	if (depth > 4096)
		return;
	AI_GROW(*v, *cap, *n + 1);
	(*v)[(*n)++] = node->address;
	for (size_t i = 0; i < node->child_count; i++)
		collect_tree_addresses(&node->children[i], v, n, cap, depth + 1);
}

/* Every saved local (the active variant's fields but `__awaitee`, which the tree already shows)
 * of every coroutine of the task's tree. */
static void scan_tree(struct scan *sc, const struct ai_await_node *node, unsigned depth)
{
	if (depth > 4096 || node->error)
		return;
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(sc->w, node->type_die), node->state);
	bool *live = vt ? ai_wait_live_locals(sc->w, node, vt) : NULL;
	for (size_t i = 0; vt && i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		/* A future moved away or dropped is not kept alive here. */
		if (!m->name || m->artificial || strcmp(m->name, "__awaitee") == 0 || !live[i])
			continue;
		const struct ai_type *mt = ai_wait_member_type(vt, m);
		if (!mt)
			continue;
		sc->node = node;
		sc->local = m->name;
		sc->local_type = mt;
		scan_value(sc, mt, node->address + m->offset, 0);
	}
	free(live);
	for (size_t i = 0; i < node->child_count; i++)
		scan_tree(sc, &node->children[i], depth + 1);
}

static bool is_lock_kind(const char *kind)
{
	return strcmp(kind, "mutex") == 0 || strcmp(kind, "rwlock") == 0 || strcmp(kind, "semaphore") == 0;
}

/* Searches every task for lock futures granted but not polled, and for the Senders of the
 * channels tasks wait to receive on; only when some task waits on a lock or a channel. */
void tk_scan_saved(struct ai_wait_walk *w, struct ai_snapshot *snapshot)
{
	uint64_t *channels = NULL;
	size_t channel_count = 0, channel_capacity = 0;
	struct lock_waiter *waiters = NULL;
	size_t waiter_count = 0, waiter_capacity = 0;
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_await_node *leaf = ai_wait_chain_leaf(&snapshot->tasks[i].tree);
		const struct ai_wait *wt = snapshot->tasks[i].wait;
		if (!wt)
			continue;
		if (is_lock_kind(wt->kind) && wt->queued && wt->permits_wanted > 0 && leaf && leaf->wait == wt) {
			AI_GROW(waiters, waiter_capacity, waiter_count + 1);
			waiters[waiter_count++] = (struct lock_waiter){ wt->semaphore, leaf->address };
		}
		if ((strcmp(wt->kind, "mpsc_recv") == 0 || strcmp(wt->kind, "oneshot") == 0) && wt->address) {
			AI_GROW(channels, channel_capacity, channel_count + 1);
			channels[channel_count++] = wt->address;
		}
	}
	if (!waiter_count && !channel_count)
		return;
	uint64_t queue_budget = QUEUE_BUDGET;
	if (channel_count > 1)
		qsort(channels, channel_count, sizeof(*channels), ai_u64_compare);
	struct may_memo memo = { 0 };
	uint64_t *on_tree = NULL;
	size_t on_tree_capacity = 0;
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct scan sc = { .w = w, .task = &snapshot->tasks[i], .channels = channels,
				   .channel_count = channel_count, .budget = SCAN_BUDGET, .memo = &memo,
				   .waiters = waiters, .waiter_count = waiter_count, .queue_budget = &queue_budget };
		size_t n = 0;
		collect_tree_addresses(&sc.task->tree, &on_tree, &n, &on_tree_capacity, 0);
		if (n > 1)
			qsort(on_tree, n, sizeof(*on_tree), ai_u64_compare);
		sc.on_tree = on_tree;
		sc.on_tree_count = n;
		scan_tree(&sc, &sc.task->tree, 0);
	}
	free(on_tree);
	free(waiters);
	free(memo.keys);
	free(memo.values);
	free(channels);
}
