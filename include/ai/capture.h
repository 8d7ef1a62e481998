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
	AI_CAPTURE_KEEP_STOPPED, /* leave it stopped (a debugger's pause: the snapshot is the state
				  * it is held in until ai_target_resume) */
};

/* --max-pause: caps the pause of each later ai_capture_dump at max_pause_us (0: no cap). The
 * stacks are copied first, then the rest of the writable memory in chunks until the cap is near,
 * starting where the previous capture stopped; the target then resumes, memory not copied is read
 * live, and each task whose decoding needed such memory gets read_live (snapshot->tasks_sampled
 * counts the others). */
void ai_capture_set_max_pause(struct ai_capture *capture, uint64_t max_pause_us);

/* Progress of a long pause: a live target with more writable memory in use than we copy to let
 * it run (512 MiB) stays stopped while it is decoded. The callback hears LONG_PAUSE before that
 * pause begins, READING after each chunk copied on demand, and RESUMED once the target runs again
 * (the snapshot also carries a warning). Not called when the copy fits or under --max-pause. */
enum ai_capture_progress_event {
	AI_CAPTURE_LONG_PAUSE,
	AI_CAPTURE_READING,
	AI_CAPTURE_RESUMED,
};
struct ai_capture_progress {
	enum ai_capture_progress_event event;
	pid_t pid;
	uint64_t writable_bytes; /* writable memory in use */
	uint64_t limit_bytes;    /* what we copy up front at most */
	uint64_t bytes_read;     /* copied on demand so far */
	uint64_t stopped_us;     /* since the stop began */
};
typedef void ai_capture_progress_fn(const struct ai_capture_progress *progress, void *arg);
void ai_capture_set_progress(struct ai_capture *capture, ai_capture_progress_fn *progress, void *arg);

/* Takes a snapshot of every thread's native stack. */
struct ai_error *ai_capture_threads(struct ai_capture *capture, enum ai_capture_release release,
				    struct ai_snapshot **ret);

/* Takes a snapshot of every thread and every future: tokio's tasks and the futures driven by
 * block_on, each decoded into an await tree. `options` may be NULL (the defaults). */
struct ai_async_options;
struct ai_error *ai_capture_dump(struct ai_capture *capture, enum ai_capture_release release,
				 const struct ai_async_options *options, struct ai_snapshot **ret);

/* The task poll, wake and release functions of every runtime in the executable, for `profile`
 * (ai_runtimes_probe_points; reads no target memory). Needs a dump first (its decoder serves);
 * none before. Owned by the caller: ai_probe_points_free, free(*runtimes_ret). */
struct ai_probe_point;
void ai_capture_probe_points(struct ai_capture *capture, struct ai_probe_point **points_ret,
			     size_t *count_ret, char **runtimes_ret);

/* The spawn and completion functions of every runtime in the executable, for breakpoints
 * (ai_runtimes_lifecycle_points; reads no target memory); makes the decoder with `options` if
 * no dump has yet. Owned by the caller: ai_lifecycle_points_free. */
struct ai_lifecycle_point;
struct ai_error *ai_capture_lifecycle_points(struct ai_capture *capture, const struct ai_async_options *options,
					     struct ai_lifecycle_point **points_ret, size_t *count_ret);
/* After ai_capture_lifecycle_points: whether a runtime was found at all (in the executable or a
 * library mapped then); false also before it. */
bool ai_capture_has_runtime(struct ai_capture *capture);

/* The type model over the executable's DWARF that the dumps decode with (its DIE offsets are
 * the snapshots' type_die); NULL before the first dump. Owned by the capture. */
struct ai_types;
struct ai_types *ai_capture_types(struct ai_capture *capture);

/* The module whose DWARF the dumps decode with (the executable, or the library that holds the
 * program's runtime: ai_runtimes_choose_module); NULL before the first dump. Borrowed. */
struct ai_module;
struct ai_module *ai_capture_module(struct ai_capture *capture);

/* The capture's debug info (borrowed: it lives as long as the capture), e.g. to resolve
 * breakpoints or to unwind and name `profile`'s CPU samples once the target has been let go. */
struct ai_debuginfo;
struct ai_debuginfo *ai_capture_debuginfo(struct ai_capture *capture);

/* Whether `file` is a dependency's source, not the program's own (ai_user_code_is_dependency);
 * true before the first dump or lifecycle look-up. */
bool ai_capture_is_dependency(const struct ai_capture *capture, const char *file);

#endif
