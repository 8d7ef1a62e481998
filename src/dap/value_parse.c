/* The parts of a value summary, for the editor's lazy expansion of a variable. The summary is the
 * text dump prints (src/debuginfo/value.c), so an expanded local shows exactly what dump shows,
 * split where its syntax says: `Name { field: v, .. }`, `Name(v, ..)`, `(v, ..)`, `[v, ..]`,
 * `{k: v, ..}`. Text that does not close where it began (cut by the output limit) has no parts. */
#include <string.h>

#include "ai/dap.h"
#include "ai/value.h"

static const char ELLIPSIS[] = "\xe2\x80\xa6"; /* … */

static bool is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == ':' || (unsigned char)c >= 0x80;
}

static void trim(const char **p, const char **end)
{
	while (*p < *end && (**p == ' ' || **p == '\n' || **p == '\t'))
		(*p)++;
	while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\n' || (*end)[-1] == '\t'))
		(*end)--;
}

/* After the quoted string or char starting at p. */
static const char *skip_quoted(const char *p, const char *end)
{
	char quote = *p++;
	while (p < end) {
		if (*p == '\\' && p + 1 < end)
			p += 2;
		else if (*p++ == quote)
			return p;
	}
	return end;
}

/* A char literal ('a', '\n', '\u{1f600}', one UTF-8 character) rather than a lifetime. */
static bool is_char_literal(const char *p, const char *end)
{
	if (p + 2 < end && p[1] == '\\')
		return true;
	const char *q = p + 1;
	if (q < end && (unsigned char)*q >= 0x80) {
		q++;
		while (q < end && ((unsigned char)*q & 0xc0) == 0x80)
			q++;
	} else {
		q++;
	}
	return q < end && *q == '\'';
}

/* The end of the bracket that opens at p (the char after its match), or NULL if it has none. */
static const char *match_bracket(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		char c = *p;
		if (c == '"' || (c == '\'' && is_char_literal(p, end))) {
			p = skip_quoted(p, end);
			continue;
		}
		if (c == '(' || c == '[' || c == '{')
			depth++;
		else if ((c == ')' || c == ']' || c == '}') && --depth == 0)
			return p + 1;
		p++;
	}
	return NULL;
}

/* The first ": " of [p, end) outside brackets and quotes, or NULL. */
static const char *find_colon(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		char c = *p;
		if (c == '"' || (c == '\'' && is_char_literal(p, end))) {
			p = skip_quoted(p, end);
			continue;
		}
		if (c == '(' || c == '[' || c == '{')
			depth++;
		else if (c == ')' || c == ']' || c == '}')
			depth--;
		else if (c == ':' && depth == 0 && p + 1 < end && p[1] == ' ')
			return p;
		p++;
	}
	return NULL;
}

/* The elements of [p, end), split at commas outside brackets, quotes and `<...>`. */
static size_t split(const char *p, const char *end, bool named, bool bracket, struct ai_dap_value_part *parts,
		    size_t max)
{
	size_t n = 0;
	trim(&p, &end);
	if (p == end || (end - p == 2 && memcmp(p, "..", 2) == 0))
		return 0;
	const char *start = p;
	int depth = 0, angle = 0;
	for (;;) {
		bool at_end = p >= end;
		if (!at_end) {
			char c = *p;
			if (c == '"' || (c == '\'' && is_char_literal(p, end))) {
				p = skip_quoted(p, end);
				continue;
			}
			if (c == '(' || c == '[' || c == '{')
				depth++;
			else if (c == ')' || c == ']' || c == '}')
				depth--;
			else if (c == '<' && (p == start || is_ident(p[-1]) || p[-1] == ' '))
				angle++;
			else if (c == '>' && angle > 0)
				angle--;
		}
		if (at_end || (*p == ',' && depth == 0 && angle == 0)) {
			const char *e_start = start, *e_end = at_end ? end : p;
			trim(&e_start, &e_end);
			if (e_start < e_end && n < max) {
				struct ai_dap_value_part *part = &parts[n];
				memset(part, 0, sizeof(*part));
				const char *colon = named ? find_colon(e_start, e_end) : NULL;
				size_t ell = sizeof(ELLIPSIS) - 1;
				if ((size_t)(e_end - e_start) >= ell && memcmp(e_start, ELLIPSIS, ell) == 0) {
					/* "… (12 items)": what the printer left out */
					part->name = e_start;
					part->name_len = ell;
					const char *v = e_start + ell, *v_end = e_end;
					trim(&v, &v_end);
					part->value = v;
					part->value_len = (size_t)(v_end - v);
				} else if (named && colon) {
					part->name = e_start;
					part->name_len = (size_t)(colon - e_start);
					part->value = colon + 2;
					part->value_len = (size_t)(e_end - (colon + 2));
				} else {
					part->index = n;
					part->bracket = bracket;
					part->value = e_start;
					part->value_len = (size_t)(e_end - e_start);
				}
				n++;
			} else if (e_start < e_end) {
				n++;
			}
			if (at_end)
				break;
			start = ++p;
			continue;
		}
		p++;
	}
	return n;
}

size_t ai_dap_value_parts(const char *text, struct ai_dap_value_part *parts, size_t max)
{
	/* A summary's state before the value it is about (`Arc(strong 2, weak 0) Config { .. }`,
	 * `Mutex(locked) 12`): the parts are the value's. */
	text = ai_value_after_summary(text);
	const char *p = text, *end = text + strlen(text);
	trim(&p, &end);
	if (p == end)
		return 0;
	/* A leading type name: `Account { .. }`, `Some(..)`, `Shape::Line(3)`, `Wrapper<u8> { .. }`. */
	const char *q = p;
	int angle = 0;
	while (q < end && (is_ident(*q) || *q == '<' || (angle > 0 && *q != '{' && *q != '('))) {
		if (*q == '<')
			angle++;
		else if (*q == '>')
			angle--;
		q++;
	}
	if (q > p && q < end && *q == '>')
		q++;
	const char *open = q;
	while (open < end && *open == ' ')
		open++;
	if (open >= end)
		return 0;
	char c = *open;
	if (q > p && c != '{' && c != '(')
		return 0; /* a number, a bool, a unit variant */
	if (c != '{' && c != '(' && c != '[')
		return 0; /* a string, a char, `<unreadable ..>` */
	const char *close = match_bracket(open, end);
	if (close != end)
		return 0; /* cut short, or not one value */
	bool named = c == '{';
	return split(open + 1, close - 1, named, c == '[', parts, max);
}
