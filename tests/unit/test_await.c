/* The await-tree decoder over hand-made types and hand-made target memory: coroutine chains,
 * names of async fns and blocks, macro suspend points, Pin<Box<F>>, select!'s branches, and the
 * failures that must stay contained (a cycle, an unreadable pointer, an unknown state, limits). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ai/async.h"
#include "ai/memory.h"
#include "ai/util.h"

/* ---- Target memory: one segment over a buffer, filled by put() ---- */

#define HEAP_BASE 0x10000
#define UNMAPPED 0xdead0000ULL

static struct {
	uint8_t bytes[1 << 16];
	size_t used;
} heap;
static struct ai_memory *mem;
static struct ai_target target;
static struct ai_async as;

static struct ai_error *read_heap(void *buf, uint64_t address, size_t count, void *arg)
{
	memcpy(buf, heap.bytes + (address - HEAP_BASE), count);
	return NULL;
}

/* Reserves n zeroed bytes, 16-aligned; returns their address. */
static uint64_t alloc(size_t n)
{
	heap.used = (heap.used + 15) & ~(size_t)15;
	cr_assert(heap.used + n <= sizeof(heap.bytes));
	uint64_t address = HEAP_BASE + heap.used;
	memset(heap.bytes + heap.used, 0, n);
	heap.used += n;
	return address;
}

static void poke(uint64_t address, const void *data, size_t n)
{
	memcpy(heap.bytes + (address - HEAP_BASE), data, n);
}

static void poke_u8(uint64_t address, uint8_t v)
{
	poke(address, &v, 1);
}

static void poke_u32(uint64_t address, uint32_t v)
{
	poke(address, &v, 4);
}

static void poke_u64(uint64_t address, uint64_t v)
{
	poke(address, &v, 8);
}

static void setup(void)
{
	heap.used = 0;
	mem = ai_memory_create();
	ai_memory_add_segment(mem, HEAP_BASE, HEAP_BASE + sizeof(heap.bytes), read_heap, NULL);
	memset(&target, 0, sizeof(target));
	target.memory = mem;
	memset(&as, 0, sizeof(as));
	as.target = &target;
	ai_async_options_default(&as.options);
}

static void teardown(void)
{
	ai_memory_destroy(mem);
}

TestSuite(await_decode, .init = setup, .fini = teardown);

/* ---- Hand-made types, laid out as rustc lays them out ---- */

#define REF(t) { .type = &(t) }
#define SCALAR(k, n, sz, sg) \
	{ .kind = (k), .name = (n), .size = (sz), .has_size = true, .is_signed = (sg), .alignment = (sz) }

static const struct ai_type t_u8 = SCALAR(AI_TYPE_INT, "u8", 1, false);
static const struct ai_type t_u32 = SCALAR(AI_TYPE_INT, "u32", 4, false);
static const struct ai_type t_u64 = SCALAR(AI_TYPE_INT, "u64", 8, false);

/* A leaf future: struct my::Sleep { deadline: u64 } */
static struct ai_member sleep_members[] = {
	{ .name = "deadline", .offset = 0, .type = REF(t_u64) },
};
static const struct ai_type t_sleep = {
	.kind = AI_TYPE_STRUCT, .name = "Sleep", .qualified_name = "my::time::Sleep", .size = 8,
	.has_size = true, .alignment = 8, .members = sleep_members, .member_count = 1,
};

/* A coroutine: { variant part on __state: Unresumed 0, Returned 1, Panicked 2, Suspend0 3 }, each
 * state a struct of its fields (offsets from the start of the coroutine). */
struct coro {
	struct ai_type type;
	struct ai_type states[4];
	struct ai_variant variants[4];
	struct ai_member fields[4][6];
	char name[128];
};

static const char *const state_names[] = { "Unresumed", "Returned", "Panicked", "Suspend0" };

static void make_coro(struct coro *c, const char *qualified, uint64_t size, uint64_t state_offset,
		      const char *file, uint32_t suspend_line)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", strrchr(qualified, ':') + 1);
	for (int i = 0; i < 4; i++) {
		c->states[i] = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = state_names[i],
						 .size = size, .has_size = true,
						 .members = c->fields[i] };
		c->variants[i] = (struct ai_variant){
			.name = state_names[i], .has_discr_value = true, .discr_value = (uint64_t)i,
			.member = { .name = "0", .offset = 0, .type = { .type = &c->states[i] } },
			.decl_file = file, .decl_line = i == 3 ? suspend_line : 1,
		};
	}
	c->type = (struct ai_type){
		.kind = AI_TYPE_ENUM, .name = c->name, .qualified_name = qualified, .size = size,
		.has_size = true, .alignment = 8, .has_discr = true,
		.discr = { .name = "__state", .offset = state_offset, .type = REF(t_u8),
			   .artificial = true },
		.variants = c->variants, .variant_count = 4,
	};
}

/* Adds a field to state i (3 = Suspend0). */
static void coro_field(struct coro *c, int state, const char *name, uint64_t offset,
		       const struct ai_type *type)
{
	struct ai_type *s = &c->states[state];
	cr_assert(s->member_count < 6);
	c->fields[state][s->member_count++] =
		(struct ai_member){ .name = name, .offset = offset, .type = { .type = type } };
}

static const char *const FILE_RS = "/src/app/src/main.rs";

static const struct ai_await_node *child(const struct ai_await_node *node, size_t i)
{
	cr_assert_gt(node->child_count, i, "node %s has %zu children, wanted #%zu", node->type,
		     node->child_count, i);
	return &node->children[i];
}

static const struct ai_snapshot_local *local(const struct ai_await_node *node, const char *name)
{
	for (size_t i = 0; i < node->local_count; i++)
		if (strcmp(node->locals[i].name, name) == 0)
			return &node->locals[i];
	cr_assert_fail("no local %s in %s", name, node->function ? node->function : node->type);
	return NULL;
}

/* outer (my::outer, Suspend0 on line 10, local x: u32 = 7) awaits inner (my::inner, Suspend0 on
 * line 20, local n: u64 = 99 twice: argument and binding) awaiting a Sleep. */
Test(await_decode, coroutine_chain)
{
	static struct coro outer, inner;
	make_coro(&inner, "my::inner::{async_fn_env#0}", 32, 24, FILE_RS, 20);
	coro_field(&inner, 0, "n", 16, &t_u64);
	coro_field(&inner, 3, "n", 16, &t_u64);
	coro_field(&inner, 3, "__awaitee", 0, &t_sleep);
	coro_field(&inner, 3, "n", 16, &t_u64);
	coro_field(&inner, 3, "__1", 25, &t_u8);
	make_coro(&outer, "my::outer::{async_fn_env#0}", 48, 40, FILE_RS, 10);
	coro_field(&outer, 3, "__awaitee", 0, &inner.type);
	coro_field(&outer, 3, "x", 32, &t_u32);

	uint64_t a = alloc(48);
	poke_u64(a + 0, 123456);  /* Sleep.deadline */
	poke_u64(a + 16, 99);     /* inner.n */
	poke_u8(a + 24, 3);       /* inner.__state */
	poke_u32(a + 32, 7);      /* outer.x */
	poke_u8(a + 40, 3);       /* outer.__state */

	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &outer.type, &node);
	cr_assert_null(node.error, "%s", node.error);
	cr_expect_str_eq(node.function, "my::outer");
	cr_expect_str_eq(node.type, "my::outer::{async_fn_env#0}");
	cr_expect_str_eq(node.state, "Suspend0");
	cr_expect_str_eq(node.file, FILE_RS);
	cr_expect_eq(node.line, 10);
	cr_expect_null(node.macro);
	cr_expect_eq(node.address, a);
	cr_expect(!node.leaf);
	cr_assert_eq(node.local_count, 1);
	cr_expect_str_eq(local(&node, "x")->type, "u32");
	cr_expect_str_eq(local(&node, "x")->value, "7");

	const struct ai_await_node *in = child(&node, 0);
	cr_expect_str_eq(in->function, "my::inner");
	cr_expect_str_eq(in->state, "Suspend0");
	cr_expect_eq(in->line, 20);
	/* `n` once, and no compiler temporary (__1). */
	cr_assert_eq(in->local_count, 1);
	cr_expect_str_eq(local(in, "n")->value, "99");

	const struct ai_await_node *leaf = child(in, 0);
	cr_expect(leaf->leaf);
	cr_expect_str_eq(leaf->type, "my::time::Sleep");
	cr_expect_null(leaf->function);
	cr_expect_null(leaf->state);
	cr_expect_eq(leaf->child_count, 0);
	ai_await_node_deinit(&node);

	/* Without locals. */
	as.options.locals = false;
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, a, &outer.type, &node);
	cr_expect_eq(node.local_count, 0);
	cr_expect_eq(child(&node, 0)->local_count, 0);
	ai_await_node_deinit(&node);
}

Test(await_decode, unresumed_has_no_child)
{
	static struct coro c;
	make_coro(&c, "my::f::{async_fn_env#0}", 16, 8, FILE_RS, 5);
	coro_field(&c, 0, "arg", 0, &t_u64);
	coro_field(&c, 3, "__awaitee", 0, &t_sleep);
	uint64_t a = alloc(16);
	poke_u64(a, 5);
	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &c.type, &node);
	cr_expect_str_eq(node.state, "Unresumed");
	cr_expect_eq(node.child_count, 0);
	cr_expect_str_eq(local(&node, "arg")->value, "5");
	ai_await_node_deinit(&node);

	poke_u8(a + 8, 9); /* no such state */
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, a, &c.type, &node);
	cr_expect_str_eq(node.error, "unknown state 9");
	cr_expect_str_eq(node.function, "my::f");
	ai_await_node_deinit(&node);
}

/* Async blocks and closures, generic async fns, and the suspend point of a macro. */
Test(await_decode, names_and_macros)
{
	static const struct {
		const char *type, *function, *file, *macro;
	} cases[] = {
		{ "app::main::{async_block_env#0}", "app::main::{async_block#0}", FILE_RS, NULL },
		{ "app::spawn_all::{async_fn#0}::{async_block_env#1}", "app::spawn_all::{async_block#1}",
		  FILE_RS, NULL },
		{ "app::main::{async_block#0}::{closure#2}::{async_block_env#0}",
		  "app::main::{async_block#0}::{closure#2}::{async_block#0}", FILE_RS, NULL },
		{ "app::call::{async_fn#0}::{closure#0}::{async_closure_env#0}",
		  "app::call::{closure#0}::{async_closure#0}", FILE_RS, NULL },
		{ "app::generic_wait::{async_fn_env#0}<alloc::string::String>",
		  "app::generic_wait<alloc::string::String>", FILE_RS, NULL },
		{ "app::zoo_join::{async_fn_env#0}", "app::zoo_join",
		  "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.24.2/src/macros/join.rs",
		  "tokio::join!" },
		{ "app::zoo_select::{async_fn_env#0}", "app::zoo_select",
		  "/home/me/tokio/tokio/src/macros/select.rs", "tokio::select!" },
		{ "app::fj::{async_fn_env#0}", "app::fj",
		  "/r/futures-util-0.3.31/src/async_await/join_mod.rs", "futures::join!" },
		/* Paths are shown without "." and "dir/..". */
		{ "app::n::{async_fn_env#0}", "app::n", "/w/fixtures/tokio-1.24/../tokio/./src/x.rs",
		  NULL },
		/* Not a macro: a user file that happens to sit in a macros/ directory. */
		{ "app::m::{async_fn_env#0}", "app::m", "/src/app/src/macros/join.rs", NULL },
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(cases); i++) {
		static struct coro c;
		make_coro(&c, cases[i].type, 16, 8, cases[i].file, 42);
		uint64_t a = alloc(16);
		poke_u8(a + 8, 3);
		struct ai_await_node node = { 0 };
		ai_await_decode(&as, a, &c.type, &node);
		cr_expect_str_eq(node.function, cases[i].function, "%s", cases[i].type);
		cr_expect_str_eq(node.type, cases[i].type);
		cr_expect_eq(node.line, 42);
		if (strstr(cases[i].file, "/../"))
			cr_expect_str_eq(node.file, "/w/fixtures/tokio/src/x.rs");
		else
			cr_expect_str_eq(node.file, cases[i].file);
		if (cases[i].macro)
			cr_expect_str_eq(node.macro, cases[i].macro, "%s", cases[i].file);
		else
			cr_expect_null(node.macro, "%s: %s", cases[i].file, node.macro);
		ai_await_node_deinit(&node);
	}
}

/* Every suspend point of a coroutine in source order, and the current one's place among them:
 * Suspend0 on line 30, Suspend1 on line 12 (rustc numbers them in its own order), Suspend2 in
 * tokio's join.rs (a macro: no line in the fn's file), Suspend3 on line 30 too (two awaits on one
 * line: their numbers order them). Unresumed (line 5) names the fn's own file. */
Test(await_decode, await_points_in_source_order)
{
	static const char *const names[] = { "Unresumed", "Returned", "Panicked", "Suspend0", "Suspend1",
					      "Suspend2", "Suspend3" };
	static const char *const join_rs = "/r/tokio-1.38.2/src/macros/join.rs";
	static const uint32_t lines[] = { 5, 40, 40, 30, 12, 150, 30 };
	static struct ai_type states[7];
	static struct ai_variant variants[7];
	for (int i = 0; i < 7; i++) {
		states[i] = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = names[i], .size = 16, .has_size = true };
		variants[i] = (struct ai_variant){
			.name = names[i], .has_discr_value = true, .discr_value = (uint64_t)i,
			.member = { .name = "0", .offset = 0, .type = { .type = &states[i] } },
			.decl_file = i == 5 ? join_rs : FILE_RS, .decl_line = lines[i],
		};
	}
	static struct ai_type coro = {
		.kind = AI_TYPE_ENUM, .name = "{async_fn_env#0}", .qualified_name = "my::steps::{async_fn_env#0}",
		.size = 16, .has_size = true, .alignment = 8, .has_discr = true,
		.discr = { .name = "__state", .offset = 8, .type = REF(t_u8), .artificial = true },
		.variants = variants, .variant_count = 7,
	};
	static const struct {
		uint8_t state;
		size_t index; /* expected await_index */
	} cases[] = {
		{ 4, 2 },   /* Suspend1, line 12: after the macro's point (line unknown, listed first) */
		{ 3, 3 },   /* Suspend0, line 30 */
		{ 6, 4 },   /* Suspend3, line 30, numbered after Suspend0 */
		{ 5, 0 },   /* Suspend2: in join.rs, its place is not known */
		{ 0, 0 },   /* Unresumed: not suspended */
		{ 1, 0 },   /* Returned */
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(cases); i++) {
		uint64_t a = alloc(16);
		poke_u8(a + 8, cases[i].state);
		struct ai_await_node node = { 0 };
		ai_await_decode(&as, a, &coro, &node);
		cr_assert_null(node.error, "%s", node.error);
		cr_assert_eq(node.await_count, 4, "state %d", cases[i].state);
		cr_expect_eq(node.await_lines[0], 0);
		cr_expect_eq(node.await_lines[1], 12);
		cr_expect_eq(node.await_lines[2], 30);
		cr_expect_eq(node.await_lines[3], 30);
		cr_expect_eq(node.await_index, cases[i].index, "state %d: %zu", cases[i].state, node.await_index);
		ai_await_node_deinit(&node);
	}
	/* Not a coroutine: no await points. */
	uint64_t a = alloc(8);
	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &t_u64, &node);
	cr_expect_eq(node.await_count, 0);
	cr_expect_null(node.await_lines);
	ai_await_node_deinit(&node);
}

/* Pin<Box<F>> as a task holds it: Pin { pointer: Box<F> }, Box<F> a pointer type. */
static struct coro boxed;
static const struct ai_type t_box_boxed = {
	.kind = AI_TYPE_POINTER, .name = "alloc::boxed::Box<my::f::{async_fn_env#0}, alloc::alloc::Global>",
	.size = 8, .has_size = true, .target = { .type = &boxed.type },
};
static struct ai_member pin_members[] = {
	{ .name = "pointer", .offset = 0, .type = REF(t_box_boxed) },
};
static const struct ai_type t_pin_box = {
	.kind = AI_TYPE_STRUCT, .name = "Pin<Box<..>>",
	.qualified_name = "core::pin::Pin<alloc::boxed::Box<my::f::{async_fn_env#0}, alloc::alloc::Global>>",
	.size = 8, .has_size = true, .members = pin_members, .member_count = 1,
};

Test(await_decode, pin_box_is_followed)
{
	make_coro(&boxed, "my::f::{async_fn_env#0}", 16, 8, FILE_RS, 3);
	coro_field(&boxed, 3, "__awaitee", 0, &t_sleep);
	uint64_t f = alloc(16);
	poke_u8(f + 8, 3);
	uint64_t pin = alloc(8);
	poke_u64(pin, f);
	struct ai_await_node node = { 0 };
	ai_await_decode(&as, pin, &t_pin_box, &node);
	cr_assert_null(node.error, "%s", node.error);
	cr_expect_str_eq(node.function, "my::f");
	cr_expect_eq(node.address, f);
	cr_expect_eq(node.child_count, 1);
	ai_await_node_deinit(&node);

	/* A Box that points nowhere: the node says where, nothing crashes. */
	poke_u64(pin, UNMAPPED);
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, pin, &t_pin_box, &node);
	cr_expect_str_eq(node.error, "cannot read memory at 0xdead0000");
	cr_expect_eq(node.child_count, 0);
	ai_await_node_deinit(&node);

	/* Null and misaligned pointers are refused before any read. */
	poke_u64(pin, 0);
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, pin, &t_pin_box, &node);
	cr_expect_str_eq(node.error, "null pointer");
	ai_await_node_deinit(&node);
	poke_u64(pin, f + 1);
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, pin, &t_pin_box, &node);
	cr_expect(node.error && strstr(node.error, "misaligned"), "%s", node.error);
	ai_await_node_deinit(&node);
}

/* A coroutine whose __awaitee is a &mut to itself: "cycle", not a loop. */
static struct coro selfish;
static const struct ai_type t_ref_selfish = {
	.kind = AI_TYPE_POINTER, .name = "&mut my::selfish::{async_fn_env#0}", .size = 8,
	.has_size = true, .target = { .type = &selfish.type },
};

Test(await_decode, cycle)
{
	make_coro(&selfish, "my::selfish::{async_fn_env#0}", 16, 8, FILE_RS, 7);
	coro_field(&selfish, 3, "__awaitee", 0, &t_ref_selfish);
	uint64_t a = alloc(16);
	poke_u64(a, a);
	poke_u8(a + 8, 3);
	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &selfish.type, &node);
	cr_assert_null(node.error, "%s", node.error);
	const struct ai_await_node *c = child(&node, 0);
	cr_expect_str_eq(c->error, "cycle");
	cr_expect_eq(c->address, a);
	cr_expect_eq(c->child_count, 0);
	ai_await_node_deinit(&node);
}

/* A chain of 5 coroutines, each awaiting the next through a Box. */
static struct coro links[5];
static struct ai_type link_boxes[5];

static uint64_t make_chain(void)
{
	static const char *const names[] = {
		"my::l0::{async_fn_env#0}", "my::l1::{async_fn_env#0}", "my::l2::{async_fn_env#0}",
		"my::l3::{async_fn_env#0}", "my::l4::{async_fn_env#0}",
	};
	for (int i = 4; i >= 0; i--) {
		make_coro(&links[i], names[i], 16, 8, FILE_RS, (uint32_t)(100 + i));
		link_boxes[i] = (struct ai_type){ .kind = AI_TYPE_POINTER, .name = "Box<..>", .size = 8,
						  .has_size = true,
						  .target = { .type = i < 4 ? &links[i + 1].type : &t_sleep } };
		coro_field(&links[i], 3, "__awaitee", 0, &link_boxes[i]);
	}
	uint64_t addresses[5], sleep = alloc(8);
	for (int i = 0; i < 5; i++)
		addresses[i] = alloc(16);
	for (int i = 0; i < 5; i++) {
		poke_u64(addresses[i], i < 4 ? addresses[i + 1] : sleep);
		poke_u8(addresses[i] + 8, 3);
	}
	return addresses[0];
}

Test(await_decode, limits)
{
	uint64_t a = make_chain();
	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &links[0].type, &node);
	const struct ai_await_node *n = &node;
	for (int i = 0; i < 5; i++) {
		cr_expect_eq(n->line, 100 + i);
		n = child(n, 0);
	}
	cr_expect(n->leaf);
	ai_await_node_deinit(&node);

	as.options.max_depth = 2;
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, a, &links[0].type, &node);
	/* Two await frames below the root, then the cut. */
	n = child(child(child(&node, 0), 0), 0);
	cr_expect_null(child(child(&node, 0), 0)->error);
	cr_expect_str_eq(n->error, "depth limit (2) reached");
	cr_expect_eq(n->child_count, 0);
	ai_await_node_deinit(&node);

	as.options.max_depth = 64;
	as.options.max_nodes = 3;
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, a, &links[0].type, &node);
	n = child(child(child(&node, 0), 0), 0);
	cr_expect_str_eq(n->error, "node limit (3) reached");
	ai_await_node_deinit(&node);
}

/* tokio's select!: the awaitee is a PollFn whose closure captures `_ref__disabled: &mut u8` and
 * `_ref__futures: &mut (A, B)`; a disabled branch is shown, not decoded. */
static struct coro sel_outer, sel_a, sel_b;
static struct ai_member tuple_members[2];
static struct ai_type t_tuple, t_ref_tuple, t_ref_u8, t_closure, t_poll_fn;
static struct ai_member closure_members[2], poll_fn_members[1];

Test(await_decode, select_branches)
{
	make_coro(&sel_a, "my::a::{async_fn_env#0}", 16, 8, FILE_RS, 30);
	coro_field(&sel_a, 3, "__awaitee", 0, &t_sleep);
	make_coro(&sel_b, "my::b::{async_fn_env#0}", 16, 8, FILE_RS, 31);
	coro_field(&sel_b, 3, "__awaitee", 0, &t_sleep);
	tuple_members[0] = (struct ai_member){ .name = "__0", .offset = 0, .type = { .type = &sel_a.type } };
	tuple_members[1] = (struct ai_member){ .name = "__1", .offset = 16, .type = { .type = &sel_b.type } };
	t_tuple = (struct ai_type){ .kind = AI_TYPE_STRUCT,
				    .name = "(my::a::{async_fn_env#0}, my::b::{async_fn_env#0})",
				    .size = 32, .has_size = true, .alignment = 8,
				    .members = tuple_members, .member_count = 2 };
	t_ref_tuple = (struct ai_type){ .kind = AI_TYPE_POINTER, .name = "&mut (..)", .size = 8,
					.has_size = true, .target = { .type = &t_tuple } };
	t_ref_u8 = (struct ai_type){ .kind = AI_TYPE_POINTER, .name = "&mut u8", .size = 8,
				     .has_size = true, .target = REF(t_u8) };
	closure_members[0] = (struct ai_member){ .name = "_ref__disabled", .offset = 0,
						 .type = { .type = &t_ref_u8 } };
	closure_members[1] = (struct ai_member){ .name = "_ref__futures", .offset = 8,
						 .type = { .type = &t_ref_tuple } };
	t_closure = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "{closure_env#0}",
				      .qualified_name = "my::sel::{async_fn#0}::{closure_env#0}",
				      .size = 16, .has_size = true, .members = closure_members,
				      .member_count = 2 };
	poll_fn_members[0] = (struct ai_member){ .name = "f", .offset = 0, .type = { .type = &t_closure } };
	t_poll_fn = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "PollFn<..>",
				      .qualified_name = "tokio::future::poll_fn::PollFn<my::sel::{async_fn#0}::{closure_env#0}>",
				      .size = 16, .has_size = true, .members = poll_fn_members,
				      .member_count = 1 };
	const char *select_rs = "/r/tokio-1.24.2/src/macros/select.rs";
	make_coro(&sel_outer, "my::sel::{async_fn_env#0}", 64, 56, select_rs, 553);
	coro_field(&sel_outer, 3, "futures", 0, &t_tuple);
	coro_field(&sel_outer, 3, "disabled", 48, &t_u8);
	coro_field(&sel_outer, 3, "__awaitee", 32, &t_poll_fn);

	uint64_t a = alloc(64);
	poke_u8(a + 8, 3);       /* branch a: Suspend0 */
	poke_u8(a + 16 + 8, 1);  /* branch b: Returned */
	poke_u64(a + 32, a + 48); /* _ref__disabled */
	poke_u64(a + 40, a);      /* _ref__futures */
	poke_u8(a + 48, 2);       /* branch 1 disabled */
	poke_u8(a + 56, 3);

	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &sel_outer.type, &node);
	cr_assert_null(node.error, "%s", node.error);
	cr_expect_str_eq(node.macro, "tokio::select!");
	cr_expect_eq(node.line, 553);
	/* `futures` holds the branches shown below: not repeated as a local. */
	cr_expect_eq(node.local_count, 1);
	cr_expect_str_eq(local(&node, "disabled")->value, "2");
	const struct ai_await_node *pf = child(&node, 0);
	cr_expect_null(pf->function);
	cr_expect(!pf->leaf);
	cr_assert_eq(pf->child_count, 2);
	cr_expect_str_eq(child(pf, 0)->function, "my::a");
	cr_expect_eq(child(pf, 0)->line, 30);
	cr_expect_str_eq(child(pf, 1)->state, "disabled");
	cr_expect_str_eq(child(pf, 1)->type, "my::b::{async_fn_env#0}");
	cr_expect_eq(child(pf, 1)->child_count, 0);
	ai_await_node_deinit(&node);
}

/* futures' FuturesUnordered: head_all -> Task { future: UnsafeCell<Option<F>>, next_all } -> ...;
 * released tasks (None) are skipped, the list ends at null, at the head again, or at a fault. */
static struct ai_member some_members[1];
static struct ai_type t_some, t_none, t_option, t_cell, t_task, t_task_ptr, t_unordered;
static struct ai_variant option_variants[2];
static struct ai_member cell_members[1], task_members[2], unordered_members[1];

static void make_unordered(void)
{
	some_members[0] = (struct ai_member){ .name = "__0", .offset = 8, .type = REF(t_sleep) };
	t_some = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "Some", .size = 16, .has_size = true,
				   .members = some_members, .member_count = 1 };
	t_none = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "None", .size = 16, .has_size = true };
	option_variants[0] = (struct ai_variant){ .name = "None", .has_discr_value = true, .discr_value = 0,
						  .member = { .name = "None", .type = { .type = &t_none } } };
	option_variants[1] = (struct ai_variant){ .name = "Some", .has_discr_value = true, .discr_value = 1,
						  .member = { .name = "Some", .type = { .type = &t_some } } };
	t_option = (struct ai_type){ .kind = AI_TYPE_ENUM, .name = "Option<my::time::Sleep>",
				     .qualified_name = "core::option::Option<my::time::Sleep>",
				     .size = 16, .has_size = true, .alignment = 8, .has_discr = true,
				     .discr = { .offset = 0, .type = REF(t_u64) },
				     .variants = option_variants, .variant_count = 2 };
	cell_members[0] = (struct ai_member){ .name = "value", .offset = 0, .type = { .type = &t_option } };
	t_cell = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "UnsafeCell<..>",
				   .qualified_name = "core::cell::UnsafeCell<core::option::Option<my::time::Sleep>>",
				   .size = 16, .has_size = true, .members = cell_members, .member_count = 1 };
	task_members[0] = (struct ai_member){ .name = "future", .offset = 0, .type = { .type = &t_cell } };
	task_members[1] = (struct ai_member){ .name = "next_all", .offset = 16, .type = { .type = &t_task_ptr } };
	t_task = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "Task<my::time::Sleep>",
				   .qualified_name = "futures_util::stream::futures_unordered::task::Task<my::time::Sleep>",
				   .size = 24, .has_size = true, .alignment = 8, .members = task_members,
				   .member_count = 2 };
	t_task_ptr = (struct ai_type){ .kind = AI_TYPE_POINTER, .name = "*mut Task<..>", .size = 8,
				       .has_size = true, .target = { .type = &t_task } };
	unordered_members[0] = (struct ai_member){ .name = "head_all", .offset = 0, .type = { .type = &t_task_ptr } };
	t_unordered = (struct ai_type){
		.kind = AI_TYPE_STRUCT, .name = "FuturesUnordered<my::time::Sleep>",
		.qualified_name = "futures_util::stream::futures_unordered::FuturesUnordered<my::time::Sleep>",
		.size = 8, .has_size = true, .members = unordered_members, .member_count = 1 };
}

/* A task holding Some(Sleep { deadline }) or None, linked to next. */
static uint64_t put_task(bool some, uint64_t deadline, uint64_t next)
{
	uint64_t t = alloc(24);
	poke_u64(t, some ? 1 : 0);
	poke_u64(t + 8, deadline);
	poke_u64(t + 16, next);
	return t;
}

Test(await_decode, futures_unordered)
{
	make_unordered();
	uint64_t t3 = put_task(true, 3, 0);
	uint64_t t2 = put_task(false, 0, t3);
	uint64_t t1 = put_task(true, 1, t2);
	uint64_t set = alloc(8);
	poke_u64(set, t1);

	struct ai_await_node node = { 0 };
	ai_await_decode(&as, set, &t_unordered, &node);
	cr_assert_null(node.error, "%s", node.error);
	cr_expect(!node.leaf);
	cr_assert_eq(node.child_count, 2);
	cr_expect_eq(child(&node, 0)->address, t1 + 8);
	cr_expect_eq(child(&node, 1)->address, t3 + 8);
	cr_expect(child(&node, 1)->leaf);
	cr_expect_str_eq(child(&node, 1)->type, "my::time::Sleep");
	ai_await_node_deinit(&node);

	/* Back at the head: the walk ends. */
	poke_u64(t3 + 16, t1);
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, set, &t_unordered, &node);
	cr_expect_null(node.error, "%s", node.error);
	cr_expect_eq(node.child_count, 2);
	ai_await_node_deinit(&node);

	/* A next pointer into nowhere: what was read stays, the node says where it stopped. */
	poke_u64(t2 + 16, UNMAPPED);
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, set, &t_unordered, &node);
	cr_expect_str_eq(node.error, "cannot read memory at 0xdead0000");
	cr_expect_eq(node.child_count, 1);
	ai_await_node_deinit(&node);

	/* The node limit stops the list, once. */
	poke_u64(t2 + 16, t3);
	poke_u64(t3 + 16, 0);
	as.options.max_nodes = 2;
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, set, &t_unordered, &node);
	cr_expect_str_eq(node.error, "node limit (2) reached");
	cr_expect_eq(node.child_count, 1);
	ai_await_node_deinit(&node);
}

/* What #[tracing::instrument] makes of `async fn f()`: f's coroutine awaits, at its signature's
 * line (5, before its body's start at 6), Instrumented<an async block of its body> whose span's
 * Metadata names it. The node is the block (line 12, its local x) under f's name, with the span. */
static const struct ai_type t_u8_ptr = {
	.kind = AI_TYPE_POINTER, .name = "*const u8", .size = 8, .has_size = true, .target = REF(t_u8),
};
static struct ai_member str_members[] = {
	{ .name = "data_ptr", .offset = 0, .type = REF(t_u8_ptr) },
	{ .name = "length", .offset = 8, .type = REF(t_u64) },
};
static const struct ai_type t_str = {
	.kind = AI_TYPE_STRUCT, .name = "&str", .size = 16, .has_size = true, .alignment = 8,
	.members = str_members, .member_count = 2,
};
static struct ai_member metadata_members[] = {
	{ .name = "name", .offset = 0, .type = REF(t_str) },
	{ .name = "target", .offset = 16, .type = REF(t_str) },
};
static const struct ai_type t_metadata = {
	.kind = AI_TYPE_STRUCT, .name = "Metadata", .qualified_name = "tracing_core::metadata::Metadata",
	.size = 32, .has_size = true, .alignment = 8, .members = metadata_members, .member_count = 2,
};
static const struct ai_type t_metadata_ref = {
	.kind = AI_TYPE_POINTER, .name = "&tracing_core::metadata::Metadata", .size = 8, .has_size = true,
	.alignment = 8, .target = REF(t_metadata),
};
static struct ai_member span_members[] = {
	{ .name = "inner", .offset = 0, .type = REF(t_u64) },
	{ .name = "meta", .offset = 8, .type = REF(t_metadata_ref) },
};
static const struct ai_type t_span = {
	.kind = AI_TYPE_STRUCT, .name = "Span", .qualified_name = "tracing::span::Span", .size = 16,
	.has_size = true, .alignment = 8, .members = span_members, .member_count = 2,
};
static struct coro instr_fn, instr_body;
static struct ai_member instrumented_members[] = {
	{ .name = "inner", .offset = 0, .type = REF(instr_body.type) },
	{ .name = "span", .offset = 32, .type = REF(t_span) },
};
static const struct ai_type t_instrumented = {
	.kind = AI_TYPE_STRUCT, .name = "Instrumented<my::f::{async_fn#0}::{async_block_env#0}>",
	.qualified_name = "tracing::instrument::Instrumented<my::f::{async_fn#0}::{async_block_env#0}>",
	.size = 48, .has_size = true, .alignment = 8, .members = instrumented_members, .member_count = 2,
};

static uint64_t put_str(const char *s)
{
	uint64_t a = alloc(strlen(s));
	poke(a, s, strlen(s));
	return a;
}

Test(await_decode, instrumented_fn_shows_its_body)
{
	make_coro(&instr_body, "my::f::{async_fn#0}::{async_block_env#0}", 32, 24, FILE_RS, 12);
	coro_field(&instr_body, 3, "__awaitee", 0, &t_sleep);
	coro_field(&instr_body, 3, "x", 16, &t_u32);
	make_coro(&instr_fn, "my::f::{async_fn_env#0}", 64, 56, FILE_RS, 5);
	instr_fn.variants[0].decl_line = 6;
	coro_field(&instr_fn, 3, "__awaitee", 0, &t_instrumented);

	uint64_t meta = alloc(32);
	poke_u64(meta + 0, put_str("f-span"));
	poke_u64(meta + 8, 6);
	poke_u64(meta + 16, put_str("my"));
	poke_u64(meta + 24, 2);
	uint64_t a = alloc(64);
	poke_u64(a + 0, 777);   /* Sleep.deadline */
	poke_u32(a + 16, 41);   /* body.x */
	poke_u8(a + 24, 3);     /* body.__state */
	poke_u64(a + 40, meta); /* span.meta */
	poke_u8(a + 56, 3);     /* f.__state */

	struct ai_await_node node = { 0 };
	ai_await_decode(&as, a, &instr_fn.type, &node);
	cr_assert_null(node.error, "%s", node.error);
	cr_expect_str_eq(node.function, "my::f");
	cr_expect_str_eq(node.type, "my::f::{async_fn#0}::{async_block_env#0}");
	cr_expect_eq(node.line, 12);
	cr_expect_str_eq(node.span, "f-span");
	cr_expect_str_eq(local(&node, "x")->value, "41");
	cr_expect_str_eq(child(&node, 0)->type, "my::time::Sleep");
	ai_await_node_deinit(&node);

	/* A runtime's own span (tokio's, made in tokio::task) names nothing. */
	poke_u64(meta + 16, put_str("tokio::task"));
	poke_u64(meta + 24, 11);
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, a, &instr_fn.type, &node);
	cr_expect_null(node.span, "%s", node.span);
	cr_expect_eq(node.line, 12);
	ai_await_node_deinit(&node);

	/* An await after the fn's start is the user's own: f stays a frame of its own. */
	instr_fn.variants[0].decl_line = 4;
	memset(&node, 0, sizeof(node));
	ai_await_decode(&as, a, &instr_fn.type, &node);
	cr_expect_str_eq(node.type, "my::f::{async_fn_env#0}");
	cr_expect_eq(node.line, 5);
	cr_expect_str_eq(child(&node, 0)->function, "my::f::{async_block#0}");
	cr_expect_eq(child(&node, 0)->line, 12);
	ai_await_node_deinit(&node);
}
