/* The peer of every unix socket, from the kernel's sock_diag netlink interface (UNIX_DIAG_PEER):
 * /proc/net/unix does not say which socket is at the other end of a connection. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ai/sockets.h"
#include "ai/util.h"

/* Replies to one dump request end with NLMSG_DONE; a host has rarely more than a few thousand. */
#define MAX_REPLY_BYTES (64 << 20)

static void set_peer(struct ai_socket_table *table, uint64_t inode, uint64_t peer)
{
	struct ai_socket *s = (struct ai_socket *)ai_sockets_find(table, inode);
	if (s && s->kind && strcmp(s->kind, "unix") == 0)
		s->peer_inode = peer;
}

struct ai_error *ai_sockets_read_unix_peers(struct ai_socket_table *table)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return ai_error_from_errno(errno, "sock_diag netlink socket");
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} request = {
		.nlh = { .nlmsg_len = sizeof(request), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_show = UDIAG_SHOW_PEER },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	if (sendto(fd, &request, sizeof(request), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		int e = errno;
		close(fd);
		return ai_error_from_errno(e, "sock_diag request");
	}
	static long buf[8192];
	size_t total = 0;
	struct ai_error *err = NULL;
	for (bool done = false; !done && !err;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = ai_error_from_errno(errno, "sock_diag reply");
			break;
		}
		total += (size_t)n;
		if (n == 0 || total > MAX_REPLY_BYTES)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				err = ai_error_from_errno(-e->error, "sock_diag");
				break;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
				continue;
			const struct unix_diag_msg *msg = NLMSG_DATA(h);
			int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*msg)));
			for (struct rtattr *a = (struct rtattr *)(msg + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
				if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= (int)sizeof(uint32_t)) {
					uint32_t peer;
					memcpy(&peer, RTA_DATA(a), sizeof(peer));
					set_peer(table, msg->udiag_ino, peer);
				}
			}
		}
	}
	close(fd);
	return err;
}
