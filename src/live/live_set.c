/* Several processes in the live model: one ai_live per process, sampled together, their sockets
 * linked at each sample (include/ai/live.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/live.h"
#include "ai/peers.h"
#include "ai/util.h"

struct ai_live_set *ai_live_set_create(const pid_t *pids, size_t count, size_t history)
{
	struct ai_live_set *set = xcalloc(1, sizeof(*set));
	set->members = xcalloc(count ? count : 1, sizeof(*set->members));
	set->count = count;
	for (size_t p = 0; p < count; p++) {
		struct ai_live_member *m = &set->members[p];
		m->live = ai_live_create(history);
		m->pid = pids[p];
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pids[p]);
		char *comm = ai_read_small_file(path, NULL);
		if (comm)
			comm[strcspn(comm, "\n")] = '\0';
		snprintf(m->command, sizeof(m->command), "%s", comm && *comm ? comm : "?");
		free(comm);
	}
	return set;
}

void ai_live_set_destroy(struct ai_live_set *set)
{
	if (!set)
		return;
	set->latest.count = 0; /* borrowed */
	ai_process_set_deinit(&set->latest);
	free(set->latest_member);
	for (size_t p = 0; p < set->count; p++)
		ai_live_destroy(set->members[p].live);
	free(set->members);
	free(set);
}

void ai_live_set_add(struct ai_live_set *set, struct ai_snapshot **snapshots)
{
	/* The peer analysis sees this sample's snapshots only: a process that gave none has no
	 * current state to link to. The set stays (borrowing the snapshots the models now own)
	 * until the next sample. */
	set->latest.count = 0; /* borrowed */
	ai_process_set_deinit(&set->latest);
	ai_process_set_init(&set->latest);
	if (!set->latest_member)
		set->latest_member = xcalloc(set->count ? set->count : 1, sizeof(*set->latest_member));
	for (size_t p = 0; p < set->count; p++) {
		if (snapshots[p]) {
			set->latest_member[set->latest.count] = p;
			ai_process_set_add(&set->latest, snapshots[p]);
		}
	}
	if (set->latest.count) {
		ai_analysis_peers(&set->latest);
		if (set->name_outside)
			set->name_outside(&set->latest);
	}
	for (size_t p = 0; p < set->count; p++) {
		struct ai_live_member *m = &set->members[p];
		m->sampled = snapshots[p] != NULL;
		if (!snapshots[p])
			continue;
		/* The tasks on a cycle across processes are deadlocked as those on one within it. */
		size_t k = 0;
		while (set->latest.snapshots[k] != snapshots[p])
			k++;
		bool *deadlocked = xcalloc(snapshots[p]->task_count ? snapshots[p]->task_count : 1, sizeof(*deadlocked));
		for (size_t d = 0; d < set->latest.deadlock_count; d++) {
			const struct ai_cross_deadlock *dl = &set->latest.deadlocks[d];
			for (size_t j = 0; j < dl->count; j++)
				if (dl->steps[j].process == k && dl->steps[j].task < snapshots[p]->task_count)
					deadlocked[dl->steps[j].task] = true;
		}
		ai_live_add_marked(m->live, snapshots[p], deadlocked);
		free(deadlocked);
		ai_live_read_process(m->live, m->pid);
		snapshots[p] = NULL;
	}
	set->sample_count++;
}

size_t ai_live_set_member_of(const struct ai_live_set *set, size_t k)
{
	return k < set->latest.count ? set->latest_member[k] : set->count;
}

void ai_live_set_end(struct ai_live_set *set, size_t p, const char *reason)
{
	struct ai_live_member *m = &set->members[p];
	if (m->ended)
		return;
	m->ended = true;
	snprintf(m->end_reason, sizeof(m->end_reason), "%s", reason ? reason : "exited");
	m->live->process.has_cpu = false;
}

size_t ai_live_set_running(const struct ai_live_set *set)
{
	size_t n = 0;
	for (size_t p = 0; p < set->count; p++)
		n += !set->members[p].ended;
	return n;
}
