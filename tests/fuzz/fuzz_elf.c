/* Fuzz harness: the ELF reader and both DWARF paths (our DIE and line-table reader, the location
 * look-up through it) over one file made of the input. Budgets keep one input short: DIEs per
 * unit and units are capped, as a corrupt file may claim millions. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/elf_file.h"
#include "ai/util.h"
#include "fuzz.h"

#define MAX_UNITS 64
#define MAX_DIES 20000

static void elf_part(const uint8_t *data, size_t size)
{
	struct ai_elf_file *elf;
	struct ai_error *err = ai_elf_file_open_image("fuzz", data, size, &elf);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	char hex[2 * sizeof(elf->build_id) + 1];
	ai_elf_file_build_id_hex(elf, hex, sizeof(hex));
	const char *link;
	uint32_t crc;
	ai_elf_file_debuglink(elf, &link, &crc);
	uint64_t addr, len, bias;
	ai_elf_file_section(elf, ".eh_frame_hdr", &addr, &len);
	ai_error_destroy(ai_elf_file_load_bias(elf, 0x400000, 0, &bias));
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol(elf, elf->text_start);
	if (sym)
		ai_elf_symbol_name(sym);
	for (size_t i = 0; i < elf->symbol_count && i < 256; i++)
		ai_elf_symbol_name(&elf->symbols[i]);
	uint8_t buf[64];
	ai_error_destroy(ai_elf_file_read(elf, elf->load_start, buf, sizeof(buf)));
	ai_elf_file_destroy(elf);
}

static void count_range(void *arg, uint64_t lo, uint64_t hi)
{
	*(uint64_t *)arg += hi - lo;
}

/* Every DIE of a unit and its attributes, in order, as the lazy index walks them. */
static void walk_unit(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit)
{
	struct ai_error *load_err = ai_dwarf_unit_load(r, unit);
	if (load_err) {
		ai_error_destroy(load_err);
		return;
	}
	uint64_t offset = unit->first_die;
	for (size_t n = 0; n < MAX_DIES && offset < unit->end; n++) {
		struct ai_dwarf_die die;
		struct ai_error *err = ai_dwarf_read_die(r, unit, offset, &die);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		if (!die.abbrev) {
			offset++;
			continue;
		}
		struct ai_dwarf_attr attrs[32];
		size_t count;
		uint64_t end;
		err = ai_dwarf_die_attrs(r, &die, attrs, 32, &count, &end);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		uint64_t covered = 0;
		bool has_ranges;
		ai_error_destroy(ai_dwarf_die_ranges(r, &die, count_range, &covered, &has_ranges));
		if (end <= offset)
			return;
		offset = end;
	}
	struct ai_dwarf_line_table table;
	struct ai_error *err = ai_dwarf_read_line_table(r, unit, &table);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	for (size_t i = 0; i < table.sequence_count && i < 16; i++)
		ai_dwarf_line_table_find(&table, table.sequences[i].lo);
	ai_dwarf_line_table_deinit(&table);
}

static void dwarf_part(const char *path)
{
	struct ai_dwarf *dw;
	struct ai_error *err = ai_dwarf_open(path, &dw);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	ai_dwarf_is_rust(dw);
	struct ai_dwarf_reader *r = ai_dwarf_get_reader(dw);
	size_t unit_count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(r, &unit_count);
	for (size_t i = 0; i < unit_count && i < MAX_UNITS; i++)
		walk_unit(r, &units[i]);
	/* The look-up a stack frame makes: aranges, then the unit's index, inlined chains, lines. */
	uint64_t pcs[] = { 0x1000, 0x401000, 0x12345 };
	for (size_t i = 0; i < AI_ARRAY_SIZE(pcs); i++) {
		struct ai_location locations[AI_MAX_LOCATIONS];
		size_t count;
		ai_error_destroy(ai_dwarf_find_locations(dw, pcs[i], i == 1, locations, AI_MAX_LOCATIONS, &count));
	}
	ai_dwarf_destroy(dw);
}

int ai_fuzz_elf(const uint8_t *data, size_t size)
{
	elf_part(data, size);
	/* The DWARF readers open files: give them one in memory. */
	int fd = memfd_create("ai-fuzz-elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		dwarf_part(path);
	}
	close(fd);
	return 0;
}
