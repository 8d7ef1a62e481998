/* Several snapshots taken together, one per process (dump --pid A --pid B) or per dump file
 * (merge), and what links them: the task at the other end of a socket a task waits on, and the
 * wait-for cycles that run through sockets, within one process or across several
 * (src/analysis/peers.c). Like every analysis it sees snapshots only. */
#ifndef AI_PEERS_H
#define AI_PEERS_H

#include <stdbool.h>
#include <stddef.h>

#include "ai/snapshot.h"

/* One task of a cycle: it waits (its wait) for the next one. */
struct ai_cross_step {
	size_t process, task;       /* indexes into set->snapshots and that snapshot's tasks */
	const struct ai_wait *wait; /* borrowed: the task's wait */
	bool via_peer;              /* the next task is the other end of the socket it waits on;
				     * else it holds what this one waits for in the same process */
};

struct ai_cross_deadlock {
	struct ai_cross_step *steps; /* steps[i] waits for steps[(i + 1) % count] */
	size_t count;
};

struct ai_process_set {
	struct ai_snapshot **snapshots; /* owned */
	size_t count, capacity;
	size_t link_count;              /* waits given a peer */
	struct ai_cross_deadlock *deadlocks;
	size_t deadlock_count, deadlock_capacity;
};

void ai_process_set_init(struct ai_process_set *set);
/* Takes ownership of snapshot. */
void ai_process_set_add(struct ai_process_set *set, struct ai_snapshot *snapshot);
void ai_process_set_deinit(struct ai_process_set *set);

/* The command of the process a snapshot shows: its comm, else its executable's base name, else "?". */
const char *ai_process_command(const struct ai_snapshot *s);
/* Whether the set's snapshots come from more than one host (merge), so that a pid alone does not
 * name a process. */
bool ai_process_set_spans_hosts(const struct ai_process_set *set);
/* "pid 2311 (server)", and " on db-1" after it when the set spans hosts. Owned by the caller. */
char *ai_process_set_name(const struct ai_process_set *set, size_t process);

/* Links every I/O wait on a connected TCP socket to the task at its other end, in any snapshot
 * of the set (the same process included): the socket whose local and peer addresses are this
 * one's peer and local; a task waiting on it wins over one that only keeps it (task->fds).
 * Loopback addresses of snapshots from two different hosts never match. Sets wait->peer, then
 * finds the cycles of the joined wait-for graph (each snapshot's, plus the socket edges of tasks
 * that can block) that use at least one socket edge. */
void ai_analysis_peers(struct ai_process_set *set);

#endif
