/* Wait reasons and held resources (src/async/wait.c): a pass over a snapshot's await trees, made
 * after the tasks and block_on futures were collected and while the target's memory can still be
 * read. Every field is found by its DWARF member name (node->type_die names the type).
 *
 * - Leaves: tokio::time::Sleep (deadline, time left against snapshot->monotonic_ns; under a
 *   Timeout: kind "timeout"), batch_semaphore::Acquire (the semaphore, and the Mutex / RwLock /
 *   Semaphore it belongs to, from the `self` of the enclosing lock()/write()/read()/acquire()
 *   frame; permits available and still wanted), JoinHandle<T> (the awaited task's id and status).
 *   broadcast::Recv (capacity, unseen, senders), watch changed (a Notified on the channel's
 *   notify_rx: versions, closed, senders), I/O (Readiness, tokio::io::util futures: the fd as
 *   std's OwnedFd in the leaf or the saved locals above it, nearest first; on live targets its
 *   /proc link and socket).
 *   Any other leaf gets kind "unknown" and its type: never a guess.
 * - Held: saved locals of the active suspend variant of every coroutine that are MutexGuard,
 *   OwnedMutexGuard, RwLockReadGuard, RwLockWriteGuard, SemaphorePermit, OwnedSemaphorePermit.
 *   rustc keeps moved-out (dropped) guards in suspend variants, so a guard counts only when it is
 *   plausibly live: an exclusive guard (mutex, rwlock write) only if its semaphore has 0 permits
 *   available, and only if no other task also claims it (two claimants of one exclusive lock:
 *   at least one is stale, so neither counts).
 * - task->wait: the leaf wait at the end of the task's await chain when the chain is exclusive
 *   (no join!/select! branching on the way). */
#ifndef AI_WAIT_H
#define AI_WAIT_H

#include "ai/async.h"
#include "ai/snapshot.h"

void ai_wait_collect(struct ai_async *as, struct ai_snapshot *snapshot);

#endif
