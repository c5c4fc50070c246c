/*
 * boardfiles.h - builds the files a board test boots from in a temporary
 * directory: a fake firmware blob, a kernel with a valid RISC-V Image
 * header, an initrd, and a vm_config pointing at them (output to a file so
 * no terminal is touched).  Header-only, for test_fdt.c and test_loader.c.
 */
#ifndef VMX_TESTS_BOARDFILES_H
#define VMX_TESTS_BOARDFILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "board/vm.h"

struct bfiles {
	char dir[64];
	char fw[128], kernel[128], initrd[128], serial[128];
};

static inline void bf_write(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len)
		abort();
	fclose(f);
}

/* A kernel Image: header with magic and image_size, then a recognisable body. */
static inline void bf_kernel(const char *path, uint64_t image_size, bool good_magic)
{
	static uint8_t k[8192];
	memset(k, 0x5a, sizeof(k));
	memcpy(k + 16, &image_size, 8);
	memcpy(k + 48, good_magic ? "RISCV\0\0\0" : "NOTLINUX", 8);
	memcpy(k + 56, "RSC\x05", 4);
	bf_write(path, k, sizeof(k));
}

static inline void bf_setup(struct bfiles *b, struct vm_config *vc, size_t initrd_len)
{
	static uint8_t buf[1 << 20];
	snprintf(b->dir, sizeof(b->dir), "/tmp/vmx3-board-XXXXXX");
	if (!mkdtemp(b->dir))
		abort();
	snprintf(b->fw, sizeof(b->fw), "%s/fw.bin", b->dir);
	snprintf(b->kernel, sizeof(b->kernel), "%s/Image", b->dir);
	snprintf(b->initrd, sizeof(b->initrd), "%s/initrd", b->dir);
	snprintf(b->serial, sizeof(b->serial), "%s/serial.log", b->dir);
	memset(buf, 0x11, 4096);
	bf_write(b->fw, buf, 4096);
	bf_kernel(b->kernel, 0x300000, true);
	memset(buf, 0x33, initrd_len < sizeof(buf) ? initrd_len : sizeof(buf));
	bf_write(b->initrd, buf, initrd_len < sizeof(buf) ? initrd_len : sizeof(buf));

	memset(vc, 0, sizeof(*vc));
	snprintf(vc->vmdir, sizeof(vc->vmdir), "%s", b->dir);
	vc->mem_size = 64ULL << 20;
	vc->numvcpus = 1;
	snprintf(vc->firmware, sizeof(vc->firmware), "%s", b->fw);
	snprintf(vc->kernel, sizeof(vc->kernel), "%s", b->kernel);
	snprintf(vc->initrd, sizeof(vc->initrd), "%s", b->initrd);
	snprintf(vc->cmdline, sizeof(vc->cmdline), "console=ttyS0 quiet");
	snprintf(vc->serial_file, sizeof(vc->serial_file), "%s", b->serial);
}

static inline void bf_cleanup(struct bfiles *b)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", b->dir);
}

#endif
