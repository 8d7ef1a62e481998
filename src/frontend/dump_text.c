/* The `dump` text view: one block per task, one line per await frame. */
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/util.h"

#define BOLD "\033[1m"
#define DIM "\033[2m"
#define CYAN "\033[36m"
#define YELLOW "\033[33m"
#define RED "\033[31m"
#define RESET "\033[0m"

/* A text line stays within this many columns: locals that do not fit go on continuation lines
 * under their frame, and one that does not fit a line alone is cut with "…" (not with
 * --full-values). JSON carries every value whole. */
#define TEXT_LINE_MAX 160

struct style {
	const char *bold, *dim, *cyan, *yellow, *red, *reset;
};

/* Display columns of the first n bytes of s: one per UTF-8 character. */
static size_t columns(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n && s[i]; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* The bytes of s that fill at most max columns. */
static size_t bytes_in_columns(const char *s, size_t max)
{
	size_t i = 0, c = 0;
	while (s[i]) {
		size_t next = i + 1;
		while (((unsigned char)s[next] & 0xc0) == 0x80)
			next++;
		if (++c > max)
			break;
		i = next;
	}
	return i;
}

/* The line being written for one await frame, which flows onto continuation lines. */
struct frame_line {
	FILE *out;
	size_t column;
	const char *indent;    /* what starts a continuation line: the tree's bars, then spaces */
	size_t indent_columns;
	bool full_values;
	const char *on, *off; /* the color of the text being written: ended before a line break */
};

static void line_write(struct frame_line *l, const char *s, size_t n)
{
	fwrite(s, 1, n, l->out);
	l->column += columns(s, n);
}

static void line_puts(struct frame_line *l, const char *s)
{
	line_write(l, s, strlen(s));
}

/* What becomes of a text too long for its line: its tail or its head is cut off, or it goes on
 * over continuation lines. */
enum cut_end { CUT_TAIL, CUT_HEAD, WRAP };

static void line_break(struct frame_line *l)
{
	fprintf(l->out, "%s\n%s%s", l->off ? l->off : "", l->indent, l->on ? l->on : "");
	l->column = l->indent_columns;
}

/* The bytes of text up to and with its last space within max columns, or max columns' worth
 * if it has none there. */
static size_t wrap_point(const char *text, size_t max)
{
	size_t n = bytes_in_columns(text, max);
	for (size_t i = n; i > 0; i--)
		if (text[i - 1] == ' ')
			return i;
	return n ? n : strlen(text);
}

/* text on the line, to leave `keep` columns free at its end, unless --full-values: a name loses
 * its tail, a path its head (the file name and line stay), each with "…"; a sentence (a wait)
 * goes on over continuation lines, each ending at a space. */
static void line_fit(struct frame_line *l, const char *text, enum cut_end cut, size_t keep)
{
	size_t len = strlen(text), width = columns(text, len);
	if (l->full_values || l->column + width + keep <= TEXT_LINE_MAX) {
		line_write(l, text, len);
		return;
	}
	if (cut == WRAP) {
		while (l->column + columns(text, strlen(text)) + keep > TEXT_LINE_MAX) {
			size_t room = TEXT_LINE_MAX > l->column + keep ? TEXT_LINE_MAX - l->column - keep : 0;
			size_t n = wrap_point(text, room < 8 ? 8 : room);
			line_write(l, text, n);
			text += n;
			if (!*text)
				return;
			line_break(l);
		}
		line_puts(l, text);
		return;
	}
	/* room for the cut mark too */
	size_t room = TEXT_LINE_MAX > l->column + keep + 1 ? TEXT_LINE_MAX - l->column - keep - 1 : 0;
	if (room < 8)
		room = 8;
	if (cut == CUT_TAIL) {
		line_write(l, text, bytes_in_columns(text, room));
		line_puts(l, "…");
	} else {
		size_t skip = bytes_in_columns(text, width - room);
		line_puts(l, "…");
		line_write(l, text + skip, len - skip);
	}
}

/* Goes on to a continuation line if `width` more columns after `separator` would not fit this
 * one; then the separator's comma ends this line and the separator is not written. */
static const char *line_make_room(struct frame_line *l, const char *separator, size_t width)
{
	if (l->column + strlen(separator) + width <= TEXT_LINE_MAX || l->column <= l->indent_columns)
		return separator;
	if (separator[0] == ',')
		fputc(',', l->out);
	line_break(l);
	return "";
}

/* A part of the frame's own description (its state, location, macro) after `separator`. */
static void line_part(struct frame_line *l, const char *separator, const char *on, const char *text,
		      const char *off, enum cut_end cut)
{
	line_puts(l, line_make_room(l, separator, columns(text, strlen(text))));
	fputs(on, l->out);
	l->on = on;
	l->off = off;
	line_fit(l, text, cut, 0);
	l->on = l->off = NULL;
	fputs(off, l->out);
}

/* One item of the line after `separator`: `label` in `on` ... `off`, then ` = value` if value is
 * not NULL. On this line if it fits with room for the comma that may follow it, else on a
 * continuation line. A value that does not fit a line alone is cut, unless --full-values; a label
 * never is. */
static void line_item(struct frame_line *l, const char *separator, const char *on, const char *label,
		      const char *off, const char *value)
{
	size_t width = columns(label, strlen(label)) + (value ? 3 + columns(value, strlen(value)) : 0);
	line_puts(l, line_make_room(l, separator, width + 1));
	fputs(on, l->out);
	line_puts(l, label);
	fputs(off, l->out);
	if (!value)
		return;
	line_puts(l, " = ");
	line_fit(l, value, CUT_TAIL, 1);
}

/* A sentence of the line from a format, e.g. "[%s]" for a wait: never cut; one too long for a
 * line alone goes on over continuation lines. */
static void line_item_printf(struct frame_line *l, const char *on, const char *off, const char *fmt,
			     const char *arg)
{
	char *text = xasprintf(fmt, arg);
	line_part(l, "  ", on, text, off, WRAP);
	free(text);
}

static void print_node(FILE *out, const struct ai_await_node *node, const char *prefix, bool last,
		       bool root, const struct style *st, const struct ai_text_options *options)
{
	char child_prefix[512], indent[600];
	snprintf(child_prefix, sizeof(child_prefix), "%s%s", root ? "" : prefix, root ? "" : (last ? "   " : "│  "));
	snprintf(indent, sizeof(indent), "  %s%s    ", child_prefix, node->child_count ? "│" : " ");
	struct frame_line l = { .out = out, .indent = indent, .indent_columns = columns(indent, strlen(indent)),
				.full_values = options->full_values };
	line_puts(&l, "  ");
	if (!root) {
		line_puts(&l, prefix);
		line_puts(&l, last ? "└─ " : "├─ ");
	}
	if (node->function) {
		fputs(st->cyan, out);
		line_fit(&l, node->function, CUT_TAIL, 0);
		fputs(st->reset, out);
		if (node->state)
			line_part(&l, "  ", "", node->state, "", CUT_TAIL);
		if (node->file && node->line > 0) {
			char *location = xasprintf("%s:%d", ai_short_path(node->file), node->line);
			line_part(&l, "  ", "", location, "", CUT_HEAD);
			free(location);
		}
		if (node->macro) {
			char *macro = xasprintf("(in %s)", node->macro);
			line_part(&l, " ", st->dim, macro, st->reset, CUT_TAIL);
			free(macro);
		}
	} else {
		fputs(st->cyan, out);
		line_fit(&l, node->type ? node->type : "?", CUT_TAIL, 0);
		fputs(st->reset, out);
		if (node->leaf)
			line_part(&l, " ", "", "(leaf)", "", CUT_TAIL);
	}
	for (size_t i = 0; options->locals && i < node->local_count; i++) {
		const struct ai_snapshot_local *local = &node->locals[i];
		line_item(&l, i ? ", " : "  ", st->yellow, local->name ? local->name : "?", st->reset,
			  ai_local_text(local));
	}
	if (node->wait) {
		const char *what = node->wait->description ? node->wait->description : node->wait->kind;
		line_item_printf(&l, st->yellow, st->reset, "[%s]", what ? what : "?");
		if (node->wait->peer && node->wait->peer->summary)
			line_item_printf(&l, st->yellow, st->reset, "-> %s", node->wait->peer->summary);
		if (node->wait->warning)
			line_item_printf(&l, st->red, st->reset, "warning: %s", node->wait->warning);
	}
	if (node->error)
		line_item_printf(&l, st->red, st->reset, "<%s>", node->error);
	fputc('\n', out);
	for (size_t i = 0; i < node->child_count; i++)
		print_node(out, &node->children[i], child_prefix, i + 1 == node->child_count, false, st, options);
}

static const char *thread_name(const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; i < s->thread_count; i++) {
		if (s->threads[i].tid == tid)
			return s->threads[i].name ? s->threads[i].name : "";
	}
	return "";
}

static void print_task_header(FILE *out, const struct ai_snapshot *s, const struct ai_snapshot_task *task,
			      const struct style *st, const char *process)
{
	if (process)
		fprintf(out, "%s[%s]%s ", st->dim, process, st->reset);
	if (strcmp(task->kind, "block_on") == 0) {
		fprintf(out, "%sblock_on%s", st->bold, st->reset);
		if (task->name)
			fprintf(out, " \"%s\"", task->name);
		fprintf(out, "  %s%s%s  on thread %d \"%s\"", st->bold, task->future ? task->future : "?", st->reset,
			(int)task->thread, thread_name(s, task->thread));
		if (task->driven_by)
			fprintf(out, "  %s(driven by %s)%s", st->dim, task->driven_by, st->reset);
		fprintf(out, "%s%s\n",
			task->runtime && strcmp(task->runtime, "fallback") == 0
				? "  (fallback: polled now by an executor no adapter knows)" : "",
			task->read_live ? "  (read live: not in the capped copy)" : "");
		return;
	}
	if (strcmp(task->kind, "blocking") == 0) {
		/* a spawn_blocking closure: a task that runs on a thread of its own */
		fprintf(out, "%sBlocking task", st->bold);
		if (task->has_id)
			fprintf(out, " %llu", (unsigned long long)task->id);
		else
			fprintf(out, " 0x%llx", (unsigned long long)task->address);
		if (!task->thread) /* queued in the pool, not started */
			fprintf(out, "%s  %s%s%s  %s  (%s, spawn_blocking, queued: no thread yet%s)\n", st->reset,
				st->bold, task->future ? task->future : "?", st->reset,
				task->status ? task->status : "?", task->runtime ? task->runtime : "?",
				task->read_live ? ", read live: not in the capped copy" : "");
		else
			fprintf(out, "%s  %s%s%s  %s  (%s, spawn_blocking on thread %d \"%s\"%s)\n", st->reset,
				st->bold, task->future ? task->future : "?", st->reset,
				task->status ? task->status : "?", task->runtime ? task->runtime : "?", (int)task->thread,
				thread_name(s, task->thread), task->read_live ? ", read live: not in the capped copy" : "");
		return;
	}
	/* A runtime without task ids (async-task) is told apart by the task's address. */
	if (task->has_id)
		fprintf(out, "%sTask %llu%s", st->bold, (unsigned long long)task->id, st->reset);
	else
		fprintf(out, "%sTask 0x%llx%s", st->bold, (unsigned long long)task->address, st->reset);
	if (task->name)
		fprintf(out, " \"%s\"", task->name);
	fprintf(out, "  %s%s%s  %s",
		st->bold, task->future ? task->future : "?", st->reset, task->status ? task->status : "?");
	fprintf(out, "  (%s%s%s", task->runtime ? task->runtime : "?", task->flavor ? ", " : "", task->flavor ? task->flavor : "");
	if (task->thread)
		fprintf(out, ", polled by thread %d", (int)task->thread);
	if (task->set_address)
		fprintf(out, ", in %s @ 0x%llx", task->set_type ? task->set_type : "a set",
			(unsigned long long)task->set_address);
	if (task->read_live)
		fputs(", read live: not in the capped copy", out);
	fputs(")\n", out);
}

/* "Task 8" or "block_on". */
static void print_task_name(FILE *out, const struct ai_snapshot_task *t)
{
	if (t->has_id)
		fprintf(out, "Task %llu", (unsigned long long)t->id);
	else if (t->kind && strcmp(t->kind, "task") == 0)
		fprintf(out, "Task 0x%llx", (unsigned long long)t->address);
	else
		fputs(t->kind ? t->kind : "?", out);
}

/* Where a task is parked, as a user reads it: its root coroutine's suspend point. */
static void print_task_where(FILE *out, const struct ai_snapshot_task *t)
{
	fprintf(out, " %s", t->future ? t->future : "?");
	if (t->tree.file && t->tree.line > 0)
		fprintf(out, " at %s:%d", ai_short_path(t->tree.file), t->tree.line);
}

static bool is_channel(const char *kind)
{
	return strcmp(kind, "mpsc_recv") == 0 || strcmp(kind, "oneshot") == 0;
}

/* "(guard `ledger` held across src/settle.rs:35)" or "(local `tx` at src/app.rs:9)". */
static void print_held_where(FILE *out, const char *what, const char *local, const char *file, int line)
{
	fprintf(out, " (%s `%s`", what, local ? local : "?");
	if (file && line > 0)
		fprintf(out, " %s %s:%d", strcmp(what, "guard") == 0 ? "held across" : "at", ai_short_path(file), line);
	fputc(')', out);
}

static void print_deadlocks(FILE *out, const struct ai_snapshot *s, const struct style *st)
{
	for (size_t i = 0; i < s->deadlock_count; i++) {
		const struct ai_deadlock *d = &s->deadlocks[i];
		bool locks = false, joins = false, channels = false;
		if (d->futurelock && d->count == 1) {
			fprintf(out, "%s%sFUTURELOCK:%s a task waits for a lock granted to a future it no longer polls\n",
				st->bold, st->red, st->reset);
		} else {
			fprintf(out, "%s%s%s:%s %zu tasks wait on each other\n", st->bold, st->red,
				d->futurelock ? "DEADLOCK (futurelock)" : "DEADLOCK", st->reset, d->count);
		}
		for (size_t k = 0; k < d->count; k++) {
			const struct ai_deadlock_edge *e = &d->edges[k];
			const struct ai_snapshot_task *from = &s->tasks[e->from], *to = &s->tasks[e->to];
			const char *resource = e->wait->resource_type ? e->wait->resource_type : e->wait->kind;
			fputs("  ", out);
			print_task_name(out, from);
			print_task_where(out, from);
			if (strcmp(e->wait->kind, "join") == 0) {
				joins = true;
				fputs(" awaits the JoinHandle of ", out);
				print_task_name(out, to);
				fputc('\n', out);
				continue;
			}
			if (is_channel(e->wait->kind)) {
				channels = true;
				fprintf(out, " waits for a message on %s @ 0x%llx,\n     whose ", resource,
					(unsigned long long)e->wait->address);
				if (strcmp(e->wait->kind, "oneshot") == 0 || e->wait->senders_alive == 1)
					fputs("only Sender is held by ", out);
				else
					fprintf(out, "%llu Senders are all held on this cycle, one by ",
						(unsigned long long)e->wait->senders_alive);
				print_task_name(out, to);
				if (e->held)
					print_held_where(out, "local", e->held->local, e->held->file, e->held->line);
				fputc('\n', out);
				continue;
			}
			locks = true;
			fprintf(out, " waits for %s @ 0x%llx\n", resource, (unsigned long long)e->wait->address);
			if (e->unpolled) {
				const struct ai_unpolled *u = e->unpolled;
				fprintf(out, "     which no guard holds: it was granted to the future `%s` (%s) that ", u->local,
					u->future_type ? u->future_type : "?");
				if (e->to == e->from)
					fputs("the task itself", out);
				else
					print_task_name(out, to);
				fprintf(out, " keeps in %s", u->function ? u->function : "?");
				if (u->file && u->line > 0)
					fprintf(out, " at %s:%d", ai_short_path(u->file), u->line);
				fputs(" but no longer polls\n", out);
				continue;
			}
			/* (no guard: a reader queued behind a writer that waits in line) */
			fputs(!e->held && to->wait && ai_wait_bars_reader(e->wait, to->wait) ? "     behind the writer "
											      : "     held by ", out);
			print_task_name(out, to);
			if (e->held)
				print_held_where(out, "guard", e->held->local, e->held->file, e->held->line);
			fputc('\n', out);
		}
		if (d->futurelock)
			fputs("  Suggestion: do not keep a lock future alive where it is not polled (a select! branch "
			      "that lost, a pinned future awaited later): drop it, or poll it to completion first.\n", out);
		else if (channels)
			fputs("  Suggestion: a task must not wait for a message that only a task waiting for it can "
			      "send; drop the Sender it does not need, or send before receiving.\n", out);
		else if (locks && joins)
			fputs("  Suggestion: release the lock before awaiting the task, or do not take it in that task.\n", out);
		else if (locks)
			fputs("  Suggestion: take these locks in one global order, or hold one lock at a time.\n", out);
		else
			fputs("  Suggestion: a task must not await a task that waits for it.\n", out);
		fputc('\n', out);
	}
}

void ai_print_task_text(FILE *out, const struct ai_snapshot *s, const struct ai_snapshot_task *task,
			const struct ai_text_options *options)
{
	struct style st = { "", "", "", "", "", "" };
	if (options->color)
		st = (struct style){ BOLD, DIM, CYAN, YELLOW, RED, RESET };
	print_task_header(out, s, task, &st, options->process);
	print_node(out, &task->tree, "", true, true, &st, options);
}

void ai_print_dump_text(FILE *out, const struct ai_snapshot *s, const struct ai_text_options *options)
{
	struct style st = { "", "", "", "", "", "" };
	if (options->color)
		st = (struct style){ BOLD, DIM, CYAN, YELLOW, RED, RESET };
	for (size_t i = 0; i < s->warning_count; i++)
		fprintf(out, "%swarning:%s %s\n", st.yellow, st.reset, s->warnings[i]);
	if (s->warning_count)
		fputc('\n', out);
	print_deadlocks(out, s, &st);
	size_t by_status[5] = { 0 }, block_on = 0, blocking = 0;
	static const char *statuses[5] = { "idle", "scheduled", "running", "completed", "cancelled" };
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *task = &s->tasks[i];
		print_task_header(out, s, task, &st, options->process);
		print_node(out, &task->tree, "", true, true, &st, options);
		for (size_t k = 0; k < task->held_count; k++) {
			const struct ai_held *h = &task->held[k];
			bool sender = strstr(h->kind, "_sender") != NULL;
			fprintf(out, "  holds %s%s @ 0x%llx (%s `%s: %s`", h->resource_type ? h->resource_type : h->kind,
				sender ? " of the channel" : "", (unsigned long long)h->address, sender ? "local" : "guard",
				h->local, h->guard_type ? h->guard_type : "?");
			if (h->function)
				fprintf(out, " in %s", h->function);
			fputs(")\n", out);
		}
		for (size_t k = 0; k < task->unpolled_count; k++) {
			const struct ai_unpolled *u = &task->unpolled[k];
			fprintf(out, "  %skeeps unpolled%s `%s: %s`, %s %s @ 0x%llx (in %s)\n", st.red, st.reset, u->local,
				u->future_type ? u->future_type : "?", u->granted ? "granted" : "queued for",
				u->resource_type ? u->resource_type : u->kind,
				(unsigned long long)u->address, u->function ? u->function : "?");
		}
		fputc('\n', out);
		if (strcmp(task->kind, "block_on") == 0)
			block_on++;
		if (strcmp(task->kind, "blocking") == 0) {
			blocking++;
			continue;
		}
		for (int k = 0; k < 5; k++)
			by_status[k] += task->status && strcmp(task->status, statuses[k]) == 0;
	}
	size_t tasks = s->task_count - block_on - blocking;
	fprintf(out, "%zu task%s", tasks, tasks == 1 ? "" : "s");
	bool first = true;
	for (int k = 0; k < 5; k++) {
		if (by_status[k]) {
			fprintf(out, "%s%zu %s", first ? " (" : ", ", by_status[k], statuses[k]);
			first = false;
		}
	}
	fprintf(out, "%s", first ? "" : ")");
	if (blocking)
		fprintf(out, ", %zu blocking task%s", blocking, blocking == 1 ? "" : "s");
	fprintf(out, ", %zu block_on future%s", block_on, block_on == 1 ? "" : "s");
	/* "1 tokio runtime (tokio 1.54.1)": the runtimes, with the versions their crates have. */
	for (size_t i = 0; i < s->runtime_count; i++) {
		const struct ai_snapshot_runtime *rt = &s->runtimes[i];
		if (rt->instances)
			fprintf(out, ", %zu %s runtime%s (%s%s%s)", rt->instances, rt->name,
				rt->instances == 1 ? "" : "s", rt->name, rt->version ? " " : "",
				rt->version ? rt->version : "");
		else
			fprintf(out, ", %s%s%s", rt->name, rt->version ? " " : "", rt->version ? rt->version : "");
		if (rt->module)
			fprintf(out, " in %s", strrchr(rt->module, '/') ? strrchr(rt->module, '/') + 1 : rt->module);
		if (!rt->decoded)
			fputs(" (not decoded)", out);
	}
	if (s->core)
		fprintf(out, ", from core file %s\n", s->core);
	else
		fprintf(out, "; process %d paused for %.2f ms\n", (int)s->pid, (double)s->pause_us / 1000.0);
	if (s->max_pause_us)
		fprintf(out, "sampled %zu of %zu tasks within the %.1f ms pause cap; the others were read live after the "
			"process resumed\n", s->tasks_sampled, s->task_count, (double)s->max_pause_us / 1000.0);
}
