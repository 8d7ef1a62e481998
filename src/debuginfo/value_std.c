/* The value printer's summaries of standard types (include/ai/value.h): std's structs looked
 * into by member name and structure (Vec's buffer and length, VecDeque's ring, hashbrown's
 * control bytes, Arc and Rc's inner value), and the table of std types by qualified name. A
 * printer here that does not find the members it expects declines, and the value prints as a
 * plain struct (value.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "ai/value.h"
#include "value_internal.h"

/* Members searched for a buffer pointer or a length (Vec's buf.inner.ptr.pointer.pointer). */
#define MAX_LEAF_DEPTH 8

/* ---- Looking inside std's structs ---- */

/* The first pointer found depth-first among type's members (e.g. Vec's buf.inner.ptr...), with its
 * value and type. */
static bool find_pointer(const struct ai_type *type, const struct view *v, int depth,
			 uint64_t *value_ret, const struct ai_type **type_ret)
{
	if (type->kind == AI_TYPE_POINTER) {
		if (type->size > v->size)
			return false;
		*value_ret = vp_load_uint(v->bytes, type->size);
		*type_ret = type;
		return true;
	}
	if (type->kind != AI_TYPE_STRUCT || depth >= MAX_LEAF_DEPTH)
		return false;
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_member *m = &type->members[i];
		const struct ai_type *mt = vp_resolve_quiet(type, &m->type);
		if (!mt || m->offset > v->size)
			continue;
		struct view sub = { v->bytes + m->offset, v->address + m->offset, v->size - m->offset };
		if (find_pointer(mt, &sub, depth + 1, value_ret, type_ret))
			return true;
	}
	return false;
}

/* An unsigned integer: the value itself, or the first integer inside a wrapper struct (e.g.
 * RawVecInner's `cap: Cap(usize)`). */
static bool find_uint(const struct ai_type *type, const struct view *v, int depth, uint64_t *ret)
{
	if (type->kind == AI_TYPE_INT || type->kind == AI_TYPE_BOOL || type->kind == AI_TYPE_POINTER) {
		if (type->size > v->size || type->size > 8)
			return false;
		*ret = vp_load_uint(v->bytes, type->size);
		return true;
	}
	if (type->kind != AI_TYPE_STRUCT || depth >= MAX_LEAF_DEPTH || type->member_count == 0)
		return false;
	const struct ai_member *m = &type->members[0];
	const struct ai_type *mt = vp_resolve_quiet(type, &m->type);
	if (!mt || m->offset > v->size)
		return false;
	struct view sub = { v->bytes + m->offset, v->address + m->offset, v->size - m->offset };
	return find_uint(mt, &sub, depth + 1, ret);
}

/* A member's type and view, quietly: false if it is missing or not in v. */
bool vp_member_view(const struct ai_type *type, const char *name, const struct view *v,
			const struct ai_type **type_ret, struct view *view_ret)
{
	const struct ai_member *m = ai_type_find_member(type, name);
	if (!m)
		return false;
	const struct ai_type *mt = vp_resolve_quiet(type, &m->type);
	if (!mt || m->offset > v->size || mt->size > v->size - m->offset)
		return false;
	*type_ret = mt;
	*view_ret = (struct view){ v->bytes + m->offset, v->address + m->offset, mt->size };
	return true;
}

/* A member named name, searched for depth-first (RawVec's cap sits at buf.inner.cap in 1.9x and
 * at buf.cap before). */
static bool find_member_deep(const struct ai_type *type, const char *name, const struct view *v,
			     int depth, const struct ai_type **type_ret, struct view *view_ret)
{
	if (vp_member_view(type, name, v, type_ret, view_ret))
		return true;
	if (depth >= MAX_LEAF_DEPTH)
		return false;
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_member *m = &type->members[i];
		const struct ai_type *mt = vp_resolve_quiet(type, &m->type);
		if (!mt || mt->kind != AI_TYPE_STRUCT || m->offset > v->size ||
		    mt->size > v->size - m->offset)
			continue;
		struct view sub = { v->bytes + m->offset, v->address + m->offset, mt->size };
		if (find_member_deep(mt, name, &sub, depth + 1, type_ret, view_ret))
			return true;
	}
	return false;
}

static bool member_uint(const struct ai_type *type, const char *name, const struct view *v,
			uint64_t *ret)
{
	const struct ai_type *mt;
	struct view mv;
	return vp_member_view(type, name, v, &mt, &mv) && find_uint(mt, &mv, 0, ret);
}

/* Vec<T>: the element type (template parameter T), the buffer and the length. */
static bool vec_parts(const struct ai_type *type, const struct view *v,
		      const struct ai_type **elem_ret, uint64_t *ptr_ret, uint64_t *len_ret)
{
	const struct ai_template_param *t = ai_type_find_template_param(type, "T");
	const struct ai_type *buf_type, *ptr_type;
	struct view buf;
	if (!t || !(*elem_ret = vp_resolve_quiet(type, &t->type)) ||
	    !vp_member_view(type, "buf", v, &buf_type, &buf) ||
	    !find_pointer(buf_type, &buf, 0, ptr_ret, &ptr_type) ||
	    !member_uint(type, "len", v, len_ret))
		return false;
	return true;
}

/* ---- Known types ---- */

static bool print_vec(struct printer *p, const struct ai_type *type, const struct view *v,
		      unsigned depth)
{
	const struct ai_type *elem;
	uint64_t ptr, len;
	if (!vec_parts(type, v, &elem, &ptr, &len))
		return false;
	vp_print_list(p, elem, ptr, len, depth);
	return true;
}

static bool print_string(struct printer *p, const struct ai_type *type, const struct view *v,
			 unsigned depth)
{
	const struct ai_type *vec_type, *elem;
	struct view vec;
	uint64_t ptr, len;
	if (!vp_member_view(type, "vec", v, &vec_type, &vec) ||
	    !vec_parts(vec_type, &vec, &elem, &ptr, &len))
		return false;
	vp_print_str(p, ptr, len);
	return true;
}

/* VecDeque<T> since Rust 1.67: a ring of `cap` slots, `len` elements from `head`. */
static bool print_vec_deque(struct printer *p, const struct ai_type *type, const struct view *v,
			    unsigned depth)
{
	const struct ai_template_param *t = ai_type_find_template_param(type, "T");
	const struct ai_type *elem, *buf_type, *ptr_type, *cap_type;
	struct view buf, cap_view;
	uint64_t head, len, ptr, cap;
	if (!t || !(elem = vp_resolve_quiet(type, &t->type)) || !elem->has_size ||
	    !member_uint(type, "head", v, &head) || !member_uint(type, "len", v, &len) ||
	    !vp_member_view(type, "buf", v, &buf_type, &buf) ||
	    !find_pointer(buf_type, &buf, 0, &ptr, &ptr_type) ||
	    !find_member_deep(buf_type, "cap", &buf, 0, &cap_type, &cap_view) ||
	    !find_uint(cap_type, &cap_view, 0, &cap))
		return false;
	if (elem->size == 0 || len == 0 || depth >= p->limits.max_depth) {
		vp_print_list(p, elem, ptr, len, depth); /* nothing to read, or only the count */
		return true;
	}
	if (cap == 0 || head >= cap || len > cap) {
		vp_out_printf(&p->out, "<invalid VecDeque: head %" PRIu64 ", len %" PRIu64
			   ", capacity %" PRIu64 ">", head, len, cap);
		return true;
	}
	/* The shown elements in at most two runs: from head to the end of the ring, then from 0. */
	uint64_t n = vp_items_to_show(p, elem, len);
	uint64_t first = AI_MIN(n, cap - head);
	uint8_t *a = vp_fetch(p, ptr + head * elem->size, first * elem->size);
	if (!a)
		return true;
	uint8_t *b = n > first ? vp_fetch(p, ptr, (n - first) * elem->size) : NULL;
	if (n > first && !b) {
		free(a);
		return true;
	}
	vp_out_str(&p->out, "[");
	vp_print_items(p, elem, a, ptr + head * elem->size, first, true, depth);
	if (b)
		vp_print_items(p, elem, b, ptr, n - first, first == 0, depth);
	vp_print_list_tail(p, n, len);
	free(a);
	free(b);
	return true;
}

/* HashMap<K, V> and HashSet<T> (std's, over hashbrown): `{k: v, ..}`, `{t, ..}`. hashbrown's
 * RawTable<T> keeps one control byte per bucket at `ctrl` (top bit clear: the bucket is full) and
 * the buckets just below it in reverse order: bucket i is at ctrl - (i + 1) * size_of::<T>(). */
static bool print_hash_table(struct printer *p, const struct ai_type *type, const struct view *v,
			     unsigned depth, bool is_set)
{
	const struct ai_type *table_type, *inner_type, *elem;
	struct view table, inner;
	uint64_t ctrl, mask, items;
	const struct ai_template_param *t;
	if (!find_member_deep(type, "table", v, 0, &table_type, &table) ||
	    !(t = ai_type_find_template_param(table_type, "T")) ||
	    !(elem = vp_resolve_quiet(table_type, &t->type)) || !elem->has_size ||
	    !vp_member_view(table_type, "table", &table, &inner_type, &inner) ||
	    !member_uint(inner_type, "bucket_mask", &inner, &mask) ||
	    !member_uint(inner_type, "items", &inner, &items) ||
	    !member_uint(inner_type, "ctrl", &inner, &ctrl))
		return false;
	/* (K, V) for a map; a set's map has (T, ()) */
	const struct ai_type *key_type, *value_type = NULL;
	const struct ai_member *key = ai_type_find_member(elem, "__0");
	const struct ai_member *value = ai_type_find_member(elem, "__1");
	if (!key || !(key_type = vp_resolve_quiet(elem, &key->type)) ||
	    (!is_set && (!value || !(value_type = vp_resolve_quiet(elem, &value->type)))))
		return false;
	if (items == 0) {
		vp_out_str(&p->out, "{}");
		return true;
	}
	uint64_t buckets = mask + 1;
	if (buckets == 0 || (buckets & mask) || items > buckets || elem->size == 0) {
		vp_out_printf(&p->out, "<invalid hash table: %" PRIu64 " items, %" PRIu64 " buckets>",
			   items, buckets);
		return true;
	}
	if (depth >= p->limits.max_depth || buckets > p->limits.max_read) {
		vp_out_printf(&p->out, "{%s (%" PRIu64 " items)}", ELLIPSIS, items);
		return true;
	}
	uint8_t *control = vp_fetch(p, ctrl, buckets);
	if (!control)
		return true;
	vp_out_str(&p->out, "{");
	uint64_t shown = 0;
	for (uint64_t i = 0; i < buckets && shown < p->limits.max_items && !p->out.full; i++) {
		if (control[i] & 0x80)
			continue;
		uint64_t address = ctrl - (i + 1) * elem->size;
		if (shown++)
			vp_out_str(&p->out, ", ");
		uint8_t *bytes = vp_fetch(p, address, elem->size);
		if (!bytes)
			continue;
		struct view ev = { bytes, address, elem->size }, kv;
		if (vp_sub_view(p, &ev, key->offset, key_type->size, &kv))
			vp_print_value(p, key_type, &kv, depth + 1);
		if (!is_set) {
			vp_out_str(&p->out, ": ");
			if (vp_sub_view(p, &ev, value->offset, value_type->size, &kv))
				vp_print_value(p, value_type, &kv, depth + 1);
		}
		free(bytes);
	}
	vp_print_tail(p, shown, items, "}");
	free(control);
	return true;
}

static bool print_hash_map(struct printer *p, const struct ai_type *type, const struct view *v,
			   unsigned depth)
{
	return print_hash_table(p, type, v, depth, false);
}

static bool print_hash_set(struct printer *p, const struct ai_type *type, const struct view *v,
			   unsigned depth)
{
	return print_hash_table(p, type, v, depth, true);
}

/* Arc<T> and Rc<T>: `Arc(strong 3, weak 0) ` then the value inside (ArcInner.data,
 * RcInner.value). The counts are ArcInner's / RcInner's own `strong` and `weak`; weak counts
 * one for all the strong references together, so it is shown as Arc::weak_count does (weak - 1
 * while strong > 0; usize::MAX is Arc::get_mut's lock on it). strong 0: the value was dropped. */
static bool print_rc(struct printer *p, const struct ai_type *type, const struct view *v,
		     unsigned depth)
{
	const struct ai_type *ptr_type, *inner, *data_type;
	uint64_t ptr;
	if (!find_pointer(type, v, 0, &ptr, &ptr_type))
		return false; /* e.g. Arc<dyn T>, whose pointer is a fat struct */
	if (!(inner = vp_resolve_quiet(ptr_type, &ptr_type->target)))
		return false;
	const struct ai_member *data = ai_type_find_member(inner, "data");
	if (!data)
		data = ai_type_find_member(inner, "value"); /* RcInner */
	if (!data || !(data_type = vp_resolve_quiet(inner, &data->type)) || !data_type->has_size)
		return false;
	if (ptr == 0) {
		vp_out_str(&p->out, "<null>");
		return true;
	}
	const char *kind = vp_starts_with(ai_type_qualified_name(type), "alloc::rc::") ? "Rc" : "Arc";
	if (depth >= p->limits.max_depth) {
		vp_print_type_name(p, type);
		vp_out_printf(&p->out, "(0x%" PRIx64 ")", ptr);
		return true;
	}
	uint64_t size = data->offset + data_type->size;
	uint8_t *bytes = vp_fetch(p, ptr, size);
	if (!bytes)
		return true;
	struct view iv = { bytes, ptr, size };
	uint64_t strong, weak;
	bool counted = member_uint(inner, "strong", &iv, &strong) &&
		       member_uint(inner, "weak", &iv, &weak);
	if (counted) {
		vp_out_str(&p->out, kind);
		vp_out_str(&p->out, "(strong ");
		vp_out_u64(&p->out, strong);
		if (weak == UINT64_MAX) {
			vp_out_str(&p->out, ", weak locked) ");
		} else {
			vp_out_str(&p->out, ", weak ");
			vp_out_u64(&p->out, strong > 0 && weak > 0 ? weak - 1 : weak);
			vp_out_str(&p->out, ") ");
		}
	}
	if (counted && strong == 0) {
		vp_out_str(&p->out, "<dropped>"); /* only Weaks are left: data is gone */
	} else {
		struct view dv = { bytes + data->offset, ptr + data->offset, data_type->size };
		vp_print_value(p, data_type, &dv, depth + 1);
	}
	free(bytes);
	return true;
}

/* Weak<T> (sync and rc): the counts of the allocation it points to, not the value (which is
 * gone when strong is 0). Weak::new() points nowhere: usize::MAX. */
static bool print_weak(struct printer *p, const struct ai_type *type, const struct view *v,
		       unsigned depth)
{
	const struct ai_type *ptr_type, *inner;
	uint64_t ptr, strong, weak;
	if (!find_pointer(type, v, 0, &ptr, &ptr_type) ||
	    !(inner = vp_resolve_quiet(ptr_type, &ptr_type->target)) ||
	    !ai_type_find_member(inner, "strong") || !ai_type_find_member(inner, "weak"))
		return false;
	if (ptr == UINT64_MAX) {
		vp_out_str(&p->out, "Weak(dangling)");
		return true;
	}
	uint64_t size = AI_MAX(ai_type_find_member(inner, "strong")->offset,
			       ai_type_find_member(inner, "weak")->offset) + 8;
	uint8_t *bytes = vp_fetch(p, ptr, size);
	if (!bytes)
		return true;
	struct view iv = { bytes, ptr, size };
	if (member_uint(inner, "strong", &iv, &strong) && member_uint(inner, "weak", &iv, &weak))
		vp_out_printf(&p->out, "Weak(strong %" PRIu64 ", weak %" PRIu64 ")", strong,
			      strong > 0 && weak > 0 ? weak - 1 : weak);
	else
		vp_out_printf(&p->out, "Weak(0x%" PRIx64 ")", ptr);
	free(bytes);
	return true;
}

/* The value of a cell-like wrapper's member `name` (UnsafeCell<T> and the like, printed
 * through), after a `Label(state) ` prefix the caller printed. */
static void print_inner_member(struct printer *p, const struct ai_type *type, const char *name,
			       const struct view *v, unsigned depth)
{
	const struct ai_type *mt;
	struct view mv;
	if (vp_member_view(type, name, v, &mt, &mv))
		vp_print_value(p, mt, &mv, depth + 1);
	else
		vp_out_str(&p->out, "{..}");
}

/* std's Mutex<T> (std::sync::Mutex; std::sync::poison::mutex::Mutex since 1.84): whether it is
 * locked, from the futex word of its `inner` (Linux: 0 unlocked, 1 locked, 2 locked with
 * waiters), and poisoned, from `poison.failed`. Another lock implementation: `lock state
 * unknown`, never a guess. */
static bool print_std_mutex(struct printer *p, const struct ai_type *type, const struct view *v,
			    unsigned depth)
{
	const struct ai_type *inner_type, *futex_type, *poison_type, *failed_type;
	struct view inner, futex, poison, failed;
	if (!ai_type_find_member(type, "data") ||
	    !vp_member_view(type, "inner", v, &inner_type, &inner))
		return false;
	uint64_t state, is_poisoned;
	bool known = find_member_deep(inner_type, "futex", &inner, 0, &futex_type, &futex) &&
		     find_uint(futex_type, &futex, 0, &state) && state <= 2;
	bool poison_known = vp_member_view(type, "poison", v, &poison_type, &poison) &&
			    find_member_deep(poison_type, "failed", &poison, 0, &failed_type, &failed) &&
			    find_uint(failed_type, &failed, 0, &is_poisoned) && is_poisoned <= 1;
	vp_out_str(&p->out, "Mutex(");
	if (!known)
		vp_out_str(&p->out, "lock state unknown");
	else
		vp_out_str(&p->out, state == 0 ? "unlocked" : state == 1 ? "locked" :
				    "locked, waiters");
	if (poison_known && is_poisoned)
		vp_out_str(&p->out, ", poisoned");
	vp_out_str(&p->out, ") ");
	print_inner_member(p, type, "data", v, depth);
	return true;
}

/* std's RwLock<T>: its futex `state` (Linux): the low 30 bits count readers, all of them set
 * is write-locked; bits 30 and 31 say readers or writers wait. */
static bool print_std_rwlock(struct printer *p, const struct ai_type *type, const struct view *v,
			     unsigned depth)
{
	const struct ai_type *inner_type, *state_type, *poison_type, *failed_type;
	struct view inner, state_view, poison, failed;
	if (!ai_type_find_member(type, "data") ||
	    !vp_member_view(type, "inner", v, &inner_type, &inner))
		return false;
	const uint64_t mask = (1u << 30) - 1;
	uint64_t state, is_poisoned;
	bool known = find_member_deep(inner_type, "state", &inner, 0, &state_type, &state_view) &&
		     state_type->size == 4 && find_uint(state_type, &state_view, 0, &state);
	bool poison_known = vp_member_view(type, "poison", v, &poison_type, &poison) &&
			    find_member_deep(poison_type, "failed", &poison, 0, &failed_type, &failed) &&
			    find_uint(failed_type, &failed, 0, &is_poisoned) && is_poisoned <= 1;
	vp_out_str(&p->out, "RwLock(");
	if (!known)
		vp_out_str(&p->out, "lock state unknown");
	else if ((state & mask) == mask)
		vp_out_str(&p->out, "write-locked");
	else if (state & mask)
		vp_out_printf(&p->out, "read-locked by %" PRIu64, state & mask);
	else
		vp_out_str(&p->out, "unlocked");
	if (poison_known && is_poisoned)
		vp_out_str(&p->out, ", poisoned");
	vp_out_str(&p->out, ") ");
	print_inner_member(p, type, "data", v, depth);
	return true;
}

/* RefCell<T>: its `borrow` count (0 free, n > 0 shared borrows, < 0 borrowed mutably), then
 * the value. */
static bool print_ref_cell(struct printer *p, const struct ai_type *type, const struct view *v,
			   unsigned depth)
{
	const struct ai_type *borrow_type;
	struct view borrow;
	uint64_t raw;
	if (!ai_type_find_member(type, "value") ||
	    !vp_member_view(type, "borrow", v, &borrow_type, &borrow) ||
	    !find_uint(borrow_type, &borrow, 0, &raw) || borrow_type->size != 8)
		return false;
	int64_t n = (int64_t)raw;
	if (n == 0)
		vp_out_str(&p->out, "RefCell(not borrowed) ");
	else if (n > 0)
		vp_out_printf(&p->out, "RefCell(borrowed %" PRId64 "x) ", n);
	else
		vp_out_str(&p->out, "RefCell(borrowed mutably) ");
	print_inner_member(p, type, "value", v, depth);
	return true;
}

/* Wrappers that add nothing to what they hold (Pin, NonNull, UnsafeCell, atomics): their one
 * member that is not zero-sized. */
static bool print_transparent(struct printer *p, const struct ai_type *type, const struct view *v,
			      unsigned depth)
{
	const struct ai_member *only = NULL;
	const struct ai_type *only_type = NULL;
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_type *mt = vp_resolve_quiet(type, &type->members[i].type);
		if (!mt)
			return false;
		if (mt->size == 0)
			continue;
		if (only)
			return false;
		only = &type->members[i];
		only_type = mt;
	}
	struct view mv;
	if (!only)
		return false;
	if (vp_sub_view(p, v, only->offset, only_type->size, &mv))
		vp_print_value(p, only_type, &mv, depth);
	return true;
}

/* Duration as Rust's Debug prints it: 1.5s, 250ms, 10µs, 7ns. */
static bool print_duration(struct printer *p, const struct ai_type *type, const struct view *v,
			   unsigned depth)
{
	uint64_t secs, nanos;
	if (!member_uint(type, "secs", v, &secs) || !member_uint(type, "nanos", v, &nanos) ||
	    nanos >= 1000000000)
		return false;
	uint64_t whole, frac;
	unsigned digits;
	const char *unit;
	if (secs) {
		whole = secs, frac = nanos, digits = 9, unit = "s";
	} else if (nanos >= 1000000) {
		whole = nanos / 1000000, frac = nanos % 1000000, digits = 6, unit = "ms";
	} else if (nanos >= 1000) {
		whole = nanos / 1000, frac = nanos % 1000, digits = 3, unit = "\xc2\xb5s";
	} else {
		whole = nanos, frac = 0, digits = 0, unit = "ns";
	}
	vp_out_u64(&p->out, whole);
	if (frac) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%0*" PRIu64, (int)digits, frac);
		for (size_t n = strlen(buf); n > 0 && buf[n - 1] == '0'; n--)
			buf[n - 1] = '\0';
		vp_out_printf(&p->out, ".%s", buf);
	}
	vp_out_str(&p->out, unit);
	return true;
}

static bool print_atomic_bool(struct printer *p, const struct ai_type *type,
			      const struct view *v, unsigned depth)
{
	uint64_t b;
	if (!find_uint(type, v, 0, &b) || b > 1)
		return false;
	vp_out_str(&p->out, b ? "true" : "false");
	return true;
}

typedef bool known_print_fn(struct printer *p, const struct ai_type *type, const struct view *v,
			    unsigned depth);

/* Standard types by qualified name; a name ending in '<' or a `prefix` entry matches as a prefix. */
static const struct known_type {
	const char *name;
	bool prefix;
	known_print_fn *print;
} known_types[] = {
	{ "alloc::string::String", false, print_string },
	{ "alloc::vec::Vec<", true, print_vec },
	{ "alloc::collections::vec_deque::VecDeque<", true, print_vec_deque },
	{ "std::collections::hash::map::HashMap<", true, print_hash_map },
	{ "std::collections::hash::set::HashSet<", true, print_hash_set },
	{ "hashbrown::map::HashMap<", true, print_hash_map },
	{ "hashbrown::set::HashSet<", true, print_hash_set },
	{ "alloc::sync::Arc<", true, print_rc },
	{ "alloc::rc::Rc<", true, print_rc },
	{ "alloc::sync::Weak<", true, print_weak },
	{ "alloc::rc::Weak<", true, print_weak },
	{ "core::pin::Pin<", true, print_transparent },
	{ "core::ptr::non_null::NonNull<", true, print_transparent },
	{ "core::ptr::unique::Unique<", true, print_transparent },
	{ "core::cell::UnsafeCell<", true, print_transparent },
	{ "core::cell::RefCell<", true, print_ref_cell },
	{ "std::sync::mutex::Mutex<", true, print_std_mutex },
	{ "std::sync::poison::mutex::Mutex<", true, print_std_mutex },
	{ "std::sync::rwlock::RwLock<", true, print_std_rwlock },
	{ "std::sync::poison::rwlock::RwLock<", true, print_std_rwlock },
	{ "core::cell::Cell<", true, print_transparent },
	{ "core::mem::manually_drop::ManuallyDrop<", true, print_transparent },
	{ "core::sync::atomic::AtomicBool", false, print_atomic_bool },
	{ "core::sync::atomic::Atomic", true, print_transparent },
	{ "core::num::nonzero::NonZero", true, print_transparent },
	{ "core::num::niche_types::", true, print_transparent },
	{ "core::time::Duration", false, print_duration },
};

/* The caller's summary of a type (limits.summary), then the value of the member it names. */
static bool print_summary(struct printer *p, const struct ai_type *type, const struct view *v,
			  unsigned depth)
{
	char *text = NULL;
	const char *inner = NULL;
	if (!p->limits.summary || !p->limits.summary(p->mem, type, v->address, &text, &inner))
		return false;
	vp_out_str(&p->out, text);
	free(text);
	if (!inner)
		return true;
	/* a path of members, "c" or "value.inner" */
	const struct ai_type *t = type;
	struct view cur = *v;
	char *path = xstrdup(inner);
	bool found = true;
	for (char *save, *part = strtok_r(path, ".", &save); part && found;
	     part = strtok_r(NULL, ".", &save))
		found = vp_member_view(t, part, &cur, &t, &cur);
	free(path);
	if (found) {
		vp_out_str(&p->out, " ");
		vp_print_value(p, t, &cur, depth + 1);
	}
	return true;
}

bool vp_print_known(struct printer *p, const struct ai_type *type, const struct view *v,
			unsigned depth)
{
	const char *name = ai_type_qualified_name(type);
	if (!name)
		return false;
	if (print_summary(p, type, v, depth))
		return true;
	int known = type->known_printer;
	if (known == 0) {
		/* The table by name once per type, not once per value: its answer is kept on the type
		 * (not on hand-made ones, which nothing may write to). */
		known = -1;
		for (size_t i = 0; i < AI_ARRAY_SIZE(known_types) && known < 0; i++) {
			const struct known_type *k = &known_types[i];
			if (k->prefix ? vp_starts_with(name, k->name) : strcmp(name, k->name) == 0)
				known = (int)i + 1;
		}
		if (type->types)
			((struct ai_type *)type)->known_printer = known;
	}
	return known > 0 && known_types[known - 1].print(p, type, v, depth);
}

