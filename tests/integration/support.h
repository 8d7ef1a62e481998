/* Helpers for end-to-end tests: start a fixture and wait for its "ready <pid>" line, run the real
 * async-inspect binary and collect what a user would see, find marker lines in fixture sources. */
#ifndef AI_TEST_SUPPORT_H
#define AI_TEST_SUPPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

struct fixture {
	pid_t pid;
	FILE *out;    /* the fixture's stdout, after its ready line */
	int in_fd;    /* its stdin (write end), or -1 */
	char *path;
};

struct tool_result {
	int status;   /* wait status */
	char *out;    /* everything printed on stdout */
	char *err;    /* everything printed on stderr */
};

/* $AI_FIXTURES/<crate>/debug/<bin> (the C fixture: crate "c", bin "hello" -> $AI_FIXTURES/c/hello). */
char *fixture_path(const char *crate, const char *bin);
/* Skips the test when the fixtures were not built. */
void require_fixtures(void);
/* Starts the fixture with args (NULL-terminated) and waits for "ready <pid>". Killed with the test
 * process (PR_SET_PDEATHSIG) so that a failed assertion leaves nothing behind. */
void fixture_start(struct fixture *f, const char *crate, const char *bin, const char *const *args);
void fixture_start_with_stdin(struct fixture *f, const char *crate, const char *bin, const char *const *args);
/* fixture_start in two steps, for a fixture that prints something the test needs first (a port):
 * start it, read its first lines from f->out, then expect its "ready <pid>" line. */
void fixture_spawn(struct fixture *f, const char *crate, const char *bin, const char *const *args);
void fixture_expect_ready(struct fixture *f);
/* Kills and reaps it. */
void fixture_kill(struct fixture *f);
/* Waits for it to exit; returns the wait status. */
int fixture_wait(struct fixture *f);
/* The state letter of a process from /proc (e.g. 'S', 'T'); '?' if gone. */
char process_state(pid_t pid);
/* The state once it is `want`, polling for up to five seconds (a process that just printed its ready
 * line, or was just detached, may still be on its way into the blocking call, later on a loaded
 * machine); otherwise the last state seen. */
char process_settles_in(pid_t pid, char want);

/* The TracerPid of a process from /proc (0: not traced); -1 if gone. */
int tracer_pid(pid_t pid);
/* The bytes of the code mappings of file exe (an executable or a library) in process pid that
 * differ from the file's (an int3 left behind shows here). */
size_t code_bytes_changed(pid_t pid, const char *exe);

/* A core of a running fixture made with gdb's gcore, in a new temporary directory. */
struct core_file {
	char dir[64];
	char *path; /* dir/core.PID */
};
/* Asserts that gcore succeeded. */
void core_dump(struct core_file *c, const struct fixture *f);
/* Removes the directory and frees the path. */
void core_remove(struct core_file *c);

/* Runs $AI_BINARY with args (NULL-terminated), at most timeout_s seconds, with `input` (or
 * /dev/null when NULL) on its stdin. */
void tool_run(struct tool_result *r, int timeout_s, const char *const *args);
void tool_run_input(struct tool_result *r, int timeout_s, const char *input, const char *const *args);

/* Starts $AI_BINARY with args in the background; its stdout is readable from *out_ret, its stderr
 * goes to a temporary file collected by tool_finish. */
struct tool_process {
	pid_t pid;
	FILE *out;
	int err_fd;
	int in_fd; /* tool_spawn_piped: the write end of its stdin; else -1 */
};
void tool_spawn(struct tool_process *p, const char *const *args);
/* The same with a pipe on its stdin, written (and closed) through p->in_fd. */
void tool_spawn_piped(struct tool_process *p, const char *const *args);
/* Waits (at most timeout_s) and collects the rest of its output. */
void tool_finish(struct tool_process *p, int timeout_s, struct tool_result *r);
void tool_result_free(struct tool_result *r);
int tool_exit_code(const struct tool_result *r); /* exit status, or 128+signal */

/* The 1-based line of tests/fixtures/<relpath> that holds the marker text (e.g. "@await: level4"). */
int marker_line(const char *relpath, const char *marker);
/* The tokio fixture crates of the full version matrix ("tokio-1.19", ...), NULL-terminated: not
 * those whose Cargo.toml says `matrix = false` (tokio-1.8). */
const char *const *tokio_versions(void);

/* Number of occurrences of needle in haystack. */
int count_substr(const char *haystack, const char *needle);

/* The dump text with every continuation line (a frame's locals that did not fit its line: the
 * tree's bars and at least 4 spaces, then no branch mark) joined to the line before, as they would
 * be printed on one long line: after "," with a space, else with two. A new string. */
char *text_unwrapped(const char *text);
/* r->out, a text dump, with its continuation lines joined back (text_unwrapped). */
void tool_result_unwrap(struct tool_result *r);
/* The widest line of text in columns (UTF-8 characters), and that line in *line_ret (to free). */
size_t widest_line(const char *text, char **line_ret);

/* In `dump --format dot`'s output: the line of the edge from node a to node b with that label, or
 * NULL; the id ("t0", "r1") of the node whose label starts with label, or NULL (to free). */
const char *dot_edge(const char *dot, const char *a, const char *b, const char *label);
char *dot_node(const char *dot, const char *label);

/* `dump --pid` of the fixture in `format` (text or json): asserts exit 0 and that the fixture was
 * left running (state S). */
void dump_fixture(struct fixture *f, const char *format, struct tool_result *r);

/* Holds, for the rest of the test's process, the machine-wide lock of the tests that place
 * uprobes (profile, --profile). */
void lock_profile_tests(void);

#endif
