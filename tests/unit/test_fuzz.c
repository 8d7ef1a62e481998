/* The fuzz harnesses (tests/fuzz) over their seeds and every input that once crashed one
 * (tests/fuzz/regressions/<harness>/): under the sanitizers of `make check`, a decoder that
 * crashes, leaks or misbehaves on one of them fails here. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"
#include "../fuzz/fuzz.h"

typedef int harness_fn(const uint8_t *data, size_t size);

/* Runs fn over every file of $AI_SOURCE/tests/fuzz/<kind>/<name>/; how many. */
static size_t run_dir(const char *kind, const char *name, harness_fn *fn)
{
	const char *source = getenv("AI_SOURCE");
	char *dir = xasprintf("%s/tests/fuzz/%s/%s", source ? source : ".", kind, name);
	DIR *d = opendir(dir);
	size_t count = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		size_t size;
		char *data = ai_read_small_file(path, &size);
		cr_assert_not_null(data, "cannot read %s", path);
		cr_log_info("%s: %s", name, path);
		fn((const uint8_t *)data, size);
		free(data);
		free(path);
		count++;
	}
	if (d)
		closedir(d);
	free(dir);
	return count;
}

static void run_all(const char *name, harness_fn *fn)
{
	run_dir("seeds", name, fn);
	run_dir("regressions", name, fn);
	/* Inputs no seed has: empty, one byte, all ones. */
	uint8_t ones[512];
	memset(ones, 0xff, sizeof(ones));
	fn(ones, 0);
	fn(ones, 1);
	fn(ones, sizeof(ones));
}

Test(fuzz, json_seeds_and_regressions)
{
	run_all("json", ai_fuzz_json);
}

/* The ELF seeds are fixtures (a real C and a real Rust binary: too big to commit), whole and cut
 * short at a few places. */
Test(fuzz, elf_seeds_and_regressions)
{
	const char *fixtures = getenv("AI_FIXTURES");
	const char *bins[] = { "c/hello", "plain/debug/exit_with" };
	for (size_t b = 0; fixtures && b < AI_ARRAY_SIZE(bins); b++) {
		char *path = xasprintf("%s/%s", fixtures, bins[b]);
		size_t size;
		char *data = ai_read_small_file(path, &size);
		free(path);
		if (!data)
			continue;
		size_t cuts[] = { size, size / 2, 4096, 64 };
		for (size_t i = 0; i < AI_ARRAY_SIZE(cuts); i++)
			ai_fuzz_elf((const uint8_t *)data, AI_MIN(cuts[i], size));
		free(data);
	}
	run_all("elf", ai_fuzz_elf);
}

Test(fuzz, value_seeds_and_regressions)
{
	run_all("value", ai_fuzz_value);
}

Test(fuzz, await_seeds_and_regressions)
{
	run_all("await", ai_fuzz_await);
}

/* The seed is a gcore'd core of the c/hello fixture, shrunk by tests/fuzz/shrink_core.py (a c/hello
 * built in another directory has another build-id: the core is then refused at the last check, so
 * the reads after it go unfuzzed, but everything before is); it is
 * also cut short at a few places (the "truncated core" rule: notes or segments lost). */
Test(fuzz, core_seeds_and_regressions)
{
	const char *source = getenv("AI_SOURCE");
	char *path = xasprintf("%s/tests/fuzz/seeds/core/hello-gcore", source ? source : ".");
	size_t size;
	char *data = ai_read_small_file(path, &size);
	cr_assert_not_null(data, "cannot read %s", path);
	free(path);
	size_t cuts[] = { size - 1, size - 4096, size / 2, 1200, 64 };
	for (size_t i = 0; i < AI_ARRAY_SIZE(cuts); i++)
		ai_fuzz_core((const uint8_t *)data, cuts[i]);
	free(data);
	run_all("core", ai_fuzz_core);
}

Test(fuzz, break_seeds_and_regressions)
{
	run_all("break", ai_fuzz_break);
}

Test(fuzz, serve_seeds_and_regressions)
{
	run_all("serve", ai_fuzz_serve);
}

/* A core's NT_FILE names the files it mapped; one that names a FIFO used to block open() for
 * ever. The seed's libc path is replaced by a FIFO's of the same length. */
Test(fuzz, core_naming_a_fifo_is_not_opened, .timeout = 30)
{
	const char *source = getenv("AI_SOURCE");
	char *path = xasprintf("%s/tests/fuzz/seeds/core/hello-gcore", source ? source : ".");
	size_t size;
	char *data = ai_read_small_file(path, &size);
	cr_assert_not_null(data, "cannot read %s", path);
	free(path);
	const char *libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
	char *at = memmem(data, size, libc, strlen(libc));
	cr_assert_not_null(at, "the seed maps no %s", libc);
	char dir[] = "/tmp/ai-fifo-XXXXXX";
	cr_assert(mkdtemp(dir));
	char fifo[64];
	snprintf(fifo, sizeof(fifo), "%s/%0*d", dir, (int)(strlen(libc) - strlen(dir) - 1), 0);
	cr_assert_eq(strlen(fifo), strlen(libc));
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	memcpy(at, fifo, strlen(fifo));
	char *core = xasprintf("%s/core", dir);
	FILE *f = fopen(core, "w");
	cr_assert(f && fwrite(data, 1, size, f) == size && fclose(f) == 0);
	char *exe = xasprintf("%s/c/hello", getenv("AI_FIXTURES"));
	/* It returns (the executable is checked last, after the mapped files are opened: a c/hello
	 * built elsewhere has another build-id, and the core is then refused for that alone). */
	struct ai_target *t = NULL;
	struct ai_error *err = ai_target_open_core(core, exe, &t);
	cr_expect(!err || strstr(err->message, "does not match executable"), "%s", err ? err->message : "");
	ai_error_destroy(err);
	if (!err)
		ai_target_destroy(t);
	unlink(core);
	unlink(fifo);
	rmdir(dir);
	free(core);
	free(exe);
	free(data);
}
