/* Fuzz harness: the value printer over garbage target memory, with the types of a real program.
 * Pointers that land in the input are followed; every other read fails, as an unmapped page of a
 * target does. The types are read once, from the DWARF of the program named below. */
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_info.h"
#include "ai/memory.h"
#include "ai/types.h"
#include "ai/util.h"
#include "ai/value.h"
#include "fuzz.h"

#define BASE 0x7f0000000000ULL
#define MAX_TYPES 8192
#define MAX_UNITS 32

static struct {
	bool tried;
	struct ai_dwarf *dwarf;
	struct ai_types *types;
	uint64_t offsets[MAX_TYPES];
	size_t count;
} model;

static struct {
	const uint8_t *bytes;
	size_t size;
} image;

static bool collect(const char *name, uint64_t die_offset, void *arg)
{
	model.offsets[model.count++] = die_offset;
	return model.count < MAX_TYPES;
}

static void free_model(void)
{
	ai_types_destroy(model.types);
	ai_dwarf_destroy(model.dwarf);
}

static void load_model(void)
{
	model.tried = true;
	const char *path = getenv("AI_FUZZ_BINARY");
	char *owned = NULL;
	if (!path && getenv("AI_FIXTURES"))
		path = owned = xasprintf("%s/tokio-1.54/debug/nested", getenv("AI_FIXTURES"));
	if (!path)
		return;
	struct ai_error *err = ai_dwarf_open(path, &model.dwarf);
	free(owned);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	model.types = ai_types_create(model.dwarf);
	atexit(free_model);
	size_t unit_count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(ai_dwarf_get_reader(model.dwarf), &unit_count);
	/* The program's own units come first in rustc's output; they hold its coroutines. */
	for (size_t i = 0; i < unit_count && i < MAX_UNITS && model.count < MAX_TYPES; i++)
		ai_error_destroy(ai_types_for_each_name(model.types, units[i].first_die, "", collect, NULL));
}

static struct ai_error *read_image(void *buf, uint64_t address, size_t count, void *arg)
{
	memcpy(buf, image.bytes + (address - BASE), count);
	return NULL;
}

int ai_fuzz_value(const uint8_t *data, size_t size)
{
	if (!model.tried)
		load_model();
	if (!model.count || size < 2)
		return 0;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(model.types, model.offsets[(data[0] | data[1] << 8) % model.count], &type);
	if (err) {
		ai_error_destroy(err);
		return 0;
	}
	image.bytes = data + 2;
	image.size = size - 2;
	struct ai_memory *mem = ai_memory_create();
	if (image.size)
		ai_memory_add_segment(mem, BASE, BASE + image.size, read_image, NULL);
	free(ai_value_format(mem, type, BASE, NULL));
	ai_memory_destroy(mem);
	return 0;
}
