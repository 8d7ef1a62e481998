/* Declarative type summaries (`--decoders FILE`): data, never code, that tells the value printer
 * which members of a type to show. The file (JSON, docs/decoders/README.md):
 *
 *   { "format": "async-inspect-decoders", "version": 1,
 *     "summaries": [ { "type": "app::Account", "show": ["owner", "limits.daily"] } ] }
 *
 * `type` is a qualified type name as DWARF names it; it also matches its generic instances
 * (`app::Wrapper` matches `app::Wrapper<u8>`). `show` lists member paths through nested structs,
 * and through pointers (&T, Box<T>, NonNull) and Arc / Rc to the value they point to. A value of
 * such a struct prints as `Account { owner: "ann", limits.daily: 50, .. }`: the `..` says members
 * were left out. An enum's entry has `variants` ({ "Open": ["id"] }: the members of its active
 * variant to show; a variant not listed prints whole) or `show` (of whichever variant is active).
 * The first summary loaded for a type wins. */
#ifndef AI_SUMMARIES_H
#define AI_SUMMARIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/error.h"

/* An enum's variant and the member paths to show of it (`variants` of an entry). */
struct ai_summary_variant {
	char *name;    /* owned: "Open" */
	char **paths;  /* owned; may be none: `Closed { .. }` */
	char **exprs;  /* owned, as ai_summary's */
	size_t path_count;
};

struct ai_summary {
	char *type;    /* owned */
	char **paths;  /* owned: "owner", "limits.daily"; for an enum, of whichever variant is active */
	char **exprs;  /* owned, path_count of them: NULL for a member path, else the expression
			* (ai_summary_expr_eval) whose value is shown under the name paths[i] */
	size_t path_count;
	struct ai_summary_variant *variants; /* owned: an enum's variants by name, or none */
	size_t variant_count;
};

/* Adds the summaries of a decoder file to the process-wide table. A file that is not JSON, not
 * of this format or version, or with an entry that is not understood is an
 * AI_ERROR_INVALID_ARGUMENT naming the file and the line (JSON errors) or the entry; nothing of
 * such a file is kept. */
struct ai_error *ai_summaries_load(const char *path);
/* The summary of a type by its qualified name, or NULL. */
const struct ai_summary *ai_summary_find(const char *qualified_name);
/* Forgets every summary (tests). */
void ai_summaries_clear(void);

/* Computed members (`{"name": "permits", "value": "state >> 1"}` in a show list): integer
 * arithmetic over member paths of the value, 64-bit and wrapping: literals (decimal, 0x),
 * ( ), unary - ~ !, and * / % + - << >> < <= > >= == != & ^ | with Rust's precedence.
 * (summary_expr.c) */
struct ai_summary_expr_reader {
	/* The integer at member path `path` (len bytes, dots between names) of the value being
	 * printed; false with *why_ret (owned, may stay NULL) when it is not one. */
	bool (*read)(void *ctx, const char *path, size_t len, int64_t *ret, char **why_ret);
	void *ctx;
};
/* NULL if text is an expression, else why not (owned). */
char *ai_summary_expr_check(const char *text);
/* Evaluates text; false with *why_ret (owned) on an error: a path that is not an integer, a
 * division by zero, a shift outside 0..63. */
bool ai_summary_expr_eval(const char *text, const struct ai_summary_expr_reader *reader, int64_t *ret,
			  char **why_ret);

#endif
