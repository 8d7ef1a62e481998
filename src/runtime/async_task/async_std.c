/* async-std's part of the async-task adapter: async-std wraps every future it spawns (and the one
 * task::block_on runs) in SupportTaskLocals<F> { tag: TaskLocalsWrapper, future: F } before
 * handing it to async-global-executor, and TaskLocalsWrapper.task is its Task { id: TaskId(usize),
 * name: Option<Arc<String>> }: the id task::current().id() gives and Builder::name's name. */
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "ai/wait.h"
#include "async_task.h"

#define AS_WRAPPER "async_std::task::builder::SupportTaskLocals<"
#define AS_MAX_NAME 1024

bool ai_async_std_is_wrapper(const char *type_name)
{
	return type_name && strncmp(type_name, AS_WRAPPER, strlen(AS_WRAPPER)) == 0;
}

/* A Rust String at address: its bytes (owned), or NULL when they cannot be read. */
static char *read_string(struct ai_wait_walk *w, const struct ai_type *string, uint64_t address)
{
	uint64_t ptr, len;
	const struct ai_type *pointee;
	if (!ai_wait_read_nested_int(w, string, address, "len", &len) || len > AS_MAX_NAME ||
	    !ai_wait_deref_wrapped(w, string, address, 0, &ptr, &pointee))
		return NULL;
	char *s = xmalloc(len + 1);
	struct ai_error *err = ai_memory_read(w->mem, s, ptr, len);
	if (err || memchr(s, '\0', len)) {
		ai_error_destroy(err);
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

void ai_async_std_task_locals(struct ai_async *as, uint64_t address, const struct ai_type *wrapper,
			      struct ai_snapshot *snapshot, struct ai_snapshot_task *task)
{
	struct ai_wait_walk w = { .as = as, .mem = as->target->memory, .snapshot = snapshot };
	uint64_t id, data, strong;
	const struct ai_type *string;
	if (ai_wait_read_int_path(&w, wrapper, address, "tag.task.id.__0", &id)) {
		task->id = id;
		task->has_id = true;
	}
	if (ai_wait_read_option_arc(&w, wrapper, address, "tag.task.name", &data, &string, &strong)) {
		const char *tn = ai_wait_type_name(string);
		char *name = tn && strcmp(tn, "alloc::string::String") == 0 ? read_string(&w, string, data) : NULL;
		if (name) {
			free(task->name);
			task->name = name;
		}
	}
}
