/* Small helpers shared by every layer. Allocation aborts on out-of-memory, as in strace and htop:
 * a debugger that runs out of memory has nothing sensible left to do. */
#ifndef AI_UTIL_H
#define AI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define AI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AI_MAX(a, b) ((a) > (b) ? (a) : (b))

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Sorted sets of addresses: qsort's comparison, sorting with duplicates removed (returns the new
 * count), and binary search. */
int ai_u64_compare(const void *a, const void *b);
size_t ai_u64_sort_unique(uint64_t *v, size_t n);
bool ai_u64_sorted_contains(const uint64_t *v, size_t n, uint64_t x);

/* Whether s (NULL: false) begins with prefix. */
bool ai_starts_with(const char *s, const char *prefix);

char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Shared strings: immutable text with a count of its owners, for text that many snapshot nodes
 * hold at once (every task of one kind has a local that prints the same: the value printer's memo
 * hands that one print to all of them instead of a copy each). A shared string is a plain char *
 * to read, but only ai_shared_unref frees it. The count is atomic: snapshots are freed on other
 * threads than the one that decodes (serve). */
char *ai_shared_strn(const char *text, size_t len); /* a copy of len bytes, one owner */
char *ai_shared_ref(char *s);                       /* one more owner; NULL stays NULL */
void ai_shared_unref(char *s);                      /* one owner less; NULL: nothing */

/* Grows *items (of *capacity elements of `size` bytes) so that it holds at least `needed`. */
void ai_grow(void **items, size_t *capacity, size_t needed, size_t size);
#define AI_GROW(items, capacity, needed)                                              \
	do {                                                                          \
		size_t ai_grow_needed_ = (needed);                                    \
		if (ai_grow_needed_ > (capacity)) /* the call only when it grows */   \
			ai_grow((void **)&(items), &(capacity), ai_grow_needed_,      \
				sizeof(*(items)));                                    \
	} while (0)

/* Monotonic clock (CLOCK_MONOTONIC, the clock tokio's Instant reads) in microseconds, for pauses
 * and timings, and in nanoseconds. */
uint64_t ai_now_us(void);
uint64_t ai_now_ns(void);

/* Removes "." and "dir/.." components of an absolute path, in place. Lexical only: paths in DWARF
 * name the build machine's files, which need not exist here. Relative paths are left alone. */
void ai_normalize_path(char *path);


/* Reads a whole small file (e.g. under /proc) into a NUL-terminated heap buffer; NULL on error with
 * errno set. */
char *ai_read_small_file(const char *path, size_t *len_ret);

#endif
