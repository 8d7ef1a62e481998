/* The streaming JSON writer (src/util/json_writer.c): nesting, commas and indentation in both
 * layouts, numbers at their limits, and escaping of every kind of byte target memory can hold,
 * checked against the exact text and against jansson reading it back. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/util.h"

struct capture {
	FILE *mem;
	char *text;
	size_t len;
	struct ai_json_writer w;
};

static void start(struct capture *c, bool pretty)
{
	c->text = NULL;
	c->len = 0;
	c->mem = open_memstream(&c->text, &c->len);
	cr_assert_not_null(c->mem);
	ai_json_writer_init(&c->w, c->mem, pretty);
}

/* The text written (owned by the caller). */
static char *stop(struct capture *c)
{
	cr_assert_eq(ai_json_writer_finish(&c->w), 0);
	cr_assert_eq(fclose(c->mem), 0);
	return c->text;
}

/* A document with every kind of value, nested objects and arrays, and empty ones. */
static void write_sample(struct ai_json_writer *w)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "s", "x");
	ai_json_field_null(w, "n");
	ai_json_key(w, "a");
	ai_json_begin_array(w);
	ai_json_int(w, 1);
	ai_json_begin_object(w);
	ai_json_field_bool(w, "t", true);
	ai_json_field_bool(w, "f", false);
	ai_json_end_object(w);
	ai_json_begin_array(w);
	ai_json_end_array(w);
	ai_json_begin_object(w);
	ai_json_end_object(w);
	ai_json_end_array(w);
	ai_json_field_hex(w, "h", 0x1a2b);
	ai_json_key(w, "e");
	ai_json_begin_array(w);
	ai_json_end_array(w);
	ai_json_end_object(w);
}

Test(json_writer, compact_layout)
{
	struct capture c;
	start(&c, false);
	write_sample(&c.w);
	char *text = stop(&c);
	cr_expect_str_eq(text, "{\"s\":\"x\",\"n\":null,\"a\":[1,{\"t\":true,\"f\":false},[],{}],\"h\":\"0x1a2b\",\"e\":[]}");
	free(text);
}

/* The pretty layout is jansson's JSON_INDENT(2), byte for byte: the format's documentation and
 * every earlier dump look like that. */
Test(json_writer, pretty_layout_is_janssons_indent_2)
{
	struct capture c;
	start(&c, true);
	write_sample(&c.w);
	char *text = stop(&c);
	cr_expect_str_eq(text, "{\n"
			       "  \"s\": \"x\",\n"
			       "  \"n\": null,\n"
			       "  \"a\": [\n"
			       "    1,\n"
			       "    {\n"
			       "      \"t\": true,\n"
			       "      \"f\": false\n"
			       "    },\n"
			       "    [],\n"
			       "    {}\n"
			       "  ],\n"
			       "  \"h\": \"0x1a2b\",\n"
			       "  \"e\": []\n"
			       "}");
	json_error_t error;
	json_t *parsed = json_loads(text, 0, &error);
	cr_assert_not_null(parsed, "%s", error.text);
	char *again = json_dumps(parsed, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	cr_expect_str_eq(text, again);
	free(again);
	json_decref(parsed);
	free(text);
}

Test(json_writer, numbers_at_their_limits)
{
	struct capture c;
	start(&c, false);
	ai_json_begin_array(&c.w);
	ai_json_int(&c.w, 0);
	ai_json_int(&c.w, -1);
	ai_json_int(&c.w, INT64_MIN);
	ai_json_int(&c.w, INT64_MAX);
	ai_json_uint(&c.w, UINT64_MAX);
	ai_json_hex(&c.w, 0);
	ai_json_hex(&c.w, UINT64_MAX);
	ai_json_end_array(&c.w);
	char *text = stop(&c);
	cr_expect_str_eq(text, "[0,-1,-9223372036854775808,9223372036854775807,18446744073709551615,"
			       "\"0x0\",\"0xffffffffffffffff\"]");
	free(text);
}

Test(json_writer, decimals_are_exact)
{
	struct capture c;
	start(&c, false);
	ai_json_begin_array(&c.w);
	ai_json_decimal(&c.w, 1234567, 3);
	ai_json_decimal(&c.w, 5, 3);
	ai_json_decimal(&c.w, 0, 3);
	ai_json_decimal(&c.w, 42, 0);
	ai_json_decimal(&c.w, UINT64_MAX, 3);
	ai_json_end_array(&c.w);
	char *text = stop(&c);
	cr_expect_str_eq(text, "[1234.567,0.005,0.000,42,18446744073709551.615]");
	free(text);
}

/* One string value as the writer puts it. */
static char *string_json(const char *s, size_t len)
{
	struct capture c;
	start(&c, false);
	ai_json_string_len(&c.w, s, len);
	return stop(&c);
}

#define EXPECT_STRING(input, expected)                                        \
	do {                                                                  \
		char *got_ = string_json(input, sizeof(input) - 1);           \
		cr_expect_str_eq(got_, expected, "input %s", #input);         \
		free(got_);                                                   \
	} while (0)

Test(json_writer, escapes_quotes_backslashes_and_control_characters)
{
	EXPECT_STRING("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	EXPECT_STRING("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	EXPECT_STRING("\x01\x1f\x7f", "\"\\u0001\\u001F\x7f\"");
	EXPECT_STRING("", "\"\"");
}

/* Valid UTF-8 stays as it is; every byte that belongs to no valid sequence is U+FFFD. */
Test(json_writer, invalid_utf8_becomes_replacement_characters)
{
	EXPECT_STRING("caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\xa6\x80", "\"caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\xa6\x80\"");
	EXPECT_STRING("\xff", "\"\\uFFFD\"");                    /* never in UTF-8 */
	EXPECT_STRING("a\x80z", "\"a\\uFFFDz\"");                /* a stray continuation byte */
	EXPECT_STRING("\xc3", "\"\\uFFFD\"");                    /* cut off at the end */
	EXPECT_STRING("\xe2\x80z", "\"\\uFFFD\\uFFFDz\"");       /* cut off before an ASCII byte */
	EXPECT_STRING("\xc0\xaf", "\"\\uFFFD\\uFFFD\"");         /* overlong '/' */
	EXPECT_STRING("\xe0\x80\xaf", "\"\\uFFFD\\uFFFD\\uFFFD\""); /* overlong, 3 bytes */
	EXPECT_STRING("\xed\xa0\x80", "\"\\uFFFD\\uFFFD\\uFFFD\""); /* a surrogate, U+D800 */
	EXPECT_STRING("\xf4\x90\x80\x80", "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\""); /* past U+10FFFF */
	EXPECT_STRING("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");  /* U+10FFFF itself */
}

/* Whatever the bytes, jansson (and so json_read.c) reads the string back, equal to the input
 * with each invalid byte replaced. */
Test(json_writer, every_byte_reads_back_in_jansson)
{
	char all[256 * 2];
	size_t n = 0;
	for (int b = 1; b < 256; b++) {
		all[n++] = (char)b;
		all[n++] = 'x';
	}
	struct capture c;
	start(&c, false);
	ai_json_begin_object(&c.w);
	ai_json_key(&c.w, "k\x01\xff");
	ai_json_string_len(&c.w, all, n);
	ai_json_end_object(&c.w);
	char *text = stop(&c);
	json_error_t error;
	json_t *parsed = json_loads(text, 0, &error);
	cr_assert_not_null(parsed, "%s", error.text);
	const char *key;
	json_t *value;
	size_t count = 0;
	json_object_foreach(parsed, key, value) {
		count++;
		cr_expect_str_eq(key, "k\x01\xef\xbf\xbd");
		const char *s = json_string_value(value);
		cr_assert_not_null(s);
		size_t k = 0;
		for (int b = 1; b < 256; b++) {
			if (b < 0x80) {
				cr_expect_eq((unsigned char)s[k], b, "byte %d", b);
				k++;
			} else {
				cr_expect(memcmp(s + k, "\xef\xbf\xbd", 3) == 0, "byte %d", b);
				k += 3;
			}
			cr_expect_eq(s[k], 'x');
			k++;
		}
		cr_expect_eq(s[k], '\0');
	}
	cr_expect_eq(count, 1);
	json_decref(parsed);
	free(text);
}

/* Plain text is scanned eight bytes at a time: a byte that needs escaping is found at any
 * position of a long string, at either end and across word boundaries. */
Test(json_writer, escapes_at_every_position_of_a_long_string)
{
	static const char specials[] = { '"', '\\', '\n', '\x01', '\x1f', '\x80', '\xff' };
	static const char *const escaped[] = { "\\\"", "\\\\", "\\n", "\\u0001", "\\u001F", "\\uFFFD", "\\uFFFD" };
	enum { LEN = 41 };
	for (size_t k = 0; k < AI_ARRAY_SIZE(specials); k++) {
		for (size_t pos = 0; pos < LEN; pos++) {
			char in[LEN];
			memset(in, ' ' + 1, LEN); /* '!', next to '"' */
			in[pos] = specials[k];
			char *got = string_json(in, LEN);
			char *want = malloc(LEN + 16);
			size_t e = strlen(escaped[k]);
			want[0] = '"';
			memset(want + 1, '!', pos);
			memcpy(want + 1 + pos, escaped[k], e);
			memset(want + 1 + pos + e, '!', LEN - pos - 1);
			strcpy(want + LEN + e, "\"");
			cr_expect_str_eq(got, want, "byte 0x%02x at %zu", (unsigned char)specials[k], pos);
			free(got);
			free(want);
		}
	}
}

/* Deep nesting (await trees go to --depth 10000) and strings longer than the writer's buffer. */
Test(json_writer, deep_nesting_and_long_strings)
{
	enum { DEPTH = 20000, LONG = 300000 };
	char *big = malloc(LONG + 1);
	memset(big, 'q', LONG);
	big[LONG - 1] = '"';
	big[LONG] = '\0';
	struct capture c;
	start(&c, false);
	for (int i = 0; i < DEPTH; i++) {
		ai_json_begin_object(&c.w);
		ai_json_key(&c.w, "c");
	}
	ai_json_string(&c.w, big);
	for (int i = 0; i < DEPTH; i++)
		ai_json_end_object(&c.w);
	char *text = stop(&c);
	json_error_t error;
	json_t *parsed = json_loads(text, 0, &error);
	/* jansson limits nesting to 2048 levels: read the innermost part only. */
	cr_assert_null(parsed);
	const char *inner = strstr(text, "\"qqq");
	cr_assert_not_null(inner);
	size_t inner_len = strlen(inner);
	cr_assert_gt(inner_len, LONG);
	/* LONG bytes, one of them escaped, in quotes. */
	json_t *s = json_loadb(inner, LONG + 3, JSON_DECODE_ANY, &error);
	cr_assert_not_null(s, "%s", error.text);
	cr_expect_str_eq(json_string_value(s), big);
	json_decref(s);
	cr_expect_eq(strlen(text), (size_t)DEPTH * strlen("{\"c\":}") + LONG + 3);
	free(text);
	free(big);
}

/* A failed write is reported by finish, not lost. */
Test(json_writer, a_failed_write_is_reported)
{
	FILE *full = fopen("/dev/full", "w");
	cr_assert_not_null(full);
	setvbuf(full, NULL, _IONBF, 0);
	struct ai_json_writer w;
	ai_json_writer_init(&w, full, false);
	ai_json_begin_array(&w);
	for (int i = 0; i < 100000; i++)
		ai_json_string(&w, "a string of some length");
	ai_json_end_array(&w);
	cr_expect_eq(ai_json_writer_finish(&w), -1);
	fclose(full);
}

/* Misuse is a bug in the caller: it aborts rather than writing invalid JSON. */
Test(json_writer, a_value_without_a_key_aborts, .signal = SIGABRT)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, stdout, false);
	ai_json_begin_object(&w);
	ai_json_int(&w, 1);
}

Test(json_writer, a_mismatched_end_aborts, .signal = SIGABRT)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, stdout, false);
	ai_json_begin_object(&w);
	ai_json_end_array(&w);
}

Test(json_writer, a_key_without_a_value_aborts, .signal = SIGABRT)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, stdout, false);
	ai_json_begin_object(&w);
	ai_json_key(&w, "k");
	ai_json_end_object(&w);
}

/* A buffer writer keeps its document for ai_json_writer_take; ai_json_raw puts such a fragment
 * in another document as it is (compact) or laid out as if written part by part (pretty), a
 * string holding the punctuation and escapes included. */
Test(json_writer, buffer_fragments_put_in_raw)
{
	struct ai_json_writer b;
	ai_json_writer_init_buffer(&b, false);
	write_sample(&b);
	size_t len;
	char *fragment = ai_json_writer_take(&b, &len);
	cr_expect_eq(len, strlen(fragment));
	cr_expect_str_eq(fragment, "{\"s\":\"x\",\"n\":null,\"a\":[1,{\"t\":true,\"f\":false},[],{}],\"h\":\"0x1a2b\",\"e\":[]}");

	for (int pretty = 0; pretty <= 1; pretty++) {
		struct capture direct, raw;
		start(&direct, pretty);
		start(&raw, pretty);
		for (int k = 0; k < 2; k++) {
			struct ai_json_writer *w = k ? &raw.w : &direct.w;
			ai_json_begin_array(w);
			if (k)
				ai_json_raw(w, fragment, len);
			else
				write_sample(w);
			ai_json_string(w, "a \"b\": [c], {d}\\");
			ai_json_raw(w, "1.5e-7", 6);
			ai_json_end_array(w);
		}
		char *want = stop(&direct), *got = stop(&raw);
		/* the direct one wrote the number as raw too: only the fragment differs in how */
		cr_expect_str_eq(got, want, "pretty %d", pretty);
		free(want);
		free(got);
	}
	free(fragment);

	/* A fragment past the first buffer's size grows it. */
	ai_json_writer_init_buffer(&b, false);
	ai_json_begin_array(&b);
	for (int i = 0; i < 10000; i++)
		ai_json_int(&b, i);
	ai_json_end_array(&b);
	char *big = ai_json_writer_take(&b, &len);
	json_error_t error;
	json_t *parsed = json_loads(big, 0, &error);
	cr_assert_not_null(parsed, "%s", error.text);
	cr_expect_eq(json_array_size(parsed), 10000);
	json_decref(parsed);
	free(big);
}
