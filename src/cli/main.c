/* async-inspect: command dispatch, global options and help. */
#include <stdio.h>
#include <string.h>

#include "ai/cli.h"
#include "ai/decoders.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "attach", ai_cmd_attach, "watch a running process: live task view (TUI) or periodic dumps" },
	{ "dap", ai_cmd_dap, "serve the Debug Adapter Protocol to an editor: tasks as threads" },
	{ "dump", ai_cmd_dump, "print every task and block_on future as an await tree" },
	{ "merge", ai_cmd_merge, "join dump JSON files (of several processes or hosts) into one graph" },
	{ "profile", ai_cmd_profile, "measure every task's polls, busy and scheduled time, without stopping it" },
	{ "replay", ai_cmd_replay, "show a recording made with --record again, without the program" },
	{ "run", ai_cmd_run, "launch a program under inspection" },
	{ "serve", ai_cmd_serve, "a live web dashboard of the tasks (loopback, with a token)" },
	{ "test", ai_cmd_test, "run a crate's tests; show where a hung test is stuck" },
	{ "threads", ai_cmd_threads, "print every thread's native stack (live process or core file)" },
};

static void print_help(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect COMMAND [OPTIONS]\n"
		"\n"
		"X-ray vision for async Rust: what every task and thread of a program is doing,\n"
		"read from the outside with ptrace and DWARF, with no change to the program.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Examples:\n"
		"  async-inspect attach --pid 1234\n"
		"  async-inspect attach --pid 1234 --record session.jsonl --max-pause 5ms\n"
		"  async-inspect replay session.jsonl\n"
		"  async-inspect dap        (started by an editor; see docs/editors/)\n"
		"  async-inspect serve --pid 1234\n"
		"  async-inspect dump --pid 1234\n"
		"  async-inspect profile --pid 1234 --duration 10s\n"
		"  async-inspect threads --pid 1234\n"
		"  async-inspect threads --core core.1234 --exe ./target/debug/my-app --format json\n"
		"  async-inspect run --dump-after 5s -- ./target/debug/my-app --port 8080\n"
		"  async-inspect run --timeout 30s --fail-on-hang -- ./target/debug/my-app\n"
		"  async-inspect test --timeout 60s -- --workspace\n"
		"\n"
		"Run 'async-inspect COMMAND --help' for a command's options; 'man async-inspect' for more.\n"
		"The program must be built with debug info (the default for `cargo build`; for release\n"
		"builds set `debug = true` under [profile.release] in Cargo.toml).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_help(stderr);
		return AI_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		print_help(stdout);
		return AI_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("async-inspect %s\n", AI_VERSION);
		return AI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) != 0)
			continue;
		/* the decoder directories, before any --decoders FILE (docs/decoders/) */
		ai_decoders_load_dirs(stderr);
		int status = commands[i].run(argc - 1, argv + 1);
		ai_decoders_clear();
		return status;
	}
	fprintf(stderr, "async-inspect: unknown command '%s' (see 'async-inspect --help')\n", name);
	return AI_EXIT_USAGE;
}
