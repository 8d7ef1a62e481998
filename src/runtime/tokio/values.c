/* Summaries of tokio's sync types for the value printer (include/ai/value.h's summary hook):
 * a Mutex or RwLock locked or not, a Semaphore's permits, an mpsc channel's queue, capacity
 * and senders, a oneshot's state. Every figure is read by DWARF member name, as the waits read
 * them (wait_locks.c, wait_channels.c); a figure that cannot be read declines the summary and
 * the value prints as the plain struct it is. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/util.h"
#include "tokio_wait.h"

/* batch_semaphore::Semaphore at sem: permits available and the closed bit. */
static bool semaphore_state(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *member,
			    uint64_t *available_ret, bool *closed_ret)
{
	uint64_t off, permits;
	const struct ai_type *st;
	if (!ai_wait_member_path(t, member, &off, &st) ||
	    !ai_wait_read_int_path(w, st, address + off, "permits", &permits))
		return false;
	*available_ret = permits >> 1;
	*closed_ret = permits & 1;
	return true;
}

/* Mutex<T> { s: Semaphore (1 permit), c: UnsafeCell<T> }. */
static bool mutex_summary(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, char **text_ret,
			  const char **inner_ret)
{
	uint64_t available;
	bool closed;
	if (!ai_type_find_member(t, "c") || !semaphore_state(w, t, address, "s", &available, &closed) ||
	    available > 1)
		return false;
	*text_ret = xstrdup(available ? "Mutex(unlocked)" : "Mutex(locked)");
	*inner_ret = "c";
	return true;
}

/* RwLock<T> { mr: max readers, s: Semaphore (mr permits), c }: a reader takes one permit, a
 * writer all of them (a queued writer may hold some already, so readers are not counted). */
static bool rwlock_summary(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, char **text_ret,
			   const char **inner_ret)
{
	uint64_t available, max;
	bool closed;
	if (!ai_type_find_member(t, "c") || !ai_wait_read_int_path(w, t, address, "mr", &max) ||
	    !semaphore_state(w, t, address, "s", &available, &closed) || available > max)
		return false;
	if (available == max)
		*text_ret = xstrdup("RwLock(unlocked)");
	else if (available == 0)
		*text_ret = xstrdup("RwLock(write-locked)");
	else
		*text_ret = xasprintf("RwLock(read-locked, %" PRIu64 " permit%s taken)", max - available,
				      ai_wait_plural(max - available));
	*inner_ret = "c";
	return true;
}

static bool semaphore_summary(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, char **text_ret)
{
	uint64_t available;
	bool closed;
	if (!semaphore_state(w, t, address, "ll_sem", &available, &closed))
		return false;
	*text_ret = xasprintf("Semaphore(%s%" PRIu64 " permit%s)", closed ? "closed, " : "", available,
			      ai_wait_plural(available));
	return true;
}

/* mpsc Sender / Receiver (bounded and unbounded) { chan: Tx / Rx { inner: Arc<Chan<T, S>> } }. */
static bool mpsc_summary(struct ai_wait_walk *w, const char *label, const struct ai_type *t, uint64_t address,
			 char **text_ret)
{
	uint64_t off, chan, inner, strong, sem;
	const struct ai_type *arc, *chan_t;
	if (!ai_wait_member_path(t, "chan.inner", &off, &arc) ||
	    !ai_wait_read_arc_ex(w, arc, address + off, &chan, &chan_t, &inner, &strong))
		return false;
	struct ai_wait figures = { 0 };
	tk_chan_figures(w, chan_t, chan, &figures, &sem);
	if (!figures.has_messages && !figures.has_senders)
		return false;
	uint64_t closed = 0;
	bool has_closed = ai_wait_read_nested_int(w, chan_t, chan, "rx_closed", &closed) && closed <= 1;
	char queued[64] = "", capacity[48] = "", senders[48] = "";
	if (figures.has_messages)
		snprintf(queued, sizeof(queued), "%" PRIu64 " queued", figures.messages_queued);
	if (figures.has_capacity)
		snprintf(capacity, sizeof(capacity), "%scapacity %" PRIu64, *queued ? ", " : "", figures.capacity);
	if (figures.has_senders)
		snprintf(senders, sizeof(senders), "%s%" PRIu64 " sender%s", *queued || *capacity ? ", " : "",
			 figures.senders_alive, ai_wait_plural(figures.senders_alive));
	*text_ret = xasprintf("%s(%s%s%s%s)", label, queued, capacity, senders,
			      has_closed && closed ? ", receiver closed" : "");
	return true;
}

/* The Option<T> inside a oneshot Inner's `value` (through tokio's and core's UnsafeCell): 1 if it
 * is Some, 0 if None, -1 if not read. */
static int oneshot_has_value(struct ai_wait_walk *w, const struct ai_type *it, uint64_t inner)
{
	uint64_t off;
	const struct ai_type *t;
	if (!ai_wait_member_path(it, "value", &off, &t))
		return -1;
	for (int depth = 0; t && t->kind == AI_TYPE_STRUCT && t->member_count >= 1 && depth < 4; depth++) {
		off += t->members[0].offset;
		t = ai_wait_member_type(t, &t->members[0]);
	}
	if (!t || t->kind != AI_TYPE_ENUM || !t->has_size || t->size > 4096)
		return -1;
	uint8_t *bytes = xmalloc(t->size ? t->size : 1);
	const struct ai_variant *v;
	struct ai_error *err = ai_memory_read(w->mem, bytes, inner + off, t->size);
	if (!err)
		err = ai_type_active_variant(t, bytes, t->size, &v);
	free(bytes);
	if (err) {
		ai_error_destroy(err);
		return -1;
	}
	return v->name && strcmp(v->name, "Some") == 0;
}

/* oneshot Sender / Receiver { inner: Option<Arc<Inner<T>>> }; Inner.state: VALUE_SENT = 2 (set by
 * send, and by the Sender's drop with no value), CLOSED = 4 (the receiver closed it). */
static bool oneshot_summary(struct ai_wait_walk *w, const char *label, const struct ai_type *t, uint64_t address,
			    char **text_ret)
{
	uint64_t inner, strong, state;
	const struct ai_type *it;
	if (!ai_type_find_member(t, "inner"))
		return false;
	if (!ai_wait_read_option_arc(w, t, address, "inner", &inner, &it, &strong)) {
		*text_ret = xasprintf("%s(used)", label); /* None: sent, or received and done */
		return true;
	}
	if (!ai_wait_read_int_path(w, it, inner, "state", &state))
		return false;
	const char *what = "empty";
	if (state & 4) {
		what = "closed by the receiver";
	} else if (state & 2) {
		int has = oneshot_has_value(w, it, inner);
		what = has == 1 ? "value sent" : has == 0 ? "sender dropped" : "complete";
	}
	*text_ret = xasprintf("%s(%s)", label, what);
	return true;
}

bool tk_value_summary(struct ai_memory *mem, const struct ai_type *type, uint64_t address, char **text_ret,
		      const char **inner_ret)
{
	static const struct {
		const char *prefix, *label;
		bool oneshot;
	} channels[] = {
		{ "tokio::sync::mpsc::bounded::Sender<", "mpsc::Sender", false },
		{ "tokio::sync::mpsc::bounded::Receiver<", "mpsc::Receiver", false },
		{ "tokio::sync::mpsc::unbounded::UnboundedSender<", "mpsc::UnboundedSender", false },
		{ "tokio::sync::mpsc::unbounded::UnboundedReceiver<", "mpsc::UnboundedReceiver", false },
		{ "tokio::sync::oneshot::Sender<", "oneshot::Sender", true },
		{ "tokio::sync::oneshot::Receiver<", "oneshot::Receiver", true },
	};
	const char *name = ai_wait_type_name(type);
	if (!ai_starts_with(name, "tokio::sync::") || type->kind != AI_TYPE_STRUCT)
		return false;
	struct ai_wait_walk w = { .mem = mem }; /* the readers need only the memory */
	*inner_ret = NULL;
	if (ai_starts_with(name, "tokio::sync::mutex::Mutex<"))
		return mutex_summary(&w, type, address, text_ret, inner_ret);
	if (ai_starts_with(name, "tokio::sync::rwlock::RwLock<"))
		return rwlock_summary(&w, type, address, text_ret, inner_ret);
	if (strcmp(name, "tokio::sync::semaphore::Semaphore") == 0)
		return semaphore_summary(&w, type, address, text_ret);
	for (size_t i = 0; i < AI_ARRAY_SIZE(channels); i++)
		if (ai_starts_with(name, channels[i].prefix))
			return channels[i].oneshot ? oneshot_summary(&w, channels[i].label, type, address, text_ret)
						   : mpsc_summary(&w, channels[i].label, type, address, text_ret);
	return false;
}
