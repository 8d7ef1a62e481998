/* A snapshot: an immutable capture of what a target was doing at one moment, as plain data that
 * owns all its strings. Frontends and analyses see only this, never the target or its DWARF. */
#ifndef AI_SNAPSHOT_H
#define AI_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ai_snapshot_frame {
	uint64_t pc;
	uint64_t cfa;
	char *function; /* Rust path as in DWARF, or the ELF symbol, or NULL when unknown */
	char *file;     /* source file, or NULL */
	int line;       /* 0 when unknown */
	char *module;   /* the ELF file the pc lies in, or NULL */
	bool inlined;   /* a frame of an inlined call inside the next physical frame */
};

struct ai_snapshot_thread {
	pid_t tid;
	char *name;
	char state; /* scheduler state letter before the stop ('R', 'S', ...), '?' if unknown */
	struct ai_snapshot_frame *frames;
	size_t frame_count, frame_capacity;
	char *stack_error; /* why the stack ends early, or NULL */
};

struct ai_snapshot {
	pid_t pid;
	char *exe;
	char *core;          /* the core file, or NULL for a live process */
	int64_t captured_at_ms; /* wall clock, ms since the epoch */
	uint64_t pause_us;   /* how long the target was stopped for this snapshot (0 for cores) */
	struct ai_snapshot_thread *threads;
	size_t thread_count, thread_capacity;
};

struct ai_snapshot *ai_snapshot_create(void);
void ai_snapshot_destroy(struct ai_snapshot *snapshot);
struct ai_snapshot_thread *ai_snapshot_add_thread(struct ai_snapshot *snapshot);
struct ai_snapshot_frame *ai_snapshot_thread_add_frame(struct ai_snapshot_thread *thread);

/* A word for a scheduler state letter: "running", "sleeping", "disk-sleep", ... */
const char *ai_thread_state_name(char state);

#endif
