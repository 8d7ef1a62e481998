/* Private to src/debuginfo: the value printer's state and the helpers that value.c (scalars,
 * lists, pointers, composites) and value_std.c (standard types) share. */
#ifndef AI_VALUE_INTERNAL_H
#define AI_VALUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ai/types.h"
#include "ai/util.h"
#include "ai/value.h"

#define ELLIPSIS "\xe2\x80\xa6" /* … */

/* Output: a string that stops at max_output and then ends in "…". */
struct out {
	char *buf;
	size_t len, capacity, limit;
	bool full;
};

struct ai_json_writer;

struct printer {
	struct ai_memory *mem; /* borrowed */
	struct ai_value_limits limits;
	struct out out;
	size_t read_total;
	struct ai_json_writer *json; /* borrowed; NULL: the text only */
	bool json_broken;            /* a structured value written out of place (a bug): dropped */
	bool address_shown;          /* an address not from the value's bytes was printed (a part
				      * missing, unreadable): the print is not kept (value_memo.c) */
};

/* A value's bytes (size of them readable) and the target address they are from. */
struct view {
	const uint8_t *bytes;
	uint64_t address;
	size_t size;
};

static inline bool vp_starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline uint64_t vp_load_uint(const uint8_t *bytes, size_t size)
{
	uint64_t value = 0;
	memcpy(&value, bytes, AI_MIN(size, sizeof(value))); /* little-endian targets */
	return value;
}

/* ---- value.c ---- */

/* n bytes of s, cut at the output's limit (never inside a UTF-8 sequence), then "…". */
void vp_out_write(struct out *o, const char *s, size_t n);
void vp_out_str(struct out *o, const char *s);
__attribute__((format(printf, 2, 3))) void vp_out_printf(struct out *o, const char *fmt, ...);
/* As "%" PRIu64, and as "%s0x%" PRIx64 of prefix and value, without printf. */
void vp_out_u64(struct out *o, uint64_t value);
void vp_out_hex(struct out *o, const char *prefix, uint64_t value);
void vp_print_value(struct printer *p, const struct ai_type *type, const struct view *v,
		    unsigned depth);
/* The type's short name (ai_type_short_name), or "?". */
void vp_print_type_name(struct printer *p, const struct ai_type *type);
/* Reads size bytes of the target for a pointee into a new buffer; on failure prints why and
 * returns NULL. */
uint8_t *vp_fetch(struct printer *p, uint64_t address, uint64_t size);
/* The part of v at offset (size bytes); false, after printing where, if v does not hold it. */
bool vp_sub_view(struct printer *p, const struct view *v, uint64_t offset, uint64_t size,
		 struct view *ret);
/* A type through typedefs, or NULL (without printing): for the structure checks of known types. */
const struct ai_type *vp_resolve_quiet(const struct ai_type *owner, const struct ai_type_ref *ref);

/* ---- value_scalar.c ---- */

/* One scalar of type (its bytes in v): an invalid bool or char is shown as such, with its bits. */
void vp_print_int(struct printer *p, const struct ai_type *type, const struct view *v);
void vp_print_bool(struct printer *p, const struct ai_type *type, const struct view *v);
void vp_print_char(struct printer *p, const struct ai_type *type, const struct view *v);
void vp_print_float(struct printer *p, const struct ai_type *type, const struct view *v);
/* A string of len bytes at address in the target, quoted and escaped. */
void vp_print_str(struct printer *p, uint64_t address, uint64_t len);
/* Prints count elements of elem_type from bytes (already read), as list items; `shown` of them
 * are in bytes, the rest are counted. */
void vp_print_items(struct printer *p, const struct ai_type *elem_type, const uint8_t *bytes,
		    uint64_t address, uint64_t shown, bool first, unsigned depth);
/* How many of count elements to show, given the item and read limits. */
uint64_t vp_items_to_show(struct printer *p, const struct ai_type *elem_type, uint64_t count);
void vp_print_tail(struct printer *p, uint64_t shown, uint64_t count, const char *close);
void vp_print_list_tail(struct printer *p, uint64_t shown, uint64_t count);
/* `[a, b, c]` of count elements at address in the target. */
void vp_print_list(struct printer *p, const struct ai_type *elem_type, uint64_t address,
		   uint64_t count, unsigned depth);

/* `[a, b, c]` of a list whose structured form names list_type (may be NULL). */
void vp_print_list_of(struct printer *p, const struct ai_type *list_type,
		      const struct ai_type *elem_type, uint64_t address, uint64_t count,
		      unsigned depth);

/* ---- value_json.c: the structured form, written beside the text ---- */

/* Whether the structured form is being written: asked for, and the text not yet full (what
 * the text no longer shows, the structured form does not either; vp_js_finish says so). */
static inline bool vp_js(const struct printer *p)
{
	return p->json && !p->out.full && !p->json_broken;
}
/* `{"kind":kind` (none when kind is NULL) and, when type is not NULL, `"type":` its short name;
 * the object stays open. */
void vp_js_begin(struct printer *p, const char *kind, const struct ai_type *type);
void vp_js_end(struct printer *p);
void vp_js_key(struct printer *p, const char *key);
/* key, then an open array. */
void vp_js_begin_array(struct printer *p, const char *key);
void vp_js_end_array(struct printer *p);
/* A number, as a string past 2^53 (what readers' doubles hold exactly). */
void vp_js_field_count(struct printer *p, const char *key, uint64_t value);
void vp_js_field_hex(struct printer *p, const char *key, uint64_t value);
void vp_js_field_bool(struct printer *p, const char *key, bool value);
void vp_js_field_string(struct printer *p, const char *key, const char *s, size_t len);
/* JSON text as the value of key (a number already formatted). */
void vp_js_field_raw(struct printer *p, const char *key, const char *json);
/* `{"kind":kind,"type":..}` closed at once. */
void vp_js_leaf(struct printer *p, const char *kind, const struct ai_type *type);
/* A whole value `{"kind":kind,"type":..,"address":..}`, closed (type may be NULL). */
void vp_js_address(struct printer *p, const char *kind, const struct ai_type *type,
		   uint64_t address);
/* `{"kind":"invalid","type":..}` with `value` (has_value) or `reason`. */
void vp_js_invalid(struct printer *p, const struct ai_type *type, bool has_value, uint64_t value,
		   const char *reason);
void vp_js_error(struct printer *p, const struct ai_type *type, const char *message);
/* After the walk: every container still open closed (a value due as `truncated`, an object
 * with `"truncated": true`), and the document taken from the writer. */
char *vp_js_finish(struct printer *p);

/* ---- value_std.c ---- */

/* The member called name of a struct (its type through typedefs, and its view within v). */
bool vp_member_view(const struct ai_type *type, const char *name, const struct view *v,
		    const struct ai_type **type_ret, struct view *view_ret);
/* Prints a value of a standard type it knows (String, Vec, HashMap, Arc, Duration, ...); false if
 * the type is none of them or not laid out as expected (nothing is printed then). */
bool vp_print_known(struct printer *p, const struct ai_type *type, const struct view *v,
		    unsigned depth);

/* ---- value_memo.c: printed values kept for the same bytes while the memory is stable ---- */

/* The text (and, if structured, the structured form, which may be NULL) printed before for a
 * value of type made of these bytes with these limits, as new heap strings, or (shared) as new
 * owners of the memo's shared strings (ai_shared_ref); false if none is kept. */
bool vp_memo_find(struct ai_memory *mem, const struct ai_type *type, const void *bytes, size_t size,
		  const struct ai_value_limits *limits, bool structured, bool shared, char **text_ret,
		  char **json_ret);
/* Keeps a print for vp_memo_find: text and json (borrowed) are shared strings it takes a
 * reference on (shared), or plain ones it copies. */
void vp_memo_add(struct ai_memory *mem, const struct ai_type *type, const void *bytes, size_t size,
		 const struct ai_value_limits *limits, bool structured, bool shared, char *text,
		 char *json);

/* ---- value_summary.c ---- */

/* Prints a struct or enum value as the --decoders summary of its type says (include/ai/
 * summaries.h); false, printing nothing, when it has none (or none for an enum's active variant). */
bool vp_print_summary(struct printer *p, const struct ai_type *type, const struct view *v, unsigned depth);

#endif
