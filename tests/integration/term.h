/* A real terminal for the TUI tests: a tmux session of its own (term.c). */
#ifndef AI_TEST_TERM_H
#define AI_TEST_TERM_H

/* How long a screen may take to show what a test waits for (a loaded CI machine included). */
#define SCREEN_DEADLINE_S 30

struct term {
	char socket[64];  /* the private tmux server's socket name (tmux -L) */
	char status[128]; /* where the shell in the pane writes the command's exit status */
};

/* Runs `tmux -L socket ARGS` and returns what it printed (NULL-terminated argument list). */
char *tmux(const struct term *t, const char *const *args);
/* A suite's init: the fixtures are built and tmux is installed (else the test is skipped). */
void require_tmux(void);
/* Starts `command` (a shell command line) in a detached 150x40 session. The pane's shell writes
 * the command's exit status (128 + signal when killed) to a file when it ends: tmux's own
 * pane_dead_status is not always filled in. */
void term_start(struct term *t, const char *command);
void term_stop(struct term *t);
/* The pane's text now (owned by the caller). */
char *term_screen(const struct term *t);
/* tmux send-keys: key names (Enter, Escape...) or text. */
void term_keys(const struct term *t, const char *keys);
/* The screen once it contains every one of `needles` (NULL-terminated) / `needle`; fails the test
 * with the last screen after SCREEN_DEADLINE_S. */
char *term_wait_all(const struct term *t, const char *const *needles);
char *term_wait_for(const struct term *t, const char *needle);
/* Waits for the pane's command to end: its exit status, or 128 + the signal that killed it. */
int term_wait_exit(const struct term *t);
/* CLOCK_MONOTONIC in seconds, for deadlines. */
double term_now_s(void);
/* 50 ms, between two polls of the screen. */
void pause_briefly(void);

#endif
