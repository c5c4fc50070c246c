/*
 * test_ckpt.c - the suspend file: sections round-trip by field name, memory
 * round-trips with zero pages left out (eagerly and lazily through
 * userfaultfd), and damaged files give errors naming the section.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "ckpt/ckpt.h"
#include "mem/ram.h"

struct demo_state {
	uint64_t pc;
	uint64_t x[4];
	uint32_t flags;
};

static const struct ckpt_field demo_fields[] = {
	CKPT_FIELD(struct demo_state, pc),
	CKPT_FIELD(struct demo_state, x),
	CKPT_FIELD(struct demo_state, flags),
};

static char dir[64], path[128];
#define RAM_SIZE (8u << 20)

static int setup(void **s)
{
	snprintf(dir, sizeof(dir), "/tmp/vmx3-ckpt-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/vm.vmss", dir);
	return 0;
}

static int teardown(void **s)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Writes a checkpoint of a RAM image with a known pattern; returns the RAM. */
static void write_ckpt(struct guest_ram *ram)
{
	struct ckpt_writer *w;
	struct verr e = { "" };
	struct demo_state st = { .pc = 0x80200000, .x = { 1, 2, 3, 4 }, .flags = 7 };

	assert_int_equal(ram_create(ram, RAM_DEFAULT_BASE, RAM_SIZE, &e), 0);
	/* Pages 0, 1, 100 and the last hold data; page 50 is written but zero. */
	memset(ram->host, 0xab, 4096);
	memcpy(ram->host + 4096, "hello", 5);
	memset(ram->host + 50 * 4096, 0, 4096);
	ram->host[100 * 4096 + 17] = 0x5a;
	ram->host[RAM_SIZE - 1] = 0x77;
	assert_int_equal(ckpt_writer_open(&w, path, "0.1.0", "beta", NULL, &e), 0);
	assert_int_equal(ckpt_put_struct(w, "cpu.0", 1, demo_fields, 3, &st, &e), 0);
	assert_int_equal(ckpt_put_blob(w, "uart", 2, "UARTSTATE", 9, &e), 0);
	assert_int_equal(ckpt_put_memory(w, ram->host, RAM_SIZE, ram->memfd, &e), 0);
	assert_int_equal(ckpt_writer_commit(w, &e), 0);
}

static void check_ram(const uint8_t *m)
{
	for (int i = 0; i < 4096; i++)
		assert_int_equal(m[i], 0xab);
	assert_memory_equal(m + 4096, "hello", 5);
	assert_int_equal(m[100 * 4096 + 17], 0x5a);
	assert_int_equal(m[100 * 4096 + 16], 0);
	assert_int_equal(m[RAM_SIZE - 1], 0x77);
	assert_int_equal(m[60 * 4096], 0);
}

static void roundtrip(bool lazy)
{
	struct guest_ram ram, ram2;
	struct ckpt_reader *r;
	struct verr e = { "" };
	struct demo_state st;
	char blob[9];
	uint64_t size;
	struct stat sb;

	write_ckpt(&ram);
	/* Only 4 non-zero pages are stored. */
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size < 8 * 4096 + 4096 + 2048);
	assert_int_equal(ckpt_reader_open(&r, path, &e), 0);
	assert_string_equal(ckpt_reader_build_type(r), "beta");
	memset(&st, 0, sizeof(st));
	assert_int_equal(ckpt_get_struct(r, "cpu.0", 1, demo_fields, 3, &st, &e), 0);
	assert_int_equal(st.pc, 0x80200000);
	assert_int_equal(st.x[3], 4);
	assert_int_equal(st.flags, 7);
	assert_int_equal(ckpt_get_blob(r, "uart", 2, blob, 9, &e), 0);
	assert_memory_equal(blob, "UARTSTATE", 9);
	assert_int_equal(ckpt_get_blob(r, "uart", 1, blob, 9, &e), -EPROTO);
	assert_non_null(strstr(e.msg, "section \"uart\": version 2"));
	assert_int_equal(ckpt_get_blob(r, "plic", 1, blob, 9, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "section \"plic\" is missing"));
	assert_int_equal(ckpt_memory_size(r, &size, &e), 0);
	assert_int_equal(size, RAM_SIZE);
	assert_int_equal(ram_create(&ram2, RAM_DEFAULT_BASE, RAM_SIZE, &e), 0);
	assert_int_equal(ckpt_load_memory(r, ram2.host, RAM_SIZE, lazy, &e), 0);
	check_ram(ram2.host);
	assert_int_equal(ckpt_memory_wait(r, &e), 0);
	assert_memory_equal(ram.host, ram2.host, RAM_SIZE);
	ckpt_reader_close(r);
	ram_destroy(&ram);
	ram_destroy(&ram2);
}

static void test_roundtrip_eager(void **s) { roundtrip(false); }
static void test_roundtrip_lazy(void **s) { roundtrip(true); }

static void expect_open_error(const char *needle)
{
	struct ckpt_reader *r = NULL;
	struct verr e = { "" };
	assert_true(ckpt_reader_open(&r, path, &e) < 0);
	assert_null(r);
	if (!strstr(e.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", e.msg, needle);
}

static void flip_byte(off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	assert_true(pread(fd, &b, 1, off) == 1);
	b ^= 0x10;
	assert_true(pwrite(fd, &b, 1, off) == 1);
	close(fd);
}

static void test_damaged_files(void **s)
{
	struct guest_ram ram;
	struct stat sb;
	write_ckpt(&ram);
	ram_destroy(&ram);
	assert_int_equal(stat(path, &sb), 0);

	/* A bit flip in the cpu section's payload. */
	flip_byte(128 + 64 + 3);
	expect_open_error("section \"cpu.0\": checksum mismatch");
	flip_byte(128 + 64 + 3);
	/* In the uart section header. */
	off_t uart_hdr = 128 + 64 + ((1 + 2 + 4 + 8) + (1 + 1 + 4 + 32) + (1 + 5 + 4 + 4) + 7) / 8 * 8;
	flip_byte(uart_hdr + 10);
	expect_open_error("(after \"cpu.0\"): header corrupt");
	flip_byte(uart_hdr + 10);
	/* Truncated at the end: the memory section's index is gone. */
	assert_int_equal(truncate(path, sb.st_size - 100), 0);
	expect_open_error("section \"memory\": truncated");
	/* Wrong version. */
	write_ckpt(&ram);
	ram_destroy(&ram);
	int fd = open(path, O_RDWR);
	uint32_t v = 99;
	assert_true(pwrite(fd, &v, 4, 8) == 4);
	close(fd);
	expect_open_error("section header: checksum mismatch");
	/* The same with a consistent checksum: the version itself is refused. */
	uint8_t hdr[128];
	fd = open(path, O_RDWR);
	assert_true(pread(fd, hdr, 128, 0) == 128);
	uint32_t c = (uint32_t)crc32(0L, hdr, 124);
	assert_true(pwrite(fd, &c, 4, 124) == 4);
	close(fd);
	expect_open_error("format version 99 is not supported");
	/* Foreign file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(write(fd, "#!/bin/sh\necho not a checkpoint\n", 32) == 32);
	close(fd);
	expect_open_error("not a vmx3 checkpoint");
	/* The damaged file is left in place: the reader never deletes. */
	assert_int_equal(stat(path, &sb), 0);
}

static void test_page_corruption_detected(void **s)
{
	struct guest_ram ram, ram2;
	struct ckpt_reader *r;
	struct verr e = { "" };
	struct ckpt_verify_info vi;
	char msg[sizeof(e.msg)];
	write_ckpt(&ram);
	ram_destroy(&ram);
	/* The first stored page is at the first 4 KiB boundary after the sections. */
	assert_int_equal(ckpt_reader_open(&r, path, &e), 0);
	ckpt_reader_close(r);
	assert_int_equal(ckpt_verify(path, &vi, &e), 0);
	assert_true(vi.pages_verified > 0);
	assert_true(vi.ram_size == RAM_SIZE);
	flip_byte(4096 + 5);
	/* Opening checks sections only: pages are checked as they are loaded... */
	assert_int_equal(ckpt_reader_open(&r, path, &e), 0);
	assert_int_equal(ram_create(&ram2, RAM_DEFAULT_BASE, RAM_SIZE, &e), 0);
	assert_int_equal(ckpt_load_memory(r, ram2.host, RAM_SIZE, false, &e), -EINVAL);
	if (!strstr(e.msg, "section \"memory\": page ") ||
	    !strstr(e.msg, "file offset 0x1000): checksum mismatch"))
		fail_msg("unexpected: %s", e.msg);
	snprintf(msg, sizeof(msg), "%s", e.msg);
	ckpt_reader_close(r);
	ram_destroy(&ram2);
	/* ...or all at once by ckpt_verify, with the same message. */
	assert_int_equal(ckpt_verify(path, &vi, &e), -EINVAL);
	assert_string_equal(e.msg, msg);
}

static void test_cancel_and_failure_leave_old_file(void **s)
{
	struct guest_ram ram;
	struct ckpt_writer *w;
	struct ckpt_progress prog = { 0 };
	struct verr e = { "" };
	struct stat before, after;

	write_ckpt(&ram);
	assert_int_equal(stat(path, &before), 0);
	atomic_store(&prog.cancel, 1);
	assert_int_equal(ckpt_writer_open(&w, path, "0.1.0", "stats", &prog, &e), 0);
	int rc = ckpt_put_memory(w, ram.host, RAM_SIZE, ram.memfd, &e);
	assert_int_equal(rc, -ECANCELED);
	ckpt_writer_abort(w);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_size, after.st_size);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "ls %s | wc -l | grep -qx 1", dir);
	assert_int_equal(system(cmd), 0);
	ram_destroy(&ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_eager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_lazy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_corruption_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_failure_leave_old_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
