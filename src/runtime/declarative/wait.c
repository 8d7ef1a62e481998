/* The waits of a declarative runtime (docs/decoders/runtime.md, "waits" and "guards"): its leaf
 * futures, matched by qualified type name as the type summaries match theirs, answered as the C
 * adapters answer theirs (include/ai/wait.h) from the member paths the file gives: a sleep's
 * deadline, a channel and its senders or receivers, the lock of a lock wait, the task a join
 * waits for, an I/O wait's fd. Guards found in the live saved locals of a coroutine hold their
 * lock, so that the wait-for graph links a lock waiter to its holder. A member the type does not
 * have is said in the wait's description and in one warning that names the file and the entry. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "ai/wait.h"
#include "declarative.h"

/* Whether the qualified name is `pattern` or one of its generic instances (`pattern<...>`). */
static bool type_matches(const char *name, const char *pattern)
{
	size_t n = strlen(pattern);
	return name && strncmp(name, pattern, n) == 0 && (name[n] == '\0' || name[n] == '<');
}

static const struct decl_runtime *decoder(const struct ai_wait_walk *w)
{
	return w->ops ? w->ops->data : NULL;
}

/* One warning per entry and problem and snapshot (a hundred leaves of one type say it once). */
static void warn_once(struct ai_wait_walk *w, const char *text)
{
	for (size_t i = 0; i < w->snapshot->warning_count; i++)
		if (strcmp(w->snapshot->warnings[i], text) == 0)
			return;
	ai_snapshot_add_warning(w->snapshot, "%s", text);
}

/* The wait could not be read: its description says why, and a warning names the file's entry. */
static struct ai_wait *not_understood(struct ai_wait_walk *w, const struct decl_runtime *d,
				      const struct decl_wait *e, struct ai_wait *wait, const char *key,
				      const char *why)
{
	char *text = xasprintf("%s (decoder %s): waits[%zu].%s: %s", d->runtime, d->file, e->index, key, why);
	warn_once(w, text);
	free(text);
	free(wait->description);
	wait->description = xasprintf("%s, not understood (%s: %s)", wait->kind, e->type, why);
	return wait;
}

/* The place that path reaches from the leaf, looked through to the value (a pointer's target). */
static char *reach(struct ai_wait_walk *w, struct decl_place *p, const char *path, bool to_value)
{
	char *why = ai_decl_walk(w->as, p, path);
	if (!why && to_value)
		why = ai_decl_deref(w->as, p);
	return why;
}

/* std's Instant (a CLOCK_MONOTONIC Timespec: tv_sec, tv_nsec) or Duration (secs, nanos), or an
 * integer of nanoseconds: its value in ns. */
static bool read_time(struct ai_wait_walk *w, struct decl_place p, const char *sec, const char *nsec, int64_t *ret)
{
	uint64_t n;
	if (ai_decl_read_uint(w->as, p, &n)) {
		if (n > (uint64_t)INT64_MAX)
			return false;
		*ret = (int64_t)n;
		return true;
	}
	uint64_t sec_off, nsec_off, leaf_off, size, s, ns;
	const struct ai_type *st, *nt;
	if (!ai_wait_find_nested(p.type, sec, 4, &sec_off, &st) || !ai_wait_find_nested(p.type, nsec, 4, &nsec_off, &nt) ||
	    !(st = ai_wait_underlying(st)) || !ai_wait_int_leaf(nt, 0, &leaf_off, &size) ||
	    !ai_wait_read_uint(w, p.address + sec_off, st->size, &s) ||
	    !ai_wait_read_uint(w, p.address + nsec_off + leaf_off, size, &ns) || ns >= 1000000000ULL ||
	    s >= (uint64_t)INT64_MAX / 1000000000ULL)
		return false;
	*ret = (int64_t)s * 1000000000LL + (int64_t)ns;
	return true;
}

static struct ai_wait *decode_sleep(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e,
				    struct decl_place leaf)
{
	struct ai_wait *wait = ai_wait_new("sleep");
	wait->resource_type = ai_type_short_name(e->type);
	struct decl_place p = leaf;
	char *why = reach(w, &p, e->path, false);
	bool deadline = strcmp(e->key, "deadline") == 0;
	int64_t ns = 0;
	if (!why && !read_time(w, p, deadline ? "tv_sec" : "secs", deadline ? "tv_nsec" : "nanos", &ns))
		why = xasprintf("%s is not a %s", ai_wait_type_name(p.type) ? ai_wait_type_name(p.type) : "?",
				deadline ? "std Instant nor an integer of ns" : "std Duration nor an integer of ns");
	if (why) {
		not_understood(w, d, e, wait, e->key, why);
		free(why);
		return wait;
	}
	if (deadline) {
		ai_wait_set_deadline(w, wait, ns);
	} else {
		char *text = ai_wait_format_duration(ns);
		wait->description = xasprintf("sleep for %s (its start not known)", text);
		free(text);
	}
	return wait;
}

static struct ai_wait *decode_channel(struct ai_wait_walk *w, const struct decl_runtime *d,
				      const struct decl_wait *e, struct decl_place leaf, bool recv)
{
	struct ai_wait *wait = ai_wait_new(recv ? "channel_recv" : "channel_send");
	wait->resource_type = ai_type_short_name(e->type);
	struct decl_place p = leaf;
	char *why = reach(w, &p, e->path, true);
	if (why) {
		not_understood(w, d, e, wait, "channel", why);
		free(why);
		return wait;
	}
	wait->address = p.address;
	const char *what = recv ? "recv" : "send";
	wait->description = xasprintf("channel %s @ 0x%" PRIx64, what, p.address);
	if (!e->count)
		return wait;
	uint64_t n;
	const char *key = recv ? "senders" : "receivers";
	why = reach(w, &p, e->count, false);
	if (!why && !ai_decl_read_uint(w->as, p, &n))
		why = xasprintf("%s is not an integer", ai_wait_type_name(p.type) ? ai_wait_type_name(p.type) : "?");
	if (why) {
		char *text = xasprintf("%s (decoder %s): waits[%zu].%s: %s", d->runtime, d->file, e->index, key, why);
		warn_once(w, text);
		free(text);
		free(why);
		return wait;
	}
	free(wait->description);
	if (recv) {
		wait->has_senders = true;
		wait->senders_alive = n;
		wait->description = xasprintf("channel recv @ 0x%" PRIx64 ", %" PRIu64 " sender%s alive", wait->address,
					      n, ai_wait_plural(n));
	} else {
		wait->has_receiver_alive = true;
		wait->receiver_alive = n > 0;
		wait->description = xasprintf("channel send @ 0x%" PRIx64 " (full), %" PRIu64 " receiver%s alive",
					      wait->address, n, ai_wait_plural(n));
	}
	return wait;
}

/* A lock wait: the lock's address is the key its guards are found under (held below), as a C
 * adapter's batch semaphore is. The waiter is queued for the one permit of an exclusive lock. */
static struct ai_wait *decode_mutex(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e,
				    struct decl_place leaf)
{
	struct ai_wait *wait = ai_wait_new("mutex");
	struct decl_place p = leaf;
	char *why = reach(w, &p, e->path, true);
	if (why) {
		not_understood(w, d, e, wait, "lock", why);
		free(why);
		return wait;
	}
	const char *lock = ai_wait_type_name(p.type);
	wait->resource_type = ai_wait_short_resource_name(lock ? lock : "?");
	wait->address = wait->semaphore = p.address;
	wait->permits_wanted = 1;
	wait->description = xasprintf("%s @ 0x%" PRIx64, wait->resource_type, p.address);
	uint64_t held = 1;
	if (e->count && !(why = ai_decl_walk(w->as, &p, e->count)) && !ai_decl_read_uint(w->as, p, &held))
		why = xasprintf("%s is not an integer or bool", ai_wait_type_name(p.type) ? ai_wait_type_name(p.type) : "?");
	if (why) {
		char *text = xasprintf("%s (decoder %s): waits[%zu].locked: %s", d->runtime, d->file, e->index, why);
		warn_once(w, text);
		free(text);
		free(why);
	}
	/* A lock that is free: the waiter takes it on its next poll, it blocks on no one. */
	wait->queued = held != 0;
	if (!held) {
		char *old = wait->description;
		wait->description = xasprintf("%s (free: taken on the next poll)", old);
		free(old);
	}
	return wait;
}

static struct ai_wait *decode_join(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e,
				   struct decl_place leaf)
{
	struct ai_wait *wait = ai_wait_new("join");
	wait->resource_type = ai_type_short_name(e->type);
	struct decl_place p = leaf;
	char *why = reach(w, &p, e->path, true);
	if (why) {
		not_understood(w, d, e, wait, "task", why);
		free(why);
		return wait;
	}
	ai_wait_set_join_target(w, wait, p.address);
	return wait;
}

static struct ai_wait *decode_io(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e,
				 struct decl_place leaf)
{
	static const char *const none[] = { NULL };
	static const struct ai_io_rules rules = { .skip = none, .objects = none };
	if (!e->path)
		return ai_wait_decode_io(w, &rules, leaf.type, leaf.address, e->direction);
	struct decl_place p = leaf;
	uint64_t fd;
	char *why = reach(w, &p, e->path, false);
	if (!why && (!ai_decl_read_uint(w->as, p, &fd) || fd > INT32_MAX)) /* (-1 reads as more) */
		why = xasprintf("%s is not an fd", ai_wait_type_name(p.type) ? ai_wait_type_name(p.type) : "?");
	if (why) {
		struct ai_wait *wait = ai_wait_new("io");
		not_understood(w, d, e, wait, "fd", why);
		free(why);
		return wait;
	}
	char *what = ai_type_short_name(e->type);
	struct ai_wait *wait = ai_wait_io_fd(w, (int)fd, what, e->direction);
	free(what);
	return wait;
}

/* (lock, semaphore) & mask >> shift of spec's member from p: false with *why_ret (owned) when it
 * cannot be read; false with no why when the spec is not given. */
static bool read_int(struct ai_wait_walk *w, struct decl_place p, const struct decl_int *spec, uint64_t *ret,
		     char **why_ret)
{
	*why_ret = NULL;
	if (!spec->member)
		return false;
	uint64_t n;
	if ((*why_ret = ai_decl_walk(w->as, &p, spec->member)))
		return false;
	if (!ai_decl_read_uint(w->as, p, &n)) {
		*why_ret = xasprintf("%s is not an integer or bool", ai_wait_type_name(p.type) ? ai_wait_type_name(p.type) : "?");
		return false;
	}
	*ret = (n & spec->mask) >> spec->shift;
	return true;
}

/* A member of a lock that could not be read: one warning naming the entry's key. */
static void warn_key(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e, const char *key,
		     char *why)
{
	char *text = xasprintf("%s (decoder %s): waits[%zu].%s: %s", d->runtime, d->file, e->index, key, why);
	warn_once(w, text);
	free(text);
	free(why);
}

static void append(struct ai_wait *wait, const char *tail)
{
	char *old = wait->description;
	wait->description = xasprintf("%s%s", old, tail);
	free(old);
}

/* Reaches the lock or semaphore of e's path from *p (moved there) and fills in the wait on it:
 * its type, its address (the key its guards are found under), one permit wanted, queued. False
 * after saying why in the wait when the path does not lead to it; `what` names it there. */
static bool reach_queued_resource(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e,
				  struct ai_wait *wait, const char *what, struct decl_place *p)
{
	char *why = reach(w, p, e->path, true);
	if (why) {
		not_understood(w, d, e, wait, what, why);
		free(why);
		return false;
	}
	const char *name = ai_wait_type_name(p->type);
	wait->resource_type = ai_wait_short_resource_name(name ? name : "?");
	wait->address = wait->semaphore = p->address;
	wait->permits_wanted = 1;
	wait->queued = true;
	return true;
}

/* An RwLock read or write wait: the lock's address is the key its guards are found under; the
 * writer bit and the readers count, when the file names them, say what it waits behind. */
static struct ai_wait *decode_rwlock(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_wait *e,
				     struct decl_place from, bool write)
{
	struct ai_wait *wait = ai_wait_new("rwlock");
	wait->access = xstrdup(write ? "write" : "read");
	struct decl_place p = from;
	if (!reach_queued_resource(w, d, e, wait, "lock", &p))
		return wait;
	char *why = NULL;
	wait->description = xasprintf("%s %s @ 0x%" PRIx64, write ? "write-lock" : "read-lock", wait->resource_type,
				      p.address);
	uint64_t writer = 0, readers = 0;
	bool has_writer = read_int(w, p, &e->ints[0], &writer, &why);
	if (why)
		warn_key(w, d, e, "writer", why);
	bool has_readers = read_int(w, p, &e->ints[1], &readers, &why);
	if (why)
		warn_key(w, d, e, "readers", why);
	char *tail = NULL;
	if (!write && has_writer) {
		wait->queued = writer != 0;
		tail = xstrdup(writer ? ", a writer holds it or waits for it" : ", free (about to be granted)");
	} else if (write && has_readers && readers) {
		tail = xasprintf(", %" PRIu64 " reader%s hold%s it", readers, ai_wait_plural(readers), readers == 1 ? "s" : "");
		/* its writer bit is set: new readers wait for it */
		wait->bars_readers = has_writer && writer;
	} else if (write && has_readers) {
		wait->queued = false;
		tail = xstrdup(", no reader left (about to be granted)");
	}
	if (tail)
		append(wait, tail);
	free(tail);
	return wait;
}

/* An RwLock upgradable read, which waits for the lock's writer mutex (a writer or the upgradable
 * reader holds it), or an upgrade, which has traded its reader for the writer bit (so it bars new
 * readers) and waits for the other readers to leave. */
static struct ai_wait *decode_rwlock_upgrade(struct ai_wait_walk *w, const struct decl_runtime *d,
					     const struct decl_wait *e, struct decl_place from, bool upgrade)
{
	struct ai_wait *wait = ai_wait_new("rwlock");
	wait->access = xstrdup(upgrade ? "upgrade" : "upgradable_read");
	struct decl_place p = from;
	if (!reach_queued_resource(w, d, e, wait, "lock", &p))
		return wait;
	wait->description = xasprintf("%s %s @ 0x%" PRIx64, upgrade ? "upgrade" : "upgradable-read-lock",
				      wait->resource_type, p.address);
	wait->bars_readers = upgrade;
	char *why = NULL;
	uint64_t n = 0;
	if (!read_int(w, p, &e->ints[0], &n, &why)) {
		if (why)
			warn_key(w, d, e, upgrade ? "readers" : "locked", why);
		return wait;
	}
	wait->queued = n != 0;
	char *tail;
	if (upgrade)
		tail = n ? xasprintf(", %" PRIu64 " other reader%s hold%s it", n, ai_wait_plural(n), n == 1 ? "s" : "")
			 : xstrdup(", no reader left (about to be granted)");
	else
		tail = xstrdup(n ? ", a writer or an upgradable reader holds it" : ", free (about to be granted)");
	append(wait, tail);
	free(tail);
	return wait;
}

/* A semaphore acquire: the permits left, when the file names them; the permit guards are found
 * under the semaphore's address. */
static struct ai_wait *decode_semaphore(struct ai_wait_walk *w, const struct decl_runtime *d,
					const struct decl_wait *e, struct decl_place from)
{
	struct ai_wait *wait = ai_wait_new("semaphore");
	struct decl_place p = from;
	if (!reach_queued_resource(w, d, e, wait, "semaphore", &p))
		return wait;
	char *why = NULL;
	wait->description = xasprintf("acquire %s @ 0x%" PRIx64, wait->resource_type, p.address);
	uint64_t permits;
	if (read_int(w, p, &e->ints[0], &permits, &why)) {
		wait->has_permits = true;
		wait->permits_available = permits;
		wait->queued = permits == 0;
		char *tail = xasprintf(", %" PRIu64 " permit%s left%s", permits, ai_wait_plural(permits),
				       permits ? " (about to be granted)" : "");
		append(wait, tail);
		free(tail);
	} else if (why) {
		warn_key(w, d, e, "permits", why);
	}
	return wait;
}

/* Whether the qualified function name is `pattern`, or one of its generic instances. */
static bool function_matches(const char *name, const char *pattern)
{
	return type_matches(name, pattern);
}

/* Lock functions are looked for this many coroutines up from the leaf (write() awaits its
 * writer mutex's lock() before the readers). */
#define FUNCTION_LEVELS 4

/* The entry for a leaf of type `name` under ancestors[0..depth) (outermost first): a leaf type's,
 * else the nearest enclosing coroutine's of a `function` entry (*coroutine_ret). */
static const struct decl_wait *match_wait(const struct decl_runtime *d, const char *name,
					  const struct ai_await_node *const *ancestors, size_t depth,
					  const struct ai_await_node **coroutine_ret)
{
	*coroutine_ret = NULL;
	for (size_t i = 0; name && i < d->wait_count; i++)
		if (d->waits[i].type && type_matches(name, d->waits[i].type))
			return &d->waits[i];
	for (size_t up = 0, seen = 0; up < depth && seen < FUNCTION_LEVELS; up++) {
		const struct ai_await_node *a = ancestors[depth - 1 - up];
		if (!a->function)
			continue;
		seen++;
		for (size_t i = 0; i < d->wait_count; i++)
			if (d->waits[i].function && function_matches(a->function, d->waits[i].function)) {
				*coroutine_ret = a;
				return &d->waits[i];
			}
	}
	return NULL;
}

struct ai_wait *ai_decl_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *node)
{
	const struct decl_runtime *d = decoder(w);
	const struct ai_type *t = d ? ai_wait_type_of_die(w, node->type_die) : NULL;
	const char *name = t ? ai_wait_type_name(t) : NULL;
	const struct ai_await_node *coroutine = NULL;
	const struct decl_wait *e = d ? match_wait(d, name, w->ancestors, w->depth, &coroutine) : NULL;
	if (!e)
		return NULL;
	struct decl_place leaf = { t, node->address };
	if (coroutine) {
		/* the paths start from the async fn's saved locals in its current state */
		leaf.type = ai_wait_state_struct(ai_wait_type_of_die(w, coroutine->type_die), coroutine->state);
		leaf.address = coroutine->address;
		if (!leaf.type) {
			struct ai_wait *wait = ai_wait_new(e->kind == DECL_WAIT_SEMAPHORE ? "semaphore" : "rwlock");
			char *why = xasprintf("the state %s of %s is not known", coroutine->state ? coroutine->state : "?",
					      coroutine->function);
			not_understood(w, d, e, wait, "function", why);
			free(why);
			return wait;
		}
	} else if (!t) {
		return NULL;
	}
	switch (e->kind) {
	case DECL_WAIT_SLEEP:
		return decode_sleep(w, d, e, leaf);
	case DECL_WAIT_CHANNEL_RECV:
	case DECL_WAIT_CHANNEL_SEND:
		return decode_channel(w, d, e, leaf, e->kind == DECL_WAIT_CHANNEL_RECV);
	case DECL_WAIT_MUTEX:
		return decode_mutex(w, d, e, leaf);
	case DECL_WAIT_JOIN:
		return decode_join(w, d, e, leaf);
	case DECL_WAIT_IO:
		return decode_io(w, d, e, leaf);
	case DECL_WAIT_RWLOCK_READ:
	case DECL_WAIT_RWLOCK_WRITE:
		return decode_rwlock(w, d, e, leaf, e->kind == DECL_WAIT_RWLOCK_WRITE);
	case DECL_WAIT_RWLOCK_UPGRADABLE_READ:
	case DECL_WAIT_RWLOCK_UPGRADE:
		return decode_rwlock_upgrade(w, d, e, leaf, e->kind == DECL_WAIT_RWLOCK_UPGRADE);
	case DECL_WAIT_SEMAPHORE:
		return decode_semaphore(w, d, e, leaf);
	}
	return NULL;
}

/* A guard in a live saved local: the lock it holds (when `locked` says it is held). */
static void add_guard(struct ai_wait_walk *w, const struct decl_runtime *d, const struct decl_guard *g,
		      struct ai_snapshot_task *task, const struct ai_await_node *node, const struct ai_member *m,
		      const struct ai_type *gt)
{
	struct decl_place p = { gt, node->address + m->offset };
	char *why = ai_decl_walk(w->as, &p, g->lock);
	if (!why)
		why = ai_decl_deref(w->as, &p);
	if (why) {
		char *text = xasprintf("%s (decoder %s): guards[%zu].lock: %s", d->runtime, d->file, g->index, why);
		warn_once(w, text);
		free(text);
		free(why);
		return;
	}
	struct decl_place lock = p;
	uint64_t held = 1;
	if (g->locked && !(why = ai_decl_walk(w->as, &p, g->locked)) && !ai_decl_read_uint(w->as, p, &held))
		why = xasprintf("%s is not an integer or bool", ai_wait_type_name(p.type) ? ai_wait_type_name(p.type) : "?");
	if (why) {
		char *text = xasprintf("%s (decoder %s): guards[%zu].locked: %s", d->runtime, d->file, g->index, why);
		warn_once(w, text);
		free(text);
		free(why);
		return;
	}
	if (!held) /* (a guard rustc keeps in a variant after it was dropped) */
		return;
	for (size_t k = 0; k < task->held_count; k++)
		if (task->held[k].semaphore == lock.address)
			return;
	const char *lock_name = ai_wait_type_name(lock.type);
	struct ai_held *h = ai_snapshot_task_add_held(task);
	h->kind = xstrdup(g->kind);
	h->guard_type = ai_type_short_name(ai_wait_type_name(gt));
	h->local = xstrdup(m->name);
	h->function = node->function ? xstrdup(node->function) : NULL;
	h->file = node->file ? xstrdup(node->file) : NULL;
	h->line = node->line;
	h->address = h->semaphore = lock.address;
	h->resource_type = ai_wait_short_resource_name(lock_name ? lock_name : "?");
}

void ai_decl_held(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node)
{
	const struct decl_runtime *d = decoder(w);
	if (!d)
		return;
	static const char *const none[] = { NULL };
	static const struct ai_io_rules rules = { .skip = none, .objects = none };
	bool ours = task->runtime && strcmp(task->runtime, d->runtime) == 0;
	if (ours && d->wait_count)
		ai_wait_find_fds(w, &rules, task, node); /* (the ends of connections its tasks keep) */
	if (!d->guard_count)
		return;
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, node->type_die), node->state);
	bool *live = vt ? ai_wait_live_locals(w, node, vt) : NULL;
	for (size_t i = 0; vt && i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		if (!m->name || m->artificial || ai_starts_with(m->name, "__") || !live[i])
			continue;
		const struct ai_type *gt = ai_wait_underlying(ai_wait_member_type(vt, m));
		const char *name = gt ? ai_wait_type_name(gt) : NULL;
		for (size_t k = 0; name && k < d->guard_count; k++)
			if (type_matches(name, d->guards[k].type)) {
				add_guard(w, d, &d->guards[k], task, node, m, gt);
				break;
			}
	}
	free(live);
}

/* "Task 32 tinyexec::lock_pair" (or its address when the runtime gives no ids). */
static char *task_label(const struct ai_snapshot_task *t)
{
	if (t->has_id)
		return xasprintf("Task %" PRIu64 " %s", t->id, t->future ? t->future : "?");
	return xasprintf("Task 0x%" PRIx64 " %s", t->address, t->future ? t->future : "?");
}

/* A lock wait of this runtime's: the tasks whose guards hold its lock, or "holder unknown". An
 * exclusive lock has one holder (two claims: one guard is stale, and the pass drops both); the
 * readers of an RwLock and the permits of a semaphore are all named. A task that waits for the
 * RwLock itself does not hold it: a writer keeps its write guard in the write() frame that waits
 * for the readers (the readers queued behind it are said to be, by the wait pass). */
static void name_holders(struct ai_snapshot *s, size_t self, struct ai_wait *wait)
{
	bool rwlock = strcmp(wait->kind, "rwlock") == 0;
	char *names = NULL;
	size_t found = 0, in_line = 0;
	for (size_t j = 0; j < s->task_count; j++) {
		const struct ai_snapshot_task *o = &s->tasks[j];
		if (rwlock && o->wait && o->wait->semaphore == wait->semaphore && o->wait->queued) {
			in_line += j != self && ai_wait_bars_reader(wait, o->wait);
			continue;
		}
		for (size_t k = 0; k < o->held_count; k++) {
			if (o->held[k].semaphore != wait->semaphore || !ai_held_blocks(wait, &o->held[k]))
				continue;
			char *label = j == self ? xstrdup("this task itself") : task_label(o);
			char *old = names;
			names = old ? xasprintf("%s, %s", old, label) : xstrdup(label);
			free(old);
			free(label);
			found++;
			break;
		}
	}
	bool exclusive = strcmp(wait->kind, "mutex") == 0;
	char *old = wait->description;
	if (exclusive ? found == 1 : found > 0)
		wait->description = xasprintf("%s, held by %s", old, names);
	else if (!in_line)
		wait->description = xasprintf("%s, holder unknown", old);
	else
		old = NULL;
	free(old);
	free(names);
}

static void finish_node(struct ai_wait_walk *w, const struct decl_runtime *d, size_t task,
			struct ai_await_node *node, const struct ai_await_node **ancestors, size_t depth)
{
	if (node->leaf && node->wait && node->wait->queued && node->wait->semaphore &&
	    (strcmp(node->wait->kind, "mutex") == 0 || strcmp(node->wait->kind, "rwlock") == 0 ||
	     strcmp(node->wait->kind, "semaphore") == 0)) {
		const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
		const struct ai_await_node *coroutine;
		const struct decl_wait *e = match_wait(d, t ? ai_wait_type_name(t) : NULL, ancestors, depth, &coroutine);
		if (e && ai_decl_wait_is_lock(e->kind))
			name_holders(w->snapshot, task, node->wait);
	}
	if (depth == AI_WAIT_MAX_ANCESTORS)
		return;
	ancestors[depth] = node;
	for (size_t i = 0; i < node->child_count; i++)
		finish_node(w, d, task, &node->children[i], ancestors, depth + 1);
}

void ai_decl_finish(struct ai_wait_walk *w, struct ai_snapshot *snapshot)
{
	const struct decl_runtime *d = decoder(w);
	const struct ai_await_node *ancestors[AI_WAIT_MAX_ANCESTORS];
	for (size_t i = 0; d && i < snapshot->task_count; i++)
		finish_node(w, d, i, &snapshot->tasks[i].tree, ancestors, 0);
}
