/* Private to src/debuginfo: a hash table from nonzero uint64 keys to uint64 values (open
 * addressing, power-of-two capacity, at most half full), for the type cache (keys: DIE offsets)
 * and a unit's types by name (keys: hashes of names, so one key may hold several values and the
 * caller tells them apart). */
#ifndef AI_U64_MAP_H
#define AI_U64_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64_map {
	uint64_t *keys; /* 0: an empty slot */
	uint64_t *values;
	size_t capacity, count;
};

/* Tells whether value is the one looked for. */
typedef bool u64_map_match_fn(uint64_t value, const void *arg);

/* The first value of key that match accepts (any value of key if match is NULL). */
bool u64_map_find(const struct u64_map *map, uint64_t key, u64_map_match_fn *match,
		  const void *arg, uint64_t *value_ret);
/* Adds key -> value; a key already there keeps its values (find what to replace first). */
void u64_map_add(struct u64_map *map, uint64_t key, uint64_t value);
void u64_map_deinit(struct u64_map *map);

#endif
