/* Which source files are the program's own and which are its dependencies', told from the DWARF
 * rather than from paths like ~/.cargo/registry (Debian's /usr/share/cargo/registry, `cargo vendor`
 * trees, git and path dependencies all look different).
 *
 * Cargo compiles a workspace member from the workspace root with a relative source path, and any
 * other package (crates.io, git, vendored, a path dependency outside the workspace) from that
 * package's own root with an absolute one; the standard library's units are remapped to
 * /rustc/<commit>. So a unit whose DW_AT_name is absolute marks its DW_AT_comp_dir as a
 * dependency's root, a relative one marks the program's own; a file belongs to the root that is
 * the longest prefix of its path, and is the program's own when no dependency root holds it.
 * `--user-crate NAME` makes the units of crate NAME (the `/@/NAME.<hash>-cgu.N` tail rustc gives
 * unit names) the program's own. */
#ifndef AI_USER_CODE_H
#define AI_USER_CODE_H

#include <stdbool.h>
#include <stddef.h>

struct ai_dwarf;
struct ai_user_code;

/* Adds a crate whose code is the program's own (--user-crate, repeatable; '-' and '_' are the
 * same). Process-wide, like ai_debuginfo_add_debug_dir: call it before any snapshot is taken. */
void ai_user_code_add_crate(const char *name);

/* Reads the unit DIEs of dw (about 1 ms per 150 units) and builds the roots. Never fails: without
 * units every file is the program's own. */
struct ai_user_code *ai_user_code_create(struct ai_dwarf *dw);
void ai_user_code_destroy(struct ai_user_code *uc);

/* True if path (absolute, normalized) is a dependency's or the standard library's source. */
bool ai_user_code_is_dependency(const struct ai_user_code *uc, const char *path);

/* The index-th --user-crate that names no crate of the DWARF (to warn of), NULL past the last. */
const char *ai_user_code_unknown_crate(const struct ai_user_code *uc, size_t index);

#endif
