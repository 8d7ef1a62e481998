#include <criterion/criterion.h>

#include "ai/cli.h"
#include "ai/frontend.h"

Test(cli_options, durations)
{
	struct { const char *text; uint64_t ms; } good[] = {
		{ "500ms", 500 }, { "10s", 10000 }, { "2", 2000 }, { "1.5s", 1500 }, { "2m", 120000 }, { "1h", 3600000 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ms = 0;
		cr_assert_null(ai_parse_duration(good[i].text, &ms), "%s", good[i].text);
		cr_expect_eq(ms, good[i].ms, "%s", good[i].text);
	}
	const char *bad[] = { "", "soon", "-1s", "10x", "5 s" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 77;
		struct ai_error *err = ai_parse_duration(bad[i], &ms);
		cr_assert_not_null(err, "'%s' is refused", bad[i]);
		cr_expect_eq(ms, 77, "nothing written on error");
		ai_error_destroy(err);
	}
}

Test(cli_options, pids)
{
	int pid;
	cr_assert_null(ai_parse_pid("1234", &pid));
	cr_expect_eq(pid, 1234);
	const char *bad[] = { "0", "-5", "12ab", "", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ai_error *err = ai_parse_pid(bad[i], &pid);
		cr_assert_not_null(err, "'%s'", bad[i]);
		ai_error_destroy(err);
	}
}

Test(cli_options, short_paths)
{
	cr_expect_str_eq(ai_short_path("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.24.2/src/runtime/park.rs"),
			 "tokio-1.24.2/src/runtime/park.rs");
	cr_expect_str_eq(ai_short_path("/rustc/abc123/library/std/src/thread/mod.rs"), "std/src/thread/mod.rs");
	cr_expect_str_eq(ai_short_path("src/main.rs"), "src/main.rs");
}

/* The options attach and run share: parsed into the monitor's options, wrong values refused with
 * the usage status, other options left to the command. */
Test(cli_options, monitor_options)
{
	struct ai_monitor_options o = { .interval_ms = 500 };
	cr_expect_eq(ai_parse_monitor_option("attach", 'i', "250ms", &o), 0);
	cr_expect_eq(o.interval_ms, 250);
	cr_expect_eq(ai_parse_monitor_option("attach", 'M', "15ms", &o), 0);
	cr_expect_eq(o.max_pause_us, 15000);
	cr_expect_eq(ai_parse_monitor_option("attach", 'R', "rec.jsonl", &o), 0);
	cr_expect_str_eq(o.record_path, "rec.jsonl");
	cr_expect_eq(ai_parse_monitor_option("attach", 'L', NULL, &o), 0);
	cr_expect(o.no_locals);
	cr_expect_eq(ai_parse_monitor_option("run", 'i', "5ms", &o), AI_EXIT_USAGE);
	cr_expect_eq(o.interval_ms, 250, "a refused value changes nothing");
	cr_expect_eq(ai_parse_monitor_option("run", 'M', "0ms", &o), AI_EXIT_USAGE);
	cr_expect_eq(o.max_pause_us, 15000);
	cr_expect_eq(ai_parse_monitor_option("run", 'i', "soon", &o), AI_EXIT_FAILURE);
	cr_expect_eq(ai_parse_monitor_option("run", 'p', "12", &o), -1);
}
