/*
 * ckpt_int.h - on-disk layout of the suspend file, shared by the writer,
 * the reader and the memory section code.  All integers little-endian.
 */
#ifndef VMX_CKPT_CKPT_INT_H
#define VMX_CKPT_CKPT_INT_H

#include <stdint.h>
#include "ckpt.h"

#define CKPT_HEADER_SIZE 128
#define CKPT_SECT_HDR_SIZE 64
#define CKPT_SECT_MAGIC "SECT"
#define CKPT_MEMORY_SECTION "memory"
#define CKPT_MAX_SECTIONS 64
#define CKPT_MAX_SECTION_PAYLOAD (16u << 20)

struct ckpt_file_header {
	char magic[8];               /* "VMX3VMSS" */
	uint32_t format_version;
	uint32_t header_size;        /* CKPT_HEADER_SIZE */
	uint64_t created_ns;         /* CLOCK_REALTIME when written */
	char vmx_version[32];        /* producer, informational */
	char build_type[16];         /* producer's build type, informational only */
	uint32_t nsections;
	uint8_t reserved[48];
	uint32_t crc;                /* crc32 of the 124 bytes before it */
};

struct ckpt_sect_header {
	char magic[4];               /* "SECT" */
	uint32_t version;            /* the section's own format version */
	char name[CKPT_NAME_MAX];    /* NUL-padded */
	uint64_t payload_len;        /* bytes at data_offset covered by payload_crc */
	uint64_t data_offset;        /* absolute offset of the payload */
	uint64_t extent_end;         /* absolute offset where this section ends */
	uint32_t payload_crc;        /* crc32 of the payload */
	uint32_t crc;                /* crc32 of the 60 bytes before it */
};

/*
 * The memory section's payload (covered by payload_crc): this header, then the
 * present-page bitmap, then one crc32 per present page.  The pages themselves
 * are at pages_offset (page-aligned), in address order, outside the payload;
 * each is verified against its own crc when loaded.
 */
struct ckpt_mem_header {
	uint32_t page_size;
	uint32_t reserved;
	uint64_t ram_size;
	uint64_t npresent;
	uint64_t pages_offset;
};

_Static_assert(sizeof(struct ckpt_file_header) == CKPT_HEADER_SIZE, "header layout");
_Static_assert(sizeof(struct ckpt_sect_header) == CKPT_SECT_HDR_SIZE, "section header layout");

struct ckpt_section_info {
	struct ckpt_sect_header h;
	uint8_t *payload;            /* loaded and verified payload (malloc'd) */
};

struct ckpt_reader {
	int fd;
	char path[4096];
	struct ckpt_file_header h;
	unsigned nsections;
	struct ckpt_section_info sections[CKPT_MAX_SECTIONS];
	struct ckpt_lazy *lazy;      /* ckpt_mem.c: lazy loading state */
};

struct ckpt_section_info *ckpt_find_section(struct ckpt_reader *r, const char *name);
/*
 * Closes the file once nothing more will be read from it (every section is in
 * memory and every page loaded), so that a checkpoint removed after a resume
 * gives its space back while the VM runs on.
 */
void ckpt_reader_release_file(struct ckpt_reader *r);

#endif
