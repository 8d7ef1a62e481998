/* The variables of a stack frame: parameters and locals of its DIE (a subprogram, or an inlined
 * call whose variables name their abstract origin), and of the lexical blocks around the pc, with
 * DW_AT_location evaluated against the frame's registers and the subprogram's DW_AT_frame_base.
 *
 * Only memory locations are reported: a variable in a register, a computed value
 * (DW_OP_stack_value), a composite (DW_OP_piece) or an operation we do not know is skipped, as is
 * one whose location list has no entry at the pc. rustc's debug builds give nearly all variables
 * as DW_OP_fbreg against a frame base of DW_OP_reg7 (rsp) or DW_OP_reg6 (rbp), and a few location
 * lists (.debug_loc in DWARF 4, .debug_loclists in DWARF 5). Only frames in the executable are
 * read: its DWARF is the one the type model describes. */
#include <dwarf.h>
#include <inttypes.h>
#include <string.h>

#include "ai/async.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"

/* Lexical blocks nest no deeper than this (a corrupt tree must not blow the stack). */
#define MAX_BLOCK_DEPTH 32
/* Values on the expression stack. */
#define EXPR_STACK 32

struct frame_ctx {
	struct ai_async *as;
	struct ai_dwarf_reader *reader;
	const struct ai_frame *frame;
	uint64_t bias;
	uint64_t pc;              /* file vaddr looked up in ranges and location lists */
	bool has_frame_base;
	uint64_t frame_base;
};

/* ---- Byte cursor ---- */

struct bytes {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t rd_u(struct bytes *b, size_t n)
{
	if ((size_t)(b->end - b->p) < n) {
		b->bad = true;
		b->p = b->end;
		return 0;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b->p[i] << (8 * i);
	b->p += n;
	return v;
}

static uint64_t rd_uleb(struct bytes *b)
{
	uint64_t v = 0;
	for (unsigned shift = 0; b->p < b->end; shift += 7) {
		uint8_t byte = *b->p++;
		if (shift < 64)
			v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return v;
	}
	b->bad = true;
	return v;
}

static int64_t rd_sleb(struct bytes *b)
{
	uint64_t v = 0;
	unsigned shift = 0;
	while (b->p < b->end) {
		uint8_t byte = *b->p++;
		if (shift < 64)
			v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
		if (!(byte & 0x80)) {
			if (shift < 64 && (byte & 0x40))
				v |= ~(uint64_t)0 << shift;
			return (int64_t)v;
		}
	}
	b->bad = true;
	return (int64_t)v;
}

/* ---- DWARF expressions ---- */

static bool reg_value(const struct ai_frame *frame, uint64_t reg, uint64_t *ret)
{
	if (reg >= AI_REG_COUNT || !(frame->regs_valid & (1u << reg)))
		return false;
	*ret = frame->regs[reg];
	return true;
}

/* An entry of .debug_addr (DWARF 5 DW_OP_addrx, DW_LLE_*x), a file vaddr. */
static bool debug_addr(struct frame_ctx *ctx, const struct ai_dwarf_unit *unit, uint64_t index,
		       uint64_t *ret)
{
	const uint8_t *data;
	size_t size;
	if (!ai_dwarf_reader_section(ctx->reader, ".debug_addr", &data, &size))
		return false;
	uint64_t offset = unit->addr_base + index * unit->address_size;
	if (offset > size || size - offset < unit->address_size)
		return false;
	struct bytes b = { data + offset, data + size, false };
	*ret = rd_u(&b, unit->address_size);
	return !b.bad;
}

/* Evaluates a location expression. For a frame base, a register operation names the register's
 * value; for a variable it means the variable lives in that register, which we skip. Returns false
 * for anything that is not a plain memory address. */
static bool eval_expr(struct frame_ctx *ctx, const struct ai_dwarf_unit *unit, const uint8_t *expr,
		      size_t len, bool is_frame_base, uint64_t *ret)
{
	struct bytes b = { expr, expr + len, false };
	uint64_t stack[EXPR_STACK];
	size_t n = 0;
#define PUSH(v)                                   \
	do {                                      \
		uint64_t pushed_ = (v);            \
		if (n == EXPR_STACK)               \
			return false;              \
		stack[n++] = pushed_;              \
	} while (0)
#define NEED(k) do { if (n < (k)) return false; } while (0)
	while (b.p < b.end && !b.bad) {
		uint8_t op = *b.p++;
		uint64_t v;
		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			PUSH(op - DW_OP_lit0);
		} else if (op >= DW_OP_breg0 && op <= DW_OP_breg31) {
			int64_t offset = rd_sleb(&b);
			if (!reg_value(ctx->frame, op - DW_OP_breg0, &v))
				return false;
			PUSH(v + (uint64_t)offset);
		} else if (op >= DW_OP_reg0 && op <= DW_OP_reg31) {
			if (!is_frame_base || b.p != b.end || !reg_value(ctx->frame, op - DW_OP_reg0, &v))
				return false;
			*ret = v;
			return true;
		} else {
			switch (op) {
			case DW_OP_addr:
				PUSH(rd_u(&b, unit->address_size) + ctx->bias);
				break;
			case DW_OP_addrx:
			case DW_OP_GNU_addr_index:
				if (!debug_addr(ctx, unit, rd_uleb(&b), &v))
					return false;
				PUSH(v + ctx->bias);
				break;
			case DW_OP_const1u: PUSH(rd_u(&b, 1)); break;
			case DW_OP_const2u: PUSH(rd_u(&b, 2)); break;
			case DW_OP_const4u: PUSH(rd_u(&b, 4)); break;
			case DW_OP_const8u: PUSH(rd_u(&b, 8)); break;
			case DW_OP_const1s: PUSH((uint64_t)(int8_t)rd_u(&b, 1)); break;
			case DW_OP_const2s: PUSH((uint64_t)(int16_t)rd_u(&b, 2)); break;
			case DW_OP_const4s: PUSH((uint64_t)(int32_t)rd_u(&b, 4)); break;
			case DW_OP_const8s: PUSH(rd_u(&b, 8)); break;
			case DW_OP_constu: PUSH(rd_uleb(&b)); break;
			case DW_OP_consts: PUSH((uint64_t)rd_sleb(&b)); break;
			case DW_OP_fbreg: {
				int64_t offset = rd_sleb(&b);
				if (!ctx->has_frame_base)
					return false;
				PUSH(ctx->frame_base + (uint64_t)offset);
				break;
			}
			case DW_OP_bregx: {
				uint64_t reg = rd_uleb(&b);
				int64_t offset = rd_sleb(&b);
				if (!reg_value(ctx->frame, reg, &v))
					return false;
				PUSH(v + (uint64_t)offset);
				break;
			}
			case DW_OP_regx:
				v = rd_uleb(&b);
				if (!is_frame_base || b.p != b.end || !reg_value(ctx->frame, v, ret))
					return false;
				return true;
			case DW_OP_call_frame_cfa:
				/* The outermost frame's CFA is unknown (0). */
				if (!ctx->frame->cfa)
					return false;
				PUSH(ctx->frame->cfa);
				break;
			case DW_OP_plus_uconst:
				NEED(1);
				stack[n - 1] += rd_uleb(&b);
				break;
			case DW_OP_plus:
				NEED(2);
				stack[n - 2] += stack[n - 1];
				n--;
				break;
			case DW_OP_minus:
				NEED(2);
				stack[n - 2] -= stack[n - 1];
				n--;
				break;
			case DW_OP_and:
				NEED(2);
				stack[n - 2] &= stack[n - 1];
				n--;
				break;
			case DW_OP_dup:
				NEED(1);
				PUSH(stack[n - 1]);
				break;
			case DW_OP_drop:
				NEED(1);
				n--;
				break;
			case DW_OP_over:
				NEED(2);
				PUSH(stack[n - 2]);
				break;
			case DW_OP_swap:
				NEED(2);
				v = stack[n - 1];
				stack[n - 1] = stack[n - 2];
				stack[n - 2] = v;
				break;
			case DW_OP_deref: {
				NEED(1);
				struct ai_error *err = ai_memory_read_u64(ctx->as->target->memory,
									  stack[n - 1], &v);
				if (err) {
					ai_error_destroy(err);
					return false;
				}
				stack[n - 1] = v;
				break;
			}
			case DW_OP_nop:
				break;
			default:
				/* DW_OP_stack_value, DW_OP_piece, DW_OP_entry_value, ...: not a plain
				 * address in memory. */
				return false;
			}
		}
	}
#undef PUSH
#undef NEED
	if (b.bad || n == 0)
		return false;
	*ret = stack[n - 1];
	return true;
}

/* ---- Location lists ---- */

/* Finds the expression of a DWARF 4 .debug_loc list that covers ctx->pc. */
static bool find_loc_v4(struct frame_ctx *ctx, const struct ai_dwarf_unit *unit, uint64_t offset,
			const uint8_t **expr_ret, size_t *len_ret)
{
	const uint8_t *data;
	size_t size;
	if (!ai_dwarf_reader_section(ctx->reader, ".debug_loc", &data, &size) || offset >= size)
		return false;
	struct bytes b = { data + offset, data + size, false };
	uint64_t base = unit->base_address;
	uint64_t max = unit->address_size == 4 ? UINT32_MAX : UINT64_MAX;
	for (int guard = 0; guard < 1 << 16 && !b.bad; guard++) {
		uint64_t lo = rd_u(&b, unit->address_size), hi = rd_u(&b, unit->address_size);
		if (b.bad || (lo == 0 && hi == 0))
			return false;
		if (lo == max) {
			base = hi;
			continue;
		}
		uint64_t len = rd_u(&b, 2);
		if (b.bad || (uint64_t)(b.end - b.p) < len)
			return false;
		if (ctx->pc >= base + lo && ctx->pc < base + hi) {
			*expr_ret = b.p;
			*len_ret = len;
			return true;
		}
		b.p += len;
	}
	return false;
}

/* Finds the expression of a DWARF 4 split unit's list in .debug_loc.dwo (the GNU format that
 * came before DWARF 5's: DW_LLE_GNU_* entries with .debug_addr indexes) covering ctx->pc. */
static bool find_loc_gnu_split(struct frame_ctx *ctx, const struct ai_dwarf_unit *unit,
			       uint64_t offset, const uint8_t **expr_ret, size_t *len_ret)
{
	const uint8_t *data;
	size_t size;
	if (!ai_dwarf_reader_section(ctx->reader, ".debug_loc.dwo", &data, &size) || offset >= size)
		return false;
	struct bytes b = { data + offset, data + size, false };
	uint64_t base = unit->base_address;
	for (int guard = 0; guard < 1 << 16 && !b.bad; guard++) {
		uint8_t kind = (uint8_t)rd_u(&b, 1);
		uint64_t lo, hi;
		switch (kind) {
		case 0: /* DW_LLE_GNU_end_of_list_entry */
			return false;
		case 1: /* DW_LLE_GNU_base_address_selection_entry */
			if (!debug_addr(ctx, unit, rd_uleb(&b), &base))
				return false;
			continue;
		case 2: /* DW_LLE_GNU_start_end_entry */
			if (!debug_addr(ctx, unit, rd_uleb(&b), &lo) ||
			    !debug_addr(ctx, unit, rd_uleb(&b), &hi))
				return false;
			break;
		case 3: /* DW_LLE_GNU_start_length_entry: a 4-byte length */
			if (!debug_addr(ctx, unit, rd_uleb(&b), &lo))
				return false;
			hi = lo + rd_u(&b, 4);
			break;
		default:
			return false;
		}
		uint64_t len = rd_u(&b, 2);
		if (b.bad || (uint64_t)(b.end - b.p) < len)
			return false;
		if (ctx->pc >= lo && ctx->pc < hi) {
			*expr_ret = b.p;
			*len_ret = len;
			return true;
		}
		b.p += len;
	}
	return false;
}

/* The location lists of a unit: a split unit's are in its .dwo's section. */
static const char *loclists_section(const struct ai_dwarf_unit *unit)
{
	return unit->split ? ".debug_loclists.dwo" : ".debug_loclists";
}

/* Finds the expression of a DWARF 5 .debug_loclists list (at a section offset) covering ctx->pc. */
static bool find_loc_v5(struct frame_ctx *ctx, const struct ai_dwarf_unit *unit, uint64_t offset,
			const uint8_t **expr_ret, size_t *len_ret)
{
	const uint8_t *data;
	size_t size;
	if (!ai_dwarf_reader_section(ctx->reader, loclists_section(unit), &data, &size) ||
	    offset >= size)
		return false;
	struct bytes b = { data + offset, data + size, false };
	uint64_t base = unit->base_address;
	for (int guard = 0; guard < 1 << 16 && !b.bad; guard++) {
		uint8_t kind = (uint8_t)rd_u(&b, 1);
		uint64_t lo = 0, hi = 0, a;
		bool has_range = true;
		switch (kind) {
		case DW_LLE_end_of_list:
			return false;
		case DW_LLE_base_addressx:
			if (!debug_addr(ctx, unit, rd_uleb(&b), &base))
				return false;
			continue;
		case DW_LLE_startx_endx:
			if (!debug_addr(ctx, unit, rd_uleb(&b), &lo) ||
			    !debug_addr(ctx, unit, rd_uleb(&b), &hi))
				return false;
			break;
		case DW_LLE_startx_length:
			if (!debug_addr(ctx, unit, rd_uleb(&b), &lo))
				return false;
			hi = lo + rd_uleb(&b);
			break;
		case DW_LLE_offset_pair:
			lo = base + rd_uleb(&b);
			hi = base + rd_uleb(&b);
			break;
		case DW_LLE_default_location:
			has_range = false;
			break;
		case DW_LLE_base_address:
			base = rd_u(&b, unit->address_size);
			continue;
		case DW_LLE_start_end:
			lo = rd_u(&b, unit->address_size);
			hi = rd_u(&b, unit->address_size);
			break;
		case DW_LLE_start_length:
			lo = rd_u(&b, unit->address_size);
			a = rd_uleb(&b);
			hi = lo + a;
			break;
		default:
			return false;
		}
		uint64_t len = rd_uleb(&b);
		if (b.bad || (uint64_t)(b.end - b.p) < len)
			return false;
		if (!has_range || (ctx->pc >= lo && ctx->pc < hi)) {
			*expr_ret = b.p;
			*len_ret = len;
			return true;
		}
		b.p += len;
	}
	return false;
}

/* The expression of a location attribute in effect at ctx->pc. */
static bool location_expr(struct frame_ctx *ctx, const struct ai_dwarf_unit *unit,
			  const struct ai_dwarf_attr *attr, const uint8_t **expr_ret, size_t *len_ret)
{
	switch (attr->cls) {
	case AI_DWARF_CLASS_BLOCK:
		*expr_ret = attr->block;
		*len_ret = attr->block_len;
		return true;
	case AI_DWARF_CLASS_SEC_OFFSET:
	case AI_DWARF_CLASS_CONSTANT: /* DWARF 3: a data4/data8 loclistptr */
		/* a split unit's offsets are into its contribution to the .dwo's section */
		if (unit->version >= 5)
			return find_loc_v5(ctx, unit, attr->u + (unit->split ? unit->loc_base : 0),
					   expr_ret, len_ret);
		if (unit->split)
			return find_loc_gnu_split(ctx, unit, unit->loc_base + attr->u, expr_ret,
						  len_ret);
		return find_loc_v4(ctx, unit, attr->u, expr_ret, len_ret);
	case AI_DWARF_CLASS_INDEX: {
		/* DW_FORM_loclistx: an index into the offsets table at loclists_base. */
		const uint8_t *data;
		size_t size;
		if (!ai_dwarf_reader_section(ctx->reader, loclists_section(unit), &data, &size))
			return false;
		uint64_t at = unit->loclists_base + attr->u * unit->offset_size;
		if (at > size || size - at < unit->offset_size)
			return false;
		struct bytes b = { data + at, data + size, false };
		uint64_t offset = rd_u(&b, unit->offset_size);
		return find_loc_v5(ctx, unit, unit->loclists_base + offset, expr_ret, len_ret);
	}
	default:
		return false;
	}
}

/* ---- Walking the DIEs ---- */

static void frame_base_of(struct frame_ctx *ctx, uint64_t subprogram)
{
	struct ai_dwarf_die die;
	struct ai_dwarf_attr attr;
	bool found = false;
	struct ai_error *err = ai_dwarf_read_die_at(ctx->reader, subprogram, &die);
	if (!err)
		err = ai_dwarf_die_attr(ctx->reader, &die, DW_AT_frame_base, &attr, &found);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	const uint8_t *expr;
	size_t len;
	if (found && location_expr(ctx, die.unit, &attr, &expr, &len))
		ctx->has_frame_base = eval_expr(ctx, die.unit, expr, len, true, &ctx->frame_base);
}

struct var_attrs {
	const char *name;
	uint64_t type, origin;
	struct ai_dwarf_attr location;
	bool has_location;
};

static void read_var_attrs(struct frame_ctx *ctx, const struct ai_dwarf_die *die,
			   struct var_attrs *v)
{
	memset(v, 0, sizeof(*v));
	struct ai_dwarf_attr attrs[16];
	size_t count;
	struct ai_error *err = ai_dwarf_die_attrs(ctx->reader, die, attrs, AI_ARRAY_SIZE(attrs),
						  &count, NULL);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
		const struct ai_dwarf_attr *a = &attrs[i];
		if (a->name == DW_AT_name && a->cls == AI_DWARF_CLASS_STRING)
			v->name = a->str;
		else if (a->name == DW_AT_type && a->cls == AI_DWARF_CLASS_REFERENCE)
			v->type = a->u;
		else if (a->name == DW_AT_abstract_origin && a->cls == AI_DWARF_CLASS_REFERENCE)
			v->origin = a->u;
		else if (a->name == DW_AT_location) {
			v->location = *a;
			v->has_location = true;
		}
	}
}

/* 1: the block's ranges contain pc; 0: they do not; -1: it has none. */
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

static int block_contains(struct frame_ctx *ctx, const struct ai_dwarf_die *die)
{
	struct contains_arg a = { ctx->pc, false };
	bool has = false;
	struct ai_error *err = ai_dwarf_die_ranges(ctx->reader, die, contains_cb, &a, &has);
	if (err) {
		ai_error_destroy(err);
		return 0;
	}
	return has ? a.found : -1;
}

/* Reports the variables among the children starting at `offset`. Returns false when fn asked to
 * stop. */
static bool walk_children(struct frame_ctx *ctx, struct ai_dwarf_unit *unit, uint64_t offset,
			  int depth, ai_frame_var_fn *fn, void *arg)
{
	if (depth > MAX_BLOCK_DEPTH)
		return true;
	for (int guard = 0; guard < 1 << 16; guard++) {
		struct ai_dwarf_die die;
		struct ai_error *err = ai_dwarf_read_die(ctx->reader, unit, offset, &die);
		if (err || !die.abbrev) {
			ai_error_destroy(err);
			return true;
		}
		if (die.tag == DW_TAG_formal_parameter || die.tag == DW_TAG_variable) {
			struct var_attrs v;
			read_var_attrs(ctx, &die, &v);
			if (v.origin && (!v.name || !v.type)) {
				struct ai_dwarf_die origin;
				struct var_attrs o;
				err = ai_dwarf_read_die_at(ctx->reader, v.origin, &origin);
				if (!err) {
					read_var_attrs(ctx, &origin, &o);
					if (!v.name)
						v.name = o.name;
					if (!v.type)
						v.type = o.type;
				}
				ai_error_destroy(err);
			}
			const uint8_t *expr;
			size_t len;
			uint64_t address;
			/* (a coroutine's poll body takes its Pin<&mut ENV> as an unnamed parameter) */
			if ((v.name || die.tag == DW_TAG_formal_parameter) && v.type && v.has_location &&
			    location_expr(ctx, die.unit, &v.location, &expr, &len) &&
			    eval_expr(ctx, die.unit, expr, len, false, &address)) {
				struct ai_frame_var var = {
					.name = v.name,
					.type_die = v.type,
					.address = address,
					.is_parameter = die.tag == DW_TAG_formal_parameter,
				};
				if (!fn(&var, arg))
					return false;
			}
		} else if (die.tag == DW_TAG_lexical_block && die.has_children &&
			   block_contains(ctx, &die) != 0) {
			uint64_t child;
			err = ai_dwarf_die_end(ctx->reader, &die, &child);
			if (err) {
				ai_error_destroy(err);
				return true;
			}
			if (!walk_children(ctx, unit, child, depth + 1, fn, arg))
				return false;
		}
		/* Inlined calls are frames of their own; nested subprograms are other functions. */
		err = ai_dwarf_die_sibling(ctx->reader, &die, &offset);
		if (err) {
			ai_error_destroy(err);
			return true;
		}
	}
	return true;
}

struct ai_error *ai_frame_vars(struct ai_async *as, const struct ai_frame *frame,
			       ai_frame_var_fn *fn, void *arg)
{
	struct ai_module *main = as->module;
	if (!frame->location.die_offset || !frame->module || frame->module != main)
		return NULL;
	struct frame_ctx ctx = {
		.as = as,
		.reader = ai_dwarf_get_reader(as->dwarf),
		.frame = frame,
		.bias = main->bias,
	};
	if (!ctx.reader)
		return ai_error_create(AI_ERROR_DWARF, "no DWARF reader for %s",
				       ai_dwarf_path(as->dwarf));
	uint64_t vaddr = frame->pc - main->bias;
	ctx.pc = frame->is_return_address && vaddr ? vaddr - 1 : vaddr;
	if (frame->location.subprogram_die_offset)
		frame_base_of(&ctx, frame->location.subprogram_die_offset);

	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die_at(ctx.reader, frame->location.die_offset, &die);
	if (err)
		return ai_error_wrap(err, "reading the variables of %s",
				     frame->location.function ? frame->location.function : "a frame");
	if (!die.has_children)
		return NULL;
	uint64_t child;
	err = ai_dwarf_die_end(ctx.reader, &die, &child);
	if (err)
		return err;
	walk_children(&ctx, die.unit, child, 0, fn, arg);
	return NULL;
}
