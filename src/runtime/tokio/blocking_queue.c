/* spawn_blocking closures queued in tokio's blocking pool, not started (docs/tokio-layouts.md,
 * "spawn_blocking").
 *
 * A closure submitted while every pool thread is busy (max_blocking_threads reached) waits in the
 * pool's queue: a VecDeque<blocking::pool::Task { task: UnownedTask { raw: RawTask { ptr } }, .. }>
 * in Inner.shared (a Mutex<Shared>, 1.8 to 1.47) or in the Locked variant of Inner.inner_impl
 * (1.54; its opt-in Sharded variant is not read: a warning says so). Every pool thread is inside
 * Inner::run(&self), so its frame's `self` names the pool. Each queued header's vtable gives the
 * closure's type (BlockingTask<F>'s F), as for the running ones (blocking.c). Such a task is of kind
 * "blocking" with no thread and its status from its header (tokio makes it NOTIFIED: "scheduled"). */
#include <inttypes.h>
#include <stdlib.h>

#include "ai/util.h"
#include "ai/wait.h"
#include "tokio.h"

#define RUN_FRAME "tokio::runtime::blocking::pool::Inner::run"
#define MAX_QUEUED (1u << 20)
#define MAX_DEPTH 6
#define MAX_ENUM 4096

struct self_ptr {
	struct tk *tk;
	uint64_t inner;
	const struct ai_type *type;
};

static bool find_self(const struct ai_frame_var *var, void *arg)
{
	struct self_ptr *p = arg;
	if (!var->is_parameter || !var->name || strcmp(var->name, "self") != 0)
		return true;
	const struct ai_type *type, *target;
	struct ai_error *err = ai_types_get(p->tk->as->types, var->type_die, &type);
	if (!err)
		err = ai_type_target(tk_underlying(type), &target);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	uint64_t value;
	if (tk_read_u64(p->tk, var->address, &value) && tk_plausible(value, 8)) {
		p->inner = value;
		p->type = tk_underlying(target);
	}
	return false;
}

/* The member `queue` (a VecDeque) of the value of type t at address, through structs and the
 * active variant of enums: its address and type. *sharded is set on a variant named Sharded. */
static bool find_queue(struct tk *tk, const struct ai_type *t, uint64_t address, unsigned depth,
		       uint64_t *ret, const struct ai_type **type_ret, bool *sharded)
{
	if (!t || depth > MAX_DEPTH)
		return false;
	if (t->kind == AI_TYPE_ENUM) {
		if (!t->has_size || t->size > MAX_ENUM)
			return false;
		uint8_t *bytes = xmalloc(t->size ? t->size : 1);
		struct ai_error *err = tk_read(tk, bytes, address, t->size);
		struct tk_loc payload;
		bool has_payload = false;
		const struct ai_variant *v = err ? NULL : tk_variant(t, bytes, t->size, &payload, &has_payload);
		ai_error_destroy(err);
		free(bytes);
		if (v && v->name && strcmp(v->name, "Sharded") == 0)
			*sharded = true;
		return v && has_payload &&
		       find_queue(tk, tk_underlying(payload.type), address + payload.offset, depth + 1, ret,
				  type_ret, sharded);
	}
	if (t->kind != AI_TYPE_STRUCT && t->kind != AI_TYPE_UNION)
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		const struct ai_type *mt = tk_member_type(t, m);
		if (m->name && strcmp(m->name, "queue") == 0 && mt && mt->name &&
		    ai_starts_with(mt->name, "VecDeque<")) {
			*ret = address + m->offset;
			*type_ret = mt;
			return true;
		}
	}
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		/* (the pool's own state, through tokio's Mutex (a PhantomData, then parking_lot's or
		 * std's), UnsafeCell and the variant's payload: not the thread handles, names or
		 * callbacks) */
		if (m->name && (strcmp(m->name, "shared") == 0 || strcmp(m->name, "inner_impl") == 0 ||
				strcmp(m->name, "mutex") == 0 || strcmp(m->name, "data") == 0 ||
				strcmp(m->name, "value") == 0 || strcmp(m->name, "__0") == 0 ||
				strcmp(m->name, "__1") == 0 ||
				strcmp(m->name, "inner") == 0) &&
		    find_queue(tk, tk_member_type(t, m), address + m->offset, depth + 1, ret, type_ret, sharded))
			return true;
	}
	return false;
}

/* The headers of the tasks in the VecDeque<Task> at address; false when it is not understood. */
static bool queued_headers(struct tk *tk, struct ai_wait_walk *w, const struct ai_type *deque, uint64_t address,
			   uint64_t **ret, size_t *count_ret)
{
	const struct ai_template_param *param = ai_type_find_template_param(deque, "T");
	const struct ai_type *elem = NULL, *buf_type, *raw_type;
	uint64_t head, len, cap, ptr, buf_off, raw_off;
	if (!param || ai_type_resolve(deque, &param->type, &elem) || !(elem = tk_underlying(elem)) ||
	    !elem->has_size || !elem->size ||
	    !ai_wait_read_int_path(w, deque, address, "head", &head) ||
	    !ai_wait_read_int_path(w, deque, address, "len", &len) ||
	    !ai_wait_member_path(deque, "buf", &buf_off, &buf_type) ||
	    !ai_wait_read_nested_int(w, buf_type, address + buf_off, "cap", &cap) ||
	    !ai_wait_deref_wrapped(w, buf_type, address + buf_off, 0, &ptr, &buf_type) ||
	    !ai_wait_find_nested(elem, "raw", 0, &raw_off, &raw_type))
		return false;
	if (len > MAX_QUEUED || (len && (cap == 0 || head >= cap || len > cap)))
		return false;
	uint64_t *headers = len ? xcalloc(len, sizeof(*headers)) : NULL;
	for (uint64_t i = 0; i < len; i++) {
		uint64_t slot = ptr + ((head + i) % cap) * elem->size;
		const struct ai_type *ht;
		if (!ai_wait_read_pointer_path(w, raw_type, slot + raw_off, "ptr.pointer", &headers[i], &ht)) {
			free(headers);
			return false;
		}
	}
	*ret = headers;
	*count_ret = (size_t)len;
	return true;
}

void tk_blocking_queue_collect(struct tk *tk, const struct ai_stack *stacks)
{
	if (!stacks)
		return;
	uint64_t seen[64];
	size_t seen_count = 0;
	struct ai_wait_walk w = { .as = tk->as, .mem = tk->mem, .snapshot = tk->snapshot };
	for (size_t t = 0; t < tk->as->target->thread_count; t++) {
		const struct ai_stack *stack = &stacks[t];
		for (size_t f = 0; f < stack->count; f++) {
			const char *fn = stack->frames[f].location.function;
			if (!fn || strcmp(fn, RUN_FRAME) != 0)
				continue;
			struct self_ptr p = { tk, 0, NULL };
			ai_error_destroy(ai_frame_vars(tk->as, &stack->frames[f], find_self, &p));
			bool again = false;
			for (size_t s = 0; s < seen_count; s++)
				again |= seen[s] == p.inner;
			if (!p.inner || !p.type || again || seen_count == AI_ARRAY_SIZE(seen))
				break;
			seen[seen_count++] = p.inner;
			uint64_t queue;
			const struct ai_type *deque;
			bool sharded = false;
			uint64_t *headers = NULL;
			size_t count = 0;
			if (!find_queue(tk, p.type, p.inner, 0, &queue, &deque, &sharded)) {
				tk_warn(&tk->env, sharded ? "the blocking pool @ 0x%" PRIx64 " has a sharded queue, "
					"which is not read: queued spawn_blocking closures are not listed"
					: "no queue found in the blocking pool @ 0x%" PRIx64 ": queued "
					"spawn_blocking closures are not listed", p.inner);
				break;
			}
			if (!queued_headers(tk, &w, deque, queue, &headers, &count)) {
				tk_warn(&tk->env, "the blocking pool's queue @ 0x%" PRIx64 " (%s) is not understood: "
					"queued spawn_blocking closures are not listed", queue,
					deque->name ? deque->name : "?");
				break;
			}
			for (size_t i = 0; i < count; i++)
				tk_blocking_emit(tk, NULL, NULL, 0, headers[i]);
			free(headers);
			break;
		}
	}
}
