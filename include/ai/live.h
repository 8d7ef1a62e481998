/* Live inspection, the model (no UI): a bounded history of snapshots of one running target, and
 * every task followed across them by its identity, with when its await tree last changed and how
 * often its state did. Memory stays flat however long it runs: the history is a ring buffer, and
 * only tasks of the latest snapshot are kept. */
#ifndef AI_LIVE_H
#define AI_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ai/peers.h"
#include "ai/snapshot.h"

/* Samples of a task's state kept for the timeline: a fixed size, so memory stays flat. */
#define AI_LIVE_STATE_HISTORY 64

/* What the latest snapshot says of one task, with what earlier ones said. */
struct ai_live_task {
	/* Identity: tokio tasks by runtime_address + id (the header address when no id); block_on
	 * futures by thread + future address. */
	bool block_on;
	uint64_t runtime_address;
	uint64_t key;   /* the id, or an address */
	pid_t thread;
	uint64_t tree_hash;    /* function, state, file and line of every await frame */
	char status[16];       /* ai_live_task_state() of the latest sample, or "deadlocked" on a
				* cycle across processes */
	int64_t first_seen_ms; /* captured_at_ms of the first snapshot it was in */
	int64_t changed_ms;    /* captured_at_ms of the first snapshot with its current await tree */
	unsigned transitions;  /* await tree or state changes observed between consecutive samples */
	unsigned samples;      /* snapshots it was in */
	/* Its state in each of the last AI_LIVE_STATE_HISTORY samples, oldest first, the latest
	 * last: ai_live_state_letter() of it, ' ' for samples taken before it was seen. */
	char history[AI_LIVE_STATE_HISTORY];
	/* The profile columns (ai_live_profile_apply, `--profile`), over the last interval: polls per
	 * second, busy (% of one core inside its polls) and the mean scheduled time (wake to poll;
	 * 0: no woken poll). has_profile false: not measured (block_on futures, no --profile). */
	bool has_profile;
	double polls_per_s, busy_percent;
	uint64_t scheduled_mean_ns;
	/* The cumulative counts at the last apply, for the next one's deltas (kept across samples) */
	bool profile_seen;
	uint64_t profile_polls, profile_busy_ns, profile_sched_ns, profile_sched_count, profile_at_ns;
};

/* The target process as /proc shows it (not a snapshot: read between them). */
struct ai_live_process {
	bool has_cpu;
	double cpu_percent;    /* user + system CPU time over wall time between the last two reads
				* (100 is one core busy); the target's stops count as time not running */
	bool has_rss;
	uint64_t rss_bytes;    /* resident set size (/proc/PID/statm) */
	/* the previous read, for the delta */
	bool has_previous;
	uint64_t previous_ticks, previous_us;
};

struct ai_live {
	struct ai_snapshot **ring; /* owned: the last ring_capacity snapshots; ring[head] is next to go */
	size_t ring_capacity, ring_count, ring_head;
	/* tasks[i] describes latest->tasks[i] (owned) */
	struct ai_live_task *tasks;
	size_t task_count, task_capacity;
	uint64_t sample_count; /* snapshots added since creation */
	struct ai_live_process process;
	bool profiled; /* the tasks have profile columns (ai_live_profile_apply) */
};

/* history: how many snapshots to keep (at least 1). */
struct ai_live *ai_live_create(size_t history);
void ai_live_destroy(struct ai_live *live);
/* Adds the newest snapshot (ownership passes to live; the oldest one may be freed). */
void ai_live_add(struct ai_live *live, struct ai_snapshot *snapshot);
/* The same, with deadlocked[i] (NULL: none) true for the tasks on a wait-for cycle that
 * ai_live_task_state cannot see: one across processes (ai_live_set). Their status is then
 * "deadlocked". */
void ai_live_add_marked(struct ai_live *live, struct ai_snapshot *snapshot, const bool *deadlocked);
/* The snapshot of the given age (0: the latest), or NULL. */
const struct ai_snapshot *ai_live_snapshot(const struct ai_live *live, size_t age);

/* How long the task's await tree has been as it is now, in ms: a lower bound (it may have changed
 * any time after the last sample that saw it differently). */
int64_t ai_live_unchanged_ms(const struct ai_live *live, size_t index);

/* A word for what a task of a snapshot is doing: "deadlocked" (in a wait-for cycle), "running",
 * "scheduled", "blocked" (idle on a known wait), "idle", "done", "block_on". */
const char *ai_live_task_state(const struct ai_snapshot *snapshot, size_t index);
/* The deepest await frame with a source line along the task's main chain, preferring the program's
 * own code to its dependencies' (tokio's internals), or NULL. The chain ends at a join!/select!
 * (a node with several children) once a line of the program's own was met above it. */
const struct ai_await_node *ai_live_await_point(const struct ai_snapshot_task *task);
/* One letter per state for the timeline: R running, S scheduled, B blocked, D deadlocked, I idle,
 * O block_on, X done; '?' for anything else. */
char ai_live_state_letter(const char *state);
/* Reads /proc/PID/stat and /proc/PID/statm into live->process (CPU% from the change since the
 * previous read). What cannot be read is left unknown (has_* false). */
void ai_live_read_process(struct ai_live *live, pid_t pid);

/* The hash ai_live uses to compare await trees. */
uint64_t ai_live_tree_hash(const struct ai_await_node *tree);

/* Several processes watched together (attach --pid A --pid B): one live model per process, each
 * with its own snapshots (no merged fake process), sampled together. The snapshots of one sample
 * are linked through their sockets (ai_analysis_peers: wait->peer, with its summary) before each
 * joins its member's model; peer->process indexes that sample's set, not the members: `latest`
 * keeps that set (its snapshots borrowed from the members' models) with the cycles across
 * processes it found, and latest_member[k] says which member its k-th snapshot is. */
struct ai_live_member {
	struct ai_live *live;  /* owned */
	pid_t pid;
	char command[64];      /* /proc/PID/comm at the start, or "?" */
	bool ended;            /* exited, or can no longer be read: its last snapshot stays, no new
				* one comes */
	char end_reason[160];  /* why, when ended */
	bool sampled;          /* gave a snapshot in the latest sample: the peers' process indexes
				* count these members only, in order */
};

struct ai_live_set {
	struct ai_live_member *members; /* owned, in the order the processes were given */
	size_t count;
	uint64_t sample_count; /* samples added */
	struct ai_process_set latest; /* the latest sample's snapshots, linked, with their cycles
				       * across processes (latest.deadlocks); the snapshots are
				       * borrowed from the members' models */
	size_t *latest_member;        /* owned: the member of latest.snapshots[k] */
	/* What else names the ends of the sample's sockets after ai_analysis_peers, or NULL: the
	 * processes outside the set that /proc shows holding them (ai_name_outside_peers). */
	void (*name_outside)(struct ai_process_set *sample);
};

/* history: snapshots kept per process (ai_live_create). */
struct ai_live_set *ai_live_set_create(const pid_t *pids, size_t count, size_t history);
void ai_live_set_destroy(struct ai_live_set *set);
/* One sample: snapshots[p] (owned, may be NULL: member p gave none this time) for every member.
 * Links them through their sockets, adds each to its member's model and reads its /proc figures. */
void ai_live_set_add(struct ai_live_set *set, struct ai_snapshot **snapshots);
/* Member p has ended (reason: "exited", an error's message); the others go on. */
void ai_live_set_end(struct ai_live_set *set, size_t p, const char *reason);
/* The member whose snapshot is latest.snapshots[k] (what a peer's or a cycle step's process
 * index counts), or set->count when there is none. */
size_t ai_live_set_member_of(const struct ai_live_set *set, size_t k);
/* Members not ended. */
size_t ai_live_set_running(const struct ai_live_set *set);

#endif
