#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"

static void out_of_memory(void)
{
	static const char msg[] = "async-inspect: out of memory\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

/* The count of owners sits before the text, 16 bytes so that the text is as aligned as malloc's. */
struct shared_head {
	size_t refs;
	size_t pad;
};

char *ai_shared_strn(const char *text, size_t len)
{
	struct shared_head *h = xmalloc(sizeof(*h) + len + 1);
	h->refs = 1;
	char *s = (char *)(h + 1);
	memcpy(s, text, len);
	s[len] = '\0';
	return s;
}

char *ai_shared_ref(char *s)
{
	if (s)
		__atomic_fetch_add(&((struct shared_head *)s - 1)->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void ai_shared_unref(char *s)
{
	if (!s)
		return;
	struct shared_head *h = (struct shared_head *)s - 1;
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(h);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		out_of_memory();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		out_of_memory();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		out_of_memory();
	return s;
}

void ai_grow(void **items, size_t *capacity, size_t needed, size_t size)
{
	if (needed <= *capacity)
		return;
	size_t cap = *capacity ? *capacity : 8;
	while (cap < needed)
		cap *= 2;
	*items = xrealloc(*items, cap * size);
	*capacity = cap;
}

uint64_t ai_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ai_now_us(void)
{
	return ai_now_ns() / 1000u;
}

char *ai_read_small_file(const char *path, size_t *len_ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len_ret)
		*len_ret = len;
	return buf;
}

void ai_normalize_path(char *path)
{
	if (path[0] != '/')
		return;
	char *out = path;
	const char *in = path;
	while (*in) {
		while (*in == '/')
			in++;
		const char *end = strchrnul(in, '/');
		size_t len = (size_t)(end - in);
		if (len == 0 || (len == 1 && in[0] == '.')) {
			/* skip */
		} else if (len == 2 && in[0] == '.' && in[1] == '.') {
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, in, len);
			out += len;
		}
		in = end;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

bool ai_starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

int ai_u64_compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

size_t ai_u64_sort_unique(uint64_t *v, size_t n)
{
	if (n < 2)
		return n;
	qsort(v, n, sizeof(*v), ai_u64_compare);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[k - 1])
			v[k++] = v[i];
	return k;
}

bool ai_u64_sorted_contains(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] == x)
			return true;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
