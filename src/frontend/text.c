/* Text output, in the spirit of gdb's and eu-stack's backtraces. */
#include <string.h>

#include "ai/frontend.h"

#define BOLD "\033[1m"
#define DIM "\033[2m"
#define CYAN "\033[36m"
#define RESET "\033[0m"

const char *ai_short_path(const char *path)
{
	/* ~/.cargo/registry/src/index.crates.io-<hash>/tokio-1.24.2/src/... -> tokio-1.24.2/src/... */
	const char *registry = strstr(path, "/registry/src/");
	if (registry) {
		const char *crate = strchr(registry + strlen("/registry/src/"), '/');
		if (crate)
			return crate + 1;
	}
	/* /rustc/<hash>/library/std/src/... -> std/src/... */
	const char *library = strstr(path, "/library/");
	if (library && strncmp(path, "/rustc/", 7) == 0)
		return library + strlen("/library/");
	return path;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

void ai_print_threads_text(FILE *out, const struct ai_snapshot *s, const struct ai_text_options *options)
{
	const char *bold = options->color ? BOLD : "", *dim = options->color ? DIM : "";
	const char *cyan = options->color ? CYAN : "", *reset = options->color ? RESET : "";
	for (size_t i = 0; i < s->warning_count; i++)
		fprintf(out, "warning: %s\n\n", s->warnings[i]);
	for (size_t i = 0; i < s->thread_count; i++) {
		const struct ai_snapshot_thread *t = &s->threads[i];
		fprintf(out, "%sThread %d \"%s\"%s (%s)\n", bold, (int)t->tid, t->name ? t->name : "",
			reset, ai_thread_state_name(t->state));
		for (size_t j = 0; j < t->frame_count; j++) {
			const struct ai_snapshot_frame *f = &t->frames[j];
			fprintf(out, "  #%-3zu %s0x%016llx%s %s%s%s", j, dim, (unsigned long long)f->pc, reset,
				cyan, f->function ? f->function : "??", reset);
			if (f->inlined)
				fprintf(out, " %s[inlined]%s", dim, reset);
			if (f->file && f->line > 0)
				fprintf(out, " at %s:%d", ai_short_path(f->file), f->line);
			else if (f->module)
				fprintf(out, " %sfrom %s%s", dim, base_name(f->module), reset);
			fputc('\n', out);
		}
		if (t->stack_error)
			fprintf(out, "  %s(stack ends: %s)%s\n", dim, t->stack_error, reset);
		fputc('\n', out);
	}
	if (s->core)
		fprintf(out, "%zu threads, from core file %s\n", s->thread_count, s->core);
	else
		fprintf(out, "%zu threads, process %d paused for %.2f ms\n", s->thread_count, (int)s->pid,
			(double)s->pause_us / 1000.0);
}
