/* Async breakpoints (`run` / `attach --break SPEC`): stop when a task reaches an `.await` or
 * starts an async fn, print the task with its await chain, and let the program go on.
 *
 * A SPEC is `FILE:LINE` (the task suspends at that `.await`; FILE is matched as a suffix of the
 * DWARF line table's paths, at a '/' boundary), `FILE:LINE@resume` (it is polled again, to resume
 * from there) or `FN` (an async fn's first poll; its whole path, e.g. `app::net::serve`).
 *
 * Where the int3 goes comes from DWARF and the code of the coroutine's poll function: a
 * suspend state's variant declares the line of its `.await`; the poll function stores that
 * state's discriminant (`movb $N, STATE(%reg)`, Capstone) just before it returns Pending, and the
 * breakpoint is the instruction after that store, where %reg still holds the coroutine. An FN
 * breakpoint is the poll function's entry, where %rdi is the coroutine and its state is
 * Unresumed on the first poll; an @resume one the same entry, with the state of that await.
 *
 * `spawn` / `complete` (optionally `spawn:FN`, `complete:FN`: only tasks whose root future is the
 * async fn FN) stop when any task is spawned / finishes, at the functions the runtime adapter
 * names for it (ai_runtime_ops.lifecycle_points); a spawn is seen once the spawn function has
 * returned the task, through a breakpoint at its return address, armed on its first call. */
#ifndef AI_BREAKPOINT_H
#define AI_BREAKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ai/error.h"
#include "ai/target.h"

enum ai_break_kind {
	AI_BREAK_LINE,     /* FILE:LINE of an .await */
	AI_BREAK_FUNCTION, /* FN: its first poll */
	AI_BREAK_SPAWN,    /* spawn[:FN]: a task is spawned */
	AI_BREAK_COMPLETE, /* complete[:FN]: a task finishes */
};

struct ai_break_cond;

struct ai_break_spec {
	enum ai_break_kind kind;
	char *text;     /* owned: as the user wrote it */
	char *file;     /* owned: LINE specs */
	uint32_t line;
	bool resume;    /* FILE:LINE@resume: when the task resumes from that .await */
	char *function; /* owned: FUNCTION specs; SPAWN / COMPLETE: the root future asked for, or NULL */
	struct ai_break_cond *cond; /* owned: `SPEC if EXPR`, or NULL */
};

/* Parses one SPEC, optionally followed by ` if EXPR`; AI_ERROR_INVALID_ARGUMENT saying what is
 * wrong with it. */
struct ai_error *ai_break_spec_parse(const char *text, struct ai_break_spec *ret);
void ai_break_spec_deinit(struct ai_break_spec *spec);

/* Conditions (condition.c): comparisons (== != < <= > >=), &&, ||, !, parentheses, integer and
 * string literals, true/false, and paths: a local of the hit frame and its fields (`cfg.version`),
 * task.id, task.name, task.status. */
struct ai_error *ai_break_cond_parse(const char *text, struct ai_break_cond **ret);
void ai_break_cond_destroy(struct ai_break_cond *cond);

struct ai_snapshot_task;
struct ai_await_node;
/* What a condition sees at a hit (borrowed; either may be NULL). */
struct ai_break_env {
	const struct ai_snapshot_task *task;
	const struct ai_await_node *frame; /* the coroutine that hit the breakpoint */
};
enum ai_break_truth { AI_BREAK_FALSE, AI_BREAK_TRUE, AI_BREAK_UNKNOWN };
/* Evaluates cond; when it is unknown, *why_ret (may be NULL) says why (owned by the caller). */
enum ai_break_truth ai_break_cond_eval(const struct ai_break_cond *cond, const struct ai_break_env *env,
				       char **why_ret);

enum ai_break_site_kind {
	AI_SITE_STATE,    /* a coroutine in env_reg, a hit when it is in state_value */
	AI_SITE_TASK,     /* a task's header in env_reg (or, task_in_return, in rax or rdx) */
	AI_SITE_CALL,     /* the entry of a function whose return is a spawn: arms a TASK site at
			   * its return address */
};

/* The value of an expression of the condition language, as text (for DAP's evaluate): a local
 * or a field of it is the text the value printer made, task.id / task.name / task.status the
 * task's, a literal itself, a comparison or a bool "true" or "false". NULL when it is unknown,
 * *why_ret (may be NULL; owned by the caller) saying why. */
char *ai_break_cond_value(const struct ai_break_cond *cond, const struct ai_break_env *env, char **why_ret);

/* Where one int3 goes and how to tell a hit. */
struct ai_break_site {
	size_t spec;            /* index into the specs resolved */
	enum ai_break_site_kind kind;
	bool task_in_return;
	struct ai_module *module; /* borrowed from the debuginfo: the module (executable or library)
				   * vaddr is in; NULL: vaddr is a runtime address */
	uint64_t vaddr;         /* the int3's file address in module */
	int env_reg;            /* Capstone's x86_reg that holds the coroutine's address there */
	uint64_t state_offset;  /* its __state, and the value that makes this a hit */
	uint8_t state_size;
	uint64_t state_value;
	char *function;         /* owned: the async fn or block ("app::serve") */
	char *file;             /* owned: the .await's file (FN: the fn's); NULL for TASK and CALL */
	uint32_t line;
};

struct ai_break_sites {
	struct ai_break_site *items;
	size_t count, capacity;
};
void ai_break_sites_deinit(struct ai_break_sites *sites);

struct ai_debuginfo;
struct ai_module;
/* Resolves every spec against the DWARF and code of every module mapped now with debug info: the
 * executable and each shared library with Rust DWARF (a spec may resolve in several). A spec that
 * names no await, no async fn, or a file that several source files of one module match is an
 * AI_ERROR_INVALID_ARGUMENT whose message says why (for a line without an .await: the await lines
 * of the function around it; for a file or fn in no module: that libraries loaded later are not
 * searched). */
struct ai_error *ai_break_resolve(struct ai_debuginfo *di, const struct ai_break_spec *specs,
				  size_t spec_count, struct ai_break_sites *ret);
/* The same for a live target whose dynamic linker can tell it of libraries loaded later: a
 * FILE:LINE or FN spec found in no module mapped now is no error but pending (pending[i] set,
 * *absent_ret[i] the error saying it is in none of them, owned by the caller; both spec_count
 * long), to be resolved in each library loaded later (ai_break_resolve_in); *libraries_ret:
 * the libraries with Rust DWARF searched. */
struct ai_error *ai_break_resolve_later(struct ai_debuginfo *di, const struct ai_break_spec *specs,
					size_t spec_count, bool *pending, struct ai_error **absent,
					size_t *libraries_ret, struct ai_break_sites *ret);
/* Resolves the pending specs in module m (a library just loaded; *searched_ret false and nothing
 * done when it has no Rust DWARF), adding their sites to *sites and clearing pending[i] for each
 * found there. */
struct ai_error *ai_break_resolve_in(struct ai_debuginfo *di, struct ai_module *m, const struct ai_break_spec *specs,
				     size_t spec_count, bool *pending, bool *searched_ret,
				     struct ai_break_sites *sites);

/* The dynamic linker's rendezvous (rendezvous.c; SVR4 r_debug, as gdb reads it): the address of
 * a live target's r_debug and of its r_brk, the function ld.so calls around each change of the
 * loaded modules (a breakpoint there sees each dlopen and dlclose). AI_ERROR_NOT_FOUND without
 * one (a static executable). The target must be stopped with its executable mapped. */
struct ai_error *ai_rendezvous_find(struct ai_target *target, struct ai_debuginfo *di, uint64_t *r_debug_ret,
				    uint64_t *brk_ret);
/* At a stop on r_brk: *consistent_ret whether the link map is complete (RT_CONSISTENT); if it is,
 * fn is called for each named module in it (the libraries; l_addr its load bias, l_ld the address
 * of its dynamic section, which lies in it). */
typedef void ai_rendezvous_module_fn(void *arg, uint64_t l_addr, const char *name, uint64_t l_ld);
struct ai_error *ai_rendezvous_modules(struct ai_target *target, uint64_t r_debug, bool *consistent_ret,
				       ai_rendezvous_module_fn *fn, void *arg);

/* The sites after every store of the state (discriminant) of the coroutine whose DWARF type is
 * at type_die in module's DWARF, in its poll functions (spec 0, state_value the value stored):
 * the breakpoints that stepping falls back to without hardware watchpoints. */
struct ai_error *ai_break_resolve_state_stores(struct ai_debuginfo *di, struct ai_module *module,
					       uint64_t type_die, struct ai_break_sites *ret);
/* Where site's int3 is in the process: vaddr moved by its module's load bias. */
uint64_t ai_break_site_address(const struct ai_break_site *site);

/* The value of Capstone register reg (a 64-bit general-purpose one) in regs; false if it is not
 * one of those. */
bool ai_break_reg_value(const struct user_regs_struct *regs, int reg, uint64_t *ret);

/* --history (history.c): each task's transitions (the innermost coroutine of the program's own
 * code on its main await chain: function, state, line) seen in the snapshots the hits take, the last AI_BREAK_HISTORY of
 * each; a transition is "hit" when its task's own breakpoint saw it, "snapshot" when it was seen
 * at another hit (it happened some time since the hit before). */
#define AI_BREAK_HISTORY 32
struct ai_break_history;
struct ai_snapshot;
struct ai_json_writer;
struct ai_break_history *ai_break_history_create(void);
void ai_break_history_destroy(struct ai_break_history *history);
/* Notes the state of every task of snapshot at t_us (since the breakpoints went in); hit is the
 * task of the hit (or NULL), completed when the hit is its completion. */
void ai_break_history_observe(struct ai_break_history *history, const struct ai_snapshot *snapshot,
			      const struct ai_snapshot_task *hit, bool completed, uint64_t t_us);
/* task's transitions: text lines (none when there are none), or a "history" member. */
void ai_break_history_print(FILE *out, struct ai_break_history *history, const struct ai_snapshot_task *task);
void ai_break_history_write_json(struct ai_json_writer *w, struct ai_break_history *history,
				 const struct ai_snapshot_task *task);

/* How many distinct source files of the executable's line tables `file` names (a suffix at a '/'
 * boundary, as FILE of a SPEC): 0, 1, or more (ambiguous). */
size_t ai_break_source_count(struct ai_debuginfo *di, const char *file);

/* hit.c: what a stop on a breakpoint means (for the --break loop and the DAP server). */
struct ai_snapshot;
/* The stop (target->hit_regs) is a hit of site: the coroutine its register holds is in the
 * site's state; *env_ret is that coroutine's address. */
bool ai_break_site_hit(struct ai_target *target, const struct ai_break_site *site, uint64_t *env_ret);
/* The coroutine node at address in tree, or NULL. */
const struct ai_await_node *ai_break_node_at(const struct ai_await_node *tree, uint64_t address);
/* The task whose await tree holds the coroutine at env (one polled by thread tid first), or NULL. */
const struct ai_snapshot_task *ai_break_hit_task(const struct ai_snapshot *snapshot, uint64_t env, pid_t tid);
/* Writes the int3 of every site into the stopped target, at ai_break_site_address. */
struct ai_error *ai_break_insert_sites(struct ai_target *target, struct ai_debuginfo *di,
				       const struct ai_break_sites *sites);

struct ai_break_options {
	const struct ai_break_spec *specs;
	size_t spec_count;
	uint64_t break_count; /* hits before the breakpoints go (0: until the program ends) */
	bool json;            /* one JSON line per hit instead of text */
	bool color;
	bool locals;
	bool all_locals;      /* compiler-generated locals too (__awaitee, drop flags) */
	bool history;         /* --history: each record shows its task's transitions */
};

struct ai_break_result {
	uint64_t hits;
	bool exited;          /* the target ended while the breakpoints were in: see status */
	int status;
};

/* Inserts the breakpoints into a live target (stopped or running, launched or attached), prints
 * a record on stdout for each hit, and after break_count hits removes them and detaches; the
 * breakpoints are removed on every path out, errors included. */
struct ai_error *ai_break_run(struct ai_target *target, const struct ai_break_options *options,
			      struct ai_break_result *result);

/* The breakpoint session (session.c): the engine of ai_break_run (printer.c), also driven by the
 * TUI's loop. begin stops the target, resolves and inserts the breakpoints, and lets it run again;
 * on an error they are removed and the target is left stopped (the caller kills a launched one,
 * detaches an attached one). `capture` (borrowed, may be NULL: the session makes its own) takes
 * the hits' snapshots, with the options' locals. */
struct ai_break_session;
struct ai_capture;
struct ai_snapshot_frame;
struct ai_break_hit {
	uint64_t number;                     /* 1, 2, ...: the hits whose condition held */
	const struct ai_break_spec *spec;    /* borrowed from the options */
	const struct ai_break_site *site;    /* borrowed from the session */
	pid_t tid;                           /* the thread that hit it */
	const char *thread_name;             /* in snapshot ("" when unknown) */
	struct ai_snapshot *snapshot;        /* owned by the caller: taken all-stop at the hit */
	const struct ai_snapshot_task *task; /* in snapshot: the task at the hit, or NULL */
	uint64_t address;                    /* the coroutine (FILE:LINE, FN) or the task's header
					      * (spawn, complete) the site's register held */
	const struct ai_snapshot_frame *spawned_at; /* spawn: the program's frame that spawned it */
	bool last;                           /* the break_count-th hit: the breakpoints are out */
};
enum ai_break_event {
	AI_BREAK_EVENT_TIMEOUT, /* timeout_ms passed without a hit; the target runs */
	AI_BREAK_EVENT_HIT,     /* *hit_ret: the target is stopped, all threads, until
				 * ai_target_resume (which steps the hit thread over the int3) */
	AI_BREAK_EVENT_EXITED,  /* the program ended: *status_ret is its wait status */
};
struct ai_error *ai_break_session_begin(struct ai_target *target, struct ai_capture *capture,
					const struct ai_break_options *options, struct ai_break_session **ret);
/* Lets the target run for up to timeout_ms (-1: until a hit or its end). Hits whose condition
 * does not hold, and the arming of spawn sites, are handled inside and let the program go on.
 * Once the breakpoints are out (the last hit), it only runs the target. */
struct ai_error *ai_break_session_wait(struct ai_break_session *session, int timeout_ms,
				       enum ai_break_event *event_ret, struct ai_break_hit *hit_ret,
				       int *status_ret);
/* The first lines of a hit's text record (printer.c): "breakpoint N (SPEC) hit K: FN at
 * FILE:LINE, thread T "NAME"" (a spawn: where, on a second line), each ending in '\n'. */
void ai_break_hit_print_header(FILE *out, const struct ai_break_hit *hit);
/* --history: what the session saw (NULL without it). */
struct ai_break_history *ai_break_session_history(struct ai_break_session *session);
/* Whether the breakpoints are still in. */
bool ai_break_session_active(const struct ai_break_session *session);
/* Removes the breakpoints still in (stopping the target for it, and letting it run again if it
 * ran) and frees the session; a stopped target stays stopped. NULL is a no-op. */
void ai_break_session_end(struct ai_break_session *session);

/* --step TASK (step.c): stop the program each time that task's state machine changes state (or
 * the task completes), print the transition, and after `count` of them clear the watchpoint and
 * detach. The watch is a hardware watchpoint on the task's outermost coroutine's discriminant. */
struct ai_step_task {
	bool by_address;  /* 0x...: the task's address (runtimes without ids), else its id */
	uint64_t value;
};
/* Parses TASK: a decimal id or a 0x address; AI_ERROR_INVALID_ARGUMENT saying what is wrong. */
struct ai_error *ai_step_parse_task(const char *text, struct ai_step_task *ret);
/* The task of the snapshot that TASK names, or NULL. */
const struct ai_snapshot_task *ai_step_find_task(const struct ai_snapshot *snapshot, const struct ai_step_task *task);
/* Where a task stands for its user: the innermost coroutine of the program's own code on its
 * main await chain (first children); the innermost coroutine when none is the program's. */
const struct ai_await_node *ai_step_state_node(const struct ai_snapshot_task *task);

/* The stepper (stepper.c), shared by --step and the TUI's `n` key. */
struct ai_stepper;
struct ai_capture;
struct ai_async_options;
/* Starts stepping the task of `snapshot` (owned from now on; taken by capture with the target
 * stopped, as it still is): sets the watchpoint on the task's outermost coroutine's state.
 * Without the debug registers, int3s after the stores of that state stand in for it
 * (ai_stepper_fallback). Errors: no such task in the snapshot (AI_ERROR_NOT_FOUND), no coroutine
 * to watch, neither debug registers nor breakpoints that can be set. */
struct ai_error *ai_stepper_create(struct ai_target *target, struct ai_capture *capture,
				   const struct ai_async_options *async, const struct ai_step_task *task,
				   struct ai_snapshot *snapshot, struct ai_stepper **ret);
/* Why the stepper uses breakpoints after the stores of the state instead of a hardware watchpoint
 * (the debug registers cannot be written, or AI_STEP_NO_WATCHPOINTS is set); NULL when it uses a
 * watchpoint. Borrowed. */
const char *ai_stepper_fallback(const struct ai_stepper *stepper);
/* The snapshot of the task as last shown (the first one, then each transition's). */
const struct ai_snapshot *ai_stepper_snapshot(const struct ai_stepper *stepper);
struct ai_step_transition {
	const struct ai_snapshot *snapshot;    /* after (borrowed from the stepper) */
	const struct ai_snapshot_task *before; /* the task as last shown */
	const struct ai_snapshot_task *after;  /* in snapshot; NULL when the task is gone */
	const struct ai_await_node *left, *reached; /* ai_step_state_node of each (may be NULL) */
	bool completed;  /* its root returned or panicked, or it is gone: the last step (the watch is off) */
	pid_t thread;    /* the thread whose write it was; 0 when seen while stopping the world */
};
enum ai_step_event {
	AI_STEP_TIMEOUT,    /* timeout_ms passed with the task where it was; the target runs */
	AI_STEP_TRANSITION, /* *transition is valid until the next call; the target stays stopped */
	AI_STEP_EXITED,     /* the program ended (*status_ret, a wait status) */
};
/* Runs the target (resuming it if stopped) for up to timeout_ms (-1: forever) until the task
 * changes state. */
struct ai_error *ai_stepper_run(struct ai_stepper *stepper, int timeout_ms, enum ai_step_event *event_ret,
				struct ai_step_transition *transition, int *status_ret);
/* Calls fn for each saved local that differs between before and after, frame by frame while both
 * chains hold the same coroutines; before or after is NULL for a local that appeared or went. */
typedef void ai_step_change_fn(const struct ai_await_node *frame, const char *name, const char *before,
			       const char *after, void *arg);
void ai_step_for_each_change(const struct ai_step_transition *transition, ai_step_change_fn *fn, void *arg);
/* Clears the watchpoint (stopping the target for it, if it runs) and frees the stepper. */
void ai_stepper_destroy(struct ai_stepper *stepper);

struct ai_step_options {
	struct ai_step_task task;
	const char *task_text; /* as the user wrote it */
	uint64_t count;        /* transitions to show (1 or more) */
	bool wait;             /* the task may not exist yet (a launched program): sample until it does */
	bool json, color, locals, all_locals;
};
/* Runs the steps on a live target (stopped or running); result->hits counts the transitions
 * shown. On every path out, errors included, the watchpoint is cleared and the target detached
 * (unless it exited: result->exited, result->status). A task that is not there (attached), or
 * never appears (launched, wait), is an AI_ERROR_NOT_FOUND that lists the tasks there are. */
struct ai_error *ai_step_run(struct ai_target *target, const struct ai_step_options *options,
			     struct ai_break_result *result);

#endif
