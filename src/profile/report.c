/* The profile for people (a table sorted by busy time), for programs (JSON, docs/json-format.md)
 * and for flamegraph tools (Brendan Gregg's folded stacks: a line per stack of stacks.c, its
 * weight in samples, or in busy nanoseconds without sampling). Several processes: the report has
 * a section per process, the JSON a `processes` array of the one-process documents, the folded
 * stacks begin with their process ("pid N name"). A profile sampled by ptrace knows no polls,
 * wakes, scheduled or idle time: "-" in the report, null in the JSON, never 0. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/profile.h"
#include "ai/util.h"

static const char *duration(char *buf, size_t size, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, size, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2fs", (double)ns / 1e9);
	return buf;
}

static uint64_t window(const struct ai_profile *p)
{
	return p->end_ns > p->start_ns ? p->end_ns - p->start_ns : 0;
}

static void task_label(char *buf, size_t size, const struct ai_profile_task *t)
{
	if (t->has_id)
		snprintf(buf, size, "%" PRIu64, t->id);
	else
		snprintf(buf, size, "@0x%" PRIx64, t->address);
}

/* A count, or "-" when ptrace sampling cannot know it. */
static const char *count_or_unknown(char *buf, size_t size, const struct ai_profile *p, uint64_t n)
{
	if (p->ptrace_sampled)
		return "-";
	snprintf(buf, size, "%" PRIu64, n);
	return buf;
}

/* The ptrace sampler's header: its samples and the pause each cost. */
static void write_ptrace_header(FILE *out, const struct ai_profile *p)
{
	char a[32], b[32];
	fprintf(out, ", ptrace sampling: %" PRIu64 " CPU samples at %u Hz in %" PRIu64 " stops of the process, "
		"busy estimated from %" PRIu64 " samples; each stop paused it for %s mean, %s max", p->samples,
		p->sample_rate, p->ptrace_rounds, p->samples, p->ptrace_rounds ?
		duration(a, sizeof(a), p->pause_total_us * 1000u / p->ptrace_rounds) : "-",
		p->ptrace_rounds ? duration(b, sizeof(b), p->pause_max_us * 1000u) : "-");
}

/* One process's part of the report; the legend goes once, after the last. */
static void write_report(FILE *out, const struct ai_profile *p, bool legend)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
	uint64_t w = window(p);
	bool pt = p->ptrace_sampled;
	fprintf(out, "Profile of process %d (%s): %s, %s", (int)p->pid, p->exe ? p->exe : "?",
		duration(a, sizeof(a), w), p->runtimes);
	if (pt)
		write_ptrace_header(out, p);
	else
		fprintf(out, " (%zu probes), %" PRIu64 " polls, %" PRIu64 " wakes", p->probe_count, p->polls, p->wakes);
	if (!pt && p->sample_rate)
		fprintf(out, ", %" PRIu64 " CPU samples at %u Hz (--format folded or svg: where they ran)", p->samples,
			p->sample_rate);
	fprintf(out, "%s\n", p->target_exited ? "; the process exited during the profile" : "");
	fprintf(out, "\n%-8s %8s %9s %6s %9s %27s %7s %9s  %s\n", "TASK", "POLLS", "BUSY", "BUSY%", "IDLE",
		"SCHEDULED mean/p99/max", "WAKES", "LONGEST", "FUTURE");
	for (size_t i = 0; i < p->task_count; i++) {
		const struct ai_profile_task *t = &p->tasks[i];
		char id[32], sched[64];
		task_label(id, sizeof(id), t);
		if (t->scheduled_count)
			snprintf(sched, sizeof(sched), "%s/%s/%s",
				 duration(c, sizeof(c), t->scheduled_ns / t->scheduled_count),
				 duration(d, sizeof(d), ai_profile_task_scheduled_percentile(t, 99)),
				 duration(e, sizeof(e), t->scheduled_max_ns));
		else
			snprintf(sched, sizeof(sched), "-");
		fprintf(out, "%-8s %8s %9s %5.1f%% %9s %27s %7s %9s  %s", id, count_or_unknown(g, sizeof(g), p, t->polls),
			duration(a, sizeof(a), t->busy_ns), w ? 100.0 * (double)t->busy_ns / (double)w : 0.0,
			pt ? "-" : duration(b, sizeof(b), ai_profile_task_idle_ns(p, t)), sched,
			count_or_unknown(c, sizeof(c), p, t->wakes), t->polls ? duration(f, sizeof(f), t->max_poll_ns) : "-",
			t->future ? t->future : "<unknown>");
		if (t->name)
			fprintf(out, " \"%s\"", t->name);
		if (t->location)
			fprintf(out, " at %s", t->location);
		if (t->released)
			fputs(" (ended)", out);
		fputc('\n', out);
	}
	if (!p->task_count)
		fprintf(out, "(no task was seen)\n");
	fprintf(out, "\n%-8s %-16s %8s %9s %6s\n", "THREAD", "NAME", "POLLS", "BUSY", "BUSY%");
	for (size_t i = 0; i < p->thread_count; i++) {
		const struct ai_profile_thread *th = &p->threads[i];
		if (!th->polls)
			continue;
		fprintf(out, "%-8u %-16s %8" PRIu64 " %9s %5.1f%%\n", th->tid, th->name ? th->name : "?", th->polls,
			duration(a, sizeof(a), th->busy_ns), w ? 100.0 * (double)th->busy_ns / (double)w : 0.0);
	}
	if (p->warning_count)
		fputc('\n', out);
	for (size_t i = 0; i < p->warning_count; i++)
		fprintf(out, "warning: %s\n", p->warnings[i]);
	uint64_t busy = 0;
	for (size_t i = 0; i < p->task_count; i++)
		busy += p->tasks[i].busy_ns;
	if (pt)
		snprintf(g, sizeof(g), " estimated from %" PRIu64 " samples", p->samples);
	fprintf(out, "\nTotal of pid %d %s: %zu task%s, %s polls, busy %s (%.1f%% of one core)%s, %s wakes%s\n",
		(int)p->pid, p->command ? p->command : "?", p->task_count, p->task_count == 1 ? "" : "s",
		count_or_unknown(b, sizeof(b), p, p->polls), duration(a, sizeof(a), busy),
		w ? 100.0 * (double)busy / (double)w : 0.0, pt ? g : "", count_or_unknown(c, sizeof(c), p, p->wakes),
		p->target_exited ? " (it exited during the profile: what was gathered until then)" : "");
	if (!legend)
		return;
	fprintf(out, "\nBUSY: time inside the task's polls (BUSY%%: of one core over the profile); SCHEDULED: "
		"from a wake to the next poll; IDLE: the rest. Tasks are sorted by busy time.\n");
	if (pt)
		fprintf(out, "ptrace sampling (perf events not used): BUSY is estimated from the samples (the share of "
			"the stops that found a running thread polling the task); polls, wakes, scheduled and idle "
			"time cannot be measured this way (-).\n");
}

/* A measure's key and value, or null when it is unknown. */
static void measure(struct ai_json_writer *w, const char *key, bool unknown, uint64_t value)
{
	ai_json_key(w, key);
	if (unknown)
		ai_json_null(w);
	else
		ai_json_uint(w, value);
}

/* One process's document (docs/json-format.md). */
static void write_json_document(struct ai_json_writer *w, const struct ai_profile *p)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "format", "async-inspect-profile");
	ai_json_field_int(w, "version", 1);
	ai_json_field_int(w, "pid", p->pid);
	ai_json_field_string(w, "exe", p->exe);
	ai_json_field_string(w, "runtimes", p->runtimes);
	ai_json_field_uint(w, "probes", p->probe_count);
	ai_json_field_uint(w, "duration_ns", window(p));
	bool pt = p->ptrace_sampled;
	ai_json_field_string(w, "sampler", pt ? "ptrace" : "perf");
	measure(w, "polls", pt, p->polls);
	measure(w, "wakes", pt, p->wakes);
	measure(w, "releases", pt, p->releases);
	ai_json_field_uint(w, "events_lost", p->lost);
	ai_json_field_bool(w, "target_exited", p->target_exited);
	ai_json_field_uint(w, "sample_rate_hz", p->sample_rate);
	ai_json_field_uint(w, "samples", p->samples);
	/* ptrace sampling: busy time estimated from the samples, and each stop's pause */
	measure(w, "busy_estimated_from_samples", !pt, p->samples);
	measure(w, "ptrace_stops", !pt, p->ptrace_rounds);
	measure(w, "pause_mean_ns", !pt || !p->ptrace_rounds,
		p->ptrace_rounds ? p->pause_total_us * 1000u / p->ptrace_rounds : 0);
	measure(w, "pause_max_ns", !pt || !p->ptrace_rounds, p->pause_max_us * 1000u);
	ai_json_key(w, "tasks");
	ai_json_begin_array(w);
	for (size_t i = 0; i < p->task_count; i++) {
		const struct ai_profile_task *t = &p->tasks[i];
		ai_json_begin_object(w);
		ai_json_key(w, "id");
		if (t->has_id)
			ai_json_uint(w, t->id);
		else
			ai_json_null(w);
		ai_json_key(w, "address");
		ai_json_hex(w, t->address);
		ai_json_field_uint(w, "generation", t->generation);
		ai_json_field_string(w, "name", t->name);
		ai_json_field_string(w, "future", t->future);
		ai_json_field_string(w, "location", t->location);
		ai_json_key(w, "await_chain");
		ai_json_begin_array(w);
		for (size_t c = 0; c < t->chain_count; c++)
			ai_json_string(w, t->chain[c]);
		ai_json_end_array(w);
		ai_json_field_bool(w, "in_start_snapshot", t->in_start);
		ai_json_field_bool(w, "in_end_snapshot", t->in_end);
		ai_json_field_bool(w, "released", t->released);
		const struct {
			const char *key;
			uint64_t value;
			bool probed; /* known only from the probes: null when sampled by ptrace */
		} fields[] = {
			{ "polls", t->polls, true },
			{ "busy_ns", t->busy_ns, false },
			{ "idle_ns", ai_profile_task_idle_ns(p, t), true },
			{ "scheduled_ns", t->scheduled_ns, true },
			{ "scheduled_count", t->scheduled_count, true },
			{ "scheduled_mean_ns", t->scheduled_count ? t->scheduled_ns / t->scheduled_count : 0, true },
			{ "scheduled_p99_ns", ai_profile_task_scheduled_percentile(t, 99), true },
			{ "scheduled_max_ns", t->scheduled_max_ns, true },
			{ "wakes", t->wakes, true },
			{ "self_wakes", t->self_wakes, true },
			{ "task_wakes", t->task_wakes, true },
			{ "max_poll_ns", t->max_poll_ns, true },
			{ "max_poll_at_ns", t->polls && t->max_poll_at_ns >= p->start_ns ? t->max_poll_at_ns - p->start_ns : 0,
			  true },
			{ "long_polls", t->long_polls, true },
			{ "samples", t->samples, false },
		};
		for (size_t f = 0; f < AI_ARRAY_SIZE(fields); f++)
			measure(w, fields[f].key, pt && fields[f].probed, fields[f].value);
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
	ai_json_key(w, "threads");
	ai_json_begin_array(w);
	for (size_t i = 0; i < p->thread_count; i++) {
		const struct ai_profile_thread *th = &p->threads[i];
		ai_json_begin_object(w);
		ai_json_field_uint(w, "tid", th->tid);
		ai_json_field_string(w, "name", th->name);
		measure(w, "polls", pt, th->polls);
		measure(w, "busy_ns", pt, th->busy_ns);
		ai_json_field_uint(w, "samples_outside_polls", th->samples);
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
	ai_json_key(w, "warnings");
	ai_json_begin_array(w);
	for (size_t i = 0; i < p->warning_count; i++)
		ai_json_string(w, p->warnings[i]);
	ai_json_end_array(w);
	ai_json_end_object(w);
}

/* One process: its document; several: {format, version, processes: [document, ...]}. */
static void write_json(FILE *out, const struct ai_profile *const *profiles, size_t count)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, true);
	if (!ai_profile_labelled(profiles, count)) {
		write_json_document(&w, profiles[0]);
	} else {
		ai_json_begin_object(&w);
		ai_json_field_string(&w, "format", "async-inspect-profile");
		ai_json_field_int(&w, "version", 1);
		ai_json_key(&w, "processes");
		ai_json_begin_array(&w);
		for (size_t i = 0; i < count; i++)
			write_json_document(&w, profiles[i]);
		ai_json_end_array(&w);
		ai_json_end_object(&w);
	}
	ai_json_writer_finish(&w);
	fputc('\n', out);
}

/* A frame of a folded stack: ';' separates frames and a newline ends the line, so neither may
 * appear in one (an array type's "[u8; 4]" becomes "[u8, 4]"). */
static void folded_frame(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' ? ',' : *s == '\n' ? ' ' : *s, out);
}

static void write_folded(FILE *out, const struct ai_profile *const *profiles, size_t process_count)
{
	struct ai_flame_stack *stacks;
	size_t count = ai_profile_flame_stacks_all(profiles, process_count, &stacks);
	for (size_t i = 0; i < count; i++) {
		for (size_t f = 0; f < stacks[i].count; f++) {
			if (f)
				fputc(';', out);
			folded_frame(out, stacks[i].frames[f]);
		}
		fprintf(out, " %" PRIu64 "\n", stacks[i].weight);
	}
	ai_profile_flame_stacks_free(stacks, count);
}

int ai_profile_write(FILE *out, const struct ai_profile *const *profiles, size_t count,
		     enum ai_profile_format format)
{
	switch (format) {
	case AI_PROFILE_REPORT:
		for (size_t i = 0; i < count; i++) {
			if (i)
				fputc('\n', out);
			write_report(out, profiles[i], i + 1 == count);
		}
		break;
	case AI_PROFILE_JSON:
		write_json(out, profiles, count);
		break;
	case AI_PROFILE_FOLDED:
		write_folded(out, profiles, count);
		break;
	case AI_PROFILE_SVG:
		ai_profile_write_svg(out, profiles, count);
		break;
	case AI_PROFILE_SPEEDSCOPE:
		ai_profile_write_speedscope(out, profiles, count);
		break;
	case AI_PROFILE_PERFETTO:
		ai_profile_write_perfetto(out, profiles, count);
		break;
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
