/* The DAP model over hand-made snapshots (src/dap/model.c): thread names and ids that survive a
 * new snapshot, stacks innermost first with a join!'s other branches under a label, locals that
 * expand into their parts; and value summaries split into parts (src/dap/value_parse.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "ai/dap.h"
#include "ai/util.h"

static size_t parts_of(const char *text, struct ai_dap_value_part *parts)
{
	return ai_dap_value_parts(text, parts, 16);
}

static void expect_part(const struct ai_dap_value_part *p, const char *name, const char *value)
{
	if (name) {
		cr_assert(p->name, "part has no name, wanted %s", name);
		cr_expect_eq(p->name_len, strlen(name));
		cr_expect(strncmp(p->name, name, p->name_len) == 0, "name %.*s, wanted %s", (int)p->name_len, p->name, name);
	}
	cr_expect_eq(p->value_len, strlen(value), "value %.*s, wanted %s", (int)p->value_len, p->value, value);
	cr_expect(strncmp(p->value, value, p->value_len) == 0, "value %.*s, wanted %s", (int)p->value_len, p->value, value);
}

Test(dap_value, struct_fields_with_nested_values_and_strings)
{
	struct ai_dap_value_part p[16];
	cr_assert_eq(parts_of("Account { id: 3, owner: \"a, b: {c}\", tags: [1, 2], inner: Some(Pair(1, 2)) }", p), 4);
	expect_part(&p[0], "id", "3");
	expect_part(&p[1], "owner", "\"a, b: {c}\"");
	expect_part(&p[2], "tags", "[1, 2]");
	expect_part(&p[3], "inner", "Some(Pair(1, 2))");
}

Test(dap_value, lists_tuples_variants_and_maps)
{
	struct ai_dap_value_part p[16];
	cr_assert_eq(parts_of("[1, 2, \xe2\x80\xa6 (12 items)]", p), 3);
	cr_expect_null(p[0].name);
	cr_expect(p[0].bracket);
	cr_expect_eq(p[1].index, 1);
	expect_part(&p[2], "\xe2\x80\xa6", "(12 items)");
	cr_assert_eq(parts_of("Shape::Poly([Dot, Line(3)])", p), 1);
	cr_expect(!p[0].bracket);
	expect_part(&p[0], NULL, "[Dot, Line(3)]");
	cr_assert_eq(parts_of("(',', '\\'', \"x\")", p), 3);
	expect_part(&p[1], NULL, "'\\''");
	cr_assert_eq(parts_of("{\"k: 1\": 2, \"b\": 3}", p), 2);
	expect_part(&p[0], "\"k: 1\"", "2");
	cr_assert_eq(parts_of("Wrapper<u8> { x: <not read: 0x10, 5 bytes over the limit> }", p), 1);
	expect_part(&p[0], "x", "<not read: 0x10, 5 bytes over the limit>");
}

Test(dap_value, a_summary_state_before_a_value_expands_into_the_value)
{
	struct ai_dap_value_part p[16];
	cr_assert_eq(parts_of("Arc(strong 2, weak 1) Config { name: \"x\", retries: 3 }", p), 2);
	expect_part(&p[0], "name", "\"x\"");
	expect_part(&p[1], "retries", "3");
	cr_assert_eq(parts_of("Arc(strong 1, weak 0) Mutex(unlocked) [7, 8]", p), 2);
	expect_part(&p[1], NULL, "8");
	cr_expect_eq(parts_of("Mutex(locked) 12", p), 0);
}

Test(dap_value, scalars_cut_values_and_truncated_text_have_no_parts)
{
	struct ai_dap_value_part p[16];
	const char *none[] = { "42", "-1.5", "true", "\"a string\"", "Dot", "Name {..}", "[..]", "<unreadable 0x10>",
			       "Account { id: 3, owner: \"x\xe2\x80\xa6", "[]", "" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(none); i++)
		cr_expect_eq(parts_of(none[i], p), 0, "%s has parts", none[i]);
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
	l->value = xstrdup("Account { id: 7, owner: \"ann\" }");
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
	json_t *vars = ai_dap_model_variables(m, json_integer_value(json_object_get(locals, "variablesReference")), 0, 0,
					      &message);
	cr_assert(vars, "%s", message);
	json_t *list = json_object_get(vars, "variables");
	cr_assert_eq(json_array_size(list), 2);
	json_t *gone = json_array_get(list, 1);
	cr_expect_str_eq(json_string_value(json_object_get(gone, "value")), "<moved>");
	cr_expect_eq(json_integer_value(json_object_get(gone, "variablesReference")), 0);
	json_int_t account = json_integer_value(json_object_get(json_array_get(list, 0), "variablesReference"));
	cr_assert(account > 0);
	json_t *fields = ai_dap_model_variables(m, account, 0, 0, &message);
	json_t *owner = json_array_get(json_object_get(fields, "variables"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(owner, "name")), "owner");
	cr_expect_str_eq(json_string_value(json_object_get(owner, "value")), "\"ann\"");
	/* Unknown ids are errors, not crashes. */
	cr_expect_null(ai_dap_model_variables(m, 999, 0, 0, &message));
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
