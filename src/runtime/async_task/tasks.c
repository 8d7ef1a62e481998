/* async-task's tasks (smol, async-executor, async-std spawn through it), found without knowing
 * any executor's containers.
 *
 * async-task 4.x allocates a task as Header<M>, then the schedule function S, then
 * union { F, Result<T, Panic> }, at offsets its TaskLayout computes at compile time; the header
 * points at a TaskVTable static whose `run` is RawTask<F, T, S, M>::run. So:
 *   1. the run functions are the ELF symbols async_task::raw::RawTask<..>::run;
 *   2. the task vtables are the words of .data.rel.ro equal to a run address, minus the offset of
 *      TaskVTable.run (from DWARF);
 *   3. each vtable's RawTask<F, T, S, M> type is the type of run's local `raw`: its pointer
 *      members give Header<M>, S, F and Result<T, Panic>, whose DWARF sizes and alignments give
 *      the offsets exactly as TaskLayout does; they are checked against the TaskLayout static the
 *      vtable points to (layout_info, there for debuggers);
 *   4. every word of writable anonymous memory and the heap equal to a vtable address, at
 *      Header.vtable's offset, is a candidate header, kept when its state and awaiter are sane.
 * Bounded like tokio's scan (1 GiB, 4M candidates). */
#include <dwarf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "async_task.h"

/* async-task's src/state.rs */
#define AT_SCHEDULED (1u << 0)
#define AT_RUNNING (1u << 1)
#define AT_COMPLETED (1u << 2)
#define AT_CLOSED (1u << 3)
#define AT_TASK (1u << 4)
#define AT_AWAITER (1u << 5)
#define AT_REFERENCE_SHIFT 8

#define AT_SCAN_MAX_BYTES (1ULL << 30)
#define AT_SCAN_MAX_CANDIDATES (1u << 22)
#define AT_SCAN_CHUNK (1u << 20)
#define AT_MAX_REFS (1ULL << 32)
#define AT_MAX_VTABLES 65536u
#define AT_MAX_TASK (1u << 24)  /* a task allocation bigger than this is not believed */

#define AT_RUN_PREFIX "async_task::raw::RawTask<"

struct at_vtable {
	uint64_t address;
	uint64_t run;
	bool valid;
	const struct ai_type *future;   /* F */
	const char *executor;           /* the crate that owns S, as users spell it */
	uint64_t offset_f;
	uint64_t header_size;
	uint64_t state, awaiter, vtable; /* offsets in Header<M> */
	uint64_t awaiter_size;
};

struct at {
	struct ai_async *as;
	struct ai_memory *mem;
	struct ai_snapshot *snapshot;
	struct ai_snapshot_runtime *entry;
	struct ai_module *main;
	struct ai_dwarf_reader *reader;
	const char *version;
	bool exited;
	bool failed;           /* a layout was not understood (a warning says which) */
	uint64_t vtable_off;   /* Header<M>.vtable, the same for every vtable kept */
	uint64_t header_size;  /* the smallest Header<M> of those */
	struct at_vtable *vtables;
	size_t vtable_count, vtable_capacity;
	char **warned;
	size_t warned_count, warned_capacity;
};

static void at_warn(struct at *at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void at_warn(struct at *at, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < at->warned_count; i++)
		if (strcmp(at->warned[i], buf) == 0)
			return;
	AI_GROW(at->warned, at->warned_capacity, at->warned_count + 1);
	at->warned[at->warned_count++] = xstrdup(buf);
	ai_snapshot_add_warning(at->snapshot, "async-task %s: %s", at->version, buf);
}

static bool read_mem(struct at *at, void *buf, uint64_t address, size_t size)
{
	struct ai_error *err = ai_memory_read(at->mem, buf, address, size);
	if (!err)
		return true;
	if (err->code == AI_ERROR_TARGET_EXITED)
		at->exited = true;
	ai_error_destroy(err);
	return false;
}

static uint64_t get_u64(const uint8_t *bytes, uint64_t offset)
{
	uint64_t v;
	memcpy(&v, bytes + offset, 8);
	return v;
}

static bool plausible(uint64_t address, uint64_t align)
{
	return address >= 4096 && address < (1ULL << 47) && (address & (align - 1)) == 0;
}

static const struct ai_type *underlying(const struct ai_type *type)
{
	const struct ai_type *u = NULL;
	struct ai_error *err = type ? ai_type_underlying(type, &u) : NULL;
	if (err) {
		ai_error_destroy(err);
		return type;
	}
	return u ? u : type;
}

/* A member's offset and type, typedefs followed; false if there is none. */
static bool member(const struct ai_type *owner, const char *name, uint64_t *offset_ret,
		   const struct ai_type **type_ret)
{
	const struct ai_member *m = owner ? ai_type_find_member(owner, name) : NULL;
	const struct ai_type *t = NULL;
	if (!m)
		return false;
	struct ai_error *err = ai_type_member_type(owner, m, &t);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (offset_ret)
		*offset_ret = m->offset;
	if (type_ret)
		*type_ret = underlying(t);
	return true;
}

/* The type a pointer member points to ("header: *const Header<M>"). */
static const struct ai_type *pointee(const struct ai_type *owner, const char *name)
{
	const struct ai_type *p, *t = NULL;
	if (!member(owner, name, NULL, &p) || p->kind != AI_TYPE_POINTER)
		return NULL;
	struct ai_error *err = ai_type_target(p, &t);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return underlying(t);
}

/* Layout::new::<T>() from DWARF: false when the size or the alignment is not known. Rust gives
 * DW_AT_alignment on aggregates; scalars and pointers are aligned to their size. */
static bool layout_of(const struct ai_type *type, uint64_t *size_ret, uint64_t *align_ret)
{
	if (!type || !type->has_size)
		return false;
	uint64_t align = type->alignment;
	if (!align) {
		switch (type->kind) {
		case AI_TYPE_UNIT:
			align = 1;
			break;
		case AI_TYPE_INT:
		case AI_TYPE_BOOL:
		case AI_TYPE_CHAR:
		case AI_TYPE_FLOAT:
		case AI_TYPE_POINTER:
			align = type->size ? type->size : 1;
			break;
		default:
			return false;
		}
	}
	if (align & (align - 1))
		return false;
	*size_ret = type->size;
	*align_ret = align;
	return true;
}

static uint64_t align_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) & ~(align - 1);
}

/* The type DIE of the local `raw` of RawTask::run at `offset` (in run or a lexical block). */
static uint64_t find_raw_local(struct at *at, uint64_t offset, int depth)
{
	struct ai_dwarf_reader *r = at->reader;
	struct ai_dwarf_die die;
	uint64_t child, found = 0;
	struct ai_error *err = ai_dwarf_read_die_at(r, offset, &die);
	if (!err && die.has_children)
		err = ai_dwarf_die_end(r, &die, &child);
	if (err || !die.has_children) {
		ai_error_destroy(err);
		return 0;
	}
	for (int n = 0; n < 4096 && !found; n++) {
		struct ai_dwarf_die c;
		if ((err = ai_dwarf_read_die(r, die.unit, child, &c)) || c.tag == 0)
			break;
		if (c.tag == DW_TAG_variable) {
			struct ai_dwarf_attr attrs[12];
			size_t count = 0;
			if ((err = ai_dwarf_die_attrs(r, &c, attrs, AI_ARRAY_SIZE(attrs), &count, NULL)))
				break;
			const char *name = NULL;
			uint64_t type = 0;
			for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
				if (attrs[i].name == DW_AT_name && attrs[i].cls == AI_DWARF_CLASS_STRING)
					name = attrs[i].str;
				else if (attrs[i].name == DW_AT_type &&
					 attrs[i].cls == AI_DWARF_CLASS_REFERENCE)
					type = attrs[i].u;
			}
			if (name && strcmp(name, "raw") == 0)
				found = type;
		} else if (c.tag == DW_TAG_lexical_block && depth < 4) {
			found = find_raw_local(at, c.offset, depth + 1);
		}
		if (!found && (err = ai_dwarf_die_sibling(r, &c, &child)))
			break;
	}
	ai_error_destroy(err);
	return found;
}

/* "async-executor" for S = async_executor::{impl#5}::schedule::{closure_env#0}: the crate whose
 * code made the schedule function is the executor. NULL when S names no crate. */
static const char *executor_of(const struct ai_type *s)
{
	const char *name = s ? ai_type_qualified_name(s) : NULL;
	if (!name)
		return NULL;
	static const struct { const char *crate, *label; } known[] = {
		{ "async_executor::", "async-executor" },
		{ "async_global_executor::", "async-global-executor" },
		{ "async_std::", "async-std" },
		{ "smol::", "smol" },
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(known); i++)
		if (strncmp(name, known[i].crate, strlen(known[i].crate)) == 0)
			return known[i].label;
	return NULL;
}

/* The vtable types' offsets, shared by every vtable: TaskVTable.run and .layout_info, and
 * TaskLayout's offsets. */
struct at_types {
	bool ok;
	uint64_t vtable_size, run, layout_info;
	uint64_t layout_s, layout_f, layout_r;
};

static void resolve_types(struct at *at, const struct ai_type *raw_task, struct at_types *ty)
{
	const struct ai_type *header = pointee(raw_task, "header"), *vt_type = NULL;
	if (!header || !member(header, "vtable", NULL, &vt_type) || vt_type->kind != AI_TYPE_POINTER)
		return;
	struct ai_error *err = ai_type_target(vt_type, &vt_type);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	vt_type = underlying(vt_type);
	const struct ai_type *layout = NULL;
	if (!vt_type->has_size || !member(vt_type, "run", &ty->run, NULL) ||
	    !member(vt_type, "layout_info", &ty->layout_info, &layout)) {
		at_warn(at, "no DWARF type TaskVTable with members run and layout_info");
		return;
	}
	ty->vtable_size = vt_type->size;
	ty->layout_s = ty->layout_f = ty->layout_r = UINT64_MAX;
	if (layout->kind == AI_TYPE_POINTER && !ai_type_target(layout, &layout)) {
		layout = underlying(layout);
		member(layout, "offset_s", &ty->layout_s, NULL);
		member(layout, "offset_f", &ty->layout_f, NULL);
		member(layout, "offset_r", &ty->layout_r, NULL);
	}
	ty->ok = ty->vtable_size >= ty->run + 8 && ty->vtable_size >= ty->layout_info + 8 &&
		 ty->vtable_size <= 4096;
}

/* Fills vt from run's `raw` local; vt->valid says whether its tasks can be read. */
static void resolve_vtable(struct at *at, struct at_vtable *vt, const struct at_types *ty,
			   const char *run_name, uint64_t die_offset)
{
	uint64_t raw_die = find_raw_local(at, die_offset, 0);
	const struct ai_type *raw_task = NULL;
	struct ai_error *err = raw_die ? ai_types_get(at->as->types, raw_die, &raw_task) : NULL;
	if (err || !raw_task) {
		ai_error_destroy(err);
		at_warn(at, "%s has no local `raw` of type RawTask<F, T, S, M> in DWARF", run_name);
		return;
	}
	raw_task = underlying(raw_task);
	const struct ai_type *header = pointee(raw_task, "header"), *s = pointee(raw_task, "schedule");
	const struct ai_type *f = pointee(raw_task, "future"), *r = pointee(raw_task, "output");
	uint64_t hs, ha, ss, sa, fs, fa, rs, ra;
	if (!layout_of(header, &hs, &ha) || !layout_of(s, &ss, &sa) || !layout_of(f, &fs, &fa) ||
	    !layout_of(r, &rs, &ra)) {
		at_warn(at, "the sizes and alignments of RawTask<F, T, S, M>'s Header, S, F and "
			"Result<T, Panic> are not all in DWARF");
		return;
	}
	/* TaskLayout::eval_task_layout: Header, then S, then union { F, Result<T, Panic> }. */
	uint64_t offset_s = align_up(hs, sa);
	uint64_t offset_union = align_up(offset_s + ss, AI_MAX(fa, ra));
	uint64_t task_size = offset_union + AI_MAX(fs, rs);
	if (!member(header, "state", &vt->state, NULL) ||
	    !member(header, "vtable", &vt->vtable, NULL) ||
	    !member(header, "awaiter", &vt->awaiter, NULL)) {
		at_warn(at, "%s has no fields state, vtable and awaiter", ai_type_qualified_name(header));
		return;
	}
	const struct ai_type *awaiter = NULL;
	member(header, "awaiter", NULL, &awaiter);
	vt->awaiter_size = awaiter && awaiter->has_size ? awaiter->size : 0;
	if (task_size > AT_MAX_TASK || vt->state + 8 > hs || vt->vtable + 8 > hs ||
	    vt->awaiter + vt->awaiter_size > hs || vt->awaiter_size > 64)
		return;
	/* The TaskLayout static the vtable points to must agree. */
	uint8_t bytes[4096];
	uint64_t layout_addr;
	if (!read_mem(at, bytes, vt->address, ty->vtable_size))
		return;
	layout_addr = get_u64(bytes, ty->layout_info);
	if (ty->layout_s != UINT64_MAX && ty->layout_f != UINT64_MAX && plausible(layout_addr, 8)) {
		uint64_t os, of;
		if (!read_mem(at, &os, layout_addr + ty->layout_s, 8) ||
		    !read_mem(at, &of, layout_addr + ty->layout_f, 8))
			return;
		if (os != offset_s || of != offset_union) {
			at_warn(at, "%s: DWARF puts S at %" PRIu64 " and F at %" PRIu64
				", the task's TaskLayout at %" PRIu64 " and %" PRIu64 "; skipped",
				run_name, offset_s, offset_union, os, of);
			return;
		}
	}
	vt->future = f;
	vt->executor = executor_of(s);
	vt->offset_f = offset_union;
	vt->header_size = hs;
	vt->valid = true;
}

/* The runtime addresses of every RawTask<..>::run of the executable, sorted. */
static size_t run_addresses(struct at *at, struct ai_elf_file *symbols, uint64_t **ret)
{
	ai_elf_file_find_symbol(symbols, 0); /* loads the symbol table */
	uint64_t *v = NULL;
	size_t count = 0, capacity = 0;
	for (size_t i = 0; i < symbols->symbol_count; i++) {
		struct ai_elf_symbol *sym = &symbols->symbols[i];
		/* Both manglings spell identifiers as <length><name>: demangle only candidates. */
		if (!sym->address || !sym->name || !strstr(sym->name, "10async_task") ||
		    !strstr(sym->name, "3run"))
			continue;
		const char *name = ai_elf_symbol_name(sym);
		size_t n = name ? strlen(name) : 0;
		if (!name || strncmp(name, AT_RUN_PREFIX, strlen(AT_RUN_PREFIX)) != 0 || n < 6 ||
		    strcmp(name + n - 6, ">::run") != 0)
			continue;
		AI_GROW(v, capacity, count + 1);
		v[count++] = sym->address + at->main->bias;
	}
	*ret = v;
	return ai_u64_sort_unique(v, count);
}

/* The vtables: words of .data.rel.ro equal to a run address, minus TaskVTable.run's offset. */
static size_t find_vtables(struct at *at, const uint64_t *runs, size_t run_count, uint64_t run_off,
			   uint64_t **ret)
{
	struct ai_word_scan scan;
	ai_scan_relro(at->as, runs, run_count, AT_SCAN_MAX_BYTES, AT_MAX_VTABLES, &scan);
	at->exited |= scan.exited;
	size_t count = 0;
	for (size_t i = 0; i < scan.count; i++)
		if (scan.words[i] >= run_off)
			scan.words[count++] = scan.words[i] - run_off;
	*ret = scan.words;
	return count;
}

static struct at_vtable *vtable_at(struct at *at, uint64_t address)
{
	size_t lo = 0, hi = at->vtable_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (at->vtables[mid].address == address)
			return at->vtables[mid].valid ? &at->vtables[mid] : NULL;
		if (at->vtables[mid].address < address)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Resolves every vtable (sorted by address); false when none of them could be. */
static bool resolve_vtables(struct at *at, const uint64_t *addresses, size_t count,
			    const struct at_types *ty)
{
	size_t valid = 0;
	for (size_t i = 0; i < count && !at->exited; i++) {
		AI_GROW(at->vtables, at->vtable_capacity, at->vtable_count + 1);
		struct at_vtable *vt = &at->vtables[at->vtable_count++];
		memset(vt, 0, sizeof(*vt));
		vt->address = addresses[i];
		if (!read_mem(at, &vt->run, addresses[i] + ty->run, 8))
			continue;
		struct ai_symbolization sym;
		struct ai_error *err = ai_debuginfo_symbolize(at->as->di, vt->run, false, &sym);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		const struct ai_location *loc = sym.count ? &sym.locations[sym.count - 1] : NULL;
		if (!loc || !loc->function || !loc->die_offset ||
		    strncmp(loc->function, AT_RUN_PREFIX, strlen(AT_RUN_PREFIX)) != 0)
			continue;
		resolve_vtable(at, vt, ty, loc->function, loc->die_offset);
		valid += vt->valid;
	}
	return valid > 0;
}

static const char *status_of(uint64_t state)
{
	if (state & AT_RUNNING)
		return "running";
	if (state & AT_COMPLETED)
		return "completed";
	if (state & AT_CLOSED)
		return "cancelled";
	if (state & AT_SCHEDULED)
		return "scheduled";
	return "idle";
}

/* The task whose header is at `address`, or NULL: its vtable known, its state sane (async-task's
 * invariants: COMPLETED never with SCHEDULED or RUNNING; alive: a reference or the Task handle),
 * its awaiter waker set exactly when AWAITER says, with plausible pointers. */
static struct at_vtable *check_candidate(struct at *at, uint64_t address, uint64_t *state_ret)
{
	uint8_t header[512];
	if (!plausible(address, 8))
		return NULL;
	uint64_t vtable_word;
	if (!read_mem(at, &vtable_word, address + at->vtable_off, 8))
		return NULL;
	struct at_vtable *vt = vtable_at(at, vtable_word);
	if (!vt || vt->header_size > sizeof(header) || !read_mem(at, header, address, vt->header_size))
		return NULL;
	if (get_u64(header, vt->vtable) != vt->address)
		return NULL;
	uint64_t state = get_u64(header, vt->state);
	uint64_t refs = state >> AT_REFERENCE_SHIFT;
	if (refs >= AT_MAX_REFS || (!refs && !(state & AT_TASK)))
		return NULL;
	if ((state & AT_COMPLETED) && (state & (AT_SCHEDULED | AT_RUNNING)))
		return NULL;
	if (vt->awaiter_size >= 16) {
		/* Option<Waker>: a RawWaker { data, vtable }, None when the vtable word is 0. */
		uint64_t w0 = get_u64(header, vt->awaiter), w1 = get_u64(header, vt->awaiter + 8);
		bool some = w0 || w1;
		if ((state & AT_AWAITER) && !some)
			return NULL;
		/* A waker's data and vtable are pointers (a noop waker's data may be null). */
		if ((w0 && !plausible(w0, 8)) || (w1 && !plausible(w1, 8)))
			return NULL;
	}
	*state_ret = state;
	return vt;
}

/* Every candidate header address in writable memory, sorted and unique (owned). */
static size_t scan_memory(struct at *at, uint64_t vtable_off, uint64_t **ret)
{
	uint64_t *vt_addrs = xmalloc(AI_MAX(at->vtable_count, 1) * sizeof(uint64_t));
	size_t vn = 0;
	for (size_t i = 0; i < at->vtable_count; i++)
		if (at->vtables[i].valid)
			vt_addrs[vn++] = at->vtables[i].address;
	struct ai_word_scan scan;
	ai_scan_writable(at->as, vt_addrs, vn, AT_SCAN_MAX_BYTES, AT_SCAN_MAX_CANDIDATES, &scan);
	free(vt_addrs);
	at->exited |= scan.exited;
	if (scan.stopped_bytes)
		at_warn(at, "the scan for tasks stopped after %" PRIu64 " bytes of memory", scan.scanned);
	if (scan.stopped_words)
		at_warn(at, "the scan for tasks stopped after %zu candidates", scan.count);
	/* A word equal to a vtable is a Header.vtable: the header starts that much before it. */
	size_t count = 0;
	for (size_t i = 0; i < scan.count; i++)
		if (scan.words[i] >= vtable_off)
			scan.words[count++] = scan.words[i] - vtable_off;
	*ret = scan.words;
	return count;
}

/* The future an executor wraps the spawned one in, seen through: Pin<Box<..>>,
 * async-executor's AsyncCallOnDrop<Fut, Cleanup> { future: Fut, .. } and async-std's
 * SupportTaskLocals<F> { tag, future: F } (the user's future is what the await tree should start
 * at; *locals_ret is the SupportTaskLocals' address, or 0). *address and *type are updated in
 * place. False when a pointer on the way is not one (a stale copy of a header, whose future is
 * gone). */
static bool unwrap_future(struct at *at, uint64_t *address, const struct ai_type **type,
			  uint64_t *locals_ret, const struct ai_type **locals_type_ret)
{
	for (int depth = 0; depth < 8 && *type; depth++) {
		const struct ai_type *t = underlying(*type), *next = NULL;
		const char *name = ai_type_qualified_name(t);
		uint64_t offset = 0;
		if (t->kind == AI_TYPE_POINTER) {
			uint64_t p;
			struct ai_error *err = ai_type_target(t, &next);
			uint8_t probe;
			if (err || !read_mem(at, &p, *address, 8) || !plausible(p, 1) ||
			    !read_mem(at, &probe, p, 1)) {
				ai_error_destroy(err);
				return false;
			}
			next = underlying(next);
			if (!next)
				return true;
			*address = p;
			*type = next;
			continue;
		}
		if (t->kind != AI_TYPE_STRUCT || !name)
			return true;
		if (strncmp(name, "core::pin::Pin<", 15) == 0 && t->member_count == 1 &&
		    (member(t, "pointer", &offset, &next) || member(t, "__pointer", &offset, &next)))
			; /* Pin<Ptr> { pointer: Ptr } (__pointer in older std) */
		else if (strncmp(name, "async_executor::AsyncCallOnDrop<", 32) == 0 &&
			 member(t, "future", &offset, &next))
			;
		else if (ai_async_std_is_wrapper(name) && member(t, "future", &offset, &next)) {
			*locals_ret = *address;
			*locals_type_ret = t;
		}
		else
			return true;
		*address += offset;
		*type = next;
	}
	return true;
}

/* Which candidates something points to: a live task is referenced by its Task handle, its
 * Runnable or a Waker (their data pointer is the header), from the heap, anonymous memory (thread
 * stacks) or the main stack; a stale copy of a header (a frame of RawTask::allocate left in
 * memory) is not. referenced[i] is set for headers[i] (sorted). Bounded as the scan. */
static void find_references(struct at *at, const uint64_t *headers, size_t count, bool *referenced)
{
	if (!count)
		return;
	uint64_t lo = headers[0], hi = headers[count - 1], scanned = 0;
	uint64_t *buf = xmalloc(AT_SCAN_CHUNK);
	const struct ai_maps *maps = &at->as->target->maps;
	for (size_t i = 0; i < maps->count && !at->exited; i++) {
		const struct ai_mapping *m = &maps->items[i];
		if (!ai_scan_writable_mapping(m) && !(m->path && strcmp(m->path, "[stack]") == 0 &&
					  m->perms[0] == 'r' && m->perms[1] == 'w'))
			continue;
		for (uint64_t a = m->start; a < m->end; a += AT_SCAN_CHUNK) {
			size_t n = (size_t)AI_MIN((uint64_t)AT_SCAN_CHUNK, m->end - a);
			if (scanned + n > AT_SCAN_MAX_BYTES)
				goto out;
			scanned += n;
			if (!read_mem(at, buf, a, n))
				continue;
			for (size_t k = 0; k < n / 8; k++) {
				uint64_t w = buf[k];
				if (w < lo || w > hi)
					continue;
				size_t l = 0, h = count;
				while (l < h) {
					size_t mid = l + (h - l) / 2;
					if (headers[mid] < w)
						l = mid + 1;
					else
						h = mid;
				}
				/* (a word inside the header itself is no reference) */
				uint64_t at_addr = a + 8 * k;
				if (l < count && headers[l] == w &&
				    (at_addr < w || at_addr >= w + at->header_size))
					referenced[l] = true;
			}
		}
	}
out:
	free(buf);
}

/* Adds the task; false (nothing added) when its future cannot be reached. */
static bool emit_task(struct at *at, struct at_vtable *vt, uint64_t address, uint64_t state)
{
	uint64_t future = address + vt->offset_f;
	const struct ai_type *type = vt->future;
	bool live = !(state & (AT_COMPLETED | AT_CLOSED));
	uint64_t locals = 0;
	const struct ai_type *locals_type = NULL;
	if (live && !unwrap_future(at, &future, &type, &locals, &locals_type))
		return false;
	struct ai_snapshot_task *task = ai_snapshot_add_task(at->snapshot);
	/* async-std spawns on async-global-executor's executors: the task is async-std's. */
	task->runtime = xstrdup(locals ? "async-std" : vt->executor ? vt->executor : "async-task");
	if (locals)
		ai_async_std_task_locals(at->as, locals, locals_type, at->snapshot, task);
	task->kind = xstrdup("task");
	task->status = xstrdup(status_of(state));
	task->address = address;
	struct ai_await_node *tree = &task->tree;
	if (!live) {
		/* The future is dropped (its place may hold the output): nothing is awaited. */
		const char *name = ai_type_qualified_name(vt->future);
		tree->type = xstrdup(name ? name : "?");
		tree->address = address + vt->offset_f;
		tree->leaf = true;
		tree->state = xstrdup(task->status);
	} else {
		ai_await_decode(at->as, future, type, tree);
	}
	if (tree->function)
		task->future = xstrdup(tree->function);
	else if (tree->type)
		task->future = xstrdup(tree->type);
	else
		task->future = xstrdup("?");
	return true;
}

static void give_up(struct at *at, const char *why)
{
	at_warn(at, "%s: its tasks are not shown", why);
	at->failed = true;
}

struct ai_error *ai_async_task_collect(const struct ai_runtime_ops *self, struct ai_async *as,
				 const struct ai_stack *stacks,
				       struct ai_snapshot *snapshot,
				       struct ai_snapshot_runtime *entry)
{
	(void)stacks;
	struct ai_module *main = ai_debuginfo_main_module(as->di);
	if (main->first_end)
		ai_debuginfo_find_module(as->di, main->first_start); /* opens it */
	struct ai_elf_file *symbols = main->symbols ? main->symbols : main->elf;
	struct at at = {
		.as = as,
		.mem = as->target->memory,
		.snapshot = snapshot,
		.entry = entry,
		.main = main,
		.version = entry->version ? entry->version : "(unknown version)",
	};
	uint64_t *runs = NULL, *vtables = NULL, *hits = NULL;
	size_t vtable_count = 0, hit_count = 0, tasks = 0;
	if (!symbols || !as->dwarf) {
		give_up(&at, "no symbols or no DWARF");
		goto out;
	}
	at.reader = ai_dwarf_get_reader(as->dwarf);
	size_t run_count = run_addresses(&at, symbols, &runs);
	if (!run_count)
		goto out; /* linked, but no task type was ever instantiated: no tasks */
	/* The types shared by every vtable, from the first run's RawTask. */
	struct at_types ty = { 0 };
	struct ai_symbolization sym;
	struct ai_error *err = ai_debuginfo_symbolize(as->di, runs[0], false, &sym);
	const struct ai_location *loc = !err && sym.count ? &sym.locations[sym.count - 1] : NULL;
	ai_error_destroy(err);
	uint64_t raw_die = loc && loc->die_offset ? find_raw_local(&at, loc->die_offset, 0) : 0;
	const struct ai_type *raw_task = NULL;
	if (raw_die && !(err = ai_types_get(as->types, raw_die, &raw_task)))
		resolve_types(&at, underlying(raw_task), &ty);
	ai_error_destroy(err);
	if (!ty.ok) {
		give_up(&at, "no DWARF for RawTask<F, T, S, M> and TaskVTable");
		goto out;
	}
	vtable_count = find_vtables(&at, runs, run_count, ty.run, &vtables);
	if (!vtable_count) {
		give_up(&at, "no task vtable (TaskVTable) found in .data.rel.ro");
		goto out;
	}
	if (!resolve_vtables(&at, vtables, vtable_count, &ty)) {
		give_up(&at, "no task vtable could be decoded");
		goto out;
	}
	/* Header<M>.vtable: the same offset for every M that the vtables resolved (checked). */
	uint64_t vtable_off = UINT64_MAX;
	for (size_t i = 0; i < at.vtable_count; i++) {
		if (!at.vtables[i].valid)
			continue;
		if (!at.header_size || at.vtables[i].header_size < at.header_size)
			at.header_size = at.vtables[i].header_size;
		if (vtable_off == UINT64_MAX)
			vtable_off = at.vtables[i].vtable;
		else if (at.vtables[i].vtable != vtable_off)
			at.vtables[i].valid = false;
	}
	at.vtable_off = vtable_off;
	hit_count = scan_memory(&at, vtable_off, &hits);
	size_t kept = 0;
	for (size_t i = 0; i < hit_count && !at.exited; i++) {
		uint64_t state;
		if (check_candidate(&at, hits[i], &state))
			hits[kept++] = hits[i];
	}
	bool *referenced = xcalloc(AI_MAX(kept, 1), sizeof(*referenced));
	find_references(&at, hits, kept, referenced);
	for (size_t i = 0; i < kept && !at.exited; i++) {
		uint64_t state;
		struct at_vtable *vt = referenced[i] ? check_candidate(&at, hits[i], &state) : NULL;
		if (vt && emit_task(&at, vt, hits[i], state))
			tasks++;
	}
	free(referenced);
out:
	if (at.failed)
		entry->decoded = false;
	entry->instances = tasks ? 1 : 0;
	free(runs);
	free(vtables);
	free(hits);
	free(at.vtables);
	for (size_t i = 0; i < at.warned_count; i++)
		free(at.warned[i]);
	free(at.warned);
	if (at.exited)
		return ai_error_create(AI_ERROR_TARGET_EXITED, "the target exited while its async-task "
				       "tasks were read");
	return NULL;
}
