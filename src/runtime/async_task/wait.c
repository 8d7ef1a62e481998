/* What the leaf futures of the async-task ecosystem wait for (the adapter's leaf_wait):
 * async-io's Timer, async-channel's Recv and Send, event_listener's EventListener; async-lock's
 * Mutex, RwLock and Semaphore futures are wait_locks.c's, I/O wait_io.c's; async-task's Task and
 * async-std's JoinHandle (join); an executor's idle loop. Every field is found by its DWARF member
 * name; a leaf not understood keeps its type in the description. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "ai/wait.h"
#include "async_task.h"

/* The type of Some's payload of an Option<T> enum type, *offset moved to it; the type itself when
 * it is no enum. NULL when it has no Some. */
static const struct ai_type *some_payload(const struct ai_type *t, uint64_t *offset)
{
	t = ai_wait_underlying(t);
	if (!t || t->kind != AI_TYPE_ENUM)
		return t;
	const struct ai_variant *v = ai_type_find_variant(t, "Some");
	const struct ai_type *vt = v ? ai_wait_member_type(t, &v->member) : NULL;
	const struct ai_member *payload = vt ? ai_type_find_member(vt, "__0") : NULL;
	if (!payload)
		return NULL;
	/* (a variant's members count from the start of the enum value) */
	*offset += payload->offset;
	return ai_wait_member_type(vt, payload);
}

/* Timer.when: Option<Instant>; std's Instant is a CLOCK_MONOTONIC Timespec, and None is the
 * niche tv_nsec = 1e9. */
static struct ai_wait *decode_timer(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("sleep");
	uint64_t off, sec_off, nsec_off, leaf_off, size, sec, nsec;
	const struct ai_type *wt, *st, *nt;
	if (!ai_wait_member_path(t, "when", &off, &wt) || !(wt = some_payload(wt, &off)) ||
	    !ai_wait_find_nested(wt, "tv_sec", 4, &sec_off, &st) ||
	    !ai_wait_find_nested(wt, "tv_nsec", 4, &nsec_off, &nt) || !ai_wait_int_leaf(nt, 0, &leaf_off, &size) ||
	    !ai_wait_read_uint(w, address + off + sec_off, st->size, &sec) ||
	    !ai_wait_read_uint(w, address + off + nsec_off + leaf_off, size, &nsec) || nsec > 1000000000ULL ||
	    sec >= (uint64_t)INT64_MAX / 1000000000ULL) {
		wait->description = xasprintf("sleep, deadline not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	if (nsec == 1000000000ULL) {
		wait->description = xstrdup("sleep, never fires (a Timer with no deadline)");
		return wait;
	}
	ai_wait_set_deadline(w, wait, (int64_t)sec * 1000000000LL + (int64_t)nsec);
	return wait;
}

/* The Channel<T> behind the &Receiver / &Sender (member `end`) of a Recv / Send future. */
static bool channel_of(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *end,
		       uint64_t *channel_ret, const struct ai_type **type_ret)
{
	uint64_t off, ref, chan_off;
	const struct ai_type *rt, *et, *ct;
	if (!ai_wait_find_nested(t, end, 4, &off, &rt))
		return false;
	rt = ai_wait_underlying(rt);
	if (!rt || rt->kind != AI_TYPE_POINTER || !ai_wait_read_uint(w, address + off, 8, &ref) || !ref)
		return false;
	if (ai_type_target(rt, &et) || !(et = ai_wait_underlying(et)))
		return false;
	if (!ai_wait_member_path(et, "channel", &chan_off, &ct))
		return false;
	return ai_wait_read_arc(w, ct, ref + chan_off, channel_ret, type_ret);
}

static struct ai_wait *decode_channel(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, bool recv)
{
	struct ai_wait *wait = ai_wait_new(recv ? "channel_recv" : "channel_send");
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(t));
	uint64_t channel, n;
	const struct ai_type *ct;
	if (!channel_of(w, t, address, recv ? "receiver" : "sender", &channel, &ct)) {
		wait->description = xasprintf("%s, channel not understood (%s)", recv ? "recv" : "send",
					      ai_wait_type_name(t));
		return wait;
	}
	wait->address = channel;
	if (recv && ai_wait_read_nested_int(w, ct, channel, "sender_count", &n)) {
		wait->has_senders = true;
		wait->senders_alive = n;
		wait->description = xasprintf("channel recv @ 0x%" PRIx64 ", %" PRIu64 " sender%s alive", channel, n,
					      ai_wait_plural(n));
	} else if (!recv && ai_wait_read_nested_int(w, ct, channel, "receiver_count", &n)) {
		wait->has_receiver_alive = true;
		wait->receiver_alive = n > 0;
		wait->description = xasprintf("channel send @ 0x%" PRIx64 " (full), %" PRIu64 " receiver%s alive",
					      channel, n, ai_wait_plural(n));
	} else {
		wait->description = xasprintf("channel %s @ 0x%" PRIx64, recv ? "recv" : "send", channel);
	}
	return wait;
}

/* event_listener 5's EventListener<T> { listener: Pin<Box<InnerListener<T, Arc<Inner<T>>>>> }:
 * the Event it listens to is the Inner<T> that the listener's `event` Arc points to, the same for
 * every listener of one Event. Waits to be notified, as tokio's Notify::notified. */
static struct ai_wait *decode_event(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("notify");
	uint64_t off, listener, event_off, event;
	const struct ai_type *lt, *it, *et, *dt;
	if (!ai_wait_member_path(t, "listener", &off, &lt) ||
	    !ai_wait_deref_wrapped(w, lt, address + off, 0, &listener, &it) ||
	    !ai_wait_member_path(it, "event", &event_off, &et) ||
	    !ai_wait_read_arc(w, et, listener + event_off, &event, &dt)) {
		wait->description = xasprintf("event listener, event not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->resource_type = xstrdup("Event");
	wait->address = event;
	wait->description = xasprintf("event_listener Event @ 0x%" PRIx64, event);
	return wait;
}

/* async-task's Task<T, M> (what smol::spawn and Executor::spawn return) is `ptr`, a NonNull to
 * the task's header; async-std's JoinHandle<T> wraps one in `handle: Option<Task<T>>`. */
static struct ai_wait *decode_join(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address,
				   bool async_std)
{
	struct ai_wait *wait = ai_wait_new("join");
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(t));
	uint64_t off = 0, ptr_off, header;
	const struct ai_type *tt = t, *pt;
	if (async_std && (!ai_wait_member_path(t, "handle", &off, &tt) || !(tt = some_payload(tt, &off)))) {
		wait->description = xasprintf("join, task not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	if (!ai_wait_member_path(tt, "ptr.pointer", &ptr_off, &pt) || pt->kind != AI_TYPE_POINTER ||
	    !ai_wait_read_uint(w, address + off + ptr_off, 8, &header)) {
		wait->description = xasprintf("join, task pointer not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	if (!header) { /* (None: the handle gave its task away) */
		wait->description = xstrdup("join, the handle holds no task");
		return wait;
	}
	ai_wait_set_join_target(w, wait, header);
	return wait;
}

struct ai_wait *ai_async_task_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *node)
{
	const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
	const char *name = t ? ai_wait_type_name(t) : NULL;
	if (!name)
		return NULL;
	if (strcmp(name, "async_io::Timer") == 0)
		return decode_timer(w, t, node->address);
	if (ai_starts_with(name, "async_channel::Recv<"))
		return decode_channel(w, t, node->address, true);
	if (ai_starts_with(name, "async_channel::Send<"))
		return decode_channel(w, t, node->address, false);
	if (ai_starts_with(name, "async_lock::"))
		return ai_async_task_lock_wait(w, t, node->address);
	if (ai_starts_with(name, "event_listener::EventListener<"))
		return decode_event(w, t, node->address);
	if (ai_starts_with(name, "async_task::task::Task<"))
		return decode_join(w, t, node->address, false);
	if (ai_starts_with(name, "async_std::task::join_handle::JoinHandle<"))
		return decode_join(w, t, node->address, true);
	/* Executor::run's loop on one of the executor's threads (smol's "smol-N"), between tasks */
	if (ai_starts_with(name, "futures_lite::future::PollFn<async_executor::") && strstr(name, "::runnable")) {
		struct ai_wait *wait = ai_wait_new("executor_idle");
		wait->resource_type = xstrdup("async_executor::Executor");
		wait->description = xstrdup("idle: the executor waits for a task to run");
		return wait;
	}
	return ai_async_task_io_wait(w, t, node->address);
}
