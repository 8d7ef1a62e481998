/* `async-inspect replay FILE`: a recording made with --record, shown again without the program:
 * in the TUI of `attach` (over a replay source), or as one text dump per snapshot. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/live.h"
#include "ai/tui.h"
#include "ai/util.h"

#define HISTORY 8
/* A recorded interval longer than this is shortened (a recording paused for a night). */
#define MAX_DELAY_MS 10000

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect replay [OPTIONS] FILE\n"
		"\n"
		"Show a recording made with `attach --record FILE` or `run --record FILE` again,\n"
		"without the program: in the interactive view of `attach` (the header says REPLAY and\n"
		"when each snapshot was taken; snapshots follow each other at the recorded intervals,\n"
		"p pauses the playback, r steps to the next snapshot), or with --no-tui (or when\n"
		"stdout is not a terminal) as one text dump per snapshot.\n"
		"\n"
		"Options:\n"
		"      --no-tui      print every snapshot as a dump instead of the interactive view\n"
		"      --no-wait     do not wait the recorded intervals: step at once\n"
		"      --color WHEN  auto (default: on a terminal), always or never\n"
		"  -h, --help        show this help\n");
}

struct replay {
	struct ai_recording_reader *reader; /* owned */
	struct ai_snapshot *next;           /* owned: read ahead, to know the interval to it */
	int64_t shown_at_ms;                /* captured_at_ms of the snapshot returned last */
	bool wait;                          /* wait the recorded intervals */
	bool ended;
	unsigned long count;
	char *end_note;                     /* owned: why the recording ended early, or NULL */
	bool end_is_error;                  /* a corrupt line (not merely a last line cut short) */
};

/* Reads the next snapshot into r->next (NULL at the end). */
static struct ai_error *read_ahead(struct replay *r)
{
	char *warning;
	struct ai_error *err = ai_recording_next(r->reader, &r->next, &warning);
	if (err)
		return err;
	if (warning) {
		free(r->end_note);
		r->end_note = warning;
	}
	return NULL;
}

static struct ai_error *replay_sample(void *arg, struct ai_snapshot **ret)
{
	struct replay *r = arg;
	if (!r->next) {
		r->ended = true;
		return ai_error_create(AI_ERROR_TARGET_EXITED, "end of the recording (%lu snapshot%s)%s%s", r->count,
				       r->count == 1 ? "" : "s", r->end_note ? ": " : "",
				       r->end_note ? r->end_note : "");
	}
	struct ai_snapshot *snapshot = r->next;
	r->next = NULL;
	struct ai_error *err = read_ahead(r);
	if (err) {
		/* A bad line: show what came before it, and end there with the reason. */
		free(r->end_note);
		r->end_note = xstrdup(err->message);
		r->end_is_error = true;
		ai_error_destroy(err);
	}
	r->shown_at_ms = snapshot->captured_at_ms;
	r->count++;
	*ret = snapshot;
	return NULL;
}

static uint64_t replay_next_delay_ms(void *arg)
{
	struct replay *r = arg;
	if (!r->wait || !r->next || r->next->captured_at_ms <= r->shown_at_ms)
		return 0;
	return (uint64_t)AI_MIN(r->next->captured_at_ms - r->shown_at_ms, (int64_t)MAX_DELAY_MS);
}

static struct ai_error *replay_run(void *arg, int timeout_ms, bool *exited_ret)
{
	struct replay *r = arg;
	if (timeout_ms > 0)
		usleep((useconds_t)timeout_ms * 1000);
	*exited_ret = r->ended;
	return NULL;
}

static struct ai_error *replay_set_paused(void *arg, bool paused)
{
	return NULL; /* the TUI stops asking for snapshots; nothing else to pause */
}

static struct ai_error *print_all(struct replay *r)
{
	struct ai_text_options text = { .color = ai_use_color(stdout), .locals = true };
	for (;;) {
		struct ai_snapshot *snapshot;
		struct ai_error *err = replay_sample(r, &snapshot);
		if (err) {
			bool end = err->code == AI_ERROR_TARGET_EXITED && !r->end_note;
			ai_error_destroy(err);
			if (end)
				return NULL;
			/* Ended on a bad or cut line: say so, and fail only for a corrupt one. */
			if (!r->end_is_error) {
				fprintf(stderr, "async-inspect: warning: %s\n", r->end_note);
				return NULL;
			}
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s", r->end_note);
		}
		time_t t = (time_t)(snapshot->captured_at_ms / 1000);
		struct tm tm;
		char when[32] = "?";
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("==== snapshot %lu recorded %s.%03d (pause %" PRIu64 "us", r->count, when,
		       (int)(snapshot->captured_at_ms % 1000), snapshot->pause_us);
		if (snapshot->max_pause_us)
			printf(", cap %" PRIu64 "us, sampled %zu of %zu tasks, stop %" PRIu64 "us", snapshot->max_pause_us,
			       snapshot->tasks_sampled, snapshot->task_count, snapshot->stop_us);
		printf(")\n");
		ai_print_dump_text(stdout, snapshot, &text);
		ai_snapshot_destroy(snapshot);
		if (fflush(stdout) != 0)
			return ai_error_create(AI_ERROR_OS, "cannot write to stdout");
	}
}

int ai_cmd_replay(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "no-tui", no_argument, NULL, 'n' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "color", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool no_tui = false;
	struct replay r = { .wait = true };
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			no_tui = true;
			break;
		case 'W':
			r.wait = false;
			break;
		case 'C':
			ai_color_option = optarg;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("replay", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ai_usage_error("replay", "no recording: give the FILE that --record wrote");
	if (optind + 1 < argc)
		return ai_usage_error("replay", "unexpected argument '%s'", argv[optind + 1]);
	const char *path = argv[optind];
	struct ai_error *err = ai_recording_open(path, &r.reader);
	if (err)
		return ai_fail(err);
	/* The first snapshot must be good: otherwise there is nothing to show. */
	if (!(err = read_ahead(&r)) && !r.next)
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s: no snapshot in this recording%s%s", path,
				      r.end_note ? ": " : "", r.end_note ? r.end_note : "");
	if (!err) {
		if (ai_monitor_wants_tui(no_tui)) {
			struct ai_live *live = ai_live_create(HISTORY);
			struct ai_tui_source source = { replay_sample, replay_run, replay_set_paused, replay_next_delay_ms,
							&r, NULL };
			struct ai_tui_options tui = {
				.interval_ms = 500,
				.replay = true,
				.headless = getenv("AI_TUI_HEADLESS"),
				.keys = getenv("AI_TUI_KEYS"),
			};
			enum ai_tui_end end;
			err = ai_tui_run(live, &source, &tui, &end);
			ai_live_destroy(live);
		} else {
			err = print_all(&r);
		}
	}
	ai_snapshot_destroy(r.next);
	ai_recording_close(r.reader);
	free(r.end_note);
	if (err)
		return ai_fail(err);
	return AI_EXIT_OK;
}
