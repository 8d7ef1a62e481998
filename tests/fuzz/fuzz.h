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

#endif
