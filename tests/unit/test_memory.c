/* The memory layer over hand-made segments. */
#include <criterion/criterion.h>
#include <string.h>

#include "ai/memory.h"
#include "ai/util.h"

struct buffer {
	unsigned char bytes[3 * 4096];
	uint64_t base;
	int calls;
};

static struct ai_error *read_buffer(void *buf, uint64_t address, size_t count, void *arg)
{
	struct buffer *b = arg;
	b->calls++;
	memcpy(buf, b->bytes + (address - b->base), count);
	return NULL;
}

static void fill(struct buffer *b, uint64_t base, unsigned char seed)
{
	b->base = base;
	b->calls = 0;
	for (size_t i = 0; i < sizeof(b->bytes); i++)
		b->bytes[i] = (unsigned char)(seed + i);
}

Test(memory, reads_across_segments_and_faults_in_gaps)
{
	static struct buffer low, high;
	fill(&low, 0x10000, 0);
	fill(&high, 0x10000 + sizeof(low.bytes), 100);
	struct ai_memory *mem = ai_memory_create();
	ai_memory_add_segment(mem, low.base, low.base + sizeof(low.bytes), read_buffer, &low);
	ai_memory_add_segment(mem, high.base, high.base + sizeof(high.bytes), read_buffer, &high);
	unsigned char out[16];
	/* Straddles the boundary between the two segments. */
	cr_assert_null(ai_memory_read(mem, out, high.base - 8, sizeof(out)));
	cr_expect_eq(out[0], low.bytes[sizeof(low.bytes) - 8]);
	cr_expect_eq(out[8], high.bytes[0]);
	/* Past the end: a fault at the first missing address. */
	struct ai_error *err = ai_memory_read(mem, out, high.base + sizeof(high.bytes) - 4, sizeof(out));
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_FAULT);
	cr_expect_eq(err->address, high.base + sizeof(high.bytes));
	ai_error_destroy(err);
	/* Wrap-around is refused, not attempted. */
	err = ai_memory_read(mem, out, UINT64_MAX - 4, sizeof(out));
	cr_assert_not_null(err);
	ai_error_destroy(err);
	ai_memory_destroy(mem);
}

Test(memory, later_segments_win_where_they_overlap)
{
	static struct buffer file, core;
	fill(&file, 0x20000, 1);
	fill(&core, 0x21000, 200);
	struct ai_memory *mem = ai_memory_create();
	ai_memory_add_segment(mem, file.base, file.base + sizeof(file.bytes), read_buffer, &file);
	ai_memory_add_segment(mem, core.base, core.base + 4096, read_buffer, &core);
	unsigned char out[4096 * 3];
	cr_assert_null(ai_memory_read(mem, out, file.base, sizeof(out)));
	cr_expect_eq(out[0], file.bytes[0]);
	cr_expect_eq(out[4096], core.bytes[0], "the core's page overrides the file's");
	cr_expect_eq(out[8192], file.bytes[8192], "and the file shows again after it");
	ai_memory_destroy(mem);
}

Test(memory, cache_serves_small_reads_until_flushed)
{
	static struct buffer b;
	fill(&b, 0x30000, 7);
	struct ai_memory *mem = ai_memory_create();
	ai_memory_add_segment(mem, b.base, b.base + sizeof(b.bytes), read_buffer, &b);
	ai_memory_set_caching(mem, true);
	uint64_t v;
	for (int i = 0; i < 100; i++)
		cr_assert_null(ai_memory_read_u64(mem, b.base + 8 * (uint64_t)i, &v));
	cr_expect_eq(b.calls, 1, "one page read for 100 words");
	b.bytes[0] = 0xee;
	unsigned char c;
	cr_assert_null(ai_memory_read(mem, &c, b.base, 1));
	cr_expect_neq(c, 0xee, "still the cached page");
	ai_memory_flush(mem);
	cr_assert_null(ai_memory_read(mem, &c, b.base, 1));
	cr_expect_eq(c, 0xee, "fresh after a flush");
	cr_expect_eq(ai_memory_stats(mem)->reads, 102);
	ai_memory_destroy(mem);
}

Test(memory, reads_strings)
{
	static struct buffer b;
	fill(&b, 0x40000, 0);
	memcpy(b.bytes + 100, "hello", 6);
	struct ai_memory *mem = ai_memory_create();
	ai_memory_add_segment(mem, b.base, b.base + sizeof(b.bytes), read_buffer, &b);
	char *s;
	cr_assert_null(ai_memory_read_cstr(mem, b.base + 100, 64, &s));
	cr_expect_str_eq(s, "hello");
	free(s);
	cr_assert_null(ai_memory_read_cstr(mem, b.base + 100, 3, &s));
	cr_expect_str_eq(s, "hel", "bounded");
	free(s);
	ai_memory_destroy(mem);
}
