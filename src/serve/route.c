/* The checks every request of `serve` goes through and its route, from its headers alone
 * (include/ai/serve.h): the Host header against DNS rebinding, the token, the method. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ai/serve.h"

/* Equal in time that does not depend on where they differ. */
static bool token_equal(const char *token, const char *given)
{
	if (!given)
		return false;
	size_t len = strlen(token);
	size_t n = strnlen(given, len + 1);
	unsigned char diff = n != len;
	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)(token[i] ^ (i < n ? given[i] : 0));
	return diff == 0;
}

static bool is_ip_literal(const char *host, size_t len)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	unsigned char addr[16];
	if (buf[0] == '[' && buf[len - 1] == ']') {
		buf[len - 1] = '\0';
		return inet_pton(AF_INET6, buf + 1, addr) == 1;
	}
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* DNS rebinding: a page of another site whose name now resolves to us sends its own name. Only
 * localhost:P and the bound address:P are ours; on a wildcard bind, any address literal with our
 * port (a name is what rebinding needs). On port 80 a browser sends no port. */
static bool host_allowed(const struct ai_serve_guard *g, const char *host)
{
	if (!host)
		return false;
	const char *colon = strrchr(host, ':');
	const char *bracket = strchr(host, ']');
	size_t name_len;
	char bound[64];
	if (!colon || (bracket && colon < bracket)) {
		if (g->port != 80)
			return false; /* no port: not what the URL we print sends */
		name_len = strlen(host);
		/* the bound address without its ":80" */
		snprintf(bound, sizeof(bound), "%s", g->bound_host);
		char *bound_colon = strrchr(bound, ':');
		if (bound_colon)
			*bound_colon = '\0';
		if (strcasecmp(host, bound) == 0)
			return true;
	} else {
		char port[8];
		snprintf(port, sizeof(port), "%u", (unsigned)g->port);
		if (strcmp(colon + 1, port) != 0)
			return false;
		name_len = (size_t)(colon - host);
		if (strcasecmp(host, g->bound_host) == 0)
			return true;
	}
	if (name_len == 9 && strncasecmp(host, "localhost", 9) == 0)
		return true;
	return g->wildcard && is_ip_literal(host, name_len);
}

static const char *bearer_token(const char *auth)
{
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		return auth + 7;
	return NULL;
}

struct ai_serve_decision ai_serve_route(const struct ai_serve_guard *g, const struct ai_serve_request *r)
{
	struct ai_serve_decision d = { AI_SERVE_FORBIDDEN };
	/* Every check is made on the headers, before any body is read. */
	if (!host_allowed(g, r->host))
		return d;
	bool from_query = token_equal(g->token, r->query_token);
	if (!from_query && !token_equal(g->token, r->cookie_token) &&
	    !token_equal(g->token, bearer_token(r->authorization))) {
		d.route = AI_SERVE_UNAUTHORIZED;
		return d;
	}
	if (!r->method || !r->url || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)) {
		d.route = AI_SERVE_NOT_ALLOWED;
		return d;
	}
	if (strcmp(r->url, "/api/snapshot") == 0)
		d.route = AI_SERVE_SNAPSHOT;
	else if (strcmp(r->url, "/api/tasks") == 0)
		d.route = AI_SERVE_TASKS;
	else if (strcmp(r->url, "/api/graph") == 0)
		d.route = AI_SERVE_GRAPH;
	else if (strcmp(r->url, "/api/flamegraph") == 0)
		d.route = AI_SERVE_FLAMEGRAPH;
	else if (strcmp(r->url, "/api/events") == 0)
		d.route = AI_SERVE_EVENTS;
	else if (strcmp(r->url, "/api/source") == 0)
		d.route = AI_SERVE_SOURCE;
	else if ((d.file = ai_web_file(r->url))) {
		d.route = AI_SERVE_FILE;
		/* The token came in the URL: from now on the cookie carries it (scripts cannot read
		 * it, other sites' requests do not carry it). */
		d.set_cookie = from_query;
	} else {
		d.route = AI_SERVE_NOT_FOUND;
	}
	return d;
}
