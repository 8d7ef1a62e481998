/* ELF files, the DWARF index and symbolization, on this test binary itself (C, built with -g) and,
 * when AI_FIXTURES is set, on the Rust fixtures (no process needed). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../integration/support.h"
#include "ai/dwarf_info.h"
#include "ai/elf_file.h"
#include "ai/types.h"
#include "ai/util.h"

/* ---- probes in this file ---- */

static const int probe_line = __LINE__ + 2;
__attribute__((noinline, used)) int ai_test_probe_function(int x);
__attribute__((noinline, used)) int ai_test_probe_function(int x)
{
	return x * 3 + 1;
}

static inline __attribute__((always_inline)) uintptr_t ai_test_inlined_pc(void)
{
	uintptr_t pc;
	__asm__ volatile("lea 0(%%rip), %0" : "=r"(pc));
	return pc;
}

static const int inline_call_line = __LINE__ + 4;
__attribute__((noinline, used)) uintptr_t ai_test_inline_caller(void);
__attribute__((noinline, used)) uintptr_t ai_test_inline_caller(void)
{
	return ai_test_inlined_pc() + 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---- ELF ---- */

Test(elf_file, missing_file_is_not_found)
{
	struct ai_elf_file *f;
	struct ai_error *err = ai_elf_file_open("/nonexistent/async-inspect-test", &f);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NOT_FOUND);
	cr_expect(strstr(err->message, "/nonexistent/async-inspect-test") != NULL, "%s", err->message);
	ai_error_destroy(err);
}

Test(elf_file, text_file_is_not_elf)
{
	char path[] = "/tmp/ai-test-notelf-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, "hello, world\n", 13) == 13);
	close(fd);
	struct ai_elf_file *f;
	struct ai_error *err = ai_elf_file_open(path, &f);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NOT_ELF);
	char *expected = xasprintf("%s is not an ELF file", path);
	cr_expect_str_eq(err->message, expected);
	free(expected);
	ai_error_destroy(err);
	struct ai_dwarf *dw;
	err = ai_dwarf_open(path, &dw);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NOT_ELF);
	ai_error_destroy(err);
	unlink(path);
}

Test(elf_file, self_symbols_and_headers)
{
	struct ai_elf_file *f;
	struct ai_error *err = ai_elf_file_open("/proc/self/exe", &f);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_expect(f->has_debug_info);
	cr_expect(f->has_symtab);
	cr_expect(f->has_eh_frame_hdr);
	cr_expect(f->build_id_len > 0);
	cr_expect(f->text_end > f->text_start);
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(f, "ai_test_probe_function");
	cr_assert_not_null(sym);
	cr_expect(sym->size > 0);
	/* by address: the start, the middle, and just past the end */
	cr_expect_eq(ai_elf_file_find_symbol(f, sym->address), sym);
	cr_expect_eq(ai_elf_file_find_symbol(f, sym->address + sym->size - 1), sym);
	struct ai_elf_symbol *after = ai_elf_file_find_symbol(f, sym->address + sym->size);
	cr_expect(after != sym);
	cr_expect_str_eq(ai_elf_symbol_name(sym), "ai_test_probe_function");
	/* load bias of this very process: the symbol's runtime address is vaddr + bias */
	uint64_t bias = (uintptr_t)&ai_test_probe_function - sym->address;
	FILE *maps = fopen("/proc/self/maps", "r");
	cr_assert_not_null(maps);
	char line[512];
	bool checked = false;
	while (fgets(line, sizeof(line), maps) && !checked) {
		unsigned long start, end, offset;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s %lx", &start, &end, perms, &offset) != 4 ||
		    (uintptr_t)&ai_test_probe_function < start || (uintptr_t)&ai_test_probe_function >= end)
			continue;
		uint64_t computed;
		err = ai_elf_file_load_bias(f, start, offset, &computed);
		cr_assert_null(err);
		cr_expect_eq(computed, bias);
		checked = true;
	}
	fclose(maps);
	cr_expect(checked);
	ai_elf_file_destroy(f);
}

Test(elf_file, stripped_binary_has_no_debuginfo)
{
	/* Debian's /bin/true: no .debug_info and no .symtab */
	struct ai_elf_file *f;
	cr_assert_null(ai_elf_file_open("/bin/true", &f));
	cr_expect(!f->has_debug_info);
	cr_expect(!f->has_symtab);
	cr_expect(f->has_dynsym);
	ai_elf_file_destroy(f);
	struct ai_dwarf *dw;
	struct ai_error *err = ai_dwarf_open("/bin/true", &dw);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NO_DEBUGINFO);
	cr_expect_str_eq(err->message, "/bin/true has no debug info; build it with `debug = true` "
				       "(e.g. [profile.release] debug = true in Cargo.toml)");
	ai_error_destroy(err);
}

Test(elf_file, memory_image)
{
	/* the vdso's path: an ELF image read from memory */
	FILE *f = fopen("/bin/true", "rb");
	cr_assert_not_null(f);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	struct ai_elf_file *elf;
	cr_assert_null(ai_elf_file_open_image("[image]", buf, n, &elf));
	cr_expect(elf->has_eh_frame_hdr);
	cr_expect_str_eq(elf->path, "[image]");
	ai_elf_file_destroy(elf);
	struct ai_error *err = ai_elf_file_open_image("[junk]", "junk", 4, &elf);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NOT_ELF);
	ai_error_destroy(err);
}

/* ---- DWARF on this binary ---- */

static struct ai_elf_file *self_elf;
static struct ai_dwarf *self_dwarf;

static void open_self(void)
{
	cr_assert_null(ai_elf_file_open("/proc/self/exe", &self_elf));
	cr_assert_null(ai_dwarf_open("/proc/self/exe", &self_dwarf));
}

static void close_self(void)
{
	ai_dwarf_destroy(self_dwarf);
	ai_elf_file_destroy(self_elf);
}

TestSuite(dwarf_self, .init = open_self, .fini = close_self);

Test(dwarf_self, function_file_and_line)
{
	cr_expect(!ai_dwarf_is_rust(self_dwarf));
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(self_elf, "ai_test_probe_function");
	cr_assert_not_null(sym);
	struct ai_location locs[AI_MAX_LOCATIONS];
	size_t n;
	cr_assert_null(ai_dwarf_find_locations(self_dwarf, sym->address, false, locs,
					       AI_MAX_LOCATIONS, &n));
	cr_assert_eq(n, 1);
	cr_expect_str_eq(locs[0].function, "ai_test_probe_function");
	cr_assert_not_null(locs[0].file);
	cr_expect(ends_with(locs[0].file, "tests/unit/test_debuginfo.c"), "%s", locs[0].file);
	cr_expect(locs[0].file[0] == '/', "absolute: %s", locs[0].file);
	cr_expect(locs[0].line >= (uint32_t)probe_line && locs[0].line <= (uint32_t)probe_line + 2,
		  "line %u, probe at %d", locs[0].line, probe_line);
	cr_expect(!locs[0].inlined);
	cr_expect_neq(locs[0].die_offset, 0);
	cr_expect_eq(locs[0].die_offset, locs[0].subprogram_die_offset);
	/* the same DIE names the function */
	const char *name;
	cr_assert_null(ai_dwarf_qualified_name(self_dwarf, locs[0].die_offset, &name));
	cr_expect_str_eq(name, "ai_test_probe_function");
	/* a pc past the end of all code */
	cr_assert_null(ai_dwarf_find_locations(self_dwarf, 0x10, false, locs, AI_MAX_LOCATIONS, &n));
	cr_expect_eq(n, 0);
}

Test(dwarf_self, inlined_call_is_a_virtual_frame)
{
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(self_elf, "ai_test_inline_caller");
	cr_assert_not_null(sym);
	uint64_t bias = (uintptr_t)&ai_test_inline_caller - sym->address;
	/* the address after the lea, so looked up as pc - 1 like a return address */
	uint64_t vaddr = ai_test_inline_caller() - bias;
	cr_assert(vaddr > sym->address && vaddr <= sym->address + sym->size);
	struct ai_location locs[AI_MAX_LOCATIONS];
	size_t n;
	cr_assert_null(ai_dwarf_find_locations(self_dwarf, vaddr, true, locs, AI_MAX_LOCATIONS, &n));
	cr_assert_eq(n, 2);
	cr_expect(locs[0].inlined);
	cr_expect_str_eq(locs[0].function, "ai_test_inlined_pc");
	cr_expect_eq(locs[0].subprogram_die_offset, locs[1].die_offset);
	cr_expect(!locs[1].inlined);
	cr_expect_str_eq(locs[1].function, "ai_test_inline_caller");
	cr_expect_eq(locs[1].line, (uint32_t)inline_call_line, "call line %u, expected %d",
		     locs[1].line, inline_call_line);
	cr_expect(ends_with(locs[1].file, "tests/unit/test_debuginfo.c"));
	/* asking for one location keeps the outermost: the real function */
	cr_assert_null(ai_dwarf_find_locations(self_dwarf, vaddr, true, locs, 1, &n));
	cr_assert_eq(n, 1);
	cr_expect_str_eq(locs[0].function, "ai_test_inline_caller");
}

Test(dwarf_self, return_address_gives_the_call_line)
{
	/* the address right after a call: looked up as pc - 1, it is still the calling function */
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(self_elf, "ai_test_probe_function");
	cr_assert_not_null(sym);
	struct ai_location locs[AI_MAX_LOCATIONS];
	size_t n;
	cr_assert_null(ai_dwarf_find_locations(self_dwarf, sym->address + sym->size, true, locs,
					       AI_MAX_LOCATIONS, &n));
	cr_assert_geq(n, 1);
	cr_expect_str_eq(locs[n - 1].function, "ai_test_probe_function");
}

/* ---- Rust fixtures (no process) ---- */

static char *fixture(const char *crate, const char *bin)
{
	const char *root = getenv("AI_FIXTURES");
	if (!root)
		return NULL;
	char *path = xasprintf("%s/%s/debug/%s", root, crate, bin);
	if (access(path, R_OK) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

Test(dwarf_rust, names_are_rust_paths)
{
	char *path = fixture("tokio-1.24", "nested");
	if (!path)
		cr_skip_test("AI_FIXTURES not set or tokio-1.24/nested not built");
	struct ai_elf_file *elf;
	struct ai_dwarf *dw;
	cr_assert_null(ai_elf_file_open(path, &elf));
	cr_assert_null(ai_dwarf_open(path, &dw));
	cr_expect(ai_dwarf_is_rust(dw));
	struct ai_dwarf_stats stats;
	ai_dwarf_get_stats(dw, &stats);
	cr_expect_gt(stats.cu_count, 10);
	cr_expect_eq(stats.cus_indexed, 0, "nothing is parsed up front");

	/* Every symbol demangling to "<prefix>..." has a DWARF function starting with the prefix. */
	static const char *const prefixes[] = {
		"tokio::runtime::park::CachedParkThread::block_on",
		"tokio::runtime::scheduler::multi_thread::worker::run",
		"nested::main",
	};
	for (size_t p = 0; p < AI_ARRAY_SIZE(prefixes); p++) {
		bool found = false;
		ai_elf_file_find_symbol(elf, 0); /* loads the symbol table */
		for (size_t i = 0; i < elf->symbol_count; i++) {
			struct ai_elf_symbol *s = &elf->symbols[i];
			const char *name = ai_elf_symbol_name(s);
			if (strncmp(name, prefixes[p], strlen(prefixes[p])) != 0)
				continue;
			struct ai_location locs[AI_MAX_LOCATIONS];
			size_t n;
			cr_assert_null(ai_dwarf_find_locations(dw, s->address, false, locs,
							       AI_MAX_LOCATIONS, &n));
			cr_assert_geq(n, 1, "%s", name);
			const char *function = locs[n - 1].function;
			cr_assert_not_null(function, "%s", name);
			cr_expect(strncmp(function, prefixes[p], strlen(prefixes[p])) == 0,
				  "symbol %s: DWARF says %s", name, function);
			cr_expect_not_null(locs[n - 1].file);
			cr_expect_gt(locs[n - 1].line, 0);
			found = true;
			break;
		}
		cr_expect(found, "no symbol %s", prefixes[p]);
	}
	ai_dwarf_get_stats(dw, &stats);
	cr_expect_lt(stats.cus_indexed, stats.cu_count, "only the units needed were parsed");
	ai_dwarf_destroy(dw);
	ai_elf_file_destroy(elf);
	free(path);
}

Test(dwarf_rust, block_on_is_generic_over_the_main_future)
{
	char *path = fixture("tokio-1.24", "nested");
	if (!path)
		cr_skip_test("AI_FIXTURES not set or tokio-1.24/nested not built");
	struct ai_elf_file *elf;
	struct ai_dwarf *dw;
	cr_assert_null(ai_elf_file_open(path, &elf));
	cr_assert_null(ai_dwarf_open(path, &dw));
	/* The block_on called by Runtime::block_on for #[tokio::main]: its DWARF name carries the
	 * future type, which the ELF symbol does not. */
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(elf, "nested::main");
	cr_assert_not_null(sym);
	struct ai_location locs[AI_MAX_LOCATIONS];
	size_t n;
	cr_assert_null(ai_dwarf_find_locations(dw, sym->address, false, locs, AI_MAX_LOCATIONS, &n));
	cr_assert_geq(n, 1);
	cr_expect_str_eq(locs[n - 1].function, "nested::main");
	cr_expect(ends_with(locs[n - 1].file, "/tests/fixtures/tokio/src/bin/nested.rs"), "%s",
		  locs[n - 1].file);
	bool generic = false;
	for (size_t i = 0; i < elf->symbol_count && !generic; i++) {
		struct ai_elf_symbol *s = &elf->symbols[i];
		if (strcmp(ai_elf_symbol_name(s), "tokio::runtime::park::CachedParkThread::block_on"))
			continue;
		cr_assert_null(ai_dwarf_find_locations(dw, s->address, false, locs,
						       AI_MAX_LOCATIONS, &n));
		if (n && locs[n - 1].function &&
		    strstr(locs[n - 1].function, "block_on<nested::main::{async_block_env#0}>"))
			generic = true;
	}
	cr_expect(generic, "no block_on<nested::main::{async_block_env#0}>");
	ai_dwarf_destroy(dw);
	ai_elf_file_destroy(elf);
	free(path);
}

Test(dwarf_rust, nodebug_fixture_has_no_debuginfo)
{
	char *path = fixture("nodebug", "nodebug");
	if (!path)
		cr_skip_test("AI_FIXTURES not set or nodebug not built");
	struct ai_dwarf *dw;
	struct ai_error *err = ai_dwarf_open(path, &dw);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NO_DEBUGINFO);
	cr_expect(strstr(err->message, "has no debug info; build it with `debug = true`") != NULL,
		  "%s", err->message);
	ai_error_destroy(err);
	free(path);
}

/* ---- debuginfo layouts (tests/fixtures/layouts) ---- */

#include <dwarf.h>
#include <zlib.h>

/* The same function's name, file and line through the plain build and through `layout`. */
static void expect_same_location(struct ai_elf_file *elf, struct ai_dwarf *plain,
				 struct ai_dwarf *other, const char *symbol, const char *layout)
{
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(elf, symbol);
	cr_assert_not_null(sym, "%s", symbol);
	struct ai_location a[AI_MAX_LOCATIONS], b[AI_MAX_LOCATIONS];
	size_t na, nb;
	cr_assert_null(ai_dwarf_find_locations(plain, sym->address, false, a, AI_MAX_LOCATIONS, &na));
	cr_assert_null(ai_dwarf_find_locations(other, sym->address, false, b, AI_MAX_LOCATIONS, &nb));
	cr_assert_geq(na, 1);
	cr_assert_eq(na, nb, "%s: %zu frames, plain %zu", layout, nb, na);
	cr_expect_str_eq(b[nb - 1].function, a[na - 1].function, "%s", layout);
	cr_expect_str_eq(b[nb - 1].file, a[na - 1].file, "%s", layout);
	cr_expect_eq(b[nb - 1].line, a[na - 1].line, "%s", layout);
}

/* The unit DIE of the unit whose code holds symbol. */
static uint64_t unit_of_symbol(struct ai_elf_file *elf, struct ai_dwarf *dw, const char *symbol)
{
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(elf, symbol);
	cr_assert_not_null(sym, "%s", symbol);
	struct ai_location loc[AI_MAX_LOCATIONS];
	size_t n;
	cr_assert_null(ai_dwarf_find_locations(dw, sym->address, false, loc, AI_MAX_LOCATIONS, &n));
	cr_assert_geq(n, 1);
	struct ai_dwarf_unit *unit = ai_dwarf_reader_unit_at(ai_dwarf_get_reader(dw),
							     loc[n - 1].die_offset);
	cr_assert_not_null(unit);
	return unit->first_die;
}

static bool first_type(const char *qualified_name, uint64_t die_offset, void *arg)
{
	*(const char **)arg = qualified_name;
	return false;
}

/* The type model reads the same coroutine type through `layout` as through the plain build. */
static void expect_same_types(struct ai_elf_file *elf, struct ai_dwarf *plain,
			      struct ai_dwarf *other, const char *layout)
{
	struct ai_types *a = ai_types_create(plain), *b = ai_types_create(other);
	const char *name = NULL;
	cr_assert_null(ai_types_for_each_name(a, unit_of_symbol(elf, plain, "nested::main"),
					      "nested::", first_type, &name));
	cr_assert_not_null(name, "no nested:: type in the plain build");
	const struct ai_type *ta, *tb;
	cr_assert_null(ai_types_find(a, unit_of_symbol(elf, plain, "nested::main"), name, &ta));
	struct ai_error *err = ai_types_find(b, unit_of_symbol(elf, other, "nested::main"), name,
					     &tb);
	cr_assert_null(err, "%s: %s", layout, err ? err->message : "");
	cr_expect_eq(tb->kind, ta->kind, "%s: %s", layout, name);
	cr_expect_eq(tb->size, ta->size, "%s: %s", layout, name);
	cr_expect_eq(tb->member_count, ta->member_count, "%s: %s", layout, name);
	cr_expect_eq(tb->variant_count, ta->variant_count, "%s: %s", layout, name);
	cr_expect_str_eq(ai_type_qualified_name(tb), ai_type_qualified_name(ta), "%s", layout);
	ai_types_destroy(b);
	ai_types_destroy(a);
}

Test(dwarf_layouts, compressed_sections_read_like_the_plain_build)
{
	char *plain_path = fixture("tokio-1.54", "nested");
	if (!plain_path)
		cr_skip_test("AI_FIXTURES not set or layouts not built");
	struct ai_elf_file *elf;
	struct ai_dwarf *plain;
	cr_assert_null(ai_elf_file_open(plain_path, &elf));
	cr_assert_null(ai_dwarf_open(plain_path, &plain));
	static const char *const layouts[] = { "zstd", "zlib", "zlib-gnu", "debuglink.debug" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(layouts); i++) {
		char *path = fixture("layouts/variants", layouts[i]);
		cr_assert_not_null(path, "%s not built", layouts[i]);
		struct ai_elf_file *file;
		cr_assert_null(ai_elf_file_open(path, &file));
		cr_expect(file->has_debug_info, "%s", layouts[i]);
		ai_elf_file_destroy(file);
		struct ai_dwarf *dw;
		struct ai_error *err = ai_dwarf_open(path, &dw);
		cr_assert_null(err, "%s: %s", layouts[i], err ? err->message : "");
		cr_expect(ai_dwarf_is_rust(dw));
		expect_same_location(elf, plain, dw, "nested::main", layouts[i]);
		expect_same_location(elf, plain, dw,
				     "tokio::runtime::scheduler::multi_thread::worker::run", layouts[i]);
		expect_same_types(elf, plain, dw, layouts[i]);
		ai_dwarf_destroy(dw);
		free(path);
	}
	ai_dwarf_destroy(plain);
	ai_elf_file_destroy(elf);
	free(plain_path);
}

Test(dwarf_layouts, debuglink_names_the_debug_file_and_its_crc)
{
	char *path = fixture("layouts/variants", "debuglink");
	char *debug = fixture("layouts/variants", "debuglink.debug");
	char *plain = fixture("tokio-1.54", "nested");
	if (!path || !debug || !plain)
		cr_skip_test("AI_FIXTURES not set or layouts not built");
	struct ai_elf_file *elf;
	cr_assert_null(ai_elf_file_open(path, &elf));
	cr_expect(!elf->has_debug_info);
	const char *name;
	uint32_t crc;
	cr_assert(ai_elf_file_debuglink(elf, &name, &crc));
	cr_expect_str_eq(name, "debuglink.debug");
	FILE *f = fopen(debug, "rb");
	cr_assert_not_null(f);
	uLong actual = crc32(0, Z_NULL, 0);
	unsigned char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		actual = crc32(actual, buf, (uInt)n);
	fclose(f);
	cr_expect_eq(crc, (uint32_t)actual);
	ai_elf_file_destroy(elf);
	cr_assert_null(ai_elf_file_open(plain, &elf));
	cr_expect(!ai_elf_file_debuglink(elf, &name, &crc), "the plain build has no debuglink");
	ai_elf_file_destroy(elf);
	free(plain);
	free(debug);
	free(path);
}

/* Split DWARF: the skeletons' units are read from the .dwo files or the .dwp (what a dump shows
 * from them is in tests/integration/test_debuginfo_layouts.c). */
Test(dwarf_layouts, split_dwarf_units_are_read)
{
	char *plain = fixture("tokio-1.54", "nested");
	char *unpacked = fixture("layouts/variants", "unpacked");
	char *packed = fixture("layouts/variants", "packed");
	char *unpacked5 = fixture("layouts/variants", "unpacked-dwarf5");
	char *packed5 = fixture("layouts/variants", "packed-dwarf5");
	if (!plain || !unpacked || !packed || !unpacked5 || !packed5)
		cr_skip_test("AI_FIXTURES not set or layouts not built");
	struct ai_dwarf *dw;
	struct ai_dwarf_stats stats;
	cr_assert_null(ai_dwarf_open(plain, &dw));
	ai_dwarf_get_stats(dw, &stats);
	cr_expect_eq(stats.split_units, 0);
	ai_dwarf_destroy(dw);
	const char *split[] = { unpacked, packed, unpacked5, packed5 };
	for (size_t i = 0; i < AI_ARRAY_SIZE(split); i++) {
		struct ai_error *err = ai_dwarf_open(split[i], &dw);
		cr_assert_null(err, "%s: %s", split[i], err ? err->message : "");
		ai_dwarf_get_stats(dw, &stats);
		cr_expect_gt(stats.split_units, 10, "%s", split[i]);
		cr_expect(ai_dwarf_is_rust(dw), "%s", split[i]);
		ai_dwarf_destroy(dw);
	}
	free(packed5);
	free(unpacked5);
	free(packed);
	free(unpacked);
	free(plain);
}

struct awaitee_lines {
	uint32_t lines[8];
	size_t count;
};

static bool awaitee_line(void *arg, const struct ai_dwarf_variable *var)
{
	struct awaitee_lines *a = arg;
	cr_expect_not_null(var->decl_file);
	cr_expect(var->has_deref_offset, "saved in the coroutine");
	if (a->count < AI_ARRAY_SIZE(a->lines))
		a->lines[a->count++] = var->decl_line;
	return true;
}

static bool first_function(void *arg, uint64_t die_offset)
{
	*(uint64_t *)arg = die_offset;
	return false;
}

/* The poll function of an async fn is found by its DWARF path from no unit in particular (the
 * units of the crate the path names), and the __awaitee of the .await a tokio::select! generated
 * is declared at the select!'s line in the program (every tokio build with shapes_zoo). */
Test(dwarf_rust, poll_function_and_its_awaitee_variables)
{
	static const char *const crates[] = { "tokio-1.19", "tokio-1.24", "tokio-1.38", "tokio-1.47", "tokio-1.54" };
	int line = marker_line("tokio/src/bin/shapes_zoo.rs", "@await: zoo-select-macro");
	for (size_t c = 0; c < AI_ARRAY_SIZE(crates); c++) {
		char *path = fixture(crates[c], "shapes_zoo");
		if (!path)
			cr_skip_test("AI_FIXTURES not set or %s/shapes_zoo not built", crates[c]);
		struct ai_dwarf *dw;
		cr_assert_null(ai_dwarf_open(path, &dw));
		uint64_t function = 0;
		cr_assert_null(ai_dwarf_find_functions(dw, UINT64_MAX, "shapes_zoo::zoo_select::{async_fn#0}",
						       first_function, &function));
		cr_assert_neq(function, 0, "%s", crates[c]);
		const char *name;
		cr_assert_null(ai_dwarf_qualified_name(dw, function, &name));
		cr_expect_str_eq(name, "shapes_zoo::zoo_select::{async_fn#0}");
		struct awaitee_lines a = { 0 };
		cr_assert_null(ai_dwarf_function_variables(dw, function, "__awaitee", awaitee_line, &a));
		cr_assert_eq(a.count, 1, "%s: %zu", crates[c], a.count);
		cr_expect_eq(a.lines[0], (uint32_t)line, "%s", crates[c]);
		function = 0;
		cr_assert_null(ai_dwarf_find_functions(dw, UINT64_MAX, "shapes_zoo::no_such_fn::{async_fn#0}",
						       first_function, &function));
		cr_expect_eq(function, 0);
		ai_dwarf_destroy(dw);
		free(path);
	}
}
