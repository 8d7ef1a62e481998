/* The value printer's scalars (see value.c): integers, bools, chars and floats, and UTF-8 strings
 * with Rust's escapes, in the text and as structured JSON leaves. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/value.h"
#include "value_internal.h"

/* An integer's magnitude and sign in the text, and as `{"kind":"int","value":N}`: a JSON number
 * up to 2^53, beyond it (u64, i128) the same digits as a string. */
static void print_integer(struct printer *p, unsigned __int128 magnitude, bool negative)
{
	char digits[48];
	size_t n = sizeof(digits);
	digits[--n] = '\0';
	bool exact = magnitude <= (1ULL << 53);
	do {
		digits[--n] = (char)('0' + (int)(magnitude % 10));
		magnitude /= 10;
	} while (magnitude);
	if (negative)
		digits[--n] = '-';
	if (vp_js(p)) {
		vp_js_begin(p, "int", NULL);
		if (exact)
			vp_js_field_raw(p, "value", digits + n);
		else
			vp_js_field_string(p, "value", digits + n, strlen(digits + n));
		vp_js_end(p);
	}
	vp_out_str(&p->out, digits + n);
}

void vp_print_int(struct printer *p, const struct ai_type *type, const struct view *v)
{
	size_t size = type->size;
	if (size == 16) {
		unsigned __int128 value;
		memcpy(&value, v->bytes, 16);
		bool negative = type->is_signed && (value >> 127);
		print_integer(p, negative ? -value : value, negative);
		return;
	}
	if (size != 1 && size != 2 && size != 4 && size != 8) {
		char message[32];
		snprintf(message, sizeof(message), "%zu-byte integer", size);
		vp_js_error(p, type, message);
		vp_out_printf(&p->out, "<%s>", message);
		return;
	}
	uint64_t value = vp_load_uint(v->bytes, size);
	if (type->is_signed) {
		unsigned shift = 64 - 8 * (unsigned)size;
		int64_t s = (int64_t)(value << shift) >> shift; /* sign-extend */
		print_integer(p, s < 0 ? -(uint64_t)s : (uint64_t)s, s < 0);
	} else if (!p->json) {
		vp_out_u64(&p->out, value); /* the common case, without the 128-bit division */
	} else {
		print_integer(p, value, false);
	}
}

/* A float the way Rust's Debug prints it: the shortest digits that read back the same, a ".0" on
 * whole numbers, and exponent notation below 1e-4 and from 1e16 on. */
static void format_float(char *text, size_t size, double value, bool is_f32);

/* In the structured form a JSON number, the same digits; NaN and the infinities (no JSON
 * numbers) as the strings "NaN", "inf", "-inf". */
static void print_float(struct printer *p, double value, bool is_f32)
{
	char text[400];
	bool finite = !isnan(value) && !isinf(value);
	if (!finite)
		snprintf(text, sizeof(text), "%s", isnan(value) ? "NaN" : value < 0 ? "-inf" : "inf");
	else
		format_float(text, sizeof(text), value, is_f32);
	if (vp_js(p)) {
		vp_js_begin(p, "float", NULL);
		if (finite)
			vp_js_field_raw(p, "value", text);
		else
			vp_js_field_string(p, "value", text, strlen(text));
		vp_js_end(p);
	}
	vp_out_str(&p->out, text);
}

static void format_float(char *text, size_t size, double value, bool is_f32)
{
	char sci[64];
	int max_precision = is_f32 ? 9 : 17;
	for (int precision = 1; precision <= max_precision; precision++) {
		snprintf(sci, sizeof(sci), "%.*e", precision - 1, value);
		double back = strtod(sci, NULL);
		if (is_f32 ? (float)back == (float)value : back == value)
			break;
	}
	/* sci is "d.ddde[+-]XX": split into digits and exponent. */
	char *e = strchr(sci, 'e');
	int exponent = atoi(e + 1);
	*e = '\0';
	double magnitude = fabs(value);
	if (value != 0 && (magnitude < 1e-4 || magnitude >= 1e16)) {
		/* Rust trims trailing zeros of the mantissa: 1e16, 1.5e-5. */
		char *end = sci + strlen(sci);
		while (end > sci && end[-1] == '0')
			*--end = '\0';
		if (end > sci && end[-1] == '.')
			*--end = '\0';
		snprintf(text, size, "%se%d", sci, exponent);
		return;
	}
	int significant = 0;
	for (const char *c = sci; *c; c++)
		significant += *c >= '0' && *c <= '9';
	int decimals = AI_MAX(significant - 1 - exponent, 1);
	snprintf(text, size, "%.*f", decimals, value);
}

/* A valid code point in UTF-8: its length (1 to 4) in buf. */
static size_t encode_utf8(uint32_t c, char buf[4])
{
	if (c < 0x80) {
		buf[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		buf[0] = (char)(0xc0 | (c >> 6));
		buf[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		buf[0] = (char)(0xe0 | (c >> 12));
		buf[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | (c >> 18));
	buf[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Appends a code point as Rust's Debug escapes it inside `quote` quotes. */
static void print_escaped_char(struct printer *p, uint32_t c, char quote)
{
	char buf[16];
	switch (c) {
	case '\t': vp_out_str(&p->out, "\\t"); return;
	case '\n': vp_out_str(&p->out, "\\n"); return;
	case '\r': vp_out_str(&p->out, "\\r"); return;
	case '\0': vp_out_str(&p->out, "\\0"); return;
	case '\\': vp_out_str(&p->out, "\\\\"); return;
	default: break;
	}
	if (c == (uint32_t)quote) {
		buf[0] = '\\';
		buf[1] = quote;
		vp_out_write(&p->out, buf, 2);
	} else if (c < 0x20 || c == 0x7f) {
		vp_out_printf(&p->out, "\\u{%x}", c);
	} else {
		vp_out_write(&p->out, buf, encode_utf8(c, buf));
	}
}

static bool valid_code_point(uint32_t c)
{
	return c <= 0x10ffff && (c < 0xd800 || c > 0xdfff);
}

/* Decodes one UTF-8 character of s[0..n); its length, or 0 if invalid or cut off. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *ret)
{
	size_t len;
	uint32_t c;
	if (s[0] < 0x80) {
		*ret = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (c < min[len] || !valid_code_point(c))
		return 0;
	*ret = c;
	return len;
}

/* A string of len bytes at address: `"..."`, cut after max_string bytes with `…` and its length. Invalid UTF-8
 * (a String never holds it, garbage may) prints as \x.. escapes. */
void vp_print_str(struct printer *p, uint64_t address, uint64_t len)
{
	uint64_t n = AI_MIN(len, (uint64_t)p->limits.max_string);
	uint8_t *bytes = n ? vp_fetch(p, address, n) : NULL;
	if (n && !bytes)
		return;
	if (vp_js(p)) {
		/* the same bytes, without a character the limit cut in two */
		size_t shown = n;
		if (n < len)
			for (size_t back = 1; back <= AI_MIN(n, 3); back++) {
				uint8_t b = bytes[n - back];
				if ((b & 0xc0) == 0x80)
					continue; /* a continuation byte: look further back */
				size_t want = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : 4;
				if (want > back)
					shown = n - back;
				break;
			}
		vp_js_begin(p, "str", NULL);
		vp_js_field_count(p, "len", len);
		vp_js_field_string(p, "value", (const char *)bytes, shown);
		if (n < len)
			vp_js_field_bool(p, "truncated", true);
		vp_js_end(p);
	}
	vp_out_str(&p->out, "\"");
	for (size_t i = 0; i < n && !p->out.full;) {
		uint32_t c;
		size_t k = utf8_decode(bytes + i, n - i, &c);
		if (k == 0 && n < len && n - i < 4)
			break; /* a character cut by the limit, not an invalid one */
		if (k == 0) {
			vp_out_printf(&p->out, "\\x%02x", bytes[i]);
			i++;
			continue;
		}
		print_escaped_char(p, c, '"');
		i += k;
	}
	if (n < len)
		vp_out_str(&p->out, ELLIPSIS);
	vp_out_str(&p->out, "\"");
	if (n < len) /* cut: say how long it really is */
		vp_out_printf(&p->out, " (%" PRIu64 " bytes)", len);
	free(bytes);
}

void vp_print_bool(struct printer *p, const struct ai_type *type, const struct view *v)
{
	uint64_t b = vp_load_uint(v->bytes, type->size);
	if (b <= 1) {
		vp_js_begin(p, "bool", NULL);
		vp_js_field_bool(p, "value", b);
		vp_js_end(p);
		vp_out_str(&p->out, b ? "true" : "false");
	} else {
		vp_js_invalid(p, type, true, b, NULL);
		vp_out_printf(&p->out, "<invalid bool 0x%" PRIx64 ">", b);
	}
}

void vp_print_char(struct printer *p, const struct ai_type *type, const struct view *v)
{
	uint32_t c = (uint32_t)vp_load_uint(v->bytes, type->size);
	if (!valid_code_point(c)) {
		vp_js_invalid(p, type, true, c, NULL);
		vp_out_printf(&p->out, "<invalid char 0x%x>", c);
		return;
	}
	if (vp_js(p)) {
		char utf8[4];
		size_t n = encode_utf8(c, utf8);
		vp_js_begin(p, "char", NULL);
		vp_js_field_string(p, "value", utf8, n);
		vp_js_end(p);
	}
	vp_out_str(&p->out, "'");
	print_escaped_char(p, c, '\'');
	vp_out_str(&p->out, "'");
}

void vp_print_float(struct printer *p, const struct ai_type *type, const struct view *v)
{
	if (type->size == 4) {
		float f;
		memcpy(&f, v->bytes, 4);
		print_float(p, f, true);
	} else if (type->size == 8) {
		double d;
		memcpy(&d, v->bytes, 8);
		print_float(p, d, false);
	} else {
		char message[32];
		snprintf(message, sizeof(message), "%" PRIu64 "-byte float", type->size);
		vp_js_error(p, type, message);
		vp_out_printf(&p->out, "<%s>", message);
	}
}
