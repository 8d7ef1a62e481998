/* `async-inspect threads`: every thread's native stack, like eu-stack, with Rust names. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/frontend.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect threads (--pid N | --core FILE --exe BIN) [--format text|json]\n"
		"\n"
		"Print every thread of a process (or core file) with its native backtrace: Rust\n"
		"function paths as in the debug info, source file and line. A live process is\n"
		"stopped only while its stacks are read, then detached and left running.\n"
		"\n"
		"Options:\n"
		"  -p, --pid N          a running process\n"
		"      --core FILE      a core file (e.g. from gdb's gcore)...\n"
		"      --exe BIN        ...and the executable that produced it\n"
		"  -f, --format FMT     text (default) or json\n"
		"      --debug-dir DIR  also look for separate debug files in DIR (by build-id\n"
		"                       under DIR/.build-id/, by .gnu_debuglink name, and split\n"
		"                       DWARF's .dwo files by name); repeatable\n"
		"      --color WHEN     auto (default: on a terminal), always or never\n"
		"  -h, --help           show this help\n");
}

int ai_cmd_threads(int argc, char **argv)
{
	static const struct option long_options[] = {
		AI_READ_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ai_read_options read_options = { .format = AI_FORMAT_TEXT };
	struct ai_error *err;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+p:f:h", long_options, NULL)) != -1) {
		if (ai_parse_read_option(opt, optarg, &read_options, &err)) {
			if (err)
				return ai_fail(err);
			continue;
		}
		switch (opt) {
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("threads", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ai_usage_error("threads", "unexpected argument '%s'", argv[optind]);

	struct ai_snapshot *snapshot = NULL;
	if ((err = ai_snapshot_once(&read_options.target, NULL, NULL, &snapshot)))
		return ai_fail(err);
	if (read_options.format == AI_FORMAT_JSON) {
		ai_print_threads_json(stdout, snapshot);
	} else {
		struct ai_text_options text = { .color = ai_use_color(stdout) };
		ai_print_threads_text(stdout, snapshot, &text);
	}
	ai_snapshot_destroy(snapshot);
	return fflush(stdout) == 0 ? AI_EXIT_OK : AI_EXIT_FAILURE;
}
