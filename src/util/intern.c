/* Interned strings (ai/intern.h): an open-addressing hash set of shared strings, by content. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ai/intern.h"
#include "ai/util.h"

struct slot {
	uint64_t hash;
	char *text; /* a shared string the table holds a reference on; NULL: empty */
};

struct ai_intern {
	struct slot *slots;
	size_t capacity; /* a power of two */
	size_t count;
};

struct ai_intern *ai_intern_create(void)
{
	struct ai_intern *table = xcalloc(1, sizeof(*table));
	table->capacity = 256;
	table->slots = xcalloc(table->capacity, sizeof(*table->slots));
	return table;
}

void ai_intern_destroy(struct ai_intern *table)
{
	if (!table)
		return;
	for (size_t i = 0; i < table->capacity; i++)
		ai_shared_unref(table->slots[i].text);
	free(table->slots);
	free(table);
}

/* FNV-1a, with its length. */
static uint64_t hash_of(const char *text, size_t *len_ret)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p = (const unsigned char *)text;
	for (; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	*len_ret = (size_t)(p - (const unsigned char *)text);
	return h ^ (h >> 31);
}

static void grow(struct ai_intern *table)
{
	size_t capacity = table->capacity * 2;
	struct slot *slots = xcalloc(capacity, sizeof(*slots));
	for (size_t i = 0; i < table->capacity; i++) {
		const struct slot *s = &table->slots[i];
		if (!s->text)
			continue;
		size_t k = s->hash & (capacity - 1);
		while (slots[k].text)
			k = (k + 1) & (capacity - 1);
		slots[k] = *s;
	}
	free(table->slots);
	table->slots = slots;
	table->capacity = capacity;
}

char *ai_intern(struct ai_intern *table, const char *text)
{
	size_t len;
	uint64_t h = hash_of(text, &len);
	size_t mask = table->capacity - 1, k = h & mask;
	for (; table->slots[k].text; k = (k + 1) & mask) {
		const struct slot *s = &table->slots[k];
		if (s->hash == h && strcmp(s->text, text) == 0)
			return ai_shared_ref(s->text);
	}
	char *made = ai_shared_strn(text, len);
	table->slots[k] = (struct slot){ h, made };
	if (++table->count * 4 > table->capacity * 3) /* at most 3/4 full */
		grow(table);
	return ai_shared_ref(made);
}
