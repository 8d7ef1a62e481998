/* tokio's I/O waits: the direction of Readiness and of the tokio::io::util futures, and tokio's
 * I/O objects for the runtime-neutral fd search (src/async/wait_io.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "tokio_wait.h"

/* tokio's I/O objects; its runtime (tokio::io::driver:: in 1.19) holds the epoll fd. */
static const char *const tokio_io_objects[] = { "tokio::net::", "tokio::io::async_fd::", "tokio::fs::", "tokio::process::",
						"mio::net::", NULL };
static const char *const tokio_io_skipped[] = { "tokio::runtime::", "tokio::io::driver::", NULL };
const struct ai_io_rules tk_io_rules = { tokio_io_skipped, tokio_io_objects };

/* tokio::io::util futures (AsyncReadExt::read, AsyncWriteExt::write_all...): the direction from
 * the module's name. */
const char *tk_io_util_direction(const char *name)
{
	const char *m = name + strlen("tokio::io::util::");
	if (ai_starts_with(m, "copy"))
		return "copy";
	if (ai_starts_with(m, "read") || ai_starts_with(m, "fill_buf") || ai_starts_with(m, "lines") ||
	    ai_starts_with(m, "split"))
		return "read";
	if (ai_starts_with(m, "write") || ai_starts_with(m, "flush") || ai_starts_with(m, "shutdown"))
		return "write";
	return NULL;
}

/* tokio's Interest bits (READABLE = 1, WRITABLE = 2 in every version) as a direction. */
static const char *direction_of_interest(uint64_t interest)
{
	if ((interest & 3) == 3)
		return "read_write";
	if (interest & 1)
		return "read";
	if (interest & 2)
		return "write";
	return NULL;
}

/* A Readiness (the waiter of ScheduledIo::readiness): its waiter's Interest (tokio 1.38+: bits of
 * a usize; 1.24: mio's NonZeroU8; both READABLE = 1, WRITABLE = 2); under accept() it is a
 * connection that is awaited. */
const char *tk_readiness_direction(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address)
{
	for (size_t i = w->depth; i-- > 0;) {
		const char *fn = w->ancestors[i]->function;
		if (fn && ai_starts_with(fn, "tokio::net::") && ai_wait_name_ends_with(fn, "::accept"))
			return "connection";
	}
	uint64_t interest;
	if (!ai_wait_read_nested_int(w, t, address, "interest", &interest))
		return NULL;
	return direction_of_interest(interest);
}

/* 1.19: the PollFn of Registration::readiness(&self, interest) is the leaf; the interest is the
 * readiness frame's (the parent coroutine's saved argument). */
const char *tk_registration_direction(struct ai_wait_walk *w)
{
	for (size_t i = w->depth; i-- > 0;) {
		const char *fn = w->ancestors[i]->function;
		if (fn && ai_starts_with(fn, "tokio::net::") && ai_wait_name_ends_with(fn, "::accept"))
			return "connection";
	}
	const struct ai_await_node *parent = w->depth > 0 ? w->ancestors[w->depth - 1] : NULL;
	const struct ai_type *st = parent ? ai_wait_state_struct(ai_wait_type_of_die(w, parent->type_die), parent->state)
					  : NULL;
	uint64_t interest;
	if (!st || !ai_wait_read_nested_int(w, st, parent->address, "interest", &interest))
		return NULL;
	return direction_of_interest(interest);
}
