/* futures::executor's ThreadPool futures. A ThreadPool task is an Arc<WakeHandle>
 * { mutex: UnparkMutex<Task> { status, inner: Option<Task> }, exec } whose Task { future:
 * FutureObj, exec, wake_handle } sits in the mutex while it waits (status WAITING) and is moved
 * out to a worker's stack while it is polled. Nothing lists them: they are reached through their
 * wakers. Every Waker of a ThreadPool task is a RawWaker { data: the WakeHandle, vtable:
 * futures-task's waker_vtable::<WakeHandle>() }, whose clone slot is
 * futures_task::waker::clone_arc_raw<WakeHandle>. So: that function's address from the ELF
 * symbols; the vtables as the words of .data.rel.ro equal to it; the wakers as the words of
 * writable memory equal to a vtable; each WakeHandle kept when its Task points back to it. A
 * waiting task whose waker nobody keeps is not found; one being polled is not shown. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "ai/wait.h"
#include "futures.h"

#define CLONE_FN "futures_task::waker::clone_arc_raw<futures_executor::thread_pool::WakeHandle>"
#define WAKE_HANDLE "futures_executor::thread_pool::WakeHandle"
#define SCAN_MAX_BYTES (1ULL << 30)
#define SCAN_MAX_WORDS (1u << 20)
#define MAX_VTABLES 64u
/* unpark_mutex.rs */
#define UNPARK_WAITING 0
#define UNPARK_COMPLETE 3

struct pool_types {
	const struct ai_type *wake_handle, *raw_waker;
	uint64_t clone_off, data_off, vtable_off;
};

static const struct ai_type *find_type(struct ai_async *as, uint64_t cu, const char *name)
{
	const struct ai_type *t = NULL, *u = NULL;
	struct ai_error *err = ai_types_find(as->types, cu, name, &t);
	if (!err && t)
		err = ai_type_underlying(t, &u);
	ai_error_destroy(err);
	return u;
}

/* clone_arc_raw<WakeHandle>'s address (0 when there is none: no ThreadPool task was ever
 * polled), and the types from its compilation unit (false when they are not all there). */
static bool resolve(struct ai_async *as, uint64_t *clone_ret, struct pool_types *ty)
{
	*clone_ret = 0;
	struct ai_module *main = as->module;
	struct ai_elf_file *symbols = main->symbols ? main->symbols : main->elf;
	if (!symbols || !as->dwarf)
		return false;
	ai_elf_file_find_symbol(symbols, 0); /* loads the symbol table */
	/* Legacy symbol mangling leaves a function's generic arguments out: the DWARF name of each
	 * clone_arc_raw says which it is. */
	uint64_t clone = 0;
	const struct ai_location *loc = NULL;
	struct ai_symbolization sym;
	for (size_t i = 0; i < symbols->symbol_count && !clone; i++) {
		struct ai_elf_symbol *s = &symbols->symbols[i];
		if (!s->address || !s->name || !strstr(s->name, "12futures_task") ||
		    !strstr(s->name, "13clone_arc_raw"))
			continue;
		struct ai_error *err = ai_debuginfo_symbolize(as->di, s->address + main->bias, false, &sym);
		loc = !err && sym.count ? &sym.locations[sym.count - 1] : NULL;
		ai_error_destroy(err);
		if (loc && loc->function && strcmp(loc->function, CLONE_FN) == 0)
			clone = s->address + main->bias;
	}
	if (!clone)
		return false;
	struct ai_dwarf_unit *unit = loc && loc->die_offset ?
		ai_dwarf_reader_unit_at(ai_dwarf_get_reader(as->dwarf), loc->die_offset) : NULL;
	if (!unit) {
		*clone_ret = clone;
		return false;
	}
	const struct ai_type *vt = find_type(as, unit->first_die, "core::task::wake::RawWakerVTable");
	ty->raw_waker = find_type(as, unit->first_die, "core::task::wake::RawWaker");
	ty->wake_handle = find_type(as, unit->first_die, WAKE_HANDLE);
	const struct ai_member *c = vt ? ai_type_find_member(vt, "clone") : NULL;
	const struct ai_member *d = ty->raw_waker ? ai_type_find_member(ty->raw_waker, "data") : NULL;
	const struct ai_member *v = ty->raw_waker ? ai_type_find_member(ty->raw_waker, "vtable") : NULL;
	*clone_ret = clone;
	if (!c || !d || !v || !ty->wake_handle)
		return false;
	ty->clone_off = c->offset;
	ty->data_off = d->offset;
	ty->vtable_off = v->offset;
	return true;
}

/* The Task in a WakeHandle's UnparkMutex while it waits, or false. */
static bool waiting_task(struct ai_wait_walk *w, const struct pool_types *ty, uint64_t handle,
			 uint64_t *task_ret, const struct ai_type **task_type_ret, uint64_t *status_ret)
{
	uint64_t status, off;
	const struct ai_type *opt;
	if (!ai_wait_read_int_path(w, ty->wake_handle, handle, "mutex.status", &status) ||
	    status > UNPARK_COMPLETE)
		return false;
	*status_ret = status;
	if (status != UNPARK_WAITING)
		return true;
	if (!ai_wait_member_path(ty->wake_handle, "mutex.inner.value", &off, &opt) || opt->kind != AI_TYPE_ENUM ||
	    !opt->has_size || opt->size > 4096)
		return false;
	uint8_t *bytes = xmalloc(opt->size ? opt->size : 1);
	const struct ai_variant *variant = NULL;
	struct ai_error *err = ai_memory_read(w->mem, bytes, handle + off, opt->size);
	if (!err)
		err = ai_type_active_variant(opt, bytes, opt->size, &variant);
	free(bytes);
	if (err || !variant->name || strcmp(variant->name, "Some") != 0) {
		ai_error_destroy(err);
		return false;
	}
	const struct ai_type *some = ai_wait_member_type(opt, &variant->member);
	const struct ai_member *payload = some ? ai_type_find_member(some, "__0") : NULL;
	if (!payload)
		return false;
	*task_ret = handle + off + payload->offset;
	*task_type_ret = ai_wait_underlying(ai_wait_member_type(some, payload));
	/* The Task's own Arc<WakeHandle> must point back. */
	uint64_t back, arc_off;
	const struct ai_type *arc, *data_type;
	return *task_type_ret && ai_wait_member_path(*task_type_ret, "wake_handle", &arc_off, &arc) &&
	       ai_wait_read_arc(w, arc, *task_ret + arc_off, &back, &data_type) && back == handle;
}

void ai_futures_thread_pool_collect(struct ai_async *as, struct ai_snapshot *snapshot,
				    struct ai_snapshot_runtime *entry, size_t *tasks_ret)
{
	struct pool_types ty = { 0 };
	uint64_t clone;
	*tasks_ret = 0;
	if (!resolve(as, &clone, &ty)) {
		if (clone)
			ai_snapshot_add_warning(snapshot, "futures %s: no DWARF for ThreadPool's WakeHandle and "
						"RawWaker: ThreadPool futures are not shown", entry->version ? entry->version : "");
		return;
	}
	struct ai_word_scan relro;
	ai_scan_relro(as, &clone, 1, SCAN_MAX_BYTES, MAX_VTABLES, &relro);
	uint64_t vtables[MAX_VTABLES];
	size_t vn = 0;
	for (size_t i = 0; i < relro.count && vn < MAX_VTABLES; i++)
		if (relro.words[i] >= ty.clone_off)
			vtables[vn++] = relro.words[i] - ty.clone_off;
	ai_word_scan_deinit(&relro);
	if (!vn)
		return; /* no waker of a ThreadPool task was ever made: none was polled */
	vn = ai_u64_sort_unique(vtables, vn);
	struct ai_word_scan scan;
	ai_scan_writable(as, vtables, vn, SCAN_MAX_BYTES, SCAN_MAX_WORDS, &scan);
	if (scan.stopped_bytes || scan.stopped_words)
		ai_snapshot_add_warning(snapshot, "futures: the scan for ThreadPool wakers stopped after %" PRIu64
					" bytes: some of its futures may be missing", scan.scanned);
	/* Each waker's data word: the WakeHandle. */
	uint64_t *handles = xmalloc(AI_MAX(scan.count, 1) * sizeof(uint64_t));
	size_t hn = 0;
	for (size_t i = 0; i < scan.count; i++) {
		uint64_t data;
		if (scan.words[i] < ty.vtable_off)
			continue;
		struct ai_error *err = ai_memory_read_u64(as->target->memory,
							  scan.words[i] - ty.vtable_off + ty.data_off, &data);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		if (data >= 4096 && data < (1ULL << 47) && !(data & 7))
			handles[hn++] = data;
	}
	ai_word_scan_deinit(&scan);
	hn = ai_u64_sort_unique(handles, hn);
	struct ai_wait_walk w = { .as = as, .mem = as->target->memory, .snapshot = snapshot };
	for (size_t i = 0; i < hn; i++) {
		uint64_t task_addr = 0, status, off;
		const struct ai_type *task_type = NULL, *fut;
		if (!waiting_task(&w, &ty, handles[i], &task_addr, &task_type, &status) || status == UNPARK_COMPLETE)
			continue;
		struct ai_snapshot_task *task = ai_snapshot_add_task(snapshot);
		task->runtime = xstrdup("futures");
		task->kind = xstrdup("task");
		task->flavor = xstrdup("thread_pool");
		task->address = handles[i];
		if (status != UNPARK_WAITING) {
			/* Being polled: its Task is on a worker's stack, not here. */
			task->status = xstrdup("running"); /* POLLING or REPOLL */
			task->tree.type = xstrdup(WAKE_HANDLE);
			task->tree.address = handles[i];
			task->tree.leaf = true;
			task->tree.error = xstrdup("being polled: its future is on a worker thread's stack");
		} else {
			task->status = xstrdup("idle");
			if (ai_wait_member_path(task_type, "future", &off, &fut))
				ai_await_decode(as, task_addr + off, fut, &task->tree);
		}
		const char *future = task->tree.function ? task->tree.function : task->tree.type;
		task->future = xstrdup(future ? future : "?");
		(*tasks_ret)++;
	}
	free(handles);
}
