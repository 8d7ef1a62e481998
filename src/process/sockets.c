/* Sockets and fds of a live process from /proc: see include/ai/sockets.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/sockets.h"
#include "ai/util.h"

void ai_socket_table_init(struct ai_socket_table *table)
{
	memset(table, 0, sizeof(*table));
}

void ai_socket_table_deinit(struct ai_socket_table *table)
{
	free(table->items);
	ai_socket_table_init(table);
}

static struct ai_socket *add_socket(struct ai_socket_table *table)
{
	AI_GROW(table->items, table->capacity, table->count + 1);
	table->sorted = false;
	struct ai_socket *s = &table->items[table->count++];
	memset(s, 0, sizeof(*s));
	return s;
}

/* include/net/tcp_states.h */
static const char *tcp_state_name(unsigned st)
{
	static const char *const names[] = { NULL, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
					     "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
					     "LISTEN", "CLOSING", "NEW_SYN_RECV" };
	return st < AI_ARRAY_SIZE(names) ? names[st] : NULL;
}

static bool hex_value(char c, unsigned *ret)
{
	if (c >= '0' && c <= '9')
		*ret = (unsigned)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*ret = (unsigned)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F')
		*ret = (unsigned)(c - 'A' + 10);
	else
		return false;
	return true;
}

/* "0100007F:1F90" (IPv4) or 32 hex digits ":PORT" (IPv6) into "127.0.0.1:8080" / "[::1]:8080".
 * The kernel prints each 32-bit word of the address as the host (little-endian) integer, so the
 * bytes of each word come out reversed; the port is printed as a host-order number. *zero_ret:
 * address and port are all zero (no peer). */
static bool parse_inet_address(const char *tok, size_t len, bool ipv6, char *out, size_t out_size, bool *zero_ret)
{
	size_t hex_len = ipv6 ? 32 : 8;
	if (len != hex_len + 5 || tok[hex_len] != ':')
		return false;
	uint8_t bytes[16];
	for (size_t word = 0; word < hex_len / 8; word++) {
		uint32_t v = 0;
		for (size_t i = 0; i < 8; i++) {
			unsigned d;
			if (!hex_value(tok[word * 8 + i], &d))
				return false;
			v = v << 4 | d;
		}
		/* v is the word as the kernel's host integer: its lowest byte came first in memory. */
		for (size_t b = 0; b < 4; b++)
			bytes[word * 4 + b] = (uint8_t)(v >> (8 * b));
	}
	unsigned port = 0;
	for (size_t i = 0; i < 4; i++) {
		unsigned d;
		if (!hex_value(tok[hex_len + 1 + i], &d))
			return false;
		port = port << 4 | d;
	}
	bool zero = port == 0;
	for (size_t i = 0; i < hex_len / 2; i++)
		zero &= bytes[i] == 0;
	*zero_ret = zero;
	if (!ipv6) {
		snprintf(out, out_size, "%u.%u.%u.%u:%u", bytes[0], bytes[1], bytes[2], bytes[3], port);
		return true;
	}
	char text[INET6_ADDRSTRLEN];
	if (!inet_ntop(AF_INET6, bytes, text, sizeof(text)))
		return false;
	snprintf(out, out_size, "[%s]:%u", text, port);
	return true;
}

/* Splits a line into at most max whitespace-separated tokens; returns how many. */
static size_t split_line(const char *line, size_t line_len, const char **starts, size_t *lens, size_t max)
{
	size_t n = 0, i = 0;
	while (i < line_len && n < max) {
		while (i < line_len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == line_len)
			break;
		starts[n] = line + i;
		while (i < line_len && line[i] != ' ' && line[i] != '\t')
			i++;
		lens[n] = (size_t)(line + i - starts[n]);
		n++;
	}
	return n;
}

static bool parse_uint(const char *tok, size_t len, int base, uint64_t *ret)
{
	char buf[32];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, base);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

struct ai_error *ai_sockets_parse_inet(const char *text, const char *kind, struct ai_socket_table *table)
{
	static const char *const kinds[] = { "TCP", "TCP6", "UDP", "UDP6" };
	const char *static_kind = NULL;
	for (size_t i = 0; i < AI_ARRAY_SIZE(kinds); i++) {
		if (strcmp(kind, kinds[i]) == 0)
			static_kind = kinds[i];
	}
	if (!static_kind)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "unknown socket kind %s", kind);
	bool ipv6 = strchr(kind, '6') != NULL;
	bool tcp = kind[0] == 'T';
	const char *nl = strchr(text, '\n');
	size_t header_len = nl ? (size_t)(nl - text) : strlen(text);
	if (!memmem(text, header_len, "local_address", 13))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "not a /proc/net/%s file", kind);
	for (const char *line = nl ? nl + 1 : text + header_len; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *tok[10];
		size_t tlen[10];
		uint64_t st, inode;
		bool local_zero, peer_zero;
		char local[128], peer[128];
		if (split_line(line, len, tok, tlen, 10) == 10 &&
		    parse_inet_address(tok[1], tlen[1], ipv6, local, sizeof(local), &local_zero) &&
		    parse_inet_address(tok[2], tlen[2], ipv6, peer, sizeof(peer), &peer_zero) &&
		    parse_uint(tok[3], tlen[3], 16, &st) && parse_uint(tok[9], tlen[9], 10, &inode)) {
			struct ai_socket *s = add_socket(table);
			s->inode = inode;
			s->kind = static_kind;
			snprintf(s->local, sizeof(s->local), "%s", local);
			if (!peer_zero)
				snprintf(s->peer, sizeof(s->peer), "%s", peer);
			if (tcp)
				s->state = tcp_state_name((unsigned)st);
			else
				s->state = st == 1 ? "ESTABLISHED" : st == 7 ? "UNCONN" : NULL;
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	return NULL;
}

struct ai_error *ai_sockets_parse_unix(const char *text, struct ai_socket_table *table)
{
	const char *nl = strchr(text, '\n');
	size_t header_len = nl ? (size_t)(nl - text) : strlen(text);
	if (!memmem(text, header_len, "RefCount", 8) || !memmem(text, header_len, "Inode", 5))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "not a /proc/net/unix file");
	for (const char *line = nl ? nl + 1 : text + header_len; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *tok[7];
		size_t tlen[7];
		uint64_t flags, type, st, inode;
		if (split_line(line, len, tok, tlen, 7) == 7 && parse_uint(tok[3], tlen[3], 16, &flags) &&
		    parse_uint(tok[4], tlen[4], 16, &type) && parse_uint(tok[5], tlen[5], 16, &st) &&
		    parse_uint(tok[6], tlen[6], 10, &inode)) {
			struct ai_socket *s = add_socket(table);
			s->inode = inode;
			s->kind = "unix";
			s->type = type == 1 ? "STREAM" : type == 2 ? "DGRAM" : type == 5 ? "SEQPACKET" : NULL;
			/* __SO_ACCEPTCON: listening; else socket.h's SS_* states. */
			static const char *const states[] = { NULL, "UNCONNECTED", "CONNECTING", "CONNECTED",
							      "DISCONNECTING" };
			s->state = (flags & 0x10000) ? "LISTEN" : st < AI_ARRAY_SIZE(states) ? states[st] : NULL;
			/* The path is the rest of the line (it may hold spaces). */
			const char *p = tok[6] + tlen[6];
			while (p < line + len && (*p == ' ' || *p == '\t'))
				p++;
			size_t plen = (size_t)(line + len - p);
			if (plen >= sizeof(s->local))
				plen = sizeof(s->local) - 1;
			memcpy(s->local, p, plen);
			s->local[plen] = '\0';
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	return NULL;
}

static int compare_inodes(const void *a, const void *b)
{
	const struct ai_socket *x = a, *y = b;
	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

struct ai_error *ai_sockets_read(pid_t pid, struct ai_socket_table *table)
{
	static const struct {
		const char *file, *kind;
	} files[] = { { "tcp", "TCP" }, { "tcp6", "TCP6" }, { "udp", "UDP" }, { "udp6", "UDP6" }, { "unix", NULL } };
	for (size_t i = 0; i < AI_ARRAY_SIZE(files); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[i].file);
		char *text = ai_read_small_file(path, NULL);
		if (!text) {
			if (errno == ENOENT)
				continue;
			return ai_error_from_errno(errno, "%s", path);
		}
		struct ai_error *err = files[i].kind ? ai_sockets_parse_inet(text, files[i].kind, table)
						     : ai_sockets_parse_unix(text, table);
		free(text);
		if (err)
			return ai_error_wrap(err, "%s", path);
	}
	/* A server may have thousands of sockets and as many tasks parked on them. */
	if (table->count > 1)
		qsort(table->items, table->count, sizeof(*table->items), compare_inodes);
	table->sorted = true;
	return NULL;
}

const struct ai_socket *ai_sockets_find(const struct ai_socket_table *table, uint64_t inode)
{
	if (table->sorted) {
		struct ai_socket key = { .inode = inode };
		return table->count ? bsearch(&key, table->items, table->count, sizeof(key), compare_inodes) : NULL;
	}
	for (size_t i = 0; i < table->count; i++) {
		if (table->items[i].inode == inode)
			return &table->items[i];
	}
	return NULL;
}

struct ai_error *ai_fd_target(pid_t pid, int fd, char **ret)
{
	char path[64], target[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return ai_error_from_errno(errno, "%s", path);
	target[n] = '\0';
	*ret = xstrdup(target);
	return NULL;
}

uint64_t ai_fd_socket_inode(const char *target)
{
	uint64_t inode;
	const char *p = target;
	if (strncmp(p, "socket:[", 8) != 0)
		return 0;
	p += 8;
	const char *end = strchr(p, ']');
	if (!end || end[1] != '\0' || !parse_uint(p, (size_t)(end - p), 10, &inode))
		return 0;
	return inode;
}
