/* Private to src/process: the process-wide list of attached threads, readable from a signal
 * handler, so that we detach even when we die. */
#ifndef AI_TARGET_REGISTRY_H
#define AI_TARGET_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

void ai_registry_add(pid_t tid);
void ai_registry_remove(pid_t tid);
/* Records whether the thread sits in a ptrace-stop now, and the signal to hand back on detach. */
void ai_registry_set_stopped(pid_t tid, bool stopped, int pending_signal);
/* Whether a SIGTRAP is queued for the stopped thread tid, not blocked, and not yet reported: our
 * PTRACE_INTERRUPT's stop is reported before the signals queued, so a trap of one of our int3s
 * or watchpoints can still be waiting there, and a detach would deliver it (SIGTRAP kills).
 * Async-signal-safe. */
bool ai_registry_trap_queued(pid_t tid);
/* Detaches every registered thread. Async-signal-safe. */
void ai_registry_detach_all(void);
/* Breakpoints written into the target: restored by ai_registry_detach_all before it detaches. */
void ai_registry_add_breakpoint(uint64_t address, uint8_t original);
void ai_registry_remove_breakpoint(uint64_t address);
/* Whether some thread may hold our watchpoints: ai_registry_detach_all then clears DR7 in each. */
void ai_registry_set_watching(bool watching);
/* The pid whose signals are forwarded by `run` (0: none). */
void ai_registry_set_forward_pid(pid_t pid);

/* Launching: the signals `run` forwards are blocked from before the fork until
 * ai_target_forward_signals() has its handlers in place, so that none sent to us in between is
 * lost or kills us. The child restores the mask it had before (ai_registry_restore_mask). */
void ai_registry_block_forwarded(void);
void ai_registry_restore_mask(void);

#endif
