/* Wait reasons of broadcast, watch and I/O (`dump`): the figures against what the waits fixture
 * sets up (tests/fixtures/README.md), checked against /proc rather than our own parser, in every
 * tokio version; and an I/O wait from a core. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(wait_io, .init = require_fixtures, .timeout = 300);

static json_t *task_by_future(json_t *root, const char *future, size_t nth)
{
	return doc_item_by_string(json_object_get(root, "tasks"), "future", future, nth);
}

/* The fd of process pid that links to target ("socket:[123]"), or -1; *count_ret: how many do. */
static int fd_linking_to(pid_t pid, const char *target, int *count_ret)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	int found = -1, count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[320], link[256];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, target) == 0) {
			count++;
			if (found < 0 || atoi(e->d_name) < found)
				found = atoi(e->d_name);
		}
	}
	closedir(d);
	if (count_ret)
		*count_ret = count;
	return found;
}

/* The TCP sockets of the waits fixture, from /proc/PID/net/tcp and its fds (not from our parser):
 * tcp_server's listener (the one with an accepted connection), tcp_reader's stream (connected to
 * it), and tcp_connecting's socket (the only one in SYN_SENT, to the other listener). */
struct tcp_truth {
	unsigned listen_port, reader_port, server_peer_port;
	int listen_fd, reader_fd;
	unsigned long listen_inode, reader_inode;
	unsigned connect_port, full_port; /* tcp_connecting's local port, the full listener's */
	int connect_fd;
};

static void tcp_truth(pid_t pid, struct tcp_truth *t)
{
	memset(t, 0, sizeof(*t));
	t->listen_fd = t->reader_fd = t->connect_fd = -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char line[512];
	struct { unsigned lp, rp, st; unsigned long inode; int fd; } socks[32];
	size_t n = 0;
	while (fgets(line, sizeof(line), f) && n < 32) {
		unsigned la, lp, ra, rp, st;
		unsigned long inode;
		if (sscanf(line, " %*u: %8X:%4X %8X:%4X %2X %*s %*s %*s %*u %*u %lu", &la, &lp, &ra, &rp, &st, &inode) != 6 ||
		    la != 0x0100007F || inode == 0)
			continue;
		char target[64];
		snprintf(target, sizeof(target), "socket:[%lu]", inode);
		int fd = fd_linking_to(pid, target, NULL);
		if (fd < 0)
			continue; /* another process's */
		socks[n].lp = lp, socks[n].rp = rp, socks[n].st = st, socks[n].inode = inode, socks[n].fd = fd;
		n++;
	}
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		if (socks[i].st != 0x0A)
			continue;
		for (size_t j = 0; j < n; j++) {
			if (socks[j].st == 0x01 && socks[j].lp == socks[i].lp) {
				t->listen_port = socks[i].lp;
				t->listen_fd = socks[i].fd;
				t->listen_inode = socks[i].inode;
				t->server_peer_port = socks[j].rp; /* the accepted `conn` */
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (socks[i].st == 0x01 && socks[i].rp == t->listen_port && socks[i].lp != t->listen_port) {
			t->reader_port = socks[i].lp;
			t->reader_fd = socks[i].fd;
			t->reader_inode = socks[i].inode;
		} else if (socks[i].st == 0x02) {
			cr_assert_eq(t->connect_fd, -1, "one socket in SYN_SENT");
			t->connect_port = socks[i].lp;
			t->connect_fd = socks[i].fd;
			t->full_port = socks[i].rp;
		}
	}
	cr_assert(t->listen_fd >= 0 && t->reader_fd >= 0, "the fixture's listener and reader sockets");
	cr_assert_eq(t->server_peer_port, t->reader_port, "the reader's local port is the server's peer");
	cr_assert(t->connect_fd >= 0, "tcp_connecting's socket in SYN_SENT");
	bool full_listens = false;
	for (size_t i = 0; i < n; i++)
		full_listens |= socks[i].st == 0x0A && socks[i].lp == t->full_port && t->full_port != t->listen_port;
	cr_assert(full_listens, "tcp_connecting connects to the other listener of the fixture");
}

/* The fixture's UDP socket on 127.0.0.1 (/proc/PID/net/udp and its fds): its port and fd. */
static int udp_truth(pid_t pid, unsigned *port_ret)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/net/udp", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	int found = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st;
		unsigned long inode;
		if (sscanf(line, " %*u: %8X:%4X %8X:%4X %2X %*s %*s %*s %*u %*u %lu", &la, &lp, &ra, &rp, &st, &inode) != 6 ||
		    la != 0x0100007F || st != 7)
			continue;
		char target[64];
		snprintf(target, sizeof(target), "socket:[%lu]", inode);
		int fd = fd_linking_to(pid, target, NULL);
		if (fd >= 0) {
			cr_assert_eq(found, -1, "one UDP socket in the fixture");
			found = fd;
			*port_ret = lp;
		}
	}
	fclose(f);
	cr_assert(found >= 0, "the fixture's UDP socket");
	return found;
}

/* The fd of the accepted (connected, not listening) unix socket named name in /proc/PID/net/unix. */
static int unix_accepted_fd(pid_t pid, const char *name)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/net/unix", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	int found = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned flags, type, st;
		unsigned long inode;
		char sun_path[256];
		if (sscanf(line, "%*s %*x %*x %x %x %x %lu %255s", &flags, &type, &st, &inode, sun_path) != 5 ||
		    strcmp(sun_path, name) != 0 || flags != 0 || st != 3)
			continue;
		char target[64];
		snprintf(target, sizeof(target), "socket:[%lu]", inode);
		int fd = fd_linking_to(pid, target, NULL);
		if (fd >= 0)
			found = fd;
	}
	fclose(f);
	cr_assert(found >= 0, "the accepted unix socket %s", name);
	return found;
}

/* The read end of a pipe both of whose ends the process holds, and we (the test, whose fds it may
 * have inherited) do not: its fd and link. */
static int own_pipe_read_end(pid_t pid, char *target, size_t size)
{
	for (int fd = 0; fd < 1024; fd++) {
		char path[64], link[128];
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		int count;
		if (strncmp(link, "pipe:[", 6) != 0 || fd_linking_to(pid, link, &count) != fd || count != 2 ||
		    fd_linking_to(getpid(), link, NULL) >= 0)
			continue;
		snprintf(target, size, "%s", link);
		return fd; /* the lower fd: pipe() returns the read end first */
	}
	return -1;
}

Test(wait_io, waits_broadcast_watch_io_figures)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "waits", NULL);
		json_t *root = doc_dump(&f, *v);
		struct tcp_truth tcp;
		tcp_truth(f.pid, &tcp);
		char pipe_target[128];
		int pipe_fd = own_pipe_read_end(f.pid, pipe_target, sizeof(pipe_target));
		cr_assert(pipe_fd >= 0, "%s: the fixture's pipe", *v);
		char fdinfo[64];
		snprintf(fdinfo, sizeof(fdinfo), "/proc/%d/fdinfo/%d", (int)f.pid, pipe_fd);
		FILE *fi = fopen(fdinfo, "r");
		cr_assert_not_null(fi);
		unsigned flags = 1;
		char line[128];
		while (fgets(line, sizeof(line), fi))
			sscanf(line, "flags: %o", &flags);
		fclose(fi);
		cr_assert_eq(flags & 3, 0, "%s: fd %d is the read end (O_RDONLY)", *v, pipe_fd);
		unsigned udp_port = 0;
		int udp_fd = udp_truth(f.pid, &udp_port);
		char *unix_name = xasprintf("@async-inspect-waits-%d", (int)f.pid);
		int unix_fd = unix_accepted_fd(f.pid, unix_name);
		char *pid = xasprintf("%d", (int)f.pid);
		struct tool_result dot;
		tool_run(&dot, 120, (const char *[]){ "dump", "--pid", pid, "--graph", "dot", NULL });
		free(pid);
		fixture_kill(&f);

		/* broadcast::channel(16), nothing sent, the Sender kept by main. */
		json_t *bc = json_object_get(task_by_future(root, "waits::broadcast_recv", 0), "wait");
		cr_assert_not_null(bc, "%s", *v);
		cr_expect_str_eq(doc_str(bc, "kind"), "broadcast", "%s", *v);
		cr_expect_str_eq(doc_str(bc, "type"), "broadcast::Receiver<u32>", "%s", *v);
		cr_expect_eq(doc_int(bc, "capacity"), 16, "%s", *v);
		cr_expect_eq(doc_int(bc, "unseen"), 0, "%s", *v);
		cr_expect_eq(doc_int(bc, "senders_alive"), 1, "%s", *v);
		cr_expect(json_is_false(json_object_get(bc, "closed")), "%s", *v);
		cr_expect_null(json_object_get(bc, "warning"), "%s", *v);
		cr_expect(strncmp(doc_str(bc, "address"), "0x", 2) == 0, "%s", *v);

		/* watch::channel(5), never sent: version 0 seen 0; the Sender kept by main. Senders are
		 * counted from tokio 1.36 (ref_count_tx); 1.19 and 1.24 have one Sender and the closed bit. */
		json_t *wa = json_object_get(task_by_future(root, "waits::watch_changed", 0), "wait");
		cr_assert_not_null(wa, "%s", *v);
		cr_expect_str_eq(doc_str(wa, "kind"), "watch", "%s", *v);
		cr_expect_str_eq(doc_str(wa, "type"), "watch::Receiver<u32>", "%s", *v);
		cr_expect_eq(doc_int(wa, "version"), 0, "%s", *v);
		cr_expect_eq(doc_int(wa, "seen_version"), 0, "%s", *v);
		cr_expect(json_is_false(json_object_get(wa, "closed")), "%s", *v);
		cr_expect(json_is_true(json_object_get(wa, "sender_alive")), "%s", *v);
		if (strcmp(*v, "tokio-1.24") == 0 || strcmp(*v, "tokio-1.19") == 0)
			cr_expect_null(json_object_get(wa, "senders_alive"), "%s: not counted before 1.36", *v);
		else
			cr_expect_eq(doc_int(wa, "senders_alive"), 1, "%s", *v);
		cr_expect(strstr(doc_str(wa, "description"), "(unchanged)") != NULL, "%s: %s", *v, doc_str(wa, "description"));
		cr_expect_str_neq(doc_str(wa, "address"), doc_str(bc, "address"), "%s", *v);
		/* Both are channel nodes of the wait-for graph. */
		cr_assert_eq(tool_exit_code(&dot), 0, "%s: %s", *v, dot.err);
		const char *const chans[2][2] = { { "waits::broadcast_recv", "broadcast::Receiver<u32> @ " },
						  { "waits::watch_changed", "watch::Receiver<u32> @ " } };
		json_t *chan_waits[2] = { bc, wa };
		for (size_t k = 0; k < 2; k++) {
			json_t *task = task_by_future(root, chans[k][0], 0);
			char *tl = xasprintf("Task %lld %s", (long long)json_integer_value(json_object_get(task, "id")),
					     chans[k][0]);
			char *rl = xasprintf("%s%s", chans[k][1], doc_str(chan_waits[k], "address"));
			char *tn = dot_node(dot.out, tl), *rn = dot_node(dot.out, rl);
			cr_expect(tn && rn && dot_edge(dot.out, tn, rn, "receives on"), "%s: %s receives on %s:\n%s", *v, tl,
				  rl, dot.out);
			free(tl), free(rl), free(tn), free(rn);
		}
		tool_result_free(&dot);

		/* accept: the listener, LISTEN on 127.0.0.1:<port>, waiting for a connection. */
		json_t *acc = json_object_get(task_by_future(root, "waits::tcp_server", 0), "wait");
		cr_assert_not_null(acc, "%s", *v);
		cr_expect_str_eq(doc_str(acc, "kind"), "io", "%s", *v);
		cr_expect_str_eq(doc_str(acc, "type"), "TcpListener", "%s", *v);
		cr_expect_str_eq(doc_str(acc, "direction"), "connection", "%s", *v);
		cr_expect_eq(doc_int(acc, "fd"), tcp.listen_fd, "%s", *v);
		char *want = xasprintf("socket:[%lu]", tcp.listen_inode);
		cr_expect_str_eq(doc_str(acc, "fd_target"), want, "%s", *v);
		free(want);
		json_t *sock = json_object_get(acc, "socket");
		cr_expect_str_eq(doc_str(sock, "kind"), "TCP", "%s", *v);
		cr_expect_str_eq(doc_str(sock, "state"), "LISTEN", "%s", *v);
		want = xasprintf("127.0.0.1:%u", tcp.listen_port);
		cr_expect_str_eq(doc_str(sock, "local"), want, "%s", *v);
		cr_expect(json_is_null(json_object_get(sock, "peer")), "%s", *v);
		free(want);
		want = xasprintf("TCP 127.0.0.1:%u LISTEN, waiting for a connection (fd %d)", tcp.listen_port, tcp.listen_fd);
		cr_expect_str_eq(doc_str(acc, "description"), want, "%s", *v);
		free(want);

		/* read: the reader's stream, ESTABLISHED to the listener's port, waiting for read. */
		json_t *rd = json_object_get(task_by_future(root, "waits::tcp_reader", 0), "wait");
		cr_assert_not_null(rd, "%s", *v);
		cr_expect_str_eq(doc_str(rd, "kind"), "io", "%s", *v);
		cr_expect_str_eq(doc_str(rd, "type"), "TcpStream", "%s", *v);
		cr_expect_str_eq(doc_str(rd, "direction"), "read", "%s", *v);
		cr_expect_eq(doc_int(rd, "fd"), tcp.reader_fd, "%s", *v);
		sock = json_object_get(rd, "socket");
		cr_expect_str_eq(doc_str(sock, "state"), "ESTABLISHED", "%s", *v);
		want = xasprintf("127.0.0.1:%u", tcp.reader_port);
		cr_expect_str_eq(doc_str(sock, "local"), want, "%s", *v);
		free(want);
		want = xasprintf("127.0.0.1:%u", tcp.listen_port);
		cr_expect_str_eq(doc_str(sock, "peer"), want, "%s", *v);
		free(want);
		want = xasprintf("TCP 127.0.0.1:%u -> 127.0.0.1:%u ESTABLISHED, waiting for read (fd %d)", tcp.reader_port,
				 tcp.listen_port, tcp.reader_fd);
		cr_expect_str_eq(doc_str(rd, "description"), want, "%s", *v);
		free(want);

		/* TcpStream::connect to a full accept queue: SYN_SENT, waiting for the connection. */
		json_t *cn = json_object_get(task_by_future(root, "waits::tcp_connecting", 0), "wait");
		cr_assert_not_null(cn, "%s", *v);
		cr_expect_str_eq(doc_str(cn, "kind"), "io", "%s", *v);
		cr_expect_str_eq(doc_str(cn, "type"), "TcpStream", "%s", *v);
		cr_expect_str_eq(doc_str(cn, "direction"), "connect", "%s", *v);
		cr_expect_eq(doc_int(cn, "fd"), tcp.connect_fd, "%s", *v);
		want = xasprintf("TCP 127.0.0.1:%u -> 127.0.0.1:%u SYN_SENT, waiting for the connection to be established "
				 "(fd %d)", tcp.connect_port, tcp.full_port, tcp.connect_fd);
		cr_expect_str_eq(doc_str(cn, "description"), want, "%s", *v);
		free(want);

		/* AsyncFd<PipeReader>::readable: the pipe's read end, no socket. */
		json_t *pr = json_object_get(task_by_future(root, "waits::pipe_reader", 0), "wait");
		cr_assert_not_null(pr, "%s", *v);
		cr_expect_str_eq(doc_str(pr, "kind"), "io", "%s", *v);
		cr_expect_str_eq(doc_str(pr, "type"), "AsyncFd<PipeReader>", "%s", *v);
		cr_expect_str_eq(doc_str(pr, "direction"), "read", "%s", *v);
		cr_expect_eq(doc_int(pr, "fd"), pipe_fd, "%s", *v);
		cr_expect_str_eq(doc_str(pr, "fd_target"), pipe_target, "%s", *v);
		cr_expect_null(json_object_get(pr, "socket"), "%s", *v);

		/* UdpSocket::recv_from: unconnected on 127.0.0.1:<port>. */
		json_t *ud = json_object_get(task_by_future(root, "waits::udp_recv", 0), "wait");
		cr_assert_not_null(ud, "%s", *v);
		cr_expect_str_eq(doc_str(ud, "type"), "UdpSocket", "%s", *v);
		cr_expect_str_eq(doc_str(ud, "direction"), "read", "%s", *v);
		cr_expect_eq(doc_int(ud, "fd"), udp_fd, "%s", *v);
		sock = json_object_get(ud, "socket");
		cr_expect_str_eq(doc_str(sock, "kind"), "UDP", "%s", *v);
		cr_expect_str_eq(doc_str(sock, "state"), "UNCONN", "%s", *v);
		want = xasprintf("127.0.0.1:%u", udp_port);
		cr_expect_str_eq(doc_str(sock, "local"), want, "%s", *v);
		free(want);
		cr_expect(json_is_null(json_object_get(sock, "peer")), "%s", *v);

		/* UnixStream::read on the accepted end of "@async-inspect-waits-<pid>". */
		json_t *ux = json_object_get(task_by_future(root, "waits::unix_reader", 0), "wait");
		cr_assert_not_null(ux, "%s", *v);
		cr_expect_str_eq(doc_str(ux, "type"), "UnixStream", "%s", *v);
		cr_expect_str_eq(doc_str(ux, "direction"), "read", "%s", *v);
		cr_expect_eq(doc_int(ux, "fd"), unix_fd, "%s", *v);
		sock = json_object_get(ux, "socket");
		cr_expect_str_eq(doc_str(sock, "kind"), "unix", "%s", *v);
		cr_expect_str_eq(doc_str(sock, "local"), unix_name, "%s", *v);
		cr_expect_str_eq(doc_str(sock, "state"), "CONNECTED", "%s", *v);
		want = xasprintf("unix %s CONNECTED, waiting for read (fd %d)", unix_name, unix_fd);
		cr_expect_str_eq(doc_str(ux, "description"), want, "%s", *v);
		free(want);
		free(unix_name);
		json_decref(root);
	}
}

/* From a core: the fd, and no socket details (no /proc). */
Test(wait_io, io_wait_from_a_core_has_the_fd_only)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "waits", NULL);
	struct tcp_truth tcp;
	tcp_truth(f.pid, &tcp);
	struct core_file cf;
	core_dump(&cf, &f);
	char *core = cf.path;
	char *exe = realpath(f.path, NULL);
	cr_assert_not_null(exe);
	fixture_kill(&f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", core, "--exe", exe, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = json_loads(r.out, 0, NULL);
	cr_assert(root);
	json_t *rd = json_object_get(task_by_future(root, "waits::tcp_reader", 0), "wait");
	cr_expect_str_eq(doc_str(rd, "kind"), "io");
	cr_expect_eq(doc_int(rd, "fd"), tcp.reader_fd);
	cr_expect_str_eq(doc_str(rd, "direction"), "read");
	cr_expect_null(json_object_get(rd, "socket"));
	cr_expect_null(json_object_get(rd, "fd_target"));
	char *want = xasprintf("TcpStream fd %d, waiting for read (socket details need a live process)", tcp.reader_fd);
	cr_expect_str_eq(doc_str(rd, "description"), want);
	free(want);
	json_t *acc = json_object_get(task_by_future(root, "waits::tcp_server", 0), "wait");
	cr_expect_eq(doc_int(acc, "fd"), tcp.listen_fd);
	cr_expect_str_eq(doc_str(acc, "direction"), "connection");
	json_decref(root);
	tool_result_free(&r);
	core_remove(&cf);
	free(exe);
}
