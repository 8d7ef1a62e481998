/* The stacks the flame formats draw (folded, svg, speedscope's sampled profile), one rule for all:
 *
 * - with CPU sampling (--rate N, the default): a stack per task and distinct folded stack of its
 *   samples ("task ID NAME", then its await chain as it ran, then the native frames inside the
 *   async fn running, samples.c), weighed by its samples, tasks in the profile's order (busiest
 *   first) and a task's stacks by samples; then a stack per thread and distinct stack of its
 *   samples outside any poll ("thread TID NAME", then its frames);
 * - without (--rate 0): a stack per task that was busy, its label then its await chain from the
 *   snapshots, weighed by its busy nanoseconds.
 * With several processes each stack begins with its process, "pid N name". */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/profile.h"
#include "ai/util.h"

bool ai_profile_weighs_samples(const struct ai_profile *p)
{
	return p->sample_rate > 0;
}

struct list {
	const char *root; /* the first frame of every stack, or NULL */
	struct ai_flame_stack *items;
	size_t count, capacity;
	char **frames; /* of the stack being built */
	size_t frame_count, frame_capacity;
};

static void frame(struct list *l, const char *name)
{
	AI_GROW(l->frames, l->frame_capacity, l->frame_count + 1);
	l->frames[l->frame_count++] = xstrdup(name);
}

/* Each of the ';'-separated frames of a folded stack. */
static void folded_frames(struct list *l, const char *folded)
{
	for (const char *s = folded; *s;) {
		size_t n = strcspn(s, ";");
		char *name = xstrndup(s, n);
		frame(l, name);
		free(name);
		s += n + (s[n] == ';');
	}
}

static void chain_frames(struct list *l, const struct ai_profile_task *t)
{
	if (!t->chain_count)
		frame(l, t->future ? t->future : "<unknown future>");
	for (size_t c = 0; c < t->chain_count; c++)
		frame(l, t->chain[c]);
}

static void push(struct list *l, uint64_t weight)
{
	AI_GROW(l->items, l->capacity, l->count + 1);
	l->items[l->count++] = (struct ai_flame_stack){ .frames = l->frames, .count = l->frame_count, .weight = weight };
	l->frames = NULL;
	l->frame_count = l->frame_capacity = 0;
}

static char *task_label(const struct ai_profile_task *t)
{
	if (t->has_id)
		return xasprintf("task %" PRIu64 "%s%s", t->id, t->name ? " " : "", t->name ? t->name : "");
	return xasprintf("task @0x%" PRIx64, t->address);
}

static int by_count(const void *a, const void *b)
{
	const struct ai_profile_stack *x = *(const struct ai_profile_stack *const *)a;
	const struct ai_profile_stack *y = *(const struct ai_profile_stack *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->frames, y->frames);
}

/* The stacks of one task or thread, most samples first. */
static void sampled(struct list *l, const char *label, const struct ai_profile_task *t,
		    const struct ai_profile_stack *stacks, size_t count)
{
	const struct ai_profile_stack **order = xcalloc(count + 1, sizeof(*order));
	for (size_t i = 0; i < count; i++)
		order[i] = &stacks[i];
	qsort(order, count, sizeof(*order), by_count);
	for (size_t i = 0; i < count; i++) {
		if (l->root)
			frame(l, l->root);
		frame(l, label);
		if (t && order[i]->chain)
			chain_frames(l, t);
		folded_frames(l, order[i]->frames);
		push(l, order[i]->count);
	}
	free(order);
}

bool ai_profile_labelled(const struct ai_profile *const *profiles, size_t count)
{
	return count > 1 || (count == 1 && profiles[0]->of_several);
}

char *ai_profile_process_frame(const struct ai_profile *p)
{
	return xasprintf("pid %d %s", (int)p->pid, p->command ? p->command : "?");
}

static void add_stacks(struct list *l, const struct ai_profile *p);

size_t ai_profile_flame_stacks(const struct ai_profile *p, struct ai_flame_stack **ret)
{
	return ai_profile_flame_stacks_all(&p, 1, ret);
}

size_t ai_profile_flame_stacks_all(const struct ai_profile *const *profiles, size_t count,
				   struct ai_flame_stack **ret)
{
	struct list l = { 0 };
	bool labelled = ai_profile_labelled(profiles, count);
	for (size_t i = 0; i < count; i++) {
		char *root = labelled ? ai_profile_process_frame(profiles[i]) : NULL;
		l.root = root;
		add_stacks(&l, profiles[i]);
		free(root);
	}
	*ret = l.items;
	return l.count;
}

static void add_stacks(struct list *lp, const struct ai_profile *p)
{
	struct list l = *lp;
	bool samples = ai_profile_weighs_samples(p);
	for (size_t i = 0; i < p->task_count; i++) {
		const struct ai_profile_task *t = &p->tasks[i];
		if (samples ? !t->samples : !t->busy_ns)
			continue;
		char *label = task_label(t);
		if (samples) {
			sampled(&l, label, t, t->stacks, t->stack_count);
		} else {
			if (l.root)
				frame(&l, l.root);
			frame(&l, label);
			chain_frames(&l, t);
			push(&l, t->busy_ns);
		}
		free(label);
	}
	for (size_t i = 0; samples && i < p->thread_count; i++) {
		const struct ai_profile_thread *th = &p->threads[i];
		if (!th->samples)
			continue;
		char *label = xasprintf("thread %" PRIu32 "%s%s", th->tid, th->name ? " " : "", th->name ? th->name : "");
		sampled(&l, label, NULL, th->stacks, th->stack_count);
		free(label);
	}
	*lp = l;
}

void ai_profile_flame_stacks_free(struct ai_flame_stack *stacks, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		for (size_t f = 0; f < stacks[i].count; f++)
			free(stacks[i].frames[f]);
		free(stacks[i].frames);
	}
	free(stacks);
}
