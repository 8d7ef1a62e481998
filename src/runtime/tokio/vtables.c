/* tokio's task vtables: each Vtable resolved once, from its raw::poll<T, S> (T, S, the cell and
 * the offsets a task is read at), and found again by address. Part of the collection of tasks.c. */
#include <dwarf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"
#include "tasks_internal.h"

#define TK_MAX_CELL (1u << 20)    /* a task cell bigger than this is not read whole */

/* ---- Task vtables ---- */

struct poll_die {
	uint64_t t, s, harness; /* type DIE offsets */
};

/* The template parameters T and S of raw::poll<T, S> and the type of its `harness` local. */
static void read_poll_die(struct tk *tk, uint64_t offset, struct poll_die *ret, int depth)
{
	struct ai_dwarf_reader *r = tk->reader;
	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die_at(r, offset, &die);
	uint64_t child;
	if (!err && die.has_children)
		err = ai_dwarf_die_end(r, &die, &child);
	if (err || !die.has_children) {
		ai_error_destroy(err);
		return;
	}
	for (int n = 0; n < 4096; n++) {
		struct ai_dwarf_die c;
		if ((err = ai_dwarf_read_die(r, die.unit, child, &c)) || c.tag == 0)
			break;
		if (c.tag == DW_TAG_template_type_parameter || c.tag == DW_TAG_variable) {
			struct ai_dwarf_attr attrs[12];
			size_t count = 0;
			if ((err = ai_dwarf_die_attrs(r, &c, attrs, AI_ARRAY_SIZE(attrs), &count, NULL)))
				break;
			const char *name = NULL;
			uint64_t type = 0;
			for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
				if (attrs[i].name == DW_AT_name && attrs[i].cls == AI_DWARF_CLASS_STRING)
					name = attrs[i].str;
				else if (attrs[i].name == DW_AT_type &&
					 attrs[i].cls == AI_DWARF_CLASS_REFERENCE)
					type = attrs[i].u;
			}
			if (name && c.tag == DW_TAG_template_type_parameter && !strcmp(name, "T"))
				ret->t = type;
			else if (name && c.tag == DW_TAG_template_type_parameter && !strcmp(name, "S"))
				ret->s = type;
			else if (name && c.tag == DW_TAG_variable && !strcmp(name, "harness"))
				ret->harness = type;
		} else if (c.tag == DW_TAG_lexical_block && depth < 4) {
			read_poll_die(tk, c.offset, ret, depth + 1);
		}
		if ((err = ai_dwarf_die_sibling(r, &c, &child)))
			break;
	}
	ai_error_destroy(err);
}

static bool match_cell(const struct ai_type *type, const void *arg)
{
	return type->kind == AI_TYPE_STRUCT && tk_match_prefix(type, TK_NAME_CELL) &&
	       ai_type_find_member(type, "header") && ai_type_find_member(type, "trailer");
}

/* Cell<T, S> by its name in the unit of raw::poll<T, S> (when poll has no `harness` local). */
static const struct ai_type *cell_by_name(struct tk *tk, uint64_t poll_die,
					  const struct ai_type *t, const struct ai_type *s)
{
	struct ai_dwarf_unit *unit = ai_dwarf_reader_unit_at(tk->reader, poll_die);
	const char *tn = ai_type_qualified_name(t), *sn = ai_type_qualified_name(s);
	if (!unit || !tn || !sn)
		return NULL;
	char *name = xasprintf("tokio::runtime::task::core::Cell<%s, %s>", tn, sn);
	const struct ai_type *cell = NULL;
	struct ai_error *err = ai_types_find(tk->as->types, unit->first_die, name, &cell);
	free(name);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return tk_underlying(cell);
}

static bool resolve_trailer(struct tk *tk, const struct ai_type *trailer)
{
	if (tk->trailer_type)
		return tk->trailer_ok;
	tk->trailer_type = trailer;
	struct tk_loc next, prev;
	if (trailer->has_size && tk->links_in_header) {
		tk->trailer_size = trailer->size;
		tk->trailer_ok = true;
		return true;
	}
	if (!trailer->has_size || !tk_field(&tk->env, TK_TRAILER_NEXT, trailer, &next))
		return false;
	tk->trailer_size = trailer->size;
	tk->next = next.offset;
	if ((tk->has_prev = tk_field(&tk->env, TK_TRAILER_PREV, trailer, &prev)))
		tk->prev = prev.offset;
	tk->trailer_ok = true;
	return true;
}

/* Fills vt from its poll function and the Cell<T, S> type; vt->valid says if it is usable. */
static void resolve_vtable(struct tk *tk, struct tk_vtable *vt)
{
	if (!tk_plausible(vt->address, 8) || tk->vtable_size > 4096)
		return;
	uint8_t bytes[4096];
	struct ai_error *err = tk_read(tk, bytes, vt->address, tk->vtable_size);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	uint64_t poll = tk_get_u64(bytes, tk->poll);
	struct ai_symbolization sym;
	err = ai_debuginfo_symbolize(tk->as->di, poll, false, &sym);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	const struct ai_location *loc = sym.count ? &sym.locations[sym.count - 1] : NULL;
	/* The vtable's poll is raw::poll<T, S> itself, at its first instruction. */
	if (!loc || !loc->function || strncmp(loc->function, TK_POLL_PREFIX, strlen(TK_POLL_PREFIX)) ||
	    !loc->die_offset)
		return;
	vt->poll_name = xstrdup(loc->function);
	struct poll_die pd = { 0 };
	read_poll_die(tk, loc->die_offset, &pd, 0);
	struct ai_types *types = tk->as->types;
	if (!pd.s || (err = ai_types_get(types, pd.s, &vt->scheduler))) {
		ai_error_destroy(err);
		tk_warn(&tk->env, "%s has no template parameter S", loc->function);
		return;
	}
	vt->scheduler = tk_underlying(vt->scheduler);
	vt->flavor = tk_flavor_of(vt->scheduler->name);
	if (pd.t && (err = ai_types_get(types, pd.t, &vt->future)))
		vt->future = NULL;
	ai_error_destroy(err);
	err = NULL;
	/* Cell<T, S>: through the `harness` local (exactly this instance), else by name. */
	const struct ai_type *harness = NULL;
	struct tk_loc cell_field;
	if (pd.harness && !(err = ai_types_get(types, pd.harness, &harness)) &&
	    tk_field(&tk->env, TK_HARNESS_CELL, tk_underlying(harness), &cell_field))
		vt->cell = tk_find_pointee(cell_field.type, match_cell, NULL);
	ai_error_destroy(err);
	if (!vt->cell && vt->future)
		vt->cell = cell_by_name(tk, loc->die_offset, vt->future, vt->scheduler);

	/* Offsets from the header: the vtable's own fields, checked against DWARF's Cell. */
	bool has_trailer = false;
	uint64_t trailer = 0;
	if (tk->has_vt_trailer) {
		trailer = tk_get_u64(bytes, tk->vt_trailer);
		has_trailer = true;
	}
	if (tk->has_vt_id) {
		vt->id = tk_get_u64(bytes, tk->vt_id);
		vt->has_id = true;
	}
	if (tk->has_vt_scheduler) {
		vt->scheduler_offset = tk_get_u64(bytes, tk->vt_scheduler);
		vt->has_scheduler = true;
	}
	if (vt->cell) {
		struct tk_loc core, trailer_loc, f;
		if (!tk_field(&tk->env, TK_CELL_CORE, vt->cell, &core) ||
		    !tk_field(&tk->env, TK_CELL_TRAILER, vt->cell, &trailer_loc))
			return;
		if (!resolve_trailer(tk, trailer_loc.type))
			return;
		if (has_trailer && trailer != trailer_loc.offset) {
			tk_warn(&tk->env, "tasks of %s: the vtable puts the trailer at %" PRIu64
				", DWARF's Cell at %" PRIu64 "; skipped", vt->poll_name,
				trailer, trailer_loc.offset);
			return;
		}
		trailer = trailer_loc.offset;
		has_trailer = true;
		/* (tasks have ids from 1.9 on) */
		if (tk->per_core ? tk_field_quiet(TK_CORE_TASK_ID, core.type, &f)
				 : tk_field(&tk->env, TK_CORE_TASK_ID, core.type, &f)) {
			if (vt->has_id && vt->id != core.offset + f.offset)
				tk_warn(&tk->env, "tasks of %s: the vtable puts the task id at %" PRIu64
					", DWARF's Cell at %" PRIu64, vt->poll_name, vt->id,
					core.offset + f.offset);
			vt->id = core.offset + f.offset;
			vt->has_id = true;
		}
		/* (an S that is no Arc, spawn_blocking's BlockingSchedule, holds no handle to check) */
		bool arc = vt->scheduler->name && strncmp(vt->scheduler->name, "Arc<", 4) == 0;
		if (arc && (tk->per_core ? tk_field_quiet(TK_CORE_SCHEDULER, core.type, &f)
						 : tk_field(&tk->env, TK_CORE_SCHEDULER, core.type, &f))) {
			vt->scheduler_offset = core.offset + f.offset;
			vt->has_scheduler = true;
		}
		struct tk_loc stage;
		if (tk_field(&tk->env, TK_CORE_STAGE, core.type, &f)) {
			if (tk_find_within(f.type, tk_match_prefix, TK_NAME_STAGE, &stage) &&
			    stage.type->kind == AI_TYPE_ENUM) {
				vt->stage = core.offset + f.offset + stage.offset;
				vt->stage_type = stage.type;
				vt->has_stage = true;
			} else {
				tk_warn(&tk->env, "%s.stage holds no tokio::runtime::task::core::Stage",
					tk_fields[TK_CORE_STAGE].owner);
			}
		}
		vt->read_size = vt->cell->has_size ? vt->cell->size : 0;
	}
	if (!has_trailer || !tk->trailer_ok) {
		tk_warn(&tk->env, "tasks of %s: no DWARF type Cell<T, S> and no trailer offset",
			vt->poll_name);
		return;
	}
	vt->trailer = trailer;
	vt->links = tk->links_in_header ? 0 : trailer;
	uint64_t min_size = trailer + tk->trailer_size;
	if (vt->read_size < min_size)
		vt->read_size = min_size;
	if (vt->read_size > TK_MAX_CELL || vt->read_size < tk->header_size ||
	    (vt->has_id && vt->id + 8 > vt->read_size) ||
	    (vt->has_scheduler && vt->scheduler_offset + 8 > vt->read_size) ||
	    (vt->has_stage && (!vt->stage_type->has_size ||
			       vt->stage + vt->stage_type->size > vt->read_size)))
		return;
	vt->valid = true;
}

static size_t hash_address(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	return (size_t)a;
}

static void vtable_index_put(struct tk *tk, uint64_t address, size_t index)
{
	size_t mask = tk->vtable_index_size - 1;
	for (size_t i = hash_address(address) & mask;; i = (i + 1) & mask) {
		if (!tk->vtable_index[i]) {
			tk->vtable_index[i] = (uint32_t)index + 1;
			return;
		}
	}
}

struct tk_vtable *tk_get_vtable(struct tk *tk, uint64_t address)
{
	if (tk->vtable_index_size) {
		size_t mask = tk->vtable_index_size - 1;
		for (size_t i = hash_address(address) & mask; tk->vtable_index[i]; i = (i + 1) & mask) {
			struct tk_vtable *vt = &tk->vtables[tk->vtable_index[i] - 1];
			if (vt->address == address)
				return vt;
		}
	}
	if (2 * (tk->vtable_count + 1) > tk->vtable_index_size) {
		free(tk->vtable_index);
		tk->vtable_index_size = tk->vtable_index_size ? 2 * tk->vtable_index_size : 64;
		tk->vtable_index = xcalloc(tk->vtable_index_size, sizeof(*tk->vtable_index));
		for (size_t i = 0; i < tk->vtable_count; i++)
			vtable_index_put(tk, tk->vtables[i].address, i);
	}
	AI_GROW(tk->vtables, tk->vtable_capacity, tk->vtable_count + 1);
	struct tk_vtable *vt = &tk->vtables[tk->vtable_count];
	memset(vt, 0, sizeof(*vt));
	vt->address = address;
	vtable_index_put(tk, address, tk->vtable_count++);
	resolve_vtable(tk, vt);
	return vt;
}
