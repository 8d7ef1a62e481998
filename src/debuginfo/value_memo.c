/* The value printer's memo (value_internal.h): a printed value (its text and structured form) kept
 * for the next value of the same type made of the same bytes, while the target's memory cannot
 * change (ai_memory_is_stable; the memory drops the memo with its other caches).
 *
 * Why the same bytes print the same: the printer reads a value through its bytes, the pointers in
 * them (followed through the same unchanged memory) and, for the summaries of runtime types, the
 * memory at the value's own address, which holds those same bytes. Its address is printed only
 * where a part of the value is missing or unreadable: such a print is not kept (the printer says
 * so in `address_shown`). A task's locals repeat across tasks (the same Arc, the same channel
 * handle in every task of one kind): 22,000 tasks of many_tasks print about 10 distinct `rep`s.
 *
 * A direct-mapped table: a slot holds one value, the next one hashed there replaces it; the
 * memory used is bounded whatever the number of tasks. */
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/util.h"
#include "value_internal.h"

#define MEMO_SLOTS 1024
#define MEMO_MAX_BYTES 512 /* values larger than this are printed each time */

struct memo_slot {
	const struct ai_type *type; /* NULL: empty */
	uint64_t hash;
	uint8_t *bytes; /* owned, size of them */
	size_t size;
	bool structured; /* whether the structured form was asked for (then in json) */
	char *text, *json; /* shared strings (ai_shared_ref), one owner the memo; json may be NULL */
	size_t text_len, json_len;
};

struct value_memo {
	struct ai_value_limits limits; /* the limits of every value in it */
	struct memo_slot slots[MEMO_SLOTS];
};

static void *xmemdup(const void *data, size_t size)
{
	void *copy = xmalloc(size);
	memcpy(copy, data, size);
	return copy;
}

static void memo_free(void *data)
{
	struct value_memo *memo = data;
	for (size_t i = 0; i < MEMO_SLOTS; i++) {
		free(memo->slots[i].bytes);
		ai_shared_unref(memo->slots[i].text);
		ai_shared_unref(memo->slots[i].json);
	}
	free(memo);
}

static bool same_limits(const struct ai_value_limits *a, const struct ai_value_limits *b)
{
	return a->max_depth == b->max_depth && a->max_items == b->max_items &&
	       a->max_string == b->max_string && a->max_output == b->max_output &&
	       a->max_read == b->max_read && a->summary == b->summary && a->structured == b->structured;
}

/* FNV-1a over the type's address and the bytes, eight at a time. */
static uint64_t hash_of(const struct ai_type *type, const uint8_t *bytes, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(uintptr_t)type;
	h *= 0x100000001b3ull;
	size_t i = 0;
	for (; i + 8 <= size; i += 8) {
		uint64_t v;
		memcpy(&v, bytes + i, 8);
		h = (h ^ v) * 0x100000001b3ull;
	}
	for (; i < size; i++)
		h = (h ^ bytes[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/* The memo that applies to values printed with these limits now, or NULL (memory that may
 * change, or a type not from DWARF, whose address could be reused by another). */
static struct value_memo *memo_for(struct ai_memory *mem, const struct ai_type *type, size_t size,
				   const struct ai_value_limits *limits, bool create)
{
	if (!mem || !type->types || size > MEMO_MAX_BYTES || !ai_memory_is_stable(mem))
		return NULL;
	struct value_memo *memo = ai_memory_attachment(mem);
	if (memo && !same_limits(&memo->limits, limits))
		return NULL; /* another caller's limits: kept for the first one's */
	if (!memo && create) {
		memo = xcalloc(1, sizeof(*memo));
		memo->limits = *limits;
		ai_memory_set_attachment(mem, memo, memo_free);
	}
	return memo;
}

bool vp_memo_find(struct ai_memory *mem, const struct ai_type *type, const void *bytes, size_t size,
		  const struct ai_value_limits *limits, bool structured, bool shared, char **text_ret,
		  char **json_ret)
{
	struct value_memo *memo = memo_for(mem, type, size, limits, false);
	if (!memo)
		return false;
	uint64_t h = hash_of(type, bytes, size);
	const struct memo_slot *s = &memo->slots[h % MEMO_SLOTS];
	if (s->type != type || s->hash != h || s->size != size || s->structured != structured ||
	    memcmp(s->bytes, bytes, size) != 0)
		return false;
	if (shared) {
		*text_ret = ai_shared_ref(s->text);
		if (json_ret)
			*json_ret = ai_shared_ref(s->json);
		return true;
	}
	*text_ret = xmemdup(s->text, s->text_len + 1);
	if (json_ret)
		*json_ret = s->json ? xmemdup(s->json, s->json_len + 1) : NULL;
	return true;
}

/* text as the memo keeps it: shared, another owner of it if it is one already. */
static char *keep(char *text, bool shared)
{
	return shared ? ai_shared_ref(text) : ai_shared_strn(text, strlen(text));
}

void vp_memo_add(struct ai_memory *mem, const struct ai_type *type, const void *bytes, size_t size,
		 const struct ai_value_limits *limits, bool structured, bool shared, char *text,
		 char *json)
{
	struct value_memo *memo = memo_for(mem, type, size, limits, true);
	if (!memo)
		return;
	uint64_t h = hash_of(type, bytes, size);
	struct memo_slot *s = &memo->slots[h % MEMO_SLOTS];
	free(s->bytes);
	ai_shared_unref(s->text);
	ai_shared_unref(s->json);
	s->type = type;
	s->hash = h;
	s->size = size;
	s->bytes = xmemdup(bytes, size ? size : 1);
	s->structured = structured;
	s->text_len = strlen(text);
	s->text = keep(text, shared);
	s->json_len = json ? strlen(json) : 0;
	s->json = json ? keep(json, shared) : NULL;
}
