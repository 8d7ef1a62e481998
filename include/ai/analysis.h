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

#endif
