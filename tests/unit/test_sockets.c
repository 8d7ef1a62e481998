/* The /proc socket parsers on sample text (byte order of IPv4 and IPv6 addresses, states). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include "ai/sockets.h"

Test(sockets, tcp4_addresses_ports_and_states)
{
	const char *text =
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 43210 1 "
		"0000000000000000 100 0 0 10 0\n"
		"   1: 0100007F:C8E2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 43211 1 "
		"0000000000000000 20 4 30 10 -1\n"
		"   2: 0A02000A:0016 6400A8C0:D431 06 00000000:00000000 03:00001234 00000000     0        0 0 3\n"
		"garbage line\n";
	struct ai_socket_table table;
	ai_socket_table_init(&table);
	cr_assert_null(ai_sockets_parse_inet(text, "TCP", &table));
	cr_assert_eq(table.count, 3);
	const struct ai_socket *l = ai_sockets_find(&table, 43210);
	cr_assert_not_null(l);
	cr_expect_str_eq(l->kind, "TCP");
	cr_expect_str_eq(l->local, "127.0.0.1:8080");
	cr_expect_str_eq(l->peer, "", "a listener has no peer");
	cr_expect_str_eq(l->state, "LISTEN");
	const struct ai_socket *c = ai_sockets_find(&table, 43211);
	cr_assert_not_null(c);
	cr_expect_str_eq(c->local, "127.0.0.1:51426");
	cr_expect_str_eq(c->peer, "127.0.0.1:8080");
	cr_expect_str_eq(c->state, "ESTABLISHED");
	/* 0A02000A = bytes 0A 00 02 0A reversed: 10.0.2.10; 6400A8C0: 192.168.0.100. */
	cr_expect_str_eq(table.items[2].local, "10.0.2.10:22");
	cr_expect_str_eq(table.items[2].peer, "192.168.0.100:54321");
	cr_expect_str_eq(table.items[2].state, "TIME_WAIT");
	cr_expect_null(ai_sockets_find(&table, 999));
	ai_socket_table_deinit(&table);
}

Test(sockets, tcp6_words_are_host_order)
{
	/* ::1 is 00..00 01 in network order; the kernel prints the last word 0x01000000 as
	 * "01000000". ::ffff:127.0.0.1 ends in words 0xFFFF0000 (printed "FFFF0000") and
	 * 0x0100007F. 2001:db8::1 starts with the word 20 01 0d b8, printed "B80D0120". */
	const char *text =
		"  sl  local_address                         remote_address                        st tx_queue "
		"rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		"   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 "
		"00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0\n"
		"   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 "
		"00:00000000 00000000  1000        0 778 1 0000000000000000 20 4 30 10 -1\n"
		"   2: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 07 00000000:00000000 "
		"00:00000000 00000000  1000        0 779 1 0000000000000000 20 4 30 10 -1\n";
	struct ai_socket_table table;
	ai_socket_table_init(&table);
	cr_assert_null(ai_sockets_parse_inet(text, "TCP6", &table));
	cr_assert_eq(table.count, 3);
	cr_expect_str_eq(table.items[0].kind, "TCP6");
	cr_expect_str_eq(table.items[0].local, "[::1]:80");
	cr_expect_str_eq(table.items[0].state, "LISTEN");
	cr_expect_str_eq(table.items[1].local, "[::ffff:127.0.0.1]:80");
	cr_expect_str_eq(table.items[1].peer, "[::ffff:127.0.0.1]:40000");
	cr_expect_str_eq(table.items[2].local, "[2001:db8::1]:443");
	cr_expect_str_eq(table.items[2].state, "CLOSE");
	ai_socket_table_deinit(&table);
}

Test(sockets, udp_states)
{
	const char *text =
		"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref "
		"pointer drops\n"
		"  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 5001 2 "
		"0000000000000000 0\n"
		"  101: 0100007F:A000 3500007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 5002 2 "
		"0000000000000000 0\n";
	struct ai_socket_table table;
	ai_socket_table_init(&table);
	cr_assert_null(ai_sockets_parse_inet(text, "UDP", &table));
	cr_assert_eq(table.count, 2);
	cr_expect_str_eq(table.items[0].local, "127.0.0.53:53");
	cr_expect_str_eq(table.items[0].state, "UNCONN");
	cr_expect_str_eq(table.items[1].peer, "127.0.0.53:53");
	cr_expect_str_eq(table.items[1].state, "ESTABLISHED");
	ai_socket_table_deinit(&table);
}

Test(sockets, unix_listen_connected_abstract)
{
	const char *text =
		"Num       RefCount Protocol Flags    Type St Inode Path\n"
		"0000000000000000: 00000002 00000000 00010000 0001 01 30001 /run/my app.sock\n"
		"0000000000000000: 00000003 00000000 00000000 0001 03 30002\n"
		"0000000000000000: 00000002 00000000 00000000 0002 01 30003 @abstract\n";
	struct ai_socket_table table;
	ai_socket_table_init(&table);
	cr_assert_null(ai_sockets_parse_unix(text, &table));
	cr_assert_eq(table.count, 3);
	const struct ai_socket *l = ai_sockets_find(&table, 30001);
	cr_expect_str_eq(l->kind, "unix");
	cr_expect_str_eq(l->local, "/run/my app.sock");
	cr_expect_str_eq(l->state, "LISTEN");
	cr_expect_str_eq(l->type, "STREAM");
	const struct ai_socket *c = ai_sockets_find(&table, 30002);
	cr_expect_str_eq(c->local, "");
	cr_expect_str_eq(c->state, "CONNECTED");
	const struct ai_socket *a = ai_sockets_find(&table, 30003);
	cr_expect_str_eq(a->local, "@abstract");
	cr_expect_str_eq(a->type, "DGRAM");
	cr_expect_str_eq(a->state, "UNCONNECTED");
	ai_socket_table_deinit(&table);
}

Test(sockets, rejects_other_files)
{
	struct ai_socket_table table;
	ai_socket_table_init(&table);
	struct ai_error *err = ai_sockets_parse_inet("Num RefCount\n", "TCP", &table);
	cr_assert_not_null(err);
	ai_error_destroy(err);
	err = ai_sockets_parse_unix("  sl  local_address rem_address\n", &table);
	cr_assert_not_null(err);
	ai_error_destroy(err);
	err = ai_sockets_parse_inet("  sl  local_address\n", "SCTP", &table);
	cr_assert_not_null(err);
	ai_error_destroy(err);
	cr_expect_eq(table.count, 0);
	ai_socket_table_deinit(&table);
}

Test(sockets, fd_targets_of_this_process)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	char *target = NULL;
	cr_assert_null(ai_fd_target(getpid(), fds[0], &target));
	cr_expect(strncmp(target, "pipe:[", 6) == 0, "%s", target);
	cr_expect_eq(ai_fd_socket_inode(target), 0);
	free(target);
	close(fds[0]);
	close(fds[1]);
	cr_expect_eq(ai_fd_socket_inode("socket:[12345]"), 12345);
	cr_expect_eq(ai_fd_socket_inode("socket:[12x]"), 0);
	struct ai_error *err = ai_fd_target(getpid(), 1 << 20, &target);
	cr_assert_not_null(err);
	ai_error_destroy(err);
}

Test(sockets, reads_this_process_sockets_sorted)
{
	/* Our own /proc/PID/net: whatever is there, every socket is found by its inode. */
	struct ai_socket_table table;
	ai_socket_table_init(&table);
	cr_assert_null(ai_sockets_read(getpid(), &table));
	cr_expect(table.sorted);
	for (size_t i = 1; i < table.count; i++)
		cr_expect(table.items[i - 1].inode <= table.items[i].inode);
	for (size_t i = 0; i < table.count; i++)
		cr_expect_eq(ai_sockets_find(&table, table.items[i].inode)->inode, table.items[i].inode);
	cr_expect_null(ai_sockets_find(&table, UINT64_MAX));
	ai_socket_table_deinit(&table);
}
