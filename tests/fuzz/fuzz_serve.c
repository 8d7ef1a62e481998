/* Fuzz harness: `serve`'s checks and routes of a request (src/serve/route.c). The input's lines
 * are the method, the URL, the Host header, ?token=, our cookie's value and the Authorization
 * header (a missing line: the request lacks it); a seventh line, if any, makes the bind a
 * wildcard one. Besides not crashing, the decision must keep the promises of serve.h: nothing
 * past 401 without the token, nothing past 403 without an allowed Host, only GET and HEAD. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ai/serve.h"
#include "ai/util.h"
#include "fuzz.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

int ai_fuzz_serve(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	const char *fields[7] = { 0 };
	char *p = text;
	for (size_t i = 0; i < AI_ARRAY_SIZE(fields) && p; i++) {
		fields[i] = p;
		if ((p = strchr(p, '\n')))
			*p++ = '\0';
	}
	struct ai_serve_guard guard = { TOKEN, 8080, "127.0.0.1:8080", fields[6] != NULL };
	struct ai_serve_request r = { fields[0], fields[1], fields[2], fields[3], fields[4], fields[5] };
	struct ai_serve_decision d = ai_serve_route(&guard, &r);
	bool token = is(r.query_token, TOKEN) || is(r.cookie_token, TOKEN) ||
		     (r.authorization && strncasecmp(r.authorization, "Bearer ", 7) == 0 && is(r.authorization + 7, TOKEN));
	bool host = r.host && (strcasecmp(r.host, "localhost:8080") == 0 || strcmp(r.host, "127.0.0.1:8080") == 0);
	if (d.route > AI_SERVE_UNAUTHORIZED && !token)
		abort(); /* served without the token */
	if (d.route > AI_SERVE_FORBIDDEN && !host && !guard.wildcard)
		abort(); /* a name that is not ours passed the Host check */
	if (d.route > AI_SERVE_NOT_ALLOWED && !is(r.method, "GET") && !is(r.method, "HEAD"))
		abort();
	if (d.set_cookie && !is(r.query_token, TOKEN))
		abort();
	free(text);
	return 0;
}
