/* The SPEC of --break: `FILE:LINE` or `FN`. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/util.h"

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* A Rust path as DWARF names it: identifiers (letters, digits, '_') or rustc's `{impl#N}`
 * segments (an async fn of an impl block is `app::{impl#0}::handle`), joined by "::". */
static bool is_rust_path(const char *s)
{
	if (!*s)
		return false;
	for (const char *p = s; *p;) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close || close == p + 1 || memchr(p, ':', (size_t)(close - p)))
				return false;
			p = close + 1;
		} else if (!(isalpha((unsigned char)*p) || *p == '_')) {
			return false;
		}
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (!*p)
			return true;
		if (p[0] != ':' || p[1] != ':')
			return false;
		p += 2;
	}
	return false;
}

static struct ai_error *parse_location(const char *text, struct ai_break_spec *ret);

struct ai_error *ai_break_spec_parse(const char *text, struct ai_break_spec *ret)
{
	/* "LOCATION if EXPR": neither a path nor a line holds " if ". */
	const char *cond = strstr(text, " if ");
	char *location = cond ? xstrndup(text, (size_t)(cond - text)) : xstrdup(text);
	size_t len = strlen(location);
	while (len && location[len - 1] == ' ')
		location[--len] = '\0';
	struct ai_break_spec spec;
	struct ai_error *err = parse_location(location, &spec);
	free(location);
	if (err)
		return err;
	if (cond && (err = ai_break_cond_parse(cond + 4, &spec.cond))) {
		ai_break_spec_deinit(&spec);
		return ai_error_wrap(err, "--break %s", text);
	}
	free(spec.text);
	spec.text = xstrdup(text);
	*ret = spec;
	return NULL;
}

static struct ai_error *parse_location(const char *text, struct ai_break_spec *ret)
{
	struct ai_break_spec spec = { 0 };
	char *copy = NULL;
	size_t len = strlen(text);
	if (len > 7 && strcmp(text + len - 7, "@resume") == 0) {
		copy = xstrndup(text, len - 7);
		text = copy;
		spec.resume = true;
	}
	struct ai_error *err = NULL;
	/* spawn, complete, spawn:FN, complete:FN (neither is a crate's path: those name a crate first) */
	for (int k = 0; k < 2 && !spec.resume; k++) {
		const char *word = k ? "complete" : "spawn";
		size_t n = strlen(word);
		if (strncmp(text, word, n) != 0 || (text[n] && text[n] != ':') || (text[n] == ':' && text[n + 1] == ':'))
			continue;
		if (text[n] == ':' && !is_rust_path(text + n + 1))
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					       "--break %s: expected %s:FN, FN the path of an async fn (e.g. app::serve)",
					       text, word);
		spec.kind = k ? AI_BREAK_COMPLETE : AI_BREAK_SPAWN;
		spec.function = text[n] ? xstrdup(text + n + 1) : NULL;
		spec.text = xstrdup(text);
		*ret = spec;
		return NULL;
	}
	const char *colon = strrchr(text, ':');
	if (colon && colon > text && colon[-1] != ':' && all_digits(colon + 1)) {
		unsigned long line = strtoul(colon + 1, NULL, 10);
		if (line == 0 || line > UINT32_MAX) {
			err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--break %s: line %s is out of range",
					      text, colon + 1);
		} else {
			spec.kind = AI_BREAK_LINE;
			spec.file = xstrndup(text, (size_t)(colon - text));
			spec.line = (uint32_t)line;
		}
	} else if (colon && (colon == text || colon[-1] != ':') && colon[1] != ':') {
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      "--break %s: expected FILE:LINE (a line number after the colon) or an async fn's path",
				      text);
	} else if (is_rust_path(text) && !spec.resume) {
		spec.kind = AI_BREAK_FUNCTION;
		spec.function = xstrdup(text);
	} else {
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      spec.resume ? "--break %s@resume: @resume is for FILE:LINE of an .await"
						  : "--break %s: expected FILE:LINE of an .await or the path of an async fn (e.g. app::serve)",
				      text);
	}
	if (!err)
		spec.text = xstrdup(text); /* replaced by the whole SPEC in ai_break_spec_parse */
	free(copy); /* text may be copy */
	if (err)
		return err;
	*ret = spec;
	return NULL;
}

void ai_break_spec_deinit(struct ai_break_spec *spec)
{
	free(spec->text);
	free(spec->file);
	free(spec->function);
	ai_break_cond_destroy(spec->cond);
	memset(spec, 0, sizeof(*spec));
}
