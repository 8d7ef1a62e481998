/* Why each future waits, and which locks each task holds: see include/ai/wait.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
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
	/* live targets: /proc/PID/net, read on the first I/O wait (see decode_io) */
	struct ai_socket_table sockets;
	bool sockets_read;
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

/* The struct of a coroutine's current state: its saved locals and arguments. NULL when t is not
 * a coroutine or the state is unknown. */
static const struct ai_type *state_struct(const struct ai_type *t, const char *state)
{
	if (!t || !state || !ai_type_is_coroutine(t))
		return NULL;
	const struct ai_variant *v = ai_type_find_variant(t, state);
	return v ? member_type(t, &v->member) : NULL;
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

/* Arc<T> at address, with the ArcInner: its address and the strong count (0 if unreadable). */
static bool read_arc_ex(struct walker *w, const struct ai_type *arc, uint64_t address, uint64_t *data_ret,
			const struct ai_type **data_type_ret, uint64_t *inner_ret, uint64_t *strong_ret)
{
	uint64_t inner, off, strong = 0;
	const struct ai_type *inner_t, *dt;
	if (!read_pointer_path(w, arc, address, "ptr.pointer", &inner, &inner_t) ||
	    !member_path(inner_t, "data", &off, &dt))
		return false;
	if (!read_int_path(w, inner_t, inner, "strong", &strong))
		strong = 0;
	*data_ret = inner + off;
	*data_type_ret = dt;
	*inner_ret = inner;
	*strong_ret = strong;
	return true;
}

/* The Arc inside Some of an Option<Arc<T>> member `path` of the value at address; false for None. */
static bool read_option_arc(struct walker *w, const struct ai_type *t, uint64_t address, const char *path,
			    uint64_t *data_ret, const struct ai_type **data_type_ret, uint64_t *strong_ret)
{
	uint64_t off, arc_off, inner;
	const struct ai_type *opt, *vt, *arc;
	if (!member_path(t, path, &off, &opt))
		return false;
	const struct ai_variant *v = ai_type_find_variant(opt, "Some");
	if (!v || !(vt = member_type(opt, &v->member)) || !member_path(vt, "__0", &arc_off, &arc))
		return false;
	return read_arc_ex(w, arc, address + off + v->member.offset + arc_off, data_ret, data_type_ret, &inner,
			   strong_ret);
}

/* The pointer at the bottom of wrappers (Pin<Box<T>> = Pin { Box { Unique { NonNull { *const T } } } }). */
static bool deref_wrapped(struct walker *w, const struct ai_type *t, uint64_t address, unsigned depth,
			  uint64_t *ptr_ret, const struct ai_type **pointee_ret)
{
	if (!t || depth > MAX_NEST)
		return false;
	if (t->kind == AI_TYPE_POINTER) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (!read_uint(w, address, 8, &ptr) || ptr == 0 || ptr > 0x00007fffffffffffULL)
			return false;
		struct ai_error *err = ai_type_target(t, &pt);
		if (err) {
			ai_error_destroy(err);
			return false;
		}
		*ptr_ret = ptr;
		*pointee_ret = underlying(pt);
		return *pointee_ret != NULL;
	}
	if (t->kind != AI_TYPE_STRUCT)
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_type *mt = member_type(t, &t->members[i]);
		if (!mt || (mt->has_size && mt->size == 0))
			continue;
		return deref_wrapped(w, mt, address + t->members[i].offset, depth + 1, ptr_ret, pointee_ret);
	}
	return false;
}

/* The `self` (or `_ref__self`) of the coroutine node a in its current state, through && too. */
static bool node_self(struct walker *w, const struct ai_await_node *a, uint64_t *ptr_ret,
		      const struct ai_type **type_ret)
{
	const struct ai_type *vt = state_struct(type_of_die(w, a->type_die), a->state);
	if (!vt)
		return false;
	static const char *const names[] = { "self", "_ref__self" };
	for (size_t k = 0; k < AI_ARRAY_SIZE(names); k++) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (!read_pointer_path(w, vt, a->address, names[k], &ptr, &pt))
			continue;
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
		*ptr_ret = ptr;
		*type_ret = pt;
		return true;
	}
	return false;
}

/* The nearest enclosing coroutine (at most `levels` up) whose `self` has a type starting with one
 * of the prefixes. */
static bool enclosing_self(struct walker *w, const char *const *prefixes, size_t levels, uint64_t *ptr_ret,
			   const struct ai_type **type_ret)
{
	for (size_t i = w->depth; i-- > 0 && levels-- > 0;) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (!node_self(w, w->ancestors[i], &ptr, &pt))
			continue;
		for (const char *const *p = prefixes; *p; p++) {
			if (starts_with(qname(pt), *p)) {
				*ptr_ret = ptr;
				*type_ret = pt;
				return true;
			}
		}
	}
	return false;
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
		/* Garbage (a Sleep read while its task ran, a stale variant) must not overflow. */
		if (sec >= (uint64_t)INT64_MAX / 1000000000ULL)
			return false;
		*ns_ret = (int64_t)sec * 1000000000LL + (int64_t)nsec;
		return true;
	}
	return false;
}

/* kind "sleep", "timeout" or "interval": deadline, and time left on a live target. */
static void set_deadline(struct walker *w, struct ai_wait *wait, int64_t deadline)
{
	const char *what = strcmp(wait->kind, "interval") == 0 ? "interval tick" : wait->kind;
	wait->has_deadline = true;
	wait->deadline_ns = deadline;
	if (w->snapshot->has_monotonic) {
		wait->has_remaining = true;
		wait->remaining_ns = deadline - w->snapshot->monotonic_ns;
		char *d = format_duration(wait->remaining_ns);
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
	set_deadline(w, wait, deadline);
	return wait;
}

/* Interval::tick: the `self: &mut Interval` of the tick frame; Interval.delay is a Pin<Box<Sleep>>. */
static struct ai_wait *decode_interval(struct walker *w)
{
	static const char *const intervals[] = { "tokio::time::interval::Interval", NULL };
	uint64_t iv, off, sleep;
	const struct ai_type *it, *dt, *st;
	if (!enclosing_self(w, intervals, 2, &iv, &it))
		return NULL;
	struct ai_wait *wait = new_wait("interval");
	wait->resource_type = xstrdup("Interval");
	wait->address = iv;
	int64_t deadline;
	if (!member_path(it, "delay", &off, &dt) || !deref_wrapped(w, dt, iv + off, 0, &sleep, &st) ||
	    !sleep_deadline(w, st, sleep, &deadline)) {
		wait->description = xasprintf("interval tick, deadline not understood (%s)", qname(it));
		return wait;
	}
	set_deadline(w, wait, deadline);
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
 * read...) whose batch semaphore is `sem`; for an RwLock, whether that frame is read or write. */
static bool enclosing_lock(struct walker *w, uint64_t sem, uint64_t *address_ret, const struct ai_type **type_ret,
			   const char **kind_ret, const char **access_ret)
{
	for (size_t i = w->depth; i-- > 0;) {
		const struct ai_await_node *a = w->ancestors[i];
		uint64_t ptr, sem_off;
		const struct ai_type *pt;
		if (!node_self(w, a, &ptr, &pt))
			continue;
		const char *kind = lock_kind(pt, &sem_off);
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

static bool semaphore_available(struct walker *w, uint64_t sem, const struct ai_type *sem_type, uint64_t *ret)
{
	uint64_t v;
	if (!read_int_path(w, sem_type, sem, "permits", &v))
		return false;
	*ret = v >> 1; /* bit 0: closed */
	return true;
}

/* ---- Channels ---- */

static const char *const MPSC_SENDERS[] = { "tokio::sync::mpsc::bounded::Sender<",
					    "tokio::sync::mpsc::unbounded::UnboundedSender<", NULL };

/* The figures of an mpsc chan::Chan<T, S> at chan: live senders (tx_count), and from its
 * semaphore S (bounded::Semaphore { semaphore, bound }: slots taken = bound - available;
 * unbounded::Semaphore(AtomicUsize): >> 1 = messages queued). *sem_ret: the bounded channel's
 * batch semaphore, or 0. */
static void chan_figures(struct walker *w, const struct ai_type *chan_t, uint64_t chan, struct ai_wait *wait,
			 uint64_t *sem_ret)
{
	uint64_t off, leaf_off, size, v;
	const struct ai_type *t, *st;
	*sem_ret = 0;
	if (find_nested(chan_t, "tx_count", 0, &off, &t) && int_leaf(t, 0, &leaf_off, &size) &&
	    read_uint(w, chan + off + leaf_off, size, &v)) {
		wait->has_senders = true;
		wait->senders_alive = v;
	}
	if (!member_path(chan_t, "semaphore", &off, &st))
		return;
	uint64_t bound, sem_off, available;
	const struct ai_type *bt;
	if (read_int_path(w, st, chan + off, "bound", &bound) && member_path(st, "semaphore", &sem_off, &bt)) {
		wait->has_capacity = true;
		wait->capacity = bound;
		*sem_ret = chan + off + sem_off;
		if (semaphore_available(w, *sem_ret, bt, &available) && available <= bound) {
			wait->has_messages = true;
			wait->messages_queued = bound - available;
		}
	} else if (int_leaf(st, 0, &leaf_off, &size) && read_uint(w, chan + off + leaf_off, size, &v)) {
		wait->has_messages = true;
		wait->messages_queued = v >> 1;
	}
}

/* An Acquire under mpsc::Sender::send / reserve: the `self: &Sender<T>` of an enclosing frame
 * whose channel's semaphore is sem. */
static bool decode_mpsc_send(struct walker *w, struct ai_wait *wait, uint64_t sem)
{
	static const char *const senders[] = { "tokio::sync::mpsc::bounded::Sender<", NULL };
	uint64_t sender, off, chan, inner, strong, chan_sem;
	const struct ai_type *st, *arc, *chan_t;
	if (!enclosing_self(w, senders, MAX_ANCESTORS, &sender, &st) || !member_path(st, "chan.inner", &off, &arc) ||
	    !read_arc_ex(w, arc, sender + off, &chan, &chan_t, &inner, &strong))
		return false;
	chan_figures(w, chan_t, chan, wait, &chan_sem);
	if (chan_sem != sem)
		return false;
	free(wait->kind);
	wait->kind = xstrdup("mpsc_send");
	wait->address = chan;
	wait->resource_type = ai_type_short_name(qname(st));
	/* Every Sender and the Receiver hold one strong count each. */
	if (strong && wait->has_senders) {
		wait->has_receiver_alive = true;
		wait->receiver_alive = strong > wait->senders_alive;
	}
	char queued[96] = "";
	if (wait->has_messages)
		snprintf(queued, sizeof(queued), ", %" PRIu64 " of %" PRIu64 " slots taken", wait->messages_queued,
			 wait->capacity);
	wait->description = xasprintf("send on a full channel %s @ 0x%" PRIx64 "%s%s", wait->resource_type, chan,
				      queued,
				      wait->has_receiver_alive && !wait->receiver_alive ? ", receiver dropped" : "");
	return true;
}

/* mpsc Receiver::recv / UnboundedReceiver::recv: the `self` of the recv frame. */
static struct ai_wait *decode_mpsc_recv(struct walker *w)
{
	static const char *const receivers[] = { "tokio::sync::mpsc::bounded::Receiver<",
						 "tokio::sync::mpsc::unbounded::UnboundedReceiver<", NULL };
	uint64_t rx, off, chan, inner, strong, sem;
	const struct ai_type *rt, *arc, *chan_t;
	if (!enclosing_self(w, receivers, 2, &rx, &rt))
		return NULL;
	struct ai_wait *wait = new_wait("mpsc_recv");
	wait->resource_type = ai_type_short_name(qname(rt));
	if (!member_path(rt, "chan.inner", &off, &arc) ||
	    !read_arc_ex(w, arc, rx + off, &chan, &chan_t, &inner, &strong)) {
		wait->description = xasprintf("receive on %s, channel not understood", wait->resource_type);
		return wait;
	}
	wait->address = chan;
	chan_figures(w, chan_t, chan, wait, &sem);
	char senders[48] = "", queued[48] = "";
	if (wait->has_senders)
		snprintf(senders, sizeof(senders), ", %" PRIu64 " sender%s alive", wait->senders_alive,
			 wait->senders_alive == 1 ? "" : "s");
	if (wait->has_messages)
		snprintf(queued, sizeof(queued), ", %" PRIu64 " queued", wait->messages_queued);
	wait->description = xasprintf("receive on %s @ 0x%" PRIx64 "%s%s", wait->resource_type, chan, senders, queued);
	return wait;
}

/* oneshot::Receiver<T> { inner: Option<Arc<Inner<T>>> }; Inner.state bits: VALUE_SENT = 2 is set
 * by send and by the Sender's drop (complete()), CLOSED = 4 by the receiver. */
static struct ai_wait *decode_oneshot(struct walker *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = new_wait("oneshot");
	wait->resource_type = ai_type_short_name(qname(t));
	uint64_t inner, strong, state;
	const struct ai_type *it;
	if (!read_option_arc(w, t, address, "inner", &inner, &it, &strong)) {
		wait->description = xasprintf("oneshot receive, channel state not readable (%s)", qname(t));
		return wait;
	}
	wait->address = inner;
	if (read_int_path(w, it, inner, "state", &state)) {
		wait->has_sender_alive = true;
		/* The Sender holds the second strong count until it is dropped. */
		wait->sender_alive = (state & 2) == 0 && (strong == 0 || strong >= 2);
	}
	wait->description = xasprintf("oneshot receive @ 0x%" PRIx64 "%s", inner,
				      !wait->has_sender_alive ? "" : wait->sender_alive ? ", sender alive"
											: ", sender dropped");
	return wait;
}

/* Notified { notify: &Notify, .. } */
static struct ai_wait *decode_notified(struct walker *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = new_wait("notify");
	wait->resource_type = xstrdup("Notify");
	uint64_t notify;
	const struct ai_type *nt;
	if (!read_pointer_path(w, t, address, "notify", &notify, &nt)) {
		wait->description = xasprintf("notified, Notify not readable (%s)", qname(t));
		return wait;
	}
	wait->address = notify;
	wait->description = xasprintf("notified on Notify @ 0x%" PRIx64, notify);
	return wait;
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
	const char *kind, *access;
	if (enclosing_lock(w, sem, &lock, &lock_t, &kind, &access)) {
		free(wait->kind);
		wait->kind = xstrdup(kind);
		wait->address = lock;
		wait->resource_type = short_resource_name(qname(lock_t));
		wait->access = access ? xstrdup(access) : NULL;
	} else if (decode_mpsc_send(w, wait, sem)) {
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
	wait->description = xasprintf("%s %s @ 0x%" PRIx64 "%s%s", verb, wait->resource_type, wait->address, permits,
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

/* ---- broadcast, watch ---- */

/* The integer of the first member named name nested in t (through Mutex, UnsafeCell...). */
static bool read_nested_int(struct walker *w, const struct ai_type *t, uint64_t address, const char *name,
			    uint64_t *ret)
{
	uint64_t off, leaf_off, size;
	const struct ai_type *mt;
	if (!find_nested(t, name, 0, &off, &mt) || !int_leaf(mt, 0, &leaf_off, &size))
		return false;
	return read_uint(w, address + off + leaf_off, size, ret);
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* broadcast::Recv<'_, T> { receiver: &mut Receiver<T> { shared: Arc<Shared<T>>, next }, waiter };
 * Shared { buffer, mask, tail: Mutex<Tail { pos, rx_cnt, closed, waiters }>, num_tx, .. }. */
static struct ai_wait *decode_broadcast(struct walker *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = new_wait("broadcast");
	uint64_t rx, off, shared, inner, strong, v, next = 0, pos = 0;
	const struct ai_type *rt, *arc, *st, *tail_t;
	if (!read_pointer_path(w, t, address, "receiver", &rx, &rt) || !member_path(rt, "shared", &off, &arc) ||
	    !read_arc_ex(w, arc, rx + off, &shared, &st, &inner, &strong)) {
		wait->resource_type = ai_type_short_name(qname(t));
		wait->description = xasprintf("broadcast receive, channel not understood (%s)", qname(t));
		return wait;
	}
	char *short_rx = ai_type_short_name(qname(rt));
	wait->resource_type = xasprintf("broadcast::%s", short_rx); /* not to be taken for mpsc's */
	free(short_rx);
	wait->address = shared;
	if (read_int_path(w, st, shared, "mask", &v)) {
		wait->has_capacity = true;
		wait->capacity = v + 1;
	}
	bool has_next = read_int_path(w, rt, rx, "next", &next);
	if (member_path(st, "tail", &off, &tail_t)) {
		if (has_next && read_nested_int(w, tail_t, shared + off, "pos", &pos) && next <= pos) {
			wait->has_unseen = true;
			wait->unseen = pos - next;
		}
		if (read_nested_int(w, tail_t, shared + off, "closed", &v)) {
			wait->has_closed = true;
			wait->closed = v & 1;
		}
	}
	if (read_int_path(w, st, shared, "num_tx", &v)) {
		wait->has_senders = true;
		wait->senders_alive = v;
	}
	char capacity[48] = "", unseen[64] = "", senders[48] = "";
	if (wait->has_capacity)
		snprintf(capacity, sizeof(capacity), ", capacity %" PRIu64, wait->capacity);
	if (wait->has_unseen)
		snprintf(unseen, sizeof(unseen), ", %" PRIu64 " unseen%s", wait->unseen,
			 wait->has_capacity && wait->unseen > wait->capacity ? " (lagged)" : "");
	if (wait->has_senders)
		snprintf(senders, sizeof(senders), ", %" PRIu64 " sender%s alive", wait->senders_alive,
			 plural(wait->senders_alive));
	wait->description = xasprintf("receive on %s @ 0x%" PRIx64 "%s%s%s", wait->resource_type, shared,
				      capacity, unseen, senders);
	if ((wait->has_senders && wait->senders_alive == 0) || (wait->has_closed && wait->closed))
		wait->warning = xstrdup("every Sender of the broadcast channel is gone: the receive ends with "
					"Closed once the messages left are read");
	return wait;
}

/* watch::Receiver::changed: a Notified on the shared state's notify_rx (a Notify, or 1.38+'s
 * BigNotify of 8), under `changed` (1.24) or changed_impl (1.38+) whose caller's `self` is the
 * Receiver<T> { shared: Arc<Shared<T>>, version: Version }. Shared.state: version << 1 | closed. */
static struct ai_wait *decode_watch(struct walker *w, uint64_t notify)
{
	static const char *const receivers[] = { "tokio::sync::watch::Receiver<", NULL };
	uint64_t rx, off, shared, inner, strong, nrx_off, state, seen, v;
	const struct ai_type *rt, *arc, *st, *nrx_t;
	if (!enclosing_self(w, receivers, 3, &rx, &rt) || !member_path(rt, "shared", &off, &arc) ||
	    !read_arc_ex(w, arc, rx + off, &shared, &st, &inner, &strong) ||
	    !member_path(st, "notify_rx", &nrx_off, &nrx_t) || notify < shared + nrx_off ||
	    notify >= shared + nrx_off + nrx_t->size)
		return NULL; /* a Notified of something else */
	struct ai_wait *wait = new_wait("watch");
	char *short_rx = ai_type_short_name(qname(rt));
	wait->resource_type = xasprintf("watch::%s", short_rx);
	free(short_rx);
	wait->address = shared;
	if (read_int_path(w, st, shared, "state", &state) && read_int_path(w, rt, rx, "version", &seen)) {
		wait->has_version = true;
		wait->version = (state & ~1ULL) >> 1;
		wait->seen_version = (seen & ~1ULL) >> 1;
		wait->has_closed = true;
		wait->closed = state & 1;
		wait->has_sender_alive = true;
		wait->sender_alive = !wait->closed;
	}
	/* 1.36+: Sender is Clone and counted; before, the one Sender's drop sets the closed bit. */
	if (read_int_path(w, st, shared, "ref_count_tx", &v)) {
		wait->has_senders = true;
		wait->senders_alive = v;
	}
	char version[96] = "", senders[48] = "";
	if (wait->has_version)
		snprintf(version, sizeof(version), ", version %" PRIu64 ", seen %" PRIu64 " (%s)", wait->version,
			 wait->seen_version, wait->version == wait->seen_version ? "unchanged" : "changed");
	if (wait->has_senders)
		snprintf(senders, sizeof(senders), ", %" PRIu64 " sender%s alive", wait->senders_alive,
			 plural(wait->senders_alive));
	else if (wait->has_closed)
		snprintf(senders, sizeof(senders), ", %s", wait->closed ? "closed" : "sender alive");
	wait->description = xasprintf("changed() on %s @ 0x%" PRIx64 "%s%s", wait->resource_type, shared, version,
				      senders);
	if (wait->has_closed && wait->closed)
		wait->warning = xstrdup("every Sender of the watch channel is gone: changed() ends with an error");
	return wait;
}

/* ---- I/O ---- */

/* Pointers followed from a frame's local to its fd (&&TcpListener in a closure: 2). */
#define MAX_FD_DEREFS 4
/* Types visited by one search, and bytes of an enum read to pick its variant. */
#define MAX_FD_VISITS 4096
#define MAX_FD_ENUM_BYTES 4096
#define MAX_FD 0x1000000

struct fd_search {
	struct walker *w;
	int fds[4];        /* distinct fds found */
	size_t count;
	const char *owner; /* the I/O object that holds the first one: "tokio::net::...::TcpStream" */
	unsigned visits;
};

/* The types named as the object an fd belongs to (the outermost one on the path to the fd). */
static bool is_io_object(const char *name)
{
	static const char *const prefixes[] = { "tokio::net::", "tokio::io::async_fd::", "tokio::fs::", "tokio::process::",
						"std::net::", "std::fs::", "std::io::pipe::", "std::os::unix::net::",
						"mio::net::", NULL };
	for (const char *const *p = prefixes; *p; p++) {
		if (starts_with(name, *p))
			return true;
	}
	return false;
}

static bool name_ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* Looks for std's OwnedFd { fd } (or an older std's FileDesc { fd: c_int }) in the value: struct
 * members, the active variant of enums (Option<TcpStream>), and &, &mut, Box and Arc pointers up
 * to MAX_FD_DEREFS. tokio::runtime:: is not entered: its I/O driver holds the epoll fd. */
static void fd_search_value(struct fd_search *s, const struct ai_type *t, uint64_t address, unsigned depth,
			    unsigned derefs, const char *owner)
{
	if (!t || depth > 32 || s->visits++ > MAX_FD_VISITS || s->count == AI_ARRAY_SIZE(s->fds))
		return;
	const char *name = qname(t);
	if (starts_with(name, "tokio::runtime::") || starts_with(name, "core::marker::PhantomData"))
		return;
	if (t->kind == AI_TYPE_POINTER) {
		if (derefs >= MAX_FD_DEREFS || !(name[0] == '&' || starts_with(name, "alloc::boxed::Box<")))
			return;
		uint64_t ptr;
		const struct ai_type *pt;
		if (!deref_wrapped(s->w, t, address, 0, &ptr, &pt) || (ptr & 3) != 0 || pt->kind == AI_TYPE_VOID ||
		    pt->kind == AI_TYPE_FUNCTION || pt->kind == AI_TYPE_UNIT)
			return;
		fd_search_value(s, pt, ptr, depth + 1, derefs + 1, owner);
		return;
	}
	if (t->kind == AI_TYPE_STRUCT && starts_with(name, "alloc::sync::Arc<")) {
		uint64_t data;
		const struct ai_type *dt;
		if (derefs < MAX_FD_DEREFS && read_arc(s->w, t, address, &data, &dt))
			fd_search_value(s, dt, data, depth + 1, derefs + 1, owner);
		return;
	}
	if (!owner && is_io_object(name) && !strchr(name, '{')) /* not a closure or async fn of tokio::net */
		owner = name;
	const struct ai_member *fd_member = ai_type_find_member(t, "fd");
	if (fd_member && (name_ends_with(name, "::OwnedFd") || name_ends_with(name, "::FileDesc"))) {
		uint64_t leaf_off, size, v;
		const struct ai_type *mt = member_type(t, fd_member);
		if (!int_leaf(mt, 0, &leaf_off, &size) || size != 4 ||
		    !read_uint(s->w, address + fd_member->offset + leaf_off, size, &v) || v >= MAX_FD)
			return; /* -1 (None's niche) or not an fd */
		for (size_t i = 0; i < s->count; i++) {
			if (s->fds[i] == (int)v)
				return;
		}
		if (s->count == 0)
			s->owner = owner;
		s->fds[s->count++] = (int)v;
		return;
	}
	if (t->kind == AI_TYPE_ENUM) {
		if (ai_type_is_coroutine(t) || !t->has_size || t->size == 0 || t->size > MAX_FD_ENUM_BYTES)
			return;
		uint8_t *bytes = xmalloc(t->size);
		const struct ai_variant *v = NULL;
		struct ai_error *err = ai_memory_read(s->w->mem, bytes, address, t->size);
		if (!err)
			err = ai_type_active_variant(t, bytes, t->size, &v);
		free(bytes);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		fd_search_value(s, member_type(t, &v->member), address + v->member.offset, depth + 1, derefs, owner);
		return;
	}
	if (t->kind != AI_TYPE_STRUCT)
		return;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		if (m->artificial)
			continue;
		fd_search_value(s, member_type(t, m), address + m->offset, depth + 1, derefs, owner);
	}
}

/* The fd an I/O leaf waits on: in the leaf, else in the saved locals of the coroutines above it,
 * nearest first. Two different fds at the nearest level that has one: ambiguous (count > 1). */
static void find_fd(struct walker *w, const struct ai_type *leaf_t, uint64_t leaf_address, struct fd_search *s,
		    const char **where_ret)
{
	*where_ret = NULL;
	fd_search_value(s, leaf_t, leaf_address, 0, 0, NULL);
	for (size_t i = w->depth; s->count == 0 && i-- > 0;) {
		const struct ai_await_node *a = w->ancestors[i];
		const struct ai_type *vt = state_struct(type_of_die(w, a->type_die), a->state);
		if (!vt)
			continue;
		for (size_t k = 0; k < vt->member_count; k++) {
			const struct ai_member *m = &vt->members[k];
			if (!m->name || m->artificial || starts_with(m->name, "__"))
				continue; /* __awaitee: the future we came up from */
			fd_search_value(s, member_type(vt, m), a->address + m->offset, 0, 0, NULL);
		}
		*where_ret = a->function;
	}
}

/* tokio::io::util futures (AsyncReadExt::read, AsyncWriteExt::write_all...): the direction from
 * the module's name. */
static const char *io_util_direction(const char *name)
{
	const char *m = name + strlen("tokio::io::util::");
	if (starts_with(m, "copy"))
		return "copy";
	if (starts_with(m, "read") || starts_with(m, "fill_buf") || starts_with(m, "lines") ||
	    starts_with(m, "split"))
		return "read";
	if (starts_with(m, "write") || starts_with(m, "flush") || starts_with(m, "shutdown"))
		return "write";
	return NULL;
}

/* A Readiness (the waiter of ScheduledIo::readiness): its waiter's Interest (tokio 1.38+: bits of
 * a usize; 1.24: mio's NonZeroU8; both READABLE = 1, WRITABLE = 2); under accept() it is a
 * connection that is awaited. */
static const char *readiness_direction(struct walker *w, const struct ai_type *t, uint64_t address)
{
	for (size_t i = w->depth; i-- > 0;) {
		const char *fn = w->ancestors[i]->function;
		if (fn && starts_with(fn, "tokio::net::") && name_ends_with(fn, "::accept"))
			return "connection";
	}
	uint64_t interest;
	if (!read_nested_int(w, t, address, "interest", &interest))
		return NULL;
	if ((interest & 3) == 3)
		return "read_write";
	if (interest & 1)
		return "read";
	if (interest & 2)
		return "write";
	return NULL;
}

static const char *direction_phrase(const char *direction)
{
	if (!direction)
		return "waiting for I/O";
	if (strcmp(direction, "connection") == 0)
		return "waiting for a connection";
	if (strcmp(direction, "read_write") == 0)
		return "waiting for read or write";
	if (strcmp(direction, "copy") == 0)
		return "copying";
	if (strcmp(direction, "connect") == 0)
		return "waiting for the connection to be established";
	return strcmp(direction, "read") == 0 ? "waiting for read" : "waiting for write";
}

/* What /proc says of the fd (live targets): the link, and for a socket its addresses and state. */
static void describe_fd(struct walker *w, struct ai_wait *wait)
{
	pid_t pid = w->as->target->pid;
	char *target;
	struct ai_error *err = ai_fd_target(pid, wait->fd, &target);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	wait->fd_target = target;
	uint64_t inode = ai_fd_socket_inode(target);
	if (!inode)
		return;
	if (!w->sockets_read) {
		w->sockets_read = true;
		err = ai_sockets_read(pid, &w->sockets);
		if (err) {
			ai_snapshot_add_warning(w->snapshot, "sockets of I/O waits not known: %s", err->message);
			ai_error_destroy(err);
		}
	}
	const struct ai_socket *sock = ai_sockets_find(&w->sockets, inode);
	if (!sock)
		return;
	wait->socket_kind = xstrdup(sock->kind);
	wait->local_address = sock->local[0] ? xstrdup(sock->local) : NULL;
	wait->peer_address = sock->peer[0] ? xstrdup(sock->peer) : NULL;
	wait->socket_state = sock->state ? xstrdup(sock->state) : NULL;
}

static struct ai_wait *decode_io(struct walker *w, const struct ai_type *t, uint64_t address, const char *direction)
{
	struct ai_wait *wait = new_wait("io");
	wait->direction = direction ? xstrdup(direction) : NULL;
	struct fd_search s = { .w = w };
	const char *where;
	find_fd(w, t, address, &s, &where);
	wait->resource_type = s.owner ? ai_type_short_name(s.owner) : NULL;
	const char *what = wait->resource_type ? wait->resource_type : "I/O";
	const char *phrase = direction_phrase(direction);
	if (s.count > 1) {
		wait->description = xasprintf("%s, %s (fds %d and %d both in %s: not guessed)", what, phrase, s.fds[0],
					      s.fds[1], where ? where : "the leaf");
		return wait;
	}
	if (s.count == 0) {
		wait->description = xasprintf("%s, %s (fd not found)", what, phrase);
		return wait;
	}
	wait->has_fd = true;
	wait->fd = s.fds[0];
	if (w->as->target->kind != AI_TARGET_LIVE) {
		wait->description = xasprintf("%s fd %d, %s (socket details need a live process)", what, wait->fd, phrase);
		return wait;
	}
	describe_fd(w, wait);
	if (wait->socket_kind && strcmp(wait->socket_kind, "unix") == 0)
		wait->description = xasprintf("unix %s%s%s, %s (fd %d)", wait->local_address ? wait->local_address : "(unnamed)",
					      wait->socket_state ? " " : "", wait->socket_state ? wait->socket_state : "",
					      phrase, wait->fd);
	else if (wait->socket_kind)
		wait->description = xasprintf("%s %s%s%s%s%s, %s (fd %d)", wait->socket_kind,
					      wait->local_address ? wait->local_address : "?",
					      wait->peer_address ? " -> " : "", wait->peer_address ? wait->peer_address : "",
					      wait->socket_state ? " " : "", wait->socket_state ? wait->socket_state : "",
					      phrase, wait->fd);
	else
		wait->description = xasprintf("%s %s, %s (fd %d)", what, wait->fd_target ? wait->fd_target : "(fd closed?)",
					      phrase, wait->fd);
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
	else if (t && starts_with(name, "tokio::sync::oneshot::Receiver<"))
		wait = decode_oneshot(w, t, node->address);
	else if (t && strcmp(name, "tokio::sync::notify::Notified") == 0) {
		uint64_t notify;
		const struct ai_type *nt;
		if (read_pointer_path(w, t, node->address, "notify", &notify, &nt))
			wait = decode_watch(w, notify);
		if (!wait)
			wait = decode_notified(w, t, node->address);
	} else if (t && starts_with(name, "tokio::sync::broadcast::Recv<"))
		wait = decode_broadcast(w, t, node->address);
	else if (t && strcmp(name, "tokio::runtime::io::scheduled_io::Readiness") == 0)
		wait = decode_io(w, t, node->address, readiness_direction(w, t, node->address));
	else if (t && starts_with(name, "tokio::io::util::") && io_util_direction(name))
		wait = decode_io(w, t, node->address, io_util_direction(name));
	else if (starts_with(name, "core::future::pending::Pending<")) {
		/* std::future::pending(): a future that never completes, by definition. */
		wait = new_wait("pending");
		wait->resource_type = xstrdup("std::future::Pending");
		wait->description = xstrdup("pending forever (std::future::pending never completes)");
	}
	else if (w->depth > 0 && w->ancestors[w->depth - 1]->function) {
		/* Leaves that are closures (PollFn) of a known frame: name the frame's `self`. */
		const char *parent = w->ancestors[w->depth - 1]->function;
		if (starts_with(parent, "tokio::time::interval::") && strstr(parent, "::tick"))
			wait = decode_interval(w);
		else if (starts_with(parent, "tokio::sync::mpsc::") && strstr(parent, "::recv"))
			wait = decode_mpsc_recv(w);
		else if (t && starts_with(parent, "tokio::net::tcp::stream::") && name_ends_with(parent, "::connect_mio"))
			wait = decode_io(w, t, node->address, "connect"); /* poll_fn(poll_write_ready) */
	}
	if (!wait) {
		wait = new_wait("unknown");
		wait->resource_type = xstrdup(name ? name : "?");
		wait->description = xasprintf("unknown (%s)", name ? name : "?");
	}
	node->wait = wait;
}

/* ---- Held guards ---- */

static bool rwlock_of_guard(struct walker *w, const struct ai_type *gt, uint64_t sem, uint64_t *lock_ret,
			    const struct ai_type **lock_type_ret);

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
		/* { s: &batch_semaphore::Semaphore, .. }: the RwLock is RwLock<T> of the guard's T. */
		const struct ai_type *st;
		if (!read_pointer_path(w, gt, address, "s", &ptr, &st))
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
	const struct ai_type *vt = state_struct(type_of_die(w, node->type_die), node->state);
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

/* Saved locals of the coroutines of a tree that are mpsc Senders of the channel at chan. */
struct own_senders {
	uint64_t seen[16]; /* addresses of the Senders counted (one local can show in two frames) */
	size_t count;
	char names[256];
};

static void count_own_senders(struct walker *w, const struct ai_await_node *node, uint64_t chan,
			      struct own_senders *own, unsigned depth)
{
	if (depth > 4096)
		return;
	const struct ai_type *vt = state_struct(type_of_die(w, node->type_die), node->state);
	if (vt) {
		for (size_t i = 0; i < vt->member_count; i++) {
			const struct ai_member *m = &vt->members[i];
			const struct ai_type *mt = member_type(vt, m);
			if (!m->name || !mt || mt->kind != AI_TYPE_STRUCT)
				continue;
			bool sender = false;
			for (const char *const *p = MPSC_SENDERS; *p && !sender; p++)
				sender = starts_with(qname(mt), *p);
			uint64_t off, data, inner, strong;
			const struct ai_type *arc, *dt;
			if (!sender || !member_path(mt, "chan.inner", &off, &arc) ||
			    !read_arc_ex(w, arc, node->address + m->offset + off, &data, &dt, &inner, &strong) ||
			    data != chan)
				continue;
			bool dup = false;
			for (size_t k = 0; k < own->count && !dup; k++)
				dup = own->seen[k] == node->address + m->offset;
			if (dup || own->count == AI_ARRAY_SIZE(own->seen))
				continue;
			own->seen[own->count++] = node->address + m->offset;
			size_t len = strlen(own->names);
			snprintf(own->names + len, sizeof(own->names) - len, "%s`%s`", len ? ", " : "", m->name);
		}
	}
	for (size_t i = 0; i < node->child_count; i++)
		count_own_senders(w, &node->children[i], chan, own, depth + 1);
}

static struct ai_await_node *chain_leaf(struct ai_await_node *node)
{
	for (unsigned depth = 0; depth < 4096; depth++) {
		if (node->leaf)
			return node;
		if (node->child_count != 1)
			return NULL;
		node = &node->children[0];
	}
	return NULL;
}

/* Evidence that a channel wait cannot end: no sender left, or only the waiting task's own. */
static void channel_warning(struct walker *w, struct ai_snapshot_task *task)
{
	struct ai_await_node *leaf = chain_leaf(&task->tree);
	struct ai_wait *wait = leaf ? leaf->wait : NULL;
	if (!wait)
		return;
	if (strcmp(wait->kind, "oneshot") == 0 && wait->has_sender_alive && !wait->sender_alive) {
		wait->warning = xstrdup("its oneshot Sender was dropped: the receive ends with an error at once "
					"when polled, or never if the task is not woken");
	} else if (strcmp(wait->kind, "mpsc_recv") == 0 && wait->has_senders && wait->address) {
		struct own_senders own = { .count = 0 };
		count_own_senders(w, &task->tree, wait->address, &own, 0);
		wait->senders_own = own.count;
		if (wait->senders_alive == 0)
			wait->warning = xstrdup("every Sender of the channel is gone");
		else if (wait->senders_own >= wait->senders_alive && (!wait->has_messages || wait->messages_queued == 0))
			wait->warning = xasprintf("the only Sender%s of the channel %s held by this task itself (%s): "
						  "it waits for a message it can only send itself",
						  wait->senders_alive == 1 ? "" : "s",
						  wait->senders_alive == 1 ? "is" : "are", own.names);
	}
}

/* Guards of an RwLock name only its semaphore; guard_lock finds RwLock<T> of the guard's T by name
 * in DWARF. When that fails, a waiter on the same semaphore names the RwLock. */
static void rwlock_addresses(struct walker *w, struct ai_snapshot *snapshot)
{
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		for (size_t k = 0; k < task->held_count; k++) {
			struct ai_held *h = &task->held[k];
			/* (only guards whose RwLock<T> was not found in DWARF: bare "RwLock") */
			if (!starts_with(h->kind, "rwlock") || !h->resource_type || strcmp(h->resource_type, "RwLock") != 0)
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
	struct walker *w;
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool contains_u64(const uint64_t *v, size_t n, uint64_t key)
{
	return n && bsearch(&key, v, n, sizeof(*v), cmp_u64) != NULL;
}

static bool is_sender_name(const char *name)
{
	for (const char *const *p = MPSC_SENDERS; *p; p++) {
		if (starts_with(name, *p))
			return true;
	}
	return starts_with(name, ONESHOT_SENDER);
}

static bool is_followed_pointer(const struct ai_type *t)
{
	return t->kind == AI_TYPE_POINTER && starts_with(t->name, "alloc::boxed::Box<");
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
		return may_contain(memo, underlying(pt), depth + 1);
	}
	if (t->kind != AI_TYPE_STRUCT && t->kind != AI_TYPE_ENUM)
		return false;
	unsigned char *slot = memo_slot(memo, t);
	if (*slot == MAY_YES || *slot == MAY_NO || *slot == MAY_BUSY)
		return *slot == MAY_YES;
	const char *name = qname(t);
	bool yes = strcmp(name, ACQUIRE) == 0 || is_sender_name(name) || is_dyn_future(t);
	if (!yes) {
		*slot = MAY_BUSY; /* a recursive type: the inner occurrence counts as no */
		bool pin = starts_with(name, "core::pin::Pin<");
		for (size_t i = 0; i < t->member_count && !yes; i++) {
			const struct ai_type *mt = member_type(t, &t->members[i]);
			if (pin && mt && mt->kind == AI_TYPE_POINTER) {
				const struct ai_type *pt;
				struct ai_error *err = ai_type_target(mt, &pt);
				if (err)
					ai_error_destroy(err);
				else
					yes = may_contain(memo, underlying(pt), depth + 1);
			} else {
				yes = may_contain(memo, mt, depth + 1);
			}
		}
		for (size_t i = 0; i < t->variant_count && !yes; i++)
			yes = may_contain(memo, member_type(t, &t->variants[i].member), depth + 1);
		slot = memo_slot(memo, t); /* (the table may have grown) */
	}
	*slot = yes ? MAY_YES : MAY_NO;
	return yes;
}

/* The active variant of the enum or coroutine value at address (its discriminant read alone). */
static const struct ai_variant *active_variant(struct walker *w, const struct ai_type *t, uint64_t address)
{
	if (!t->has_discr) {
		return t->variant_count == 1 ? &t->variants[0] : NULL;
	}
	const struct ai_type *dt = member_type(t, &t->discr);
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
	if (!member_path(acquire_t, "node", &node_off, &node_t) || !find_nested(node_t, "next", 0, &next_off, &next_t))
		return false;
	for (size_t i = 0; i < sc->waiter_count; i++) {
		if (sc->waiters[i].semaphore != sem || sc->waiters[i].acquire == address)
			continue;
		uint64_t cur = sc->waiters[i].acquire + node_off, next;
		while (*sc->queue_budget > 0) {
			(*sc->queue_budget)--;
			if (!read_uint(sc->w, cur + next_off, 8, &next) || next == 0 || next == cur)
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
	struct walker *w = sc->w;
	uint64_t sem, wanted, queued;
	const struct ai_type *sem_t;
	if (contains_u64(sc->on_tree, sc->on_tree_count, address) || find_unpolled(sc->task, address) ||
	    !read_pointer_path(w, t, address, "semaphore", &sem, &sem_t) ||
	    !read_int_path(w, t, address, "node.state", &wanted) || !read_int_path(w, t, address, "queued", &queued))
		return;
	/* Granted: the semaphore assigned it every permit it asked for (state 0) while queued, and
	 * nobody has polled it since (polling it would have cleared `queued`). Else it counts only
	 * while queued ahead of a task waiting on the same lock: the permits go to it first. */
	if (!(queued & 1) || (wanted != 0 && !queued_ahead(sc, t, address, sem)))
		return;
	struct ai_unpolled *u = ai_snapshot_task_add_unpolled(sc->task);
	u->local = xstrdup(sc->local);
	u->future_type = ai_type_short_name(qname(sc->local_type));
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
	struct walker *w = sc->w;
	const char *name = qname(t);
	uint64_t off, chan = 0, inner, strong;
	const struct ai_type *arc, *ct;
	const char *kind;
	if (starts_with(name, ONESHOT_SENDER)) {
		/* Option<Arc<Inner<T>>>: None once sent or dropped. */
		if (!read_option_arc(w, t, address, "inner", &chan, &ct, &strong))
			return;
		kind = "oneshot_sender";
	} else {
		if (!member_path(t, "chan.inner", &off, &arc) ||
		    !read_arc_ex(w, arc, address + off, &chan, &ct, &inner, &strong))
			return;
		kind = "mpsc_sender";
	}
	if (!contains_u64(sc->channels, sc->channel_count, chan))
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
	const struct ai_type *t = type_of_die(sc->w, node->type_die);
	if (depth > 256 || node->error || !t)
		return;
	if (node->leaf && strcmp(qname(t), ACQUIRE) == 0) {
		found_acquire(sc, t, node->address);
		return;
	}
	const struct ai_type *vt = state_struct(t, node->state);
	for (size_t i = 0; vt && i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		if (m->name && !m->artificial && strcmp(m->name, "__awaitee") != 0)
			scan_value(sc, member_type(vt, m), node->address + m->offset, SCAN_DEPTH / 2);
	}
	for (size_t i = 0; i < node->child_count; i++)
		scan_decoded(sc, &node->children[i], depth + 1);
}

static void scan_value(struct scan *sc, const struct ai_type *t, uint64_t address, unsigned depth)
{
	if (!t || depth > SCAN_DEPTH || sc->budget == 0 || !may_contain(sc->memo, t, 0))
		return;
	sc->budget--;
	struct walker *w = sc->w;
	const char *name = qname(t);
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
	if (t->kind == AI_TYPE_STRUCT && starts_with(name, "core::pin::Pin<") && t->member_count == 1) {
		const struct ai_type *mt = member_type(t, &t->members[0]);
		if (mt && is_dyn_future(mt)) { /* Pin<Box<dyn Future>> */
			scan_value(sc, mt, address + t->members[0].offset, depth + 1);
			return;
		}
	}
	if (t->kind == AI_TYPE_POINTER || starts_with(name, "core::pin::Pin<")) {
		uint64_t ptr;
		const struct ai_type *pt;
		if (deref_wrapped(w, t, address, 0, &ptr, &pt))
			scan_value(sc, pt, ptr, depth + 1);
		return;
	}
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		if (!m->artificial)
			scan_value(sc, member_type(t, m), address + m->offset, depth + 1);
	}
	if (t->kind == AI_TYPE_ENUM) {
		const struct ai_variant *v = active_variant(w, t, address);
		if (v)
			scan_value(sc, member_type(t, &v->member), address + v->member.offset, depth + 1);
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
	const struct ai_type *vt = state_struct(type_of_die(sc->w, node->type_die), node->state);
	for (size_t i = 0; vt && i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		if (!m->name || m->artificial || strcmp(m->name, "__awaitee") == 0)
			continue;
		const struct ai_type *mt = member_type(vt, m);
		if (!mt)
			continue;
		sc->node = node;
		sc->local = m->name;
		sc->local_type = mt;
		scan_value(sc, mt, node->address + m->offset, 0);
	}
	for (size_t i = 0; i < node->child_count; i++)
		scan_tree(sc, &node->children[i], depth + 1);
}

static bool is_lock_kind(const char *kind)
{
	return strcmp(kind, "mutex") == 0 || strcmp(kind, "rwlock") == 0 || strcmp(kind, "semaphore") == 0;
}

/* Searches every task for lock futures granted but not polled, and for the Senders of the
 * channels tasks wait to receive on; only when some task waits on a lock or a channel. */
static void scan_saved(struct walker *w, struct ai_snapshot *snapshot)
{
	uint64_t *channels = NULL;
	size_t channel_count = 0, channel_capacity = 0;
	struct lock_waiter *waiters = NULL;
	size_t waiter_count = 0, waiter_capacity = 0;
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_await_node *leaf = chain_leaf(&snapshot->tasks[i].tree);
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
		qsort(channels, channel_count, sizeof(*channels), cmp_u64);
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
			qsort(on_tree, n, sizeof(*on_tree), cmp_u64);
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

/* The RwLock<T> a guard's `s: &Semaphore` belongs to: T is the guard's own type parameter, and
 * RwLock<T> is found by name in the guard's compilation unit. */
static bool rwlock_of_guard(struct walker *w, const struct ai_type *gt, uint64_t sem, uint64_t *lock_ret,
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
	lt = underlying(lt);
	if (!lt || !member_path(lt, "s", &off, &st) || sem < off)
		return false;
	*lock_ret = sem - off;
	*lock_type_ret = lt;
	return true;
}

void ai_wait_collect(struct ai_async *as, struct ai_snapshot *snapshot)
{
	struct walker w = { .as = as, .mem = as->target->memory, .snapshot = snapshot };
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		w.depth = 0;
		walk(&w, task, &task->tree);
		task->wait = chain_wait(&task->tree);
		channel_warning(&w, task);
	}
	rwlock_addresses(&w, snapshot);
	scan_saved(&w, snapshot);
	/* An exclusive lock whose permit was granted to a future nobody polled yet: no guard of it
	 * can be live, whatever saved locals say. */
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *task = &snapshot->tasks[i];
		for (size_t k = 0; k < task->unpolled_count; k++) {
			if (!task->unpolled[k].granted)
				continue;
			for (size_t j = 0; j < snapshot->task_count; j++) {
				struct ai_snapshot_task *o = &snapshot->tasks[j];
				for (size_t l = 0; l < o->held_count;) {
					if (o->held[l].semaphore == task->unpolled[k].semaphore && is_exclusive(o->held[l].kind))
						drop_held(o, l);
					else
						l++;
				}
			}
		}
	}
	ai_socket_table_deinit(&w.sockets);
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
