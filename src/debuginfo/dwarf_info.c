/* Lazy DWARF index; see ai/dwarf_info.h.
 *
 * DIEs and line tables are read with our own reader (dwarf_reader.c): with libdwarf, one std unit
 * of a tokio binary cost 116 ms to walk and line tables of 23 units another 60-130 ms (mostly
 * copying sections and sorting rows); with the reader the whole stack symbolizes in a few ms.
 * The type model (types.c) reads its DIEs with the same reader over the same index. */
#include <dwarf.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "dwarf_info_internal.h"

#define MAX_INLINE_DEPTH 64
#define MAX_REF_HOPS 8

/* ---- opening ---- */

struct ai_error *ai_dwarf_open(const char *path, struct ai_dwarf **ret)
{
	struct ai_dwarf_reader *reader;
	struct ai_error *err = ai_dwarf_reader_open(path, &reader);
	if (err)
		return err;
	struct ai_dwarf *dw = xcalloc(1, sizeof(*dw));
	dw->reader = reader;
	dw->units = ai_dwarf_reader_units(reader, &dw->cu_count);
	dw->cus = xcalloc(AI_MAX(dw->cu_count, 1), sizeof(*dw->cus));
	for (size_t i = 0; i < dw->cu_count; i++) {
		dw->cus[i].unit = &dw->units[i];
		dw->stats.split_units += dw->units[i].split;
	}
	dw->is_rust = -1;
	dw->stats.cu_count = dw->cu_count;
	*ret = dw;
	return NULL;
}

static void cu_free(struct cu *cu)
{
	if (cu->qualified) {
		for (size_t i = 0; i < cu->scope_count; i++)
			free(cu->qualified[i]);
		free(cu->qualified);
	}
	free(cu->scopes);
	free(cu->ranges);
	u64_map_deinit(&cu->names);
	ai_dwarf_line_table_deinit(&cu->lines);
}

void ai_dwarf_destroy(struct ai_dwarf *dw)
{
	if (!dw)
		return;
	for (size_t i = 0; i < dw->cu_count; i++)
		cu_free(&dw->cus[i]);
	free(dw->cus);
	free(dw->aranges);
	ai_dwarf_reader_destroy(dw->reader);
	free(dw);
}

bool ai_dwarf_is_rust(struct ai_dwarf *dw)
{
	if (dw->is_rust < 0) {
		/* Unit DIEs only: about 1 ms for 140 units. */
		dw->is_rust = 0;
		for (size_t i = 0; i < dw->cu_count && !dw->is_rust; i++) {
			ai_error_destroy(ai_dwarf_unit_load(dw->reader, &dw->units[i]));
			if (dw->units[i].language == AI_DW_LANG_RUST)
				dw->is_rust = 1;
		}
	}
	return dw->is_rust;
}

const char *ai_dwarf_path(const struct ai_dwarf *dw)
{
	return ai_dwarf_reader_path(dw->reader);
}

struct ai_dwarf_reader *ai_dwarf_get_reader(struct ai_dwarf *dw)
{
	return dw->reader;
}

void ai_dwarf_get_stats(const struct ai_dwarf *dw, struct ai_dwarf_stats *ret)
{
	*ret = dw->stats;
}

/* ---- address -> unit ---- */

static struct cu *cu_at(struct ai_dwarf *dw, uint64_t offset)
{
	struct ai_dwarf_unit *unit = ai_dwarf_reader_unit_at(dw->reader, offset);
	return unit ? &dw->cus[unit - dw->units] : NULL;
}

static void add_arange(struct ai_dwarf *dw, uint64_t lo, uint64_t hi, uint32_t cu)
{
	AI_GROW(dw->aranges, dw->arange_capacity, dw->arange_count + 1);
	dw->aranges[dw->arange_count++] = (struct arange){ .lo = lo, .hi = hi, .cu = cu };
}

static void arange_cb(void *arg, uint64_t lo, uint64_t hi, uint64_t unit_offset)
{
	struct ai_dwarf *dw = arg;
	struct cu *cu = cu_at(dw, unit_offset);
	if (!cu || cu->unit->offset != unit_offset)
		return;
	cu->has_arange = true;
	add_arange(dw, lo, hi, (uint32_t)(cu - dw->cus));
}

struct unit_range_arg {
	struct ai_dwarf *dw;
	uint32_t cu;
};

static void unit_range_cb(void *arg, uint64_t lo, uint64_t hi)
{
	struct unit_range_arg *a = arg;
	add_arange(a->dw, lo, hi, a->cu);
}

static int compare_aranges(const void *a, const void *b)
{
	const struct arange *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* .debug_aranges, then the pc ranges of any unit it does not mention (rustc's output has
 * aranges; other producers may not). */
static void load_aranges(struct ai_dwarf *dw)
{
	dw->aranges_loaded = true;
	ai_dwarf_reader_aranges(dw->reader, arange_cb, dw);
	for (size_t i = 0; i < dw->cu_count; i++) {
		struct cu *cu = &dw->cus[i];
		if (cu->has_arange)
			continue;
		struct ai_dwarf_die die;
		struct ai_error *err = ai_dwarf_read_die(dw->reader, cu->unit, cu->unit->first_die, &die);
		if (!err) {
			struct unit_range_arg a = { dw, (uint32_t)i };
			bool has;
			err = ai_dwarf_die_ranges(dw->reader, &die, unit_range_cb, &a, &has);
		}
		ai_error_destroy(err);
	}
	if (dw->arange_count > 1)
		qsort(dw->aranges, dw->arange_count, sizeof(*dw->aranges), compare_aranges);
	dw->stats.aranges = dw->arange_count;
}

static struct cu *cu_for_address(struct ai_dwarf *dw, uint64_t pc)
{
	if (!dw->aranges_loaded)
		load_aranges(dw);
	size_t lo = 0, hi = dw->arange_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (dw->aranges[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Ranges of different units do not overlap in sane output; look back a little anyway. */
	for (size_t i = lo, n = 0; i > 0 && n < 4; i--, n++) {
		const struct arange *a = &dw->aranges[i - 1];
		if (pc >= a->lo && pc < a->hi)
			return &dw->cus[a->cu];
	}
	return NULL;
}

/* ---- indexing one unit ---- */

static int32_t add_scope(struct cu *cu, uint64_t offset, int32_t parent, const char *name,
			 uint16_t tag, uint64_t ref)
{
	AI_GROW(cu->scopes, cu->scope_capacity, cu->scope_count + 1);
	cu->scopes[cu->scope_count] = (struct scope){
		.offset = offset, .ref = ref, .name = name, .parent = parent, .tag = tag,
	};
	return (int32_t)cu->scope_count++;
}

struct add_range_arg {
	struct cu *cu;
	uint32_t scope;
};

static void add_code_range(void *arg, uint64_t lo, uint64_t hi)
{
	struct add_range_arg *a = arg;
	struct cu *cu = a->cu;
	AI_GROW(cu->ranges, cu->range_capacity, cu->range_count + 1);
	cu->ranges[cu->range_count++] = (struct code_range){ .lo = lo, .hi = hi, .scope = a->scope };
}

static bool is_scope_tag(uint16_t tag)
{
	switch (tag) {
	case DW_TAG_namespace:
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
	case DW_TAG_interface_type:
		return true;
	default:
		return false;
	}
}

/* Every type DIE is recorded, not only the scopes among them: the type model finds types by
 * qualified name in this index (dwarf_names.c), pointers and base types included. */
static bool is_type_tag(uint16_t tag)
{
	switch (tag) {
	case DW_TAG_base_type:
	case DW_TAG_pointer_type:
	case DW_TAG_reference_type:
	case DW_TAG_rvalue_reference_type:
	case DW_TAG_array_type:
	case DW_TAG_subroutine_type:
	case DW_TAG_typedef:
	case DW_TAG_unspecified_type:
	case DW_TAG_const_type:
	case DW_TAG_volatile_type:
	case DW_TAG_restrict_type:
	case DW_TAG_atomic_type:
	case DW_TAG_immutable_type:
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
		return true;
	default:
		return false;
	}
}

bool ai_dwarf_is_type_tag(uint16_t tag)
{
	return is_type_tag(tag);
}

/* Records a namespace, type or subprogram DIE; *end_ret is the offset after its attributes. */
static struct ai_error *index_die(struct ai_dwarf *dw, struct cu *cu,
				  const struct ai_dwarf_die *die, int32_t parent, int32_t *index_ret,
				  uint64_t *end_ret)
{
	struct ai_dwarf_attr attrs[24];
	size_t count;
	struct ai_error *err = ai_dwarf_die_attrs(dw->reader, die, attrs, AI_ARRAY_SIZE(attrs),
						  &count, end_ret);
	if (err)
		return err;
	count = AI_MIN(count, AI_ARRAY_SIZE(attrs));
	const char *name = NULL;
	uint64_t ref = 0;
	const struct ai_dwarf_attr *low = NULL, *high = NULL, *ranges = NULL;
	for (size_t i = 0; i < count; i++) {
		const struct ai_dwarf_attr *a = &attrs[i];
		switch (a->name) {
		case DW_AT_name:
			if (a->cls == AI_DWARF_CLASS_STRING)
				name = a->str;
			break;
		case DW_AT_specification:
		case DW_AT_abstract_origin:
			if (a->cls == AI_DWARF_CLASS_REFERENCE)
				ref = a->u;
			break;
		case DW_AT_low_pc:
			if (a->cls == AI_DWARF_CLASS_ADDRESS)
				low = a;
			break;
		case DW_AT_high_pc:
			high = a;
			break;
		case DW_AT_ranges:
			ranges = a;
			break;
		default:
			break;
		}
	}
	int32_t index = add_scope(cu, die->offset, parent, name, die->tag, ref);
	*index_ret = index;
	if (die->tag != DW_TAG_subprogram)
		return NULL;
	struct add_range_arg arg = { cu, (uint32_t)index };
	if (low && high) {
		uint64_t hi = high->cls == AI_DWARF_CLASS_ADDRESS ? high->u : low->u + high->u;
		if (hi > low->u)
			add_code_range(&arg, low->u, hi);
	} else if (ranges) {
		return ai_dwarf_attr_ranges(dw->reader, cu->unit, ranges, add_code_range, &arg);
	}
	return NULL;
}

/* One linear pass over the unit. Namespaces and the types that can hold types (structs, unions,
 * enums) are entered (their children are what qualified names are made of); subprogram bodies
 * and everything else are skipped: rustc emits every type in a namespace or inside another type,
 * never in a function body. */
static struct ai_error *walk_unit(struct ai_dwarf *dw, struct cu *cu)
{
	struct ai_dwarf_reader *r = dw->reader;
	struct ai_dwarf_unit *unit = cu->unit;
	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die(r, unit, unit->first_die, &die);
	if (err)
		return err;
	if (!die.has_children)
		return NULL;
	uint64_t offset;
	err = ai_dwarf_die_end(r, &die, &offset);
	if (err)
		return err;
	int32_t stack[MAX_SCOPE_DEPTH + 1];
	size_t depth = 0;
	stack[depth++] = -1;
	while (depth > 0 && offset < unit->end) {
		err = ai_dwarf_read_die(r, unit, offset, &die);
		if (err)
			return err;
		if (!die.abbrev) {
			depth--;
			offset = die.attrs;
			continue;
		}
		bool named = die.tag == DW_TAG_subprogram || is_scope_tag(die.tag) ||
			     is_type_tag(die.tag);
		if (named) {
			int32_t index;
			uint64_t end;
			err = index_die(dw, cu, &die, stack[depth - 1], &index, &end);
			if (err)
				return err;
			if (die.has_children && is_scope_tag(die.tag) && depth < MAX_SCOPE_DEPTH) {
				stack[depth++] = index;
				offset = end;
				continue;
			}
			if (!die.has_children) {
				offset = end;
				continue;
			}
		}
		err = ai_dwarf_die_sibling(r, &die, &offset);
		if (err)
			return err;
	}
	return NULL;
}

static int compare_code_ranges(const void *a, const void *b)
{
	const struct code_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	/* larger first, so that a nested range comes after the one containing it */
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1;
	return 0;
}

static struct ai_error *index_cu(struct ai_dwarf *dw, struct cu *cu)
{
	if (cu->indexed)
		return NULL;
	cu->indexed = true; /* even on failure: do not retry a broken unit on every pc */
	dw->stats.cus_indexed++;
	struct ai_error *err = walk_unit(dw, cu);
	/* Keep what was read before an error. */
	if (cu->range_count > 1)
		qsort(cu->ranges, cu->range_count, sizeof(*cu->ranges), compare_code_ranges);
	cu->qualified = xcalloc(AI_MAX(cu->scope_count, 1), sizeof(*cu->qualified));
	return err;
}

static int32_t find_scope(const struct cu *cu, uint64_t offset)
{
	size_t lo = 0, hi = cu->scope_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cu->scopes[mid].offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < cu->scope_count && cu->scopes[lo].offset == offset)
		return (int32_t)lo;
	return -1;
}

/* The innermost subprogram whose code contains pc, or -1. */
static int32_t find_function(const struct cu *cu, uint64_t pc)
{
	size_t lo = 0, hi = cu->range_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cu->ranges[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The last range starting at or before pc that contains it; look back a few for a nested
	 * function's enclosing one. */
	for (size_t i = lo, n = 0; i > 0 && n < 8; i--, n++) {
		const struct code_range *r = &cu->ranges[i - 1];
		if (pc < r->hi)
			return (int32_t)r->scope;
	}
	return -1;
}

/* Resolves a DIE offset to (unit, scope), indexing the unit if needed. */
static bool resolve_scope(struct ai_dwarf *dw, uint64_t offset, struct cu **cu_ret,
			  int32_t *scope_ret)
{
	struct cu *cu = cu_at(dw, offset);
	if (!cu)
		return false;
	ai_error_destroy(index_cu(dw, cu));
	int32_t s = find_scope(cu, offset);
	if (s < 0)
		return false;
	*cu_ret = cu;
	*scope_ret = s;
	return true;
}

static const char *qualified_name(struct ai_dwarf *dw, struct cu *cu, int32_t index, int hops)
{
	if (cu->qualified[index])
		return cu->qualified[index];
	const struct scope *s = &cu->scopes[index];
	char *result = NULL;
	if (s->ref && hops < MAX_REF_HOPS) {
		/* A definition that points at its declaration (or an instance at its abstract
		 * origin): the name and the enclosing namespaces are the target's. */
		struct cu *target_cu;
		int32_t target;
		if (resolve_scope(dw, s->ref, &target_cu, &target)) {
			const char *name = qualified_name(dw, target_cu, target, hops + 1);
			if (name)
				result = xstrdup(name);
		}
	}
	if (!result && s->name) {
		const char *parts[MAX_SCOPE_DEPTH + 1];
		size_t n = 0, len = 0;
		for (int32_t i = index; i >= 0 && n < AI_ARRAY_SIZE(parts);
		     i = cu->scopes[i].parent) {
			const char *name = cu->scopes[i].name ? cu->scopes[i].name : "{anonymous}";
			parts[n++] = name;
			len += strlen(name) + 2;
		}
		result = xmalloc(len + 1);
		char *p = result;
		for (size_t i = n; i > 0; i--) {
			size_t l = strlen(parts[i - 1]);
			memcpy(p, parts[i - 1], l);
			p += l;
			if (i > 1) {
				memcpy(p, "::", 2);
				p += 2;
			}
		}
		*p = '\0';
	}
	cu->qualified[index] = result;
	return result;
}

struct ai_error *ai_dwarf_qualified_name(struct ai_dwarf *dw, uint64_t die_offset,
					 const char **ret)
{
	struct cu *cu;
	int32_t index;
	if (!resolve_scope(dw, die_offset, &cu, &index))
		return ai_error_create(AI_ERROR_NOT_FOUND,
				       "%s: no namespace, type or function DIE at 0x%" PRIx64,
				       ai_dwarf_path(dw), die_offset);
	const char *name = qualified_name(dw, cu, index, 0);
	if (!name)
		return ai_error_create(AI_ERROR_NOT_FOUND, "%s: DIE 0x%" PRIx64 " has no name",
				       ai_dwarf_path(dw), die_offset);
	*ret = name;
	return NULL;
}

/* ---- line tables ---- */

static void load_lines(struct ai_dwarf *dw, struct cu *cu)
{
	if (cu->lines_loaded)
		return;
	cu->lines_loaded = true;
	dw->stats.line_tables++;
	/* A unit whose line table is corrupt just has no lines. */
	ai_error_destroy(ai_dwarf_read_line_table(dw->reader, cu->unit, &cu->lines));
}

static const char *file_name(const struct cu *cu, uint64_t fileno)
{
	return fileno < cu->lines.file_count ? cu->lines.files[fileno] : NULL;
}

static void find_line(struct ai_dwarf *dw, struct cu *cu, uint64_t pc, struct ai_location *loc)
{
	load_lines(dw, cu);
	const struct ai_dwarf_line_row *row = ai_dwarf_line_table_find(&cu->lines, pc);
	if (!row)
		return;
	loc->file = file_name(cu, row->file);
	loc->line = row->line;
	loc->column = row->column;
}

/* ---- inlined calls ---- */

struct inline_call {
	uint64_t offset;
	uint64_t origin;
	uint64_t call_file, call_line, call_column;
};

struct contains_arg {
	uint64_t pc;
	bool found;
};

static void contains_cb(void *arg, uint64_t lo, uint64_t hi)
{
	struct contains_arg *a = arg;
	if (a->pc >= lo && a->pc < hi)
		a->found = true;
}

/* 1: the DIE's ranges contain pc; 0: they do not; -1: it has no ranges. */
static int die_contains(struct ai_dwarf *dw, const struct ai_dwarf_die *die, uint64_t pc)
{
	struct contains_arg a = { pc, false };
	bool has;
	struct ai_error *err = ai_dwarf_die_ranges(dw->reader, die, contains_cb, &a, &has);
	if (err) {
		ai_error_destroy(err);
		return 0;
	}
	return has ? a.found : -1;
}

static void read_inline_call(struct ai_dwarf *dw, const struct ai_dwarf_die *die,
			     struct inline_call *call)
{
	memset(call, 0, sizeof(*call));
	call->offset = die->offset;
	struct ai_dwarf_attr attrs[24];
	size_t count;
	struct ai_error *err = ai_dwarf_die_attrs(dw->reader, die, attrs, AI_ARRAY_SIZE(attrs),
						  &count, NULL);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
		const struct ai_dwarf_attr *a = &attrs[i];
		if (a->name == DW_AT_abstract_origin && a->cls == AI_DWARF_CLASS_REFERENCE)
			call->origin = a->u;
		else if (a->name == DW_AT_call_file && a->cls == AI_DWARF_CLASS_CONSTANT)
			call->call_file = a->u;
		else if (a->name == DW_AT_call_line && a->cls == AI_DWARF_CLASS_CONSTANT)
			call->call_line = a->u;
		else if (a->name == DW_AT_call_column && a->cls == AI_DWARF_CLASS_CONSTANT)
			call->call_column = a->u;
	}
}

/* Appends the inlined_subroutine DIEs among the children starting at `offset` that contain pc,
 * outermost first. */
static void find_inlined(struct ai_dwarf *dw, struct ai_dwarf_unit *unit, uint64_t offset,
			 uint64_t pc, struct inline_call *chain, size_t *count, int depth)
{
	if (depth > MAX_INLINE_DEPTH || *count >= MAX_INLINE_DEPTH)
		return;
	for (int guard = 0; guard < 1 << 20; guard++) {
		struct ai_dwarf_die die;
		struct ai_error *err = ai_dwarf_read_die(dw->reader, unit, offset, &die);
		if (err || !die.abbrev) {
			ai_error_destroy(err);
			return;
		}
		int descend = 0; /* 1: pc is in there; 2: maybe (a block without ranges) */
		if (die.tag == DW_TAG_inlined_subroutine) {
			if (die_contains(dw, &die, pc) == 1) {
				read_inline_call(dw, &die, &chain[(*count)++]);
				descend = 1;
			}
		} else if (die.tag == DW_TAG_lexical_block || die.tag == DW_TAG_try_block ||
			   die.tag == DW_TAG_catch_block) {
			int contains = die_contains(dw, &die, pc);
			descend = contains == 1 ? 1 : contains < 0 ? 2 : 0;
		}
		if (descend && die.has_children) {
			size_t before = *count;
			uint64_t child;
			err = ai_dwarf_die_end(dw->reader, &die, &child);
			if (err) {
				ai_error_destroy(err);
				return;
			}
			find_inlined(dw, unit, child, pc, chain, count, depth + 1);
			if (descend == 1 || *count > before)
				return; /* only one chain contains pc */
		} else if (descend == 1) {
			return;
		}
		err = ai_dwarf_die_sibling(dw->reader, &die, &offset);
		if (err) {
			ai_error_destroy(err);
			return;
		}
	}
}

static const char *name_of_offset(struct ai_dwarf *dw, uint64_t offset)
{
	struct cu *cu;
	int32_t index;
	if (!offset || !resolve_scope(dw, offset, &cu, &index))
		return NULL;
	return qualified_name(dw, cu, index, 0);
}

struct ai_error *ai_dwarf_find_locations(struct ai_dwarf *dw, uint64_t vaddr,
					 bool is_return_address, struct ai_location *locations,
					 size_t max, size_t *count_ret)
{
	uint64_t pc = is_return_address && vaddr ? vaddr - 1 : vaddr;
	struct cu *cu = cu_for_address(dw, pc);
	if (!cu || max == 0) {
		*count_ret = 0;
		return NULL;
	}
	struct ai_error *err = index_cu(dw, cu);
	if (err)
		return err;

	struct ai_location all[MAX_INLINE_DEPTH + 1];
	memset(all, 0, sizeof(all));
	size_t n;
	int32_t function = find_function(cu, pc);
	if (function < 0) {
		/* Code without a subprogram DIE: still give the line. */
		find_line(dw, cu, pc, &all[0]);
		n = 1;
	} else {
		const struct scope *s = &cu->scopes[function];
		struct inline_call chain[MAX_INLINE_DEPTH];
		size_t depth = 0;
		struct ai_dwarf_die die;
		uint64_t child;
		err = ai_dwarf_read_die(dw->reader, cu->unit, s->offset, &die);
		if (!err && die.has_children && !(err = ai_dwarf_die_end(dw->reader, &die, &child)))
			find_inlined(dw, cu->unit, child, pc, chain, &depth, 0);
		ai_error_destroy(err);
		n = depth + 1;
		/* all[0] is the innermost inlined call (or the function itself); all[depth] the
		 * function. Location i > 0 is where location i - 1 was called from. */
		for (size_t i = 0; i < n; i++) {
			struct ai_location *loc = &all[i];
			loc->subprogram_die_offset = s->offset;
			if (i < depth) {
				const struct inline_call *call = &chain[depth - 1 - i];
				loc->function = name_of_offset(dw, call->origin);
				loc->die_offset = call->offset;
				loc->inlined = true;
			} else {
				loc->function = qualified_name(dw, cu, function, 0);
				loc->die_offset = s->offset;
			}
			if (i == 0) {
				find_line(dw, cu, pc, loc);
			} else {
				const struct inline_call *callee = &chain[depth - i];
				load_lines(dw, cu);
				loc->file = file_name(cu, callee->call_file);
				loc->line = (uint32_t)callee->call_line;
				loc->column = (uint32_t)callee->call_column;
			}
		}
	}
	/* Keep the outermost `max` (the function itself always survives). */
	size_t skip = n > max ? n - max : 0;
	memcpy(locations, all + skip, (n - skip) * sizeof(*locations));
	*count_ret = n - skip;
	return NULL;
}

/* ---- for the other files of the module (dwarf_info_internal.h) ---- */

struct cu *ai_dwarf_cu_at(struct ai_dwarf *dw, uint64_t offset)
{
	return cu_at(dw, offset);
}

struct ai_error *ai_dwarf_cu_index(struct ai_dwarf *dw, struct cu *cu)
{
	return index_cu(dw, cu);
}

const char *ai_dwarf_cu_scope_name(struct ai_dwarf *dw, struct cu *cu, int32_t index)
{
	return qualified_name(dw, cu, index, 0);
}

const char *ai_dwarf_cu_file(struct ai_dwarf *dw, struct cu *cu, uint64_t fileno)
{
	load_lines(dw, cu);
	return file_name(cu, fileno);
}
