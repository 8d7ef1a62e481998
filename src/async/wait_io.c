/* I/O waits, for every runtime's adapter: the fd a leaf waits on (std's OwnedFd, found in the
 * leaf or in the saved locals above it through the runtime's I/O objects), and on live targets its
 * /proc link and socket; the fds a coroutine keeps while it waits on something else. What is a
 * runtime's own I/O object, and which of its types hold no fd of the program (its reactor's
 * poller), the adapter says (struct ai_io_rules). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "ai/wait.h"

/* Pointers followed from a frame's local to its fd (&&TcpListener in a closure: 2). */
#define MAX_FD_DEREFS 4
/* Types visited by one search, and bytes of an enum read to pick its variant. */
#define MAX_FD_VISITS 4096
#define MAX_FD_ENUM_BYTES 4096
#define MAX_FD 0x1000000

/* std's own I/O objects, whatever the runtime. */
static const char *const std_objects[] = { "std::net::", "std::fs::", "std::io::pipe::", "std::os::unix::net::",
					   NULL };

struct fd_search {
	struct ai_wait_walk *w;
	const struct ai_io_rules *rules;
	int fds[4];        /* distinct fds found */
	size_t count;
	const char *owner; /* the I/O object that holds the first one: "smol::net::...::TcpStream" */
	unsigned visits;
};

static bool starts_with_any(const char *name, const char *const *prefixes)
{
	for (const char *const *p = prefixes; p && *p; p++) {
		if (ai_starts_with(name, *p))
			return true;
	}
	return false;
}

bool ai_wait_name_ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* A type not entered: the runtime's own (its reactor holds the poller's fd), or a marker. */
static bool skipped(const struct ai_io_rules *rules, const char *name)
{
	return starts_with_any(name, rules->skip) || ai_starts_with(name, "core::marker::PhantomData");
}

/* The types named as the object an fd belongs to (the outermost one on the path to the fd). */
static bool is_io_object(const struct ai_io_rules *rules, const char *name)
{
	return starts_with_any(name, rules->objects) || starts_with_any(name, std_objects);
}

static bool is_fd_holder(const struct ai_type *t, const char *name)
{
	return ai_type_find_member(t, "fd") &&
	       (ai_wait_name_ends_with(name, "::OwnedFd") || ai_wait_name_ends_with(name, "::FileDesc"));
}

/* Looks for std's OwnedFd { fd } (or an older std's FileDesc { fd: c_int }) in the value: struct
 * members, the active variant of enums (Option<TcpStream>), and &, &mut, Box and Arc pointers up
 * to MAX_FD_DEREFS; never into the runtime's skipped types. */
static void fd_search_value(struct fd_search *s, const struct ai_type *t, uint64_t address, unsigned depth,
			    unsigned derefs, const char *owner)
{
	if (!t || depth > 32 || s->visits++ > MAX_FD_VISITS || s->count == AI_ARRAY_SIZE(s->fds))
		return;
	const char *name = ai_wait_type_name(t);
	if (skipped(s->rules, name))
		return;
	if (t->kind == AI_TYPE_POINTER) {
		if (derefs >= MAX_FD_DEREFS || !(name[0] == '&' || ai_starts_with(name, "alloc::boxed::Box<")))
			return;
		uint64_t ptr;
		const struct ai_type *pt;
		if (!ai_wait_deref_wrapped(s->w, t, address, 0, &ptr, &pt) || (ptr & 3) != 0 || pt->kind == AI_TYPE_VOID ||
		    pt->kind == AI_TYPE_FUNCTION || pt->kind == AI_TYPE_UNIT)
			return;
		fd_search_value(s, pt, ptr, depth + 1, derefs + 1, owner);
		return;
	}
	if (t->kind == AI_TYPE_STRUCT && ai_starts_with(name, "alloc::sync::Arc<")) {
		uint64_t data;
		const struct ai_type *dt;
		if (derefs < MAX_FD_DEREFS && ai_wait_read_arc(s->w, t, address, &data, &dt))
			fd_search_value(s, dt, data, depth + 1, derefs + 1, owner);
		return;
	}
	if (!owner && is_io_object(s->rules, name) && !strchr(name, '{')) /* not a closure or async fn of one */
		owner = name;
	if (is_fd_holder(t, name)) {
		const struct ai_member *fd_member = ai_type_find_member(t, "fd");
		uint64_t leaf_off, size, v;
		const struct ai_type *mt = ai_wait_member_type(t, fd_member);
		if (!ai_wait_int_leaf(mt, 0, &leaf_off, &size) || size != 4 ||
		    !ai_wait_read_uint(s->w, address + fd_member->offset + leaf_off, size, &v) || v >= MAX_FD)
			return; /* -1 (None's niche) or not an fd */
		for (size_t i = 0; i < s->count; i++) {
			if (s->fds[i] == (int)v)
				return;
		}
		if (s->count == 0)
			s->owner = owner;
		s->fds[s->count++] = (int)v;
		return;
	}
	if (t->kind == AI_TYPE_ENUM) {
		if (ai_type_is_coroutine(t) || !t->has_size || t->size == 0 || t->size > MAX_FD_ENUM_BYTES)
			return;
		uint8_t *bytes = xmalloc(t->size);
		const struct ai_variant *v = NULL;
		struct ai_error *err = ai_memory_read(s->w->mem, bytes, address, t->size);
		if (!err)
			err = ai_type_active_variant(t, bytes, t->size, &v);
		free(bytes);
		if (err) {
			ai_error_destroy(err);
			return;
		}
		fd_search_value(s, ai_wait_member_type(t, &v->member), address + v->member.offset, depth + 1, derefs, owner);
		return;
	}
	if (t->kind != AI_TYPE_STRUCT)
		return;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_member *m = &t->members[i];
		if (m->artificial)
			continue;
		fd_search_value(s, ai_wait_member_type(t, m), address + m->offset, depth + 1, derefs, owner);
	}
}

/* The fd an I/O leaf waits on: in the leaf, else in the saved locals of the coroutines above it,
 * nearest first. Two different fds at the nearest level that has one: ambiguous (count > 1). */
static void find_fd(struct ai_wait_walk *w, const struct ai_type *leaf_t, uint64_t leaf_address, struct fd_search *s,
		    const char **where_ret)
{
	*where_ret = NULL;
	fd_search_value(s, leaf_t, leaf_address, 0, 0, NULL);
	for (size_t i = w->depth; s->count == 0 && i-- > 0;) {
		const struct ai_await_node *a = w->ancestors[i];
		const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, a->type_die), a->state);
		if (!vt)
			continue;
		bool *live = ai_wait_live_locals(w, a, vt);
		for (size_t k = 0; k < vt->member_count; k++) {
			const struct ai_member *m = &vt->members[k];
			if (!m->name || m->artificial || ai_starts_with(m->name, "__") || !live[k])
				continue; /* __awaitee: the future we came up from */
			fd_search_value(s, ai_wait_member_type(vt, m), a->address + m->offset, 0, 0, NULL);
		}
		free(live);
		*where_ret = a->function;
	}
}

static const char *direction_phrase(const char *direction)
{
	if (!direction)
		return "waiting for I/O";
	if (strcmp(direction, "connection") == 0)
		return "waiting for a connection";
	if (strcmp(direction, "read_write") == 0)
		return "waiting for read or write";
	if (strcmp(direction, "copy") == 0)
		return "copying";
	if (strcmp(direction, "connect") == 0)
		return "waiting for the connection to be established";
	return strcmp(direction, "read") == 0 ? "waiting for read" : "waiting for write";
}

/* The socket of inode on a live target, from /proc/PID/net (read once per walk), or NULL. */
static const struct ai_socket *socket_of(struct ai_wait_walk *w, uint64_t inode)
{
	if (!w->sockets_read) {
		w->sockets_read = true;
		struct ai_error *err = ai_sockets_read(w->as->target->pid, &w->sockets);
		/* Without sock_diag (another network namespace), unix sockets just have no known peer. */
		if (!err)
			ai_error_destroy(ai_sockets_read_unix_peers(&w->sockets));
		if (err) {
			ai_snapshot_add_warning(w->snapshot, "sockets of I/O waits not known: %s", err->message);
			ai_error_destroy(err);
		}
	}
	return ai_sockets_find(&w->sockets, inode);
}

/* What /proc says of the fd (live targets): the link, and for a socket its addresses and state. */
static void describe_fd(struct ai_wait_walk *w, struct ai_wait *wait)
{
	char *target;
	struct ai_error *err = ai_fd_target(w->as->target->pid, wait->fd, &target);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	wait->fd_target = target;
	uint64_t inode = ai_fd_socket_inode(target);
	const struct ai_socket *sock = inode ? socket_of(w, inode) : NULL;
	if (!sock)
		return;
	wait->socket_kind = xstrdup(sock->kind);
	wait->local_address = sock->local[0] ? xstrdup(sock->local) : NULL;
	wait->peer_address = sock->peer[0] ? xstrdup(sock->peer) : NULL;
	wait->socket_state = sock->state ? xstrdup(sock->state) : NULL;
	wait->socket_inode = sock->inode;
	wait->peer_inode = sock->peer_inode;
}

/* Whether a value of type t can hold an fd that fd_search_value would find, from the type alone
 * (every variant, every member, the pointers it follows): most saved locals cannot, and the
 * search of each is then skipped. Memoized by type over the walk; a type met again while it is
 * being decided, or past the depth bound, counts as "can" (a search too many, never one too few). */
struct fd_memo {
	const struct ai_type **keys;
	unsigned char *values; /* 1 can, 2 cannot, 3 being decided */
	size_t capacity, count;
};

static unsigned char *memo_slot(struct fd_memo *m, const struct ai_type *t)
{
	if (m->count * 2 >= m->capacity) {
		struct fd_memo grown = { xcalloc(m->capacity ? m->capacity * 2 : 256, sizeof(*grown.keys)), NULL,
					 m->capacity ? m->capacity * 2 : 256, 0 };
		grown.values = xcalloc(grown.capacity, 1);
		for (size_t i = 0; i < m->capacity; i++) {
			if (m->keys[i])
				*memo_slot(&grown, m->keys[i]) = m->values[i];
		}
		free(m->keys);
		free(m->values);
		*m = grown;
	}
	size_t i = ((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull % m->capacity;
	while (m->keys[i] && m->keys[i] != t)
		i = (i + 1) % m->capacity;
	if (!m->keys[i]) {
		m->keys[i] = t;
		m->count++;
	}
	return &m->values[i];
}

static bool may_hold_fd(struct fd_memo *m, const struct ai_io_rules *rules, const struct ai_type *t, unsigned depth)
{
	if (!t)
		return false;
	if (depth > 24)
		return true;
	const char *name = ai_wait_type_name(t);
	if (skipped(rules, name))
		return false;
	unsigned char *slot = memo_slot(m, t);
	if (*slot)
		return *slot != 2;
	*slot = 3;
	bool can = false;
	if (t->kind == AI_TYPE_POINTER) {
		const struct ai_type *pt = NULL;
		struct ai_error *err = NULL;
		if (name[0] == '&' || ai_starts_with(name, "alloc::boxed::Box<")) {
			err = ai_type_resolve(t, &t->target, &pt);
			can = err || may_hold_fd(m, rules, ai_wait_underlying(pt), depth + 1);
		}
		ai_error_destroy(err);
	} else if (t->kind == AI_TYPE_STRUCT && ai_starts_with(name, "alloc::sync::Arc<")) {
		const struct ai_type *dt = NULL;
		struct ai_error *err = t->template_param_count ? ai_type_resolve(t, &t->template_params[0].type, &dt) : NULL;
		can = !t->template_param_count || err || may_hold_fd(m, rules, ai_wait_underlying(dt), depth + 1);
		ai_error_destroy(err);
	} else if (is_fd_holder(t, name)) {
		can = true;
	} else if (t->kind == AI_TYPE_ENUM) {
		for (size_t i = 0; !ai_type_is_coroutine(t) && !can && i < t->variant_count; i++)
			can = may_hold_fd(m, rules, ai_wait_member_type(t, &t->variants[i].member), depth + 1);
	} else if (t->kind == AI_TYPE_STRUCT) {
		for (size_t i = 0; !can && i < t->member_count; i++) {
			if (!t->members[i].artificial)
				can = may_hold_fd(m, rules, ai_wait_member_type(t, &t->members[i]), depth + 1);
		}
	}
	/* (the slot may have moved while the members were decided) */
	*memo_slot(m, t) = can ? 1 : 2;
	return can;
}

void ai_wait_fd_memo_free(struct ai_wait_walk *w)
{
	struct fd_memo *m = w->fd_memo;
	if (!m)
		return;
	free(m->keys);
	free(m->values);
	free(m);
	w->fd_memo = NULL;
}

void ai_wait_find_fds(struct ai_wait_walk *w, const struct ai_io_rules *rules, struct ai_snapshot_task *task,
		      const struct ai_await_node *node)
{
	const struct ai_type *vt = ai_wait_state_struct(ai_wait_type_of_die(w, node->type_die), node->state);
	if (!vt)
		return;
	bool *live = ai_wait_live_locals(w, node, vt);
	for (size_t k = 0; k < vt->member_count; k++) {
		const struct ai_member *m = &vt->members[k];
		if (!m->name || m->artificial || ai_starts_with(m->name, "__") || !live[k])
			continue;
		if (!w->fd_memo)
			w->fd_memo = xcalloc(1, sizeof(struct fd_memo));
		const struct ai_type *mt = ai_wait_member_type(vt, m);
		if (!may_hold_fd(w->fd_memo, rules, mt, 0))
			continue;
		struct fd_search s = { .w = w, .rules = rules };
		fd_search_value(&s, mt, node->address + m->offset, 0, 0, NULL);
		for (size_t i = 0; i < s.count; i++) {
			bool dup = false;
			for (size_t j = 0; j < task->fd_count && !dup; j++)
				dup = task->fds[j].fd == s.fds[i];
			if (dup)
				continue; /* a reference to it in an inner frame: the outermost saver owns it */
			struct ai_task_fd *f = ai_snapshot_task_add_fd(task);
			f->fd = s.fds[i];
			f->local = xstrdup(m->name);
			f->function = node->function ? xstrdup(node->function) : NULL;
			if (w->as->target->kind != AI_TARGET_LIVE)
				continue;
			struct ai_error *err = ai_fd_target(w->as->target->pid, f->fd, &f->target);
			if (err) {
				ai_error_destroy(err);
				continue;
			}
			uint64_t inode = ai_fd_socket_inode(f->target);
			const struct ai_socket *sock = inode ? socket_of(w, inode) : NULL;
			if (!sock)
				continue;
			f->socket_kind = xstrdup(sock->kind);
			f->local_address = sock->local[0] ? xstrdup(sock->local) : NULL;
			f->peer_address = sock->peer[0] ? xstrdup(sock->peer) : NULL;
			f->socket_state = sock->state ? xstrdup(sock->state) : NULL;
			f->socket_inode = sock->inode;
			f->peer_inode = sock->peer_inode;
		}
	}
	free(live);
}

/* The wait's description once its fd is known (wait->has_fd), with its /proc link and socket on
 * a live target; `what` names the I/O object. */
static void describe_io(struct ai_wait_walk *w, struct ai_wait *wait, const char *what, const char *phrase)
{
	if (w->as->target->kind != AI_TARGET_LIVE) {
		wait->description = xasprintf("%s fd %d, %s (socket details need a live process)", what, wait->fd, phrase);
		return;
	}
	describe_fd(w, wait);
	if (wait->socket_kind && strcmp(wait->socket_kind, "unix") == 0)
		wait->description = xasprintf("unix %s%s%s, %s (fd %d)", wait->local_address ? wait->local_address : "(unnamed)",
					      wait->socket_state ? " " : "", wait->socket_state ? wait->socket_state : "",
					      phrase, wait->fd);
	else if (wait->socket_kind)
		wait->description = xasprintf("%s %s%s%s%s%s, %s (fd %d)", wait->socket_kind,
					      wait->local_address ? wait->local_address : "?",
					      wait->peer_address ? " -> " : "", wait->peer_address ? wait->peer_address : "",
					      wait->socket_state ? " " : "", wait->socket_state ? wait->socket_state : "",
					      phrase, wait->fd);
	else
		wait->description = xasprintf("%s %s, %s (fd %d)", what, wait->fd_target ? wait->fd_target : "(fd closed?)",
					      phrase, wait->fd);
}

struct ai_wait *ai_wait_decode_io(struct ai_wait_walk *w, const struct ai_io_rules *rules, const struct ai_type *t,
				  uint64_t address, const char *direction)
{
	struct ai_wait *wait = ai_wait_new("io");
	wait->direction = direction ? xstrdup(direction) : NULL;
	struct fd_search s = { .w = w, .rules = rules };
	const char *where;
	find_fd(w, t, address, &s, &where);
	wait->resource_type = s.owner ? ai_type_short_name(s.owner) : NULL;
	const char *what = wait->resource_type ? wait->resource_type : "I/O";
	const char *phrase = direction_phrase(direction);
	if (s.count > 1) {
		wait->description = xasprintf("%s, %s (fds %d and %d both in %s: not guessed)", what, phrase, s.fds[0],
					      s.fds[1], where ? where : "the leaf");
		return wait;
	}
	if (s.count == 0) {
		wait->description = xasprintf("%s, %s (fd not found)", what, phrase);
		return wait;
	}
	wait->has_fd = true;
	wait->fd = s.fds[0];
	describe_io(w, wait, what, phrase);
	return wait;
}

struct ai_wait *ai_wait_io_fd(struct ai_wait_walk *w, int fd, const char *resource_type, const char *direction)
{
	struct ai_wait *wait = ai_wait_new("io");
	wait->direction = direction ? xstrdup(direction) : NULL;
	wait->resource_type = resource_type ? xstrdup(resource_type) : NULL;
	wait->has_fd = true;
	wait->fd = fd;
	describe_io(w, wait, resource_type ? resource_type : "I/O", direction_phrase(direction));
	return wait;
}
