/* The Rust value printer: a value of a known type at a target address, as text in Rust syntax,
 * e.g. `Cart { user: 31, items: [Item { sku: "A-7", qty: 2 }] }`.
 *
 * The value is read from the target once (or taken from bytes the caller already read), then
 * pointers are followed with bounded reads: Box, references, Vec and String buffers, Arc and Rc.
 * Standard types are recognized by qualified name and checked by structure (a table in
 * value_std.c): String and &str print as strings (a cut one with its length), Vec, VecDeque and
 * slices as lists, Box and Pin as what they hold, Arc and Rc as their counts then what they hold
 * (`Arc(strong 2, weak 0) ..`), std's Mutex, RwLock and RefCell as their lock or borrow state
 * then what they hold, Option and every other enum as its active variant. Everything is bounded by the
 * limits below. A part that cannot be read prints as `<unreadable 0x...>` and the rest goes on;
 * a part that cannot be understood prints as its type's name, `Name {..}`. Type names are short
 * (ai_type_short_name): `Cart`, `Vec<u8>`.
 *
 * The same walk can also write the value's structured form, compact JSON of the kinds
 * docs/json-format.md lists ("Structured values"): `{"kind":"struct","type":"Cart","fields":[..]}`
 * (value_json.c). It is cut where the text is cut by the same limits, and says so. */
#ifndef AI_VALUE_H
#define AI_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/memory.h"
#include "ai/types.h"

/* A summary of a type the printer does not know itself, e.g. a runtime's own lock or channel:
 * the printer names no runtime, the caller passes one in (ai_value_limits.summary; the runtime
 * adapters' `value_summary` ops, include/ai/runtime.h). For the value of `type` at `address`:
 * a new string such as "Mutex(locked)" in *text_ret, and in *inner_ret the member (a path
 * "a.b") whose value is printed after it, or NULL; false to decline (not its type, or not read:
 * the value then prints as a plain struct). */
typedef bool ai_value_summary_fn(struct ai_memory *mem, const struct ai_type *type,
				 uint64_t address, char **text_ret, const char **inner_ret);

struct ai_value_limits {
	unsigned max_depth;      /* values nested deeper print as `Name {..}`, `[..]` */
	size_t max_items;        /* elements shown per list, then `, … (N items)` */
	size_t max_string;       /* bytes shown per string, then `…` */
	size_t max_output;       /* bytes of text in all; the text then ends with `…` */
	size_t max_read;         /* bytes read from the target in all, following pointers */
	ai_value_summary_fn *summary; /* may be NULL: the summaries of types not std's */
	bool structured;         /* callers that keep values also ask for the structured form */
};

/* depth 6, 10 items, 64 string bytes, 1024 bytes of text, 1 MiB read, no summary. */
void ai_value_limits_default(struct ai_value_limits *limits);
/* For --full-values: depth 32, 100,000 items, 1 MiB per string, 4 MiB of text, 16 MiB read; the
 * summary is kept. */
void ai_value_limits_full(struct ai_value_limits *limits);

/* The value of `type` at `address`, read through mem. limits may be NULL (the defaults). Returns
 * a new heap string; never fails (faults are printed in place). */
char *ai_value_format(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
		      const struct ai_value_limits *limits);

/* The same from bytes already read from `address` (at least the type's size, else the missing
 * part prints as unreadable); pointers in it are still followed through mem. */
char *ai_value_format_bytes(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
			    const void *bytes, size_t size, const struct ai_value_limits *limits);

/* Both forms from one walk (one read of the target): the text as ai_value_format_bytes returns
 * it (bytes may be NULL: read from address, as ai_value_format does), and the structured form as
 * a string of compact JSON in *structured_ret. Both are shared strings (ai/util.h: freed with
 * ai_shared_unref): a value printed before from the same bytes is the same string. */
char *ai_value_format_structured(struct ai_memory *mem, const struct ai_type *type,
				 uint64_t address, const void *bytes, size_t size,
				 const struct ai_value_limits *limits, char **structured_ret);

/* The value in a printed text after the summaries' states before it (`Arc(strong 2, weak 0) `,
 * `Mutex(locked) `): "Arc(strong 1, weak 0) Mutex(unlocked) 7" -> "7"; text itself when it
 * starts with none. For readers of printed values (conditions, the editor's expansion). */
const char *ai_value_after_summary(const char *text);

#endif
