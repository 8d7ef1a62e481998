/* The await-tree decoder's combinators (join!/select!, Timeout, futures' Join, JoinAll, Select,
 * poll_fn, FuturesUnordered...): their branches become the node's children. See await_tree.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "await_tree_internal.h"

/* Branches of one combinator, and nodes of one FuturesUnordered list. */
#define MAX_BRANCHES 4096

/* ---- Combinators ---- */

/* Adds a child for a branch; false once the tree has its max_nodes (then node says so, and the
 * caller stops rather than add a node per remaining branch). */
static bool add_branch(struct decoder *d, struct ai_await_node *node, uint64_t address,
		       const struct ai_type *type, unsigned depth)
{
	if (d->nodes >= d->as->options.max_nodes) {
		if (!node->error)
			aw_set_error(node, "node limit (%zu) reached", d->as->options.max_nodes);
		return false;
	}
	struct ai_await_node *child = ai_await_node_add_child(node);
	aw_decode(d, address, type, child, depth + 1, NULL);
	return true;
}

/* Each member of a struct (fut1, fut2... or a tuple's __0, __1...) is a branch. */
static void branches_from_members(struct decoder *d, struct ai_await_node *node, uint64_t address,
				  const struct ai_type *type, const char *prefix, unsigned depth,
				  uint64_t disabled)
{
	size_t index = 0;
	for (size_t i = 0; i < type->member_count && index < MAX_BRANCHES; i++) {
		const struct ai_member *m = &type->members[i];
		if (!m->name || !aw_starts_with(m->name, prefix))
			continue;
		const struct ai_type *mt;
		struct ai_error *err = ai_type_member_type(type, m, &mt);
		if (err) {
			aw_set_error_from(node, err);
			return;
		}
		if (index < 64 && (disabled >> index & 1)) {
			/* A finished (or precondition-false) select! branch: not awaited. */
			struct ai_await_node *child = ai_await_node_add_child(node);
			child->address = address + m->offset;
			child->type = xstrdup(aw_type_name(mt));
			child->state = xstrdup("disabled");
			child->leaf = true;
		} else if (!add_branch(d, node, address + m->offset, mt, depth)) {
			return;
		}
		index++;
	}
}

/* Follows pointers from (address, type) to a struct whose name starts with '(' (a tuple). */
static bool reach_tuple(struct decoder *d, uint64_t *address, const struct ai_type **type,
			struct ai_await_node *node)
{
	for (int hops = 0; hops < 4; hops++) {
		const struct ai_type *t;
		struct ai_error *err = ai_type_underlying(*type, &t);
		if (err) {
			aw_set_error_from(node, err);
			return false;
		}
		if (t->kind == AI_TYPE_STRUCT && t->name && t->name[0] == '(') {
			*type = t;
			return true;
		}
		if (t->kind != AI_TYPE_POINTER)
			return false;
		const struct ai_type *target;
		uint64_t ptr;
		err = ai_type_target(t, &target);
		if (!err)
			err = aw_read_word(d, NULL, *address, 8, &ptr);
		if (!err)
			err = aw_check_pointer(ptr, target);
		if (err) {
			aw_set_error_from(node, err);
			return false;
		}
		*address = ptr;
		*type = target;
	}
	return false;
}

static bool all_pointers(const struct ai_type *type)
{
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_type *mt;
		struct ai_error *err = ai_type_member_type(type, &type->members[i], &mt);
		bool pointer = !err && mt->kind == AI_TYPE_POINTER;
		ai_error_destroy(err);
		if (!pointer || !type->members[i].name)
			return false;
	}
	return true;
}

/* The type under pointers and Pin wrappers (by type only), or NULL. */
static const struct ai_type *peel_pointers(const struct ai_type *t)
{
	for (int hops = 0; t && hops < 8; hops++) {
		const struct ai_type *u = NULL, *next = NULL;
		if (ai_type_underlying(t, &u) || !u)
			return NULL;
		const struct ai_member *m;
		if (u->kind == AI_TYPE_POINTER) {
			if (ai_type_target(u, &next))
				return NULL;
		} else if (u->kind == AI_TYPE_STRUCT && aw_starts_with(aw_type_name(u), "core::pin::Pin<") &&
			   (m = aw_find_member_any(u, "pointer", "__pointer"))) {
			if (ai_type_member_type(u, m, &next))
				return NULL;
		} else {
			return u;
		}
		t = next;
	}
	return NULL;
}

/* Every member of the closure is (a pointer to) a future of the shape `shape`. */
static bool all_members_shaped(const struct ai_type *closure, enum ai_future_shape shape,
			       const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < closure->member_count; i++) {
		const struct ai_member *m = &closure->members[i];
		const struct ai_type *mt;
		if (!m->name || !aw_starts_with(m->name, prefix))
			continue;
		if (ai_type_member_type(closure, m, &mt))
			return false;
		const struct ai_type *f = peel_pointers(mt);
		const struct ai_future_shape_rule *rule = f ? ai_runtime_future_shape_of(f, aw_type_name(f)) : NULL;
		if (!rule || rule->shape != shape)
			return false;
		n++;
	}
	return n > 0;
}

/* futures' join!/try_join!: the closure captures each branch as _fut0, _fut1... (a
 * Pin<&mut MaybeDone<F>>); futures' select!: it captures only the branch futures, by reference
 * (the user's variables, Fuse<F> in the common `.fuse()` + pin_mut! form): taken when every
 * capture is a wrapper future (a transparent shape). A select! of other futures (a bare oneshot
 * Receiver) is not recognised: the PollFn stays a leaf. */
static bool decode_poll_fn_captures(struct decoder *d, uint64_t base, const struct ai_type *closure,
				    struct ai_await_node *node, unsigned depth)
{
	if (all_members_shaped(closure, AI_SHAPE_MAYBE_DONE, "_fut")) {
		branches_from_members(d, node, base, closure, "_fut", depth, 0);
		return true;
	}
	if (all_members_shaped(closure, AI_SHAPE_TRANSPARENT, "") &&
	    closure->member_count <= MAX_BRANCHES) {
		branches_from_members(d, node, base, closure, "", depth, 0);
		return true;
	}
	return false;
}

/* tokio's join!/select!: a PollFn whose closure captures the branch futures (`futures` or
 * `_ref__futures`: a pointer to a tuple) and, for select!, `_ref__disabled` (a bit per finished
 * branch); futures' join! captures one `_futN` per branch (a Pin<&mut MaybeDone<F>>), and
 * futures' select! a pointer to each branch future, named after the user's variable: a closure
 * the awaitee of a macro's suspend point that captures only pointers has them as its branches.
 * Returns false if the closure is not one of those (then the node is a leaf). */
static bool decode_poll_fn(struct decoder *d, uint64_t address, const struct ai_type *type,
			   struct ai_await_node *node, unsigned depth)
{
	const struct ai_member *f = ai_type_find_member(type, "f");
	const struct ai_type *closure;
	if (!f || ai_type_member_underlying(type, f, &closure) != NULL)
		return false;
	uint64_t base = address + f->offset;
	const struct ai_member *futures = aw_find_member_any(closure, "futures", "_ref__futures");
	if (!futures && closure->member_count && closure->members[0].name &&
	    aw_starts_with(closure->members[0].name, "_fut")) {
		branches_from_members(d, node, base, closure, "_fut", depth, 0);
		return true;
	}
	if (!futures && address == d->macro_awaitee && closure->member_count &&
	    all_pointers(closure)) {
		branches_from_members(d, node, base, closure, "", depth, 0);
		return true;
	}
	if (!futures)
		return decode_poll_fn_captures(d, base, closure, node, depth);
	const struct ai_type *tuple;
	struct ai_error *err = ai_type_member_type(closure, futures, &tuple);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	uint64_t tuple_address = base + futures->offset;
	if (!reach_tuple(d, &tuple_address, &tuple, node))
		return node->error != NULL;
	uint64_t disabled = 0;
	const struct ai_member *dm = ai_type_find_member(closure, "_ref__disabled");
	const struct ai_type *dt, *mask_type;
	if (dm && !ai_type_member_underlying(closure, dm, &dt) && dt->kind == AI_TYPE_POINTER &&
	    !ai_type_target(dt, &mask_type) && mask_type->kind == AI_TYPE_INT &&
	    mask_type->size <= 8) {
		uint64_t ptr;
		err = aw_read_word(d, NULL, base + dm->offset, 8, &ptr);
		if (!err)
			err = aw_check_pointer(ptr, NULL);
		if (!err)
			err = aw_read_word(d, NULL, ptr, mask_type->size, &disabled);
		if (err) {
			aw_set_error_from(node, err);
			return true;
		}
	}
	branches_from_members(d, node, tuple_address, tuple, "__", depth, disabled);
	return true;
}

/* The elements of a Box<[T]> / &[T] fat pointer { data_ptr, length }. */
static void branches_from_slice(struct decoder *d, struct ai_await_node *node, uint64_t address,
				const struct ai_type *type, unsigned depth)
{
	const struct ai_member *pm = ai_type_find_member(type, "data_ptr");
	const struct ai_member *lm = ai_type_find_member(type, "length");
	const struct ai_type *pt, *elem;
	uint64_t ptr, len;
	struct ai_error *err = NULL;
	if (!pm || !lm)
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no data_ptr/length",
				      aw_type_name(type));
	if (!err)
		err = ai_type_member_underlying(type, pm, &pt);
	if (!err && pt->kind != AI_TYPE_POINTER)
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s: data_ptr is no pointer",
				      aw_type_name(type));
	if (!err)
		err = ai_type_target(pt, &elem);
	if (!err)
		err = aw_read_word(d, NULL, address + pm->offset, 8, &ptr);
	if (!err)
		err = aw_read_word(d, NULL, address + lm->offset, 8, &len);
	if (!err && len)
		err = aw_check_pointer(ptr, elem);
	if (!err && (!elem->has_size || elem->size == 0))
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "elements of unknown size in %s",
				      aw_type_name(type));
	if (err) {
		aw_set_error_from(node, err);
		return;
	}
	for (uint64_t i = 0; i < len && i < MAX_BRANCHES; i++)
		if (!add_branch(d, node, ptr + i * elem->size, elem, depth))
			return;
	if (len > MAX_BRANCHES)
		aw_set_error(node, "%" PRIu64 " futures, the first %d shown", len, MAX_BRANCHES);
}

/* The first pointer inside a value (AtomicPtr { p: UnsafeCell { value: *mut T } }). */
static bool find_pointer(const struct ai_type *type, uint64_t *offset_ret,
			 const struct ai_type **pointer_ret, int depth)
{
	const struct ai_type *t;
	struct ai_error *err = ai_type_underlying(type, &t);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (t->kind == AI_TYPE_POINTER) {
		*pointer_ret = t;
		return true;
	}
	if (t->kind != AI_TYPE_STRUCT || depth > 4)
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_type *mt;
		uint64_t inner = 0;
		if (ai_type_member_type(t, &t->members[i], &mt) != NULL)
			continue;
		if (find_pointer(mt, &inner, pointer_ret, depth + 1)) {
			*offset_ret += t->members[i].offset + inner;
			return true;
		}
	}
	return false;
}

/* Reads the pointer held (maybe wrapped) in member `name` of the value at address. */
static struct ai_error *member_pointer(struct decoder *d, uint64_t address,
				       const struct ai_type *type, const char *name,
				       uint64_t *ptr_ret, const struct ai_type **target_ret)
{
	const struct ai_member *m = ai_type_find_member(type, name);
	const struct ai_type *mt, *pt;
	uint64_t offset = 0;
	if (!m)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no member %s",
				       aw_type_name(type), name);
	struct ai_error *err = ai_type_member_type(type, m, &mt);
	if (err)
		return err;
	if (!find_pointer(mt, &offset, &pt, 0))
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s.%s holds no pointer",
				       aw_type_name(type), name);
	err = ai_type_target(pt, target_ret);
	if (!err)
		err = ai_type_underlying(*target_ret, target_ret);
	if (!err)
		err = aw_read_word(d, NULL, address + m->offset + offset, 8, ptr_ret);
	return err;
}

/* futures' FuturesUnordered: every node of the head_all -> next_all list holds
 * `future: UnsafeCell<Option<F>>`; released nodes hold None and are skipped. */
static void decode_futures_unordered(struct decoder *d, uint64_t address,
				     const struct ai_type *type, struct ai_await_node *node,
				     unsigned depth)
{
	uint64_t task;
	const struct ai_type *task_type;
	struct ai_error *err = member_pointer(d, address, type, "head_all", &task, &task_type);
	if (err) {
		aw_set_error_from(node, err);
		return;
	}
	uint64_t first = task;
	for (size_t n = 0; task && n < MAX_BRANCHES; n++) {
		err = aw_check_pointer(task, task_type);
		const struct ai_member *fm = ai_type_find_member(task_type, "future");
		const struct ai_type *cell, *option;
		if (!err && !fm)
			err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no member future",
					      aw_type_name(task_type));
		if (!err)
			err = ai_type_member_type(task_type, fm, &cell);
		uint64_t option_address = task + (fm ? fm->offset : 0);
		if (!err) {
			/* UnsafeCell<Option<F>> -> Option<F> */
			const struct ai_member *vm = ai_type_find_member(cell, "value");
			option = cell;
			if (vm) {
				option_address += vm->offset;
				err = ai_type_member_underlying(cell, vm, &option);
			}
		}
		const uint8_t *bytes = NULL;
		uint8_t *owned = NULL;
		const struct ai_variant *variant = NULL;
		if (!err && option->kind == AI_TYPE_ENUM)
			err = aw_read_bytes(d, NULL, option_address, option->size, &bytes, &owned);
		if (!err && option->kind == AI_TYPE_ENUM)
			err = ai_type_active_variant(option, bytes, option->size, &variant);
		free(owned);
		if (err) {
			aw_set_error_from(node, err);
			return;
		}
		if (variant && variant->name && strcmp(variant->name, "Some") == 0) {
			const struct ai_type *some, *fut;
			const struct ai_member *inner;
			if (!ai_type_member_underlying(option, &variant->member, &some) &&
			    (inner = ai_type_find_member(some, "__0")) &&
			    !ai_type_member_type(some, inner, &fut) &&
			    !add_branch(d, node, option_address + inner->offset, fut, depth))
				return;
		}
		const struct ai_type *next_type;
		err = member_pointer(d, task, task_type, "next_all", &task, &next_type);
		if (err) {
			aw_set_error_from(node, err);
			return;
		}
		if (task == first)
			break;
		/* A node being linked in points at the queue's stub: the list ends there. */
		if (task && (err = aw_check_pointer(task, task_type)) != NULL) {
			ai_error_destroy(err); /* (the error itself was leaked here) */
			break;
		}
	}
}

/* Fills node's children if type is a combinator we know; false otherwise. */
bool aw_decode_combinator(struct decoder *d, uint64_t address, const struct ai_type *type,
			  struct ai_await_node *node, unsigned depth)
{
	if (type->kind != AI_TYPE_STRUCT && type->kind != AI_TYPE_ENUM)
		return false;
	const struct ai_future_shape_rule *shape = ai_runtime_future_shape_of(type, aw_type_name(type));
	if (!shape)
		return false;
	switch (shape->shape) {
	case AI_SHAPE_TRANSPARENT:
	case AI_SHAPE_MAYBE_DONE:
		return false; /* (followed by reach()) */
	case AI_SHAPE_MEMBERS: {
		const char *const parts[] = { shape->member, shape->alt };
		for (size_t i = 0; i < AI_ARRAY_SIZE(parts); i++) {
			const struct ai_member *m = parts[i] ? ai_type_find_member(type, parts[i]) : NULL;
			const struct ai_type *mt;
			if (m && !ai_type_member_type(type, m, &mt))
				add_branch(d, node, address + m->offset, mt, depth);
		}
		return node->child_count > 0;
	}
	case AI_SHAPE_POLL_FN:
		return decode_poll_fn(d, address, type, node, depth);
	case AI_SHAPE_MEMBER_PREFIX:
		branches_from_members(d, node, address, type, shape->member, depth, 0);
		return true;
	case AI_SHAPE_OPTION_TUPLE: {
		/* inner: Option<(A, B)>; None once it has finished. */
		const struct ai_member *m = ai_type_find_member(type, shape->member);
		const struct ai_type *option, *some, *tuple;
		const uint8_t *bytes;
		uint8_t *owned;
		const struct ai_variant *variant;
		if (!m || ai_type_member_underlying(type, m, &option) || option->kind != AI_TYPE_ENUM)
			return false;
		struct ai_error *err = aw_read_bytes(d, NULL, address + m->offset, option->size,
						     &bytes, &owned);
		if (!err) {
			err = ai_type_active_variant(option, bytes, option->size, &variant);
			free(owned);
		}
		if (err) {
			aw_set_error_from(node, err);
			return true;
		}
		const struct ai_member *inner;
		if (variant->name && strcmp(variant->name, "Some") == 0 &&
		    !ai_type_member_underlying(option, &variant->member, &some) &&
		    (inner = ai_type_find_member(some, "__0")) &&
		    !ai_type_member_underlying(some, inner, &tuple))
			branches_from_members(d, node, address + m->offset + inner->offset, tuple,
					      "__", depth, 0);
		return true;
	}
	case AI_SHAPE_JOIN_ALL: {
		/* kind: Small { elems: Pin<Box<[MaybeDone<F>]>> } or Big { fut: Collect<..> } */
		const struct ai_member *km = ai_type_find_member(type, "kind");
		const struct ai_type *kind, *vt, *mt;
		const uint8_t *bytes;
		uint8_t *owned;
		const struct ai_variant *variant;
		if (!km || ai_type_member_underlying(type, km, &kind) || kind->kind != AI_TYPE_ENUM)
			return false;
		uint64_t kind_address = address + km->offset;
		struct ai_error *err = aw_read_bytes(d, NULL, kind_address, kind->size, &bytes, &owned);
		if (!err) {
			err = ai_type_active_variant(kind, bytes, kind->size, &variant);
			free(owned);
		}
		if (!err)
			err = ai_type_member_underlying(kind, &variant->member, &vt);
		if (err) {
			aw_set_error_from(node, err);
			return true;
		}
		const struct ai_member *elems = ai_type_find_member(vt, "elems");
		const struct ai_member *fut = ai_type_find_member(vt, "fut");
		if (elems && !ai_type_member_underlying(vt, elems, &mt)) {
			/* Pin<Box<[T]>>: the Pin holds the fat pointer. */
			uint64_t at = kind_address + elems->offset;
			const struct ai_member *pm;
			while (aw_starts_with(aw_type_name(mt), "core::pin::Pin<") &&
			       (pm = aw_find_member_any(mt, "pointer", "__pointer")) &&
			       !ai_type_member_underlying(mt, pm, &mt))
				at += pm->offset;
			branches_from_slice(d, node, at, mt, depth);
		} else if (fut && !ai_type_member_type(vt, fut, &mt)) {
			add_branch(d, node, kind_address + fut->offset, mt, depth);
		}
		return true;
	}
	case AI_SHAPE_FUTURES_UNORDERED:
		decode_futures_unordered(d, address, type, node, depth);
		return true;
	}
	return false;
}
