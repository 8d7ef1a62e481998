/* The value printer's structured form (include/ai/value.h; the kinds: docs/json-format.md,
 * "Structured values"): compact JSON written by the printers of value.c and value_std.c beside
 * their text, through a buffer writer (src/util/json_writer.c), from the same bytes.
 *
 * The writer aborts on a misplaced call; a value's printer is not worth a crash of the
 * debugger, so every call here first checks that the writer expects it, and a misplaced one
 * drops the structured form of that value instead (vp_js_finish then writes an `error`). */
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/types.h"
#include "value_internal.h"

/* Exactly held by an IEEE double, which is what most JSON readers make of a number. */
#define MAX_EXACT_INT (1ULL << 53)

static char top_of(const struct ai_json_writer *w)
{
	return w->depth ? w->stack[w->depth - 1] : 0;
}

static bool value_due(struct printer *p)
{
	char top = top_of(p->json);
	bool ok = top ? top == 'V' || top == 'a' || top == 'A' : !p->json->done;
	if (!ok)
		p->json_broken = true;
	return ok;
}

static bool key_due(struct printer *p)
{
	char top = top_of(p->json);
	bool ok = top == 'o' || top == 'O';
	if (!ok)
		p->json_broken = true;
	return ok;
}

void vp_js_key(struct printer *p, const char *key)
{
	if (vp_js(p) && key_due(p))
		ai_json_key(p->json, key);
}

static void type_field(struct printer *p, const struct ai_type *type)
{
	char *made = NULL;
	const char *name = ai_type_short_name_of(type, &made);
	ai_json_key(p->json, "type");
	ai_json_string(p->json, name ? name : "?");
	free(made);
}

void vp_js_begin(struct printer *p, const char *kind, const struct ai_type *type)
{
	if (!vp_js(p) || !value_due(p))
		return;
	ai_json_begin_object(p->json);
	if (kind)
		ai_json_field_string(p->json, "kind", kind);
	if (type)
		type_field(p, type);
}

void vp_js_end(struct printer *p)
{
	if (vp_js(p) && key_due(p))
		ai_json_end_object(p->json);
}

void vp_js_begin_array(struct printer *p, const char *key)
{
	if (!vp_js(p) || !key_due(p))
		return;
	ai_json_key(p->json, key);
	ai_json_begin_array(p->json);
}

void vp_js_end_array(struct printer *p)
{
	if (!vp_js(p))
		return;
	char top = top_of(p->json);
	if (top == 'a' || top == 'A')
		ai_json_end_array(p->json);
	else
		p->json_broken = true;
}

void vp_js_field_count(struct printer *p, const char *key, uint64_t value)
{
	if (!vp_js(p) || !key_due(p))
		return;
	ai_json_key(p->json, key);
	if (value <= MAX_EXACT_INT) {
		ai_json_uint(p->json, value);
	} else {
		char digits[24];
		size_t n = sizeof(digits);
		do {
			digits[--n] = (char)('0' + value % 10);
			value /= 10;
		} while (value);
		ai_json_string_len(p->json, digits + n, sizeof(digits) - n);
	}
}

void vp_js_field_hex(struct printer *p, const char *key, uint64_t value)
{
	if (vp_js(p) && key_due(p))
		ai_json_field_hex(p->json, key, value);
}

void vp_js_field_bool(struct printer *p, const char *key, bool value)
{
	if (vp_js(p) && key_due(p))
		ai_json_field_bool(p->json, key, value);
}

/* A NUL byte is valid JSON as \u0000, but jansson and most C readers refuse it by default (our
 * own replay too): the text from the target gets U+FFFD for it, as for a byte of no UTF-8. */
void vp_js_field_string(struct printer *p, const char *key, const char *s, size_t len)
{
	if (!vp_js(p) || !key_due(p))
		return;
	ai_json_key(p->json, key);
	if (!len || !memchr(s, '\0', len)) { /* (an empty String has no buffer: s may be NULL) */
		ai_json_string_len(p->json, len ? s : "", len);
		return;
	}
	static const char replacement[] = "\xef\xbf\xbd";
	char *copy = xmalloc(len * 3 + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i]) {
			copy[n++] = s[i];
		} else {
			memcpy(copy + n, replacement, 3);
			n += 3;
		}
	}
	ai_json_string_len(p->json, copy, n);
	free(copy);
}

void vp_js_field_raw(struct printer *p, const char *key, const char *json)
{
	if (!vp_js(p) || !key_due(p))
		return;
	ai_json_key(p->json, key);
	ai_json_raw(p->json, json, strlen(json));
}

void vp_js_leaf(struct printer *p, const char *kind, const struct ai_type *type)
{
	vp_js_begin(p, kind, type);
	vp_js_end(p);
}

void vp_js_address(struct printer *p, const char *kind, const struct ai_type *type,
		   uint64_t address)
{
	vp_js_begin(p, kind, type);
	vp_js_field_hex(p, "address", address);
	vp_js_end(p);
}

void vp_js_invalid(struct printer *p, const struct ai_type *type, bool has_value, uint64_t value,
		   const char *reason)
{
	vp_js_begin(p, "invalid", type);
	if (has_value)
		vp_js_field_count(p, "value", value);
	else
		vp_js_field_string(p, "reason", reason, strlen(reason));
	vp_js_end(p);
}

void vp_js_error(struct printer *p, const struct ai_type *type, const char *message)
{
	vp_js_begin(p, "error", type);
	vp_js_field_string(p, "message", message, strlen(message));
	vp_js_end(p);
}

char *vp_js_finish(struct printer *p)
{
	struct ai_json_writer *w = p->json;
	if (p->json_broken) {
		/* Start again with what can be said (containers may be open: no take). */
		free(w->buf);
		free(w->stack);
		ai_json_writer_init_buffer(w, false);
		ai_json_begin_object(w);
		ai_json_field_string(w, "kind", "error");
		ai_json_field_string(w, "message", "structured form not built");
		ai_json_end_object(w);
		return ai_json_writer_take(w, NULL);
	}
	/* The text ran out (max_output): what is open ends here, saying it was cut. */
	while (w->depth || !w->done) {
		char top = top_of(w);
		if (!top || top == 'V') {
			ai_json_begin_object(w);
			ai_json_field_string(w, "kind", "truncated");
			ai_json_field_string(w, "budget", "output");
			ai_json_end_object(w);
		} else if (top == 'o' || top == 'O') {
			ai_json_field_bool(w, "truncated", true);
			ai_json_end_object(w);
		} else {
			ai_json_end_array(w);
		}
	}
	return ai_json_writer_take(w, NULL);
}
