/* The DAP model over hand-made snapshots (src/dap/model.c): thread names and ids that survive a
 * new snapshot, stacks innermost first with a join!'s other branches under a label, locals that
 * expand into their parts; and structured values as texts and parts (src/dap/value_tree.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "ai/dap.h"
#include "ai/util.h"

/* A local's value is a shared string (include/ai/snapshot.h). */
static char *shared_text(const char *text)
{
	return ai_shared_strn(text, strlen(text));
}

static json_t *parse(const char *text)
{
	json_error_t error;
	json_t *v = json_loads(text, 0, &error);
	cr_assert(v, "%s: %s", text, error.text);
	return v;
}

static void expect_text(const char *structured, const char *want)
{
	json_t *v = parse(structured);
	char *text = ai_dap_value_text(v);
	cr_expect_str_eq(text, want, "%s", structured);
	free(text);
	json_decref(v);
}

Test(dap_value, text_is_the_printers_syntax)
{
	expect_text("{\"kind\":\"struct\",\"type\":\"Config\",\"fields\":[{\"name\":\"name\",\"value\":{\"kind\":\"str\","
		    "\"len\":1,\"value\":\"a\\\"b\"}},{\"name\":\"retries\",\"value\":{\"kind\":\"int\",\"value\":3}}]}",
		    "Config { name: \"a\\\"b\", retries: 3 }");
	expect_text("{\"kind\":\"rc\",\"type\":\"Arc<Mutex<u32>>\",\"address\":\"0x10\",\"strong\":2,\"weak\":0,"
		    "\"target\":{\"kind\":\"wrapper\",\"type\":\"Mutex<u32>\",\"state\":\"Mutex(locked)\","
		    "\"value\":{\"kind\":\"int\",\"value\":8}}}",
		    "Arc(strong 2, weak 0) Mutex(locked) 8");
	expect_text("{\"kind\":\"seq\",\"type\":\"Vec<u32>\",\"len\":12,\"items\":[{\"kind\":\"int\",\"value\":1},"
		    "{\"kind\":\"int\",\"value\":2}],\"truncated\":true}",
		    "[1, 2, \xe2\x80\xa6 (12 items)]");
	expect_text("{\"kind\":\"enum\",\"type\":\"Shape\",\"variant\":\"Line\",\"fields\":[{\"name\":\"0\",\"value\":"
		    "{\"kind\":\"int\",\"value\":3}}]}", "Line(3)");
	expect_text("{\"kind\":\"enum\",\"type\":\"Shape\",\"variant\":\"Dot\",\"fields\":[]}", "Dot");
	expect_text("{\"kind\":\"str\",\"len\":300,\"value\":\"vv\",\"truncated\":true}", "\"vv\xe2\x80\xa6\" (300 bytes)");
	expect_text("{\"kind\":\"float\",\"value\":0.1}", "0.1");
	expect_text("{\"kind\":\"float\",\"value\":2.0}", "2.0");
	expect_text("{\"kind\":\"duration\",\"secs\":1,\"nanos\":500000000}", "1.5s");
	expect_text("{\"kind\":\"map\",\"type\":\"HashMap<u8, bool>\",\"len\":1,\"entries\":[{\"key\":{\"kind\":\"int\","
		    "\"value\":1},\"value\":{\"kind\":\"bool\",\"value\":true}}]}", "{1: true}");
	expect_text("{\"kind\":\"unreadable\",\"address\":\"0x10\"}", "<unreadable 0x10>");
	expect_text("{\"kind\":\"moved\"}", "<moved>");
	expect_text("{\"kind\":\"struct\",\"type\":\"Account\",\"partial\":true,\"fields\":[{\"name\":\"owner\","
		    "\"value\":{\"kind\":\"str\",\"len\":3,\"value\":\"ann\"}}]}", "Account { owner: \"ann\", .. }");
	expect_text("{\"kind\":\"char\",\"value\":\"\xc3\xa9\"}", "'\xc3\xa9'");
}

Test(dap_value, parts_are_fields_items_entries_and_targets)
{
	struct ai_dap_value_parts parts;
	json_t *v = parse("{\"kind\":\"seq\",\"type\":\"Vec<u32>\",\"len\":12,\"items\":[{\"kind\":\"int\",\"value\":1},"
			  "{\"kind\":\"int\",\"value\":2}],\"truncated\":true}");
	ai_dap_value_parts_of(v, &parts);
	cr_assert_eq(parts.count, 4);
	cr_expect_eq(parts.named, 2);
	cr_expect_eq(parts.indexed, 2);
	cr_expect_str_eq(parts.parts[0].name, "len");
	cr_expect_str_eq(parts.parts[0].text, "12");
	cr_expect_str_eq(parts.parts[3].name, "[1]");
	cr_expect(parts.parts[3].indexed);
	ai_dap_value_parts_free(&parts);
	json_decref(v);

	v = parse("{\"kind\":\"rc\",\"type\":\"Arc<Config>\",\"address\":\"0x10\",\"strong\":2,\"weak\":1,\"target\":"
		  "{\"kind\":\"struct\",\"type\":\"Config\",\"fields\":[{\"name\":\"retries\",\"value\":{\"kind\":\"int\","
		  "\"value\":3}}]}}");
	ai_dap_value_parts_of(v, &parts);
	cr_assert_eq(parts.count, 3);
	cr_expect_str_eq(parts.parts[0].name, "strong");
	cr_expect_str_eq(parts.parts[2].name, "*");
	struct ai_dap_value_parts inner;
	ai_dap_value_parts_of(parts.parts[2].value, &inner);
	cr_assert_eq(inner.count, 1);
	cr_expect_str_eq(inner.parts[0].name, "retries");
	/* evaluate's paths go through the Arc */
	cr_expect_eq(ai_dap_value_find(v, ".retries"), inner.parts[0].value);
	cr_expect_null(ai_dap_value_find(v, ".nope"));
	ai_dap_value_parts_free(&inner);
	ai_dap_value_parts_free(&parts);
	json_decref(v);

	/* whole in their text: no parts */
	const char *none[] = { "{\"kind\":\"int\",\"value\":1}", "{\"kind\":\"str\",\"len\":1,\"value\":\"a\"}",
			       "{\"kind\":\"moved\"}", "{\"kind\":\"unreadable\",\"address\":\"0x1\"}",
			       "{\"kind\":\"enum\",\"type\":\"E\",\"variant\":\"A\",\"fields\":[]}",
			       "{\"kind\":\"seq\",\"type\":\"Vec<u8>\",\"len\":0,\"items\":[]}", "{\"kind\":\"later\"}" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(none); i++) {
		v = parse(none[i]);
		ai_dap_value_parts_of(v, &parts);
		cr_expect_eq(parts.count, 0, "%s has parts", none[i]);
		ai_dap_value_parts_free(&parts);
		json_decref(v);
	}
}

/* A task: app::serve -> tokio::join! (branches app::left, app::right) -> left's leaf. */
static void add_task(struct ai_snapshot *s, uint64_t id)
{
	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = id;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("idle");
	t->runtime = xstrdup("tokio");
	t->future = xstrdup("app::serve");
	t->runtime_address = 0x1000;
	t->address = 0x2000 + id;
	t->tree.function = xstrdup("app::serve");
	t->tree.state = xstrdup("Suspend0");
	t->tree.file = xstrdup("/src/app/main.rs");
	t->tree.line = 10;
	struct ai_snapshot_local *l = ai_await_node_add_local(&t->tree);
	l->name = xstrdup("account");
	l->type = xstrdup("Account");
	l->value = shared_text("Account { id: 7, owner: \"ann\" }");
	l->structured = shared_text("{\"kind\":\"struct\",\"type\":\"Account\",\"fields\":[{\"name\":\"id\",\"value\":"
				"{\"kind\":\"int\",\"value\":7}},{\"name\":\"owner\",\"value\":{\"kind\":\"str\","
				"\"len\":3,\"value\":\"ann\"}}]}");
	l = ai_await_node_add_local(&t->tree);
	l->name = xstrdup("gone");
	l->type = xstrdup("String");
	l->state = AI_LOCAL_MOVED;
	struct ai_await_node *join = ai_await_node_add_child(&t->tree);
	join->type = xstrdup("PollFn<..>");
	join->macro = xstrdup("tokio::join!");
	const char *names[] = { "app::left", "app::right" };
	for (int i = 0; i < 2; i++) {
		struct ai_await_node *branch = ai_await_node_add_child(join);
		branch->function = xstrdup(names[i]);
		branch->state = xstrdup("Suspend0");
		branch->file = xstrdup("/src/app/main.rs");
		branch->line = 20 + i;
	}
	struct ai_await_node *leaf = ai_await_node_add_child(&join->children[0]);
	leaf->type = xstrdup("tokio::sync::Notify");
	leaf->leaf = true;
}

static struct ai_snapshot *snapshot_with(size_t tasks, uint64_t first_id)
{
	struct ai_snapshot *s = ai_snapshot_create();
	for (size_t i = 0; i < tasks; i++)
		add_task(s, first_id + i);
	struct ai_snapshot_thread *th = ai_snapshot_add_thread(s);
	th->tid = 4242;
	th->name = xstrdup("app");
	th->state = 'S';
	return s;
}

static json_int_t id_named(json_t *threads, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(threads, "threads"), i, t)
		if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
			return json_integer_value(json_object_get(t, "id"));
	return 0;
}

Test(dap_model, thread_ids_stay_across_snapshots)
{
	struct ai_dap_ids *ids = ai_dap_ids_create();
	struct ai_snapshot *s1 = snapshot_with(2, 1);
	struct ai_dap_model *m1 = ai_dap_model_create(s1, ids);
	json_t *t1 = ai_dap_model_threads(m1);
	json_int_t task2 = id_named(t1, "task 2 serve [idle]"), os = id_named(t1, "thread 4242 app [sleeping]");
	cr_assert(task2 && os && id_named(t1, "task 1 serve [idle]"));
	/* Task 1 ended, task 3 is new: task 2 and the thread keep their ids, task 3 gets a new one. */
	struct ai_snapshot *s2 = snapshot_with(2, 2);
	struct ai_dap_model *m2 = ai_dap_model_create(s2, ids);
	json_t *t2 = ai_dap_model_threads(m2);
	cr_expect_eq(id_named(t2, "task 2 serve [idle]"), task2);
	cr_expect_eq(id_named(t2, "thread 4242 app [sleeping]"), os);
	json_int_t task3 = id_named(t2, "task 3 serve [idle]");
	cr_expect(task3 && task3 != task2 && task3 != os && task3 != id_named(t1, "task 1 serve [idle]"));
	json_decref(t1);
	json_decref(t2);
	ai_dap_model_destroy(m1);
	ai_dap_model_destroy(m2);
	ai_snapshot_destroy(s1);
	ai_snapshot_destroy(s2);
	ai_dap_ids_destroy(ids);
}

static const char *frame_name(json_t *frames, size_t i)
{
	return json_string_value(json_object_get(json_array_get(frames, i), "name"));
}

Test(dap_model, stack_is_innermost_first_with_branches_under_a_label)
{
	struct ai_dap_ids *ids = ai_dap_ids_create();
	struct ai_snapshot *s = snapshot_with(1, 5);
	struct ai_dap_model *m = ai_dap_model_create(s, ids);
	const char *message = NULL;
	json_t *body = ai_dap_model_stack_trace(m, ai_dap_model_first_thread(m), 0, 0, &message);
	cr_assert(body, "%s", message);
	json_t *frames = json_object_get(body, "stackFrames");
	cr_assert_eq(json_array_size(frames), 6);
	cr_expect_str_eq(frame_name(frames, 0), "tokio::sync::Notify");
	cr_expect_str_eq(frame_name(frames, 1), "app::left");
	cr_expect_str_eq(frame_name(frames, 2), "PollFn<..>");
	cr_expect_str_eq(frame_name(frames, 3), "app::serve");
	cr_expect_str_eq(frame_name(frames, 4), "branch 2 of tokio::join!");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(frames, 4), "presentationHint")), "label");
	cr_expect_str_eq(frame_name(frames, 5), "app::right");
	json_t *right = json_array_get(frames, 5);
	cr_expect_eq(json_integer_value(json_object_get(right, "line")), 21);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(right, "source"), "path")), "/src/app/main.rs");
	cr_expect_eq(json_integer_value(json_object_get(body, "totalFrames")), 6);

	/* The root's locals: a moved one says so and does not expand; a struct expands. */
	json_int_t serve = json_integer_value(json_object_get(json_array_get(frames, 3), "id"));
	json_t *scopes = ai_dap_model_scopes(m, serve, &message);
	cr_assert(scopes, "%s", message);
	json_t *locals = json_array_get(json_object_get(scopes, "scopes"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(locals, "name")), "Locals");
	json_t *vars = ai_dap_model_variables(m, json_integer_value(json_object_get(locals, "variablesReference")), NULL, 0, 0,
					      &message);
	cr_assert(vars, "%s", message);
	json_t *list = json_object_get(vars, "variables");
	cr_assert_eq(json_array_size(list), 2);
	json_t *gone = json_array_get(list, 1);
	cr_expect_str_eq(json_string_value(json_object_get(gone, "value")), "<moved>");
	cr_expect_eq(json_integer_value(json_object_get(gone, "variablesReference")), 0);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "value")),
			 "Account { id: 7, owner: \"ann\" }");
	json_int_t account = json_integer_value(json_object_get(json_array_get(list, 0), "variablesReference"));
	cr_assert(account > 0);
	json_t *fields = ai_dap_model_variables(m, account, NULL, 0, 0, &message);
	json_t *owner = json_array_get(json_object_get(fields, "variables"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(owner, "name")), "owner");
	cr_expect_str_eq(json_string_value(json_object_get(owner, "value")), "\"ann\"");
	/* Unknown ids are errors, not crashes. */
	cr_expect_null(ai_dap_model_variables(m, 999, NULL, 0, 0, &message));
	cr_expect_null(ai_dap_model_scopes(m, 999, &message));
	cr_expect_null(ai_dap_model_stack_trace(m, 999, 0, 0, &message));
	json_decref(fields);
	json_decref(vars);
	json_decref(scopes);
	json_decref(body);
	ai_dap_model_destroy(m);
	ai_snapshot_destroy(s);
	ai_dap_ids_destroy(ids);
}
