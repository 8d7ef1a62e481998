/* Fuzz harness: the core-file reader (src/process/core.c). The input is the core, written to a
 * memory file; it is opened with a real executable ($AI_FUZZ_CORE_EXE, or the `c/hello` fixture,
 * whose gcore'd core, shrunk, is the seed), then read where a dump reads first: each thread's
 * stack and pc, and each mapping's first and last bytes. A truncated or lying core must be an
 * error or a warning, never a crash. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ai/memory.h"
#include "ai/target.h"
#include "ai/util.h"
#include "fuzz.h"

static char *exe;

static void free_exe(void)
{
	free(exe);
}

static void probe(struct ai_memory *mem, uint64_t address, size_t count)
{
	uint8_t buf[256];
	ai_error_destroy(ai_memory_read(mem, buf, address, AI_MIN(count, sizeof(buf))));
}

int ai_fuzz_core(const uint8_t *data, size_t size)
{
	if (!exe) {
		if (getenv("AI_FUZZ_CORE_EXE"))
			exe = xstrdup(getenv("AI_FUZZ_CORE_EXE"));
		else if (getenv("AI_FIXTURES"))
			exe = xasprintf("%s/c/hello", getenv("AI_FIXTURES"));
		else
			return 0;
		atexit(free_exe);
	}
	int fd = memfd_create("fuzz-core", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct ai_target *t;
	struct ai_error *err = ai_target_open_core(path, exe, &t);
	close(fd);
	if (err) {
		ai_error_destroy(err);
		return 0;
	}
	for (size_t i = 0; i < t->thread_count; i++) {
		probe(t->memory, t->threads[i].regs.rsp, 256);
		probe(t->memory, t->threads[i].regs.rip, 16);
	}
	for (size_t i = 0; i < t->maps.count; i++) {
		const struct ai_mapping *m = &t->maps.items[i];
		probe(t->memory, m->start, 64);
		if (m->end - m->start >= 64)
			probe(t->memory, m->end - 64, 64);
	}
	ai_target_destroy(t);
	return 0;
}
