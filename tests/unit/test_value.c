/* The value printer over hand-made types and hand-made target memory. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/types.h"
#include "ai/util.h"
#include "ai/value.h"

/* ---- Target memory: one segment over a buffer, filled by put() ---- */

#define HEAP_BASE 0x10000
#define UNMAPPED 0xdead0000ULL

static struct {
	uint8_t bytes[1 << 16];
	size_t used;
} heap;
static struct ai_memory *mem;

static struct ai_error *read_heap(void *buf, uint64_t address, size_t count, void *arg)
{
	memcpy(buf, heap.bytes + (address - HEAP_BASE), count);
	return NULL;
}

/* Copies n bytes into the target, 16-aligned; returns their address. */
static uint64_t put(const void *data, size_t n)
{
	heap.used = (heap.used + 15) & ~(size_t)15;
	cr_assert(heap.used + n <= sizeof(heap.bytes));
	memcpy(heap.bytes + heap.used, data, n);
	uint64_t address = HEAP_BASE + heap.used;
	heap.used += n;
	return address;
}

static void setup(void)
{
	heap.used = 0;
	mem = ai_memory_create();
	ai_memory_add_segment(mem, HEAP_BASE, HEAP_BASE + sizeof(heap.bytes), read_heap, NULL);
}

static void teardown(void)
{
	ai_memory_destroy(mem);
}

TestSuite(value, .init = setup, .fini = teardown);

static void expect_value_limits(const struct ai_type *type, uint64_t address,
				const struct ai_value_limits *limits, const char *expected)
{
	char *s = ai_value_format(mem, type, address, limits);
	cr_expect_str_eq(s, expected);
	free(s);
}

static void expect_value(const struct ai_type *type, uint64_t address, const char *expected)
{
	expect_value_limits(type, address, NULL, expected);
}

/* ---- Hand-made types, laid out as rustc lays them out ---- */

#define REF(t) { .type = &(t) }
#define SCALAR(k, n, sz, sg) \
	{ .kind = (k), .name = (n), .size = (sz), .has_size = true, .is_signed = (sg) }

static const struct ai_type t_u8 = SCALAR(AI_TYPE_INT, "u8", 1, false);
static const struct ai_type t_u16 = SCALAR(AI_TYPE_INT, "u16", 2, false);
static const struct ai_type t_u32 = SCALAR(AI_TYPE_INT, "u32", 4, false);
static const struct ai_type t_i32 = SCALAR(AI_TYPE_INT, "i32", 4, true);
static const struct ai_type t_u64 = SCALAR(AI_TYPE_INT, "u64", 8, false);
static const struct ai_type t_i64 = SCALAR(AI_TYPE_INT, "i64", 8, true);
static const struct ai_type t_i128 = SCALAR(AI_TYPE_INT, "i128", 16, true);
static const struct ai_type t_usize = SCALAR(AI_TYPE_INT, "usize", 8, false);
static const struct ai_type t_bool = SCALAR(AI_TYPE_BOOL, "bool", 1, false);
static const struct ai_type t_char = SCALAR(AI_TYPE_CHAR, "char", 4, false);
static const struct ai_type t_f32 = SCALAR(AI_TYPE_FLOAT, "f32", 4, false);
static const struct ai_type t_f64 = SCALAR(AI_TYPE_FLOAT, "f64", 8, false);
static const struct ai_type t_unit = { .kind = AI_TYPE_UNIT, .name = "()", .has_size = true };

static const struct ai_type t_ptr_u8 = {
	.kind = AI_TYPE_POINTER, .name = "*const u8", .size = 8, .has_size = true,
	.target = REF(t_u8),
};
static const struct ai_type t_ref_u64 = {
	.kind = AI_TYPE_POINTER, .name = "&u64", .size = 8, .has_size = true,
	.target = REF(t_u64),
};
static const struct ai_type t_box_u32 = {
	.kind = AI_TYPE_POINTER, .name = "alloc::boxed::Box<u32, alloc::alloc::Global>",
	.size = 8, .has_size = true, .target = REF(t_u32),
};

/* &str: { data_ptr, length } */
static struct ai_member str_members[] = {
	{ .name = "data_ptr", .offset = 0, .type = REF(t_ptr_u8) },
	{ .name = "length", .offset = 8, .type = REF(t_usize) },
};
static const struct ai_type t_str = {
	.kind = AI_TYPE_STRUCT, .name = "&str", .size = 16, .has_size = true,
	.members = str_members, .member_count = 2,
};

/* Vec<T> as in Rust 1.9x: { buf: RawVec { inner: { ptr: *u8, cap } }, len }, T from a template
 * parameter (the buffer pointer is untyped). */
struct vec_type {
	struct ai_type vec, raw;
	struct ai_member vec_members[2], raw_members[2];
	struct ai_template_param param;
	char name[128], qualified[160];
};

static void make_vec(struct vec_type *v, const struct ai_type *elem)
{
	snprintf(v->name, sizeof(v->name), "Vec<%s, alloc::alloc::Global>", elem->name);
	snprintf(v->qualified, sizeof(v->qualified), "alloc::vec::%s", v->name);
	v->raw_members[0] = (struct ai_member){ .name = "ptr", .offset = 0, .type = REF(t_ptr_u8) };
	v->raw_members[1] = (struct ai_member){ .name = "cap", .offset = 8, .type = REF(t_usize) };
	v->raw = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "RawVecInner", .size = 16,
				   .has_size = true, .members = v->raw_members, .member_count = 2,
				   .qualified_name = "alloc::raw_vec::RawVecInner" };
	v->vec_members[0] = (struct ai_member){ .name = "buf", .offset = 0, .type = REF(v->raw) };
	v->vec_members[1] = (struct ai_member){ .name = "len", .offset = 16, .type = REF(t_usize) };
	v->param = (struct ai_template_param){ .name = "T", .type = { .type = elem } };
	v->vec = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = v->name, .size = 24,
				   .has_size = true, .members = v->vec_members, .member_count = 2,
				   .template_params = &v->param, .template_param_count = 1,
				   .qualified_name = v->qualified };
}

/* A Vec's 24 bytes: ptr, cap, len. */
static uint64_t put_vec(uint64_t ptr, uint64_t len)
{
	uint64_t words[3] = { ptr, len, len };
	return put(words, sizeof(words));
}

static struct vec_type vec_u8, vec_u32;
static struct ai_member string_members[1];
static struct ai_type t_string;

static void make_string(void)
{
	make_vec(&vec_u8, &t_u8);
	make_vec(&vec_u32, &t_u32);
	string_members[0] = (struct ai_member){ .name = "vec", .offset = 0, .type = REF(vec_u8.vec) };
	t_string = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "String", .size = 24,
				     .has_size = true, .members = string_members, .member_count = 1,
				     .qualified_name = "alloc::string::String" };
}

static uint64_t put_string(const char *s)
{
	size_t n = strlen(s);
	return put_vec(n ? put(s, n) : 1, n);
}

/* Item { sku: String, qty: u32 } and Cart { user: u64, items: Vec<Item> } */
static struct ai_member item_members[2], cart_members[2];
static struct ai_type t_item, t_cart;
static struct vec_type vec_item;

static void make_cart(void)
{
	make_string();
	item_members[0] = (struct ai_member){ .name = "sku", .offset = 0, .type = REF(t_string) };
	item_members[1] = (struct ai_member){ .name = "qty", .offset = 24, .type = REF(t_u32) };
	t_item = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "Item", .size = 32,
				   .has_size = true, .members = item_members, .member_count = 2,
				   .qualified_name = "shop::Item" };
	make_vec(&vec_item, &t_item);
	cart_members[0] = (struct ai_member){ .name = "user", .offset = 24, .type = REF(t_u64) };
	cart_members[1] = (struct ai_member){ .name = "items", .offset = 0, .type = REF(vec_item.vec) };
	t_cart = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "Cart", .size = 32,
				   .has_size = true, .members = cart_members, .member_count = 2,
				   .qualified_name = "shop::Cart" };
}

/* An Item's 32 bytes into out (its sku's buffer goes into the target). */
static void put_item(const char *sku, uint32_t qty, uint8_t out[32])
{
	uint64_t s = put_string(sku);
	memcpy(out, heap.bytes + (s - HEAP_BASE), 24);
	memcpy(out + 24, &qty, 4);
	memset(out + 28, 0, 4);
}

/* ---- Scalars ---- */

Test(value, integers)
{
	uint8_t b = 200;
	int32_t i = -42;
	uint64_t u = UINT64_MAX;
	int64_t n = -123456789;
	__int128 big = (__int128)((unsigned __int128)1 << 127);
	uint16_t h = 65535;
	expect_value(&t_u8, put(&b, 1), "200");
	expect_value(&t_i32, put(&i, 4), "-42");
	expect_value(&t_u64, put(&u, 8), "18446744073709551615");
	expect_value(&t_i64, put(&n, 8), "-123456789");
	expect_value(&t_i128, put(&big, 16), "-170141183460469231731687303715884105728");
	expect_value(&t_u16, put(&h, 2), "65535");
}

Test(value, bool_char_unit)
{
	uint8_t t = 1, f = 0, bad = 7;
	expect_value(&t_bool, put(&t, 1), "true");
	expect_value(&t_bool, put(&f, 1), "false");
	expect_value(&t_bool, put(&bad, 1), "<invalid bool 0x7>");
	uint32_t lambda = 0x3bb, quote = '\'', nl = '\n', crab = 0x1f980, surrogate = 0xd800;
	expect_value(&t_char, put(&lambda, 4), "'\xce\xbb'");
	expect_value(&t_char, put(&quote, 4), "'\\''");
	expect_value(&t_char, put(&nl, 4), "'\\n'");
	expect_value(&t_char, put(&crab, 4), "'\xf0\x9f\xa6\x80'");
	expect_value(&t_char, put(&surrogate, 4), "<invalid char 0xd800>");
	expect_value(&t_unit, put(&t, 0), "()");
}

Test(value, floats_as_rust_debug)
{
	double d[] = { 0.1, 1.0, 1e20, -2.5, 1e-7, 123456.789, 0.0 };
	const char *expected[] = { "0.1", "1.0", "1e20", "-2.5", "1e-7", "123456.789", "0.0" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(d); i++)
		expect_value(&t_f64, put(&d[i], 8), expected[i]);
	float f[] = { 1.5f, 0.1f, __builtin_nanf("") };
	const char *fexpected[] = { "1.5", "0.1", "NaN" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(f); i++)
		expect_value(&t_f32, put(&f[i], 4), fexpected[i]);
}

/* ---- Strings ---- */

Test(value, strings)
{
	make_string();
	uint64_t str[2] = { put("hello", 5), 5 };
	expect_value(&t_str, put(str, 16), "\"hello\"");
	expect_value(&t_string, put_string("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u{1}\"");
	expect_value(&t_string, put_string(""), "\"\"");
	expect_value(&t_string, put_string("h\xc3\xa9llo \xe2\x9c\x93"), "\"h\xc3\xa9llo \xe2\x9c\x93\"");
	/* Garbage that is not UTF-8 shows as bytes. */
	expect_value(&t_string, put_string("a\xff"), "\"a\\xff\"");
}

Test(value, long_strings_are_cut)
{
	make_string();
	char s[200];
	memset(s, 'x', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	struct ai_value_limits limits;
	ai_value_limits_default(&limits);
	limits.max_string = 8;
	expect_value_limits(&t_string, put_string(s), &limits, "\"xxxxxxxx\xe2\x80\xa6\" (199 bytes)");
	/* A cut inside a multi-byte character drops the partial character. */
	limits.max_string = 4;
	expect_value_limits(&t_string, put_string("abc\xe2\x9c\x93z"), &limits,
			    "\"abc\xe2\x80\xa6\" (7 bytes)");
}

/* ---- Collections ---- */

Test(value, vecs)
{
	make_string();
	uint32_t items[] = { 1, 2, 3 };
	expect_value(&vec_u32.vec, put_vec(put(items, sizeof(items)), 3), "[1, 2, 3]");
	/* An empty Vec's pointer dangles: it must not be read. */
	expect_value(&vec_u32.vec, put_vec(4, 0), "[]");
	uint32_t many[1000];
	for (uint32_t i = 0; i < 1000; i++)
		many[i] = i;
	expect_value(&vec_u32.vec, put_vec(put(many, sizeof(many)), 1000),
		     "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \xe2\x80\xa6 (1000 items)]");
	/* Vec<String> */
	struct vec_type vec_string;
	make_vec(&vec_string, &t_string);
	uint8_t strings[48];
	memcpy(strings, heap.bytes + (put_string("a") - HEAP_BASE), 24);
	memcpy(strings + 24, heap.bytes + (put_string("bc") - HEAP_BASE), 24);
	expect_value(&vec_string.vec, put_vec(put(strings, sizeof(strings)), 2), "[\"a\", \"bc\"]");
}

Test(value, slices_and_arrays)
{
	static const struct ai_type ptr_u16 = {
		.kind = AI_TYPE_POINTER, .name = "*const u16", .size = 8, .has_size = true,
		.target = REF(t_u16),
	};
	static struct ai_member members[] = {
		{ .name = "data_ptr", .offset = 0, .type = REF(ptr_u16) },
		{ .name = "length", .offset = 8, .type = REF(t_usize) },
	};
	static const struct ai_type slice = {
		.kind = AI_TYPE_STRUCT, .name = "&[u16]", .size = 16, .has_size = true,
		.members = members, .member_count = 2,
	};
	uint16_t data[] = { 10, 20, 30 };
	uint64_t fat[2] = { put(data, sizeof(data)), 3 };
	expect_value(&slice, put(fat, 16), "[10, 20, 30]");
	static const struct ai_type array = {
		.kind = AI_TYPE_ARRAY, .size = 4, .has_size = true, .count = 4, .target = REF(t_u8),
	};
	uint8_t bytes[] = { 1, 2, 3, 4 };
	expect_value(&array, put(bytes, 4), "[1, 2, 3, 4]");
}

/* ---- Structs, tuples, enums ---- */

Test(value, nested_struct)
{
	make_cart();
	uint8_t items[32];
	put_item("A-7", 2, items);
	uint64_t cart[4] = { put(items, 32), 1, 1, 31 }; /* items: ptr, cap, len; then user */
	expect_value(&t_cart, put(cart, 32), "Cart { user: 31, items: [Item { sku: \"A-7\", qty: 2 }] }");
}

Test(value, tuples_and_tuple_structs)
{
	static struct ai_member tuple_members[] = {
		{ .name = "__0", .offset = 16, .type = REF(t_i32) },
		{ .name = "__1", .offset = 0, .type = REF(t_str) },
	};
	static const struct ai_type tuple = {
		.kind = AI_TYPE_STRUCT, .name = "(i32, &str)", .size = 24, .has_size = true,
		.members = tuple_members, .member_count = 2,
	};
	uint64_t t[3] = { put("a", 1), 1, 1 };
	expect_value(&tuple, put(t, 24), "(1, \"a\")");
	static struct ai_member one_members[] = { { .name = "__0", .type = REF(t_u8) } };
	static const struct ai_type one = {
		.kind = AI_TYPE_STRUCT, .name = "(u8,)", .size = 1, .has_size = true,
		.members = one_members, .member_count = 1,
	};
	uint8_t nine = 9;
	expect_value(&one, put(&nine, 1), "(9,)");
	static struct ai_member point_members[] = {
		{ .name = "__0", .offset = 0, .type = REF(t_i32) },
		{ .name = "__1", .offset = 4, .type = REF(t_i32) },
	};
	static const struct ai_type point = {
		.kind = AI_TYPE_STRUCT, .name = "Point", .size = 8, .has_size = true,
		.members = point_members, .member_count = 2, .qualified_name = "geo::Point",
	};
	int32_t xy[2] = { 3, -4 };
	expect_value(&point, put(xy, 8), "Point(3, -4)");
	static const struct ai_type unit_struct = {
		.kind = AI_TYPE_STRUCT, .name = "Marker", .has_size = true,
		.qualified_name = "geo::Marker",
	};
	expect_value(&unit_struct, put(xy, 0), "Marker");
}

/* enum Shape { Circle { r: f64 }, Rect(u32, u32), Empty } with a u32 tag at offset 0. */
static struct ai_member circle_members[] = { { .name = "r", .offset = 8, .type = REF(t_f64) } };
static struct ai_member rect_members[] = {
	{ .name = "__0", .offset = 4, .type = REF(t_u32) },
	{ .name = "__1", .offset = 8, .type = REF(t_u32) },
};
static const struct ai_type t_circle = {
	.kind = AI_TYPE_STRUCT, .name = "Circle", .size = 16, .has_size = true,
	.members = circle_members, .member_count = 1,
};
static const struct ai_type t_rect = {
	.kind = AI_TYPE_STRUCT, .name = "Rect", .size = 16, .has_size = true,
	.members = rect_members, .member_count = 2,
};
static const struct ai_type t_empty = {
	.kind = AI_TYPE_STRUCT, .name = "Empty", .size = 16, .has_size = true,
};
static struct ai_variant shape_variants[] = {
	{ .name = "Circle", .has_discr_value = true, .discr_value = 0,
	  .member = { .name = "Circle", .type = REF(t_circle) } },
	{ .name = "Rect", .has_discr_value = true, .discr_value = 1,
	  .member = { .name = "Rect", .type = REF(t_rect) } },
	{ .name = "Empty", .has_discr_value = true, .discr_value = 2,
	  .member = { .name = "Empty", .type = REF(t_empty) } },
};
static const struct ai_type t_shape = {
	.kind = AI_TYPE_ENUM, .name = "Shape", .size = 16, .has_size = true,
	.has_discr = true, .discr = { .offset = 0, .type = REF(t_u32), .artificial = true },
	.variants = shape_variants, .variant_count = 3, .qualified_name = "geo::Shape",
};

Test(value, tagged_enum)
{
	struct {
		uint32_t tag, a;
		union {
			double r;
			uint32_t b;
		};
	} v;
	memset(&v, 0, sizeof(v));
	v.tag = 0;
	v.r = 1.5;
	expect_value(&t_shape, put(&v, 16), "Circle { r: 1.5 }");
	memset(&v, 0, sizeof(v));
	v.tag = 1, v.a = 2, v.b = 3;
	expect_value(&t_shape, put(&v, 16), "Rect(2, 3)");
	v.tag = 2;
	expect_value(&t_shape, put(&v, 16), "Empty");
	v.tag = 9;
	expect_value(&t_shape, put(&v, 16), "<invalid: 9>");
}

/* Option<&u64>: the None variant is the null pointer (niche), Some the default. */
static const struct ai_type t_none = {
	.kind = AI_TYPE_STRUCT, .name = "None", .size = 8, .has_size = true,
};
static struct ai_member some_members[] = { { .name = "__0", .offset = 0, .type = REF(t_ref_u64) } };
static const struct ai_type t_some = {
	.kind = AI_TYPE_STRUCT, .name = "Some", .size = 8, .has_size = true,
	.members = some_members, .member_count = 1,
};
static struct ai_variant option_variants[] = {
	{ .name = "None", .has_discr_value = true, .discr_value = 0,
	  .member = { .name = "None", .type = REF(t_none) } },
	{ .name = "Some", .member = { .name = "Some", .type = REF(t_some) } },
};
static const struct ai_type t_option_ref = {
	.kind = AI_TYPE_ENUM, .name = "Option<&u64>", .size = 8, .has_size = true,
	.has_discr = true, .discr = { .offset = 0, .type = REF(t_u64), .artificial = true },
	.variants = option_variants, .variant_count = 2,
	.qualified_name = "core::option::Option<&u64>",
};

Test(value, option_niche)
{
	uint64_t x = 77;
	uint64_t some = put(&x, 8), none = 0;
	expect_value(&t_option_ref, put(&some, 8), "Some(77)");
	expect_value(&t_option_ref, put(&none, 8), "None");
	/* A reference into unmapped memory: the part is unreadable, not the whole value. */
	uint64_t bad = UNMAPPED;
	expect_value(&t_option_ref, put(&bad, 8), "Some(<unreadable 0xdead0000>)");
}

Test(value, c_enum)
{
	static struct ai_enumerator colors[] = { { "Red", 0 }, { "Green", 5 }, { "Blue", 6 } };
	static const struct ai_type color = {
		.kind = AI_TYPE_C_ENUM, .name = "Color", .size = 1, .has_size = true,
		.enumerators = colors, .enumerator_count = 3, .target = REF(t_u8),
		.qualified_name = "paint::Color",
	};
	uint8_t green = 5, odd = 3;
	expect_value(&color, put(&green, 1), "Green");
	expect_value(&color, put(&odd, 1), "Color(3)");
}

/* A coroutine: `__state` picks the variant; the label names the async fn and the state. */
Test(value, coroutine)
{
	make_string();
	static struct ai_member unresumed_members[1], suspend_members[2];
	static struct ai_type unresumed, suspend0;
	unresumed_members[0] = (struct ai_member){ .name = "id", .offset = 24, .type = REF(t_u64) };
	suspend_members[0] = (struct ai_member){ .name = "values", .offset = 0,
						 .type = REF(vec_u32.vec) };
	suspend_members[1] = (struct ai_member){ .name = "id", .offset = 24, .type = REF(t_u64) };
	unresumed = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "Unresumed", .size = 40,
				      .has_size = true, .members = unresumed_members,
				      .member_count = 1 };
	suspend0 = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "Suspend0", .size = 40,
				     .has_size = true, .members = suspend_members, .member_count = 2 };
	static struct ai_variant variants[2];
	variants[0] = (struct ai_variant){ .name = "Unresumed", .has_discr_value = true,
					   .discr_value = 0,
					   .member = { .name = "0", .type = REF(unresumed) } };
	variants[1] = (struct ai_variant){ .name = "Suspend0", .has_discr_value = true,
					   .discr_value = 3,
					   .member = { .name = "3", .type = REF(suspend0) },
					   .decl_file = "src/main.rs", .decl_line = 12 };
	static const struct ai_type t_u8_state = SCALAR(AI_TYPE_INT, "u8", 1, false);
	struct ai_type env = {
		.kind = AI_TYPE_ENUM, .name = "{async_fn_env#0}", .size = 40, .has_size = true,
		.has_discr = true,
		.discr = { .name = "__state", .offset = 32, .type = REF(t_u8_state), .artificial = true },
		.variants = variants, .variant_count = 2,
		.qualified_name = "app::handlers::level2::{async_fn_env#0}",
	};
	cr_assert(ai_type_is_coroutine(&env));
	uint32_t values[] = { 11, 12, 13 };
	uint64_t words[5] = { put(values, sizeof(values)), 3, 3, 1, 3 };
	expect_value(&env, put(words, 40),
		     "level2::{async_fn_env#0}::Suspend0 { values: [11, 12, 13], id: 1 }");
	words[4] = 0;
	expect_value(&env, put(words, 40), "level2::{async_fn_env#0}::Unresumed { id: 1 }");
}

/* ---- Pointers: Box, Arc, references, raw ---- */

Test(value, box_arc_and_pointers)
{
	make_cart();
	uint32_t v = 42;
	uint64_t boxed = put(&v, 4);
	expect_value(&t_box_u32, put(&boxed, 8), "42");
	uint64_t bad = UNMAPPED;
	expect_value(&t_box_u32, put(&bad, 8), "<unreadable 0xdead0000>");
	expect_value(&t_ptr_u8, put(&boxed, 8), "0x10000"); /* raw: the address */
	expect_value(&t_ref_u64, put(&bad, 8), "<unreadable 0xdead0000>");

	/* Arc<Item>: { ptr: NonNull<ArcInner<Item>> } -> ArcInner { strong, weak, data } */
	static struct ai_member inner_members[3], nonnull_members[1], arc_members[1];
	static struct ai_type inner, inner_ptr, nonnull, arc;
	inner_members[0] = (struct ai_member){ .name = "strong", .offset = 0, .type = REF(t_usize) };
	inner_members[1] = (struct ai_member){ .name = "weak", .offset = 8, .type = REF(t_usize) };
	inner_members[2] = (struct ai_member){ .name = "data", .offset = 16, .type = REF(t_item) };
	inner = (struct ai_type){ .kind = AI_TYPE_STRUCT, .name = "ArcInner<shop::Item>", .size = 48,
				  .has_size = true, .members = inner_members, .member_count = 3,
				  .qualified_name = "alloc::sync::ArcInner<shop::Item>" };
	inner_ptr = (struct ai_type){ .kind = AI_TYPE_POINTER, .size = 8, .has_size = true,
				      .name = "*const alloc::sync::ArcInner<shop::Item>",
				      .target = REF(inner) };
	nonnull_members[0] = (struct ai_member){ .name = "pointer", .type = REF(inner_ptr) };
	nonnull = (struct ai_type){ .kind = AI_TYPE_STRUCT, .size = 8, .has_size = true,
				    .name = "NonNull<alloc::sync::ArcInner<shop::Item>>",
				    .members = nonnull_members, .member_count = 1,
				    .qualified_name = "core::ptr::non_null::NonNull<alloc::sync::ArcInner<shop::Item>>" };
	arc_members[0] = (struct ai_member){ .name = "ptr", .type = REF(nonnull) };
	arc = (struct ai_type){ .kind = AI_TYPE_STRUCT, .size = 8, .has_size = true,
				.name = "Arc<shop::Item, alloc::alloc::Global>",
				.members = arc_members, .member_count = 1,
				.qualified_name = "alloc::sync::Arc<shop::Item, alloc::alloc::Global>" };
	uint8_t arc_inner[48] = { 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	put_item("arc", 3, arc_inner + 16);
	uint64_t inner_address = put(arc_inner, 48);
	expect_value(&arc, put(&inner_address, 8), "Arc(strong 1, weak 0) Item { sku: \"arc\", qty: 3 }");
	/* weak counts one for all the strong ones: 3 strong and 2 Weak handles are weak = 3. */
	uint64_t counts[2] = { 3, 3 };
	memcpy(arc_inner, counts, 16);
	inner_address = put(arc_inner, 48);
	expect_value(&arc, put(&inner_address, 8), "Arc(strong 3, weak 2) Item { sku: \"arc\", qty: 3 }");
	/* Only Weaks left: the value was dropped, its bytes are not shown. */
	counts[0] = 0, counts[1] = 1;
	memcpy(arc_inner, counts, 16);
	inner_address = put(arc_inner, 48);
	expect_value(&arc, put(&inner_address, 8), "Arc(strong 0, weak 1) <dropped>");
	/* NonNull alone is a raw pointer. */
	char expected[32];
	snprintf(expected, sizeof(expected), "0x%" PRIx64, inner_address);
	expect_value(&nonnull, put(&inner_address, 8), expected);
}

/* std's Mutex<u32> { inner: sys Mutex { futex: AtomicU32 }, poison: Flag { failed: AtomicBool },
 * data: UnsafeCell<u32> } and RefCell<u32> { borrow: Cell<isize>, value: UnsafeCell<u32> }. */
Test(value, std_locks_and_cells)
{
	static struct ai_member futex_m[1], poison_m[1], mutex_m[3], refcell_m[2];
	static struct ai_type sys_mutex, flag, mutex, refcell;
	futex_m[0] = (struct ai_member){ .name = "futex", .offset = 0, .type = REF(t_u32) };
	sys_mutex = (struct ai_type){ .kind = AI_TYPE_STRUCT, .size = 4, .has_size = true,
				      .name = "Mutex", .members = futex_m, .member_count = 1,
				      .qualified_name = "std::sys::sync::mutex::futex::Mutex" };
	poison_m[0] = (struct ai_member){ .name = "failed", .offset = 0, .type = REF(t_bool) };
	flag = (struct ai_type){ .kind = AI_TYPE_STRUCT, .size = 1, .has_size = true, .name = "Flag",
				 .members = poison_m, .member_count = 1,
				 .qualified_name = "std::sync::poison::Flag" };
	mutex_m[0] = (struct ai_member){ .name = "inner", .offset = 0, .type = REF(sys_mutex) };
	mutex_m[1] = (struct ai_member){ .name = "poison", .offset = 4, .type = REF(flag) };
	mutex_m[2] = (struct ai_member){ .name = "data", .offset = 8, .type = REF(t_u32) };
	mutex = (struct ai_type){ .kind = AI_TYPE_STRUCT, .size = 12, .has_size = true,
				  .name = "Mutex<u32>", .members = mutex_m, .member_count = 3,
				  .qualified_name = "std::sync::poison::mutex::Mutex<u32>" };
	uint32_t m[3] = { 0, 0, 42 };
	expect_value(&mutex, put(m, 12), "Mutex(unlocked) 42");
	m[0] = 1;
	expect_value(&mutex, put(m, 12), "Mutex(locked) 42");
	m[0] = 2, m[1] = 1;
	expect_value(&mutex, put(m, 12), "Mutex(locked, waiters, poisoned) 42");
	m[0] = 7; /* no futex state: not a guess */
	expect_value(&mutex, put(m, 12), "Mutex(lock state unknown, poisoned) 42");

	refcell_m[0] = (struct ai_member){ .name = "borrow", .offset = 0, .type = REF(t_i64) };
	refcell_m[1] = (struct ai_member){ .name = "value", .offset = 8, .type = REF(t_u32) };
	refcell = (struct ai_type){ .kind = AI_TYPE_STRUCT, .size = 16, .has_size = true,
				    .name = "RefCell<u32>", .members = refcell_m, .member_count = 2,
				    .qualified_name = "core::cell::RefCell<u32>" };
	int64_t c[2] = { 0, 5 };
	expect_value(&refcell, put(c, 16), "RefCell(not borrowed) 5");
	c[0] = 2;
	expect_value(&refcell, put(c, 16), "RefCell(borrowed 2x) 5");
	c[0] = -1;
	expect_value(&refcell, put(c, 16), "RefCell(borrowed mutably) 5");
}

Test(value, unreadable_parts_and_values)
{
	make_cart();
	/* A String whose buffer is gone. */
	uint64_t s = put_vec(UNMAPPED, 5);
	expect_value(&t_string, s, "<unreadable 0xdead0000>");
	/* Inside a struct, only that field. */
	uint8_t items[32];
	memcpy(items, heap.bytes + (s - HEAP_BASE), 24);
	uint32_t qty = 4;
	memcpy(items + 24, &qty, 4);
	uint64_t cart[4] = { put(items, 32), 1, 1, 7 };
	expect_value(&t_cart, put(cart, 32),
		     "Cart { user: 7, items: [Item { sku: <unreadable 0xdead0000>, qty: 4 }] }");
	/* The value itself. */
	expect_value(&t_cart, UNMAPPED, "<unreadable 0xdead0000>");
	/* Bytes given by the caller, shorter than the type. */
	char *text = ai_value_format_bytes(mem, &t_cart, 0x5000, cart, 16, NULL);
	cr_expect_str_eq(text, "Cart { user: <unreadable 0x5018>, items: <unreadable 0x5010> }");
	free(text);
}

/* ---- Limits ---- */

Test(value, depth_and_output_limits)
{
	make_cart();
	uint8_t items[32];
	put_item("A-7", 2, items);
	uint64_t items_address = put(items, 32);
	uint64_t cart[4] = { items_address, 1, 1, 31 };
	uint64_t address = put(cart, 32);
	struct ai_value_limits limits;
	ai_value_limits_default(&limits);
	limits.max_depth = 1;
	expect_value_limits(&t_cart, address, &limits,
			    "Cart { user: 31, items: [\xe2\x80\xa6 (1 items)] }");
	limits.max_depth = 2;
	expect_value_limits(&t_cart, address, &limits, "Cart { user: 31, items: [Item {..}] }");
	ai_value_limits_default(&limits);
	limits.max_output = 20;
	char *s = ai_value_format(mem, &t_cart, address, &limits);
	cr_expect_str_eq(s, "Cart { user: 31, ite\xe2\x80\xa6");
	free(s);
	/* The read budget stops following pointers. */
	ai_value_limits_default(&limits);
	limits.max_read = 40;
	char expected[128];
	snprintf(expected, sizeof(expected),
		 "Cart { user: 31, items: <not read: 0x%" PRIx64 ", 32 bytes over the limit> }",
		 items_address);
	expect_value_limits(&t_cart, address, &limits, expected);
}

Test(value, from_bytes)
{
	uint32_t items[] = { 5, 6 };
	make_string();
	uint64_t vec[3] = { put(items, sizeof(items)), 2, 2 };
	char *s = ai_value_format_bytes(mem, &vec_u32.vec, UNMAPPED, vec, sizeof(vec), NULL);
	cr_expect_str_eq(s, "[5, 6]");
	free(s);
}

Test(value, duration)
{
	static struct ai_member members[] = {
		{ .name = "secs", .offset = 0, .type = REF(t_u64) },
		{ .name = "nanos", .offset = 8, .type = REF(t_u32) },
	};
	static const struct ai_type duration = {
		.kind = AI_TYPE_STRUCT, .name = "Duration", .size = 16, .has_size = true,
		.members = members, .member_count = 2, .qualified_name = "core::time::Duration",
	};
	uint64_t d[][2] = { { 1, 500000000 }, { 0, 2500000 }, { 3, 0 }, { 0, 7 }, { 0, 1500 } };
	const char *expected[] = { "1.5s", "2.5ms", "3s", "7ns", "1.5\xc2\xb5s" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(d); i++)
		expect_value(&duration, put(d[i], 16), expected[i]);
}

Test(value, vec_deque_ring)
{
	/* VecDeque<u32> { head, len, buf: RawVec } holding 4, 5, 6 in a ring of 4 from slot 2. */
	make_string();
	static struct ai_member members[3];
	static struct ai_template_param param = { .name = "T", .type = REF(t_u32) };
	members[0] = (struct ai_member){ .name = "buf", .offset = 0, .type = REF(vec_u32.raw) };
	members[1] = (struct ai_member){ .name = "head", .offset = 16, .type = REF(t_usize) };
	members[2] = (struct ai_member){ .name = "len", .offset = 24, .type = REF(t_usize) };
	struct ai_type deque = {
		.kind = AI_TYPE_STRUCT, .name = "VecDeque<u32, alloc::alloc::Global>", .size = 32,
		.has_size = true, .members = members, .member_count = 3, .template_params = &param,
		.template_param_count = 1,
		.qualified_name = "alloc::collections::vec_deque::VecDeque<u32, alloc::alloc::Global>",
	};
	uint32_t ring[4] = { 6, 99, 4, 5 };
	uint64_t words[4] = { put(ring, sizeof(ring)), 4, 2, 3 };
	expect_value(&deque, put(words, 32), "[4, 5, 6]");
	words[3] = 0;
	expect_value(&deque, put(words, 32), "[]");
}

Test(value, hash_map)
{
	/* std's HashMap<u32, u32> { base: hashbrown's { table: RawTable<(u32, u32)> { table:
	 * RawTableInner { ctrl, bucket_mask, growth_left, items } } } } */
	static struct ai_member pair_members[] = {
		{ .name = "__0", .offset = 0, .type = REF(t_u32) },
		{ .name = "__1", .offset = 4, .type = REF(t_u32) },
	};
	static const struct ai_type pair = {
		.kind = AI_TYPE_STRUCT, .name = "(u32, u32)", .size = 8, .has_size = true,
		.members = pair_members, .member_count = 2,
	};
	static struct ai_member inner_members[] = {
		{ .name = "ctrl", .offset = 0, .type = REF(t_ptr_u8) },
		{ .name = "bucket_mask", .offset = 8, .type = REF(t_usize) },
		{ .name = "growth_left", .offset = 16, .type = REF(t_usize) },
		{ .name = "items", .offset = 24, .type = REF(t_usize) },
	};
	static const struct ai_type inner = {
		.kind = AI_TYPE_STRUCT, .name = "RawTableInner", .size = 32, .has_size = true,
		.members = inner_members, .member_count = 4,
		.qualified_name = "hashbrown::raw::RawTableInner",
	};
	static struct ai_member raw_members[] = { { .name = "table", .type = REF(inner) } };
	static struct ai_template_param raw_param = { .name = "T", .type = REF(pair) };
	static const struct ai_type raw = {
		.kind = AI_TYPE_STRUCT, .name = "RawTable<(u32, u32)>", .size = 32, .has_size = true,
		.members = raw_members, .member_count = 1, .template_params = &raw_param,
		.template_param_count = 1, .qualified_name = "hashbrown::raw::RawTable<(u32, u32)>",
	};
	static struct ai_member brown_members[] = { { .name = "table", .type = REF(raw) } };
	static const struct ai_type brown = {
		.kind = AI_TYPE_STRUCT, .name = "HashMap<u32, u32>", .size = 32, .has_size = true,
		.members = brown_members, .member_count = 1,
		.qualified_name = "hashbrown::map::HashMap<u32, u32>",
	};
	static struct ai_member std_members[] = { { .name = "base", .type = REF(brown) } };
	static const struct ai_type map = {
		.kind = AI_TYPE_STRUCT, .name = "HashMap<u32, u32>", .size = 32, .has_size = true,
		.members = std_members, .member_count = 1,
		.qualified_name = "std::collections::hash::map::HashMap<u32, u32>",
	};
	/* 4 buckets, full at 1 and 3 (control byte top bit clear); bucket i sits below ctrl. */
	struct {
		uint32_t buckets[4][2]; /* in memory order: bucket 3, 2, 1, 0 */
		uint8_t ctrl[4];
	} table = { .buckets = { { 30, 300 }, { 0, 0 }, { 10, 100 }, { 0, 0 } },
		    .ctrl = { 0xff, 0x12, 0xff, 0x34 } };
	uint64_t at = put(&table, sizeof(table));
	uint64_t words[4] = { at + 32, 3, 0, 2 };
	expect_value(&map, put(words, 32), "{10: 100, 30: 300}");
	words[3] = 0;
	expect_value(&map, put(words, 32), "{}");
}
