/* Where `profile` probes async-task (smol, async-executor, async-std): the functions of
 * RawTask<F, T, S, M> (async-task 4.x, src/raw.rs) that every task run, wake and free goes
 * through, each an instantiation per task type, all called through a vtable, so out of line:
 *
 * - run(ptr: *const ()) -> bool: TaskVTable.run, polls the future once; ptr is the task's header,
 *   the address the snapshot gives the task (tasks.c);
 * - wake(ptr) / wake_by_ref(ptr): the RawWakerVTable's wake slots; ptr is the waker's data, the
 *   header again. wake begins with wake_by_ref when S captures anything (smol's does): one wake,
 *   which `profile` counts once (wake_nests);
 * - destroy(ptr): frees the task's memory, after which the address is free for another task.
 *
 * Functions are found by their ELF symbols (both manglings spell identifiers <length><name>),
 * checked by the demangled path; F, the future every run instantiation polls, comes from the
 * DWARF name, the first generic argument of RawTask<F, T, S, M>. */
#include <stdlib.h>
#include <string.h>

#include "ai/debuginfo.h"
#include "ai/elf_file.h"
#include "ai/util.h"
#include "async_task.h"

#define RAW_TASK "async_task::raw::RawTask<"

static const struct {
	const char *method;  /* after ">::" */
	const char *mangled; /* the method's <length><name> */
	enum ai_probe_kind kind;
} methods[] = {
	{ "run", "3run", AI_PROBE_POLL },
	{ "wake", "4wake", AI_PROBE_WAKE },
	{ "wake_by_ref", "11wake_by_ref", AI_PROBE_WAKE },
	{ "destroy", "7destroy", AI_PROBE_RELEASE },
};

/* The method of RawTask<..> that `name` (demangled) is, or -1. */
static int method_of(const char *name)
{
	size_t n = strlen(name);
	if (strncmp(name, RAW_TASK, strlen(RAW_TASK)) != 0)
		return -1;
	for (size_t m = 0; m < AI_ARRAY_SIZE(methods); m++) {
		size_t len = strlen(methods[m].method);
		if (n > len + 3 && strcmp(name + n - len, methods[m].method) == 0 &&
		    strncmp(name + n - len - 3, ">::", 3) == 0)
			return (int)m;
	}
	return -1;
}

struct points {
	struct ai_async *as;
	struct ai_probe_point **points;
	size_t *count, *capacity;
};

static bool add_point(struct ai_elf_symbol *sym, uint64_t address, void *ctx)
{
	struct points *p = ctx;
	if (!strstr(sym->name, "10async_task") || !strstr(sym->name, "RawTask"))
		return false;
	const char *name = ai_elf_symbol_name(sym);
	int m = name ? method_of(name) : -1;
	if (m < 0 || !strstr(sym->name, methods[m].mangled))
		return false;
	char *function = ai_runtime_function_at(p->as, address, name);
	AI_GROW(*p->points, *p->capacity, *p->count + 1);
	(*p->points)[(*p->count)++] = (struct ai_probe_point){
		.kind = methods[m].kind,
		.address = address,
		.task_arg = 0,
		.function = function,
		.future = methods[m].kind == AI_PROBE_POLL ? ai_runtime_first_generic_arg(function, RAW_TASK)
							   : NULL,
		.wake_nests = strcmp(methods[m].method, "wake") == 0,
	};
	return true;
}

void ai_async_task_probe_points(struct ai_async *as, struct ai_probe_point **points, size_t *count,
				size_t *capacity)
{
	struct points p = { as, points, count, capacity };
	ai_runtime_each_symbol(as, add_point, &p);
}
