/* tokio's runtimes and tasks (DESIGN.md 4 and 5, docs/tokio-layouts.md).
 *
 * Runtimes: every thread inside a runtime (block_on, workers, idle or not) has tokio's
 * thread-local CONTEXT set to the runtime's scheduler::Handle. CONTEXT is an STT_TLS symbol of
 * the executable's static TLS block, so its address on a thread is
 * fs_base - (the block's offset) + st_value; its DWARF type is the one of the DWARF variable whose
 * linkage name is that symbol. Stack frames of tokio's own functions (block_on, the workers' run,
 * enter_runtime) give handles too, through ai_frame_vars. Handle -> Arc<flavor Handle> ->
 * ArcInner.data -> shared.owned: OwnedTasks, whose address names the runtime.
 *
 * Tasks: OwnedTasks is one linked list (up to 1.34) or sharded lists with a count (1.35+), linked
 * through each task's Trailer.owned (Header.owned before 1.23). Before 1.9 there is no
 * OwnedTasks: each worker's Core (and the current_thread scheduler's Context) owns a plain list,
 * reached from the `t: &Context` of the ScopedKey::set frame of the scheduler's thread-local. A task is a Cell<T, S> { header, core, trailer }; its
 * Header.vtable is tokio's Vtable for that T and S, whose poll is the subprogram
 * raw::poll<T, S>: its template parameters name T (the future) and S (the scheduler), and its
 * local `harness: Harness<T, S>` points to Cell<T, S>. Vtables are resolved once each; a task is
 * then one bulk read of its cell. Every node is validated (alignment, readable, a known vtable of
 * this runtime's S, owner_id, prev link) and every walk bounded (count, a hard cap, the prev
 * links rule out cycles).
 *
 * Every field is read through the table of tokio_layout.c. Nothing here is fatal: a layout not
 * understood becomes a snapshot warning and the runtime (or the rest of a list) is skipped.
 *
 * This file holds the entry points and the collection's order; its parts (tasks_internal.h):
 * finding CONTEXT and the version (context.c), runtimes from threads and stack frames
 * (runtimes.c), vtables (vtables.c), the list walks (owned_tasks.c), the scan (header_scan.c). */
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"
#include "tasks_internal.h"

struct ai_error *tk_read(struct tk *tk, void *buf, uint64_t address, size_t size)
{
	struct ai_error *err = ai_memory_read(tk->mem, buf, address, size);
	if (err && err->code == AI_ERROR_TARGET_EXITED)
		tk->exited = true;
	return err;
}

bool tk_read_u64(struct tk *tk, uint64_t address, uint64_t *ret)
{
	struct ai_error *err = tk_read(tk, ret, address, 8);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	return true;
}

uint8_t *tk_scratch(struct tk *tk, size_t size)
{
	if (tk->buf_size < size) {
		free(tk->buf);
		tk->buf_size = AI_MAX(size, 4096);
		tk->buf = xmalloc(tk->buf_size);
	}
	return tk->buf;
}

static void tk_deinit(struct tk *tk)
{
	for (size_t i = 0; i < tk->vtable_count; i++)
		free(tk->vtables[i].poll_name);
	free(tk->vtables);
	free(tk->vtable_index);
	free(tk->layouts);
	for (size_t i = 0; i < tk->runtime_count; i++)
		free(tk->runtimes[i].lists);
	free(tk->runtimes);
	free(tk->currents);
	free(tk->buf);
	free(tk->tls_name);
	free(tk->version);
	tk_env_deinit(&tk->env);
}

/* Sets up a collection; the executable's symbols, or NULL when there is nothing to collect. */
static struct ai_elf_file *tk_init(struct tk *tk, struct ai_async *as, struct ai_snapshot *snapshot)
{
	struct ai_module *main = ai_debuginfo_main_module(as->di);
	/* Opens the module (bias, symbols) if nothing did yet. */
	if (main->first_end)
		ai_debuginfo_find_module(as->di, main->first_start);
	struct ai_elf_file *symbols = main->symbols ? main->symbols : main->elf;
	if (!symbols || !as->dwarf)
		return NULL;
	*tk = (struct tk){
		.as = as,
		.mem = as->target->memory,
		.snapshot = snapshot,
		.main = main,
		.reader = ai_dwarf_get_reader(as->dwarf),
		.thread_count = as->target->thread_count,
	};
	tk->env.snapshot = snapshot;
	tk->env.version = "(unknown version)";
	tk->symbols = symbols;
	tk_scan_symbols(tk, symbols);
	return symbols;
}

char *ai_tokio_detect(const struct ai_runtime_ops *self, struct ai_async *as)
{
	struct ai_snapshot *snapshot = ai_snapshot_create(); /* (tk_init wants one) */
	struct tk tk;
	struct ai_elf_file *symbols = tk_init(&tk, as, snapshot);
	bool found = symbols && tk.has_context_symbol;
	if (symbols)
		tk_deinit(&tk);
	ai_snapshot_destroy(snapshot);
	return found ? xstrdup("") : NULL;
}

struct ai_error *ai_tokio_scan_headers(struct ai_async *as, uint64_t **headers_ret,
				       size_t *count_ret)
{
	*headers_ret = NULL;
	*count_ret = 0;
	struct ai_snapshot *snapshot = ai_snapshot_create(); /* (for warnings) */
	struct tk tk;
	struct ai_elf_file *symbols = tk_init(&tk, as, snapshot);
	if (symbols) {
		if (tk.has_context_symbol)
			tk_resolve_context(&tk); /* (the version, for warnings) */
		*count_ret = tk_scan_headers(&tk, symbols, NULL, headers_ret);
	}
	struct ai_error *err = NULL;
	if (symbols && tk.exited)
		err = ai_error_create(AI_ERROR_TARGET_EXITED, "process %d exited while its memory "
				      "was scanned for tokio tasks", (int)as->target->pid);
	if (symbols)
		tk_deinit(&tk);
	ai_snapshot_destroy(snapshot);
	return err;
}

struct ai_error *ai_tokio_collect(const struct ai_runtime_ops *self, struct ai_async *as,
				 const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry)
{
	struct tk tk;
	struct ai_elf_file *symbols = tk_init(&tk, as, snapshot);
	if (!symbols)
		return NULL;
	struct ai_module *main = tk.main;
	if (!tk.has_context_symbol) {
		/* No runtime in this executable (tokio without "rt" has no tasks either). */
		tk_deinit(&tk);
		return NULL;
	}
	size_t first_task = snapshot->task_count;
	bool has_context = tk_resolve_context(&tk);
	free(entry->version);
	entry->version = strcmp(tk.version, "(unknown version)") ? xstrdup(tk.version) : NULL;
	if (has_context && !ai_runtime_tls_block_offset(main->elf, &tk.tls_block_offset)) {
		tk_warn(&tk.env, "%s has no PT_TLS segment but a thread-local CONTEXT", main->path);
		has_context = false;
	}
	if (has_context)
		tk_runtimes_from_threads(&tk, stacks);
	tk_runtimes_from_stacks(&tk, stacks);
	tk_local_sets_from_stacks(&tk, stacks);
	tk_local_sets_from_scan(&tk);
	for (size_t i = 0; i < tk.runtime_count; i++) {
		struct tk_runtime *rt = &tk.runtimes[i];
		tk_walk_runtime(&tk, rt);
		struct ai_snapshot_task *tasks = snapshot->tasks + rt->first_task;
		size_t n = snapshot->task_count - rt->first_task;
		if (n > 1)
			qsort(tasks, n, sizeof(*tasks), tk_compare_tasks);
	}
	tk_blocking_collect(&tk, stacks);
	tk_blocking_queue_collect(&tk, stacks);
	size_t runtimes = 0;
	for (size_t i = 0; i < tk.runtime_count; i++)
		runtimes += !tk.runtimes[i].dropped && !tk.runtimes[i].local;
	entry->instances += runtimes;
	if (!runtimes && !tk.exited)
		tk_tasks_from_scan(&tk, symbols, first_task);
	/* tokio is there but its tasks could not be read: never a silent "0 tasks". */
	bool unsupported = !runtimes && !has_context;
	for (size_t i = 0; i < tk.runtime_count; i++)
		unsupported |= tk.runtimes[i].unsupported;
	if (unsupported && snapshot->task_count == first_task && !tk.exited) {
		entry->decoded = false;
		tk_warn(&tk.env, "its task layout is not supported by this async-inspect (see the "
			"warnings above): its tasks cannot be listed");
	}
	struct ai_error *err = NULL;
	if (tk.exited)
		err = ai_error_create(AI_ERROR_TARGET_EXITED, "process %d exited while its tokio "
				      "tasks were read", (int)as->target->pid);
	tk_deinit(&tk);
	return err;
}
