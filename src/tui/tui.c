/* The ncurses TUI: a screen manager (layout, main loop, terminal setup and restore) with a
 * key-to-action table, over views that draw the live model (src/tui/views.c). */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <errno.h>
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

static void take_sample(struct tui *tui)
{
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
	/* Keep the selection on the same task across samples. */
	struct ai_live_task selected = { 0 };
	bool had = tui->selected < tui->live->task_count;
	if (had)
		selected = tui->live->tasks[tui->selected];
	ai_live_add(tui->live, snapshot);
	if (had) {
		for (size_t i = 0; i < tui->live->task_count; i++) {
			const struct ai_live_task *t = &tui->live->tasks[i];
			if (t->block_on == selected.block_on && t->runtime_address == selected.runtime_address &&
			    t->thread == selected.thread && t->key == selected.key) {
				tui->selected = i;
				break;
			}
		}
	}
	if (tui->selected >= tui->live->task_count)
		tui->selected = tui->live->task_count ? tui->live->task_count - 1 : 0;
}

/* ---- Actions and the key table ---- */

static void move_selection(struct tui *tui, long delta)
{
	if (tui->view == TUI_VIEW_DETAILS || tui->view == TUI_VIEW_HELP) {
		long scroll = (long)tui->scroll + delta;
		tui->scroll = scroll < 0 ? 0 : (size_t)scroll;
		return;
	}
	long n = (long)tui->live->task_count;
	long s = (long)tui->selected + delta;
	if (s >= n)
		s = n - 1;
	if (s < 0)
		s = 0;
	tui->selected = (size_t)s;
}

static void act_down(struct tui *tui) { move_selection(tui, 1); }
static void act_up(struct tui *tui) { move_selection(tui, -1); }
static void act_page_down(struct tui *tui) { move_selection(tui, LINES > 4 ? LINES - 4 : 1); }
static void act_page_up(struct tui *tui) { move_selection(tui, -(LINES > 4 ? LINES - 4 : 1)); }
static void act_home(struct tui *tui) { move_selection(tui, -(long)tui->live->task_count - (long)tui->scroll); }
static void act_end(struct tui *tui) { move_selection(tui, (long)tui->live->task_count); }

static void act_details(struct tui *tui)
{
	if (tui->view == TUI_VIEW_TASKS && tui->live->task_count) {
		tui->view = TUI_VIEW_DETAILS;
		tui->scroll = 0;
	}
}

static void act_back(struct tui *tui)
{
	tui->view = TUI_VIEW_TASKS;
	tui->scroll = 0;
}

static void act_help(struct tui *tui)
{
	tui->view = tui->view == TUI_VIEW_HELP ? TUI_VIEW_TASKS : TUI_VIEW_HELP;
	tui->scroll = 0;
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

static void act_quit(struct tui *tui)
{
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
	{ "j Down", "next task (details, help: scroll)", act_down },
	{ "k Up", "previous task", act_up },
	{ "PgDn PgUp", "a page down / up", act_page_down },
	{ "g Home", "first task", act_home },
	{ "G End", "last task", act_end },
	{ "Enter d", "details of the task: await tree, locals, wait", act_details },
	{ "Esc Left", "back to the task list", act_back },
	{ "r", "take a snapshot now", act_refresh },
	{ "p", "pause / resume the program", act_pause },
	{ "?", "this help", act_help },
	{ "q", "quit (attach: detach, the program goes on; run: asks)", act_quit },
	{ NULL, NULL, NULL },
};

static void (*action_for(int key))(struct tui *)
{
	switch (key) {
	case 'j': case KEY_DOWN: return act_down;
	case 'k': case KEY_UP: return act_up;
	case KEY_NPAGE: case ' ': return act_page_down;
	case KEY_PPAGE: return act_page_up;
	case 'g': case KEY_HOME: return act_home;
	case 'G': case KEY_END: return act_end;
	case '\n': case '\r': case KEY_ENTER: case 'd': case KEY_RIGHT: return act_details;
	case 27: case KEY_LEFT: case KEY_BACKSPACE: case 'h': return act_back;
	case 'r': return act_refresh;
	case 'p': return act_pause;
	case '?': case KEY_F(1): return act_help;
	case 'q': case 3 /* Ctrl-C in raw mode */: return act_quit;
	default: return NULL;
	}
}

static void handle_key(struct tui *tui, int key)
{
	tui->message[0] = '\0';
	if (tui->view == TUI_VIEW_QUIT) {
		if (key == 'k' || key == 'd') {
			tui->quit = true;
			tui->end = key == 'k' ? AI_TUI_KILL : AI_TUI_DETACH;
		} else {
			tui->view = TUI_VIEW_TASKS;
		}
		return;
	}
	if (key == KEY_RESIZE)
		return;
	void (*action)(struct tui *) = action_for(key);
	if (action)
		action(tui);
}

/* ---- The loops ---- */

/* "jj\nq" with C escapes -> keys. */
static size_t parse_keys(const char *script, int *keys, size_t max)
{
	size_t n = 0;
	for (const char *p = script; *p && n < max; p++) {
		int key = (unsigned char)*p;
		if (*p == '\\' && p[1]) {
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
	while (!tui->quit) {
		if (quit_requested) {
			tui->quit = true;
			tui->end = tui->exited ? AI_TUI_EXITED : AI_TUI_DETACH;
			break;
		}
		if (!tui->paused && !tui->exited && ai_now_us() >= tui->next_sample_us)
			take_sample(tui);
		tui_draw(tui);
		if (tui->paused || tui->exited) {
			timeout(100);
		} else {
			timeout(0);
		}
		int key = getch();
		if (key != ERR) {
			handle_key(tui, key);
			continue;
		}
		if (tui->paused || tui->exited)
			continue;
		bool exited = false;
		if ((err = tui->source->run(tui->source->arg, 50, &exited)))
			break;
		if (exited) {
			tui->exited = true;
			snprintf(tui->message, sizeof(tui->message), "the program has exited (q quits)");
		}
	}
	restore_terminal();
	return err;
}

struct ai_error *ai_tui_run(struct ai_live *live, const struct ai_tui_source *source,
			    const struct ai_tui_options *options, enum ai_tui_end *end_ret)
{
	struct tui tui = { .live = live, .source = source, .options = options };
	install_handlers(options->launched);
	quit_requested = 0;
	struct ai_error *err = options->headless ? run_headless(&tui) : run_terminal(&tui);
	if (err)
		return err;
	*end_ret = tui.end;
	return NULL;
}
