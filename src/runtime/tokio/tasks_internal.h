/* Private to the task collection of the tokio adapter: what tasks.c (the entry points), context.c,
 * runtimes.c, vtables.c, owned_tasks.c and header_scan.c call of each other. What the adapter's
 * other files share is in tokio.h. */
#ifndef AI_RUNTIME_TOKIO_TASKS_INTERNAL_H
#define AI_RUNTIME_TOKIO_TASKS_INTERNAL_H

#include "tokio.h"

#define TK_MAX_SHARDS 65536u      /* tokio caps its shard count there */

/* (tasks.c) tk's scratch buffer for cells, at least size bytes. */
uint8_t *tk_scratch(struct tk *tk, size_t size);

/* (context.c) One pass over .symtab: the STT_TLS symbol of CONTEXT and a function of CONTEXT's
 * own (its accessor closure or init function), whose compilation unit holds CONTEXT's DWARF
 * variable. */
void tk_scan_symbols(struct tk *tk, struct ai_elf_file *file);
/* Finds CONTEXT's DWARF type and the places in it tokio reads, and the version. False (with a
 * warning) if the layout is not understood. */
bool tk_resolve_context(struct tk *tk);

/* (runtimes.c) "multi_thread", "current_thread" or NULL, from a handle's or scheduler's name. */
const char *tk_flavor_of(const char *name);
/* Whether type is tokio's task Header (a tk_find_pointee match). */
bool tk_match_header(const struct ai_type *type, const void *arg);
/* Header and Vtable, from the Header type the lists point to. */
bool tk_resolve_header(struct tk *tk, const struct ai_type *header);
/* The CONTEXT of every thread: its runtime handle and the task it polls. */
void tk_runtimes_from_threads(struct tk *tk, const struct ai_stack *stacks);
/* The runtimes whose handles stack frames of tokio's own functions hold. */
void tk_runtimes_from_stacks(struct tk *tk, const struct ai_stack *stacks);

/* (owned_tasks.c) Adds the task at address (its cell read whole) to the snapshot. */
void tk_emit_task(struct tk *tk, const struct tk_runtime *rt, struct tk_vtable *vt,
		  uint64_t address, const uint8_t *cell);
/* Adds the tasks of one runtime's lists to the snapshot. */
void tk_walk_runtime(struct tk *tk, struct tk_runtime *rt);
/* Tasks of a runtime by id (a runtime's tasks stay together, in the order runtimes were found). */
int tk_compare_tasks(const void *a, const void *b);

/* (header_scan.c) Every validated task header in memory, sorted and unique, into *ret (owned);
 * only of the vtables `keep` keeps when it is not NULL (none kept: nothing is scanned). */
size_t tk_scan_headers(struct tk *tk, struct ai_elf_file *symbols,
		       bool (*keep)(struct tk *tk, struct tk_vtable *vt), uint64_t **ret);
/* The fallback: tasks of no known runtime, from the scan. */
void tk_tasks_from_scan(struct tk *tk, struct ai_elf_file *symbols, size_t first_task);

#endif
