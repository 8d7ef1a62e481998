/* futures::executor's LocalPool futures: a LocalPool keeps what its spawner spawned in a
 * FuturesUnordered (its `pool` field), which the await-tree decoder walks as a shape. The
 * LocalPool is found as a variable of a stack frame (`let mut pool = LocalPool::new()` in the
 * function that runs it), through references too; one held elsewhere (in a heap struct, a
 * static) is not found. Each future of the pool is listed as a task of runtime "futures". */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "futures.h"

#define LOCAL_POOL "futures_executor::local_pool::LocalPool"
#define MAX_POOLS 64
#define MAX_HOPS 4

struct pools {
	struct ai_async *as;
	uint64_t address[MAX_POOLS];
	const struct ai_type *type[MAX_POOLS];
	size_t count;
};

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool find_pool(const struct ai_frame_var *var, void *arg)
{
	struct pools *p = arg;
	const struct ai_type *type;
	uint64_t address = var->address;
	struct ai_error *err = ai_types_get(p->as->types, var->type_die, &type);
	for (int hops = 0; !err && hops <= MAX_HOPS; hops++) {
		if ((err = ai_type_underlying(type, &type)))
			break;
		if (type->kind == AI_TYPE_POINTER) {
			uint64_t ptr;
			if ((err = ai_type_target(type, &type)) ||
			    (err = ai_memory_read_u64(p->as->target->memory, address, &ptr)))
				break;
			if (!ptr || ptr > 0x00007fffffffffffULL || (ptr & 7))
				break;
			address = ptr;
			continue;
		}
		const char *name = ai_type_qualified_name(type);
		if (type->kind != AI_TYPE_STRUCT || !starts_with(name, LOCAL_POOL) ||
		    (name[strlen(LOCAL_POOL)] != '\0' && name[strlen(LOCAL_POOL)] != '<'))
			break;
		for (size_t i = 0; i < p->count; i++)
			if (p->address[i] == address)
				return true;
		if (p->count < MAX_POOLS) {
			p->address[p->count] = address;
			p->type[p->count++] = type;
		}
		break;
	}
	ai_error_destroy(err);
	return true;
}

/* Moves the node's contents into task's tree (the node is left empty). */
static void add_task(struct ai_snapshot *snapshot, struct ai_await_node *node, uint64_t pool)
{
	struct ai_snapshot_task *task = ai_snapshot_add_task(snapshot);
	task->runtime = xstrdup("futures");
	task->kind = xstrdup("task");
	task->flavor = xstrdup("local_pool");
	task->address = node->address;
	task->runtime_address = pool;
	task->tree = *node;
	memset(node, 0, sizeof(*node));
	const char *future = task->tree.function ? task->tree.function : task->tree.type;
	task->future = xstrdup(future ? future : "?");
}

/* Whether any LocalPool code is linked (LocalPool::new makes every LocalPool): when none is,
 * the stack frames need no search. Both manglings spell identifiers as <length><name>. */
static bool local_pool_linked(struct ai_async *as)
{
	struct ai_module *main = ai_debuginfo_main_module(as->di);
	struct ai_elf_file *symbols = main->symbols ? main->symbols : main->elf;
	if (!symbols)
		return true; /* cannot tell: search */
	ai_elf_file_find_symbol(symbols, 0); /* loads the symbol table */
	for (size_t i = 0; i < symbols->symbol_count; i++) {
		const char *name = symbols->symbols[i].name;
		if (name && strstr(name, "16futures_executor") && strstr(name, "9LocalPool"))
			return true;
	}
	return false;
}

struct ai_error *ai_futures_collect(const struct ai_runtime_ops *self, struct ai_async *as,
				 const struct ai_stack *stacks,
				    struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry)
{
	struct pools *p = xcalloc(1, sizeof(*p));
	p->as = as;
	bool search = local_pool_linked(as);
	for (size_t t = 0; search && t < as->target->thread_count; t++) {
		const struct ai_stack *stack = &stacks[t];
		for (size_t i = 0; i < stack->count; i++) {
			struct ai_error *err = ai_frame_vars(as, &stack->frames[i], find_pool, p);
			ai_error_destroy(err); /* a frame we cannot read holds no pool for us */
		}
	}
	if (search && !p->count)
		ai_snapshot_add_warning(snapshot, "futures %s: LocalPool is linked but no thread's stack frame holds "
					"one: the futures of a LocalPool kept elsewhere (a struct on the heap, a static) "
					"are not shown", entry->version ? entry->version : "");
	for (size_t i = 0; i < p->count; i++) {
		const struct ai_member *m = ai_type_find_member(p->type[i], "pool");
		const struct ai_type *fu;
		struct ai_error *err = m ? ai_type_member_type(p->type[i], m, &fu) : NULL;
		if (!m || err) {
			ai_error_destroy(err);
			ai_snapshot_add_warning(snapshot, "futures %s: %s has no field pool: its futures are not shown",
						entry->version ? entry->version : "", LOCAL_POOL);
			continue;
		}
		struct ai_await_node node = { 0 };
		ai_await_decode(as, p->address[i] + m->offset, fu, &node);
		if (node.error)
			ai_snapshot_add_warning(snapshot, "futures: the futures of the LocalPool at 0x%" PRIx64
						" could not all be read: %s", p->address[i], node.error);
		for (size_t c = 0; c < node.child_count; c++)
			add_task(snapshot, &node.children[c], p->address[i]);
		ai_await_node_deinit(&node);
	}
	size_t pool_tasks = 0;
	ai_futures_thread_pool_collect(as, snapshot, entry, &pool_tasks);
	entry->instances = p->count + (pool_tasks ? 1 : 0);
	free(p);
	return NULL;
}
