/* Rust symbol demangling, without an external library: the legacy scheme (`_ZN...17h<hash>E`) and
 * the v0 scheme (`_R...`, RFC 2603). Names are printed the way rustc-demangle's alternate form
 * prints them: without the legacy hash and without v0 crate disambiguators. */
#ifndef AI_DEMANGLE_H
#define AI_DEMANGLE_H

#include <stdbool.h>

/* Returns the demangled name as a new heap string (free it), or NULL when `symbol` is not a Rust
 * mangled name or is malformed (callers then show the symbol as it is, e.g. a C function). Suffixes
 * such as `.llvm.1234` are dropped. */
char *ai_demangle(const char *symbol);

/* True if symbol looks like a Rust mangled name (either scheme). */
bool ai_is_rust_symbol(const char *symbol);

#endif
