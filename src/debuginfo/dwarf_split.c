/* Split DWARF (`-C split-debuginfo=unpacked` or `=packed`, gcc's -gsplit-dwarf): the executable's
 * .debug_info holds skeleton units, each naming its .dwo file (DW_AT_GNU_dwo_name in DWARF 4,
 * DW_AT_dwo_name in DWARF 5, relative to DW_AT_comp_dir) and its dwo_id; the DIEs are in that .dwo,
 * or in one <exe>.dwp package whose .debug_cu_index finds a unit's contributions by dwo_id.
 *
 * There is one reader: the .dwo sections of every file read are appended after the executable's
 * own (.debug_info and .debug_abbrev into one buffer each, so that a DIE offset still names one
 * DIE of one reader), and each split unit takes its skeleton's place in the unit list with what
 * DWARF leaves in the skeleton: addr_base (into the executable's .debug_addr), the line table
 * (stmt_list, in the executable's .debug_line), the base address, comp_dir, DWARF 4's
 * DW_AT_GNU_ranges_base (into the executable's .debug_ranges) and the unit's address ranges.
 * Units of the executable that are not skeletons (std's, which comes built without split DWARF)
 * stay as they are. */
#include <dwarf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "debuginfo_internal.h"
#include "dwarf_reader_internal.h"

/* A skeleton has no children: its unit is its unit DIE only, a few dozen bytes. Units larger than
 * this are not read at open to see whether they are skeletons. */
#define MAX_SKELETON_SIZE 1024

enum part { P_INFO, P_ABBREV, P_STR, P_STR_OFFSETS, P_LOC, P_LOCLISTS, P_RNGLISTS, P_COUNT };

static const char *const part_names[P_COUNT] = {
	".debug_info.dwo", ".debug_abbrev.dwo", ".debug_str.dwo", ".debug_str_offsets.dwo",
	".debug_loc.dwo",  ".debug_loclists.dwo", ".debug_rnglists.dwo",
};

/* Section ids of a package's index (DW_SECT_*): version 2 is the GNU extension to DWARF 4. */
enum { SECT_INFO = 1, SECT_ABBREV = 3, SECT_LOC = 5, SECT_STR_OFFSETS = 6, SECT_RNGLISTS = 8 };

struct buf {
	uint8_t *data;
	size_t size, capacity;
};

static uint64_t buf_append(struct buf *b, const uint8_t *p, size_t n)
{
	uint64_t at = b->size;
	AI_GROW(b->data, b->capacity, b->size + n);
	memcpy(b->data + b->size, p, n);
	b->size += n;
	return at;
}

struct skeleton {
	struct ai_dwarf_unit unit; /* a copy: the executable's unit list is replaced */
	uint64_t ranges_from, ranges_to; /* its address ranges in the reader's split_ranges */
	bool found;
};

struct split {
	struct ai_dwarf_reader *r;
	struct buf parts[P_COUNT];
	struct ai_dwarf_unit *units; /* split units; offsets into parts[P_INFO] until merged */
	size_t count, capacity;
	char **files; /* the .dwo and .dwp files read (owned) */
	size_t file_count, file_capacity;
	struct split_range *ranges;
	size_t range_count, range_capacity;
};

static uint64_t rd_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A split unit of a file read: its offsets shifted to where the file's sections were appended
 * (base) plus its contributions in a package (contrib, zero for a .dwo). */
static void add_unit(struct split *s, struct ai_dwarf_unit u, const uint64_t base[P_COUNT],
		     const uint64_t contrib[P_COUNT])
{
	if (u.version >= 5 && u.unit_type != DW_UT_split_compile)
		return; /* type units: rustc does not make them, and we resolve no signatures */
	uint64_t info = base[P_INFO] + contrib[P_INFO];
	u.offset += info;
	u.end += info;
	u.first_die += info;
	u.abbrev_offset += base[P_ABBREV] + contrib[P_ABBREV];
	u.split = true;
	u.str_base = base[P_STR];
	u.ref_addr_base = info;
	/* DWARF 5 tables start with a header (8 or 16 bytes for string offsets, 12 or 20 for list
	 * offsets); a split unit has no *_base attributes: its bases are after its contribution's. */
	bool v5 = u.version >= 5, dwarf64 = u.offset_size == 8;
	u.str_offsets_base = base[P_STR_OFFSETS] + contrib[P_STR_OFFSETS] + (v5 ? (dwarf64 ? 16 : 8) : 0);
	if (v5) {
		u.loc_base = base[P_LOCLISTS] + contrib[P_LOCLISTS];
		u.loclists_base = u.loc_base + (dwarf64 ? 20 : 12);
		u.ranges_base = base[P_RNGLISTS] + contrib[P_RNGLISTS];
		u.rnglists_base = u.ranges_base + (dwarf64 ? 20 : 12);
	} else {
		u.loc_base = base[P_LOC] + contrib[P_LOC];
	}
	AI_GROW(s->units, s->capacity, s->count + 1);
	s->units[s->count++] = u;
}

/* A package's units, found through .debug_cu_index: each row gives the unit's dwo_id and its
 * contribution to every section. */
static struct ai_error *add_package_units(struct split *s, struct ai_dwarf_reader *f,
					  const uint8_t *info, size_t info_size,
					  const uint64_t base[P_COUNT])
{
	const uint8_t *d;
	size_t size;
	if (!ai_dwarf_reader_load_section(f, ".debug_cu_index", &d, &size) || size < 16)
		return ai_error_create(AI_ERROR_DWARF, "%s: a .dwp package without a .debug_cu_index",
				       f->path);
	/* Version 2 has a 4-byte version, version 5 a 2-byte one and 2 bytes of padding. */
	uint32_t version = (uint32_t)rd_le(d, 2), columns = (uint32_t)rd_le(d + 4, 4);
	uint32_t rows = (uint32_t)rd_le(d + 8, 4), slots = (uint32_t)rd_le(d + 12, 4);
	uint64_t need = 16 + (uint64_t)slots * 12 + (uint64_t)columns * 4 +
			(uint64_t)rows * columns * 8;
	if ((version != 2 && version != 5) || columns == 0 || columns > 16 || need > size)
		return ai_error_create(AI_ERROR_DWARF, "%s: unreadable .debug_cu_index (version %u)",
				       f->path, version);
	const uint8_t *hash = d + 16, *index = hash + (size_t)slots * 8;
	const uint8_t *ids = index + (size_t)slots * 4, *offsets = ids + (size_t)columns * 4;
	const uint8_t *sizes = offsets + (size_t)rows * columns * 4;
	for (uint32_t slot = 0; slot < slots; slot++) {
		uint32_t row = (uint32_t)rd_le(index + (size_t)slot * 4, 4);
		if (row == 0 || row > rows)
			continue;
		uint64_t contrib[P_COUNT] = { 0 }, unit_size = 0;
		bool has_info = false;
		for (uint32_t col = 0; col < columns; col++) {
			size_t at = ((size_t)(row - 1) * columns + col) * 4;
			uint64_t off = rd_le(offsets + at, 4);
			switch (rd_le(ids + (size_t)col * 4, 4)) {
			case SECT_INFO:
				contrib[P_INFO] = off;
				unit_size = rd_le(sizes + at, 4);
				has_info = true;
				break;
			case SECT_ABBREV:
				contrib[P_ABBREV] = off;
				break;
			case SECT_LOC: /* .debug_loc.dwo in version 2, .debug_loclists.dwo in 5 */
				contrib[version >= 5 ? P_LOCLISTS : P_LOC] = off;
				break;
			case SECT_STR_OFFSETS:
				contrib[P_STR_OFFSETS] = off;
				break;
			case SECT_RNGLISTS:
				if (version >= 5)
					contrib[P_RNGLISTS] = off;
				break;
			default:
				break;
			}
		}
		if (!has_info || contrib[P_INFO] > info_size || unit_size > info_size - contrib[P_INFO])
			continue;
		struct ai_dwarf_unit *units = NULL;
		size_t n = 0, capacity = 0;
		ai_dwarf_reader_parse_units(info + contrib[P_INFO], (size_t)unit_size, &units, &n,
					    &capacity);
		for (size_t i = 0; i < n; i++) {
			units[i].dwo_id = rd_le(hash + (size_t)slot * 8, 8);
			units[i].has_dwo_id = true;
			add_unit(s, units[i], base, contrib);
		}
		free(units);
	}
	return NULL;
}

/* Appends the .dwo sections of a .dwo file or a .dwp package, and its units. */
static struct ai_error *read_file(struct split *s, const char *path, bool package)
{
	struct ai_dwarf_reader *f;
	struct ai_error *err = ai_dwarf_reader_open_sections(path, &f);
	if (err)
		return err;
	const uint8_t *data[P_COUNT] = { 0 };
	size_t size[P_COUNT] = { 0 };
	uint64_t base[P_COUNT];
	for (int p = 0; p < P_COUNT; p++) {
		base[p] = s->parts[p].size;
		if (ai_dwarf_reader_load_section(f, part_names[p], &data[p], &size[p]))
			buf_append(&s->parts[p], data[p], size[p]);
	}
	AI_GROW(s->files, s->file_capacity, s->file_count + 1);
	s->files[s->file_count++] = xstrdup(path);
	if (!size[P_INFO] || !size[P_ABBREV]) {
		err = ai_error_create(AI_ERROR_NO_DEBUGINFO,
				      "%s has no split DWARF units (no .debug_info.dwo)", path);
	} else if (package) {
		err = add_package_units(s, f, data[P_INFO], size[P_INFO], base);
	} else {
		struct ai_dwarf_unit *units = NULL;
		size_t n = 0, capacity = 0;
		ai_dwarf_reader_parse_units(data[P_INFO], size[P_INFO], &units, &n, &capacity);
		uint64_t none[P_COUNT] = { 0 };
		for (size_t i = 0; i < n; i++)
			add_unit(s, units[i], base, none);
		free(units);
	}
	ai_dwarf_reader_destroy(f);
	return err;
}

static bool file_read(const struct split *s, const char *path)
{
	for (size_t i = 0; i < s->file_count; i++) {
		if (strcmp(s->files[i], path) == 0)
			return true;
	}
	return false;
}

static char *directory_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xasprintf("%.*s", (int)(slash - path), path);
}

static bool try_path(const char *path, struct ai_debug_search *tried)
{
	ai_debug_search_add(tried, path);
	return access(path, R_OK) == 0;
}

/* The executable's directory, then that of the file it is a symbolic link to. */
static size_t exe_dirs(const char *exe, char *dirs[2])
{
	size_t n = 0;
	dirs[n++] = directory_of(exe);
	char real[PATH_MAX];
	if (realpath(exe, real)) {
		char *d = directory_of(real);
		if (strcmp(d, dirs[0]) != 0)
			dirs[n++] = d;
		else
			free(d);
	}
	return n;
}

/* Where a skeleton's .dwo is: DW_AT_comp_dir + its dwo_name (the name alone when absolute), then
 * next to the executable, then in every --debug-dir. NULL if nowhere; every path tried is in
 * tried. */
static char *find_dwo(const char *exe, const struct ai_dwarf_unit *sk, struct ai_debug_search *tried)
{
	const char *name = sk->dwo_name;
	const char *slash = strrchr(name, '/'), *file = slash ? slash + 1 : name;
	char *path = name[0] == '/' || !sk->comp_dir ? xstrdup(name)
						      : xasprintf("%s/%s", sk->comp_dir, name);
	if (try_path(path, tried))
		return path;
	free(path);
	char *dirs[2];
	size_t n = exe_dirs(exe, dirs);
	char *found = NULL;
	for (size_t i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dirs[i], file);
		if (!found && try_path(path, tried))
			found = path;
		else
			free(path);
		free(dirs[i]);
	}
	size_t count;
	const char *const *debug_dirs = ai_debuginfo_debug_dirs(&count);
	for (size_t i = 0; i < count && !found; i++) {
		path = xasprintf("%s/%s", debug_dirs[i], file);
		if (try_path(path, tried))
			found = path;
		else
			free(path);
	}
	return found;
}

/* <exe>.dwp (or that of the file the executable links to), or NULL. */
static char *find_dwp(const char *exe)
{
	char *path = xasprintf("%s.dwp", exe);
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	char real[PATH_MAX];
	if (!realpath(exe, real))
		return NULL;
	path = xasprintf("%s.dwp", real);
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/* "<exe>: its split DWARF file NAME is missing (looked for A, B, ...); <how to fix>": one line. */
static struct ai_error *missing_dwo(const char *exe, const struct ai_dwarf_unit *sk,
				    const struct ai_debug_search *tried)
{
	size_t len = 1;
	for (size_t i = 0; i < tried->count; i++)
		len += strlen(tried->tried[i]) + 2;
	char *list = xcalloc(1, len);
	for (size_t i = 0; i < tried->count; i++) {
		if (i)
			strcat(list, ", ");
		strcat(list, tried->tried[i]);
	}
	const char *slash = strrchr(sk->dwo_name, '/');
	struct ai_error *err = ai_error_create(
		AI_ERROR_NO_DEBUGINFO,
		"%s uses split DWARF and its file %s is missing (looked for %s, and for %s.dwp); keep "
		"the .dwo files where the build left them (target/<profile>/deps) or next to the "
		"executable, give --debug-dir DIR for the directory that holds them, or build with "
		"split-debuginfo = \"off\"",
		exe, slash ? slash + 1 : sk->dwo_name, list, exe);
	free(list);
	return err;
}

static void skeleton_range(void *arg, uint64_t lo, uint64_t hi)
{
	struct split *s = arg;
	AI_GROW(s->ranges, s->range_capacity, s->range_count + 1);
	s->ranges[s->range_count++] = (struct split_range){ lo, hi, 0 };
}

/* The executable's skeletons (copies), with their address ranges read while the reader still
 * reads the executable's units. */
static size_t find_skeletons(struct split *s, struct skeleton **ret)
{
	struct ai_dwarf_reader *r = s->r;
	struct skeleton *sks = NULL;
	size_t count = 0, capacity = 0;
	for (size_t i = 0; i < r->unit_count; i++) {
		struct ai_dwarf_unit *u = &r->units[i];
		if (u->version >= 5 ? u->unit_type != DW_UT_skeleton
				    : u->end - u->first_die > MAX_SKELETON_SIZE)
			continue;
		struct ai_dwarf_die die;
		struct ai_error *err = ai_dwarf_unit_load(r, u);
		if (!err)
			err = ai_dwarf_read_die(r, u, u->first_die, &die);
		if (err || !u->dwo_name || !*u->dwo_name || !u->has_dwo_id) {
			ai_error_destroy(err); /* not a skeleton we can follow: a unit as any other */
			continue;
		}
		AI_GROW(sks, capacity, count + 1);
		struct skeleton *sk = &sks[count++];
		memset(sk, 0, sizeof(*sk));
		sk->unit = *u;
		sk->ranges_from = s->range_count;
		bool has;
		err = ai_dwarf_die_ranges(r, &die, skeleton_range, s, &has);
		ai_error_destroy(err); /* a skeleton without ranges still names its types */
		sk->ranges_to = s->range_count;
	}
	*ret = sks;
	return count;
}

static struct skeleton *skeleton_of(struct skeleton *sks, size_t count, uint64_t dwo_id)
{
	for (size_t i = 0; i < count; i++) {
		if (sks[i].unit.dwo_id == dwo_id)
			return &sks[i];
	}
	return NULL;
}

static int compare_units(const void *a, const void *b)
{
	const struct ai_dwarf_unit *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Replaces the reader's info, abbrev and unit list with the executable's followed by the split
 * units', and hands it the other .dwo sections. */
static void merge(struct split *s, const struct skeleton *sks, size_t sk_count)
{
	struct ai_dwarf_reader *r = s->r;
	struct buf info = { 0 }, abbrev = { 0 };
	buf_append(&info, r->info, r->info_size);
	buf_append(&info, s->parts[P_INFO].data, s->parts[P_INFO].size);
	buf_append(&abbrev, r->abbrev, r->abbrev_size);
	buf_append(&abbrev, s->parts[P_ABBREV].data, s->parts[P_ABBREV].size);
	uint64_t info_shift = r->info_size, abbrev_shift = r->abbrev_size;
	free(r->merged_info);
	free(r->merged_abbrev);
	r->merged_info = info.data;
	r->merged_abbrev = abbrev.data;
	r->info = info.data;
	r->info_size = info.size;
	r->abbrev = abbrev.data;
	r->abbrev_size = abbrev.size;

	struct ai_dwarf_unit *units = NULL;
	size_t count = 0, capacity = 0;
	for (size_t i = 0, k = 0; i < r->unit_count; i++) {
		if (k < sk_count && sks[k].unit.offset == r->units[i].offset) {
			k++;
			continue;
		}
		AI_GROW(units, capacity, count + 1);
		units[count++] = r->units[i];
	}
	/* a package's index lists its units in hash order; the reader finds them by offset */
	qsort(s->units, s->count, sizeof(*s->units), compare_units);
	for (size_t i = 0; i < s->count; i++) {
		struct ai_dwarf_unit u = s->units[i];
		u.offset += info_shift;
		u.end += info_shift;
		u.first_die += info_shift;
		u.ref_addr_base += info_shift;
		u.abbrev_offset += abbrev_shift;
		AI_GROW(units, capacity, count + 1);
		units[count++] = u;
	}
	free(r->units);
	r->units = units;
	r->unit_count = count;

	for (int p = P_STR; p < P_COUNT; p++) {
		struct buf *b = &s->parts[p];
		const uint8_t *data = NULL;
		size_t size = 0;
		if (b->size)
			ai_dwarf_reader_add_owned_section(r, part_names[p], b->data, b->size);
		else
			free(b->data);
		b->data = NULL;
		if (!ai_dwarf_reader_load_section(r, part_names[p], &data, &size))
			data = NULL, size = 0;
		if (p == P_STR) {
			r->dwo_str = data;
			r->dwo_str_size = size;
		} else if (p == P_STR_OFFSETS) {
			r->dwo_str_offsets = data;
			r->dwo_str_offsets_size = size;
		}
	}
}

/* Loads every split unit and gives it its skeleton's addresses, line table and directory; an
 * error for a skeleton whose unit is in none of the files read (a .dwo from another build). */
static struct ai_error *join_skeletons(struct split *s, struct skeleton *sks, size_t sk_count)
{
	struct ai_dwarf_reader *r = s->r;
	for (size_t i = 0; i < r->unit_count; i++) {
		struct ai_dwarf_unit *u = &r->units[i];
		if (!u->split)
			continue;
		ai_error_destroy(ai_dwarf_unit_load(r, u)); /* a bad unit fails again when read */
		struct skeleton *sk = u->has_dwo_id ? skeleton_of(sks, sk_count, u->dwo_id) : NULL;
		if (!sk || sk->found)
			continue;
		sk->found = true;
		u->addr_base = sk->unit.addr_base;
		u->base_address = sk->unit.base_address;
		u->stmt_list = sk->unit.stmt_list;
		u->has_stmt_list = sk->unit.has_stmt_list;
		if (sk->unit.comp_dir)
			u->comp_dir = sk->unit.comp_dir;
		if (!u->name)
			u->name = sk->unit.name;
		if (u->version < 5)
			u->ranges_base = sk->unit.ranges_base;
		for (uint64_t k = sk->ranges_from; k < sk->ranges_to; k++)
			s->ranges[k].unit_offset = u->offset;
	}
	for (size_t i = 0; i < sk_count; i++) {
		if (!sks[i].found)
			return ai_error_create(
				AI_ERROR_NO_DEBUGINFO,
				"%s uses split DWARF and its unit %s (dwo_id 0x%" PRIx64 ") is in "
				"none of the files read (%s%s): a .dwo or .dwp from another build; "
				"rebuild, or build with split-debuginfo = \"off\"",
				r->path, sks[i].unit.dwo_name, sks[i].unit.dwo_id,
				s->file_count ? s->files[0] : "none",
				s->file_count > 1 ? ", ..." : "");
	}
	r->split_ranges = s->ranges;
	r->split_range_count = s->range_count;
	s->ranges = NULL;
	return NULL;
}

static void split_deinit(struct split *s)
{
	for (int p = 0; p < P_COUNT; p++)
		free(s->parts[p].data);
	free(s->units);
	for (size_t i = 0; i < s->file_count; i++)
		free(s->files[i]);
	free(s->files);
	free(s->ranges);
}

struct ai_error *ai_dwarf_split_attach(struct ai_dwarf_reader *r)
{
	struct split s = { .r = r };
	struct skeleton *sks;
	size_t sk_count = find_skeletons(&s, &sks);
	struct ai_error *err = NULL;
	if (sk_count == 0)
		goto out;
	/* The package first: the .dwo files it was made from may be gone, or stale. */
	char *dwp = find_dwp(r->path);
	if (dwp) {
		err = read_file(&s, dwp, true);
		free(dwp);
		for (size_t i = 0; i < s.count && !err; i++) {
			struct skeleton *sk = skeleton_of(sks, sk_count, s.units[i].dwo_id);
			if (sk)
				sk->found = true;
		}
	}
	for (size_t i = 0; i < sk_count && !err; i++) {
		if (sks[i].found)
			continue;
		struct ai_debug_search tried = { 0 };
		char *path = find_dwo(r->path, &sks[i].unit, &tried);
		if (!path)
			err = missing_dwo(r->path, &sks[i].unit, &tried);
		else if (!file_read(&s, path))
			err = read_file(&s, path, false);
		free(path);
		ai_debug_search_deinit(&tried);
	}
	if (err)
		goto out;
	for (size_t i = 0; i < sk_count; i++)
		sks[i].found = false;
	merge(&s, sks, sk_count);
	err = join_skeletons(&s, sks, sk_count);
out:
	free(sks);
	split_deinit(&s);
	return err;
}
