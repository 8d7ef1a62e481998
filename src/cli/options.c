/* Option parsing and target opening shared by the commands. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/debuginfo.h"
#include "ai/decoders.h"
#include "ai/util.h"

const char *ai_color_option = "auto";

struct ai_error *ai_parse_duration(const char *text, uint64_t *ms_ret)
{
	char *end;
	errno = 0;
	double value = strtod(text, &end);
	if (end == text || errno || value < 0)
		goto bad;
	double scale;
	if (*end == '\0' || strcmp(end, "s") == 0)
		scale = 1000;
	else if (strcmp(end, "ms") == 0)
		scale = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		scale = 60000;
	else if (strcmp(end, "h") == 0)
		scale = 3600000;
	else
		goto bad;
	if (value * scale > (double)UINT32_MAX * 1000)
		goto bad;
	*ms_ret = (uint64_t)(value * scale + 0.5);
	return NULL;
bad:
	return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
			       "invalid duration '%s' (examples: 500ms, 10s, 2m, 1h)", text);
}

struct ai_error *ai_parse_pid(const char *text, int *pid_ret)
{
	char *end;
	errno = 0;
	long pid = strtol(text, &end, 10);
	if (end == text || *end || errno || pid <= 0 || pid > INT32_MAX)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "invalid PID '%s'", text);
	*pid_ret = (int)pid;
	return NULL;
}

struct ai_error *ai_parse_format(const char *text, enum ai_format *format_ret)
{
	if (strcmp(text, "text") == 0)
		*format_ret = AI_FORMAT_TEXT;
	else if (strcmp(text, "json") == 0)
		*format_ret = AI_FORMAT_JSON;
	else
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "invalid format '%s' (expected text or json)", text);
	return NULL;
}

struct ai_error *ai_parse_debug_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return ai_error_from_errno(errno, "--debug-dir %s", dir);
	if (!S_ISDIR(st.st_mode))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--debug-dir %s is not a directory",
				       dir);
	ai_debuginfo_add_debug_dir(dir);
	return NULL;
}

bool ai_parse_read_option(int opt, const char *arg, struct ai_read_options *options,
			  struct ai_error **err_ret)
{
	*err_ret = NULL;
	switch (opt) {
	case 'p':
	case AI_OPT_PIDS:
	case AI_OPT_PGREP:
	case AI_OPT_CGROUP:
		*err_ret = ai_target_add_pids(&options->target, opt, arg);
		return true;
	case 'c':
		options->target.core = arg;
		return true;
	case 'e':
		options->target.exe = arg;
		return true;
	case 'f':
		*err_ret = ai_parse_format(arg, &options->format);
		return true;
	case 'C':
		ai_color_option = arg;
		return true;
	case 'D':
		*err_ret = ai_parse_debug_dir(arg);
		return true;
	case 'U':
		ai_user_code_add_crate(arg);
		return true;
	case AI_OPT_DECODERS:
		*err_ret = ai_decoders_load(arg);
		return true;
	default:
		return false;
	}
}

int ai_parse_max_pause(const char *command, const char *arg, uint64_t *us_ret)
{
	uint64_t ms;
	struct ai_error *err = ai_parse_duration(arg, &ms);
	if (err)
		return ai_fail(err);
	if (ms < 1)
		return ai_usage_error(command, "--max-pause %s is too short (at least 1ms)", arg);
	*us_ret = ms * 1000;
	return 0;
}

int ai_parse_monitor_option(const char *command, int opt, const char *arg, struct ai_monitor_options *options)
{
	struct ai_error *err;
	uint64_t ms;
	switch (opt) {
	case 'i':
		if ((err = ai_parse_duration(arg, &ms)))
			return ai_fail(err);
		if (ms < 10)
			return ai_usage_error(command, "--interval %s is too short (at least 10ms)", arg);
		options->interval_ms = ms;
		return 0;
	case 'R':
		options->record_path = arg;
		return 0;
	case 'M':
		return ai_parse_max_pause(command, arg, &options->max_pause_us);
	case 'L':
		options->no_locals = true;
		return 0;
	case 'A':
		options->all_locals = true;
		return 0;
	case AI_OPT_PROFILE:
		options->profile = true;
		return 0;
	case 'D':
		if ((err = ai_parse_debug_dir(arg)))
			return ai_fail(err);
		return 0;
	case 'U':
		ai_user_code_add_crate(arg);
		return 0;
	case AI_OPT_DECODERS: {
		struct ai_error *load_err = ai_decoders_load(arg);
		if (!load_err)
			return 0;
		int status = ai_usage_error(command, "%s", load_err->message);
		ai_error_destroy(load_err);
		return status;
	}
	default:
		return -1;
	}
}

struct ai_error *ai_open_target(const struct ai_target_options *options, struct ai_target **ret)
{
	if (options->pid_count > 1)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "%zu processes given: this command inspects one (dump takes several)",
				       options->pid_count);
	if (options->pid && (options->core || options->exe))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "give either --pid, or --core with --exe, not both");
	if (options->pid)
		return ai_target_attach(options->pid, ret);
	if (options->core && options->exe)
		return ai_target_open_core(options->core, options->exe, ret);
	if (options->core)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--core needs --exe, the executable that produced the core");
	if (options->exe)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--exe goes with --core; for a live process give --pid");
	return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "no target: give --pid N, or --core FILE --exe BIN");
}

void ai_catch_stop_signals(void (*handler)(int))
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < AI_ARRAY_SIZE(sigs); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = handler;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

bool ai_use_color(FILE *file)
{
	if (strcmp(ai_color_option, "always") == 0)
		return true;
	if (strcmp(ai_color_option, "never") == 0)
		return false;
	const char *no_color = getenv("NO_COLOR");
	if (no_color && *no_color)
		return false;
	const char *term = getenv("TERM");
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(file));
}

int ai_fail(struct ai_error *err)
{
	ai_error_print(err, stderr);
	ai_error_destroy(err);
	return AI_EXIT_FAILURE;
}

int ai_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;
	fputs("async-inspect: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'async-inspect %s --help')\n", command);
	return AI_EXIT_USAGE;
}

/* A long pause, on stderr: the warning always, before it begins; on a terminal, a progress line
 * redrawn at most every 100 ms and wiped when the target runs again. */
struct progress_line {
	bool tty, shown;
	uint64_t last_us;
};

static void show_progress(const struct ai_capture_progress *p, void *arg)
{
	struct progress_line *line = arg;
	uint64_t now = ai_now_us();
	switch (p->event) {
	case AI_CAPTURE_LONG_PAUSE:
		fprintf(stderr,
			"async-inspect: warning: process %d has %.0f MiB of writable memory in use, more than the %.0f MiB we copy to let it run: it stays stopped while it is decoded, which can take seconds (--max-pause caps the pause)\n",
			(int)p->pid, (double)p->writable_bytes / (1 << 20), (double)p->limit_bytes / (1 << 20));
		line->tty = isatty(STDERR_FILENO);
		line->last_us = 0; /* the line shows at once: the user sees what goes on */
		/* fall through */
	case AI_CAPTURE_READING:
		if (line->tty && now - line->last_us >= 100000) {
			fprintf(stderr, "\r\033[Kprocess %d stopped for %.1f s: %.0f MiB read", (int)p->pid,
				(double)p->stopped_us / 1e6, (double)p->bytes_read / (1 << 20));
			line->shown = true;
			line->last_us = now;
		}
		break;
	case AI_CAPTURE_RESUMED:
		if (line->shown)
			fprintf(stderr, "\r\033[K");
		line->shown = false;
		break;
	}
	fflush(stderr);
}

struct ai_error *ai_snapshot_once(const struct ai_target_options *target_options,
				  const struct ai_async_options *async_options, const struct ai_once_options *once,
				  struct ai_snapshot **ret)
{
	ai_target_install_signal_handlers();
	struct ai_target *target;
	struct ai_error *err = ai_open_target(target_options, &target);
	if (err)
		return err;
	struct ai_capture *capture;
	struct progress_line line = { 0 };
	err = ai_capture_create(target, &capture);
	if (!err && once) {
		ai_capture_set_max_pause(capture, once->max_pause_us);
		if (once->progress)
			ai_capture_set_progress(capture, show_progress, &line);
	}
	if (!err) {
		err = async_options ? ai_capture_dump(capture, AI_CAPTURE_DETACH, async_options, ret)
				    : ai_capture_threads(capture, AI_CAPTURE_DETACH, ret);
		ai_capture_destroy(capture);
	}
	ai_target_destroy(target);
	return err;
}
