/* One DAP session: the requests of the editor, the events we send, and the life of the target.
 *
 * The target runs until the editor pauses it (or, for attach, at once: stopOnEntry defaults to
 * true there, so the editor shows every task as soon as it attaches). A pause stops every thread
 * and takes a snapshot of the stopped process (AI_CAPTURE_KEEP_STOPPED): threads, stacks and
 * variables then all come from that snapshot, which is exactly the state the process is held in
 * until continue. One loop polls the client, SIGCHLD (through a signalfd: the target's ptrace
 * events must be handled while it runs) and a launched program's output. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/dap.h"
#include "ai/frontend.h"
#include "ai/util.h"
#include "dap_internal.h"

/* The value printer's limits for the editor's snapshots (else dump's): items per list, bytes of
 * each value's text. */
#define DAP_MAX_ITEMS 1000
#define DAP_MAX_OUTPUT (256 * 1024)

struct session {
	struct dap_conn conn;
	struct ai_target *target;     /* owned, or NULL */
	struct ai_capture *capture;   /* owned, or NULL */
	struct ai_async_options async_options;
	struct ai_snapshot *snapshot; /* owned: what the model shows, or NULL */
	struct ai_dap_model *model;   /* owned, or NULL */
	struct ai_dap_ids *ids;       /* owned */
	struct dap_breakpoints *bps;  /* owned: the editor's breakpoints, and next's */
	json_int_t step_thread;       /* next: the thread (task) it steps */
	int sigchld_fd;
	int output_fds[2];            /* a launched program's stdout and stderr, or -1 */
	bool started;                 /* attach or launch succeeded */
	bool configured;              /* configurationDone came */
	bool stop_on_entry, entry_done;
	bool paused;                  /* the editor sees it stopped; a live target is held stopped */
	bool launched, core;
	bool held;                    /* launched, held at its exec until configurationDone */
	bool terminated;              /* the terminated event was sent */
	bool done;                    /* disconnect: end the session */
	bool lines_start_at_1;
};

static struct ai_error *send_output(struct session *s, const char *category, const char *text, size_t len)
{
	json_t *jtext = json_stringn(text, len);
	if (!jtext) {
		/* Not UTF-8 (or cut inside a character): the bytes that are not ASCII become '?'. */
		char *copy = xstrndup(text, len);
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)copy[i] >= 0x80 || copy[i] == '\0')
				copy[i] = '?';
		jtext = json_stringn(copy, len);
		free(copy);
	}
	json_t *body = json_object();
	json_object_set_new(body, "category", json_string(category));
	json_object_set_new(body, "output", jtext ? jtext : json_string(""));
	return dap_event(&s->conn, "output", body);
}

static struct ai_error *send_console(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct ai_error *send_console(struct session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	struct ai_error *err = text ? send_output(s, "console", text, strlen(text)) : NULL;
	free(text);
	return err;
}

static void drop_snapshot(struct session *s)
{
	ai_dap_model_destroy(s->model);
	ai_snapshot_destroy(s->snapshot);
	s->model = NULL;
	s->snapshot = NULL;
}

static void close_target(struct session *s)
{
	drop_snapshot(s);
	json_decref(dap_breakpoints_set_target(s->bps, NULL));
	ai_capture_destroy(s->capture);
	ai_target_destroy(s->target);
	s->capture = NULL;
	s->target = NULL;
	s->paused = false;
}

static struct ai_error *send_terminated(struct session *s)
{
	if (s->terminated)
		return NULL;
	s->terminated = true;
	return dap_event(&s->conn, "terminated", NULL);
}

/* The target is gone: say how it ended, then that the session is over. */
static struct ai_error *on_target_exit(struct session *s, int status)
{
	close_target(s);
	json_t *body = json_object();
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 0;
	json_object_set_new(body, "exitCode", json_integer(code));
	struct ai_error *err = dap_event(&s->conn, "exited", body);
	if (!err)
		err = send_terminated(s);
	return err;
}

static struct ai_error *tell_snapshot(struct session *s);

/* A new snapshot for the model. `stop`: one the editor stops at, whose warnings and deadlocks it
 * is told of. */
static struct ai_error *take_snapshot(struct session *s, enum ai_capture_release release, bool stop)
{
	struct ai_snapshot *snapshot;
	struct ai_error *err = ai_capture_dump(s->capture, release, &s->async_options, &snapshot);
	if (err)
		return err;
	drop_snapshot(s);
	s->snapshot = snapshot;
	s->model = ai_dap_model_create(snapshot, s->ids);
	return stop ? tell_snapshot(s) : NULL;
}

/* What the editor is told of a snapshot it stops at: its warnings and deadlocks. */
static struct ai_error *tell_snapshot(struct session *s)
{
	const struct ai_snapshot *snapshot = s->snapshot;
	struct ai_error *err = NULL;
	for (size_t i = 0; !err && i < snapshot->warning_count; i++)
		err = send_console(s, "async-inspect: warning: %s\n", snapshot->warnings[i]);
	for (size_t i = 0; !err && i < snapshot->runtime_count; i++)
		if (!snapshot->runtimes[i].decoded)
			err = send_console(s, "async-inspect: error: %s is used by process %d, but its tasks could not be decoded (the warnings say why)\n",
					   snapshot->runtimes[i].name, (int)snapshot->pid);
	json_t *deadlocks = ai_dap_model_deadlocks(s->model);
	if (!err && deadlocks)
		err = dap_event(&s->conn, "asyncInspect/deadlock", deadlocks);
	else
		json_decref(deadlocks);
	return err;
}

/* The stopped event: every thread stopped, thread (0: none) the one to show, hit_id the
 * breakpoint hit (0: none). */
static struct ai_error *send_stopped(struct session *s, const char *reason, json_int_t thread, json_int_t hit_id,
				     const char *description)
{
	json_t *body = json_object();
	json_object_set_new(body, "reason", json_string(reason));
	json_object_set_new(body, "description", json_string(description));
	if (thread)
		json_object_set_new(body, "threadId", json_integer(thread));
	if (hit_id)
		json_object_set_new(body, "hitBreakpointIds", json_pack("[I]", hit_id));
	json_object_set_new(body, "allThreadsStopped", json_true());
	return dap_event(&s->conn, "stopped", body);
}

/* Stops the target (a core is always stopped), snapshots it and tells the editor. */
static struct ai_error *stop(struct session *s, const char *reason)
{
	struct ai_error *err;
	if (s->core) {
		err = s->snapshot ? NULL : take_snapshot(s, AI_CAPTURE_RESUME, true);
	} else {
		err = take_snapshot(s, AI_CAPTURE_KEEP_STOPPED, true);
		if (err && s->target && !s->target->exited)
			ai_error_destroy(ai_target_resume(s->target));
	}
	if (err) {
		if (err->code == AI_ERROR_TARGET_EXITED && s->target) {
			int status = s->target->exit_status;
			ai_error_destroy(err);
			return on_target_exit(s, status);
		}
		return err;
	}
	s->paused = true;
	char *description = xasprintf("snapshot: %zu task%s, %zu thread%s", s->snapshot->task_count,
				      s->snapshot->task_count == 1 ? "" : "s", s->snapshot->thread_count,
				      s->snapshot->thread_count == 1 ? "" : "s");
	err = send_stopped(s, reason, ai_dap_model_first_thread(s->model), 0, description);
	free(description);
	return err;
}

static struct ai_error *maybe_entry(struct session *s)
{
	if (!s->started || !s->configured || s->entry_done || !s->target)
		return NULL;
	s->entry_done = true;
	if (s->held) {
		/* A stop at entry shows the program at its exec: no task has started yet. */
		s->held = false;
		s->paused = false;
		if (s->stop_on_entry) {
			/* stopOnEntry: at the program's entry point (AT_ENTRY), where its DT_NEEDED
			 * libraries are mapped and none of its own code has run; the breakpoints set
			 * there go in before it runs on. */
			struct ai_error *err = ai_target_run_to_entry(s->target);
			if (err && err->code == AI_ERROR_TARGET_EXITED) {
				ai_error_destroy(err);
				return on_target_exit(s, s->target->exit_status);
			}
			if (!err && s->target->exited)
				return on_target_exit(s, s->target->exit_status);
			return err ? err : stop(s, "entry");
		}
		/* Its stop at exec is not a stop of the world yet: make it one, then let it go. */
		struct ai_error *err = ai_target_stop(s->target);
		return err ? err : ai_target_resume(s->target);
	}
	return s->stop_on_entry || s->core ? stop(s, "entry") : NULL;
}

static json_t *arguments(const json_t *request)
{
	json_t *args = json_object_get(request, "arguments");
	return json_is_object(args) ? args : NULL;
}

static bool arg_bool(const json_t *args, const char *key, bool fallback)
{
	json_t *v = args ? json_object_get(args, key) : NULL;
	return json_is_boolean(v) ? json_is_true(v) : fallback;
}

static json_int_t arg_int(const json_t *args, const char *key, json_int_t fallback)
{
	json_t *v = args ? json_object_get(args, key) : NULL;
	return json_is_integer(v) ? json_integer_value(v) : fallback;
}

static const char *arg_string(const json_t *args, const char *key)
{
	return args ? json_string_value(json_object_get(args, key)) : NULL;
}

static struct ai_error *handle_initialize(struct session *s, const json_t *req)
{
	s->lines_start_at_1 = arg_bool(arguments(req), "linesStartAt1", true);
	json_t *caps = json_object();
	json_object_set_new(caps, "supportsConfigurationDoneRequest", json_true());
	json_object_set_new(caps, "supportsTerminateRequest", json_true());
	json_object_set_new(caps, "supportTerminateDebuggee", json_true());
	json_object_set_new(caps, "supportsDelayedStackTraceLoading", json_true());
	json_object_set_new(caps, "exceptionBreakpointFilters", json_array());
	json_object_set_new(caps, "supportsConditionalBreakpoints", json_true());
	json_object_set_new(caps, "supportsEvaluateForHovers", json_true());
	struct ai_error *err = dap_respond(&s->conn, req, caps);
	if (!err)
		err = dap_event(&s->conn, "initialized", NULL);
	return err;
}

static struct ai_error *start_capture(struct session *s)
{
	struct ai_error *err = ai_capture_create(s->target, &s->capture);
	if (err)
		close_target(s);
	return err;
}

/* The program is there: the breakpoints set before it are resolved now; the editor hears of
 * each (verified, or why not) in a breakpoint event. */
static struct ai_error *resolve_breakpoints(struct session *s)
{
	json_t *changed = dap_breakpoints_set_target(s->bps, s->target);
	struct ai_error *err = NULL;
	size_t i;
	json_t *bp;
	json_array_foreach(changed, i, bp) {
		if (!err)
			err = dap_event(&s->conn, "breakpoint", json_pack("{s:s,s:O}", "reason", "changed", "breakpoint", bp));
	}
	json_decref(changed);
	return err;
}

static struct ai_error *handle_attach(struct session *s, const json_t *req)
{
	const json_t *args = arguments(req);
	if (s->target || s->started)
		return dap_respond_error(&s->conn, req, "already attached to a program in this session");
	const char *core = arg_string(args, "core");
	struct ai_error *err;
	if (core) {
		const char *program = arg_string(args, "program");
		if (!program)
			return dap_respond_error(&s->conn, req, "attach: a core needs \"program\", the executable that produced it");
		err = ai_target_open_core(core, program, &s->target);
		s->core = true;
	} else {
		/* "pid", or VS Code's "processId" (a string from ${command:pickProcess}). */
		json_t *pid = json_object_get(args, "pid");
		if (!pid)
			pid = json_object_get(args, "processId");
		long long value = json_is_integer(pid) ? json_integer_value(pid) : 0;
		if (json_is_string(pid)) {
			char *end;
			value = strtoll(json_string_value(pid), &end, 10);
			if (*end)
				value = 0;
		}
		if (value <= 0 || value > INT32_MAX)
			return dap_respond_error(&s->conn, req, "attach: give \"pid\" (a process id), or \"core\" with \"program\"");
		err = ai_target_attach((pid_t)value, &s->target);
	}
	if (!err)
		err = start_capture(s);
	if (err) {
		struct ai_error *sent = dap_respond_error(&s->conn, req, "%s", err->message);
		ai_error_destroy(err);
		s->core = false;
		return sent;
	}
	s->started = true;
	s->stop_on_entry = arg_bool(args, "stopOnEntry", true);
	if ((err = dap_respond(&s->conn, req, NULL)) || (err = resolve_breakpoints(s)))
		return err;
	return maybe_entry(s);
}

static struct ai_error *handle_launch(struct session *s, const json_t *req)
{
	const json_t *args = arguments(req);
	if (s->target || s->started)
		return dap_respond_error(&s->conn, req, "already attached to a program in this session");
	const char *program = arg_string(args, "program");
	if (!program)
		return dap_respond_error(&s->conn, req, "launch: \"program\" is missing");
	json_t *jargs = json_object_get(args, "args");
	size_t argc = json_is_array(jargs) ? json_array_size(jargs) : 0;
	const char **argv = xcalloc(argc + 2, sizeof(*argv));
	argv[0] = program;
	for (size_t i = 0; i < argc; i++) {
		argv[i + 1] = json_string_value(json_array_get(jargs, i));
		if (!argv[i + 1]) {
			free(argv);
			return dap_respond_error(&s->conn, req, "launch: args[%zu] is not a string", i);
		}
	}
	struct dap_launch launch = { program, argv, arg_string(args, "cwd"), json_object_get(args, "env") };
	struct ai_error *err = dap_launch_program(&launch, &s->target, &s->output_fds[0], &s->output_fds[1]);
	free(argv);
	if (!err)
		err = start_capture(s);
	if (err) {
		struct ai_error *sent = dap_respond_error(&s->conn, req, "%s", err->message);
		ai_error_destroy(err);
		return sent;
	}
	s->launched = true;
	s->started = true;
	s->held = s->paused = true; /* the loop must not let it run before configurationDone */
	s->stop_on_entry = arg_bool(args, "stopOnEntry", false);
	json_t *process = json_object();
	json_object_set_new(process, "name", json_string(program));
	json_object_set_new(process, "systemProcessId", json_integer(s->target->pid));
	json_object_set_new(process, "isLocalProcess", json_true());
	json_object_set_new(process, "startMethod", json_string("launch"));
	if ((err = dap_respond(&s->conn, req, NULL)) || (err = dap_event(&s->conn, "process", process)) ||
	    (err = resolve_breakpoints(s)))
		return err;
	return maybe_entry(s);
}

/* The model's text for a request that needs a snapshot: the current one, or a fresh one taken
 * while the target runs (threads). */
static struct ai_error *handle_threads(struct session *s, const json_t *req)
{
	if (!s->target && !s->model)
		return dap_respond(&s->conn, req, json_pack("{s:[]}", "threads"));
	if (s->target && !s->paused && !s->core) {
		struct ai_error *err = take_snapshot(s, AI_CAPTURE_RESUME, false);
		if (err) {
			struct ai_error *sent = dap_respond_error(&s->conn, req, "%s", err->message);
			ai_error_destroy(err);
			return sent;
		}
	} else if (!s->model) {
		/* Held stopped (paused, or a launch before configurationDone): it stays so. */
		struct ai_error *err = take_snapshot(s, s->paused ? AI_CAPTURE_KEEP_STOPPED : AI_CAPTURE_RESUME, false);
		if (err) {
			struct ai_error *sent = dap_respond_error(&s->conn, req, "%s", err->message);
			ai_error_destroy(err);
			return sent;
		}
	}
	return dap_respond(&s->conn, req, ai_dap_model_threads(s->model));
}

/* Lines and columns are 1-based in the model; a client that counts from 0 gets them moved. */
static void shift_lines(json_t *frames)
{
	size_t i;
	json_t *f;
	json_array_foreach(frames, i, f) {
		const char *keys[] = { "line", "column" };
		for (size_t k = 0; k < 2; k++) {
			json_int_t v = json_integer_value(json_object_get(f, keys[k]));
			if (v > 0)
				json_object_set_new(f, keys[k], json_integer(v - 1));
		}
	}
}

static struct ai_error *handle_model_request(struct session *s, const json_t *req, const char *command)
{
	const json_t *args = arguments(req);
	if (!s->model)
		return dap_respond_error(&s->conn, req, "%s: no snapshot yet (pause the program first)", command);
	const char *message = NULL;
	json_t *body;
	if (strcmp(command, "stackTrace") == 0) {
		body = ai_dap_model_stack_trace(s->model, arg_int(args, "threadId", 0), arg_int(args, "startFrame", 0),
						arg_int(args, "levels", 0), &message);
		if (body && !s->lines_start_at_1)
			shift_lines(json_object_get(body, "stackFrames"));
	} else if (strcmp(command, "scopes") == 0) {
		body = ai_dap_model_scopes(s->model, arg_int(args, "frameId", 0), &message);
	} else {
		body = ai_dap_model_variables(s->model, arg_int(args, "variablesReference", 0), arg_string(args, "filter"),
					      arg_int(args, "start", 0), arg_int(args, "count", 0), &message);
	}
	if (!body)
		return dap_respond_error(&s->conn, req, "%s: %s", command, message);
	return dap_respond(&s->conn, req, body);
}

static struct ai_error *handle_pause(struct session *s, const json_t *req)
{
	if (!s->target)
		return dap_respond_error(&s->conn, req, "pause: no program");
	struct ai_error *err = dap_respond(&s->conn, req, NULL);
	if (err || s->paused)
		return err;
	dap_breakpoints_step_end(s->bps);
	return stop(s, "pause");
}

static struct ai_error *handle_continue(struct session *s, const json_t *req)
{
	if (!s->target)
		return dap_respond_error(&s->conn, req, "continue: no program");
	if (s->core)
		return dap_respond_error(&s->conn, req, "a core file cannot run: it shows the moment it was written");
	dap_breakpoints_step_end(s->bps);
	if (s->paused) {
		struct ai_error *err = ai_target_resume(s->target);
		if (err) {
			struct ai_error *sent = dap_respond_error(&s->conn, req, "continue: %s", err->message);
			ai_error_destroy(err);
			return sent;
		}
		s->paused = false;
	}
	return dap_respond(&s->conn, req, json_pack("{s:b}", "allThreadsContinued", 1));
}

/* SIGKILL and reap: for disconnect with terminateDebuggee. */
static void kill_target(struct session *s)
{
	if (!s->target || s->core || s->target->exited)
		return;
	kill(s->target->pid, SIGKILL);
	enum ai_run_event event;
	int status;
	for (int i = 0; i < 50 && !s->target->exited; i++) {
		struct ai_error *err = ai_target_run(s->target, 100, &event, &status);
		if (err) {
			ai_error_destroy(err);
			break;
		}
	}
}

static struct ai_error *handle_disconnect(struct session *s, const json_t *req)
{
	/* Only an explicit terminateDebuggee kills: the default for an attached process and a
	 * launched one alike is to leave it running. */
	if (arg_bool(arguments(req), "terminateDebuggee", false))
		kill_target(s);
	close_target(s); /* detaches: a stopped target runs again */
	s->done = true;
	return dap_respond(&s->conn, req, NULL);
}

static struct ai_error *handle_terminate(struct session *s, const json_t *req)
{
	if (!s->target || s->core) {
		close_target(s);
		struct ai_error *err = dap_respond(&s->conn, req, NULL);
		return err ? err : send_terminated(s);
	}
	/* SIGTERM lets it end its own way; the loop sees it exit and sends exited and terminated. */
	if (kill(s->target->pid, SIGTERM) < 0)
		return dap_respond_error(&s->conn, req, "terminate: kill %d: %s", (int)s->target->pid, strerror(errno));
	if (s->paused) {
		ai_error_destroy(ai_target_resume(s->target));
		s->paused = false;
	}
	return dap_respond(&s->conn, req, NULL);
}

static struct ai_error *handle_set_breakpoints(struct session *s, const json_t *req)
{
	const json_t *args = arguments(req);
	if (!json_is_string(json_object_get(json_object_get(args, "source"), "path")))
		return dap_respond_error(&s->conn, req, "setBreakpoints: the source has no path (async-inspect reads sources from disk only)");
	return dap_respond(&s->conn, req, dap_breakpoints_set(s->bps, args));
}

/* next: the task runs (and the whole program with it) until that task next parks at an .await
 * of its outer async fn or block, which it does at the end of every poll that returns Pending,
 * or until a breakpoint of the editor's is hit by that same task. Hits of other tasks do not
 * stop it. A task that ends meanwhile is not seen: the program runs on as after continue. */
static struct ai_error *handle_next(struct session *s, const json_t *req)
{
	if (!s->target || s->core)
		return dap_respond_error(&s->conn, req, "next: %s", s->core ? "a core file cannot run" : "no program");
	if (!s->paused || !s->model)
		return dap_respond_error(&s->conn, req, "next: the program runs; pause it first");
	json_int_t thread = arg_int(arguments(req), "threadId", 0);
	const struct ai_snapshot_task *task = ai_dap_model_thread_task(s->model, thread);
	if (!task)
		return dap_respond_error(&s->conn, req, "next: thread %lld is not a task (next steps a task to its next .await; use continue)",
					 (long long)thread);
	const struct ai_await_node *c = &task->tree;
	for (unsigned depth = 0; c && !c->function && depth < 64; depth++)
		c = c->child_count ? &c->children[0] : NULL;
	if (!c || !c->function)
		return dap_respond_error(&s->conn, req, "next: the task's future is not an async fn or block that async-inspect can follow");
	char *note = NULL;
	struct ai_error *err = dap_breakpoints_step(s->bps, c, &note);
	if (err) {
		struct ai_error *sent = dap_respond_error(&s->conn, req, "next: %s", err->message);
		ai_error_destroy(err);
		return sent;
	}
	if (note)
		err = send_console(s, "async-inspect: %s\n", note);
	free(note);
	s->step_thread = thread;
	if (!err && (err = ai_target_resume(s->target))) {
		dap_breakpoints_step_end(s->bps);
		struct ai_error *sent = dap_respond_error(&s->conn, req, "next: %s", err->message);
		ai_error_destroy(err);
		return sent;
	}
	s->paused = false;
	return err ? err : dap_respond(&s->conn, req, NULL);
}

/* evaluate: an expression of the breakpoint conditions' language (a local and its fields,
 * task.id / task.name / task.status, comparisons, && || !) over the frame's locals and its task,
 * for the watch, hover and repl contexts alike. Unknown is said, with why. */
static struct ai_error *handle_evaluate(struct session *s, const json_t *req)
{
	const json_t *args = arguments(req);
	const char *expression = arg_string(args, "expression");
	if (!expression)
		return dap_respond_error(&s->conn, req, "evaluate: no expression");
	if (!s->model)
		return dap_respond_error(&s->conn, req, "evaluate: no snapshot yet (pause the program first)");
	const struct ai_snapshot_task *task = NULL;
	const struct ai_await_node *node = NULL;
	json_int_t frame = arg_int(args, "frameId", 0);
	if (frame && !ai_dap_model_frame(s->model, frame, &task, &node))
		return dap_respond_error(&s->conn, req, "evaluate: no frame %lld in this snapshot", (long long)frame);
	struct ai_break_cond *cond;
	struct ai_error *err = ai_break_cond_parse(expression, &cond);
	if (err) {
		struct ai_error *sent = dap_respond_error(&s->conn, req, "%s", err->message);
		ai_error_destroy(err);
		return sent;
	}
	struct ai_break_env env = { task, node };
	char *why = NULL;
	char *value = ai_break_cond_value(cond, &env, &why);
	ai_break_cond_destroy(cond);
	json_t *body;
	if (value) {
		body = ai_dap_model_evaluate_body(s->model, node, expression, value);
	} else {
		char *text = xasprintf("unknown: %s", why ? why : "?");
		body = json_pack("{s:s,s:i}", "result", text, "variablesReference", 0);
		free(text);
	}
	free(value);
	free(why);
	return dap_respond(&s->conn, req, body);
}

static struct ai_error *handle_request(struct session *s, const json_t *req)
{
	const char *command = json_string_value(json_object_get(req, "command"));
	if (!command)
		return dap_respond_error(&s->conn, req, "a request without a command");
	if (strcmp(command, "initialize") == 0)
		return handle_initialize(s, req);
	if (strcmp(command, "attach") == 0)
		return handle_attach(s, req);
	if (strcmp(command, "launch") == 0)
		return handle_launch(s, req);
	if (strcmp(command, "configurationDone") == 0) {
		s->configured = true;
		struct ai_error *err = dap_respond(&s->conn, req, NULL);
		return err ? err : maybe_entry(s);
	}
	if (strcmp(command, "threads") == 0)
		return handle_threads(s, req);
	if (strcmp(command, "stackTrace") == 0 || strcmp(command, "scopes") == 0 || strcmp(command, "variables") == 0)
		return handle_model_request(s, req, command);
	if (strcmp(command, "pause") == 0)
		return handle_pause(s, req);
	if (strcmp(command, "continue") == 0)
		return handle_continue(s, req);
	if (strcmp(command, "disconnect") == 0)
		return handle_disconnect(s, req);
	if (strcmp(command, "terminate") == 0)
		return handle_terminate(s, req);
	if (strcmp(command, "setBreakpoints") == 0)
		return handle_set_breakpoints(s, req);
	if (strcmp(command, "setExceptionBreakpoints") == 0)
		return dap_respond(&s->conn, req, json_pack("{s:[]}", "breakpoints"));
	if (strcmp(command, "setFunctionBreakpoints") == 0)
		return dap_respond(&s->conn, req, json_pack("{s:[]}", "breakpoints"));
	if (strcmp(command, "next") == 0)
		return handle_next(s, req);
	if (strcmp(command, "evaluate") == 0)
		return handle_evaluate(s, req);
	if (strcmp(command, "stepIn") == 0 || strcmp(command, "stepOut") == 0)
		return dap_respond_error(&s->conn, req, "%s: stepping a task is not supported yet", command);
	return dap_respond_error(&s->conn, req, "%s: not supported by async-inspect", command);
}

static struct ai_error *handle_message(struct session *s, json_t *msg)
{
	const char *type = json_string_value(json_object_get(msg, "type"));
	if (type && strcmp(type, "request") == 0)
		return handle_request(s, msg);
	return NULL; /* responses to reverse requests (we send none) and events: nothing to do */
}

/* A launched program's output, as output events. */
static struct ai_error *forward_output(struct session *s, int which)
{
	char buf[16384];
	ssize_t n = read(s->output_fds[which], buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return NULL;
	if (n <= 0) {
		close(s->output_fds[which]);
		s->output_fds[which] = -1;
		return NULL;
	}
	return send_output(s, which == 0 ? "stdout" : "stderr", buf, (size_t)n);
}

/* Whether the process is dead (a zombie, or reaped), from /proc. */
static bool process_dead(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *stat = ai_read_small_file(path, NULL);
	const char *end = stat ? strrchr(stat, ')') : NULL;
	bool dead = !end || end[1] != ' ' || end[2] == 'Z' || end[2] == 'X';
	free(stat);
	return dead;
}

/* A thread stopped on one of our int3s. A hit when the coroutine there is in the state of an
 * editor's breakpoint whose condition holds (and, during next, the task is the stepped one), or
 * when it is next's task parking: then the editor is told, with the snapshot taken at the hit.
 * Otherwise the program goes on. */
static struct ai_error *on_breakpoint(struct session *s)
{
	struct dap_hit hit;
	if (!dap_breakpoints_match(s->bps, &hit))
		return ai_target_resume(s->target);
	pid_t tid = s->target->hit_tid;
	char *where = xasprintf("%s at %s:%u", hit.site->function, ai_short_path(hit.site->file), hit.site->line);
	struct ai_error *err = take_snapshot(s, AI_CAPTURE_KEEP_STOPPED, false);
	if (err) {
		free(where);
		if (err->code == AI_ERROR_TARGET_EXITED && s->target && s->target->exited) {
			int status = s->target->exit_status;
			ai_error_destroy(err);
			return on_target_exit(s, status);
		}
		if (s->target && !s->target->exited)
			ai_error_destroy(ai_target_resume(s->target));
		return err;
	}
	const struct ai_snapshot_task *task = ai_break_hit_task(s->snapshot, hit.env, tid);
	json_int_t thread = ai_dap_model_task_thread(s->model, task);
	bool stepping = dap_breakpoints_stepping(s->bps);
	bool user = hit.id && (!stepping || (thread && thread == s->step_thread));
	if (user && hit.cond) {
		struct ai_break_env env = { task, task ? ai_break_node_at(&task->tree, hit.env) : NULL };
		char *why = NULL;
		enum ai_break_truth truth = ai_break_cond_eval(hit.cond, &env, &why);
		/* Said once per breakpoint: it would be said at every pass. */
		if (truth == AI_BREAK_UNKNOWN && !*hit.warned) {
			*hit.warned = true;
			err = send_console(s, "async-inspect: breakpoint at %s: the condition is unknown here (%s): not a hit (said once)\n",
					   where, why ? why : "?");
		}
		free(why);
		user = truth == AI_BREAK_TRUE;
	}
	if (err || (!user && !hit.step)) {
		free(where);
		drop_snapshot(s);
		struct ai_error *resumed = ai_target_resume(s->target);
		if (err) {
			ai_error_destroy(resumed);
			return err;
		}
		return resumed;
	}
	dap_breakpoints_step_end(s->bps);
	s->paused = true;
	err = tell_snapshot(s);
	char *description = task ? xasprintf("%s: %s", user ? "breakpoint" : "next", where)
				 : xasprintf("%s: %s (no task's await tree holds the coroutine at 0x%llx)",
					     user ? "breakpoint" : "next", where, (unsigned long long)hit.env);
	if (!err)
		err = send_stopped(s, user ? "breakpoint" : "step", thread ? thread : ai_dap_model_first_thread(s->model),
				   user ? hit.id : 0, description);
	free(description);
	free(where);
	return err;
}

/* The target's ptrace events while it runs (new threads, signals to pass on, its exit). A
 * process held stopped can still be killed (SIGKILL): a SIGCHLD then lets its end be seen. */
static struct ai_error *follow_target(struct session *s, bool sigchld)
{
	if (!s->target || s->core)
		return NULL;
	if (s->paused && sigchld && process_dead(s->target->pid)) {
		ai_error_destroy(ai_target_resume(s->target));
		s->paused = false;
	}
	/* Breakpoints that are not hits (another state, a false condition) let it go on at once;
	 * after a few the client's requests are read again. */
	for (int round = 0; !s->paused && s->target && round < 16; round++) {
		enum ai_run_event event;
		int status;
		struct ai_error *err = ai_target_run(s->target, 0, &event, &status);
		if (err)
			return err;
		if (event == AI_RUN_EXITED)
			return on_target_exit(s, status);
		if (event != AI_RUN_BREAKPOINT)
			return NULL;
		if ((err = on_breakpoint(s)))
			return err;
	}
	return NULL;
}

static void on_sigpipe(int sig)
{
	/* A client gone mid-write: write() fails with EPIPE and the session ends. */
}

struct ai_error *ai_dap_serve(int in_fd, int out_fd)
{
	struct session s = { .output_fds = { -1, -1 }, .lines_start_at_1 = true };
	dap_conn_init(&s.conn, in_fd, out_fd);
	s.ids = ai_dap_ids_create();
	s.bps = dap_breakpoints_create();
	ai_async_options_default(&s.async_options);
	/* Each local's structured value from the same decode, for its parts; lists decoded far
	 * enough for the editor to page through a big Vec's items (the texts still show 10). */
	s.async_options.value_limits.structured = true;
	s.async_options.value_limits.max_items = DAP_MAX_ITEMS;
	s.async_options.value_limits.max_output = DAP_MAX_OUTPUT;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	s.sigchld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	struct ai_error *err = s.sigchld_fd < 0 ? ai_error_from_errno(errno, "signalfd") : NULL;
	while (!err && !s.done && !s.conn.eof) {
		struct pollfd fds[4] = {
			{ .fd = s.conn.in_fd, .events = POLLIN },
			{ .fd = s.sigchld_fd, .events = POLLIN },
			{ .fd = s.output_fds[0], .events = POLLIN },
			{ .fd = s.output_fds[1], .events = POLLIN },
		};
		bool running = s.target && !s.core && !s.paused;
		/* A SIGCHLD merged with one ai_target_run already consumed is caught up by the timeout. */
		int ready = poll(fds, 4, running ? 500 : -1);
		if (ready < 0 && errno != EINTR) {
			err = ai_error_from_errno(errno, "poll");
			break;
		}
		bool sigchld = ready > 0 && (fds[1].revents & POLLIN);
		if (sigchld) {
			struct signalfd_siginfo info;
			while (read(s.sigchld_fd, &info, sizeof(info)) == (ssize_t)sizeof(info))
				;
		}
		if ((err = follow_target(&s, sigchld)))
			break;
		for (int i = 0; i < 2 && !err; i++)
			if (ready > 0 && (fds[2 + i].revents & (POLLIN | POLLHUP)))
				err = forward_output(&s, i);
		if (!err && ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			err = dap_conn_fill(&s.conn);
		json_t *msg;
		while (!err && !s.done && !(err = dap_conn_next(&s.conn, &msg)) && msg) {
			err = handle_message(&s, msg);
			json_decref(msg);
		}
	}
	/* Whatever way the session ends, the program is left running (detached). */
	close_target(&s);
	for (int i = 0; i < 2; i++)
		if (s.output_fds[i] >= 0)
			close(s.output_fds[i]);
	if (s.sigchld_fd >= 0)
		close(s.sigchld_fd);
	ai_dap_ids_destroy(s.ids);
	dap_breakpoints_destroy(s.bps);
	dap_conn_deinit(&s.conn);
	return err;
}
