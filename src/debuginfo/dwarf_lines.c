/* Line tables (.debug_line, DWARF 2 to 5) for the fast reader; see ai/dwarf_reader.h. */
#include <dwarf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "dwarf_reader_internal.h"

/* ---- line tables ---- */

struct lnct_format {
	uint64_t type, form;
};

static char *join_dir(const char *dir, const char *name)
{
	if (!name)
		return NULL;
	char *path;
	if (!dir || !*dir || name[0] == '/') {
		path = xstrdup(name);
	} else {
		size_t l = strlen(dir);
		path = xasprintf("%s%s%s", dir, dir[l - 1] == '/' ? "" : "/", name);
	}
	ai_normalize_path(path);
	return path;
}

/* dir made absolute against the unit's compilation directory. */
static char *absolute_dir(const struct ai_dwarf_unit *unit, const char *dir)
{
	if (!dir)
		return unit->comp_dir ? xstrdup(unit->comp_dir) : NULL;
	if (dir[0] == '/' || !unit->comp_dir)
		return xstrdup(dir);
	return join_dir(unit->comp_dir, dir);
}

/* DWARF 5 directory and file entries: a format description, then the entries. */
static bool read_v5_entries(struct ai_dwarf_reader *r, struct cursor *c,
			    const struct ai_dwarf_unit *unit, char ***names_ret, uint64_t **dirs_ret,
			    size_t *count_ret)
{
	uint8_t format_count = rd_u8(c);
	struct lnct_format formats[16];
	if (format_count > AI_ARRAY_SIZE(formats))
		return false;
	for (uint8_t i = 0; i < format_count; i++) {
		formats[i].type = rd_uleb(c);
		formats[i].form = rd_uleb(c);
	}
	uint64_t count = rd_uleb(c);
	if (c->bad || count > (uint64_t)(c->end - c->p))
		return false;
	char **names = xcalloc(AI_MAX(count, 1), sizeof(*names));
	uint64_t *dirs = xcalloc(AI_MAX(count, 1), sizeof(*dirs));
	for (uint64_t i = 0; i < count && !c->bad; i++) {
		for (uint8_t j = 0; j < format_count; j++) {
			struct ai_dwarf_attr a;
			if (!ai_dwarf_reader_read_form(r, c, (uint16_t)formats[j].form, 0, unit, &a, 0)) {
				c->bad = true;
				break;
			}
			if (formats[j].type == DW_LNCT_path && a.cls == AI_DWARF_CLASS_STRING)
				names[i] = (char *)a.str; /* borrowed for now */
			else if (formats[j].type == DW_LNCT_directory_index &&
				 a.cls == AI_DWARF_CLASS_CONSTANT)
				dirs[i] = a.u;
		}
	}
	*names_ret = names;
	*dirs_ret = dirs;
	*count_ret = (size_t)count;
	return !c->bad;
}

static int compare_sequences(const void *a, const void *b)
{
	const struct ai_dwarf_line_sequence *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

struct ai_error *ai_dwarf_read_line_table(struct ai_dwarf_reader *r,
					  const struct ai_dwarf_unit *unit,
					  struct ai_dwarf_line_table *ret)
{
	memset(ret, 0, sizeof(*ret));
	const uint8_t *data;
	size_t size;
	struct ai_error *err = ai_dwarf_unit_load(r, (struct ai_dwarf_unit *)unit);
	if (err)
		return err;
	if (!unit->has_stmt_list || !ai_dwarf_reader_load_section(r, ".debug_line", &data, &size) ||
	    unit->stmt_list >= size)
		return NULL;
	struct cursor c = { data + unit->stmt_list, data + size, false };
	uint8_t offset_size;
	uint64_t length = rd_initial_length(&c, &offset_size);
	if (c.bad || length > (uint64_t)(c.end - c.p))
		return ai_error_create(AI_ERROR_DWARF, "%s: corrupt line table at 0x%" PRIx64,
				       r->path, unit->stmt_list);
	const uint8_t *end = c.p + length;
	c.end = end;
	/* A pseudo-unit for decoding the header's forms with the line table's own sizes. */
	struct ai_dwarf_unit fu = *unit;
	fu.offset_size = offset_size;
	fu.version = (uint16_t)rd_uN(&c, 2);
	if (fu.version < 2 || fu.version > 5)
		return ai_error_create(AI_ERROR_DWARF, "%s: line table version %u not supported",
				       r->path, fu.version);
	if (fu.version >= 5) {
		fu.address_size = rd_u8(&c);
		rd_u8(&c); /* segment selector size */
	}
	uint64_t header_length = rd_uN(&c, offset_size);
	if (c.bad || header_length > (uint64_t)(c.end - c.p))
		return ai_error_create(AI_ERROR_DWARF, "%s: corrupt line table header", r->path);
	const uint8_t *program = c.p + header_length;
	uint8_t min_inst = rd_u8(&c);
	uint8_t max_ops = fu.version >= 4 ? rd_u8(&c) : 1;
	bool default_is_stmt = rd_u8(&c) != 0;
	(void)default_is_stmt;
	int8_t line_base = (int8_t)rd_u8(&c);
	uint8_t line_range = rd_u8(&c);
	uint8_t opcode_base = rd_u8(&c);
	uint8_t std_lengths[256] = { 0 };
	for (int i = 1; i < opcode_base; i++)
		std_lengths[i] = rd_u8(&c);
	if (c.bad || line_range == 0 || max_ops == 0)
		return ai_error_create(AI_ERROR_DWARF, "%s: corrupt line table header", r->path);

	char **dir_names = NULL, **file_names = NULL;
	uint64_t *dir_dirs = NULL, *file_dirs = NULL;
	size_t dir_count = 0, file_count = 0;
	if (fu.version >= 5) {
		if (!read_v5_entries(r, &c, &fu, &dir_names, &dir_dirs, &dir_count) ||
		    !read_v5_entries(r, &c, &fu, &file_names, &file_dirs, &file_count)) {
			free(dir_names);
			free(dir_dirs);
			free(file_names);
			free(file_dirs);
			return ai_error_create(AI_ERROR_DWARF, "%s: corrupt line table file list",
					       r->path);
		}
		free(dir_dirs);
		dir_dirs = NULL;
	} else {
		/* dirs[0] is the compilation directory; files[0] stands for the unit itself. */
		size_t capacity = 0;
		AI_GROW(dir_names, capacity, 1);
		dir_names[dir_count++] = NULL;
		for (;;) {
			const char *d = rd_cstr(&c);
			if (!d || !*d)
				break;
			AI_GROW(dir_names, capacity, dir_count + 1);
			dir_names[dir_count++] = (char *)d;
		}
		size_t names_capacity = 0, dirs_capacity = 0;
		AI_GROW(file_names, names_capacity, 1);
		AI_GROW(file_dirs, dirs_capacity, 1);
		file_names[file_count] = (char *)unit->name;
		file_dirs[file_count++] = 0;
		for (;;) {
			const char *f = rd_cstr(&c);
			if (!f || !*f)
				break;
			uint64_t dir = rd_uleb(&c);
			rd_uleb(&c); /* mtime */
			rd_uleb(&c); /* length */
			AI_GROW(file_names, names_capacity, file_count + 1);
			AI_GROW(file_dirs, dirs_capacity, file_count + 1);
			file_names[file_count] = (char *)f;
			file_dirs[file_count++] = dir;
		}
	}
	/* Full paths, owned. */
	ret->file_count = file_count;
	ret->files = xcalloc(AI_MAX(file_count, 1), sizeof(*ret->files));
	for (size_t i = 0; i < file_count; i++) {
		if (!file_names[i])
			continue;
		const char *dir = file_dirs[i] < dir_count ? dir_names[file_dirs[i]] : NULL;
		char *abs_dir = absolute_dir(unit, dir);
		ret->files[i] = join_dir(abs_dir, file_names[i]);
		free(abs_dir);
	}
	free(dir_names);
	free(file_names);
	free(file_dirs);

	/* The line-number program. */
	c.p = program;
	size_t row_capacity = 0, seq_capacity = 0;
	uint64_t address = 0;
	uint32_t file = 1, line = 1, column = 0;
	size_t seq_first = 0;
	bool in_sequence = false;
#define EMIT()                                                                             \
	do {                                                                               \
		AI_GROW(ret->rows, row_capacity, ret->row_count + 1);                      \
		ret->rows[ret->row_count++] = (struct ai_dwarf_line_row){ address, line, column, \
									 file };             \
		if (!in_sequence) {                                                        \
			in_sequence = true;                                                \
			seq_first = ret->row_count - 1;                                    \
		}                                                                          \
	} while (0)
	while (!c.bad && c.p < c.end) {
		uint8_t op = rd_u8(&c);
		if (op >= opcode_base) {
			uint8_t adjusted = (uint8_t)(op - opcode_base);
			address += (uint64_t)min_inst * (adjusted / line_range);
			line += (uint32_t)(line_base + adjusted % line_range);
			EMIT();
		} else if (op == 0) {
			uint64_t len = rd_uleb(&c);
			if (c.bad || len == 0 || len > (uint64_t)(c.end - c.p))
				break;
			const uint8_t *next = c.p + len;
			uint8_t sub = rd_u8(&c);
			if (sub == DW_LNE_end_sequence) {
				if (in_sequence && ret->row_count > seq_first) {
					AI_GROW(ret->sequences, seq_capacity, ret->sequence_count + 1);
					struct ai_dwarf_line_sequence *s =
						&ret->sequences[ret->sequence_count++];
					s->lo = ret->rows[seq_first].address;
					s->hi = address;
					s->first = seq_first;
					s->count = ret->row_count - seq_first;
				}
				in_sequence = false;
				address = 0;
				file = 1;
				line = 1;
				column = 0;
			} else if (sub == DW_LNE_set_address) {
				address = rd_uN(&c, (size_t)AI_MIN(len - 1, 8));
			}
			/* define_file (DWARF 2-4) is obsolete and unused by rustc, gcc and clang:
			 * skipped like any other extended opcode. */
			c.p = next;
		} else {
			switch (op) {
			case DW_LNS_copy:
				EMIT();
				break;
			case DW_LNS_advance_pc:
				address += (uint64_t)min_inst * rd_uleb(&c);
				break;
			case DW_LNS_advance_line:
				line = (uint32_t)((int64_t)line + rd_sleb(&c));
				break;
			case DW_LNS_set_file:
				file = (uint32_t)rd_uleb(&c);
				break;
			case DW_LNS_set_column:
				column = (uint32_t)rd_uleb(&c);
				break;
			case DW_LNS_const_add_pc:
				address += (uint64_t)min_inst * ((255 - opcode_base) / line_range);
				break;
			case DW_LNS_fixed_advance_pc:
				address += rd_uN(&c, 2);
				break;
			case DW_LNS_set_isa:
				rd_uleb(&c);
				break;
			case DW_LNS_negate_stmt:
			case DW_LNS_set_basic_block:
			case DW_LNS_set_prologue_end:
			case DW_LNS_set_epilogue_begin:
				break;
			default:
				for (int i = 0; i < std_lengths[op]; i++)
					rd_uleb(&c);
			}
		}
	}
#undef EMIT
	/* Rows of an unterminated sequence are dropped: their extent is unknown. */
	ret->row_count = ret->sequence_count
				 ? ret->sequences[ret->sequence_count - 1].first +
					   ret->sequences[ret->sequence_count - 1].count
				 : 0;
	if (ret->sequence_count > 1)
		qsort(ret->sequences, ret->sequence_count, sizeof(*ret->sequences), compare_sequences);
	return NULL;
}

void ai_dwarf_line_table_deinit(struct ai_dwarf_line_table *table)
{
	for (size_t i = 0; i < table->file_count; i++)
		free(table->files[i]);
	free(table->files);
	free(table->rows);
	free(table->sequences);
	memset(table, 0, sizeof(*table));
}

const struct ai_dwarf_line_row *ai_dwarf_line_table_find(const struct ai_dwarf_line_table *table,
							 uint64_t pc)
{
	size_t lo = 0, hi = table->sequence_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (table->sequences[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Sequences do not overlap in sane output; look back a little anyway. */
	for (size_t i = lo, n = 0; i > 0 && n < 4; i--, n++) {
		const struct ai_dwarf_line_sequence *s = &table->sequences[i - 1];
		if (pc < s->lo || pc >= s->hi)
			continue;
		const struct ai_dwarf_line_row *rows = table->rows + s->first;
		size_t a = 0, b = s->count;
		while (a < b) {
			size_t mid = a + (b - a) / 2;
			if (rows[mid].address <= pc)
				a = mid + 1;
			else
				b = mid;
		}
		return a ? &rows[a - 1] : NULL;
	}
	return NULL;
}
