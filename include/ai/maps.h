/* The address-space map of a target: /proc/PID/maps for a live process, NT_FILE and PT_LOAD for a
 * core file. */
#ifndef AI_MAPS_H
#define AI_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ai/error.h"

struct ai_mapping {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start, for file-backed mappings */
	char perms[5];       /* "r-xp" as in /proc/PID/maps */
	char *path;          /* owned; NULL for anonymous mappings; "[vdso]", "[stack]"... as in maps */
};

struct ai_maps {
	struct ai_mapping *items; /* sorted by start */
	size_t count, capacity;
};

void ai_maps_init(struct ai_maps *maps);
void ai_maps_deinit(struct ai_maps *maps);
struct ai_error *ai_maps_read(pid_t pid, struct ai_maps *maps_ret);
/* Parses the text of a /proc/PID/maps file into maps_ret (which must be initialized). */
struct ai_error *ai_maps_parse(const char *text, struct ai_maps *maps_ret);
void ai_maps_add(struct ai_maps *maps, uint64_t start, uint64_t end, uint64_t offset,
		 const char *perms, const char *path);
void ai_maps_sort(struct ai_maps *maps);
const struct ai_mapping *ai_maps_find(const struct ai_maps *maps, uint64_t address);

#endif
