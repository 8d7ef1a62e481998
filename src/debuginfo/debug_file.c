/* Finding the separate debug file of an ELF file, where gdb and perf look for it:
 *
 *   1. by build-id: DIR/.build-id/xx/yyyy.debug for every --debug-dir DIR, then /usr/lib/debug
 *      (Debian's *-dbgsym packages, `objcopy --only-keep-debug` put there by hand);
 *   2. by .gnu_debuglink (name + CRC-32 of the debug file, from `objcopy --add-gnu-debuglink`):
 *      the file's own directory, its .debug/ subdirectory, then every DIR and DIR/<file's dir>
 *      for the --debug-dir DIRs and /usr/lib/debug;
 *   3. debuginfod, only when DEBUGINFOD_URLS is set and non-empty (as gdb and perf do), through
 *      libdebuginfod loaded with dlopen, so that async-inspect neither needs it nor contacts
 *      anything when the variable is unset.
 *
 * A candidate is used only if it matches: the same build-id when both files have one, and the
 * CRC-32 of the debuglink when found by name. Every path tried is recorded, for the message that
 * says where we looked when nothing was found. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ai/util.h"
#include "debuginfo_internal.h"

static const char system_debug_dir[] = "/usr/lib/debug";

/* The --debug-dir directories, in the order given (process-wide: set by the command line before
 * any target is opened, as gdb's `debug-file-directory`). */
static char **debug_dirs;
static size_t debug_dir_count, debug_dir_capacity;

void ai_debuginfo_add_debug_dir(const char *dir)
{
	AI_GROW(debug_dirs, debug_dir_capacity, debug_dir_count + 1);
	debug_dirs[debug_dir_count++] = xstrdup(dir);
}

const char *const *ai_debuginfo_debug_dirs(size_t *count_ret)
{
	*count_ret = debug_dir_count;
	return (const char *const *)debug_dirs;
}

void ai_debug_search_deinit(struct ai_debug_search *search)
{
	for (size_t i = 0; i < search->count; i++)
		free(search->tried[i]);
	free(search->tried);
	memset(search, 0, sizeof(*search));
}

void ai_debug_search_add(struct ai_debug_search *search, const char *path)
{
	if (!search)
		return;
	for (size_t i = 0; i < search->count; i++) {
		if (strcmp(search->tried[i], path) == 0)
			return;
	}
	AI_GROW(search->tried, search->capacity, search->count + 1);
	search->tried[search->count++] = xstrdup(path);
}

static bool same_inode(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* A debug file for elf must have DWARF or a symbol table, and the same build-id if both have one. */
static struct ai_elf_file *open_candidate(const struct ai_elf_file *elf, const char *path)
{
	if (access(path, R_OK) != 0 || same_inode(path, elf->path))
		return NULL;
	struct ai_elf_file *debug;
	struct ai_error *err = ai_elf_file_open(path, &debug);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	bool id_ok = !elf->build_id_len || !debug->build_id_len ||
		     (debug->build_id_len == elf->build_id_len &&
		      memcmp(debug->build_id, elf->build_id, elf->build_id_len) == 0);
	if (!id_ok || (!debug->has_debug_info && !debug->has_symtab)) {
		ai_elf_file_destroy(debug);
		return NULL;
	}
	return debug;
}

static struct ai_elf_file *try_build_id(const struct ai_elf_file *elf, const char *dir,
					struct ai_debug_search *search)
{
	char hex[2 * sizeof(elf->build_id) + 1];
	ai_elf_file_build_id_hex(elf, hex, sizeof(hex));
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", dir, hex, hex + 2);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	ai_debug_search_add(search, path);
	return open_candidate(elf, path);
}

/* CRC-32 (the zlib one, which is what .gnu_debuglink holds) of a whole file; false if unreadable. */
static bool file_crc32(const char *path, uint32_t *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	uLong crc = crc32(0, Z_NULL, 0);
	static unsigned char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crc = crc32(crc, buf, (uInt)n);
	close(fd);
	if (n < 0)
		return false;
	*ret = (uint32_t)crc;
	return true;
}

static struct ai_elf_file *try_debuglink(const struct ai_elf_file *elf, const char *path,
					 uint32_t crc, struct ai_debug_search *search)
{
	ai_debug_search_add(search, path);
	if (access(path, R_OK) != 0 || same_inode(path, elf->path))
		return NULL;
	uint32_t actual;
	if (!file_crc32(path, &actual) || actual != crc)
		return NULL;
	return open_candidate(elf, path);
}

/* The directory part of path ("." if none), made absolute where possible. */
static void directory_of(const char *path, char *buf, size_t size)
{
	char real[PATH_MAX];
	const char *p = realpath(path, real) ? real : path;
	const char *slash = strrchr(p, '/');
	if (!slash)
		snprintf(buf, size, ".");
	else if (slash == p)
		snprintf(buf, size, "/");
	else
		snprintf(buf, size, "%.*s", (int)(slash - p), p);
}

/* a + b + c into buf; false if it does not fit (such a path is not tried). */
static bool join3(char *buf, size_t size, const char *a, const char *b, const char *c)
{
	int n = snprintf(buf, size, "%s%s%s", a, b, c);
	return n >= 0 && (size_t)n < size;
}

static struct ai_elf_file *find_by_debuglink(const struct ai_elf_file *elf,
					     struct ai_debug_search *search)
{
	const char *name;
	uint32_t crc;
	if (!ai_elf_file_debuglink(elf, &name, &crc))
		return NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	directory_of(elf->path, dir, sizeof(dir));
	const char *root = strcmp(dir, "/") == 0 ? "" : dir;
	struct ai_elf_file *found;
	if (join3(path, sizeof(path), root, "/", name) &&
	    (found = try_debuglink(elf, path, crc, search)))
		return found;
	if (join3(path, sizeof(path), root, "/.debug/", name) &&
	    (found = try_debuglink(elf, path, crc, search)))
		return found;
	for (size_t i = 0; i <= debug_dir_count; i++) {
		const char *d = i < debug_dir_count ? debug_dirs[i] : system_debug_dir;
		char sub[PATH_MAX];
		if (join3(path, sizeof(path), d, "/", name) &&
		    (found = try_debuglink(elf, path, crc, search)))
			return found;
		if (join3(sub, sizeof(sub), d, root, "") && join3(path, sizeof(path), sub, "/", name) &&
		    (found = try_debuglink(elf, path, crc, search)))
			return found;
	}
	return NULL;
}

/* ---- debuginfod ---- */

typedef struct debuginfod_client debuginfod_client;
struct debuginfod_api {
	debuginfod_client *(*begin)(void);
	void (*end)(debuginfod_client *);
	int (*find_debuginfo)(debuginfod_client *, const unsigned char *, int, char **);
};

static bool load_debuginfod(struct debuginfod_api *api)
{
	void *lib = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return false;
	/* Kept loaded: libdebuginfod registers curl's global state, which must not be unloaded. */
	*(void **)&api->begin = dlsym(lib, "debuginfod_begin");
	*(void **)&api->end = dlsym(lib, "debuginfod_end");
	*(void **)&api->find_debuginfo = dlsym(lib, "debuginfod_find_debuginfo");
	return api->begin && api->end && api->find_debuginfo;
}

static struct ai_elf_file *find_by_debuginfod(const struct ai_elf_file *elf,
					      struct ai_debug_search *search)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	if (!urls || !*urls || !elf->build_id_len)
		return NULL;
	char hex[2 * sizeof(elf->build_id) + 1], what[PATH_MAX];
	ai_elf_file_build_id_hex(elf, hex, sizeof(hex));
	struct debuginfod_api api;
	if (!load_debuginfod(&api)) {
		snprintf(what, sizeof(what),
			 "debuginfod (DEBUGINFOD_URLS is set, but libdebuginfod.so.1 is not installed)");
		ai_debug_search_add(search, what);
		return NULL;
	}
	snprintf(what, sizeof(what), "debuginfod (%s) for build-id %s", urls, hex);
	ai_debug_search_add(search, what);
	debuginfod_client *client = api.begin();
	if (!client)
		return NULL;
	char *path = NULL;
	int fd = api.find_debuginfo(client, elf->build_id, (int)elf->build_id_len, &path);
	api.end(client);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	close(fd);
	struct ai_elf_file *found = path ? open_candidate(elf, path) : NULL;
	free(path);
	return found;
}

struct ai_elf_file *ai_find_debug_file(const struct ai_elf_file *elf, bool use_debuginfod,
				       struct ai_debug_search *search)
{
	struct ai_elf_file *found = NULL;
	if (elf->build_id_len >= 2) {
		for (size_t i = 0; i <= debug_dir_count && !found; i++)
			found = try_build_id(elf, i < debug_dir_count ? debug_dirs[i] : system_debug_dir,
					     search);
	}
	if (!found)
		found = find_by_debuglink(elf, search);
	if (!found && use_debuginfod)
		found = find_by_debuginfod(elf, search);
	return found;
}
