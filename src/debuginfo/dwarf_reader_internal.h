/* Private to src/debuginfo: the reader's state and its bounds-checked cursor, shared by
 * dwarf_reader.c (sections, forms, abbreviations, DIEs, ranges) and dwarf_lines.c (line
 * tables). */
#ifndef AI_DWARF_READER_INTERNAL_H
#define AI_DWARF_READER_INTERNAL_H

#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ai/dwarf_reader.h"

#define MAX_SECTIONS 40

#ifndef ELFCOMPRESS_ZSTD
#define ELFCOMPRESS_ZSTD 2 /* gABI; glibc's elf.h has it only from 2.37 */
#endif
#define MAX_INDIRECT 4

struct section {
	char name[32]; /* normalized to ".debug_*" */
	Elf_Scn *scn;
	bool compressed_gnu; /* .zdebug_* */
	bool loaded;
	const uint8_t *data;
	size_t size;
	uint8_t *owned; /* data inflated by us (zstd), or NULL when libelf holds it */
};

struct ai_dwarf_reader {
	char *path;
	int fd;
	Elf *elf;
	struct section sections[MAX_SECTIONS];
	size_t section_count;
	/* hot sections, loaded at open */
	const uint8_t *info, *abbrev, *str, *line_str, *str_offsets, *addr;
	size_t info_size, abbrev_size, str_size, line_str_size, str_offsets_size, addr_size;
	struct ai_dwarf_unit *units;
	size_t unit_count;
	struct ai_dwarf_abbrev_table **tables;
	size_t table_count, table_capacity;
	/* open-addressing hash of tables by offset (rustc and gcc give every unit its own table,
	 * and libc's debug file has 2000 units) */
	struct ai_dwarf_abbrev_table **table_hash;
	size_t table_hash_size;
	/* Split DWARF (dwarf_split.c): .debug_info and .debug_abbrev followed by those of every
	 * .dwo or .dwp (owned; info and abbrev point here), the split units' strings, and the
	 * skeletons' address ranges by split unit (they replace .debug_aranges for split units). */
	uint8_t *merged_info, *merged_abbrev;
	const uint8_t *dwo_str, *dwo_str_offsets;
	size_t dwo_str_size, dwo_str_offsets_size;
	struct split_range *split_ranges;
	size_t split_range_count;
};

struct split_range {
	uint64_t lo, hi, unit_offset;
};


/* ---- cursor ---- */

struct cursor {
	const uint8_t *p, *end;
	bool bad;
};

static inline bool need(struct cursor *c, size_t n)
{
	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return false;
	}
	return true;
}

static inline uint64_t rd_uN(struct cursor *c, size_t n)
{
	if (!need(c, n))
		return 0;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

static inline uint8_t rd_u8(struct cursor *c)
{
	if (!need(c, 1))
		return 0;
	return *c->p++;
}

static inline uint64_t rd_uleb(struct cursor *c);

/* The index of an indexed form (strx*, addrx*): fixed-size forms are numbered consecutively from
 * their 1-byte form x1, the others (strx, addrx and the GNU forms) are ULEB128. */
static inline uint64_t rd_form_index(struct cursor *c, uint64_t form, uint64_t x1)
{
	if (form >= x1 && form <= x1 + 3)
		return rd_uN(c, (size_t)(form - x1 + 1));
	return rd_uleb(c);
}

static inline uint64_t rd_uleb(struct cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	for (;;) {
		if (!need(c, 1))
			return 0;
		uint8_t b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			return v;
	}
}

static inline int64_t rd_sleb(struct cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;
	do {
		if (!need(c, 1))
			return 0;
		b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	return (int64_t)v;
}

/* A unit header's initial length: 4 bytes, or 0xffffffff then 8 for 64-bit DWARF, whose offsets
 * are then 8 bytes (*offset_size_ret). */
static inline uint64_t rd_initial_length(struct cursor *c, uint8_t *offset_size_ret)
{
	uint64_t length = rd_uN(c, 4);
	*offset_size_ret = 4;
	if (length == 0xffffffff) {
		length = rd_uN(c, 8);
		*offset_size_ret = 8;
	}
	return length;
}

static inline void skip(struct cursor *c, uint64_t n)
{
	if (c->bad || (uint64_t)(c->end - c->p) < n) {
		c->bad = true;
		return;
	}
	c->p += n;
}

static inline const char *rd_cstr(struct cursor *c)
{
	if (c->bad)
		return NULL;
	const uint8_t *nul = memchr(c->p, 0, (size_t)(c->end - c->p));
	if (!nul) {
		c->bad = true;
		return NULL;
	}
	const char *s = (const char *)c->p;
	c->p = nul + 1;
	return s;
}

/* A NUL-terminated string at offset in a section, or NULL. */
static inline const char *section_string(const uint8_t *data, size_t size, uint64_t offset)
{
	if (!data || offset >= size || !memchr(data + offset, 0, size - offset))
		return NULL;
	return (const char *)data + offset;
}


/* A section by its ".debug_*" name, loaded (inflated) on first use; false when absent or empty. */
bool ai_dwarf_reader_load_section(struct ai_dwarf_reader *r, const char *name, const uint8_t **data,
				  size_t *size);
/* The address at index `index` of the unit's .debug_addr table (DW_FORM_addrx, rnglists'
 * startx_length...); false if it lies outside the table. */
bool ai_dwarf_reader_indexed_address(struct ai_dwarf_reader *r, const struct ai_dwarf_unit *unit,
				     uint64_t index, uint64_t *ret);

/* Opens path's ELF file and lists its debug sections (any ".debug_*" name, ".dwo" ones too),
 * reading no DWARF: what dwarf_split.c opens a .dwo or .dwp with. */
struct ai_error *ai_dwarf_reader_open_sections(const char *path, struct ai_dwarf_reader **ret);
/* Adds a section whose data the reader owns from now on (dwarf_split.c's merged .dwo sections). */
void ai_dwarf_reader_add_owned_section(struct ai_dwarf_reader *r, const char *name, uint8_t *data,
				       size_t size);
/* Parses the unit headers of a .debug_info (or .debug_info.dwo) into units (grown with AI_GROW;
 * offsets relative to data). */
void ai_dwarf_reader_parse_units(const uint8_t *data, size_t size, struct ai_dwarf_unit **units,
				 size_t *count, size_t *capacity);
/* dwarf_split.c: if the reader's units are skeletons, reads their split units from the .dwo files
 * they name or the <path>.dwp package; an error names a .dwo or .dwp that cannot be found. */
struct ai_error *ai_dwarf_split_attach(struct ai_dwarf_reader *r);

/* Reads one attribute value of form `form` at c. */
bool ai_dwarf_reader_read_form(struct ai_dwarf_reader *r, struct cursor *c, uint16_t form,
			       int64_t implicit_const, const struct ai_dwarf_unit *unit,
			       struct ai_dwarf_attr *a, int depth);

#endif
