/* tokio's channels: mpsc, oneshot, Notify, broadcast, watch; and the evidence that a receive
 * cannot end (no Sender left, or only the waiting task's own). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "tokio_wait.h"

/* ---- Channels ---- */

const char *const TK_MPSC_SENDERS[] = { "tokio::sync::mpsc::bounded::Sender<",
					    "tokio::sync::mpsc::unbounded::UnboundedSender<", NULL };

/* The figures of an mpsc chan::Chan<T, S> at chan: live senders (tx_count), and from its
 * semaphore S (bounded::Semaphore { semaphore, bound }, or (semaphore, bound) in 1.19: slots
 * taken = bound - available;
 * unbounded::Semaphore(AtomicUsize): >> 1 = messages queued). *sem_ret: the bounded channel's
 * batch semaphore, or 0. */
void tk_chan_figures(struct ai_wait_walk *w, const struct ai_type *chan_t, uint64_t chan, struct ai_wait *wait,
			 uint64_t *sem_ret)
{
	uint64_t off, leaf_off, size, v;
	const struct ai_type *t, *st;
	*sem_ret = 0;
	if (ai_wait_find_nested(chan_t, "tx_count", 0, &off, &t) && ai_wait_int_leaf(t, 0, &leaf_off, &size) &&
	    ai_wait_read_uint(w, chan + off + leaf_off, size, &v)) {
		wait->has_senders = true;
		wait->senders_alive = v;
	}
	if (!ai_wait_member_path(chan_t, "semaphore", &off, &st))
		return;
	uint64_t bound, sem_off, available;
	const struct ai_type *bt;
	/* (in 1.19 the bounded semaphore is the tuple (batch_semaphore::Semaphore, bound)) */
	if ((ai_wait_read_int_path(w, st, chan + off, "bound", &bound) &&
	     ai_wait_member_path(st, "semaphore", &sem_off, &bt)) ||
	    (ai_wait_read_int_path(w, st, chan + off, "__1", &bound) &&
	     ai_wait_member_path(st, "__0", &sem_off, &bt) &&
	     strcmp(ai_wait_type_name(bt), "tokio::sync::batch_semaphore::Semaphore") == 0)) {
		wait->has_capacity = true;
		wait->capacity = bound;
		*sem_ret = chan + off + sem_off;
		if (tk_semaphore_available(w, *sem_ret, bt, &available) && available <= bound) {
			wait->has_messages = true;
			wait->messages_queued = bound - available;
		}
	} else if (ai_wait_int_leaf(st, 0, &leaf_off, &size) && ai_wait_read_uint(w, chan + off + leaf_off, size, &v)) {
		wait->has_messages = true;
		wait->messages_queued = v >> 1;
	}
}

/* An Acquire under mpsc::Sender::send / reserve: the `self: &Sender<T>` of an enclosing frame
 * whose channel's semaphore is sem. */
bool tk_decode_mpsc_send(struct ai_wait_walk *w, struct ai_wait *wait, uint64_t sem)
{
	static const char *const senders[] = { "tokio::sync::mpsc::bounded::Sender<", NULL };
	uint64_t sender, off, chan, inner, strong, chan_sem;
	const struct ai_type *st, *arc, *chan_t;
	if (!ai_wait_enclosing_self(w, senders, AI_WAIT_MAX_ANCESTORS, &sender, &st) || !ai_wait_member_path(st, "chan.inner", &off, &arc) ||
	    !ai_wait_read_arc_ex(w, arc, sender + off, &chan, &chan_t, &inner, &strong))
		return false;
	tk_chan_figures(w, chan_t, chan, wait, &chan_sem);
	if (chan_sem != sem)
		return false;
	free(wait->kind);
	wait->kind = xstrdup("mpsc_send");
	wait->address = chan;
	wait->resource_type = ai_type_short_name(ai_wait_type_name(st));
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
struct ai_wait *tk_decode_mpsc_recv(struct ai_wait_walk *w)
{
	static const char *const receivers[] = { "tokio::sync::mpsc::bounded::Receiver<",
						 "tokio::sync::mpsc::unbounded::UnboundedReceiver<", NULL };
	uint64_t rx, off, chan, inner, strong, sem;
	const struct ai_type *rt, *arc, *chan_t;
	if (!ai_wait_enclosing_self(w, receivers, 2, &rx, &rt))
		return NULL;
	struct ai_wait *wait = ai_wait_new("mpsc_recv");
	wait->resource_type = ai_type_short_name(ai_wait_type_name(rt));
	if (!ai_wait_member_path(rt, "chan.inner", &off, &arc) ||
	    !ai_wait_read_arc_ex(w, arc, rx + off, &chan, &chan_t, &inner, &strong)) {
		wait->description = xasprintf("receive on %s, channel not understood", wait->resource_type);
		return wait;
	}
	wait->address = chan;
	tk_chan_figures(w, chan_t, chan, wait, &sem);
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
struct ai_wait *tk_decode_oneshot(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("oneshot");
	wait->resource_type = ai_type_short_name(ai_wait_type_name(t));
	uint64_t inner, strong, state;
	const struct ai_type *it;
	if (!ai_wait_read_option_arc(w, t, address, "inner", &inner, &it, &strong)) {
		wait->description = xasprintf("oneshot receive, channel state not readable (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->address = inner;
	if (ai_wait_read_int_path(w, it, inner, "state", &state)) {
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
struct ai_wait *tk_decode_notified(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("notify");
	wait->resource_type = xstrdup("Notify");
	uint64_t notify;
	const struct ai_type *nt;
	if (!ai_wait_read_pointer_path(w, t, address, "notify", &notify, &nt)) {
		wait->description = xasprintf("notified, Notify not readable (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->address = notify;
	wait->description = xasprintf("notified on Notify @ 0x%" PRIx64, notify);
	return wait;
}

/* ---- broadcast, watch ---- */

/* broadcast::Recv<'_, T> { receiver: &mut Receiver<T> { shared: Arc<Shared<T>>, next }, waiter };
 * Shared { buffer, mask, tail: Mutex<Tail { pos, rx_cnt, closed, waiters }>, num_tx, .. }. */
struct ai_wait *tk_decode_broadcast(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("broadcast");
	uint64_t rx, off, shared, inner, strong, v, next = 0, pos = 0;
	const struct ai_type *rt, *arc, *st, *tail_t;
	if (!ai_wait_read_pointer_path(w, t, address, "receiver", &rx, &rt) || !ai_wait_member_path(rt, "shared", &off, &arc) ||
	    !ai_wait_read_arc_ex(w, arc, rx + off, &shared, &st, &inner, &strong)) {
		wait->resource_type = ai_type_short_name(ai_wait_type_name(t));
		wait->description = xasprintf("broadcast receive, channel not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	char *short_rx = ai_type_short_name(ai_wait_type_name(rt));
	wait->resource_type = xasprintf("broadcast::%s", short_rx); /* not to be taken for mpsc's */
	free(short_rx);
	wait->address = shared;
	if (ai_wait_read_int_path(w, st, shared, "mask", &v)) {
		wait->has_capacity = true;
		wait->capacity = v + 1;
	}
	bool has_next = ai_wait_read_int_path(w, rt, rx, "next", &next);
	if (ai_wait_member_path(st, "tail", &off, &tail_t)) {
		if (has_next && ai_wait_read_nested_int(w, tail_t, shared + off, "pos", &pos) && next <= pos) {
			wait->has_unseen = true;
			wait->unseen = pos - next;
		}
		if (ai_wait_read_nested_int(w, tail_t, shared + off, "closed", &v)) {
			wait->has_closed = true;
			wait->closed = v & 1;
		}
	}
	if (ai_wait_read_int_path(w, st, shared, "num_tx", &v)) {
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
			 ai_wait_plural(wait->senders_alive));
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
struct ai_wait *tk_decode_watch(struct ai_wait_walk *w, uint64_t notify)
{
	static const char *const receivers[] = { "tokio::sync::watch::Receiver<", NULL };
	uint64_t rx, off, shared, inner, strong, nrx_off, state, seen, v;
	const struct ai_type *rt, *arc, *st, *nrx_t;
	if (!ai_wait_enclosing_self(w, receivers, 3, &rx, &rt) || !ai_wait_member_path(rt, "shared", &off, &arc) ||
	    !ai_wait_read_arc_ex(w, arc, rx + off, &shared, &st, &inner, &strong) ||
	    !ai_wait_member_path(st, "notify_rx", &nrx_off, &nrx_t) || notify < shared + nrx_off ||
	    notify >= shared + nrx_off + nrx_t->size)
		return NULL; /* a Notified of something else */
	struct ai_wait *wait = ai_wait_new("watch");
	char *short_rx = ai_type_short_name(ai_wait_type_name(rt));
	wait->resource_type = xasprintf("watch::%s", short_rx);
	free(short_rx);
	wait->address = shared;
	if (ai_wait_read_int_path(w, st, shared, "state", &state) && ai_wait_read_int_path(w, rt, rx, "version", &seen)) {
		wait->has_version = true;
		wait->version = (state & ~1ULL) >> 1;
		wait->seen_version = (seen & ~1ULL) >> 1;
		wait->has_closed = true;
		wait->closed = state & 1;
		wait->has_sender_alive = true;
		wait->sender_alive = !wait->closed;
	}
	/* 1.36+: Sender is Clone and counted; before, the one Sender's drop sets the closed bit. */
	if (ai_wait_read_int_path(w, st, shared, "ref_count_tx", &v)) {
		wait->has_senders = true;
		wait->senders_alive = v;
	}
	char version[96] = "", senders[48] = "";
	if (wait->has_version)
		snprintf(version, sizeof(version), ", version %" PRIu64 ", seen %" PRIu64 " (%s)", wait->version,
			 wait->seen_version, wait->version == wait->seen_version ? "unchanged" : "changed");
	if (wait->has_senders)
		snprintf(senders, sizeof(senders), ", %" PRIu64 " sender%s alive", wait->senders_alive,
			 ai_wait_plural(wait->senders_alive));
	else if (wait->has_closed)
		snprintf(senders, sizeof(senders), ", %s", wait->closed ? "closed" : "sender alive");
	wait->description = xasprintf("changed() on %s @ 0x%" PRIx64 "%s%s", wait->resource_type, shared, version,
				      senders);
	if (wait->has_closed && wait->closed)
		wait->warning = xstrdup("every Sender of the watch channel is gone: changed() ends with an error");
	return wait;
}

/* Saved locals of the coroutines of a tree that are mpsc Senders of the channel at chan. */
struct own_senders {
	uint64_t seen[16]; /* addresses of the Senders counted (one local can show in two frames) */
	size_t count;
	char names[256];
};

static void count_own_senders(struct ai_wait_walk *w, const struct ai_await_node *node, uint64_t chan,
			      struct own_senders *own, unsigned depth)
{
	if (depth > 4096)
		return;
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, node->type_die), node->state);
	if (vt) {
		bool *live = ai_wait_live_locals(w, node, vt);
		for (size_t i = 0; i < vt->member_count; i++) {
			const struct ai_member *m = &vt->members[i];
			const struct ai_type *mt = ai_wait_member_type(vt, m);
			/* A Sender moved away (into another task) or dropped is not this task's. */
			if (!m->name || !mt || mt->kind != AI_TYPE_STRUCT || !live[i])
				continue;
			bool sender = false;
			for (const char *const *p = TK_MPSC_SENDERS; *p && !sender; p++)
				sender = ai_starts_with(ai_wait_type_name(mt), *p);
			uint64_t off, data, inner, strong;
			const struct ai_type *arc, *dt;
			if (!sender || !ai_wait_member_path(mt, "chan.inner", &off, &arc) ||
			    !ai_wait_read_arc_ex(w, arc, node->address + m->offset + off, &data, &dt, &inner, &strong) ||
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
		free(live);
	}
	for (size_t i = 0; i < node->child_count; i++)
		count_own_senders(w, &node->children[i], chan, own, depth + 1);
}

/* Evidence that a channel wait cannot end: no sender left, or only the waiting task's own. */
void tk_channel_warning(struct ai_wait_walk *w, struct ai_snapshot_task *task)
{
	struct ai_await_node *leaf = ai_wait_chain_leaf(&task->tree);
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
