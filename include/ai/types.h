/* The type model (after drgn's type.c): plain data built lazily from DWARF type DIEs, read with
 * our DIE reader (ai/dwarf_reader.h) over the index of ai/dwarf_info.h.
 *
 * A type is read when first asked for, by DIE offset, and cached by that offset. The types it
 * refers to (a pointer's target, a member's type, an array's element) are `struct ai_type_ref`s,
 * resolved on first use through ai_type_resolve(): so building a type never walks what it points
 * to, and cyclic types are fine. Nothing here walks every DIE of a binary (DESIGN.md 7b): qualified
 * names and the by-name table of a compilation unit come from the unit's index in ai_dwarf (one
 * walk of its namespace, type and subprogram DIEs, made on first need and shared with
 * symbolization).
 *
 * The model is plain data, so tests (and decoders of synthetic values) may build struct ai_type
 * values by hand: leave `types` NULL, set `qualified_name`, and point every ai_type_ref's `type`
 * at another hand-made type (a NULL type with die_offset 0 means void).
 *
 * Rust, as rustc 1.95 emits it (DWARF 4; see DESIGN.md 3):
 * - `&T`, `*const T`, and `Box<T>` of a sized T are pointer types named "&T", "*const T",
 *   "alloc::boxed::Box<T, A>"; references to unsized values (`&str`, `&[T]`, `Box<[T]>`, `&dyn T`)
 *   are structs with members data_ptr/length or pointer/vtable.
 * - Enums and coroutines are structs with a DW_TAG_variant_part (kind AI_TYPE_ENUM): a
 *   discriminant member (a coroutine's is "__state"), and one variant per case, each holding one
 *   member whose type is a struct of that case's fields. Niche layouts give the niche values as
 *   discr_value and leave the dataful variant without one (the default).
 * - Tuples are structs named "(A, B)" with members __0, __1; `()` is a zero-sized base type.
 *
 * Names (`name`, member and variant names) are borrowed from the DWARF sections and live as long
 * as the ai_dwarf; strings returned by functions here are owned by the ai_types or the ai_dwarf. */
#ifndef AI_TYPES_H
#define AI_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/error.h"

enum ai_type_kind {
	AI_TYPE_VOID,     /* no type: a pointer without DW_AT_type, DW_TAG_unspecified_type */
	AI_TYPE_UNIT,     /* Rust `()`: a zero-sized base type */
	AI_TYPE_INT,      /* DW_ATE_signed, unsigned, signed_char, unsigned_char, address */
	AI_TYPE_BOOL,
	AI_TYPE_CHAR,     /* DW_ATE_UTF: a Rust char (a UTF-32 code point) */
	AI_TYPE_FLOAT,
	AI_TYPE_POINTER,  /* pointer and reference types: &T, &mut T, *const T, Box<T> of sized T */
	AI_TYPE_STRUCT,   /* structs, tuples, and fat pointers (&str, &[T], &dyn T) */
	AI_TYPE_ENUM,     /* a Rust enum: a struct with a variant part; coroutines too */
	AI_TYPE_C_ENUM,   /* DW_TAG_enumeration_type: a field-less Rust enum, or a C enum */
	AI_TYPE_UNION,
	AI_TYPE_ARRAY,
	AI_TYPE_FUNCTION, /* DW_TAG_subroutine_type (seen through function pointers) */
	AI_TYPE_TYPEDEF,  /* typedefs and C qualifiers (const, volatile): the type is `target` */
};

struct ai_dwarf;
struct ai_type;
struct ai_types;

/* Another type, resolved on first use by ai_type_resolve(). */
struct ai_type_ref {
	const struct ai_type *type; /* once resolved, or set by hand; NULL until then */
	uint64_t die_offset;        /* the DIE to resolve; 0 with type NULL means void */
};

struct ai_member {
	const char *name;      /* NULL if anonymous (an enum's discriminant) */
	uint64_t offset;       /* bytes from the start of the value that contains the member */
	struct ai_type_ref type;
	bool artificial;       /* DW_AT_artificial, e.g. a coroutine's __state */
};

/* A DW_TAG_template_type_param: how Vec<T, A>, Option<T> or tokio's Cell<T, S> name T. */
struct ai_template_param {
	const char *name;      /* "T" */
	struct ai_type_ref type;
};

struct ai_variant {
	/* The case's name: "Some", "Oneshot"; for a coroutine, its state "Unresumed", "Returned",
	 * "Panicked", "Suspend0".. (from the variant struct's name: the members are named "0", "1"). */
	const char *name;
	bool has_discr_value;  /* false for the default variant (the dataful one of a niche layout) */
	uint64_t discr_value;  /* compared with the discriminant in the discriminant's size */
	/* The case's one member, usually at offset 0. Its type is a struct of the case's fields, and
	 * their offsets, like this one's, count from the start of the enum value. */
	struct ai_member member;
	/* DW_AT_decl_file and DW_AT_decl_line of that member: for a coroutine's suspend state, the
	 * source line of the .await. decl_file is a path from the unit's line table (borrowed);
	 * NULL and 0 when DWARF does not say. */
	const char *decl_file;
	uint32_t decl_line;
};

struct ai_enumerator {
	const char *name;
	uint64_t value;        /* the bits of DW_AT_const_value; compare in the enum's size */
};

struct ai_type {
	enum ai_type_kind kind;
	const char *name;      /* DW_AT_name as given: "Vec<u32, alloc::alloc::Global>", "&str",
				* "u8"; NULL if anonymous (e.g. a C `int *`) */
	uint64_t size;         /* bytes; 0 for void, functions and declarations */
	bool has_size;         /* DW_AT_byte_size was given or derived (arrays, typedefs) */
	uint32_t alignment;    /* DW_AT_alignment; 0 if not given */
	bool is_signed;        /* AI_TYPE_INT */
	bool is_declaration;   /* DW_AT_declaration: no members known (shown as opaque) */
	/* AI_TYPE_POINTER: the pointee; ARRAY: the element; TYPEDEF: the aliased type; C_ENUM: the
	 * underlying integer; FUNCTION: the return type. */
	struct ai_type_ref target;
	uint64_t count;        /* AI_TYPE_ARRAY: elements (all dimensions multiplied); 0 if unknown */

	/* STRUCT, UNION, ENUM: the members outside a variant part, in DWARF order. */
	struct ai_member *members;
	size_t member_count;
	struct ai_template_param *template_params;
	size_t template_param_count;

	/* ENUM: the discriminant (absent for single-variant enums) and the variants. */
	bool has_discr;
	struct ai_member discr;
	struct ai_variant *variants;
	size_t variant_count;

	/* C_ENUM */
	struct ai_enumerator *enumerators;
	size_t enumerator_count;

	/* Where it came from; zero for hand-made types. */
	struct ai_types *types;  /* the owner (borrowed); NULL for hand-made types */
	uint64_t die_offset;     /* .debug_info offset of the type's DIE */
	uint64_t cu_offset;      /* of its compilation unit's DIE */
	/* "alloc::vec::Vec<u32, alloc::alloc::Global>": set by hand, or computed on first call of
	 * ai_type_qualified_name() (owned by the ai_types). */
	const char *qualified_name;
	/* Caches kept on types read from DWARF only (`types` set), filled on first use: the short
	 * name (ai_type_short_name_of; owned by the type), and for the value printer which printer
	 * of std types fits the type by name (src/debuginfo/value_std.c; 0: not looked up yet; -1:
	 * none; else 1 + its index in that table). */
	char *short_name;
	int known_printer;
	/* The future shape rule its name matches (ai_runtime_future_shape_of, src/runtime; opaque
	 * here), valid while future_shape_generation is the adapters' generation (0: never). */
	const void *future_shape;
	unsigned future_shape_generation;
	/* Answers of searches by name through the type's members, for ai_type_memo_find (owned). */
	struct ai_type_memo *memo;
};

/* The answer of a search by name through a type's members, which depends on the type alone
 * (e.g. the wait readers' nested member search, src/async/wait_read.c), kept on the type so that
 * it is made once per type, not once per value. */
struct ai_type_memo {
	struct ai_type_memo *next;
	const void *search;          /* which search: the address of an object of its own */
	char *name;                  /* what it looked for (owned) */
	unsigned depth;
	bool found;
	uint64_t offset;             /* if found: where, from the start of the type */
	const struct ai_type *type;  /* and of what type */
};

/* Types of one file's DWARF (borrowed: it must outlive the ai_types). */
struct ai_types *ai_types_create(struct ai_dwarf *dw);
void ai_types_destroy(struct ai_types *types);

/* The type whose DIE is at die_offset (in .debug_info), read on first call and cached.
 * AI_ERROR_DWARF if there is no such DIE or it is not a type. */
struct ai_error *ai_types_get(struct ai_types *types, uint64_t die_offset,
			      const struct ai_type **ret);

/* The type DIE named qualified_name ("tokio::runtime::task::core::Header") in the compilation
 * unit whose DIE is at cu_offset. The unit's name table is built on the first look-up in it.
 * AI_ERROR_NOT_FOUND if the unit has no such type. */
struct ai_error *ai_types_find_offset(struct ai_types *types, uint64_t cu_offset,
				      const char *qualified_name, uint64_t *die_offset_ret);
/* The same, returning the type. */
struct ai_error *ai_types_find(struct ai_types *types, uint64_t cu_offset,
			       const char *qualified_name, const struct ai_type **ret);

/* Calls fn for every type DIE of the unit whose qualified name starts with prefix (e.g.
 * "tokio::runtime::task::core::Cell<"), in DIE order, until fn returns false. */
typedef bool ai_types_name_fn(const char *qualified_name, uint64_t die_offset, void *arg);
struct ai_error *ai_types_for_each_name(struct ai_types *types, uint64_t cu_offset,
					const char *prefix, ai_types_name_fn *fn, void *arg);

/* The type a ref names: ref->type if set, void for an empty ref, else the DIE read through
 * owner->types (and remembered in the ref). owner is the type that holds the ref. */
struct ai_error *ai_type_resolve(const struct ai_type *owner, const struct ai_type_ref *ref,
				 const struct ai_type **ret);
/* Shorthands: the target (pointee, element, ...), a member's type, a template parameter's type. */
struct ai_error *ai_type_target(const struct ai_type *type, const struct ai_type **ret);
struct ai_error *ai_type_member_type(const struct ai_type *type, const struct ai_member *member,
				     const struct ai_type **ret);
/* Follows typedefs and qualifiers to the type they name. */
struct ai_error *ai_type_underlying(const struct ai_type *type, const struct ai_type **ret);
/* A member's type through typedefs (ai_type_member_type, then ai_type_underlying). */
struct ai_error *ai_type_member_underlying(const struct ai_type *type, const struct ai_member *member,
					   const struct ai_type **ret);

/* The qualified name ("alloc::vec::Vec<u32, alloc::alloc::Global>"), computed from the DIE's
 * namespace parents on first call (one walk of its unit, shared with the name table); falls back
 * to `name`; NULL for anonymous types. Borrowed from the ai_types (or the hand-made type). */
const char *ai_type_qualified_name(const struct ai_type *type);
/* True if a and b are the same type: the same object, or types of the same kind, size and
 * qualified name (every codegen unit repeats the types of a crate at other offsets). Anonymous
 * types are compared through their targets. */
bool ai_type_equal(const struct ai_type *a, const struct ai_type *b);

/* A name for people: every path cut to its last segment (keeping the segment before a `{...}`
 * one), and default allocator arguments dropped: "alloc::vec::Vec<u32, alloc::alloc::Global>" ->
 * "Vec<u32>", "shop::checkout::{async_fn_env#0}" -> "checkout::{async_fn_env#0}". A new heap
 * string. */
char *ai_type_short_name(const char *name);
/* The short name of a type's qualified name, computed once per type read from DWARF and kept
 * on it (borrowed); for a hand-made type a new string, also put in *made_ret for the caller to
 * free (*made_ret is NULL otherwise). NULL for an anonymous type. */
const char *ai_type_short_name_of(const struct ai_type *type, char **made_ret);

/* The answer kept for (search, name, depth) on type, or NULL if there is none yet. */
const struct ai_type_memo *ai_type_memo_find(const struct ai_type *type, const void *search,
					     const char *name, unsigned depth);
/* Keeps an answer on a type read from DWARF (on a hand-made type, nothing: nothing would free
 * it). */
void ai_type_memo_add(const struct ai_type *type, const void *search, const char *name,
		      unsigned depth, bool found, uint64_t offset, const struct ai_type *result);

/* The direct member named name, or NULL. */
const struct ai_member *ai_type_find_member(const struct ai_type *type, const char *name);
/* The template parameter named name ("T"), or NULL. */
const struct ai_template_param *ai_type_find_template_param(const struct ai_type *type,
							    const char *name);
/* A variant of an AI_TYPE_ENUM by name, or NULL. */
const struct ai_variant *ai_type_find_variant(const struct ai_type *type, const char *name);

/* True for a coroutine: an enum whose discriminant is "__state" (async fn, async block). */
bool ai_type_is_coroutine(const struct ai_type *type);

/* The discriminant of an enum value, given the value's bytes (size bytes; at least the
 * discriminant's end). AI_ERROR_INVALID_ARGUMENT if type has none or the bytes are too short. */
struct ai_error *ai_type_read_discriminant(const struct ai_type *type, const void *bytes,
					   size_t size, uint64_t *ret);
/* The active variant of an enum value: the one whose discr_value equals the discriminant, else
 * the default variant; a single-variant enum's only one. AI_ERROR_NOT_FOUND if none matches
 * (garbage or a half-written value). */
struct ai_error *ai_type_active_variant(const struct ai_type *type, const void *bytes,
					size_t size, const struct ai_variant **ret);

#endif
