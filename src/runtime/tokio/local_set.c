/* tokio's LocalSets: the tasks of spawn_local (docs/tokio-layouts.md, "LocalSet").
 *
 * A LocalSet owns its tasks in a LocalOwnedTasks<Arc<Shared>>, laid out as OwnedTasks was up to
 * 1.34 (an id, one linked list through the tasks' Trailers), so owned_tasks.c's walk walks it
 * as a runtime of its own (tk_runtime.local): its identity is the list's address, its tasks' S is
 * Arc<tokio::task::local::Shared>. Where it is: LocalSet.context, an Rc<Context> (1.24+) or the
 * Context itself (before), then Context.shared -> Shared.local_state.owned (1.24+),
 * Context.owned (1.9 to 1.23), or before 1.9 a plain list in Context.tasks (walked as a worker's
 * list of that time, named by the set's Shared).
 *
 * Nothing points to a LocalSet from a global while its thread is parked (the thread-local
 * CURRENT is set only during a poll), so LocalSets are found in the threads' stacks: a variable
 * of type LocalSet, &LocalSet or RunUntil<F> (whose local_set is the &LocalSet) in a frame of
 * tokio's LocalSet code or of a tokio block_on; and inside the futures those block_on frames
 * drive (a `LocalSet::run_until` coroutine's `self`, a user coroutine's saved local of type
 * LocalSet, a RunUntil among the awaitees), found by decoding the future's await tree. */
#include <inttypes.h>
#include <stdlib.h>

#include "ai/util.h"
#include "tokio.h"

#define LS_MAX_DEREF 3      /* pointers and Pins followed from a variable */
#define LS_MAX_FUTURES 64   /* futures decoded per snapshot in the search */

struct ls_search {
	struct tk *tk;
	uint64_t decoded[LS_MAX_FUTURES]; /* futures already searched, by address */
	size_t decoded_count;
};

/* tokio's own type of that qualified name (cheap checks first: a qualified name costs an index
 * of the type's unit, once). */
static bool is_tokio_type(const struct ai_type *type, const char *name, const char *qualified,
			  bool prefix, enum tk_field field)
{
	struct tk_loc loc;
	if (type->kind != AI_TYPE_STRUCT || !type->name ||
	    (prefix ? strncmp(type->name, name, strlen(name)) : strcmp(type->name, name)) != 0 ||
	    !tk_field_quiet(field, type, &loc))
		return false;
	const char *q = ai_type_qualified_name(type);
	return q && (prefix ? strncmp(q, qualified, strlen(qualified)) : strcmp(q, qualified)) == 0;
}

static bool is_local_set(const struct ai_type *type)
{
	return is_tokio_type(type, "LocalSet", "tokio::task::local::LocalSet", false,
			     TK_LOCAL_SET_CONTEXT);
}

static bool is_run_until(const struct ai_type *type)
{
	return is_tokio_type(type, "RunUntil<", "tokio::task::local::RunUntil<", true,
			     TK_RUN_UNTIL_LOCAL_SET);
}

/* A LocalOwnedTasks at owned_address as a runtime; arc_inner is its tasks' Core.scheduler. */
static struct tk_runtime *add_local_list(struct tk *tk, uint64_t owned_address,
					 const struct ai_type *owned_type, uint64_t arc_inner)
{
	if (tk_find_runtime(tk, owned_address) || tk->runtime_count >= TK_MAX_RUNTIMES)
		return NULL;
	size_t layout;
	tk_owned_layout_of(tk, tk_underlying(owned_type), &layout);
	AI_GROW(tk->runtimes, tk->runtime_capacity, tk->runtime_count + 1);
	struct tk_runtime *rt = &tk->runtimes[tk->runtime_count++];
	*rt = (struct tk_runtime){
		.owned = owned_address,
		.arc_inner = arc_inner,
		.flavor = "local_set",
		.layout = layout,
		.from_frame = true, /* a stale variable gives no list: dropped quietly */
		.local = true,
	};
	return rt;
}

/* The LocalOwnedTasks of the LocalSet at address (of DWARF type `type`) as a runtime. */
static void add_local_set(struct tk *tk, const struct ai_type *type, uint64_t address)
{
	struct tk_loc ctx, owned, shared;
	if (!tk_plausible(address, 8) || !tk_field(&tk->env, TK_LOCAL_SET_CONTEXT, type, &ctx))
		return;
	uint64_t context = address + ctx.offset;
	const struct ai_type *context_type = ctx.type;
	struct tk_loc rc;
	if (tk_field_quiet(TK_RC_POINTER, ctx.type, &rc)) {
		/* 1.24+: Rc<Context> -> RcInner<Context>.value */
		const struct ai_type *inner;
		struct tk_loc value;
		uint64_t pointer;
		struct ai_error *err = rc.type->kind == AI_TYPE_POINTER ? ai_type_target(rc.type, &inner)
								      : NULL;
		if (err || rc.type->kind != AI_TYPE_POINTER) {
			ai_error_destroy(err);
			return;
		}
		if (!tk_read_u64(tk, context + rc.offset, &pointer) || !tk_plausible(pointer, 8) ||
		    !tk_field(&tk->env, TK_RC_INNER_VALUE, tk_underlying(inner), &value))
			return;
		context = pointer + value.offset;
		context_type = value.type;
	}
	if (!tk_field(&tk->env, TK_LOCAL_CONTEXT_SHARED, context_type, &shared))
		return;
	uint64_t arc_inner = 0, owned_address;
	const struct ai_type *owned_type;
	tk_read_u64(tk, context + shared.offset, &arc_inner); /* (0: not checked) */
	if (tk_field_quiet(TK_LOCAL_CONTEXT_TASKS, context_type, &owned)) {
		/* before 1.9: a plain list, named by the set's Shared */
		uint64_t data;
		const struct ai_type *data_type;
		if (!tk_arc_data(tk, shared.type, context + shared.offset, &data, &data_type))
			return;
		bool known = tk_find_runtime(tk, data) != NULL;
		tk_add_core_list(tk, data_type, data, "local_set", owned.type, context + owned.offset, 0);
		struct tk_runtime *rt = tk_find_runtime(tk, data);
		if (rt && !known) {
			rt->local = true;
			rt->from_frame = true;
		}
		return;
	}
	if (tk_field_quiet(TK_LOCAL_CONTEXT_OWNED, context_type, &owned)) {
		owned_address = context + owned.offset; /* before 1.24 */
		owned_type = owned.type;
	} else {
		uint64_t data;
		const struct ai_type *data_type;
		if (!tk_arc_data(tk, shared.type, context + shared.offset, &data, &data_type) ||
		    !tk_field(&tk->env, TK_LOCAL_SHARED_OWNED, data_type, &owned))
			return;
		owned_address = data + owned.offset;
		owned_type = owned.type;
	}
	add_local_list(tk, owned_address, owned_type, arc_inner);
}

static void from_value(struct ls_search *s, const struct ai_type *type, uint64_t address, int depth);

/* The LocalSets an await tree's nodes hold: RunUntil nodes, and the variables of every
 * coroutine's active state (run_until's `self`, a user's `local: LocalSet`). */
static void from_tree(struct ls_search *s, const struct ai_await_node *node, int depth)
{
	struct tk *tk = s->tk;
	const struct ai_type *type;
	if (depth > 64)
		return;
	type = NULL;
	if (node->type_die && node->address) {
		struct ai_error *err = ai_types_get(tk->as->types, node->type_die, &type);
		if (err) {
			ai_error_destroy(err);
			type = NULL;
		}
	}
	if (type) {
		type = tk_underlying(type);
		if (is_run_until(type) || is_local_set(type)) {
			from_value(s, type, node->address, LS_MAX_DEREF);
		} else if (ai_type_is_coroutine(type) && type->has_size && type->size <= 65536) {
			uint8_t *bytes = xmalloc(type->size);
			struct ai_error *err = tk_read(tk, bytes, node->address, type->size);
			const struct ai_variant *v = NULL;
			if (!err)
				err = ai_type_active_variant(type, bytes, type->size, &v);
			const struct ai_type *fields = v ? tk_member_type(type, &v->member) : NULL;
			for (size_t i = 0; fields && i < fields->member_count; i++) {
				const struct ai_type *mt = tk_member_type(fields, &fields->members[i]);
				/* LocalSet or &LocalSet only: no deeper decoding here */
				if (mt && (is_local_set(mt) || mt->kind == AI_TYPE_POINTER))
					from_value(s, mt, node->address + v->member.offset +
							      fields->members[i].offset, LS_MAX_DEREF - 1);
			}
			ai_error_destroy(err);
			free(bytes);
		}
	}
	for (size_t i = 0; i < node->child_count; i++)
		from_tree(s, &node->children[i], depth + 1);
}

/* A value that is, or leads to, a LocalSet: LocalSet, a pointer or Pin to one, RunUntil<F>,
 * or a coroutine to search (depth counts down the pointers still followed). */
static void from_value(struct ls_search *s, const struct ai_type *type, uint64_t address, int depth)
{
	struct tk *tk = s->tk;
	type = tk_underlying(type);
	if (!tk_plausible(address, 1))
		return;
	if (is_local_set(type)) {
		add_local_set(tk, type, address);
		return;
	}
	struct tk_loc loc;
	if (is_run_until(type) && tk_field(&tk->env, TK_RUN_UNTIL_LOCAL_SET, type, &loc)) {
		from_value(s, loc.type, address + loc.offset, depth);
		return;
	}
	if (type->kind == AI_TYPE_POINTER && depth > 0) {
		const struct ai_type *target;
		uint64_t pointer;
		struct ai_error *err = ai_type_target(type, &target);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		target = tk_underlying(target);
		/* only pointers to what can lead to a LocalSet (not every &T of a frame); a
		 * pointer to a pointer: pin-project's `local_set: &mut &LocalSet` */
		if ((is_local_set(target) || is_run_until(target) || ai_type_is_coroutine(target) ||
		     target->kind == AI_TYPE_POINTER) &&
		    tk_read_u64(tk, address, &pointer) && tk_plausible(pointer, 8))
			from_value(s, target, pointer, depth - 1);
		return;
	}
	if (type->kind == AI_TYPE_STRUCT && type->name && strncmp(type->name, "Pin<", 4) == 0 &&
	    type->member_count == 1) {
		const struct ai_type *inner = tk_member_type(type, &type->members[0]);
		if (inner)
			from_value(s, inner, address + type->members[0].offset, depth);
		return;
	}
	if (ai_type_is_coroutine(type)) {
		for (size_t i = 0; i < s->decoded_count; i++)
			if (s->decoded[i] == address)
				return;
		if (s->decoded_count >= LS_MAX_FUTURES)
			return;
		s->decoded[s->decoded_count++] = address;
		struct ai_await_node tree;
		memset(&tree, 0, sizeof(tree));
		ai_await_decode(tk->as, address, type, &tree);
		from_tree(s, &tree, 0);
		ai_await_node_deinit(&tree);
	}
}

static bool frame_var(const struct ai_frame_var *var, void *arg)
{
	struct ls_search *s = arg;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(s->tk->as->types, var->type_die, &type);
	if (err) {
		ai_error_destroy(err);
		return true;
	}
	from_value(s, type, var->address, LS_MAX_DEREF);
	return true;
}

/* tokio's LocalSet code (LocalSet::block_on's self, RunUntil::poll's self...) and the block_on
 * frames of every runtime (the future they drive: a LocalSet can be run by any executor). */
static bool searched_frame(const char *function)
{
	if (!function)
		return false;
	return strncmp(function, "tokio::task::local::", strlen("tokio::task::local::")) == 0 ||
	       ai_runtime_of_block_on(function) != NULL;
}

void tk_local_sets_from_stacks(struct tk *tk, const struct ai_stack *stacks)
{
	if (!stacks)
		return;
	struct ls_search *s = xcalloc(1, sizeof(*s));
	s->tk = tk;
	for (size_t t = 0; t < tk->as->target->thread_count; t++) {
		const struct ai_stack *stack = &stacks[t];
		for (size_t f = 0; f < stack->count; f++) {
			if (!searched_frame(stack->frames[f].location.function))
				continue;
			struct ai_error *err = ai_frame_vars(tk->as, &stack->frames[f], frame_var, s);
			ai_error_destroy(err); /* a frame we cannot read: others may do */
		}
	}
	free(s);
}

/* A vtable of tasks whose S is Arc<tokio::task::local::Shared>. */
static bool local_vtable(struct tk *tk, struct tk_vtable *vt)
{
	struct tk_loc ptr, data;
	const struct ai_type *inner;
	if (!vt->valid || !vt->scheduler || !vt->has_scheduler ||
	    !tk_field_quiet(TK_ARC_POINTER, vt->scheduler, &ptr) || ptr.type->kind != AI_TYPE_POINTER)
		return false;
	struct ai_error *err = ai_type_target(ptr.type, &inner);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (!tk_field_quiet(TK_ARC_INNER_DATA, tk_underlying(inner), &data) || !data.type->name ||
	    strcmp(data.type->name, "Shared") != 0)
		return false;
	const char *name = ai_type_qualified_name(data.type);
	return name && strcmp(name, "tokio::task::local::Shared") == 0;
}

void tk_local_sets_from_scan(struct tk *tk)
{
	for (size_t i = 0; i < tk->runtime_count; i++)
		if (tk->runtimes[i].local)
			return;
	if (tk->exited)
		return;
	uint64_t *headers;
	size_t count = tk_scan_headers_of(tk, local_vtable, &headers);
	size_t found = 0;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *cell;
		struct tk_vtable *vt = tk_check_candidate(tk, headers[i], &cell);
		uint64_t data, arc_inner = vt ? tk_get_u64(cell, vt->scheduler_offset) : 0;
		const struct ai_type *data_type;
		struct tk_loc owned;
		/* Core.scheduler: the set's Arc<Shared> (1.24+: Shared holds the list) */
		if (vt && tk_arc_data(tk, vt->scheduler, headers[i] + vt->scheduler_offset, &data,
				      &data_type) &&
		    tk_field_quiet(TK_LOCAL_SHARED_OWNED, data_type, &owned) &&
		    add_local_list(tk, data + owned.offset, owned.type, arc_inner))
			found++;
	}
	free(headers);
	if (found)
		tk_warn(&tk->env, "tasks of %zu LocalSet%s found by scanning memory: no thread's stack "
			"holds %s", found, found == 1 ? "" : "s", found == 1 ? "it" : "them");
}
