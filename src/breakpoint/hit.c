/* What a breakpoint stop means, shared by the --break loop (session.c) and the DAP server
 * (src/dap): whether the coroutine in the site's register is in the site's state, which task's
 * await tree holds that coroutine, and the int3s of resolved sites written into the process (each
 * in its module, moved by that module's load bias). */
#include "ai/breakpoint.h"
#include "ai/debuginfo.h"
#include "ai/snapshot.h"

static const struct ai_await_node *node_at(const struct ai_await_node *node, uint64_t address, unsigned depth)
{
	if (node->function && node->address == address)
		return node;
	for (size_t i = 0; depth < 256 && i < node->child_count; i++) {
		const struct ai_await_node *found = node_at(&node->children[i], address, depth + 1);
		if (found)
			return found;
	}
	return NULL;
}

const struct ai_await_node *ai_break_node_at(const struct ai_await_node *tree, uint64_t address)
{
	return node_at(tree, address, 0);
}

const struct ai_snapshot_task *ai_break_hit_task(const struct ai_snapshot *s, uint64_t env, pid_t tid)
{
	const struct ai_snapshot_task *found = NULL;
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (!node_at(&t->tree, env, 0))
			continue;
		if (t->thread == tid)
			return t;
		if (!found)
			found = t;
	}
	return found;
}

bool ai_break_site_hit(struct ai_target *target, const struct ai_break_site *site, uint64_t *env_ret)
{
	uint64_t env, state = 0;
	if (!ai_break_reg_value(&target->hit_regs, site->env_reg, &env))
		return false;
	struct ai_error *err = ai_memory_read(target->memory, &state, env + site->state_offset, site->state_size);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	*env_ret = env;
	return state == site->state_value;
}

uint64_t ai_break_site_address(const struct ai_break_site *site)
{
	return site->vaddr + (site->module ? site->module->bias : 0);
}

struct ai_error *ai_break_insert_sites(struct ai_target *target, struct ai_debuginfo *di,
				       const struct ai_break_sites *sites)
{
	struct ai_error *err = NULL;
	for (size_t i = 0; i < sites->count && !err; i++) {
		/* Looking an address of it up opens the module, which computes its load bias. */
		struct ai_module *m = sites->items[i].module;
		if (m && (ai_debuginfo_find_module(di, m->start) != m || m->error))
			return ai_error_create(AI_ERROR_OTHER, "cannot find where %s is loaded in process %d: %s", m->path,
					       (int)target->pid, m->error ? m->error : "not mapped");
		err = ai_target_insert_breakpoint(target, ai_break_site_address(&sites->items[i]));
	}
	return err;
}
