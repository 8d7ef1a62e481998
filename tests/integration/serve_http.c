/* The HTTP side of the `serve` tests (test_serve*.c): serve started on a fixture, its URL and
 * token read, raw HTTP requests over a socket (as a browser or an attacker's page sends them),
 * the JSON documents and the event stream read back. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "serve_http.h"

/* Reads the one line serve prints: http://127.0.0.1:P/?token=T. */
void read_url(struct server *s, FILE *out)
{
	char line[512];
	cr_assert(fgets(line, sizeof(line), out), "serve printed no URL");
	line[strcspn(line, "\n")] = '\0';
	s->url = xstrdup(line);
	cr_assert(sscanf(line, "http://127.0.0.1:%d/?token=%63s", &s->port, s->token) == 2, "URL: %s", line);
	cr_assert_eq(strlen(s->token), 32, "a 128-bit token in hex: %s", s->token);
}

void serve_start(struct server *s, const char *const *args)
{
	tool_spawn(&s->process, args);
	read_url(s, s->process.out);
}

/* SIGINT, as Ctrl-C: it must end with status 0. */
void serve_stop(struct server *s)
{
	kill(s->process.pid, SIGINT);
	struct tool_result r;
	tool_finish(&s->process, 60, &r);
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	tool_result_free(&r);
	free(s->url);
}

/* Sends request as is and returns everything the server answered before closing. */
char *http_raw(int port, const char *request)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct timeval tv = { 30, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect to port %d", port);
	size_t len = strlen(request);
	for (size_t sent = 0; sent < len;) {
		ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may close early (an oversized request): read its answer */
		sent += (size_t)n;
	}
	char *buf = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&buf, &size);
	char chunk[65536];
	ssize_t n;
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		fwrite(chunk, 1, (size_t)n, mem);
	fclose(mem);
	close(fd);
	return buf;
}

/* GET path with Host 127.0.0.1:P and the extra header lines (each ending in \r\n). */
char *http_get(const struct server *s, const char *method, const char *path, const char *headers)
{
	char *request = xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sConnection: close\r\n\r\n", method, path,
				  s->port, headers ? headers : "");
	char *response = http_raw(s->port, request);
	free(request);
	return response;
}

int status_of(const char *response)
{
	int code = 0;
	sscanf(response, "HTTP/1.%*d %d", &code);
	return code;
}

/* The value of a response header (a copy), or NULL. */
char *header_of(const char *response, const char *name)
{
	size_t n = strlen(name);
	const char *end = strstr(response, "\r\n\r\n");
	for (const char *line = strstr(response, "\r\n"); line && (!end || line < end); line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2;
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ')
				h++;
			return strndup(h, strcspn(h, "\r\n"));
		}
	}
	return NULL;
}

const char *body_of(const char *response)
{
	const char *b = strstr(response, "\r\n\r\n");
	return b ? b + 4 : "";
}

json_t *get_json(const struct server *s, const char *path)
{
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s->token);
	char *r = http_get(s, "GET", path, bearer);
	free(bearer);
	cr_assert_eq(status_of(r), 200, "%s: %.300s", path, r);
	char *type = header_of(r, "Content-Type");
	cr_expect(type && strcmp(type, "application/json") == 0, "%s: %s", path, type);
	free(type);
	json_error_t error;
	json_t *doc = json_loads(body_of(r), 0, &error);
	cr_assert(doc, "%s: not JSON (%s): %.300s", path, error.text, body_of(r));
	free(r);
	return doc;
}

/* Connects, sends an HTTP/1.0 GET of /api/events (no chunking: the body is the stream itself)
 * and reads until `count` events have come whole; returns the response so far. */
char *read_events(const struct server *s, const char *headers, int count)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct timeval tv = { 30, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	char *request = xasprintf("GET /api/events HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n%s\r\n", s->port, headers);
	cr_assert(send(fd, request, strlen(request), MSG_NOSIGNAL) == (ssize_t)strlen(request));
	free(request);
	size_t len = 0, cap = 65536;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		buf[len] = '\0';
		const char *body = strstr(buf, "\r\n\r\n");
		if (body && count_substr(body + 4, "\n\n") >= count)
			break;
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return buf;
}

/* The node named `name` under node (depth first), or NULL. */
json_t *flame_find(json_t *node, const char *name)
{
	const char *n = json_string_value(json_object_get(node, "name"));
	if (n && strcmp(n, name) == 0)
		return node;
	json_t *child;
	size_t i;
	json_array_foreach(json_object_get(node, "children"), i, child) {
		json_t *hit = flame_find(child, name);
		if (hit)
			return hit;
	}
	return NULL;
}

/* tests/integration/NAME (a Selenium script) with args (after the tool): its exit status,
 * skipping the test on 77. */
void run_browser_script(const char *name, const char *const *args)
{
	const char *source = getenv("AI_SOURCE") ? getenv("AI_SOURCE") : ".";
	const char *binary = getenv("AI_BINARY") ? getenv("AI_BINARY") : "build/async-inspect";
	char *script = xasprintf("%s/tests/integration/%s", source, name);
	const char *argv[16] = { "python3", script, binary };
	size_t n = 3;
	for (; args[n - 3] && n < 15; n++)
		argv[n] = args[n - 3];
	argv[n] = NULL;
	char err_name[] = "/tmp/ai-test-browser-XXXXXX";
	int err_fd = mkstemp(err_name);
	cr_assert(err_fd >= 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(err_fd, STDERR_FILENO);
		dup2(err_fd, STDOUT_FILENO);
		execv("/usr/bin/python3", (char *const *)argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	char *out = ai_read_small_file(err_name, NULL);
	unlink(err_name);
	close(err_fd);
	free(script);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (code == 77) {
		char why[512];
		snprintf(why, sizeof(why), "%s", out ? out : "skipped");
		free(out);
		cr_skip_test("%s", why);
	}
	cr_expect_eq(code, 0, "%s", out ? out : "");
	free(out);
}
