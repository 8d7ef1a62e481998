/* The scan of memory for tokio task headers: the fallback of the list walk and its cross-check.
 * Part of the collection of tasks.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"
#include "tasks_internal.h"

/* ---- Scanning memory for task headers (DESIGN.md 5.5) ----
 *
 * The fallback when no runtime handle is found, and a cross-check of the list walk in tests.
 * Known vtables: the words of the executable's .data.rel.ro (read from the target: it is
 * relocated) that point to a raw::poll<T, S> symbol are Vtable.poll fields. Then every aligned
 * word of writable anonymous memory (and the heap) equal to a known vtable is a Header.vtable
 * candidate, validated as the walk validates a node (vtable resolved, state, owner id, links,
 * Stage). Bounded in bytes scanned and candidates. */

#define TK_SCAN_MAX_BYTES (1ULL << 30)  /* writable memory scanned at most */
#define TK_SCAN_MAX_CANDIDATES (1u << 22)
#define TK_SCAN_MAX_REFS (1ULL << 32)   /* a task with more references than this is no task */

/* The runtime addresses of every raw::poll<T, S> symbol of the executable, sorted. (Another
 * function named so would only add a word that points to no vtable: vtables are checked.) */
static size_t poll_addresses(struct tk *tk, struct ai_elf_file *symbols, uint64_t **ret)
{
	ai_elf_file_find_symbol(symbols, 0); /* loads the symbol table */
	uint64_t *v = NULL;
	size_t count = 0, capacity = 0;
	for (size_t i = 0; i < symbols->symbol_count; i++) {
		struct ai_elf_symbol *sym = &symbols->symbols[i];
		/* Both manglings spell identifiers as <length><name>: demangle only candidates. */
		if (!sym->address || !sym->name || !strstr(sym->name, "4poll") ||
		    !strstr(sym->name, "3raw") || !strstr(sym->name, "5tokio"))
			continue;
		/* Legacy mangling has no generic arguments ("...::raw::poll", then a hash); v0 has. */
		const char *name = ai_elf_symbol_name(sym);
		size_t len = strlen(TK_POLL_PREFIX) - 1;
		if (!name || strncmp(name, TK_POLL_PREFIX, len) != 0 ||
		    (name[len] != '\0' && name[len] != '<'))
			continue;
		AI_GROW(v, capacity, count + 1);
		v[count++] = sym->address + tk->main->bias;
	}
	*ret = v;
	return ai_u64_sort_unique(v, count);
}

/* Header and Vtable when no OwnedTasks type gave them: the Header type of raw::poll's unit. */
static bool resolve_header_from_poll(struct tk *tk, uint64_t poll)
{
	if (tk->header_tried)
		return tk->header_ok;
	struct ai_symbolization sym;
	struct ai_error *err = ai_debuginfo_symbolize(tk->as->di, poll, false, &sym);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	const struct ai_location *loc = sym.count ? &sym.locations[sym.count - 1] : NULL;
	struct ai_dwarf_unit *unit = loc && loc->die_offset
					     ? ai_dwarf_reader_unit_at(tk->reader, loc->die_offset)
					     : NULL;
	const struct ai_type *header = NULL;
	if (unit)
		err = ai_types_find(tk->as->types, unit->first_die,
				    "tokio::runtime::task::core::Header", &header);
	if (err || !header) {
		ai_error_destroy(err);
		return false;
	}
	header = tk_underlying(header);
	if (!tk_match_header(header, NULL))
		return false;
	return tk_resolve_header(tk, header);
}

/* Task vtables: words of .data.rel.ro equal to a poll address, minus Vtable.poll's offset. */
static size_t known_vtables(struct tk *tk, const uint64_t *polls, size_t poll_count,
			    uint64_t **ret)
{
	struct ai_word_scan scan;
	ai_scan_relro(tk->as, polls, poll_count, TK_SCAN_MAX_BYTES, SIZE_MAX, &scan);
	tk->exited |= scan.exited;
	for (size_t i = 0; i < scan.count; i++)
		scan.words[i] -= tk->poll;
	*ret = scan.words;
	return scan.count;
}

/* A candidate header: the task at `address`, read whole into tk's scratch. NULL if it is none. */
struct tk_vtable *tk_check_candidate(struct tk *tk, uint64_t address, const uint8_t **cell_ret)
{
	if (!tk_plausible(address, 8))
		return NULL;
	uint8_t *cell = tk_scratch(tk, tk->header_size);
	struct ai_error *err = tk_read(tk, cell, address, tk->header_size);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	uint64_t state = tk_get_u64(cell, tk->header_state);
	/* At least one reference (REF_ONE = 1 << 6), and not a pointer (e.g. free()'s links). */
	if ((state >> 6) == 0 || (state >> 6) >= TK_SCAN_MAX_REFS)
		return NULL;
	if (tk->has_owner_id && tk_get_u64(cell, tk->owner_id) == 0)
		return NULL; /* never bound to an OwnedTasks: not a spawned task */
	struct tk_vtable *vt = tk_get_vtable(tk, tk_get_u64(cell, tk->header_vtable));
	if (!vt->valid)
		return NULL;
	cell = tk_scratch(tk, vt->read_size);
	err = tk_read(tk, cell, address, vt->read_size);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	uint64_t next = tk_get_u64(cell, vt->links + tk->next);
	if (next && !tk_plausible(next, 8))
		return NULL;
	if (tk->has_prev) {
		uint64_t prev = tk_get_u64(cell, vt->links + tk->prev);
		if (prev && !tk_plausible(prev, 8))
			return NULL;
	}
	if (vt->has_stage) {
		struct tk_loc payload;
		bool has_payload;
		if (!tk_variant(vt->stage_type, cell + vt->stage, vt->read_size - vt->stage, &payload,
				&has_payload))
			return NULL;
	}
	*cell_ret = cell;
	return vt;
}

/* Every validated task header in memory, sorted and unique, into *ret (owned); only of the
 * vtables `keep` keeps when it is not NULL (none kept: nothing is scanned). */
size_t tk_scan_headers(struct tk *tk, struct ai_elf_file *symbols,
		       bool (*keep)(struct tk *tk, struct tk_vtable *vt), uint64_t **ret)
{
	*ret = NULL;
	uint64_t *polls = NULL, *vtables = NULL, *hits = NULL;
	size_t poll_count = poll_addresses(tk, symbols, &polls), vtable_count = 0;
	size_t hit_count = 0, header_count = 0;
	if (!poll_count)
		goto out;
	if (!tk->header_ok && !resolve_header_from_poll(tk, polls[0])) {
		tk_warn(&tk->env, "no DWARF type tokio::runtime::task::core::Header for the tasks "
			"of %s; memory is not scanned for tasks", tk->main->path);
		goto out;
	}
	if (tk->header_size > 256)
		goto out;
	vtable_count = known_vtables(tk, polls, poll_count, &vtables);
	if (keep) {
		size_t kept = 0;
		for (size_t i = 0; i < vtable_count; i++)
			if (keep(tk, tk_get_vtable(tk, vtables[i])))
				vtables[kept++] = vtables[i];
		vtable_count = kept;
	}
	if (!vtable_count)
		goto out;
	struct ai_word_scan scan;
	ai_scan_writable(tk->as, vtables, vtable_count, TK_SCAN_MAX_BYTES, TK_SCAN_MAX_CANDIDATES, &scan);
	tk->exited |= scan.exited;
	if (scan.stopped_bytes)
		tk_warn(&tk->env, "the scan for tasks stopped after %" PRIu64 " bytes of memory", scan.scanned);
	if (scan.stopped_words)
		tk_warn(&tk->env, "the scan for tasks stopped after %zu candidates", scan.count);
	/* A word equal to a vtable is a Header.vtable: the header starts that much before it. */
	hits = scan.words;
	hit_count = scan.count;
	for (size_t i = 0; i < hit_count; i++)
		hits[i] -= tk->header_vtable;
	for (size_t i = 0; i < hit_count; i++) {
		const uint8_t *cell;
		if (tk_check_candidate(tk, hits[i], &cell))
			hits[header_count++] = hits[i];
	}
out:
	free(polls);
	free(vtables);
	if (!header_count) {
		free(hits);
		hits = NULL;
	}
	*ret = hits;
	return header_count;
}

size_t tk_scan_headers_of(struct tk *tk, bool (*keep)(struct tk *tk, struct tk_vtable *vt),
			  uint64_t **ret)
{
	return tk_scan_headers(tk, tk->symbols, keep, ret);
}

/* The fallback: tasks of no known runtime, from the scan. */
void tk_tasks_from_scan(struct tk *tk, struct ai_elf_file *symbols, size_t first_task)
{
	uint64_t *headers;
	size_t count = tk_scan_headers(tk, symbols, NULL, &headers);
	if (!count)
		return;
	/* (a LocalSet's tasks may be listed already: its list needs no runtime) */
	size_t known_count = tk->snapshot->task_count - first_task;
	uint64_t *known = xmalloc((known_count + 1) * sizeof(*known));
	for (size_t i = 0; i < known_count; i++)
		known[i] = tk->snapshot->tasks[first_task + i].address;
	known_count = ai_u64_sort_unique(known, known_count);
	struct tk_runtime none = { .first_task = tk->snapshot->task_count };
	for (size_t i = 0; i < count; i++) {
		const uint8_t *cell;
		struct tk_vtable *vt = ai_u64_sorted_contains(known, known_count, headers[i])
					       ? NULL : tk_check_candidate(tk, headers[i], &cell);
		if (vt)
			tk_emit_task(tk, &none, vt, headers[i], cell);
	}
	free(known);
	free(headers);
	if (tk->snapshot->task_count > none.first_task)
		tk_warn(&tk->env, "tasks found by scanning memory: no runtime handle was found");
	struct ai_snapshot_task *tasks = tk->snapshot->tasks + none.first_task;
	size_t n = tk->snapshot->task_count - none.first_task;
	if (n > 1)
		qsort(tasks, n, sizeof(*tasks), tk_compare_tasks);
}
