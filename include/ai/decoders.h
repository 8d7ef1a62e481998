/* Decoder files (docs/decoders/): data, never code. A file's "format" says what it holds:
 * "async-inspect-decoders", type summaries for the value printer (ai/summaries.h), or
 * "async-inspect-runtime", a runtime adapter described by data (src/runtime/declarative/,
 * docs/decoders/runtime.md) that is registered behind the same ops table as the C adapters
 * (include/ai/runtime.h), one runtime per file. */
#ifndef AI_DECODERS_H
#define AI_DECODERS_H

#include <stdio.h>

#include "ai/error.h"

/* Loads one decoder file of either format (`--decoders FILE`). A file that is not JSON, of no
 * known format or version, or with an entry that is not understood is an
 * AI_ERROR_INVALID_ARGUMENT of one line naming the file and the line:column (JSON errors) or the
 * key; nothing of such a file is kept. */
struct ai_error *ai_decoders_load(const char *path);

/* Loads every *.json of $XDG_CONFIG_HOME/async-inspect/decoders/ (else
 * ~/.config/async-inspect/decoders/) and then of /usr/share/async-inspect/decoders/, each
 * directory when it exists, in name order. A file that is refused costs one line on `warnings`
 * ("async-inspect: warning: ...; skipped") and the rest goes on. Once per process. */
void ai_decoders_load_dirs(FILE *warnings);

/* Forgets every declarative runtime (tests, and the end of the process for leak checkers). */
void ai_decoders_clear(void);

#endif
