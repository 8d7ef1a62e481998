/* The ncurses TUI: a screen manager (layout, main loop, terminal setup and restore) with a
 * key-to-action table, over views that draw the live model (src/tui/views.c). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/tui.h"
#include "ai/util.h"
#include "tui_internal.h"

/* ---- Terminal setup and restore on every exit path ---- */

static volatile sig_atomic_t curses_active;
static volatile sig_atomic_t quit_requested;
static struct sigaction previous_crash[NSIG];
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
static const int quit_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void restore_terminal(void)
{
	if (curses_active) {
		curses_active = 0;
		endwin();
	}
}

static void on_crash(int sig)
{
	restore_terminal(); /* not async-signal-safe, as in htop: the terminal matters more here */
	sigaction(sig, &previous_crash[sig], NULL); /* e.g. the target module's: detach, then die */
	raise(sig);
}

static void on_quit_signal(int sig)
{
	quit_requested = 1;
}

static void install_handlers(bool launched)
{
	static bool installed;
	if (!installed) {
		atexit(restore_terminal);
		for (size_t i = 0; i < AI_ARRAY_SIZE(crash_signals); i++) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_crash;
			sigemptyset(&sa.sa_mask);
			sigaction(crash_signals[i], &sa, &previous_crash[crash_signals[i]]);
		}
		installed = true;
	}
	/* `run` forwards these to the program it runs; `attach` quits (and detaches) on them. */
	if (!launched) {
		for (size_t i = 0; i < AI_ARRAY_SIZE(quit_signals); i++) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_quit_signal;
			sigemptyset(&sa.sa_mask);
			sigaction(quit_signals[i], &sa, NULL);
		}
	}
}

/* ---- Sampling ---- */

size_t tui_task_count(const struct tui *tui)
{
	size_t n = 0;
	for (size_t p = 0; p < tui->live_count; p++)
		n += tui->lives[p]->task_count;
	return n;
}

size_t tui_locate(const struct tui *tui, size_t g, size_t *index_ret)
{
	for (size_t p = 0; p < tui->live_count; p++) {
		if (g < tui->lives[p]->task_count) {
			*index_ret = g;
			return p;
		}
		g -= tui->lives[p]->task_count;
	}
	*index_ret = g; /* past the end: callers check against tui_task_count */
	return tui->live_count ? tui->live_count - 1 : 0;
}

size_t tui_global(const struct tui *tui, size_t p, size_t index)
{
	for (size_t q = 0; q < p && q < tui->live_count; q++)
		index += tui->lives[q]->task_count;
	return index;
}

/* Several processes: a message for each one that ended since the last sample; the view ends
 * only with the last. */
static void note_ends(struct tui *tui, const bool *was_ended)
{
	for (size_t p = 0; p < tui->set->count; p++) {
		const struct ai_live_member *m = &tui->set->members[p];
		if (m->ended && !was_ended[p])
			snprintf(tui->message, sizeof(tui->message), "pid %d (%.63s) has ended (%.100s); %s", (int)m->pid,
				 m->command, m->end_reason,
				 ai_live_set_running(tui->set) ? "the others go on" : "every process has ended (q quits)");
	}
	if (!ai_live_set_running(tui->set))
		tui->exited = true;
}

static void sample_set(struct tui *tui)
{
	bool *ended = xcalloc(tui->set->count ? tui->set->count : 1, sizeof(*ended));
	for (size_t p = 0; p < tui->set->count; p++)
		ended[p] = tui->set->members[p].ended;
	tui->source->sample_set(tui->source->arg, tui->set);
	tui->next_sample_us = ai_now_us() + tui->options->interval_ms * 1000;
	note_ends(tui, ended);
	free(ended);
}

/* The selected task, to find it again in the next sample. */
struct selection {
	bool had;
	size_t process;
	struct ai_live_task task;
};

static struct selection remember_selection(const struct tui *tui)
{
	struct selection sel = { .had = tui->selected < tui_task_count(tui) };
	size_t index;
	if (sel.had) {
		sel.process = tui_locate(tui, tui->selected, &index);
		sel.task = tui->lives[sel.process]->tasks[index];
	}
	return sel;
}

static void restore_selection(struct tui *tui, const struct selection *sel)
{
	if (sel->had) {
		const struct ai_live *live = tui->lives[sel->process];
		for (size_t i = 0; i < live->task_count; i++) {
			const struct ai_live_task *t = &live->tasks[i];
			if (t->block_on == sel->task.block_on && t->runtime_address == sel->task.runtime_address &&
			    t->thread == sel->task.thread && t->key == sel->task.key) {
				tui->selected = tui_global(tui, sel->process, i);
				break;
			}
		}
	}
	size_t count = tui_task_count(tui);
	if (tui->selected >= count)
		tui->selected = count ? count - 1 : 0;
	tui_rebuild_order(tui);
}

/* Adds a snapshot of the one process to its model, keeping the selection on the same task. */
static void add_snapshot(struct tui *tui, struct ai_snapshot *snapshot)
{
	struct selection sel = remember_selection(tui);
	ai_live_add(tui->lives[0], snapshot);
	ai_live_read_process(tui->lives[0], snapshot->pid);
	if (tui->source->annotate) {
		char message[sizeof(tui->message)] = "";
		tui->source->annotate(tui->source->arg, tui->lives[0], message, sizeof(message));
		if (message[0])
			snprintf(tui->message, sizeof(tui->message), "%s", message);
	}
	restore_selection(tui, &sel);
}

void tui_add_snapshot(struct tui *tui, struct ai_snapshot *snapshot)
{
	add_snapshot(tui, snapshot);
}

static void take_sample(struct tui *tui)
{
	if (tui->set) {
		struct selection sel = remember_selection(tui);
		sample_set(tui);
		restore_selection(tui, &sel);
		return;
	}
	struct ai_snapshot *snapshot;
	struct ai_error *err = tui->source->sample(tui->source->arg, &snapshot);
	uint64_t delay_ms = tui->source->next_delay_ms ? tui->source->next_delay_ms(tui->source->arg)
						       : tui->options->interval_ms;
	tui->next_sample_us = ai_now_us() + delay_ms * 1000;
	if (err) {
		snprintf(tui->message, sizeof(tui->message), "%s%s", tui->options->replay ? "" : "snapshot failed: ",
			 err->message);
		if (err->code == AI_ERROR_TARGET_EXITED)
			tui->exited = true;
		ai_error_destroy(err);
		return;
	}
	add_snapshot(tui, snapshot);
}

/* ---- Actions and the key table ---- */

static void open_view(struct tui *tui, enum tui_view view)
{
	tui->view = view;
	tui->scroll = 0;
	tui->cursor = 0;
}

static void move_selection(struct tui *tui, long delta)
{
	if (tui_view_follows_task(tui->view)) {
		size_t pos = 0;
		for (size_t k = 0; k < tui->order_count; k++) {
			if (tui->order[k] == tui->selected)
				pos = k;
		}
		long p = (long)pos + delta;
		if (p >= (long)tui->order_count)
			p = (long)tui->order_count - 1;
		if (p < 0)
			p = 0;
		if (tui->order_count)
			tui->selected = tui->order[p];
		return;
	}
	if (tui_view_has_cursor(tui->view)) {
		long c = (long)tui->cursor + delta;
		tui->cursor = c < 0 ? 0 : (size_t)c; /* drawing clamps it to the last line */
		return;
	}
	long scroll = (long)tui->scroll + delta;
	tui->scroll = scroll < 0 ? 0 : (size_t)scroll;
}

#define PAGE ((long)tui_view_rows(tui))
#define ALL (LONG_MAX / 4)

static void act_down(struct tui *tui) { move_selection(tui, 1); }
static void act_up(struct tui *tui) { move_selection(tui, -1); }
static void act_page_down(struct tui *tui) { move_selection(tui, PAGE); }
static void act_page_up(struct tui *tui) { move_selection(tui, -PAGE); }
static void act_home(struct tui *tui) { move_selection(tui, -ALL); }
static void act_end(struct tui *tui) { move_selection(tui, ALL); }

/* The first line of the view that opens something: a frame with a source line, or a task. */
static size_t first_target_line(struct tui *tui)
{
	struct tui_lines l = { 0 };
	tui_view_lines(tui, &l);
	size_t first = 0;
	for (size_t i = 0; i < l.count; i++) {
		if (l.items[i].frame || l.items[i].task >= 0) {
			first = i;
			break;
		}
	}
	tui_lines_free(&l);
	return first;
}

static void open_details(struct tui *tui, enum tui_view back)
{
	tui->details_back = back;
	open_view(tui, TUI_VIEW_DETAILS);
	tui->cursor = first_target_line(tui);
}

void tui_open_details(struct tui *tui)
{
	open_details(tui, TUI_VIEW_TASKS);
}

static void open_source(struct tui *tui, const struct ai_await_node *frame)
{
	snprintf(tui->source_file, sizeof(tui->source_file), "%s", frame->file);
	tui->source_line = frame->line;
	open_view(tui, TUI_VIEW_SOURCE);
	long top = (long)frame->line - 1 - (long)tui_view_rows(tui) / 2;
	tui->scroll = top > 0 ? (size_t)top : 0;
}

static void act_enter(struct tui *tui)
{
	if (tui_view_follows_task(tui->view)) {
		if (tui->order_count)
			open_details(tui, tui->view == TUI_VIEW_QUIT ? TUI_VIEW_TASKS : tui->view);
		return;
	}
	if (tui->view != TUI_VIEW_DETAILS && tui->view != TUI_VIEW_GRAPH)
		return;
	struct tui_lines l = { 0 };
	tui_view_lines(tui, &l);
	const struct tui_line *line = tui->cursor < l.count ? &l.items[tui->cursor] : NULL;
	if (tui->view == TUI_VIEW_DETAILS && line && line->frame)
		open_source(tui, line->frame);
	else if (tui->view == TUI_VIEW_GRAPH && line && line->task >= 0) {
		tui->selected = (size_t)line->task;
		open_details(tui, TUI_VIEW_GRAPH);
	} else {
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui->view == TUI_VIEW_DETAILS ? "Enter on a frame line (one with file:line) shows its source"
						       : "Enter on a task line shows its details");
	}
	tui_lines_free(&l);
}

static void act_back(struct tui *tui)
{
	if (tui->view == TUI_VIEW_SOURCE) {
		open_view(tui, TUI_VIEW_DETAILS);
		tui->cursor = first_target_line(tui);
	} else if (tui->view == TUI_VIEW_DETAILS) {
		open_view(tui, tui->details_back);
	} else if (tui->view == TUI_VIEW_TASKS && tui->filter[0]) {
		tui->filter[0] = '\0';
		tui_rebuild_order(tui);
	} else {
		open_view(tui, TUI_VIEW_TASKS);
	}
}

static void toggle_view(struct tui *tui, enum tui_view view)
{
	open_view(tui, tui->view == view ? TUI_VIEW_TASKS : view);
}

static void act_help(struct tui *tui) { toggle_view(tui, TUI_VIEW_HELP); }
static void act_timeline(struct tui *tui) { toggle_view(tui, TUI_VIEW_TIMELINE); }
static void act_graph(struct tui *tui)
{
	toggle_view(tui, TUI_VIEW_GRAPH);
	if (tui->view == TUI_VIEW_GRAPH)
		tui->cursor = first_target_line(tui);
}
static void act_threads(struct tui *tui) { toggle_view(tui, TUI_VIEW_THREADS); }

static void act_output(struct tui *tui)
{
	toggle_view(tui, TUI_VIEW_OUTPUT);
	if (tui->view == TUI_VIEW_OUTPUT)
		tui->scroll = (size_t)ALL; /* the tail: drawing clamps it to the last page */
}

static void act_sort(struct tui *tui)
{
	tui->sort = (tui->sort + 1) % TUI_SORT_COUNT;
	if (tui->sort >= TUI_SORT_BUSY && !tui_profiled(tui))
		tui->sort = TUI_SORT_ID;
	tui_rebuild_order(tui);
	snprintf(tui->message, sizeof(tui->message), "sorted by %s", tui_sort_names[tui->sort]);
}

static void act_filter(struct tui *tui)
{
	if (!tui_view_follows_task(tui->view))
		open_view(tui, TUI_VIEW_TASKS);
	tui->filtering = true;
	tui->filter[0] = '\0';
	tui_rebuild_order(tui);
}

/* `P`: all processes, then each in turn, then all again. */
static void act_process(struct tui *tui)
{
	if (tui->live_count < 2) {
		snprintf(tui->message, sizeof(tui->message), "one process is watched (P is for attach --pid A --pid B)");
		return;
	}
	tui->process_filter = (tui->process_filter + 1) % (tui->live_count + 1);
	if (!tui_view_follows_task(tui->view) && tui->view != TUI_VIEW_GRAPH && tui->view != TUI_VIEW_THREADS)
		open_view(tui, TUI_VIEW_TASKS);
	tui_rebuild_order(tui);
	if (!tui->process_filter)
		snprintf(tui->message, sizeof(tui->message), "showing every process");
	else {
		const struct ai_live_member *m = &tui->set->members[tui->process_filter - 1];
		snprintf(tui->message, sizeof(tui->message), "showing pid %d (%s) only (P: the next)", (int)m->pid,
			 m->command);
	}
}

static void act_refresh(struct tui *tui)
{
	if (tui->exited) {
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui->options->replay ? "end of the recording" : "the program has exited");
		return;
	}
	if (tui->paused)
		tui->source->set_paused(tui->source->arg, false); /* sample() stops it itself */
	take_sample(tui);
	if (tui->paused) {
		struct ai_error *err = tui->source->set_paused(tui->source->arg, true);
		if (err)
			ai_error_destroy(err);
	}
}

static void act_pause(struct tui *tui)
{
	if (tui->exited)
		return;
	struct ai_error *err = tui->source->set_paused(tui->source->arg, !tui->paused);
	if (err) {
		snprintf(tui->message, sizeof(tui->message), "%s", err->message);
		ai_error_destroy(err);
		return;
	}
	tui->paused = !tui->paused;
	if (tui->options->replay)
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui->paused ? "playback paused (p resumes it)" : "playback resumed");
	else
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui->paused ? "target paused (p resumes it)" : "target resumed");
}

/* How long `n` waits for the task in headless mode (no key can stop it there). */
#define HEADLESS_STEP_US (60 * 1000000ULL)

/* n: runs the program until the selected task changes state; the program then stays paused, on
 * the task's details with the step at their top. Esc stops waiting. */
static void act_step(struct tui *tui)
{
	const struct ai_tui_source *src = tui->source;
	const struct ai_live *live = tui->lives[0];
	const struct ai_snapshot *s = ai_live_snapshot(live, 0);
	if (!src->step_begin) {
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui->set ? "stepping a task needs one process (attach --pid N)" : "stepping a task needs a live program");
		return;
	}
	if (tui->exited || !s || tui->selected >= s->task_count || !tui->order_count) {
		snprintf(tui->message, sizeof(tui->message), "%s", tui->exited ? "the program has exited" : "no task to step");
		return;
	}
	const struct ai_live_task lt = live->tasks[tui->selected];
	struct ai_error *err = src->step_begin(src->arg, &s->tasks[tui->selected]);
	if (err) {
		snprintf(tui->message, sizeof(tui->message), "cannot step: %s", err->message);
		ai_error_destroy(err);
		return;
	}
	if (tui->view != TUI_VIEW_DETAILS)
		open_details(tui, tui_view_follows_task(tui->view) ? tui->view : TUI_VIEW_TASKS);
	bool done = false, exited = false, cancelled = false;
	struct ai_snapshot *after = NULL;
	char *summary = NULL;
	uint64_t deadline = ai_now_us() + HEADLESS_STEP_US;
	snprintf(tui->message, sizeof(tui->message), "stepping: running until the task changes state (Esc stops waiting)");
	if (!tui->options->headless)
		tui_draw(tui);
	if (!tui->options->headless)
		timeout(0);
	while (!done && !exited && !err) {
		/* Esc stops waiting; headless, no key can: a deadline does. */
		cancelled = tui->options->headless ? ai_now_us() >= deadline : getch() == 27;
		if (cancelled)
			break;
		err = src->step_run(src->arg, 50, &done, &exited, &after, &summary);
	}
	src->step_end(src->arg);
	tui->paused = done; /* the source left it stopped at the step */
	if (err) {
		snprintf(tui->message, sizeof(tui->message), "step failed: %s", err->message);
		ai_error_destroy(err);
	} else if (exited) {
		tui->exited = true;
		snprintf(tui->message, sizeof(tui->message), "the program has exited (q quits)");
	} else if (cancelled) {
		snprintf(tui->message, sizeof(tui->message), "step stopped: the task has not changed state");
	} else if (done) {
		snprintf(tui->step_text, sizeof(tui->step_text), "%s", summary ? summary : "");
		tui->step_block_on = lt.block_on;
		tui->step_runtime = lt.runtime_address;
		tui->step_key = lt.key;
		add_snapshot(tui, after);
		snprintf(tui->message, sizeof(tui->message), "stepped: program paused (n steps again, p resumes)");
	}
	free(summary);
}

static void act_quit(struct tui *tui)
{
	if (tui_break_active(tui)) {
		/* Breakpoint mode: q detaches at once (the int3s go), from any view. */
		tui->quit = true;
		tui->end = AI_TUI_DETACH;
		return;
	}
	if (tui->view != TUI_VIEW_TASKS && tui->view != TUI_VIEW_QUIT) {
		act_back(tui);
		return;
	}
	if (tui->options->launched && !tui->exited) {
		tui->view = TUI_VIEW_QUIT;
		return;
	}
	tui->quit = true;
	tui->end = tui->exited ? AI_TUI_EXITED : AI_TUI_DETACH;
}

const struct tui_key tui_keys[] = {
	{ "j Down", "next task; in details and graph the next line; elsewhere scroll", act_down },
	{ "k Up", "previous task or line", act_up },
	{ "PgDn Space", "a page down", act_page_down },
	{ "PgUp", "a page up", act_page_up },
	{ "Home", "first task or line", act_home },
	{ "End G", "last task or line", act_end },
	{ "Enter d Right", "details of the task (await tree, progress, locals, wait); on a frame of the "
			   "details: its source; on a task of the graph: its details", act_enter },
	{ "Esc Left h", "back (the task list: clears the filter)", act_back },
	{ "s", "sort by the next key: id, state, blocked-for, await point, future (with --profile: busy, polls/s)",
	  act_sort },
	{ "/", "filter: tasks whose function, await point or wait contains the text (Enter keeps it, Esc clears)", act_filter },
	{ "t", "timeline: each task's state in every sample kept", act_timeline },
	{ "g", "wait-for graph: deadlock cycles and who waits for whom", act_graph },
	{ "T", "threads: native stacks, and the task each worker is polling", act_threads },
	{ "o", "output of the program (run: its stdout and stderr go to a file)", act_output },
	{ "P", "several processes: show the next one only, then the next... then all again", act_process },
	{ "r", "take a snapshot now", act_refresh },
	{ "p", "pause / resume the program", act_pause },
	{ "n", "step the task: run until its state machine changes state, then show the await it left, the "
	       "one it reached and the locals that changed, the program paused (Esc stops waiting)", act_step },
	{ "c", "continue: resume the program stopped at a breakpoint hit or a step (breakpoint mode: until "
	       "the next hit)", tui_act_continue },
	{ "? F1", "this help", act_help },
	{ "q", "quit (attach: detach, the program goes on; run: asks; with breakpoints in: detach at once); "
	       "in a view: back", act_quit },
	{ NULL, NULL, NULL },
};

static void (*action_for(int key))(struct tui *)
{
	switch (key) {
	case 'j': case KEY_DOWN: return act_down;
	case 'k': case KEY_UP: return act_up;
	case KEY_NPAGE: case ' ': return act_page_down;
	case KEY_PPAGE: return act_page_up;
	case KEY_HOME: return act_home;
	case 'G': case KEY_END: return act_end;
	case '\n': case '\r': case KEY_ENTER: case 'd': case KEY_RIGHT: return act_enter;
	case 27: case KEY_LEFT: case KEY_BACKSPACE: case 'h': return act_back;
	case 's': return act_sort;
	case '/': return act_filter;
	case 't': return act_timeline;
	case 'g': return act_graph;
	case 'T': return act_threads;
	case 'o': return act_output;
	case 'P': return act_process;
	case 'r': return act_refresh;
	case 'p': return act_pause;
	case 'n': return act_step;
	case 'c': return tui_act_continue;
	case '?': case KEY_F(1): return act_help;
	case 'q': case 3 /* Ctrl-C in raw mode */: return act_quit;
	default: return NULL;
	}
}

/* A key while the filter is typed. */
static void filter_key(struct tui *tui, int key)
{
	size_t len = strlen(tui->filter);
	if (key == 27) {
		tui->filter[0] = '\0';
		tui->filtering = false;
	} else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		tui->filtering = false;
	} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		if (len)
			tui->filter[len - 1] = '\0';
	} else if (key >= 32 && key < 127 && len + 1 < sizeof(tui->filter)) {
		tui->filter[len] = (char)key;
		tui->filter[len + 1] = '\0';
	} else {
		return;
	}
	tui_rebuild_order(tui);
}

static void handle_key(struct tui *tui, int key)
{
	tui->message[0] = '\0';
	if (key == KEY_RESIZE)
		return;
	if (tui->filtering) {
		filter_key(tui, key);
		return;
	}
	if (tui->view == TUI_VIEW_QUIT) {
		if (key == 'k' || key == 'd') {
			tui->quit = true;
			tui->end = key == 'k' ? AI_TUI_KILL : AI_TUI_DETACH;
		} else {
			tui->view = TUI_VIEW_TASKS;
		}
		return;
	}
	void (*action)(struct tui *) = action_for(key);
	if (action)
		action(tui);
}

/* ---- The loops ---- */

/* Headless only: lets the target run until its output file has a line starting with "ready" (what
 * the fixtures print once in the state under test), then takes a snapshot. */
#define KEY_READY (KEY_MAX + 1)
#define KEY_TICK (KEY_MAX + 2)

static void wait_for_ready(struct tui *tui)
{
	const char *path = tui->options->output;
	uint64_t deadline = ai_now_us() + 60 * 1000000ULL;
	bool ready = false;
	while (path && !ready && !tui->exited && ai_now_us() < deadline) {
		char *text = ai_read_small_file(path, NULL);
		ready = text && (strncmp(text, "ready", 5) == 0 || strstr(text, "\nready"));
		free(text);
		bool exited = false;
		struct ai_error *err = ready ? NULL : tui->source->run(tui->source->arg, 50, &exited);
		if (err) {
			snprintf(tui->message, sizeof(tui->message), "%s", err->message);
			ai_error_destroy(err);
			return;
		}
		tui->exited = exited;
	}
	if (!ready)
		snprintf(tui->message, sizeof(tui->message), "no ready line in the output");
	else
		take_sample(tui);
}

/* \<Tick>: what the live loop does in one interval: the target runs for interval_ms (in the
 * loop's 50 ms slices), then a snapshot. */
static void run_one_interval(struct tui *tui)
{
	uint64_t end = ai_now_us() + tui->options->interval_ms * 1000;
	while (!tui->exited && ai_now_us() < end) {
		bool exited = false;
		struct ai_error *err = tui->source->run(tui->source->arg, 50, &exited);
		if (err) {
			snprintf(tui->message, sizeof(tui->message), "%s", err->message);
			ai_error_destroy(err);
			return;
		}
		tui->exited = exited;
	}
	take_sample(tui);
}

/* "jj\nq" with C escapes -> keys; \<Name> for a named key (\<Home>, \<PgDn>...). */
static size_t parse_keys(const char *script, int *keys, size_t max)
{
	static const struct {
		const char *name;
		int key;
	} named[] = {
		{ "Up", KEY_UP },       { "Down", KEY_DOWN },   { "Left", KEY_LEFT },   { "Right", KEY_RIGHT },
		{ "PgUp", KEY_PPAGE },  { "PgDn", KEY_NPAGE },  { "Home", KEY_HOME },   { "End", KEY_END },
		{ "Enter", KEY_ENTER }, { "Esc", 27 },          { "Bs", KEY_BACKSPACE }, { "F1", KEY_F(1) },
		{ "Ready", KEY_READY }, { "Tick", KEY_TICK },
	};
	size_t n = 0;
	for (const char *p = script; *p && n < max; p++) {
		int key = (unsigned char)*p;
		if (*p == '\\' && p[1] == '<' && strchr(p, '>')) {
			const char *name = p + 2, *end = strchr(p, '>');
			key = -1;
			for (size_t i = 0; i < AI_ARRAY_SIZE(named); i++) {
				if (strlen(named[i].name) == (size_t)(end - name) &&
				    strncmp(named[i].name, name, (size_t)(end - name)) == 0)
					key = named[i].key;
			}
			p = end;
			if (key < 0)
				continue;
		} else if (*p == '\\' && p[1]) {
			p++;
			key = *p == 'n' ? '\n' : *p == 'e' ? 27 : *p == 't' ? '\t' : (unsigned char)*p;
		}
		keys[n++] = key;
	}
	return n;
}

static struct ai_error *run_headless(struct tui *tui)
{
	int cols, rows;
	if (sscanf(tui->options->headless, "%dx%d", &cols, &rows) != 2 || cols < 20 || rows < 5 ||
	    cols > 1000 || rows > 1000)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "invalid headless size '%s' (COLSxROWS)",
				       tui->options->headless);
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	if (!out || !in) {
		if (out)
			fclose(out);
		if (in)
			fclose(in);
		return ai_error_from_errno(errno, "/dev/null");
	}
	char c[16], r[16];
	snprintf(c, sizeof(c), "%d", cols);
	snprintf(r, sizeof(r), "%d", rows);
	setenv("COLUMNS", c, 1);
	setenv("LINES", r, 1);
	SCREEN *screen = newterm("xterm", out, in);
	if (!screen) {
		fclose(out);
		fclose(in);
		return ai_error_create(AI_ERROR_OTHER, "cannot start ncurses (no terminfo for xterm?)");
	}
	curses_active = 1;
	tui_colors_init();
	take_sample(tui);
	int keys[4096];
	size_t count = parse_keys(tui->options->keys ? tui->options->keys : "", keys, AI_ARRAY_SIZE(keys));
	tui_draw(tui);
	for (size_t i = 0; i < count && !tui->quit; i++) {
		if (keys[i] == KEY_READY)
			wait_for_ready(tui);
		else if (keys[i] == KEY_TICK)
			run_one_interval(tui);
		else
			handle_key(tui, keys[i]);
		tui_draw(tui);
	}
	/* The virtual screen as text, trailing blanks trimmed. */
	char *line = xmalloc((size_t)cols * 4 + 1);
	for (int y = 0; y < rows; y++) {
		int n = mvinnstr(y, 0, line, cols);
		if (n < 0)
			n = 0;
		line[n] = '\0';
		while (n > 0 && line[n - 1] == ' ')
			line[--n] = '\0';
		printf("%s\n", line);
	}
	free(line);
	curses_active = 0;
	endwin();
	delscreen(screen);
	fclose(out);
	fclose(in);
	if (!tui->quit)
		tui->end = AI_TUI_DETACH;
	return NULL;
}

static struct ai_error *run_terminal(struct tui *tui)
{
	if (!initscr())
		return ai_error_create(AI_ERROR_OTHER, "cannot start ncurses");
	curses_active = 1;
	raw();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	tui_colors_init();
	take_sample(tui);
	struct ai_error *err = NULL;
	/* Drawn again only after a sample, a key or the program's end: building the lines of
	 * 20000 tasks every 50ms would cost more than the sampling. */
	bool redraw = true;
	while (!tui->quit) {
		if (quit_requested) {
			tui->quit = true;
			tui->end = tui->exited ? AI_TUI_EXITED : AI_TUI_DETACH;
			break;
		}
		if (!tui->paused && !tui->exited && ai_now_us() >= tui->next_sample_us) {
			take_sample(tui);
			redraw = true;
		}
		if (redraw)
			tui_draw(tui);
		redraw = false;
		timeout(tui->paused || tui->exited ? 100 : 0);
		int key = getch();
		if (key != ERR) {
			handle_key(tui, key);
			redraw = true;
			continue;
		}
		if (tui->paused || tui->exited)
			continue;
		if (tui_break_active(tui)) {
			if ((err = tui_break_poll(tui, 50, &redraw)))
				break;
			continue;
		}
		bool exited = false;
		if ((err = tui->source->run(tui->source->arg, 50, &exited)))
			break;
		if (exited) {
			tui->exited = true;
			if (!tui->set)
				snprintf(tui->message, sizeof(tui->message), "the program has exited (q quits)");
			redraw = true;
		}
	}
	restore_terminal();
	return err;
}

static struct ai_error *run_tui(struct tui *tui, enum ai_tui_end *end_ret)
{
	install_handlers(tui->options->launched);
	quit_requested = 0;
	struct ai_error *err = tui->options->headless ? run_headless(tui) : run_terminal(tui);
	free(tui->order);
	free(tui->lives);
	if (err)
		return err;
	*end_ret = tui->end;
	return NULL;
}

struct ai_error *ai_tui_run(struct ai_live *live, const struct ai_tui_source *source,
			    const struct ai_tui_options *options, enum ai_tui_end *end_ret)
{
	struct tui tui = { .source = source, .options = options, .live_count = 1,
			   .breaking = source->break_wait != NULL };
	tui.lives = xcalloc(1, sizeof(*tui.lives));
	tui.lives[0] = live;
	return run_tui(&tui, end_ret);
}

struct ai_error *ai_tui_run_set(struct ai_live_set *set, const struct ai_tui_source *source,
				const struct ai_tui_options *options, enum ai_tui_end *end_ret)
{
	struct tui tui = { .source = source, .options = options, .set = set, .live_count = set->count };
	tui.lives = xcalloc(set->count ? set->count : 1, sizeof(*tui.lives));
	for (size_t p = 0; p < set->count; p++)
		tui.lives[p] = set->members[p].live;
	return run_tui(&tui, end_ret);
}
