/* The program's own source files versus its dependencies', from the unit DIEs; see
 * ai/user_code.h for the rule. */
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/user_code.h"
#include "ai/util.h"

struct root {
	char *dir;        /* normalized, no trailing '/' (except "/") */
	bool dependency;
};

struct ai_user_code {
	struct root *roots;
	size_t root_count, root_capacity;
	bool *crate_seen; /* parallel to user_crates */
};

/* --user-crate names, normalized to '_', and as given (process-wide; kept until exit). */
static char **user_crates, **user_crate_args;
static size_t user_crate_count, user_crate_capacity, user_crate_arg_capacity;

void ai_user_code_add_crate(const char *name)
{
	char *copy = xstrdup(name);
	for (char *p = copy; *p; p++)
		if (*p == '-')
			*p = '_';
	AI_GROW(user_crates, user_crate_capacity, user_crate_count + 1);
	AI_GROW(user_crate_args, user_crate_arg_capacity, user_crate_count + 1);
	user_crate_args[user_crate_count] = xstrdup(name);
	user_crates[user_crate_count++] = copy;
}

/* The crate of a unit named "<source>/@/<crate>.<hash>-cgu.<n>" (rustc's unit names), as a
 * borrowed span of name; false for a unit named otherwise. */
static bool unit_crate(const char *name, const char **crate_ret, size_t *len_ret)
{
	const char *at = name ? strstr(name, "/@/") : NULL;
	if (!at)
		return false;
	const char *crate = at + 3;
	*crate_ret = crate;
	*len_ret = strcspn(crate, ".");
	return *len_ret > 0;
}

static int user_crate_index(const char *crate, size_t len)
{
	for (size_t i = 0; i < user_crate_count; i++)
		if (strlen(user_crates[i]) == len && strncmp(user_crates[i], crate, len) == 0)
			return (int)i;
	return -1;
}

static void add_root(struct ai_user_code *uc, const char *comp_dir, bool dependency)
{
	char *dir = xstrdup(comp_dir);
	ai_normalize_path(dir);
	size_t len = strlen(dir);
	if (len > 1 && dir[len - 1] == '/')
		dir[len - 1] = '\0';
	for (size_t i = 0; i < uc->root_count; i++) {
		if (strcmp(uc->roots[i].dir, dir) == 0) {
			/* A directory that is some unit's own root stays the program's. */
			uc->roots[i].dependency &= dependency;
			free(dir);
			return;
		}
	}
	AI_GROW(uc->roots, uc->root_capacity, uc->root_count + 1);
	uc->roots[uc->root_count++] = (struct root){ dir, dependency };
}

struct ai_user_code *ai_user_code_create(struct ai_dwarf *dw)
{
	struct ai_user_code *uc = xcalloc(1, sizeof(*uc));
	uc->crate_seen = xcalloc(user_crate_count ? user_crate_count : 1, sizeof(*uc->crate_seen));
	struct ai_dwarf_reader *reader = dw ? ai_dwarf_get_reader(dw) : NULL;
	size_t count = 0;
	struct ai_dwarf_unit *units = reader ? ai_dwarf_reader_units(reader, &count) : NULL;
	for (size_t i = 0; i < count; i++) {
		struct ai_error *err = ai_dwarf_unit_load(reader, &units[i]);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		const char *name = units[i].name, *comp_dir = units[i].comp_dir;
		if (!name || !comp_dir || comp_dir[0] != '/')
			continue;
		bool dependency = name[0] == '/';
		const char *crate;
		size_t len;
		if (unit_crate(name, &crate, &len)) {
			int k = user_crate_index(crate, len);
			if (k >= 0) {
				uc->crate_seen[k] = true;
				dependency = false;
			}
		}
		add_root(uc, comp_dir, dependency);
	}
	return uc;
}

void ai_user_code_destroy(struct ai_user_code *uc)
{
	if (!uc)
		return;
	for (size_t i = 0; i < uc->root_count; i++)
		free(uc->roots[i].dir);
	free(uc->roots);
	free(uc->crate_seen);
	free(uc);
}

static bool under(const char *path, const char *dir, size_t len)
{
	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

bool ai_user_code_is_dependency(const struct ai_user_code *uc, const char *path)
{
	if (!uc || !path || path[0] != '/')
		return false; /* a relative path is one rustc was given from the workspace */
	const struct root *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < uc->root_count; i++) {
		size_t len = strlen(uc->roots[i].dir);
		if ((!best || len > best_len) && under(path, uc->roots[i].dir, len)) {
			best = &uc->roots[i];
			best_len = len;
		}
	}
	return best && best->dependency;
}

const char *ai_user_code_unknown_crate(const struct ai_user_code *uc, size_t index)
{
	for (size_t i = 0; uc && i < user_crate_count; i++)
		if (!uc->crate_seen[i] && index-- == 0)
			return user_crate_args[i];
	return NULL;
}
