/* A local's structured value (docs/json-format.md, "Structured values": the value printer's
 * JSON from the same walk as its summary) as the editor's tree: which parts a value expands
 * into, and the summary text of a part, in the printer's syntax. Nothing here reads the target. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dap.h"
#include "ai/util.h"

static const char ELLIPSIS[] = "\xe2\x80\xa6"; /* … */

/* A part's text is cut here (as dump's 1024-byte summaries are), items after DISPLAY_ITEMS. */
#define DISPLAY_MAX 1024
#define DISPLAY_ITEMS 10

struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->len + n > DISPLAY_MAX) {
		/* not inside a UTF-8 character */
		n = DISPLAY_MAX > o->len ? DISPLAY_MAX - o->len : 0;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		o->full = true;
	}
	AI_GROW(o->buf, o->cap, o->len + n + sizeof(ELLIPSIS) + 1);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	if (o->full) {
		memcpy(o->buf + o->len, ELLIPSIS, sizeof(ELLIPSIS) - 1);
		o->len += sizeof(ELLIPSIS) - 1;
	}
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, buf, AI_MIN((size_t)n, sizeof(buf) - 1));
}

static const char *member_str(const json_t *v, const char *key)
{
	return json_string_value(json_object_get(v, key));
}

static bool member_true(const json_t *v, const char *key)
{
	return json_is_true(json_object_get(v, key));
}

static const char *kind_of(const json_t *v)
{
	const char *k = member_str(v, "kind");
	return k ? k : "";
}

/* A count or number member as the text shows it: digits (a string past 2^53 already is). */
static void put_number(struct out *o, const json_t *n)
{
	if (json_is_integer(n)) {
		putf(o, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
	} else if (json_is_real(n)) {
		/* the shortest digits that read back the same, as the printer wrote them */
		double d = json_real_value(n);
		char buf[40];
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		puts_(o, buf);
		if (!strpbrk(buf, ".eEn")) /* Rust's Debug of 1.0 is "1.0" */
			puts_(o, ".0");
	} else if (json_is_string(n)) {
		puts_(o, json_string_value(n));
	} else {
		puts_(o, "?");
	}
}

/* A string or char as Rust's Debug quotes it. */
static void put_quoted(struct out *o, const char *s, char quote)
{
	char q[2] = { quote, '\0' };
	puts_(o, q);
	for (const char *p = s; *p && !o->full; p++) {
		if (*p == quote || *p == '\\') {
			char e[3] = { '\\', *p, '\0' };
			puts_(o, e);
		} else if (*p == '\n') {
			puts_(o, "\\n");
		} else if (*p == '\t') {
			puts_(o, "\\t");
		} else if (*p == '\r') {
			puts_(o, "\\r");
		} else if ((unsigned char)*p < 0x20) {
			putf(o, "\\u{%x}", (unsigned)(unsigned char)*p);
		} else {
			/* a UTF-8 character whole, so that a cut never splits one */
			size_t n = 1;
			while (p[n] && ((unsigned char)p[n] & 0xc0) == 0x80 && n < 4)
				n++;
			put(o, p, n);
			p += n - 1;
		}
	}
	puts_(o, q);
}

/* The type's name without its generic arguments ("Arc" of "Arc<Config>"). */
static void put_type_head(struct out *o, const json_t *v, const char *fallback)
{
	const char *type = member_str(v, "type");
	if (!type) {
		puts_(o, fallback);
		return;
	}
	put(o, type, strcspn(type, "<"));
}

static void render(struct out *o, const json_t *v);

/* Fields named "0", "1"...: a tuple struct or variant. */
static bool positional(const json_t *fields)
{
	const json_t *first = json_array_get(fields, 0);
	const char *name = first ? member_str(first, "name") : NULL;
	return name && strcmp(name, "0") == 0;
}

static void render_fields(struct out *o, const json_t *fields, bool partial)
{
	size_t n = json_array_size(fields);
	if (!n)
		return;
	bool tuple = positional(fields);
	puts_(o, tuple ? "(" : " { ");
	for (size_t i = 0; i < n && !o->full; i++) {
		const json_t *f = json_array_get(fields, i);
		if (i)
			puts_(o, ", ");
		if (!tuple) {
			puts_(o, member_str(f, "name") ? member_str(f, "name") : "?");
			puts_(o, ": ");
		}
		render(o, json_object_get(f, "value"));
	}
	/* a --decoders summary shows some members only, as dump's `Account { owner: "ann", .. }` */
	if (partial)
		puts_(o, ", ..");
	puts_(o, tuple ? ")" : " }");
}

/* `[a, b, … (N items)]`: items shown up to DISPLAY_ITEMS, the count when not all are. */
static void render_items(struct out *o, const json_t *items, const json_t *len, const char *open,
			 const char *close, bool entries)
{
	size_t n = json_array_size(items);
	json_int_t total = json_is_integer(len) ? json_integer_value(len) : (json_int_t)n;
	puts_(o, open);
	size_t shown = AI_MIN(n, (size_t)DISPLAY_ITEMS);
	for (size_t i = 0; i < shown && !o->full; i++) {
		const json_t *item = json_array_get(items, i);
		if (i)
			puts_(o, ", ");
		if (entries) {
			render(o, json_object_get(item, "key"));
			puts_(o, ": ");
			render(o, json_object_get(item, "value"));
		} else {
			render(o, item);
		}
	}
	if ((json_int_t)shown < total)
		putf(o, "%s%s (%" JSON_INTEGER_FORMAT " items)", shown ? ", " : "", ELLIPSIS, total);
	puts_(o, close);
}

static void render(struct out *o, const json_t *v)
{
	if (!json_is_object(v)) {
		puts_(o, "?");
		return;
	}
	const char *kind = kind_of(v);
	const json_t *value = json_object_get(v, "value");
	if (strcmp(kind, "int") == 0 || strcmp(kind, "float") == 0) {
		put_number(o, value);
	} else if (strcmp(kind, "bool") == 0) {
		puts_(o, json_is_true(value) ? "true" : "false");
	} else if (strcmp(kind, "char") == 0) {
		put_quoted(o, json_string_value(value) ? json_string_value(value) : "", '\'');
	} else if (strcmp(kind, "str") == 0) {
		put_quoted(o, json_string_value(value) ? json_string_value(value) : "", '"');
		if (member_true(v, "truncated") && !o->full) {
			/* the closing quote goes after the ellipsis, as the printer's text has it */
			o->buf[--o->len] = '\0';
			putf(o, "%s\" (%" JSON_INTEGER_FORMAT " bytes)", ELLIPSIS,
			     json_integer_value(json_object_get(v, "len")));
		}
	} else if (strcmp(kind, "unit") == 0) {
		puts_(o, "()");
	} else if (strcmp(kind, "struct") == 0) {
		put_type_head(o, v, "?");
		render_fields(o, json_object_get(v, "fields"), member_true(v, "partial"));
	} else if (strcmp(kind, "enum") == 0) {
		puts_(o, member_str(v, "variant") ? member_str(v, "variant") : "?");
		render_fields(o, json_object_get(v, "fields"), member_true(v, "partial"));
	} else if (strcmp(kind, "tuple") == 0) {
		render_items(o, json_object_get(v, "items"), NULL, "(", ")", false);
	} else if (strcmp(kind, "seq") == 0) {
		render_items(o, json_object_get(v, "items"), json_object_get(v, "len"), "[", "]", false);
	} else if (strcmp(kind, "set") == 0) {
		render_items(o, json_object_get(v, "items"), json_object_get(v, "len"), "{", "}", false);
	} else if (strcmp(kind, "map") == 0) {
		render_items(o, json_object_get(v, "entries"), json_object_get(v, "len"), "{", "}", true);
	} else if (strcmp(kind, "pointer") == 0) {
		/* Box<T> and &T show what they point to, as Rust's Debug does */
		const json_t *target = json_object_get(v, "target");
		if (target)
			render(o, target);
		else
			puts_(o, member_str(v, "address") ? member_str(v, "address") : "0x?");
	} else if (strcmp(kind, "rc") == 0 || strcmp(kind, "weak") == 0) {
		put_type_head(o, v, kind);
		const json_t *strong = json_object_get(v, "strong"), *weak = json_object_get(v, "weak");
		if (member_true(v, "dangling")) {
			puts_(o, "(dangling)");
		} else if (strong && weak) {
			puts_(o, "(strong ");
			put_number(o, strong);
			puts_(o, ", weak ");
			put_number(o, weak);
			puts_(o, ")");
		} else {
			putf(o, "(%s)", member_str(v, "address") ? member_str(v, "address") : "?");
		}
		if (strcmp(kind, "rc") == 0) {
			if (member_true(v, "dropped")) {
				puts_(o, " <dropped>");
			} else if (json_object_get(v, "target")) {
				puts_(o, " ");
				render(o, json_object_get(v, "target"));
			}
		}
	} else if (strcmp(kind, "wrapper") == 0) {
		puts_(o, member_str(v, "state") ? member_str(v, "state") : member_str(v, "type") ? member_str(v, "type") : "?");
		if (value) {
			puts_(o, " ");
			render(o, value);
		}
	} else if (strcmp(kind, "duration") == 0) {
		/* as Rust's Debug prints it: 1.5s, 250ms, 10µs, 7ns */
		json_int_t secs = json_integer_value(json_object_get(v, "secs"));
		json_int_t nanos = json_integer_value(json_object_get(v, "nanos"));
		json_int_t whole = nanos, frac = 0;
		int digits = 0;
		const char *unit = "ns";
		if (secs)
			whole = secs, frac = nanos, digits = 9, unit = "s";
		else if (nanos >= 1000000)
			whole = nanos / 1000000, frac = nanos % 1000000, digits = 6, unit = "ms";
		else if (nanos >= 1000)
			whole = nanos / 1000, frac = nanos % 1000, digits = 3, unit = "\xc2\xb5s";
		putf(o, "%" JSON_INTEGER_FORMAT, whole);
		if (frac) {
			char buf[24];
			snprintf(buf, sizeof(buf), "%0*" JSON_INTEGER_FORMAT, digits, frac);
			for (size_t n = strlen(buf); n > 0 && buf[n - 1] == '0'; n--)
				buf[n - 1] = '\0';
			putf(o, ".%s", buf);
		}
		puts_(o, unit);
	} else if (strcmp(kind, "unreadable") == 0) {
		putf(o, "<unreadable %s>", member_str(v, "address") ? member_str(v, "address") : "?");
	} else if (strcmp(kind, "invalid") == 0) {
		puts_(o, "<invalid ");
		put_type_head(o, v, "value");
		if (member_str(v, "reason")) {
			puts_(o, ": ");
			puts_(o, member_str(v, "reason"));
		} else if (value) {
			puts_(o, " ");
			put_number(o, value);
		}
		puts_(o, ">");
	} else if (strcmp(kind, "truncated") == 0) {
		puts_(o, ELLIPSIS);
	} else if (strcmp(kind, "error") == 0) {
		putf(o, "<%s>", member_str(v, "message") ? member_str(v, "message") : "error");
	} else if (strcmp(kind, "moved") == 0) {
		puts_(o, "<moved>");
	} else if (strcmp(kind, "maybe_moved") == 0) {
		puts_(o, "<maybe moved>");
	} else if (strcmp(kind, "uninit") == 0) {
		puts_(o, "<uninit>");
	} else {
		/* opaque, and kinds added later: the type */
		puts_(o, member_str(v, "type") ? member_str(v, "type") : kind);
	}
	/* cut by the printer's output budget: what followed is not there */
	if (member_true(v, "truncated") && strcmp(kind, "str") != 0 && strcmp(kind, "seq") != 0 &&
	    strcmp(kind, "set") != 0 && strcmp(kind, "map") != 0 && strcmp(kind, "truncated") != 0)
		puts_(o, ELLIPSIS);
}

char *ai_dap_value_text(const json_t *value)
{
	struct out o = { 0 };
	render(&o, value);
	return o.buf ? o.buf : xstrdup("");
}

/* ---- Parts ---- */

static void add_part(struct ai_dap_value_parts *parts, char *name, const json_t *value, char *text, bool indexed)
{
	AI_GROW(parts->parts, parts->capacity, parts->count + 1);
	parts->parts[parts->count++] = (struct ai_dap_value_part){ name, value, text, indexed };
	if (indexed)
		parts->indexed++;
	else
		parts->named++;
}

static char *number_text(const json_t *n)
{
	struct out o = { 0 };
	put_number(&o, n);
	return o.buf ? o.buf : xstrdup("?");
}

static void add_count(struct ai_dap_value_parts *parts, const char *name, const json_t *n)
{
	if (n)
		add_part(parts, xstrdup(name), NULL, number_text(n), false);
}

static void add_fields(struct ai_dap_value_parts *parts, const json_t *fields)
{
	size_t i;
	const json_t *f;
	json_array_foreach(fields, i, f) {
		const char *name = member_str(f, "name");
		add_part(parts, xstrdup(name ? name : "?"), json_object_get(f, "value"), NULL, false);
	}
}

void ai_dap_value_parts_of(const json_t *v, struct ai_dap_value_parts *parts)
{
	memset(parts, 0, sizeof(*parts));
	if (!json_is_object(v))
		return;
	const char *kind = kind_of(v);
	size_t i;
	const json_t *item;
	if (strcmp(kind, "struct") == 0 || strcmp(kind, "enum") == 0) {
		add_fields(parts, json_object_get(v, "fields"));
	} else if (strcmp(kind, "tuple") == 0) {
		json_array_foreach(json_object_get(v, "items"), i, item)
			add_part(parts, xasprintf("%zu", i), item, NULL, false);
	} else if (strcmp(kind, "seq") == 0 || strcmp(kind, "set") == 0) {
		const json_t *items = json_object_get(v, "items");
		if (json_array_size(items) == 0)
			return;
		add_count(parts, "len", json_object_get(v, "len"));
		if (member_true(v, "truncated"))
			add_part(parts, xstrdup("not read"), NULL,
				 xasprintf("items past the first %zu (the item limit)", json_array_size(items)), false);
		json_array_foreach(items, i, item)
			add_part(parts, xasprintf("[%zu]", i), item, NULL, true);
	} else if (strcmp(kind, "map") == 0) {
		const json_t *entries = json_object_get(v, "entries");
		if (json_array_size(entries) == 0)
			return;
		add_count(parts, "len", json_object_get(v, "len"));
		json_array_foreach(entries, i, item)
			add_part(parts, ai_dap_value_text(json_object_get(item, "key")), json_object_get(item, "value"),
				 NULL, false);
	} else if (strcmp(kind, "pointer") == 0 || strcmp(kind, "rc") == 0) {
		const json_t *target = json_object_get(v, "target");
		if (!target)
			return;
		if (strcmp(kind, "rc") == 0) {
			add_count(parts, "strong", json_object_get(v, "strong"));
			add_count(parts, "weak", json_object_get(v, "weak"));
		}
		add_part(parts, xstrdup("*"), target, NULL, false);
	} else if (strcmp(kind, "wrapper") == 0) {
		if (json_object_get(v, "value")) {
			add_part(parts, xstrdup("state"), NULL, xstrdup(member_str(v, "state") ? member_str(v, "state") : "?"),
				 false);
			add_part(parts, xstrdup("value"), json_object_get(v, "value"), NULL, false);
		}
	}
	/* every other kind is whole in its text: scalars, strings, weak, duration, and the values
	 * that are not there (unreadable, moved, uninit, invalid, truncated, error) */
}

void ai_dap_value_parts_free(struct ai_dap_value_parts *parts)
{
	for (size_t i = 0; i < parts->count; i++) {
		free(parts->parts[i].name);
		free(parts->parts[i].text);
	}
	free(parts->parts);
	memset(parts, 0, sizeof(*parts));
}

/* A step of an evaluate path into v: through pointers and wrappers to what they hold, then a
 * field by name (struct, enum, tuple's index) or an item by [index]. */
static const json_t *step(const json_t *v, const char *name, size_t len, bool bracket)
{
	for (int hops = 0; hops < 8 && v; hops++) {
		const char *kind = kind_of(v);
		if (strcmp(kind, "pointer") == 0 || strcmp(kind, "rc") == 0)
			v = json_object_get(v, "target");
		else if (strcmp(kind, "wrapper") == 0)
			v = json_object_get(v, "value");
		else
			break;
	}
	if (!v)
		return NULL;
	const char *kind = kind_of(v);
	size_t i;
	const json_t *item;
	if (bracket || strcmp(kind, "tuple") == 0) {
		char *end;
		char *digits = xstrndup(name, len);
		unsigned long long index = strtoull(digits, &end, 10);
		bool ok = *digits && !*end;
		free(digits);
		if (!ok)
			return NULL;
		const json_t *items = json_object_get(v, "items");
		return index < json_array_size(items) ? json_array_get(items, (size_t)index) : NULL;
	}
	json_array_foreach(json_object_get(v, "fields"), i, item) {
		const char *field = member_str(item, "name");
		if (field && strlen(field) == len && memcmp(field, name, len) == 0)
			return json_object_get(item, "value");
	}
	return NULL;
}

const json_t *ai_dap_value_find(const json_t *v, const char *path)
{
	const char *p = path;
	while (v && *p) {
		bool bracket = *p == '[';
		if (*p == '.' || bracket)
			p++;
		size_t len = strcspn(p, bracket ? "]" : ".[");
		if (!len)
			return NULL;
		v = step(v, p, len, bracket);
		p += len;
		if (bracket && *p == ']')
			p++;
	}
	return v;
}
