/* tokio's runtimes and tasks (DESIGN.md 4 and 5, docs/tokio-layouts.md).
 *
 * Runtimes: every thread inside a runtime (block_on, workers, idle or not) has tokio's
 * thread-local CONTEXT set to the runtime's scheduler::Handle. CONTEXT is an STT_TLS symbol of
 * the executable's static TLS block, so its address on a thread is
 * fs_base - (the block's offset) + st_value; its DWARF type is the one of the DWARF variable whose
 * linkage name is that symbol. Stack frames of tokio's own functions (block_on, the workers' run,
 * enter_runtime) give handles too, through ai_frame_vars. Handle -> Arc<flavor Handle> ->
 * ArcInner.data -> shared.owned: OwnedTasks, whose address names the runtime.
 *
 * Tasks: OwnedTasks is one linked list (up to 1.34) or sharded lists with a count (1.35+), linked
 * through each task's Trailer.owned (Header.owned before 1.23). Before 1.9 there is no
 * OwnedTasks: each worker's Core (and the current_thread scheduler's Context) owns a plain list,
 * reached from the `t: &Context` of the ScopedKey::set frame of the scheduler's thread-local. A task is a Cell<T, S> { header, core, trailer }; its
 * Header.vtable is tokio's Vtable for that T and S, whose poll is the subprogram
 * raw::poll<T, S>: its template parameters name T (the future) and S (the scheduler), and its
 * local `harness: Harness<T, S>` points to Cell<T, S>. Vtables are resolved once each; a task is
 * then one bulk read of its cell. Every node is validated (alignment, readable, a known vtable of
 * this runtime's S, owner_id, prev link) and every walk bounded (count, a hard cap, the prev
 * links rule out cycles).
 *
 * Every field is read through the table of tokio_layout.c. Nothing here is fatal: a layout not
 * understood becomes a snapshot warning and the runtime (or the rest of a list) is skipped. */
#include <dwarf.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/demangle.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"

#define TK_MAX_TASKS 10000000u    /* a hard cap on tasks per runtime, whatever the lists say */
#define TK_COUNT_SLACK 64u        /* OwnedTasks.count may lag a push or a remove per thread */
#define TK_MAX_SHARDS 65536u      /* tokio caps its shard count there */
#define TK_MAX_CELL (1u << 20)    /* a task cell bigger than this is not read whole */
#define TK_GUESS_MAX 4096u        /* cells read in one go up to this size (see step()) */
#define TK_PREALLOCATE_MAX (1u << 20) /* task slots made room for up front, at most */
#define TK_MAX_DIE_SCAN 4000000u  /* DIEs looked at while searching for CONTEXT's variable */


struct ai_error *tk_read(struct tk *tk, void *buf, uint64_t address, size_t size)
{
	struct ai_error *err = ai_memory_read(tk->mem, buf, address, size);
	if (err && err->code == AI_ERROR_TARGET_EXITED)
		tk->exited = true;
	return err;
}

bool tk_read_u64(struct tk *tk, uint64_t address, uint64_t *ret)
{
	struct ai_error *err = tk_read(tk, ret, address, 8);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	return true;
}

static uint8_t *scratch(struct tk *tk, size_t size)
{
	if (tk->buf_size < size) {
		free(tk->buf);
		tk->buf_size = AI_MAX(size, 4096);
		tk->buf = xmalloc(tk->buf_size);
	}
	return tk->buf;
}

/* ---- Finding tokio: the CONTEXT symbol, the version ---- */

static bool context_symbol_name(const char *mangled)
{
	char *demangled = ai_demangle(mangled);
	bool yes = demangled && strncmp(demangled, TK_CONTEXT_SYMBOL_PREFIX,
					strlen(TK_CONTEXT_SYMBOL_PREFIX)) == 0;
	free(demangled);
	return yes;
}

/* One pass over .symtab: the STT_TLS symbol of CONTEXT and a function of CONTEXT's own (its
 * accessor closure or init function), whose compilation unit holds CONTEXT's DWARF variable. */
static void scan_symbols(struct tk *tk, struct ai_elf_file *file)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !shdr.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		size_t count = shdr.sh_size / shdr.sh_entsize;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			int type = GELF_ST_TYPE(sym.st_info);
			if (type != STT_TLS && type != STT_FUNC)
				continue;
			const char *name = elf_strptr(file->elf, shdr.sh_link, sym.st_name);
			/* Both manglings spell the identifier as <length><name>. */
			if (!name || !strstr(name, "7CONTEXT") || !strstr(name, "5tokio"))
				continue;
			if (type == STT_TLS && !tk->has_context_symbol && context_symbol_name(name)) {
				tk->has_context_symbol = true;
				tk->tls_value = sym.st_value;
				tk->tls_name = xstrdup(name);
			} else if (type == STT_FUNC && !tk->accessor && sym.st_value &&
				   context_symbol_name(name)) {
				tk->accessor = sym.st_value;
			}
		}
		return;
	}
}

static char *version_from_path(const char *path)
{
	return ai_runtime_version_from_path(path, "tokio");
}

/* The static TLS block of the executable (x86-64, variant II): it ends at the thread pointer,
 * at glibc's offset for the first module. */
static bool tls_block_offset(struct ai_elf_file *elf, uint64_t *ret)
{
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *ph = &elf->phdrs[i];
		if (ph->p_type != PT_TLS)
			continue;
		uint64_t align = ph->p_align ? ph->p_align : 1;
		uint64_t firstbyte = (-ph->p_vaddr) & (align - 1);
		*ret = ((ph->p_memsz - firstbyte + align - 1) & ~(align - 1)) + firstbyte;
		return true;
	}
	return false;
}

/* Looks in one unit for the variable named by linkage; its type's DIE offset, or 0. */
static uint64_t find_variable_type(struct tk *tk, struct ai_dwarf_unit *unit, const char *linkage,
				   size_t *budget)
{
	struct ai_dwarf_reader *r = tk->reader;
	struct ai_error *err = ai_dwarf_unit_load(r, unit);
	if (err || unit->load_failed) {
		ai_error_destroy(err); /* just "not here" */
		return 0;
	}
	uint64_t offset = unit->first_die;
	while (offset < unit->end && *budget > 0) {
		(*budget)--;
		struct ai_dwarf_die die;
		err = ai_dwarf_read_die(r, unit, offset, &die);
		if (err) {
			ai_error_destroy(err);
			return 0;
		}
		if (die.tag == DW_TAG_variable) {
			struct ai_dwarf_attr attrs[16];
			size_t count = 0;
			err = ai_dwarf_die_attrs(r, &die, attrs, AI_ARRAY_SIZE(attrs), &count, NULL);
			if (err) {
				ai_error_destroy(err);
				return 0;
			}
			bool match = false;
			uint64_t type = 0;
			for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
				if ((attrs[i].name == DW_AT_linkage_name ||
				     attrs[i].name == DW_AT_MIPS_linkage_name) &&
				    attrs[i].cls == AI_DWARF_CLASS_STRING && attrs[i].str &&
				    strcmp(attrs[i].str, linkage) == 0)
					match = true;
				else if (attrs[i].name == DW_AT_type &&
					 attrs[i].cls == AI_DWARF_CLASS_REFERENCE)
					type = attrs[i].u;
			}
			if (match)
				return type;
		}
		uint64_t next;
		err = ai_dwarf_die_end(r, &die, &next);
		if (err) {
			ai_error_destroy(err);
			return 0;
		}
		offset = next;
	}
	return 0;
}

static bool match_enum(const struct ai_type *type, const void *arg)
{
	return type->kind == AI_TYPE_ENUM || type->kind == AI_TYPE_C_ENUM;
}

/* Finds CONTEXT's DWARF type and the places in it tokio.c reads. False (with a warning) if the
 * layout is not understood. */
static bool resolve_context(struct tk *tk)
{
	struct ai_dwarf_unit *first = NULL;
	if (tk->accessor) {
		struct ai_symbolization sym;
		struct ai_error *err = ai_debuginfo_symbolize(tk->as->di, tk->accessor + tk->main->bias,
							      false, &sym);
		if (err)
			ai_error_destroy(err);
		else if (sym.count && sym.locations[sym.count - 1].die_offset)
			first = ai_dwarf_reader_unit_at(tk->reader,
							sym.locations[sym.count - 1].die_offset);
		for (size_t i = 0; !tk->version && !err && i < sym.count; i++)
			tk->version = version_from_path(sym.locations[i].file);
	}
	size_t budget = TK_MAX_DIE_SCAN;
	uint64_t type_offset = 0;
	if (first) {
		struct ai_error *err = ai_dwarf_unit_load(tk->reader, first);
		if (!err && !tk->version) {
			tk->version = version_from_path(first->comp_dir);
			if (!tk->version)
				tk->version = version_from_path(first->name);
		}
		ai_error_destroy(err);
		type_offset = find_variable_type(tk, first, tk->tls_name, &budget);
	}
	/* Elsewhere: tokio's own units first (named after its source directory). */
	size_t unit_count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(tk->reader, &unit_count);
	for (int pass = 0; pass < 2 && !type_offset; pass++) {
		for (size_t i = 0; i < unit_count && !type_offset && budget; i++) {
			struct ai_dwarf_unit *u = &units[i];
			if (u == first)
				continue;
			struct ai_error *err = ai_dwarf_unit_load(tk->reader, u);
			if (err) {
				ai_error_destroy(err);
				continue;
			}
			char *v = version_from_path(u->comp_dir);
			if (!v)
				v = version_from_path(u->name);
			if ((v != NULL) == (pass == 0)) {
				if (v && !tk->version) {
					tk->version = v;
					v = NULL;
				}
				type_offset = find_variable_type(tk, u, tk->tls_name, &budget);
			}
			free(v);
		}
	}
	if (!tk->version)
		tk->version = xstrdup("(unknown version)");
	tk->env.version = tk->version;
	if (!type_offset) {
		tk_warn(&tk->env, "no DWARF variable for the thread-local %s; runtimes are found "
			"only from stack frames", tk->tls_name);
		return false;
	}
	const struct ai_type *storage;
	struct ai_error *err = ai_types_get(tk->as->types, type_offset, &storage);
	if (err) {
		tk_warn(&tk->env, "the type of CONTEXT: %s", err->message);
		ai_error_destroy(err);
		return false;
	}
	storage = tk_underlying(storage);
	tk->storage = storage;
	if (!storage->has_size || storage->size == 0 || storage->size > 65536) {
		tk_warn(&tk->env, "the thread-local CONTEXT's type %s has no size", storage->name);
		return false;
	}
	/* Context: the storage's T (std's lazy::Storage<T, D> and eager::Storage<T>), or by name. */
	const struct ai_template_param *t = ai_type_find_template_param(storage, "T");
	const struct ai_type *context_type = NULL;
	if (t && !ai_type_resolve(storage, &t->type, &context_type))
		context_type = tk_underlying(context_type);
	struct tk_loc context;
	if (!(context_type && tk_find_within(storage, tk_match_same, context_type, &context)) &&
	    !tk_find_within(storage, tk_match_name, "Context", &context)) {
		tk_warn(&tk->env, "no tokio::runtime::context::Context inside the thread-local "
			"CONTEXT (%s)", storage->name);
		return false;
	}
	tk->context = context.offset;
	/* State: lazy's Uninitialized/Alive/Destroyed, eager's Initial/Alive/Destroyed. */
	const struct ai_member *state = ai_type_find_member(storage, "state");
	const struct ai_type *state_type = state ? tk_member_type(storage, state) : NULL;
	struct tk_loc state_loc;
	if (state_type && tk_find_within(state_type, match_enum, NULL, &state_loc)) {
		tk->has_state = true;
		tk->state.offset = state->offset + state_loc.offset;
		tk->state.type = state_loc.type;
	}
	struct tk_loc handle, option;
	if (!tk_field_quiet(TK_CONTEXT_HANDLE, context.type, &handle) &&
	    tk_find_within(storage, tk_match_name, TK_NAME_OPTION_RT_HANDLE, &option)) {
		/* Before 1.22: CONTEXT is RefCell<Option<runtime::Handle>>, no current task id. */
		tk->handle_option = option;
		if (option.offset + option.type->size > storage->size) {
			tk_warn(&tk->env, "the runtime handle lies outside the thread-local CONTEXT");
			return false;
		}
		return true;
	}
	if (!tk_field(&tk->env, TK_CONTEXT_HANDLE, context.type, &handle))
		return false;
	if (!tk_find_within(handle.type, tk_match_name, TK_NAME_OPTION_HANDLE, &option)) {
		tk_warn(&tk->env, "%s.%s holds no %s", tk_fields[TK_CONTEXT_HANDLE].owner,
			"handle", TK_NAME_OPTION_HANDLE);
		return false;
	}
	tk->handle_option.offset = context.offset + handle.offset + option.offset;
	tk->handle_option.type = option.type;
	struct tk_loc task_id;
	if (tk_field(&tk->env, TK_CONTEXT_TASK_ID, context.type, &task_id) &&
	    tk_find_within(task_id.type, tk_match_prefix, "Option<", &option)) {
		tk->has_task_id = true;
		tk->task_id_option.offset = context.offset + task_id.offset + option.offset;
		tk->task_id_option.type = option.type;
	}
	if (tk->handle_option.offset + tk->handle_option.type->size > storage->size) {
		tk_warn(&tk->env, "the runtime handle lies outside the thread-local CONTEXT");
		return false;
	}
	return true;
}

/* ---- Runtimes ---- */

static const char *flavor_of(const char *name)
{
	if (!name)
		return NULL;
	if (strstr(name, "current_thread"))
		return "current_thread";
	if (strstr(name, "multi_thread"))
		return "multi_thread";
	/* before 1.22: runtime::basic_scheduler, runtime::thread_pool */
	if (strstr(name, "basic_scheduler"))
		return "current_thread";
	if (strstr(name, "thread_pool"))
		return "multi_thread";
	return NULL;
}

static bool match_header(const struct ai_type *type, const void *arg)
{
	return type->name && strcmp(type->name, TK_NAME_HEADER) == 0 &&
	       (type->kind == AI_TYPE_STRUCT);
}

/* Header and Vtable, from the Header type the lists point to. */
static bool resolve_header(struct tk *tk, const struct ai_type *header)
{
	if (tk->header_tried)
		return tk->header_ok;
	tk->header_tried = true;
	struct tk_loc state, vtable, owner_id, poll, off;
	if (!header->has_size || !tk_field(&tk->env, TK_HEADER_STATE, header, &state) ||
	    !tk_field(&tk->env, TK_HEADER_VTABLE, header, &vtable))
		return false;
	tk->header_size = header->size;
	tk->header_state = state.offset;
	tk->header_vtable = vtable.offset;
	/* (no owner id before 1.9: the lists are the workers' own) */
	tk->has_owner_id = tk->per_core ? tk_field_quiet(TK_HEADER_OWNER_ID, header, &owner_id)
					: tk_field(&tk->env, TK_HEADER_OWNER_ID, header, &owner_id);
	tk->owner_id = owner_id.offset;
	struct tk_loc next, prev;
	if (tk_field_quiet(TK_HEADER_NEXT, header, &next)) {
		/* before 1.23: the list links are the Header's, not the Trailer's */
		tk->links_in_header = true;
		tk->next = next.offset;
		if ((tk->has_prev = tk_field_quiet(TK_HEADER_PREV, header, &prev)))
			tk->prev = prev.offset;
	}
	const struct ai_type *vt = NULL;
	struct ai_error *err = vtable.type->kind == AI_TYPE_POINTER
				       ? ai_type_target(vtable.type, &vt) : NULL;
	if (err || !vt) {
		ai_error_destroy(err);
		tk_warn(&tk->env, "%s.vtable is not a pointer", tk_fields[TK_HEADER_VTABLE].owner);
		return false;
	}
	vt = tk_underlying(vt);
	if (!vt->has_size || vt->size > 4096 || !tk_field(&tk->env, TK_VTABLE_POLL, vt, &poll))
		return false;
	tk->vtable_size = vt->size;
	tk->poll = poll.offset;
	/* The offsets arrived in 1.23; before, DWARF's Cell<T, S> alone gives them (a vtable
	 * without either is warned about when resolved). */
	if ((tk->has_vt_trailer = tk_field_quiet(TK_VTABLE_TRAILER_OFFSET, vt, &off)))
		tk->vt_trailer = off.offset;
	if ((tk->has_vt_scheduler = tk_field_quiet(TK_VTABLE_SCHEDULER_OFFSET, vt, &off)))
		tk->vt_scheduler = off.offset;
	if ((tk->has_vt_id = tk_field_quiet(TK_VTABLE_ID_OFFSET, vt, &off)))
		tk->vt_id = off.offset;
	tk->header_ok = true;
	return true;
}

static void list_layout(struct tk *tk, struct tk_owned_layout *l, const struct ai_type *list);

/* The walk plan of an OwnedTasks<S> type, resolved once per type. */
struct tk_owned_layout *tk_owned_layout_of(struct tk *tk, const struct ai_type *owned,
					    size_t *index_ret)
{
	for (size_t i = 0; i < tk->layout_count; i++) {
		if (tk->layouts[i].type == owned) {
			*index_ret = i;
			return &tk->layouts[i];
		}
	}
	AI_GROW(tk->layouts, tk->layout_capacity, tk->layout_count + 1);
	*index_ret = tk->layout_count;
	struct tk_owned_layout *l = &tk->layouts[tk->layout_count++];
	memset(l, 0, sizeof(*l));
	l->type = owned;
	const struct ai_template_param *s = ai_type_find_template_param(owned, "S");
	if (s && ai_type_resolve(owned, &s->type, &l->scheduler))
		l->scheduler = NULL;
	struct tk_loc loc, list;
	const struct ai_type *list_owner; /* where the LinkedList is looked for */
	if ((l->has_id = tk_field(&tk->env, TK_OWNED_ID, owned, &loc)))
		l->id = loc.offset;
	if (ai_type_find_member(owned, "list")) {
		/* 1.35+: ShardedList { lists: Box<[Mutex<LinkedList>]>, count, shard_mask } */
		struct tk_loc data, length;
		if (!tk_field(&tk->env, TK_OWNED_LISTS, owned, &loc) ||
		    !tk_field(&tk->env, TK_SLICE_DATA, loc.type, &data) ||
		    !tk_field(&tk->env, TK_SLICE_LENGTH, loc.type, &length))
			return l;
		const struct ai_type *shard = NULL;
		struct ai_error *err = data.type->kind == AI_TYPE_POINTER
					       ? ai_type_target(data.type, &shard) : NULL;
		if (err || !shard || !(shard = tk_underlying(shard))->has_size || !shard->size) {
			ai_error_destroy(err);
			tk_warn(&tk->env, "the shards of %s have no type",
				tk_fields[TK_OWNED_LISTS].owner);
			return l;
		}
		l->sharded = true;
		l->lists_data = loc.offset + data.offset;
		l->lists_length = loc.offset + length.offset;
		l->stride = shard->size;
		list_owner = shard;
		if ((l->has_count = tk_field(&tk->env, TK_OWNED_COUNT, owned, &loc)))
			l->count = loc.offset;
	} else if (tk_field_quiet(TK_OWNED_INNER, owned, &loc)) {
		/* up to 1.34: inner: Mutex<OwnedTasksInner { list, closed }> */
		list_owner = loc.type;
		l->list = loc.offset;
	} else {
		tk_warn(&tk->env, "%s has neither `list` (1.35+) nor `inner` (up to 1.34)",
			tk_fields[TK_OWNED_LISTS].owner);
		return l;
	}
	if (!tk_find_within(list_owner, tk_match_prefix, TK_NAME_LINKED_LIST, &list)) {
		tk_warn(&tk->env, "no tokio::util::linked_list::LinkedList in %s",
			list_owner->name ? list_owner->name : "OwnedTasks");
		return l;
	}
	l->list += list.offset;
	list_layout(tk, l, list.type);
	return l;
}

/* The LinkedList part of a walk plan: head, tail, and the Header they point to. */
static void list_layout(struct tk *tk, struct tk_owned_layout *l, const struct ai_type *list)
{
	struct tk_loc head, tail;
	if (!tk_field(&tk->env, TK_LIST_HEAD, list, &head))
		return;
	l->head = head.offset;
	if ((l->has_tail = tk_field(&tk->env, TK_LIST_TAIL, list, &tail)))
		l->tail = tail.offset;
	const struct ai_type *header = tk_find_pointee(head.type, match_header, NULL);
	if (!header) {
		tk_warn(&tk->env, "%s.head does not point to a tokio::runtime::task::core::Header",
			tk_fields[TK_LIST_HEAD].owner);
		return;
	}
	l->ok = resolve_header(tk, header);
}

/* The walk plan of a plain LinkedList<Task<S>, Header> (before 1.9), resolved once per type. */
static size_t core_list_layout(struct tk *tk, const struct ai_type *list)
{
	for (size_t i = 0; i < tk->layout_count; i++)
		if (tk->layouts[i].type == list)
			return i;
	AI_GROW(tk->layouts, tk->layout_capacity, tk->layout_count + 1);
	struct tk_owned_layout *l = &tk->layouts[tk->layout_count];
	memset(l, 0, sizeof(*l));
	l->type = list;
	tk->per_core = true;
	list_layout(tk, l, list);
	return tk->layout_count++;
}

/* The T of an Arc<T> value at address: where it is and its type. */
bool tk_arc_data(struct tk *tk, const struct ai_type *arc_type, uint64_t address,
		     uint64_t *data_ret, const struct ai_type **type_ret)
{
	struct tk_loc ptr, data;
	const struct ai_type *inner;
	uint64_t arc_inner;
	if (!tk_field(&tk->env, TK_ARC_POINTER, arc_type, &ptr) || ptr.type->kind != AI_TYPE_POINTER ||
	    !tk_read_u64(tk, address + ptr.offset, &arc_inner) || !tk_plausible(arc_inner, 8))
		return false;
	struct ai_error *err = ai_type_target(ptr.type, &inner);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (!tk_field(&tk->env, TK_ARC_INNER_DATA, tk_underlying(inner), &data))
		return false;
	*data_ret = arc_inner + data.offset;
	*type_ret = data.type;
	return true;
}

struct tk_runtime *tk_find_runtime(struct tk *tk, uint64_t owned)
{
	for (size_t i = 0; i < tk->runtime_count; i++)
		if (tk->runtimes[i].owned == owned)
			return &tk->runtimes[i];
	return NULL;
}

/* A runtime before 1.9, named by its scheduler's Shared (at shared, of DWARF type shared_type);
 * its lists are added by add_core_list. */
static struct tk_runtime *add_per_core_runtime(struct tk *tk, const struct ai_type *shared_type,
					       uint64_t shared, const char *flavor)
{
	struct tk_runtime *rt = tk_find_runtime(tk, shared);
	if (rt || tk->runtime_count >= TK_MAX_RUNTIMES)
		return rt && rt->per_core ? rt : NULL;
	uint64_t workers = 0;
	struct tk_loc remotes;
	if (tk_field_quiet(TK_SHARED_REMOTES, shared_type, &remotes)) {
		if (!tk_read_u64(tk, shared + remotes.offset, &workers) || workers > TK_MAX_SHARDS)
			workers = 0;
	} else if (flavor && strcmp(flavor, "current_thread") == 0) {
		workers = 1;
	}
	AI_GROW(tk->runtimes, tk->runtime_capacity, tk->runtime_count + 1);
	rt = &tk->runtimes[tk->runtime_count++];
	*rt = (struct tk_runtime){
		.owned = shared,
		.flavor = flavor,
		.layout = SIZE_MAX,
		.per_core = true,
		.workers = workers,
	};
	return rt;
}

/* One worker's list of tasks (before 1.9): the LinkedList at list, of DWARF type list_type. */
void tk_add_core_list(struct tk *tk, const struct ai_type *shared_type, uint64_t shared,
		      const char *flavor, const struct ai_type *list_type, uint64_t list, uint64_t worker)
{
	struct tk_runtime *rt = add_per_core_runtime(tk, shared_type, shared, flavor);
	if (!rt || !tk_plausible(list, 8))
		return;
	for (size_t i = 0; i < rt->list_count; i++)
		if (rt->lists[i].address == list || rt->lists[i].worker == worker)
			return;
	if (rt->layout == SIZE_MAX)
		rt->layout = core_list_layout(tk, tk_underlying(list_type));
	AI_GROW(rt->lists, rt->list_capacity, rt->list_count + 1);
	rt->lists[rt->list_count++] = (struct tk_core_list){ list, worker };
}

/* The scheduler Context of a scoped thread-local before 1.9 (the `t: &Context` of
 * ScopedKey<Context>::set): a worker's, whose Core (while it parks or polls a task) holds its
 * tasks, or the basic scheduler's, which holds them itself. Quiet when the Context is another
 * version's (1.9+ Cores have no list). */
static void runtime_from_context(struct tk *tk, const struct ai_type *type, uint64_t address)
{
	struct tk_loc loc, arc;
	uint64_t shared, data;
	const struct ai_type *shared_type, *data_type;
	if (tk_field_quiet(TK_BASIC_CONTEXT_TASKS, type, &loc) &&
	    tk_field_quiet(TK_BASIC_CONTEXT_SHARED, type, &arc)) {
		if (tk_arc_data(tk, arc.type, address + arc.offset, &shared, &shared_type))
			tk_add_core_list(tk, shared_type, shared, "current_thread", loc.type,
				      address + loc.offset, 0);
		return;
	}
	if (!tk_field_quiet(TK_WORKER_CONTEXT_CORE, type, &loc) ||
	    !tk_field_quiet(TK_WORKER_CONTEXT_WORKER, type, &arc) || !loc.type->has_size ||
	    loc.type->size > 64)
		return;
	/* core: Option<Box<Core>>, None while the worker's own frame holds it */
	uint8_t bytes[64];
	struct ai_error *err = tk_read(tk, bytes, address + loc.offset, loc.type->size);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	struct tk_loc payload, tasks, index, handle;
	bool has_payload;
	const struct ai_variant *v = tk_variant(loc.type, bytes, loc.type->size, &payload, &has_payload);
	const struct ai_type *core_type = NULL;
	if (!v || !v->name || strcmp(v->name, "Some") != 0 || !has_payload ||
	    payload.type->kind != AI_TYPE_POINTER || payload.offset + 8 > loc.type->size)
		return;
	err = ai_type_target(payload.type, &core_type);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	core_type = tk_underlying(core_type);
	uint64_t core = tk_get_u64(bytes, payload.offset), worker = 0;
	if (!tk_field_quiet(TK_CORE_TASKS, core_type, &tasks) ||
	    !tk_arc_data(tk, arc.type, address + arc.offset, &data, &data_type) ||
	    !tk_field(&tk->env, TK_WORKER_HANDLE, data_type, &handle) ||
	    !tk_arc_data(tk, handle.type, data + handle.offset, &shared, &shared_type))
		return;
	if (tk_field(&tk->env, TK_WORKER_INDEX, data_type, &index) && !tk_read_u64(tk, data + index.offset, &worker))
		return;
	tk_add_core_list(tk, shared_type, shared, "multi_thread", tasks.type, core + tasks.offset, worker);
}

/* Adds the runtime of a handle: arc_inner is the pointer held by an Arc<H> of DWARF type
 * arc_type, H being a flavor's Handle. Runtimes are told apart by their OwnedTasks' address. */
static void add_runtime(struct tk *tk, const struct ai_type *arc_type, uint64_t arc_inner,
			const char *flavor, bool from_frame)
{
	struct tk_loc ptr, data, owned;
	if (!tk_field(&tk->env, TK_ARC_POINTER, arc_type, &ptr) || ptr.type->kind != AI_TYPE_POINTER)
		return;
	const struct ai_type *inner;
	struct ai_error *err = ai_type_target(ptr.type, &inner);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	inner = tk_underlying(inner);
	if (!tk_field(&tk->env, TK_ARC_INNER_DATA, inner, &data) || !tk_plausible(arc_inner, 8))
		return;
	if (!tk_field_quiet(TK_HANDLE_OWNED, data.type, &owned)) {
		/* Before 1.9: no OwnedTasks; the workers' lists come from stack frames. */
		add_per_core_runtime(tk, data.type, arc_inner + data.offset,
				     flavor ? flavor : flavor_of(data.type->name));
		return;
	}
	uint64_t address = arc_inner + data.offset + owned.offset;
	for (size_t i = 0; i < tk->runtime_count; i++)
		if (tk->runtimes[i].owned == address)
			return;
	if (tk->runtime_count >= TK_MAX_RUNTIMES)
		return;
	/* A handle that cannot be read is a stale or torn pointer, not a runtime. */
	uint64_t strong;
	if (!tk_read_u64(tk, arc_inner, &strong) || strong == 0)
		return;
	size_t layout;
	tk_owned_layout_of(tk, tk_underlying(owned.type), &layout);
	AI_GROW(tk->runtimes, tk->runtime_capacity, tk->runtime_count + 1);
	tk->runtimes[tk->runtime_count++] = (struct tk_runtime){
		.owned = address,
		.arc_inner = arc_inner,
		.flavor = flavor ? flavor : flavor_of(data.type->name),
		.layout = layout,
		.from_frame = from_frame,
	};
}

/* The runtime of a scheduler::Handle value (bytes: the value, size bytes of it):
 * CurrentThread(Arc<..>) or MultiThread(Arc<..>); before 1.22, runtime::Handle { spawner }
 * with runtime::spawner::Spawner Basic(Spawner { shared: Arc<..> }) or ThreadPool(the same). */
static void add_runtime_from_handle(struct tk *tk, const struct ai_type *handle,
				    const uint8_t *bytes, size_t size, bool from_frame)
{
	handle = tk_underlying(handle);
	struct tk_loc inner;
	if (handle->kind == AI_TYPE_STRUCT) {
		if (!tk_field(&tk->env, TK_RT_HANDLE_SCHEDULER, handle, &inner) ||
		    inner.offset > size)
			return;
		handle = inner.type;
		bytes += inner.offset;
		size -= inner.offset;
	}
	struct tk_loc payload;
	bool has_payload;
	const struct ai_variant *v = tk_variant(handle, bytes, size, &payload, &has_payload);
	if (!v || !has_payload || payload.offset + 8 > size)
		return;
	const char *flavor = NULL;
	if (v->name && (strcmp(v->name, "CurrentThread") == 0 || strcmp(v->name, "Basic") == 0))
		flavor = "current_thread";
	else if (v->name && (strncmp(v->name, "MultiThread", strlen("MultiThread")) == 0 ||
			     strcmp(v->name, "ThreadPool") == 0))
		flavor = "multi_thread";
	else
		return; /* e.g. a "Disabled" handle: no runtime */
	struct tk_loc ptr, shared;
	if (!tk_field_quiet(TK_ARC_POINTER, payload.type, &ptr) &&
	    tk_field_quiet(TK_SPAWNER_SHARED, payload.type, &shared)) {
		payload.offset += shared.offset;
		payload.type = shared.type;
	}
	if (!tk_field(&tk->env, TK_ARC_POINTER, payload.type, &ptr) ||
	    payload.offset + ptr.offset + 8 > size)
		return;
	add_runtime(tk, payload.type, tk_get_u64(bytes, payload.offset + ptr.offset), flavor,
		    from_frame);
}

static void add_current(struct tk *tk, pid_t tid, uint64_t task_id)
{
	AI_GROW(tk->currents, tk->current_capacity, tk->current_count + 1);
	tk->currents[tk->current_count++] = (struct tk_current){ tid, task_id };
}

/* The CONTEXT of every thread: its runtime handle and the task it polls. */
static void runtimes_from_threads(struct tk *tk, const struct ai_stack *stacks)
{
	struct ai_target *target = tk->as->target;
	size_t size = tk->storage->size;
	uint8_t *bytes = xmalloc(size);
	for (size_t i = 0; i < target->thread_count; i++) {
		const struct ai_thread *thread = &target->threads[i];
		uint64_t fs_base = thread->regs.fs_base;
		/* A capture may let the target run again while it decodes a frozen copy of its memory
		 * (ai_memory_freeze): the registers are then those of the stop the stacks were
		 * unwound at, no longer "valid" but still there; and fs_base never changes in the
		 * life of a thread. */
		bool known = thread->regs_valid || (stacks && stacks[i].count > 0);
		if (!known || fs_base < tk->tls_block_offset || fs_base == 0)
			continue;
		uint64_t address = fs_base - tk->tls_block_offset + tk->tls_value;
		struct ai_error *err = tk_read(tk, bytes, address, size);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		if (tk->has_state) {
			const char *state = tk_enum_value_name(tk->state.type, bytes + tk->state.offset,
							       size - tk->state.offset);
			/* Uninitialized: garbage; Destroyed: a thread on its way out. */
			if (state && strcmp(state, "Alive") != 0 && strcmp(state, "Initial") != 0)
				continue;
		}
		const uint8_t *opt = bytes + tk->handle_option.offset;
		size_t opt_size = size - tk->handle_option.offset;
		struct tk_loc handle;
		bool has_handle;
		const struct ai_variant *v = tk_variant(tk->handle_option.type, opt, opt_size, &handle,
							&has_handle);
		if (v && v->name && strcmp(v->name, "Some") == 0 && has_handle &&
		    handle.offset < opt_size)
			add_runtime_from_handle(tk, handle.type, opt + handle.offset,
						opt_size - handle.offset, false);
		if (tk->has_task_id) {
			const uint8_t *id_opt = bytes + tk->task_id_option.offset;
			size_t id_size = size - tk->task_id_option.offset;
			struct tk_loc id;
			bool has_id;
			v = tk_variant(tk->task_id_option.type, id_opt, id_size, &id, &has_id);
			if (v && v->name && strcmp(v->name, "Some") == 0 && has_id &&
			    id.offset + 8 <= id_size && id.type->size == 8)
				add_current(tk, thread->tid, tk_get_u64(id_opt, id.offset));
		}
	}
	free(bytes);
}

/* ---- Runtimes from stack frames (parameters of tokio's own functions) ---- */

static const char *const handle_frames[] = {
	"tokio::runtime::runtime::Runtime::block_on",
	"tokio::runtime::scheduler::multi_thread::MultiThread::block_on",
	"tokio::runtime::scheduler::current_thread::CurrentThread::block_on",
	"tokio::runtime::context::enter_runtime",
	"tokio::runtime::context::runtime::enter_runtime",
	"tokio::runtime::scheduler::multi_thread::worker::run",
	/* before 1.9: set(t: &Context) of the schedulers' scoped thread-local CURRENT */
	"tokio::macros::scoped_tls::ScopedKey",
};

/* A handle held by a frame variable: Runtime, scheduler::Handle, Arc<Worker>, or a reference to
 * one of them. */
static void runtime_from_value(struct tk *tk, const struct ai_type *type, uint64_t address,
			       int depth)
{
	type = tk_underlying(type);
	if (depth > 2 || !type->name)
		return;
	if (type->kind == AI_TYPE_POINTER) {
		/* &Runtime, &scheduler::Handle */
		const struct ai_type *target;
		uint64_t pointer;
		struct ai_error *err = ai_type_target(type, &target);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		if (tk_read_u64(tk, address, &pointer) && tk_plausible(pointer, 8))
			runtime_from_value(tk, target, pointer, depth + 1);
		return;
	}
	struct tk_loc loc;
	if (strcmp(type->name, "Context") == 0 && type->kind == AI_TYPE_STRUCT) {
		runtime_from_context(tk, type, address);
	} else if (strcmp(type->name, "Runtime") == 0 && type->kind == AI_TYPE_STRUCT) {
		if (tk_field(&tk->env, TK_RUNTIME_HANDLE, type, &loc))
			runtime_from_value(tk, loc.type, address + loc.offset, depth + 1);
	} else if ((strcmp(type->name, "Handle") == 0 || strcmp(type->name, "Spawner") == 0) &&
		   type->kind == AI_TYPE_ENUM &&
		   type->has_size && type->size <= 64) {
		uint8_t bytes[64];
		struct ai_error *err = tk_read(tk, bytes, address, type->size);
		if (err)
			ai_error_destroy(err);
		else
			add_runtime_from_handle(tk, type, bytes, type->size, true);
	} else if (strncmp(type->name, "Arc<tokio::runtime::scheduler::multi_thread::worker::Worker",
			   strlen("Arc<tokio::runtime::scheduler::multi_thread::worker::Worker")) == 0) {
		/* worker::run(worker: Arc<Worker>): Worker.handle is the runtime's Arc<Handle> */
		struct tk_loc ptr, data, handle;
		const struct ai_type *inner;
		uint64_t arc_inner, handle_inner;
		if (!tk_field(&tk->env, TK_ARC_POINTER, type, &ptr) ||
		    ptr.type->kind != AI_TYPE_POINTER || !tk_read_u64(tk, address + ptr.offset, &arc_inner))
			return;
		struct ai_error *err = ai_type_target(ptr.type, &inner);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		if (tk_field(&tk->env, TK_ARC_INNER_DATA, tk_underlying(inner), &data) &&
		    tk_field(&tk->env, TK_WORKER_HANDLE, data.type, &handle) &&
		    tk_field(&tk->env, TK_ARC_POINTER, handle.type, &ptr) &&
		    tk_read_u64(tk, arc_inner + data.offset + handle.offset + ptr.offset, &handle_inner))
			add_runtime(tk, handle.type, handle_inner, "multi_thread", true);
	}
}

static bool frame_var(const struct ai_frame_var *var, void *arg)
{
	struct tk *tk = arg;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(tk->as->types, var->type_die, &type);
	if (err) {
		ai_error_destroy(err);
		return true;
	}
	runtime_from_value(tk, type, var->address, 0);
	return true;
}

static void runtimes_from_stacks(struct tk *tk, const struct ai_stack *stacks)
{
	if (!stacks)
		return;
	for (size_t t = 0; t < tk->as->target->thread_count; t++) {
		const struct ai_stack *stack = &stacks[t];
		for (size_t f = 0; f < stack->count; f++) {
			const char *function = stack->frames[f].location.function;
			if (!function || strncmp(function, "tokio::", 7) != 0)
				continue;
			for (size_t k = 0; k < AI_ARRAY_SIZE(handle_frames); k++) {
				size_t len = strlen(handle_frames[k]);
				if (strncmp(function, handle_frames[k], len) == 0 &&
				    (function[len] == '\0' || function[len] == '<')) {
					struct ai_error *err =
						ai_frame_vars(tk->as, &stack->frames[f], frame_var, tk);
					ai_error_destroy(err); /* a frame we cannot read: others may do */
					break;
				}
			}
		}
	}
}

/* ---- Task vtables ---- */

struct poll_die {
	uint64_t t, s, harness; /* type DIE offsets */
};

/* The template parameters T and S of raw::poll<T, S> and the type of its `harness` local. */
static void read_poll_die(struct tk *tk, uint64_t offset, struct poll_die *ret, int depth)
{
	struct ai_dwarf_reader *r = tk->reader;
	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die_at(r, offset, &die);
	uint64_t child;
	if (!err && die.has_children)
		err = ai_dwarf_die_end(r, &die, &child);
	if (err || !die.has_children) {
		ai_error_destroy(err);
		return;
	}
	for (int n = 0; n < 4096; n++) {
		struct ai_dwarf_die c;
		if ((err = ai_dwarf_read_die(r, die.unit, child, &c)) || c.tag == 0)
			break;
		if (c.tag == DW_TAG_template_type_parameter || c.tag == DW_TAG_variable) {
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
			if (name && c.tag == DW_TAG_template_type_parameter && !strcmp(name, "T"))
				ret->t = type;
			else if (name && c.tag == DW_TAG_template_type_parameter && !strcmp(name, "S"))
				ret->s = type;
			else if (name && c.tag == DW_TAG_variable && !strcmp(name, "harness"))
				ret->harness = type;
		} else if (c.tag == DW_TAG_lexical_block && depth < 4) {
			read_poll_die(tk, c.offset, ret, depth + 1);
		}
		if ((err = ai_dwarf_die_sibling(r, &c, &child)))
			break;
	}
	ai_error_destroy(err);
}

static bool match_cell(const struct ai_type *type, const void *arg)
{
	return type->kind == AI_TYPE_STRUCT && tk_match_prefix(type, TK_NAME_CELL) &&
	       ai_type_find_member(type, "header") && ai_type_find_member(type, "trailer");
}

/* Cell<T, S> by its name in the unit of raw::poll<T, S> (when poll has no `harness` local). */
static const struct ai_type *cell_by_name(struct tk *tk, uint64_t poll_die,
					  const struct ai_type *t, const struct ai_type *s)
{
	struct ai_dwarf_unit *unit = ai_dwarf_reader_unit_at(tk->reader, poll_die);
	const char *tn = ai_type_qualified_name(t), *sn = ai_type_qualified_name(s);
	if (!unit || !tn || !sn)
		return NULL;
	char *name = xasprintf("tokio::runtime::task::core::Cell<%s, %s>", tn, sn);
	const struct ai_type *cell = NULL;
	struct ai_error *err = ai_types_find(tk->as->types, unit->first_die, name, &cell);
	free(name);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return tk_underlying(cell);
}

static bool resolve_trailer(struct tk *tk, const struct ai_type *trailer)
{
	if (tk->trailer_type)
		return tk->trailer_ok;
	tk->trailer_type = trailer;
	struct tk_loc next, prev;
	if (trailer->has_size && tk->links_in_header) {
		tk->trailer_size = trailer->size;
		tk->trailer_ok = true;
		return true;
	}
	if (!trailer->has_size || !tk_field(&tk->env, TK_TRAILER_NEXT, trailer, &next))
		return false;
	tk->trailer_size = trailer->size;
	tk->next = next.offset;
	if ((tk->has_prev = tk_field(&tk->env, TK_TRAILER_PREV, trailer, &prev)))
		tk->prev = prev.offset;
	tk->trailer_ok = true;
	return true;
}

/* Fills vt from its poll function and the Cell<T, S> type; vt->valid says if it is usable. */
static void resolve_vtable(struct tk *tk, struct tk_vtable *vt)
{
	if (!tk_plausible(vt->address, 8) || tk->vtable_size > 4096)
		return;
	uint8_t bytes[4096];
	struct ai_error *err = tk_read(tk, bytes, vt->address, tk->vtable_size);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	uint64_t poll = tk_get_u64(bytes, tk->poll);
	struct ai_symbolization sym;
	err = ai_debuginfo_symbolize(tk->as->di, poll, false, &sym);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	const struct ai_location *loc = sym.count ? &sym.locations[sym.count - 1] : NULL;
	/* The vtable's poll is raw::poll<T, S> itself, at its first instruction. */
	if (!loc || !loc->function || strncmp(loc->function, TK_POLL_PREFIX, strlen(TK_POLL_PREFIX)) ||
	    !loc->die_offset)
		return;
	vt->poll_name = xstrdup(loc->function);
	struct poll_die pd = { 0 };
	read_poll_die(tk, loc->die_offset, &pd, 0);
	struct ai_types *types = tk->as->types;
	if (!pd.s || (err = ai_types_get(types, pd.s, &vt->scheduler))) {
		ai_error_destroy(err);
		tk_warn(&tk->env, "%s has no template parameter S", loc->function);
		return;
	}
	vt->scheduler = tk_underlying(vt->scheduler);
	vt->flavor = flavor_of(vt->scheduler->name);
	if (pd.t && (err = ai_types_get(types, pd.t, &vt->future)))
		vt->future = NULL;
	ai_error_destroy(err);
	err = NULL;
	/* Cell<T, S>: through the `harness` local (exactly this instance), else by name. */
	const struct ai_type *harness = NULL;
	struct tk_loc cell_field;
	if (pd.harness && !(err = ai_types_get(types, pd.harness, &harness)) &&
	    tk_field(&tk->env, TK_HARNESS_CELL, tk_underlying(harness), &cell_field))
		vt->cell = tk_find_pointee(cell_field.type, match_cell, NULL);
	ai_error_destroy(err);
	if (!vt->cell && vt->future)
		vt->cell = cell_by_name(tk, loc->die_offset, vt->future, vt->scheduler);

	/* Offsets from the header: the vtable's own fields, checked against DWARF's Cell. */
	bool has_trailer = false;
	uint64_t trailer = 0;
	if (tk->has_vt_trailer) {
		trailer = tk_get_u64(bytes, tk->vt_trailer);
		has_trailer = true;
	}
	if (tk->has_vt_id) {
		vt->id = tk_get_u64(bytes, tk->vt_id);
		vt->has_id = true;
	}
	if (tk->has_vt_scheduler) {
		vt->scheduler_offset = tk_get_u64(bytes, tk->vt_scheduler);
		vt->has_scheduler = true;
	}
	if (vt->cell) {
		struct tk_loc core, trailer_loc, f;
		if (!tk_field(&tk->env, TK_CELL_CORE, vt->cell, &core) ||
		    !tk_field(&tk->env, TK_CELL_TRAILER, vt->cell, &trailer_loc))
			return;
		if (!resolve_trailer(tk, trailer_loc.type))
			return;
		if (has_trailer && trailer != trailer_loc.offset) {
			tk_warn(&tk->env, "tasks of %s: the vtable puts the trailer at %" PRIu64
				", DWARF's Cell at %" PRIu64 "; skipped", vt->poll_name,
				trailer, trailer_loc.offset);
			return;
		}
		trailer = trailer_loc.offset;
		has_trailer = true;
		/* (tasks have ids from 1.9 on) */
		if (tk->per_core ? tk_field_quiet(TK_CORE_TASK_ID, core.type, &f)
				 : tk_field(&tk->env, TK_CORE_TASK_ID, core.type, &f)) {
			if (vt->has_id && vt->id != core.offset + f.offset)
				tk_warn(&tk->env, "tasks of %s: the vtable puts the task id at %" PRIu64
					", DWARF's Cell at %" PRIu64, vt->poll_name, vt->id,
					core.offset + f.offset);
			vt->id = core.offset + f.offset;
			vt->has_id = true;
		}
		/* (an S that is no Arc, spawn_blocking's BlockingSchedule, holds no handle to check) */
		bool arc = vt->scheduler->name && strncmp(vt->scheduler->name, "Arc<", 4) == 0;
		if (arc && (tk->per_core ? tk_field_quiet(TK_CORE_SCHEDULER, core.type, &f)
						 : tk_field(&tk->env, TK_CORE_SCHEDULER, core.type, &f))) {
			vt->scheduler_offset = core.offset + f.offset;
			vt->has_scheduler = true;
		}
		struct tk_loc stage;
		if (tk_field(&tk->env, TK_CORE_STAGE, core.type, &f)) {
			if (tk_find_within(f.type, tk_match_prefix, TK_NAME_STAGE, &stage) &&
			    stage.type->kind == AI_TYPE_ENUM) {
				vt->stage = core.offset + f.offset + stage.offset;
				vt->stage_type = stage.type;
				vt->has_stage = true;
			} else {
				tk_warn(&tk->env, "%s.stage holds no tokio::runtime::task::core::Stage",
					tk_fields[TK_CORE_STAGE].owner);
			}
		}
		vt->read_size = vt->cell->has_size ? vt->cell->size : 0;
	}
	if (!has_trailer || !tk->trailer_ok) {
		tk_warn(&tk->env, "tasks of %s: no DWARF type Cell<T, S> and no trailer offset",
			vt->poll_name);
		return;
	}
	vt->trailer = trailer;
	vt->links = tk->links_in_header ? 0 : trailer;
	uint64_t min_size = trailer + tk->trailer_size;
	if (vt->read_size < min_size)
		vt->read_size = min_size;
	if (vt->read_size > TK_MAX_CELL || vt->read_size < tk->header_size ||
	    (vt->has_id && vt->id + 8 > vt->read_size) ||
	    (vt->has_scheduler && vt->scheduler_offset + 8 > vt->read_size) ||
	    (vt->has_stage && (!vt->stage_type->has_size ||
			       vt->stage + vt->stage_type->size > vt->read_size)))
		return;
	vt->valid = true;
}

static size_t hash_address(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	return (size_t)a;
}

static void vtable_index_put(struct tk *tk, uint64_t address, size_t index)
{
	size_t mask = tk->vtable_index_size - 1;
	for (size_t i = hash_address(address) & mask;; i = (i + 1) & mask) {
		if (!tk->vtable_index[i]) {
			tk->vtable_index[i] = (uint32_t)index + 1;
			return;
		}
	}
}

struct tk_vtable *tk_get_vtable(struct tk *tk, uint64_t address)
{
	if (tk->vtable_index_size) {
		size_t mask = tk->vtable_index_size - 1;
		for (size_t i = hash_address(address) & mask; tk->vtable_index[i]; i = (i + 1) & mask) {
			struct tk_vtable *vt = &tk->vtables[tk->vtable_index[i] - 1];
			if (vt->address == address)
				return vt;
		}
	}
	if (2 * (tk->vtable_count + 1) > tk->vtable_index_size) {
		free(tk->vtable_index);
		tk->vtable_index_size = tk->vtable_index_size ? 2 * tk->vtable_index_size : 64;
		tk->vtable_index = xcalloc(tk->vtable_index_size, sizeof(*tk->vtable_index));
		for (size_t i = 0; i < tk->vtable_count; i++)
			vtable_index_put(tk, tk->vtables[i].address, i);
	}
	AI_GROW(tk->vtables, tk->vtable_capacity, tk->vtable_count + 1);
	struct tk_vtable *vt = &tk->vtables[tk->vtable_count];
	memset(vt, 0, sizeof(*vt));
	vt->address = address;
	vtable_index_put(tk, address, tk->vtable_count++);
	resolve_vtable(tk, vt);
	return vt;
}

/* ---- Walking OwnedTasks ---- */

/* T's name: computing a qualified name indexes the type's unit, so only when it is needed (the
 * await tree usually names the future). */
static const char *future_name(struct tk_vtable *vt)
{
	if (!vt->future_name && vt->future)
		vt->future_name = ai_type_qualified_name(vt->future);
	return vt->future_name ? vt->future_name : "?";
}

const char *tk_status_of(uint64_t state)
{
	if (state & TK_RUNNING)
		return "running";
	if (state & TK_COMPLETE)
		return "completed";
	if (state & TK_CANCELLED)
		return "cancelled";
	if (state & TK_NOTIFIED)
		return "scheduled";
	return "idle";
}

static void emit_task(struct tk *tk, const struct tk_runtime *rt, struct tk_vtable *vt,
		      uint64_t address, const uint8_t *cell)
{
	struct ai_snapshot_task *task = ai_snapshot_add_task(tk->snapshot);
	uint64_t state = tk_get_u64(cell, tk->header_state);
	task->runtime = xstrdup("tokio");
	task->kind = xstrdup("task");
	task->status = xstrdup(tk_status_of(state));
	const char *flavor = vt->flavor ? vt->flavor : rt->flavor;
	task->flavor = flavor ? xstrdup(flavor) : NULL;
	task->address = address;
	task->runtime_address = rt->owned;
	if (vt->has_id) {
		task->id = tk_get_u64(cell, vt->id);
		task->has_id = true;
		for (size_t i = 0; i < tk->current_count; i++)
			if (tk->currents[i].task_id == task->id)
				task->thread = tk->currents[i].tid;
	}
	struct ai_await_node *tree = &task->tree;
	const struct ai_variant *stage = NULL;
	struct tk_loc payload;
	bool has_payload = false;
	if (vt->has_stage)
		stage = tk_variant(vt->stage_type, cell + vt->stage, vt->read_size - vt->stage,
				   &payload, &has_payload);
	if (stage && stage->name && strcmp(stage->name, "Running") == 0 && has_payload) {
		ai_await_decode(tk->as, address + vt->stage + payload.offset, payload.type, tree);
	} else {
		/* Finished(output) or Consumed: nothing is awaited any more. */
		tree->type = xstrdup(future_name(vt));
		tree->address = address + vt->stage;
		tree->leaf = true;
		if (stage && stage->name)
			tree->state = xstrdup(stage->name);
		else
			tree->error = xstrdup(vt->has_stage ? "the task's Stage has no valid variant"
							    : "no DWARF for the task's Stage");
	}
	if (tree->function)
		task->future = xstrdup(tree->function);
	else if (tree->type)
		task->future = xstrdup(tree->type);
	else
		task->future = xstrdup(future_name(vt));
}

/* One linked list being walked. */
struct tk_cursor {
	uint64_t node, prev, tail;
	/* Brent's cycle detection, for when the prev links cannot be checked: the node seen at the
	 * last power of two steps. */
	uint64_t mark;
	size_t steps, power;
};

/* Takes one task of a list: validates it, emits it and moves to the next. False when the list
 * ends, or is left (after a warning) at a node that is not valid. */
static bool step(struct tk *tk, struct tk_runtime *rt, const struct tk_owned_layout *l,
		 uint64_t owner_id, struct tk_cursor *c)
{
	uint64_t node = c->node;
	if (!node) {
		if (l->has_tail && c->tail != c->prev)
			tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": a task list ends at 0x%" PRIx64
				", its tail is 0x%" PRIx64, rt->owned, c->prev, c->tail);
		return false;
	}
	if (!tk_plausible(node, 8)) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": task pointer 0x%" PRIx64
			" is not valid; the rest of its list is skipped", rt->owned, node);
		return false;
	}
	if (node == c->mark) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": a task list loops back to 0x%" PRIx64,
			rt->owned, node);
		return false;
	}
	if (++c->steps >= c->power) {
		c->mark = node;
		c->power = c->power ? 2 * c->power : 2;
		c->steps = 0;
	}
	/* One read for the whole cell: as many bytes as the biggest cell seen so far (the header
	 * alone when that runs off the mapping), then the rest if this cell is bigger. */
	size_t got = AI_MAX(AI_MIN(tk->read_guess, TK_GUESS_MAX), tk->header_size);
	uint8_t *cell = scratch(tk, got);
	struct ai_error *err = tk_read(tk, cell, node, got);
	if (err && got > tk->header_size && err->code != AI_ERROR_TARGET_EXITED) {
		ai_error_destroy(err);
		got = tk->header_size;
		err = tk_read(tk, cell, node, got);
	}
	if (err) {
		if (err->code != AI_ERROR_TARGET_EXITED)
			tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": cannot read the task at 0x%" PRIx64
				"; the rest of its list is skipped", rt->owned, node);
		ai_error_destroy(err);
		return false;
	}
	uint64_t vtable = tk_get_u64(cell, tk->header_vtable);
	struct tk_vtable *vt = tk_get_vtable(tk, vtable);
	/* The task's S must be the runtime's: a vtable of another S is another runtime's task, or
	 * the node is no task at all. */
	if (vt->valid && l->scheduler && vt->matched_s != l->scheduler &&
	    vt->scheduler->name && l->scheduler->name &&
	    strcmp(vt->scheduler->name, l->scheduler->name) == 0)
		vt->matched_s = l->scheduler;
	if (!vt->valid || (l->scheduler && vt->matched_s != l->scheduler)) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " has vtable "
			"0x%" PRIx64 ", not one of this runtime's tasks; the rest of its list "
			"is skipped", rt->owned, node, vtable);
		return false;
	}
	if (tk->has_owner_id && l->has_id && tk_get_u64(cell, tk->owner_id) != owner_id) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " has owner "
			"id %" PRIu64 ", the runtime's is %" PRIu64 "; the rest of its list is "
			"skipped", rt->owned, node, tk_get_u64(cell, tk->owner_id), owner_id);
		return false;
	}
	if (vt->read_size > got) {
		cell = scratch(tk, vt->read_size);
		err = tk_read(tk, cell, node, vt->read_size);
		if (err) {
			tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": cannot read the task at 0x%" PRIx64
				" (%" PRIu64 " bytes); the rest of its list is skipped", rt->owned,
				node, vt->read_size);
			ai_error_destroy(err);
			return false;
		}
		tk->read_guess = AI_MAX(tk->read_guess, vt->read_size);
	}
	/* The prev links, checked all along, rule out cycles. */
	if (tk->has_prev && tk_get_u64(cell, vt->links + tk->prev) != c->prev) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " does not "
			"link back to 0x%" PRIx64 "; the rest of its list is skipped", rt->owned,
			node, c->prev);
		return false;
	}
	if (vt->has_scheduler && rt->arc_inner && tk_get_u64(cell, vt->scheduler_offset) != rt->arc_inner)
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " names "
			"another scheduler (0x%" PRIx64 ")", rt->owned, node,
			tk_get_u64(cell, vt->scheduler_offset));
	c->prev = node;
	c->node = tk_get_u64(cell, vt->links + tk->next);
	emit_task(tk, rt, vt, node, cell);
	rt->task_count++;
	return true;
}

/* Walks the lists in lockstep, one task of each in turn: tokio puts task id i in shard
 * i & mask and allocates cells in spawn order, so this goes through the heap in address order
 * (each list alone would jump by shard-count cells, a page or more at each step). At most
 * `bound` tasks in all. */
static void walk_lists(struct tk *tk, struct tk_runtime *rt, const struct tk_owned_layout *l,
		       uint64_t owner_id, struct tk_cursor *cursors, size_t count, size_t bound)
{
	/* cursors[0 .. live) are the lists not finished, kept in order (ended ones are dropped
	 * after each round, so that many short lists cost no more than their tasks). */
	size_t live = count;
	while (live > 0) {
		size_t kept = 0;
		for (size_t i = 0; i < live; i++) {
			if (cursors[i].node && rt->task_count >= bound) {
				tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": stopped walking its tasks "
					"after %zu (more than its count)", rt->owned, rt->task_count);
				return;
			}
			if (step(tk, rt, l, owner_id, &cursors[i]))
				cursors[kept++] = cursors[i];
		}
		live = kept;
	}
}

/* A runtime whose task list cannot be walked: a warning, or, for a handle that only a stack
 * frame gave (maybe a stale variable), no runtime at all. */
static void give_up(struct tk *tk, struct tk_runtime *rt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void give_up(struct tk *tk, struct tk_runtime *rt, const char *fmt, ...)
{
	if (rt->from_frame) {
		rt->dropped = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	tk_vwarn(&tk->env, fmt, ap);
	va_end(ap);
}

/* Before 1.9: the lists of the workers found in the stacks. */
static void walk_core_lists(struct tk *tk, struct tk_runtime *rt)
{
	if (!rt->list_count) {
		rt->unsupported = true;
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": its scheduler has no OwnedTasks (%s has no "
			"field `%s`), and no worker's list of tasks was found in the threads' stacks",
			rt->owned, tk_fields[TK_HANDLE_OWNED].owner, tk_fields[TK_HANDLE_OWNED].paths[0]);
		return;
	}
	const struct tk_owned_layout *l = &tk->layouts[rt->layout];
	size_t size = l->type->has_size ? l->type->size : 0;
	uint8_t list[256];
	if (!l->ok || !tk->header_ok || tk->header_size > 256 || size < l->head + 8 ||
	    size > sizeof(list)) {
		rt->unsupported = true;
		return; /* (warned when resolved) */
	}
	struct tk_cursor *cursors = xcalloc(rt->list_count, sizeof(*cursors));
	size_t n = 0;
	for (size_t i = 0; i < rt->list_count; i++) {
		struct ai_error *err = tk_read(tk, list, rt->lists[i].address, size);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		cursors[n].node = tk_get_u64(list, l->head);
		cursors[n].tail = l->has_tail ? tk_get_u64(list, l->tail) : 0;
		n++;
	}
	walk_lists(tk, rt, l, 0, cursors, n, TK_MAX_TASKS);
	free(cursors);
	if (rt->workers && rt->list_count < rt->workers)
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the lists of %zu of its %" PRIu64 " workers "
			"were found (a worker's list is in reach only while the worker parks or polls "
			"a task): the tasks of the others are not shown", rt->owned, rt->list_count,
			rt->workers);
}

static void walk_runtime(struct tk *tk, struct tk_runtime *rt)
{
	rt->first_task = tk->snapshot->task_count;
	if (rt->per_core) {
		walk_core_lists(tk, rt);
		return;
	}
	const struct tk_owned_layout *l = &tk->layouts[rt->layout];
	if (!l->ok || !tk->header_ok || tk->header_size > 256) {
		rt->unsupported = !rt->from_frame;
		return; /* (warned when resolved) */
	}
	size_t size = l->type->has_size ? l->type->size : 0;
	uint8_t owned[1024];
	if (size == 0 || size > sizeof(owned)) {
		give_up(tk, rt, "%s has an odd size (%zu bytes)", tk_fields[TK_OWNED_ID].owner, size);
		return;
	}
	struct ai_error *err = tk_read(tk, owned, rt->owned, size);
	if (err) {
		ai_error_destroy(err);
		give_up(tk, rt, "cannot read the task list of the runtime at 0x%" PRIx64, rt->owned);
		return;
	}
	uint64_t owner_id = l->has_id ? tk_get_u64(owned, l->id) : 0;
	if (!l->sharded) {
		struct tk_cursor c = {
			.node = tk_get_u64(owned, l->list + l->head),
			.tail = l->has_tail ? tk_get_u64(owned, l->list + l->tail) : 0,
		};
		if (c.node && !tk_plausible(c.node, 8)) {
			give_up(tk, rt, "runtime at 0x%" PRIx64 ": its task list starts at 0x%" PRIx64,
				rt->owned, c.node);
			return;
		}
		walk_lists(tk, rt, l, owner_id, &c, 1, TK_MAX_TASKS);
		return;
	}
	uint64_t data = tk_get_u64(owned, l->lists_data), length = tk_get_u64(owned, l->lists_length);
	uint64_t count = l->has_count ? tk_get_u64(owned, l->count) : 0;
	/* tokio makes a power of two of shards, at most 65536 */
	if (length == 0 || length > TK_MAX_SHARDS || (length & (length - 1)) || !tk_plausible(data, 8)) {
		give_up(tk, rt, "runtime at 0x%" PRIx64 ": %" PRIu64 " task list shards at 0x%" PRIx64
			" make no sense", rt->owned, length, data);
		return;
	}
	size_t bound = TK_MAX_TASKS;
	if (l->has_count)
		bound = AI_MIN(count + TK_COUNT_SLACK + tk->thread_count, (uint64_t)TK_MAX_TASKS);
	size_t shards_size = (size_t)(length * l->stride);
	uint8_t *shards = xmalloc(shards_size);
	err = tk_read(tk, shards, data, shards_size);
	if (err) {
		ai_error_destroy(err);
		free(shards);
		give_up(tk, rt, "runtime at 0x%" PRIx64 ": cannot read its %" PRIu64 " task list "
			"shards at 0x%" PRIx64, rt->owned, length, data);
		return;
	}
	/* Room for them all at once (the snapshot's array would grow step by step). */
	if (l->has_count && count <= TK_PREALLOCATE_MAX)
		AI_GROW(tk->snapshot->tasks, tk->snapshot->task_capacity,
			tk->snapshot->task_count + count);
	struct tk_cursor *cursors = xcalloc(length, sizeof(*cursors));
	for (uint64_t i = 0; i < length; i++) {
		const uint8_t *shard = shards + i * l->stride + l->list;
		cursors[i].node = tk_get_u64(shard, l->head);
		cursors[i].tail = l->has_tail ? tk_get_u64(shard, l->tail) : 0;
	}
	free(shards);
	walk_lists(tk, rt, l, owner_id, cursors, length, bound);
	free(cursors);
	/* The count is updated after a push or remove, under the shard lock: a thread stopped in
	 * between leaves it off by one. */
	uint64_t walked = rt->task_count;
	if (l->has_count && (walked + tk->thread_count < count || walked > count + tk->thread_count))
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": its task count says %" PRIu64
			", its lists hold %" PRIu64, rt->owned, count, walked);
}

/* Tasks of a runtime by id (a runtime's tasks stay together, in the order runtimes were found). */
static int compare_tasks(const void *a, const void *b)
{
	const struct ai_snapshot_task *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->address < y->address ? -1 : x->address > y->address;
}

/* ---- Scanning memory for task headers (DESIGN.md 5.5) ----
 *
 * The fallback when no runtime handle is found, and a cross-check of the list walk in tests.
 * Known vtables: the words of the executable's .data.rel.ro (read from the target: it is
 * relocated) that point to a raw::poll<T, S> symbol are Vtable.poll fields. Then every aligned
 * word of writable anonymous memory (and the heap) equal to a known vtable is a Header.vtable
 * candidate, validated as the walk validates a node (vtable resolved, state, owner id, links,
 * Stage). Bounded in bytes scanned and candidates. */

#define TK_SCAN_MAX_BYTES (1ULL << 30)  /* writable memory scanned at most */
#define TK_SCAN_MAX_CANDIDATES (1u << 22)
#define TK_SCAN_MAX_REFS (1ULL << 32)   /* a task with more references than this is no task */

/* The runtime addresses of every raw::poll<T, S> symbol of the executable, sorted. (Another
 * function named so would only add a word that points to no vtable: vtables are checked.) */
static size_t poll_addresses(struct tk *tk, struct ai_elf_file *symbols, uint64_t **ret)
{
	ai_elf_file_find_symbol(symbols, 0); /* loads the symbol table */
	uint64_t *v = NULL;
	size_t count = 0, capacity = 0;
	for (size_t i = 0; i < symbols->symbol_count; i++) {
		struct ai_elf_symbol *sym = &symbols->symbols[i];
		/* Both manglings spell identifiers as <length><name>: demangle only candidates. */
		if (!sym->address || !sym->name || !strstr(sym->name, "4poll") ||
		    !strstr(sym->name, "3raw") || !strstr(sym->name, "5tokio"))
			continue;
		/* Legacy mangling has no generic arguments ("...::raw::poll", then a hash); v0 has. */
		const char *name = ai_elf_symbol_name(sym);
		size_t len = strlen(TK_POLL_PREFIX) - 1;
		if (!name || strncmp(name, TK_POLL_PREFIX, len) != 0 ||
		    (name[len] != '\0' && name[len] != '<'))
			continue;
		AI_GROW(v, capacity, count + 1);
		v[count++] = sym->address + tk->main->bias;
	}
	*ret = v;
	return ai_u64_sort_unique(v, count);
}

/* Header and Vtable when no OwnedTasks type gave them: the Header type of raw::poll's unit. */
static bool resolve_header_from_poll(struct tk *tk, uint64_t poll)
{
	if (tk->header_tried)
		return tk->header_ok;
	struct ai_symbolization sym;
	struct ai_error *err = ai_debuginfo_symbolize(tk->as->di, poll, false, &sym);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	const struct ai_location *loc = sym.count ? &sym.locations[sym.count - 1] : NULL;
	struct ai_dwarf_unit *unit = loc && loc->die_offset
					     ? ai_dwarf_reader_unit_at(tk->reader, loc->die_offset)
					     : NULL;
	const struct ai_type *header = NULL;
	if (unit)
		err = ai_types_find(tk->as->types, unit->first_die,
				    "tokio::runtime::task::core::Header", &header);
	if (err || !header) {
		ai_error_destroy(err);
		return false;
	}
	header = tk_underlying(header);
	if (!match_header(header, NULL))
		return false;
	return resolve_header(tk, header);
}

/* Task vtables: words of .data.rel.ro equal to a poll address, minus Vtable.poll's offset. */
static size_t known_vtables(struct tk *tk, const uint64_t *polls, size_t poll_count,
			    uint64_t **ret)
{
	struct ai_word_scan scan;
	ai_scan_relro(tk->as, polls, poll_count, TK_SCAN_MAX_BYTES, SIZE_MAX, &scan);
	tk->exited |= scan.exited;
	for (size_t i = 0; i < scan.count; i++)
		scan.words[i] -= tk->poll;
	*ret = scan.words;
	return scan.count;
}

/* A candidate header: the task at `address`, read whole into tk's scratch. NULL if it is none. */
struct tk_vtable *tk_check_candidate(struct tk *tk, uint64_t address, const uint8_t **cell_ret)
{
	if (!tk_plausible(address, 8))
		return NULL;
	uint8_t *cell = scratch(tk, tk->header_size);
	struct ai_error *err = tk_read(tk, cell, address, tk->header_size);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	uint64_t state = tk_get_u64(cell, tk->header_state);
	/* At least one reference (REF_ONE = 1 << 6), and not a pointer (e.g. free()'s links). */
	if ((state >> 6) == 0 || (state >> 6) >= TK_SCAN_MAX_REFS)
		return NULL;
	if (tk->has_owner_id && tk_get_u64(cell, tk->owner_id) == 0)
		return NULL; /* never bound to an OwnedTasks: not a spawned task */
	struct tk_vtable *vt = tk_get_vtable(tk, tk_get_u64(cell, tk->header_vtable));
	if (!vt->valid)
		return NULL;
	cell = scratch(tk, vt->read_size);
	err = tk_read(tk, cell, address, vt->read_size);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	uint64_t next = tk_get_u64(cell, vt->links + tk->next);
	if (next && !tk_plausible(next, 8))
		return NULL;
	if (tk->has_prev) {
		uint64_t prev = tk_get_u64(cell, vt->links + tk->prev);
		if (prev && !tk_plausible(prev, 8))
			return NULL;
	}
	if (vt->has_stage) {
		struct tk_loc payload;
		bool has_payload;
		if (!tk_variant(vt->stage_type, cell + vt->stage, vt->read_size - vt->stage, &payload,
				&has_payload))
			return NULL;
	}
	*cell_ret = cell;
	return vt;
}

/* Every validated task header in memory, sorted and unique, into *ret (owned); only of the
 * vtables `keep` keeps when it is not NULL (none kept: nothing is scanned). */
static size_t scan_headers(struct tk *tk, struct ai_elf_file *symbols,
			   bool (*keep)(struct tk *tk, struct tk_vtable *vt), uint64_t **ret)
{
	*ret = NULL;
	uint64_t *polls = NULL, *vtables = NULL, *hits = NULL;
	size_t poll_count = poll_addresses(tk, symbols, &polls), vtable_count = 0;
	size_t hit_count = 0, header_count = 0;
	if (!poll_count)
		goto out;
	if (!tk->header_ok && !resolve_header_from_poll(tk, polls[0])) {
		tk_warn(&tk->env, "no DWARF type tokio::runtime::task::core::Header for the tasks "
			"of %s; memory is not scanned for tasks", tk->main->path);
		goto out;
	}
	if (tk->header_size > 256)
		goto out;
	vtable_count = known_vtables(tk, polls, poll_count, &vtables);
	if (keep) {
		size_t kept = 0;
		for (size_t i = 0; i < vtable_count; i++)
			if (keep(tk, tk_get_vtable(tk, vtables[i])))
				vtables[kept++] = vtables[i];
		vtable_count = kept;
	}
	if (!vtable_count)
		goto out;
	struct ai_word_scan scan;
	ai_scan_writable(tk->as, vtables, vtable_count, TK_SCAN_MAX_BYTES, TK_SCAN_MAX_CANDIDATES, &scan);
	tk->exited |= scan.exited;
	if (scan.stopped_bytes)
		tk_warn(&tk->env, "the scan for tasks stopped after %" PRIu64 " bytes of memory", scan.scanned);
	if (scan.stopped_words)
		tk_warn(&tk->env, "the scan for tasks stopped after %zu candidates", scan.count);
	/* A word equal to a vtable is a Header.vtable: the header starts that much before it. */
	hits = scan.words;
	hit_count = scan.count;
	for (size_t i = 0; i < hit_count; i++)
		hits[i] -= tk->header_vtable;
	for (size_t i = 0; i < hit_count; i++) {
		const uint8_t *cell;
		if (tk_check_candidate(tk, hits[i], &cell))
			hits[header_count++] = hits[i];
	}
out:
	free(polls);
	free(vtables);
	if (!header_count) {
		free(hits);
		hits = NULL;
	}
	*ret = hits;
	return header_count;
}

size_t tk_scan_headers_of(struct tk *tk, bool (*keep)(struct tk *tk, struct tk_vtable *vt),
			  uint64_t **ret)
{
	return scan_headers(tk, tk->symbols, keep, ret);
}

/* The fallback: tasks of no known runtime, from the scan. */
static void tasks_from_scan(struct tk *tk, struct ai_elf_file *symbols, size_t first_task)
{
	uint64_t *headers;
	size_t count = scan_headers(tk, symbols, NULL, &headers);
	if (!count)
		return;
	/* (a LocalSet's tasks may be listed already: its list needs no runtime) */
	size_t known_count = tk->snapshot->task_count - first_task;
	uint64_t *known = xmalloc((known_count + 1) * sizeof(*known));
	for (size_t i = 0; i < known_count; i++)
		known[i] = tk->snapshot->tasks[first_task + i].address;
	known_count = ai_u64_sort_unique(known, known_count);
	struct tk_runtime none = { .first_task = tk->snapshot->task_count };
	for (size_t i = 0; i < count; i++) {
		const uint8_t *cell;
		struct tk_vtable *vt = ai_u64_sorted_contains(known, known_count, headers[i])
					       ? NULL : tk_check_candidate(tk, headers[i], &cell);
		if (vt)
			emit_task(tk, &none, vt, headers[i], cell);
	}
	free(known);
	free(headers);
	if (tk->snapshot->task_count > none.first_task)
		tk_warn(&tk->env, "tasks found by scanning memory: no runtime handle was found");
	struct ai_snapshot_task *tasks = tk->snapshot->tasks + none.first_task;
	size_t n = tk->snapshot->task_count - none.first_task;
	if (n > 1)
		qsort(tasks, n, sizeof(*tasks), compare_tasks);
}

static void tk_deinit(struct tk *tk)
{
	for (size_t i = 0; i < tk->vtable_count; i++)
		free(tk->vtables[i].poll_name);
	free(tk->vtables);
	free(tk->vtable_index);
	free(tk->layouts);
	for (size_t i = 0; i < tk->runtime_count; i++)
		free(tk->runtimes[i].lists);
	free(tk->runtimes);
	free(tk->currents);
	free(tk->buf);
	free(tk->tls_name);
	free(tk->version);
	tk_env_deinit(&tk->env);
}

/* Sets up a collection; the executable's symbols, or NULL when there is nothing to collect. */
static struct ai_elf_file *tk_init(struct tk *tk, struct ai_async *as, struct ai_snapshot *snapshot)
{
	struct ai_module *main = ai_debuginfo_main_module(as->di);
	/* Opens the module (bias, symbols) if nothing did yet. */
	if (main->first_end)
		ai_debuginfo_find_module(as->di, main->first_start);
	struct ai_elf_file *symbols = main->symbols ? main->symbols : main->elf;
	if (!symbols || !as->dwarf)
		return NULL;
	*tk = (struct tk){
		.as = as,
		.mem = as->target->memory,
		.snapshot = snapshot,
		.main = main,
		.reader = ai_dwarf_get_reader(as->dwarf),
		.thread_count = as->target->thread_count,
	};
	tk->env.snapshot = snapshot;
	tk->env.version = "(unknown version)";
	tk->symbols = symbols;
	scan_symbols(tk, symbols);
	return symbols;
}

char *ai_tokio_detect(struct ai_async *as)
{
	struct ai_snapshot *snapshot = ai_snapshot_create(); /* (tk_init wants one) */
	struct tk tk;
	struct ai_elf_file *symbols = tk_init(&tk, as, snapshot);
	bool found = symbols && tk.has_context_symbol;
	if (symbols)
		tk_deinit(&tk);
	ai_snapshot_destroy(snapshot);
	return found ? xstrdup("") : NULL;
}

struct ai_error *ai_tokio_scan_headers(struct ai_async *as, uint64_t **headers_ret,
				       size_t *count_ret)
{
	*headers_ret = NULL;
	*count_ret = 0;
	struct ai_snapshot *snapshot = ai_snapshot_create(); /* (for warnings) */
	struct tk tk;
	struct ai_elf_file *symbols = tk_init(&tk, as, snapshot);
	if (symbols) {
		if (tk.has_context_symbol)
			resolve_context(&tk); /* (the version, for warnings) */
		*count_ret = scan_headers(&tk, symbols, NULL, headers_ret);
	}
	struct ai_error *err = NULL;
	if (symbols && tk.exited)
		err = ai_error_create(AI_ERROR_TARGET_EXITED, "process %d exited while its memory "
				      "was scanned for tokio tasks", (int)as->target->pid);
	if (symbols)
		tk_deinit(&tk);
	ai_snapshot_destroy(snapshot);
	return err;
}

struct ai_error *ai_tokio_collect(struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry)
{
	struct tk tk;
	struct ai_elf_file *symbols = tk_init(&tk, as, snapshot);
	if (!symbols)
		return NULL;
	struct ai_module *main = tk.main;
	if (!tk.has_context_symbol) {
		/* No runtime in this executable (tokio without "rt" has no tasks either). */
		tk_deinit(&tk);
		return NULL;
	}
	size_t first_task = snapshot->task_count;
	bool has_context = resolve_context(&tk);
	free(entry->version);
	entry->version = strcmp(tk.version, "(unknown version)") ? xstrdup(tk.version) : NULL;
	if (has_context && !tls_block_offset(main->elf, &tk.tls_block_offset)) {
		tk_warn(&tk.env, "%s has no PT_TLS segment but a thread-local CONTEXT", main->path);
		has_context = false;
	}
	if (has_context)
		runtimes_from_threads(&tk, stacks);
	runtimes_from_stacks(&tk, stacks);
	tk_local_sets_from_stacks(&tk, stacks);
	tk_local_sets_from_scan(&tk);
	for (size_t i = 0; i < tk.runtime_count; i++) {
		struct tk_runtime *rt = &tk.runtimes[i];
		walk_runtime(&tk, rt);
		struct ai_snapshot_task *tasks = snapshot->tasks + rt->first_task;
		size_t n = snapshot->task_count - rt->first_task;
		if (n > 1)
			qsort(tasks, n, sizeof(*tasks), compare_tasks);
	}
	tk_blocking_collect(&tk, stacks);
	size_t runtimes = 0;
	for (size_t i = 0; i < tk.runtime_count; i++)
		runtimes += !tk.runtimes[i].dropped && !tk.runtimes[i].local;
	entry->instances += runtimes;
	if (!runtimes && !tk.exited)
		tasks_from_scan(&tk, symbols, first_task);
	/* tokio is there but its tasks could not be read: never a silent "0 tasks". */
	bool unsupported = !runtimes && !has_context;
	for (size_t i = 0; i < tk.runtime_count; i++)
		unsupported |= tk.runtimes[i].unsupported;
	if (unsupported && snapshot->task_count == first_task && !tk.exited) {
		entry->decoded = false;
		tk_warn(&tk.env, "its task layout is not supported by this async-inspect (see the "
			"warnings above): its tasks cannot be listed");
	}
	struct ai_error *err = NULL;
	if (tk.exited)
		err = ai_error_create(AI_ERROR_TARGET_EXITED, "process %d exited while its tokio "
				      "tasks were read", (int)as->target->pid);
	tk_deinit(&tk);
	return err;
}
