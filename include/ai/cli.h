/* The command-line front end: one function per command, and the option helpers they share. */
#ifndef AI_CLI_H
#define AI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ai/error.h"
#include "ai/target.h"

/* Exit statuses of async-inspect itself (with `run`, the program's own status wins). */
enum {
	AI_EXIT_OK = 0,
	AI_EXIT_FAILURE = 1, /* an error: the message says which */
	AI_EXIT_USAGE = 2,   /* bad command line */
	AI_EXIT_TESTS_FAILED = 101, /* `test`: some test failed (cargo test's own status) */
	AI_EXIT_HANG = 124,  /* `test`, `run --fail-on-hang`: something hung (as timeout(1)) */
};

int ai_cmd_threads(int argc, char **argv);
int ai_cmd_dump(int argc, char **argv);
int ai_cmd_run(int argc, char **argv);
int ai_cmd_test(int argc, char **argv);
int ai_cmd_attach(int argc, char **argv);
int ai_cmd_replay(int argc, char **argv);
int ai_cmd_dap(int argc, char **argv);
int ai_cmd_serve(int argc, char **argv);
int ai_cmd_merge(int argc, char **argv);
int ai_cmd_profile(int argc, char **argv);

/* Watching a live target (`attach`, and `run` on a terminal): snapshots every interval, shown in
 * the TUI or printed as dumps (src/cli/cmd_attach.c). */
struct ai_break_options;
struct ai_monitor_options {
	uint64_t interval_ms;
	bool tui;
	bool launched; /* `run`: signals are forwarded to the program; q asks kill or detach */
	const char *output; /* `run`: the file its stdout and stderr go to (borrowed), or NULL */
	bool quiet;    /* without the TUI: print nothing (run --record records only) */
	FILE *record;  /* --record: every snapshot appended as one JSON line (borrowed), or NULL */
	const char *record_path;
	uint64_t max_pause_us; /* --max-pause: cap on each sample's pause (0: none) */
	bool no_locals; /* --no-locals: leave saved locals out of every snapshot */
	bool all_locals; /* --all-locals: compiler-generated locals too */
	/* --break on a terminal (with tui): the breakpoints the TUI stops at (borrowed), or NULL. A
	 * launched target is stopped at its exec; if they cannot be set ai_monitor returns the
	 * error with the target still stopped. */
	const struct ai_break_options *breaks;
	/* --profile (with tui): the task list's polls/s, busy and scheduled-time columns, from the
	 * probes of `profile` left in while the view runs (src/profile/live_profile.c) */
	bool profile;
};
#define AI_PROFILE_NEEDS_TUI "--profile adds columns to the interactive view (a terminal, without --no-tui); " \
	"to measure without it, use `async-inspect profile`"
/* --profile, of attach and run (handled by ai_parse_monitor_option; serve does not take it). */
#define AI_MONITOR_PROFILE_OPTION { "profile", no_argument, NULL, AI_OPT_PROFILE }
/* The options of the commands that watch a live program (attach, run). */
#define AI_MONITOR_LONG_OPTIONS                                 \
	{ "interval", required_argument, NULL, 'i' },           \
	{ "record", required_argument, NULL, 'R' },             \
	{ "max-pause", required_argument, NULL, 'M' },          \
	{ "no-locals", no_argument, NULL, 'L' },                \
	{ "all-locals", no_argument, NULL, 'A' },               \
	{ "debug-dir", required_argument, NULL, 'D' },          \
	{ "user-crate", required_argument, NULL, 'U' },         \
	{ "decoders", required_argument, NULL, AI_OPT_DECODERS }
/* Handles opt if it is one of AI_MONITOR_LONG_OPTIONS, into options: returns 0, or the exit
 * status after printing why arg is wrong. Returns -1 for any other option. */
/* --max-pause ARG (a duration of at least 1ms) into *us_ret: 0, or the exit status after the
 * one-line error. */
int ai_parse_max_pause(const char *command, const char *arg, uint64_t *us_ret);
int ai_parse_monitor_option(const char *command, int opt, const char *arg, struct ai_monitor_options *options);
/* Opens --record FILE for writing (truncated), with a clear error if it cannot be. */
struct ai_error *ai_open_recording(const char *path, FILE **ret);
struct ai_monitor_result {
	bool exited;   /* the target ended: status holds its wait status */
	int status;
	bool kill;     /* the user asked to kill it (run) */
	bool breaks_failed; /* the error is options->breaks that could not be set (the target left
			     * as it was, stopped) */
};
struct ai_error *ai_monitor(struct ai_target *target, const struct ai_monitor_options *options,
			    struct ai_monitor_result *result);
/* `attach` of several processes (src/cli/attach_processes.c): each is attached only while it is
 * read, in turn, at every interval, and their sockets linked; the TUI over one live model per
 * process, or (options->tui false) the text of `dump --pid A --pid B` every interval, until every
 * process has ended or Ctrl-C. One ending ends only its part. Returns an exit status. */
int ai_monitor_processes(const int *pids, size_t count, const struct ai_monitor_options *options);
/* Its sampling, for serve: each sample reads every process still running into set
 * (ai_live_set_add). pids and options are borrowed. destroy says who ended and returns the exit
 * status (a failure when no process could be read). */
struct ai_process_sampler;
struct ai_live_set;
struct ai_process_sampler *ai_process_sampler_create(const int *pids, size_t count,
						     const struct ai_monitor_options *options, struct ai_live_set *set);
void ai_process_sampler_sample(struct ai_process_sampler *sampler);
size_t ai_process_sampler_running(const struct ai_process_sampler *sampler);
int ai_process_sampler_destroy(struct ai_process_sampler *sampler);
/* serve --profile of several processes: from now on each process gets its own live profile
 * (ai_live_profile_open, and CPU sampling at rate_hz for the flamegraph; 0: none) once its first
 * snapshot found the runtime; each sample applies it to that process's model. A process whose
 * probes are refused has none and says why; the others are profiled. Its profile is closed
 * when it ends (or execs: a new one is opened over the new executable). */
struct ai_live_profile;
void ai_process_sampler_profile(struct ai_process_sampler *sampler, unsigned rate_hz);
/* Reads every profile's buffered events (often: the kernel's buffers are bounded). */
void ai_process_sampler_read_profiles(struct ai_process_sampler *sampler);
/* Process p's profile, or NULL; then *why_not (NULL: not tried yet) says why in one line
 * ("no profile: ..."). Valid until the next sample. */
const struct ai_live_profile *ai_process_sampler_profile_of(const struct ai_process_sampler *sampler, size_t p,
							    const char **why_not);
/* The TUI unless --no-tui: when stdin and stdout are a terminal, or $AI_TUI_HEADLESS is set. */
bool ai_monitor_wants_tui(bool no_tui);

enum ai_format { AI_FORMAT_TEXT, AI_FORMAT_JSON };

#define AI_MAX_PIDS 1024
/* What selects the target of a read-only command: --pid N, or --core FILE --exe BIN. */
struct ai_target_options {
	int pid;         /* the first process given */
	const char *core;
	const char *exe;
	/* Every process of --pid (repeatable), --pids A,B,C and --pgrep NAME, in the order given,
	 * each once (src/cli/pids.c); more than AI_MAX_PIDS is an error. Only dump takes more than
	 * one. */
	int pids[AI_MAX_PIDS];
	size_t pid_count;
};
/* Long-option codes of --pids and --pgrep (past every short option's character). */
enum { AI_OPT_PIDS = 0x1000, AI_OPT_PGREP, AI_OPT_CGROUP, AI_OPT_DECODERS = 0x1100, AI_OPT_PROFILE };
/* Adds the processes of --pid N, --pids A,B,C, --pgrep NAME or --cgroup PATH (opt 'p',
 * AI_OPT_PIDS, AI_OPT_PGREP, AI_OPT_CGROUP) to options. --pgrep: every process whose command name
 * (/proc/PID/comm) or executable's base name is NAME, not async-inspect itself; none is an error
 * naming NAME. --cgroup: every process listed in PATH/cgroup.procs and in those of the cgroups
 * below it (PATH under the cgroup v2 mount unless it is the absolute path of a directory). */
struct ai_error *ai_target_add_pids(struct ai_target_options *options, int opt, const char *arg);

/* Parses "250ms", "10s", "2m", "1h" or a plain number of seconds into milliseconds. */
struct ai_error *ai_parse_duration(const char *text, uint64_t *ms_ret);
struct ai_error *ai_parse_pid(const char *text, int *pid_ret);
struct ai_error *ai_parse_format(const char *text, enum ai_format *format_ret);
/* --debug-dir DIR (repeatable): DIR must be a directory; it is added to the places separate debug
 * files are looked for (ai_debuginfo_add_debug_dir). An error names DIR otherwise. */
struct ai_error *ai_parse_debug_dir(const char *dir);
/* The options of every read-only command: --pid, --core, --exe, --format, --color, --debug-dir,
 * --user-crate. */
struct ai_read_options {
	struct ai_target_options target;
	enum ai_format format;
};
/* The options that choose processes (ai_target_add_pids). */
#define AI_PID_LONG_OPTIONS                                   \
	{ "pid", required_argument, NULL, 'p' },              \
	{ "pids", required_argument, NULL, AI_OPT_PIDS },     \
	{ "pgrep", required_argument, NULL, AI_OPT_PGREP },   \
	{ "cgroup", required_argument, NULL, AI_OPT_CGROUP }
#define AI_READ_LONG_OPTIONS                                  \
	AI_PID_LONG_OPTIONS,                                  \
	{ "core", required_argument, NULL, 'c' },             \
	{ "exe", required_argument, NULL, 'e' },              \
	{ "format", required_argument, NULL, 'f' },           \
	{ "color", required_argument, NULL, 'C' },            \
	{ "debug-dir", required_argument, NULL, 'D' },        \
	{ "user-crate", required_argument, NULL, 'U' },       \
	{ "decoders", required_argument, NULL, AI_OPT_DECODERS }
/* Handles opt if it is one of AI_READ_LONG_OPTIONS: returns true, with *err_ret set if its argument
 * is wrong. Returns false for any other option. */
bool ai_parse_read_option(int opt, const char *arg, struct ai_read_options *options,
			  struct ai_error **err_ret);

/* Checks the combination of --pid/--core/--exe and opens the target (attached and running for a
 * pid, loaded for a core). */
struct ai_error *ai_open_target(const struct ai_target_options *options, struct ai_target **ret);

/* One-shot commands: opens the target, takes one snapshot (the dump view with async_options, the
 * threads view when it is NULL), detaches and closes the target. `once` may be NULL. */
struct ai_async_options;
struct ai_snapshot;
struct ai_once_options {
	uint64_t max_pause_us; /* dump --max-pause (0: none) */
	bool progress;         /* tell of a long pause on stderr (and show its progress on a terminal) */
};
struct ai_error *ai_snapshot_once(const struct ai_target_options *target_options,
				  const struct ai_async_options *async_options, const struct ai_once_options *once,
				  struct ai_snapshot **ret);

/* --break SPEC (repeatable), --break-count N and --format text|json of `run` and `attach`
 * (src/cli/cmd_break.c). */
struct ai_break_spec;
struct ai_break_cli {
	struct ai_break_spec *specs; /* owned */
	size_t count, capacity;
	uint64_t break_count;        /* 0: every hit until the program ends */
	bool json;
	bool history;                /* --history */
	bool no_locals, all_locals; /* --no-locals, --all-locals */
	const char *step;            /* --step TASK (borrowed from argv), or NULL */
	uint64_t step_count;         /* --step-count N; 0: not given (1) */
};
enum { AI_OPT_STEP = 0x1200, AI_OPT_STEP_COUNT };
#define AI_BREAK_LONG_OPTIONS                                   \
	{ "break", required_argument, NULL, 'B' },              \
	{ "break-count", required_argument, NULL, 'N' },        \
	{ "history", no_argument, NULL, 'Y' },                  \
	{ "format", required_argument, NULL, 'f' },             \
	{ "step", required_argument, NULL, AI_OPT_STEP },       \
	{ "step-count", required_argument, NULL, AI_OPT_STEP_COUNT }
/* Handles opt if it is one of AI_BREAK_LONG_OPTIONS: returns 0, or the exit status after printing
 * why arg is wrong; -1 for any other option. */
int ai_parse_break_option(const char *command, int opt, const char *arg, struct ai_break_cli *b);
void ai_break_cli_deinit(struct ai_break_cli *b);
/* Checks how the --break and --step options combine: 0, or the exit status after printing why
 * not. Set tells whether either was given. */
int ai_break_cli_check(const char *command, const struct ai_break_cli *b, bool *set_ret);
/* Runs the breakpoints (or, with --step, the steps) on target (launched: stopped at its exec; attached: running). Returns -1
 * when the breakpoints are done and detached (*exited_ret says whether the program ended while
 * they were in, with its wait status in *status_ret), else the exit status after printing the
 * error (a SPEC that names no await: AI_EXIT_USAGE; a launched program is then killed). With
 * --step (b->step), an error leaves the program running without us, and *exited_ret says
 * whether it ended meanwhile. */
int ai_break_command(struct ai_target *target, const struct ai_break_cli *b, bool *exited_ret,
		     int *status_ret);
/* The options of the breakpoint session for b (its specs borrowed). */
struct ai_break_options ai_break_cli_options(const struct ai_break_cli *b);
/* --break on a terminal (not --no-tui, --format json, --history or --step): the TUI's breakpoint
 * mode rather than the printer. */
bool ai_break_cli_wants_tui(const struct ai_break_cli *b, bool no_tui);
/* The breakpoints could not be set (err, consumed): a launched target still stopped at its exec
 * is killed; returns the exit status after printing err (AI_EXIT_USAGE for a bad SPEC). */
int ai_break_setup_failed(struct ai_target *target, struct ai_error *err);
#ifndef AI_VERSION
#define AI_VERSION "0.1.0"
#endif

/* What dump writes besides --format text|json. */
struct ai_dump_output {
	bool pretty;          /* --pretty */
	bool graph;           /* --graph dot */
	bool otlp;            /* --format otlp, or --otlp URL */
	const char *otlp_url; /* --otlp URL: POSTed there instead of printed */
};
struct ai_process_set;
/* The snapshots of set as OTLP/JSON (ai_write_otlp_json, a new random trace id): printed on
 * stdout, or POSTed to url (Content-Type application/json, 10 s timeout), a line on stdout
 * saying what was sent. Returns the exit status; a failed POST is one line on stderr. */
int ai_dump_otlp(const struct ai_process_set *set, const char *url, bool pretty);
/* POSTs body to an OTLP/HTTP endpoint; a connection error or a non-2xx answer is an error naming
 * url with curl's message, or the HTTP status and the start of the answer, on one line. */
struct ai_error *ai_otlp_post(const char *url, const char *body, size_t len);

/* dump with several processes (src/cli/dump_processes.c): each captured in turn (stopped, copied,
 * let go, one at a time), then linked through their sockets (ai/peers.h) and printed together;
 * graph: their wait-for graph as DOT instead (ai_print_processes_graph_dot). */
int ai_dump_processes(const struct ai_read_options *read_options, const struct ai_async_options *async_options,
		      const struct ai_once_options *once, const struct ai_dump_output *output);
/* Labels the snapshot of a live process with its command name (/proc/PID/comm) and our host name,
 * for views of several processes and for merge. */
void ai_snapshot_label_process(struct ai_snapshot *snapshot);
/* Gives every I/O wait of the set's live snapshots that no inspected process answers the process
 * /proc shows at the other end (src/cli/outside_peers.c): the TCP socket whose addresses are its
 * own swapped, a unix socket's peer inode, a pipe's other end (its writer for a reader). Its
 * wait->peer is outside (no task) and says "pid N (command), not inspected". */
struct ai_process_set;
void ai_name_outside_peers(struct ai_process_set *set);

/* SIGINT, SIGTERM and SIGHUP call handler (no SA_RESTART: a blocking call returns at once), for
 * the commands whose Ctrl-C ends the watch and detaches. */
void ai_catch_stop_signals(void (*handler)(int));

/* Whether to use color on `file`: --color=always/never/auto (auto: a terminal and no NO_COLOR). */
bool ai_use_color(FILE *file);
extern const char *ai_color_option; /* "auto" unless --color said otherwise */

/* Prints an error for the user and returns AI_EXIT_FAILURE; frees err. */
int ai_fail(struct ai_error *err);
/* Prints "async-inspect: <message>" plus a hint to see --help, returns AI_EXIT_USAGE. */
int ai_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
