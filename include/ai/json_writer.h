/* A streaming JSON writer: values go out as they are written, through a buffer of its own, with no
 * document tree in memory. Compact (`{"a":1,"b":[]}`) or pretty (jansson's JSON_INDENT(2) layout:
 * two spaces a level, `"key": value`, `[]` and `{}` when empty). The writer places the commas,
 * newlines and indentation; the caller says only what comes next.
 *
 * Strings are escaped for JSON: `"` and `\`, control characters (\b \f \n \r \t, the others as
 * \u00XX), and every byte that is not part of a valid UTF-8 sequence (a stray continuation byte,
 * a cut or overlong sequence, a surrogate, a code point past U+10FFFF) becomes \uFFFD, so that
 * any strict reader (jansson, json_read.c) accepts what we write, whatever target memory held.
 *
 * Misuse (a value where a key is due, an end that does not match its begin) is a bug in the
 * caller and aborts. A failed write is remembered; ai_json_writer_finish reports it. */
#ifndef AI_JSON_WRITER_H
#define AI_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct ai_json_writer {
	FILE *out;     /* borrowed; NULL: the document stays in buf (ai_json_writer_init_buffer) */
	bool pretty;
	bool failed;   /* a write to out failed */
	char *buf;     /* owned: output not yet written to out */
	size_t len, capacity;
	/* One entry per open container: 'o' an empty object, 'O' one with members (both await a
	 * key), 'V' an object awaiting the value of its key; 'a' an empty array, 'A' one with
	 * members. */
	char *stack;   /* owned */
	size_t depth, stack_capacity;
	bool done;     /* the top-level value is complete */
};

void ai_json_writer_init(struct ai_json_writer *w, FILE *out, bool pretty);
/* A writer whose document stays in memory, for ai_json_writer_take: a fragment written once and
 * put into a document later (the value printer's structured values, include/ai/value.h). */
void ai_json_writer_init_buffer(struct ai_json_writer *w, bool pretty);
/* The complete document of a buffer writer, as a new NUL-terminated string (its length in
 * *len_ret when not NULL); the writer's memory is freed. */
char *ai_json_writer_take(struct ai_json_writer *w, size_t *len_ret);
/* Writes out what is buffered, frees the writer's memory, and returns 0, or -1 if a write failed.
 * Does not write a newline after the document nor flush out. */
int ai_json_writer_finish(struct ai_json_writer *w);
/* Writes the buffer to out now (e.g. before out is flushed to follow a recording live). */
void ai_json_writer_flush(struct ai_json_writer *w);

void ai_json_begin_object(struct ai_json_writer *w);
void ai_json_end_object(struct ai_json_writer *w);
void ai_json_begin_array(struct ai_json_writer *w);
void ai_json_end_array(struct ai_json_writer *w);
/* The key of the next member of the object being written (inline: a literal key's strlen is
 * worked out by the compiler). */
void ai_json_key_len(struct ai_json_writer *w, const char *key, size_t len);
static inline void ai_json_key(struct ai_json_writer *w, const char *key)
{
	ai_json_key_len(w, key, strlen(key));
}

void ai_json_string_len(struct ai_json_writer *w, const char *s, size_t len);
void ai_json_null(struct ai_json_writer *w);
/* A string, or null when s is NULL. */
static inline void ai_json_string(struct ai_json_writer *w, const char *s)
{
	if (!s)
		ai_json_null(w);
	else
		ai_json_string_len(w, s, strlen(s));
}
void ai_json_int(struct ai_json_writer *w, int64_t value);
void ai_json_uint(struct ai_json_writer *w, uint64_t value);
/* value / 10^decimals, exactly, as a JSON number ("1234.567" for 1234567, 3): nanoseconds as
 * microseconds without a float's rounding. decimals <= 18. */
void ai_json_decimal(struct ai_json_writer *w, uint64_t value, unsigned decimals);
void ai_json_bool(struct ai_json_writer *w, bool value);
void ai_json_null(struct ai_json_writer *w);
/* An address as the string "0x1a2b" (JSON numbers lose precision past 2^53 in many readers). */
void ai_json_hex(struct ai_json_writer *w, uint64_t value);
/* A value already written as JSON text: a number such as "1.5e-7", or a whole compact
 * document from a buffer writer (ai_json_writer_take), which a pretty writer lays out as if its
 * parts had been written one by one. The text must be valid JSON: it is not checked. */
void ai_json_raw(struct ai_json_writer *w, const char *json, size_t len);

/* key + value in one call, for the common members. */
static inline void ai_json_field_string(struct ai_json_writer *w, const char *key, const char *s)
{
	ai_json_key(w, key);
	ai_json_string(w, s);
}
static inline void ai_json_field_int(struct ai_json_writer *w, const char *key, int64_t value)
{
	ai_json_key(w, key);
	ai_json_int(w, value);
}
static inline void ai_json_field_uint(struct ai_json_writer *w, const char *key, uint64_t value)
{
	ai_json_key(w, key);
	ai_json_uint(w, value);
}
static inline void ai_json_field_bool(struct ai_json_writer *w, const char *key, bool value)
{
	ai_json_key(w, key);
	ai_json_bool(w, value);
}
static inline void ai_json_field_null(struct ai_json_writer *w, const char *key)
{
	ai_json_key(w, key);
	ai_json_null(w);
}
static inline void ai_json_field_hex(struct ai_json_writer *w, const char *key, uint64_t value)
{
	ai_json_key(w, key);
	ai_json_hex(w, value);
}

#endif
