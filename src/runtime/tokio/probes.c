/* Where `profile` probes tokio: the functions every task poll, wake and release goes through.
 *
 * - raw::poll<T, S>(ptr: NonNull<Header>): a task's Vtable.poll, so every instantiation exists
 *   out of line; ptr is the task's header, the address the snapshot gives the task.
 * - waker::wake_by_val / wake_by_ref(ptr: *const ()): the wake slots of the task waker's
 *   RawWakerVTable; ptr is the RawWaker's data, the header again. (Generic before 1.29?, plain
 *   functions in 1.24 and 1.54 alike: both shapes are taken.)
 * - raw::dealloc<T, S>(ptr: NonNull<Header>): Vtable.dealloc; after it the address is free for
 *   another task.
 * The same signatures from 1.8 to 1.54. Functions are found by their ELF symbols (both manglings),
 * checked by the demangled path; the future type T comes from the DWARF name of raw::poll<T, S>. */
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "tokio.h"

struct probe_rule {
	const char *path;       /* demangled, without generic arguments */
	const char *mangled[3]; /* identifiers both manglings spell as <length><name> */
	enum ai_probe_kind kind;
};

static const struct probe_rule rules[] = {
	{ "tokio::runtime::task::raw::poll", { "5tokio", "3raw", "4poll" }, AI_PROBE_POLL },
	{ "tokio::runtime::task::raw::dealloc", { "5tokio", "3raw", "7dealloc" }, AI_PROBE_RELEASE },
	{ "tokio::runtime::task::waker::wake_by_val", { "5tokio", "5waker", "11wake_by_val" }, AI_PROBE_WAKE },
	{ "tokio::runtime::task::waker::wake_by_ref", { "5tokio", "5waker", "11wake_by_ref" }, AI_PROBE_WAKE },
};

static const struct probe_rule *match_rule(struct ai_elf_symbol *sym)
{
	for (size_t r = 0; r < AI_ARRAY_SIZE(rules); r++) {
		bool all = true;
		for (size_t m = 0; m < 3 && all; m++)
			all = strstr(sym->name, rules[r].mangled[m]) != NULL;
		if (!all)
			continue;
		const char *name = ai_elf_symbol_name(sym);
		size_t len = strlen(rules[r].path);
		if (name && strncmp(name, rules[r].path, len) == 0 &&
		    (name[len] == '\0' || name[len] == '<'))
			return &rules[r];
	}
	return NULL;
}

struct points {
	struct ai_async *as;
	struct ai_probe_point **points;
	size_t *count, *capacity;
};

static bool add_point(struct ai_elf_symbol *sym, uint64_t address, void *ctx)
{
	struct points *p = ctx;
	const struct probe_rule *rule = match_rule(sym);
	if (!rule)
		return false;
	char *function = ai_runtime_function_at(p->as, address, ai_elf_symbol_name(sym));
	AI_GROW(*p->points, *p->capacity, *p->count + 1);
	(*p->points)[(*p->count)++] = (struct ai_probe_point){
		.kind = rule->kind,
		.address = address,
		.task_arg = 0,
		.function = function,
		.future = rule->kind == AI_PROBE_POLL ? ai_runtime_first_generic_arg(function, TK_POLL_PREFIX)
						      : NULL,
	};
	return true;
}

void ai_tokio_probe_points(struct ai_async *as, struct ai_probe_point **points, size_t *count,
			   size_t *capacity)
{
	struct points p = { as, points, count, capacity };
	ai_runtime_each_symbol(as, add_point, &p);
}
