/* `async-inspect dump`: one snapshot of every task and block_on future, as await trees. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/peers.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect dump (--pid N... | --core FILE --exe BIN) [OPTIONS]\n"
		"\n"
		"Print every task of every runtime it knows and every future driven by block_on\n"
		"as an await tree:\n"
		"for each await frame the async fn, its state, the file:line of the .await it is\n"
		"parked on and its saved locals, down to the leaf future it waits on. A live\n"
		"process is stopped only while its memory is copied, then left running; one\n"
		"with more than 512 MiB of writable memory in use stays stopped while it is\n"
		"decoded (a warning says so first, and a terminal shows the progress).\n"
		"\n"
		"Options:\n"
		"  -p, --pid N          a running process; repeatable: several processes are\n"
		"                       captured one after the other, every task is labelled\n"
		"                       with its process, and a task waiting on a TCP socket is\n"
		"                       linked to the task at its other end (JSON: the document\n"
		"                       \"async-inspect-processes\")\n"
		"      --pids A,B,C     several processes at once\n"
		"      --pgrep NAME     every process whose command (or executable) is NAME\n"
		"      --cgroup PATH    every process of a cgroup and the cgroups below it (a\n"
		"                       container, or a unit: system.slice/NAME.service; PATH\n"
		"                       is under the cgroup v2 mount unless it is the absolute\n"
		"                       path of a directory)\n"
		"      --core FILE      a core file (e.g. from gdb's gcore)...\n"
		"      --exe BIN        ...and the executable that produced it\n"
		"  -f, --format FMT     text (default), json (docs/json-format.md), or otlp:\n"
		"                       OpenTelemetry's OTLP/JSON, a span per task and a child\n"
		"                       span per await frame, for a tracing backend\n"
		"      --otlp URL       POST that OTLP/JSON to a collector's OTLP/HTTP traces\n"
		"                       endpoint (http://collector:4318/v1/traces) instead of\n"
		"                       printing it; an error answer fails the command\n"
		"      --pretty         json: indented for people (default: compact, one line)\n"
		"      --locals         print saved locals and arguments (the default)\n"
		"      --no-locals      leave them out\n"
		"      --all-locals     compiler-generated ones too (__awaitee, drop flags __N,\n"
		"                       locals a macro such as select! declares)\n"
		"      --full-values    every value whole (lists up to 100,000 items, strings up\n"
		"                       to 1 MiB); without it a text line stays within 160\n"
		"                       columns and a longer value is cut with …\n"
		"      --depth N        await frames shown below each root (default 64)\n"
		"      --graph dot      write the wait-for graph (tasks, locks, channels; deadlock\n"
		"                       cycles in red) as Graphviz DOT instead of the dump\n"
		"      --debug-dir DIR  also look for separate debug files in DIR (by build-id\n"
		"                       under DIR/.build-id/, by .gnu_debuglink name, and split\n"
		"                       DWARF's .dwo files by name); repeatable\n"
		"      --user-crate NAME  count crate NAME's code as the program's own, not a\n"
		"                       dependency's (the TUI's await line, JSON `dependency`); repeatable\n"
		"      --decoders FILE  declarative decoders (JSON, docs/decoders/): type summaries\n"
		"                       (the members a type's values show), or a runtime's tasks;\n"
		"                       repeatable\n"
		"      --color WHEN     auto (default: on a terminal), always or never\n"
		"      --max-pause TIME cap how long the process stays stopped (e.g. 5ms): its\n"
		"                       stacks, then as much of its other memory as fits, are\n"
		"                       copied; it then runs on and the rest is read live (tasks\n"
		"                       that needed it are marked \"read live\")\n"
		"  -h, --help           show this help\n");
}

int ai_cmd_dump(int argc, char **argv)
{
	static const struct option long_options[] = {
		AI_READ_LONG_OPTIONS,
		{ "locals", no_argument, NULL, 'l' },
		{ "no-locals", no_argument, NULL, 'L' },
		{ "all-locals", no_argument, NULL, 'A' },
		{ "full-values", no_argument, NULL, 'V' },
		{ "depth", required_argument, NULL, 'd' },
		{ "graph", required_argument, NULL, 'G' },
		{ "max-pause", required_argument, NULL, 'M' },
		{ "pretty", no_argument, NULL, 'P' },
		{ "otlp", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ai_read_options read_options = { .format = AI_FORMAT_TEXT };
	struct ai_async_options async_options;
	ai_async_options_default(&async_options);
	struct ai_error *err;
	struct ai_dump_output output = { .pretty = false };
	bool format_otlp = false;
	struct ai_once_options once = { .progress = true };
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+p:f:h", long_options, NULL)) != -1) {
		/* otlp is dump's own format, not one of every read command's. */
		if (opt == 'f')
			format_otlp = strcmp(optarg, "otlp") == 0;
		if (format_otlp && opt == 'f') {
			read_options.format = AI_FORMAT_TEXT;
			continue;
		}
		if (ai_parse_read_option(opt, optarg, &read_options, &err)) {
			if (err)
				return ai_fail(err);
			continue;
		}
		switch (opt) {
		case 'l':
			async_options.locals = true;
			break;
		case 'L':
			async_options.locals = false;
			break;
		case 'A':
			async_options.locals = true;
			async_options.all_locals = true;
			break;
		case 'V':
			async_options.full_values = true;
			ai_value_limits_full(&async_options.value_limits);
			break;
		case 'd': {
			char *end;
			long depth = strtol(optarg, &end, 10);
			if (*end || end == optarg || depth < 0 || depth > 10000)
				return ai_usage_error("dump", "invalid depth '%s' (a number from 0 to 10000)", optarg);
			async_options.max_depth = (unsigned)depth;
			break;
		}
		case 'G':
			if (strcmp(optarg, "dot") != 0)
				return ai_usage_error("dump", "invalid graph format '%s' (only dot)", optarg);
			output.graph = true;
			break;
		case 'M': {
			int rc = ai_parse_max_pause("dump", optarg, &once.max_pause_us);
			if (rc)
				return rc;
			break;
		}
		case 'P':
			output.pretty = true;
			break;
		case 'O':
			if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
				return ai_usage_error("dump", "invalid OTLP URL '%s' (http:// or https://, e.g. "
						      "http://localhost:4318/v1/traces)", optarg);
			output.otlp_url = optarg;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("dump", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ai_usage_error("dump", "unexpected argument '%s'", argv[optind]);
	/* JSON carries each value's structured form beside its summary, from the same walk. */
	output.otlp = format_otlp || output.otlp_url;
	if (output.otlp && output.graph)
		return ai_usage_error("dump", "--graph dot and OTLP output are two different outputs: give one");
	if (output.otlp_url && read_options.format == AI_FORMAT_JSON)
		return ai_usage_error("dump", "--otlp sends OTLP/JSON: leave out --format json");
	async_options.value_limits.structured = read_options.format == AI_FORMAT_JSON && !output.graph &&
						!output.otlp;
	if (once.max_pause_us && read_options.target.core)
		return ai_usage_error("dump", "--max-pause is for a live process (--pid), not a core file");
	if (read_options.target.pid_count > 1) {
		if (read_options.target.core || read_options.target.exe)
			return ai_usage_error("dump", "give either processes (--pid), or --core with --exe, not both");
		return ai_dump_processes(&read_options, &async_options, &once, &output);
	}

	struct ai_snapshot *snapshot = NULL;
	if ((err = ai_snapshot_once(&read_options.target, &async_options, &once, &snapshot)))
		return ai_fail(err);
	ai_snapshot_label_process(snapshot);
	/* Large dumps are megabytes of text: write it in big blocks. */
	static char out_buffer[1 << 16];
	setvbuf(stdout, out_buffer, _IOFBF, sizeof(out_buffer));
	int status = AI_EXIT_OK;
	if (output.otlp) {
		struct ai_process_set one = { .snapshots = &snapshot, .count = 1 };
		status = ai_dump_otlp(&one, output.otlp_url, output.pretty);
	} else if (output.graph) {
		ai_print_graph_dot(stdout, snapshot);
	} else if (read_options.format == AI_FORMAT_JSON) {
		ai_print_dump_json(stdout, snapshot, output.pretty);
	} else {
		struct ai_text_options text = { .color = ai_use_color(stdout), .locals = async_options.locals,
					      .full_values = async_options.full_values };
		ai_print_dump_text(stdout, snapshot, &text);
	}
	if (fflush(stdout) != 0)
		status = AI_EXIT_FAILURE;
	/* A runtime whose tasks could not be read must not pass for one with no tasks. */
	for (size_t i = 0; i < snapshot->runtime_count; i++) {
		const struct ai_snapshot_runtime *rt = &snapshot->runtimes[i];
		if (rt->decoded)
			continue;
		fprintf(stderr, "async-inspect: error: %s%s%s%s%s is used by process %d, but its tasks could not "
			"be decoded (its layout is not supported; the warnings say why)\n", rt->name,
			rt->version ? " " : "", rt->version ? rt->version : "", rt->module ? " in " : "",
			rt->module ? rt->module : "", (int)snapshot->pid);
		status = AI_EXIT_FAILURE;
	}
	ai_snapshot_destroy(snapshot);
	return status;
}
