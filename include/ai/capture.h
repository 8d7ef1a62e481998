/* Capture: one snapshot of a target. Stops it (if live), reads what the snapshot needs while it
 * is stopped (registers, stacks), lets it go, then does the slow part (symbolizing, decoding)
 * without holding it. This is the one place that drives target, debuginfo and, later, the async
 * decoders together. */
#ifndef AI_CAPTURE_H
#define AI_CAPTURE_H

#include <stdbool.h>

#include "ai/error.h"
#include "ai/snapshot.h"
#include "ai/target.h"

struct ai_capture;

/* Prepares to capture `target` (borrowed; must outlive the capture): opens its executable's debug
 * info and checks that it is a Rust program with DWARF; the errors say how to fix the build. */
struct ai_error *ai_capture_create(struct ai_target *target, struct ai_capture **ret);
void ai_capture_destroy(struct ai_capture *capture);

enum ai_capture_release {
	AI_CAPTURE_RESUME, /* let the target run again once the stacks are read */
	AI_CAPTURE_DETACH, /* detach from it once the stacks are read (one-shot commands) */
};

/* --max-pause: caps the pause of each later ai_capture_dump at max_pause_us (0: no cap). The
 * stacks are copied first, then the rest of the writable memory in chunks until the cap is near,
 * starting where the previous capture stopped; the target then resumes, memory not copied is read
 * live, and each task whose decoding needed such memory gets read_live (snapshot->tasks_sampled
 * counts the others). */
void ai_capture_set_max_pause(struct ai_capture *capture, uint64_t max_pause_us);

/* Takes a snapshot of every thread's native stack. */
struct ai_error *ai_capture_threads(struct ai_capture *capture, enum ai_capture_release release,
				    struct ai_snapshot **ret);

/* Takes a snapshot of every thread and every future: tokio's tasks and the futures driven by
 * block_on, each decoded into an await tree. `options` may be NULL (the defaults). */
struct ai_async_options;
struct ai_error *ai_capture_dump(struct ai_capture *capture, enum ai_capture_release release,
				 const struct ai_async_options *options, struct ai_snapshot **ret);

#endif
