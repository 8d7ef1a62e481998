/* A table of interned strings: one shared string (ai/util.h) per distinct text, handed to every
 * holder of that text. The await trees of a million tasks name a few hundred functions, types and
 * files: interned, each is kept once rather than once per node (src/util/intern.c). */
#ifndef AI_INTERN_H
#define AI_INTERN_H

struct ai_intern;

struct ai_intern *ai_intern_create(void);
/* Drops the table's own references; strings still held elsewhere live on. NULL: nothing. */
void ai_intern_destroy(struct ai_intern *table);
/* The table's shared string equal to text, as a new reference (ai_shared_unref it); made on the
 * first call for that text. */
char *ai_intern(struct ai_intern *table, const char *text);

#endif
