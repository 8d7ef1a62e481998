/* The real binary in a real terminal: `attach` and `run` drive the TUI inside a tmux session of
 * their own (a private tmux server per test), keys sent with send-keys, the screen read back with
 * capture-pane. Every wait polls the screen up to a deadline: nothing depends on a fixed sleep. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"
#include "term.h"

#define CRATE "tokio-1.38"

TestSuite(tmux, .init = require_tmux, .timeout = 180);

/* The FOR>= figure in seconds of the task-list row that starts with `id`, or -1. */
static double blocked_for(const char *screen, const char *id)
{
	char *prefix = xasprintf("\n%s ", id);
	const char *row = strstr(screen, prefix);
	free(prefix);
	if (!row)
		return -1;
	char state[32];
	double seconds;
	char unit[8];
	if (sscanf(row + 1, "%*s %31s %lf%7s", state, &seconds, unit) != 3)
		return -1;
	if (strcmp(unit, "m") == 0)
		seconds *= 60;
	else if (strcmp(unit, "ms") == 0)
		seconds /= 1000;
	return seconds;
}

Test(tmux, attach_shows_tasks_details_growing_durations_and_detaches)
{
	struct fixture f;
	fixture_start(&f, CRATE, "nested", NULL);
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --interval 200ms", getenv("AI_BINARY"), (int)f.pid);
	term_start(&t, cmd);
	free(cmd);

	/* The task list: every task of the fixture, with its await line (main and task 3 wait on each
	 * other: main keeps the Sender of the oneshot task 3 receives on, and joins it). */
	char *s = term_wait_for(&t, "tasks 8: 6 blocked 2 deadlocked");
	char *sleep_at = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-sleep"));
	cr_expect(strstr(s, sleep_at) != NULL, "%s in\n%s", sleep_at, s);
	cr_expect(strstr(s, "sleep, 23h59m") != NULL, "%s", s);
	cr_expect(strstr(s, "nested::shapes::holder") != NULL, "%s", s);

	/* The duration grows between two captures (task 4 sleeps for a day). */
	double first = blocked_for(s, "4");
	cr_assert_geq(first, 0, "no FOR>= figure for task 4 in\n%s", s);
	free(s);
	double deadline = term_now_s() + SCREEN_DEADLINE_S;
	double later = first;
	while (later < first + 1.0 && term_now_s() < deadline) {
		pause_briefly();
		s = term_screen(&t);
		later = blocked_for(s, "4");
		free(s);
	}
	cr_expect_geq(later, first + 1.0, "blocked-for went from %.1fs to %.1fs", first, later);

	/* Details of the first task (3, the oneshot receiver): its await chain with lines. */
	term_keys(&t, "Enter");
	s = term_wait_for(&t, "Task details");
	char *level1 = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level1"));
	char *oneshot = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-oneshot"));
	free(s);
	s = term_wait_for(&t, oneshot);
	cr_expect(strstr(s, "task 3") != NULL, "%s", s);
	cr_expect(strstr(s, level1) != NULL, "%s in\n%s", level1, s);
	cr_expect(strstr(s, "waiting on: oneshot receive") != NULL, "%s", s);
	free(s);

	/* Esc back to the list, q detaches: the fixture runs on, untraced. */
	term_keys(&t, "Escape");
	free(term_wait_for(&t, "FOR>="));
	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	char *last = term_screen(&t);
	cr_expect_eq(status, 0, "exit status %d, the screen:\n%s", status, last);
	free(last);
	cr_expect_eq(tracer_pid(f.pid), 0);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	term_stop(&t);
	fixture_kill(&f);
	free(sleep_at);
	free(level1);
	free(oneshot);
}

Test(tmux, run_quit_asks_and_kill_ends_the_program)
{
	struct term t;
	char *fixture = fixture_path(CRATE, "nested");
	char *cmd = xasprintf("%s run -- %s", getenv("AI_BINARY"), fixture);
	term_start(&t, cmd);
	free(cmd);
	free(fixture);
	free(term_wait_for(&t, "6 blocked 2 deadlocked"));
	term_keys(&t, "q");
	char *s = term_wait_for(&t, "Quit: k kill the program");
	free(s);
	term_keys(&t, "k");
	/* The program was killed by SIGKILL, and `run` ends as it did. */
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 128 + SIGKILL, "run ended with %d", status);
	term_stop(&t);
}

/* attach --pid C --pid S of peer_client and peer_server: both processes' tasks labelled in a real
 * terminal, P shows one, p stops both (traced) until p again (untraced), q leaves both running. */
Test(tmux, attach_two_processes_filter_pause_and_detach)
{
	require_fixtures();
	struct fixture server, client;
	fixture_spawn(&server, "tokio-1.54", "peer_server", (const char *[]){ "mutex", NULL });
	char line[128], port[64];
	cr_assert(fgets(line, sizeof(line), server.out), "peer_server printed nothing");
	cr_assert(sscanf(line, "listening %63s", port) == 1, "peer_server printed '%s'", line);
	fixture_start(&client, "tokio-1.54", "peer_client", (const char *[]){ port, NULL });
	fixture_expect_ready(&server);
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --pid %d --interval 200ms", getenv("AI_BINARY"), (int)client.pid,
			      (int)server.pid);
	term_start(&t, cmd);
	free(cmd);

	char *s = term_wait_for(&t, "async-inspect  2 processes  tasks 5:");
	char *client_label = xasprintf("%d peer_client", (int)client.pid);
	char *server_label = xasprintf("%d peer_server", (int)server.pid);
	cr_expect(strstr(s, client_label) && strstr(s, server_label), "%s", s);
	cr_expect(strstr(s, "peer_client::request") && strstr(s, "peer_server::handle_conn"), "%s", s);
	free(s);

	/* P: the client only; twice more: all again. */
	term_keys(&t, "P");
	char *only = xasprintf("process: pid %d (peer_client)", (int)client.pid);
	s = term_wait_for(&t, only);
	cr_expect(strstr(s, "peer_client::request") && !strstr(s, "peer_server::handle_conn"), "%s", s);
	free(s);
	term_keys(&t, "P");
	term_keys(&t, "P");
	free(term_wait_for(&t, "process: all"));

	/* p stops both, p again lets both go, untraced between samples. */
	term_keys(&t, "p");
	free(term_wait_for(&t, "[PAUSED]"));
	cr_expect_eq(process_settles_in(client.pid, 't'), 't');
	cr_expect_eq(process_settles_in(server.pid, 't'), 't');
	term_keys(&t, "p");
	free(term_wait_for(&t, "target resumed"));
	cr_expect_eq(process_settles_in(client.pid, 'S'), 'S');
	cr_expect_eq(process_settles_in(server.pid, 'S'), 'S');

	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	char *last = term_screen(&t);
	cr_expect_eq(status, 0, "exit status %d, the screen:\n%s", status, last);
	free(last);
	cr_expect_eq(tracer_pid(client.pid), 0);
	cr_expect_eq(tracer_pid(server.pid), 0);
	term_stop(&t);
	fixture_kill(&client);
	fixture_kill(&server);
	free(client_label);
	free(server_label);
	free(only);
}

/* peer_server MODE and a peer_client of it, both ready. */
static void start_peers(struct fixture *server, struct fixture *client, const char *mode)
{
	fixture_spawn(server, "tokio-1.54", "peer_server", (const char *[]){ mode, NULL });
	char line[128], port[64];
	cr_assert(fgets(line, sizeof(line), server->out), "peer_server printed nothing");
	cr_assert(sscanf(line, "listening %63s", port) == 1, "peer_server printed '%s'", line);
	fixture_start(client, "tokio-1.54", "peer_client", (const char *[]){ port, NULL });
	fixture_expect_ready(server);
}

/* Four processes: a client and server in a cycle, another pair behind a Mutex. The graph (g)
 * follows the process filter (P): the chosen process's edges, the cycles through it (with the
 * other process's steps), the waits of other processes on its sockets, named by process. */
Test(tmux, graph_follows_the_process_filter)
{
	require_fixtures();
	struct fixture cycle_server, cycle_client, mutex_server, mutex_client;
	start_peers(&cycle_server, &cycle_client, "cycle");
	start_peers(&mutex_server, &mutex_client, "mutex");
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --pid %d --pid %d --pid %d --interval 200ms", getenv("AI_BINARY"),
			      (int)cycle_client.pid, (int)cycle_server.pid, (int)mutex_client.pid, (int)mutex_server.pid);
	term_start(&t, cmd);
	free(cmd);
	free(term_wait_for(&t, "async-inspect  4 processes"));

	/* Every process: the cycle and each process's section. */
	term_keys(&t, "g");
	char *cycle_section = xasprintf("=== pid %d (peer_client) ===", (int)cycle_client.pid);
	char *mutex_section = xasprintf("=== pid %d (peer_server) ===", (int)mutex_server.pid);
	char *s = term_wait_all(&t, (const char *[]){ "DEADLOCK across processes: 2 tasks wait on each other",
						      cycle_section, NULL });
	cr_expect(strstr(s, "Wait-for graph   (Enter"), "%s", s);
	free(s);

	/* P: the cycle's client; its cycle, both steps, and not the other pair. */
	term_keys(&t, "P");
	char *title = xasprintf("Wait-for graph of pid %d (peer_client)", (int)cycle_client.pid);
	s = term_wait_for(&t, title);
	char *step = xasprintf("for the other end of the socket: pid %d (peer_server) task ", (int)cycle_server.pid);
	cr_expect(strstr(s, "DEADLOCK across processes") && strstr(s, step), "'%s' in\n%s", step, s);
	char *from_server = xasprintf("  pid %d (peer_server) task ", (int)cycle_server.pid);
	cr_expect(strstr(s, cycle_section) && !strstr(s, mutex_section), "%s", s);
	const char *back = strstr(s, "From other processes (a task whose socket's other end is in this one):");
	back = back ? strstr(back, from_server) : NULL;
	cr_expect(back && strstr(back, "peer_server::handle_conn -> task ") &&
		  strstr(back, "peer_client::request (the other end"), "the server's wait on the client in\n%s", s);
	free(s);

	/* P three more times: the Mutex pair's server. No cycle runs through it; the client of its
	 * pair waits on it across processes; the cycle's processes are gone. */
	term_keys(&t, "P");
	term_keys(&t, "P");
	term_keys(&t, "P");
	free(title);
	title = xasprintf("Wait-for graph of pid %d (peer_server)", (int)mutex_server.pid);
	s = term_wait_for(&t, title);
	char *from_client = xasprintf("  pid %d (peer_client) task ", (int)mutex_client.pid);
	cr_expect(!strstr(s, "DEADLOCK across processes") && !strstr(s, cycle_section) && strstr(s, mutex_section), "%s", s);
	const char *in = strstr(s, from_client);
	cr_expect(in && strstr(in, "peer_client::request -> task ") && strstr(in, "peer_server::handle_conn (the other end"),
		  "'%s' in\n%s", from_client, s);
	cr_expect(strstr(s, "holds `guard` (lock Mutex<u64>"), "its own edge to the holder:\n%s", s);
	free(s);

	term_keys(&t, "q"); /* out of the graph, to the task list */
	free(term_wait_for(&t, "[tasks]"));
	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 0, "exit status %d", status);
	term_stop(&t);
	struct fixture *all[] = { &cycle_client, &cycle_server, &mutex_client, &mutex_server };
	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(tracer_pid(all[i]->pid), 0);
		fixture_kill(all[i]);
	}
	free(cycle_section);
	free(mutex_section);
	free(title);
	free(step);
	free(from_server);
	free(from_client);
}
