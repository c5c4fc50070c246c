/*
 * test_virtio_net.c - virtio-net driven as the Linux driver does (features,
 * three queues in real guest RAM) against a socket pair standing in for
 * passt (the device gets its end as a handed-over "ethernet0" fd, so no
 * passt is started): frames both ways in passt's length-prefixed stream,
 * a frame split over mergeable receive buffers, a stream byte-split across
 * reads, backpressure when the guest posts nothing, the announce
 * acknowledgement, the state written and read back, and hostile rings (a
 * descriptor loop, a buffer outside RAM) ending in DEVICE_NEEDS_RESET, a
 * backend that goes away ending in link down.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "board/vm.h"
#include "devices/virtio_mmio.h"
#include "mem/ram.h"
#include "devfake.h"

#define RAMBASE 0x80000000ULL
#define QN      16
#define Q_DESC(q)  (RAMBASE + 0x1000 + 0x3000ULL * (q))
#define Q_AVAIL(q) (Q_DESC(q) + 0x1000)
#define Q_USED(q)  (Q_DESC(q) + 0x2000)
#define BUF(i)     (RAMBASE + 0x20000 + 0x1000ULL * (i))    /* 4 KiB each */

#define F_MAC      (1ULL << 5)
#define F_MRG      (1ULL << 15)
#define F_STATUS   (1ULL << 16)
#define F_CTRL_VQ  (1ULL << 17)
#define F_ANNOUNCE (1ULL << 21)

static struct fake_board fb;
static struct guest_ram ram;
static struct bus bus;
static struct device dev;
static struct vm_config *vc;
static int peer = -1;            /* passt's end */
static uint16_t aidx[3];

static void *g(uint64_t pa) { return ram_ptr(&ram, pa, 1); }
static uint32_t rd(uint64_t off) { return (uint32_t)dev_rd(&dev, off, 4); }
static void wr(uint64_t off, uint32_t v) { dev_wr(&dev, off, 4, v); }

static int setup(void **state)
{
	struct verr e = { "" };
	int sv[2];
	assert_int_equal(ram_create(&ram, RAMBASE, 1 << 20, &e), 0);
	bus_init(&bus, &ram);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	peer = sv[1];
	vc = calloc(1, sizeof(*vc));
	vc->nnics = 1;
	vc->nics[0] = (struct vm_nic_config){ .idx = 0, .mac = { 2, 0, 0, 0, 0, 0x42 } };
	vc->nhost_fds = 1;
	snprintf(vc->host_fds[0].name, 16, "ethernet0");
	vc->host_fds[0].fd = sv[0];
	struct dev_env env = fake_env(&fb, &bus, 1);
	memset(&dev, 0, sizeof(dev));
	dev.type = &dev_type_virtio_net;
	int r = dev_type_virtio_net.create(&dev, &env, vc, 0, &e);
	close(sv[0]);            /* the device holds its own duplicate */
	if (r == 0)
		dev_type_virtio_net.reset(&dev);
	memset(aidx, 0, sizeof(aidx));
	return r;
}

static int teardown(void **state)
{
	dev_type_virtio_net.destroy(&dev);
	if (peer >= 0)
		close(peer);
	peer = -1;
	ram_destroy(&ram);
	free(vc);
	return 0;
}

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
	for (unsigned q = 0; q < 3; q++) {
		wr(0x030, q);
		wr(0x038, QN);
		wr(0x080, (uint32_t)Q_DESC(q));
		wr(0x084, 0);
		wr(0x090, (uint32_t)Q_AVAIL(q));
		wr(0x094, 0);
		wr(0x0a0, (uint32_t)Q_USED(q));
		wr(0x0a4, 0);
		wr(0x044, 1);
	}
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		  VIRTIO_STATUS_DRIVER_OK);
	return rd(0x070);
}

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = g(Q_DESC(q) + 16 * i);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void post(unsigned q, uint16_t head)
{
	uint16_t *a = g(Q_AVAIL(q));
	a[2 + aidx[q] % QN] = head;
	aidx[q]++;
	a[1] = aidx[q];
}

static uint16_t used_idx(unsigned q) { return *(uint16_t *)g(Q_USED(q) + 2); }
static void used_elem(unsigned q, unsigned i, uint32_t *id, uint32_t *len)
{
	uint8_t *u = g(Q_USED(q) + 4 + 8 * (i % QN));
	memcpy(id, u, 4);
	memcpy(len, u + 4, 4);
}

static void poll_dev(void) { dev.type->poll(&dev); }

static void send_frame(const uint8_t *f, uint32_t len)
{
	uint32_t be = htonl(len);
	assert_int_equal(write(peer, &be, 4), 4);
	assert_int_equal(write(peer, f, len), (ssize_t)len);
}

static void test_features_and_config(void **state)
{
	uint32_t lo, hi;
	assert_int_equal(rd(0x008), 1);   /* device ID: network */
	wr(0x014, 0);
	lo = rd(0x010);
	wr(0x014, 1);
	hi = rd(0x010);
	uint64_t f = lo | (uint64_t)hi << 32;
	assert_true(f & VIRTIO_F_VERSION_1);
	assert_true(f & F_MAC);
	assert_true(f & F_MRG);
	assert_true(f & F_ANNOUNCE);
	assert_int_equal(rd(0x100) & 0xff, 2);
	assert_int_equal(dev_rd(&dev, 0x105, 1), 0x42);
	assert_int_equal(dev_rd(&dev, 0x106, 2), 1);    /* link up */
	assert_true(driver_init(VIRTIO_F_VERSION_1 | F_MAC | F_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

/* Guest -> backend: header, then the frame after a 4-byte big-endian length. */
static void test_tx(void **state)
{
	uint8_t frame[60], got[64];
	driver_init(VIRTIO_F_VERSION_1 | F_MAC | F_MRG);
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	memset(g(BUF(0)), 0, 12);
	memcpy(g(BUF(1)), frame, sizeof(frame));
	set_desc(1, 0, BUF(0), 12, 1, 1);
	set_desc(1, 1, BUF(1), sizeof(frame), 0, 0);
	post(1, 0);
	wr(0x050, 1);
	assert_int_equal(used_idx(1), 1);
	assert_int_equal(read(peer, got, sizeof(got)), 64);
	uint32_t len;
	memcpy(&len, got, 4);
	assert_int_equal(ntohl(len), 60);
	assert_memory_equal(got + 4, frame, 60);
	assert_true(fb.line[12]);
}

/* Backend -> guest: a 6000-byte frame spans two 4 KiB mergeable buffers. */
static void test_rx_mergeable(void **state)
{
	static uint8_t frame[6000];
	driver_init(VIRTIO_F_VERSION_1 | F_MAC | F_MRG);
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);
	/* Nothing posted yet: the frame waits, nothing is lost. */
	send_frame(frame, sizeof(frame));
	poll_dev();
	assert_int_equal(used_idx(0), 0);
	for (unsigned i = 0; i < 3; i++) {
		set_desc(0, i, BUF(i), 4096, 2, 0);
		post(0, (uint16_t)i);
	}
	wr(0x050, 0);
	assert_int_equal(used_idx(0), 2);
	uint32_t id, len0, len1;
	used_elem(0, 0, &id, &len0);
	assert_int_equal(id, 0);
	used_elem(0, 1, &id, &len1);
	assert_int_equal(id, 1);
	assert_int_equal(len0 + len1, 12 + sizeof(frame));
	uint16_t nb;
	memcpy(&nb, (uint8_t *)g(BUF(0)) + 10, 2);
	assert_int_equal(nb, 2);
	assert_memory_equal((uint8_t *)g(BUF(0)) + 12, frame, 4096 - 12);
	assert_memory_equal(g(BUF(1)), frame + 4096 - 12, sizeof(frame) - (4096 - 12));
}

/* The stream arrives in pieces (a prefix split in two): frames still come out whole. */
static void test_rx_split_stream(void **state)
{
	uint8_t frame[100], buf[104];
	driver_init(VIRTIO_F_VERSION_1 | F_MRG);
	memset(frame, 0xab, sizeof(frame));
	uint32_t be = htonl(sizeof(frame));
	memcpy(buf, &be, 4);
	memcpy(buf + 4, frame, sizeof(frame));
	set_desc(0, 0, BUF(0), 4096, 2, 0);
	post(0, 0);
	assert_int_equal(write(peer, buf, 2), 2);
	poll_dev();
	assert_int_equal(used_idx(0), 0);
	assert_int_equal(write(peer, buf + 2, 50), 50);
	poll_dev();
	assert_int_equal(used_idx(0), 0);
	assert_int_equal(write(peer, buf + 52, sizeof(buf) - 52), (ssize_t)sizeof(buf) - 52);
	poll_dev();
	assert_int_equal(used_idx(0), 1);
	assert_memory_equal((uint8_t *)g(BUF(0)) + 12, frame, sizeof(frame));
}

/* Without MRG_RXBUF a frame larger than one buffer is dropped, the next one delivered. */
static void test_rx_too_big_dropped(void **state)
{
	static uint8_t big[5000], small[64];
	driver_init(VIRTIO_F_VERSION_1);
	memset(big, 1, sizeof(big));
	memset(small, 2, sizeof(small));
	set_desc(0, 0, BUF(0), 4096, 2, 0);
	set_desc(0, 1, BUF(1), 4096, 2, 0);
	post(0, 0);
	post(0, 1);
	send_frame(big, sizeof(big));
	send_frame(small, sizeof(small));
	poll_dev();
	assert_int_equal(used_idx(0), 1);
	assert_memory_equal((uint8_t *)g(BUF(0)) + 12, small, sizeof(small));
}

static void test_tx_loop_needs_reset(void **state)
{
	driver_init(VIRTIO_F_VERSION_1);
	set_desc(1, 0, BUF(0), 12, 1, 1);
	set_desc(1, 1, BUF(1), 60, 1, 0);   /* 1 -> 0 -> 1 ... */
	post(1, 0);
	wr(0x050, 1);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(used_idx(1), 0);
	/* The driver's reset (with fresh rings) brings it back. */
	memset(g(Q_AVAIL(1)), 0, 6 + 2 * QN);
	aidx[1] = 0;
	assert_true(driver_init(VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
	assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_rx_buffer_outside_ram(void **state)
{
	uint8_t frame[64] = {0};
	driver_init(VIRTIO_F_VERSION_1);
	set_desc(0, 0, 0x1000, 4096, 2, 0);
	post(0, 0);
	send_frame(frame, sizeof(frame));
	poll_dev();
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(used_idx(0), 0);
}

static void test_backend_gone_link_down(void **state)
{
	driver_init(VIRTIO_F_VERSION_1 | F_STATUS);
	close(peer);
	peer = -1;
	poll_dev();
	assert_int_equal(dev_rd(&dev, 0x106, 2) & 1, 0);
	assert_true(rd(0x060) & 2);     /* configuration interrupt */
	/* Transmits are taken and dropped: the guest does not hang on a full queue. */
	set_desc(1, 0, BUF(0), 12, 1, 1);
	set_desc(1, 1, BUF(1), 60, 0, 0);
	post(1, 0);
	wr(0x050, 1);
	assert_int_equal(used_idx(1), 1);
}

static void test_announce_ack(void **state)
{
	uint8_t cmd[2] = { 3, 0 };
	driver_init(VIRTIO_F_VERSION_1 | F_STATUS | F_CTRL_VQ | F_ANNOUNCE);
	memcpy(g(BUF(0)), cmd, 2);
	set_desc(2, 0, BUF(0), 2, 1, 1);
	set_desc(2, 1, BUF(1), 1, 2, 0);
	*(uint8_t *)g(BUF(1)) = 0xff;
	post(2, 0);
	wr(0x050, 2);
	assert_int_equal(used_idx(2), 1);
	assert_int_equal(*(uint8_t *)g(BUF(1)), 0);    /* VIRTIO_NET_OK */
	/* An unknown command is refused, not a device error. */
	cmd[0] = 9;
	memcpy(g(BUF(0)), cmd, 2);
	post(2, 0);
	wr(0x050, 2);
	assert_int_equal(*(uint8_t *)g(BUF(1)), 1);    /* VIRTIO_NET_ERR */
}

/* Every field described is inside the state struct and the queues are all there. */
static void test_state_fields(void **state)
{
	size_t len;
	assert_non_null(dev.type->state(&dev, &len));
	assert_int_equal(dev.type->state_version, 2);
	bool q2 = false, rx = false;
	for (size_t i = 0; i < dev.type->nstate_fields; i++) {
		const struct ckpt_field *f = &dev.type->state_fields[i];
		assert_true(f->offset + f->size <= len);
		q2 |= strcmp(f->name, "q2.used_idx") == 0;
		rx |= strcmp(f->name, "rx_buf") == 0;
	}
	assert_true(q2);
	assert_true(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_split_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_too_big_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_loop_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_buffer_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_gone_link_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_announce_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_fields, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
