/*
 * test_virtio_blk.c - virtio-mmio v2 + virtio-blk driven the way a guest
 * driver does it (feature negotiation, queue setup, requests through the
 * split ring in real guest RAM), plus the hostile cases: descriptor loops,
 * indices and buffers out of range, a runaway avail index, a queue placed
 * outside RAM, reads past the disk, odd lengths, read-only disks, empty
 * slots.  A bad request must end as a status byte or DEVICE_NEEDS_RESET.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "board/vm.h"
#include "devices/virtio_mmio.h"
#include "mem/ram.h"
#include "devfake.h"

#define RAMBASE 0x80000000ULL
#define DESC    (RAMBASE + 0x1000)
#define AVAIL   (RAMBASE + 0x2000)
#define USED    (RAMBASE + 0x3000)
#define HDR     (RAMBASE + 0x4000)
#define DATA    (RAMBASE + 0x5000)
#define STATUS  (RAMBASE + 0x9000)
#define QN      8
#define DISK_SECTORS 64

static struct fake_board fb;
static struct guest_ram ram;
static struct bus bus;
static struct device dev;
static struct vm_config *vc;
static char disk[64];
static uint16_t avail_idx;

static void *g(uint64_t pa) { return ram_ptr(&ram, pa, 1); }
static uint32_t rd(uint64_t off) { return (uint32_t)dev_rd(&dev, off, 4); }
static void wr(uint64_t off, uint32_t v) { dev_wr(&dev, off, 4, v); }

static int open_dev(unsigned slot, bool readonly)
{
	struct dev_env env = fake_env(&fb, &bus, 1);
	struct verr e = { "" };
	vc->disks[0].readonly = readonly;
	memset(&dev, 0, sizeof(dev));
	dev.type = &dev_type_virtio_mmio;
	int r = dev_type_virtio_mmio.create(&dev, &env, vc, slot, &e);
	if (r == 0)
		dev_type_virtio_mmio.reset(&dev);
	return r;
}

static int setup(void **state)
{
	struct verr e = { "" };
	uint8_t sector[512];
	assert_int_equal(ram_create(&ram, RAMBASE, 1 << 20, &e), 0);
	bus_init(&bus, &ram);
	snprintf(disk, sizeof(disk), "/tmp/vmx3-vblk-XXXXXX");
	int fd = mkstemp(disk);
	assert_true(fd >= 0);
	for (unsigned s = 0; s < DISK_SECTORS; s++) {
		memset(sector, (int)s, sizeof(sector));
		assert_int_equal(write(fd, sector, sizeof(sector)), 512);
	}
	close(fd);
	vc = calloc(1, sizeof(*vc));
	vc->ndisks = 1;
	snprintf(vc->disks[0].path, sizeof(vc->disks[0].path), "%s", disk);
	avail_idx = 0;
	return open_dev(0, false);
}

static int teardown(void **state)
{
	dev_type_virtio_mmio.destroy(&dev);
	ram_destroy(&ram);
	unlink(disk);
	free(vc);
	return 0;
}

/* The Linux driver's init sequence; returns the status register afterwards. */
static uint32_t driver_init(uint64_t features)
{
	wr(0x070, 0);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(0x024, 0);
	wr(0x020, (uint32_t)features);
	wr(0x024, 1);
	wr(0x020, (uint32_t)(features >> 32));
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(rd(0x070) & VIRTIO_STATUS_FEATURES_OK))
		return rd(0x070);
	wr(0x030, 0);
	assert_int_equal(rd(0x034), VIRTIO_QUEUE_MAX);
	wr(0x038, QN);
	wr(0x080, (uint32_t)DESC);
	wr(0x084, 0);
	wr(0x090, (uint32_t)AVAIL);
	wr(0x094, 0);
	wr(0x0a0, (uint32_t)USED);
	wr(0x0a4, 0);
	wr(0x044, 1);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		  VIRTIO_STATUS_DRIVER_OK);
	return rd(0x070);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = g(DESC + 16 * i);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void submit(uint16_t head)
{
	uint16_t *av = g(AVAIL);
	av[2 + avail_idx % QN] = head;
	avail_idx++;
	av[1] = avail_idx;
	wr(0x050, 0);
}

static uint16_t used_idx(void) { return *(uint16_t *)g(USED + 2); }
static uint32_t used_len(unsigned n) { return *(uint32_t *)g(USED + 4 + 8 * (n % QN) + 4); }

/* header (desc 0) -> data (desc 1) -> status (desc 2) */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t len, bool data_write)
{
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	memcpy(g(HDR), hdr, 16);
	*(uint8_t *)g(STATUS) = 0xee;
	set_desc(0, HDR, 16, 1, 1);
	if (len) {
		set_desc(1, DATA, len, 1 | (data_write ? 2 : 0), 2);
		set_desc(2, STATUS, 1, 2, 0);
	} else {
		set_desc(0, HDR, 16, 1, 2);
		set_desc(2, STATUS, 1, 2, 0);
	}
	submit(0);
	return *(uint8_t *)g(STATUS);
}

static const uint64_t feat_ok = VIRTIO_F_VERSION_1 | (1ULL << 9);

static void test_identity_and_config(void **state)
{
	assert_int_equal(rd(0x000), 0x74726976);
	assert_int_equal(rd(0x004), 2);
	assert_int_equal(rd(0x008), 2);
	wr(0x014, 1);
	assert_int_equal(rd(0x010), 1);               /* VERSION_1 is bit 32 */
	wr(0x014, 0);
	uint32_t f = rd(0x010);
	assert_true(f & (1u << 9));                   /* FLUSH */
	assert_true(f & (1u << 2));                   /* SEG_MAX */
	assert_false(f & (1u << 5));                  /* not read-only */
	assert_int_equal(dev_rd(&dev, 0x100, 8), DISK_SECTORS);
	assert_int_equal(dev_rd(&dev, 0x100, 4), DISK_SECTORS);
	assert_int_equal(dev_rd(&dev, 0x104, 4), 0);
	assert_int_equal(dev_rd(&dev, 0x10c, 4), VIRTIO_QUEUE_MAX - 2);
	assert_int_equal(dev_rd(&dev, 0x114, 4), 512);
	assert_int_equal(dev_rd(&dev, 0x100 + 0x400, 4), 0);
	assert_int_equal(dev.irq, 1);
	assert_int_equal(dev.base, 0x10001000);
}

static void test_feature_negotiation(void **state)
{
	/* Legacy drivers (no VERSION_1) and unknown bits are refused. */
	assert_false(driver_init(1ULL << 9) & VIRTIO_STATUS_FEATURES_OK);
	assert_false(driver_init(VIRTIO_F_VERSION_1 | (1ULL << 28)) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
}

static void test_read_write_flush_getid(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	assert_int_equal(request(0, 3, 1024, true), 0);        /* read sectors 3, 4 */
	assert_int_equal(used_idx(), 1);
	assert_int_equal(used_len(0), 1025);
	assert_int_equal(((uint8_t *)g(DATA))[0], 3);
	assert_int_equal(((uint8_t *)g(DATA))[1023], 4);
	assert_true(fb.line[1]);
	assert_int_equal(rd(0x060), 1);
	wr(0x064, 1);
	assert_false(fb.line[1]);

	memset(g(DATA), 0xab, 512);
	assert_int_equal(request(1, 10, 512, false), 0);       /* write sector 10 */
	assert_int_equal(used_len(1), 1);
	assert_int_equal(request(4, 0, 0, false), 0);          /* flush */
	int fd = open(disk, O_RDONLY);
	uint8_t b[512];
	assert_int_equal(pread(fd, b, 512, 10 * 512), 512);
	assert_int_equal(b[0], 0xab);
	assert_int_equal(b[511], 0xab);
	assert_int_equal(pread(fd, b, 512, 11 * 512), 512);
	assert_int_equal(b[0], 11);
	close(fd);

	assert_int_equal(request(8, 0, 20, true), 0);          /* get id */
	assert_string_equal((char *)g(DATA), "vmx3-disk0");
	assert_int_equal(used_idx(), 4);
}

static void test_bad_requests_get_status(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	assert_int_equal(request(0, DISK_SECTORS - 1, 1024, true), 1);  /* past the end */
	assert_int_equal(request(0, UINT64_MAX, 512, true), 1);         /* sector overflow */
	assert_int_equal(request(0, 0, 100, true), 1);                  /* not whole sectors */
	assert_int_equal(request(99, 0, 512, true), 2);                 /* unsupported */
	assert_int_equal(request(0, DISK_SECTORS - 1, 512, true), 0);   /* last sector is fine */
	assert_int_equal(used_idx(), 5);
	assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_readonly_disk(void **state)
{
	dev_type_virtio_mmio.destroy(&dev);
	assert_int_equal(open_dev(0, true), 0);
	wr(0x014, 0);
	assert_true(rd(0x010) & (1u << 5));
	assert_int_equal(driver_init(feat_ok | (1ULL << 5)) & 0xf, 0xf);
	memset(g(DATA), 0x77, 512);
	assert_int_equal(request(1, 2, 512, false), 1);
	assert_int_equal(request(0, 2, 512, true), 0);
	assert_int_equal(((uint8_t *)g(DATA))[0], 2);          /* unchanged on disk */
}

static void expect_needs_reset(void)
{
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(0x060) & 2);
	assert_true(fb.line[1]);
	/* The driver resets the device and starts over: it works again. */
	avail_idx = 0;
	memset(g(AVAIL), 0, 0x100);
	memset(g(USED), 0, 0x100);
	assert_int_equal(driver_init(feat_ok) & 0x4f, 0xf);
	assert_int_equal(request(0, 1, 512, true), 0);
	assert_int_equal(used_idx(), 1);
}

static void test_descriptor_loop(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	set_desc(0, HDR, 16, 1, 1);
	set_desc(1, DATA, 512, 1 | 2, 0);            /* next points back to 0 */
	submit(0);
	expect_needs_reset();
}

static void test_descriptor_index_out_of_range(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	set_desc(0, HDR, 16, 1, 200);
	submit(0);
	expect_needs_reset();
}

static void test_head_out_of_range(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	submit(QN + 3);
	expect_needs_reset();
}

static void test_buffer_outside_ram(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	set_desc(0, HDR, 16, 1, 1);
	set_desc(1, RAMBASE + (1 << 20) - 256, 512, 1 | 2, 2);   /* runs off the end */
	set_desc(2, STATUS, 1, 2, 0);
	submit(0);
	expect_needs_reset();
	set_desc(0, 0x10000000, 16, 1, 2);                         /* MMIO, not RAM */
	set_desc(2, STATUS, 1, 2, 0);
	submit(0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	avail_idx = 0;
	memset(g(AVAIL), 0, 0x100);
	assert_int_equal(driver_init(feat_ok) & 0x4f, 0xf);
	set_desc(0, UINT64_MAX - 4, 16, 0, 0);                     /* wraps around */
	submit(0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_readable_after_writable(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	set_desc(0, HDR, 16, 1 | 2, 1);
	set_desc(1, DATA, 512, 1, 2);
	set_desc(2, STATUS, 1, 2, 0);
	submit(0);
	expect_needs_reset();
}

static void test_avail_runaway_and_no_status(void **state)
{
	assert_int_equal(driver_init(feat_ok) & 0xf, 0xf);
	uint16_t *av = g(AVAIL);
	av[1] = 1000;                                 /* 1000 requests in an 8-entry ring */
	wr(0x050, 0);
	expect_needs_reset();
	/* A chain without a writable byte cannot get a status: used length 0. */
	set_desc(0, HDR, 16, 0, 0);
	submit(0);
	assert_int_equal(used_idx(), 2);
	assert_int_equal(used_len(1), 0);
	assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_queue_outside_ram(void **state)
{
	wr(0x070, 0);
	wr(0x070, 3);
	wr(0x024, 1);
	wr(0x020, 1);
	wr(0x070, 11);
	wr(0x030, 0);
	wr(0x038, QN);
	wr(0x080, 0x1000);                            /* below RAM */
	wr(0x090, (uint32_t)AVAIL);
	wr(0x0a0, (uint32_t)USED);
	wr(0x044, 1);
	assert_int_equal(rd(0x044), 0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	/* Queue sizes beyond the maximum and bogus queue indices. */
	wr(0x070, 0);
	wr(0x038, 4096);
	wr(0x080, (uint32_t)DESC);
	wr(0x044, 1);
	assert_int_equal(rd(0x044), 0);
	wr(0x030, 7);
	assert_int_equal(rd(0x034), 0);
	wr(0x050, 7);
	wr(0x050, 0xffffffff);
	dev_wr(&dev, 0x070, 1, 0);
	dev_wr(&dev, 0x071, 4, 0);
	assert_int_equal(dev_rd(&dev, 0x002, 4), 0);
}

static void test_empty_slot(void **state)
{
	dev_type_virtio_mmio.destroy(&dev);
	assert_int_equal(open_dev(5, false), 0);
	assert_int_equal(rd(0x000), 0x74726976);
	assert_int_equal(rd(0x008), 0);
	assert_int_equal(dev.irq, 6);
	assert_int_equal(dev.base, 0x10006000);
	wr(0x070, 0xf);
	wr(0x050, 0);
	assert_int_equal(rd(0x070), 0);
}

static void test_missing_disk(void **state)
{
	dev_type_virtio_mmio.destroy(&dev);
	snprintf(vc->disks[0].path, sizeof(vc->disks[0].path), "/nonexistent/disk.img");
	struct dev_env env = fake_env(&fb, &bus, 1);
	struct verr e = { "" };
	memset(&dev, 0, sizeof(dev));
	assert_true(dev_type_virtio_mmio.create(&dev, &env, vc, 0, &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/disk.img"));
	assert_true(open_dev(1, false) == 0);         /* slot 1 has no disk: fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feature_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_flush_getid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests_get_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_index_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_runaway_and_no_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_disk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
