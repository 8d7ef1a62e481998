/* `async-inspect merge FILE...`: dumps taken apart (on several hosts, or one process at a time)
 * joined into one view, with the tasks at both ends of a TCP connection linked by its addresses
 * and ports (src/analysis/peers.c), as `dump --pid A --pid B` links live processes. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/peers.h"
#include "ai/util.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect merge [OPTIONS] FILE...\n"
		"\n"
		"Join the JSON dumps of several processes (`dump --format json`, one file per\n"
		"process or host, or a dump of several processes) into one view: every process's\n"
		"tasks labelled with its pid and command, a task waiting on a TCP connection\n"
		"linked to the task of another dump that holds the other end (by the addresses and\n"
		"ports of both ends; loopback addresses only between dumps of one host), and the\n"
		"wait-for cycles that run through those connections. The dumps were taken at\n"
		"different moments, by clocks that may differ: the spread is printed.\n"
		"\n"
		"Options:\n"
		"  -f, --format FMT  text (default) or json (the document \"async-inspect-processes\")\n"
		"      --pretty      json: indented for people\n"
		"      --graph dot   write the joined wait-for graph as Graphviz DOT instead, as\n"
		"                    `dump --pid A --pid B --graph dot` does: a cluster per process,\n"
		"                    the socket edges between hosts, a cycle across them in red\n"
		"      --color WHEN  auto (default: on a terminal), always or never\n"
		"  -h, --help        show this help\n");
}

/* Adds the snapshots of one file: a snapshot document, or a processes document. */
static struct ai_error *load(const char *path, struct ai_process_set *set)
{
	json_error_t error;
	json_t *root = json_load_file(path, 0, &error);
	if (!root)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s:%d: not a JSON dump: %s", path, error.line, error.text);
	struct ai_error *err = NULL;
	const char *format = json_string_value(json_object_get(root, "format"));
	if (format && strcmp(format, "async-inspect-processes") == 0) {
		const json_t *processes = json_object_get(root, "processes"), *item;
		size_t i;
		if (!json_is_array(processes))
			err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s: \"processes\" is not an array", path);
		json_array_foreach(processes, i, item) {
			struct ai_snapshot *s;
			if ((err = ai_snapshot_from_json(item, &s))) {
				err = ai_error_wrap(err, "%s: processes[%zu]", path, i);
				break;
			}
			ai_process_set_add(set, s);
		}
	} else {
		struct ai_snapshot *s;
		if ((err = ai_snapshot_from_json(root, &s)))
			err = ai_error_wrap(err, "%s", path);
		else
			ai_process_set_add(set, s);
	}
	json_decref(root);
	return err;
}

int ai_cmd_merge(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "pretty", no_argument, NULL, 'P' },
		{ "graph", required_argument, NULL, 'G' },
		{ "color", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum ai_format format = AI_FORMAT_TEXT;
	bool pretty = false, graph = false;
	struct ai_error *err;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "f:h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if ((err = ai_parse_format(optarg, &format)))
				return ai_fail(err);
			break;
		case 'P':
			pretty = true;
			break;
		case 'G':
			if (strcmp(optarg, "dot") != 0)
				return ai_usage_error("merge", "invalid graph format '%s' (only dot)", optarg);
			graph = true;
			break;
		case 'C':
			ai_color_option = optarg;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("merge", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ai_usage_error("merge", "no file: give the JSON dumps to join");
	struct ai_process_set set;
	ai_process_set_init(&set);
	for (int i = optind; i < argc; i++) {
		if ((err = load(argv[i], &set))) {
			ai_process_set_deinit(&set);
			return ai_fail(err);
		}
	}
	ai_analysis_peers(&set);
	int64_t first = INT64_MAX, last = INT64_MIN;
	for (size_t p = 0; p < set.count; p++) {
		int64_t at = set.snapshots[p]->captured_at_ms;
		first = at < first ? at : first;
		last = at > last ? at : last;
	}
	if (graph) {
		ai_print_processes_graph_dot(stdout, &set);
	} else if (format == AI_FORMAT_JSON) {
		ai_print_processes_json(stdout, &set, pretty);
	} else {
		if (set.count > 1)
			printf("%zu dumps taken within %" PRId64 " ms of each other (by their own clocks, which may differ "
			       "between hosts)\n\n", set.count, last - first);
		struct ai_text_options text = { .color = ai_use_color(stdout), .locals = true };
		ai_print_processes_text(stdout, &set, &text);
	}
	int status = fflush(stdout) == 0 ? AI_EXIT_OK : AI_EXIT_FAILURE;
	ai_process_set_deinit(&set);
	return status;
}
