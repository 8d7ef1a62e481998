/* DWARF of one file, read lazily with our DIE reader (ai/dwarf_reader.h): an address goes
 * through .debug_aranges to one compilation unit, and only that unit is parsed, once (DESIGN.md
 * 7b). Nothing walks every DIE.
 *
 * Per unit we keep a compact index: the names that make qualified paths (namespaces, types,
 * subprograms, by DIE offset, with their parent) and the address ranges of subprograms with code;
 * its line table is loaded separately, on the first line look-up; its types by qualified name on
 * the first look-up by name. Inlined-call chains are found on demand by walking the children of
 * the one subprogram that contains the pc; a type's own DIE and children when the type model
 * (ai/types.h) first reads it. This index is the one every reader of DIEs goes through.
 *
 * Addresses here are file virtual addresses (subtract a module's load bias from a runtime pc).
 * Strings returned are borrowed from the ai_dwarf and live until ai_dwarf_destroy(). */
#ifndef AI_DWARF_INFO_H
#define AI_DWARF_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/dwarf_reader.h"
#include "ai/error.h"

#define AI_DW_LANG_RUST 0x1c

/* One source-level frame at a pc: a function and where in it. */
struct ai_location {
	const char *function; /* qualified name from DWARF, e.g. "tokio::runtime::park::
			       * CachedParkThread::block_on<nested::main::{async_block_env#0}>";
			       * NULL if unknown (borrowed) */
	const char *file;     /* absolute where DWARF allows; NULL if unknown (borrowed) */
	uint32_t line;        /* 0 if unknown */
	uint32_t column;      /* 0 if unknown */
	uint64_t die_offset;  /* the DW_TAG_subprogram or DW_TAG_inlined_subroutine DIE (.debug_info
			       * offset) whose children are this frame's parameters and locals; 0 if none */
	uint64_t subprogram_die_offset; /* the concrete subprogram containing the pc: its
					 * DW_AT_frame_base applies to inlined frames too; 0 if none */
	bool inlined;         /* an inlined call; the next location (same pc) is its caller */
};

/* Inlined calls deeper than this are cut (the innermost ones are dropped). */
#define AI_MAX_LOCATIONS 32

struct ai_dwarf_stats {
	size_t cu_count;        /* compilation units in the file */
	size_t cus_indexed;     /* units whose DIEs we walked */
	size_t line_tables;     /* units whose line table we loaded */
	size_t aranges;         /* address ranges known (after the CU-header fallback) */
	size_t split_units;     /* units read from .dwo files or a .dwp package (split DWARF) */
};

struct ai_dwarf;

/* Opens the DWARF of an ELF file. AI_ERROR_NO_DEBUGINFO if it has none ("<path> has no debug
 * info; build it with `debug = true` ..."), AI_ERROR_DWARF if it cannot be read. */
struct ai_error *ai_dwarf_open(const char *path, struct ai_dwarf **ret);
void ai_dwarf_destroy(struct ai_dwarf *dw);

/* True if any compilation unit says DW_LANG_Rust (only unit DIEs are read, once). */
bool ai_dwarf_is_rust(struct ai_dwarf *dw);

/* The source frames at vaddr, innermost first: inlined calls (inlined = true), then the function
 * that contains vaddr. For a return address (a caller frame's pc), vaddr - 1 is looked up so that
 * the line is the one of the call. Writes *count_ret locations (0 if no DWARF covers vaddr) into
 * locations[max]. Returns an AI_ERROR_DWARF error only if the DWARF is unreadable. */
struct ai_error *ai_dwarf_find_locations(struct ai_dwarf *dw, uint64_t vaddr,
					 bool is_return_address, struct ai_location *locations,
					 size_t max, size_t *count_ret);

/* The qualified name ("a::b::C") of a namespace, type or subprogram DIE. AI_ERROR_NOT_FOUND if the
 * DIE is none of these. The name is borrowed from dw. */
struct ai_error *ai_dwarf_qualified_name(struct ai_dwarf *dw, uint64_t die_offset,
					 const char **ret);

/* Calls fn(arg, die_offset) for every subprogram with code whose qualified name is qualified_name
 * ("shop::main::{async_fn#0}", generic arguments included), until fn returns false. It looks in
 * the unit holding near_offset (a DIE of the caller's) first; when none is there, in the other
 * units of near's crate and of the crate the path starts with (rustc's "<crate>.<hash>-cgu.N"
 * unit names), stopping after the first unit that has one. Units are indexed as for pcs. */
typedef bool ai_dwarf_function_fn(void *arg, uint64_t die_offset);
struct ai_error *ai_dwarf_find_functions(struct ai_dwarf *dw, uint64_t near_offset,
					 const char *qualified_name, ai_dwarf_function_fn *fn,
					 void *arg);

/* A DW_TAG_variable of a function. */
struct ai_dwarf_variable {
	uint64_t die_offset;
	const char *name;      /* borrowed; NULL if none */
	const char *decl_file; /* from the unit's line table (borrowed); NULL if unknown */
	uint32_t decl_line;    /* 0 if unknown */
	uint64_t type_die;     /* 0 if none */
	/* DW_AT_location is "(fbreg|breg) N, deref, [plus_uconst X]": a slot at offset X of what
	 * a pointer in the frame points to (a coroutine's saved variable: X is its offset in the
	 * coroutine) */
	bool has_deref_offset;
	uint64_t deref_offset;
};
typedef bool ai_dwarf_variable_fn(void *arg, const struct ai_dwarf_variable *var);
/* Calls fn for every variable called name (every variable if name is NULL) among the children of
 * the subprogram at die_offset and of its lexical blocks (not of inlined calls), in DIE order,
 * until fn returns false. */
struct ai_error *ai_dwarf_function_variables(struct ai_dwarf *dw, uint64_t die_offset,
					     const char *name, ai_dwarf_variable_fn *fn,
					     void *arg);

/* The type DIE named qualified_name ("tokio::runtime::task::core::Header") in the unit whose unit
 * DIE is at unit_die: the first in DIE order when the unit repeats a name. The unit's by-name
 * table is built on the first look-up in it. AI_ERROR_NOT_FOUND if the unit has no such type,
 * AI_ERROR_INVALID_ARGUMENT if unit_die is not a unit DIE. */
struct ai_error *ai_dwarf_find_type(struct ai_dwarf *dw, uint64_t unit_die,
				    const char *qualified_name, uint64_t *die_offset_ret);
/* Calls fn for every type DIE of that unit whose qualified name starts with prefix, in DIE order,
 * until fn returns false. */
typedef bool ai_dwarf_type_fn(const char *qualified_name, uint64_t die_offset, void *arg);
struct ai_error *ai_dwarf_for_each_type(struct ai_dwarf *dw, uint64_t unit_die, const char *prefix,
					ai_dwarf_type_fn *fn, void *arg);
/* The path of file `fileno` (a DW_AT_decl_file) of the unit holding die_offset, from its line
 * table (borrowed), or NULL. */
const char *ai_dwarf_decl_file(struct ai_dwarf *dw, uint64_t die_offset, uint64_t fileno);

/* The DIE reader under the index, for readers of types and locations (borrowed). */
struct ai_dwarf_reader *ai_dwarf_get_reader(struct ai_dwarf *dw);
const char *ai_dwarf_path(const struct ai_dwarf *dw);
void ai_dwarf_get_stats(const struct ai_dwarf *dw, struct ai_dwarf_stats *ret);

#endif
