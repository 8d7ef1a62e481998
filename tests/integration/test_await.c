/* Await trees of the real tokio fixtures, for every tokio version of the matrix: the block_on root
 * of `nested` and `current_thread` (ai_roots_collect), the level1 -> level4 chains of their tasks
 * with file:line from the markers and saved locals, and every shape of `shapes_zoo` (join!,
 * select!, timeout, generic fns, blocks, closures, boxed dyn futures, futures' combinators, a
 * 6-deep chain). Tasks are found with ai_runtimes_collect. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/debuginfo.h"
#include "ai/snapshot.h"
#include "ai/target.h"
#include "ai/unwind.h"
#include "ai/util.h"
#include "support.h"

/* One stopped fixture and what was collected from it. Global, so that the suite's fini cleans up
 * (detaches, kills the fixture) after a failed assertion too. */
static struct {
	struct fixture fx;
	const char *version;
	struct ai_target *target;
	struct ai_debuginfo *di;
	struct ai_stack *stacks;
	size_t stack_count;
	struct ai_async *as;
	struct ai_snapshot *snapshot;
} s;

static void session_end(void)
{
	ai_snapshot_destroy(s.snapshot);
	ai_async_destroy(s.as);
	for (size_t i = 0; i < s.stack_count; i++)
		ai_stack_deinit(&s.stacks[i]);
	free(s.stacks);
	ai_debuginfo_destroy(s.di);
	ai_target_destroy(s.target); /* detaches */
	if (s.fx.pid > 0 || s.fx.out)
		fixture_kill(&s.fx);
	memset(&s, 0, sizeof(s));
}

TestSuite(await, .init = require_fixtures, .fini = session_end, .timeout = 300);

#define CHECK(err)                                                              \
	do {                                                                    \
		struct ai_error *e_ = (err);                                    \
		cr_assert_null(e_, "%s: %s", s.version, e_ ? e_->message : ""); \
	} while (0)

/* Starts the fixture, attaches, stops it, unwinds every thread and collects roots (and tasks). */
static void session_start(const char *version, const char *bin, bool tasks)
{
	session_end();
	s.version = version;
	fixture_start(&s.fx, version, bin, NULL);
	CHECK(ai_target_attach(s.fx.pid, &s.target));
	CHECK(ai_target_stop(s.target));
	ai_memory_set_caching(s.target->memory, true);
	CHECK(ai_debuginfo_create(s.target, &s.di));
	s.stack_count = s.target->thread_count;
	s.stacks = xcalloc(s.stack_count, sizeof(*s.stacks));
	for (size_t i = 0; i < s.stack_count; i++)
		CHECK(ai_unwind_thread(s.di, &s.target->threads[i], &s.stacks[i]));
	CHECK(ai_async_create(s.target, s.di, NULL, &s.as));
	s.snapshot = ai_snapshot_create();
	CHECK(ai_roots_collect(s.as, s.stacks, s.snapshot));
	if (tasks)
		CHECK(ai_runtimes_collect(s.as, s.stacks, s.snapshot));
}

/* ---- Looking things up ---- */

static bool ends_with(const char *s_, const char *suffix)
{
	size_t a = strlen(s_), b = strlen(suffix);
	return a >= b && strcmp(s_ + a - b, suffix) == 0;
}

static const struct ai_snapshot_local *find_local(const struct ai_await_node *node,
						  const char *name)
{
	for (size_t i = 0; i < node->local_count; i++)
		if (strcmp(node->locals[i].name, name) == 0)
			return &node->locals[i];
	return NULL;
}

static void expect_local(const struct ai_await_node *node, const char *name, const char *value)
{
	const struct ai_snapshot_local *l = find_local(node, name);
	cr_assert(l, "%s: no local %s in %s", s.version, name, node->function);
	cr_expect_str_eq(l->value, value, "%s: %s.%s", s.version, node->function, name);
}

/* The task (kind "task") whose tree is `function` and, if local_name is given, whose root has that
 * local with that value. */
static const struct ai_snapshot_task *find_task(const char *function, const char *local_name,
						const char *local_value)
{
	for (size_t i = 0; i < s.snapshot->task_count; i++) {
		const struct ai_snapshot_task *t = &s.snapshot->tasks[i];
		if (strcmp(t->kind, "task") != 0 || !t->tree.function ||
		    strcmp(t->tree.function, function) != 0)
			continue;
		if (!local_name)
			return t;
		const struct ai_snapshot_local *l = find_local(&t->tree, local_name);
		if (l && strcmp(l->value, local_value) == 0)
			return t;
	}
	cr_assert_fail("%s: no task %s with %s = %s (%zu tasks)", s.version, function,
		       local_name ? local_name : "-", local_value ? local_value : "-",
		       s.snapshot->task_count);
	return NULL;
}

static const struct ai_await_node *only_child(const struct ai_await_node *node)
{
	cr_assert_eq(node->child_count, 1, "%s: %s has %zu children", s.version,
		     node->function ? node->function : node->type, node->child_count);
	return &node->children[0];
}

/* A coroutine node: function, parked at the marker's line of `file` (under tests/fixtures). */
static void expect_at(const struct ai_await_node *node, const char *function, const char *file,
		      const char *marker)
{
	cr_assert_null(node->error, "%s: %s: %s", s.version, function, node->error);
	cr_assert(node->function, "%s: expected %s, got a %s", s.version, function, node->type);
	cr_expect_str_eq(node->function, function, "%s", s.version);
	cr_expect(node->state && strncmp(node->state, "Suspend", 7) == 0, "%s: %s in state %s",
		  s.version, function, node->state);
	char *path = xasprintf("/tests/fixtures/%s", file);
	cr_expect(node->file && ends_with(node->file, path), "%s: %s in %s", s.version, function,
		  node->file);
	free(path);
	char *text = xasprintf("@await: %s", marker);
	cr_expect_eq(node->line, marker_line(file, text), "%s: %s at line %d", s.version,
		     function, node->line);
	free(text);
	cr_expect_null(node->macro, "%s", s.version);
}

/* A suspend point a macro generated: at the user's line of the invocation (the marker), counted
 * there among the awaits, with the macro and its own source as detail. */
static void expect_macro_at(const struct ai_await_node *node, const char *function,
			    const char *marker, const char *macro, const char *macro_source)
{
	cr_assert_null(node->error, "%s: %s: %s", s.version, function, node->error);
	cr_expect_str_eq(node->function, function, "%s", s.version);
	cr_expect(node->file && ends_with(node->file, "/tests/fixtures/tokio/src/bin/shapes_zoo.rs"),
		  "%s: %s in %s", s.version, function, node->file);
	char *text = xasprintf("@await: %s", marker);
	int line = marker_line("tokio/src/bin/shapes_zoo.rs", text);
	free(text);
	cr_expect_eq(node->line, line, "%s: %s at line %d", s.version, function, node->line);
	cr_expect_str_eq(node->macro, macro, "%s", s.version);
	cr_expect(node->macro_file && strstr(node->macro_file, macro_source), "%s: %s's source %s",
		  s.version, macro, node->macro_file);
	cr_expect_gt(node->macro_line, 0, "%s", s.version);
	cr_assert_gt(node->await_index, 0, "%s: %s not counted among its awaits", s.version,
		     function);
	cr_expect_eq(node->await_lines[node->await_index - 1], line, "%s", s.version);
}

/* tokio's Sleep: tokio::time::sleep::Sleep, tokio::time::driver::sleep::Sleep in 1.19. */
static const char *sleep_type(void)
{
	return strcmp(s.version, "tokio-1.19") == 0 ? "tokio::time::driver::sleep::Sleep"
						    : "tokio::time::sleep::Sleep";
}

static void expect_leaf(const struct ai_await_node *node, const char *type_prefix)
{
	cr_expect(node->leaf, "%s: %s is no leaf", s.version, node->type);
	cr_expect(strncmp(node->type, type_prefix, strlen(type_prefix)) == 0,
		  "%s: leaf %s, expected %s", s.version, node->type, type_prefix);
	cr_expect_null(node->function);
	cr_expect_null(node->error, "%s: %s", s.version, node->error);
}

/* ---- block_on roots ---- */

static void check_root(const char *version, const char *bin, const char *flavor)
{
	session_start(version, bin, false);
	cr_assert_eq(s.snapshot->task_count, 1, "%s: %zu block_on roots", version,
		     s.snapshot->task_count);
	const struct ai_snapshot_task *t = &s.snapshot->tasks[0];
	char *function = xasprintf("%s::main::{async_block#0}", bin);
	char *file = xasprintf("tokio/src/bin/%s.rs", bin);
	cr_expect_str_eq(t->kind, "block_on");
	cr_expect_str_eq(t->runtime, "tokio");
	cr_expect_str_eq(t->flavor, flavor, "%s", version);
	cr_expect_eq(t->thread, s.fx.pid, "%s: on thread %d", version, t->thread);
	cr_expect_str_eq(t->future, function);
	cr_expect_eq(t->address, t->tree.address);
	cr_expect_null(t->status);
	expect_at(&t->tree, function, file, "main");
	expect_leaf(only_child(&t->tree), "tokio::runtime::task::join::JoinHandle<u64>");
	free(function);
	free(file);
	session_end();
}

Test(await, block_on_root_multi_thread)
{
	for (const char *const *v = tokio_versions(); *v; v++)
		check_root(*v, "nested", "multi_thread");
}

Test(await, block_on_root_current_thread)
{
	for (const char *const *v = tokio_versions(); *v; v++)
		check_root(*v, "current_thread", "current_thread");
}

/* ---- The tasks of nested / current_thread ---- */

static void check_level_chains(const char *crate)
{
	static const char *const leaf_marker[] = {
		"level4-oneshot", "level4-sleep", "level4-notify", "level4-mpsc", "level4-mutex",
	};
	const char *shapes = "tokio/src/shapes.rs";
	char *fn[4];
	for (int i = 0; i < 4; i++)
		fn[i] = xasprintf("%s::shapes::level%d", crate, i + 1);
	for (int id = 0; id < 5; id++) {
		char *id_text = xasprintf("%d", id);
		const struct ai_snapshot_task *t = find_task(fn[0], "id", id_text);
		const struct ai_await_node *l1 = &t->tree;
		expect_at(l1, fn[0], shapes, "level1");
		char *name = xasprintf("\"task-%d\"", id);
		expect_local(l1, "name", name);
		cr_expect_str_eq(find_local(l1, "name")->type, "String");

		const struct ai_await_node *l2 = only_child(l1);
		expect_at(l2, fn[1], shapes, "level2");
		char *values = xasprintf("[%d, %d, %d]", id * 10 + 1, id * 10 + 2, id * 10 + 3);
		expect_local(l2, "values", values);
		cr_expect_str_eq(find_local(l2, "values")->type, "Vec<u32>");

		const struct ai_await_node *l3 = only_child(l2);
		expect_at(l3, fn[2], shapes, "level3");
		char *account = xasprintf("Account { id: %d, owner: \"owner-%d\", balance: %d }", id,
					  id, -100 * id - 1);
		expect_local(l3, "account", account);

		const struct ai_await_node *l4 = only_child(l3);
		cr_assert_null(l4->error, "%s: %s", s.version, l4->error);
		cr_expect_str_eq(l4->function, fn[3]);
		char *text = xasprintf("@await: %s", leaf_marker[id]);
		cr_expect_eq(l4->line, marker_line(shapes, text), "%s: task %d level4 at %d",
			     s.version, id, l4->line);
		expect_local(l4, "depth", "4");
		cr_expect(find_local(l4, "leaf") || find_local(l1, "leaf"),
			  "%s: argument leaf not shown", s.version);

		const struct ai_await_node *w = only_child(l4);
		switch (id) {
		case 0:
			expect_leaf(w, "tokio::sync::oneshot::Receiver<u32>");
			break;
		case 1:
			expect_leaf(w, sleep_type());
			break;
		case 2:
			expect_leaf(w, "tokio::sync::notify::Notified");
			break;
		case 3: /* Receiver::recv is an async fn of tokio's */
			cr_expect(w->function && strstr(w->function, "::recv"), "%s: %s", s.version,
				  w->function);
			break;
		case 4: /* Mutex::lock is an async fn of tokio's, down to a semaphore Acquire */
			cr_expect(w->function && strstr(w->function, "::lock"), "%s: %s", s.version,
				  w->function);
			while (w->child_count)
				w = &w->children[0];
			expect_leaf(w, "tokio::sync::batch_semaphore::Acquire");
			break;
		}
		free(text);
		free(account);
		free(values);
		free(name);
		free(id_text);
	}
	for (int i = 0; i < 4; i++)
		free(fn[i]);

	/* holder: the guard it holds, parked on a sleep. */
	char *holder = xasprintf("%s::shapes::holder", crate);
	const struct ai_snapshot_task *t = find_task(holder, NULL, NULL);
	expect_at(&t->tree, holder, shapes, "holder");
	const struct ai_snapshot_local *guard = find_local(&t->tree, "guard");
	cr_assert(guard, "%s: holder has no guard", s.version);
	cr_expect_str_eq(guard->type, "OwnedMutexGuard<u64>");
	expect_leaf(only_child(&t->tree), sleep_type());
	free(holder);

	/* The async block in spawn_all, on task 1's JoinHandle. */
	char *block = xasprintf("%s::shapes::spawn_all::{async_block#0}", crate);
	t = find_task(block, NULL, NULL);
	expect_at(&t->tree, block, shapes, "block");
	expect_local(&t->tree, "label", "\"block\"");
	expect_leaf(only_child(&t->tree), "tokio::runtime::task::join::JoinHandle<u64>");
	free(block);
}

Test(await, level_chains_multi_thread)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		session_start(*v, "nested", true);
		check_level_chains("nested");
		session_end();
	}
}

Test(await, level_chains_current_thread)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		session_start(*v, "current_thread", true);
		check_level_chains("current_thread");
		session_end();
	}
}

/* ---- shapes_zoo ---- */

static const char ZOO[] = "tokio/src/bin/shapes_zoo.rs";

/* The children of a combinator node, whatever their order, are these async fns at these markers
 * (n of them). */
static void expect_branches(const struct ai_await_node *node, const char *type_prefix, size_t n,
			    const char *const *functions, const char *const *markers)
{
	cr_assert_null(node->error, "%s: %s: %s", s.version, node->type, node->error);
	cr_expect(strncmp(node->type, type_prefix, strlen(type_prefix)) == 0, "%s: %s",
		  s.version, node->type);
	cr_expect_null(node->function);
	cr_expect(!node->leaf);
	cr_assert_eq(node->child_count, n, "%s: %s has %zu children", s.version, node->type,
		     node->child_count);
	for (size_t i = 0; i < n; i++) {
		const struct ai_await_node *c = NULL;
		for (size_t j = 0; j < n && !c; j++)
			if (node->children[j].function &&
			    strcmp(node->children[j].function, functions[i]) == 0)
				c = &node->children[j];
		cr_assert(c, "%s: no branch %s", s.version, functions[i]);
		expect_at(c, functions[i], ZOO, markers[i]);
	}
}

static void check_zoo(void)
{
	/* tokio::join!: DWARF declares the suspend point in tokio's macro source; shown at the
	 * user's line. */
	const struct ai_snapshot_task *t = find_task("shapes_zoo::zoo_join", NULL, NULL);
	const struct ai_await_node *n = &t->tree;
	expect_macro_at(n, "shapes_zoo::zoo_join", "zoo-join-macro", "tokio::join!",
			"/src/macros/join.rs");
	expect_local(n, "tag", "11");
	cr_expect_null(find_local(n, "futures"), "%s: the branches repeated as a local", s.version);
	expect_branches(only_child(n), "", 2,
			(const char *const[]){ "shapes_zoo::join_left", "shapes_zoo::join_right" },
			(const char *const[]){ "zoo-join-left", "zoo-join-right" });
	expect_leaf(only_child(&only_child(n)->children[0]), "tokio::sync::notify::Notified");

	/* tokio::select! */
	t = find_task("shapes_zoo::zoo_select", NULL, NULL);
	n = &t->tree;
	expect_macro_at(n, "shapes_zoo::zoo_select", "zoo-select-macro", "tokio::select!",
			"/src/macros/select.rs");
	expect_local(n, "tag", "12");
	/* select!'s own bit mask of finished branches is the macro's, not the user's */
	cr_expect_null(find_local(n, "disabled"), "%s: select!'s `disabled` shown as the user's", s.version);
	expect_branches(only_child(n), "", 2,
			(const char *const[]){ "shapes_zoo::select_left", "shapes_zoo::select_right" },
			(const char *const[]){ "zoo-select-left", "zoo-select-right" });

	/* futures::join! (its branches: one `_futN` per future) and futures::select!: at the
	 * user's line too */
	t = find_task("shapes_zoo::zoo_fjoin_macro", NULL, NULL);
	n = &t->tree;
	expect_macro_at(n, "shapes_zoo::zoo_fjoin_macro", "zoo-fjoin-macro", "futures::join!",
			"/src/async_await/join_mod.rs");
	expect_local(n, "tag", "18");
	expect_branches(only_child(n), "", 2,
			(const char *const[]){ "shapes_zoo::fmacro_sleep", "shapes_zoo::fmacro_notified" },
			(const char *const[]){ "zoo-fmacro-sleep", "zoo-fmacro-notified" });
	t = find_task("shapes_zoo::zoo_fselect_macro", NULL, NULL);
	n = &t->tree;
	expect_macro_at(n, "shapes_zoo::zoo_fselect_macro", "zoo-fselect-macro",
			"futures::select!", "/src/async_await/select_mod.rs");
	expect_local(n, "tag", "19");
	/* its closure captures a pointer to each branch, named after the user's variables */
	expect_branches(only_child(n), "", 2,
			(const char *const[]){ "shapes_zoo::fmacro_sleep", "shapes_zoo::fmacro_notified" },
			(const char *const[]){ "zoo-fmacro-sleep", "zoo-fmacro-notified" });

	/* time::timeout: Timeout { value, delay } */
	t = find_task("shapes_zoo::zoo_timeout", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::zoo_timeout", ZOO, "zoo-timeout-outer");
	expect_local(&t->tree, "tag", "13");
	n = only_child(&t->tree);
	cr_expect(strncmp(n->type, "tokio::time::timeout::Timeout<", 30) == 0, "%s: %s",
		  s.version, n->type);
	cr_assert_eq(n->child_count, 2, "%s: timeout has %zu children", s.version, n->child_count);
	expect_at(&n->children[0], "shapes_zoo::timeout_inner", ZOO, "zoo-timeout-inner");
	expect_leaf(only_child(&n->children[0]), "tokio::sync::oneshot::Receiver<u32>");
	/* Sleep, or Option<Sleep> (1.5x) */
	cr_expect(n->children[1].leaf && strstr(n->children[1].type, sleep_type()),
		  "%s: delay %s", s.version, n->children[1].type);

	/* Generic async fn: its type arguments name it. */
	t = find_task("shapes_zoo::generic_wait<i32>", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::generic_wait<i32>", ZOO, "zoo-generic");
	expect_local(&t->tree, "value", "-7");
	cr_expect_str_eq(t->tree.type, "shapes_zoo::generic_wait::{async_fn_env#0}<i32>");
	t = find_task("shapes_zoo::generic_wait<alloc::string::String>", NULL, NULL);
	expect_local(&t->tree, "value", "\"generic-string\"");
	expect_leaf(only_child(&t->tree), sleep_type());

	/* A spawned async block with captured locals. */
	const struct ai_snapshot_task *block = NULL;
	for (size_t i = 0; i < s.snapshot->task_count && !block; i++) {
		const struct ai_await_node *r = &s.snapshot->tasks[i].tree;
		if (r->function && strncmp(r->function, "shapes_zoo::main::{async_block#0}::{async_block#", 48) == 0)
			block = &s.snapshot->tasks[i];
	}
	cr_assert(block, "%s: no async block task", s.version);
	expect_at(&block->tree, block->tree.function, ZOO, "zoo-block");
	expect_local(&block->tree, "label", "\"zoo-block\"");
	expect_local(&block->tree, "numbers", "[1, 2, 3]");
	expect_leaf(only_child(&block->tree), "tokio::sync::notify::Notified");

	/* A closure returning an async block. */
	t = find_task("shapes_zoo::main::{async_block#0}::{closure#2}::{async_block#0}", NULL, NULL);
	expect_at(&t->tree, t->tree.function, ZOO, "zoo-closure");
	expect_local(&t->tree, "x", "7");
	expect_local(&t->tree, "doubled", "14");

	/* An async closure, awaited in an async fn. */
	t = find_task("shapes_zoo::call_async_closure", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::call_async_closure", ZOO, "zoo-async-closure-call");
	n = only_child(&t->tree);
	expect_at(n, "shapes_zoo::call_async_closure::{closure#0}::{async_closure#0}", ZOO,
		  "zoo-async-closure-body");
	expect_local(n, "x", "9");
	expect_leaf(only_child(n), sleep_type());

	/* A task whose future is Pin<Box<dyn Future>>: the vtable names the async fn. */
	t = find_task("shapes_zoo::boxed_leaf", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::boxed_leaf", ZOO, "zoo-boxed-spawned");
	expect_local(&t->tree, "n", "21");
	/* An awaitee Pin<Box<dyn Future>>. */
	t = find_task("shapes_zoo::await_boxed", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::await_boxed", ZOO, "zoo-boxed-outer");
	n = only_child(&t->tree);
	expect_at(n, "shapes_zoo::boxed_inner", ZOO, "zoo-boxed-inner");
	expect_local(n, "n", "22");
	expect_leaf(only_child(n), sleep_type());

	/* The JoinHandle of a finished task, held as a saved local. */
	t = find_task("shapes_zoo::hold_finished", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::hold_finished", ZOO, "zoo-hold-finished");
	cr_expect(find_local(&t->tree, "done"), "%s: no local done", s.version);

	/* futures::future::join_all of 3 */
	t = find_task("shapes_zoo::zoo_join_all", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::zoo_join_all", ZOO, "zoo-joinall-outer");
	n = only_child(&t->tree);
	expect_branches(n, "futures_util::future::join_all::JoinAll<", 3,
			(const char *const[]){ "shapes_zoo::join_all_leaf", "shapes_zoo::join_all_leaf",
					       "shapes_zoo::join_all_leaf" },
			(const char *const[]){ "zoo-joinall-leaf", "zoo-joinall-leaf", "zoo-joinall-leaf" });
	for (int i = 0; i < 3; i++) {
		char *v = xasprintf("%d", i);
		expect_local(&n->children[i], "i", v);
		free(v);
	}

	/* FuturesUnordered of 3, awaited through .next() */
	t = find_task("shapes_zoo::zoo_unordered", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::zoo_unordered", ZOO, "zoo-unordered-outer");
	n = only_child(&t->tree);
	expect_branches(n, "futures_util::stream::futures_unordered::FuturesUnordered<", 3,
			(const char *const[]){ "shapes_zoo::unordered_leaf", "shapes_zoo::unordered_leaf",
					       "shapes_zoo::unordered_leaf" },
			(const char *const[]){ "zoo-unordered-leaf", "zoo-unordered-leaf",
					       "zoo-unordered-leaf" });
	int seen = 0;
	for (size_t i = 0; i < n->child_count; i++) {
		const struct ai_snapshot_local *l = find_local(&n->children[i], "i");
		if (l)
			seen |= 1 << atoi(l->value);
	}
	cr_expect_eq(seen, 7, "%s: unordered leaves i = %#x", s.version, seen);

	/* futures::future::select of two pin!-ned futures */
	t = find_task("shapes_zoo::zoo_fselect", NULL, NULL);
	expect_at(&t->tree, "shapes_zoo::zoo_fselect", ZOO, "zoo-fselect-outer");
	expect_branches(only_child(&t->tree), "futures_util::future::select::Select<", 2,
			(const char *const[]){ "shapes_zoo::fselect_left", "shapes_zoo::fselect_right" },
			(const char *const[]){ "zoo-fselect-left", "zoo-fselect-right" });

	/* deep1 -> deep6 */
	t = find_task("shapes_zoo::deep1", NULL, NULL);
	n = &t->tree;
	for (int level = 1; level <= 6; level++) {
		char *fn = xasprintf("shapes_zoo::deep%d", level);
		char *marker = xasprintf("zoo-deep%d", level);
		char *value = xasprintf("%d", level);
		expect_at(n, fn, ZOO, marker);
		expect_local(n, "level", value);
		free(fn);
		free(marker);
		free(value);
		n = only_child(n);
	}
	expect_leaf(n, "tokio::sync::notify::Notified");

	/* The main future, from block_on. */
	const struct ai_snapshot_task *root = NULL;
	for (size_t i = 0; i < s.snapshot->task_count; i++)
		if (strcmp(s.snapshot->tasks[i].kind, "block_on") == 0) {
			cr_expect_null(root, "%s: two block_on roots", s.version);
			root = &s.snapshot->tasks[i];
		}
	cr_assert(root, "%s: no block_on root", s.version);
	expect_at(&root->tree, "shapes_zoo::main::{async_block#0}", ZOO, "zoo-main");
	expect_local(&root->tree, "spawned", "17");
}

Test(await, shapes_zoo)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		session_start(*v, "shapes_zoo", true);
		check_zoo();
		session_end();
	}
}

/* ---- Frame variables ---- */

struct var_search {
	const char *name;
	struct ai_frame_var var;
	bool found;
};

static bool find_var_cb(const struct ai_frame_var *var, void *arg)
{
	struct var_search *vs = arg;
	if (strcmp(var->name, vs->name) != 0)
		return true;
	vs->var = *var;
	vs->found = true;
	return false;
}

static const struct ai_frame *find_frame(const struct ai_stack *stack, const char *prefix)
{
	for (size_t i = 0; i < stack->count; i++) {
		const char *f = stack->frames[i].location.function;
		if (f && strncmp(f, prefix, strlen(prefix)) == 0)
			return &stack->frames[i];
	}
	return NULL;
}

/* Each worker-N of many_threads has `ctx: Ctx { index: N, .. }` in wNN::inner, a caller frame:
 * DW_OP_fbreg against a frame base of DW_OP_reg7, rsp as recovered by the unwinder. */
Test(await, frame_vars_caller_frames)
{
	session_start("plain", "many_threads", false);
	cr_assert_eq(s.snapshot->task_count, 0);
	int seen = 0;
	for (size_t i = 0; i < s.target->thread_count; i++) {
		int n;
		if (sscanf(s.target->threads[i].name, "worker-%d", &n) != 1)
			continue;
		char *prefix = xasprintf("many_threads::w%02d::inner", n);
		const struct ai_frame *frame = find_frame(&s.stacks[i], prefix);
		cr_assert(frame, "thread %s has no frame %s", s.target->threads[i].name, prefix);
		cr_expect(frame->is_return_address);
		struct var_search vs = { .name = "ctx" };
		CHECK(ai_frame_vars(s.as, frame, find_var_cb, &vs));
		cr_assert(vs.found, "%s: no ctx", prefix);
		cr_expect(vs.var.is_parameter);
		const struct ai_type *type;
		CHECK(ai_types_get(s.as->types, vs.var.type_die, &type));
		cr_expect_str_eq(ai_type_qualified_name(type), "many_threads::Ctx");
		char *value = ai_value_format(s.target->memory, type, vs.var.address, NULL);
		char *expected = xasprintf("Ctx { index: %d,", n);
		cr_expect(strncmp(value, expected, strlen(expected)) == 0, "%s: ctx = %s", prefix,
			  value);
		seen |= 1 << n;
		free(expected);
		free(value);
		free(prefix);
	}
	cr_expect_eq(seen, 0xffff, "workers seen: %#x", seen);
	session_end();
}

/* Runtime::block_on's `future` argument: a location list (DW_OP_breg7, DW_OP_deref in 1.24) in a
 * caller frame. It is the copy moved on down the chain before its first poll (Unresumed), which is
 * why roots prefer the Pin<&mut F> of the frame that polls it. */
Test(await, frame_vars_block_on_argument)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		session_start(*v, "nested", false);
		const struct ai_stack *main_stack = NULL;
		for (size_t i = 0; i < s.target->thread_count; i++)
			if (s.target->threads[i].tid == s.fx.pid)
				main_stack = &s.stacks[i];
		cr_assert(main_stack);
		/* (tokio::runtime::Runtime in 1.19: runtime/mod.rs) */
		const struct ai_frame *frame =
			find_frame(main_stack, "tokio::runtime::runtime::Runtime::block_on<");
		if (!frame)
			frame = find_frame(main_stack, "tokio::runtime::Runtime::block_on<");
		cr_assert(frame, "%s: no Runtime::block_on frame", *v);
		struct var_search vs = { .name = "future" };
		CHECK(ai_frame_vars(s.as, frame, find_var_cb, &vs));
		cr_assert(vs.found, "%s: no future in Runtime::block_on", *v);
		const struct ai_type *type;
		CHECK(ai_types_get(s.as->types, vs.var.type_die, &type));
		cr_expect_str_eq(ai_type_qualified_name(type), "nested::main::{async_block_env#0}");
		struct ai_await_node node = { 0 };
		ai_await_decode(s.as, vs.var.address, type, &node);
		cr_expect_str_eq(node.state, "Unresumed", "%s: %s", *v, node.error);
		ai_await_node_deinit(&node);
		/* The root is the live one, elsewhere. */
		cr_assert_eq(s.snapshot->task_count, 1);
		cr_expect_neq(s.snapshot->tasks[0].address, vs.var.address);
		session_end();
	}
}
