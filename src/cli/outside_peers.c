/* The other end of a socket or pipe a task waits on, when no inspected process holds it: named by
 * the pid and command of the process /proc shows holding it ("pid 812 (curl), not inspected").
 * Runs after ai_analysis_peers, over live snapshots only (a core or a dump file has no /proc). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/cli.h"
#include "ai/peers.h"
#include "ai/sockets.h"
#include "ai/util.h"

struct outside_wait {
	struct ai_wait *wait; /* borrowed */
	char *address;        /* the other end's address (TCP), or NULL; owned */
};

static bool is_tcp(const char *kind)
{
	return kind && (strcmp(kind, "TCP") == 0 || strcmp(kind, "TCP6") == 0);
}

/* The inode of the TCP socket of `table` that is the other end of w (its local and peer addresses
 * swapped), or 0: one that is on another machine is not in this one's tables. */
static uint64_t tcp_peer_inode(const struct ai_socket_table *table, const struct ai_wait *w)
{
	for (size_t i = 0; i < table->count; i++) {
		const struct ai_socket *s = &table->items[i];
		if (strcmp(s->kind, w->socket_kind) == 0 && strcmp(s->local, w->peer_address) == 0 &&
		    strcmp(s->peer, w->local_address) == 0)
			return s->inode;
	}
	return 0;
}

/* What end of what w waits on we look for; false when w names none. */
static bool wanted_end(const struct ai_socket_table *table, const struct ai_wait *w, struct ai_fd_owner *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (w->fd_target && strncmp(w->fd_target, "pipe:[", 6) == 0) {
		ret->pipe = true;
		ret->inode = strtoull(w->fd_target + 6, NULL, 10);
		/* A reader waits for whoever may write, a writer for whoever reads. */
		ret->want_writer = !w->direction || strcmp(w->direction, "write") != 0;
	} else if (is_tcp(w->socket_kind) && w->peer_address && w->local_address && w->socket_state &&
		   strcmp(w->socket_state, "ESTABLISHED") == 0) {
		ret->inode = tcp_peer_inode(table, w);
	} else if (w->socket_kind && strcmp(w->socket_kind, "unix") == 0) {
		ret->inode = w->peer_inode;
	}
	return ret->inode != 0;
}

void ai_name_outside_peers(struct ai_process_set *set)
{
	struct outside_wait *waits = NULL;
	struct ai_fd_owner *ends = NULL;
	size_t count = 0, capacity = 0, end_capacity = 0;
	pid_t *pids = xcalloc(set->count ? set->count : 1, sizeof(*pids));
	for (size_t p = 0; p < set->count; p++) {
		struct ai_snapshot *s = set->snapshots[p];
		pids[p] = s->pid;
		if (s->core || s->pid <= 0)
			continue;
		struct ai_socket_table table;
		ai_socket_table_init(&table);
		bool have_table = false;
		for (size_t i = 0; i < s->task_count; i++) {
			struct ai_wait *w = (struct ai_wait *)s->tasks[i].wait;
			if (!w || w->peer || !w->kind || strcmp(w->kind, "io") != 0)
				continue;
			if (!have_table && is_tcp(w->socket_kind)) {
				struct ai_error *err = ai_sockets_read(s->pid, &table);
				ai_error_destroy(err); /* then no TCP peer is named: never a wrong one */
				have_table = true;
			}
			struct ai_fd_owner end;
			if (!wanted_end(&table, w, &end))
				continue;
			AI_GROW(waits, capacity, count + 1);
			AI_GROW(ends, end_capacity, count + 1);
			waits[count] = (struct outside_wait){ w, is_tcp(w->socket_kind) ? xstrdup(w->peer_address) : NULL };
			ends[count++] = end;
		}
		ai_socket_table_deinit(&table);
	}
	ai_fd_owners_find(ends, count, pids, set->count);
	for (size_t k = 0; k < count; k++) {
		const struct ai_fd_owner *o = &ends[k];
		if (o->owners == 0) {
			free(waits[k].address);
			continue;
		}
		struct ai_peer *peer = xcalloc(1, sizeof(*peer));
		peer->pid = o->pid;
		peer->command = o->command[0] ? xstrdup(o->command) : NULL;
		peer->address = waits[k].address;
		peer->fd = o->fd;
		peer->outside = true;
		char others[64] = "";
		if (o->owners > 1)
			snprintf(others, sizeof(others), " and %zu other process%s", o->owners - 1, o->owners > 2 ? "es" : "");
		peer->summary = xasprintf("pid %d%s%s%s%s, not inspected", (int)o->pid, peer->command ? " (" : "",
					  peer->command ? peer->command : "", peer->command ? ")" : "", others);
		waits[k].wait->peer = peer;
	}
	free(waits);
	free(ends);
	free(pids);
}
