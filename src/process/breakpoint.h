/* Private to src/process: how the stop and run loops of process.c meet the breakpoints of
 * breakpoint.c. */
#ifndef AI_PROCESS_BREAKPOINT_H
#define AI_PROCESS_BREAKPOINT_H

#include <stdbool.h>

#include "ai/target.h"

/* thread is in a SIGTRAP signal-delivery-stop: if an int3 of ours caused it, sets its pc back to
 * the breakpoint (thread->regs then holds its registers) and returns true: the SIGTRAP is ours,
 * not to be delivered. */
bool ai_breakpoint_claim_trap(struct ai_target *t, struct ai_thread *thread);
/* The same, and records the thread as the reported hit (t->hit_tid, hit_address, hit_regs). */
bool ai_breakpoint_note_hit(struct ai_target *t, struct ai_thread *thread);
/* Steps the stopped hit thread over its breakpoint (every other thread must be stopped) and clears
 * t->hit_tid. The thread stays stopped. */
struct ai_error *ai_breakpoint_step_over(struct ai_target *t, struct ai_thread *thread);
/* Before a detach: lets the stopped thread take the SIGTRAPs queued for it and not yet reported
 * (ai_registry_trap_queued), dropping those of our int3s and watchpoints, so that none is
 * delivered once we are gone; another signal it takes is kept for the detach. False when the
 * thread turned out to be gone (it is then out of t->threads). */
bool ai_breakpoint_drain_traps(struct ai_target *t, struct ai_thread *thread);
/* process.c: a wait status of tid that says it is gone (exit, killed). */
void ai_breakpoint_thread_gone(struct ai_target *t, pid_t tid, int status);

/* watchpoint.c: writes the target's watchpoints into a stopped thread that does not hold them
 * yet (false, with t->watch_errno set, when the registers cannot be written). */
bool ai_watchpoint_arm(struct ai_target *t, struct ai_thread *thread);
/* thread is in a SIGTRAP signal-delivery-stop: true if one of our watchpoints caused it (its DR6
 * is cleared, t->watch_hits set): the SIGTRAP is not the target's. */
bool ai_watchpoint_claim_trap(struct ai_target *t, struct ai_thread *thread);
/* The same, and records the thread as the reported hit (t->watch_tid) if watchpoints are set. */
bool ai_watchpoint_note_hit(struct ai_target *t, struct ai_thread *thread);

#endif
