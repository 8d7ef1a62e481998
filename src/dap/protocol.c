/* The wire format of the Debug Adapter Protocol: each message is `Content-Length: N\r\n\r\n`
 * followed by N bytes of JSON (other header fields are allowed and ignored). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "dap_internal.h"

/* A message larger than this is not a client talking to us. */
#define MAX_MESSAGE (64u << 20)

void dap_conn_init(struct dap_conn *conn, int in_fd, int out_fd)
{
	memset(conn, 0, sizeof(*conn));
	conn->in_fd = in_fd;
	conn->out_fd = out_fd;
}

void dap_conn_deinit(struct dap_conn *conn)
{
	free(conn->buf);
	conn->buf = NULL;
}

struct ai_error *dap_conn_fill(struct dap_conn *conn)
{
	AI_GROW(conn->buf, conn->cap, conn->len + 65536);
	ssize_t n = read(conn->in_fd, conn->buf + conn->len, conn->cap - conn->len);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return NULL;
		if (errno == ECONNRESET) {
			conn->eof = true;
			return NULL;
		}
		return ai_error_from_errno(errno, "reading from the DAP client");
	}
	if (n == 0)
		conn->eof = true;
	conn->len += (size_t)n;
	return NULL;
}

static const char *find_bytes(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

struct ai_error *dap_conn_next(struct dap_conn *conn, json_t **ret)
{
	*ret = NULL;
	const char *end = find_bytes(conn->buf, conn->len, "\r\n\r\n");
	if (!end) {
		if (conn->len > 8192)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					       "DAP: a header of more than 8192 bytes without its end (\\r\\n\\r\\n)");
		return NULL;
	}
	size_t header_len = (size_t)(end - conn->buf);
	long long length = -1;
	for (const char *line = conn->buf; line < end;) {
		const char *eol = find_bytes(line, (size_t)(end - line), "\r\n");
		if (!eol)
			eol = end;
		static const char field[] = "Content-Length:";
		if ((size_t)(eol - line) > sizeof(field) - 1 && strncasecmp(line, field, sizeof(field) - 1) == 0) {
			char num[32];
			size_t n = AI_MIN((size_t)(eol - line) - (sizeof(field) - 1), sizeof(num) - 1);
			memcpy(num, line + sizeof(field) - 1, n);
			num[n] = '\0';
			char *stop;
			length = strtoll(num, &stop, 10);
			while (*stop == ' ')
				stop++;
			if (*stop || length < 0)
				length = -2;
		}
		line = eol + 2;
	}
	if (length == -1)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "DAP: a message header without Content-Length");
	if (length < 0 || (unsigned long long)length > MAX_MESSAGE)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "DAP: a Content-Length that is not a size up to %u bytes",
				       MAX_MESSAGE);
	size_t body = header_len + 4;
	if (conn->len < body + (size_t)length)
		return NULL; /* the rest is on its way */
	json_error_t jerr;
	json_t *msg = json_loadb(conn->buf + body, (size_t)length, 0, &jerr);
	memmove(conn->buf, conn->buf + body + length, conn->len - body - (size_t)length);
	conn->len -= body + (size_t)length;
	if (!msg)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "DAP: a message that is not JSON: %s (column %d)",
				       jerr.text, jerr.column);
	if (!json_is_object(msg)) {
		json_decref(msg);
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "DAP: a message that is not a JSON object");
	}
	*ret = msg;
	return NULL;
}

static struct ai_error *write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, 1000);
			continue;
		}
		if (n < 0)
			return ai_error_from_errno(errno, "writing to the DAP client");
		data += n;
		len -= (size_t)n;
	}
	return NULL;
}

struct ai_error *dap_send(struct dap_conn *conn, json_t *msg)
{
	json_object_set_new(msg, "seq", json_integer(++conn->seq));
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text)
		return ai_error_create(AI_ERROR_OTHER, "DAP: a message could not be written as JSON");
	char header[64];
	int header_len = snprintf(header, sizeof(header), "Content-Length: %zu\r\n\r\n", strlen(text));
	struct ai_error *err = write_all(conn->out_fd, header, (size_t)header_len);
	if (!err)
		err = write_all(conn->out_fd, text, strlen(text));
	free(text);
	return err;
}

static json_t *response(const json_t *request, bool success)
{
	json_t *msg = json_object();
	json_object_set_new(msg, "type", json_string("response"));
	json_t *seq = json_object_get(request, "seq");
	json_object_set_new(msg, "request_seq", json_integer(json_is_integer(seq) ? json_integer_value(seq) : 0));
	json_object_set_new(msg, "success", json_boolean(success));
	const char *command = json_string_value(json_object_get(request, "command"));
	json_object_set_new(msg, "command", json_string(command ? command : ""));
	return msg;
}

struct ai_error *dap_respond(struct dap_conn *conn, const json_t *request, json_t *body)
{
	json_t *msg = response(request, true);
	if (body)
		json_object_set_new(msg, "body", body);
	return dap_send(conn, msg);
}

struct ai_error *dap_respond_error(struct dap_conn *conn, const json_t *request, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	json_t *msg = response(request, false);
	json_t *jtext = json_string(text ? text : "error");
	if (!jtext)
		jtext = json_string("error (its message is not UTF-8)");
	json_object_set(msg, "message", jtext);
	/* The editor shows `body.error.format` to the user. */
	json_t *error = json_object();
	json_object_set_new(error, "id", json_integer(1));
	json_object_set_new(error, "format", jtext);
	json_object_set_new(error, "showUser", json_true());
	json_t *body = json_object();
	json_object_set_new(body, "error", error);
	json_object_set_new(msg, "body", body);
	free(text);
	return dap_send(conn, msg);
}

struct ai_error *dap_event(struct dap_conn *conn, const char *event, json_t *body)
{
	json_t *msg = json_object();
	json_object_set_new(msg, "type", json_string("event"));
	json_object_set_new(msg, "event", json_string(event));
	if (body)
		json_object_set_new(msg, "body", body);
	return dap_send(conn, msg);
}
