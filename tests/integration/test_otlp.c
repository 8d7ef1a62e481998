/* `dump --format otlp` and `dump --otlp URL`: OTLP/JSON a tracing backend takes. Debian ships no
 * OpenTelemetry collector nor Jaeger (only Go and Ruby client libraries), so a minimal receiver,
 * tests/otlp_receiver.py, takes the POST and checks the request against the OTLP/JSON schema of
 * ExportTraceServiceRequest (every field's name and type, the ids' hex lengths, parents and links
 * resolving); these tests then check what a user would search for in the backend. Skipped
 * without python3. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

static void setup(void)
{
	require_fixtures();
	if (system("python3 -c 'import http.server, json' >/dev/null 2>&1") != 0)
		cr_skip_test("python3 is not available");
}

TestSuite(otlp, .init = setup, .timeout = 300);

static char *receiver_script(void)
{
	const char *source = getenv("AI_SOURCE");
	return xasprintf("%s/tests/otlp_receiver.py", source ? source : ".");
}

struct receiver {
	pid_t pid;
	int port;
	char report[64]; /* what it received and the errors it found (JSON) */
	char *url;
};

/* Starts the receiver, answering `status` to the one POST it takes. */
static void receiver_start(struct receiver *rc, int status)
{
	strcpy(rc->report, "/tmp/ai-otlp-XXXXXX");
	int fd = mkstemp(rc->report);
	cr_assert(fd >= 0);
	close(fd);
	char *script = receiver_script();
	char status_text[16];
	snprintf(status_text, sizeof(status_text), "%d", status);
	int pipe_fds[2];
	cr_assert(pipe(pipe_fds) == 0);
	pid_t parent = getpid();
	rc->pid = fork();
	cr_assert(rc->pid >= 0);
	if (rc->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(pipe_fds[1], STDOUT_FILENO);
		close(pipe_fds[0]);
		execlp("python3", "python3", "-u", script, "serve", "--out", rc->report, "--status", status_text,
		       (char *)NULL);
		_exit(127);
	}
	close(pipe_fds[1]);
	FILE *out = fdopen(pipe_fds[0], "r");
	cr_assert(out);
	char line[128];
	rc->port = 0;
	bool ready = false;
	while (!ready && fgets(line, sizeof(line), out)) {
		if (strncmp(line, "port ", 5) == 0)
			rc->port = atoi(line + 5);
		ready = strcmp(line, "ready\n") == 0;
	}
	fclose(out);
	cr_assert(ready && rc->port > 0, "the receiver did not start");
	rc->url = xasprintf("http://127.0.0.1:%d/v1/traces", rc->port);
	free(script);
}

/* What the receiver got: the request, after asserting that it found no error in it. */
static json_t *receiver_request(struct receiver *rc)
{
	int status = 0;
	waitpid(rc->pid, &status, 0);
	rc->pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the receiver failed");
	json_error_t error;
	json_t *report = json_load_file(rc->report, 0, &error);
	cr_assert(report, "no report from the receiver: %s", error.text);
	json_t *errors = json_object_get(report, "errors");
	char *text = json_dumps(errors, 0);
	cr_expect_eq(json_array_size(errors), 0, "the receiver found errors in the request: %s", text);
	free(text);
	cr_expect_str_eq(doc_str(report, "content_type"), "application/json");
	json_t *request = json_incref(json_object_get(report, "request"));
	json_decref(report);
	return request;
}

static void receiver_stop(struct receiver *rc)
{
	if (rc->pid > 0) {
		kill(rc->pid, SIGKILL);
		waitpid(rc->pid, NULL, 0);
	}
	unlink(rc->report);
	free(rc->url);
}

/* The AnyValue of attribute key, or NULL. */
static json_t *attribute(json_t *attributes, const char *key)
{
	json_t *kv = doc_item_by_string(attributes, "key", key, 0);
	return kv ? json_object_get(kv, "value") : NULL;
}

static const char *attr_str(json_t *owner, const char *key)
{
	json_t *v = attribute(json_object_get(owner, "attributes"), key);
	return v ? doc_str(v, "stringValue") : "";
}

/* An intValue (a string in OTLP/JSON) as a number; -1 when absent. */
static long long attr_int(json_t *owner, const char *key)
{
	json_t *v = attribute(json_object_get(owner, "attributes"), key);
	const char *text = v ? json_string_value(json_object_get(v, "intValue")) : NULL;
	return text ? atoll(text) : -1;
}

static bool attr_bool(json_t *owner, const char *key)
{
	json_t *v = attribute(json_object_get(owner, "attributes"), key);
	return v && json_is_true(json_object_get(v, "boolValue"));
}

static json_t *spans_of(json_t *resource_spans)
{
	return json_object_get(json_array_get(json_object_get(resource_spans, "scopeSpans"), 0), "spans");
}

/* The span of the task whose root future is `future`. */
static json_t *task_span(json_t *spans, const char *future)
{
	size_t i;
	json_t *s;
	json_array_foreach(spans, i, s) {
		if (!json_object_get(s, "parentSpanId") && strcmp(attr_str(s, "async_inspect.task.future"), future) == 0)
			return s;
	}
	return NULL;
}

/* Whether span `id` descends from span `ancestor`. */
static bool descends(json_t *spans, const char *id, const char *ancestor)
{
	for (int depth = 0; depth < 1000; depth++) {
		json_t *span = doc_item_by_string(spans, "spanId", id, 0);
		if (!span)
			return false;
		const char *parent = json_string_value(json_object_get(span, "parentSpanId"));
		if (!parent)
			return false;
		if (strcmp(parent, ancestor) == 0)
			return true;
		id = parent;
	}
	return false;
}

/* A span below task span `task` whose code.lineno is line. */
static json_t *frame_at_line(json_t *spans, json_t *task, long long line)
{
	const char *task_id = doc_str(task, "spanId");
	size_t i;
	json_t *s;
	json_array_foreach(spans, i, s) {
		if (attr_int(s, "code.lineno") == line && descends(spans, doc_str(s, "spanId"), task_id))
			return s;
	}
	return NULL;
}

/* deadlock_abba: task_a holds lock1 and waits for lock2 at its marker, held by task_b, which
 * waits for lock1: both in one deadlock, each linked to the other as the holder. */
static void expect_abba(json_t *request, pid_t pid)
{
	json_t *rs = json_array_get(json_object_get(request, "resourceSpans"), 0);
	json_t *resource = json_object_get(rs, "resource");
	cr_expect_str_eq(attr_str(resource, "service.name"), "deadlock_abba");
	cr_expect_eq(attr_int(resource, "process.pid"), pid);
	cr_expect_str_eq(attr_str(resource, "async_inspect.runtime.name"), "tokio");
	json_t *scope = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "scope");
	cr_expect_str_eq(doc_str(scope, "name"), "async-inspect");
	json_t *spans = spans_of(rs);
	json_t *a = task_span(spans, "deadlock_abba::task_a"), *b = task_span(spans, "deadlock_abba::task_b");
	cr_assert(a && b, "a span for task_a and for task_b");
	int lock2 = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock2");
	json_t *frame = frame_at_line(spans, a, lock2);
	cr_assert(frame, "a span of task_a at deadlock_abba.rs:%d", lock2);
	cr_expect_str_eq(attr_str(frame, "code.function"), "deadlock_abba::task_a");
	cr_expect(strstr(attr_str(frame, "code.filepath"), "deadlock_abba.rs"), "%s", attr_str(frame, "code.filepath"));
	cr_expect_null(frame_at_line(spans, b, lock2), "task_b is not parked there");
	cr_expect_str_eq(attr_str(a, "async_inspect.wait.kind"), "mutex");
	cr_expect_eq(attr_int(a, "async_inspect.wait.holder.task_id"), attr_int(b, "async_inspect.task.id"));
	cr_expect_eq(attr_int(b, "async_inspect.wait.holder.task_id"), attr_int(a, "async_inspect.task.id"));
	cr_expect(attr_bool(a, "async_inspect.deadlock") && attr_bool(b, "async_inspect.deadlock"));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(a, "status"), "code")), 2, "error status");
	json_t *link = json_array_get(json_object_get(a, "links"), 0);
	cr_expect_str_eq(doc_str(link, "spanId"), doc_str(b, "spanId"), "task_a links to its holder");
	cr_expect_str_eq(doc_str(link, "traceId"), doc_str(a, "traceId"));
}

static char *pid_text(const struct fixture *f)
{
	return xasprintf("%d", (int)f->pid);
}

Test(otlp, post_to_a_collector)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "deadlock_abba", NULL);
	struct receiver rc;
	receiver_start(&rc, 200);
	char *pid = pid_text(&f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--otlp", rc.url, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "exported 3 tasks of 1 process to "), "%s", r.out);
	json_t *request = receiver_request(&rc);
	expect_abba(request, f.pid);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left running");
	cr_expect_eq(tracer_pid(f.pid), 0, "not traced");
	json_decref(request);
	tool_result_free(&r);
	receiver_stop(&rc);
	free(pid);
	fixture_kill(&f);
}

/* --format otlp prints the same request; the receiver's checks pass on the file. */
Test(otlp, format_otlp_to_a_file)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "deadlock_abba", NULL);
	char *pid = pid_text(&f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "otlp", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_eq(count_substr(r.out, "\n"), 1, "compact: one line");
	char path[] = "/tmp/ai-otlp-file-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, r.out, strlen(r.out)), (ssize_t)strlen(r.out));
	close(fd);
	char *script = receiver_script();
	char *check = xasprintf("python3 %s check %s", script, path);
	cr_expect_eq(system(check), 0, "the receiver's checks pass on the file");
	json_t *request = doc_parse(r.out, "dump --format otlp");
	expect_abba(request, f.pid);
	json_decref(request);
	unlink(path);
	free(check);
	free(script);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* Several processes: one resourceSpans each, in one trace. */
Test(otlp, several_processes)
{
	struct fixture a, b;
	fixture_start(&a, "tokio-1.54", "deadlock_abba", NULL);
	fixture_start(&b, "tokio-1.54", "nested", NULL);
	struct receiver rc;
	receiver_start(&rc, 200);
	char *pa = pid_text(&a), *pb = pid_text(&b);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pa, "--pid", pb, "--otlp", rc.url, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "of 2 processes to "), "%s", r.out);
	json_t *request = receiver_request(&rc);
	json_t *all = json_object_get(request, "resourceSpans");
	cr_assert_eq(json_array_size(all), 2);
	expect_abba(request, a.pid);
	json_t *second = json_array_get(all, 1);
	cr_expect_str_eq(attr_str(json_object_get(second, "resource"), "service.name"), "nested");
	cr_expect_eq(attr_int(json_object_get(second, "resource"), "process.pid"), b.pid);
	json_t *s0 = json_array_get(spans_of(json_array_get(all, 0)), 0), *s1 = json_array_get(spans_of(second), 0);
	cr_assert(s0 && s1);
	cr_expect_str_eq(doc_str(s0, "traceId"), doc_str(s1, "traceId"), "one trace");
	cr_expect_eq(process_settles_in(a.pid, 'S'), 'S');
	cr_expect_eq(process_settles_in(b.pid, 'S'), 'S');
	json_decref(request);
	tool_result_free(&r);
	receiver_stop(&rc);
	free(pa);
	free(pb);
	fixture_kill(&a);
	fixture_kill(&b);
}

/* A core file: the same spans, the executable's name as the service. */
Test(otlp, from_a_core_file)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "deadlock_abba", NULL);
	struct core_file core;
	core_dump(&core, &f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", core.path, "--exe", f.path, "--format", "otlp", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *request = doc_parse(r.out, "dump --core --format otlp");
	json_t *rs = json_array_get(json_object_get(request, "resourceSpans"), 0);
	cr_expect_str_eq(attr_str(json_object_get(rs, "resource"), "service.name"), "deadlock_abba");
	cr_expect_str_eq(attr_str(json_object_get(rs, "resource"), "async_inspect.core"), core.path);
	json_t *spans = spans_of(rs);
	json_t *a = task_span(spans, "deadlock_abba::task_a");
	cr_assert(a);
	int lock2 = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock2");
	cr_expect(frame_at_line(spans, a, lock2), "a span of task_a at line %d", lock2);
	json_decref(request);
	tool_result_free(&r);
	core_remove(&core);
	fixture_kill(&f);
}

/* A port nobody listens on: one line of error, exit 1, the target running and not traced. */
Test(otlp, unreachable_collector)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "deadlock_abba", NULL);
	/* A port just free: bound, then closed. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	cr_assert(bind(s, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	cr_assert(getsockname(s, (struct sockaddr *)&addr, &len) == 0);
	close(s);
	char *url = xasprintf("http://127.0.0.1:%d/v1/traces", ntohs(addr.sin_port));
	char *pid = pid_text(&f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--otlp", url, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
	cr_expect(strstr(r.err, url) && strstr(r.err, "failed"), "%s", r.err);
	cr_expect_str_eq(r.out, "");
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left running");
	cr_expect_eq(tracer_pid(f.pid), 0, "not traced");
	tool_result_free(&r);
	free(url);
	free(pid);
	fixture_kill(&f);
}

/* A collector that rejects the request: its status and the start of its answer, on one line. */
Test(otlp, collector_answers_400)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "deadlock_abba", NULL);
	struct receiver rc;
	receiver_start(&rc, 400);
	char *pid = pid_text(&f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--otlp", rc.url, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
	cr_expect(strstr(r.err, "HTTP 400") && strstr(r.err, "spans rejected by the test"), "%s", r.err);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left running");
	json_t *request = receiver_request(&rc);
	json_decref(request);
	tool_result_free(&r);
	receiver_stop(&rc);
	free(pid);
	fixture_kill(&f);
}

Test(otlp, usage_errors)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--otlp", "collector:4318", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	cr_expect(strstr(r.err, "http://"), "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--format", "otlp", "--graph", "dot", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	tool_result_free(&r);
}
