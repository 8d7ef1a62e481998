/* Shared between the TUI's screen manager (tui.c) and its views (views.c). */
#ifndef AI_TUI_INTERNAL_H
#define AI_TUI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/live.h"
#include "ai/tui.h"

enum tui_view { TUI_VIEW_TASKS, TUI_VIEW_DETAILS, TUI_VIEW_HELP, TUI_VIEW_QUIT };

struct tui {
	struct ai_live *live;                  /* borrowed */
	const struct ai_tui_source *source;    /* borrowed */
	const struct ai_tui_options *options;  /* borrowed */
	enum tui_view view;
	size_t selected;  /* index into live->tasks */
	size_t top;       /* first task row shown */
	size_t scroll;    /* details and help: first line shown */
	bool paused, exited, quit;
	enum ai_tui_end end;
	uint64_t next_sample_us;
	char message[256];
};

struct tui_key {
	const char *keys;
	const char *help;
	void (*action)(struct tui *tui);
};
extern const struct tui_key tui_keys[]; /* ends with a NULL entry */

void tui_colors_init(void);
/* Draws the whole screen for the current view. */
void tui_draw(struct tui *tui);
/* "850ms", "2.3s", "1m05s", "2h03m" */
void tui_format_duration(int64_t ms, char *buf, size_t size);

#endif
