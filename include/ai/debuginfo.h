/* The debug info of a target: its modules (the executable, shared libraries, ld.so and the vdso,
 * each with its load bias), their ELF symbols and DWARF, and symbolization of addresses.
 *
 * Everything is lazy: a module's file is opened when a pc first lands in it, its DWARF when a pc
 * first needs a name, and only the compilation units those pcs are in are parsed (DESIGN.md 7b).
 * A file without DWARF (stripped, or split off with `objcopy --only-keep-debug`) gets it from a
 * separate debug file, looked for as gdb does (src/debuginfo/debug_file.c): by build-id under
 * DIR/.build-id/ for every --debug-dir DIR and /usr/lib/debug (e.g. libc6-dbg), by its
 * .gnu_debuglink name (next to it, in .debug/, in those directories), and for the executable
 * through debuginfod when DEBUGINFOD_URLS is set. A library without any is named from its ELF
 * symbols.
 *
 * Ownership: the ai_debuginfo borrows its target (which must outlive it) and owns its modules.
 * Every string and module pointer handed out (symbolizations, frames) is borrowed from the
 * ai_debuginfo and stays valid until ai_debuginfo_destroy(), even across ai_debuginfo_refresh(). */
#ifndef AI_DEBUGINFO_H
#define AI_DEBUGINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/dwarf_info.h"
#include "ai/elf_file.h"
#include "ai/error.h"
#include "ai/target.h"

struct ai_module {
	char *path;          /* owned: as mapped ("[vdso]" for the vdso) */
	uint64_t start, end; /* lowest and highest address of its mappings */
	uint64_t bias;       /* runtime address = file vaddr + bias; valid when `opened` and !error */
	bool is_main;        /* the target's executable */
	bool is_vdso;
	/* Private to the debuginfo module. */
	uint64_t first_start, first_end, first_offset; /* the mapping the bias is computed from */
	bool opened;
	char *error;                    /* owned: why the file could not be used, or NULL */
	struct ai_elf_file *elf;        /* owned: the mapped file (or vdso image) */
	struct ai_elf_file *debug_file; /* owned: separate debug file by build-id, or NULL */
	struct ai_elf_file *symbols;    /* borrowed: elf or debug_file, whichever has .symtab */
	bool dwarf_tried;
	struct ai_dwarf *dwarf;         /* owned; NULL if the module has no DWARF */
	bool unwind_tried;
	bool has_unwind_table;          /* .eh_frame_hdr with a binary-search table */
	uint64_t unwind_start, unwind_end, eh_frame_hdr, unwind_table;
	uint64_t fde_count;
};

struct ai_debuginfo;

/* Adds DIR to the directories searched for separate debug files (--debug-dir, repeatable; searched
 * in order, before /usr/lib/debug). Process-wide, like gdb's debug-file-directory: call it before
 * opening targets (the strings are copied and kept until exit). */
void ai_debuginfo_add_debug_dir(const char *dir);

/* Opens the debug info of a target, whose executable (target->exe_path) must have DWARF, in it or
 * in a separate debug file: AI_ERROR_NOT_FOUND / AI_ERROR_NOT_ELF for a missing or non-ELF file,
 * AI_ERROR_UNSUPPORTED for a non-x86-64 one or for split DWARF (skeleton units whose DWARF is in
 * .dwo files or a .dwp package), AI_ERROR_NO_DEBUGINFO ("<path> has no debug info ...; searched
 * <every path tried>; <how to fix it>") for one without any.
 * Modules come from target->maps, which may be empty until the target is stopped. */
struct ai_error *ai_debuginfo_create(struct ai_target *target, struct ai_debuginfo **ret);
void ai_debuginfo_destroy(struct ai_debuginfo *di);

/* Re-reads target->maps (call after each stop of a live target): adds modules for new mappings.
 * Modules are never dropped before destroy, so borrowed pointers stay valid. */
void ai_debuginfo_refresh(struct ai_debuginfo *di);

/* True if the executable's DWARF has a Rust compilation unit, or a module mapped so far has such
 * DWARF (a C host of a Rust library: a Python or Node extension, a plugin). The CLI says "<path>
 * is not a Rust program" otherwise; ai_debuginfo_check_rust() returns that error
 * (AI_ERROR_UNSUPPORTED). */
bool ai_debuginfo_is_rust(struct ai_debuginfo *di);
struct ai_error *ai_debuginfo_check_rust(struct ai_debuginfo *di);

/* The executable's module and DWARF (borrowed; never NULL after a successful create). */
struct ai_module *ai_debuginfo_main_module(struct ai_debuginfo *di);
struct ai_dwarf *ai_debuginfo_main_dwarf(struct ai_debuginfo *di);

/* The target's modules (the executable, its libraries, the vdso), in the order first mapped, the
 * one at index opened; NULL past the last. (To find which one holds a runtime: the library of an
 * extension or plugin host, src/runtime/runtime.c.) */
struct ai_module *ai_debuginfo_module_at(struct ai_debuginfo *di, size_t index);

/* The module a runtime address lies in, opened (NULL if none, e.g. anonymous memory or JIT code).
 * A module whose file could not be opened is returned with `error` set and no elf. */
struct ai_module *ai_debuginfo_find_module(struct ai_debuginfo *di, uint64_t address);
/* The module's DWARF, opened on first use; NULL if it has none. */
struct ai_dwarf *ai_module_dwarf(struct ai_module *module);

/* What a pc is. */
struct ai_symbolization {
	struct ai_module *module; /* NULL if pc is in no known module */
	const char *symbol;       /* ELF symbol containing pc (demangled), when DWARF did not name
				   * the function; NULL otherwise or if none */
	uint64_t symbol_offset;   /* pc - symbol start */
	/* Source frames, innermost first: inlined calls, then the function (see ai_location).
	 * Without DWARF but with a symbol: one location naming the symbol, no file. 0 if nothing
	 * is known. */
	size_t count;
	struct ai_location locations[AI_MAX_LOCATIONS];
};

/* Symbolizes a runtime pc. For a return address (the pc of any frame but the innermost, unless
 * the frame below is a signal frame) pass is_return_address: pc - 1 is looked up so that the
 * line is the call's. Unknown addresses are not errors: they give module NULL and count 0.
 * Unreadable DWARF degrades to the ELF symbol; an error is returned only for misuse. */
struct ai_error *ai_debuginfo_symbolize(struct ai_debuginfo *di, uint64_t pc,
					bool is_return_address, struct ai_symbolization *ret);

#endif
