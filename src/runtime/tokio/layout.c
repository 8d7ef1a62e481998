/* The one table of tokio's fields (by DWARF member name, per version), and the DWARF type walks
 * that resolve them. Checked field by field at first use; see tokio_layout.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "layout.h"

/* Paths are tried in order; the first is the canonical one named in warnings. Versions are those
 * of docs/tokio-layouts.md (verified: 1.8.5, 1.19.2, 1.24.2, 1.38.2, 1.47.5, 1.54.1). */
const struct tk_field_spec tk_fields[TK_FIELD_COUNT] = {
	[TK_CONTEXT_HANDLE] = { "tokio::runtime::context::Context",
				{ "current.handle" /* 1.38+ */, "handle" /* 1.24 */ } },
	[TK_CONTEXT_TASK_ID] = { "tokio::runtime::context::Context", { "current_task_id" },
				 0, true },
	[TK_ARC_POINTER] = { "alloc::sync::Arc<T>", { "ptr.pointer" }, 8 },
	[TK_ARC_INNER_DATA] = { "alloc::sync::ArcInner<T>", { "data" } },
	/* before 1.22 the Arc holds the flavor's Shared itself */
	[TK_HANDLE_OWNED] = { "tokio::runtime::scheduler::<flavor>::Handle",
			      { "shared.owned", "owned" } },
	[TK_OWNED_ID] = { "tokio::runtime::task::list::OwnedTasks<S>", { "id" }, 8, true },
	[TK_OWNED_LISTS] = { "tokio::runtime::task::list::OwnedTasks<S>", { "list.lists" } },
	[TK_OWNED_COUNT] = { "tokio::runtime::task::list::OwnedTasks<S>", { "list.count" }, 8, true },
	[TK_OWNED_INNER] = { "tokio::runtime::task::list::OwnedTasks<S>", { "inner" } },
	[TK_SLICE_DATA] = { "alloc::boxed::Box<[T]>", { "data_ptr" }, 8 },
	[TK_SLICE_LENGTH] = { "alloc::boxed::Box<[T]>", { "length" }, 8 },
	[TK_LIST_HEAD] = { "tokio::util::linked_list::LinkedList<L, T>", { "head" }, 8 },
	[TK_LIST_TAIL] = { "tokio::util::linked_list::LinkedList<L, T>", { "tail" }, 8, true },
	[TK_HEADER_STATE] = { "tokio::runtime::task::core::Header", { "state" }, 8 },
	[TK_HEADER_VTABLE] = { "tokio::runtime::task::core::Header", { "vtable" }, 8 },
	/* UnsafeCell<u64> in 1.24, UnsafeCell<Option<NonZero<u64>>> in 1.38+ */
	[TK_HEADER_OWNER_ID] = { "tokio::runtime::task::core::Header", { "owner_id" }, 8, true },
	/* Pointers<Header> in UnsafeCell<..>, before 1.23 (1.19.2 checked) */
	[TK_HEADER_NEXT] = { "tokio::runtime::task::core::Header",
			     { "owned.__0.value.inner.value.next" }, 8, true },
	[TK_HEADER_PREV] = { "tokio::runtime::task::core::Header",
			     { "owned.__0.value.inner.value.prev" }, 8, true },
	[TK_VTABLE_POLL] = { "tokio::runtime::task::raw::Vtable", { "poll" }, 8 },
	[TK_VTABLE_TRAILER_OFFSET] = { "tokio::runtime::task::raw::Vtable", { "trailer_offset" },
				       8, true },
	[TK_VTABLE_SCHEDULER_OFFSET] = { "tokio::runtime::task::raw::Vtable",
					 { "scheduler_offset" }, 8, true },
	[TK_VTABLE_ID_OFFSET] = { "tokio::runtime::task::raw::Vtable", { "id_offset" }, 8, true },
	[TK_HARNESS_CELL] = { "tokio::runtime::task::harness::Harness<T, S>", { "cell" }, 8, true },
	[TK_CELL_CORE] = { "tokio::runtime::task::core::Cell<T, S>", { "core" } },
	[TK_CELL_TRAILER] = { "tokio::runtime::task::core::Cell<T, S>", { "trailer" } },
	[TK_CORE_SCHEDULER] = { "tokio::runtime::task::core::Core<T, S>", { "scheduler" }, 8, true },
	/* Id(u64) up to 1.39, Id(NonZero<u64>) from 1.40 */
	[TK_CORE_TASK_ID] = { "tokio::runtime::task::core::Core<T, S>", { "task_id" }, 8, true },
	[TK_CORE_STAGE] = { "tokio::runtime::task::core::Core<T, S>", { "stage" } },
	/* Pointers<Header> { inner: UnsafeCell<PointersInner { prev, next, _pin }> } */
	[TK_TRAILER_NEXT] = { "tokio::runtime::task::core::Trailer",
			      { "owned.inner.value.next", "owned.inner.next" }, 8 },
	[TK_TRAILER_PREV] = { "tokio::runtime::task::core::Trailer",
			      { "owned.inner.value.prev", "owned.inner.prev" }, 8, true },
	[TK_RUNTIME_HANDLE] = { "tokio::runtime::runtime::Runtime",
				{ "handle.inner", "handle.spawner" /* before 1.22 */ } },
	[TK_RT_HANDLE_SCHEDULER] = { "tokio::runtime::handle::Handle",
				     { "inner", "spawner" /* before 1.22 */ } },
	[TK_SPAWNER_SHARED] = { "tokio::runtime::<flavor>::Spawner", { "shared" }, 8 },
	[TK_WORKER_HANDLE] = { "tokio::runtime::scheduler::multi_thread::worker::Worker",
			       { "handle", "shared" /* before 1.22 */ }, 8 },
	/* before 1.9: the lists of tasks are the workers' Cores' and the basic scheduler's */
	[TK_WORKER_CONTEXT_CORE] = { "tokio::runtime::thread_pool::worker::Context",
				     { "core.value.value" } },
	[TK_WORKER_CONTEXT_WORKER] = { "tokio::runtime::thread_pool::worker::Context", { "worker" },
				       8 },
	[TK_WORKER_INDEX] = { "tokio::runtime::thread_pool::worker::Worker", { "index" }, 8, true },
	[TK_CORE_TASKS] = { "tokio::runtime::thread_pool::worker::Core", { "tasks" } },
	[TK_SHARED_REMOTES] = { "tokio::runtime::thread_pool::worker::Shared", { "remotes.length" },
				8, true },
	[TK_BASIC_CONTEXT_TASKS] = { "tokio::runtime::basic_scheduler::Context",
				     { "tasks.value.value.owned" } },
	[TK_BASIC_CONTEXT_SHARED] = { "tokio::runtime::basic_scheduler::Context", { "shared" }, 8 },
	[TK_LOCAL_SET_CONTEXT] = { "tokio::task::local::LocalSet", { "context" } },
	[TK_RC_POINTER] = { "alloc::rc::Rc<T>", { "ptr.pointer" }, 8 },
	[TK_RC_INNER_VALUE] = { "alloc::rc::RcInner<T>", { "value" } },
	[TK_LOCAL_CONTEXT_OWNED] = { "tokio::task::local::Context", { "owned" } },
	[TK_LOCAL_CONTEXT_TASKS] = { "tokio::task::local::Context", { "tasks.value.value.owned" } },
	[TK_LOCAL_CONTEXT_SHARED] = { "tokio::task::local::Context", { "shared" }, 8 },
	[TK_LOCAL_SHARED_OWNED] = { "tokio::task::local::Shared", { "local_state.owned" } },
	[TK_RUN_UNTIL_LOCAL_SET] = { "tokio::task::local::RunUntil<F>", { "local_set" }, 8 },
	[TK_BLOCKING_TASK_FUNC] = { "tokio::runtime::blocking::task::BlockingTask<T>", { "func" } },
};

#define MAX_FIND_DEPTH 8

void tk_env_deinit(struct tk_env *env)
{
	for (size_t i = 0; i < env->warned_count; i++)
		free(env->warned[i]);
	free(env->warned);
	env->warned = NULL;
	env->warned_count = env->warned_capacity = 0;
}

void tk_warn(struct tk_env *env, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tk_vwarn(env, fmt, ap);
	va_end(ap);
}

void tk_vwarn(struct tk_env *env, const char *fmt, va_list ap)
{
	char *message = NULL;
	if (vasprintf(&message, fmt, ap) < 0)
		abort();
	for (size_t i = 0; i < env->warned_count; i++) {
		if (strcmp(env->warned[i], message) == 0) {
			free(message);
			return;
		}
	}
	AI_GROW(env->warned, env->warned_capacity, env->warned_count + 1);
	env->warned[env->warned_count++] = message;
	if (env->snapshot)
		ai_snapshot_add_warning(env->snapshot, "tokio %s%s%s: %s", env->version,
					env->module ? " in " : "", env->module ? env->module : "", message);
}

const struct ai_type *tk_underlying(const struct ai_type *type)
{
	const struct ai_type *u;
	struct ai_error *err = ai_type_underlying(type, &u);
	if (err) {
		ai_error_destroy(err);
		return type;
	}
	return u;
}

const struct ai_type *tk_member_type(const struct ai_type *owner, const struct ai_member *member)
{
	const struct ai_type *type;
	struct ai_error *err = ai_type_member_type(owner, member, &type);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return tk_underlying(type);
}

/* Resolves path; on failure *missing_ret is the first member that is not there. */
static bool member_path(const struct ai_type *owner, const char *path, struct tk_loc *ret,
			char *missing, size_t missing_size)
{
	const struct ai_type *type = tk_underlying(owner);
	uint64_t offset = 0;
	const char *p = path;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		const struct ai_member *found = NULL;
		if (type->kind == AI_TYPE_STRUCT || type->kind == AI_TYPE_UNION ||
		    type->kind == AI_TYPE_ENUM) {
			for (size_t i = 0; i < type->member_count; i++) {
				const char *name = type->members[i].name;
				if (name && strlen(name) == len && memcmp(name, p, len) == 0) {
					found = &type->members[i];
					break;
				}
			}
		}
		const struct ai_type *next = found ? tk_member_type(type, found) : NULL;
		if (!next) {
			snprintf(missing, missing_size, "%.*s", (int)len, p);
			return false;
		}
		offset += found->offset;
		type = next;
		p = dot ? dot + 1 : p + len;
	}
	ret->offset = offset;
	ret->type = type;
	return true;
}

bool tk_member_path(const struct ai_type *owner, const char *path, struct tk_loc *ret)
{
	char missing[64];
	return member_path(owner, path, ret, missing, sizeof(missing));
}

static bool resolve(struct tk_env *env, enum tk_field field, const struct ai_type *owner,
		    struct tk_loc *ret)
{
	const struct tk_field_spec *spec = &tk_fields[field];
	char missing[64] = "", first_missing[64] = "";
	for (size_t i = 0; i < AI_ARRAY_SIZE(spec->paths) && spec->paths[i]; i++) {
		struct tk_loc loc;
		if (!member_path(owner, spec->paths[i], &loc, missing, sizeof(missing))) {
			if (i == 0)
				memcpy(first_missing, missing, sizeof(missing));
			continue;
		}
		if (spec->size && (!loc.type->has_size || loc.type->size != spec->size)) {
			if (env)
				tk_warn(env, "field `%s` of %s is %" PRIu64 " bytes, expected %" PRIu64,
					spec->paths[i], spec->owner, loc.type->size, spec->size);
			return false;
		}
		*ret = loc;
		return true;
	}
	if (env) {
		if (strcmp(first_missing, spec->paths[0]) == 0)
			tk_warn(env, "%s has no field `%s`", spec->owner, spec->paths[0]);
		else
			tk_warn(env, "%s has no field `%s` (no `%s` on the way)", spec->owner,
				spec->paths[0], first_missing);
	}
	return false;
}

bool tk_field(struct tk_env *env, enum tk_field field, const struct ai_type *owner,
	      struct tk_loc *ret)
{
	return resolve(env, field, owner, ret);
}

bool tk_field_quiet(enum tk_field field, const struct ai_type *owner, struct tk_loc *ret)
{
	return resolve(NULL, field, owner, ret);
}

bool tk_match_name(const struct ai_type *type, const void *arg)
{
	return type->name && strcmp(type->name, arg) == 0;
}

bool tk_match_prefix(const struct ai_type *type, const void *arg)
{
	return type->name && strncmp(type->name, arg, strlen(arg)) == 0;
}

bool tk_match_same(const struct ai_type *type, const void *arg)
{
	const struct ai_type *want = arg;
	if (type == want || (type->die_offset && type->die_offset == want->die_offset))
		return true;
	return type->kind == want->kind && type->size == want->size && type->name && want->name &&
	       strcmp(type->name, want->name) == 0 && type->cu_offset == want->cu_offset;
}

static bool find_within(const struct ai_type *type, tk_type_match_fn *match, const void *arg,
			int depth, struct tk_loc *ret)
{
	type = tk_underlying(type);
	if (match(type, arg)) {
		ret->offset = 0;
		ret->type = type;
		return true;
	}
	if (depth >= MAX_FIND_DEPTH || (type->kind != AI_TYPE_STRUCT && type->kind != AI_TYPE_UNION))
		return false;
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_type *member = tk_member_type(type, &type->members[i]);
		struct tk_loc loc;
		if (member && find_within(member, match, arg, depth + 1, &loc)) {
			ret->offset = type->members[i].offset + loc.offset;
			ret->type = loc.type;
			return true;
		}
	}
	return false;
}

bool tk_find_within(const struct ai_type *type, tk_type_match_fn *match, const void *arg,
		    struct tk_loc *ret)
{
	return find_within(type, match, arg, 0, ret);
}

static const struct ai_type *find_pointee(const struct ai_type *type, tk_type_match_fn *match,
					  const void *arg, int depth)
{
	type = tk_underlying(type);
	if (depth >= MAX_FIND_DEPTH)
		return NULL;
	if (type->kind == AI_TYPE_POINTER) {
		const struct ai_type *target;
		struct ai_error *err = ai_type_target(type, &target);
		if (err) {
			ai_error_destroy(err);
			return NULL;
		}
		target = tk_underlying(target);
		return match(target, arg) ? target : NULL;
	}
	if (type->kind != AI_TYPE_STRUCT && type->kind != AI_TYPE_UNION &&
	    type->kind != AI_TYPE_ENUM)
		return NULL;
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_type *member = tk_member_type(type, &type->members[i]);
		const struct ai_type *found =
			member ? find_pointee(member, match, arg, depth + 1) : NULL;
		if (found)
			return found;
	}
	for (size_t i = 0; i < type->variant_count; i++) {
		const struct ai_type *member = tk_member_type(type, &type->variants[i].member);
		const struct ai_type *found =
			member ? find_pointee(member, match, arg, depth + 1) : NULL;
		if (found)
			return found;
	}
	return NULL;
}

const struct ai_type *tk_find_pointee(const struct ai_type *type, tk_type_match_fn *match,
				      const void *arg)
{
	return find_pointee(type, match, arg, 0);
}

const struct ai_variant *tk_variant(const struct ai_type *type, const void *bytes, size_t size,
				    struct tk_loc *payload_ret, bool *has_payload_ret)
{
	*has_payload_ret = false;
	type = tk_underlying(type);
	const struct ai_variant *variant;
	struct ai_error *err = ai_type_active_variant(type, bytes, size, &variant);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	const struct ai_type *fields = tk_member_type(type, &variant->member);
	if (fields) {
		const struct ai_member *payload = ai_type_find_member(fields, "__0");
		const struct ai_type *payload_type = payload ? tk_member_type(fields, payload) : NULL;
		if (payload_type) {
			/* Payload offsets count from the enum's start (the variant member is at 0). */
			payload_ret->offset = variant->member.offset + payload->offset;
			payload_ret->type = payload_type;
			*has_payload_ret = true;
		}
	}
	return variant;
}

const char *tk_enum_value_name(const struct ai_type *type, const void *bytes, size_t size)
{
	type = tk_underlying(type);
	if (type->kind == AI_TYPE_ENUM) {
		struct tk_loc payload;
		bool has_payload;
		const struct ai_variant *v = tk_variant(type, bytes, size, &payload, &has_payload);
		return v ? v->name : NULL;
	}
	if (type->kind != AI_TYPE_C_ENUM || !type->has_size || type->size > 8 || type->size > size)
		return NULL;
	uint64_t value = 0;
	memcpy(&value, bytes, type->size);
	uint64_t mask = type->size >= 8 ? UINT64_MAX : (1ULL << (8 * type->size)) - 1;
	for (size_t i = 0; i < type->enumerator_count; i++)
		if ((type->enumerators[i].value & mask) == value)
			return type->enumerators[i].name;
	return NULL;
}
