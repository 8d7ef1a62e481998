/* The adapter every decoder file of format async-inspect-runtime shares (declarative.h): finds
 * the runtime by a symbol or a DWARF type, the static that holds its tasks by its symbol and its
 * DWARF variable, walks the member path the file gives to a container (Vec, slice, array, linked
 * list), and reads each task's future (with the await-tree decoder), id, name and state through
 * the file's member paths. Members are found by DWARF name only; pointers (&T, Box<T>, NonNull),
 * Option and newtypes on the way are looked through. Everything read is bounded. */
#include <dwarf.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/demangle.h"
#include "ai/dwarf_reader.h"
#include "ai/elf_file.h"
#include "ai/util.h"
#include "declarative.h"

#define MAX_TASKS 100000
#define MAX_DIE_SCAN 8000000u
#define MAX_HOPS 8
#define MAX_NAME 256

/* A value in the target: its type and address. */
struct place {
	const struct ai_type *type;
	uint64_t address;
};

static struct ai_elf_file *symbol_file(struct ai_async *as, uint64_t *bias)
{
	struct ai_module *main = ai_debuginfo_main_module(as->di);
	if (main->first_end)
		ai_debuginfo_find_module(as->di, main->first_start); /* opens it */
	struct ai_elf_file *file = main->symbols ? main->symbols : main->elf;
	if (!file || main->error)
		return NULL;
	*bias = main->bias;
	return file;
}

struct symbol_search {
	const char *name, *needle;
	size_t name_len;
	bool tls;
	const char *mangled; /* the match */
	uint64_t value;
};

static bool match_symbol(void *arg, const GElf_Sym *sym, const char *mangled)
{
	struct symbol_search *s = arg;
	int type = GELF_ST_TYPE(sym->st_info);
	if (s->tls ? type != STT_TLS : type != STT_OBJECT && type != STT_FUNC)
		return true;
	bool match = strcmp(mangled, s->name) == 0;
	if (!match && strstr(mangled, s->needle)) {
		char *demangled = ai_demangle(mangled);
		match = demangled && (strcmp(demangled, s->name) == 0 ||
				      (s->tls && strncmp(demangled, s->name, s->name_len) == 0 &&
				       strncmp(demangled + s->name_len, "::", 2) == 0));
		free(demangled);
	}
	if (!match)
		return true;
	s->mangled = mangled;
	s->value = sym->st_value;
	return false;
}

/* The data or function symbol `name` (as demangled, without its hash, or as mangled) of the
 * symbol table: its mangled name (borrowed from the file) and value; NULL when there is none.
 * tls: the STT_TLS symbol of a thread-local, called `name` or inside it (`name::...`: std's
 * thread_local! keeps the value in a hidden static of the thread-local's own namespace). */
static const char *find_symbol(struct ai_elf_file *file, const char *name, bool tls, uint64_t *value_ret)
{
	/* Both manglings spell the last segment as <length><name>: a cheap filter. */
	const char *last = strrchr(name, ':');
	last = last ? last + 1 : name;
	char needle[128];
	snprintf(needle, sizeof(needle), "%zu%s", strlen(last), last);
	struct symbol_search s = { .name = name, .needle = needle, .name_len = strlen(name), .tls = tls };
	if (ai_elf_file_each_symbol(file, false, match_symbol, &s))
		return NULL;
	*value_ret = s.value;
	return s.mangled;
}

static bool has_type(struct ai_async *as, const char *name)
{
	if (!as->dwarf)
		return false;
	struct ai_dwarf_reader *reader = ai_dwarf_get_reader(as->dwarf);
	size_t count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(reader, &count);
	for (size_t i = 0; i < count; i++) {
		uint64_t die;
		struct ai_error *err = ai_dwarf_unit_load(reader, &units[i]);
		if (!err)
			err = ai_types_find_offset(as->types, units[i].first_die, name, &die);
		if (!err)
			return true;
		ai_error_destroy(err);
	}
	return false;
}

char *ai_decl_detect(const struct ai_runtime_ops *self, struct ai_async *as)
{
	const struct decl_runtime *d = self->data;
	uint64_t bias;
	struct ai_elf_file *file = symbol_file(as, &bias);
	uint64_t value;
	bool found = d->detect_symbol ? file && find_symbol(file, d->detect_symbol, false, &value)
				      : has_type(as, d->detect_type);
	if (!found)
		return NULL;
	char *version = d->crate ? ai_runtime_crate_version(as, d->crate) : NULL;
	return version ? version : xstrdup("");
}

/* The type DIE of the DWARF variable whose linkage name is `linkage` in one unit, or 0. */
static uint64_t variable_type_in(struct ai_dwarf_reader *r, struct ai_dwarf_unit *unit, const char *linkage,
				 size_t *budget)
{
	struct ai_error *err = ai_dwarf_unit_load(r, unit);
	if (err || unit->load_failed) {
		ai_error_destroy(err);
		return 0;
	}
	for (uint64_t offset = unit->first_die; offset < unit->end && *budget > 0; (*budget)--) {
		struct ai_dwarf_die die;
		if ((err = ai_dwarf_read_die(r, unit, offset, &die)))
			break;
		if (die.tag == DW_TAG_variable) {
			struct ai_dwarf_attr attrs[16];
			size_t count = 0;
			if ((err = ai_dwarf_die_attrs(r, &die, attrs, AI_ARRAY_SIZE(attrs), &count, NULL)))
				break;
			bool match = false;
			uint64_t type = 0;
			for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
				if ((attrs[i].name == DW_AT_linkage_name || attrs[i].name == DW_AT_MIPS_linkage_name) &&
				    attrs[i].cls == AI_DWARF_CLASS_STRING && attrs[i].str && strcmp(attrs[i].str, linkage) == 0)
					match = true;
				else if (attrs[i].name == DW_AT_type && attrs[i].cls == AI_DWARF_CLASS_REFERENCE)
					type = attrs[i].u;
			}
			if (match)
				return type;
		}
		uint64_t next;
		if ((err = ai_dwarf_die_end(r, &die, &next)))
			break;
		offset = next;
	}
	ai_error_destroy(err);
	return 0;
}

/* The DWARF type of the static whose symbol is `linkage`: the units named after its crate (the
 * first segment of `name`) first. */
static const struct ai_type *static_type(struct ai_async *as, const char *name, const char *linkage)
{
	if (!as->dwarf)
		return NULL;
	struct ai_dwarf_reader *r = ai_dwarf_get_reader(as->dwarf);
	size_t count, budget = MAX_DIE_SCAN;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(r, &count);
	const char *colons = strstr(name, "::");
	char *crate = xstrndup(name, colons ? (size_t)(colons - name) : strlen(name));
	uint64_t die = 0;
	for (int pass = 0; pass < 2 && !die; pass++)
		for (size_t i = 0; i < count && !die && budget; i++) {
			struct ai_error *err = ai_dwarf_unit_load(r, &units[i]);
			if (err) {
				ai_error_destroy(err);
				continue;
			}
			bool ours = units[i].name && strstr(units[i].name, crate);
			if (ours == (pass == 0))
				die = variable_type_in(r, &units[i], linkage, &budget);
		}
	free(crate);
	const struct ai_type *type = NULL;
	if (die)
		ai_error_destroy(ai_types_get(as->types, die, &type));
	return type;
}

/* One step through a pointer (&T, *T, Box<T>) or a struct that only wraps one (NonNull, Unique:
 * a single member `pointer`), or into Option's Some. False when there is nothing to look
 * through; *error_ret (owned) when it cannot be read (a null pointer, None, a fault). */
static bool look_through(struct ai_async *as, struct place *p, char **error_ret)
{
	const struct ai_type *t = p->type;
	if (t->kind == AI_TYPE_POINTER) {
		uint64_t ptr;
		const struct ai_type *target;
		struct ai_error *err = ai_type_target(t, &target);
		if (!err)
			err = ai_memory_read_u64(as->target->memory, p->address, &ptr);
		if (err) {
			*error_ret = xstrdup(err->message);
			ai_error_destroy(err);
			return false;
		}
		if (!ptr) {
			*error_ret = xasprintf("a null %s", t->name ? t->name : "pointer");
			return false;
		}
		p->address = ptr;
		p->type = target;
		return true;
	}
	if (t->kind == AI_TYPE_STRUCT && t->member_count == 1 && t->members[0].name &&
	    (strcmp(t->members[0].name, "pointer") == 0 || strcmp(t->members[0].name, "__0") == 0)) {
		const struct ai_type *inner;
		if (ai_type_member_type(t, &t->members[0], &inner) != NULL)
			return false;
		p->address += t->members[0].offset;
		p->type = inner;
		return true;
	}
	if (t->kind == AI_TYPE_ENUM && t->has_size && t->size <= 4096) {
		uint8_t bytes[4096];
		const struct ai_variant *v;
		struct ai_error *err = ai_memory_read(as->target->memory, bytes, p->address, t->size);
		if (!err)
			err = ai_type_active_variant(t, bytes, t->size, &v);
		if (err) {
			*error_ret = xstrdup(err->message);
			ai_error_destroy(err);
			return false;
		}
		if (strcmp(v->name ? v->name : "", "Some") != 0) {
			if (strcmp(v->name ? v->name : "", "None") == 0)
				*error_ret = xstrdup("None");
			return false;
		}
		const struct ai_type *some;
		const struct ai_member *inner;
		if (ai_type_member_type(t, &v->member, &some) || !(inner = ai_type_find_member(some, "__0")))
			return false;
		p->address += inner->offset; /* (variant members count from the enum's start) */
		return !ai_type_member_type(some, inner, &p->type);
	}
	return false;
}

static void underlying(struct place *p)
{
	const struct ai_type *u;
	if (!ai_type_underlying(p->type, &u))
		p->type = u;
}

/* Follows `path` (names joined by dots) from p, looking through pointers, Option and wrappers
 * where a name is not a member. NULL, or why not (owned). */
static char *walk(struct ai_async *as, struct place *p, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;
	char *error = NULL;
	for (char *name = strtok_r(copy, ".", &save); name && !error; name = strtok_r(NULL, ".", &save)) {
		for (int hops = 0;; hops++) {
			underlying(p);
			const struct ai_member *m = ai_type_find_member(p->type, name);
			if (m) {
				const struct ai_type *t;
				struct ai_error *err = ai_type_member_type(p->type, m, &t);
				if (err) {
					error = xstrdup(err->message);
					ai_error_destroy(err);
				} else {
					p->address += m->offset;
					p->type = t;
				}
				break;
			}
			const char *owner = ai_type_qualified_name(p->type);
			char *why = NULL;
			if (hops == MAX_HOPS || !look_through(as, p, &why)) {
				error = why ? xasprintf("%s on the way to member %s", why, name)
					    : xasprintf("%s has no member %s", owner ? owner : "?", name);
				free(why);
				break;
			}
		}
	}
	free(copy);
	return error;
}

/* Looks through pointers and wrappers to the value itself (a list's node). */
static char *deref(struct ai_async *as, struct place *p)
{
	char *why = NULL;
	for (int hops = 0; hops < MAX_HOPS; hops++) {
		underlying(p);
		if (p->type->kind != AI_TYPE_POINTER && p->type->kind != AI_TYPE_ENUM &&
		    !(p->type->kind == AI_TYPE_STRUCT && p->type->member_count == 1))
			return NULL;
		if (!look_through(as, p, &why))
			return why;
	}
	return NULL;
}

/* The first pointer inside a type (a Vec's buf.inner.ptr.pointer.pointer): its offset. */
static bool first_pointer(const struct ai_type *t, int depth, uint64_t *offset_ret)
{
	const struct ai_type *u;
	if (depth > 8 || ai_type_underlying(t, &u))
		return false;
	if (u->kind == AI_TYPE_POINTER) {
		*offset_ret = 0;
		return true;
	}
	for (size_t i = 0; u->kind == AI_TYPE_STRUCT && i < u->member_count; i++) {
		const struct ai_type *mt;
		uint64_t inner;
		if (!ai_type_member_type(u, &u->members[i], &mt) && first_pointer(mt, depth + 1, &inner)) {
			*offset_ret = u->members[i].offset + inner;
			return true;
		}
	}
	return false;
}

static bool read_uint(struct ai_async *as, struct place p, uint64_t *ret)
{
	for (int hops = 0; hops < MAX_HOPS; hops++) {
		underlying(&p);
		const struct ai_type *t = p.type;
		if ((t->kind == AI_TYPE_INT || t->kind == AI_TYPE_BOOL || t->kind == AI_TYPE_C_ENUM) &&
		    t->size >= 1 && t->size <= 8) {
			uint64_t v = 0;
			struct ai_error *err = ai_memory_read(as->target->memory, &v, p.address, t->size);
			ai_error_destroy(err);
			*ret = v; /* (little-endian: the low bytes) */
			return !err;
		}
		if (!(t->kind == AI_TYPE_STRUCT && t->member_count == 1)) /* a newtype: TaskId(u64) */
			return false;
		if (ai_type_member_type(t, &t->members[0], &p.type))
			return false;
		p.address += t->members[0].offset;
	}
	return false;
}

/* The elements of the container at p: *first, their stride and count (a list: count 0, walked
 * by the caller). NULL, or why not (owned). */
static char *container(struct ai_async *as, const struct decl_runtime *d, struct place *p,
		       const struct ai_type **element_ret, uint64_t *first_ret, uint64_t *count_ret)
{
	underlying(p);
	const struct ai_type *t = p->type, *element = NULL;
	const char *name = ai_type_qualified_name(t);
	uint64_t ptr = 0, count = 0;
	switch (d->container) {
	case DECL_VEC: {
		const struct ai_template_param *tp = ai_type_find_template_param(t, "T");
		const struct ai_member *buf = ai_type_find_member(t, "buf"), *len = ai_type_find_member(t, "len");
		const struct ai_type *buf_type;
		uint64_t at;
		if (!tp || !buf || !len || ai_type_resolve(t, &tp->type, &element) ||
		    ai_type_member_type(t, buf, &buf_type) || !first_pointer(buf_type, 0, &at))
			return xasprintf("%s is not a Vec (buf, len, T)", name ? name : "?");
		struct ai_error *err = ai_memory_read_u64(as->target->memory, p->address + buf->offset + at, &ptr);
		if (!err)
			err = ai_memory_read_u64(as->target->memory, p->address + len->offset, &count);
		if (err) {
			char *why = xstrdup(err->message);
			ai_error_destroy(err);
			return why;
		}
		break;
	}
	case DECL_SLICE: {
		const struct ai_member *data = ai_type_find_member(t, "data_ptr"), *len = ai_type_find_member(t, "length");
		const struct ai_type *data_type;
		if (!data || !len || ai_type_member_underlying(t, data, &data_type) ||
		    data_type->kind != AI_TYPE_POINTER || ai_type_target(data_type, &element))
			return xasprintf("%s is not a slice (data_ptr, length)", name ? name : "?");
		struct ai_error *err = ai_memory_read_u64(as->target->memory, p->address + data->offset, &ptr);
		if (!err)
			err = ai_memory_read_u64(as->target->memory, p->address + len->offset, &count);
		if (err) {
			char *why = xstrdup(err->message);
			ai_error_destroy(err);
			return why;
		}
		break;
	}
	case DECL_ARRAY:
		if (t->kind != AI_TYPE_ARRAY || ai_type_target(t, &element))
			return xasprintf("%s is not an array", name ? name : "?");
		ptr = p->address;
		count = t->count;
		break;
	case DECL_LIST:
		*element_ret = NULL;
		*first_ret = 0;
		*count_ret = 0;
		return NULL;
	}
	const struct ai_type *u;
	if (!ai_type_underlying(element, &u))
		element = u;
	if (count && (!element->has_size || !element->size))
		return xasprintf("the elements of %s have no size", name ? name : "?");
	if (count > MAX_TASKS)
		return xasprintf("%s holds %" PRIu64 " elements (more than %d: not a task list?)", name ? name : "?",
				 count, MAX_TASKS);
	*element_ret = element;
	*first_ret = ptr;
	*count_ret = count;
	return NULL;
}

/* A name: &str, String, or Option of them; else the value as the printer prints it. */
static char *read_name(struct ai_async *as, struct place p)
{
	char *why = NULL;
	for (int hops = 0; hops < MAX_HOPS; hops++) {
		underlying(&p);
		const struct ai_type *t = p.type;
		const struct ai_member *data = ai_type_find_member(t, "data_ptr"), *len = ai_type_find_member(t, "length");
		const struct ai_member *vec = ai_type_find_member(t, "vec");
		if (data && len) {
			uint64_t ptr, n;
			if (ai_memory_read_u64(as->target->memory, p.address + data->offset, &ptr) != NULL ||
			    ai_memory_read_u64(as->target->memory, p.address + len->offset, &n) != NULL)
				break;
			char buf[MAX_NAME + 1] = { 0 };
			n = AI_MIN(n, (uint64_t)MAX_NAME);
			struct ai_error *err = ai_memory_read(as->target->memory, buf, ptr, n);
			if (err) {
				ai_error_destroy(err);
				break;
			}
			return xstrndup(buf, n);
		}
		if (vec && t->member_count == 1) { /* String { vec: Vec<u8> } */
			const struct ai_type *vt;
			if (ai_type_member_type(t, vec, &vt))
				break;
			struct place v = { vt, p.address + vec->offset };
			struct decl_runtime as_vec = { .container = DECL_VEC };
			const struct ai_type *el;
			uint64_t ptr, n;
			char *e = container(as, &as_vec, &v, &el, &ptr, &n);
			if (e) {
				free(e);
				break;
			}
			char buf[MAX_NAME + 1] = { 0 };
			n = AI_MIN(n, (uint64_t)MAX_NAME);
			struct ai_error *err = ai_memory_read(as->target->memory, buf, ptr, n);
			if (err) {
				ai_error_destroy(err);
				break;
			}
			return xstrndup(buf, n);
		}
		if (t->kind != AI_TYPE_ENUM || !look_through(as, &p, &why))
			break;
	}
	if (why) {
		bool none = strcmp(why, "None") == 0;
		free(why);
		if (none)
			return NULL;
	}
	return ai_value_format(as->target->memory, p.type, p.address, &as->options.value_limits);
}

/* The state's key as the file's table spells it: an enumerator's or variant's name, or a number. */
static char *state_key(struct ai_async *as, struct place p)
{
	underlying(&p);
	const struct ai_type *t = p.type;
	if (t->kind == AI_TYPE_ENUM && t->has_size && t->size <= 4096) {
		uint8_t bytes[4096];
		const struct ai_variant *v;
		struct ai_error *err = ai_memory_read(as->target->memory, bytes, p.address, t->size);
		if (!err)
			err = ai_type_active_variant(t, bytes, t->size, &v);
		ai_error_destroy(err);
		return !err && v->name ? xstrdup(v->name) : NULL;
	}
	uint64_t value;
	if (!read_uint(as, p, &value))
		return NULL;
	if (t->kind == AI_TYPE_C_ENUM) {
		uint64_t mask = t->size >= 8 ? UINT64_MAX : (1ULL << (t->size * 8)) - 1;
		for (size_t i = 0; i < t->enumerator_count; i++)
			if ((t->enumerators[i].value & mask) == value)
				return xstrdup(t->enumerators[i].name);
	}
	if (t->kind == AI_TYPE_BOOL)
		return xstrdup(value ? "true" : "false");
	return xasprintf("%" PRIu64, value);
}

static void warn(struct ai_snapshot *snapshot, const struct decl_runtime *d, const char *fmt, const char *a,
		 const char *b)
{
	char *what = xasprintf(fmt, a ? a : "", b ? b : "");
	ai_snapshot_add_warning(snapshot, "%s (decoder %s): %s", d->runtime, d->file, what);
	free(what);
}

static void add_task(struct ai_async *as, const struct decl_runtime *d, struct place element, uint64_t runtime,
		     struct ai_snapshot *snapshot)
{
	struct place task = element;
	char *error = d->element ? walk(as, &task, d->element) : NULL;
	if (error) {
		warn(snapshot, d, "a task could not be read: %s%s", error, NULL);
		free(error);
		return;
	}
	struct ai_snapshot_task *t = ai_snapshot_add_task(snapshot);
	t->runtime = xstrdup(d->runtime);
	t->kind = xstrdup("task");
	t->address = task.address;
	t->runtime_address = runtime;
	struct place p = task;
	if ((error = walk(as, &p, d->future))) {
		t->tree.error = xasprintf("task.future %s: %s", d->future, error);
		free(error);
	} else {
		ai_await_decode(as, p.address, p.type, &t->tree);
	}
	const char *future = t->tree.function ? t->tree.function : t->tree.type;
	t->future = xstrdup(future ? future : "?");
	p = task;
	if (d->id && !(error = walk(as, &p, d->id)))
		t->has_id = read_uint(as, p, &t->id);
	free(error);
	error = NULL;
	p = task;
	if (d->name && !(error = walk(as, &p, d->name)))
		t->name = read_name(as, p);
	free(error);
	error = NULL;
	p = task;
	if (d->state && !(error = walk(as, &p, d->state))) {
		char *key = state_key(as, p);
		for (size_t i = 0; key && i < d->value_count && !t->status; i++)
			if (strcmp(d->values[i].key, key) == 0)
				t->status = xstrdup(d->values[i].status);
		if (!t->status)
			warn(snapshot, d, "a task's state %s is not in task.state.values%s", key ? key : "(unreadable)", NULL);
		free(key);
	}
	if (error)
		warn(snapshot, d, "a task's member could not be read: %s%s", error, NULL);
	free(error);
}

/* The tasks of the container that `path` reaches from root (the static, or one thread's
 * thread-local value): NULL, or why they could not be read (owned). */
static char *collect_from(struct ai_async *as, const struct decl_runtime *d, struct place p,
			  struct ai_snapshot *snapshot, size_t *added)
{
	size_t before = snapshot->task_count;
	uint64_t runtime = p.address;
	char *error = d->tasks_path ? walk(as, &p, d->tasks_path) : NULL;
	const struct ai_type *element = NULL;
	uint64_t first = 0, count = 0;
	if (!error)
		error = container(as, d, &p, &element, &first, &count);
	if (error)
		return error;
	if (d->container != DECL_LIST) {
		for (uint64_t i = 0; i < count; i++)
			add_task(as, d, (struct place){ element, first + i * element->size }, runtime, snapshot);
		*added = snapshot->task_count - before;
		return NULL;
	}
	/* A list: the head leads to the first node, each node's `next` to the next one. */
	for (size_t n = 0;; n++) {
		if ((error = deref(as, &p))) {
			if (strcmp(error, "None") != 0 && strncmp(error, "a null", 6) != 0)
				warn(snapshot, d, "the task list ends early: %s%s", error, NULL);
			free(error);
			break;
		}
		if (n == MAX_TASKS) {
			warn(snapshot, d, "the task list is longer than %s nodes (a cycle?): the rest is not shown%s",
			     "100000", NULL);
			break;
		}
		add_task(as, d, p, runtime, snapshot);
		if ((error = walk(as, &p, d->next))) {
			warn(snapshot, d, "tasks.next: %s%s", error, NULL);
			free(error);
			break;
		}
	}
	*added = snapshot->task_count - before;
	return NULL;
}

/* The offset of a member (at any depth) of `outer` whose type is `inner`: std's thread-local
 * storage (EagerStorage<T>, lazy::Storage<T, D>) holds its T in a cell, next to its state. */
static bool find_within(const struct ai_type *outer, const struct ai_type *inner, int depth, uint64_t *ret)
{
	if (ai_type_equal(outer, inner)) {
		*ret = 0;
		return true;
	}
	for (size_t i = 0; depth < 6 && outer->kind == AI_TYPE_STRUCT && i < outer->member_count; i++) {
		const struct ai_type *t;
		uint64_t at;
		if (!ai_type_member_underlying(outer, &outer->members[i], &t) && find_within(t, inner, depth + 1, &at)) {
			*ret = outer->members[i].offset + at;
			return true;
		}
	}
	return false;
}

/* The thread-local's value T on every thread that has one: its tasks. */
static void collect_thread_locals(struct ai_async *as, const struct decl_runtime *d, const struct ai_stack *stacks,
				  const struct ai_type *storage, uint64_t tls_value, struct ai_elf_file *elf,
				  struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry)
{
	uint64_t block;
	if (!elf || !ai_runtime_tls_block_offset(elf, &block)) {
		warn(snapshot, d, "the executable has no TLS block for the thread-local %s: its tasks are not shown%s",
		     d->tasks_thread_local, NULL);
		return;
	}
	struct place value = { storage, 0 };
	const struct ai_template_param *tp = ai_type_find_template_param(storage, "T");
	const struct ai_type *t, *u;
	uint64_t at;
	if (tp && !ai_type_resolve(storage, &tp->type, &t) && !ai_type_underlying(t, &u) && find_within(storage, u, 0, &at)) {
		value.type = u;
		value.address = at;
	}
	char *first_error = NULL;
	size_t read = 0, executors = 0;
	for (size_t i = 0; i < as->target->thread_count; i++) {
		const struct ai_thread *thread = &as->target->threads[i];
		uint64_t fs_base = thread->regs.fs_base;
		/* (the registers of the stop the stacks were unwound at: fs_base never changes) */
		if (!(thread->regs_valid || (stacks && stacks[i].count > 0)) || !fs_base || fs_base < block)
			continue;
		struct place p = { value.type, fs_base - block + tls_value + value.address };
		size_t added = 0;
		char *error = collect_from(as, d, p, snapshot, &added);
		if (!error) {
			read++;
			executors += added > 0; /* (every thread has the thread-local; few run tasks) */
		}
		else if (!first_error)
			first_error = error;
		else
			free(error);
	}
	entry->decoded = read > 0 || !first_error;
	entry->instances = executors;
	if (!read && first_error)
		warn(snapshot, d, "the task list (tasks.path) could not be read on any thread: %s%s", first_error, NULL);
	free(first_error);
}

struct ai_error *ai_decl_collect(const struct ai_runtime_ops *self, struct ai_async *as,
				 const struct ai_stack *stacks, struct ai_snapshot *snapshot,
				 struct ai_snapshot_runtime *entry)
{
	const struct decl_runtime *d = self->data;
	entry->decoded = false;
	bool tls = d->tasks_thread_local != NULL;
	const char *name = tls ? d->tasks_thread_local : d->tasks_static;
	const char *key = tls ? "tasks.thread_local" : "tasks.static";
	uint64_t bias, value;
	struct ai_elf_file *file = symbol_file(as, &bias);
	const char *linkage = file ? find_symbol(file, name, tls, &value) : NULL;
	if (!linkage) {
		warn(snapshot, d, "no symbol %s (%s): its tasks are not shown", name, key);
		return NULL;
	}
	const struct ai_type *type = static_type(as, name, linkage);
	if (!type) {
		warn(snapshot, d, "no DWARF variable for %s: its tasks are not shown%s", name, NULL);
		return NULL;
	}
	if (tls) {
		struct ai_module *main = ai_debuginfo_main_module(as->di);
		collect_thread_locals(as, d, stacks, type, value, main->elf, snapshot, entry);
		return NULL;
	}
	size_t added;
	char *error = collect_from(as, d, (struct place){ type, value + bias }, snapshot, &added);
	if (error) {
		warn(snapshot, d, "the task list (tasks.path) could not be read: %s%s", error, NULL);
		free(error);
		return NULL;
	}
	entry->decoded = true;
	entry->instances = 1;
	return NULL;
}
