/* The TUI's views: task list, details, timeline, wait-for graph, threads, source, the
 * program's output, help, and the quit question. Each builds lines from the live model (and, for
 * source and output, files on disk); none changes the model. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
void tui_put_line(int y, attr_t attr, const char *fmt, ...)
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

/* task_name where a line names one task among others (graph, threads, details): a task with
 * neither id nor thread (async-task's tasks) is told apart by its header address, as dump does. */
static void task_ref(const struct ai_snapshot_task *task, char *buf, size_t size)
{
	if (!task->has_id && !task->thread && task->address)
		snprintf(buf, size, "@ 0x%" PRIx64, task->address);
	else
		task_name(task, buf, size);
}

/* A source path as short as it can be and still be found: relative to our working directory
 * when under it, a dependency's from its crate. */
static const char *display_path(const char *path)
{
	static char cwd[4096];
	if (!cwd[0] && !getcwd(cwd, sizeof(cwd) - 1))
		strcpy(cwd, "/");
	size_t n = strlen(cwd);
	if (n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/')
		return path + n + 1;
	return ai_short_path(path);
}

static void await_point(const struct ai_snapshot_task *task, char *buf, size_t size)
{
	const struct ai_await_node *at = ai_live_await_point(task);
	if (at)
		snprintf(buf, size, "%s:%d", display_path(at->file), at->line);
	else
		snprintf(buf, size, "?");
}

/* The end of a path that fits in `width` characters, cut at a '/' when it can be, "..." in front
 * when cut. */
static const char *tail(const char *text, int width, char *buf, size_t size)
{
	size_t n = strlen(text);
	if (width < 4 || n <= (size_t)width)
		return text;
	const char *start = text + n - (size_t)(width - 3);
	const char *slash = strchr(start, '/');
	snprintf(buf, size, "...%s", slash ? slash : start);
	return buf;
}

/* Task list columns: the await point is cut from the left, the wait reason gets what the screen
 * has left after the future's usual width, and the future comes last, whole. */
int tui_list_wait_width(const struct tui *tui)
{
	int width = COLS - (7 + 1 + 10 + 1 + 7 + 2) - (LIST_AT_WIDTH + 1) - 1 - 36 -
		    (tui->set ? LIST_PROCESS_WIDTH + 1 : 0) - (tui_profiled(tui) ? LIST_PROFILE_WIDTH : 0);
	return width < 24 ? 24 : width;
}

bool tui_profiled(const struct tui *tui)
{
	for (size_t p = 0; p < tui->live_count; p++)
		if (tui->lives[p]->profiled)
			return true;
	return false;
}

/* "850ns", "12us", "3.4ms", "1.25s" */
static void format_ns(uint64_t ns, char *buf, size_t size)
{
	if (ns < 1000)
		snprintf(buf, size, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%" PRIu64 "us", ns / 1000);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2fs", (double)ns / 1e9);
}

/* The profile columns of a task (LIST_PROFILE_WIDTH wide), or "" without --profile. */
static const char *profile_columns(const struct tui *tui, const struct ai_live_task *lt, char *buf, size_t size)
{
	if (!tui_profiled(tui))
		return "";
	if (!lt->has_profile) {
		snprintf(buf, size, " %7s %6s %7s", "-", "-", "-");
		return buf;
	}
	char polls[16], sched[16] = "-";
	if (lt->polls_per_s >= 100000)
		snprintf(polls, sizeof(polls), "%.0fk", lt->polls_per_s / 1000);
	else
		snprintf(polls, sizeof(polls), "%.0f", lt->polls_per_s);
	if (lt->scheduled_mean_ns)
		format_ns(lt->scheduled_mean_ns, sched, sizeof(sched));
	snprintf(buf, size, " %7s %6.1f %7s", polls, lt->busy_percent, sched);
	return buf;
}

/* The snapshot and model of a task named by its global index. */
struct ref {
	const struct ai_live *live;
	const struct ai_snapshot *s;
	size_t p, i; /* its process (tui->lives) and index there */
};

static struct ref ref_of(const struct tui *tui, size_t g)
{
	struct ref r;
	r.p = tui_locate(tui, g, &r.i);
	r.live = tui->lives[r.p];
	r.s = ai_live_snapshot(r.live, 0);
	return r;
}

/* "4242 peer_client ": the PROCESS column of several processes, "" for one. */
static const char *process_column(const struct tui *tui, size_t p, char *buf, size_t size)
{
	if (!tui->set) {
		buf[0] = '\0';
		return buf;
	}
	char label[96];
	snprintf(label, sizeof(label), "%d %s", (int)tui->set->members[p].pid, tui->set->members[p].command);
	snprintf(buf, size, "%-*.*s ", LIST_PROCESS_WIDTH, LIST_PROCESS_WIDTH, label);
	return buf;
}

/* Whether process p passes the `P` filter. */
static bool process_shown(const struct tui *tui, size_t p)
{
	return !tui->process_filter || tui->process_filter == p + 1;
}

static const char *task_future(const struct ai_snapshot_task *task)
{
	return task->future ? task->future : task->tree.function ? task->tree.function : "?";
}

static const char *wait_text(const struct ai_wait *wait)
{
	return wait ? (wait->description ? wait->description : wait->kind) : "";
}

/* ---- Lines ---- */

static struct tui_line *add_line(struct tui_lines *l, attr_t attr, long task, const struct ai_await_node *frame,
				 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static struct tui_line *add_line(struct tui_lines *l, attr_t attr, long task, const struct ai_await_node *frame,
				 const char *fmt, ...)
{
	AI_GROW(l->items, l->capacity, l->count + 1);
	struct tui_line *line = &l->items[l->count++];
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&line->text, fmt, ap) < 0)
		abort();
	va_end(ap);
	line->attr = attr;
	line->task = task;
	line->frame = frame;
	return line;
}

#define add(l, ...) add_line((l), A_NORMAL, -1, NULL, __VA_ARGS__)

void tui_lines_free(struct tui_lines *lines)
{
	for (size_t i = 0; i < lines->count; i++)
		free(lines->items[i].text);
	free(lines->items);
	memset(lines, 0, sizeof(*lines));
}

/* ---- Order: sort and filter ---- */

const char *const tui_sort_names[TUI_SORT_COUNT] = { "id", "state", "blocked-for", "await point", "future",
						    "busy", "polls/s" };

static int state_rank(const char *state)
{
	static const char *const ranks[] = { "deadlocked", "blocked", "running", "scheduled", "idle",
					     "block_on", "done" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(ranks); i++) {
		if (strcmp(state, ranks[i]) == 0)
			return (int)i;
	}
	return (int)AI_ARRAY_SIZE(ranks);
}

static int compare_ids(const struct ai_snapshot_task *x, const struct ai_snapshot_task *y)
{
	if (x->has_id != y->has_id)
		return x->has_id ? -1 : 1; /* block_on futures after the tasks */
	if (x->has_id && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	return x->address < y->address ? -1 : x->address > y->address;
}

static int compare_strings(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int compare_tasks(const void *a, const void *b, void *arg)
{
	const struct tui *tui = arg;
	struct ref rx = ref_of(tui, *(const size_t *)a), ry = ref_of(tui, *(const size_t *)b);
	const struct ai_snapshot_task *x = &rx.s->tasks[rx.i], *y = &ry.s->tasks[ry.i];
	int c = 0;
	switch (tui->sort) {
	case TUI_SORT_STATE:
		c = state_rank(rx.live->tasks[rx.i].status) - state_rank(ry.live->tasks[ry.i].status);
		break;
	case TUI_SORT_BLOCKED: {
		int64_t u = ai_live_unchanged_ms(rx.live, rx.i), v = ai_live_unchanged_ms(ry.live, ry.i);
		c = u > v ? -1 : u < v; /* longest first */
		break;
	}
	case TUI_SORT_AWAIT: {
		const struct ai_await_node *p = ai_live_await_point(x), *q = ai_live_await_point(y);
		if (!p || !q)
			c = !p - !q; /* unknown last */
		else if (!(c = compare_strings(display_path(p->file), display_path(q->file))))
			c = p->line - q->line;
		break;
	}
	case TUI_SORT_FUTURE:
		c = compare_strings(task_future(x), task_future(y));
		break;
	case TUI_SORT_BUSY:
	case TUI_SORT_POLLS: { /* most first; tasks not measured last */
		const struct ai_live_task *u = &rx.live->tasks[rx.i], *v = &ry.live->tasks[ry.i];
		double du = tui->sort == TUI_SORT_BUSY ? u->busy_percent : u->polls_per_s;
		double dv = tui->sort == TUI_SORT_BUSY ? v->busy_percent : v->polls_per_s;
		if (u->has_profile != v->has_profile)
			c = u->has_profile ? -1 : 1;
		else if (u->has_profile)
			c = du > dv ? -1 : du < dv;
		break;
	}
	default:
		break;
	}
	if (!c)
		c = compare_ids(x, y);
	return c ? c : rx.p < ry.p ? -1 : rx.p > ry.p; /* the same id in two processes */
}

static bool task_matches(const struct ai_snapshot_task *task, const char *filter)
{
	if (!*filter)
		return true;
	if (strcasestr(task_future(task), filter) || (task->name && strcasestr(task->name, filter)))
		return true;
	for (const struct ai_await_node *n = &task->tree; n; n = n->child_count ? &n->children[0] : NULL) {
		if (n->function && strcasestr(n->function, filter))
			return true;
	}
	char at[512];
	await_point(task, at, sizeof(at));
	if (strcasestr(at, filter))
		return true;
	char wait[512];
	return strcasestr(ai_task_wait_summary(task, wait, sizeof(wait)), filter) != NULL;
}

void tui_rebuild_order(struct tui *tui)
{
	size_t count = tui_task_count(tui);
	free(tui->order);
	tui->order = xcalloc(count ? count : 1, sizeof(*tui->order));
	tui->order_count = 0;
	for (size_t p = 0, g = 0; p < tui->live_count; g += tui->lives[p]->task_count, p++) {
		const struct ai_snapshot *s = ai_live_snapshot(tui->lives[p], 0);
		for (size_t i = 0; s && process_shown(tui, p) && i < tui->lives[p]->task_count; i++) {
			if (task_matches(&s->tasks[i], tui->filter))
				tui->order[tui->order_count++] = g + i;
		}
	}
	qsort_r(tui->order, tui->order_count, sizeof(*tui->order), compare_tasks, tui);
	/* The selection stays on its task when it still shows, else goes to the first. */
	bool shown = false;
	for (size_t k = 0; k < tui->order_count && !shown; k++)
		shown = tui->order[k] == tui->selected;
	if (!shown && tui->order_count)
		tui->selected = tui->order[0];
}

/* ---- The views ---- */

/* Rows [from, to) of tui->order. */
void tui_task_list_lines(struct tui *tui, struct tui_lines *l, size_t from, size_t to)
{
	bool any = false;
	for (size_t p = 0; p < tui->live_count; p++)
		any |= ai_live_snapshot(tui->lives[p], 0) != NULL;
	if (!any) {
		add(l, "(no snapshot yet)");
		return;
	}
	if (!tui->order_count) {
		add(l, "%s", tui->filter[0] ? "(no task matches the filter: Esc clears it)" : "(no tasks)");
		return;
	}
	for (size_t k = from; k < to && k < tui->order_count; k++) {
		size_t g = tui->order[k];
		struct ref r = ref_of(tui, g);
		const struct ai_snapshot_task *task = &r.s->tasks[r.i];
		const struct ai_live_task *lt = &r.live->tasks[r.i];
		char id[32], at[256], since[32], wait[512], process[LIST_PROCESS_WIDTH + 2], profile[64];
		task_name(task, id, sizeof(id));
		await_point(task, at, sizeof(at));
		tui_format_duration(ai_live_unchanged_ms(r.live, r.i), since, sizeof(since));
		char at_cut[LIST_AT_WIDTH + 1];
		/* A named task (its span) shows its name before its future. */
		add_line(l, state_attr(lt->status), (long)g, NULL, "%-7s %s%-10s %7s%s  %-*s %-*.*s %s%s%s%s", id,
			 process_column(tui, r.p, process, sizeof(process)), lt->status, since,
			 profile_columns(tui, lt, profile, sizeof(profile)), LIST_AT_WIDTH,
			 tail(at, LIST_AT_WIDTH, at_cut, sizeof(at_cut)), tui_list_wait_width(tui), tui_list_wait_width(tui),
			 ai_task_wait_summary(task, wait, sizeof(wait)),
			 task->name ? "\"" : "", task->name ? task->name : "", task->name ? "\" " : "",
			 task_future(task));
	}
}

int tui_timeline_width(const struct tui *tui)
{
	int width = COLS - 20 - (tui->set ? LIST_PROCESS_WIDTH + 1 : 0);
	return width > AI_LIVE_STATE_HISTORY ? AI_LIVE_STATE_HISTORY : width < 1 ? 1 : width;
}

void tui_timeline_lines(struct tui *tui, struct tui_lines *l, size_t from, size_t to)
{
	int width = tui_timeline_width(tui);
	for (size_t k = from; k < to && k < tui->order_count; k++) {
		size_t g = tui->order[k];
		struct ref r = ref_of(tui, g);
		const struct ai_live_task *lt = &r.live->tasks[r.i];
		char id[32], process[LIST_PROCESS_WIDTH + 2];
		task_name(&r.s->tasks[r.i], id, sizeof(id));
		add_line(l, state_attr(lt->status), (long)g, NULL, "%-7s %s%-10s %.*s", id,
			 process_column(tui, r.p, process, sizeof(process)), lt->status, width,
			 lt->history + AI_LIVE_STATE_HISTORY - width);
	}
	if (!tui->order_count)
		add(l, "(no tasks)");
}

static const char *task_label(const struct ai_snapshot *s, size_t i, char *buf, size_t size)
{
	char id[32];
	task_ref(&s->tasks[i], id, sizeof(id));
	/* The snapshot's kind: an id-less task (async-task's) is no block_on future. */
	const char *kind = s->tasks[i].kind ? s->tasks[i].kind : s->tasks[i].has_id ? "task" : "block_on";
	snprintf(buf, size, "%s %s", kind, id);
	return buf;
}

/* The tasks that hold the lock `wait` waits for (or, for a queued reader, the writers in line
 * before it), or run the task it joins. */
static void wait_edges(const struct ai_snapshot *s, size_t from, size_t base, struct tui_lines *l)
{
	const struct ai_snapshot_task *task = &s->tasks[from];
	const struct ai_wait *w = task->wait;
	char a[64], b[64];
	for (size_t j = 0; j < s->task_count; j++) {
		const struct ai_snapshot_task *other = &s->tasks[j];
		if (j == from || other->runtime_address != task->runtime_address)
			continue;
		bool joined = w->has_target_id ? other->has_id && other->id == w->target_task_id
					       : strcmp(w->kind, "join") == 0 && w->address && other->kind &&
							 strcmp(other->kind, "task") == 0 && other->address == w->address;
		if (joined)
			add_line(l, A_NORMAL, (long)(base + from), NULL, "  %-16s -> %-16s joins it (%s)",
				 task_label(s, from, a, sizeof(a)), task_label(s, j, b, sizeof(b)), wait_text(w));
		for (size_t h = 0; w->semaphore && h < other->held_count; h++) {
			if (other->held[h].semaphore == w->semaphore && ai_held_blocks(w, &other->held[h]))
				add_line(l, A_NORMAL, (long)(base + from), NULL, "  %-16s -> %-16s holds `%s` (%s)",
					 task_label(s, from, a, sizeof(a)), task_label(s, j, b, sizeof(b)),
					 other->held[h].local ? other->held[h].local : "?", wait_text(w));
		}
		if (other->wait && ai_wait_bars_reader(w, other->wait))
			add_line(l, A_NORMAL, (long)(base + from), NULL, "  %-16s -> %-16s writer in line before it (%s)",
				 task_label(s, from, a, sizeof(a)), task_label(s, j, b, sizeof(b)), wait_text(w));
	}
}

/* The graph of process p, whose tasks' global indexes start at base. */
static void graph_process_lines(struct tui *tui, size_t p, size_t base, struct tui_lines *l)
{
	const struct ai_snapshot *s = ai_live_snapshot(tui->lives[p], 0);
	if (!s) {
		add(l, "(no snapshot yet)");
		return;
	}
	attr_t red = has_colors() ? COLOR_PAIR(PAIR_RED) | A_BOLD : A_BOLD;
	if (!s->deadlock_count && tui->set)
		add(l, "No deadlock within this process: its own wait-for graph has no cycle.");
	else if (!s->deadlock_count)
		add(l, "No deadlock: the wait-for graph has no cycle.");
	else
		add_line(l, red, -1, NULL, "DEADLOCK: %zu wait-for cycle%s", s->deadlock_count,
			 s->deadlock_count == 1 ? "" : "s");
	char a[64], b[64];
	for (size_t c = 0; c < s->deadlock_count; c++) {
		const struct ai_deadlock *d = &s->deadlocks[c];
		char path[512] = "";
		size_t used = 0;
		for (size_t k = 0; k <= d->count && used < sizeof(path); k++)
			used += (size_t)snprintf(path + used, sizeof(path) - used, "%s%s", k ? " -> " : "",
						 task_label(s, d->tasks[k % d->count], a, sizeof(a)));
		add_line(l, red, -1, NULL, "cycle %zu: %s", c + 1, path);
		for (size_t k = 0; k < d->count; k++) {
			const struct ai_deadlock_edge *e = &d->edges[k];
			const struct ai_snapshot_task *from = &s->tasks[e->from];
			if (e->held)
				add_line(l, A_NORMAL, (long)(base + e->from), NULL, "  %-16s %s  waits for `%s` held by %s: %s",
					 task_label(s, e->from, a, sizeof(a)), task_future(from),
					 e->held->local ? e->held->local : "?", task_label(s, e->to, b, sizeof(b)),
					 wait_text(e->wait));
			else
				add_line(l, A_NORMAL, (long)(base + e->from), NULL, "  %-16s %s  joins %s: %s",
					 task_label(s, e->from, a, sizeof(a)), task_future(from),
					 task_label(s, e->to, b, sizeof(b)), wait_text(e->wait));
		}
	}
	add(l, "%s", "");
	add(l, "Wait-for edges (a task -> the task holding what it waits for, or the task it joins):");
	size_t before = l->count;
	for (size_t i = 0; i < s->task_count; i++) {
		if (!s->tasks[i].wait)
			continue;
		wait_edges(s, i, base, l);
		/* Several processes: the task at the other end of the socket it waits on. */
		const struct ai_peer *peer = s->tasks[i].wait->peer;
		if (peer && peer->summary)
			add_line(l, A_NORMAL, (long)(base + i), NULL, "  %-16s -> %s (the other end of its socket)",
				 task_label(s, i, a, sizeof(a)), peer->summary);
	}
	if (l->count == before)
		add(l, "  (none)");
}

/* Several processes: a heading for each, "pid 4242 (peer_client)", with its end if it ended. */
static void process_heading(struct tui *tui, size_t p, struct tui_lines *l)
{
	if (!tui->set)
		return;
	const struct ai_live_member *m = &tui->set->members[p];
	if (p)
		add(l, "%s", "");
	add_line(l, A_BOLD, -1, NULL, "=== pid %d (%s)%s%s%s ===", (int)m->pid, m->command,
		 m->ended ? ": ended, " : "", m->ended ? m->end_reason : "", m->ended ? ", its last snapshot" : "");
}

/* Several processes: the cycles of the joined graph that run through sockets (as dump prints
 * them), each step a line that Enter opens. */
static void cross_cycle_lines(struct tui *tui, struct tui_lines *l)
{
	const struct ai_process_set *latest = &tui->set->latest;
	if (!latest->deadlock_count)
		return;
	attr_t red = has_colors() ? COLOR_PAIR(PAIR_RED) | A_BOLD : A_BOLD;
	char a[64], b[64];
	for (size_t d = 0; d < latest->deadlock_count; d++) {
		const struct ai_cross_deadlock *dl = &latest->deadlocks[d];
		bool across = false, shown = false;
		for (size_t k = 0; k < dl->count; k++) {
			across |= dl->steps[k].process != dl->steps[0].process;
			shown |= process_shown(tui, ai_live_set_member_of(tui->set, dl->steps[k].process));
		}
		/* `P`: only the cycles through the chosen process, every step of them (the others' too). */
		if (!shown)
			continue;
		add_line(l, red, -1, NULL, "DEADLOCK %s: %zu tasks wait on each other",
			 across ? "across processes" : "through a socket", dl->count);
		for (size_t k = 0; k < dl->count; k++) {
			const struct ai_cross_step *st = &dl->steps[k], *next = &dl->steps[(k + 1) % dl->count];
			size_t p = ai_live_set_member_of(tui->set, st->process);
			size_t q = ai_live_set_member_of(tui->set, next->process);
			const struct ai_snapshot *s = latest->snapshots[st->process], *t = latest->snapshots[next->process];
			size_t base = 0;
			for (size_t r = 0; r < p && r < tui->live_count; r++)
				base += tui->lives[r]->task_count;
			add_line(l, A_NORMAL, (long)(base + st->task), NULL, "  pid %d (%s) %-16s %s  waits in %s",
				 (int)s->pid, tui->set->members[p].command, task_label(s, st->task, a, sizeof(a)),
				 task_future(&s->tasks[st->task]), wait_text(st->wait));
			add_line(l, A_NORMAL, (long)(base + st->task), NULL, "     %s pid %d (%s) %s %s",
				 st->via_peer ? "for the other end of the socket:" : "for", (int)t->pid,
				 tui->set->members[q].command, task_label(t, next->task, b, sizeof(b)),
				 task_future(&t->tasks[next->task]));
		}
		add(l, "%s", "");
	}
}

/* `P` on process p: the tasks of the other processes that wait on a socket whose other end is a
 * task of p, each named with its process (p's own waits on the others are in its edges). */
static void incoming_peer_lines(struct tui *tui, size_t p, struct tui_lines *l)
{
	const struct ai_snapshot *mine = ai_live_snapshot(tui->lives[p], 0);
	char a[64], b[64];
	bool any = false;
	for (size_t q = 0, base = 0; q < tui->live_count; base += tui->lives[q]->task_count, q++) {
		const struct ai_snapshot *s = ai_live_snapshot(tui->lives[q], 0);
		if (q == p || !s || !mine)
			continue;
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_peer *peer = s->tasks[i].wait ? s->tasks[i].wait->peer : NULL;
			if (!peer || peer->outside || !peer->has_task || ai_live_set_member_of(tui->set, peer->process) != p ||
			    peer->task >= mine->task_count)
				continue;
			if (!any)
				add(l, "From other processes (a task whose socket's other end is in this one):");
			any = true;
			add_line(l, A_NORMAL, (long)(base + i), NULL, "  pid %d (%s) %-16s %s -> %s %s (the other end of its socket)",
				 (int)tui->set->members[q].pid, tui->set->members[q].command, task_label(s, i, a, sizeof(a)),
				 task_future(&s->tasks[i]), task_label(mine, peer->task, b, sizeof(b)),
				 task_future(&mine->tasks[peer->task]));
		}
	}
	if (!any)
		add(l, "From other processes: (none wait on this one)");
}

static void graph_lines(struct tui *tui, struct tui_lines *l)
{
	if (tui->set)
		cross_cycle_lines(tui, l);
	for (size_t p = 0, base = 0; p < tui->live_count; base += tui->lives[p]->task_count, p++) {
		if (!process_shown(tui, p))
			continue;
		process_heading(tui, p, l);
		graph_process_lines(tui, p, base, l);
		if (tui->set && tui->process_filter) {
			add(l, "%s", "");
			incoming_peer_lines(tui, p, l);
		}
	}
}

static void threads_process_lines(struct tui *tui, size_t p, struct tui_lines *l)
{
	const struct ai_snapshot *s = ai_live_snapshot(tui->lives[p], 0);
	if (!s) {
		add(l, "(no snapshot yet)");
		return;
	}
	char a[64];
	for (size_t t = 0; t < s->thread_count; t++) {
		const struct ai_snapshot_thread *th = &s->threads[t];
		char doing[512] = "";
		size_t used = 0;
		for (size_t i = 0; i < s->task_count && used < sizeof(doing); i++) {
			const struct ai_snapshot_task *task = &s->tasks[i];
			if (task->thread != th->tid)
				continue;
			used += (size_t)snprintf(doing + used, sizeof(doing) - used, "  %s %s (%s)",
						 task->kind && strcmp(task->kind, "blocking") == 0 ? "running"
						 : task->kind && strcmp(task->kind, "block_on") == 0 ? "driving" : "polling", task_label(s, i, a, sizeof(a)),
						 task_future(task));
		}
		add_line(l, A_BOLD, -1, NULL, "thread %d %s [%s]%s", (int)th->tid, th->name ? th->name : "?",
			 ai_thread_state_name(th->state), doing);
		for (size_t f = 0; f < th->frame_count; f++) {
			const struct ai_snapshot_frame *fr = &th->frames[f];
			if (fr->file)
				add(l, "  #%-3zu 0x%016" PRIx64 " %s at %s:%d", f, fr->pc, fr->function ? fr->function : "??",
				    display_path(fr->file), fr->line);
			else
				add(l, "  #%-3zu 0x%016" PRIx64 " %s", f, fr->pc, fr->function ? fr->function : "??");
		}
		if (th->stack_error)
			add(l, "  (stack ends: %s)", th->stack_error);
	}
}

static void threads_lines(struct tui *tui, struct tui_lines *l)
{
	for (size_t p = 0; p < tui->live_count; p++) {
		if (!process_shown(tui, p))
			continue;
		process_heading(tui, p, l);
		threads_process_lines(tui, p, l);
	}
}

static void add_node(struct tui_lines *l, const struct ai_await_node *node, int depth)
{
	int indent = depth * 2;
	if (depth > 64) {
		add(l, "%*s...", indent, "");
		return;
	}
	const char *name = node->function ? node->function : node->type ? node->type : "?";
	char progress[64] = "";
	if (node->await_index)
		snprintf(progress, sizeof(progress), "  (%zu/%zu awaits)", node->await_index, node->await_count);
	if (node->file)
		add_line(l, A_NORMAL, -1, node->line > 0 ? node : NULL, "%*s%s%s%s%s at %s:%d%s%s%s", indent, "",
			 name, node->state ? " [" : "", node->state ? node->state : "", node->state ? "]" : "",
			 display_path(node->file), node->line, node->macro ? " in " : "",
			 node->macro ? node->macro : "", progress);
	else
		add(l, "%*s%s%s%s%s", indent, "", name, node->state ? " [" : "", node->state ? node->state : "",
		    node->state ? "]" : "");
	if (node->macro && node->macro_file)
		add(l, "%*s    %s's own source: %s:%d", indent, "", node->macro,
		    display_path(node->macro_file), node->macro_line);
	for (size_t i = 0; i < node->local_count; i++)
		add(l, "%*s    %s: %s = %s", indent, "", node->locals[i].name,
		    node->locals[i].type ? node->locals[i].type : "?", ai_local_text(&node->locals[i]));
	if (node->wait)
		add(l, "%*s    waits: %s", indent, "", wait_text(node->wait));
	if (node->error)
		add(l, "%*s    (unreadable: %s)", indent, "", node->error);
	for (size_t i = 0; i < node->child_count; i++)
		add_node(l, &node->children[i], depth + 1);
}

/* "lines 34, 35" of await_lines[from, to) */
static void line_list(const struct ai_await_node *node, size_t from, size_t to, char *buf, size_t size)
{
	size_t used = (size_t)snprintf(buf, size, "%s", from >= to ? "none" : to - from == 1 ? "line " : "lines ");
	for (size_t i = from; i < to && used < size; i++) {
		if (node->await_lines[i] > 0)
			used += (size_t)snprintf(buf + used, size - used, "%s%d", i > from ? ", " : "", node->await_lines[i]);
		else
			used += (size_t)snprintf(buf + used, size - used, "%s?", i > from ? ", " : "");
	}
}

/* Where the task's own async fn stands: its await points before and after the current one. */
static void progress_lines(struct tui_lines *l, const struct ai_await_node *root)
{
	const struct ai_await_node *node = root;
	while (node && !node->await_count && node->child_count == 1)
		node = &node->children[0]; /* e.g. a Pin<Box<F>> or a task-local wrapper */
	if (!node || !node->await_count || !node->function)
		return;
	if (!node->await_index) {
		add(l, "progress of %s: %zu awaits, %s", node->function, node->await_count,
		    node->state && strcmp(node->state, "Unresumed") == 0 ? "not started" :
		    node->state && strcmp(node->state, "Returned") == 0 ? "returned" : "current one not known");
		return;
	}
	char done[256], todo[256];
	line_list(node, 0, node->await_index - 1, done, sizeof(done));
	line_list(node, node->await_index, node->await_count, todo, sizeof(todo));
	add(l, "progress of %s: at await %zu/%zu (line %d), in source order: loops and branches make it approximate",
	    node->function, node->await_index, node->await_count, node->await_lines[node->await_index - 1]);
	add(l, "  steps completed (awaits before it): %s", done);
	add(l, "  steps not started (awaits after it): %s", todo);
}

static void details_lines(struct tui *tui, struct tui_lines *l)
{
	struct ref r = ref_of(tui, tui->selected);
	const struct ai_snapshot *s = r.s;
	if (!s || tui->selected >= tui_task_count(tui) || r.i >= s->task_count) {
		add(l, "(the task is gone)");
		return;
	}
	const struct ai_snapshot_task *task = &s->tasks[r.i];
	const struct ai_live_task *lt = &r.live->tasks[r.i];
	char id[32], since[32], seen[32];
	task_ref(task, id, sizeof(id));
	tui_format_duration(ai_live_unchanged_ms(r.live, r.i), since, sizeof(since));
	tui_format_duration(s->captured_at_ms - lt->first_seen_ms, seen, sizeof(seen));
	add(l, "%s %s%s%s%s  %s%s%s", task->kind ? task->kind : "task", id, task->name ? " \"" : "",
	    task->name ? task->name : "", task->name ? "\"" : "", lt->status,
	    task->flavor || task->runtime ? "  runtime " : "",
	    task->flavor ? task->flavor : task->runtime ? task->runtime : "");
	if (tui->set) {
		const struct ai_live_member *m = &tui->set->members[r.p];
		add(l, "in process %d (%s)%s%s", (int)m->pid, m->command, m->ended ? ", which has ended: " : "",
		    m->ended ? m->end_reason : "");
	}
	if (tui->step_text[0] && tui->step_block_on == lt->block_on && tui->step_runtime == lt->runtime_address &&
	    tui->step_key == lt->key) {
		/* The last `n` of this task: what it left, what it reached, what changed. */
		for (const char *p = tui->step_text; *p;) {
			size_t n = strcspn(p, "\n");
			add(l, "%.*s", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	if (task->set_address)
		add(l, "a member of %s @ 0x%" PRIx64 " (a task awaits it with join_next)",
		    task->set_type ? task->set_type : "a set", task->set_address);
	if (task->kind && strcmp(task->kind, "blocking") == 0 && !task->thread)
		add(l, "a spawn_blocking closure queued in the blocking pool: no thread runs it yet");
	else if (task->kind && strcmp(task->kind, "blocking") == 0)
		add(l, "a spawn_blocking closure running on thread %d (its native stack: the threads view)",
		    (int)task->thread);
	if (strcmp(lt->status, "blocked") == 0 || strcmp(lt->status, "deadlocked") == 0)
		add(l, "blocked for at least %s (its await tree has not changed; sampled every %" PRIu64 "ms)",
		    since, tui->options->interval_ms);
	add(l, "await tree unchanged for at least %s (a lower bound: sampled every %" PRIu64 "ms)", since,
	    tui->options->interval_ms);
	add(l, "seen for %s in %u samples, %u state changes observed", seen, lt->samples, lt->transitions);
	if (task->wait) {
		add(l, "waiting on: %s", wait_text(task->wait));
		/* Several processes: the task at the socket's other end (as dump prints it). */
		if (task->wait->peer && task->wait->peer->summary)
			add(l, "  -> %s", task->wait->peer->summary);
		if (task->wait->warning)
			add(l, "  warning: %s", task->wait->warning);
	}
	for (size_t i = 0; i < task->held_count; i++)
		add(l, "holds: %s (%s) in %s at %s:%d", task->held[i].guard_type ? task->held[i].guard_type : task->held[i].kind,
		    task->held[i].local ? task->held[i].local : "?", task->held[i].function ? task->held[i].function : "?",
		    task->held[i].file ? display_path(task->held[i].file) : "?", task->held[i].line);
	for (size_t i = 0; i < task->unpolled_count; i++) {
		const struct ai_unpolled *u = &task->unpolled[i];
		add(l, "keeps unpolled: %s (%s) %s %s @ 0x%" PRIx64 ", in %s at %s:%d", u->local ? u->local : "?",
		    u->future_type ? u->future_type : "?", u->granted ? "granted" : "queued for",
		    u->resource_type ? u->resource_type : "?", u->address, u->function ? u->function : "?",
		    u->file ? display_path(u->file) : "?", u->line);
	}
	progress_lines(l, &task->tree);
	add(l, "%s", "");
	add(l, "Await tree (Enter on a frame shows its source):");
	add_node(l, &task->tree, 1);
}

static void source_lines(struct tui *tui, struct tui_lines *l)
{
	size_t len;
	char *text = ai_read_small_file(tui->source_file, &len);
	if (!text) {
		add(l, "cannot show the source: %s: %s", tui->source_file, strerror(errno));
		add(l, "(the file named in the program's debug info is not on this machine at that path)");
		return;
	}
	int number = 1;
	for (char *p = text; *p || p == text; number++) {
		char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		bool current = number == tui->source_line;
		add_line(l, current ? A_REVERSE | A_BOLD : A_NORMAL, -1, NULL, "%c%5d | %.*s", current ? '>' : ' ',
			 number, (int)n, p);
		if (!end || !end[1])
			break;
		p = end + 1;
	}
	free(text);
}

static void output_lines(struct tui *tui, struct tui_lines *l)
{
	const char *path = tui->options->output;
	if (!path) {
		add(l, "The program's output goes where it went before we attached: only `run` with the");
		add(l, "interactive view captures it (in a file, see --output).");
		return;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		add(l, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	/* The tail: the last 64 KiB are plenty for a screen. */
	enum { TAIL = 64 * 1024 };
	char *buf = xmalloc(TAIL + 1);
	bool cut = fseek(f, -TAIL, SEEK_END) == 0;
	if (!cut)
		rewind(f);
	size_t n = fread(buf, 1, TAIL, f);
	fclose(f);
	buf[n] = '\0';
	char *p = buf;
	if (cut && (p = strchr(buf, '\n')))
		p++; /* from the first whole line */
	else if (cut)
		p = buf + n;
	if (!*p)
		add(l, "(nothing written yet)");
	while (*p) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		/* Control characters (colors, \r) would move the cursor: shown as '?' */
		char *line = xstrndup(p, len);
		for (char *c = line; *c; c++) {
			if ((unsigned char)*c < 32 && *c != '\t')
				*c = '?';
		}
		add(l, "%s", line);
		free(line);
		if (!end)
			break;
		p = end + 1;
	}
	free(buf);
}

static void help_lines(struct tui *tui, struct tui_lines *l)
{
	for (const struct tui_key *k = tui_keys; k->keys; k++)
		add(l, "  %-16s %s", k->keys, k->help);
	add(l, "%s", "");
	add(l, "FOR>= is how long a task's await tree has stayed the same: a lower bound, since");
	add(l, "the program is sampled every %" PRIu64 "ms.", tui->options->interval_ms);
	add(l, "Timeline letters: R running, S scheduled, B blocked, D deadlocked, I idle, O block_on,");
	add(l, "X done, blank: not seen yet; one column per sample, the latest on the right.");
	add(l, "States: blocked = idle on a known wait; idle = parked on a wait not decoded;");
	add(l, "deadlocked = in a cycle of the wait-for graph (g).");
}

void tui_view_lines(struct tui *tui, struct tui_lines *l)
{
	switch (tui->view) {
	case TUI_VIEW_TASKS:
	case TUI_VIEW_QUIT:
		tui_task_list_lines(tui, l, 0, tui->order_count);
		break;
	case TUI_VIEW_DETAILS:
		details_lines(tui, l);
		break;
	case TUI_VIEW_TIMELINE:
		tui_timeline_lines(tui, l, 0, tui->order_count);
		break;
	case TUI_VIEW_GRAPH:
		graph_lines(tui, l);
		break;
	case TUI_VIEW_THREADS:
		threads_lines(tui, l);
		break;
	case TUI_VIEW_SOURCE:
		source_lines(tui, l);
		break;
	case TUI_VIEW_OUTPUT:
		output_lines(tui, l);
		break;
	case TUI_VIEW_HELP:
		help_lines(tui, l);
		break;
	}
}

bool tui_view_has_cursor(enum tui_view view)
{
	return view == TUI_VIEW_TASKS || view == TUI_VIEW_QUIT || view == TUI_VIEW_TIMELINE ||
	       view == TUI_VIEW_DETAILS || view == TUI_VIEW_GRAPH;
}

bool tui_view_follows_task(enum tui_view view)
{
	return view == TUI_VIEW_TASKS || view == TUI_VIEW_QUIT || view == TUI_VIEW_TIMELINE;
}
