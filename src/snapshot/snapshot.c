#include <stdlib.h>
#include <string.h>

#include "ai/snapshot.h"
#include "ai/util.h"

struct ai_snapshot *ai_snapshot_create(void)
{
	return xcalloc(1, sizeof(struct ai_snapshot));
}

static void thread_deinit(struct ai_snapshot_thread *thread)
{
	for (size_t i = 0; i < thread->frame_count; i++) {
		free(thread->frames[i].function);
		free(thread->frames[i].file);
		free(thread->frames[i].module);
	}
	free(thread->frames);
	free(thread->name);
	free(thread->stack_error);
}

void ai_snapshot_destroy(struct ai_snapshot *snapshot)
{
	if (!snapshot)
		return;
	for (size_t i = 0; i < snapshot->thread_count; i++)
		thread_deinit(&snapshot->threads[i]);
	free(snapshot->threads);
	free(snapshot->exe);
	free(snapshot->core);
	free(snapshot);
}

struct ai_snapshot_thread *ai_snapshot_add_thread(struct ai_snapshot *snapshot)
{
	AI_GROW(snapshot->threads, snapshot->thread_capacity, snapshot->thread_count + 1);
	struct ai_snapshot_thread *thread = &snapshot->threads[snapshot->thread_count++];
	memset(thread, 0, sizeof(*thread));
	thread->state = '?';
	return thread;
}

struct ai_snapshot_frame *ai_snapshot_thread_add_frame(struct ai_snapshot_thread *thread)
{
	AI_GROW(thread->frames, thread->frame_capacity, thread->frame_count + 1);
	struct ai_snapshot_frame *frame = &thread->frames[thread->frame_count++];
	memset(frame, 0, sizeof(*frame));
	return frame;
}

const char *ai_thread_state_name(char state)
{
	switch (state) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk-sleep";
	case 'T': return "stopped";
	case 't': return "tracing-stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	default: return "unknown";
	}
}
