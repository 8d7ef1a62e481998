/* `serve`'s HTTP server over libmicrohttpd: the security checks every request goes through, the
 * routes, and the published documents that requests read (see include/ai/serve.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ai/frontend.h"
#include "ai/peers.h"
#include "ai/profile.h"
#include "ai/serve.h"
#include "ai/util.h"

#define TOKEN_BYTES 16 /* 128 bits */
#define TOKEN_HEX (TOKEN_BYTES * 2)
/* Limits: a request's headers must fit in the connection's memory (larger ones get 431 from
 * libmicrohttpd), few clients at once, and idle connections are closed. */
#define CONNECTION_MEMORY (32 * 1024)
#define MAX_CONNECTIONS 32
#define MAX_PER_IP 16
#define CONNECTION_TIMEOUT_S 30
#define THREADS 2
/* Event streams at once (each holds a connection for as long as its page is open), and the
 * largest source file /api/source sends. */
#define MAX_STREAMS 8
#define MAX_SOURCE_BYTES (8 * 1024 * 1024)

/* No inline script or style: the page's code is served as files of our own origin. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* One published document, shared by the requests that send it (reference counted). */
struct doc {
	atomic_int refs;
	const char *content_type; /* static */
	size_t len;
	char *data;               /* owned (malloc'd, e.g. by open_memstream) */
};

/* DOC_FLAME: /api/flamegraph, serve --profile's samples of the last seconds (or why there are
 * none), built here on the sampling thread at every publish. */
/* DOC_EVENT: the task table (DOC_TASKS) as one Server-Sent Event; DOC_CHANGES: the rows of it
 * that changed since the sample before, as one event (NULL when there is none); DOC_SOURCES: the files its await trees name,
 * sorted, each ending in '\0' (what /api/source may send). */
enum { DOC_SNAPSHOT, DOC_TASKS, DOC_GRAPH, DOC_EVENT, DOC_CHANGES, DOC_SOURCES, DOC_FLAME, DOC_COUNT };

/* One client of /api/events. Its connection is suspended while it has sent the latest event,
 * and resumed by the next publish (or by the stop). */
struct stream {
	struct ai_server *server;
	struct MHD_Connection *connection;
	struct stream *prev, *next; /* the server's list (its lock) */
	bool suspended;             /* (the server's lock) */
	uint64_t sent;              /* the sequence number of the last event taken */
	struct doc *doc;            /* the event being sent, NULL between events */
	size_t offset;
};

struct ai_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	uint16_t port;
	bool loopback;
	bool wildcard;          /* bound to 0.0.0.0 or :: */
	char bound_host[64];    /* "127.0.0.1:P" or "[::1]:P" */
	char token[TOKEN_HEX + 1];
	char cookie_name[32];   /* per port: cookies are not told apart by port */
	char *url;
	pthread_mutex_t lock;   /* guards docs, event_seq, streams, stream_count, stopping */
	struct doc *docs[DOC_COUNT];
	uint64_t event_seq;     /* counts the snapshots published (DOC_EVENT's) */
	struct ai_serve_tasks table; /* the last published task table (the sampling thread's) */
	struct stream *streams;
	size_t stream_count;
	bool stopping;
};

/* Takes data. */
static struct doc *doc_new(const char *content_type, char *data, size_t len)
{
	struct doc *d = xmalloc(sizeof(*d));
	atomic_init(&d->refs, 1);
	d->content_type = content_type;
	d->len = len;
	d->data = data;
	return d;
}

static void doc_unref(void *arg)
{
	struct doc *d = arg;
	if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
		free(d->data);
		free(d);
	}
}

/* ---- Publishing (the sampling thread) ---- */

static struct doc *doc_from_stream(const char *content_type, void (*write)(FILE *, const struct ai_snapshot *),
				   const struct ai_snapshot *snapshot)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	write(f, snapshot);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return doc_new(content_type, buf, len);
}

static void write_snapshot(FILE *f, const struct ai_snapshot *snapshot)
{
	ai_print_dump_json(f, snapshot, false);
}

/* "event: NAME\ndata: JSON\n\n" (takes json): the compact JSON has no newline but its last. An
 * event is the task table, not the snapshot: a page needs every await tree and local only for
 * the task it opens, which it fetches (at 20,000 tasks the table is 8 MB, the snapshot 31 MB). */
static struct doc *event_from_json(const char *name, char *json, size_t n)
{
	while (n > 0 && json[n - 1] == '\n')
		n--;
	if (memchr(json, '\n', n)) {
		free(json);
		return NULL;
	}
	char *data = xasprintf("event: %s\ndata: %.*s\n\n", name, (int)n, json);
	free(json);
	return doc_new("text/event-stream", data, strlen(data));
}

struct paths {
	const char **items;
	size_t count, capacity;
};

static void paths_add(struct paths *p, const char *path)
{
	if (!path || !*path)
		return;
	if (p->count == p->capacity) {
		p->capacity = p->capacity ? 2 * p->capacity : 64;
		p->items = xrealloc(p->items, p->capacity * sizeof(*p->items));
	}
	p->items[p->count++] = path;
}

static void tree_files(struct paths *p, const struct ai_await_node *node)
{
	paths_add(p, node->file);
	paths_add(p, node->macro_file);
	for (size_t i = 0; i < node->child_count; i++)
		tree_files(p, &node->children[i]);
}

static int compare_paths(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The files the await trees of the snapshots name, sorted and each once, as "PATH\0PATH\0". */
static struct doc *sources_of(const struct ai_snapshot *const *snapshots, size_t count)
{
	struct paths p = { 0 };
	for (size_t k = 0; k < count; k++)
		for (size_t i = 0; i < snapshots[k]->task_count; i++)
			tree_files(&p, &snapshots[k]->tasks[i].tree);
	if (p.count)
		qsort(p.items, p.count, sizeof(*p.items), compare_paths);
	size_t len = 0;
	for (size_t i = 0; i < p.count; i++)
		if (i == 0 || strcmp(p.items[i], p.items[i - 1]) != 0)
			len += strlen(p.items[i]) + 1;
	char *data = xmalloc(len + 1);
	size_t at = 0;
	for (size_t i = 0; i < p.count; i++) {
		if (i > 0 && strcmp(p.items[i], p.items[i - 1]) == 0)
			continue;
		size_t n = strlen(p.items[i]) + 1;
		memcpy(data + at, p.items[i], n);
		at += n;
	}
	free(p.items);
	return doc_new("text/plain", data, len);
}

static void publish_docs(struct ai_server *s, struct doc **fresh, struct ai_serve_tasks table, bool snapshot);

static struct doc *flame_doc(const struct ai_serve_status *status)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	if (status->profile)
		ai_live_profile_write_flame(f, status->profile);
	else
		ai_live_flame_write_unavailable(f, status->no_profile ? status->no_profile
				: "no CPU samples: start serve with --profile (on a live program: --pid or --) "
				  "for a flamegraph");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return doc_new("application/json", buf, len);
}

void ai_server_publish(struct ai_server *s, const struct ai_live *live, const struct ai_serve_status *status)
{
	struct doc *fresh[DOC_COUNT] = { NULL };
	const struct ai_snapshot *snapshot = ai_live_snapshot(live, 0);
	if (snapshot) {
		fresh[DOC_SNAPSHOT] = doc_from_stream("application/json", write_snapshot, snapshot);
		fresh[DOC_GRAPH] = doc_from_stream("text/vnd.graphviz; charset=utf-8", ai_print_graph_dot, snapshot);
		fresh[DOC_SOURCES] = sources_of(&snapshot, 1);
	}
	fresh[DOC_FLAME] = flame_doc(status);
	struct ai_serve_tasks table;
	ai_serve_tasks_build(live, status, &s->table, &table);
	publish_docs(s, fresh, table, snapshot != NULL);
}

/* The "async-inspect-processes" document of the set (dump --pid A --pid B's JSON). */
static struct doc *processes_doc(const struct ai_process_set *set)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	int r = ai_print_processes_json(f, set, false);
	if (fclose(f) != 0 || r != 0) {
		free(buf);
		return NULL;
	}
	return doc_new("application/json", buf, len);
}

static struct doc *processes_graph_doc(const struct ai_process_set *set)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	ai_print_processes_graph_dot(f, set);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return doc_new("text/vnd.graphviz; charset=utf-8", buf, len);
}

/* Several processes' flamegraph: a root frame per process, or why it has none. */
static struct doc *set_flame_doc(const struct ai_live_set *set, const struct ai_serve_status *status)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	int *pids = xcalloc(set->count ? set->count : 1, sizeof(*pids));
	const char **commands = xcalloc(set->count ? set->count : 1, sizeof(*commands));
	for (size_t p = 0; p < set->count; p++) {
		pids[p] = set->members[p].pid;
		commands[p] = set->members[p].command;
	}
	ai_live_profile_write_flames(f, status->profiles, status->no_profiles, pids, commands, set->count);
	free(pids);
	free(commands);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return doc_new("application/json", buf, len);
}

void ai_server_publish_set(struct ai_server *s, const struct ai_live_set *set, const struct ai_serve_status *status)
{
	struct doc *fresh[DOC_COUNT] = { NULL };
	/* The latest sample's snapshots, linked, with the cycles across them (the set keeps them). */
	const struct ai_process_set *latest = &set->latest;
	if (latest->count) {
		fresh[DOC_SNAPSHOT] = processes_doc(latest);
		fresh[DOC_GRAPH] = processes_graph_doc(latest);
		fresh[DOC_SOURCES] = sources_of((const struct ai_snapshot *const *)latest->snapshots, latest->count);
	}
	fresh[DOC_FLAME] = status->profiles ? set_flame_doc(set, status) : flame_doc(status);
	struct ai_serve_tasks table;
	ai_serve_tasks_build_set(set, status, &s->table, &table);
	publish_docs(s, fresh, table, latest->count > 0);
}

static void publish_docs(struct ai_server *s, struct doc **fresh, struct ai_serve_tasks table, bool snapshot)
{
	char *tasks = xmalloc(table.len);
	memcpy(tasks, table.json, table.len);
	fresh[DOC_TASKS] = doc_new("application/json", tasks, table.len);
	if (snapshot) {
		fresh[DOC_EVENT] = event_from_json("tasks", table.json, table.len);
		table.json = NULL;
		if (table.changes)
			fresh[DOC_CHANGES] = event_from_json("changes", table.changes, table.changes_len);
		table.changes = NULL;
	}
	ai_serve_tasks_release(&s->table);
	s->table = table;
	struct doc *old[DOC_COUNT];
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < DOC_COUNT; i++) {
		old[i] = s->docs[i];
		/* A document that could not be built keeps its last good version; the changes are
		 * from the sample before only. */
		s->docs[i] = fresh[i] || i == DOC_CHANGES ? fresh[i] : old[i];
		if (!fresh[i] && i != DOC_CHANGES)
			old[i] = NULL;
	}
	if (fresh[DOC_EVENT]) {
		s->event_seq++;
		/* Resuming only flags the connection for libmicrohttpd's threads: the stream's
		 * callback sends the event there, however slow its client. */
		for (struct stream *st = s->streams; st; st = st->next) {
			if (st->suspended) {
				st->suspended = false;
				MHD_resume_connection(st->connection);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < DOC_COUNT; i++)
		doc_unref(old[i]);
}

static struct doc *doc_get(struct ai_server *s, int which)
{
	pthread_mutex_lock(&s->lock);
	struct doc *d = s->docs[which];
	if (d)
		atomic_fetch_add(&d->refs, 1);
	pthread_mutex_unlock(&s->lock);
	return d;
}

/* ---- Checks ---- */

/* ---- Responses ---- */

static void add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* The first URL carries the token: never send it elsewhere. */
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
}

static enum MHD_Result send_response(struct MHD_Connection *c, unsigned int code, struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	add_security_headers(r);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned int code, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"async-inspect\"");
	return send_response(c, code, r);
}

static enum MHD_Result send_doc(struct MHD_Connection *c, struct ai_server *s, int which)
{
	struct doc *d = doc_get(s, which);
	if (!d)
		return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot yet\n");
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(d->len, d->data, doc_unref, d);
	if (!r) {
		doc_unref(d);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, d->content_type);
	return send_response(c, MHD_HTTP_OK, r);
}

static enum MHD_Result send_file(struct MHD_Connection *c, const struct ai_web_file *file, const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(file->len, (void *)file->data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, file->content_type);
	if (cookie)
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	return send_response(c, MHD_HTTP_OK, r);
}

/* ---- /api/events ---- */

/* Called by libmicrohttpd when the connection can take more: the rest of the event being sent,
 * else the latest published one if the client has not had it (only the changed rows when it had
 * the one before, else the whole table), else the connection is suspended until the next
 * publish. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	struct ai_server *s = st->server;
	if (!st->doc) {
		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		struct doc *d = s->docs[DOC_EVENT];
		if (st->sent && st->sent + 1 == s->event_seq && s->docs[DOC_CHANGES])
			d = s->docs[DOC_CHANGES];
		if (!d || st->sent == s->event_seq) {
			st->suspended = true;
			MHD_suspend_connection(st->connection);
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
		atomic_fetch_add(&d->refs, 1);
		st->doc = d;
		st->offset = 0;
		st->sent = s->event_seq;
		pthread_mutex_unlock(&s->lock);
	}
	size_t n = st->doc->len - st->offset;
	if (n > max)
		n = max;
	memcpy(buf, st->doc->data + st->offset, n);
	st->offset += n;
	if (st->offset == st->doc->len) {
		doc_unref(st->doc);
		st->doc = NULL;
	}
	return (ssize_t)n;
}

/* The response is done with: the client went, or the server stops. */
static void stream_free(void *cls)
{
	struct stream *st = cls;
	struct ai_server *s = st->server;
	pthread_mutex_lock(&s->lock);
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	s->stream_count--;
	pthread_mutex_unlock(&s->lock);
	doc_unref(st->doc);
	free(st);
}

static enum MHD_Result send_events(struct MHD_Connection *c, struct ai_server *s)
{
	pthread_mutex_lock(&s->lock);
	bool full = s->stopping || s->stream_count >= MAX_STREAMS;
	if (!full)
		s->stream_count++;
	pthread_mutex_unlock(&s->lock);
	if (full)
		return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams: poll /api/tasks\n");
	struct stream *st = xcalloc(1, sizeof(*st));
	st->server = s;
	st->connection = c;
	/* From here the response owns st: stream_free runs when it goes. */
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
	pthread_mutex_lock(&s->lock);
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	s->streams = st;
	pthread_mutex_unlock(&s->lock);
	if (!r) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	return send_response(c, MHD_HTTP_OK, r);
}

/* ---- /api/source ---- */

static bool named_source(struct ai_server *s, const char *path)
{
	struct doc *d = doc_get(s, DOC_SOURCES);
	bool found = false;
	for (size_t at = 0; d && !found && at < d->len; at += strlen(d->data + at) + 1)
		found = strcmp(d->data + at, path) == 0;
	doc_unref(d);
	return found;
}

/* A source file, only when the snapshot's await trees name it exactly: no other path is ever
 * opened (a ../ or another file is not in the list). */
static enum MHD_Result send_source(struct MHD_Connection *c, struct ai_server *s)
{
	const char *path = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "file");
	if (!path || !named_source(s, path))
		return send_text(c, MHD_HTTP_NOT_FOUND, "not found: no frame of this snapshot is in that file\n");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_SOURCE_BYTES) {
		if (fd >= 0)
			close(fd);
		return send_text(c, MHD_HTTP_NOT_FOUND, "not found: that source file cannot be read here\n");
	}
	struct MHD_Response *r = MHD_create_response_from_fd((size_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	return send_response(c, MHD_HTTP_OK, r);
}

/* ---- Routes ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **request)
{
	struct ai_server *s = cls;
	struct ai_serve_guard guard = { s->token, s->port, s->bound_host, s->wildcard };
	struct ai_serve_request r = {
		.method = method,
		.url = url,
		.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
		.query_token = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token"),
		.cookie_token = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, s->cookie_name),
		.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
	};
	struct ai_serve_decision d = ai_serve_route(&guard, &r);
	char cookie[128];
	switch (d.route) {
	case AI_SERVE_FORBIDDEN:
		return send_text(c, MHD_HTTP_FORBIDDEN, "forbidden: the Host header is not this server's address\n");
	case AI_SERVE_UNAUTHORIZED:
		return send_text(c, MHD_HTTP_UNAUTHORIZED,
				 "unauthorized: open the URL that async-inspect serve printed (it has ?token=)\n");
	case AI_SERVE_NOT_ALLOWED:
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: this server is read-only\n");
	case AI_SERVE_SNAPSHOT:
		return send_doc(c, s, DOC_SNAPSHOT);
	case AI_SERVE_TASKS:
		return send_doc(c, s, DOC_TASKS);
	case AI_SERVE_GRAPH:
		return send_doc(c, s, DOC_GRAPH);
	case AI_SERVE_FLAMEGRAPH:
		return send_doc(c, s, DOC_FLAME);
	case AI_SERVE_EVENTS:
		return send_events(c, s);
	case AI_SERVE_SOURCE:
		return send_source(c, s);
	case AI_SERVE_FILE:
		snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict", s->cookie_name, s->token);
		return send_file(c, d.file, d.set_cookie ? cookie : NULL);
	case AI_SERVE_NOT_FOUND:
		break;
	}
	return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ---- Start and stop ---- */

static struct ai_error *parse_bind(const char *bind, struct sockaddr_storage *addr, socklen_t *len_ret,
				   bool *loopback_ret, bool *wildcard_ret)
{
	memset(addr, 0, sizeof(*addr));
	struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", bind);
	size_t n = strlen(buf);
	char *text = buf;
	if (n > 2 && buf[0] == '[' && buf[n - 1] == ']') {
		buf[n - 1] = '\0';
		text = buf + 1;
	}
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		*len_ret = sizeof(*v4);
		uint32_t a = ntohl(v4->sin_addr.s_addr);
		*loopback_ret = (a >> 24) == 127;
		*wildcard_ret = a == 0;
		return NULL;
	}
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		*len_ret = sizeof(*v6);
		*loopback_ret = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
		*wildcard_ret = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
		return NULL;
	}
	return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--bind '%s' is not an IPv4 or IPv6 address", bind);
}

struct ai_error *ai_server_start(const struct ai_server_options *options, struct ai_server **ret)
{
	const char *bind_text = options->bind ? options->bind : "127.0.0.1";
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool loopback = false, wildcard = false;
	struct ai_error *err = parse_bind(bind_text, &addr, &addr_len, &loopback, &wildcard);
	if (err)
		return err;
	int family = addr.ss_family;
	if (family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons(options->port);
	else
		((struct sockaddr_in6 *)&addr)->sin6_port = htons(options->port);

	/* Our own socket: a clear error when the address is taken, and the port of a free one. */
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ai_error_from_errno(errno, "socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0 || listen(fd, 64) != 0) {
		int errnum = errno;
		close(fd);
		return ai_error_from_errno(errnum, "cannot listen on %s port %u", bind_text, (unsigned)options->port);
	}
	socklen_t got_len = sizeof(addr);
	getsockname(fd, (struct sockaddr *)&addr, &got_len);
	uint16_t port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
						: ((struct sockaddr_in6 *)&addr)->sin6_port);

	unsigned char random[TOKEN_BYTES];
	size_t have = 0;
	while (have < sizeof(random)) {
		ssize_t n = getrandom(random + have, sizeof(random) - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errnum = errno;
			close(fd);
			return ai_error_from_errno(errnum, "getrandom");
		}
		have += (size_t)n;
	}

	struct ai_server *s = xcalloc(1, sizeof(*s));
	s->listen_fd = fd;
	s->port = port;
	s->loopback = loopback;
	s->wildcard = wildcard;
	for (size_t i = 0; i < TOKEN_BYTES; i++)
		snprintf(s->token + 2 * i, 3, "%02x", random[i]);
	snprintf(s->cookie_name, sizeof(s->cookie_name), "ai_token_%u", (unsigned)port);
	char host[INET6_ADDRSTRLEN] = "";
	if (family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof(host));
	snprintf(s->bound_host, sizeof(s->bound_host), family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 (unsigned)port);
	/* A wildcard address is not one a browser can open: print loopback's. */
	if (wildcard)
		s->url = xasprintf("http://%s:%u/?token=%s", family == AF_INET6 ? "[::1]" : "127.0.0.1",
				   (unsigned)port, s->token);
	else
		s->url = xasprintf("http://%s/?token=%s", s->bound_host, s->token);
	pthread_mutex_init(&s->lock, NULL);

	/* The server's threads inherit this mask: signals are for the sampling thread. */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	s->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | (family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
		on_request, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)THREADS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)MAX_PER_IP, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (s->daemon)
		s->listen_fd = -1; /* the daemon's now: MHD_stop_daemon closes it */
	if (!s->daemon) {
		ai_server_stop(s);
		return ai_error_create(AI_ERROR_OTHER, "libmicrohttpd could not start the server on %s", s->bound_host);
	}
	*ret = s;
	return NULL;
}

void ai_server_stop(struct ai_server *s)
{
	if (!s)
		return;
	/* No connection may stay suspended through MHD_stop_daemon: the streams end. */
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	for (struct stream *st = s->streams; st; st = st->next) {
		if (st->suspended) {
			st->suspended = false;
			MHD_resume_connection(st->connection);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	for (int i = 0; i < DOC_COUNT; i++)
		doc_unref(s->docs[i]);
	ai_serve_tasks_release(&s->table);
	pthread_mutex_destroy(&s->lock);
	free(s->url);
	free(s);
}

const char *ai_server_url(const struct ai_server *s)
{
	return s->url;
}

uint16_t ai_server_port(const struct ai_server *s)
{
	return s->port;
}

bool ai_server_is_loopback(const struct ai_server *s)
{
	return s->loopback;
}

extern const struct ai_web_file ai_web_files[];
extern const size_t ai_web_file_count;

const struct ai_web_file *ai_web_file(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (size_t i = 0; i < ai_web_file_count; i++) {
		if (strcmp(ai_web_files[i].path, path) == 0)
			return &ai_web_files[i];
	}
	return NULL;
}
