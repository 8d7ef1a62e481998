/* A fast DWARF DIE reader; see ai/dwarf_reader.h. Little-endian targets only (x86-64). */
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "dwarf_reader_internal.h"

static struct ai_error *corrupt(struct ai_dwarf_reader *r, uint64_t offset, const char *what)
{
	return ai_error_create(AI_ERROR_DWARF, "%s: corrupt DWARF at .debug_info+0x%" PRIx64 ": %s",
			       r->path, offset, what);
}

/* ---- sections ---- */

static struct section *find_section(struct ai_dwarf_reader *r, const char *name)
{
	for (size_t i = 0; i < r->section_count; i++) {
		if (strcmp(r->sections[i].name, name) == 0)
			return &r->sections[i];
	}
	return NULL;
}

/* Bounds on a compressed section's inflated size: corrupt headers must not make us allocate
 * gigabytes. The largest .debug_info seen here is tens of MB. */
#define MAX_INFLATED_SIZE ((uint64_t)4 << 30)

/* A SHF_COMPRESSED section with zstd contents: libelf before elfutils 0.189 (Debian 12 has 0.188)
 * cannot inflate ELFCOMPRESS_ZSTD, which is what `ld --compress-debug-sections=zstd` writes. */
static bool inflate_zstd(struct section *s)
{
	Elf_Data *raw = elf_rawdata(s->scn, NULL);
	if (!raw || !raw->d_buf || raw->d_size < sizeof(Elf64_Chdr))
		return false;
	Elf64_Chdr chdr;
	memcpy(&chdr, raw->d_buf, sizeof(chdr));
	if (chdr.ch_type != ELFCOMPRESS_ZSTD || chdr.ch_size == 0 ||
	    chdr.ch_size > MAX_INFLATED_SIZE)
		return false;
	uint8_t *out = malloc(chdr.ch_size);
	if (!out)
		return false;
	size_t n = ZSTD_decompress(out, chdr.ch_size, (const uint8_t *)raw->d_buf + sizeof(chdr),
				   raw->d_size - sizeof(chdr));
	if (ZSTD_isError(n) || n != chdr.ch_size) {
		free(out);
		return false;
	}
	s->owned = out;
	s->data = out;
	s->size = n;
	return true;
}

static uint32_t compression_type(struct section *s)
{
	Elf_Data *raw = elf_rawdata(s->scn, NULL);
	Elf64_Chdr chdr;
	if (!raw || !raw->d_buf || raw->d_size < sizeof(chdr))
		return 0;
	memcpy(&chdr, raw->d_buf, sizeof(chdr));
	return chdr.ch_type;
}

static void load_section_data(struct section *s)
{
	GElf_Shdr shdr;
	if (!gelf_getshdr(s->scn, &shdr) || shdr.sh_type == SHT_NOBITS)
		return;
	/* Compressed debug sections (Debian's -dbg files, `--compress-debug-sections`): zlib ones
	 * libelf inflates in place, zstd ones we do (see inflate_zstd). */
	if (s->compressed_gnu) {
		if (elf_compress_gnu(s->scn, 0, 0) < 0)
			return;
	} else if (shdr.sh_flags & SHF_COMPRESSED) {
		if (compression_type(s) == ELFCOMPRESS_ZSTD) {
			inflate_zstd(s);
			return;
		}
		if (elf_compress(s->scn, 0, 0) < 0)
			return;
	}
	Elf_Data *d = elf_getdata(s->scn, NULL);
	if (d && d->d_buf) {
		s->data = d->d_buf;
		s->size = d->d_size;
	}
}

bool ai_dwarf_reader_load_section(struct ai_dwarf_reader *r, const char *name, const uint8_t **data,
				   size_t *size)
{
	struct section *s = find_section(r, name);
	if (!s)
		return false;
	if (!s->loaded) {
		s->loaded = true;
		load_section_data(s);
	}
	if (!s->data || !s->size)
		return false;
	*data = s->data;
	*size = s->size;
	return true;
}

bool ai_dwarf_reader_section(struct ai_dwarf_reader *r, const char *name, const uint8_t **data_ret,
			     size_t *size_ret)
{
	return ai_dwarf_reader_load_section(r, name, data_ret, size_ret);
}

static void scan_sections(struct ai_dwarf_reader *r)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(r->elf, &shstrndx) != 0)
		return;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(r->elf, scn)) && r->section_count < MAX_SECTIONS) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr))
			continue;
		const char *name = elf_strptr(r->elf, shstrndx, shdr.sh_name);
		if (!name)
			continue;
		bool gnu = strncmp(name, ".zdebug_", 8) == 0;
		if (!gnu && strncmp(name, ".debug_", 7) != 0)
			continue;
		struct section *s = &r->sections[r->section_count];
		snprintf(s->name, sizeof(s->name), ".%s", name + (gnu ? 2 : 1));
		if (find_section(r, s->name))
			continue;
		s->scn = scn;
		s->compressed_gnu = gnu;
		r->section_count++;
	}
}

/* ---- forms ---- */

static int form_fixed_size(uint16_t form, uint8_t address_size, uint8_t offset_size,
			   uint16_t version)
{
	switch (form) {
	case DW_FORM_addr:
		return address_size;
	case DW_FORM_data1:
	case DW_FORM_ref1:
	case DW_FORM_flag:
	case DW_FORM_strx1:
	case DW_FORM_addrx1:
		return 1;
	case DW_FORM_data2:
	case DW_FORM_ref2:
	case DW_FORM_strx2:
	case DW_FORM_addrx2:
		return 2;
	case DW_FORM_strx3:
	case DW_FORM_addrx3:
		return 3;
	case DW_FORM_data4:
	case DW_FORM_ref4:
	case DW_FORM_strx4:
	case DW_FORM_addrx4:
	case DW_FORM_ref_sup4:
		return 4;
	case DW_FORM_data8:
	case DW_FORM_ref8:
	case DW_FORM_ref_sig8:
	case DW_FORM_ref_sup8:
		return 8;
	case DW_FORM_data16:
		return 16;
	case DW_FORM_strp:
	case DW_FORM_line_strp:
	case DW_FORM_sec_offset:
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_ref_alt:
	case DW_FORM_GNU_strp_alt:
		return offset_size;
	case DW_FORM_ref_addr:
		return version <= 2 ? address_size : offset_size;
	case DW_FORM_flag_present:
	case DW_FORM_implicit_const:
		return 0;
	default:
		return -1;
	}
}

static bool skip_form(struct cursor *c, uint16_t form, const struct ai_dwarf_unit *unit, int depth)
{
	int size = form_fixed_size(form, unit->address_size, unit->offset_size, unit->version);
	if (size >= 0) {
		skip(c, (uint64_t)size);
		return !c->bad;
	}
	switch (form) {
	case DW_FORM_sdata:
	case DW_FORM_udata:
	case DW_FORM_ref_udata:
	case DW_FORM_strx:
	case DW_FORM_addrx:
	case DW_FORM_loclistx:
	case DW_FORM_rnglistx:
	case DW_FORM_GNU_addr_index:
	case DW_FORM_GNU_str_index:
		rd_uleb(c);
		break;
	case DW_FORM_string:
		rd_cstr(c);
		break;
	case DW_FORM_block1:
		skip(c, rd_u8(c));
		break;
	case DW_FORM_block2:
		skip(c, rd_uN(c, 2));
		break;
	case DW_FORM_block4:
		skip(c, rd_uN(c, 4));
		break;
	case DW_FORM_block:
	case DW_FORM_exprloc:
		skip(c, rd_uleb(c));
		break;
	case DW_FORM_indirect:
		if (depth >= MAX_INDIRECT)
			return false;
		return skip_form(c, (uint16_t)rd_uleb(c), unit, depth + 1);
	default:
		return false;
	}
	return !c->bad;
}

static uint64_t indexed_string_offset(struct ai_dwarf_reader *r, const struct ai_dwarf_unit *unit,
				      uint64_t index, bool *ok)
{
	/* A split unit's indexes are into its .dwo's tables (string offsets relative to its file's
	 * strings, which dwarf_split.c put at str_base). */
	const uint8_t *table = unit->split ? r->dwo_str_offsets : r->str_offsets;
	size_t size = unit->split ? r->dwo_str_offsets_size : r->str_offsets_size;
	uint64_t at = unit->str_offsets_base + index * unit->offset_size;
	if (!table || at > size || size - at < unit->offset_size) {
		*ok = false;
		return 0;
	}
	struct cursor c = { table + at, table + size, false };
	return rd_uN(&c, unit->offset_size) + (unit->split ? unit->str_base : 0);
}

bool ai_dwarf_reader_indexed_address(struct ai_dwarf_reader *r, const struct ai_dwarf_unit *unit,
				     uint64_t index, uint64_t *ret)
{
	uint64_t at = unit->addr_base + index * unit->address_size;
	if (!r->addr || at > r->addr_size || r->addr_size - at < unit->address_size)
		return false;
	struct cursor c = { r->addr + at, r->addr + r->addr_size, false };
	*ret = rd_uN(&c, unit->address_size);
	return true;
}

bool ai_dwarf_reader_read_form(struct ai_dwarf_reader *r, struct cursor *c, uint16_t form,
			       int64_t implicit_const, const struct ai_dwarf_unit *unit,
			       struct ai_dwarf_attr *a, int depth)
{
	a->form = form;
	a->cls = AI_DWARF_CLASS_NONE;
	a->u = 0;
	a->s = 0;
	a->str = NULL;
	a->block = NULL;
	a->block_len = 0;
	bool ok = true;
	switch (form) {
	case DW_FORM_addr:
		a->cls = AI_DWARF_CLASS_ADDRESS;
		a->u = rd_uN(c, unit->address_size);
		break;
	case DW_FORM_addrx:
	case DW_FORM_GNU_addr_index:
	case DW_FORM_addrx1:
	case DW_FORM_addrx2:
	case DW_FORM_addrx3:
	case DW_FORM_addrx4: {
		uint64_t index = rd_form_index(c, form, DW_FORM_addrx1);
		if (!c->bad && ai_dwarf_reader_indexed_address(r, unit, index, &a->u))
			a->cls = AI_DWARF_CLASS_ADDRESS;
		break;
	}
	case DW_FORM_data1:
	case DW_FORM_data2:
	case DW_FORM_data4:
	case DW_FORM_data8: {
		size_t n = form == DW_FORM_data1 ? 1 : form == DW_FORM_data2 ? 2 : form == DW_FORM_data4 ? 4 : 8;
		a->cls = AI_DWARF_CLASS_CONSTANT;
		a->u = rd_uN(c, n);
		a->s = n == 8 ? (int64_t)a->u : (int64_t)(a->u << (64 - 8 * n)) >> (64 - 8 * n);
		break;
	}
	case DW_FORM_sdata:
		a->cls = AI_DWARF_CLASS_CONSTANT;
		a->s = rd_sleb(c);
		a->u = (uint64_t)a->s;
		break;
	case DW_FORM_udata:
		a->cls = AI_DWARF_CLASS_CONSTANT;
		a->u = rd_uleb(c);
		a->s = (int64_t)a->u;
		break;
	case DW_FORM_implicit_const:
		a->cls = AI_DWARF_CLASS_CONSTANT;
		a->s = implicit_const;
		a->u = (uint64_t)implicit_const;
		break;
	case DW_FORM_ref1:
	case DW_FORM_ref2:
	case DW_FORM_ref4:
	case DW_FORM_ref8:
	case DW_FORM_ref_udata: {
		uint64_t v = form == DW_FORM_ref_udata ? rd_uleb(c)
			     : rd_uN(c, form == DW_FORM_ref1 ? 1 : form == DW_FORM_ref2 ? 2 : form == DW_FORM_ref4 ? 4 : 8);
		a->cls = AI_DWARF_CLASS_REFERENCE;
		a->u = unit->offset + v;
		break;
	}
	case DW_FORM_ref_addr:
		a->cls = AI_DWARF_CLASS_REFERENCE;
		a->u = rd_uN(c, unit->version <= 2 ? unit->address_size : unit->offset_size) +
		       (unit->split ? unit->ref_addr_base : 0);
		break;
	case DW_FORM_ref_sig8:
		a->cls = AI_DWARF_CLASS_SIGNATURE;
		a->u = rd_uN(c, 8);
		break;
	case DW_FORM_string:
		a->str = rd_cstr(c);
		if (a->str)
			a->cls = AI_DWARF_CLASS_STRING;
		break;
	case DW_FORM_strp:
	case DW_FORM_line_strp: {
		uint64_t off = rd_uN(c, unit->offset_size);
		a->str = form == DW_FORM_strp ? section_string(r->str, r->str_size, off)
					      : section_string(r->line_str, r->line_str_size, off);
		if (a->str)
			a->cls = AI_DWARF_CLASS_STRING;
		break;
	}
	case DW_FORM_strx:
	case DW_FORM_GNU_str_index:
	case DW_FORM_strx1:
	case DW_FORM_strx2:
	case DW_FORM_strx3:
	case DW_FORM_strx4: {
		uint64_t index = rd_form_index(c, form, DW_FORM_strx1);
		bool found = true;
		uint64_t off = c->bad ? 0 : indexed_string_offset(r, unit, index, &found);
		if (found)
			a->str = unit->split ? section_string(r->dwo_str, r->dwo_str_size, off)
					     : section_string(r->str, r->str_size, off);
		if (a->str)
			a->cls = AI_DWARF_CLASS_STRING;
		break;
	}
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_strp_alt:
	case DW_FORM_GNU_ref_alt:
	case DW_FORM_ref_sup4:
	case DW_FORM_ref_sup8:
		/* in a supplementary file we do not open */
		skip(c, (uint64_t)form_fixed_size(form, unit->address_size, unit->offset_size,
						  unit->version));
		break;
	case DW_FORM_flag:
		a->cls = AI_DWARF_CLASS_FLAG;
		a->u = rd_u8(c) != 0;
		break;
	case DW_FORM_flag_present:
		a->cls = AI_DWARF_CLASS_FLAG;
		a->u = 1;
		break;
	case DW_FORM_sec_offset:
		a->cls = AI_DWARF_CLASS_SEC_OFFSET;
		a->u = rd_uN(c, unit->offset_size);
		break;
	case DW_FORM_loclistx:
	case DW_FORM_rnglistx:
		a->cls = AI_DWARF_CLASS_INDEX;
		a->u = rd_uleb(c);
		break;
	case DW_FORM_block1:
	case DW_FORM_block2:
	case DW_FORM_block4:
	case DW_FORM_block:
	case DW_FORM_exprloc:
	case DW_FORM_data16: {
		uint64_t n = form == DW_FORM_block1   ? rd_u8(c)
			     : form == DW_FORM_block2 ? rd_uN(c, 2)
			     : form == DW_FORM_block4 ? rd_uN(c, 4)
			     : form == DW_FORM_data16 ? 16
						      : rd_uleb(c);
		if (need(c, n)) {
			a->cls = AI_DWARF_CLASS_BLOCK;
			a->block = c->p;
			a->block_len = (size_t)n;
			c->p += n;
		}
		break;
	}
	case DW_FORM_indirect:
		if (depth >= MAX_INDIRECT)
			return false;
		return ai_dwarf_reader_read_form(r, c, (uint16_t)rd_uleb(c), implicit_const, unit, a, depth + 1);
	default:
		ok = false;
	}
	return ok && !c->bad;
}

/* ---- abbreviations ---- */

static const struct ai_dwarf_abbrev *find_abbrev(const struct ai_dwarf_abbrev_table *t,
						 uint64_t code)
{
	if (t->dense)
		return code >= 1 && code <= t->count ? &t->abbrevs[code - 1] : NULL;
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->abbrevs[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->count && t->abbrevs[lo].code == code ? &t->abbrevs[lo] : NULL;
}

static int compare_abbrevs(const void *a, const void *b)
{
	const struct ai_dwarf_abbrev *x = a, *y = b;
	return x->code < y->code ? -1 : x->code > y->code;
}

static void destroy_table(struct ai_dwarf_abbrev_table *t)
{
	if (!t)
		return;
	free(t->abbrevs);
	free(t->specs);
	free(t);
}

static size_t table_slot(uint64_t offset, size_t size)
{
	return (size_t)((offset * 0x9e3779b97f4a7c15ull) >> 32) & (size - 1);
}

static void hash_table(struct ai_dwarf_reader *r, struct ai_dwarf_abbrev_table *t)
{
	size_t i = table_slot(t->offset, r->table_hash_size);
	while (r->table_hash[i])
		i = (i + 1) & (r->table_hash_size - 1);
	r->table_hash[i] = t;
}

static void add_table(struct ai_dwarf_reader *r, struct ai_dwarf_abbrev_table *t)
{
	AI_GROW(r->tables, r->table_capacity, r->table_count + 1);
	r->tables[r->table_count++] = t;
	if (r->table_count * 2 > r->table_hash_size) {
		free(r->table_hash);
		r->table_hash_size = r->table_hash_size ? r->table_hash_size * 2 : 64;
		while (r->table_count * 2 > r->table_hash_size)
			r->table_hash_size *= 2;
		r->table_hash = xcalloc(r->table_hash_size, sizeof(*r->table_hash));
		for (size_t i = 0; i < r->table_count; i++)
			hash_table(r, r->tables[i]);
	} else {
		hash_table(r, t);
	}
}

static struct ai_error *load_abbrevs(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit,
				     uint64_t offset)
{
	for (size_t i = r->table_hash_size ? table_slot(offset, r->table_hash_size) : 0;
	     r->table_hash_size && r->table_hash[i]; i = (i + 1) & (r->table_hash_size - 1)) {
		struct ai_dwarf_abbrev_table *t = r->table_hash[i];
		if (t->offset == offset && t->address_size == unit->address_size &&
		    t->offset_size == unit->offset_size && t->version == unit->version) {
			unit->abbrevs = t;
			return NULL;
		}
	}
	if (offset >= r->abbrev_size)
		return corrupt(r, unit->offset, "abbreviation offset out of range");
	struct ai_dwarf_abbrev_table *t = xcalloc(1, sizeof(*t));
	t->offset = offset;
	t->address_size = unit->address_size;
	t->offset_size = unit->offset_size;
	t->version = unit->version;
	size_t capacity = 0, spec_capacity = 0;
	struct cursor c = { r->abbrev + offset, r->abbrev + r->abbrev_size, false };
	bool dense = true;
	for (;;) {
		uint64_t code = rd_uleb(&c);
		if (c.bad || code == 0)
			break;
		AI_GROW(t->abbrevs, capacity, t->count + 1);
		struct ai_dwarf_abbrev *a = &t->abbrevs[t->count];
		memset(a, 0, sizeof(*a));
		a->code = code;
		a->tag = (uint16_t)rd_uleb(&c);
		a->has_children = rd_u8(&c) == DW_CHILDREN_yes;
		a->spec_start = (uint32_t)t->spec_count;
		int fixed = 0;
		for (;;) {
			uint64_t name = rd_uleb(&c), form = rd_uleb(&c);
			if (c.bad || (name == 0 && form == 0))
				break;
			AI_GROW(t->specs, spec_capacity, t->spec_count + 1);
			struct ai_dwarf_attr_spec *s = &t->specs[t->spec_count++];
			s->name = (uint16_t)name;
			s->form = (uint16_t)form;
			s->implicit_const = form == DW_FORM_implicit_const ? rd_sleb(&c) : 0;
			if (name == DW_AT_sibling)
				a->has_sibling_attr = true;
			int size = form_fixed_size((uint16_t)form, unit->address_size,
						   unit->offset_size, unit->version);
			fixed = size < 0 || fixed < 0 ? -1 : fixed + size;
		}
		a->spec_count = (uint32_t)t->spec_count - a->spec_start;
		a->fixed_size = fixed;
		if (code != t->count + 1)
			dense = false;
		t->count++;
	}
	if (c.bad) {
		destroy_table(t);
		return corrupt(r, unit->offset, "truncated abbreviation table");
	}
	t->dense = dense;
	if (!dense)
		qsort(t->abbrevs, t->count, sizeof(*t->abbrevs), compare_abbrevs);
	add_table(r, t);
	unit->abbrevs = t;
	return NULL;
}

/* ---- DIEs ---- */

static struct ai_error *parse_unit_die(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit);

struct ai_error *ai_dwarf_unit_load(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit)
{
	if (!unit->loaded) {
		unit->loaded = true;
		struct ai_error *err = load_abbrevs(r, unit, unit->abbrev_offset);
		if (!err)
			err = parse_unit_die(r, unit);
		if (err) {
			unit->load_failed = true;
			return err;
		}
	}
	if (unit->load_failed || !unit->abbrevs)
		return corrupt(r, unit->offset, "unreadable unit");
	return NULL;
}

struct ai_error *ai_dwarf_read_die(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit,
				   uint64_t offset, struct ai_dwarf_die *ret)
{
	if (!unit->loaded || !unit->abbrevs) {
		struct ai_error *err = ai_dwarf_unit_load(r, unit);
		if (err)
			return err;
	}
	if (offset < unit->first_die || offset >= unit->end)
		return corrupt(r, offset, "DIE offset outside its unit");
	struct cursor c = { r->info + offset, r->info + unit->end, false };
	uint64_t code = rd_uleb(&c);
	if (c.bad)
		return corrupt(r, offset, "truncated DIE");
	ret->offset = offset;
	ret->unit = unit;
	ret->attrs = (uint64_t)(c.p - r->info);
	if (code == 0) {
		ret->abbrev = NULL;
		ret->tag = 0;
		ret->has_children = false;
		return NULL;
	}
	const struct ai_dwarf_abbrev *a = find_abbrev(unit->abbrevs, code);
	if (!a)
		return corrupt(r, offset, "unknown abbreviation code");
	ret->abbrev = a;
	ret->tag = a->tag;
	ret->has_children = a->has_children;
	return NULL;
}

struct ai_error *ai_dwarf_read_die_at(struct ai_dwarf_reader *r, uint64_t offset,
				      struct ai_dwarf_die *ret)
{
	struct ai_dwarf_unit *unit = ai_dwarf_reader_unit_at(r, offset);
	if (!unit)
		return ai_error_create(AI_ERROR_NOT_FOUND, "%s: no DWARF unit holds offset 0x%" PRIx64,
				       r->path, offset);
	return ai_dwarf_read_die(r, unit, offset, ret);
}

/* Skips a DIE's attributes; returns false on corrupt data. */
/* The attribute specs of a DIE's abbreviation (NULL when the unit's table has none: an
 * abbreviation without attributes, where no spec is read). */
static const struct ai_dwarf_attr_spec *abbrev_specs(const struct ai_dwarf_die *die)
{
	const struct ai_dwarf_attr_spec *all = die->unit->abbrevs->specs;
	return all ? all + die->abbrev->spec_start : NULL;
}

static bool skip_attrs(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die, struct cursor *c)
{
	const struct ai_dwarf_abbrev *a = die->abbrev;
	if (!a)
		return true;
	if (a->fixed_size >= 0) {
		skip(c, (uint64_t)a->fixed_size);
		return !c->bad;
	}
	const struct ai_dwarf_attr_spec *specs = abbrev_specs(die);
	for (uint32_t i = 0; i < a->spec_count; i++) {
		if (!skip_form(c, specs[i].form, die->unit, 0))
			return false;
	}
	return true;
}

struct ai_error *ai_dwarf_die_end(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				  uint64_t *ret)
{
	struct cursor c = { r->info + die->attrs, r->info + die->unit->end, false };
	if (!skip_attrs(r, die, &c))
		return corrupt(r, die->offset, "bad attribute");
	*ret = (uint64_t)(c.p - r->info);
	return NULL;
}

struct ai_error *ai_dwarf_die_attrs(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				    struct ai_dwarf_attr *attrs, size_t max, size_t *count_ret,
				    uint64_t *end_ret)
{
	const struct ai_dwarf_abbrev *a = die->abbrev;
	struct cursor c = { r->info + die->attrs, r->info + die->unit->end, false };
	size_t n = 0;
	if (a) {
		const struct ai_dwarf_attr_spec *specs = abbrev_specs(die);
		for (uint32_t i = 0; i < a->spec_count; i++) {
			bool ok;
			if (n < max) {
				attrs[n].name = specs[i].name;
				ok = ai_dwarf_reader_read_form(r, &c, specs[i].form, specs[i].implicit_const, die->unit,
					       &attrs[n], 0);
			} else {
				ok = skip_form(&c, specs[i].form, die->unit, 0);
			}
			if (!ok)
				return corrupt(r, die->offset, "bad attribute");
			n++;
		}
	}
	*count_ret = n;
	if (end_ret)
		*end_ret = (uint64_t)(c.p - r->info);
	return NULL;
}

struct ai_error *ai_dwarf_die_attr(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				   uint16_t name, struct ai_dwarf_attr *ret, bool *found_ret)
{
	const struct ai_dwarf_abbrev *a = die->abbrev;
	*found_ret = false;
	if (!a)
		return NULL;
	struct cursor c = { r->info + die->attrs, r->info + die->unit->end, false };
	const struct ai_dwarf_attr_spec *specs = abbrev_specs(die);
	for (uint32_t i = 0; i < a->spec_count; i++) {
		if (specs[i].name == name) {
			ret->name = name;
			if (!ai_dwarf_reader_read_form(r, &c, specs[i].form, specs[i].implicit_const, die->unit, ret, 0))
				return corrupt(r, die->offset, "bad attribute");
			*found_ret = true;
			return NULL;
		}
		if (!skip_form(&c, specs[i].form, die->unit, 0))
			return corrupt(r, die->offset, "bad attribute");
	}
	return NULL;
}

struct ai_error *ai_dwarf_die_sibling(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				      uint64_t *ret)
{
	if (die->abbrev && die->abbrev->has_sibling_attr) {
		struct ai_dwarf_attr sib;
		bool found;
		struct ai_error *err = ai_dwarf_die_attr(r, die, DW_AT_sibling, &sib, &found);
		if (err)
			return err;
		if (found && sib.cls == AI_DWARF_CLASS_REFERENCE && sib.u > die->offset &&
		    sib.u <= die->unit->end) {
			*ret = sib.u;
			return NULL;
		}
	}
	struct cursor c = { r->info + die->attrs, r->info + die->unit->end, false };
	if (!skip_attrs(r, die, &c))
		return corrupt(r, die->offset, "bad attribute");
	if (die->has_children) {
		/* Scan the subtree: depth counts open sibling lists. */
		size_t depth = 1;
		while (depth > 0) {
			uint64_t code = rd_uleb(&c);
			if (c.bad)
				return corrupt(r, die->offset, "unterminated children");
			if (code == 0) {
				depth--;
				continue;
			}
			const struct ai_dwarf_abbrev *a = find_abbrev(die->unit->abbrevs, code);
			if (!a)
				return corrupt(r, (uint64_t)(c.p - r->info), "unknown abbreviation code");
			struct ai_dwarf_die child = { .unit = die->unit, .abbrev = a };
			if (!skip_attrs(r, &child, &c))
				return corrupt(r, (uint64_t)(c.p - r->info), "bad attribute");
			if (a->has_children)
				depth++;
		}
	}
	*ret = (uint64_t)(c.p - r->info);
	return NULL;
}

/* ---- opening ---- */

static struct ai_error *parse_unit_die(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit)
{
	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die(r, unit, unit->first_die, &die);
	if (err)
		return err;
	struct ai_dwarf_attr attrs[48];
	size_t count;
	/* Twice: the *_base attributes are needed to decode the unit DIE's own strx/addrx forms. */
	for (int pass = 0; pass < 2; pass++) {
		err = ai_dwarf_die_attrs(r, &die, attrs, AI_ARRAY_SIZE(attrs), &count, NULL);
		if (err)
			return err;
		count = AI_MIN(count, AI_ARRAY_SIZE(attrs));
		for (size_t i = 0; i < count; i++) {
			const struct ai_dwarf_attr *a = &attrs[i];
			switch (a->name) {
			case DW_AT_str_offsets_base:
				unit->str_offsets_base = a->u;
				break;
			case DW_AT_addr_base:
			case DW_AT_GNU_addr_base:
				unit->addr_base = a->u;
				break;
			case DW_AT_rnglists_base:
				unit->rnglists_base = a->u;
				break;
			case DW_AT_loclists_base:
				unit->loclists_base = a->u;
				break;
			case DW_AT_language:
				unit->language = a->u;
				break;
			case DW_AT_low_pc:
				if (a->cls == AI_DWARF_CLASS_ADDRESS)
					unit->base_address = a->u;
				break;
			case DW_AT_stmt_list:
				unit->stmt_list = a->u;
				unit->has_stmt_list = true;
				break;
			case DW_AT_name:
				unit->name = a->str;
				break;
			case DW_AT_comp_dir:
				unit->comp_dir = a->str;
				break;
			case DW_AT_dwo_name:
			case DW_AT_GNU_dwo_name:
				if (a->cls == AI_DWARF_CLASS_STRING)
					unit->dwo_name = a->str;
				break;
			case DW_AT_GNU_dwo_id:
				unit->dwo_id = a->u;
				unit->has_dwo_id = true;
				break;
			case DW_AT_GNU_ranges_base:
				unit->ranges_base = a->u;
				break;
			default:
				break;
			}
		}
		if (unit->version < 5)
			break;
	}
	return NULL;
}

void ai_dwarf_reader_parse_units(const uint8_t *data, size_t size, struct ai_dwarf_unit **units,
				 size_t *count, size_t *capacity)
{
	uint64_t offset = 0;
	while (offset + 11 <= size) {
		struct cursor c = { data + offset, data + size, false };
		uint8_t offset_size;
		uint64_t length = rd_initial_length(&c, &offset_size);
		uint64_t header_end = (uint64_t)(c.p - data);
		if (c.bad || length > size - header_end || length < 7)
			break;
		uint64_t end = header_end + length;
		struct ai_dwarf_unit unit = { .offset = offset, .end = end, .offset_size = offset_size };
		unit.version = (uint16_t)rd_uN(&c, 2);
		uint64_t abbrev_offset;
		if (unit.version >= 5) {
			unit.unit_type = rd_u8(&c);
			unit.address_size = rd_u8(&c);
			abbrev_offset = rd_uN(&c, offset_size);
			if (unit.unit_type == DW_UT_skeleton || unit.unit_type == DW_UT_split_compile) {
				unit.dwo_id = rd_uN(&c, 8);
				unit.has_dwo_id = true;
			} else if (unit.unit_type == DW_UT_type || unit.unit_type == DW_UT_split_type) {
				skip(&c, 8 + offset_size);
			}
		} else {
			unit.unit_type = DW_UT_compile;
			abbrev_offset = rd_uN(&c, offset_size);
			unit.address_size = rd_u8(&c);
		}
		offset = end;
		if (c.bad || unit.version < 2 || unit.version > 5 ||
		    (unit.address_size != 4 && unit.address_size != 8))
			continue; /* a unit we do not understand: skip it, keep the others */
		unit.first_die = (uint64_t)(c.p - data);
		unit.abbrev_offset = abbrev_offset;
		AI_GROW(*units, *capacity, *count + 1);
		(*units)[(*count)++] = unit;
	}
}

struct ai_error *ai_dwarf_reader_open_sections(const char *path, struct ai_dwarf_reader **ret)
{
	elf_version(EV_CURRENT);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ai_error_from_errno(errno, "%s", path);
	struct ai_dwarf_reader *r = xcalloc(1, sizeof(*r));
	r->path = xstrdup(path);
	r->fd = fd;
	r->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	GElf_Ehdr ehdr;
	if (!r->elf || elf_kind(r->elf) != ELF_K_ELF || !gelf_getehdr(r->elf, &ehdr)) {
		ai_dwarf_reader_destroy(r);
		return ai_error_create(AI_ERROR_NOT_ELF, "%s is not an ELF file", path);
	}
	if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
		ai_dwarf_reader_destroy(r);
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s: big-endian DWARF is not supported",
				       path);
	}
	scan_sections(r);
	*ret = r;
	return NULL;
}

void ai_dwarf_reader_add_owned_section(struct ai_dwarf_reader *r, const char *name, uint8_t *data,
				       size_t size)
{
	struct section *s = find_section(r, name);
	if (!s && r->section_count < MAX_SECTIONS) {
		s = &r->sections[r->section_count++];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
	}
	if (!s) {
		free(data);
		return;
	}
	free(s->owned);
	s->loaded = true;
	s->owned = data;
	s->data = data;
	s->size = size;
}

struct ai_error *ai_dwarf_reader_open(const char *path, struct ai_dwarf_reader **ret)
{
	struct ai_dwarf_reader *r;
	struct ai_error *err = ai_dwarf_reader_open_sections(path, &r);
	if (err)
		return err;
	if (!ai_dwarf_reader_load_section(r, ".debug_info", &r->info, &r->info_size) ||
	    !ai_dwarf_reader_load_section(r, ".debug_abbrev", &r->abbrev, &r->abbrev_size)) {
		err = ai_error_create(AI_ERROR_NO_DEBUGINFO,
				      "%s has no debug info; build it with `debug = true` (e.g. "
				      "[profile.release] debug = true in Cargo.toml)",
				      path);
		goto fail;
	}
	ai_dwarf_reader_load_section(r, ".debug_str", &r->str, &r->str_size);
	ai_dwarf_reader_load_section(r, ".debug_line_str", &r->line_str, &r->line_str_size);
	ai_dwarf_reader_load_section(r, ".debug_str_offsets", &r->str_offsets, &r->str_offsets_size);
	ai_dwarf_reader_load_section(r, ".debug_addr", &r->addr, &r->addr_size);
	size_t capacity = 0;
	ai_dwarf_reader_parse_units(r->info, r->info_size, &r->units, &r->unit_count, &capacity);
	if (r->unit_count == 0)
		err = ai_error_create(AI_ERROR_NO_DEBUGINFO,
				      "%s has no debug info we can read (no DWARF 2-5 units)", path);
	if (!err)
		err = ai_dwarf_split_attach(r);
	if (err)
		goto fail;
	*ret = r;
	return NULL;
fail:
	ai_dwarf_reader_destroy(r);
	return err;
}

void ai_dwarf_reader_destroy(struct ai_dwarf_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->section_count; i++)
		free(r->sections[i].owned);
	for (size_t i = 0; i < r->table_count; i++)
		destroy_table(r->tables[i]);
	free(r->tables);
	free(r->table_hash);
	free(r->units);
	free(r->merged_info);
	free(r->merged_abbrev);
	free(r->split_ranges);
	if (r->elf)
		elf_end(r->elf);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r);
}

const char *ai_dwarf_reader_path(const struct ai_dwarf_reader *r)
{
	return r->path;
}

struct ai_dwarf_unit *ai_dwarf_reader_units(struct ai_dwarf_reader *r, size_t *count_ret)
{
	*count_ret = r->unit_count;
	return r->units;
}

struct ai_dwarf_unit *ai_dwarf_reader_unit_at(struct ai_dwarf_reader *r, uint64_t offset)
{
	size_t lo = 0, hi = r->unit_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->units[mid].offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || offset >= r->units[lo - 1].end)
		return NULL;
	return &r->units[lo - 1];
}
