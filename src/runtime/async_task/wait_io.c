/* The I/O waits of the async-task ecosystem: async-io's Async<T> (under smol's, async-net's and
 * async-std's sockets), awaited through async-io's Readable / Writable futures or futures-lite's
 * and async-std's read and write futures. The fd comes from the runtime-neutral search
 * (src/async/wait_io.c) through these I/O objects; the direction from the future's type. */
#include <string.h>

#include "ai/util.h"
#include "async_task.h"

/* The I/O objects built on async-io; its reactor (and the polling crate under it) holds the
 * poller's fd, and a Source only the raw fd number that Async<T>'s own io also has. */
static const char *const io_objects[] = { "async_io::Async<", "async_net::", "smol::net::", "async_std::net::",
					  "async_std::os::unix::net::", "async_fs::", "async_std::fs::", NULL };
static const char *const io_skipped[] = { "async_io::reactor::Reactor", "async_io::reactor::Source", "polling::",
					  NULL };
const struct ai_io_rules ai_async_task_io_rules = { io_skipped, io_objects };

/* The last segment of a path before its generic arguments: "futures_lite::io::ReadFuture<R>" ->
 * "ReadFuture". */
static void last_segment(const char *name, char *buf, size_t size)
{
	const char *end = strchr(name, '<');
	size_t n = end ? (size_t)(end - name) : strlen(name);
	const char *start = name;
	for (size_t i = 0; i + 1 < n; i++)
		if (name[i] == ':' && name[i + 1] == ':')
			start = name + i + 2;
	n -= (size_t)(start - name);
	if (n >= size)
		n = size - 1;
	memcpy(buf, start, n);
	buf[n] = '\0';
}

/* A read or write future of futures-lite or async-std (ReadFuture, ReadExactFuture, WriteAllFuture,
 * FlushFuture, CopyFuture...): its direction, or NULL. */
static const char *io_future_direction(const char *name)
{
	if (!ai_starts_with(name, "futures_lite::io::") && !ai_starts_with(name, "async_std::io::"))
		return NULL;
	char segment[64];
	last_segment(name, segment, sizeof(segment));
	if (!ai_wait_name_ends_with(segment, "Future"))
		return NULL;
	if (ai_starts_with(segment, "Read") || ai_starts_with(segment, "FillBuf"))
		return "read";
	if (ai_starts_with(segment, "Write") || ai_starts_with(segment, "Flush") || ai_starts_with(segment, "Close"))
		return "write";
	if (ai_starts_with(segment, "Copy"))
		return "copy";
	return NULL;
}

/* Under an accept (async-io's Async<TcpListener>::accept and the wrappers above it), readable
 * means a connection. */
static bool under_accept(const struct ai_wait_walk *w)
{
	for (size_t i = w->depth; i-- > 0;) {
		const char *fn = w->ancestors[i]->function;
		if (fn && (ai_starts_with(fn, "async_io::") || ai_starts_with(fn, "async_net::") ||
			   ai_starts_with(fn, "smol::") || ai_starts_with(fn, "async_std::")) &&
		    ai_wait_name_ends_with(fn, "::accept"))
			return true;
	}
	return false;
}

/* async-io's readiness futures, also when awaited through its optimistic(fut) poll_fn (the leaf
 * is then that PollFn, its closure generic over the Readable): "read", "write", or NULL. */
static const char *readiness_direction(const char *name)
{
	const char *readable = strstr(name, "async_io::reactor::Readable");
	const char *writable = strstr(name, "async_io::reactor::Writable");
	if (!ai_starts_with(name, "async_io::reactor::") && !ai_starts_with(name, "core::future::poll_fn::PollFn<async_io::"))
		return NULL;
	if (readable && (!writable || readable < writable))
		return "read";
	return writable ? "write" : NULL;
}

struct ai_wait *ai_async_task_io_wait(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	const char *name = ai_wait_type_name(t);
	const char *direction = readiness_direction(name);
	if (direction && strcmp(direction, "read") == 0 && under_accept(w))
		direction = "connection";
	if (!direction)
		direction = io_future_direction(name);
	if (!direction)
		return NULL;
	return ai_wait_decode_io(w, &ai_async_task_io_rules, t, address, direction);
}
