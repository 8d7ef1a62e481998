/* The editor's source breakpoints as async breakpoints (src/breakpoint), and the int3s of `next`.
 *
 * A source breakpoint at LINE of PATH is the SPEC `PATH:LINE` (a task suspends at that .await),
 * resolved by ai_break_resolve, its `condition` the condition language of condition.c. The
 * editor's path is the file it has open; when the executable was built from another directory no
 * line table names it, and the longest suffix of it (at a '/') that names source files is used.
 * setBreakpoints replaces the breakpoints of one source; every change rewrites all int3s with the
 * target stopped (stopped for that moment if it runs). Before attach or launch there is no DWARF:
 * the breakpoints are kept unverified and resolved when the program is there (then the editor
 * gets a `breakpoint` event for each). */
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/debuginfo.h"
#include "ai/snapshot.h"
#include "ai/util.h"
#include "dap_internal.h"

struct dap_bp {
	json_int_t id;
	uint32_t line;             /* as the editor asked */
	char *condition;           /* owned, or NULL */
	struct ai_break_spec spec; /* owned when parsed */
	bool parsed;
	bool verified;
	char *message;             /* owned: why it is not verified, or NULL */
	struct ai_break_sites sites;
	bool warned;               /* its condition was said to be unknown */
};

struct dap_source {
	char *path;                /* owned: as the editor names it */
	struct dap_bp *bps;        /* owned */
	size_t count;
};

struct dap_breakpoints {
	struct dap_source *sources;
	size_t count, capacity;
	json_int_t next_id;
	struct ai_target *target;  /* borrowed, or NULL */
	struct ai_debuginfo *di;   /* owned: the target's, made on first need */
	char *di_error;            /* owned: why there is none */
	struct ai_break_sites step_sites; /* next's: every await of the stepped task's outer coroutine */
	uint64_t step_env;
	bool stepping;
};

struct dap_breakpoints *dap_breakpoints_create(void)
{
	struct dap_breakpoints *b = xcalloc(1, sizeof(*b));
	b->next_id = 1;
	return b;
}

static void bp_unresolve(struct dap_bp *bp)
{
	ai_break_sites_deinit(&bp->sites);
	free(bp->message);
	bp->message = NULL;
	bp->verified = false;
}

static void bp_deinit(struct dap_bp *bp)
{
	bp_unresolve(bp);
	if (bp->parsed)
		ai_break_spec_deinit(&bp->spec);
	free(bp->condition);
}

static void source_clear(struct dap_source *src)
{
	for (size_t i = 0; i < src->count; i++)
		bp_deinit(&src->bps[i]);
	free(src->bps);
	src->bps = NULL;
	src->count = 0;
}

void dap_breakpoints_destroy(struct dap_breakpoints *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->count; i++) {
		source_clear(&b->sources[i]);
		free(b->sources[i].path);
	}
	free(b->sources);
	ai_break_sites_deinit(&b->step_sites);
	ai_debuginfo_destroy(b->di);
	free(b->di_error);
	free(b);
}

static struct ai_debuginfo *debuginfo(struct dap_breakpoints *b)
{
	if (b->di || b->di_error || !b->target)
		return b->di;
	struct ai_error *err = ai_debuginfo_create(b->target, &b->di);
	if (!err)
		err = ai_debuginfo_check_rust(b->di);
	if (err) {
		ai_debuginfo_destroy(b->di);
		b->di = NULL;
		b->di_error = xstrdup(err->message);
		ai_error_destroy(err);
	}
	return b->di;
}

/* The FILE of the SPEC for the editor's path: the path itself when the line tables name it, else
 * its longest suffix that names one file (or several: then resolving says which). */
static const char *spec_file(struct ai_debuginfo *di, const char *path)
{
	if (ai_break_source_count(di, path) > 0)
		return path;
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
		if (p[1] && ai_break_source_count(di, p + 1) > 0)
			return p + 1;
	}
	return path;
}

/* "--break SPEC: why" of the resolver, without its --break prefix (the editor shows it at the line). */
static char *message_of(const struct ai_error *err, const struct ai_break_spec *spec)
{
	char *prefix = xasprintf("--break %s: ", spec->text);
	const char *m = err->message;
	if (ai_starts_with(m, prefix))
		m += strlen(prefix);
	free(prefix);
	return xstrdup(m);
}

static void resolve(struct dap_breakpoints *b, const char *path, struct dap_bp *bp)
{
	bp_unresolve(bp);
	if (bp->parsed) {
		ai_break_spec_deinit(&bp->spec);
		bp->parsed = false;
	}
	if (!b->target) {
		bp->message = xstrdup("not resolved yet: no program (attach or launch first)");
		return;
	}
	if (b->target->kind == AI_TARGET_CORE) {
		bp->message = xstrdup("a core file does not run: no breakpoint can be hit");
		return;
	}
	struct ai_debuginfo *di = debuginfo(b);
	if (!di) {
		bp->message = xstrdup(b->di_error);
		return;
	}
	char *text = xasprintf("%s:%u", spec_file(di, path), bp->line);
	struct ai_error *err = ai_break_spec_parse(text, &bp->spec);
	free(text);
	if (!err) {
		bp->parsed = true;
		if (bp->condition)
			err = ai_break_cond_parse(bp->condition, &bp->spec.cond);
	}
	if (!err)
		err = ai_break_resolve(di, &bp->spec, 1, &bp->sites);
	if (err) {
		bp->message = bp->parsed ? message_of(err, &bp->spec) : xstrdup(err->message);
		ai_error_destroy(err);
		return;
	}
	bp->verified = bp->sites.count > 0;
	if (!bp->verified)
		bp->message = xstrdup("no code found for this .await");
}

/* Rewrites every int3: all of them out, the verified ones and next's back in. */
static void install(struct dap_breakpoints *b)
{
	struct ai_target *t = b->target;
	if (!t || t->kind != AI_TARGET_LIVE || t->exited || !b->di)
		return;
	bool was_stopped = t->is_stopped;
	struct ai_error *err = was_stopped ? NULL : ai_target_stop(t);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	ai_debuginfo_refresh(b->di); /* the maps of this stop: where the executable is loaded */
	ai_target_remove_breakpoints(t);
	for (size_t i = 0; i < b->count; i++) {
		for (size_t k = 0; k < b->sources[i].count; k++) {
			struct dap_bp *bp = &b->sources[i].bps[k];
			if (!bp->verified)
				continue;
			if ((err = ai_break_insert_sites(t, b->di, &bp->sites))) {
				bp_unresolve(bp);
				bp->message = xstrdup(err->message);
				ai_error_destroy(err);
			}
		}
	}
	if (b->stepping && (err = ai_break_insert_sites(t, b->di, &b->step_sites))) {
		ai_error_destroy(err);
		b->stepping = false;
	}
	if (!was_stopped)
		ai_error_destroy(ai_target_resume(t));
}

static json_t *bp_json(const struct dap_bp *bp, const struct dap_source *src)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(bp->id));
	json_object_set_new(j, "verified", json_boolean(bp->verified));
	json_object_set_new(j, "line", json_integer(bp->verified ? bp->sites.items[0].line : bp->line));
	if (bp->message)
		json_object_set_new(j, "message", json_string(bp->message));
	json_t *source = json_object();
	json_object_set_new(source, "path", json_string(src->path));
	json_object_set_new(j, "source", source);
	return j;
}

json_t *dap_breakpoints_set(struct dap_breakpoints *b, const json_t *args)
{
	json_t *jsource = json_object_get(args, "source");
	const char *path = json_string_value(json_object_get(jsource, "path"));
	json_t *list = json_array();
	if (!path)
		return json_pack("{s:o}", "breakpoints", list);
	struct dap_source *src = NULL;
	for (size_t i = 0; i < b->count && !src; i++)
		if (strcmp(b->sources[i].path, path) == 0)
			src = &b->sources[i];
	if (!src) {
		AI_GROW(b->sources, b->capacity, b->count + 1);
		src = &b->sources[b->count++];
		memset(src, 0, sizeof(*src));
		src->path = xstrdup(path);
	}
	source_clear(src);
	json_t *wanted = json_object_get(args, "breakpoints");
	size_t n = json_is_array(wanted) ? json_array_size(wanted) : 0;
	src->bps = xcalloc(n ? n : 1, sizeof(*src->bps));
	for (size_t i = 0; i < n; i++) {
		json_t *w = json_array_get(wanted, i);
		struct dap_bp *bp = &src->bps[src->count++];
		bp->id = b->next_id++;
		json_int_t line = json_integer_value(json_object_get(w, "line"));
		bp->line = line > 0 && line <= UINT32_MAX ? (uint32_t)line : 0;
		const char *cond = json_string_value(json_object_get(w, "condition"));
		if (cond && *cond)
			bp->condition = xstrdup(cond);
		if (!bp->line)
			bp->message = xstrdup("no line");
		else
			resolve(b, src->path, bp);
	}
	install(b);
	for (size_t i = 0; i < src->count; i++)
		json_array_append_new(list, bp_json(&src->bps[i], src));
	return json_pack("{s:o}", "breakpoints", list);
}

json_t *dap_breakpoints_set_target(struct dap_breakpoints *b, struct ai_target *target)
{
	ai_debuginfo_destroy(b->di);
	b->di = NULL;
	free(b->di_error);
	b->di_error = NULL;
	b->target = target;
	b->stepping = false;
	ai_break_sites_deinit(&b->step_sites);
	json_t *changed = json_array();
	for (size_t i = 0; i < b->count; i++) {
		for (size_t k = 0; k < b->sources[i].count; k++) {
			struct dap_bp *bp = &b->sources[i].bps[k];
			if (!bp->line)
				continue;
			resolve(b, b->sources[i].path, bp);
		}
	}
	install(b);
	for (size_t i = 0; target && i < b->count; i++)
		for (size_t k = 0; k < b->sources[i].count; k++)
			if (b->sources[i].bps[k].line)
				json_array_append_new(changed, bp_json(&b->sources[i].bps[k], &b->sources[i]));
	return changed;
}

bool dap_breakpoints_match(struct dap_breakpoints *b, struct dap_hit *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct ai_target *t = b->target;
	if (!t || !t->hit_tid)
		return false;
	bool any = false;
	for (size_t i = 0; i < b->count && !ret->id; i++) {
		for (size_t k = 0; k < b->sources[i].count && !ret->id; k++) {
			struct dap_bp *bp = &b->sources[i].bps[k];
			for (size_t s = 0; bp->verified && s < bp->sites.count; s++) {
				uint64_t env;
				const struct ai_break_site *site = &bp->sites.items[s];
				if (ai_break_site_address(site) != t->hit_address || !ai_break_site_hit(t, site, &env))
					continue;
				ret->id = bp->id;
				ret->env = env;
				ret->cond = bp->spec.cond;
				ret->warned = &bp->warned;
				ret->spec_text = bp->spec.text;
				ret->site = site;
				any = true;
				break;
			}
		}
	}
	for (size_t s = 0; b->stepping && s < b->step_sites.count; s++) {
		uint64_t env;
		const struct ai_break_site *site = &b->step_sites.items[s];
		if (ai_break_site_address(site) != t->hit_address || !ai_break_site_hit(t, site, &env) || env != b->step_env)
			continue;
		ret->step = true;
		if (!ret->site) {
			ret->env = env;
			ret->site = site;
		}
		any = true;
		break;
	}
	return any;
}

struct ai_error *dap_breakpoints_step(struct dap_breakpoints *b, const struct ai_await_node *coroutine,
				      char **note_ret)
{
	*note_ret = NULL;
	ai_break_sites_deinit(&b->step_sites);
	b->stepping = false;
	struct ai_debuginfo *di = debuginfo(b);
	if (!di)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s", b->di_error ? b->di_error : "no program");
	if (!coroutine->file || !coroutine->await_count)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s is not parked at a known .await: use continue",
				       coroutine->function);
	size_t failed = 0, tried = 0;
	char *why = NULL;
	for (size_t i = 0; i < coroutine->await_count; i++) {
		int line = coroutine->await_lines[i];
		if (line <= 0 || (i > 0 && coroutine->await_lines[i - 1] == line))
			continue;
		tried++;
		char *text = xasprintf("%s:%d", coroutine->file, line);
		struct ai_break_spec spec;
		struct ai_error *err = ai_break_spec_parse(text, &spec);
		free(text);
		struct ai_break_sites sites = { 0 };
		if (!err) {
			err = ai_break_resolve(di, &spec, 1, &sites);
			ai_break_spec_deinit(&spec);
		}
		if (err) {
			failed++;
			if (!why)
				why = xstrdup(err->message);
			ai_error_destroy(err);
			continue;
		}
		for (size_t k = 0; k < sites.count; k++) {
			AI_GROW(b->step_sites.items, b->step_sites.capacity, b->step_sites.count + 1);
			b->step_sites.items[b->step_sites.count++] = sites.items[k];
		}
		free(sites.items); /* the strings moved into step_sites */
	}
	if (!b->step_sites.count) {
		struct ai_error *err = ai_error_create(AI_ERROR_UNSUPPORTED, "no .await of %s could be found in its code%s%s",
						       coroutine->function, why ? ": " : "", why ? why : "");
		free(why);
		return err;
	}
	if (failed)
		*note_ret = xasprintf("next: %zu of the %zu await lines of %s were not found in its code, so parks there are not seen (%s)",
				      failed, tried, coroutine->function, why);
	free(why);
	b->step_env = coroutine->address;
	b->stepping = true;
	install(b);
	return NULL;
}

void dap_breakpoints_step_end(struct dap_breakpoints *b)
{
	if (!b->stepping)
		return;
	b->stepping = false;
	ai_break_sites_deinit(&b->step_sites);
	install(b);
}

bool dap_breakpoints_stepping(const struct dap_breakpoints *b)
{
	return b->stepping;
}
