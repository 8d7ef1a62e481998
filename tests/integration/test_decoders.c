/* --decoders FILE: declarative type summaries (docs/decoders/). The example file of the docs
 * summarizes the nested fixture's Account by two of its three members; a file that is not
 * understood is refused with its name and line or entry, and nothing is dumped. On plain/tinyexec:
 * an enum summarised by its active variant, and member paths through Arc, Box and &. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(decoders, .init = require_fixtures, .timeout = 120);

static char *example(void)
{
	const char *source = getenv("AI_SOURCE");
	return xasprintf("%s/docs/decoders/shapes.json", source && *source ? source : ".");
}

Test(decoders, summary_shows_the_members_it_names)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "nested", NULL);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	char *file = example();
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "account = Account { id: 0, owner: \"owner-0\", balance: -1 }"), "%s", r.out);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", file, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "account = Account { owner: \"owner-0\", balance: -1, .. }"), "%s", r.out);
	cr_expect(!strstr(r.out, "Account { id:"), "%s", r.out);
	tool_result_free(&r);
	free(file);
	fixture_kill(&f);
}

/* An enum's summary shows its active variant's listed members (a variant not listed prints
 * whole), and member paths go through Arc, Box and & (fixture plain/tinyexec's sleeper, with
 * tests/fixtures/plain/decoders/tinyexec-summaries.json). */
Test(decoders, enums_by_variant_and_paths_through_pointers)
{
	struct fixture f;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	const char *source = getenv("AI_SOURCE");
	char *runtime = xasprintf("%s/tests/fixtures/plain/decoders/tinyexec.json", source && *source ? source : ".");
	char *file = xasprintf("%s/tests/fixtures/plain/decoders/tinyexec-summaries.json", source && *source ? source : ".");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", runtime, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "why = Timer { secs: 3600, label: \"hourly\" }"), "%s", r.out);
	cr_expect(strstr(r.out, "job = Job { config: Arc(strong 1, weak 0) Config { name: \"nightly\""), "%s", r.out);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", runtime, "--decoders", file, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "why = Timer { secs: 3600, .. }"), "%s", r.out);
	cr_expect(strstr(r.out, "job = Job { config.name: \"nightly\", reason: Manual(7), owner.retries: 1, .. }"), "%s",
		  r.out);
	tool_result_free(&r);
	free(file);
	free(runtime);
	fixture_kill(&f);
}

/* Computed members: integer arithmetic over member paths (through Arc and &), and an
 * expression that cannot be computed says why in its place (tinyexec-computed.json). */
Test(decoders, computed_members)
{
	struct fixture f;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	const char *source = getenv("AI_SOURCE");
	char *runtime = xasprintf("%s/tests/fixtures/plain/decoders/tinyexec.json", source && *source ? source : ".");
	char *file = xasprintf("%s/tests/fixtures/plain/decoders/tinyexec-computed.json", source && *source ? source : ".");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", runtime, "--decoders", file, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "why = Timer { minutes: 60, .. }"), "%s", r.out);
	cr_expect(strstr(r.out, "job = Job { config.name: \"nightly\", attempts: 13, flags: 17, "
				"text: <config.name is not an integer>, spread: <division by zero>, .. }"),
		  "%s", r.out);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--format", "json", "--decoders", runtime, "--decoders",
					   file, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "{\"name\":\"attempts\",\"value\":{\"kind\":\"int\",\"value\":13}}"), "%s", r.out);
	tool_result_free(&r);
	free(file);
	free(runtime);
	fixture_kill(&f);
}

static void write_file(const char *path, const char *text)
{
	FILE *out = fopen(path, "w");
	cr_assert(out, "%s", path);
	fputs(text, out);
	fclose(out);
}

Test(decoders, a_file_not_understood_is_refused_with_where)
{
	char dir[] = "/tmp/ai-decoders-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *bad_json = xasprintf("%s/broken.json", dir), *bad_entry = xasprintf("%s/entry.json", dir);
	write_file(bad_json, "{ \"format\": \"async-inspect-decoders\",\n  \"version\": 1,\n  \"summaries\": [ ,\n");
	write_file(bad_entry, "{ \"format\": \"async-inspect-decoders\", \"version\": 1,\n"
			      "  \"summaries\": [ { \"type\": \"app::A\", \"show\": [\"a\"] },\n"
			      "                 { \"type\": \"app::B\", \"show\": [\"a..b\"] } ] }\n");
	char *bad_expr = xasprintf("%s/expr.json", dir);
	write_file(bad_expr, "{ \"format\": \"async-inspect-decoders\", \"version\": 1,\n"
			     "  \"summaries\": [ { \"type\": \"app::C\", \"show\": [{ \"name\": \"n\", \"value\": \"a + \" }] } ] }\n");
	char *bad_variants = xasprintf("%s/variants.json", dir);
	write_file(bad_variants, "{ \"format\": \"async-inspect-decoders\", \"version\": 1,\n"
				 "  \"summaries\": [ { \"type\": \"app::E\", \"variants\": { \"Open\": [\"id\", 3] } } ] }\n");
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--decoders", bad_json, NULL });
	cr_expect_neq(tool_exit_code(&r), 0);
	char *where = xasprintf("--decoders %s:3:", bad_json);
	cr_expect(strstr(r.err, where), "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--decoders", bad_entry, NULL });
	cr_expect_neq(tool_exit_code(&r), 0);
	cr_expect(strstr(r.err, "summaries[1] (app::B): show[0] is not a member path"), "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--decoders", bad_variants, NULL });
	cr_expect_neq(tool_exit_code(&r), 0);
	cr_expect(strstr(r.err, "summaries[0] (app::E): variants.Open[1] is not a member path"), "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--decoders", bad_expr, NULL });
	cr_expect_neq(tool_exit_code(&r), 0);
	cr_expect(strstr(r.err, "summaries[0] (app::C): show[0] (n): \"a + \": an operand is missing at the end"), "%s", r.err);
	tool_result_free(&r);
	unlink(bad_expr);
	free(bad_expr);
	unlink(bad_variants);
	free(bad_variants);
	unlink(bad_json);
	unlink(bad_entry);
	rmdir(dir);
	free(where);
	free(bad_json);
	free(bad_entry);
}
