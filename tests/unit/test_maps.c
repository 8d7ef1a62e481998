#include <criterion/criterion.h>

#include "ai/maps.h"

Test(maps, parses_proc_maps_lines)
{
	const char *text =
		"7f0000001000-7f0000002000 r--p 00001000 08:01 1234     /usr/lib/libc.so.6\n"
		"55d000000000-55d000001000 r-xp 00000000 08:01 99       /home/me/my app (deleted)\n"
		"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0        [stack]\n"
		"7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n";
	struct ai_maps maps;
	ai_maps_init(&maps);
	cr_assert_null(ai_maps_parse(text, &maps));
	cr_assert_eq(maps.count, 4);
	cr_expect_eq(maps.items[0].start, 0x55d000000000, "sorted by address");
	cr_expect_str_eq(maps.items[0].path, "/home/me/my app (deleted)");
	cr_expect_str_eq(maps.items[0].perms, "r-xp");
	cr_expect_eq(maps.items[1].offset, 0x1000);
	cr_expect_null(maps.items[2].path, "anonymous");
	const struct ai_mapping *m = ai_maps_find(&maps, 0x7ffc00020fff);
	cr_assert_not_null(m);
	cr_expect_str_eq(m->path, "[stack]");
	cr_expect_null(ai_maps_find(&maps, 0x7ffc00021000), "end is exclusive");
	cr_expect_null(ai_maps_find(&maps, 0x10));
	ai_maps_deinit(&maps);
}

Test(maps, rejects_garbage)
{
	struct ai_maps maps;
	ai_maps_init(&maps);
	struct ai_error *err = ai_maps_parse("not a maps line\n", &maps);
	cr_assert_not_null(err);
	ai_error_destroy(err);
	ai_maps_deinit(&maps);
}
