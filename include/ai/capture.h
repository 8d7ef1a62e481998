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

/* Takes a snapshot of every thread's native stack. */
struct ai_error *ai_capture_threads(struct ai_capture *capture, enum ai_capture_release release,
				    struct ai_snapshot **ret);

/* Takes a snapshot of every thread and every future: tokio's tasks and the futures driven by
 * block_on, each decoded into an await tree. `options` may be NULL (the defaults). */
struct ai_async_options;
struct ai_error *ai_capture_dump(struct ai_capture *capture, enum ai_capture_release release,
				 const struct ai_async_options *options, struct ai_snapshot **ret);

#endif
