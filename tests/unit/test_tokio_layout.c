/* The tokio layout table over hand-made types: fields by path with alternatives per version, the
 * warning that names the type and the missing field, and the type walks tokio.c relies on. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/runtime/tokio/layout.h"
#include "ai/snapshot.h"
#include "ai/types.h"

#define REF(t) { .type = &(t) }
#define SCALAR(n, sz) { .kind = AI_TYPE_INT, .name = (n), .size = (sz), .has_size = true }
#define STRUCT(n, sz, m) { .kind = AI_TYPE_STRUCT, .name = (n), .size = (sz), .has_size = true, \
			   .members = (struct ai_member *)(m), .member_count = sizeof(m) / sizeof((m)[0]) }

static const struct ai_type t_u32 = SCALAR("u32", 4);
static const struct ai_type t_u64 = SCALAR("u64", 8);
static const struct ai_type t_usize = SCALAR("usize", 8);

static const struct ai_type t_vtable = { .kind = AI_TYPE_STRUCT, .name = "Vtable", .size = 80,
					 .has_size = true };
static const struct ai_type t_vtable_ref = { .kind = AI_TYPE_POINTER, .name = "&Vtable", .size = 8,
					     .has_size = true, .target = REF(t_vtable) };

/* Header as in 1.24..1.54, but without owner_id (a made-up tokio 1.99). */
static const struct ai_member header_members[] = {
	{ .name = "state", .offset = 0, .type = REF(t_usize) },
	{ .name = "queue_next", .offset = 8, .type = REF(t_u64) },
	{ .name = "vtable", .offset = 16, .type = REF(t_vtable_ref) },
};
static const struct ai_type t_header = STRUCT("Header", 24, header_members);

/* ... and one whose owner_id shrank to 4 bytes. */
static const struct ai_member header_small_members[] = {
	{ .name = "state", .offset = 0, .type = REF(t_usize) },
	{ .name = "owner_id", .offset = 8, .type = REF(t_u32) },
};
static const struct ai_type t_header_small = STRUCT("Header", 16, header_small_members);

static struct ai_snapshot *snapshot;
static struct tk_env env;

static void setup(void)
{
	snapshot = ai_snapshot_create();
	memset(&env, 0, sizeof(env));
	env.snapshot = snapshot;
	env.version = "1.99.0";
}

static void teardown(void)
{
	tk_env_deinit(&env);
	ai_snapshot_destroy(snapshot);
}

TestSuite(tokio_layout, .init = setup, .fini = teardown);

Test(tokio_layout, present_fields_resolve)
{
	struct tk_loc loc;
	cr_assert(tk_field(&env, TK_HEADER_STATE, &t_header, &loc));
	cr_expect_eq(loc.offset, 0);
	cr_assert(tk_field(&env, TK_HEADER_VTABLE, &t_header, &loc));
	cr_expect_eq(loc.offset, 16);
	cr_expect_eq(loc.type, &t_vtable_ref);
	cr_expect_eq(snapshot->warning_count, 0);
}

Test(tokio_layout, missing_field_is_a_warning_naming_type_and_field)
{
	struct tk_loc loc;
	cr_expect_not(tk_field(&env, TK_HEADER_OWNER_ID, &t_header, &loc));
	cr_assert_eq(snapshot->warning_count, 1);
	cr_expect_str_eq(snapshot->warnings[0],
			 "tokio 1.99.0: tokio::runtime::task::core::Header has no field `owner_id`");
	/* once per message */
	cr_expect_not(tk_field(&env, TK_HEADER_OWNER_ID, &t_header, &loc));
	cr_expect_eq(snapshot->warning_count, 1);
	/* probing quietly adds nothing */
	cr_expect_not(tk_field_quiet(TK_HEADER_OWNER_ID, &t_header, &loc));
	cr_expect_eq(snapshot->warning_count, 1);
}

Test(tokio_layout, field_of_another_size_is_a_warning)
{
	struct tk_loc loc;
	cr_expect_not(tk_field(&env, TK_HEADER_OWNER_ID, &t_header_small, &loc));
	cr_assert_eq(snapshot->warning_count, 1);
	cr_expect_str_eq(snapshot->warnings[0], "tokio 1.99.0: field `owner_id` of "
			 "tokio::runtime::task::core::Header is 4 bytes, expected 8");
}

/* Context: `current.handle` from 1.38, `handle` in 1.24. */
static const struct ai_type t_handle_cell = { .kind = AI_TYPE_STRUCT, .name = "RefCell", .size = 24,
					      .has_size = true };
static const struct ai_member current_members[] = {
	{ .name = "handle", .offset = 0, .type = REF(t_handle_cell) },
	{ .name = "depth", .offset = 24, .type = REF(t_usize) },
};
static const struct ai_type t_current = STRUCT("HandleCell", 32, current_members);
static const struct ai_member ctx138_members[] = {
	{ .name = "thread_id", .offset = 0, .type = REF(t_u64) },
	{ .name = "current", .offset = 16, .type = REF(t_current) },
};
static const struct ai_type t_ctx138 = STRUCT("Context", 48, ctx138_members);
static const struct ai_member ctx124_members[] = {
	{ .name = "thread_id", .offset = 0, .type = REF(t_u64) },
	{ .name = "handle", .offset = 8, .type = REF(t_handle_cell) },
};
static const struct ai_type t_ctx124 = STRUCT("Context", 32, ctx124_members);
static const struct ai_member current_bad_members[] = {
	{ .name = "depth", .offset = 24, .type = REF(t_usize) },
};
static const struct ai_type t_current_bad = STRUCT("HandleCell", 32, current_bad_members);
static const struct ai_member ctx_bad_members[] = {
	{ .name = "current", .offset = 16, .type = REF(t_current_bad) },
};
static const struct ai_type t_ctx_bad = STRUCT("Context", 48, ctx_bad_members);

Test(tokio_layout, alternative_paths_by_version)
{
	struct tk_loc loc;
	cr_assert(tk_field(&env, TK_CONTEXT_HANDLE, &t_ctx138, &loc));
	cr_expect_eq(loc.offset, 16);
	cr_expect_eq(loc.type, &t_handle_cell);
	cr_assert(tk_field(&env, TK_CONTEXT_HANDLE, &t_ctx124, &loc));
	cr_expect_eq(loc.offset, 8);
	cr_expect_eq(snapshot->warning_count, 0);
	cr_expect_not(tk_field(&env, TK_CONTEXT_HANDLE, &t_ctx_bad, &loc));
	cr_assert_eq(snapshot->warning_count, 1);
	cr_expect_str_eq(snapshot->warnings[0], "tokio 1.99.0: tokio::runtime::context::Context has "
			 "no field `current.handle` (no `handle` on the way)");
}

/* Trailer.owned.inner.value.next through Pointers and UnsafeCell. */
static const struct ai_type t_header_ptr = { .kind = AI_TYPE_POINTER, .name = "*const Header",
					     .size = 8, .has_size = true, .target = REF(t_header) };
static const struct ai_member nonnull_members[] = {
	{ .name = "pointer", .offset = 0, .type = REF(t_header_ptr) },
};
static const struct ai_type t_nonnull = STRUCT("NonNull<Header>", 8, nonnull_members);
static const struct ai_member some_members[] = {
	{ .name = "__0", .offset = 0, .type = REF(t_nonnull) },
};
static const struct ai_type t_some = STRUCT("Some", 8, some_members);
static const struct ai_type t_none = { .kind = AI_TYPE_STRUCT, .name = "None", .size = 8,
				       .has_size = true };
static const struct ai_variant option_variants[] = {
	{ .name = "None", .has_discr_value = true, .discr_value = 0,
	  .member = { .name = "None", .type = REF(t_none) } },
	{ .name = "Some", .member = { .name = "Some", .type = REF(t_some) } },
};
static const struct ai_type t_option = {
	.kind = AI_TYPE_ENUM, .name = "Option<core::ptr::non_null::NonNull<Header>>", .size = 8,
	.has_size = true, .has_discr = true, .discr = { .offset = 0, .type = REF(t_u64) },
	.variants = (struct ai_variant *)option_variants, .variant_count = 2,
};
static const struct ai_member inner_members[] = {
	{ .name = "prev", .offset = 0, .type = REF(t_option) },
	{ .name = "next", .offset = 8, .type = REF(t_option) },
};
static const struct ai_type t_pointers_inner = STRUCT("PointersInner<Header>", 16, inner_members);
static const struct ai_member cell_members[] = {
	{ .name = "value", .offset = 0, .type = REF(t_pointers_inner) },
};
static const struct ai_type t_unsafe_cell = STRUCT("UnsafeCell<PointersInner<Header>>", 16, cell_members);
static const struct ai_member pointers_members[] = {
	{ .name = "inner", .offset = 0, .type = REF(t_unsafe_cell) },
};
static const struct ai_type t_pointers = STRUCT("Pointers<Header>", 16, pointers_members);
static const struct ai_member trailer_members[] = {
	{ .name = "waker", .offset = 0, .type = REF(t_u64) },
	{ .name = "owned", .offset = 16, .type = REF(t_pointers) },
};
static const struct ai_type t_trailer = STRUCT("Trailer", 32, trailer_members);
static const struct ai_member list_members[] = {
	{ .name = "head", .offset = 0, .type = REF(t_option) },
	{ .name = "tail", .offset = 8, .type = REF(t_option) },
};
static const struct ai_type t_list = STRUCT("LinkedList<Task<S>, Header>", 16, list_members);
static const struct ai_member mutex_members[] = {
	{ .name = "raw", .offset = 0, .type = REF(t_u64) },
	{ .name = "data", .offset = 8, .type = REF(t_list) },
};
static const struct ai_type t_mutex = STRUCT("Mutex<LinkedList<Task<S>, Header>>", 24, mutex_members);

Test(tokio_layout, nested_paths_and_walks)
{
	struct tk_loc loc;
	cr_assert(tk_field(&env, TK_TRAILER_NEXT, &t_trailer, &loc));
	cr_expect_eq(loc.offset, 24);
	cr_assert(tk_field(&env, TK_TRAILER_PREV, &t_trailer, &loc));
	cr_expect_eq(loc.offset, 16);
	/* The list inside a shard's mutex, whatever the mutex looks like. */
	cr_assert(tk_find_within(&t_mutex, tk_match_prefix, TK_NAME_LINKED_LIST, &loc));
	cr_expect_eq(loc.offset, 8);
	cr_expect_eq(loc.type, &t_list);
	/* The Header type behind head: Option<NonNull<Header>>. */
	cr_expect_eq(tk_find_pointee(&t_option, tk_match_name, "Header"), &t_header);
	cr_expect_null(tk_find_pointee(&t_option, tk_match_name, "Trailer"));
	/* Niche Option: 0 is None, anything else Some with its payload at +0. */
	uint64_t value = 0x1234560;
	struct tk_loc payload;
	bool has_payload;
	const struct ai_variant *v = tk_variant(&t_option, &value, 8, &payload, &has_payload);
	cr_assert_not_null(v);
	cr_expect_str_eq(v->name, "Some");
	cr_expect(has_payload);
	cr_expect_eq(payload.offset, 0);
	cr_expect_eq(payload.type, &t_nonnull);
	value = 0;
	v = tk_variant(&t_option, &value, 8, &payload, &has_payload);
	cr_assert_not_null(v);
	cr_expect_str_eq(v->name, "None");
	cr_expect_not(has_payload);
	cr_expect_str_eq(tk_enum_value_name(&t_option, &value, 8), "None");
	cr_expect_eq(snapshot->warning_count, 0);
}
