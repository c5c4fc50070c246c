/*
 * fuzz_ckpt.c - libFuzzer target for the checkpoint loader: any file either
 * opens and loads (sections by field name, memory into a buffer of the size
 * it claims, up to a cap) or gives an error; never a crash or a read past a
 * buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "ckpt/ckpt.h"

struct fz_state {
	uint64_t pc;
	uint64_t x[4];
};

static const struct ckpt_field fz_fields[] = {
	CKPT_FIELD(struct fz_state, pc),
	CKPT_FIELD(struct fz_state, x),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct ckpt_reader *r = NULL;
	struct verr e = { "" };
	struct fz_state st;
	uint64_t ram_size;
	int fd;

	snprintf(path, sizeof(path), "/tmp/fuzz-ckpt-%d.vmss", (int)getpid());
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (ckpt_reader_open(&r, path, &e) == 0) {
		(void)ckpt_get_struct(r, "cpu.0", 1, fz_fields, 2, &st, &e);
		if (ckpt_memory_size(r, &ram_size, &e) == 0 && ram_size <= (64u << 20) &&
		    ram_size % 4096 == 0 && ram_size) {
			uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (ram == MAP_FAILED)
				abort();
			(void)ckpt_load_memory(r, ram, ram_size, false, &e);
			munmap(ram, ram_size);
		}
		ckpt_reader_close(r);
	} else if (!e.msg[0]) {
		abort();   /* every refusal must say why */
	}
	unlink(path);
	return 0;
}
