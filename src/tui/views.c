/* The TUI's views: header, task list, task details, help, and the quit question. Each draws the
 * live model into stdscr; none changes it. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai/frontend.h"
#include "ai/util.h"
#include "tui_internal.h"

enum { PAIR_RED = 1, PAIR_YELLOW, PAIR_GREEN, PAIR_CYAN };

void tui_colors_init(void)
{
	if (!has_colors())
		return;
	start_color();
	use_default_colors();
	init_pair(PAIR_RED, COLOR_RED, -1);
	init_pair(PAIR_YELLOW, COLOR_YELLOW, -1);
	init_pair(PAIR_GREEN, COLOR_GREEN, -1);
	init_pair(PAIR_CYAN, COLOR_CYAN, -1);
}

void tui_format_duration(int64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "%" PRId64 "ms", ms);
	else if (ms < 60000)
		snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", ms / 1000, ms % 1000 / 100);
	else if (ms < 3600000)
		snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms % 60000 / 1000);
	else
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms % 3600000 / 60000);
}

/* A line of text clipped to the screen width (and blank-filled, so that it overwrites). */
static void put_line(int y, attr_t attr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_line(int y, attr_t attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	attrset(attr);
	mvaddnstr(y, 0, buf, COLS);
	clrtoeol();
	if (attr & A_REVERSE) {
		int len = (int)strlen(buf);
		for (int x = len; x < COLS; x++)
			mvaddch(y, x, ' ');
	}
	attrset(A_NORMAL);
}

static attr_t state_attr(const char *state)
{
	if (!has_colors())
		return A_NORMAL;
	if (strcmp(state, "deadlocked") == 0)
		return COLOR_PAIR(PAIR_RED) | A_BOLD;
	if (strcmp(state, "blocked") == 0)
		return COLOR_PAIR(PAIR_YELLOW);
	if (strcmp(state, "running") == 0 || strcmp(state, "scheduled") == 0)
		return COLOR_PAIR(PAIR_GREEN);
	return A_NORMAL;
}

static void task_name(const struct ai_snapshot_task *task, char *buf, size_t size)
{
	if (task->has_id)
		snprintf(buf, size, "%" PRIu64, task->id);
	else if (task->thread)
		snprintf(buf, size, "t%d", (int)task->thread);
	else
		snprintf(buf, size, "-");
}

static void await_point(const struct ai_snapshot_task *task, char *buf, size_t size)
{
	const struct ai_await_node *at = ai_live_await_point(task);
	if (at)
		snprintf(buf, size, "%s:%d", ai_short_path(at->file), at->line);
	else
		snprintf(buf, size, "?");
}

static void draw_header(struct tui *tui)
{
	const struct ai_snapshot *s = ai_live_snapshot(tui->live, 0);
	static const char *const states[] = { "running", "scheduled", "blocked", "deadlocked", "idle",
					      "block_on", "done" };
	char counts[256] = "";
	size_t used = 0;
	for (size_t k = 0; k < AI_ARRAY_SIZE(states); k++) {
		size_t n = 0;
		for (size_t i = 0; i < tui->live->task_count; i++)
			n += strcmp(tui->live->tasks[i].status, states[k]) == 0;
		if (n && used < sizeof(counts))
			used += (size_t)snprintf(counts + used, sizeof(counts) - used, " %zu %s", n, states[k]);
	}
	const char *exe = s && s->exe ? strrchr(s->exe, '/') : NULL;
	exe = exe ? exe + 1 : s && s->exe ? s->exe : "";
	/* A replay says so, with the time the snapshot was taken. */
	char replay[64] = "";
	if (tui->options->replay) {
		time_t t = s ? (time_t)(s->captured_at_ms / 1000) : 0;
		struct tm tm;
		char when[32] = "?";
		if (s && localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(replay, sizeof(replay), "REPLAY %s.%03d  ", when, s ? (int)(s->captured_at_ms % 1000) : 0);
	}
	/* --max-pause: how many tasks the capped copy covered. */
	char sampled[64] = "";
	if (s && s->max_pause_us)
		snprintf(sampled, sizeof(sampled), " (cap %" PRIu64 "ms, sampled %zu/%zu)", s->max_pause_us / 1000,
			 s->tasks_sampled, s->task_count);
	put_line(0, A_BOLD, "async-inspect  %spid %d %s  tasks %zu:%s  pause %" PRIu64 ".%" PRIu64 "ms%s%s%s",
		 replay, s ? (int)s->pid : 0, exe, tui->live->task_count, counts, s ? s->pause_us / 1000 : 0,
		 s ? s->pause_us % 1000 / 100 : 0, sampled, tui->paused ? "  [PAUSED]" : "",
		 tui->exited ? (tui->options->replay ? "  [END]" : "  [EXITED]") : "");
}

static void draw_footer(struct tui *tui)
{
	if (tui->message[0]) {
		put_line(LINES - 1, A_BOLD, "%s", tui->message);
		return;
	}
	put_line(LINES - 1, A_REVERSE,
		 "Enter details  r refresh  p pause  ? help  q quit   FOR: unchanged at least this long "
		 "(sampled every %" PRIu64 "ms)", tui->options->interval_ms);
}

static void draw_tasks(struct tui *tui)
{
	const struct ai_snapshot *s = ai_live_snapshot(tui->live, 0);
	put_line(1, A_REVERSE, "%-7s %-10s %7s  %-32s %-24s %s", "ID", "STATE", "FOR>=", "AWAITING AT",
		 "WAIT", "FUTURE");
	size_t rows = LINES > 3 ? (size_t)LINES - 3 : 1;
	if (tui->selected < tui->top)
		tui->top = tui->selected;
	if (tui->selected >= tui->top + rows)
		tui->top = tui->selected - rows + 1;
	for (size_t r = 0; r < rows; r++) {
		size_t i = tui->top + r;
		int y = 2 + (int)r;
		if (!s || i >= tui->live->task_count) {
			move(y, 0);
			clrtoeol();
			if (!s && r == 0)
				put_line(y, A_NORMAL, "(no snapshot yet)");
			else if (s && i == 0 && r == 0)
				put_line(y, A_NORMAL, "(no tasks)");
			continue;
		}
		const struct ai_snapshot_task *task = &s->tasks[i];
		const struct ai_live_task *lt = &tui->live->tasks[i];
		char id[32], at[256], since[32];
		task_name(task, id, sizeof(id));
		await_point(task, at, sizeof(at));
		tui_format_duration(ai_live_unchanged_ms(tui->live, i), since, sizeof(since));
		const char *wait = task->wait ? (task->wait->description ? task->wait->description : task->wait->kind) : "";
		attr_t attr = i == tui->selected ? A_REVERSE : state_attr(lt->status);
		put_line(y, attr, "%-7s %-10s %7s  %-32s %-24.24s %s", id, lt->status, since, at, wait,
			 task->future ? task->future : task->tree.function ? task->tree.function : "?");
	}
}

/* ---- Details: lines built once per draw, then scrolled ---- */

struct lines {
	char **items;
	size_t count, capacity;
};

static void add(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct lines *l, const char *fmt, ...)
{
	AI_GROW(l->items, l->capacity, l->count + 1);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&l->items[l->count], fmt, ap) < 0)
		abort();
	va_end(ap);
	l->count++;
}

static void add_node(struct lines *l, const struct ai_await_node *node, int depth)
{
	int indent = depth * 2;
	if (depth > 64) {
		add(l, "%*s...", indent, "");
		return;
	}
	const char *name = node->function ? node->function : node->type ? node->type : "?";
	if (node->file)
		add(l, "%*s%s%s%s%s at %s:%d%s%s", indent, "", name, node->state ? " [" : "",
		    node->state ? node->state : "", node->state ? "]" : "", ai_short_path(node->file),
		    node->line, node->macro ? " in " : "", node->macro ? node->macro : "");
	else
		add(l, "%*s%s%s%s%s", indent, "", name, node->state ? " [" : "", node->state ? node->state : "",
		    node->state ? "]" : "");
	for (size_t i = 0; i < node->local_count; i++)
		add(l, "%*s    %s: %s = %s", indent, "", node->locals[i].name,
		    node->locals[i].type ? node->locals[i].type : "?", node->locals[i].value ? node->locals[i].value : "?");
	if (node->wait)
		add(l, "%*s    waits: %s", indent, "", node->wait->description ? node->wait->description : node->wait->kind);
	if (node->error)
		add(l, "%*s    (unreadable: %s)", indent, "", node->error);
	for (size_t i = 0; i < node->child_count; i++)
		add_node(l, &node->children[i], depth + 1);
}

static void details_lines(struct tui *tui, struct lines *l)
{
	const struct ai_snapshot *s = ai_live_snapshot(tui->live, 0);
	if (!s || tui->selected >= s->task_count) {
		add(l, "(the task is gone)");
		return;
	}
	const struct ai_snapshot_task *task = &s->tasks[tui->selected];
	const struct ai_live_task *lt = &tui->live->tasks[tui->selected];
	char id[32], since[32], seen[32];
	task_name(task, id, sizeof(id));
	tui_format_duration(ai_live_unchanged_ms(tui->live, tui->selected), since, sizeof(since));
	tui_format_duration(s->captured_at_ms - lt->first_seen_ms, seen, sizeof(seen));
	add(l, "%s %s  %s%s%s", task->kind ? task->kind : "task", id, lt->status,
	    task->flavor ? "  runtime " : "", task->flavor ? task->flavor : "");
	add(l, "await tree unchanged for at least %s (a lower bound: sampled every %" PRIu64 "ms)", since,
	    tui->options->interval_ms);
	add(l, "seen for %s in %u samples, %u state changes observed", seen, lt->samples, lt->transitions);
	if (task->wait) {
		add(l, "waiting on: %s", task->wait->description ? task->wait->description : task->wait->kind);
		if (task->wait->warning)
			add(l, "  warning: %s", task->wait->warning);
	}
	for (size_t i = 0; i < task->held_count; i++)
		add(l, "holds: %s (%s) in %s at %s:%d", task->held[i].guard_type ? task->held[i].guard_type : task->held[i].kind,
		    task->held[i].local ? task->held[i].local : "?", task->held[i].function ? task->held[i].function : "?",
		    task->held[i].file ? ai_short_path(task->held[i].file) : "?", task->held[i].line);
	add(l, "%s", "");
	add(l, "Await tree:");
	add_node(l, &task->tree, 1);
}

static void draw_lines(struct tui *tui, struct lines *l, const char *title)
{
	put_line(1, A_REVERSE, "%s", title);
	size_t rows = LINES > 3 ? (size_t)LINES - 3 : 1;
	if (tui->scroll + rows > l->count)
		tui->scroll = l->count > rows ? l->count - rows : 0;
	for (size_t r = 0; r < rows; r++) {
		size_t i = tui->scroll + r;
		if (i < l->count)
			put_line(2 + (int)r, A_NORMAL, "%s", l->items[i]);
		else {
			move(2 + (int)r, 0);
			clrtoeol();
		}
	}
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
}

void tui_draw(struct tui *tui)
{
	draw_header(tui);
	struct lines l = { 0 };
	switch (tui->view) {
	case TUI_VIEW_TASKS:
	case TUI_VIEW_QUIT:
		draw_tasks(tui);
		break;
	case TUI_VIEW_DETAILS:
		details_lines(tui, &l);
		draw_lines(tui, &l, "Task details   (Esc: back, j/k: scroll)");
		break;
	case TUI_VIEW_HELP:
		for (const struct tui_key *k = tui_keys; k->keys; k++)
			add(&l, "  %-12s %s", k->keys, k->help);
		add(&l, "%s", "");
		add(&l, "FOR>= is how long a task's await tree has stayed the same: a lower bound, since");
		add(&l, "the program is sampled every %" PRIu64 "ms.", tui->options->interval_ms);
		draw_lines(tui, &l, "Keys   (? or Esc: back)");
		break;
	}
	if (tui->view == TUI_VIEW_QUIT)
		put_line(LINES - 1, A_REVERSE | A_BOLD, "Quit: k kill the program, d detach and leave it running, any other key: cancel");
	else
		draw_footer(tui);
	refresh();
}
