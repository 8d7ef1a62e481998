/* `profile`: every task poll, wake and release of a running program, measured with uprobes on the
 * runtime's own functions (include/ai/runtime.h, ai_probe_point) without stopping it.
 *
 * uprobes.c: perf_event_open with the uprobe PMU, one event per probe and CPU, read from one
 * mmap'd ring buffer per CPU, events handed out in time order.
 * profile.c: the model built from those events: per task polls, busy, scheduled and idle time,
 * wakes, the longest poll; per thread totals; warnings. Tasks are named from snapshots.
 * report.c: the model as a table, JSON (docs/json-format.md) or folded stacks; flamegraph.c:
 * those stacks as an SVG flame graph; timeline.c: the polls as speedscope or Chrome trace JSON.
 * ptrace_sampler.c: CPU samples by stopping the program, where perf events are not allowed.
 * Every writer takes the profiles of several processes, measured over the same window. */
#ifndef AI_PROFILE_H
#define AI_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ai/error.h"
#include "ai/snapshot.h"

/* ---- uprobes.c ---- */

/* One function to probe: a uprobe on its first instruction, and with `ret` a uretprobe too. */
struct ai_uprobe_spec {
	const char *path; /* the ELF file (borrowed) */
	uint64_t offset;  /* the function's file offset in it */
	bool ret;
	unsigned arg;     /* the integer argument to record at entry (0: the first) */
};

/* A CPU sample of a thread (ai_uprobes_open_sampling): its user registers and a copy of its user
 * stack from sp up, as the kernel took them at the sample's time. */
#define AI_CPU_SAMPLE_REGS 24  /* by perf's x86-64 numbers: AX 0, BX 1, CX 2, DX 3, SI 4, DI 5, */
#define AI_CPU_SAMPLE_BP 6     /* BP 6, SP 7, IP 8, R8-R15 16-23 (asm/perf_regs.h) */
#define AI_CPU_SAMPLE_SP 7
#define AI_CPU_SAMPLE_IP 8
#define AI_CPU_SAMPLE_STACK 32768 /* bytes of user stack copied per sample, at most */
struct ai_cpu_sample {
	uint64_t regs[AI_CPU_SAMPLE_REGS];
	uint64_t stack_address; /* where stack[0] was: the stack pointer */
	uint8_t *stack;         /* owned */
	size_t stack_size;
};
void ai_cpu_sample_free(struct ai_cpu_sample *sample);

struct ai_uprobe_event {
	uint64_t time_ns; /* CLOCK_MONOTONIC */
	uint32_t tid;
	uint32_t probe;   /* index in the specs */
	bool ret;         /* the function returned (uretprobe); arg is then not meaningful */
	uint64_t arg;
	struct ai_cpu_sample *sample; /* a CPU sample, not a probe's event (probe, ret and arg are then
				       * not meaningful); owned by the ai_uprobes, freed by the next take */
};

struct ai_uprobes;

/* Whether this kernel has the uprobe PMU: NULL, or an error that says so in one line. Our rights
 * are checked by ai_uprobes_open, whose error then names perf_event_paranoid and the capability. */
struct ai_error *ai_uprobes_available(void);

/* Opens (disabled) one event per spec and CPU, for the events of process pid only. On error
 * everything opened is closed. */
struct ai_error *ai_uprobes_open(const struct ai_uprobe_spec *specs, size_t count, pid_t pid,
				 struct ai_uprobes **ret);
/* Adds CPU sampling at rate_hz (perf's cpu-clock, user mode only): an event per thread of the
 * process and CPU, inherited by the threads those create, writing into the probes' buffers, so
 * that its samples come out of ai_uprobes_take in time order with the probes' events. The error
 * says in one line how to get the right to sample (or to do without: --rate 0). */
struct ai_error *ai_uprobes_open_sampling(struct ai_uprobes *u, unsigned rate_hz);
/* CPU samples of the process read so far. */
uint64_t ai_uprobes_samples(const struct ai_uprobes *u);
struct ai_error *ai_uprobes_enable(struct ai_uprobes *u);
/* Stops every event writing (an ioctl each, no unregistering: quick); what they wrote before is
 * still read by ai_uprobes_poll. */
void ai_uprobes_disable(struct ai_uprobes *u);
/* Waits up to timeout_ms for events and reads every ring buffer (EINTR is no error). */
struct ai_error *ai_uprobes_poll(struct ai_uprobes *u, int timeout_ms);
/* The events read, in time order, that no later read can precede (older than the margin; all of
 * them with `all`): borrowed until the next call. */
#define AI_UPROBES_ORDER_MARGIN_NS 50000000 /* an event reaches its buffer well within this */
void ai_uprobes_take(struct ai_uprobes *u, bool all, const struct ai_uprobe_event **events_ret,
		     size_t *count_ret);
/* Events the kernel dropped because a ring buffer was full. */
uint64_t ai_uprobes_lost(const struct ai_uprobes *u);
/* How many perf events are open (probes x CPUs, twice for a return probe). */
size_t ai_uprobes_event_count(const struct ai_uprobes *u);
/* Closes every event: the kernel removes the probes with the last fd, one event at a time, each
 * after a grace period of its own (about 0.1 s each on an idle machine, longer under load). */
void ai_uprobes_close(struct ai_uprobes *u);

/* ---- profile.c ---- */

enum ai_profile_event_kind {
	AI_PROFILE_POLL_BEGIN,
	AI_PROFILE_POLL_END,
	AI_PROFILE_WAKE,
	AI_PROFILE_RELEASE,
};

/* CPU samples of one stack (its folded frames: samples.c), counted. */
struct ai_profile_stack {
	char *frames;   /* owned: "a;b;c", outermost first, ';' in no frame */
	uint64_t count;
	bool chain;     /* the task's await chain (from the snapshots) goes before the frames: the
			 * unwinding stopped before the runtime's poll function */
};

#define AI_PROFILE_LONG_POLL_NS 10000000ull /* a poll longer than this blocks its worker */
#define AI_PROFILE_HIST_BUCKETS (64 * 16)

struct ai_profile_task {
	uint64_t address;   /* the task's header */
	unsigned generation; /* 0 for the first task seen at this address, then 1, ... */
	/* From a snapshot (the end one while it lives, else the start one), or NULL / false. */
	bool has_id;
	uint64_t id;
	char *name;         /* owned */
	char *future;       /* owned: the root future (snapshot), else the poll function's T */
	char *location;     /* owned: "file:line" of the root future's suspend point, or NULL */
	char **chain;       /* owned: the await chain, root first (function or type of each node) */
	size_t chain_count;
	bool in_start, in_end; /* found in the start / end snapshot */
	bool released;      /* its memory was freed during the profile */
	/* Measures (ns; CLOCK_MONOTONIC) */
	uint64_t first_ns, released_ns;
	uint64_t polls, busy_ns, max_poll_ns, max_poll_at_ns, long_polls;
	uint64_t wakes, self_wakes, task_wakes; /* by itself while polled; by another task's poll */
	uint64_t scheduled_ns, scheduled_count, scheduled_max_ns;
	uint32_t *scheduled_hist; /* owned, AI_PROFILE_HIST_BUCKETS, or NULL before the first */
	/* Current state */
	uint64_t wake_pending_ns;  /* when it was woken and not polled since; 0: not */
	bool woken_while_polled;
	unsigned polling;          /* polls of it in progress (on some thread) */
	/* The first wake since its last poll began, for the timeline's wake-to-poll arrows; 0: none */
	uint64_t flow_wake_ns;
	uint32_t flow_wake_tid;
	size_t created;            /* its index before ai_profile_finish sorts the tasks */
	/* CPU samples taken while it was polled, by stack (in the order first seen) */
	struct ai_profile_stack *stacks;
	size_t stack_count, stack_capacity;
	uint64_t samples;
};

/* One poll, for the timelines (speedscope, perfetto). */
struct ai_profile_poll {
	size_t task;       /* index in tasks (after ai_profile_finish: of the sorted tasks) */
	uint32_t tid;
	uint32_t wake_tid; /* the thread of the wake that led to it, with wake_ns */
	uint64_t begin_ns, end_ns; /* end_ns 0: still running at the end (finish sets it) */
	uint64_t wake_ns;  /* that wake's time, or 0: no wake was seen (the first poll; a yield) */
};

struct ai_profile_thread {
	uint32_t tid;
	char *name; /* owned, from /proc, or NULL */
	uint64_t polls, busy_ns;
	/* polls in progress on it, innermost last */
	struct {
		size_t task;
		uint64_t begin_ns;
		bool closed; /* ended early: the task's next poll began on another thread */
		size_t poll; /* its index in the profile's poll list + 1, or 0: not kept */
	} stack[8];
	unsigned depth;
	unsigned overflow; /* begins past the stack's depth, not tracked */
	/* CPU samples taken while it polled no task, by stack */
	struct ai_profile_stack *stacks;
	size_t stack_count, stack_capacity;
	uint64_t samples;
};

struct ai_profile {
	pid_t pid;
	char *exe;          /* owned */
	char *command;      /* owned: /proc/PID/comm at the start, else the executable's base name */
	bool of_several;    /* one of several processes profiled together: labelled as such even when
			     * the others could not be profiled (ai_profile_labelled) */
	char *runtimes;     /* owned: the runtimes probed, "tokio" */
	size_t probe_count;
	uint64_t start_ns, end_ns; /* the window measured */
	struct ai_profile_task *tasks;
	size_t task_count, task_capacity;
	struct ai_profile_thread *threads;
	size_t thread_count, thread_capacity;
	uint64_t polls, wakes, releases, lost;
	uint64_t unmatched_ends; /* poll returns whose entry came before the profile */
	bool target_exited;
	/* CPU sampling: the rate asked for (0: none, the flame formats then weigh busy time), the
	 * samples counted, and those whose unwinding stopped early */
	unsigned sample_rate;
	uint64_t samples, samples_cut;
	/* Sampled by ptrace (ptrace_sampler.c: --sampler ptrace, or perf events refused): no probes,
	 * so polls, wakes, scheduled and idle time are unknown (JSON null, report "-"); a task's busy
	 * time is estimated at finish from its samples: the share of the rounds (stops of the whole
	 * process) that found a running thread polling it, times the window. Each round's pause. */
	bool ptrace_sampled;
	uint64_t ptrace_rounds;
	uint64_t pause_total_us, pause_max_us;
	char **warnings;
	size_t warning_count, warning_capacity;
	/* Every poll in time order, when poll_cap is set (by the caller after create): the first
	 * poll_cap of them; polls_dropped counts those past it. */
	struct ai_profile_poll *poll_list;
	size_t poll_count, poll_capacity, poll_cap;
	uint64_t polls_dropped;
	/* No scheduled-time histograms (4 KiB a task: p99 then reads 0), for a model kept for hours
	 * (ai_live_profile); set after create. */
	bool no_histograms;
	/* Private: the live task at each address (open addressing, indexes + 1). */
	uint64_t *map_keys;
	size_t *map_values;
	size_t map_capacity, map_used;
	size_t last_thread; /* the thread of the previous event */
};

struct ai_profile *ai_profile_create(pid_t pid, const char *exe, const char *runtimes,
				     size_t probe_count, uint64_t start_ns);
void ai_profile_destroy(struct ai_profile *profile);
/* Whether the probes measure this task: the runtime's task poll runs it (a block_on future is
 * polled by its thread, through no probed function). */
bool ai_profile_measures(const struct ai_snapshot_task *task);
/* Adds the tasks of the snapshot taken at the start: they are measured from start_ns on. */
void ai_profile_add_start(struct ai_profile *profile, const struct ai_snapshot *snapshot);
/* One event, in time order; future: the poll function's future type (POLL_BEGIN), or NULL. */
void ai_profile_event(struct ai_profile *profile, enum ai_profile_event_kind kind, uint64_t time_ns,
		      uint32_t tid, uint64_t task, const char *future);
/* Whether thread tid is polling a task now (at the last event fed). */
bool ai_profile_polling(struct ai_profile *profile, uint32_t tid);
/* One CPU sample of thread tid, in time order with the events: counted for the task it polls now,
 * else for the thread. frames (folded, samples.c) is taken. */
void ai_profile_sample(struct ai_profile *profile, uint64_t time_ns, uint32_t tid, char *frames, bool chain);
/* One ptrace sample of thread tid, polling the task at address (0: none): counted for that task
 * (made if it is new) or for the thread. frames is taken. */
void ai_profile_sample_task(struct ai_profile *profile, uint64_t time_ns, uint32_t tid, uint64_t address,
			    char *frames, bool chain);
/* Ends the window at end_ns (polls in progress count up to it), names the tasks from the end
 * snapshot (may be NULL: the target exited), reads thread names, sorts the tasks by busy time and
 * makes the warnings. */
void ai_profile_finish(struct ai_profile *profile, uint64_t end_ns, const struct ai_snapshot *end);
/* Scheduled-time percentile p (0..100) of a task, from its histogram (an upper bound within
 * 1/16 of the value); 0 without samples. */
uint64_t ai_profile_task_scheduled_percentile(const struct ai_profile_task *task, double p);
/* The task now at address (its index in tasks), or SIZE_MAX. */
size_t ai_profile_task_index(const struct ai_profile *profile, uint64_t address);
/* The task's busy time with its polls still running counted up to now_ns. */
uint64_t ai_profile_task_busy_until(const struct ai_profile *profile, size_t task, uint64_t now_ns);
/* Drops the tasks whose memory was freed (their measures go), so that a model fed for hours stays
 * the size of the tasks alive; indexes of the others change. */
void ai_profile_forget_released(struct ai_profile *profile);
/* Time the task was neither polled nor scheduled during its part of the window. */
uint64_t ai_profile_task_idle_ns(const struct ai_profile *profile, const struct ai_profile_task *task);

/* ---- samples.c ---- */

struct ai_debuginfo;
struct ai_probe_point;
struct ai_sample_folder;

/* Folds the samples of process pid: di (borrowed) symbolizes, points (only read here) say which
 * functions poll a task, runtimes ("tokio, async-task") whose crates' frames are folded into one
 * "[tokio scheduler]" unless runtime_frames. */
struct ai_sample_folder *ai_sample_folder_create(struct ai_debuginfo *di, pid_t pid,
						 const struct ai_probe_point *points, size_t count,
						 const char *runtimes, bool runtime_frames);
void ai_sample_folder_destroy(struct ai_sample_folder *folder);
/* A sample's folded frames (owned by the caller), outermost first: with `polling` (its thread
 * polls a task), the task's await chain as it runs and the frames inside the innermost async fn;
 * else every frame. *chain_ret: the task's snapshot chain is to go before them (see samples.c). */
char *ai_sample_folder_fold(struct ai_sample_folder *folder, const struct ai_cpu_sample *sample, uint32_t tid,
			    bool polling, bool *chain_ret);
/* The same for a stack already unwound and symbolized (a ptrace sample's, ptrace_sampler.c:
 * frames without a module are matched to the poll functions by name). */
struct ai_stack;
char *ai_sample_folder_fold_stack(struct ai_sample_folder *folder, const struct ai_stack *stack, bool polling,
				  bool *chain_ret);
/* Samples unwound, and those whose unwinding failed or stopped early. */
void ai_sample_folder_stats(const struct ai_sample_folder *folder, uint64_t *unwound_ret, uint64_t *failed_ret);

/* ---- ptrace_sampler.c ---- */

/* One round of ptrace sampling (perf events refused, or --sampler ptrace): target (kept, detached,
 * with its capture) is attached again, stopped for a snapshot of its threads and tasks, and let
 * go; each thread that was running is a sample of the task it polls (folded by folder), into
 * profile (ptrace_rounds, the pause). The error: it could not be attached or read (it exited). */
struct ai_capture;
struct ai_target;
struct ai_error *ai_ptrace_sample(struct ai_capture *capture, struct ai_target *target,
				  struct ai_sample_folder *folder, struct ai_profile *profile);

/* ---- feed.c ---- */

/* The wakes in progress that may nest (ai_probe_point.wake_nests), per thread; zeroed at first. */
struct ai_profile_nesting {
	struct {
		uint32_t tid;
		uint64_t task;
	} open[64];
	size_t count;
};
/* A batch of events (ai_uprobes_take) into the profile, in their order: points are the probes'
 * (the specs were made from them, index for index); CPU samples are folded by folder (NULL: they
 * are skipped); events after `until` are dropped (the window ended before them). */
void ai_profile_feed(struct ai_profile *profile, const struct ai_probe_point *points, struct ai_profile_nesting *nesting,
		     struct ai_sample_folder *folder, const struct ai_uprobe_event *events, size_t count, uint64_t until);

/* ---- live_profile.c ---- */

/* The live view's profile columns: the probes left in while the view runs (the target is never
 * stopped for them), read between samples. */
struct ai_capture;
struct ai_live;
struct ai_live_profile;
/* Opens and enables the probes of the runtimes the capture found (after its first dump) in
 * process pid. The error says why not in one line (perf events refused: the fix). */
struct ai_error *ai_live_profile_open(struct ai_capture *capture, pid_t pid, struct ai_live_profile **ret);
/* Reads the events buffered so far (often: the kernel's buffers are bounded; NULL: nothing). */
void ai_live_profile_read(struct ai_live_profile *lp);
/* Into the live model's newest tasks (ai_live_task.has_profile...): each task's polls per second,
 * busy share and mean scheduled time since the last apply (or since the probes or the task began). */
void ai_live_profile_apply(struct ai_live_profile *lp, struct ai_live *live);
/* Events the kernel dropped (full buffers), and the perf events open (the close's cost). */
uint64_t ai_live_profile_lost(const struct ai_live_profile *lp);
size_t ai_live_profile_event_count(const struct ai_live_profile *lp);
/* Removes the probes (one kernel grace period per perf event; NULL: nothing). */
void ai_live_profile_close(struct ai_live_profile *lp);
/* serve --profile: CPU sampling at rate_hz beside the probes, for the flamegraph (before the
 * first apply). NULL, or why not in one line (perf's sampling refused: the fix); the probes and
 * their columns stay either way. */
struct ai_error *ai_live_profile_sample(struct ai_live_profile *lp, struct ai_capture *capture, unsigned rate_hz);
/* The flamegraph document of the samples of the last AI_LIVE_FLAME_WINDOW_NS (docs/json-format.md,
 * "async-inspect-serve-flamegraph"); without sampling, one that says why not. */
void ai_live_profile_write_flame(FILE *out, const struct ai_live_profile *lp);
/* The same over several processes' profiles (profiles[k] NULL: none, why_not[k] says why), each
 * under a frame "pid PID (COMMAND)" (ai_live_flame_write_parts). */
void ai_live_profile_write_flames(FILE *out, const struct ai_live_profile *const *profiles, const char *const *why_not,
				  const int *pids, const char *const *commands, size_t count);

/* ---- live_flame.c ---- */

/* The live profile's CPU samples, by task and stack, over a sliding window: each apply takes the
 * stacks the model counted since the last (ai_live_flame_take), so the model holds none for long. */
#define AI_LIVE_FLAME_WINDOW_NS (30ull * 1000000000ull)
#define AI_LIVE_FLAME_MAX_ENTRIES 65536 /* distinct stacks of a task per sample, over the window */
struct ai_live_flame;
struct ai_live_flame *ai_live_flame_create(void);
void ai_live_flame_destroy(struct ai_live_flame *flame);
/* Moves every task's and thread's counted stacks out of model into the window ending at now_ns,
 * each task labelled from snapshot (may be NULL), and drops what is older than the window. */
void ai_live_flame_take(struct ai_live_flame *flame, struct ai_profile *model, const struct ai_snapshot *snapshot,
			uint64_t now_ns);
/* The window's stacks as one tree ("all", then each task's and thread's label, then its frames). */
void ai_live_flame_write(FILE *out, const struct ai_live_flame *flame, unsigned rate_hz);
/* The document without a tree: `available` false and the reason (how to get one). */
void ai_live_flame_write_unavailable(FILE *out, const char *reason);
/* Several processes: one tree, each process's stacks under its own frame (`label`, with its
 * pid), and `processes` saying which have samples and why the others have none. */
struct ai_live_flame_part {
	int pid;
	const char *label;                 /* "pid 123 (server)" */
	const struct ai_live_flame *flame; /* NULL: none, `reason` says why */
	const char *reason;
};
void ai_live_flame_write_parts(FILE *out, const struct ai_live_flame_part *parts, size_t count, unsigned rate_hz);

/* ---- stacks.c ---- */

/* One stack of the flame formats (folded, svg, speedscope's sampled profile). */
struct ai_flame_stack {
	char **frames;  /* owned, outermost first: "task 3 name" or "thread 1234 name", then the rest */
	size_t count;
	uint64_t weight; /* samples, or busy nanoseconds without sampling (ai_profile.sample_rate 0) */
};
/* The stacks: with sampling, each task's samples by stack (the task's label, its await chain as it
 * ran, the native frames), tasks in the profile's order, then each thread's samples outside any
 * poll; without, each busy task's await chain from the snapshots weighted by its busy time. */
size_t ai_profile_flame_stacks(const struct ai_profile *profile, struct ai_flame_stack **ret);
/* The stacks of several profiles, one list: when labelled, each under its process's frame
 * (ai_profile_process_frame), the processes in the order given. */
size_t ai_profile_flame_stacks_all(const struct ai_profile *const *profiles, size_t count,
				   struct ai_flame_stack **ret);
/* Whether the writers label each task with its process: several profiles, or one of several. */
bool ai_profile_labelled(const struct ai_profile *const *profiles, size_t count);
/* "pid N name", the root frame of a process's stacks (owned by the caller). */
char *ai_profile_process_frame(const struct ai_profile *profile);
void ai_profile_flame_stacks_free(struct ai_flame_stack *stacks, size_t count);
/* "samples" or "ns": the unit of the weights. */
bool ai_profile_weighs_samples(const struct ai_profile *profile);

/* ---- report.c ---- */

enum ai_profile_format {
	AI_PROFILE_REPORT, AI_PROFILE_JSON, AI_PROFILE_FOLDED, AI_PROFILE_SVG, AI_PROFILE_SPEEDSCOPE,
	AI_PROFILE_PERFETTO,
};

/* The polls kept for a timeline format, bounded: 40 bytes each, about 40 MB at the cap. */
#define AI_PROFILE_POLL_CAP 1000000u

/* ---- timeline.c ---- */

/* speedscope's file format: the tasks' await chains weighted by busy time (a sampled profile),
 * then one evented profile per thread, a frame per poll. */
void ai_profile_write_speedscope(FILE *out, const struct ai_profile *const *profiles, size_t count);
/* Chrome's trace-event JSON (Perfetto, chrome://tracing): a track per thread, a complete event
 * per poll, a flow arrow from each wake to the poll it led to. */
void ai_profile_write_perfetto(FILE *out, const struct ai_profile *const *profiles, size_t count);

/* The folded stacks as a flame graph: one self-contained SVG document. (flamegraph.c) */
void ai_profile_write_svg(FILE *out, const struct ai_profile *const *profiles, size_t count);

/* Writes the profiles of count processes measured over one window (one: today's documents; several,
 * or one of several: each task labelled with its process, see docs/json-format.md); returns 0, or
 * -1 if a write failed. */
int ai_profile_write(FILE *out, const struct ai_profile *const *profiles, size_t count,
		     enum ai_profile_format format);

#endif
