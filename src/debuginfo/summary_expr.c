/* Computed members of declarative type summaries (include/ai/summaries.h): integer arithmetic
 * over member paths, e.g. `permits >> 1` or `(state & 0xff) + extra.count`. A small
 * recursive-descent parser over the text, run once to check a decoder file and again for each
 * value it prints (the texts are short; nothing is kept between the two). Arithmetic is on
 * 64-bit integers and wraps, as Rust's wrapping ops do; a division by zero or a shift past 63
 * is an error, not a value. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/summaries.h"
#include "ai/util.h"

#define MAX_EXPR_DEPTH 32 /* nested parentheses and unary operators */

struct parse {
	const char *text, *at;
	const struct ai_summary_expr_reader *reader; /* NULL: check the syntax only */
	char *why;        /* the first error, NULL while there is none */
	unsigned depth;
};

__attribute__((format(printf, 2, 3))) static void fail(struct parse *ps, const char *fmt, ...)
{
	if (ps->why)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&ps->why, fmt, ap) < 0)
		abort(); /* out of memory, as xmalloc would */
	va_end(ap);
}

static void skip_space(struct parse *ps)
{
	while (*ps->at == ' ' || *ps->at == '\t')
		ps->at++;
}

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int64_t parse_or(struct parse *ps);

/* A literal (decimal, 0x hex), a member path, a parenthesised expression, or a unary - ~ !. */
static int64_t parse_primary(struct parse *ps)
{
	skip_space(ps);
	if (ps->why)
		return 0;
	if (++ps->depth > MAX_EXPR_DEPTH) {
		fail(ps, "nested too deeply");
		return 0;
	}
	int64_t v = 0;
	char c = *ps->at;
	if (c == '(') {
		ps->at++;
		v = parse_or(ps);
		skip_space(ps);
		if (*ps->at != ')')
			fail(ps, "expected ')'");
		else
			ps->at++;
	} else if (c == '-' || c == '~' || c == '!') {
		ps->at++;
		int64_t x = parse_primary(ps);
		v = c == '-' ? (int64_t)(0 - (uint64_t)x) : c == '~' ? ~x : !x;
	} else if (c >= '0' && c <= '9') {
		char *end;
		unsigned long long n = strtoull(ps->at, &end, c == '0' && (ps->at[1] == 'x' || ps->at[1] == 'X') ? 16 : 10);
		if (end == ps->at || ident_char(*end))
			fail(ps, "a number is malformed near '%s'", ps->at);
		ps->at = end;
		v = (int64_t)n;
	} else if (ident_char(c)) {
		const char *start = ps->at;
		while (ident_char(*ps->at) || (*ps->at == '.' && ident_char(ps->at[1])))
			ps->at++;
		char *why = NULL;
		if (ps->reader && !ps->reader->read(ps->reader->ctx, start, (size_t)(ps->at - start), &v, &why)) {
			ps->why = why ? why : xstrdup("not readable");
		} else {
			free(why);
		}
	} else {
		if (*ps->at)
			fail(ps, "unexpected '%c'", *ps->at);
		else
			fail(ps, "an operand is missing at the end");
	}
	ps->depth--;
	return v;
}

/* Binary operators, loosest first: | ^ & (== !=) (< <= > >=) (<< >>) (+ -) (* / %), all
 * left-associative. Each level is `level(ps, n)`. */
static const char *const levels[][4] = {
	{ "|", NULL }, { "^", NULL }, { "&", NULL }, { "==", "!=", NULL },
	{ "<=", ">=", "<", ">" }, { "<<", ">>", NULL }, { "+", "-", NULL }, { "*", "/", "%", NULL },
};
#define LEVELS (sizeof(levels) / sizeof(levels[0]))

static const char *operator_at(struct parse *ps, size_t level)
{
	skip_space(ps);
	for (size_t i = 0; i < 4 && levels[level][i]; i++) {
		const char *op = levels[level][i];
		size_t n = strlen(op);
		if (strncmp(ps->at, op, n) != 0)
			continue;
		/* `|` is not the start of `||`, `&` of `&&`, `<` of `<<`, `>` of `>>` */
		if (n == 1 && (op[0] == '|' || op[0] == '&' || op[0] == '<' || op[0] == '>') && ps->at[1] == op[0])
			continue;
		if (n == 1 && (op[0] == '<' || op[0] == '>') && ps->at[1] == '=')
			continue;
		return op;
	}
	return NULL;
}

static int64_t apply(struct parse *ps, const char *op, int64_t a, int64_t b)
{
	uint64_t x = (uint64_t)a, y = (uint64_t)b;
	switch (op[0]) {
	case '|': return (int64_t)(x | y);
	case '^': return (int64_t)(x ^ y);
	case '&': return (int64_t)(x & y);
	case '=': return a == b;
	case '!': return a != b;
	case '+': return (int64_t)(x + y);
	case '-': return (int64_t)(x - y);
	case '*': return (int64_t)(x * y);
	case '<':
	case '>':
		if (op[1] == op[0]) {
			if (b < 0 || b > 63) {
				fail(ps, "a shift by %lld is outside 0..63", (long long)b);
				return 0;
			}
			return op[0] == '<' ? (int64_t)(x << b) : (int64_t)(x >> b); /* logical, as on usize */
		}
		if (op[1] == '=')
			return op[0] == '<' ? a <= b : a >= b;
		return op[0] == '<' ? a < b : a > b;
	default: /* '/', '%' */
		if (b == 0) {
			fail(ps, "division by zero");
			return 0;
		}
		if (a == INT64_MIN && b == -1)
			return op[0] == '/' ? INT64_MIN : 0;
		return op[0] == '/' ? a / b : a % b;
	}
}

static int64_t parse_level(struct parse *ps, size_t level)
{
	if (level == LEVELS)
		return parse_primary(ps);
	int64_t v = parse_level(ps, level + 1);
	const char *op;
	while (!ps->why && (op = operator_at(ps, level))) {
		ps->at += strlen(op);
		int64_t rhs = parse_level(ps, level + 1);
		if (!ps->why)
			v = apply(ps, op, v, rhs);
	}
	return v;
}

static int64_t parse_or(struct parse *ps)
{
	return parse_level(ps, 0);
}

static bool run(const char *text, const struct ai_summary_expr_reader *reader, int64_t *ret, char **why_ret)
{
	struct parse ps = { .text = text, .at = text, .reader = reader };
	int64_t v = parse_or(&ps);
	skip_space(&ps);
	if (!ps.why && *ps.at)
		fail(&ps, "unexpected '%s'", ps.at);
	if (ps.why) {
		*why_ret = ps.why;
		return false;
	}
	*ret = v;
	return true;
}

char *ai_summary_expr_check(const char *text)
{
	int64_t unused;
	char *why = NULL;
	if (run(text, NULL, &unused, &why))
		return NULL;
	return why ? why : xstrdup("not understood");
}

bool ai_summary_expr_eval(const char *text, const struct ai_summary_expr_reader *reader, int64_t *ret,
			  char **why_ret)
{
	*why_ret = NULL;
	return run(text, reader, ret, why_ret);
}
