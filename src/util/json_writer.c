/* The streaming JSON writer (include/ai/json_writer.h). A dump of 20,000 tasks is tens of MB of
 * JSON: everything here goes through one buffer written out in large blocks, and numbers and
 * escapes are formatted by hand, without stdio's per-call cost. */
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/util.h"

#define BUFFER_SIZE (64 * 1024)

void ai_json_writer_init(struct ai_json_writer *w, FILE *out, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->pretty = pretty;
	w->capacity = BUFFER_SIZE;
	w->buf = xmalloc(w->capacity);
}

void ai_json_writer_init_buffer(struct ai_json_writer *w, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->pretty = pretty;
	w->capacity = 256; /* most values are small: the buffer grows by doubling */
	w->buf = xmalloc(w->capacity);
}

char *ai_json_writer_take(struct ai_json_writer *w, size_t *len_ret)
{
	if (w->depth || w->out)
		abort(); /* a container left open, or not a buffer writer */
	if (w->len == w->capacity)
		w->buf = xrealloc(w->buf, ++w->capacity);
	w->buf[w->len] = '\0';
	char *text = w->buf;
	if (w->capacity - w->len > 64)
		text = xrealloc(text, w->len + 1);
	if (len_ret)
		*len_ret = w->len;
	free(w->stack);
	memset(w, 0, sizeof(*w));
	return text;
}

void ai_json_writer_flush(struct ai_json_writer *w)
{
	if (!w->out)
		return; /* a buffer writer keeps its document */
	if (w->len && !w->failed && fwrite(w->buf, 1, w->len, w->out) != w->len)
		w->failed = true;
	w->len = 0;
}

int ai_json_writer_finish(struct ai_json_writer *w)
{
	if (w->depth)
		abort(); /* a container left open */
	ai_json_writer_flush(w);
	free(w->buf);
	free(w->stack);
	w->buf = w->stack = NULL;
	return w->failed ? -1 : 0;
}

/* Room for n more bytes: a buffer writer grows, a file writer writes out what it holds. */
static void make_room(struct ai_json_writer *w, size_t n)
{
	if (!w->out) {
		size_t want = w->len + n;
		if (want > w->capacity) {
			w->capacity = AI_MAX(w->capacity * 2, want);
			w->buf = xrealloc(w->buf, w->capacity);
		}
		return;
	}
	ai_json_writer_flush(w);
}

static void put(struct ai_json_writer *w, const char *s, size_t n)
{
	if (w->len + n > w->capacity) {
		make_room(w, n);
		if (w->out && n > w->capacity) {
			if (!w->failed && fwrite(s, 1, n, w->out) != n)
				w->failed = true;
			return;
		}
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline void put_char(struct ai_json_writer *w, char c)
{
	if (w->len == w->capacity)
		make_room(w, 1);
	w->buf[w->len++] = c;
}

static void newline_indent(struct ai_json_writer *w)
{
	static const char spaces[] = "                                                                ";
	put_char(w, '\n');
	for (size_t n = w->depth * 2; n; ) {
		size_t k = AI_MIN(n, sizeof(spaces) - 1);
		put(w, spaces, k);
		n -= k;
	}
}

/* What goes before a value: a comma and (pretty) a new line inside an array; nothing after a
 * key. A value where a key is due, or after the document is complete, is a caller's bug. */
static void before_value(struct ai_json_writer *w)
{
	if (!w->depth) {
		if (w->done)
			abort();
		return;
	}
	char *top = &w->stack[w->depth - 1];
	switch (*top) {
	case 'V':
		*top = 'O'; /* the member is complete: the object now awaits its next key */
		return;
	case 'a':
		*top = 'A';
		break;
	case 'A':
		put_char(w, ',');
		break;
	default:
		abort(); /* a value in an object without a key */
	}
	if (w->pretty)
		newline_indent(w);
}

static void after_value(struct ai_json_writer *w)
{
	if (!w->depth)
		w->done = true;
}

static void push(struct ai_json_writer *w, char kind)
{
	if (w->depth == w->stack_capacity)
		AI_GROW(w->stack, w->stack_capacity, w->depth + 1);
	w->stack[w->depth++] = kind;
}

/* Closes the innermost container, which must be of `kind` ('o' or 'a') and not await a value. */
static void pop(struct ai_json_writer *w, char kind, char close)
{
	if (!w->depth)
		abort();
	char top = w->stack[w->depth - 1];
	bool empty = top == kind;
	if (top != kind && top != kind - 'a' + 'A')
		abort(); /* mismatched end, or an object whose last key has no value */
	w->depth--;
	if (w->pretty && !empty)
		newline_indent(w);
	put_char(w, close);
	after_value(w);
}

void ai_json_begin_object(struct ai_json_writer *w)
{
	before_value(w);
	put_char(w, '{');
	push(w, 'o');
}

void ai_json_end_object(struct ai_json_writer *w)
{
	pop(w, 'o', '}');
}

void ai_json_begin_array(struct ai_json_writer *w)
{
	before_value(w);
	put_char(w, '[');
	push(w, 'a');
}

void ai_json_end_array(struct ai_json_writer *w)
{
	pop(w, 'a', ']');
}

/* The length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF; the same rules as jansson's reader) that starts s[0..n), or 0 if there is none. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* the range allowed for the second byte */
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static inline uint64_t load8(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Whether any of the eight bytes in v is a control character, '"', '\\' or not ASCII (the
 * classic "has a zero byte" bit tricks: exact, not an estimate). */
static inline bool needs_care(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t quote = v ^ (ones * '"'), backslash = v ^ (ones * '\\');
	uint64_t control = (v - ones * 0x20) & ~v;
	return ((control | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs) || (v & highs);
}

/* Bytes that stand for themselves in a JSON string: printable ASCII but '"' and '\\'. */
static const bool plain_ascii[256] = {
	[0x20 ... 0x21] = true, /* '"' is 0x22 */
	[0x23 ... 0x5b] = true, /* '\\' is 0x5c */
	[0x5d ... 0x7f] = true,
};


/* The common case, a string of plain ASCII (keys, names, paths) that fits in the buffer: copied
 * as it is scanned, in one pass, with nothing committed until the closing quote. False, with the
 * writer unchanged, when the string needs an escape or more room: put_escaped then does it all. */
static inline bool put_plain(struct ai_json_writer *w, const unsigned char *s, size_t n)
{
	if (w->capacity - w->len < n + 2)
		return false;
	char *d = w->buf + w->len + 1;
	size_t i = 0;
	for (; n - i >= 8; i += 8) {
		uint64_t v = load8(s + i);
		if (needs_care(v))
			return false;
		memcpy(d + i, &v, 8);
	}
	if (i < n && n >= 8) {
		/* the tail as the last eight bytes, overlapping what is already copied */
		uint64_t v = load8(s + n - 8);
		if (needs_care(v))
			return false;
		memcpy(d + n - 8, &v, 8);
		i = n;
	}
	for (; i < n; i++) {
		if (!plain_ascii[s[i]])
			return false;
		d[i] = (char)s[i];
	}
	d[-1] = '"';
	d[n] = '"';
	w->len += n + 2;
	return true;
}

/* A string with its quotes and escapes: put_plain's fast path, else escape_slow. */
static void escape_slow(struct ai_json_writer *w, const char *str, size_t n);

static inline void put_escaped(struct ai_json_writer *w, const char *str, size_t n)
{
	if (!put_plain(w, (const unsigned char *)str, n))
		escape_slow(w, str, n);
}

static __attribute__((noinline)) void escape_slow(struct ai_json_writer *w, const char *str, size_t n)
{
	static const char hexdigits[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	put_char(w, '"');
	size_t run = 0; /* s[run..i) is plain text not yet written */
	size_t i = 0;
	while (i < n) {
		/* Plain ASCII goes through eight bytes at a time: most of a dump is names and paths. */
		while (n - i >= 8 && !needs_care(load8(s + i)))
			i += 8;
		if (i == n)
			break;
		/* Then byte by byte (the tail of a string, short ones such as keys): one look-up each. */
		while (i < n && plain_ascii[s[i]])
			i++;
		if (i == n)
			break;
		unsigned char c = s[i];
		size_t len = c >= 0x80 ? utf8_length(s + i, n - i) : 0;
		if (len) {
			i += len;
			continue;
		}
		put(w, (const char *)s + run, i - run);
		char esc[6] = { '\\', 0 };
		size_t esc_len = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c >= 0x80) {
				memcpy(esc, "\\uFFFD", 6); /* a byte of no valid UTF-8 sequence */
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hexdigits[c >> 4];
				esc[5] = hexdigits[c & 0xf];
			}
			esc_len = 6;
		}
		put(w, esc, esc_len);
		run = ++i;
	}
	put(w, (const char *)s + run, n - run);
	put_char(w, '"');
}

/* A key: `escaped` is the key as JSON text, with its quotes, when it is already escaped. */
static void put_key(struct ai_json_writer *w, const char *key, size_t len, bool escaped)
{
	if (!w->depth)
		abort();
	char *top = &w->stack[w->depth - 1];
	if (*top == 'O')
		put_char(w, ',');
	else if (*top != 'o')
		abort(); /* a key in an array, or two keys in a row */
	*top = 'V';
	if (w->pretty)
		newline_indent(w);
	if (escaped)
		put(w, key, len);
	else
		put_escaped(w, key, len);
	if (w->pretty)
		put(w, ": ", 2);
	else
		put_char(w, ':');
}

void ai_json_key_len(struct ai_json_writer *w, const char *key, size_t len)
{
	put_key(w, key, len, false);
}

static void put_raw_value(struct ai_json_writer *w, const char *json, size_t len)
{
	before_value(w);
	put(w, json, len);
	after_value(w);
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Compact text goes in as it is; a pretty writer takes it token by token (it is our own valid
 * JSON: strings are found by their quotes and backslashes, the rest by the punctuation). */
void ai_json_raw(struct ai_json_writer *w, const char *json, size_t len)
{
	if (!w->pretty) {
		put_raw_value(w, json, len);
		return;
	}
	for (size_t i = 0; i < len;) {
		char c = json[i];
		if (c == '{' || c == '[') {
			if (c == '{')
				ai_json_begin_object(w);
			else
				ai_json_begin_array(w);
			i++;
		} else if (c == '}' || c == ']') {
			if (c == '}')
				ai_json_end_object(w);
			else
				ai_json_end_array(w);
			i++;
		} else if (c == ',' || c == ':' || is_json_space(c)) {
			i++;
		} else if (c == '"') {
			size_t end = i + 1;
			while (end < len && json[end] != '"')
				end += json[end] == '\\' ? 2 : 1;
			end = AI_MIN(end + 1, len);
			size_t next = end;
			while (next < len && is_json_space(json[next]))
				next++;
			if (next < len && json[next] == ':')
				put_key(w, json + i, end - i, true);
			else
				put_raw_value(w, json + i, end - i);
			i = end;
		} else {
			size_t end = i;
			while (end < len && !strchr(",]}:", json[end]) && !is_json_space(json[end]))
				end++;
			put_raw_value(w, json + i, end - i);
			i = end;
		}
	}
}

void ai_json_string_len(struct ai_json_writer *w, const char *s, size_t len)
{
	before_value(w);
	put_escaped(w, s, len);
	after_value(w);
}


void ai_json_decimal(struct ai_json_writer *w, uint64_t value, unsigned decimals)
{
	if (decimals > 18)
		abort();
	char digits[48];
	size_t n = 0;
	for (unsigned d = 0; d < decimals; d++) {
		digits[sizeof(digits) - ++n] = (char)('0' + value % 10);
		value /= 10;
	}
	if (decimals)
		digits[sizeof(digits) - ++n] = '.';
	do {
		digits[sizeof(digits) - ++n] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	before_value(w);
	put(w, digits + sizeof(digits) - n, n);
	after_value(w);
}

void ai_json_uint(struct ai_json_writer *w, uint64_t value)
{
	char digits[20];
	size_t n = 0;
	do {
		digits[sizeof(digits) - ++n] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	before_value(w);
	put(w, digits + sizeof(digits) - n, n);
	after_value(w);
}

void ai_json_int(struct ai_json_writer *w, int64_t value)
{
	if (value >= 0) {
		ai_json_uint(w, (uint64_t)value);
		return;
	}
	char digits[21];
	uint64_t magnitude = -(uint64_t)value; /* well defined for INT64_MIN too */
	size_t n = 0;
	do {
		digits[sizeof(digits) - ++n] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude);
	digits[sizeof(digits) - ++n] = '-';
	before_value(w);
	put(w, digits + sizeof(digits) - n, n);
	after_value(w);
}

void ai_json_hex(struct ai_json_writer *w, uint64_t value)
{
	static const char hexdigits[] = "0123456789abcdef";
	char text[19]; /* "0x" and up to 16 digits: built from the right, then quoted */
	size_t n = 0;
	do {
		text[sizeof(text) - ++n] = hexdigits[value & 0xf];
		value >>= 4;
	} while (value);
	text[sizeof(text) - ++n] = 'x';
	text[sizeof(text) - ++n] = '0';
	before_value(w);
	put_char(w, '"');
	put(w, text + sizeof(text) - n, n);
	put_char(w, '"');
	after_value(w);
}

void ai_json_bool(struct ai_json_writer *w, bool value)
{
	before_value(w);
	if (value)
		put(w, "true", 4);
	else
		put(w, "false", 5);
	after_value(w);
}

void ai_json_null(struct ai_json_writer *w)
{
	before_value(w);
	put(w, "null", 4);
	after_value(w);
}
