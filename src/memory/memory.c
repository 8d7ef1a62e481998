/* Target memory over segments, with a page cache for the many small reads of unwinding and
 * decoding while the target is stopped. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ai/maps.h"
#include "ai/memory.h"
#include "ai/util.h"

#define PAGE_SIZE_BYTES 4096u
#define CACHE_SLOTS 512u /* 2 MiB: enough for every stack and hot heap page of a snapshot */
/* Reads at least this long bypass the cache: they are bulk reads already. */
#define CACHE_BYPASS_BYTES (2 * PAGE_SIZE_BYTES)

struct segment {
	uint64_t start, end;
	ai_memory_read_fn *read_fn;
	void *arg;
};

struct cache_slot {
	uint64_t page; /* page address + 1, so that 0 means empty */
	unsigned char bytes[PAGE_SIZE_BYTES];
};

struct process_reader {
	pid_t pid;
	int mem_fd;          /* /proc/PID/mem, opened on first need */
	int pagemap_fd;      /* /proc/PID/pagemap, opened on first need; -2 once it failed */
	bool vm_readv_works; /* process_vm_readv was not refused */
};

/* The on-demand copy of one writable mapping (ai_memory_freeze_on_demand): each chunk is read
 * from the process the first time a read needs it, and kept until the thaw. */
struct on_demand {
	struct ai_memory *mem; /* borrowed: the owner, for its process reader and the budget */
	uint64_t start, end;
	unsigned char **chunks; /* owned, one per ON_DEMAND_CHUNK; NULL until read */
};

struct frozen {
	uint64_t start;
	size_t size;
	unsigned char *bytes; /* owned; NULL for a gap: writable memory a capped freeze did not copy */
};

struct ai_memory {
	struct segment *segments;
	size_t segment_count, segment_capacity;
	struct frozen *frozen;        /* owned copies, each a segment (the last frozen_count ones) */
	size_t frozen_count;
	struct frozen *gaps;          /* owned: what a capped freeze left out (read live) */
	size_t gap_count, gap_capacity;
	struct on_demand *on_demand;  /* owned: copies made as reads need them (the last
				       * on_demand_count segments, after the frozen ones) */
	size_t on_demand_count;
	uint64_t on_demand_bytes, on_demand_max; /* copied so far, and the most we keep */
	ai_memory_progress_fn *progress; /* borrowed, with progress_arg: told of each chunk copied */
	void *progress_arg;
	struct process_reader *process; /* owned, when ai_memory_add_process was called */
	bool caching;
	struct cache_slot *cache;       /* CACHE_SLOTS slots, allocated on first use */
	/* The frozen copies are the last segments added (no other segment comes before them for any
	 * address): a read inside one is a memcpy from it, through no page cache. last_frozen is
	 * the copy the last such read found (most reads are near the one before). */
	bool frozen_on_top;
	const struct frozen *last_frozen;
	struct ai_memory_stats stats;
	void *attachment;               /* owned through attachment_free (ai_memory_set_attachment) */
	void (*attachment_free)(void *);
};

static void drop_attachment(struct ai_memory *mem)
{
	if (mem->attachment)
		mem->attachment_free(mem->attachment);
	mem->attachment = NULL;
	mem->attachment_free = NULL;
}

void *ai_memory_attachment(const struct ai_memory *mem)
{
	return mem->attachment;
}

void ai_memory_set_attachment(struct ai_memory *mem, void *data, void (*free_fn)(void *))
{
	drop_attachment(mem);
	mem->attachment = data;
	mem->attachment_free = free_fn;
}

bool ai_memory_is_stable(const struct ai_memory *mem)
{
	return !mem->gap_count && (!mem->process || mem->frozen_count || mem->on_demand_count || mem->caching);
}

struct ai_memory *ai_memory_create(void)
{
	return xcalloc(1, sizeof(struct ai_memory));
}

void ai_memory_destroy(struct ai_memory *mem)
{
	if (!mem)
		return;
	if (mem->process) {
		if (mem->process->mem_fd >= 0)
			close(mem->process->mem_fd);
		if (mem->process->pagemap_fd >= 0)
			close(mem->process->pagemap_fd);
		free(mem->process);
	}
	ai_memory_thaw(mem);
	drop_attachment(mem);
	free(mem->cache);
	free(mem->segments);
	free(mem);
}

void ai_memory_add_segment(struct ai_memory *mem, uint64_t start, uint64_t end,
			   ai_memory_read_fn *read_fn, void *arg)
{
	AI_GROW(mem->segments, mem->segment_capacity, mem->segment_count + 1);
	mem->segments[mem->segment_count++] = (struct segment){ start, end, read_fn, arg };
	mem->frozen_on_top = false; /* until a freeze has added all its copies */
	mem->last_frozen = NULL;
	ai_memory_flush(mem);
}

static struct ai_error *read_process_mem_file(struct process_reader *reader, void *buf,
					      uint64_t address, size_t count)
{
	if (reader->mem_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)reader->pid);
		reader->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (reader->mem_fd < 0)
			return ai_error_from_errno(errno, "cannot read memory of process %d", (int)reader->pid);
	}
	size_t done = 0;
	while (done < count) {
		ssize_t n = pread(reader->mem_fd, (char *)buf + done, count - done, (off_t)(address + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ai_error_fault(address + done, "cannot read memory at 0x%" PRIx64,
					      address + done);
		done += (size_t)n;
	}
	return NULL;
}

static struct ai_error *read_process(void *buf, uint64_t address, size_t count, void *arg)
{
	struct process_reader *reader = arg;
	size_t done = 0;
	while (reader->vm_readv_works && done < count) {
		struct iovec local = { (char *)buf + done, count - done };
		struct iovec remote = { (void *)(uintptr_t)(address + done), count - done };
		ssize_t n = process_vm_readv(reader->pid, &local, 1, &remote, 1, 0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EPERM || errno == ENOSYS)) {
			reader->vm_readv_works = false; /* e.g. a seccomp policy: /proc/PID/mem still works */
			break;
		}
		if (n < 0 && errno == ESRCH)
			return ai_error_create(AI_ERROR_TARGET_EXITED, "process %d has exited",
					       (int)reader->pid);
		return ai_error_fault(address + done, "cannot read memory at 0x%" PRIx64, address + done);
	}
	if (done < count)
		return read_process_mem_file(reader, (char *)buf + done, address + done, count - done);
	return NULL;
}

void ai_memory_add_process(struct ai_memory *mem, pid_t pid)
{
	struct process_reader *reader = xcalloc(1, sizeof(*reader));
	reader->pid = pid;
	reader->mem_fd = -1;
	reader->pagemap_fd = -1;
	reader->vm_readv_works = true;
	mem->process = reader;
	ai_memory_add_segment(mem, 0, UINT64_MAX, read_process, reader);
}

/* Reads [address, address + count) from the segments, the most recently added first. */
static struct ai_error *read_uncached(struct ai_memory *mem, void *buf, uint64_t address, size_t count)
{
	while (count > 0) {
		const struct segment *seg = NULL;
		for (size_t i = mem->segment_count; i-- > 0;) {
			if (address >= mem->segments[i].start && address < mem->segments[i].end) {
				seg = &mem->segments[i];
				break;
			}
		}
		if (!seg)
			return ai_error_fault(address, "address 0x%" PRIx64 " is not mapped", address);
		/* Stop this chunk where a later (higher priority) segment begins inside it. */
		uint64_t chunk_end = seg->end;
		for (size_t i = (size_t)(seg - mem->segments) + 1; i < mem->segment_count; i++) {
			if (mem->segments[i].start > address && mem->segments[i].start < chunk_end)
				chunk_end = mem->segments[i].start;
		}
		size_t n = (size_t)AI_MIN((uint64_t)count, chunk_end - address);
		mem->stats.syscalls++;
		struct ai_error *err = seg->read_fn(buf, address, n, seg->arg);
		if (err)
			return err;
		mem->stats.bytes += n;
		buf = (char *)buf + n;
		address += n;
		count -= n;
	}
	return NULL;
}

static struct ai_error *read_cached(struct ai_memory *mem, void *buf, uint64_t address, size_t count)
{
	if (!mem->cache)
		mem->cache = xcalloc(CACHE_SLOTS, sizeof(struct cache_slot));
	while (count > 0) {
		uint64_t page = address & ~(uint64_t)(PAGE_SIZE_BYTES - 1);
		struct cache_slot *slot = &mem->cache[(page / PAGE_SIZE_BYTES) % CACHE_SLOTS];
		if (slot->page != page + 1) {
			struct ai_error *err = read_uncached(mem, slot->bytes, page, PAGE_SIZE_BYTES);
			if (err) {
				/* The page is partly unreadable: read just what was asked. */
				ai_error_destroy(err);
				slot->page = 0;
				return read_uncached(mem, buf, address, count);
			}
			slot->page = page + 1;
		}
		size_t in_page = (size_t)AI_MIN((uint64_t)count, page + PAGE_SIZE_BYTES - address);
		memcpy(buf, slot->bytes + (address - page), in_page);
		buf = (char *)buf + in_page;
		address += in_page;
		count -= in_page;
	}
	return NULL;
}

/* The frozen copy that holds all of [address, address + count), or NULL. */
static const struct frozen *frozen_holding(struct ai_memory *mem, uint64_t address, size_t count)
{
	const struct frozen *f = mem->last_frozen;
	if (f && address >= f->start && address - f->start + count <= f->size)
		return f;
	for (size_t i = 0; i < mem->frozen_count; i++) {
		f = &mem->frozen[i];
		if (address >= f->start && address - f->start < f->size)
			return address - f->start + count <= f->size ? (mem->last_frozen = f) : NULL;
	}
	return NULL;
}

struct ai_error *ai_memory_read(struct ai_memory *mem, void *buf, uint64_t address, size_t count)
{
	mem->stats.reads++;
	if (count == 0)
		return NULL;
	if (address + count < address)
		return ai_error_fault(address, "read of %zu bytes at 0x%" PRIx64 " wraps around", count,
				      address);
	const struct frozen *f = mem->frozen_on_top ? frozen_holding(mem, address, count) : NULL;
	if (f) {
		memcpy(buf, f->bytes + (address - f->start), count);
		return NULL;
	}
	if (mem->caching && count < CACHE_BYPASS_BYTES)
		return read_cached(mem, buf, address, count);
	return read_uncached(mem, buf, address, count);
}

struct ai_error *ai_memory_read_u64(struct ai_memory *mem, uint64_t address, uint64_t *ret)
{
	uint64_t value;
	struct ai_error *err = ai_memory_read(mem, &value, address, sizeof(value));
	if (err)
		return err;
	*ret = value;
	return NULL;
}

struct ai_error *ai_memory_read_cstr(struct ai_memory *mem, uint64_t address, size_t max_len,
				     char **ret)
{
	size_t cap = 64, len = 0;
	char *s = xmalloc(cap + 1);
	while (len < max_len) {
		char c;
		struct ai_error *err = ai_memory_read(mem, &c, address + len, 1);
		if (err) {
			free(s);
			return err;
		}
		if (c == '\0')
			break;
		if (len == cap)
			s = xrealloc(s, (cap *= 2) + 1);
		s[len++] = c;
	}
	s[len] = '\0';
	*ret = s;
	return NULL;
}

void ai_memory_set_caching(struct ai_memory *mem, bool enabled)
{
	mem->caching = enabled;
	ai_memory_flush(mem);
}

void ai_memory_flush(struct ai_memory *mem)
{
	drop_attachment(mem);
	if (mem->cache) {
		for (size_t i = 0; i < CACHE_SLOTS; i++)
			mem->cache[i].page = 0;
	}
}

const struct ai_memory_stats *ai_memory_stats(const struct ai_memory *mem)
{
	return &mem->stats;
}

static struct ai_error *read_frozen(void *buf, uint64_t address, size_t count, void *arg)
{
	const struct frozen *f = arg;
	memcpy(buf, f->bytes + (address - f->start), count);
	return NULL;
}

/* The part of mapping m worth copying: all of it, except that a thread's stack starts at its stack
 * pointer (less the 128-byte red zone): what lies below is dead. */
static uint64_t freeze_start(const struct ai_mapping *m, const uint64_t *sps, size_t sp_count)
{
	for (size_t i = 0; i < sp_count; i++) {
		if (sps[i] >= m->start && sps[i] < m->end) {
			uint64_t start = (sps[i] - 128) & ~(uint64_t)(PAGE_SIZE_BYTES - 1);
			return start > m->start ? start : m->start;
		}
	}
	return m->start;
}

/* /proc/PID/pagemap: one 64-bit entry per page (Documentation/admin-guide/mm/pagemap.rst). */
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)

/* Private anonymous memory (the heap, thread stacks, anonymous mmaps) holds zeros in every page
 * the process never touched, and such a page has no entry in pagemap (neither present nor
 * swapped): it need not be copied, only read as zero. A private file mapping's untouched page
 * holds the file's bytes, and a shared one's may hold what another process wrote: those are
 * always copied. */
static bool zero_when_untouched(const struct ai_mapping *m)
{
	return m->perms[3] == 'p' && (!m->path || m->path[0] == '[');
}

/* Whether each page of [start, end) was touched (present or swapped), one byte per page; NULL
 * when pagemap cannot be read (then every page counts as touched). */
static unsigned char *touched_pages(struct ai_memory *mem, uint64_t start, uint64_t end)
{
	struct process_reader *reader = mem->process;
	if (!reader || reader->pagemap_fd == -2)
		return NULL;
	if (reader->pagemap_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)reader->pid);
		reader->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (reader->pagemap_fd < 0) {
			reader->pagemap_fd = -2;
			return NULL;
		}
	}
	size_t pages = (size_t)((end - start) / PAGE_SIZE_BYTES);
	unsigned char *touched = xmalloc(pages ? pages : 1);
	uint64_t entries[512];
	for (size_t done = 0; done < pages;) {
		size_t n = AI_MIN(pages - done, sizeof(entries) / sizeof(entries[0]));
		ssize_t got = pread(reader->pagemap_fd, entries, n * 8, (off_t)((start / PAGE_SIZE_BYTES + done) * 8));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 8) {
			free(touched);
			return NULL;
		}
		n = (size_t)got / 8;
		for (size_t i = 0; i < n; i++)
			touched[done + i] = (entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) != 0;
		done += n;
	}
	return touched;
}

/* The part of mapping m a freeze copies: [*start_ret, m->end), and the pages touched in it (NULL:
 * all of them). Returns the bytes in use, the touched pages'. */
static uint64_t in_use(struct ai_memory *mem, const struct ai_mapping *m, const uint64_t *sps, size_t sp_count,
		       uint64_t *start_ret, unsigned char **touched_ret)
{
	uint64_t start = freeze_start(m, sps, sp_count);
	unsigned char *touched = zero_when_untouched(m) ? touched_pages(mem, start, m->end) : NULL;
	uint64_t bytes = m->end - start;
	if (touched) {
		bytes = 0;
		for (size_t i = 0; i < (m->end - start) / PAGE_SIZE_BYTES; i++)
			bytes += touched[i] ? PAGE_SIZE_BYTES : 0;
	}
	*start_ret = start;
	if (touched_ret)
		*touched_ret = touched;
	else
		free(touched);
	return bytes;
}

uint64_t ai_memory_writable_in_use(struct ai_memory *mem, const struct ai_maps *maps, const uint64_t *sps,
				   size_t sp_count)
{
	uint64_t total = 0, start;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (m->perms[0] == 'r' && m->perms[1] == 'w')
			total += in_use(mem, m, sps, sp_count, &start, NULL);
	}
	return total;
}

/* Copies the touched pages of [f->start, f->start + f->size) into f->bytes (zeroed, so that the
 * untouched ones read as zero; calloc leaves large ones to the kernel's zero pages, so they cost
 * us no memory either), in one read per run of touched pages. */
static struct ai_error *copy_touched(struct ai_memory *mem, struct frozen *f, const unsigned char *touched)
{
	size_t pages = f->size / PAGE_SIZE_BYTES;
	if (!touched)
		return read_uncached(mem, f->bytes, f->start, f->size);
	for (size_t i = 0; i < pages;) {
		if (!touched[i]) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < pages && touched[j])
			j++;
		struct ai_error *err = read_uncached(mem, f->bytes + i * PAGE_SIZE_BYTES,
						     f->start + i * PAGE_SIZE_BYTES, (j - i) * PAGE_SIZE_BYTES);
		if (err)
			return err;
		i = j;
	}
	return NULL;
}

struct ai_error *ai_memory_freeze(struct ai_memory *mem, const struct ai_maps *maps, const uint64_t *sps,
				  size_t sp_count, uint64_t max_bytes, uint64_t *bytes_ret)
{
	drop_attachment(mem);
	uint64_t total = 0;
	size_t count = 0;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (m->perms[0] == 'r' && m->perms[1] == 'w')
			count++;
	}
	ai_memory_thaw(mem);
	struct frozen *frozen = xcalloc(count, sizeof(*frozen));
	unsigned char **touched = xcalloc(count, sizeof(*touched));
	size_t n = 0;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (m->perms[0] != 'r' || m->perms[1] != 'w')
			continue;
		total += in_use(mem, m, sps, sp_count, &frozen[n].start, &touched[n]);
		frozen[n].size = (size_t)(m->end - frozen[n].start);
		n++;
	}
	if (total > max_bytes) {
		for (size_t i = 0; i < n; i++)
			free(touched[i]);
		free(touched);
		free(frozen);
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "%" PRIu64 " MiB of writable memory in use is more than the %" PRIu64 " MiB we copy",
				       total >> 20, max_bytes >> 20);
	}
	mem->frozen = frozen;
	for (size_t i = 0; i < n; i++) {
		struct frozen *f = &mem->frozen[mem->frozen_count];
		*f = frozen[i];
		f->bytes = touched[i] ? xcalloc(1, f->size) : xmalloc(f->size);
		struct ai_error *err = copy_touched(mem, f, touched[i]);
		free(touched[i]);
		if (err) {
			/* Unreadable (e.g. a mapping that went away, or MAP_NORESERVE beyond memory):
			 * leave that range to live reads. */
			ai_error_destroy(err);
			free(f->bytes);
			continue;
		}
		mem->frozen_count++;
	}
	free(touched);
	for (size_t i = 0; i < mem->frozen_count; i++) {
		struct frozen *f = &mem->frozen[i];
		ai_memory_add_segment(mem, f->start, f->start + f->size, read_frozen, f);
	}
	mem->frozen_on_top = mem->frozen_count > 0;
	*bytes_ret = total;
	return NULL;
}

/* On-demand copies: a chunk of 1 MiB makes one read serve the many small reads near it. */
#define ON_DEMAND_CHUNK ((uint64_t)1 << 20)
/* Mappings larger than this (address space reserved, not used) are read live, not given a table. */
#define ON_DEMAND_MAX_MAPPING ((uint64_t)64 << 30)

static struct ai_error *read_on_demand(void *buf, uint64_t address, size_t count, void *arg)
{
	struct on_demand *od = arg;
	struct ai_memory *mem = od->mem;
	while (count > 0) {
		size_t index = (size_t)((address - od->start) / ON_DEMAND_CHUNK);
		uint64_t chunk_start = od->start + index * ON_DEMAND_CHUNK;
		uint64_t chunk_end = AI_MIN(chunk_start + ON_DEMAND_CHUNK, od->end);
		size_t n = (size_t)AI_MIN((uint64_t)count, chunk_end - address);
		if (!od->chunks[index] && mem->on_demand_bytes + (chunk_end - chunk_start) <= mem->on_demand_max) {
			unsigned char *chunk = xmalloc((size_t)(chunk_end - chunk_start));
			struct ai_error *err = read_process(chunk, chunk_start, (size_t)(chunk_end - chunk_start), mem->process);
			if (err) {
				ai_error_destroy(err); /* partly unreadable: read just what was asked, below */
				free(chunk);
			} else {
				od->chunks[index] = chunk;
				mem->on_demand_bytes += chunk_end - chunk_start;
				if (mem->progress)
					mem->progress(mem->on_demand_bytes, mem->progress_arg);
			}
		}
		if (od->chunks[index]) {
			memcpy(buf, od->chunks[index] + (address - chunk_start), n);
		} else {
			struct ai_error *err = read_process(buf, address, n, mem->process);
			if (err)
				return err;
		}
		buf = (char *)buf + n;
		address += n;
		count -= n;
	}
	return NULL;
}

void ai_memory_freeze_on_demand(struct ai_memory *mem, const struct ai_maps *maps, uint64_t max_bytes,
				ai_memory_progress_fn *progress, void *progress_arg)
{
	ai_memory_thaw(mem);
	if (!mem->process)
		return;
	size_t count = 0;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		count += m->perms[0] == 'r' && m->perms[1] == 'w' && m->end - m->start <= ON_DEMAND_MAX_MAPPING;
	}
	mem->on_demand = xcalloc(count ? count : 1, sizeof(*mem->on_demand));
	mem->on_demand_bytes = 0;
	mem->on_demand_max = max_bytes;
	mem->progress = progress;
	mem->progress_arg = progress_arg;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (m->perms[0] != 'r' || m->perms[1] != 'w' || m->end - m->start > ON_DEMAND_MAX_MAPPING)
			continue;
		struct on_demand *od = &mem->on_demand[mem->on_demand_count++];
		od->mem = mem;
		od->start = m->start;
		od->end = m->end;
		od->chunks = xcalloc((size_t)((m->end - m->start + ON_DEMAND_CHUNK - 1) / ON_DEMAND_CHUNK), sizeof(*od->chunks));
	}
	/* After every frozen segment, and with no other segment added until the thaw. */
	for (size_t i = 0; i < mem->on_demand_count; i++)
		ai_memory_add_segment(mem, mem->on_demand[i].start, mem->on_demand[i].end, read_on_demand,
				      &mem->on_demand[i]);
}

uint64_t ai_memory_on_demand_bytes(const struct ai_memory *mem)
{
	return mem->on_demand_bytes;
}

/* Copies [start, start + size) of the process in chunks into f (allocated here), stopping before a
 * chunk that would end past the deadline (the slowest chunk so far is the estimate); returns the
 * bytes copied (a prefix), 0 if none. *slowest_us carries the estimate from call to call. */
#define FREEZE_CHUNK ((size_t)64 << 10)

static size_t copy_until(struct ai_memory *mem, struct frozen *f, uint64_t start, size_t size,
			 uint64_t deadline_us, uint64_t *slowest_us)
{
	f->start = start;
	f->bytes = xmalloc(size);
	size_t done = 0;
	uint64_t now = ai_now_us();
	while (done < size && now + *slowest_us < deadline_us) {
		size_t n = AI_MIN(FREEZE_CHUNK, size - done);
		struct ai_error *err = read_uncached(mem, f->bytes + done, start + done, n);
		if (err) {
			ai_error_destroy(err);
			break;
		}
		done += n;
		uint64_t after = ai_now_us();
		*slowest_us = AI_MAX(*slowest_us, after - now);
		now = after;
	}
	f->size = done;
	if (!done) {
		free(f->bytes);
		f->bytes = NULL;
	}
	return done;
}

static void add_gap(struct ai_memory *mem, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	AI_GROW(mem->gaps, mem->gap_capacity, mem->gap_count + 1);
	mem->gaps[mem->gap_count++] = (struct frozen){ .start = start, .size = (size_t)(end - start) };
}

struct ai_error *ai_memory_freeze_capped(struct ai_memory *mem, const struct ai_maps *maps, const uint64_t *sps,
					 size_t sp_count, uint64_t deadline_us, uint64_t *cursor,
					 struct ai_memory_freeze_stats *stats_ret)
{
	drop_attachment(mem);
	struct ai_memory_freeze_stats stats = { 0 };
	ai_memory_thaw(mem);
	size_t rw = 0;
	uint64_t heap_total = 0;
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (m->perms[0] == 'r' && m->perms[1] == 'w') {
			rw++;
			if (freeze_start(m, sps, sp_count) == m->start)
				heap_total += m->end - m->start;
		}
	}
	/* Each mapping gives at most two copied ranges (the cursor may start inside it and wrap). */
	mem->frozen = xcalloc(2 * rw + 1, sizeof(*mem->frozen));
	/* Stacks first, whole: every task being polled and every block_on future is there. */
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *m = &maps->items[i];
		uint64_t start = freeze_start(m, sps, sp_count);
		if (m->perms[0] != 'r' || m->perms[1] != 'w' || start == m->start)
			continue;
		struct frozen *f = &mem->frozen[mem->frozen_count];
		uint64_t no_estimate = 0;
		size_t n = copy_until(mem, f, start, (size_t)(m->end - start), UINT64_MAX, &no_estimate);
		stats.bytes_copied += n;
		stats.bytes_total += m->end - start;
		if (n)
			mem->frozen_count++;
		add_gap(mem, start + n, m->end);
	}
	/* Then the rest as one space of heap_total bytes, from the cursor on, wrapping around. */
	uint64_t from = heap_total ? *cursor % heap_total : 0, pos = 0, copied = 0, slowest_us = 0;
	bool out_of_time = false;
	for (int pass = 0; pass < 2; pass++) {
		pos = 0;
		for (size_t i = 0; i < maps->count; i++) {
			const struct ai_mapping *m = &maps->items[i];
			if (m->perms[0] != 'r' || m->perms[1] != 'w' || freeze_start(m, sps, sp_count) != m->start)
				continue;
			uint64_t size = m->end - m->start, lo = pos, hi = pos + size;
			pos = hi;
			/* pass 0: [from, heap_total); pass 1: [0, from) */
			uint64_t want_lo = pass == 0 ? AI_MAX(lo, from) : lo;
			uint64_t want_hi = pass == 0 ? hi : AI_MIN(hi, from);
			if (want_lo >= want_hi)
				continue;
			uint64_t start = m->start + (want_lo - lo), end = m->start + (want_hi - lo);
			size_t n = 0;
			if (!out_of_time) {
				struct frozen *f = &mem->frozen[mem->frozen_count];
				n = copy_until(mem, f, start, (size_t)(end - start), deadline_us, &slowest_us);
				if (n)
					mem->frozen_count++;
				if (n < end - start)
					out_of_time = true;
			}
			copied += n;
			add_gap(mem, start + n, end);
		}
	}
	stats.bytes_copied += copied;
	stats.bytes_total += heap_total;
	if (heap_total)
		*cursor = (from + copied) % heap_total;
	for (size_t i = 0; i < mem->frozen_count; i++) {
		struct frozen *f = &mem->frozen[i];
		ai_memory_add_segment(mem, f->start, f->start + f->size, read_frozen, f);
	}
	mem->frozen_on_top = mem->frozen_count > 0;
	*stats_ret = stats;
	return NULL;
}

bool ai_memory_copied(const struct ai_memory *mem, uint64_t address, uint64_t size)
{
	for (size_t i = 0; i < mem->gap_count; i++) {
		const struct frozen *g = &mem->gaps[i];
		if (address < g->start + g->size && address + size > g->start)
			return false;
	}
	return true;
}

void ai_memory_thaw(struct ai_memory *mem)
{
	drop_attachment(mem);
	free(mem->gaps);
	mem->gaps = NULL;
	mem->gap_count = mem->gap_capacity = 0;
	if (mem->on_demand) {
		/* The on-demand segments are the last ones added. */
		mem->segment_count -= mem->on_demand_count;
		for (size_t i = 0; i < mem->on_demand_count; i++) {
			struct on_demand *od = &mem->on_demand[i];
			for (size_t c = 0; c < (od->end - od->start + ON_DEMAND_CHUNK - 1) / ON_DEMAND_CHUNK; c++)
				free(od->chunks[c]);
			free(od->chunks);
		}
		free(mem->on_demand);
		mem->on_demand = NULL;
		mem->on_demand_count = 0;
		mem->progress = NULL;
		ai_memory_flush(mem);
	}
	mem->frozen_on_top = false;
	mem->last_frozen = NULL;
	if (!mem->frozen)
		return;
	/* The frozen segments are the last ones added. */
	mem->segment_count -= mem->frozen_count;
	for (size_t i = 0; i < mem->frozen_count; i++)
		free(mem->frozen[i].bytes);
	free(mem->frozen);
	mem->frozen = NULL;
	mem->frozen_count = 0;
	ai_memory_flush(mem);
}
