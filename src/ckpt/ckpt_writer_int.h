/*
 * ckpt_writer_int.h - the writer's private state, shared by ckpt.c and ckpt_mem.c.
 */
#ifndef VMX_CKPT_CKPT_WRITER_INT_H
#define VMX_CKPT_CKPT_WRITER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include "ckpt_int.h"

struct ckpt_writer {
	int fd;
	char path[4096];
	char tmp[4200];
	uint64_t off;                /* where the next section starts */
	struct ckpt_file_header h;
	struct ckpt_progress *prog;
	struct ckpt_progress own_prog;
};

int ckpt_pwrite_full(struct ckpt_writer *w, const void *buf, size_t len, uint64_t off,
		     struct verr *e);
int ckpt_finish_section(struct ckpt_writer *w, const char *name, uint32_t version,
			uint64_t data_offset, uint64_t payload_len, uint32_t payload_crc,
			uint64_t extent_end, uint64_t hdr_offset, struct verr *e);
bool ckpt_writer_cancelled(struct ckpt_writer *w);
int ckpt_pread(struct ckpt_reader *r, void *buf, size_t len, uint64_t off);

#endif
