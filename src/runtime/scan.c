/* Scans of a target's memory for words equal to known addresses (a runtime's task vtables), shared
 * by the adapters: see include/ai/runtime.h. */
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/runtime.h"
#include "ai/util.h"

#define SCAN_CHUNK (1u << 20) /* bytes read at a time */

void ai_word_scan_deinit(struct ai_word_scan *scan)
{
	free(scan->words);
	*scan = (struct ai_word_scan){ 0 };
}

bool ai_scan_writable_mapping(const struct ai_mapping *m)
{
	if (m->perms[0] != 'r' || m->perms[1] != 'w')
		return false;
	return !m->path || strcmp(m->path, "[heap]") == 0;
}

/* Reads [start, end) in chunks into the scan; false once it must stop (a bound, the process gone). */
static bool scan_range(struct ai_async *as, uint64_t start, uint64_t end, const uint64_t *targets, size_t count,
		       uint64_t max_bytes, size_t max_words, uint64_t *buf, size_t *capacity,
		       struct ai_word_scan *scan)
{
	uint64_t lo = targets[0], hi = targets[count - 1];
	for (uint64_t a = start; a + 8 <= end; a += SCAN_CHUNK) {
		size_t n = (size_t)AI_MIN((uint64_t)SCAN_CHUNK, (end - a) & ~7ULL);
		if (scan->scanned + n > max_bytes) {
			scan->stopped_bytes = true;
			return false;
		}
		scan->scanned += n;
		struct ai_error *err = ai_memory_read(as->target->memory, buf, a, n);
		if (err) {
			scan->exited |= err->code == AI_ERROR_TARGET_EXITED;
			ai_error_destroy(err);
			if (scan->exited)
				return false;
			continue; /* (a mapping gone or not copied: others may do) */
		}
		for (size_t k = 0; k < n / 8; k++) {
			uint64_t w = buf[k];
			if (w < lo || w > hi || !ai_u64_sorted_contains(targets, count, w))
				continue;
			if (scan->count >= max_words) {
				scan->stopped_words = true;
				return false;
			}
			AI_GROW(scan->words, *capacity, scan->count + 1);
			scan->words[scan->count++] = a + 8 * k;
		}
	}
	return true;
}

void ai_scan_relro(struct ai_async *as, const uint64_t *targets, size_t count, uint64_t max_bytes,
		   size_t max_words, struct ai_word_scan *ret)
{
	*ret = (struct ai_word_scan){ 0 };
	struct ai_module *main = as->module;
	struct ai_elf_file *files[] = { main->elf, main->symbols };
	uint64_t addr = 0, size = 0;
	bool found = false;
	for (size_t i = 0; i < AI_ARRAY_SIZE(files) && !found; i++)
		found = files[i] && ai_elf_file_section(files[i], ".data.rel.ro", &addr, &size);
	if (!count || !found || size > max_bytes)
		return;
	addr += main->bias;
	uint64_t *buf = xmalloc(SCAN_CHUNK);
	size_t capacity = 0;
	scan_range(as, (addr + 7) & ~7ULL, addr + size, targets, count, max_bytes, max_words, buf, &capacity, ret);
	free(buf);
	ret->count = ai_u64_sort_unique(ret->words, ret->count);
}

void ai_scan_writable(struct ai_async *as, const uint64_t *targets, size_t count, uint64_t max_bytes,
		      size_t max_words, struct ai_word_scan *ret)
{
	*ret = (struct ai_word_scan){ 0 };
	if (!count)
		return;
	const struct ai_maps *maps = &as->target->maps;
	uint64_t *buf = xmalloc(SCAN_CHUNK);
	size_t capacity = 0;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (ai_scan_writable_mapping(m) &&
		    !scan_range(as, m->start, m->end, targets, count, max_bytes, max_words, buf, &capacity, ret))
			break;
	}
	free(buf);
	ret->count = ai_u64_sort_unique(ret->words, ret->count);
}
