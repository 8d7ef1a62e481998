/* Links between snapshots through their sockets (src/analysis/peers.c) over hand-made snapshots:
 * TCP ends matched by both addresses, the waiter preferred to a keeper, loopback never across two
 * hosts, unix ends by inode, and a cycle through sockets. */
#include <criterion/criterion.h>
#include <string.h>

#include "ai/peers.h"
#include "ai/util.h"

static struct ai_snapshot *process(pid_t pid, const char *host)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->pid = pid;
	s->command = xasprintf("app%d", (int)pid);
	s->host = host ? xstrdup(host) : NULL;
	return s;
}

static struct ai_snapshot_task *add_task(struct ai_snapshot *s, uint64_t id)
{
	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = id;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("idle");
	t->runtime = xstrdup("tokio");
	t->future = xasprintf("app::task%llu", (unsigned long long)id);
	return t;
}

/* A read on a connected socket: TCP when local is set, else unix (inode, peer inode). */
static struct ai_wait *read_wait(struct ai_snapshot_task *t, int fd, const char *local, const char *peer,
				 uint64_t inode, uint64_t peer_inode)
{
	t->tree.leaf = true;
	struct ai_wait *w = t->tree.wait = xcalloc(1, sizeof(*w));
	t->wait = w;
	w->kind = xstrdup("io");
	w->description = xstrdup("waiting for read");
	w->has_fd = true;
	w->fd = fd;
	w->direction = xstrdup("read");
	w->socket_kind = xstrdup(local ? "TCP" : "unix");
	w->socket_state = xstrdup(local ? "ESTABLISHED" : "CONNECTED");
	w->local_address = local ? xstrdup(local) : NULL;
	w->peer_address = peer ? xstrdup(peer) : NULL;
	w->socket_inode = inode;
	w->peer_inode = peer_inode;
	return w;
}

static void keep_fd(struct ai_snapshot_task *t, int fd, const char *local, const char *peer)
{
	struct ai_task_fd *f = ai_snapshot_task_add_fd(t);
	f->fd = fd;
	f->socket_kind = xstrdup("TCP");
	f->local_address = xstrdup(local);
	f->peer_address = xstrdup(peer);
}

Test(peers, tcp_wait_linked_to_the_keeper_of_the_other_end)
{
	struct ai_process_set set;
	ai_process_set_init(&set);
	struct ai_snapshot *client = process(100, "a"), *server = process(200, "a");
	read_wait(add_task(client, 1), 9, "127.0.0.1:40000", "127.0.0.1:8080", 0, 0);
	add_task(server, 6); /* holds nothing */
	keep_fd(add_task(server, 7), 11, "127.0.0.1:8080", "127.0.0.1:40000");
	keep_fd(add_task(server, 8), 12, "127.0.0.1:8080", "127.0.0.1:40001"); /* another client's */
	ai_process_set_add(&set, client);
	ai_process_set_add(&set, server);
	ai_analysis_peers(&set);
	const struct ai_peer *p = client->tasks[0].wait->peer;
	cr_assert(p);
	cr_expect_eq(p->pid, 200);
	cr_expect(p->has_task_id && p->task_id == 7);
	cr_expect_eq(p->fd, 11);
	cr_expect_str_eq(p->address, "127.0.0.1:8080");
	cr_expect(strstr(p->summary, "pid 200 (app200) Task 7 app::task7, which is idle"), "%s", p->summary);
	cr_expect_eq(set.link_count, 1);
	cr_expect_eq(set.deadlock_count, 0, "the keeper waits on nothing: no cycle");
	ai_process_set_deinit(&set);
}

Test(peers, loopback_not_across_hosts)
{
	struct ai_process_set set;
	ai_process_set_init(&set);
	struct ai_snapshot *client = process(100, "host-a"), *server = process(200, "host-b");
	read_wait(add_task(client, 1), 9, "127.0.0.1:40000", "127.0.0.1:8080", 0, 0);
	keep_fd(add_task(server, 7), 11, "127.0.0.1:8080", "127.0.0.1:40000");
	/* The same on routable addresses is one connection between the two hosts. */
	read_wait(add_task(client, 2), 10, "10.0.0.5:40712", "10.0.0.9:8080", 0, 0);
	keep_fd(add_task(server, 8), 12, "10.0.0.9:8080", "10.0.0.5:40712");
	ai_process_set_add(&set, client);
	ai_process_set_add(&set, server);
	ai_analysis_peers(&set);
	cr_expect_null(client->tasks[0].wait->peer, "two hosts' 127.0.0.1 are two sockets");
	cr_assert(client->tasks[1].wait->peer);
	cr_expect(client->tasks[1].wait->peer->task_id == 8);
	ai_process_set_deinit(&set);
}

Test(peers, waiters_on_both_ends_make_a_cycle)
{
	struct ai_process_set set;
	ai_process_set_init(&set);
	struct ai_snapshot *a = process(100, "h"), *b = process(200, "h");
	/* unix: each end names the other's inode */
	read_wait(add_task(a, 1), 9, NULL, NULL, 5001, 5002);
	struct ai_snapshot_task *keeper = add_task(b, 3);
	keep_fd(keeper, 4, "127.0.0.1:1", "127.0.0.1:2"); /* unrelated */
	read_wait(add_task(b, 4), 7, NULL, NULL, 5002, 5001);
	ai_process_set_add(&set, a);
	ai_process_set_add(&set, b);
	ai_analysis_peers(&set);
	cr_assert(a->tasks[0].wait->peer && b->tasks[1].wait->peer);
	cr_expect(a->tasks[0].wait->peer->task_id == 4);
	cr_expect(strstr(a->tasks[0].wait->peer->summary, "answered by pid 100 (app100) Task 1"), "%s",
		  a->tasks[0].wait->peer->summary);
	cr_assert_eq(set.deadlock_count, 1);
	const struct ai_cross_deadlock *d = &set.deadlocks[0];
	cr_assert_eq(d->count, 2);
	cr_expect(d->steps[0].via_peer && d->steps[1].via_peer);
	cr_expect_neq(d->steps[0].process, d->steps[1].process);
	ai_process_set_deinit(&set);
}
