/* Where a breakpoint sees tokio spawn and complete a task (`--break spawn` / `complete`).
 *
 * - Spawn: OwnedTasks<S>::bind<T> (and bind_local, and LocalOwnedTasks<S>::bind for a LocalSet)
 *   makes the task (new_task: the Cell allocated, its id and future in place) and pushes it onto
 *   the runtime's list; at its entry the task does not exist yet, so the task is its return value
 *   (JoinHandle, Option<Notified>), two header pointers returned in rax:rdx, once bind has
 *   returned to its caller: then the list the snapshot walks holds it. The same from 1.9 (when
 *   OwnedTasks came) to 1.54.
 * - Complete: Harness<T, S>::complete(self), self being the cell pointer, the header: called once
 *   the output is stored (or the task cancelled), while the task is still listed.
 * Found by ELF symbols (both manglings) and checked on the demangled path with its generic
 * arguments left out. */
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "tokio.h"

struct lifecycle_rule {
	const char *path;     /* demangled, without generic arguments */
	const char *mangled;  /* an identifier both manglings spell as <length><name> */
	enum ai_lifecycle_kind kind;
	bool at_return;
};

static const struct lifecycle_rule rules[] = {
	{ "tokio::runtime::task::list::OwnedTasks::bind", "4bind", AI_LIFECYCLE_SPAWN, true },
	{ "tokio::runtime::task::list::OwnedTasks::bind_local", "10bind_local", AI_LIFECYCLE_SPAWN, true },
	{ "tokio::runtime::task::list::LocalOwnedTasks::bind", "4bind", AI_LIFECYCLE_SPAWN, true },
	{ "tokio::runtime::task::harness::Harness::complete", "8complete", AI_LIFECYCLE_COMPLETE, false },
};

/* name without its generic arguments ("<...>", and a turbofish's "::" before one); NULL when it
 * does not fit in size. */
static bool strip_generics(const char *name, char *out, size_t size)
{
	size_t n = 0;
	int depth = 0;
	for (const char *p = name; *p; p++) {
		if (*p == '<') {
			if (depth++ == 0 && n >= 2 && out[n - 1] == ':' && out[n - 2] == ':')
				n -= 2;
			continue;
		}
		if (*p == '>' && depth > 0) {
			depth--;
			continue;
		}
		if (depth > 0)
			continue;
		if (n + 1 >= size)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return depth == 0;
}

static const struct lifecycle_rule *match_rule(struct ai_elf_symbol *sym)
{
	if (!strstr(sym->name, "5tokio"))
		return NULL;
	const struct lifecycle_rule *candidate = NULL;
	for (size_t r = 0; r < AI_ARRAY_SIZE(rules) && !candidate; r++)
		if (strstr(sym->name, rules[r].mangled))
			candidate = &rules[r];
	if (!candidate)
		return NULL;
	const char *name = ai_elf_symbol_name(sym);
	char path[512];
	if (!name || !strip_generics(name, path, sizeof(path)))
		return NULL;
	for (size_t r = 0; r < AI_ARRAY_SIZE(rules); r++)
		if (strcmp(path, rules[r].path) == 0)
			return &rules[r];
	return NULL;
}

struct points {
	struct ai_lifecycle_point **points;
	size_t *count, *capacity;
};

static bool add_point(struct ai_elf_symbol *sym, uint64_t address, void *ctx)
{
	struct points *p = ctx;
	const struct lifecycle_rule *rule = match_rule(sym);
	if (!rule)
		return false;
	AI_GROW(*p->points, *p->capacity, *p->count + 1);
	(*p->points)[(*p->count)++] = (struct ai_lifecycle_point){
		.kind = rule->kind,
		.address = address,
		.at_return = rule->at_return,
		.task_arg = 0,
		.function = xstrdup(ai_elf_symbol_name(sym)),
	};
	return true;
}

void ai_tokio_lifecycle_points(struct ai_async *as, struct ai_lifecycle_point **points, size_t *count,
			       size_t *capacity)
{
	struct points p = { points, count, capacity };
	ai_runtime_each_symbol(as, add_point, &p);
}
