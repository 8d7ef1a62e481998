/* Fuzz harness: the await-tree decoder over a fuzzed memory image, with the DWARF types and code of
 * a real program. The image is mapped at a fixed address, behind the same memory interface as a
 * live process (struct ai_memory): pointers into it are followed, the executable's own segments
 * (vtables, code) are read from its file, every other read fails as an unmapped page does. The
 * program is loaded once; each input decodes one of its coroutines from the fuzzed bytes. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/debuginfo.h"
#include "ai/memory.h"
#include "ai/snapshot.h"
#include "ai/target.h"
#include "ai/types.h"
#include "ai/util.h"
#include "fuzz.h"

#define BASE 0x7f0000000000ULL
#define MAX_TYPES 4096
#define MAX_UNITS 32

static struct {
	bool tried;
	struct ai_target target;
	struct ai_debuginfo *di;
	struct ai_async *as;
	const struct ai_type *coroutines[MAX_TYPES];
	size_t count;
} model;

static struct {
	const uint8_t *bytes;
	size_t size;
} image;

static bool collect(const char *name, uint64_t die_offset, void *arg)
{
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(model.as->types, die_offset, &type);
	if (err)
		ai_error_destroy(err);
	else if (ai_type_is_coroutine(type))
		model.coroutines[model.count++] = type;
	return model.count < MAX_TYPES;
}

static void free_model(void)
{
	ai_async_destroy(model.as);
	ai_debuginfo_destroy(model.di);
	ai_memory_destroy(model.target.memory);
	free(model.target.exe_path);
}

static struct ai_error *read_image(void *buf, uint64_t address, size_t count, void *arg)
{
	memcpy(buf, image.bytes + (address - BASE), count);
	return NULL;
}

/* The executable's loaded segments at their file addresses (the debug info's bias is 0 without
 * mappings), read from the file as a core's file-backed mappings are. */
static struct ai_error *read_exe(void *buf, uint64_t address, size_t count, void *arg)
{
	const GElf_Phdr *ph = arg;
	uint64_t off = address - ph->p_vaddr;
	const struct ai_elf_file *elf = ai_debuginfo_main_module(model.di)->elf;
	if (off + count > ph->p_filesz || pread(elf->fd, buf, count, (off_t)(ph->p_offset + off)) != (ssize_t)count)
		return ai_error_fault(address, "address 0x%" PRIx64 " is past the file", address);
	return NULL;
}

static void load_model(void)
{
	model.tried = true;
	const char *path = getenv("AI_FUZZ_AWAIT_BINARY");
	if (path)
		model.target.exe_path = xstrdup(path);
	else if (getenv("AI_FIXTURES"))
		model.target.exe_path = xasprintf("%s/tokio-1.54/debug/shapes_zoo", getenv("AI_FIXTURES"));
	else
		return;
	model.target.kind = AI_TARGET_CORE;
	model.target.memory = ai_memory_create();
	atexit(free_model);
	struct ai_error *err = ai_debuginfo_create(&model.target, &model.di);
	if (!err)
		err = ai_async_create(&model.target, model.di, NULL, &model.as);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	size_t unit_count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(ai_dwarf_get_reader(model.as->dwarf), &unit_count);
	/* The program's own units come first in rustc's output; they hold its coroutines. */
	for (size_t i = 0; i < unit_count && i < MAX_UNITS && model.count < MAX_TYPES; i++)
		ai_error_destroy(ai_types_for_each_name(model.as->types, units[i].first_die, "", collect, NULL));
}

/* The first two bytes pick the coroutine, the rest is the memory at BASE where it lies. */
int ai_fuzz_await(const uint8_t *data, size_t size)
{
	if (!model.tried)
		load_model();
	if (!model.count || size < 2)
		return 0;
	const struct ai_type *type = model.coroutines[(data[0] | data[1] << 8) % model.count];
	image.bytes = data + 2;
	image.size = size - 2;
	/* A segment of this input only: the executable's stay, the image's is added last (wins). */
	struct ai_memory *saved = model.target.memory;
	struct ai_memory *mem = ai_memory_create();
	const struct ai_elf_file *elf = ai_debuginfo_main_module(model.di)->elf;
	for (size_t i = 0; elf->fd >= 0 && i < elf->phnum; i++)
		if (elf->phdrs[i].p_type == PT_LOAD && elf->phdrs[i].p_filesz)
			ai_memory_add_segment(mem, elf->phdrs[i].p_vaddr, elf->phdrs[i].p_vaddr + elf->phdrs[i].p_filesz,
					      read_exe, &elf->phdrs[i]);
	if (image.size)
		ai_memory_add_segment(mem, BASE, BASE + image.size, read_image, NULL);
	model.target.memory = mem;
	struct ai_await_node node = { 0 };
	ai_await_decode(model.as, BASE, type, &node);
	ai_await_node_deinit(&node);
	model.target.memory = saved;
	ai_memory_destroy(mem);
	return 0;
}
