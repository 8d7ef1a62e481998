/* tokio's timers: Sleep (and Timeout's), Interval's tick. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "tokio_wait.h"

/* The deadline of a Sleep: `deadline` (1.54), `entry.deadline` (1.38, 1.47), `inner.deadline` (1.24),
 * an Instant whose Timespec has tv_sec and tv_nsec. */
bool tk_sleep_deadline(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, int64_t *ns_ret)
{
	static const char *const paths[] = { "deadline", "entry.deadline", "inner.deadline" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(paths); i++) {
		uint64_t off, sec_off, nsec_off, leaf_off, size;
		const struct ai_type *it, *st, *nt;
		if (!ai_wait_member_path(t, paths[i], &off, &it))
			continue;
		if (!ai_wait_find_nested(it, "tv_sec", 0, &sec_off, &st) || !ai_wait_find_nested(it, "tv_nsec", 0, &nsec_off, &nt))
			return false;
		uint64_t sec, nsec;
		if (!ai_wait_read_uint(w, address + off + sec_off, st->size, &sec) || !ai_wait_int_leaf(nt, 0, &leaf_off, &size) ||
		    !ai_wait_read_uint(w, address + off + nsec_off + leaf_off, size, &nsec) || nsec >= 1000000000ULL)
			return false;
		/* Garbage (a Sleep read while its task ran, a stale variant) must not overflow. */
		if (sec >= (uint64_t)INT64_MAX / 1000000000ULL)
			return false;
		*ns_ret = (int64_t)sec * 1000000000LL + (int64_t)nsec;
		return true;
	}
	return false;
}

struct ai_wait *tk_decode_sleep(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	bool in_timeout = false;
	if (w->depth > 0) {
		const struct ai_await_node *parent = w->ancestors[w->depth - 1];
		in_timeout = ai_starts_with(parent->type, "tokio::time::timeout::Timeout<");
	}
	struct ai_wait *wait = ai_wait_new(in_timeout ? "timeout" : "sleep");
	int64_t deadline;
	if (!tk_sleep_deadline(w, t, address, &deadline)) {
		wait->description = xasprintf("%s, deadline not understood (%s)", wait->kind, ai_wait_type_name(t));
		return wait;
	}
	ai_wait_set_deadline(w, wait, deadline);
	return wait;
}

/* Interval::tick: the `self: &mut Interval` of the tick frame; Interval.delay is a Pin<Box<Sleep>>. */
struct ai_wait *tk_decode_interval(struct ai_wait_walk *w)
{
	static const char *const intervals[] = { "tokio::time::interval::Interval", NULL };
	uint64_t iv, off, sleep;
	const struct ai_type *it, *dt, *st;
	if (!ai_wait_enclosing_self(w, intervals, 2, &iv, &it))
		return NULL;
	struct ai_wait *wait = ai_wait_new("interval");
	wait->resource_type = xstrdup("Interval");
	wait->address = iv;
	int64_t deadline;
	if (!ai_wait_member_path(it, "delay", &off, &dt) || !ai_wait_deref_wrapped(w, dt, iv + off, 0, &sleep, &st) ||
	    !tk_sleep_deadline(w, st, sleep, &deadline)) {
		wait->description = xasprintf("interval tick, deadline not understood (%s)", ai_wait_type_name(it));
		return wait;
	}
	ai_wait_set_deadline(w, wait, deadline);
	return wait;
}
