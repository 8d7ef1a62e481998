/* The interactive terminal UI (ncurses) over the live model. It sees snapshots and the model
 * only; what it may do to the target goes through a source (src/cli/cmd_attach.c provides one
 * over a live target, tests may provide their own). */
#ifndef AI_TUI_H
#define AI_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/error.h"
#include "ai/live.h"

/* What break_wait saw. At a hit the target is left stopped (all threads); `p` or `c` resumes it. */
struct ai_tui_break_hit {
	bool hit;
	bool exited;                  /* the program ended instead */
	bool active;                  /* breakpoints are still in (false after the last hit) */
	struct ai_snapshot *snapshot; /* a hit: the snapshot taken at it (owned by the caller) */
	long task;                    /* the hit task's index in snapshot->tasks, or -1 */
	char *summary;                /* a hit: which breakpoint, where, which thread; lines
				       * separated by '\n' (owned by the caller) */
};

struct ai_tui_source {
	/* Takes a snapshot and leaves the target running. */
	struct ai_error *(*sample)(void *arg, struct ai_snapshot **ret);
	/* Lets the target run for up to timeout_ms; sets *exited_ret when it has ended. */
	struct ai_error *(*run)(void *arg, int timeout_ms, bool *exited_ret);
	/* Stops (true) or resumes (false) the target for the `p` key. */
	struct ai_error *(*set_paused)(void *arg, bool paused);
	/* Optional: ms until the next sample is due (a replay: the recorded interval); NULL means
	 * interval_ms. */
	uint64_t (*next_delay_ms)(void *arg);
	void *arg;
	/* Optional (NULL: `n` says stepping is not offered here, e.g. a replay): stepping a task, the
	 * `n` key. step_begin starts on a task of the latest snapshot (borrowed); step_run lets the
	 * program run for up to timeout_ms: once the task has changed state (or completed) *done_ret
	 * is set, the target is left stopped, *snapshot_ret is a snapshot of that moment (owned by the
	 * caller) and *summary_ret the transition for people, lines separated by '\n' (owned);
	 * *exited_ret when the program ended instead. step_end stops stepping (the watch goes; a
	 * stopped target stays stopped). */
	struct ai_error *(*step_begin)(void *arg, const struct ai_snapshot_task *task);
	struct ai_error *(*step_run)(void *arg, int timeout_ms, bool *done_ret, bool *exited_ret,
				     struct ai_snapshot **snapshot_ret, char **summary_ret);
	void (*step_end)(void *arg);
	/* Several processes (ai_tui_run_set): takes a sample of every process still running into the
	 * set (ai_live_set_add), ending (ai_live_set_end) those that exited or cannot be read, and
	 * leaves them running; `sample` is not used then. run's *exited_ret: every one has ended. */
	void (*sample_set)(void *arg, struct ai_live_set *set);
	/* Optional (NULL: no breakpoints): the breakpoint mode (`run` / `attach --break` on a
	 * terminal). While breakpoints are in, the UI calls break_wait instead of run: it lets the
	 * target run for up to timeout_ms and fills *hit_ret (see struct ai_tui_break_hit). The
	 * headless mode does not wait for hits (its \<Ready> runs the target through run). */
	struct ai_error *(*break_wait)(void *arg, int timeout_ms, struct ai_tui_break_hit *hit_ret);
	/* Optional: adds what the source measures besides snapshots (the profile columns,
	 * `--profile`) to the newest tasks of live, right after each snapshot went in; a message for
	 * the footer (e.g. why there are no columns) goes into message. */
	void (*annotate)(void *arg, struct ai_live *live, char *message, size_t size);
};

struct ai_tui_options {
	uint64_t interval_ms;
	bool launched;        /* `run`: q asks whether to kill or detach */
	const char *output;   /* `run`: the file the program's stdout and stderr go to, for the `o`
			       * view (borrowed); NULL when its output is not captured */
	bool replay;          /* `replay`: the header says REPLAY and the recorded time; p pauses the
			       * playback */
	/* Headless mode (tests): "COLSxROWS", a virtual screen of that size drawn by ncurses with no
	 * terminal; keys come from `keys` (C escapes \n, \e, \\ understood, and \<Name> for Up, Down, Left,
	 * Right, PgUp, PgDn, Home, End, Enter, Esc, Bs, F1; \<Ready> lets the target run until the
	 * `output` file has a line starting with "ready", then takes a snapshot; \<Tick> lets it run one
	 * interval, then takes a snapshot) and the final screen is
	 * printed on stdout as text. One snapshot is taken first, and again at each `r`. */
	const char *headless;
	const char *keys;
};

enum ai_tui_end {
	AI_TUI_DETACH,  /* q: leave the target running */
	AI_TUI_KILL,    /* q then k (run only): kill it */
	AI_TUI_EXITED,  /* the target ended and the user quit */
};

/* Runs the UI until the user quits. `live` (borrowed) receives every snapshot. The terminal is
 * restored on every way out, signals and crashes included. */
struct ai_error *ai_tui_run(struct ai_live *live, const struct ai_tui_source *source,
			    const struct ai_tui_options *options, enum ai_tui_end *end_ret);
/* The same over several processes (source->sample_set): every task row says its process, the
 * header counts by process and says which have ended, `P` shows one process or all. */
struct ai_error *ai_tui_run_set(struct ai_live_set *set, const struct ai_tui_source *source,
				const struct ai_tui_options *options, enum ai_tui_end *end_ret);

#endif
