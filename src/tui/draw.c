/* The TUI's screen: the header (a row per process when several), the view bar, the column
 * titles, the current view's lines (src/tui/views.c builds them) under the cursor, the footer. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ai/util.h"
#include "tui_internal.h"

/* Several processes: a header row for each, up to this many (the last then counts the rest). */
#define PROCESS_ROWS_MAX 6

static int process_rows(const struct tui *tui)
{
	if (!tui->set)
		return 0;
	return (int)(tui->set->count < PROCESS_ROWS_MAX ? tui->set->count : PROCESS_ROWS_MAX);
}

/* Rows 0-2: header (then a row per process, when several), view bar, column titles; the last:
 * the footer. */
size_t tui_view_rows(const struct tui *tui)
{
	int rows = LINES - 4 - process_rows(tui);
	return rows > 1 ? (size_t)rows : 1;
}

/* ---- Drawing ---- */

/* " 3 blocked 1 block_on": the tasks of the given models by state. */
static void state_counts(struct ai_live *const *lives, size_t count, char *counts, size_t size)
{
	static const char *const states[] = { "running", "scheduled", "blocked", "deadlocked", "idle",
					      "block_on", "done" };
	counts[0] = '\0';
	size_t used = 0;
	for (size_t k = 0; k < AI_ARRAY_SIZE(states); k++) {
		size_t n = 0;
		for (size_t p = 0; p < count; p++) {
			for (size_t i = 0; i < lives[p]->task_count; i++)
				n += strcmp(lives[p]->tasks[i].status, states[k]) == 0;
		}
		if (n && used < size)
			used += (size_t)snprintf(counts + used, size - used, " %zu %s", n, states[k]);
	}
}

static void process_figures(const struct ai_live_process *p, char *buf, size_t size)
{
	char cpu[32] = "cpu ?", rss[32] = "rss ?";
	if (p->has_cpu)
		snprintf(cpu, sizeof(cpu), "cpu %.1f%%", p->cpu_percent);
	if (p->has_rss)
		snprintf(rss, sizeof(rss), "rss %.1fMiB", (double)p->rss_bytes / (1024.0 * 1024.0));
	snprintf(buf, size, "  %s %s", cpu, rss);
}

/* Several processes: the totals on row 0, then a row per process (its counts, CPU, RSS, pause,
 * and whether it has ended: the others go on). */
static void draw_set_header(struct tui *tui)
{
	const struct ai_live_set *set = tui->set;
	char counts[256];
	state_counts(tui->lives, tui->live_count, counts, sizeof(counts));
	size_t ended = set->count - ai_live_set_running(set);
	char ended_text[48] = "";
	if (ended)
		snprintf(ended_text, sizeof(ended_text), " (%zu ended)", ended);
	tui_put_line(0, A_BOLD, "async-inspect  %zu processes%s  tasks %zu:%s  every %" PRIu64 "ms%s%s", set->count,
		 ended_text, tui_task_count(tui), counts, tui->options->interval_ms, tui->paused ? "  [PAUSED]" : "",
		 tui->exited ? "  [EXITED]" : "");
	int rows = process_rows(tui);
	for (int y = 0; y < rows; y++) {
		size_t p = (size_t)y;
		if (y == rows - 1 && set->count > (size_t)rows) {
			tui_put_line(1 + y, A_NORMAL, "  ... and %zu more processes (P shows one at a time)",
				 set->count - (size_t)y);
			break;
		}
		const struct ai_live_member *m = &set->members[p];
		const struct ai_snapshot *s = ai_live_snapshot(m->live, 0);
		state_counts(&tui->lives[p], 1, counts, sizeof(counts));
		char figures[96] = "";
		if (!m->ended)
			process_figures(&m->live->process, figures, sizeof(figures));
		tui_put_line(1 + y, tui->process_filter == p + 1 ? A_BOLD : A_NORMAL,
			 "%c pid %d %s  tasks %zu:%s%s  pause %" PRIu64 ".%" PRIu64 "ms%s%s%s",
			 tui->process_filter == p + 1 ? '>' : ' ', (int)m->pid, m->command, m->live->task_count, counts,
			 figures, s ? s->pause_us / 1000 : 0, s ? s->pause_us % 1000 / 100 : 0,
			 m->ended ? "  [ENDED: " : "", m->ended ? m->end_reason : "",
			 m->ended ? "; its last snapshot is shown]" : "");
	}
}

static void draw_header(struct tui *tui)
{
	if (tui->set) {
		draw_set_header(tui);
		return;
	}
	struct ai_live *live = tui->lives[0];
	const struct ai_snapshot *s = ai_live_snapshot(live, 0);
	char counts[256];
	state_counts(tui->lives, 1, counts, sizeof(counts));
	const char *exe = s && s->exe ? strrchr(s->exe, '/') : NULL;
	exe = exe ? exe + 1 : s && s->exe ? s->exe : "";
	/* The program's CPU and memory; a replay has no program: it says so, with the time the
	 * snapshot was taken. */
	char process[96];
	process_figures(&live->process, process, sizeof(process));
	char replay[64] = "";
	if (tui->options->replay) {
		time_t t = s ? (time_t)(s->captured_at_ms / 1000) : 0;
		struct tm tm;
		char when[32] = "?";
		if (s && localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(replay, sizeof(replay), "REPLAY %s.%03d  ", when, s ? (int)(s->captured_at_ms % 1000) : 0);
		process[0] = '\0';
	}
	/* --max-pause: how many tasks the capped copy covered. */
	char sampled[64] = "";
	if (s && s->max_pause_us)
		snprintf(sampled, sizeof(sampled), " (cap %" PRIu64 "ms, sampled %zu/%zu)", s->max_pause_us / 1000,
			 s->tasks_sampled, s->task_count);
	tui_put_line(0, A_BOLD, "async-inspect  %spid %d %s  tasks %zu:%s%s  pause %" PRIu64 ".%" PRIu64
		 "ms%s every %" PRIu64 "ms%s%s",
		 replay, s ? (int)s->pid : 0, exe, live->task_count, counts, process,
		 s ? s->pause_us / 1000 : 0, s ? s->pause_us % 1000 / 100 : 0, sampled, tui->options->interval_ms,
		 tui->paused ? "  [PAUSED]" : "", tui->exited ? (tui->options->replay ? "  [END]" : "  [EXITED]") : "");
}

static const char *view_name(enum tui_view view)
{
	static const char *const names[] = {
		[TUI_VIEW_TASKS] = "tasks", [TUI_VIEW_DETAILS] = "details", [TUI_VIEW_TIMELINE] = "timeline",
		[TUI_VIEW_GRAPH] = "graph", [TUI_VIEW_THREADS] = "threads", [TUI_VIEW_SOURCE] = "source",
		[TUI_VIEW_OUTPUT] = "output", [TUI_VIEW_HELP] = "help", [TUI_VIEW_QUIT] = "tasks",
	};
	return names[view];
}

static void draw_view_bar(struct tui *tui)
{
	char shown[64] = "", process[96] = "";
	if (tui->filter[0] || tui->filtering || tui->process_filter)
		snprintf(shown, sizeof(shown), " (%zu of %zu shown)", tui->order_count, tui_task_count(tui));
	if (tui->set) {
		const struct ai_live_member *m = tui->process_filter ? &tui->set->members[tui->process_filter - 1] : NULL;
		if (m)
			snprintf(process, sizeof(process), "  process: pid %d (%s)", (int)m->pid, m->command);
		else
			snprintf(process, sizeof(process), "  process: all (P: one)");
	}
	tui_put_line(1 + process_rows(tui), A_NORMAL, "[%s]  sort: %s%s  filter: %s%s%s", view_name(tui->view),
		 tui_sort_names[tui->sort], process, tui->filtering ? "/" : "",
		 tui->filter[0] || tui->filtering ? tui->filter : "(none)", shown);
}

static void view_title(struct tui *tui, char *buf, size_t size)
{
	switch (tui->view) {
	case TUI_VIEW_TASKS:
	case TUI_VIEW_QUIT:
		snprintf(buf, size, "%-7s %s%-10s %7s%s  %-*s %-*s %s", "ID", tui->set ? "PROCESS            " : "", "STATE",
			 "FOR>=", tui_profiled(tui) ? LIST_PROFILE_TITLE : "", LIST_AT_WIDTH, "AWAITING AT",
			 tui_list_wait_width(tui), "WAIT", "FUTURE");
		break;
	case TUI_VIEW_DETAILS:
		snprintf(buf, size, "Task details   (Esc: back, j/k: move, Enter on a frame: its source)");
		break;
	case TUI_VIEW_TIMELINE:
		snprintf(buf, size, "%-7s %s%-10s %-*s  (state per sample, latest on the right, every %" PRIu64 "ms)",
			 "ID", tui->set ? "PROCESS            " : "", "STATE", tui_timeline_width(tui), "TIMELINE",
			 tui->options->interval_ms);
		break;
	case TUI_VIEW_GRAPH:
		if (tui->set && tui->process_filter)
			snprintf(buf, size, "Wait-for graph of pid %d (%s) and its edges to the others   (P: next process, "
				 "Enter on a task: its details, Esc: back)", (int)tui->set->members[tui->process_filter - 1].pid,
				 tui->set->members[tui->process_filter - 1].command);
		else
			snprintf(buf, size, "Wait-for graph   (Enter on a task: its details, Esc: back)");
		break;
	case TUI_VIEW_THREADS:
		snprintf(buf, size, "Threads: native stacks, and the task each one polls");
		break;
	case TUI_VIEW_SOURCE:
		snprintf(buf, size, "Source: %.400s:%d   (Esc: back)", tui->source_file, tui->source_line);
		break;
	case TUI_VIEW_OUTPUT:
		snprintf(buf, size, "Output of the program: %s   (the tail; Esc: back)",
			 tui->options->output ? tui->options->output : "not captured");
		break;
	case TUI_VIEW_HELP:
		snprintf(buf, size, "Keys   (? or Esc: back)");
		break;
	}
}

static void draw_footer(struct tui *tui)
{
	if (tui->filtering) {
		tui_put_line(LINES - 1, A_BOLD, "filter: %s_   (Enter: keep it, Esc: clear it)", tui->filter);
		return;
	}
	if (tui->message[0]) {
		tui_put_line(LINES - 1, A_BOLD, "%s", tui->message);
		return;
	}
	tui_put_line(LINES - 1, A_REVERSE,
		 "Enter details  s sort  / filter  %st timeline  g graph  T threads  o output  r refresh  p pause  "
		 "? help  q quit", tui->set ? "P process  " : "");
}

void tui_draw(struct tui *tui)
{
	draw_header(tui);
	draw_view_bar(tui);
	char title[1024];
	view_title(tui, title, sizeof(title));
	tui_put_line(2 + process_rows(tui), A_REVERSE, "%s", title);
	struct tui_lines l = { 0 };
	size_t rows = tui_view_rows(tui);
	bool cursor = tui_view_has_cursor(tui->view);
	/* The task list and timeline: only the rows on screen are built (20000 tasks...), the
	 * cursor on the selected task. */
	size_t first = 0; /* the index of l.items[0] among the view's lines */
	if (tui_view_follows_task(tui->view)) {
		tui->cursor = 0;
		for (size_t k = 0; k < tui->order_count; k++) {
			if (tui->order[k] == tui->selected) {
				tui->cursor = k;
				break;
			}
		}
		size_t count = tui->order_count ? tui->order_count : 1;
		if (tui->cursor < tui->scroll)
			tui->scroll = tui->cursor;
		if (tui->cursor >= tui->scroll + rows)
			tui->scroll = tui->cursor - rows + 1;
		if (tui->scroll + rows > count)
			tui->scroll = count > rows ? count - rows : 0;
		first = tui->scroll;
		if (tui->view == TUI_VIEW_TIMELINE)
			tui_timeline_lines(tui, &l, first, first + rows);
		else
			tui_task_list_lines(tui, &l, first, first + rows);
		if (!tui->order_count)
			first = 0;
	} else {
		tui_view_lines(tui, &l);
		if (tui->cursor >= l.count)
			tui->cursor = l.count ? l.count - 1 : 0;
		if (cursor) {
			if (tui->cursor < tui->scroll)
				tui->scroll = tui->cursor;
			if (tui->cursor >= tui->scroll + rows)
				tui->scroll = tui->cursor - rows + 1;
		}
		if (tui->scroll + rows > l.count)
			tui->scroll = l.count > rows ? l.count - rows : 0;
	}
	for (size_t r = 0; r < rows; r++) {
		size_t i = tui->scroll + r;
		int y = 3 + process_rows(tui) + (int)r;
		if (i < first || i - first >= l.count) {
			move(y, 0);
			clrtoeol();
			continue;
		}
		const struct tui_line *line = &l.items[i - first];
		tui_put_line(y, cursor && i == tui->cursor ? A_REVERSE : line->attr, "%s", line->text);
	}
	tui_lines_free(&l);
	if (tui->view == TUI_VIEW_QUIT)
		tui_put_line(LINES - 1, A_REVERSE | A_BOLD, "Quit: k kill the program, d detach and leave it running, any other key: cancel");
	else
		draw_footer(tui);
	refresh();
}
