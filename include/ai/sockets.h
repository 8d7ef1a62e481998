/* The sockets and file descriptors of a live process, from /proc (src/process/sockets.c):
 * /proc/PID/fd/N names what an fd is ("socket:[INODE]", "pipe:[INODE]", a path), and
 * /proc/PID/net/{tcp,tcp6,udp,udp6,unix} (the process's network namespace) describe every socket
 * by inode. Cores have none of this. */
#ifndef AI_SOCKETS_H
#define AI_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ai/error.h"

struct ai_socket {
	uint64_t inode;
	const char *kind;  /* "TCP", "TCP6", "UDP", "UDP6", "unix" (static) */
	char local[128];   /* "127.0.0.1:8080", "[::1]:443"; unix: the path ("@name" if abstract), "" if none */
	char peer[128];    /* inet only: "127.0.0.1:51234"; "" when not connected or not known */
	const char *state; /* TCP: "ESTABLISHED", "LISTEN"...; UDP: "UNCONN" or "ESTABLISHED"; unix:
			    * "LISTEN", "CONNECTED", "UNCONNECTED", "CONNECTING", "DISCONNECTING" (static) */
	const char *type;  /* unix: "STREAM", "DGRAM", "SEQPACKET"; NULL for inet (static) */
	uint64_t peer_inode; /* unix: the socket at the other end (ai_sockets_read_unix_peers); 0 if not known */
};

struct ai_socket_table {
	struct ai_socket *items;
	size_t count, capacity;
	bool sorted; /* by inode (ai_sockets_read): look-ups are binary searches */
};

void ai_socket_table_init(struct ai_socket_table *table);
void ai_socket_table_deinit(struct ai_socket_table *table);

/* Appends the sockets of the text of a /proc/net/tcp, tcp6, udp or udp6 file (kind "TCP", "TCP6",
 * "UDP", "UDP6": the 6 says the addresses are IPv6). Lines that do not parse are skipped;
 * AI_ERROR_INVALID_ARGUMENT if the header is not the one of those files. */
struct ai_error *ai_sockets_parse_inet(const char *text, const char *kind, struct ai_socket_table *table);
/* The same for /proc/net/unix. */
struct ai_error *ai_sockets_parse_unix(const char *text, struct ai_socket_table *table);
/* Reads /proc/PID/net/{tcp,tcp6,udp,udp6,unix} into table (initialized); a file that does not
 * exist (a kernel without IPv6) is skipped. */
struct ai_error *ai_sockets_read(pid_t pid, struct ai_socket_table *table);
/* Sets peer_inode of the unix sockets of table (sorted) from the kernel's sock_diag interface
 * (src/process/unix_peers.c): only sockets of our own network namespace are listed there. */
struct ai_error *ai_sockets_read_unix_peers(struct ai_socket_table *table);
/* The socket with that inode, or NULL. */
const struct ai_socket *ai_sockets_find(const struct ai_socket_table *table, uint64_t inode);

/* What /proc/PID/fd/N links to (a new string): "socket:[123]", "pipe:[456]", "/dev/null"... */
struct ai_error *ai_fd_target(pid_t pid, int fd, char **ret);
/* The inode of a "socket:[123]" link target; 0 if it is not one. */
uint64_t ai_fd_socket_inode(const char *target);

/* An end of a socket or pipe, and the process found holding it (ai_fd_owners_find). */
struct ai_fd_owner {
	uint64_t inode;    /* in: the socket's or pipe's inode */
	bool pipe;         /* in: a pipe:[N] link, else socket:[N] */
	bool want_writer;  /* in, pipes: an fd open for writing (else for reading) */
	size_t owners;     /* out: how many processes hold one (0: none found) */
	pid_t pid;         /* out, owners > 0: the lowest of their pids, its fd and command */
	int fd;
	char command[32];
};
/* Fills the out fields of every wanted end from one walk of /proc/PID/fd (src/process/fd_owners.c),
 * leaving out the processes of exclude and ourselves. Processes whose fds we may not read are not
 * counted. */
void ai_fd_owners_find(struct ai_fd_owner *wanted, size_t count, const pid_t *exclude, size_t exclude_count);

#endif
