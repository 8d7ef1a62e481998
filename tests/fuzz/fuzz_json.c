/* Fuzz harness: the snapshot reader of `replay` and every consumer of what it returns. */
#include <jansson.h>
#include <stdio.h>

#include "ai/analysis.h"
#include "ai/frontend.h"
#include "ai/live.h"
#include "ai/snapshot.h"
#include "fuzz.h"

int ai_fuzz_json(const uint8_t *data, size_t size)
{
	json_error_t error;
	json_t *root = json_loadb((const char *)data, size, 0, &error);
	if (!root)
		return 0;
	struct ai_snapshot *snapshot = NULL;
	struct ai_error *err = ai_snapshot_from_json(root, &snapshot);
	json_decref(root);
	if (err) {
		ai_error_destroy(err);
		return 0;
	}
	ai_analysis_deadlocks(snapshot);
	FILE *out = fopen("/dev/null", "w");
	if (out) {
		struct ai_text_options text = { .color = true, .locals = true };
		ai_print_dump_text(out, snapshot, &text);
		ai_print_threads_text(out, snapshot, &text);
		ai_print_dump_json(out, snapshot, true);
		ai_print_graph_dot(out, snapshot);
		fclose(out);
	}
	/* The live model takes ownership; it follows tasks across snapshots. */
	struct ai_live *live = ai_live_create(2);
	ai_live_add(live, snapshot);
	ai_live_destroy(live);
	return 0;
}
