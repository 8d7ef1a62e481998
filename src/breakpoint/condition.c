/* `--break 'SPEC if EXPR'`: a small expression language over the hit frame's decoded locals and
 * the task (docs: the man page's --break).
 *
 *   expr   := or
 *   or     := and { "||" and }
 *   and    := unary { "&&" unary }
 *   unary  := "!" unary | cmp
 *   cmp    := primary [ ("==" | "!=" | "<" | "<=" | ">" | ">=") primary ]
 *   primary:= INTEGER | STRING | "true" | "false" | PATH | "(" expr ")"
 *   PATH   := IDENT { "." IDENT }      a local and its fields, or task.id / task.name / task.status
 *
 * Values are read from the text the value printer made ("3", "\"conn-2\"", "Config { version: 3 }"):
 * integers compare as numbers, strings as strings. Three-valued: a local that is not there, moved,
 * or of a kind that cannot be compared is unknown, and so is a comparison with it; `&&` and `||`
 * decide when one side does (false && unknown is false). An unknown condition is not a hit, and
 * the caller says why. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/snapshot.h"
#include "ai/util.h"
#include "ai/value.h"

enum node_kind { N_INT, N_STR, N_BOOL, N_PATH, N_NOT, N_AND, N_OR, N_CMP };
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct cond_node {
	enum node_kind kind;
	enum cmp_op op;
	int64_t integer;
	bool boolean;
	char *text;   /* N_STR: the string; N_PATH: "a.b.c" (owned) */
	struct cond_node *left, *right;
};

struct ai_break_cond {
	struct cond_node *root;
};

struct parser {
	const char *text; /* the whole expression, for messages */
	const char *p;
	struct ai_error *err;
};

#define MAX_DEPTH 64

static void skip_space(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static bool accept(struct parser *ps, const char *token)
{
	skip_space(ps);
	size_t n = strlen(token);
	if (strncmp(ps->p, token, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static void fail(struct parser *ps, const char *what)
{
	if (!ps->err)
		ps->err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "condition `%s`: %s at column %d", ps->text, what,
					  (int)(ps->p - ps->text) + 1);
}

static struct cond_node *new_node(enum node_kind kind)
{
	struct cond_node *n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	return n;
}

static void free_node(struct cond_node *n)
{
	if (!n)
		return;
	free_node(n->left);
	free_node(n->right);
	free(n->text);
	free(n);
}

static struct cond_node *parse_or(struct parser *ps, int depth);

static struct cond_node *parse_primary(struct parser *ps, int depth)
{
	skip_space(ps);
	const char *p = ps->p;
	if (depth > MAX_DEPTH) {
		fail(ps, "nested too deeply");
		return NULL;
	}
	if (*p == '(') {
		ps->p++;
		struct cond_node *n = parse_or(ps, depth + 1);
		if (n && !accept(ps, ")")) {
			fail(ps, "expected ')'");
			free_node(n);
			return NULL;
		}
		return n;
	}
	if (isdigit((unsigned char)*p) || (*p == '-' && isdigit((unsigned char)p[1]))) {
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (errno || isalnum((unsigned char)*end) || *end == '_') {
			fail(ps, "bad integer");
			return NULL;
		}
		struct cond_node *n = new_node(N_INT);
		n->integer = v;
		ps->p = end;
		return n;
	}
	if (*p == '"') {
		char *s = xmalloc(strlen(p) + 1);
		size_t len = 0;
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			s[len++] = *p;
		}
		if (*p != '"') {
			free(s);
			fail(ps, "unterminated string");
			return NULL;
		}
		s[len] = '\0';
		ps->p = p + 1;
		struct cond_node *n = new_node(N_STR);
		n->text = s;
		return n;
	}
	if (isalpha((unsigned char)*p) || *p == '_') {
		const char *start = p;
		for (;;) {
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			if (*p == '.' && (isalpha((unsigned char)p[1]) || p[1] == '_')) {
				p++;
				continue;
			}
			break;
		}
		ps->p = p;
		size_t len = (size_t)(p - start);
		if ((len == 4 && strncmp(start, "true", 4) == 0) || (len == 5 && strncmp(start, "false", 5) == 0)) {
			struct cond_node *n = new_node(N_BOOL);
			n->boolean = len == 4;
			return n;
		}
		struct cond_node *n = new_node(N_PATH);
		n->text = xstrndup(start, len);
		return n;
	}
	fail(ps, *p ? "expected a value (a local, task.id, task.name, a number or a \"string\")"
		    : "it ends where a value should be");
	return NULL;
}

static struct cond_node *parse_cmp(struct parser *ps, int depth)
{
	struct cond_node *left = parse_primary(ps, depth);
	if (!left)
		return NULL;
	static const struct { const char *token; enum cmp_op op; } ops[] = {
		{ "==", OP_EQ }, { "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE }, { "<", OP_LT }, { ">", OP_GT },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!accept(ps, ops[i].token))
			continue;
		struct cond_node *right = parse_primary(ps, depth);
		if (!right) {
			free_node(left);
			return NULL;
		}
		struct cond_node *n = new_node(N_CMP);
		n->op = ops[i].op;
		n->left = left;
		n->right = right;
		return n;
	}
	return left;
}

static struct cond_node *parse_unary(struct parser *ps, int depth)
{
	skip_space(ps);
	if (ps->p[0] == '!' && ps->p[1] != '=') {
		ps->p++;
		struct cond_node *inner = depth > MAX_DEPTH ? NULL : parse_unary(ps, depth + 1);
		if (!inner) {
			fail(ps, "nested too deeply");
			return NULL;
		}
		struct cond_node *n = new_node(N_NOT);
		n->left = inner;
		return n;
	}
	return parse_cmp(ps, depth);
}

static struct cond_node *parse_binary(struct parser *ps, int depth, bool is_or)
{
	struct cond_node *left = is_or ? parse_binary(ps, depth, false) : parse_unary(ps, depth);
	while (left && accept(ps, is_or ? "||" : "&&")) {
		struct cond_node *right = is_or ? parse_binary(ps, depth, false) : parse_unary(ps, depth);
		if (!right) {
			free_node(left);
			return NULL;
		}
		struct cond_node *n = new_node(is_or ? N_OR : N_AND);
		n->left = left;
		n->right = right;
		left = n;
	}
	return left;
}

static struct cond_node *parse_or(struct parser *ps, int depth)
{
	return parse_binary(ps, depth, true);
}

struct ai_error *ai_break_cond_parse(const char *text, struct ai_break_cond **ret)
{
	struct parser ps = { .text = text, .p = text };
	struct cond_node *root = parse_or(&ps, 0);
	skip_space(&ps);
	if (root && *ps.p)
		fail(&ps, "unexpected text");
	if (ps.err) {
		free_node(root);
		return ps.err;
	}
	struct ai_break_cond *c = xcalloc(1, sizeof(*c));
	c->root = root;
	*ret = c;
	return NULL;
}

void ai_break_cond_destroy(struct ai_break_cond *cond)
{
	if (!cond)
		return;
	free_node(cond->root);
	free(cond);
}

/* Evaluation. */

enum val_kind { V_UNKNOWN, V_INT, V_STR, V_BOOL };
struct val {
	enum val_kind kind;
	int64_t integer;
	bool boolean;
	char *str;  /* V_STR (owned) */
};

struct eval {
	const struct ai_break_env *env;
	char *why; /* the first reason something was unknown (owned) */
};

static struct val unknown(struct eval *e, char *why)
{
	if (!e->why)
		e->why = why;
	else
		free(why);
	return (struct val){ V_UNKNOWN };
}

/* A value printed by the value printer, as a comparable value. */
static struct val from_text(struct eval *e, const char *path, const char *text, size_t len)
{
	char *t = xstrndup(text, len);
	char *end;
	errno = 0;
	long long v = strtoll(t, &end, 10);
	if (len && !errno && *end == '\0' && (isdigit((unsigned char)t[0]) || t[0] == '-')) {
		free(t);
		return (struct val){ .kind = V_INT, .integer = v };
	}
	if (strcmp(t, "true") == 0 || strcmp(t, "false") == 0) {
		bool b = t[0] == 't';
		free(t);
		return (struct val){ .kind = V_BOOL, .boolean = b };
	}
	if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
		size_t n = 0;
		for (size_t i = 1; i + 1 < len; i++) {
			if (t[i] == '\\' && i + 2 < len)
				i++;
			t[n++] = t[i];
		}
		t[n] = '\0';
		return (struct val){ .kind = V_STR, .str = t };
	}
	struct val u = unknown(e, xasprintf("%s is neither a number, a bool nor a string: %s", path, t));
	free(t);
	return u;
}

/* The text of field `name` inside a printed struct "Type { a: 1, name: v, .. }": [*start, *len). */
static bool field_text(const char *text, size_t text_len, const char *name, size_t name_len, const char **start,
		       size_t *len)
{
	const char *p = memchr(text, '{', text_len), *end = text + text_len;
	if (!p)
		return false;
	int depth = 0;
	bool in_string = false;
	const char *member = NULL;
	for (; p < end; p++) {
		char c = *p;
		if (in_string) {
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[' || c == '(') {
			if (++depth == 1)
				member = p + 1;
		} else if (c == '}' || c == ']' || c == ')' || (c == ',' && depth == 1)) {
			if (depth == 1 && member) {
				while (member < p && *member == ' ')
					member++;
				if ((size_t)(p - member) > name_len + 2 && strncmp(member, name, name_len) == 0 &&
				    member[name_len] == ':' && member[name_len + 1] == ' ') {
					*start = member + name_len + 2;
					*len = (size_t)(p - *start);
					while (*len && (*start)[*len - 1] == ' ')
						(*len)--;
					return true;
				}
				member = p + 1;
			}
			if (c != ',' && --depth == 0)
				return false;
		}
	}
	return false;
}

static const struct ai_snapshot_local *find_local(const struct ai_await_node *frame, const char *name, size_t len)
{
	for (size_t i = 0; frame && i < frame->local_count; i++)
		if (strlen(frame->locals[i].name) == len && strncmp(frame->locals[i].name, name, len) == 0)
			return &frame->locals[i];
	return NULL;
}

/* The printed text of local path (its first component) and its fields: [*text_ret, *len_ret) of
 * the local's value; false (unknown said) when there is no such local or field. */
static bool local_text(struct eval *e, const char *path, const struct ai_snapshot_local *local, const char **text_ret,
		       size_t *len_ret)
{
	const char *dot = strchr(path, '.');
	size_t first = dot ? (size_t)(dot - path) : strlen(path);
	if (!local) {
		unknown(e, xasprintf("no local %.*s in %s here", (int)first, path,
				     e->env->frame && e->env->frame->function ? e->env->frame->function : "the frame"));
		return false;
	}
	if (local->state != AI_LOCAL_LIVE || !local->value) {
		unknown(e, xasprintf("%.*s is %s", (int)first, path, ai_local_text(local)));
		return false;
	}
	/* `x == 5` of an Arc<u32> printed `Arc(strong 1, weak 0) 5`: the value after the states */
	const char *text = ai_value_after_summary(local->value);
	size_t len = strlen(text);
	for (const char *p = dot; p; p = strchr(p + 1, '.')) {
		const char *name = p + 1, *next = strchr(name, '.');
		size_t name_len = next ? (size_t)(next - name) : strlen(name);
		if (!field_text(text, len, name, name_len, &text, &len)) {
			unknown(e, xasprintf("%.*s has no field %.*s", (int)(p - path), path, (int)name_len, name));
			return false;
		}
		const char *value = ai_value_after_summary(text); /* (it may look past len: only within) */
		if (value > text && value < text + len) {
			len -= (size_t)(value - text);
			text = value;
		}
	}
	*text_ret = text;
	*len_ret = len;
	return true;
}

/* task.id, task.name, task.status; false when path is not one of task's (field_ret: whether it
 * names the task at all). */
static struct val task_field(struct eval *e, const char *path, bool *is_task_ret)
{
	const char *dot = strchr(path, '.');
	size_t first = dot ? (size_t)(dot - path) : strlen(path);
	const struct ai_snapshot_task *task = e->env->task;
	*is_task_ret = !find_local(e->env->frame, path, first) && first == 4 && strncmp(path, "task", 4) == 0 && dot;
	if (!*is_task_ret)
		return (struct val){ V_UNKNOWN };
	const char *field = dot + 1;
	if (!task)
		return unknown(e, xstrdup("no task holds the coroutine that hit the breakpoint"));
	if (strcmp(field, "id") == 0)
		return task->has_id ? (struct val){ .kind = V_INT, .integer = (int64_t)task->id }
				    : unknown(e, xstrdup("the task has no id"));
	if (strcmp(field, "name") == 0 || strcmp(field, "status") == 0) {
		const char *s = field[0] == 'n' ? task->name : task->status;
		return s ? (struct val){ .kind = V_STR, .str = xstrdup(s) }
			 : unknown(e, xasprintf("the task has no %s", field));
	}
	return unknown(e, xasprintf("task has no field %s (id, name, status)", field));
}

static struct val eval_path(struct eval *e, const char *path)
{
	bool is_task;
	struct val v = task_field(e, path, &is_task);
	if (is_task)
		return v;
	const char *text;
	size_t len;
	size_t first = strcspn(path, ".");
	if (!local_text(e, path, find_local(e->env->frame, path, first), &text, &len))
		return (struct val){ V_UNKNOWN };
	return from_text(e, path, text, len);
}

static void val_free(struct val *v)
{
	free(v->str);
	v->str = NULL;
}

/* 1 true, 0 false, -1 unknown */
static int eval_node(struct eval *e, const struct cond_node *n);

static struct val eval_value(struct eval *e, const struct cond_node *n)
{
	switch (n->kind) {
	case N_INT:
		return (struct val){ .kind = V_INT, .integer = n->integer };
	case N_STR:
		return (struct val){ .kind = V_STR, .str = xstrdup(n->text) };
	case N_BOOL:
		return (struct val){ .kind = V_BOOL, .boolean = n->boolean };
	case N_PATH:
		return eval_path(e, n->text);
	default: {
		int r = eval_node(e, n);
		return r < 0 ? (struct val){ V_UNKNOWN } : (struct val){ .kind = V_BOOL, .boolean = r == 1 };
	}
	}
}

static int compare(struct eval *e, const struct cond_node *n)
{
	struct val a = eval_value(e, n->left), b = eval_value(e, n->right);
	int r = -1;
	if (a.kind == V_UNKNOWN || b.kind == V_UNKNOWN) {
		r = -1;
	} else if (a.kind != b.kind) {
		static const char *names[] = { "unknown", "a number", "a string", "a bool" };
		r = -1;
		unknown(e, xasprintf("cannot compare %s with %s", names[a.kind], names[b.kind]));
	} else {
		int c = a.kind == V_INT ? (a.integer > b.integer) - (a.integer < b.integer)
			: a.kind == V_STR ? strcmp(a.str, b.str)
					  : (int)a.boolean - (int)b.boolean;
		if (a.kind == V_BOOL && n->op != OP_EQ && n->op != OP_NE) {
			unknown(e, xstrdup("bools compare only with == and !="));
		} else {
			switch (n->op) {
			case OP_EQ: r = c == 0; break;
			case OP_NE: r = c != 0; break;
			case OP_LT: r = c < 0; break;
			case OP_LE: r = c <= 0; break;
			case OP_GT: r = c > 0; break;
			case OP_GE: r = c >= 0; break;
			}
		}
	}
	val_free(&a);
	val_free(&b);
	return r;
}

static int eval_node(struct eval *e, const struct cond_node *n)
{
	switch (n->kind) {
	case N_CMP:
		return compare(e, n);
	case N_NOT: {
		int r = eval_node(e, n->left);
		return r < 0 ? -1 : !r;
	}
	case N_AND: {
		int a = eval_node(e, n->left);
		if (a == 0)
			return 0;
		int b = eval_node(e, n->right);
		return b == 0 ? 0 : (a < 0 || b < 0) ? -1 : 1;
	}
	case N_OR: {
		int a = eval_node(e, n->left);
		if (a == 1)
			return 1;
		int b = eval_node(e, n->right);
		return b == 1 ? 1 : (a < 0 || b < 0) ? -1 : 0;
	}
	default: {
		struct val v = eval_value(e, n);
		int r = -1;
		if (v.kind == V_BOOL)
			r = v.boolean;
		else if (v.kind != V_UNKNOWN)
			unknown(e, xstrdup("a condition must be a comparison or a bool"));
		val_free(&v);
		return r;
	}
	}
}

enum ai_break_truth ai_break_cond_eval(const struct ai_break_cond *cond, const struct ai_break_env *env,
				       char **why_ret)
{
	struct eval e = { .env = env };
	int r = eval_node(&e, cond->root);
	if (r >= 0) {
		free(e.why);
		e.why = NULL;
	}
	if (why_ret)
		*why_ret = e.why;
	else
		free(e.why);
	return r < 0 ? AI_BREAK_UNKNOWN : r ? AI_BREAK_TRUE : AI_BREAK_FALSE;
}

char *ai_break_cond_value(const struct ai_break_cond *cond, const struct ai_break_env *env, char **why_ret)
{
	struct eval e = { .env = env };
	const struct cond_node *n = cond->root;
	char *text = NULL;
	if (n->kind == N_PATH) {
		bool is_task;
		struct val v = task_field(&e, n->text, &is_task);
		const char *local;
		size_t len;
		if (is_task && v.kind == V_INT)
			text = xasprintf("%lld", (long long)v.integer);
		else if (is_task && v.kind == V_STR)
			text = xasprintf("\"%s\"", v.str);
		else if (!is_task && local_text(&e, n->text, find_local(env->frame, n->text, strcspn(n->text, ".")),
						&local, &len))
			text = xstrndup(local, len);
		val_free(&v);
	} else if (n->kind == N_INT) {
		text = xasprintf("%lld", (long long)n->integer);
	} else if (n->kind == N_STR) {
		text = xasprintf("\"%s\"", n->text);
	} else {
		int r = eval_node(&e, n);
		if (r >= 0)
			text = xstrdup(r ? "true" : "false");
	}
	if (text) {
		free(e.why);
		e.why = NULL;
	}
	if (why_ret)
		*why_ret = e.why;
	else
		free(e.why);
	return text;
}
