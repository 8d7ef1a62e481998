/* Address ranges of DIEs (DW_AT_low_pc/high_pc, DW_AT_ranges in .debug_ranges or .debug_rnglists)
 * and of units (.debug_aranges), for the fast reader; see ai/dwarf_reader.h. */
#include <dwarf.h>

#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "dwarf_reader_internal.h"

struct ai_error *ai_dwarf_attr_ranges(struct ai_dwarf_reader *r, const struct ai_dwarf_unit *unit,
				      const struct ai_dwarf_attr *ranges, ai_dwarf_range_fn *fn,
				      void *arg)
{
	if (unit->version < 5) {
		/* A split unit's lists are in the executable's .debug_ranges, after its skeleton's
		 * DW_AT_GNU_ranges_base. */
		const uint8_t *data;
		size_t size;
		uint64_t at = ranges->u + (unit->split ? unit->ranges_base : 0);
		if (!ai_dwarf_reader_load_section(r, ".debug_ranges", &data, &size) ||
		    (ranges->cls != AI_DWARF_CLASS_SEC_OFFSET && ranges->cls != AI_DWARF_CLASS_CONSTANT) ||
		    at >= size)
			return NULL;
		struct cursor c = { data + at, data + size, false };
		uint64_t base = unit->base_address;
		uint64_t max = unit->address_size == 4 ? UINT32_MAX : UINT64_MAX;
		for (int i = 0; i < 1 << 20; i++) {
			uint64_t lo = rd_uN(&c, unit->address_size), hi = rd_uN(&c, unit->address_size);
			if (c.bad || (lo == 0 && hi == 0))
				break;
			if (lo == max)
				base = hi;
			else if (hi > lo)
				fn(arg, base + lo, base + hi);
		}
		return NULL;
	}
	const uint8_t *data;
	size_t size;
	/* A DWARF 5 split unit's lists are in its .dwo's .debug_rnglists.dwo (its contribution
	 * there starts at ranges_base), their addresses in the executable's .debug_addr. */
	if (!ai_dwarf_reader_load_section(r, unit->split ? ".debug_rnglists.dwo" : ".debug_rnglists",
					  &data, &size))
		return NULL;
	uint64_t offset;
	if (ranges->cls == AI_DWARF_CLASS_INDEX) {
		uint64_t at = unit->rnglists_base + ranges->u * unit->offset_size;
		if (at > size || size - at < unit->offset_size)
			return NULL;
		struct cursor c = { data + at, data + size, false };
		offset = unit->rnglists_base + rd_uN(&c, unit->offset_size);
	} else {
		offset = ranges->u + (unit->split ? unit->ranges_base : 0);
	}
	if (offset >= size)
		return NULL;
	struct cursor c = { data + offset, data + size, false };
	uint64_t base = unit->base_address;
	for (int i = 0; i < 1 << 20 && !c.bad; i++) {
		uint8_t kind = rd_u8(&c);
		uint64_t a, b;
		switch (kind) {
		case DW_RLE_end_of_list:
			return NULL;
		case DW_RLE_base_addressx:
			if (!ai_dwarf_reader_indexed_address(r, unit, rd_uleb(&c), &base))
				return NULL;
			break;
		case DW_RLE_startx_endx:
			a = rd_uleb(&c);
			b = rd_uleb(&c);
			if (ai_dwarf_reader_indexed_address(r, unit, a, &a) && ai_dwarf_reader_indexed_address(r, unit, b, &b) && b > a)
				fn(arg, a, b);
			break;
		case DW_RLE_startx_length:
			a = rd_uleb(&c);
			b = rd_uleb(&c);
			if (ai_dwarf_reader_indexed_address(r, unit, a, &a) && b)
				fn(arg, a, a + b);
			break;
		case DW_RLE_offset_pair:
			a = rd_uleb(&c);
			b = rd_uleb(&c);
			if (b > a)
				fn(arg, base + a, base + b);
			break;
		case DW_RLE_base_address:
			base = rd_uN(&c, unit->address_size);
			break;
		case DW_RLE_start_end:
			a = rd_uN(&c, unit->address_size);
			b = rd_uN(&c, unit->address_size);
			if (!c.bad && b > a)
				fn(arg, a, b);
			break;
		case DW_RLE_start_length:
			a = rd_uN(&c, unit->address_size);
			b = rd_uleb(&c);
			if (!c.bad && b)
				fn(arg, a, a + b);
			break;
		default:
			return NULL;
		}
	}
	return NULL;
}

struct ai_error *ai_dwarf_die_ranges(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				     ai_dwarf_range_fn *fn, void *arg, bool *has_ranges_ret)
{
	struct ai_dwarf_attr attrs[32];
	size_t count;
	struct ai_error *err = ai_dwarf_die_attrs(r, die, attrs, AI_ARRAY_SIZE(attrs), &count, NULL);
	if (err)
		return err;
	const struct ai_dwarf_attr *low = NULL, *high = NULL, *ranges = NULL;
	for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
		if (attrs[i].name == DW_AT_low_pc && attrs[i].cls == AI_DWARF_CLASS_ADDRESS)
			low = &attrs[i];
		else if (attrs[i].name == DW_AT_high_pc)
			high = &attrs[i];
		else if (attrs[i].name == DW_AT_ranges)
			ranges = &attrs[i];
	}
	*has_ranges_ret = true;
	if (low && high) {
		uint64_t hi = high->cls == AI_DWARF_CLASS_ADDRESS ? high->u : low->u + high->u;
		if (hi > low->u)
			fn(arg, low->u, hi);
		return NULL;
	}
	if (ranges)
		return ai_dwarf_attr_ranges(r, die->unit, ranges, fn, arg);
	if (low) {
		fn(arg, low->u, low->u + 1);
		return NULL;
	}
	*has_ranges_ret = false;
	return NULL;
}

bool ai_dwarf_reader_aranges(struct ai_dwarf_reader *r, ai_dwarf_arange_fn *fn, void *arg)
{
	/* Split units: their skeletons' ranges (.debug_aranges names the skeletons, which are no
	 * longer units of the reader, so its entries for them find no unit and are dropped). */
	for (size_t i = 0; i < r->split_range_count; i++) {
		const struct split_range *s = &r->split_ranges[i];
		if (s->unit_offset)
			fn(arg, s->lo, s->hi, s->unit_offset);
	}
	const uint8_t *data;
	size_t size;
	if (!ai_dwarf_reader_load_section(r, ".debug_aranges", &data, &size))
		return r->split_range_count > 0;
	struct cursor c = { data, data + size, false };
	while (!c.bad && c.p < c.end) {
		const uint8_t *set = c.p;
		uint8_t offset_size;
		uint64_t length = rd_initial_length(&c, &offset_size);
		if (c.bad || length > (uint64_t)(c.end - c.p))
			break;
		const uint8_t *next = c.p + length;
		struct cursor s = { c.p, next, false };
		rd_uN(&s, 2); /* version */
		uint64_t unit_offset = rd_uN(&s, offset_size);
		uint8_t address_size = rd_u8(&s);
		uint8_t segment_size = rd_u8(&s);
		if (s.bad || (address_size != 4 && address_size != 8) || segment_size != 0) {
			c.p = next;
			continue;
		}
		/* tuples start at a multiple of twice the address size from the set's start */
		size_t header = (size_t)(s.p - set), tuple = 2u * address_size;
		skip(&s, (tuple - header % tuple) % tuple);
		while (!s.bad) {
			uint64_t lo = rd_uN(&s, address_size), len = rd_uN(&s, address_size);
			if (s.bad || (lo == 0 && len == 0))
				break;
			if (len)
				fn(arg, lo, lo + len, unit_offset);
		}
		c.p = next;
	}
	return true;
}
