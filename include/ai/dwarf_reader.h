/* A small, fast, bounds-checked reader of DWARF 2-5 DIEs straight from the ELF sections (libelf):
 * the project's one DWARF reader (symbolization, functions and variables, the type model).
 *
 * Why not libdwarf: libdwarf spends ~1-2.5 us per DIE (form decoding, an allocation per
 * DIE and attribute); a stack needs a few whole compilation units walked, and one of rustc's std
 * units has 45k DIEs (over 100 ms). This reader decodes a DIE in tens of nanoseconds: abbreviations
 * are parsed once per unit with the size of all-fixed-size attribute lists precomputed, and nothing
 * is allocated per DIE. Line tables are read here too (dwarf_lines.c).
 *
 * Every read checks bounds: corrupt DWARF gives an AI_ERROR_DWARF error, never a crash. Offsets are
 * .debug_info offsets. Strings point into section data and live as long as the reader. */
#ifndef AI_DWARF_READER_H
#define AI_DWARF_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/error.h"

struct ai_dwarf_attr_spec {
	uint16_t name;
	uint16_t form;
	int64_t implicit_const; /* DW_FORM_implicit_const only */
};

struct ai_dwarf_abbrev {
	uint64_t code;
	uint16_t tag;
	bool has_children;
	bool has_sibling_attr;
	int32_t fixed_size; /* bytes of all attribute values when every form has a fixed size; -1 */
	uint32_t spec_start, spec_count; /* into the table's specs */
};

struct ai_dwarf_abbrev_table {
	uint64_t offset;
	uint8_t address_size, offset_size;
	uint16_t version;
	struct ai_dwarf_abbrev *abbrevs; /* by code - 1 when dense, else sorted by code */
	size_t count;
	bool dense;
	struct ai_dwarf_attr_spec *specs;
	size_t spec_count;
};

struct ai_dwarf_unit {
	uint64_t offset;    /* the unit header in .debug_info */
	uint64_t end;       /* the next unit */
	uint64_t first_die; /* the unit DIE */
	uint16_t version;
	uint8_t unit_type;  /* DW_UT_compile for units before DWARF 5 */
	uint8_t address_size;
	uint8_t offset_size; /* 4, or 8 for 64-bit DWARF */
	uint64_t abbrev_offset;
	/* The rest is filled by ai_dwarf_unit_load() (done by any DIE read in the unit). */
	bool loaded, load_failed;
	struct ai_dwarf_abbrev_table *abbrevs; /* borrowed from the reader */
	/* from the unit DIE */
	uint64_t language;
	uint64_t base_address; /* DW_AT_low_pc; 0 if absent */
	uint64_t str_offsets_base, addr_base, rnglists_base, loclists_base;
	uint64_t stmt_list;
	bool has_stmt_list;
	const char *name, *comp_dir; /* NULL if absent */
	/* Split DWARF (dwarf_split.c): a skeleton names its .dwo (dwo_name) and both carry dwo_id;
	 * a split unit's DIEs come from a .dwo or .dwp, its addr_base, stmt_list, base address and
	 * comp_dir from its skeleton in the executable. */
	const char *dwo_name; /* DW_AT_dwo_name / DW_AT_GNU_dwo_name; NULL if absent */
	uint64_t dwo_id;
	bool has_dwo_id;
	bool split;           /* DIEs read from a .dwo or .dwp (the reader's *.dwo sections) */
	uint64_t str_base;    /* split: start of its file's strings in .debug_str.dwo */
	uint64_t ref_addr_base; /* split: start of its file's .debug_info.dwo (DW_FORM_ref_addr) */
	uint64_t loc_base;    /* split: its contribution to .debug_loc.dwo / .debug_loclists.dwo */
	uint64_t ranges_base; /* split DWARF 4: the skeleton's DW_AT_GNU_ranges_base (.debug_ranges);
			       * split DWARF 5: its contribution to .debug_rnglists.dwo */
};

struct ai_dwarf_die {
	uint64_t offset;
	struct ai_dwarf_unit *unit;
	const struct ai_dwarf_abbrev *abbrev; /* NULL for a null entry (the end of a sibling list) */
	uint64_t attrs;                       /* offset of the first attribute value */
	uint16_t tag;                         /* 0 for a null entry */
	bool has_children;
};

enum ai_dwarf_class {
	AI_DWARF_CLASS_NONE,      /* a form we cannot decode (e.g. a supplementary-file string) */
	AI_DWARF_CLASS_ADDRESS,   /* u: the address */
	AI_DWARF_CLASS_CONSTANT,  /* u: zero-extended, s: sign-extended (sdata: exact) */
	AI_DWARF_CLASS_REFERENCE, /* u: .debug_info offset */
	AI_DWARF_CLASS_SIGNATURE, /* u: a DW_FORM_ref_sig8 type signature */
	AI_DWARF_CLASS_STRING,    /* str */
	AI_DWARF_CLASS_BLOCK,     /* block, block_len (exprloc, blockN, data16) */
	AI_DWARF_CLASS_FLAG,      /* u: 0 or 1 */
	AI_DWARF_CLASS_SEC_OFFSET,/* u: an offset into another section */
	AI_DWARF_CLASS_INDEX,     /* u: DW_FORM_rnglistx / loclistx index */
};

struct ai_dwarf_attr {
	uint16_t name;
	uint16_t form;
	enum ai_dwarf_class cls;
	uint64_t u;
	int64_t s;
	const char *str;
	const uint8_t *block;
	size_t block_len;
};

struct ai_dwarf_reader;

/* Opens path's DWARF sections. AI_ERROR_NO_DEBUGINFO (with the "build it with `debug = true`"
 * message) if it has no .debug_info; AI_ERROR_NOT_FOUND / AI_ERROR_NOT_ELF as for ELF files.
 * Parses only the unit headers (well under 1 ms for 2000 units), and for split DWARF reads the
 * .dwo files or .dwp package in (dwarf_split.c): AI_ERROR_NO_DEBUGINFO naming a .dwo not found. */
struct ai_error *ai_dwarf_reader_open(const char *path, struct ai_dwarf_reader **ret);
void ai_dwarf_reader_destroy(struct ai_dwarf_reader *r);
const char *ai_dwarf_reader_path(const struct ai_dwarf_reader *r);

/* Units, sorted by offset (borrowed). */
struct ai_dwarf_unit *ai_dwarf_reader_units(struct ai_dwarf_reader *r, size_t *count_ret);
/* Reads a unit's abbreviations and unit DIE (language, bases, stmt_list...); idempotent. */
struct ai_error *ai_dwarf_unit_load(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit);
/* The unit containing a .debug_info offset, or NULL. */
struct ai_dwarf_unit *ai_dwarf_reader_unit_at(struct ai_dwarf_reader *r, uint64_t offset);

/* Raw section contents by name (".debug_aranges", ...); false if absent or empty. */
bool ai_dwarf_reader_section(struct ai_dwarf_reader *r, const char *name, const uint8_t **data_ret,
			     size_t *size_ret);

/* Reads the DIE at offset (in unit; a null entry gives tag 0 and abbrev NULL). */
struct ai_error *ai_dwarf_read_die(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit,
				   uint64_t offset, struct ai_dwarf_die *ret);
/* Reads the DIE at a .debug_info offset in whatever unit holds it. */
struct ai_error *ai_dwarf_read_die_at(struct ai_dwarf_reader *r, uint64_t offset,
				      struct ai_dwarf_die *ret);
/* Decodes up to max attributes of die into attrs (in abbreviation order); *count_ret is how many
 * it has (may exceed max: the rest are skipped). *end_ret (may be NULL) is the offset after the
 * DIE's attributes: its first child if it has children, else its next sibling. */
struct ai_error *ai_dwarf_die_attrs(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				    struct ai_dwarf_attr *attrs, size_t max, size_t *count_ret,
				    uint64_t *end_ret);
/* One attribute; *found_ret false if the DIE does not have it. */
struct ai_error *ai_dwarf_die_attr(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				   uint16_t name, struct ai_dwarf_attr *ret, bool *found_ret);
/* The offset after die's attributes (its first child, or next sibling if it has no children). */
struct ai_error *ai_dwarf_die_end(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				  uint64_t *ret);
/* The offset of die's next sibling, skipping its children. */
struct ai_error *ai_dwarf_die_sibling(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				      uint64_t *ret);

/* Calls fn(arg, lo, hi) for every [lo, hi) of a DIE: DW_AT_low_pc/DW_AT_high_pc or DW_AT_ranges
 * (.debug_ranges or .debug_rnglists). *has_ranges_ret is false if the DIE has neither. */
typedef void ai_dwarf_range_fn(void *arg, uint64_t lo, uint64_t hi);
struct ai_error *ai_dwarf_die_ranges(struct ai_dwarf_reader *r, const struct ai_dwarf_die *die,
				     ai_dwarf_range_fn *fn, void *arg, bool *has_ranges_ret);
/* The same, for an already decoded DW_AT_ranges attribute of a DIE of `unit`. */
struct ai_error *ai_dwarf_attr_ranges(struct ai_dwarf_reader *r, const struct ai_dwarf_unit *unit,
				      const struct ai_dwarf_attr *ranges, ai_dwarf_range_fn *fn,
				      void *arg);

/* Calls fn(arg, lo, hi, unit_offset) for every entry of .debug_aranges. False if it is absent. */
typedef void ai_dwarf_arange_fn(void *arg, uint64_t lo, uint64_t hi, uint64_t unit_offset);
bool ai_dwarf_reader_aranges(struct ai_dwarf_reader *r, ai_dwarf_arange_fn *fn, void *arg);

/* A unit's line table (.debug_line), decoded in full; rows grouped by sequence. */
struct ai_dwarf_line_row {
	uint64_t address;
	uint32_t line;   /* 0: no source line (compiler-generated code) */
	uint32_t column;
	uint32_t file;   /* DWARF file number: an index into files */
};

struct ai_dwarf_line_sequence {
	uint64_t lo, hi;    /* [lo, hi): hi is the end_sequence address */
	size_t first, count; /* rows[first .. first + count), sorted by address */
};

struct ai_dwarf_line_table {
	char **files;        /* owned; by DWARF file number (0-based in DWARF 5, from 1 before, where
			      * files[0] is the unit's name); absolute when the unit's dirs allow; an
			      * entry may be NULL */
	size_t file_count;
	struct ai_dwarf_line_row *rows; /* owned */
	size_t row_count;
	struct ai_dwarf_line_sequence *sequences; /* owned, sorted by lo */
	size_t sequence_count;
};

/* Decodes the line table of unit (an empty table if it has no DW_AT_stmt_list). */
struct ai_error *ai_dwarf_read_line_table(struct ai_dwarf_reader *r,
					  const struct ai_dwarf_unit *unit,
					  struct ai_dwarf_line_table *ret);
void ai_dwarf_line_table_deinit(struct ai_dwarf_line_table *table);
/* The row in effect at pc (the last one at an address <= pc in the sequence containing pc), or
 * NULL if no sequence contains pc. */
const struct ai_dwarf_line_row *ai_dwarf_line_table_find(const struct ai_dwarf_line_table *table,
							 uint64_t pc);

#endif
