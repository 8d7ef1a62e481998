/* The Rust value printer (see include/ai/value.h).
 *
 * A value is printed from a view: its bytes, already read, and the address they came from. Members
 * are sub-views of the same bytes; only pointers (Box, references, Vec and String buffers, Arc)
 * cause new reads, each one bounded and counted against max_read. Types of the standard library
 * are recognized by qualified name in known_types[] and checked by structure: a printer there that
 * does not find the members it expects declines, and the value prints as a plain struct. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/summaries.h"
#include "ai/util.h"
#include "ai/value.h"
#include "value_internal.h"

void ai_value_limits_default(struct ai_value_limits *limits)
{
	*limits = (struct ai_value_limits){
		.max_depth = 6,
		.max_items = 10,
		.max_string = 64,
		.max_output = 1024,
		.max_read = 1 << 20,
	};
}

void ai_value_limits_full(struct ai_value_limits *limits)
{
	limits->max_depth = 32;
	limits->max_items = 100000;
	limits->max_string = 1 << 20;
	limits->max_output = 4 << 20;
	limits->max_read = 16 << 20;
}

/* ---- Output: a string that stops at max_output and then ends in "…" ---- */

void vp_out_write(struct out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->len + n > o->limit) {
		n = o->limit > o->len ? o->limit - o->len : 0;
		/* Never cut a UTF-8 sequence: back up to the start of a character. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		o->full = true;
	}
	AI_GROW(o->buf, o->capacity, o->len + n + sizeof(ELLIPSIS));
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	if (o->full) {
		memcpy(o->buf + o->len, ELLIPSIS, sizeof(ELLIPSIS) - 1);
		o->len += sizeof(ELLIPSIS) - 1;
	}
	o->buf[o->len] = '\0';
}

/* The text, the buffer cut to its size: a snapshot keeps every value it prints, and growth by
 * doubling leaves up to half of a buffer unused (a value cut at 1,024 bytes sits in 2,048). */
static char *out_take(struct out *o)
{
	if (o->capacity - (o->len + 1) >= 64) {
		o->buf = xrealloc(o->buf, o->len + 1);
		o->capacity = o->len + 1;
	}
	return o->buf;
}

void vp_out_str(struct out *o, const char *s)
{
	vp_out_write(o, s, strlen(s));
}

void vp_out_printf(struct out *o, const char *fmt, ...)
{
	char small[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		vp_out_write(o, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	vp_out_write(o, big, (size_t)n);
	free(big);
}

/* Numbers by hand: printf's cost is most of what printing a small value costs. */
void vp_out_u64(struct out *o, uint64_t value)
{
	char digits[24];
	size_t n = sizeof(digits);
	do {
		digits[--n] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	vp_out_write(o, digits + n, sizeof(digits) - n);
}

/* `prefix` then 0x and value in lowercase hex, as "%s0x%" PRIx64. */
void vp_out_hex(struct out *o, const char *prefix, uint64_t value)
{
	char digits[24];
	size_t n = sizeof(digits);
	do {
		digits[--n] = "0123456789abcdef"[value & 15];
		value >>= 4;
	} while (value);
	digits[--n] = 'x';
	digits[--n] = '0';
	vp_out_str(o, prefix);
	vp_out_write(o, digits + n, sizeof(digits) - n);
}

/* ---- The printer ---- */

void vp_print_type_name(struct printer *p, const struct ai_type *type)
{
	char *made = NULL;
	const char *name = ai_type_short_name_of(type, &made);
	vp_out_str(&p->out, name ? name : "?");
	free(made);
}


/* Prints an error in place of a value: a fault as `<unreadable 0x...>`, others by message. */
static void print_error(struct printer *p, struct ai_error *err, uint64_t address)
{
	p->address_shown = true;
	if (err->code == AI_ERROR_FAULT) {
		uint64_t at = err->address ? err->address : address;
		vp_js_address(p, "unreadable", NULL, at);
		vp_out_printf(&p->out, "<unreadable 0x%" PRIx64 ">", at);
	} else {
		vp_js_error(p, NULL, err->message);
		vp_out_printf(&p->out, "<%s>", err->message);
	}
	ai_error_destroy(err);
}

static void print_unreadable(struct printer *p, uint64_t address)
{
	p->address_shown = true;
	vp_js_address(p, "unreadable", NULL, address);
	vp_out_hex(&p->out, "<unreadable ", address);
	vp_out_str(&p->out, ">");
}

/* Reads size bytes of the target for a pointee into a new buffer; on failure prints why and
 * returns NULL. */
uint8_t *vp_fetch(struct printer *p, uint64_t address, uint64_t size)
{
	if (size > p->limits.max_read || p->read_total + size > p->limits.max_read) {
		vp_js_begin(p, "truncated", NULL);
		vp_js_field_string(p, "budget", "read", 4);
		vp_js_field_hex(p, "address", address);
		vp_js_field_count(p, "size", size);
		vp_js_end(p);
		vp_out_printf(&p->out, "<not read: 0x%" PRIx64 ", %" PRIu64 " bytes over the limit>",
			   address, size);
		return NULL;
	}
	uint8_t *buf = xmalloc(size ? size : 1);
	if (size) {
		struct ai_error *err = ai_memory_read(p->mem, buf, address, size);
		if (err) {
			print_error(p, err, address);
			free(buf);
			return NULL;
		}
	}
	p->read_total += size;
	return buf;
}

/* The part of v at offset (size bytes); false, after printing where, if v does not hold it. */
bool vp_sub_view(struct printer *p, const struct view *v, uint64_t offset, uint64_t size,
		     struct view *ret)
{
	if (offset > v->size || size > v->size - offset) {
		uint64_t missing = offset > v->size ? offset : v->size;
		print_unreadable(p, v->address + missing);
		return false;
	}
	*ret = (struct view){ v->bytes + offset, v->address + offset, size };
	return true;
}

/* A type, or NULL after printing why it could not be resolved. Typedefs are looked through. */
static const struct ai_type *resolve(struct printer *p, const struct ai_type *owner,
				     const struct ai_type_ref *ref)
{
	const struct ai_type *type;
	struct ai_error *err = ai_type_resolve(owner, ref, &type);
	if (!err)
		err = ai_type_underlying(type, &type);
	if (err) {
		print_error(p, err, 0);
		return NULL;
	}
	return type;
}

/* The same without printing: for the structure checks of known types. */
const struct ai_type *vp_resolve_quiet(const struct ai_type *owner,
					   const struct ai_type_ref *ref)
{
	const struct ai_type *type;
	struct ai_error *err = ai_type_resolve(owner, ref, &type);
	if (!err)
		err = ai_type_underlying(type, &type);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return type;
}


/* ---- Lists ---- */

/* Prints count elements of elem_type from bytes (already read), as list items; `shown` of them
 * are in bytes, the rest are counted. */
void vp_print_items(struct printer *p, const struct ai_type *elem_type, const uint8_t *bytes,
			uint64_t address, uint64_t shown, bool first, unsigned depth)
{
	for (uint64_t i = 0; i < shown && !p->out.full; i++) {
		if (!first || i > 0)
			vp_out_str(&p->out, ", ");
		struct view v = { bytes + i * elem_type->size, address + i * elem_type->size,
				  elem_type->size };
		vp_print_value(p, elem_type, &v, depth + 1);
	}
}

/* How many of count elements to show, given the item and read limits. */
uint64_t vp_items_to_show(struct printer *p, const struct ai_type *elem_type, uint64_t count)
{
	uint64_t n = AI_MIN(count, (uint64_t)p->limits.max_items);
	if (elem_type->size && n > p->limits.max_read / elem_type->size)
		n = p->limits.max_read / elem_type->size;
	return n;
}

void vp_print_tail(struct printer *p, uint64_t shown, uint64_t count, const char *close)
{
	vp_js_end_array(p);
	if (count > shown)
		vp_js_field_bool(p, "truncated", true);
	vp_js_end(p);
	if (count > shown)
		vp_out_printf(&p->out, "%s%s (%" PRIu64 " items)", shown ? ", " : "", ELLIPSIS, count);
	vp_out_str(&p->out, close);
}

void vp_print_list_tail(struct printer *p, uint64_t shown, uint64_t count)
{
	vp_print_tail(p, shown, count, "]");
}

/* `{"kind":"seq","type":..,"len":count,"items":[` (closed by vp_print_tail). */
static void begin_seq(struct printer *p, const struct ai_type *list_type, uint64_t count)
{
	vp_js_begin(p, "seq", list_type);
	vp_js_field_count(p, "len", count);
	vp_js_begin_array(p, "items");
}

/* A sequence of which no item is shown: `"items":[],"truncated":true`. */
static void seq_not_shown(struct printer *p, const struct ai_type *list_type, uint64_t count)
{
	begin_seq(p, list_type, count);
	vp_js_end_array(p);
	if (count)
		vp_js_field_bool(p, "truncated", true);
	vp_js_end(p);
}

void vp_print_list_of(struct printer *p, const struct ai_type *list_type,
		      const struct ai_type *elem_type, uint64_t address, uint64_t count,
		      unsigned depth)
{
	if (!elem_type->has_size) {
		seq_not_shown(p, list_type, count);
		vp_out_printf(&p->out, "[%s (%" PRIu64 " items of unknown size)]", ELLIPSIS, count);
		return;
	}
	if (count && depth >= p->limits.max_depth) {
		seq_not_shown(p, list_type, count);
		vp_out_printf(&p->out, "[%s (%" PRIu64 " items)]", ELLIPSIS, count);
		return;
	}
	uint64_t n = vp_items_to_show(p, elem_type, count);
	uint8_t *bytes = NULL;
	if (n && !(bytes = vp_fetch(p, address, n * elem_type->size)))
		return;
	begin_seq(p, list_type, count);
	vp_out_str(&p->out, "[");
	vp_print_items(p, elem_type, bytes, address, n, true, depth);
	vp_print_list_tail(p, n, count);
	free(bytes);
}

/* `[a, b, c]` of count elements at address in the target. */
void vp_print_list(struct printer *p, const struct ai_type *elem_type, uint64_t address,
		   uint64_t count, unsigned depth)
{
	vp_print_list_of(p, NULL, elem_type, address, count, depth);
}

/* ---- Fat pointers: &str, &[T], Box<[T]>, &dyn T ---- */

static bool is_str_name(const char *name)
{
	static const char *const prefixes[] = { "&mut ", "&" };
	if (!name)
		return false;
	if (vp_starts_with(name, "alloc::boxed::Box<str,") || vp_starts_with(name, "alloc::boxed::Box<str>"))
		return true;
	for (size_t i = 0; i < AI_ARRAY_SIZE(prefixes); i++)
		if (vp_starts_with(name, prefixes[i]))
			return strcmp(name + strlen(prefixes[i]), "str") == 0;
	return false;
}

static bool print_fat_pointer(struct printer *p, const struct ai_type *type, const struct view *v,
			      unsigned depth)
{
	const struct ai_type *ptr_type, *len_type;
	struct view ptr_view, len_view;
	if (type->member_count != 2)
		return false;
	if (vp_member_view(type, "data_ptr", v, &ptr_type, &ptr_view) &&
	    vp_member_view(type, "length", v, &len_type, &len_view) &&
	    ptr_type->kind == AI_TYPE_POINTER && len_type->kind == AI_TYPE_INT) {
		uint64_t ptr = vp_load_uint(ptr_view.bytes, ptr_type->size);
		uint64_t len = vp_load_uint(len_view.bytes, len_type->size);
		const char *name = ai_type_qualified_name(type);
		if (name && name[0] == '*') {
			/* A raw slice pointer (*const [T]) is an address, as Rust's Debug shows it. */
			vp_js_address(p, "pointer", type, ptr);
			vp_out_hex(&p->out, "", ptr);
		} else if (is_str_name(name)) {
			vp_print_str(p, ptr, len);
		} else {
			const struct ai_type *elem = resolve(p, ptr_type, &ptr_type->target);
			if (elem)
				vp_print_list_of(p, type, elem, ptr, len, depth);
		}
		return true;
	}
	if (vp_member_view(type, "pointer", v, &ptr_type, &ptr_view) &&
	    ai_type_find_member(type, "vtable") && ptr_type->kind == AI_TYPE_POINTER) {
		/* A trait object: which type it is needs the vtable (the await decoder does that). */
		uint64_t ptr = vp_load_uint(ptr_view.bytes, ptr_type->size);
		vp_js_address(p, "pointer", type, ptr);
		vp_print_type_name(p, type);
		vp_out_printf(&p->out, "(0x%" PRIx64 ")", ptr);
		return true;
	}
	return false;
}

/* ---- Composites ---- */

static bool is_tuple_field(const char *name)
{
	if (!name || name[0] != '_' || name[1] != '_' || !name[2])
		return false;
	for (const char *c = name + 2; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

/* A struct's fields: `Name { a: 1 }`, `Name(1, 2)`, `(1, 2)`, or `Name`. `label` replaces the
 * type's name (an enum variant's). */
static void print_fields(struct printer *p, const struct ai_type *type, const struct view *v,
			 unsigned depth, const char *label)
{
	const char *name = ai_type_qualified_name(type);
	bool tuple = !label && name && name[0] == '(';
	bool positional = tuple;
	if (type->member_count > 0) {
		positional = true;
		for (size_t i = 0; i < type->member_count; i++)
			positional &= is_tuple_field(type->members[i].name);
	}
	/* Structured: a tuple's `items`, a struct's or a variant's `fields` (the caller, print_enum,
	 * has begun the variant's object), each `{"name":..,"value":..}`, a positional one named
	 * "0", "1"... */
	bool has_array = label || type->member_count || !(tuple || type->is_declaration);
	if (!label && !has_array)
		vp_js_begin(p, tuple ? "unit" : "opaque", tuple ? NULL : type);
	else if (!label)
		vp_js_begin(p, tuple ? "tuple" : "struct", type);
	if (has_array)
		vp_js_begin_array(p, tuple ? "items" : "fields");
	if (label)
		vp_out_str(&p->out, label);
	else if (!tuple)
		vp_print_type_name(p, type);
	if (type->member_count == 0) {
		if (tuple)
			vp_out_str(&p->out, "()");
		else if (type->is_declaration)
			vp_out_str(&p->out, " {..}");
		if (has_array)
			vp_js_end_array(p);
		if (!label)
			vp_js_end(p);
		return;
	}
	if (depth >= p->limits.max_depth) {
		vp_js_end_array(p);
		vp_js_field_bool(p, "truncated", true);
		if (!label)
			vp_js_end(p);
		vp_out_str(&p->out, positional ? "(..)" : " {..}");
		return;
	}
	vp_out_str(&p->out, positional ? "(" : " { ");
	for (size_t i = 0; i < type->member_count && !p->out.full; i++) {
		const struct ai_member *m = &type->members[i];
		if (i > 0)
			vp_out_str(&p->out, ", ");
		if (!positional) {
			vp_out_str(&p->out, m->name ? m->name : "?");
			vp_out_str(&p->out, ": ");
		}
		if (!tuple && vp_js(p)) {
			const char *field = m->name ? m->name : "?";
			if (positional)
				field += 2; /* __0 */
			vp_js_begin(p, NULL, NULL);
			vp_js_field_string(p, "name", field, strlen(field));
			vp_js_key(p, "value");
		}
		const struct ai_type *mt = resolve(p, type, &m->type);
		struct view mv;
		if (mt && vp_sub_view(p, v, m->offset, mt->size, &mv))
			vp_print_value(p, mt, &mv, depth + 1);
		if (!tuple)
			vp_js_end(p);
	}
	vp_js_end_array(p);
	if (!label)
		vp_js_end(p);
	if (tuple && type->member_count == 1)
		vp_out_str(&p->out, ",");
	vp_out_str(&p->out, positional ? ")" : " }");
}

static void print_enum(struct printer *p, const struct ai_type *type, const struct view *v,
		       unsigned depth)
{
	const struct ai_variant *variant;
	struct ai_error *err = ai_type_active_variant(type, v->bytes, v->size, &variant);
	uint64_t discr;
	if (err && err->code == AI_ERROR_NOT_FOUND && type->has_discr &&
	    !ai_type_read_discriminant(type, v->bytes, v->size, &discr)) {
		/* Not a value of this enum (stale or uninitialised bytes): nothing to follow. */
		vp_js_invalid(p, type, true, discr, NULL);
		vp_out_printf(&p->out, "<invalid: %" PRIu64 ">", discr);
		ai_error_destroy(err);
		return;
	}
	if (err) {
		vp_js_error(p, type, err->message);
		vp_out_str(&p->out, "<");
		vp_print_type_name(p, type);
		vp_out_printf(&p->out, ": %s>", err->message);
		ai_error_destroy(err);
		return;
	}
	const struct ai_type *vt = resolve(p, type, &variant->member.type);
	struct view vv;
	if (!vt || !vp_sub_view(p, v, variant->member.offset, vt->size, &vv))
		return;
	/* The variant struct's member offsets count from the start of the enum: its view is the
	 * enum's own bytes (the variant member sits at offset 0 in what rustc emits). */
	char *label;
	if (ai_type_is_coroutine(type)) {
		char *made;
		const char *short_name = ai_type_short_name_of(type, &made);
		label = xasprintf("%s::%s", short_name ? short_name : "?", variant->name ? variant->name : "?");
		free(made);
	} else {
		label = xstrdup(variant->name ? variant->name : "?");
	}
	const char *variant_name = variant->name ? variant->name : "?";
	vp_js_begin(p, "enum", type);
	vp_js_field_string(p, "variant", variant_name, strlen(variant_name));
	print_fields(p, vt, &vv, depth, label);
	vp_js_end(p);
	free(label);
}

/* A fieldless enum's value: its variant, `{"kind":"enum",..,"variant":name,"fields":[]}`. */
static void print_c_enumerator(struct printer *p, const struct ai_type *type, const char *name)
{
	name = name ? name : "?";
	vp_js_begin(p, "enum", type);
	vp_js_field_string(p, "variant", name, strlen(name));
	vp_js_begin_array(p, "fields");
	vp_js_end_array(p);
	vp_js_end(p);
	vp_out_str(&p->out, name);
}

static void print_c_enum(struct printer *p, const struct ai_type *type, const struct view *v)
{
	if (type->size == 0 && type->enumerator_count == 1) {
		print_c_enumerator(p, type, type->enumerators[0].name);
		return; /* a one-variant enum takes no space */
	}
	if (type->size == 0 || type->size > 8) {
		vp_js_leaf(p, "opaque", type);
		vp_print_type_name(p, type);
		return;
	}
	uint64_t mask = type->size >= 8 ? UINT64_MAX : (1ULL << (8 * type->size)) - 1;
	uint64_t value = vp_load_uint(v->bytes, type->size);
	for (size_t i = 0; i < type->enumerator_count; i++) {
		if ((type->enumerators[i].value & mask) == value) {
			print_c_enumerator(p, type, type->enumerators[i].name);
			return;
		}
	}
	vp_js_invalid(p, type, true, value, NULL);
	vp_print_type_name(p, type);
	vp_out_printf(&p->out, "(%" PRIu64 ")", value);
}

static void print_array(struct printer *p, const struct ai_type *type, const struct view *v,
			unsigned depth)
{
	const struct ai_type *elem = resolve(p, type, &type->target);
	if (!elem)
		return;
	if (!elem->has_size || (type->count && depth >= p->limits.max_depth)) {
		seq_not_shown(p, type, type->count);
		vp_out_printf(&p->out, "[%s (%" PRIu64 " items)]", ELLIPSIS, type->count);
		return;
	}
	uint64_t n = AI_MIN(type->count, (uint64_t)p->limits.max_items);
	if (elem->size && n > v->size / elem->size)
		n = v->size / elem->size;
	begin_seq(p, type, type->count);
	vp_out_str(&p->out, "[");
	vp_print_items(p, elem, v->bytes, v->address, n, true, depth);
	vp_print_list_tail(p, n, type->count);
}

static void print_pointer(struct printer *p, const struct ai_type *type, const struct view *v,
			  unsigned depth)
{
	uint64_t address = vp_load_uint(v->bytes, type->size);
	const char *name = ai_type_qualified_name(type);
	bool is_box = vp_starts_with(name, "alloc::boxed::Box<");
	bool is_ref = name && name[0] == '&';
	const struct ai_type *target = (is_box || is_ref) ? vp_resolve_quiet(type, &type->target) : NULL;
	if (!target || target->kind == AI_TYPE_VOID || target->kind == AI_TYPE_FUNCTION ||
	    !target->has_size) {
		/* Raw pointers, function pointers, and what we cannot follow: the address. */
		vp_js_address(p, "pointer", type, address);
		vp_out_hex(&p->out, is_ref ? "&" : "", address);
		return;
	}
	if (address == 0) {
		vp_js_address(p, "pointer", type, address);
		vp_out_str(&p->out, "<null>");
		return;
	}
	if (depth >= p->limits.max_depth) {
		vp_js_begin(p, "pointer", type);
		vp_js_field_hex(p, "address", address);
		vp_js_field_bool(p, "truncated", true);
		vp_js_end(p);
		vp_out_hex(&p->out, is_box ? "Box " : "&", address);
		return;
	}
	/* Box<T> and &T print what they point to, as Rust's Debug does (structured: the pointer,
	 * its address and its `target`; one that cannot be read is that unreadable target). */
	uint8_t *bytes = vp_fetch(p, address, target->size);
	if (!bytes)
		return;
	vp_js_begin(p, "pointer", type);
	vp_js_field_hex(p, "address", address);
	vp_js_key(p, "target");
	struct view tv = { bytes, address, target->size };
	vp_print_value(p, target, &tv, depth + 1);
	vp_js_end(p);
	free(bytes);
}

void vp_print_value(struct printer *p, const struct ai_type *type, const struct view *v,
			unsigned depth)
{
	if (p->out.full)
		return;
	if (type->kind == AI_TYPE_TYPEDEF) {
		const struct ai_type *under = resolve(p, type, &type->target);
		if (under)
			vp_print_value(p, under, v, depth);
		return;
	}
	/* Too few bytes: a struct still shows the members it has (each checks its own). */
	if (type->size > v->size && type->kind != AI_TYPE_STRUCT) {
		print_unreadable(p, v->address + v->size);
		return;
	}
	switch (type->kind) {
	case AI_TYPE_VOID:
	case AI_TYPE_FUNCTION:
		vp_js_leaf(p, "opaque", type);
		vp_print_type_name(p, type);
		break;
	case AI_TYPE_UNIT:
		vp_js_leaf(p, "unit", NULL);
		vp_out_str(&p->out, "()");
		break;
	case AI_TYPE_INT:
		vp_print_int(p, type, v);
		break;
	case AI_TYPE_BOOL:
		vp_print_bool(p, type, v);
		break;
	case AI_TYPE_CHAR:
		vp_print_char(p, type, v);
		break;
	case AI_TYPE_FLOAT:
		vp_print_float(p, type, v);
		break;
	case AI_TYPE_POINTER:
		print_pointer(p, type, v, depth);
		break;
	case AI_TYPE_STRUCT:
		if (!vp_print_summary(p, type, v, depth) && !vp_print_known(p, type, v, depth) &&
		    !print_fat_pointer(p, type, v, depth))
			print_fields(p, type, v, depth, NULL);
		break;
	case AI_TYPE_ENUM:
		if (!vp_print_summary(p, type, v, depth))
			print_enum(p, type, v, depth);
		break;
	case AI_TYPE_C_ENUM:
		print_c_enum(p, type, v);
		break;
	case AI_TYPE_UNION:
		/* Which member is live is not in the union: show none (MaybeUninit is one). */
		vp_js_leaf(p, "opaque", type);
		vp_print_type_name(p, type);
		vp_out_str(&p->out, " {..}");
		break;
	case AI_TYPE_ARRAY:
		print_array(p, type, v, depth);
		break;
	case AI_TYPE_TYPEDEF:
		break; /* handled above */
	}
}

static void print_root(struct printer *p, const struct ai_type *type, uint64_t address,
		       const void *bytes, size_t size)
{
	uint8_t *owned = NULL;
	if (!bytes) {
		if (!type->has_size && type->kind != AI_TYPE_TYPEDEF) {
			vp_js_leaf(p, "opaque", type);
			vp_print_type_name(p, type);
			vp_out_str(&p->out, " {..}");
			return;
		}
		size = type->size;
		if (type->kind == AI_TYPE_TYPEDEF) {
			const struct ai_type *under;
			struct ai_error *err = ai_type_underlying(type, &under);
			if (err) {
				print_error(p, err, address);
				return;
			}
			size = under->size;
		}
		if (!(owned = vp_fetch(p, address, size)))
			return;
		bytes = owned;
	}
	struct view v = { bytes, address, size };
	vp_print_value(p, type, &v, 0);
	free(owned);
}

/* The size of a value of type (through typedefs), or SIZE_MAX when it has none. */
static size_t memo_size(const struct ai_type *type)
{
	const struct ai_type *under;
	struct ai_error *err = ai_type_underlying(type, &under);
	if (err) {
		ai_error_destroy(err);
		return SIZE_MAX;
	}
	return under->has_size ? under->size : SIZE_MAX;
}

/* shared: the strings returned are shared ones (ai_shared_unref frees them). */
static char *format(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
		    const void *bytes, size_t size, const struct ai_value_limits *limits,
		    bool shared, char **structured_ret)
{
	struct printer p = { .mem = mem };
	struct ai_json_writer json;
	if (limits)
		p.limits = *limits;
	else
		ai_value_limits_default(&p.limits);
	/* The memo's key is the value's own bytes (a caller may hand the rest of a coroutine after
	 * them): all of them, else the value is printed each time. */
	size_t own = bytes ? memo_size(type) : SIZE_MAX;
	const void *memo_bytes = own <= size ? bytes : NULL;
	char *text;
	if (memo_bytes && vp_memo_find(mem, type, memo_bytes, own, &p.limits, structured_ret, shared, &text,
				       structured_ret))
		return text;
	p.out.limit = p.limits.max_output;
	vp_out_write(&p.out, "", 0); /* an empty string, not NULL, if nothing gets printed */
	if (structured_ret) {
		ai_json_writer_init_buffer(&json, false);
		p.json = &json;
	}
	print_root(&p, type, address, bytes, size);
	if (structured_ret)
		*structured_ret = vp_js_finish(&p);
	if (shared) {
		text = ai_shared_strn(p.out.buf, p.out.len);
		free(p.out.buf);
		if (structured_ret && *structured_ret) {
			char *plain = *structured_ret;
			*structured_ret = ai_shared_strn(plain, strlen(plain));
			free(plain);
		}
	} else {
		text = out_take(&p.out);
	}
	/* Kept when it cost more than it costs to keep: pointers followed, or a summary's text. */
	if (memo_bytes && !p.address_shown && (p.read_total || p.out.len >= 32))
		vp_memo_add(mem, type, memo_bytes, own, &p.limits, structured_ret, shared, text,
			    structured_ret ? *structured_ret : NULL);
	return text;
}

char *ai_value_format(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
		      const struct ai_value_limits *limits)
{
	return format(mem, type, address, NULL, 0, limits, false, NULL);
}

char *ai_value_format_bytes(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
			    const void *bytes, size_t size, const struct ai_value_limits *limits)
{
	return format(mem, type, address, bytes, size, limits, false, NULL);
}

char *ai_value_format_structured(struct ai_memory *mem, const struct ai_type *type,
				 uint64_t address, const void *bytes, size_t size,
				 const struct ai_value_limits *limits, char **structured_ret)
{
	return format(mem, type, address, bytes, size, limits, true, structured_ret);
}

const char *ai_value_after_summary(const char *text)
{
	for (;;) {
		const char *p = text;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		       *p == '_' || *p == ':')
			p++;
		if (p == text || *p != '(')
			return text;
		/* a state is plain words: no brackets or quotes inside, and a value after it */
		size_t n = strcspn(p + 1, "()[]{}\"'");
		if (p[1 + n] != ')' || p[2 + n] != ' ' || !p[3 + n])
			return text;
		text = p + 3 + n;
	}
}
