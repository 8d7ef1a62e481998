/* The inspected program: a live process under ptrace, or a core file with its executable.
 *
 * Only this module calls ptrace. A live target is attached with PTRACE_SEIZE on every thread (new
 * threads are followed through PTRACE_O_TRACECLONE); ai_target_stop() stops the world with
 * PTRACE_INTERRUPT, ai_target_resume() lets it run again, ai_target_destroy() detaches and leaves it
 * running exactly as before. Every attached tid is also kept in a process-wide registry so that our
 * own fatal signals and SIGINT/SIGTERM/SIGHUP detach before we die (ai_target_install_signal_handlers). */
#ifndef AI_TARGET_H
#define AI_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "ai/error.h"
#include "ai/maps.h"
#include "ai/memory.h"

enum ai_target_kind {
	AI_TARGET_LIVE,
	AI_TARGET_CORE,
};

struct ai_thread {
	pid_t tid;
	char name[64];  /* /proc/PID/task/TID/comm; "" when unknown (cores) */
	char state;     /* scheduler state before we stopped it ('R', 'S', 'D', ...); '?' if unknown */
	struct user_regs_struct regs; /* valid when regs_valid: the thread is stopped, or from the core */
	bool regs_valid;
	/* Private to the target module. */
	bool stopped;
	bool group_stopped; /* in a job-control stop: resumed with PTRACE_LISTEN, so it stays stopped */
	int pending_signal; /* a signal that arrived while stopping it, delivered again on resume */
	unsigned watch_generation; /* the target's watch_generation its debug registers hold */
};

#define AI_WATCHPOINTS 4 /* x86-64's debug registers DR0-DR3 */

struct ai_target {
	enum ai_target_kind kind;
	pid_t pid;
	char *exe_path;            /* owned: the executable (from /proc/PID/exe or --exe) */
	struct ai_thread *threads; /* owned; valid while stopped (live) or always (core) */
	size_t thread_count, thread_capacity;
	struct ai_memory *memory;  /* owned */
	struct ai_maps maps;       /* refreshed by every stop */
	bool is_stopped;
	uint64_t stopped_at_us;    /* ai_now_us() when the last stop began */
	uint64_t last_pause_us;    /* how long the last stop..resume kept the target paused */
	bool launched;             /* started by ai_target_launch: we are its parent */
	bool exited;               /* the process is gone; exit_status holds its wait status */
	int exit_status;
	/* core files only */
	char *core_path;           /* owned */
	char *warning;             /* owned, or NULL: what the user must know of every snapshot (a
				    * truncated core) */
	struct ai_core *core;      /* owned; private to core.c */
	/* breakpoints (live only; src/process/breakpoint.c) */
	struct ai_breakpoint_set *breakpoints; /* owned, or NULL when none was ever inserted */
	pid_t hit_tid;             /* AI_RUN_BREAKPOINT: the thread stopped on one, or 0 */
	uint64_t hit_address;      /* the breakpoint it stopped on (its pc is set back to it) */
	struct user_regs_struct hit_regs; /* that thread's registers at the hit */
	/* hardware watchpoints (live only; src/process/watchpoint.c) */
	uint64_t watch_address[AI_WATCHPOINTS];
	uint8_t watch_size[AI_WATCHPOINTS];
	unsigned watch_count;
	unsigned watch_generation; /* bumped at every change; 0: never set */
	pid_t watch_tid;           /* AI_RUN_WATCHPOINT: the thread that wrote a watched byte, or 0 */
	unsigned watch_hits;       /* its DR6 bits: bit n for watchpoint n */
	bool watch_missed;         /* a watchpoint trapped while the world was being stopped */
	int watch_errno;           /* a thread could not be armed (0: none), and which */
	pid_t watch_errno_tid;
};

/* Attaches to every thread of pid, leaving it running. */
struct ai_error *ai_target_attach(pid_t pid, struct ai_target **ret);
/* Opens a core file (e.g. from gdb's gcore) with the executable that produced it. Checks that they
 * match. */
struct ai_error *ai_target_open_core(const char *core_path, const char *exe_path,
				     struct ai_target **ret);

/* Stops every thread, refreshes the thread list, registers and maps. A no-op for cores. */
struct ai_error *ai_target_stop(struct ai_target *target);
/* Lets every thread run again, re-delivering signals that arrived while stopping. */
struct ai_error *ai_target_resume(struct ai_target *target);
/* Detaches from a live target, leaving it running; last_pause_us then holds how long it was
 * stopped. Memory can no longer be read. A no-op for cores and when already detached. */
void ai_target_detach(struct ai_target *target);
/* Attaches again to every thread of a live target that ai_target_detach let go, leaving it
 * running: what was read of it (executable, memory reader) serves again, and so does whatever
 * keeps the target (its debug info, its decoders). A no-op when attached or for cores. An error,
 * as ai_target_attach's, when it can no longer be attached (then it stays detached). */
struct ai_error *ai_target_reattach(struct ai_target *target);
/* Detaches (live) and frees everything. */
void ai_target_destroy(struct ai_target *target);

/* Launching (`run`): forks and execs argv[0] under ptrace. The child keeps our stdin, stdout,
 * stderr, environment and signal mask. On success the signals `run` forwards stay blocked in
 * our process until ai_target_forward_signals() is called, so none is lost in between. */
struct ai_error *ai_target_launch(char *const argv[], struct ai_target **ret);
/* The same, leaving it stopped at its exec (its code mapped, none of it run): breakpoints go in
 * before the program's first instruction. ai_target_stop/resume/run then let it go. */
struct ai_error *ai_target_launch_stopped(char *const argv[], struct ai_target **ret);

enum ai_run_event {
	AI_RUN_TIMEOUT, /* timeout_ms passed with the target still running */
	AI_RUN_EXITED,  /* the target's main process ended: see *status_ret (a wait status) */
	AI_RUN_BREAKPOINT, /* a thread stopped on a breakpoint: target->hit_tid, hit_address and
			    * hit_regs. It stays stopped; the next ai_target_stop/resume/run steps it
			    * over the breakpoint with every other thread stopped, so none misses it */
	AI_RUN_WATCHPOINT, /* a watched byte was written: target->watch_tid (stopped, after the
			    * writing instruction; 0 when the write was seen while stopping the
			    * world). The next ai_target_stop/resume/run lets it go on */
};
/* Runs the event loop of a launched or attached target for up to timeout_ms (-1: forever): follows
 * new threads, passes on every signal the target receives, returns when the target exits. */
struct ai_error *ai_target_run(struct ai_target *target, int timeout_ms, enum ai_run_event *event_ret,
			       int *status_ret);

/* Breakpoints: an int3 written at a runtime address of code, the original byte kept. The target
 * must be stopped. A thread that traps on one is reported by ai_target_run (AI_RUN_BREAKPOINT);
 * other threads found on one while stopping the world have their pc set back, so they hit it
 * again once resumed. Every breakpoint is removed by ai_target_remove_breakpoints, by
 * ai_target_detach and by the signal handlers below. */
struct ai_error *ai_target_insert_breakpoint(struct ai_target *target, uint64_t address);
/* Restores every original byte (the target must be stopped; a no-op without breakpoints). */
void ai_target_remove_breakpoints(struct ai_target *target);
/* A target launched stopped at its exec: runs it to its entry point (AT_ENTRY), where the dynamic
 * linker has mapped its DT_NEEDED libraries and none of its own code has run, and leaves it
 * stopped there. */
struct ai_error *ai_target_run_to_entry(struct ai_target *target);
/* Whether an int3 of ours is at address. */
bool ai_target_has_breakpoint(const struct ai_target *target, uint64_t address);
/* Restores the original byte at address (the target must be stopped; a no-op if none is there),
 * leaving the other breakpoints in. */
void ai_target_remove_breakpoint(struct ai_target *target, uint64_t address);

/* Hardware watchpoints: up to AI_WATCHPOINTS ranges (1, 2, 4 or 8 aligned bytes) whose writes,
 * by any thread (threads created later too), stop the target: ai_target_run reports
 * AI_RUN_WATCHPOINT. The target must be stopped. Replaces the set given before; count 0 clears it.
 * An error when the debug registers cannot be written (then none is set). */
struct ai_error *ai_target_set_watchpoints(struct ai_target *target, const uint64_t *addresses,
					   const uint8_t *sizes, unsigned count);
/* Clears DR7 in every thread (the target must be stopped); ai_target_detach and the signal
 * handlers below do it too. */
void ai_target_clear_watchpoints(struct ai_target *target);

/* Installs handlers that detach from every attached thread on SIGINT/SIGTERM/SIGHUP and on our own
 * crash signals, then let the signal take its course. */
void ai_target_install_signal_handlers(void);

/* For `run`: from now on, signals that other processes send to us go to pid instead (terminal
 * signals such as Ctrl-C reach it directly); we no longer die of them. */
void ai_target_forward_signals(pid_t pid);

/* Thread name and state of a live thread from /proc, into the given thread. */
void ai_thread_read_proc(pid_t pid, struct ai_thread *thread);

#endif
