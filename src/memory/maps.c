#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/maps.h"
#include "ai/util.h"

void ai_maps_init(struct ai_maps *maps)
{
	memset(maps, 0, sizeof(*maps));
}

void ai_maps_deinit(struct ai_maps *maps)
{
	for (size_t i = 0; i < maps->count; i++)
		free(maps->items[i].path);
	free(maps->items);
	ai_maps_init(maps);
}

void ai_maps_add(struct ai_maps *maps, uint64_t start, uint64_t end, uint64_t offset,
		 const char *perms, const char *path)
{
	AI_GROW(maps->items, maps->capacity, maps->count + 1);
	struct ai_mapping *m = &maps->items[maps->count++];
	m->start = start;
	m->end = end;
	m->offset = offset;
	snprintf(m->perms, sizeof(m->perms), "%s", perms);
	m->path = path && *path ? xstrdup(path) : NULL;
}

static int compare_mappings(const void *a, const void *b)
{
	const struct ai_mapping *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

void ai_maps_sort(struct ai_maps *maps)
{
	if (maps->count > 1) /* (items is NULL when empty, and qsort's base must not be: UBSan) */
		qsort(maps->items, maps->count, sizeof(maps->items[0]), compare_mappings);
}

struct ai_error *ai_maps_parse(const char *text, struct ai_maps *maps_ret)
{
	const char *line = text;
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char *copy = xstrndup(line, len);
		uint64_t start, end, offset;
		char perms[8];
		int path_at = 0;
		/* start-end perms offset dev inode path */
		if (sscanf(copy, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n", &start, &end, perms,
			   &offset, &path_at) < 4) {
			struct ai_error *err = ai_error_create(AI_ERROR_OTHER, "malformed maps line: %s", copy);
			free(copy);
			return err;
		}
		const char *path = path_at > 0 && (size_t)path_at <= len ? copy + path_at : "";
		ai_maps_add(maps_ret, start, end, offset, perms, path);
		free(copy);
		line += len;
		if (*line == '\n')
			line++;
	}
	ai_maps_sort(maps_ret);
	return NULL;
}

struct ai_error *ai_maps_read(pid_t pid, struct ai_maps *maps_ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	char *text = ai_read_small_file(path, NULL);
	if (!text)
		return ai_error_from_errno(errno, "cannot read %s", path);
	struct ai_maps maps;
	ai_maps_init(&maps);
	struct ai_error *err = ai_maps_parse(text, &maps);
	free(text);
	if (err) {
		ai_maps_deinit(&maps);
		return err;
	}
	ai_maps_deinit(maps_ret);
	*maps_ret = maps;
	return NULL;
}

const struct ai_mapping *ai_maps_find(const struct ai_maps *maps, uint64_t address)
{
	size_t lo = 0, hi = maps->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (address < maps->items[mid].start)
			hi = mid;
		else if (address >= maps->items[mid].end)
			lo = mid + 1;
		else
			return &maps->items[mid];
	}
	return NULL;
}
