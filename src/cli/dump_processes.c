/* `dump` of several processes: each is captured in turn, so only one is stopped at a time, then
 * their sockets link the tasks of one to those of another (src/analysis/peers.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/peers.h"
#include "ai/util.h"

void ai_snapshot_label_process(struct ai_snapshot *snapshot)
{
	if (snapshot->core || snapshot->pid <= 0)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)snapshot->pid);
	char *comm = ai_read_small_file(path, NULL);
	if (comm) {
		comm[strcspn(comm, "\n")] = '\0';
		free(snapshot->command);
		snapshot->command = comm;
	}
	char host[256];
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		free(snapshot->host);
		snapshot->host = xstrdup(host);
	}
}

int ai_dump_processes(const struct ai_read_options *read_options, const struct ai_async_options *async_options,
		      const struct ai_once_options *once, const struct ai_dump_output *output)
{
	const struct ai_target_options *targets = &read_options->target;
	struct ai_process_set set;
	ai_process_set_init(&set);
	int status = AI_EXIT_OK;
	for (size_t i = 0; i < targets->pid_count; i++) {
		struct ai_target_options one = { .pid = targets->pids[i] };
		struct ai_snapshot *snapshot = NULL;
		struct ai_error *err = ai_snapshot_once(&one, async_options, once, &snapshot);
		if (err) {
			/* The others are still worth seeing; the exit status says one failed. */
			ai_fail(ai_error_wrap(err, "process %d", targets->pids[i]));
			status = AI_EXIT_FAILURE;
			continue;
		}
		ai_snapshot_label_process(snapshot);
		ai_process_set_add(&set, snapshot);
	}
	if (set.count == 0) {
		ai_process_set_deinit(&set);
		return AI_EXIT_FAILURE;
	}
	ai_analysis_peers(&set);
	ai_name_outside_peers(&set);
	static char out_buffer[1 << 16];
	setvbuf(stdout, out_buffer, _IOFBF, sizeof(out_buffer));
	if (output->otlp) {
		if (ai_dump_otlp(&set, output->otlp_url, output->pretty) != AI_EXIT_OK)
			status = AI_EXIT_FAILURE;
	} else if (output->graph) {
		ai_print_processes_graph_dot(stdout, &set);
	} else if (read_options->format == AI_FORMAT_JSON) {
		ai_print_processes_json(stdout, &set, output->pretty);
	} else {
		struct ai_text_options text = { .color = ai_use_color(stdout), .locals = async_options->locals,
					      .full_values = async_options->full_values };
		ai_print_processes_text(stdout, &set, &text);
	}
	if (fflush(stdout) != 0)
		status = AI_EXIT_FAILURE;
	for (size_t p = 0; p < set.count; p++) {
		const struct ai_snapshot *s = set.snapshots[p];
		for (size_t i = 0; i < s->runtime_count; i++) {
			const struct ai_snapshot_runtime *rt = &s->runtimes[i];
			if (rt->decoded)
				continue;
			fprintf(stderr, "async-inspect: error: %s%s%s%s%s is used by process %d, but its tasks could not "
				"be decoded (its layout is not supported; the warnings say why)\n", rt->name,
				rt->version ? " " : "", rt->version ? rt->version : "", rt->module ? " in " : "",
				rt->module ? rt->module : "", (int)s->pid);
			status = AI_EXIT_FAILURE;
		}
	}
	ai_process_set_deinit(&set);
	return status;
}
