/* Target memory: reads by address over segments, after drgn's memory_reader.
 *
 * A live process is one segment over the whole address space read with process_vm_readv (and
 * /proc/PID/mem where that is refused); a core file is its PT_LOAD segments plus the files it maps.
 * A read that fails is an AI_ERROR_FAULT error carrying the first address that could not be read,
 * never a crash. While the target is stopped, reads go through a small page cache; the owner of the
 * target calls ai_memory_flush() whenever the target runs again. */
#ifndef AI_MEMORY_H
#define AI_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ai/error.h"

/* Reads count bytes at address, which lies within one segment. Returns a fault error if any byte
 * could not be read. `arg` is the one given to ai_memory_add_segment (borrowed). */
typedef struct ai_error *ai_memory_read_fn(void *buf, uint64_t address, size_t count, void *arg);

struct ai_memory_stats {
	uint64_t reads;      /* ai_memory_read calls */
	uint64_t syscalls;   /* segment reads that reached the target (process_vm_readv etc.) */
	uint64_t bytes;      /* bytes copied from the target */
};

struct ai_memory;

struct ai_memory *ai_memory_create(void);
void ai_memory_destroy(struct ai_memory *mem);

/* Adds [start, end). Where segments overlap, the one added last wins. */
void ai_memory_add_segment(struct ai_memory *mem, uint64_t start, uint64_t end,
			   ai_memory_read_fn *read_fn, void *arg);

/* Reads of a live process: process_vm_readv, falling back to /proc/PID/mem. The pid must stay
 * valid for the life of mem. */
void ai_memory_add_process(struct ai_memory *mem, pid_t pid);

struct ai_error *ai_memory_read(struct ai_memory *mem, void *buf, uint64_t address, size_t count);
struct ai_error *ai_memory_read_u64(struct ai_memory *mem, uint64_t address, uint64_t *ret);
/* Reads a NUL-terminated string of at most max_len bytes into a new heap string. */
struct ai_error *ai_memory_read_cstr(struct ai_memory *mem, uint64_t address, size_t max_len,
				     char **ret);

/* Enables or disables the page cache; disabled by default. */
void ai_memory_set_caching(struct ai_memory *mem, bool enabled);
/* Drops cached pages: call whenever the target may have run. */
void ai_memory_flush(struct ai_memory *mem);

/* Whether reads give the same bytes until the next flush, freeze or thaw: a frozen copy with no
 * gap, the on-demand copy or the page cache of a stopped target, or a core file. */
bool ai_memory_is_stable(const struct ai_memory *mem);
/* One cache of what was worked out from the memory's contents (the value printer's, src/
 * debuginfo/value_memo.c), owned by the memory and dropped (free_fn) when the contents may
 * change: on a flush, freeze, thaw or destroy. NULL when there is none. */
void *ai_memory_attachment(const struct ai_memory *mem);
void ai_memory_set_attachment(struct ai_memory *mem, void *data, void (*free_fn)(void *));

const struct ai_memory_stats *ai_memory_stats(const struct ai_memory *mem);

/* Freezing: copies every readable and writable mapping of a stopped process (heap, stacks, .data)
 * into our memory, in a few bulk reads, so that the process can run again while we decode what it
 * held. Reads then come from the copies; read-only mappings (code, .rodata, vtables) are still read
 * from the process, as they do not change. A mapping that holds one of the stack pointers `sps` is
 * a thread's stack: only its live part, from that stack pointer up, is copied; pages of private
 * anonymous memory never touched are not copied but read as zeros. Fails (AI_ERROR_UNSUPPORTED,
 * nothing frozen) when the writable memory in use (ai_memory_writable_in_use) is more than
 * max_bytes: the caller then decodes with the target stopped (ai_memory_freeze_on_demand). */
struct ai_maps;
struct ai_error *ai_memory_freeze(struct ai_memory *mem, const struct ai_maps *maps, const uint64_t *sps,
				  size_t sp_count, uint64_t max_bytes, uint64_t *bytes_ret);
/* The writable memory a freeze would copy: the live part of every thread stack and every other
 * readable and writable mapping, less the pages of private anonymous memory that the process
 * never touched (from /proc/PID/pagemap: they hold zeros, and a freeze reads them as zeros
 * without copying them; ai_memory_freeze counts the same way against max_bytes). */
uint64_t ai_memory_writable_in_use(struct ai_memory *mem, const struct ai_maps *maps, const uint64_t *sps,
				   size_t sp_count);
/* For a process too large to copy up front: the target stays stopped while it is decoded, and
 * each 1 MiB chunk of its writable memory is copied the first time a read needs it, then kept
 * until the thaw (at most max_bytes of them; reads beyond go to the process). So the many small
 * reads of decoding cost one system call per chunk, and only what decoding touches is copied.
 * progress, if not NULL, is called after each chunk copied with the bytes copied so far. */
typedef void ai_memory_progress_fn(uint64_t bytes_copied, void *arg);
void ai_memory_freeze_on_demand(struct ai_memory *mem, const struct ai_maps *maps, uint64_t max_bytes,
				ai_memory_progress_fn *progress, void *progress_arg);
/* The bytes the on-demand copy holds so far (0 without one). */
uint64_t ai_memory_on_demand_bytes(const struct ai_memory *mem);
/* A freeze under a time limit (--max-pause): copies the live part of every thread stack whole,
 * then the other writable mappings as one space, in chunks, from *cursor on (wrapping around)
 * until the monotonic clock (ai_now_us) passes deadline_us, and moves *cursor to where it stopped so
 * that the next call goes on from there. Memory not copied is read live from the process, and
 * ai_memory_copied() tells it apart until the thaw. */
struct ai_memory_freeze_stats {
	uint64_t bytes_copied, bytes_total;
};
struct ai_error *ai_memory_freeze_capped(struct ai_memory *mem, const struct ai_maps *maps, const uint64_t *sps,
					 size_t sp_count, uint64_t deadline_us, uint64_t *cursor,
					 struct ai_memory_freeze_stats *stats_ret);
/* False if any byte of [address, address + size) is writable memory that the last freeze did
 * not copy (read live); true otherwise, and always without a freeze. */
bool ai_memory_copied(const struct ai_memory *mem, uint64_t address, uint64_t size);
/* Drops the frozen copies. */
void ai_memory_thaw(struct ai_memory *mem);

#endif
