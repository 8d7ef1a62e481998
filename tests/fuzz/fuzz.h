/* Fuzz harnesses (tests/fuzz/README.md): one function per decoder, fed any bytes. Built with
 * libFuzzer by `make fuzz` (main.c), and run over the seeds and regression inputs by the suite
 * (tests/unit/test_fuzz.c), so a crash once found stays fixed. Each returns 0. */
#ifndef AI_TESTS_FUZZ_H
#define AI_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* A snapshot document as `replay` reads it, then written back as text, JSON and DOT, analysed,
 * and fed to the live model. */
int ai_fuzz_json(const uint8_t *data, size_t size);
/* An ELF file: its headers, symbols, notes and (compressed) sections, and its DWARF: every unit,
 * every DIE and attribute, line tables and the location look-up of a few addresses. */
int ai_fuzz_elf(const uint8_t *data, size_t size);
/* Target memory: the first two bytes pick a type of a real program's DWARF ($AI_FUZZ_BINARY, or
 * $AI_FIXTURES/tokio-1.54/debug/nested), the rest is the memory the value printer reads, mapped
 * at a fixed address so that pointers into it are followed. */
int ai_fuzz_value(const uint8_t *data, size_t size);
/* Target memory: the await-tree decoder over a fuzzed image. The first two bytes pick a coroutine
 * type of a real program ($AI_FUZZ_AWAIT_BINARY, or $AI_FIXTURES/tokio-1.54/debug/shapes_zoo),
 * the rest is the memory it lies in, at a fixed address; the program's segments are readable. */
int ai_fuzz_await(const uint8_t *data, size_t size);
/* A core file (written to a memory file): its notes, threads, segments and the files it maps,
 * opened with an executable ($AI_FUZZ_CORE_EXE, or the `c/hello` fixture), then read. */
int ai_fuzz_core(const uint8_t *data, size_t size);
/* A breakpoint SPEC with its ` if EXPR` condition, the condition evaluated over a fixed task. */
int ai_fuzz_break(const uint8_t *data, size_t size);
/* An HTTP request to `serve` (method, URL, Host, token in the query, cookie or header): the
 * decision its pure part makes (src/serve/route.c). */
int ai_fuzz_serve(const uint8_t *data, size_t size);

#endif
