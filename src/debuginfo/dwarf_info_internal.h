/* Private to src/debuginfo: the per-unit index of dwarf_info.c, shared with the files that build
 * on it (dwarf_functions.c). */
#ifndef AI_DWARF_INFO_INTERNAL_H
#define AI_DWARF_INFO_INTERNAL_H

#include "ai/dwarf_info.h"
#include "u64_map.h"

#define MAX_SCOPE_DEPTH 64

/* A DIE that can name something: a namespace, a type, or a subprogram (with or without code). */
struct scope {
	uint64_t offset;
	uint64_t ref;     /* DW_AT_specification or DW_AT_abstract_origin target; 0 if none */
	const char *name; /* borrowed from section data; NULL if none */
	int32_t parent;   /* index of the enclosing scope in the unit; -1 at unit level */
	uint16_t tag;
};

struct code_range {
	uint64_t lo, hi;
	uint32_t scope; /* a subprogram */
};

struct cu {
	struct ai_dwarf_unit *unit; /* borrowed from the reader */
	bool has_arange;
	bool indexed;
	struct scope *scopes; /* in DIE order, so sorted by offset */
	size_t scope_count, scope_capacity;
	char **qualified;     /* parallel to scopes; built lazily */
	struct code_range *ranges; /* sorted by lo */
	size_t range_count, range_capacity;
	bool lines_loaded;
	struct ai_dwarf_line_table lines;
	bool names_built;
	/* hash of a type's qualified name -> its scope, the first of each name (dwarf_names.c,
	 * built on the first look-up of a type by name) */
	struct u64_map names;
};

struct arange {
	uint64_t lo, hi;
	uint32_t cu;
};

struct ai_dwarf {
	struct ai_dwarf_reader *reader;
	struct ai_dwarf_unit *units; /* the reader's */
	struct cu *cus;              /* parallel to units */
	size_t cu_count;
	int is_rust; /* -1 until computed */
	bool aranges_loaded;
	struct arange *aranges; /* sorted by lo */
	size_t arange_count, arange_capacity;
	struct ai_dwarf_stats stats;
};

/* The unit holding a .debug_info offset, or NULL. */
struct cu *ai_dwarf_cu_at(struct ai_dwarf *dw, uint64_t offset);
/* Builds the unit's index (scopes, code ranges) once; what was read before an error is kept. */
struct ai_error *ai_dwarf_cu_index(struct ai_dwarf *dw, struct cu *cu);
/* The qualified name of scope `index` of an indexed unit (borrowed), or NULL. */
const char *ai_dwarf_cu_scope_name(struct ai_dwarf *dw, struct cu *cu, int32_t index);
/* True for the tags of type DIEs (those the index records besides namespaces and subprograms). */
bool ai_dwarf_is_type_tag(uint16_t tag);
/* File `fileno` of the unit's line table (loaded on first use; borrowed), or NULL. */
const char *ai_dwarf_cu_file(struct ai_dwarf *dw, struct cu *cu, uint64_t fileno);

#endif
