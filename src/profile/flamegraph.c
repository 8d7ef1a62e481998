/* `profile --format svg`: the folded stacks (report.c) drawn as a flame graph, one self-contained
 * SVG file: frames of the same name under the same parent are merged, each as wide as its busy
 * time, the root at the bottom; hovering a frame shows its name, time and share (<title>). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/profile.h"
#include "ai/util.h"

#define WIDTH 1200.0
#define FRAME_HEIGHT 16
#define MARGIN 10
#define TOP 40 /* the title's room */
#define CHAR_WIDTH 7.0 /* of the 12px monospace font, for cutting names to fit */
#define MAX_DEPTH 256

struct node {
	char *name;  /* owned */
	uint64_t weight;
	struct node *children; /* owned */
	size_t child_count, child_capacity;
};

static struct node *child(struct node *n, const char *name)
{
	for (size_t i = 0; i < n->child_count; i++)
		if (strcmp(n->children[i].name, name) == 0)
			return &n->children[i];
	AI_GROW(n->children, n->child_capacity, n->child_count + 1);
	struct node *c = &n->children[n->child_count++];
	*c = (struct node){ .name = xstrdup(name) };
	return c;
}

static void node_free(struct node *n)
{
	for (size_t i = 0; i < n->child_count; i++)
		node_free(&n->children[i]);
	free(n->children);
	free(n->name);
}

static size_t depth_of(const struct node *n, size_t depth)
{
	size_t max = depth;
	for (size_t i = 0; i < n->child_count; i++)
		max = AI_MAX(max, depth_of(&n->children[i], depth + 1));
	return max;
}

static void xml_text(FILE *out, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		switch (s[i]) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			fputc((unsigned char)s[i] < 0x20 ? ' ' : s[i], out);
		}
	}
}

/* A warm color from the name, stable across runs. */
static void color(const char *name, int *r, int *g, int *b)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	*r = 205 + (int)(h % 50);
	*g = 80 + (int)((h >> 8) % 130);
	*b = 30 + (int)((h >> 16) % 50);
}

static void draw(FILE *out, const struct node *n, double x, size_t depth, size_t max_depth, uint64_t total)
{
	double w = total ? WIDTH * (double)n->weight / (double)total : 0;
	if (w < 0.1)
		return; /* too thin to see */
	double y = TOP + (double)(max_depth - depth) * FRAME_HEIGHT;
	int r, g, b;
	color(n->name, &r, &g, &b);
	fputs("<g><title>", out);
	xml_text(out, n->name, SIZE_MAX);
	fprintf(out, " (%.2f ms, %.2f%%)</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>", (double)n->weight / 1e6,
		total ? 100.0 * (double)n->weight / (double)total : 0.0, MARGIN + x, y, w, FRAME_HEIGHT - 1, r, g, b);
	size_t fits = (size_t)((w - 6) / CHAR_WIDTH);
	if (fits >= 3) {
		fprintf(out, "<text x=\"%.2f\" y=\"%.0f\">", MARGIN + x + 3, y + FRAME_HEIGHT - 4);
		size_t len = strlen(n->name);
		xml_text(out, n->name, len <= fits ? len : fits - 2);
		if (len > fits)
			fputs("..", out);
		fputs("</text>", out);
	}
	fputs("</g>\n", out);
	double cx = x;
	for (size_t i = 0; i < n->child_count; i++) {
		draw(out, &n->children[i], cx, depth + 1, max_depth, total);
		cx += total ? WIDTH * (double)n->children[i].weight / (double)total : 0;
	}
}

void ai_profile_write_svg(FILE *out, const struct ai_profile *p)
{
	struct node root = { .name = xstrdup("all tasks") };
	for (size_t i = 0; i < p->task_count; i++) {
		const struct ai_profile_task *t = &p->tasks[i];
		if (!t->busy_ns)
			continue;
		char label[160];
		if (t->has_id)
			snprintf(label, sizeof(label), "task %" PRIu64 "%s%s", t->id, t->name ? " " : "",
				 t->name ? t->name : "");
		else
			snprintf(label, sizeof(label), "task @0x%" PRIx64, t->address);
		root.weight += t->busy_ns;
		struct node *n = child(&root, label);
		n->weight += t->busy_ns;
		if (!t->chain_count) {
			n = child(n, t->future ? t->future : "<unknown future>");
			n->weight += t->busy_ns;
		}
		for (size_t c = 0; c < t->chain_count && c < MAX_DEPTH; c++) {
			n = child(n, t->chain[c]);
			n->weight += t->busy_ns;
		}
	}
	size_t max_depth = depth_of(&root, 0);
	double height = TOP + (double)(max_depth + 1) * FRAME_HEIGHT + MARGIN;
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"monospace\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fdf6ec\"/>\n"
		"<text x=\"%d\" y=\"24\" font-size=\"16\">", WIDTH + 2 * MARGIN, height, WIDTH + 2 * MARGIN, height,
		MARGIN);
	fprintf(out, "Busy time of the tasks of process %d (", (int)p->pid);
	xml_text(out, p->exe ? p->exe : "?", SIZE_MAX);
	fprintf(out, "): %.1f ms over %.2f s; each task's await chain, root below</text>\n",
		(double)root.weight / 1e6, (double)(p->end_ns - p->start_ns) / 1e9);
	draw(out, &root, 0, 0, max_depth, root.weight);
	fputs("</svg>\n", out);
	node_free(&root);
}
