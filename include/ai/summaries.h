/* Declarative type summaries (`--decoders FILE`): data, never code, that tells the value printer
 * which members of a type to show. The file (JSON, docs/decoders/README.md):
 *
 *   { "format": "async-inspect-decoders", "version": 1,
 *     "summaries": [ { "type": "app::Account", "show": ["owner", "limits.daily"] } ] }
 *
 * `type` is a qualified type name as DWARF names it; it also matches its generic instances
 * (`app::Wrapper` matches `app::Wrapper<u8>`). `show` lists member paths through nested structs
 * (not through pointers). A value of such a struct prints as `Account { owner: "ann", limits.daily:
 * 50, .. }`: the `..` says members were left out. The first summary loaded for a type wins. */
#ifndef AI_SUMMARIES_H
#define AI_SUMMARIES_H

#include <stddef.h>

#include "ai/error.h"

struct ai_summary {
	char *type;    /* owned */
	char **paths;  /* owned: "owner", "limits.daily" */
	size_t path_count;
};

/* Adds the summaries of a decoder file to the process-wide table. A file that is not JSON, not
 * of this format or version, or with an entry that is not understood is an
 * AI_ERROR_INVALID_ARGUMENT naming the file and the line (JSON errors) or the entry; nothing of
 * such a file is kept. */
struct ai_error *ai_summaries_load(const char *path);
/* The summary of a type by its qualified name, or NULL. */
const struct ai_summary *ai_summary_find(const char *qualified_name);
/* Forgets every summary (tests). */
void ai_summaries_clear(void);

#endif
