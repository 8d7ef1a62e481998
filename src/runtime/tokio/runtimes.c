/* tokio's runtimes: from each thread's CONTEXT, then from the handles that stack frames of
 * tokio's own functions hold; the walk plan of each OwnedTasks type and, before 1.9, the lists
 * of the workers. Part of the collection of tasks.c. */
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"
#include "tasks_internal.h"

/* ---- Runtimes ---- */

const char *tk_flavor_of(const char *name)
{
	if (!name)
		return NULL;
	if (strstr(name, "current_thread"))
		return "current_thread";
	if (strstr(name, "multi_thread"))
		return "multi_thread";
	/* before 1.22: runtime::basic_scheduler, runtime::thread_pool */
	if (strstr(name, "basic_scheduler"))
		return "current_thread";
	if (strstr(name, "thread_pool"))
		return "multi_thread";
	return NULL;
}

bool tk_match_header(const struct ai_type *type, const void *arg)
{
	return type->name && strcmp(type->name, TK_NAME_HEADER) == 0 &&
	       (type->kind == AI_TYPE_STRUCT);
}

/* Header and Vtable, from the Header type the lists point to. */
bool tk_resolve_header(struct tk *tk, const struct ai_type *header)
{
	if (tk->header_tried)
		return tk->header_ok;
	tk->header_tried = true;
	struct tk_loc state, vtable, owner_id, poll, off;
	if (!header->has_size || !tk_field(&tk->env, TK_HEADER_STATE, header, &state) ||
	    !tk_field(&tk->env, TK_HEADER_VTABLE, header, &vtable))
		return false;
	tk->header_size = header->size;
	tk->header_state = state.offset;
	tk->header_vtable = vtable.offset;
	/* (no owner id before 1.9: the lists are the workers' own) */
	tk->has_owner_id = tk->per_core ? tk_field_quiet(TK_HEADER_OWNER_ID, header, &owner_id)
					: tk_field(&tk->env, TK_HEADER_OWNER_ID, header, &owner_id);
	tk->owner_id = owner_id.offset;
	struct tk_loc next, prev;
	if (tk_field_quiet(TK_HEADER_NEXT, header, &next)) {
		/* before 1.23: the list links are the Header's, not the Trailer's */
		tk->links_in_header = true;
		tk->next = next.offset;
		if ((tk->has_prev = tk_field_quiet(TK_HEADER_PREV, header, &prev)))
			tk->prev = prev.offset;
	}
	const struct ai_type *vt = NULL;
	struct ai_error *err = vtable.type->kind == AI_TYPE_POINTER
				       ? ai_type_target(vtable.type, &vt) : NULL;
	if (err || !vt) {
		ai_error_destroy(err);
		tk_warn(&tk->env, "%s.vtable is not a pointer", tk_fields[TK_HEADER_VTABLE].owner);
		return false;
	}
	vt = tk_underlying(vt);
	if (!vt->has_size || vt->size > 4096 || !tk_field(&tk->env, TK_VTABLE_POLL, vt, &poll))
		return false;
	tk->vtable_size = vt->size;
	tk->poll = poll.offset;
	/* The offsets arrived in 1.23; before, DWARF's Cell<T, S> alone gives them (a vtable
	 * without either is warned about when resolved). */
	if ((tk->has_vt_trailer = tk_field_quiet(TK_VTABLE_TRAILER_OFFSET, vt, &off)))
		tk->vt_trailer = off.offset;
	if ((tk->has_vt_scheduler = tk_field_quiet(TK_VTABLE_SCHEDULER_OFFSET, vt, &off)))
		tk->vt_scheduler = off.offset;
	if ((tk->has_vt_id = tk_field_quiet(TK_VTABLE_ID_OFFSET, vt, &off)))
		tk->vt_id = off.offset;
	tk->header_ok = true;
	return true;
}

static void list_layout(struct tk *tk, struct tk_owned_layout *l, const struct ai_type *list);

/* The walk plan of an OwnedTasks<S> type, resolved once per type. */
struct tk_owned_layout *tk_owned_layout_of(struct tk *tk, const struct ai_type *owned,
					    size_t *index_ret)
{
	for (size_t i = 0; i < tk->layout_count; i++) {
		if (tk->layouts[i].type == owned) {
			*index_ret = i;
			return &tk->layouts[i];
		}
	}
	AI_GROW(tk->layouts, tk->layout_capacity, tk->layout_count + 1);
	*index_ret = tk->layout_count;
	struct tk_owned_layout *l = &tk->layouts[tk->layout_count++];
	memset(l, 0, sizeof(*l));
	l->type = owned;
	const struct ai_template_param *s = ai_type_find_template_param(owned, "S");
	if (s && ai_type_resolve(owned, &s->type, &l->scheduler))
		l->scheduler = NULL;
	struct tk_loc loc, list;
	const struct ai_type *list_owner; /* where the LinkedList is looked for */
	if ((l->has_id = tk_field(&tk->env, TK_OWNED_ID, owned, &loc)))
		l->id = loc.offset;
	if (ai_type_find_member(owned, "list")) {
		/* 1.35+: ShardedList { lists: Box<[Mutex<LinkedList>]>, count, shard_mask } */
		struct tk_loc data, length;
		if (!tk_field(&tk->env, TK_OWNED_LISTS, owned, &loc) ||
		    !tk_field(&tk->env, TK_SLICE_DATA, loc.type, &data) ||
		    !tk_field(&tk->env, TK_SLICE_LENGTH, loc.type, &length))
			return l;
		const struct ai_type *shard = NULL;
		struct ai_error *err = data.type->kind == AI_TYPE_POINTER
					       ? ai_type_target(data.type, &shard) : NULL;
		if (err || !shard || !(shard = tk_underlying(shard))->has_size || !shard->size) {
			ai_error_destroy(err);
			tk_warn(&tk->env, "the shards of %s have no type",
				tk_fields[TK_OWNED_LISTS].owner);
			return l;
		}
		l->sharded = true;
		l->lists_data = loc.offset + data.offset;
		l->lists_length = loc.offset + length.offset;
		l->stride = shard->size;
		list_owner = shard;
		if ((l->has_count = tk_field(&tk->env, TK_OWNED_COUNT, owned, &loc)))
			l->count = loc.offset;
	} else if (tk_field_quiet(TK_OWNED_INNER, owned, &loc)) {
		/* up to 1.34: inner: Mutex<OwnedTasksInner { list, closed }> */
		list_owner = loc.type;
		l->list = loc.offset;
	} else {
		tk_warn(&tk->env, "%s has neither `list` (1.35+) nor `inner` (up to 1.34)",
			tk_fields[TK_OWNED_LISTS].owner);
		return l;
	}
	if (!tk_find_within(list_owner, tk_match_prefix, TK_NAME_LINKED_LIST, &list)) {
		tk_warn(&tk->env, "no tokio::util::linked_list::LinkedList in %s",
			list_owner->name ? list_owner->name : "OwnedTasks");
		return l;
	}
	l->list += list.offset;
	list_layout(tk, l, list.type);
	return l;
}

/* The LinkedList part of a walk plan: head, tail, and the Header they point to. */
static void list_layout(struct tk *tk, struct tk_owned_layout *l, const struct ai_type *list)
{
	struct tk_loc head, tail;
	if (!tk_field(&tk->env, TK_LIST_HEAD, list, &head))
		return;
	l->head = head.offset;
	if ((l->has_tail = tk_field(&tk->env, TK_LIST_TAIL, list, &tail)))
		l->tail = tail.offset;
	const struct ai_type *header = tk_find_pointee(head.type, tk_match_header, NULL);
	if (!header) {
		tk_warn(&tk->env, "%s.head does not point to a tokio::runtime::task::core::Header",
			tk_fields[TK_LIST_HEAD].owner);
		return;
	}
	l->ok = tk_resolve_header(tk, header);
}

/* The walk plan of a plain LinkedList<Task<S>, Header> (before 1.9), resolved once per type. */
static size_t core_list_layout(struct tk *tk, const struct ai_type *list)
{
	for (size_t i = 0; i < tk->layout_count; i++)
		if (tk->layouts[i].type == list)
			return i;
	AI_GROW(tk->layouts, tk->layout_capacity, tk->layout_count + 1);
	struct tk_owned_layout *l = &tk->layouts[tk->layout_count];
	memset(l, 0, sizeof(*l));
	l->type = list;
	tk->per_core = true;
	list_layout(tk, l, list);
	return tk->layout_count++;
}

/* The T of an Arc<T> value at address: where it is and its type. */
bool tk_arc_data(struct tk *tk, const struct ai_type *arc_type, uint64_t address,
		     uint64_t *data_ret, const struct ai_type **type_ret)
{
	struct tk_loc ptr, data;
	const struct ai_type *inner;
	uint64_t arc_inner;
	if (!tk_field(&tk->env, TK_ARC_POINTER, arc_type, &ptr) || ptr.type->kind != AI_TYPE_POINTER ||
	    !tk_read_u64(tk, address + ptr.offset, &arc_inner) || !tk_plausible(arc_inner, 8))
		return false;
	struct ai_error *err = ai_type_target(ptr.type, &inner);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (!tk_field(&tk->env, TK_ARC_INNER_DATA, tk_underlying(inner), &data))
		return false;
	*data_ret = arc_inner + data.offset;
	*type_ret = data.type;
	return true;
}

struct tk_runtime *tk_find_runtime(struct tk *tk, uint64_t owned)
{
	for (size_t i = 0; i < tk->runtime_count; i++)
		if (tk->runtimes[i].owned == owned)
			return &tk->runtimes[i];
	return NULL;
}

/* A runtime before 1.9, named by its scheduler's Shared (at shared, of DWARF type shared_type);
 * its lists are added by add_core_list. */
static struct tk_runtime *add_per_core_runtime(struct tk *tk, const struct ai_type *shared_type,
					       uint64_t shared, const char *flavor)
{
	struct tk_runtime *rt = tk_find_runtime(tk, shared);
	if (rt || tk->runtime_count >= TK_MAX_RUNTIMES)
		return rt && rt->per_core ? rt : NULL;
	uint64_t workers = 0;
	struct tk_loc remotes;
	if (tk_field_quiet(TK_SHARED_REMOTES, shared_type, &remotes)) {
		if (!tk_read_u64(tk, shared + remotes.offset, &workers) || workers > TK_MAX_SHARDS)
			workers = 0;
	} else if (flavor && strcmp(flavor, "current_thread") == 0) {
		workers = 1;
	}
	AI_GROW(tk->runtimes, tk->runtime_capacity, tk->runtime_count + 1);
	rt = &tk->runtimes[tk->runtime_count++];
	*rt = (struct tk_runtime){
		.owned = shared,
		.flavor = flavor,
		.layout = SIZE_MAX,
		.per_core = true,
		.workers = workers,
	};
	return rt;
}

/* One worker's list of tasks (before 1.9): the LinkedList at list, of DWARF type list_type. */
void tk_add_core_list(struct tk *tk, const struct ai_type *shared_type, uint64_t shared,
		      const char *flavor, const struct ai_type *list_type, uint64_t list, uint64_t worker)
{
	struct tk_runtime *rt = add_per_core_runtime(tk, shared_type, shared, flavor);
	if (!rt || !tk_plausible(list, 8))
		return;
	for (size_t i = 0; i < rt->list_count; i++)
		if (rt->lists[i].address == list || rt->lists[i].worker == worker)
			return;
	if (rt->layout == SIZE_MAX)
		rt->layout = core_list_layout(tk, tk_underlying(list_type));
	AI_GROW(rt->lists, rt->list_capacity, rt->list_count + 1);
	rt->lists[rt->list_count++] = (struct tk_core_list){ list, worker };
}

/* The scheduler Context of a scoped thread-local before 1.9 (the `t: &Context` of
 * ScopedKey<Context>::set): a worker's, whose Core (while it parks or polls a task) holds its
 * tasks, or the basic scheduler's, which holds them itself. Quiet when the Context is another
 * version's (1.9+ Cores have no list). */
static void runtime_from_context(struct tk *tk, const struct ai_type *type, uint64_t address)
{
	struct tk_loc loc, arc;
	uint64_t shared, data;
	const struct ai_type *shared_type, *data_type;
	if (tk_field_quiet(TK_BASIC_CONTEXT_TASKS, type, &loc) &&
	    tk_field_quiet(TK_BASIC_CONTEXT_SHARED, type, &arc)) {
		if (tk_arc_data(tk, arc.type, address + arc.offset, &shared, &shared_type))
			tk_add_core_list(tk, shared_type, shared, "current_thread", loc.type,
				      address + loc.offset, 0);
		return;
	}
	if (!tk_field_quiet(TK_WORKER_CONTEXT_CORE, type, &loc) ||
	    !tk_field_quiet(TK_WORKER_CONTEXT_WORKER, type, &arc) || !loc.type->has_size ||
	    loc.type->size > 64)
		return;
	/* core: Option<Box<Core>>, None while the worker's own frame holds it */
	uint8_t bytes[64];
	struct ai_error *err = tk_read(tk, bytes, address + loc.offset, loc.type->size);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	struct tk_loc payload, tasks, index, handle;
	bool has_payload;
	const struct ai_variant *v = tk_variant(loc.type, bytes, loc.type->size, &payload, &has_payload);
	const struct ai_type *core_type = NULL;
	if (!v || !v->name || strcmp(v->name, "Some") != 0 || !has_payload ||
	    payload.type->kind != AI_TYPE_POINTER || payload.offset + 8 > loc.type->size)
		return;
	err = ai_type_target(payload.type, &core_type);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	core_type = tk_underlying(core_type);
	uint64_t core = tk_get_u64(bytes, payload.offset), worker = 0;
	if (!tk_field_quiet(TK_CORE_TASKS, core_type, &tasks) ||
	    !tk_arc_data(tk, arc.type, address + arc.offset, &data, &data_type) ||
	    !tk_field(&tk->env, TK_WORKER_HANDLE, data_type, &handle) ||
	    !tk_arc_data(tk, handle.type, data + handle.offset, &shared, &shared_type))
		return;
	if (tk_field(&tk->env, TK_WORKER_INDEX, data_type, &index) && !tk_read_u64(tk, data + index.offset, &worker))
		return;
	tk_add_core_list(tk, shared_type, shared, "multi_thread", tasks.type, core + tasks.offset, worker);
}

/* Adds the runtime of a handle: arc_inner is the pointer held by an Arc<H> of DWARF type
 * arc_type, H being a flavor's Handle. Runtimes are told apart by their OwnedTasks' address. */
static void add_runtime(struct tk *tk, const struct ai_type *arc_type, uint64_t arc_inner,
			const char *flavor, bool from_frame)
{
	struct tk_loc ptr, data, owned;
	if (!tk_field(&tk->env, TK_ARC_POINTER, arc_type, &ptr) || ptr.type->kind != AI_TYPE_POINTER)
		return;
	const struct ai_type *inner;
	struct ai_error *err = ai_type_target(ptr.type, &inner);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	inner = tk_underlying(inner);
	if (!tk_field(&tk->env, TK_ARC_INNER_DATA, inner, &data) || !tk_plausible(arc_inner, 8))
		return;
	if (!tk_field_quiet(TK_HANDLE_OWNED, data.type, &owned)) {
		/* Before 1.9: no OwnedTasks; the workers' lists come from stack frames. */
		add_per_core_runtime(tk, data.type, arc_inner + data.offset,
				     flavor ? flavor : tk_flavor_of(data.type->name));
		return;
	}
	uint64_t address = arc_inner + data.offset + owned.offset;
	for (size_t i = 0; i < tk->runtime_count; i++)
		if (tk->runtimes[i].owned == address)
			return;
	if (tk->runtime_count >= TK_MAX_RUNTIMES)
		return;
	/* A handle that cannot be read is a stale or torn pointer, not a runtime. */
	uint64_t strong;
	if (!tk_read_u64(tk, arc_inner, &strong) || strong == 0)
		return;
	size_t layout;
	tk_owned_layout_of(tk, tk_underlying(owned.type), &layout);
	AI_GROW(tk->runtimes, tk->runtime_capacity, tk->runtime_count + 1);
	tk->runtimes[tk->runtime_count++] = (struct tk_runtime){
		.owned = address,
		.arc_inner = arc_inner,
		.flavor = flavor ? flavor : tk_flavor_of(data.type->name),
		.layout = layout,
		.from_frame = from_frame,
	};
}

/* The runtime of a scheduler::Handle value (bytes: the value, size bytes of it):
 * CurrentThread(Arc<..>) or MultiThread(Arc<..>); before 1.22, runtime::Handle { spawner }
 * with runtime::spawner::Spawner Basic(Spawner { shared: Arc<..> }) or ThreadPool(the same). */
static void add_runtime_from_handle(struct tk *tk, const struct ai_type *handle,
				    const uint8_t *bytes, size_t size, bool from_frame)
{
	handle = tk_underlying(handle);
	struct tk_loc inner;
	if (handle->kind == AI_TYPE_STRUCT) {
		if (!tk_field(&tk->env, TK_RT_HANDLE_SCHEDULER, handle, &inner) ||
		    inner.offset > size)
			return;
		handle = inner.type;
		bytes += inner.offset;
		size -= inner.offset;
	}
	struct tk_loc payload;
	bool has_payload;
	const struct ai_variant *v = tk_variant(handle, bytes, size, &payload, &has_payload);
	if (!v || !has_payload || payload.offset + 8 > size)
		return;
	const char *flavor = NULL;
	if (v->name && (strcmp(v->name, "CurrentThread") == 0 || strcmp(v->name, "Basic") == 0))
		flavor = "current_thread";
	else if (v->name && (strncmp(v->name, "MultiThread", strlen("MultiThread")) == 0 ||
			     strcmp(v->name, "ThreadPool") == 0))
		flavor = "multi_thread";
	else
		return; /* e.g. a "Disabled" handle: no runtime */
	struct tk_loc ptr, shared;
	if (!tk_field_quiet(TK_ARC_POINTER, payload.type, &ptr) &&
	    tk_field_quiet(TK_SPAWNER_SHARED, payload.type, &shared)) {
		payload.offset += shared.offset;
		payload.type = shared.type;
	}
	if (!tk_field(&tk->env, TK_ARC_POINTER, payload.type, &ptr) ||
	    payload.offset + ptr.offset + 8 > size)
		return;
	add_runtime(tk, payload.type, tk_get_u64(bytes, payload.offset + ptr.offset), flavor,
		    from_frame);
}

static void add_current(struct tk *tk, pid_t tid, uint64_t task_id)
{
	AI_GROW(tk->currents, tk->current_capacity, tk->current_count + 1);
	tk->currents[tk->current_count++] = (struct tk_current){ tid, task_id };
}

/* The CONTEXT of every thread: its runtime handle and the task it polls. */
void tk_runtimes_from_threads(struct tk *tk, const struct ai_stack *stacks)
{
	struct ai_target *target = tk->as->target;
	size_t size = tk->storage->size;
	uint8_t *bytes = xmalloc(size);
	for (size_t i = 0; i < target->thread_count; i++) {
		const struct ai_thread *thread = &target->threads[i];
		uint64_t fs_base = thread->regs.fs_base;
		/* A capture may let the target run again while it decodes a frozen copy of its memory
		 * (ai_memory_freeze): the registers are then those of the stop the stacks were
		 * unwound at, no longer "valid" but still there; and fs_base never changes in the
		 * life of a thread. */
		bool known = thread->regs_valid || (stacks && stacks[i].count > 0);
		uint64_t address;
		if (!known || !ai_tls_address(tk->mem, &tk->tls, fs_base, tk->tls_value, &address))
			continue;
		struct ai_error *err = tk_read(tk, bytes, address, size);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		if (tk->has_state) {
			const char *state = tk_enum_value_name(tk->state.type, bytes + tk->state.offset,
							       size - tk->state.offset);
			/* Uninitialized: garbage; Destroyed: a thread on its way out. */
			if (state && strcmp(state, "Alive") != 0 && strcmp(state, "Initial") != 0)
				continue;
		}
		const uint8_t *opt = bytes + tk->handle_option.offset;
		size_t opt_size = size - tk->handle_option.offset;
		struct tk_loc handle;
		bool has_handle;
		const struct ai_variant *v = tk_variant(tk->handle_option.type, opt, opt_size, &handle,
							&has_handle);
		if (v && v->name && strcmp(v->name, "Some") == 0 && has_handle &&
		    handle.offset < opt_size)
			add_runtime_from_handle(tk, handle.type, opt + handle.offset,
						opt_size - handle.offset, false);
		if (tk->has_task_id) {
			const uint8_t *id_opt = bytes + tk->task_id_option.offset;
			size_t id_size = size - tk->task_id_option.offset;
			struct tk_loc id;
			bool has_id;
			v = tk_variant(tk->task_id_option.type, id_opt, id_size, &id, &has_id);
			if (v && v->name && strcmp(v->name, "Some") == 0 && has_id &&
			    id.offset + 8 <= id_size && id.type->size == 8)
				add_current(tk, thread->tid, tk_get_u64(id_opt, id.offset));
		}
	}
	free(bytes);
}

/* ---- Runtimes from stack frames (parameters of tokio's own functions) ---- */

static const char *const handle_frames[] = {
	"tokio::runtime::runtime::Runtime::block_on",
	"tokio::runtime::scheduler::multi_thread::MultiThread::block_on",
	"tokio::runtime::scheduler::current_thread::CurrentThread::block_on",
	"tokio::runtime::context::enter_runtime",
	"tokio::runtime::context::runtime::enter_runtime",
	"tokio::runtime::scheduler::multi_thread::worker::run",
	/* before 1.9: set(t: &Context) of the schedulers' scoped thread-local CURRENT */
	"tokio::macros::scoped_tls::ScopedKey",
};

/* A handle held by a frame variable: Runtime, scheduler::Handle, Arc<Worker>, or a reference to
 * one of them. */
static void runtime_from_value(struct tk *tk, const struct ai_type *type, uint64_t address,
			       int depth)
{
	type = tk_underlying(type);
	if (depth > 2 || !type->name)
		return;
	if (type->kind == AI_TYPE_POINTER) {
		/* &Runtime, &scheduler::Handle */
		const struct ai_type *target;
		uint64_t pointer;
		struct ai_error *err = ai_type_target(type, &target);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		if (tk_read_u64(tk, address, &pointer) && tk_plausible(pointer, 8))
			runtime_from_value(tk, target, pointer, depth + 1);
		return;
	}
	struct tk_loc loc;
	if (strcmp(type->name, "Context") == 0 && type->kind == AI_TYPE_STRUCT) {
		runtime_from_context(tk, type, address);
	} else if (strcmp(type->name, "Runtime") == 0 && type->kind == AI_TYPE_STRUCT) {
		if (tk_field(&tk->env, TK_RUNTIME_HANDLE, type, &loc))
			runtime_from_value(tk, loc.type, address + loc.offset, depth + 1);
	} else if ((strcmp(type->name, "Handle") == 0 || strcmp(type->name, "Spawner") == 0) &&
		   type->kind == AI_TYPE_ENUM &&
		   type->has_size && type->size <= 64) {
		uint8_t bytes[64];
		struct ai_error *err = tk_read(tk, bytes, address, type->size);
		if (err)
			ai_error_destroy(err);
		else
			add_runtime_from_handle(tk, type, bytes, type->size, true);
	} else if (strncmp(type->name, "Arc<tokio::runtime::scheduler::multi_thread::worker::Worker",
			   strlen("Arc<tokio::runtime::scheduler::multi_thread::worker::Worker")) == 0) {
		/* worker::run(worker: Arc<Worker>): Worker.handle is the runtime's Arc<Handle> */
		struct tk_loc ptr, data, handle;
		const struct ai_type *inner;
		uint64_t arc_inner, handle_inner;
		if (!tk_field(&tk->env, TK_ARC_POINTER, type, &ptr) ||
		    ptr.type->kind != AI_TYPE_POINTER || !tk_read_u64(tk, address + ptr.offset, &arc_inner))
			return;
		struct ai_error *err = ai_type_target(ptr.type, &inner);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		if (tk_field(&tk->env, TK_ARC_INNER_DATA, tk_underlying(inner), &data) &&
		    tk_field(&tk->env, TK_WORKER_HANDLE, data.type, &handle) &&
		    tk_field(&tk->env, TK_ARC_POINTER, handle.type, &ptr) &&
		    tk_read_u64(tk, arc_inner + data.offset + handle.offset + ptr.offset, &handle_inner))
			add_runtime(tk, handle.type, handle_inner, "multi_thread", true);
	}
}

static bool frame_var(const struct ai_frame_var *var, void *arg)
{
	struct tk *tk = arg;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(tk->as->types, var->type_die, &type);
	if (err) {
		ai_error_destroy(err);
		return true;
	}
	runtime_from_value(tk, type, var->address, 0);
	return true;
}

void tk_runtimes_from_stacks(struct tk *tk, const struct ai_stack *stacks)
{
	if (!stacks)
		return;
	for (size_t t = 0; t < tk->as->target->thread_count; t++) {
		const struct ai_stack *stack = &stacks[t];
		for (size_t f = 0; f < stack->count; f++) {
			const char *function = stack->frames[f].location.function;
			if (!function || strncmp(function, "tokio::", 7) != 0)
				continue;
			for (size_t k = 0; k < AI_ARRAY_SIZE(handle_frames); k++) {
				size_t len = strlen(handle_frames[k]);
				if (strncmp(function, handle_frames[k], len) == 0 &&
				    (function[len] == '\0' || function[len] == '<')) {
					struct ai_error *err =
						ai_frame_vars(tk->as, &stack->frames[f], frame_var, tk);
					ai_error_destroy(err); /* a frame we cannot read: others may do */
					break;
				}
			}
		}
	}
}
