/* What futures-channel's receivers wait for (the futures adapter's leaf_wait): a
 * oneshot::Receiver awaited directly, an mpsc Receiver / UnboundedReceiver through
 * StreamExt::next. Every field is found by its DWARF member name. */
#include <inttypes.h>
#include <string.h>

#include "ai/util.h"
#include "ai/wait.h"
#include "futures.h"

/* oneshot::Receiver { inner: Arc<Inner<T>> }; Inner.complete is set once the Sender sent or
 * was dropped. */
static struct ai_wait *decode_oneshot(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("channel_recv");
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(t));
	uint64_t off, inner, complete;
	const struct ai_type *at, *it;
	if (!ai_wait_member_path(t, "inner", &off, &at) || !ai_wait_read_arc(w, at, address + off, &inner, &it)) {
		wait->description = xasprintf("oneshot recv, channel not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->address = inner;
	if (!ai_wait_read_nested_int(w, it, inner, "complete", &complete)) {
		wait->description = xasprintf("oneshot recv @ 0x%" PRIx64, inner);
	} else if (complete) {
		wait->description = xasprintf("oneshot recv @ 0x%" PRIx64 ", completed (sent, or the Sender "
					      "was dropped)", inner);
	} else {
		wait->has_senders = true;
		wait->senders_alive = 1;
		wait->description = xasprintf("oneshot recv @ 0x%" PRIx64 ", 1 sender alive", inner);
	}
	return wait;
}

/* mpsc::Receiver / UnboundedReceiver { inner: Option<Arc<..Inner<T>>> }; the inner's
 * num_senders counts the live Senders. None once the channel is closed and drained. */
static struct ai_wait *decode_mpsc(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("channel_recv");
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(t));
	uint64_t inner, strong, n;
	const struct ai_type *it;
	if (!ai_wait_read_option_arc(w, t, address, "inner", &inner, &it, &strong)) {
		wait->description = xasprintf("mpsc recv, channel closed or not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	wait->address = inner;
	if (ai_wait_read_nested_int(w, it, inner, "num_senders", &n)) {
		wait->has_senders = true;
		wait->senders_alive = n;
		wait->description = xasprintf("mpsc recv @ 0x%" PRIx64 ", %" PRIu64 " sender%s alive", inner, n,
					      ai_wait_plural(n));
	} else {
		wait->description = xasprintf("mpsc recv @ 0x%" PRIx64, inner);
	}
	return wait;
}

struct ai_wait *ai_futures_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *node)
{
	const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
	const char *name = t ? ai_wait_type_name(t) : NULL;
	if (!name)
		return NULL;
	if (ai_starts_with(name, "futures_channel::oneshot::Receiver<"))
		return decode_oneshot(w, t, node->address);
	if (ai_starts_with(name, "futures_channel::mpsc::Receiver<") ||
	    ai_starts_with(name, "futures_channel::mpsc::UnboundedReceiver<"))
		return decode_mpsc(w, t, node->address);
	return NULL;
}
