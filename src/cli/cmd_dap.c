/* `async-inspect dap`: a Debug Adapter Protocol server on stdin/stdout, or on one TCP connection
 * to 127.0.0.1:PORT (src/dap). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ai/cli.h"
#include "ai/dap.h"
#include "ai/decoders.h"
#include "ai/user_code.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect dap [--port PORT] [OPTIONS]\n"
		"\n"
		"Serve the Debug Adapter Protocol to an editor (VS Code, Neovim's nvim-dap, Helix,\n"
		"Zed, Emacs): every task is a thread named like \"task 17 handle_conn [idle]\", its\n"
		"stack is its await chain (each frame at the .await it is parked on) and its saved\n"
		"locals are variables, as `dump` shows them; the OS threads follow with their\n"
		"native stacks. Requests: attach {pid} or {core, program}, launch {program, args,\n"
		"cwd, env}, pause and continue (each pause is a new snapshot), disconnect (detaches;\n"
		"the program goes on unless terminateDebuggee is true), terminate. Deadlocks come\n"
		"as the custom event asyncInspect/deadlock. Breakpoints on an .await line are async\n"
		"breakpoints (as --break FILE:LINE, conditions in its language); evaluate takes that\n"
		"language over a frame's locals and task; next runs the task to its next .await.\n"
		"See docs/editors/ for VS Code and Neovim.\n"
		"\n"
		"Options:\n"
		"      --port PORT      listen on 127.0.0.1:PORT for one client instead of\n"
		"                       stdin/stdout (0: any free port; the port is printed on\n"
		"                       stderr as \"listening on 127.0.0.1:PORT\")\n"
		"      --debug-dir DIR  also look for separate debug files in DIR (see dump --help)\n"
		"      --user-crate NAME  count crate NAME's code as the program's own (see dump --help)\n"
		"      --decoders FILE  declarative decoders: type summaries, runtimes (see dump --help)\n"
		"  -h, --help           show this help\n");
}

/* One client on 127.0.0.1:port: never another interface, a debugger must not be reachable
 * from the network. */
static struct ai_error *accept_one(int port, int *fd_ret)
{
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0)
		return ai_error_from_errno(errno, "socket");
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 1) < 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &len) < 0) {
		int errnum = errno;
		close(listener);
		return ai_error_from_errno(errnum, "dap: listening on 127.0.0.1:%d", port);
	}
	fprintf(stderr, "async-inspect: listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
	fflush(stderr);
	int fd;
	while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
		;
	int errnum = errno;
	close(listener);
	if (fd < 0)
		return ai_error_from_errno(errnum, "dap: accept");
	*fd_ret = fd;
	return NULL;
}

int ai_cmd_dap(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "port", required_argument, NULL, 'P' },
		{ "debug-dir", required_argument, NULL, 'D' },
		{ "user-crate", required_argument, NULL, 'U' },
		{ "decoders", required_argument, NULL, AI_OPT_DECODERS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int port = -1, opt;
	struct ai_error *err;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'P': {
			char *end;
			long value = strtol(optarg, &end, 10);
			if (*end || end == optarg || value < 0 || value > 65535)
				return ai_usage_error("dap", "invalid port '%s' (0 to 65535)", optarg);
			port = (int)value;
			break;
		}
		case 'D':
			if ((err = ai_parse_debug_dir(optarg)))
				return ai_fail(err);
			break;
		case 'U':
			ai_user_code_add_crate(optarg);
			break;
		case AI_OPT_DECODERS:
			if ((err = ai_decoders_load(optarg)))
				return ai_fail(err);
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("dap", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ai_usage_error("dap", "unexpected argument '%s'", argv[optind]);

	ai_target_install_signal_handlers();
	int in_fd = -1, out_fd = -1;
	if (port >= 0) {
		if ((err = accept_one(port, &in_fd)))
			return ai_fail(err);
		out_fd = in_fd;
	} else {
		/* The protocol gets fds of its own; stdout then goes to stderr, so that nothing printed
		 * by mistake can break a message, and stdin is /dev/null. */
		in_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		int null_fd = open("/dev/null", O_RDONLY);
		if (in_fd < 0 || out_fd < 0 || null_fd < 0)
			return ai_fail(ai_error_from_errno(errno, "dap: fds"));
		dup2(null_fd, STDIN_FILENO);
		close(null_fd);
		dup2(STDERR_FILENO, STDOUT_FILENO);
	}
	err = ai_dap_serve(in_fd, out_fd);
	close(in_fd);
	if (out_fd != in_fd)
		close(out_fd);
	return err ? ai_fail(err) : AI_EXIT_OK;
}
