/* Rust symbol demangling: legacy (`_ZN<len><ident>...17h<hash>E`) and v0 (`_R...`).
 *
 * Both decoders are bounded: recursion depth, backreference positions and output size are checked,
 * so a malformed or hostile symbol gives NULL (the caller prints it raw), never a crash or a hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ai/demangle.h"
#include "ai/util.h"

#define MAX_OUTPUT (64 * 1024)
#define MAX_DEPTH 256

struct buf {
	char *s;
	size_t len, cap;
	bool overflow;
};

static void buf_putn(struct buf *b, const char *s, size_t n)
{
	if (b->overflow || b->len + n + 1 > MAX_OUTPUT) {
		b->overflow = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

static void buf_putc(struct buf *b, char c)
{
	buf_putn(b, &c, 1);
}

static void buf_put_u64(struct buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_putn(b, tmp + i, sizeof(tmp) - i);
}

static void buf_put_utf8(struct buf *b, uint32_t c)
{
	char tmp[4];
	if (c < 0x80) {
		tmp[0] = (char)c;
		buf_putn(b, tmp, 1);
	} else if (c < 0x800) {
		tmp[0] = (char)(0xc0 | (c >> 6));
		tmp[1] = (char)(0x80 | (c & 0x3f));
		buf_putn(b, tmp, 2);
	} else if (c < 0x10000) {
		tmp[0] = (char)(0xe0 | (c >> 12));
		tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		tmp[2] = (char)(0x80 | (c & 0x3f));
		buf_putn(b, tmp, 3);
	} else {
		tmp[0] = (char)(0xf0 | (c >> 18));
		tmp[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		tmp[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		tmp[3] = (char)(0x80 | (c & 0x3f));
		buf_putn(b, tmp, 4);
	}
}

static char *buf_finish(struct buf *b, bool ok)
{
	if (!ok || b->overflow || !b->s) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- legacy ---- */

/* "h" followed by 16 lowercase hex digits: the hash element that ends a legacy symbol. */
static bool is_legacy_hash(const char *s, size_t n)
{
	if (n != 17 || s[0] != 'h')
		return false;
	for (size_t i = 1; i < n; i++) {
		if (hex_value(s[i]) < 0)
			return false;
	}
	return true;
}

/* Decodes one path element: `$LT$` escapes and `..` separators. */
static bool legacy_element(struct buf *b, const char *s, size_t n)
{
	static const struct {
		const char *code;
		char c;
	} escapes[] = {
		{ "SP", '@' }, { "BP", '*' }, { "RF", '&' }, { "LT", '<' }, { "GT", '>' },
		{ "LP", '(' }, { "RP", ')' }, { "C", ',' },
	};
	const char *end = s + n;
	if (n >= 2 && s[0] == '_' && s[1] == '$')
		s++;
	while (s < end) {
		if (*s == '.') {
			if (s + 1 < end && s[1] == '.') {
				buf_puts(b, "::");
				s += 2;
			} else {
				buf_putc(b, '.');
				s++;
			}
		} else if (*s == '$') {
			const char *close = memchr(s + 1, '$', (size_t)(end - s - 1));
			if (!close)
				return false;
			const char *code = s + 1;
			size_t len = (size_t)(close - code);
			bool found = false;
			for (size_t i = 0; i < AI_ARRAY_SIZE(escapes); i++) {
				if (strlen(escapes[i].code) == len && memcmp(escapes[i].code, code, len) == 0) {
					buf_putc(b, escapes[i].c);
					found = true;
					break;
				}
			}
			if (!found) {
				if (len < 2 || len > 9 || code[0] != 'u')
					return false;
				uint32_t c = 0;
				for (size_t i = 1; i < len; i++) {
					int v = hex_value(code[i]);
					if (v < 0)
						return false;
					c = c * 16 + (uint32_t)v;
				}
				if (c > 0x10ffff)
					return false;
				buf_put_utf8(b, c);
			}
			s = close + 1;
		} else {
			const char *stop = s;
			while (stop < end && *stop != '.' && *stop != '$')
				stop++;
			buf_putn(b, s, (size_t)(stop - s));
			s = stop;
		}
	}
	return true;
}

static char *demangle_legacy(const char *s)
{
	struct buf b = { 0 };
	bool first = true;
	while (*s != 'E') {
		if (*s < '0' || *s > '9')
			return buf_finish(&b, false);
		size_t len = 0;
		while (*s >= '0' && *s <= '9') {
			len = len * 10 + (size_t)(*s - '0');
			if (len > MAX_OUTPUT)
				return buf_finish(&b, false);
			s++;
		}
		if (len == 0 || strnlen(s, len) < len)
			return buf_finish(&b, false);
		if (s[len] == 'E' && !first && is_legacy_hash(s, len)) {
			s += len;
			break;
		}
		if (!first)
			buf_puts(&b, "::");
		first = false;
		if (!legacy_element(&b, s, len))
			return buf_finish(&b, false);
		s += len;
	}
	s++; /* 'E' */
	/* Anything but a compiler suffix (".llvm.123") after 'E' means this is not a Rust symbol but,
	 * e.g., a C++ one with a parameter list. */
	if (*s != '\0' && *s != '.')
		return buf_finish(&b, false);
	return buf_finish(&b, !first);
}

/* ---- v0 ---- */

struct v0 {
	const char *sym; /* after "_R"; backrefs count from here */
	size_t len;
	size_t pos;
	int depth;
	bool error;
	uint64_t bound_lifetimes;
	struct buf *out;
	bool printing; /* false while skipping (e.g. an instantiating crate) */
};

static bool v0_eat(struct v0 *p, char c)
{
	if (p->pos < p->len && p->sym[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static char v0_peek(struct v0 *p)
{
	return p->pos < p->len ? p->sym[p->pos] : '\0';
}

static char v0_next(struct v0 *p)
{
	if (p->pos >= p->len) {
		p->error = true;
		return '\0';
	}
	return p->sym[p->pos++];
}

static void v0_print(struct v0 *p, const char *s)
{
	if (p->printing && !p->error)
		buf_puts(p->out, s);
}

static void v0_printn(struct v0 *p, const char *s, size_t n)
{
	if (p->printing && !p->error)
		buf_putn(p->out, s, n);
}

static void v0_print_u64(struct v0 *p, uint64_t v)
{
	if (p->printing && !p->error)
		buf_put_u64(p->out, v);
}

/* <base-62-number> = {<0-9a-zA-Z>} "_" ; "_" is 0, otherwise the digits' value plus one. */
static uint64_t v0_base62(struct v0 *p)
{
	if (v0_eat(p, '_'))
		return 0;
	uint64_t v = 0;
	for (;;) {
		char c = v0_next(p);
		if (p->error)
			return 0;
		if (c == '_')
			break;
		uint64_t d;
		if (c >= '0' && c <= '9')
			d = (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'z')
			d = (uint64_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'Z')
			d = (uint64_t)(c - 'A' + 36);
		else {
			p->error = true;
			return 0;
		}
		if (v > (UINT64_MAX - d) / 62) {
			p->error = true;
			return 0;
		}
		v = v * 62 + d;
	}
	if (v == UINT64_MAX) {
		p->error = true;
		return 0;
	}
	return v + 1;
}

static uint64_t v0_decimal(struct v0 *p)
{
	char c = v0_peek(p);
	if (c < '0' || c > '9') {
		p->error = true;
		return 0;
	}
	if (c == '0') {
		p->pos++;
		return 0;
	}
	uint64_t v = 0;
	while ((c = v0_peek(p)) >= '0' && c <= '9') {
		if (v > UINT64_MAX / 10 - 10) {
			p->error = true;
			return 0;
		}
		v = v * 10 + (uint64_t)(c - '0');
		p->pos++;
	}
	return v;
}

static uint64_t v0_opt_disambiguator(struct v0 *p)
{
	return v0_eat(p, 's') ? v0_base62(p) + 1 : 0;
}

struct v0_ident {
	const char *s;
	size_t n;
	bool punycode;
};

static struct v0_ident v0_undisambiguated_ident(struct v0 *p)
{
	struct v0_ident id = { 0 };
	id.punycode = v0_eat(p, 'u');
	uint64_t n = v0_decimal(p);
	v0_eat(p, '_');
	if (p->error || n > p->len - p->pos) {
		p->error = true;
		return id;
	}
	id.s = p->sym + p->pos;
	id.n = (size_t)n;
	p->pos += (size_t)n;
	return id;
}

static void v0_print_ident(struct v0 *p, struct v0_ident id)
{
	if (id.punycode) {
		v0_print(p, "punycode{");
		v0_printn(p, id.s, id.n);
		v0_print(p, "}");
	} else {
		v0_printn(p, id.s, id.n);
	}
}

static void v0_path(struct v0 *p, bool in_value);
static void v0_type(struct v0 *p);
static void v0_const(struct v0 *p);

static bool v0_enter(struct v0 *p)
{
	if (p->error || ++p->depth > MAX_DEPTH || (p->out && p->out->overflow)) {
		p->error = true;
		return false;
	}
	return true;
}

/* Runs fn at the position a backreference names, then comes back. */
static void v0_backref(struct v0 *p, void (*fn)(struct v0 *, bool), bool arg)
{
	size_t start = p->pos - 1; /* the 'B' */
	uint64_t target = v0_base62(p);
	if (p->error || target >= start) {
		p->error = true;
		return;
	}
	size_t saved = p->pos;
	p->pos = (size_t)target;
	fn(p, arg);
	p->pos = saved;
}

static void v0_type_adapter(struct v0 *p, bool unused)
{
	(void)unused;
	v0_type(p);
}

static void v0_const_adapter(struct v0 *p, bool unused)
{
	(void)unused;
	v0_const(p);
}

static void v0_lifetime(struct v0 *p, uint64_t index)
{
	if (index == 0) {
		v0_print(p, "'_");
		return;
	}
	if (index > p->bound_lifetimes) {
		p->error = true;
		return;
	}
	uint64_t depth = p->bound_lifetimes - index;
	if (depth < 26) {
		char name[3] = { '\'', (char)('a' + depth), '\0' };
		v0_print(p, name);
	} else {
		v0_print(p, "'_");
		v0_print_u64(p, depth);
	}
}

/* [<binder>]: "G" <base-62-number> binds that many lifetimes plus one. */
static uint64_t v0_binder(struct v0 *p)
{
	if (!v0_eat(p, 'G'))
		return 0;
	uint64_t n = v0_base62(p) + 1;
	if (p->error || n > 64) {
		p->error = true;
		return 0;
	}
	v0_print(p, "for<");
	for (uint64_t i = 0; i < n; i++) {
		if (i)
			v0_print(p, ", ");
		p->bound_lifetimes++;
		v0_lifetime(p, 1);
	}
	v0_print(p, "> ");
	return n;
}

static void v0_generic_arg(struct v0 *p)
{
	if (v0_eat(p, 'L')) {
		v0_lifetime(p, v0_base62(p));
	} else if (v0_eat(p, 'K')) {
		v0_const(p);
	} else {
		v0_type(p);
	}
}

static void v0_path(struct v0 *p, bool in_value)
{
	if (!v0_enter(p))
		return;
	char tag = v0_next(p);
	switch (tag) {
	case 'C': {
		v0_opt_disambiguator(p);
		v0_print_ident(p, v0_undisambiguated_ident(p));
		break;
	}
	case 'N': {
		char ns = v0_next(p);
		if (!((ns >= 'a' && ns <= 'z') || (ns >= 'A' && ns <= 'Z'))) {
			p->error = true;
			break;
		}
		v0_path(p, in_value);
		uint64_t dis = v0_opt_disambiguator(p);
		struct v0_ident id = v0_undisambiguated_ident(p);
		if (p->error)
			break;
		if (ns >= 'A' && ns <= 'Z') {
			v0_print(p, "::{");
			if (ns == 'C')
				v0_print(p, "closure");
			else if (ns == 'S')
				v0_print(p, "shim");
			else {
				char c[2] = { ns, '\0' };
				v0_print(p, c);
			}
			if (id.n) {
				v0_print(p, ":");
				v0_print_ident(p, id);
			}
			v0_print(p, "#");
			v0_print_u64(p, dis);
			v0_print(p, "}");
		} else if (id.n) {
			v0_print(p, "::");
			v0_print_ident(p, id);
		}
		break;
	}
	case 'M':
	case 'X':
	case 'Y': {
		if (tag != 'Y') {
			/* <impl-path> = [<disambiguator>] <path>: where the impl is; not printed. */
			v0_opt_disambiguator(p);
			bool printing = p->printing;
			p->printing = false;
			v0_path(p, false);
			p->printing = printing;
		}
		v0_print(p, "<");
		v0_type(p);
		if (tag != 'M') {
			v0_print(p, " as ");
			v0_path(p, false);
		}
		v0_print(p, ">");
		break;
	}
	case 'I': {
		v0_path(p, in_value);
		if (in_value)
			v0_print(p, "::");
		v0_print(p, "<");
		for (int i = 0; !p->error && !v0_eat(p, 'E'); i++) {
			if (i)
				v0_print(p, ", ");
			v0_generic_arg(p);
		}
		v0_print(p, ">");
		break;
	}
	case 'B':
		v0_backref(p, v0_path, in_value);
		break;
	default:
		p->error = true;
	}
	p->depth--;
}

static const char *v0_basic_type(char c)
{
	switch (c) {
	case 'a': return "i8";
	case 'b': return "bool";
	case 'c': return "char";
	case 'd': return "f64";
	case 'e': return "str";
	case 'f': return "f32";
	case 'h': return "u8";
	case 'i': return "isize";
	case 'j': return "usize";
	case 'l': return "i32";
	case 'm': return "u32";
	case 'n': return "i128";
	case 'o': return "u128";
	case 's': return "i16";
	case 't': return "u16";
	case 'u': return "()";
	case 'v': return "...";
	case 'x': return "i64";
	case 'y': return "u64";
	case 'z': return "!";
	case 'p': return "_";
	default: return NULL;
	}
}

static void v0_fn_sig(struct v0 *p)
{
	uint64_t saved_lifetimes = p->bound_lifetimes;
	v0_binder(p);
	if (v0_eat(p, 'U'))
		v0_print(p, "unsafe ");
	if (v0_eat(p, 'K')) {
		v0_print(p, "extern \"");
		if (v0_eat(p, 'C')) {
			v0_print(p, "C");
		} else {
			struct v0_ident abi = v0_undisambiguated_ident(p);
			/* '_' stands for '-' in ABI names. */
			for (size_t i = 0; i < abi.n && !p->error; i++)
				v0_printn(p, abi.s[i] == '_' ? "-" : &abi.s[i], 1);
		}
		v0_print(p, "\" ");
	}
	v0_print(p, "fn(");
	for (int i = 0; !p->error && !v0_eat(p, 'E'); i++) {
		if (i)
			v0_print(p, ", ");
		v0_type(p);
	}
	v0_print(p, ")");
	if (v0_eat(p, 'u')) {
		/* returns (): print nothing */
	} else {
		v0_print(p, " -> ");
		v0_type(p);
	}
	p->bound_lifetimes = saved_lifetimes;
}

static void v0_dyn(struct v0 *p)
{
	uint64_t saved_lifetimes = p->bound_lifetimes;
	v0_print(p, "dyn ");
	v0_binder(p);
	for (int i = 0; !p->error && !v0_eat(p, 'E'); i++) {
		if (i)
			v0_print(p, " + ");
		/* <dyn-trait> = <path> {<dyn-trait-assoc-binding>}; bindings go inside the trait's
		 * generic list, so print them as "Trait<Item = T>". */
		v0_path(p, false);
		bool open = false;
		while (!p->error && v0_eat(p, 'p')) {
			v0_print(p, open ? ", " : "<");
			open = true;
			v0_print_ident(p, v0_undisambiguated_ident(p));
			v0_print(p, " = ");
			v0_type(p);
		}
		if (open)
			v0_print(p, ">");
	}
	p->bound_lifetimes = saved_lifetimes;
	/* the trait object's lifetime bound */
	if (!v0_eat(p, 'L')) {
		p->error = true;
		return;
	}
	uint64_t lt = v0_base62(p);
	if (lt) {
		v0_print(p, " + ");
		v0_lifetime(p, lt);
	}
}

static void v0_type(struct v0 *p)
{
	if (!v0_enter(p))
		return;
	char c = v0_peek(p);
	const char *basic = v0_basic_type(c);
	if (basic) {
		p->pos++;
		v0_print(p, basic);
	} else {
		switch (c) {
		case 'R':
		case 'Q':
			p->pos++;
			v0_print(p, "&");
			if (v0_eat(p, 'L')) {
				uint64_t lt = v0_base62(p);
				if (lt) {
					v0_lifetime(p, lt);
					v0_print(p, " ");
				}
			}
			if (c == 'Q')
				v0_print(p, "mut ");
			v0_type(p);
			break;
		case 'P':
		case 'O':
			p->pos++;
			v0_print(p, c == 'P' ? "*const " : "*mut ");
			v0_type(p);
			break;
		case 'A':
			p->pos++;
			v0_print(p, "[");
			v0_type(p);
			v0_print(p, "; ");
			v0_const(p);
			v0_print(p, "]");
			break;
		case 'S':
			p->pos++;
			v0_print(p, "[");
			v0_type(p);
			v0_print(p, "]");
			break;
		case 'T': {
			p->pos++;
			v0_print(p, "(");
			int i;
			for (i = 0; !p->error && !v0_eat(p, 'E'); i++) {
				if (i)
					v0_print(p, ", ");
				v0_type(p);
			}
			if (i == 1)
				v0_print(p, ",");
			v0_print(p, ")");
			break;
		}
		case 'F':
			p->pos++;
			v0_fn_sig(p);
			break;
		case 'D':
			p->pos++;
			v0_dyn(p);
			break;
		case 'B':
			p->pos++;
			v0_backref(p, v0_type_adapter, false);
			break;
		default:
			v0_path(p, false);
		}
	}
	p->depth--;
}

static void v0_const(struct v0 *p)
{
	if (!v0_enter(p))
		return;
	if (v0_eat(p, 'p')) {
		v0_print(p, "_");
	} else if (v0_eat(p, 'B')) {
		v0_backref(p, v0_const_adapter, false);
	} else {
		char ty = v0_next(p);
		bool negative = false;
		if (ty == 'a' || ty == 's' || ty == 'l' || ty == 'x' || ty == 'n' || ty == 'i')
			negative = v0_eat(p, 'n');
		else if (!(ty == 'h' || ty == 't' || ty == 'm' || ty == 'y' || ty == 'o' || ty == 'j' ||
			   ty == 'b' || ty == 'c'))
			p->error = true; /* str, struct, array... consts: give up, print the raw symbol */
		uint64_t v = 0;
		bool big = false;
		size_t start = p->pos;
		for (;;) {
			char c = v0_next(p);
			if (p->error || c == '_')
				break;
			int d = hex_value(c);
			if (d < 0) {
				p->error = true;
				break;
			}
			if (v >> 60)
				big = true;
			v = v * 16 + (uint64_t)d;
		}
		if (p->error) {
			/* nothing */
		} else if (ty == 'b') {
			v0_print(p, v ? "true" : "false");
		} else if (ty == 'c' && !big && v < 0x110000) {
			if (p->printing) {
				buf_putc(p->out, '\'');
				buf_put_utf8(p->out, (uint32_t)v);
				buf_putc(p->out, '\'');
			}
		} else if (big) {
			v0_print(p, negative ? "-0x" : "0x");
			v0_printn(p, p->sym + start, p->pos - 1 - start);
		} else {
			if (negative)
				v0_print(p, "-");
			v0_print_u64(p, v);
		}
	}
	p->depth--;
}

static char *demangle_v0(const char *s)
{
	if (*s >= '0' && *s <= '9')
		return NULL; /* an encoding version we do not know */
	struct buf b = { 0 };
	struct v0 p = { .sym = s, .len = strcspn(s, "."), .out = &b, .printing = true };
	v0_path(&p, true);
	/* An optional instantiating crate follows; it is not printed. */
	if (!p.error && p.pos < p.len) {
		p.printing = false;
		v0_path(&p, false);
	}
	if (p.pos != p.len)
		p.error = true;
	return buf_finish(&b, !p.error);
}

bool ai_is_rust_symbol(const char *symbol)
{
	if (!symbol)
		return false;
	if (strncmp(symbol, "_R", 2) == 0)
		return true;
	if (strncmp(symbol, "_ZN", 3) != 0)
		return false;
	/* A legacy Rust symbol ends with a hash element "17h<16 hex>E". */
	const char *e = strstr(symbol, "17h");
	while (e) {
		if (strlen(e) >= 3 + 16 + 1 && is_legacy_hash(e + 2, 17) && e[19] == 'E')
			return true;
		e = strstr(e + 1, "17h");
	}
	return false;
}

char *ai_demangle(const char *symbol)
{
	if (!symbol)
		return NULL;
	if (strncmp(symbol, "_ZN", 3) == 0)
		return demangle_legacy(symbol + 3);
	if (strncmp(symbol, "__ZN", 4) == 0)
		return demangle_legacy(symbol + 4);
	if (strncmp(symbol, "_R", 2) == 0)
		return demangle_v0(symbol + 2);
	if (strncmp(symbol, "__R", 3) == 0)
		return demangle_v0(symbol + 3);
	return NULL;
}
