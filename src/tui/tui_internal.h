/* Shared between the TUI's screen manager (tui.c) and its views (views.c). */
#ifndef AI_TUI_INTERNAL_H
#define AI_TUI_INTERNAL_H

#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/live.h"
#include "ai/tui.h"

enum tui_view {
	TUI_VIEW_TASKS,
	TUI_VIEW_DETAILS,
	TUI_VIEW_TIMELINE,
	TUI_VIEW_GRAPH,
	TUI_VIEW_THREADS,
	TUI_VIEW_SOURCE,
	TUI_VIEW_OUTPUT,
	TUI_VIEW_HELP,
	TUI_VIEW_QUIT,
};

/* The orders of the task list (and timeline), cycled by `s`. */
/* busy and polls/s only while the tasks have profile columns (tui_profiled) */
enum tui_sort { TUI_SORT_ID, TUI_SORT_STATE, TUI_SORT_BLOCKED, TUI_SORT_AWAIT, TUI_SORT_FUTURE, TUI_SORT_BUSY,
		TUI_SORT_POLLS, TUI_SORT_COUNT };
extern const char *const tui_sort_names[TUI_SORT_COUNT];

struct tui {
	/* The model of each process: {the one live} of ai_tui_run, the members of ai_tui_run_set.
	 * A task is named by its global index: lives[0]'s tasks first, then lives[1]'s... */
	struct ai_live **lives;                /* owned array of borrowed models */
	size_t live_count;
	struct ai_live_set *set;               /* borrowed: several processes, or NULL */
	size_t process_filter;                 /* `P`: 0 all processes, p + 1 only lives[p] */
	const struct ai_tui_source *source;    /* borrowed */
	const struct ai_tui_options *options;  /* borrowed */
	enum tui_view view;
	enum tui_view details_back;  /* where Esc goes from the details: tasks, timeline or graph */
	size_t selected;  /* a global task index */
	size_t cursor;    /* details and graph: the line under the cursor */
	size_t scroll;    /* first line shown */
	/* The tasks shown, in order: global indexes of the tasks that pass the filters (owned). */
	size_t *order;
	size_t order_count;
	enum tui_sort sort;
	char filter[128];
	bool filtering;   /* `/` typed: keys go into the filter until Enter or Esc */
	/* The source view: the frame's file and line (a copy: snapshots go away). */
	char source_file[PATH_MAX];
	int source_line;
	bool paused, exited, quit;
	enum ai_tui_end end;
	uint64_t next_sample_us;
	char message[256];
	/* The last step (`n`) and its task (live identity), shown in that task's details. */
	char step_text[2048];
	bool step_block_on;
	uint64_t step_runtime, step_key;
	/* Breakpoint mode (break_mode.c): breakpoints are in, and the hits seen. */
	bool breaking;
	uint64_t break_hits;
};

struct tui_key {
	const char *keys;
	const char *help;
	void (*action)(struct tui *tui);
};
extern const struct tui_key tui_keys[]; /* ends with a NULL entry */

/* One line of a view, with what Enter on it opens. */
struct tui_line {
	char *text;                        /* owned */
	attr_t attr;
	long task;                         /* a global task index, or -1 */
	const struct ai_await_node *frame; /* a frame with a source line (borrowed), or NULL */
};

struct tui_lines {
	struct tui_line *items;
	size_t count, capacity;
};

void tui_lines_free(struct tui_lines *lines);
/* The content of the current view, a line per row (the header rows are not in it). */
void tui_view_lines(struct tui *tui, struct tui_lines *lines);
/* True for the views whose lines are a list the cursor moves over (the others scroll). */
bool tui_view_has_cursor(enum tui_view view);
/* Task list and timeline: the cursor follows the selected task. */
bool tui_view_follows_task(enum tui_view view);
/* Rows left for the view's lines. */
size_t tui_view_rows(const struct tui *tui);

/* Every process's tasks (the global indexes run from 0 to this). */
size_t tui_task_count(const struct tui *tui);
/* The process (an index into tui->lives) of global task g, and its index in that model. */
size_t tui_locate(const struct tui *tui, size_t g, size_t *index_ret);
/* The global index of task `index` of process p. */
size_t tui_global(const struct tui *tui, size_t p, size_t index);

/* Sorts and filters every process's tasks into tui->order. */
void tui_rebuild_order(struct tui *tui);

/* Task list columns: the await point's width; several processes: the PROCESS column's, after ID. */
#define LIST_AT_WIDTH 30
#define LIST_PROCESS_WIDTH 18
int tui_list_wait_width(const struct tui *tui);
/* Whether the task list has the profile columns (`--profile`, one process). */
bool tui_profiled(const struct tui *tui);
#define LIST_PROFILE_TITLE " POLLS/S  BUSY%   SCHED"
#define LIST_PROFILE_WIDTH 24
int tui_timeline_width(const struct tui *tui);
/* Rows [from, to) of tui->order as the task list and the timeline show them. */
void tui_task_list_lines(struct tui *tui, struct tui_lines *l, size_t from, size_t to);
void tui_timeline_lines(struct tui *tui, struct tui_lines *l, size_t from, size_t to);
/* A line of text clipped to the screen width (and blank-filled, so that it overwrites). */
void tui_put_line(int y, attr_t attr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void tui_colors_init(void);
/* Draws the whole screen for the current view. */
void tui_draw(struct tui *tui);
/* "850ms", "2.3s", "1m05s", "2h03m" */
void tui_format_duration(int64_t ms, char *buf, size_t size);

/* tui.c's model updates, for the modes of their own files. */
void tui_add_snapshot(struct tui *tui, struct ai_snapshot *snapshot);
/* Opens the selected task's details (Esc goes back to the task list). */
void tui_open_details(struct tui *tui);

/* Breakpoint mode (break_mode.c). Whether the loop waits for hits (break_wait) instead of run. */
bool tui_break_active(const struct tui *tui);
/* Lets the program run up to timeout_ms; at a hit, shows it (the program stays stopped). */
struct ai_error *tui_break_poll(struct tui *tui, int timeout_ms, bool *redraw_ret);
/* c: resumes a program stopped at a hit or a step. */
void tui_act_continue(struct tui *tui);

#endif
