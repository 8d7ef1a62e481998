/* The TUI's breakpoint mode (`run` / `attach --break SPEC` on a terminal): while breakpoints are
 * in, the main loop lets the program run through the source's break_wait; at a hit the program
 * stays stopped (all threads), the hit task's details open with the breakpoint and its location
 * at their top, `c` continues to the next hit, `n` steps the task, `q` detaches. After the last
 * hit of --break-count the breakpoints are out and the view goes on as the plain live view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_internal.h"

bool tui_break_active(const struct tui *tui)
{
	return tui->breaking && tui->source->break_wait && !tui->exited;
}

struct ai_error *tui_break_poll(struct tui *tui, int timeout_ms, bool *redraw_ret)
{
	struct ai_tui_break_hit hit;
	struct ai_error *err = tui->source->break_wait(tui->source->arg, timeout_ms, &hit);
	if (err)
		return err;
	tui->breaking = hit.active;
	if (hit.exited) {
		tui->exited = true;
		snprintf(tui->message, sizeof(tui->message), "the program has exited (q quits)");
		*redraw_ret = true;
	}
	if (!hit.hit)
		return NULL;
	tui->break_hits++;
	tui->paused = true; /* the source left it stopped at the hit */
	tui_add_snapshot(tui, hit.snapshot);
	if (hit.task >= 0 && (size_t)hit.task < tui->lives[0]->task_count) {
		const struct ai_live_task *lt = &tui->lives[0]->tasks[hit.task];
		tui->selected = (size_t)hit.task;
		/* The step text's place: the last event of this task, at the top of its details. */
		snprintf(tui->step_text, sizeof(tui->step_text), "%s", hit.summary ? hit.summary : "");
		tui->step_block_on = lt->block_on;
		tui->step_runtime = lt->runtime_address;
		tui->step_key = lt->key;
		tui->filtering = false;
		if (tui->filter[0]) {
			tui->filter[0] = '\0'; /* the hit task must be in the list the details go back to */
			tui_rebuild_order(tui);
		}
		tui_open_details(tui);
	} else {
		/* No task to show: the hit's first line is all there is to say. */
		const char *summary = hit.summary ? hit.summary : "breakpoint hit";
		snprintf(tui->message, sizeof(tui->message), "%.*s", (int)strcspn(summary, "\n"), summary);
	}
	if (hit.task >= 0 || !hit.summary)
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui->breaking ? "breakpoint hit: program stopped (c continues, n steps the task, q detaches)"
				       : "last breakpoint hit: breakpoints removed (c goes on as the live view)");
	free(hit.summary);
	*redraw_ret = true;
	return NULL;
}

void tui_act_continue(struct tui *tui)
{
	if (tui->exited) {
		snprintf(tui->message, sizeof(tui->message), "the program has exited");
		return;
	}
	if (!tui->paused) {
		snprintf(tui->message, sizeof(tui->message), "%s",
			 tui_break_active(tui) ? "running until the next breakpoint hit" : "the program is running");
		return;
	}
	struct ai_error *err = tui->source->set_paused(tui->source->arg, false);
	if (err) {
		snprintf(tui->message, sizeof(tui->message), "%s", err->message);
		ai_error_destroy(err);
		return;
	}
	tui->paused = false;
	snprintf(tui->message, sizeof(tui->message), "%s",
		 tui_break_active(tui) ? "continuing: running until the next breakpoint hit" : "continuing");
}
