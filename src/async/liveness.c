/* Which saved locals of a coroutine's current state hold a value (DESIGN.md, "Moved-from
 * locals"). rustc keeps the slot of a local that may be live at a suspend point; when it was moved
 * or dropped on the path taken, the slot holds stale or freed bytes and its drop flag (an unnamed
 * `__N` bool of the variant) is clear. drop_flags.c ties each flag to the local it guards; the
 * rules here turn that, and what an async fn does with its arguments, into a state per local. */
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/util.h"

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *type_name(const struct ai_type *type)
{
	const char *name = ai_type_qualified_name(type);
	return name ? name : type->name ? type->name : "?";
}

/* The struct of the Unresumed state of coroutine `type`, or NULL. */
static const struct ai_type *unresumed_struct(const struct ai_type *type)
{
	const struct ai_variant *v = ai_type_find_variant(type, "Unresumed");
	const struct ai_type *vt;
	if (!v)
		return NULL;
	struct ai_error *err = ai_type_member_underlying(type, &v->member, &vt);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return vt;
}

/* True if ut (an Unresumed state's struct, or NULL) has a member of m's name at m's offset. */
static bool unresumed_has(const struct ai_type *ut, const struct ai_member *m)
{
	if (!ut || !m->name)
		return false;
	const struct ai_member *u = ai_type_find_member(ut, m->name);
	return u && u->offset == m->offset;
}

/* True if the Unresumed state of coroutine `type` has a member of m's name at m's offset: an
 * upvar (an async fn's argument, a block's capture). */
bool ai_coroutine_unresumed_has(const struct ai_type *type, const struct ai_member *m)
{
	return unresumed_has(unresumed_struct(type), m);
}

/* A type whose values never need dropping, so no drop flag guards them. */
static bool never_dropped(const struct ai_type *type)
{
	const struct ai_type *t;
	struct ai_error *err = ai_type_underlying(type, &t);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	switch (t->kind) {
	case AI_TYPE_UNIT: case AI_TYPE_INT: case AI_TYPE_BOOL: case AI_TYPE_CHAR:
	case AI_TYPE_FLOAT: case AI_TYPE_C_ENUM: case AI_TYPE_FUNCTION:
		return true;
	case AI_TYPE_POINTER:
		return !starts_with(type_name(t), "alloc::boxed::Box<");
	default:
		return false;
	}
}

/* Liveness of the saved locals of variant struct vt (DESIGN.md, "Moved-from locals"): a local
 * whose drop flag is clear was moved or dropped; while a clear flag is not tied to its local
 * (drop_flags.c), every local it might guard is "maybe moved". states[i] is for vt->members[i]. */
void ai_await_local_states(struct ai_async *as, const struct ai_type *type,
			   const struct ai_type *vt, uint64_t address, const uint8_t *bytes,
			   size_t size, enum ai_local_state *states)
{
	memset(states, 0, vt->member_count * sizeof(*states));
	bool untied_clear = false;
	bool *tied = xcalloc(vt->member_count ? vt->member_count : 1, sizeof(*tied));
	for (size_t i = 0; i < vt->member_count; i++) {
		const struct ai_member *f = &vt->members[i];
		if (!ai_drop_flag_member(vt, f))
			continue;
		uint8_t byte = 2;
		if (bytes && f->offset < size) {
			byte = bytes[f->offset];
		} else {
			struct ai_error *err = ai_memory_read(as->target->memory, &byte,
							      address + f->offset, 1);
			if (err) {
				ai_error_destroy(err);
				byte = 2; /* unreadable: not a valid flag */
			}
		}
		bool set = byte == 1, valid = byte <= 1;
		uint64_t local = 0;
		enum ai_drop_flag guard = ai_drop_flag_guard(as, type, f->offset, &local);
		if (guard == AI_DROP_FLAG_UNUSED)
			continue;
		for (size_t j = 0; guard == AI_DROP_FLAG_GUARDS && j < vt->member_count; j++) {
			const struct ai_member *m = &vt->members[j];
			const struct ai_type *mt;
			if (!m->name || ai_drop_flag_member(vt, m) || starts_with(m->name, "__") ||
			    ai_type_member_type(vt, m, &mt) != NULL || !mt->has_size ||
			    local < m->offset || local >= m->offset + AI_MAX(mt->size, 1))
				continue;
			bool again = tied[j];
			tied[j] = true;
			if (again && (states[j] != AI_LOCAL_LIVE || !valid || !set))
				/* Two flags tied to one slot (locals of two states may share it). */
				states[j] = AI_LOCAL_MAYBE_MOVED;
			else if (!valid || !set)
				/* A part of it moved out (a field): the rest cannot be shown whole. */
				states[j] = valid && local == m->offset ? AI_LOCAL_MOVED
									: AI_LOCAL_MAYBE_MOVED;
		}
		/* A flag tied to a local this state does not save concerns nothing here. */
		if (guard == AI_DROP_FLAG_UNKNOWN && (!set || !valid))
			untied_clear = true;
	}
	/* An async fn's arguments are moved into its body's own bindings when it starts: past
	 * Unresumed, an argument's upvar slot that no saved binding shadows was moved from. */
	bool async_fn = strstr(type_name(type), "{async_fn_env#") != NULL;
	bool suspended = ai_type_find_member(vt, "__awaitee") != NULL;
	const struct ai_type *unresumed = async_fn && suspended ? unresumed_struct(type) : NULL;
	for (size_t j = 0; unresumed && j < vt->member_count; j++) {
		const struct ai_member *m = &vt->members[j];
		const struct ai_type *mt;
		if (!m->name || starts_with(m->name, "__") || !unresumed_has(unresumed, m) ||
		    ai_type_member_type(vt, m, &mt) != NULL || never_dropped(mt))
			continue;
		bool saved = false;
		for (size_t k = 0; k < vt->member_count && !saved; k++)
			saved = k != j && vt->members[k].name &&
				strcmp(vt->members[k].name, m->name) == 0;
		if (!saved) {
			tied[j] = true;
			states[j] = AI_LOCAL_MOVED;
		}
	}
	for (size_t j = 0; untied_clear && j < vt->member_count; j++) {
		const struct ai_member *m = &vt->members[j];
		const struct ai_type *mt;
		if (tied[j] || !m->name || starts_with(m->name, "__") ||
		    ai_type_member_type(vt, m, &mt) != NULL || never_dropped(mt))
			continue;
		states[j] = AI_LOCAL_MAYBE_MOVED;
	}
	free(tied);
}
