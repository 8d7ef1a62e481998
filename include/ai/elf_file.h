/* One ELF file (libelf), from disk or from a memory image (the vdso): program headers, build-id,
 * the few sections we care about, and function symbols by address.
 *
 * Symbols come from .symtab, or .dynsym when there is no .symtab (a stripped shared library such as
 * libc). They are loaded on first use, sorted by address, and looked up by binary search honouring
 * st_size. Addresses here are file virtual addresses (st_value, p_vaddr): add a module's load bias
 * for runtime addresses. */
#ifndef AI_ELF_FILE_H
#define AI_ELF_FILE_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/error.h"

struct ai_elf_symbol {
	uint64_t address; /* st_value */
	uint64_t size;    /* st_size; 0 when unknown (then it extends to the next symbol) */
	const char *name; /* borrowed from the file's string table, as in the file (mangled) */
	char *demangled;  /* owned; filled lazily by ai_elf_symbol_name(); NULL until then */
	bool demangle_tried;
};

struct ai_elf_file {
	char *path;          /* owned; as given (or e.g. "[vdso]" for an image) */
	int fd;              /* -1 for memory images */
	void *image;         /* owned copy of a memory image; NULL for files */
	Elf *elf;
	GElf_Ehdr ehdr;
	GElf_Phdr *phdrs;    /* owned, ehdr.e_phnum entries (PT_LOAD and the rest) */
	size_t phnum;
	uint8_t build_id[64];
	size_t build_id_len; /* 0 if the file has no NT_GNU_BUILD_ID note */
	bool has_debug_info; /* a .debug_info (or .zdebug_info) section with contents */
	bool has_symtab;     /* .symtab */
	bool has_dynsym;     /* .dynsym */
	/* .eh_frame_hdr (from PT_GNU_EH_FRAME, else the section): the unwinder's binary-search table */
	bool has_eh_frame_hdr;
	uint64_t eh_frame_hdr_vaddr, eh_frame_hdr_size;
	/* Lowest and highest vaddr of PT_LOAD segments, and of the executable ones. */
	uint64_t load_start, load_end, text_start, text_end;
	/* symbols, loaded lazily */
	bool symbols_loaded;
	struct ai_elf_symbol *symbols; /* owned, sorted by address */
	size_t symbol_count;
};

/* Opens an ELF file. Errors: AI_ERROR_NOT_FOUND (no such file), AI_ERROR_PERMISSION, AI_ERROR_OS,
 * AI_ERROR_NOT_ELF ("<path> is not an ELF file", also for a truncated or corrupt one). */
struct ai_error *ai_elf_file_open(const char *path, struct ai_elf_file **ret);
/* Opens an ELF image held in memory; the image is copied. `name` is used in messages. */
struct ai_error *ai_elf_file_open_image(const char *name, const void *image, size_t size,
					struct ai_elf_file **ret);
void ai_elf_file_destroy(struct ai_elf_file *file);

/* The PT_LOAD segment that contains file offset `offset`, or NULL. */
const GElf_Phdr *ai_elf_file_segment_for_offset(const struct ai_elf_file *file, uint64_t offset);

/* Load bias of a mapping of this file: `start` is where the mapping begins in the target and
 * `offset` the file offset it maps (as in /proc/PID/maps). runtime address = vaddr + bias.
 * AI_ERROR_NOT_FOUND if no PT_LOAD segment covers that offset. */
struct ai_error *ai_elf_file_load_bias(const struct ai_elf_file *file, uint64_t start,
				       uint64_t offset, uint64_t *bias_ret);

/* Finds a section by name; false if absent. */
bool ai_elf_file_section(const struct ai_elf_file *file, const char *name, uint64_t *addr_ret,
			 uint64_t *size_ret);

/* The .gnu_debuglink of the file: the separate debug file's name (borrowed, no directory) and the
 * CRC-32 of its contents. False if there is none (or it is malformed). */
bool ai_elf_file_debuglink(const struct ai_elf_file *file, const char **name_ret,
			   uint32_t *crc_ret);

/* Copies `size` bytes at file vaddr `vaddr` from the file's PT_LOAD contents (not from a target).
 * AI_ERROR_FAULT if the range is not wholly in the file part of one segment. */
struct ai_error *ai_elf_file_read(const struct ai_elf_file *file, uint64_t vaddr, void *buf,
				  size_t size);

/* The function symbol containing vaddr, or NULL (loads the symbol table on first use). */
struct ai_elf_symbol *ai_elf_file_find_symbol(struct ai_elf_file *file, uint64_t vaddr);
/* The first symbol whose mangled or demangled name is exactly `name`, or NULL. Linear: meant for
 * tests and a few one-off look-ups (e.g. a TLS variable), not for hot paths. */
struct ai_elf_symbol *ai_elf_file_find_symbol_by_name(struct ai_elf_file *file, const char *name);
/* Calls fn for every defined symbol of the file's .symtab (and of .dynsym too if dynamic), in
 * table order, with its name as in the file (mangled), until fn returns false. Returns false
 * if fn stopped the walk. */
typedef bool ai_elf_symbol_fn(void *arg, const GElf_Sym *sym, const char *name);
bool ai_elf_file_each_symbol(const struct ai_elf_file *file, bool dynamic, ai_elf_symbol_fn *fn, void *arg);
/* The symbol's name for people: demangled Rust names (without hash), others as they are. Borrowed
 * from the file. */
const char *ai_elf_symbol_name(struct ai_elf_symbol *symbol);

/* Build-id as lowercase hex into buf (2 * build_id_len + 1 bytes); "" when there is none. */
void ai_elf_file_build_id_hex(const struct ai_elf_file *file, char *buf, size_t size);

#endif
