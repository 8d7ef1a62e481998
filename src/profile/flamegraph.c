/* `profile --format svg`: the flame stacks (stacks.c) drawn as a flame graph, one self-contained
 * SVG file: frames of the same name under the same parent are merged, each as wide as its
 * samples (or busy time without sampling), the root at the bottom; hovering a frame shows its name, time and share (<title>).
 * An embedded script (no network: the file may be opened anywhere) zooms into a frame on a
 * click and searches the frame names for a regular expression, as flamegraph.pl's output does;
 * each frame's <g> keeps its unzoomed place in data-x, data-w (pixels) and data-d (depth). */
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

static void draw(FILE *out, const struct node *n, double x, size_t depth, size_t max_depth, uint64_t total,
		 bool samples)
{
	double w = total ? WIDTH * (double)n->weight / (double)total : 0;
	if (w < 0.1)
		return; /* too thin to see */
	double y = TOP + (double)(max_depth - depth) * FRAME_HEIGHT;
	int r, g, b;
	color(n->name, &r, &g, &b);
	fprintf(out, "<g class=\"f\" data-x=\"%.2f\" data-w=\"%.2f\" data-d=\"%zu\"><title>", x, w, depth);
	xml_text(out, n->name, SIZE_MAX);
	if (samples)
		fprintf(out, " (%" PRIu64 " sample%s, ", n->weight, n->weight == 1 ? "" : "s");
	else
		fprintf(out, " (%.2f ms, ", (double)n->weight / 1e6);
	fprintf(out, "%.2f%%)</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\" data-fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>",
		total ? 100.0 * (double)n->weight / (double)total : 0.0, MARGIN + x, y, w, FRAME_HEIGHT - 1, r, g, b,
		r, g, b);
	/* (an empty text too: a zoom may widen the frame enough for its name) */
	size_t fits = w > 6 ? (size_t)((w - 6) / CHAR_WIDTH) : 0;
	fprintf(out, "<text x=\"%.2f\" y=\"%.0f\">", MARGIN + x + 3, y + FRAME_HEIGHT - 4);
	if (fits >= 3) {
		size_t len = strlen(n->name);
		xml_text(out, n->name, len <= fits ? len : fits - 2);
		if (len > fits)
			fputs("..", out);
	}
	fputs("</text></g>\n", out);
	double cx = x;
	for (size_t i = 0; i < n->child_count; i++) {
		draw(out, &n->children[i], cx, depth + 1, max_depth, total, samples);
		cx += total ? WIDTH * (double)n->children[i].weight / (double)total : 0;
	}
}

/* Zoom and search. Keep it free of "]]>" (it is in a CDATA section). */
static const char script[] =
	"(function () {\n"
	"var W = %.1f, M = %d, CW = %.1f;\n"
	"var frames = [].slice.call(document.querySelectorAll('g.f'));\n"
	"var reset = document.getElementById('reset'), matched = document.getElementById('matched');\n"
	"function num(g, a) { return parseFloat(g.getAttribute(a)); }\n"
	"function name(g) { return g.querySelector('title').textContent.replace(/ \\([^()]*\\)$/, ''); }\n"
	"function place(g, x, w) {\n"
	"  var r = g.querySelector('rect'), t = g.querySelector('text'), n = name(g);\n"
	"  r.setAttribute('x', (M + x).toFixed(2)); r.setAttribute('width', w.toFixed(2));\n"
	"  t.setAttribute('x', (M + x + 3).toFixed(2));\n"
	"  var fits = Math.floor((w - 6) / CW);\n"
	"  t.textContent = fits < 3 ? '' : n.length <= fits ? n : n.slice(0, fits - 2) + '..';\n"
	"}\n"
	"function zoom(z) {\n"
	"  var zx = num(z, 'data-x'), zw = num(z, 'data-w'), zd = num(z, 'data-d'), s = W / zw, e = 0.01;\n"
	"  frames.forEach(function (g) {\n"
	"    var x = num(g, 'data-x'), w = num(g, 'data-w'), d = num(g, 'data-d');\n"
	"    if (d < zd && x <= zx + e && x + w >= zx + zw - e) {\n"
	"      place(g, 0, W); g.style.display = ''; g.setAttribute('opacity', '0.6');\n"
	"    } else if (d >= zd && x >= zx - e && x + w <= zx + zw + e) {\n"
	"      place(g, (x - zx) * s, w * s); g.style.display = ''; g.removeAttribute('opacity');\n"
	"    } else {\n"
	"      g.style.display = 'none';\n"
	"    }\n"
	"  });\n"
	"  reset.style.display = '';\n"
	"}\n"
	"function unzoom() {\n"
	"  frames.forEach(function (g) {\n"
	"    place(g, num(g, 'data-x'), num(g, 'data-w')); g.style.display = ''; g.removeAttribute('opacity');\n"
	"  });\n"
	"  reset.style.display = 'none';\n"
	"}\n"
	"function search() {\n"
	"  var text = window.prompt('Search the frames (a regular expression; empty: clear)', '');\n"
	"  if (text === null) return;\n"
	"  var re = null;\n"
	"  if (text !== '') { try { re = new RegExp(text); } catch (err) { window.alert(err.message); return; } }\n"
	"  var hits = [];\n"
	"  frames.forEach(function (g) {\n"
	"    var r = g.querySelector('rect'), hit = re !== null && re.test(name(g));\n"
	"    r.setAttribute('fill', hit ? 'rgb(230,0,230)' : r.getAttribute('data-fill'));\n"
	"    if (hit) hits.push(g);\n"
	"  });\n"
	"  /* the share of the root's width: a hit inside another hit is not counted again */\n"
	"  var share = 0;\n"
	"  hits.forEach(function (g) {\n"
	"    var x = num(g, 'data-x'), w = num(g, 'data-w'), d = num(g, 'data-d');\n"
	"    var inner = hits.some(function (h) {\n"
	"      return num(h, 'data-d') < d && num(h, 'data-x') <= x + 0.01 &&\n"
	"        num(h, 'data-x') + num(h, 'data-w') >= x + w - 0.01;\n"
	"    });\n"
	"    if (!inner) share += w;\n"
	"  });\n"
	"  matched.textContent = re === null ? '' : 'Matched: ' + (100 * share / W).toFixed(1) + '%%';\n"
	"}\n"
	"frames.forEach(function (g) { g.style.cursor = 'pointer'; g.addEventListener('click', function () { zoom(g); }); });\n"
	"reset.addEventListener('click', unzoom);\n"
	"document.getElementById('search').addEventListener('click', search);\n"
	"window.addEventListener('keydown', function (e) {\n"
	"  if ((e.ctrlKey || e.metaKey) && e.key === 'f') { e.preventDefault(); search(); }\n"
	"  else if (e.key === 'Escape') unzoom();\n"
	"});\n"
	"})();\n";

/* The title's "process N (exe)", or with several "processes pid N name, pid M name". */
static void processes_text(FILE *out, const struct ai_profile *const *profiles, size_t count)
{
	if (!ai_profile_labelled(profiles, count)) {
		fprintf(out, "process %d (", (int)profiles[0]->pid);
		xml_text(out, profiles[0]->exe ? profiles[0]->exe : "?", SIZE_MAX);
		fputc(')', out);
		return;
	}
	fputs("processes ", out);
	for (size_t i = 0; i < count; i++) {
		char *frame = ai_profile_process_frame(profiles[i]);
		if (i)
			fputs(", ", out);
		xml_text(out, frame, SIZE_MAX);
		free(frame);
	}
}

void ai_profile_write_svg(FILE *out, const struct ai_profile *const *profiles, size_t count)
{
	const struct ai_profile *p = profiles[0]; /* the rate is the same for all */
	uint64_t window = 0; /* the longest part (one that exited ends early) */
	for (size_t i = 0; i < count; i++)
		window = AI_MAX(window, profiles[i]->end_ns - profiles[i]->start_ns);
	struct node root = { .name = xstrdup("all tasks") };
	struct ai_flame_stack *stacks;
	size_t stack_count = ai_profile_flame_stacks_all(profiles, count, &stacks);
	for (size_t i = 0; i < stack_count; i++) {
		struct node *n = &root;
		n->weight += stacks[i].weight;
		for (size_t f = 0; f < stacks[i].count && f < MAX_DEPTH; f++) {
			n = child(n, stacks[i].frames[f]);
			n->weight += stacks[i].weight;
		}
	}
	ai_profile_flame_stacks_free(stacks, stack_count);
	bool samples = ai_profile_weighs_samples(p);
	if (samples) {
		free(root.name);
		root.name = xstrdup(ai_profile_labelled(profiles, count) ? "all processes" : "all threads");
	} else if (ai_profile_labelled(profiles, count)) {
		free(root.name);
		root.name = xstrdup("all processes");
	}
	size_t max_depth = depth_of(&root, 0);
	double height = TOP + (double)(max_depth + 1) * FRAME_HEIGHT + MARGIN + FRAME_HEIGHT; /* + the controls */
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"monospace\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fdf6ec\"/>\n"
		"<text x=\"%d\" y=\"24\" font-size=\"16\">", WIDTH + 2 * MARGIN, height, WIDTH + 2 * MARGIN, height,
		MARGIN);
	if (samples) {
		fputs("CPU samples of ", out);
		processes_text(out, profiles, count);
		fprintf(out, ": %" PRIu64 " at %u Hz over %.2f s; each task's await chain, then its native frames; "
			"click to zoom</text>\n", root.weight, p->sample_rate, (double)window / 1e9);
	} else {
		fputs("Busy time of the tasks of ", out);
		processes_text(out, profiles, count);
		fprintf(out, ": %.1f ms over %.2f s; each task's await chain, root below; click to zoom</text>\n",
			(double)root.weight / 1e6, (double)window / 1e9);
	}
	/* The controls on the bottom line, under the graph (the title may be long). */
	double bottom = height - 4;
	fprintf(out, "<text id=\"reset\" x=\"%d\" y=\"%.0f\" style=\"cursor:pointer;display:none\">Reset zoom"
		"</text>\n<text id=\"matched\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\"></text>\n"
		"<text id=\"search\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" style=\"cursor:pointer\">Search"
		"</text>\n", MARGIN, bottom, WIDTH + MARGIN - 60, bottom, WIDTH + MARGIN, bottom);
	draw(out, &root, 0, 0, max_depth, root.weight, samples);
	fputs("<script type=\"text/ecmascript\"><![CDATA[\n", out);
	fprintf(out, script, WIDTH, MARGIN, CHAR_WIDTH);
	fputs("]]></script>\n</svg>\n", out);
	node_free(&root);
}
