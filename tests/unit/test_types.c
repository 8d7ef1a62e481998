/* The type model: hand-made enums and names, then the DWARF of the real tokio fixtures. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "../integration/support.h"
#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/elf_file.h"
#include "ai/memory.h"
#include "ai/types.h"
#include "ai/util.h"
#include "ai/value.h"

#define REF(t) { .type = &(t) }

static const struct ai_type t_u8 = { .kind = AI_TYPE_INT, .name = "u8", .size = 1, .has_size = true };
static const struct ai_type t_u64 = { .kind = AI_TYPE_INT, .name = "u64", .size = 8, .has_size = true };
static const struct ai_type t_case = { .kind = AI_TYPE_STRUCT, .name = "Case", .size = 16, .has_size = true };

/* ---- Active variants ---- */

Test(types, tagged_enum_variant)
{
	struct ai_variant variants[] = {
		{ .name = "A", .has_discr_value = true, .discr_value = 0, .member = { .type = REF(t_case) } },
		{ .name = "B", .has_discr_value = true, .discr_value = 1, .member = { .type = REF(t_case) } },
		/* DWARF may give a discriminant sign-extended (sdata): compared in the tag's size. */
		{ .name = "C", .has_discr_value = true, .discr_value = UINT64_MAX, .member = { .type = REF(t_case) } },
	};
	struct ai_type e = {
		.kind = AI_TYPE_ENUM, .name = "E", .size = 16, .has_size = true, .has_discr = true,
		.discr = { .offset = 3, .type = REF(t_u8) }, .variants = variants, .variant_count = 3,
	};
	uint8_t bytes[16] = { 0 };
	const struct ai_variant *v;
	bytes[3] = 1;
	cr_assert_null(ai_type_active_variant(&e, bytes, sizeof(bytes), &v));
	cr_expect_str_eq(v->name, "B");
	bytes[3] = 0xff;
	cr_assert_null(ai_type_active_variant(&e, bytes, sizeof(bytes), &v));
	cr_expect_str_eq(v->name, "C");
	uint64_t discr;
	cr_assert_null(ai_type_read_discriminant(&e, bytes, sizeof(bytes), &discr));
	cr_expect_eq(discr, 0xff);
	/* No variant and no default: an error, not a guess. */
	bytes[3] = 7;
	struct ai_error *err = ai_type_active_variant(&e, bytes, sizeof(bytes), &v);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NOT_FOUND);
	ai_error_destroy(err);
	/* The discriminant must lie inside the bytes given. */
	err = ai_type_active_variant(&e, bytes, 3, &v);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_INVALID_ARGUMENT);
	ai_error_destroy(err);
}

Test(types, niche_enum_variants)
{
	/* Option<String> in rustc 1.9x: None is capacity 0x8000000000000000, Some the default. */
	struct ai_variant option[] = {
		{ .name = "None", .has_discr_value = true, .discr_value = 0x8000000000000000ULL,
		  .member = { .type = REF(t_case) } },
		{ .name = "Some", .member = { .type = REF(t_case) } },
	};
	struct ai_type opt = {
		.kind = AI_TYPE_ENUM, .name = "Option<alloc::string::String>", .size = 24,
		.has_size = true, .has_discr = true, .discr = { .offset = 0, .type = REF(t_u64) },
		.variants = option, .variant_count = 2,
	};
	uint64_t words[3] = { 0x8000000000000000ULL, 0, 0 };
	const struct ai_variant *v;
	cr_assert_null(ai_type_active_variant(&opt, words, sizeof(words), &v));
	cr_expect_str_eq(v->name, "None");
	words[0] = 5;
	cr_assert_null(ai_type_active_variant(&opt, words, sizeof(words), &v));
	cr_expect_str_eq(v->name, "Some");

	/* enum Niche { A(bool), B, C }: B and C take the bool's invalid values 2 and 3. */
	struct ai_variant niche[] = {
		{ .name = "A", .member = { .type = REF(t_case) } },
		{ .name = "B", .has_discr_value = true, .discr_value = 2, .member = { .type = REF(t_case) } },
		{ .name = "C", .has_discr_value = true, .discr_value = 3, .member = { .type = REF(t_case) } },
	};
	struct ai_type n = {
		.kind = AI_TYPE_ENUM, .name = "Niche", .size = 1, .has_size = true, .has_discr = true,
		.discr = { .offset = 0, .type = REF(t_u8) }, .variants = niche, .variant_count = 3,
	};
	const char *expected[] = { "A", "A", "B", "C" };
	for (uint8_t b = 0; b < 4; b++) {
		cr_assert_null(ai_type_active_variant(&n, &b, 1, &v));
		cr_expect_str_eq(v->name, expected[b], "byte %u", b);
	}
}

Test(types, single_variant_enum_has_no_discriminant)
{
	struct ai_variant only[] = { { .name = "Only", .member = { .type = REF(t_case) } } };
	struct ai_type e = { .kind = AI_TYPE_ENUM, .name = "One", .size = 16, .has_size = true,
			     .variants = only, .variant_count = 1 };
	const struct ai_variant *v;
	cr_assert_null(ai_type_active_variant(&e, "", 0, &v));
	cr_expect_str_eq(v->name, "Only");
	cr_expect_not(ai_type_is_coroutine(&e));
}

/* ---- Names and look-ups ---- */

Test(types, short_names)
{
	static const char *const cases[][2] = {
		{ "alloc::vec::Vec<u32, alloc::alloc::Global>", "Vec<u32>" },
		{ "shop::Cart", "Cart" },
		{ "u8", "u8" },
		{ "&str", "&str" },
		{ "alloc::sync::Arc<tokio::sync::mutex::Mutex<u64>, alloc::alloc::Global>", "Arc<Mutex<u64>>" },
		{ "nested::shapes::level2::{async_fn_env#0}", "level2::{async_fn_env#0}" },
		{ "nested::shapes::level2::{async_fn_env#0}::Suspend0", "Suspend0" },
		{ "(i32, alloc::string::String)", "(i32, String)" },
		{ "core::option::Option<&[u8]>", "Option<&[u8]>" },
		{ "alloc::boxed::Box<(dyn core::any::Any + core::marker::Send), alloc::alloc::Global>",
		  "Box<(dyn Any + Send)>" },
		{ "std::collections::hash::map::HashMap<u8, u8, std::hash::random::RandomState>",
		  "HashMap<u8, u8, RandomState>" },
		{ "tokio::runtime::scheduler::multi_thread::worker::{impl#0}::launch::{closure_env#0}",
		  "launch::{closure_env#0}" },
		/* A path after generic arguments: the arguments go with their segment. */
		{ "core::result::Result<core::ptr::non_null::NonNull<[u8]>, core::alloc::AllocError>::Ok",
		  "Ok" },
		{ "&mut alloc::string::String", "&mut String" },
		{ "[alloc::string::String; 4]", "[String; 4]" },
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(cases); i++) {
		char *s = ai_type_short_name(cases[i][0]);
		cr_expect_str_eq(s, cases[i][1]);
		free(s);
	}
}

Test(types, members_params_variants_and_equality)
{
	struct ai_member members[] = {
		{ .name = "buf", .offset = 0, .type = REF(t_u64) },
		{ .name = "len", .offset = 8, .type = REF(t_u64) },
	};
	struct ai_template_param params[] = { { .name = "T", .type = REF(t_u8) } };
	struct ai_type vec = {
		.kind = AI_TYPE_STRUCT, .name = "Vec<u8>", .size = 16, .has_size = true,
		.members = members, .member_count = 2, .template_params = params,
		.template_param_count = 1, .qualified_name = "alloc::vec::Vec<u8>",
	};
	cr_expect_eq(ai_type_find_member(&vec, "len"), &members[1]);
	cr_expect_null(ai_type_find_member(&vec, "cap"));
	const struct ai_template_param *t = ai_type_find_template_param(&vec, "T");
	cr_assert_not_null(t);
	const struct ai_type *resolved;
	cr_assert_null(ai_type_resolve(&vec, &t->type, &resolved));
	cr_expect_eq(resolved, &t_u8);
	cr_expect_str_eq(ai_type_qualified_name(&vec), "alloc::vec::Vec<u8>");
	/* Same name, other object (another codegen unit's copy): the same type. */
	struct ai_type copy = vec;
	copy.members = NULL;
	cr_expect(ai_type_equal(&vec, &copy));
	copy.qualified_name = "alloc::vec::Vec<u16>";
	cr_expect_not(ai_type_equal(&vec, &copy));
	/* A hand-made type has no name but its own. */
	cr_expect_str_eq(ai_type_qualified_name(&t_u8), "u8");
	/* An empty ref is void; a DIE ref without DWARF is an error. */
	struct ai_type_ref empty = { 0 }, dangling = { .die_offset = 0x1234 };
	cr_assert_null(ai_type_resolve(&vec, &empty, &resolved));
	cr_expect_eq(resolved->kind, AI_TYPE_VOID);
	struct ai_error *err = ai_type_resolve(&vec, &dangling, &resolved);
	cr_assert_not_null(err);
	ai_error_destroy(err);
}

/* ---- The fixtures' DWARF ---- */

struct fixture_dwarf {
	char *path;
	struct ai_dwarf *dw;
	struct ai_types *types;
	struct ai_elf_file *elf;
};

static void dwarf_open(struct fixture_dwarf *f, const char *version)
{
	f->path = fixture_path(version, "nested");
	cr_assert(access(f->path, R_OK) == 0, "fixture %s missing", f->path);
	cr_assert_null(ai_dwarf_open(f->path, &f->dw), "ai_dwarf_open %s", f->path);
	f->types = ai_types_create(f->dw);
	cr_assert_null(ai_elf_file_open(f->path, &f->elf));
}

static void dwarf_close(struct fixture_dwarf *f)
{
	ai_elf_file_destroy(f->elf);
	ai_types_destroy(f->types);
	ai_dwarf_destroy(f->dw);
	free(f->path);
}

struct arange_search {
	uint64_t address;
	uint64_t unit_offset;
	bool found;
};

static void arange_cb(void *arg, uint64_t lo, uint64_t hi, uint64_t unit_offset)
{
	struct arange_search *s = arg;
	if (!s->found && s->address >= lo && s->address < hi) {
		s->unit_offset = unit_offset;
		s->found = true;
	}
}

/* The compilation unit of a function, as the tool finds it: symbol -> .debug_aranges -> unit. */
static uint64_t unit_of(struct fixture_dwarf *f, const char *function)
{
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(f->elf, function);
	cr_assert_not_null(sym, "%s: no symbol %s", f->path, function);
	struct ai_dwarf_reader *r = ai_dwarf_get_reader(f->dw);
	struct arange_search s = { .address = sym->address };
	cr_assert(ai_dwarf_reader_aranges(r, arange_cb, &s), "%s: no .debug_aranges", f->path);
	cr_assert(s.found, "%s: no unit covers %s", f->path, function);
	struct ai_dwarf_unit *unit = ai_dwarf_reader_unit_at(r, s.unit_offset);
	cr_assert_not_null(unit);
	return unit->first_die;
}

static const struct ai_type *find_type(struct fixture_dwarf *f, const char *function,
				       const char *name)
{
	const struct ai_type *type;
	struct ai_error *err = ai_types_find(f->types, unit_of(f, function), name, &type);
	cr_assert_null(err, "%s: %s", f->path, err ? err->message : "");
	return type;
}

/* The caches on struct ai_type are kept on types read from DWARF only: a hand-made one, here in
 * read-only memory, would fault if written to. */
Test(types, caches_leave_hand_made_types_alone)
{
	static const struct ai_type vec = { .kind = AI_TYPE_STRUCT, .size = 24, .has_size = true,
		.qualified_name = "alloc::vec::Vec<u8, alloc::alloc::Global>" };
	char *made;
	const char *s = ai_type_short_name_of(&vec, &made);
	cr_expect_str_eq(s, "Vec<u8>");
	cr_expect(made == s, "a hand-made type's short name is the caller's to free");
	free(made);
	static const char search = 0;
	ai_type_memo_add(&vec, &search, "len", 0, true, 16, &t_u64);
	cr_expect_null(ai_type_memo_find(&vec, &search, "len", 0));
}

static const struct ai_type *member_type(const struct ai_type *type, const char *name)
{
	const struct ai_member *m = ai_type_find_member(type, name);
	cr_assert_not_null(m, "%s has no member %s", type->name, name);
	const struct ai_type *mt;
	struct ai_error *err = ai_type_member_type(type, m, &mt);
	cr_assert_null(err, "%s", err ? err->message : "");
	return mt;
}

static const struct ai_type *variant_type(const struct ai_type *type, const struct ai_variant *v)
{
	const struct ai_type *vt;
	cr_assert_null(ai_type_member_type(type, &v->member, &vt));
	return vt;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool name_found(const char *qualified_name, uint64_t die_offset, void *arg)
{
	if (strcmp(qualified_name, "nested::shapes::level2::{async_fn_env#0}") == 0)
		*(uint64_t *)arg = die_offset;
	return true;
}

Test(types_fixture, coroutine_variants_and_await_lines)
{
	require_fixtures();
	int level2_line = marker_line("tokio/src/shapes.rs", "@await: level2");
	for (const char *const *version = tokio_versions(); *version; version++) {
		struct fixture_dwarf f;
		dwarf_open(&f, *version);
		const struct ai_type *env = find_type(&f, "nested::shapes::level2",
						      "nested::shapes::level2::{async_fn_env#0}");
		cr_assert(ai_type_is_coroutine(env), "%s", *version);
		cr_expect_eq(env->kind, AI_TYPE_ENUM);
		static const char *const states[] = { "Unresumed", "Returned", "Panicked", "Suspend0" };
		cr_assert_eq(env->variant_count, 4, "%s: %zu variants", *version, env->variant_count);
		for (size_t i = 0; i < 4; i++) {
			cr_expect_str_eq(env->variants[i].name, states[i], "%s", *version);
			cr_expect(env->variants[i].has_discr_value);
			cr_expect_eq(env->variants[i].discr_value, i);
		}
		const struct ai_variant *suspend = ai_type_find_variant(env, "Suspend0");
		cr_expect_eq(suspend->decl_line, (uint32_t)level2_line, "%s: line %u, marker at %d",
			     *version, suspend->decl_line, level2_line);
		cr_assert_not_null(suspend->decl_file);
		cr_expect(ends_with(suspend->decl_file, "shapes.rs"), "%s", suspend->decl_file);

		/* The suspend state's struct: a saved local and the awaited future. */
		const struct ai_type *state = variant_type(env, suspend);
		cr_expect_str_eq(ai_type_qualified_name(state),
				 "nested::shapes::level2::{async_fn_env#0}::Suspend0");
		const struct ai_type *values = member_type(state, "values");
		cr_expect(strncmp(ai_type_qualified_name(values), "alloc::vec::Vec<u32", 19) == 0,
			  "%s", ai_type_qualified_name(values));
		const struct ai_template_param *t = ai_type_find_template_param(values, "T");
		cr_assert_not_null(t);
		const struct ai_type *elem;
		cr_assert_null(ai_type_resolve(values, &t->type, &elem));
		cr_expect(elem->kind == AI_TYPE_INT && elem->size == 4 && !elem->is_signed);
		const struct ai_type *awaitee = member_type(state, "__awaitee");
		cr_expect_str_eq(ai_type_qualified_name(awaitee),
				 "nested::shapes::level3::{async_fn_env#0}");
		cr_expect(ai_type_is_coroutine(awaitee));

		/* Dedupe: level1's copy of this type (another unit, maybe) is the same type. */
		const struct ai_type *l1 = find_type(&f, "nested::shapes::level1",
						     "nested::shapes::level1::{async_fn_env#0}");
		const struct ai_type *l1_state = variant_type(l1, ai_type_find_variant(l1, "Suspend0"));
		cr_expect(ai_type_equal(member_type(l1_state, "__awaitee"), env));

		/* The unit's names by prefix. */
		uint64_t found = 0;
		cr_assert_null(ai_types_for_each_name(f.types, env->cu_offset, "nested::shapes::level2::",
						      name_found, &found));
		cr_expect_eq(found, env->die_offset);
		dwarf_close(&f);
	}
}

Test(types_fixture, caches_on_dwarf_types)
{
	require_fixtures();
	struct fixture_dwarf f;
	dwarf_open(&f, tokio_versions()[0]);
	const struct ai_type *env = find_type(&f, "nested::shapes::level2",
					      "nested::shapes::level2::{async_fn_env#0}");
	char *made;
	const char *name = ai_type_short_name_of(env, &made);
	cr_expect_null(made);
	cr_expect_str_eq(name, "level2::{async_fn_env#0}");
	cr_expect(ai_type_short_name_of(env, &made) == name, "computed once, then kept");
	/* Answers by search, name and depth. */
	static const char search_a = 0, search_b = 0;
	cr_expect_null(ai_type_memo_find(env, &search_a, "x", 0));
	ai_type_memo_add(env, &search_a, "x", 0, true, 8, env);
	ai_type_memo_add(env, &search_a, "x", 4, false, 0, NULL);
	const struct ai_type_memo *m = ai_type_memo_find(env, &search_a, "x", 0);
	cr_assert_not_null(m);
	cr_expect(m->found && m->offset == 8 && m->type == env);
	m = ai_type_memo_find(env, &search_a, "x", 4);
	cr_assert_not_null(m);
	cr_expect(!m->found);
	cr_expect_null(ai_type_memo_find(env, &search_b, "x", 0));
	cr_expect_null(ai_type_memo_find(env, &search_a, "y", 0));
	dwarf_close(&f);
}

Test(types_fixture, every_suspend_point_of_level4)
{
	require_fixtures();
	static const char *const markers[] = { "@await: level4-oneshot", "@await: level4-sleep",
		"@await: level4-notify", "@await: level4-mpsc", "@await: level4-mutex" };
	uint32_t lines[AI_ARRAY_SIZE(markers)];
	for (size_t i = 0; i < AI_ARRAY_SIZE(markers); i++)
		lines[i] = (uint32_t)marker_line("tokio/src/shapes.rs", markers[i]);
	for (const char *const *version = tokio_versions(); *version; version++) {
		struct fixture_dwarf f;
		dwarf_open(&f, *version);
		const struct ai_type *env = find_type(&f, "nested::shapes::level4",
						      "nested::shapes::level4::{async_fn_env#0}");
		cr_assert_eq(env->variant_count, 3 + AI_ARRAY_SIZE(markers), "%s", *version);
		/* Every marker is the line of one suspend state (whatever rustc's numbering). */
		for (size_t i = 0; i < AI_ARRAY_SIZE(markers); i++) {
			int hits = 0;
			for (size_t v = 3; v < env->variant_count; v++)
				hits += env->variants[v].decl_line == lines[i];
			cr_expect_eq(hits, 1, "%s: %s at line %u", *version, markers[i], lines[i]);
		}
		for (size_t v = 3; v < env->variant_count; v++) {
			char name[32];
			snprintf(name, sizeof(name), "Suspend%zu", v - 3);
			cr_expect_str_eq(env->variants[v].name, name);
			cr_expect_eq(env->variants[v].discr_value, v);
		}
		dwarf_close(&f);
	}
}

/* The offset of the first pointer inside type (a String's buffer), depth-first. */
static bool pointer_offset(const struct ai_type *type, uint64_t *ret)
{
	if (type->kind == AI_TYPE_POINTER) {
		*ret = 0;
		return true;
	}
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_type *mt;
		uint64_t inner;
		if (!ai_type_member_type(type, &type->members[i], &mt) && pointer_offset(mt, &inner)) {
			*ret = type->members[i].offset + inner;
			return true;
		}
	}
	return false;
}

static struct ai_error *read_buffer(void *buf, uint64_t address, size_t count, void *arg)
{
	memcpy(buf, (uint8_t *)arg + (address - 0x1000), count);
	return NULL;
}

/* rustc's real layouts through the printer: a struct with a String and a Rust enum. */
Test(types_fixture, prints_real_types)
{
	require_fixtures();
	for (const char *const *version = tokio_versions(); *version; version++) {
		struct fixture_dwarf f;
		dwarf_open(&f, *version);
		const struct ai_type *account = find_type(&f, "nested::shapes::level3",
							  "nested::shapes::Account");
		/* Lay out Account { id: 3, owner: "owner-3", balance: -301 } where DWARF says. */
		static uint8_t target[256];
		memset(target, 0, sizeof(target));
		const uint64_t base = 0x1000, text = base + 128;
		memcpy(target + 128, "owner-3", 7);
		uint64_t id = 3, len = 7;
		int64_t balance = -301;
		memcpy(target + ai_type_find_member(account, "id")->offset, &id, 8);
		memcpy(target + ai_type_find_member(account, "balance")->offset, &balance, 8);
		const struct ai_type *string = member_type(account, "owner");
		const struct ai_type *vec = member_type(string, "vec");
		uint64_t owner = ai_type_find_member(account, "owner")->offset;
		uint64_t vec_at = owner + ai_type_find_member(string, "vec")->offset;
		uint64_t ptr_at;
		cr_assert(pointer_offset(member_type(vec, "buf"), &ptr_at));
		ptr_at += vec_at + ai_type_find_member(vec, "buf")->offset;
		memcpy(target + ptr_at, &text, 8);
		memcpy(target + vec_at + ai_type_find_member(vec, "len")->offset, &len, 8);

		struct ai_memory *mem = ai_memory_create();
		ai_memory_add_segment(mem, base, base + sizeof(target), read_buffer, target);
		char *s = ai_value_format(mem, account, base, NULL);
		cr_expect_str_eq(s, "Account { id: 3, owner: \"owner-3\", balance: -301 }", "%s", *version);
		free(s);

		/* Leaf::Notify(Arc<Notify>) with a dangling Arc: the variant, then the ArcInner (its
		 * counts, then its data) is unreadable. */
		const struct ai_type *leaf = find_type(&f, "nested::shapes::level4", "nested::shapes::Leaf");
		cr_assert_eq(leaf->kind, AI_TYPE_ENUM);
		const struct ai_variant *notify = ai_type_find_variant(leaf, "Notify");
		cr_assert_not_null(notify);
		cr_assert(leaf->has_discr && notify->has_discr_value);
		memset(target, 0, sizeof(target));
		const struct ai_type *discr_type;
		cr_assert_null(ai_type_member_type(leaf, &leaf->discr, &discr_type));
		memcpy(target + leaf->discr.offset, &notify->discr_value, discr_type->size);
		const struct ai_type *payload = variant_type(leaf, notify);
		uint64_t dangling = 0xdead0000;
		memcpy(target + ai_type_find_member(payload, "__0")->offset, &dangling, 8);
		const struct ai_variant *active;
		cr_assert_null(ai_type_active_variant(leaf, target, leaf->size, &active));
		cr_expect_eq(active, notify);
		s = ai_value_format(mem, leaf, base, NULL);
		cr_expect_str_eq(s, "Notify(<unreadable 0xdead0000>)", "%s", *version);
		free(s);
		ai_memory_destroy(mem);
		dwarf_close(&f);
	}
}
