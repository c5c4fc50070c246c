/*
 * test_devfuzz.c - the guest must never crash the monitor: a whole board
 * (every device of the registration table, mapped on the bus) takes a
 * long stream of random MMIO reads and writes of every width at random
 * offsets, with random bytes in the RAM the virtio rings point into, under
 * ASan and UBSan.  The run must end with every device still answering
 * sensibly (the UART's LSR, the virtio magic).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include "board/board_int.h"
#include "boardfiles.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_random_mmio(void **state)
{
	struct bfiles bf;
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct vm *vm;
	struct verr e = { "" };
	char disk[160];
	static const unsigned widths[] = { 1, 2, 4, 8, 3 };

	bf_setup(&bf, vc, 100);
	snprintf(disk, sizeof(disk), "%s/disk.img", bf.dir);
	int fd = open(disk, O_RDWR | O_CREAT, 0644);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	vc->ndisks = 1;
	snprintf(vc->disks[0].path, sizeof(vc->disks[0].path), "%s", disk);
	vc->numvcpus = 2;
	if (vm_create(&vm, vc, &e) < 0)
		fail_msg("vm_create: %s", e.msg);

	/* Random bytes where a driver would put rings and buffers. */
	uint8_t *low = ram_ptr(&vm->ram, 0x80000000, 1 << 20);
	for (size_t i = 0; i < (1 << 20); i++)
		low[i] = (uint8_t)next();

	for (unsigned round = 0; round < 300000; round++) {
		const struct mmio_region *r = &vm->bus.regions[next() % vm->bus.nregions];
		uint64_t v = next(), off;
		unsigned len = widths[next() % VMX_ARRAY_SIZE(widths)];
		/* Mostly the register page, sometimes anywhere in the window. */
		off = (next() & 1) ? next() % 0x200 : next() % r->size;
		if (off + len > r->size)
			continue;
		/* Addresses that point into RAM make ring processing go deep. */
		if ((v & 3) == 0)
			v = 0x80000000 + (next() % (1 << 20));
		if (next() & 1)
			r->ops->write(r->dev, off, len, v);
		else
			r->ops->read(r->dev, off, len, &v);
		if ((round & 4095) == 0) {
			for (size_t i = 0; i < 4096; i++)
				low[next() % (1 << 20)] = (uint8_t)next();
		}
	}
	/*
	 * A properly initialised virtio-blk queue fed random but mostly
	 * plausible descriptor chains, so requests really reach the disk.
	 */
	const struct mmio_region *vb = bus_find(&vm->bus, 0x10001000, 4);
	assert_non_null(vb);
	unsigned reqs = 0;
	for (unsigned round = 0; round < 3000; round++) {
		uint32_t num = 1 + (uint32_t)(next() % 256);
		uint64_t desc = 0x80000000 + (next() % 0x40000) * 16 % (1 << 19);
		uint64_t avail = 0x80080000 + (next() % 0x1000) * 2;
		uint64_t used = 0x800c0000 + (next() % 0x1000) * 4;
		/* Chains of three: header, data, status; in odd rounds one descriptor field in 250 corrupted, in even ones one in 10. */
		for (uint32_t i = 0; i < num; i++) {
			uint8_t *d = ram_ptr(&vm->ram, desc + 16 * i, 16);
			unsigned role = i % 3;
			uint64_t addr = 0x80100000 + (next() % 0x300) * 4096;
			uint32_t len = role == 0 ? 16 : role == 2 ? 1 : 512 * (uint32_t)(1 + next() % 8);
			uint16_t flags = (uint16_t)((role < 2 ? 1 : 0) |
						    (role == 2 || (role == 1 && (next() & 1)) ? 2 : 0));
			uint16_t nx = (uint16_t)((i + 1) % num);
			switch (next() % (round & 1 ? 1000 : 40)) {
			case 0: addr = next(); break;
			case 1: len = (uint32_t)next(); break;
			case 2: flags = (uint16_t)next(); break;
			case 3: nx = (uint16_t)next(); break;
			default: break;
			}
			if (role == 0) {
				uint32_t hdr[4] = { (uint32_t)(next() % 10 < 8 ? next() % 2 : next() % 10), 0,
						    (uint32_t)(next() % 2100), 0 };
				uint8_t *h = ram_ptr(&vm->ram, addr, 16);
				if (h)
					memcpy(h, hdr, 16);
			}
			memcpy(d, &addr, 8);
			memcpy(d + 8, &len, 4);
			memcpy(d + 12, &flags, 2);
			memcpy(d + 14, &nx, 2);
		}
		uint16_t *av = ram_ptr(&vm->ram, avail, 4 + 2 * num);
		uint32_t *uh = ram_ptr(&vm->ram, used, 4);
		*uh = 0;
		for (uint32_t i = 0; i < num; i++)
			av[2 + i] = (uint16_t)(num >= 3 ? 3 * (next() % (num / 3)) : 0);
		av[1] = (uint16_t)(next() % 40 == 0 ? next() : next() % (num + 1));
		const struct mmio_ops *o = vb->ops;
		o->write(vb->dev, 0x070, 4, 0);
		o->write(vb->dev, 0x070, 4, 3);
		o->write(vb->dev, 0x024, 4, 1);
		o->write(vb->dev, 0x020, 4, 1);
		o->write(vb->dev, 0x070, 4, 11);
		o->write(vb->dev, 0x038, 4, num);
		o->write(vb->dev, 0x080, 4, (uint32_t)desc);
		o->write(vb->dev, 0x084, 4, (uint32_t)(desc >> 32));
		o->write(vb->dev, 0x090, 4, (uint32_t)avail);
		o->write(vb->dev, 0x094, 4, (uint32_t)(avail >> 32));
		o->write(vb->dev, 0x0a0, 4, (uint32_t)used);
		o->write(vb->dev, 0x0a4, 4, (uint32_t)(used >> 32));
		o->write(vb->dev, 0x044, 4, 1);
		o->write(vb->dev, 0x070, 4, 15);
		o->write(vb->dev, 0x050, 4, 0);
		reqs += ((uint16_t *)uh)[1];
		o->write(vb->dev, 0x064, 4, 3);
	}
	print_message("virtio-blk: %u requests completed from random chains\n", reqs);
	assert_true(reqs > 100);

	/* Still alive and sane. */
	uint64_t v = 0;
	assert_int_equal(bus_read(&vm->bus, 0x10001000, 4, &v), 0);
	assert_int_equal(v, 0x74726976);
	assert_int_equal(bus_read(&vm->bus, 0x10000005, 1, &v), 0);
	assert_true(v & 0x20);
	vm_destroy(vm);
	bf_cleanup(&bf);
	free(vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_mmio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
