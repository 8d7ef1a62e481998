/* serve's checks of a request from its headers alone (src/serve/route.c): the Host header
 * against DNS rebinding, on the port the URL names and on port 80, where browsers send none. */
#include <criterion/criterion.h>

#include "ai/serve.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

static enum ai_serve_route route(uint16_t port, const char *bound, bool wildcard, const char *host)
{
	struct ai_serve_guard guard = { TOKEN, port, bound, wildcard };
	struct ai_serve_request request = { .method = "GET", .url = "/api/tasks", .host = host,
					    .authorization = "Bearer " TOKEN };
	return ai_serve_route(&guard, &request).route;
}

Test(serve_route, host_must_name_this_server_and_port)
{
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, "127.0.0.1:8123"), AI_SERVE_TASKS);
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, "localhost:8123"), AI_SERVE_TASKS);
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, "LocalHost:8123"), AI_SERVE_TASKS);
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, "evil.example:8123"), AI_SERVE_FORBIDDEN);
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, "127.0.0.1:8124"), AI_SERVE_FORBIDDEN);
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, "127.0.0.1"), AI_SERVE_FORBIDDEN);
	cr_expect_eq(route(8123, "127.0.0.1:8123", false, NULL), AI_SERVE_FORBIDDEN);
	cr_expect_eq(route(8123, "[::1]:8123", false, "[::1]:8123"), AI_SERVE_TASKS);
	cr_expect_eq(route(8123, "[::1]:8123", false, "[::1]"), AI_SERVE_FORBIDDEN);
	/* a wildcard bind: any address literal, never a name */
	cr_expect_eq(route(8123, "0.0.0.0:8123", true, "10.0.0.5:8123"), AI_SERVE_TASKS);
	cr_expect_eq(route(8123, "0.0.0.0:8123", true, "rebind.example:8123"), AI_SERVE_FORBIDDEN);
}

Test(serve_route, port_80_host_without_a_port)
{
	cr_expect_eq(route(80, "127.0.0.1:80", false, "127.0.0.1"), AI_SERVE_TASKS);
	cr_expect_eq(route(80, "127.0.0.1:80", false, "127.0.0.1:80"), AI_SERVE_TASKS);
	cr_expect_eq(route(80, "127.0.0.1:80", false, "localhost"), AI_SERVE_TASKS);
	cr_expect_eq(route(80, "[::1]:80", false, "[::1]"), AI_SERVE_TASKS);
	cr_expect_eq(route(80, "127.0.0.1:80", false, "evil.example"), AI_SERVE_FORBIDDEN);
	cr_expect_eq(route(80, "127.0.0.1:80", false, "127.0.0.2"), AI_SERVE_FORBIDDEN);
	cr_expect_eq(route(80, "0.0.0.0:80", true, "10.0.0.5"), AI_SERVE_TASKS);
	cr_expect_eq(route(80, "0.0.0.0:80", true, "rebind.example"), AI_SERVE_FORBIDDEN);
}
