/* Where a module's thread-locals are on a thread (x86-64, glibc's TLS "variant II"), for the
 * adapters that read a runtime's thread-local (tokio's CONTEXT):
 *
 * - The executable's block lies right below the thread pointer (fs_base), at an offset its
 *   PT_TLS segment gives (ai_runtime_tls_block_offset).
 * - Any other module (a library linked with DT_NEEDED, whose block is in the static TLS area, or
 *   one dlopen()ed, whose block is allocated on the thread's first use) is found through the
 *   thread's DTV: glibc's tcbhead_t starts { tcb, dtv, self, ... }, so the DTV pointer is the word
 *   at fs_base + 8; it points at entry 0 (the generation) of an array of 16-byte dtv_t, preceded
 *   by the array's length, and entry N's first word is the block of the module with TLS module
 *   id N, or -1 (TLS_DTV_UNALLOCATED) until the thread touches it. The module id is the one the
 *   dynamic linker wrote into the module's GOT for its R_X86_64_DTPMOD64 relocations (the
 *   general- and local-dynamic TLS models every PIC shared library uses by default; ELF TLS ABI,
 *   Drepper, "ELF Handling For Thread-Local Storage", 4.3.4). A module whose code uses only TLS
 *   descriptors (-mtls-dialect=gnu2) has none: its thread-locals are not found, and the adapters
 *   fall back to what stack frames hold. */
#include <gelf.h>
#include <inttypes.h>
#include <string.h>

#include "ai/debuginfo.h"
#include "ai/elf_file.h"
#include "ai/memory.h"
#include "ai/runtime.h"
#include "ai/util.h"

#define TLS_DTV_UNALLOCATED UINT64_MAX
#define DTV_ENTRY_SIZE 16u
#define TCB_DTV_OFFSET 8u
#define MAX_MODULE_ID 65536u /* far beyond any process's count of modules with TLS */

/* The GOT slot of one of the module's own R_X86_64_DTPMOD64 relocations (symbol 0: the module
 * itself; or a symbol it defines), as a file vaddr; 0 if none. */
static uint64_t dtpmod_slot(const struct ai_elf_file *file)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA || !shdr.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		Elf_Data *symbols = NULL;
		Elf_Scn *symscn = shdr.sh_link ? elf_getscn(file->elf, shdr.sh_link) : NULL;
		if (symscn)
			symbols = elf_getdata(symscn, NULL);
		size_t count = data ? shdr.sh_size / shdr.sh_entsize : 0;
		for (size_t i = 0; i < count; i++) {
			GElf_Rela rela;
			if (!gelf_getrela(data, (int)i, &rela) ||
			    GELF_R_TYPE(rela.r_info) != R_X86_64_DTPMOD64)
				continue;
			size_t index = GELF_R_SYM(rela.r_info);
			GElf_Sym sym;
			if (index == 0 || (symbols && gelf_getsym(symbols, (int)index, &sym) &&
					   sym.st_shndx != SHN_UNDEF))
				return rela.r_offset;
		}
	}
	return 0;
}

struct ai_error *ai_tls_module_init(struct ai_memory *mem, struct ai_module *module,
				    struct ai_tls_module *ret)
{
	*ret = (struct ai_tls_module){ 0 };
	if (!module->elf)
		return ai_error_create(AI_ERROR_NOT_FOUND, "%s could not be opened", module->path);
	if (module->is_main) {
		if (!ai_runtime_tls_block_offset(module->elf, &ret->block_offset))
			return ai_error_create(AI_ERROR_NOT_FOUND, "%s has no PT_TLS segment",
					       module->path);
		ret->is_main = true;
		return NULL;
	}
	uint64_t slot = dtpmod_slot(module->elf);
	if (!slot)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no R_X86_64_DTPMOD64 "
				       "relocation that says its TLS module id", module->path);
	uint64_t id;
	struct ai_error *err = ai_memory_read(mem, &id, slot + module->bias, sizeof(id));
	if (err)
		return err;
	if (id == 0 || id > MAX_MODULE_ID)
		return ai_error_create(AI_ERROR_OTHER, "%s's TLS module id reads %" PRIu64,
				       module->path, id);
	ret->module_id = id;
	return NULL;
}

bool ai_tls_address(struct ai_memory *mem, const struct ai_tls_module *tls, uint64_t fs_base,
		    uint64_t st_value, uint64_t *ret)
{
	if (!fs_base)
		return false;
	if (tls->is_main) {
		if (fs_base < tls->block_offset)
			return false;
		*ret = fs_base - tls->block_offset + st_value;
		return true;
	}
	uint64_t dtv, length, block;
	struct ai_error *err = ai_memory_read(mem, &dtv, fs_base + TCB_DTV_OFFSET, sizeof(dtv));
	if (!err && (dtv < DTV_ENTRY_SIZE || (dtv & 7)))
		return false;
	if (!err)
		err = ai_memory_read(mem, &length, dtv - DTV_ENTRY_SIZE, sizeof(length));
	/* A thread whose DTV predates the module's dlopen() and never used it: no block. */
	if (!err && tls->module_id > length)
		return false;
	if (!err)
		err = ai_memory_read(mem, &block, dtv + tls->module_id * DTV_ENTRY_SIZE, sizeof(block));
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (block == TLS_DTV_UNALLOCATED || block == 0)
		return false;
	*ret = block + st_value;
	return true;
}
