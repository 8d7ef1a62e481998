/* What each of tokio's leaf futures waits for: the dispatch of the adapter's leaf_wait, and
 * JoinHandle. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio_wait.h"

/* ---- Join ---- */

/* The task a JoinHandle points to: `raw.ptr.pointer`, or in 1.19 (raw: Option<RawTask>)
 * the pointer of raw's Some. */
bool tk_join_target(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address,
		    uint64_t *header_ret)
{
	const struct ai_type *ht;
	if (ai_wait_read_pointer_path(w, t, address, "raw.ptr.pointer", header_ret, &ht))
		return true;
	uint64_t off;
	const struct ai_type *rt;
	uint8_t bytes[64];
	if (!ai_wait_member_path(t, "raw", &off, &rt) || rt->kind != AI_TYPE_ENUM || !rt->has_size ||
	    rt->size > sizeof(bytes))
		return false;
	struct ai_error *err = ai_memory_read(w->mem, bytes, address + off, rt->size);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	struct tk_loc payload;
	bool has_payload;
	const struct ai_variant *v = tk_variant(rt, bytes, rt->size, &payload, &has_payload);
	return v && v->name && strcmp(v->name, "Some") == 0 && has_payload &&
	       ai_wait_read_pointer_path(w, payload.type, address + off + payload.offset, "ptr.pointer",
					 header_ret, &ht);
}

static struct ai_wait *decode_join(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	struct ai_wait *wait = ai_wait_new("join");
	wait->resource_type = ai_wait_short_resource_name(ai_wait_type_name(t));
	uint64_t header;
	if (!tk_join_target(w, t, address, &header)) {
		wait->description = xasprintf("join, task pointer not understood (%s)", ai_wait_type_name(t));
		return wait;
	}
	ai_wait_set_join_target(w, wait, header);
	return wait;
}

struct ai_wait *tk_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *node)
{
	const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
	const char *name = t ? ai_wait_type_name(t) : node->type;
	struct ai_wait *wait = NULL;
	/* (in 1.19: tokio::time::driver::sleep) */
	if (t && (strcmp(name, "tokio::time::sleep::Sleep") == 0 ||
		  strcmp(name, "tokio::time::driver::sleep::Sleep") == 0))
		wait = tk_decode_sleep(w, t, node->address);
	else if (t && strcmp(name, "tokio::sync::batch_semaphore::Acquire") == 0)
		wait = tk_decode_acquire(w, t, node->address);
	else if (t && ai_starts_with(name, "tokio::runtime::task::join::JoinHandle<"))
		wait = decode_join(w, t, node->address);
	else if (t && ai_starts_with(name, "tokio::sync::oneshot::Receiver<"))
		wait = tk_decode_oneshot(w, t, node->address);
	else if (t && strcmp(name, "tokio::sync::notify::Notified") == 0) {
		uint64_t notify;
		const struct ai_type *nt;
		if (ai_wait_read_pointer_path(w, t, node->address, "notify", &notify, &nt))
			wait = tk_decode_watch(w, notify);
		if (!wait)
			wait = tk_decode_notified(w, t, node->address);
	} else if (t && ai_starts_with(name, "tokio::sync::broadcast::Recv<"))
		wait = tk_decode_broadcast(w, t, node->address);
	else if (t && strcmp(name, "tokio::runtime::io::scheduled_io::Readiness") == 0)
		wait = ai_wait_decode_io(w, &tk_io_rules, t, node->address, tk_readiness_direction(w, t, node->address));
	else if (t && ai_starts_with(name, "tokio::io::util::") && tk_io_util_direction(name))
		wait = ai_wait_decode_io(w, &tk_io_rules, t, node->address, tk_io_util_direction(name));
	else if (w->depth > 0 && w->ancestors[w->depth - 1]->function) {
		/* Leaves that are closures (PollFn) of a known frame: name the frame's `self`. */
		const char *parent = w->ancestors[w->depth - 1]->function;
		if (ai_starts_with(parent, "tokio::time::interval::") && strstr(parent, "::tick"))
			wait = tk_decode_interval(w);
		else if (ai_starts_with(parent, "tokio::sync::mpsc::") && strstr(parent, "::recv"))
			wait = tk_decode_mpsc_recv(w);
		else if (ai_starts_with(parent, "tokio::task::join_set::") && strstr(parent, "::join_next"))
			wait = tk_decode_join_set(w);
		else if (t && ai_starts_with(parent, "tokio::io::driver::registration::") &&
			 ai_wait_name_ends_with(parent, "::readiness"))
			wait = ai_wait_decode_io(w, &tk_io_rules, t, node->address, tk_registration_direction(w)); /* 1.19 */
		else if (t && ai_starts_with(parent, "tokio::net::tcp::stream::") && ai_wait_name_ends_with(parent, "::connect_mio"))
			wait = ai_wait_decode_io(w, &tk_io_rules, t, node->address, "connect"); /* poll_fn(poll_write_ready) */
	}
	return wait;
}

void tk_wait_finish(struct ai_wait_walk *w, struct ai_snapshot *snapshot)
{
	for (size_t i = 0; i < snapshot->task_count; i++)
		tk_channel_warning(w, &snapshot->tasks[i]);
	tk_rwlock_addresses(w, snapshot);
	tk_rwlock_queue(snapshot);
	tk_scan_saved(w, snapshot);
	tk_join_set_members(snapshot);
}
