/* The breakpoint loop: insert, run, and on each hit take a snapshot, find the task being polled
 * there, print it, and let the program go on; after --break-count hits remove them and detach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/util.h"

static void print_text(const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
		       const struct ai_snapshot *s, const struct ai_snapshot_task *task, uint64_t env, pid_t tid)
{
	const char *thread_name = "";
	for (size_t i = 0; i < s->thread_count; i++)
		if (s->threads[i].tid == tid && s->threads[i].name)
			thread_name = s->threads[i].name;
	printf("breakpoint %zu (%s) hit %llu: %s at %s:%u, thread %d \"%s\"\n", site->spec + 1,
	       o->specs[site->spec].text, (unsigned long long)hit, site->function, ai_short_path(site->file),
	       site->line, (int)tid, thread_name);
	if (task) {
		struct ai_text_options text = { .color = o->color, .locals = o->locals };
		ai_print_task_text(stdout, s, task, &text);
	} else {
		printf("  task: unknown (no task's await tree holds the coroutine at 0x%llx)\n", (unsigned long long)env);
	}
	putchar('\n');
}

static void print_json(const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
		       const struct ai_snapshot_task *task, uint64_t env, pid_t tid)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, stdout, false);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "format", "async-inspect-breakpoint-hit");
	ai_json_field_int(&w, "version", 1);
	ai_json_field_uint(&w, "hit", hit);
	ai_json_key(&w, "breakpoint");
	ai_json_begin_object(&w);
	ai_json_field_uint(&w, "number", site->spec + 1);
	ai_json_field_string(&w, "spec", o->specs[site->spec].text);
	ai_json_end_object(&w);
	ai_json_field_string(&w, "function", site->function);
	ai_json_field_string(&w, "file", site->file);
	ai_json_field_uint(&w, "line", site->line);
	ai_json_field_int(&w, "thread", tid);
	ai_json_field_hex(&w, "coroutine", env);
	ai_json_key(&w, "task");
	if (task)
		ai_write_task_json(&w, task);
	else
		ai_json_null(&w);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	putchar('\n');
}

/* Takes the snapshot of a hit and prints it, when the spec's condition (if any) holds: then
 * *counted_ret is true. */
static struct ai_error *on_hit(struct ai_target *target, struct ai_capture *capture, const struct ai_break_options *o,
			       const struct ai_break_site *site, uint64_t env, uint64_t hit, bool *warned,
			       bool *counted_ret)
{
	*counted_ret = false;
	pid_t tid = target->hit_tid;
	struct ai_async_options async;
	ai_async_options_default(&async);
	async.locals = o->locals;
	async.all_locals = o->all_locals;
	struct ai_snapshot *snapshot;
	/* All-stop: every thread stays stopped until the record is out, so the program can neither
	 * move on nor end under the decoder, and its output after the hit comes after the record.
	 * The resume steps the hit thread over the int3. */
	struct ai_error *err = ai_capture_dump(capture, AI_CAPTURE_KEEP_STOPPED, &async, &snapshot);
	if (err) {
		ai_error_destroy(ai_target_resume(target));
		return err;
	}
	const struct ai_snapshot_task *task = ai_break_hit_task(snapshot, env, tid);
	const struct ai_break_spec *spec = &o->specs[site->spec];
	if (spec->cond) {
		struct ai_break_env cond_env = { task, task ? ai_break_node_at(&task->tree, env) : NULL };
		char *why = NULL;
		enum ai_break_truth truth = ai_break_cond_eval(spec->cond, &cond_env, &why);
		/* Said once per breakpoint: it would be said at every pass. */
		if (truth == AI_BREAK_UNKNOWN && !warned[site->spec])
			fprintf(stderr, "async-inspect: breakpoint %zu (%s): the condition is unknown here (%s): not a hit (said once)\n",
				site->spec + 1, spec->text, why ? why : "?");
		warned[site->spec] |= truth == AI_BREAK_UNKNOWN;
		free(why);
		if (truth != AI_BREAK_TRUE) {
			ai_snapshot_destroy(snapshot);
			return ai_target_resume(target);
		}
	}
	*counted_ret = true;
	if (o->json)
		print_json(o, site, hit, task, env, tid);
	else
		print_text(o, site, hit, snapshot, task, env, tid);
	fflush(stdout);
	ai_snapshot_destroy(snapshot);
	return ai_target_resume(target);
}

static struct ai_error *insert_all(struct ai_target *target, struct ai_debuginfo *di,
				   const struct ai_break_options *o, struct ai_break_sites *sites,
				   uint64_t *bias_ret)
{
	struct ai_error *err = ai_break_resolve(di, o->specs, o->spec_count, sites);
	return err ? err : ai_break_insert_sites(target, di, sites, bias_ret);
}

struct ai_error *ai_break_run(struct ai_target *target, const struct ai_break_options *o,
			      struct ai_break_result *result)
{
	memset(result, 0, sizeof(*result));
	struct ai_error *err = ai_target_stop(target);
	if (err)
		return err;
	struct ai_debuginfo *di = NULL;
	struct ai_capture *capture = NULL;
	struct ai_break_sites sites = { 0 };
	uint64_t bias = 0;
	err = ai_debuginfo_create(target, &di);
	if (!err)
		err = ai_debuginfo_check_rust(di);
	if (!err)
		err = insert_all(target, di, o, &sites, &bias);
	if (!err)
		err = ai_capture_create(target, &capture);
	if (err) {
		/* Left stopped: a launched program is killed before it runs, an attached one
		 * detached, by the caller. */
		ai_target_remove_breakpoints(target);
		ai_capture_destroy(capture);
		ai_debuginfo_destroy(di);
		ai_break_sites_deinit(&sites);
		return err;
	}
	bool *warned = xcalloc(o->spec_count, sizeof(*warned));
	if ((err = ai_target_resume(target)))
		goto out;
	while (!o->break_count || result->hits < o->break_count) {
		enum ai_run_event event;
		int status;
		if ((err = ai_target_run(target, -1, &event, &status)))
			break;
		if (event == AI_RUN_EXITED) {
			result->exited = true;
			result->status = status;
			break;
		}
		if (event != AI_RUN_BREAKPOINT)
			continue;
		for (size_t i = 0; i < sites.count; i++) {
			uint64_t env;
			if (sites.items[i].vaddr + bias != target->hit_address || !ai_break_site_hit(target, &sites.items[i], &env))
				continue;
			bool counted;
			err = on_hit(target, capture, o, &sites.items[i], env, result->hits + 1, warned, &counted);
			result->hits += counted;
			break;
		}
		if (err)
			break;
	}
out:
	/* Every path out removes the int3s: detaching does, with every thread stopped. */
	if (!result->exited)
		ai_target_detach(target);
	free(warned);
	ai_capture_destroy(capture);
	ai_debuginfo_destroy(di);
	ai_break_sites_deinit(&sites);
	return err;
}
