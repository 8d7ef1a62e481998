/* Analyses: pure functions over a snapshot (src/analysis). They never see DWARF or target memory,
 * only the waits and held resources the async layer recorded (ai/wait.h). */
#ifndef AI_ANALYSIS_H
#define AI_ANALYSIS_H

#include "ai/snapshot.h"

/* The wait-for graph: task -> the tasks that hold the lock it waits for (its wait is a queued
 * Acquire still wanting permits, on a lock with too few available), task -> the task whose
 * JoinHandle it awaits (unless that one completed). Only tasks that are idle (or block_on
 * futures) and whose await chain is exclusive (task->wait set) have edges. Each elementary cycle
 * found is added to snapshot->deadlocks once. */
void ai_analysis_deadlocks(struct ai_snapshot *snapshot);
/* ai_analysis_deadlocks then adds snapshot->warnings (conditional evidence): every task whose wait
 * carries a warning (wait.c: a oneshot whose Sender is gone, an mpsc channel with no Sender left
 * or only the waiting task's own), and every task whose JoinHandle chain leads back to itself. */

/* One edge of that wait-for graph: task `from` waits for task `to` (indexes into snapshot->tasks);
 * held: the guard or Sender that `to` holds, or NULL. */
struct ai_wait_for_edge {
	size_t from, to;
	const struct ai_held *held; /* borrowed */
};
/* The edges of ai_analysis_deadlocks' graph that alone keep their task waiting (a channel waiter
 * whose Senders several tasks hold is left out: any of them could wake it), for analyses that
 * join graphs (src/analysis/peers.c). A new array in *ret (to free); returns its length. */
size_t ai_analysis_wait_for_edges(const struct ai_snapshot *snapshot, struct ai_wait_for_edge **ret);

#endif
