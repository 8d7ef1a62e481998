/* A hash table from nonzero uint64 keys to uint64 values (see u64_map.h). */
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "u64_map.h"

static size_t hash_u64(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key;
}

bool u64_map_find(const struct u64_map *map, uint64_t key, u64_map_match_fn *match,
		  const void *arg, uint64_t *value_ret)
{
	if (!map->capacity)
		return false;
	size_t mask = map->capacity - 1;
	for (size_t i = hash_u64(key) & mask; map->keys[i]; i = (i + 1) & mask) {
		if (map->keys[i] == key && (!match || match(map->values[i], arg))) {
			*value_ret = map->values[i];
			return true;
		}
	}
	return false;
}

void u64_map_add(struct u64_map *map, uint64_t key, uint64_t value)
{
	if (2 * (map->count + 1) > map->capacity) {
		struct u64_map old = *map;
		map->capacity = old.capacity ? old.capacity * 2 : 64;
		map->keys = xcalloc(map->capacity, sizeof(*map->keys));
		map->values = xcalloc(map->capacity, sizeof(*map->values));
		map->count = 0;
		for (size_t i = 0; i < old.capacity; i++)
			if (old.keys[i])
				u64_map_add(map, old.keys[i], old.values[i]);
		free(old.keys);
		free(old.values);
	}
	size_t mask = map->capacity - 1;
	size_t i = hash_u64(key) & mask;
	while (map->keys[i])
		i = (i + 1) & mask;
	map->keys[i] = key;
	map->values[i] = value;
	map->count++;
}

void u64_map_deinit(struct u64_map *map)
{
	free(map->keys);
	free(map->values);
	memset(map, 0, sizeof(*map));
}
