/*
 * ckpt.h - the suspend file (NAME.vmss): a header and self-describing,
 * versioned, checksummed sections; layout in docs/CHECKPOINT.md.
 *
 * Writing: ckpt_writer_open() on a temporary file next to the target, one
 * ckpt_section_begin/..._end per CPU, device and the machine, the memory
 * section last (page-aligned pages, zero pages left out), then
 * ckpt_writer_commit() fsyncs and renames into place.  Any failure leaves the
 * target untouched (ckpt_writer_abort removes the temporary file).
 *
 * Reading: ckpt_reader_open() validates the header and every section header
 * and checksum except the memory pages, which are verified page by page as
 * they are loaded (memory can be loaded lazily).
 *
 * Sections hold fields by name (struct ckpt_field tables), so a reader can
 * find each field, check its size, and give an error naming section and field.
 * Nothing in the file depends on the build type that wrote it; the build type
 * in the header is informational only.
 */
#ifndef VMX_CKPT_CKPT_H
#define VMX_CKPT_CKPT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../lib/verr.h"

#define CKPT_MAGIC "VMX3VMSS"
#define CKPT_FORMAT_VERSION 1
#define CKPT_PAGE_SIZE 4096u
#define CKPT_NAME_MAX 24

struct ckpt_writer;
struct ckpt_reader;

/* One named field of a plain struct: offset and size within it. */
struct ckpt_field {
	const char *name;
	size_t offset, size;
};
#define CKPT_FIELD(type, member) { #member, offsetof(type, member), sizeof(((type *)0)->member) }

/* Progress and cancellation, polled by the writer between chunks. */
struct ckpt_progress {
	_Atomic uint64_t bytes_written;
	_Atomic uint64_t bytes_total;
	_Atomic int cancel;          /* set to 1 to cancel; the writer returns -ECANCELED */
};

int ckpt_writer_open(struct ckpt_writer **out, const char *path, const char *vmx_version,
		     const char *build_type, struct ckpt_progress *prog, struct verr *e);
/* Writes a whole section from a plain struct described by a field table. */
int ckpt_put_struct(struct ckpt_writer *w, const char *section, uint32_t version,
		    const struct ckpt_field *fields, size_t nfields, const void *base,
		    struct verr *e);
/* Writes a section holding one opaque blob (field name "data"). */
int ckpt_put_blob(struct ckpt_writer *w, const char *section, uint32_t version, const void *data,
		  size_t len, struct verr *e);
/*
 * Writes the memory section from guest RAM (host mapping + its memfd, used
 * to skip never-touched holes quickly).  Zero pages are left out.
 */
int ckpt_put_memory(struct ckpt_writer *w, const uint8_t *ram, uint64_t size, int memfd,
		    struct verr *e);
/* fsync, rename over the target, fsync the directory. Frees w. */
int ckpt_writer_commit(struct ckpt_writer *w, struct verr *e);
/* Removes the temporary file. Frees w. */
void ckpt_writer_abort(struct ckpt_writer *w);

/*
 * State hashes: a writer into an anonymous memfd instead of a file; after the
 * sections are put, ckpt_writer_hash() gives the SHA-256 of everything after
 * the file header (which alone holds the time, producer version and build
 * type), so equal machine states give equal hashes in every build type.
 */
int ckpt_writer_open_anon(struct ckpt_writer **out, struct verr *e);
/* Hex SHA-256 (65 bytes with NUL) of the sections written so far. Frees w. */
int ckpt_writer_hash(struct ckpt_writer *w, char hex[65], struct verr *e);
/*
 * The hand-over transport: an anonymous writer finished into a complete
 * checkpoint image (header included, no memory section) in its memfd, which
 * is returned for another process to read with
 * ckpt_reader_open_fd.  Frees w.
 */
int ckpt_writer_finish_fd(struct ckpt_writer *w, const char *vmx_version,
			  const char *build_type, int *fd, struct verr *e);

int ckpt_reader_open(struct ckpt_reader **out, const char *path, struct verr *e);
/* Same, from an fd it takes over (closed by ckpt_reader_close); name is for messages. */
int ckpt_reader_open_fd(struct ckpt_reader **out, int fd, const char *name, struct verr *e);
/* The version a section was written with, 0 when it is missing. */
uint32_t ckpt_section_version(struct ckpt_reader *r, const char *section);
void ckpt_reader_close(struct ckpt_reader *r);
/* Header facts, for messages and tools. */
const char *ckpt_reader_version(const struct ckpt_reader *r);
const char *ckpt_reader_build_type(const struct ckpt_reader *r);
bool ckpt_has_section(const struct ckpt_reader *r, const char *section);
/*
 * Fills a plain struct from a section: every field in the table must be in
 * the section with the same size (errors name section and field); the
 * section's version must be <= max_version.
 */
int ckpt_get_struct(struct ckpt_reader *r, const char *section, uint32_t max_version,
		    const struct ckpt_field *fields, size_t nfields, void *base, struct verr *e);
int ckpt_get_blob(struct ckpt_reader *r, const char *section, uint32_t max_version, void *data,
		  size_t len, struct verr *e);
/* Size of guest RAM recorded in the memory section. */
int ckpt_memory_size(struct ckpt_reader *r, uint64_t *size, struct verr *e);
/*
 * Loads guest memory into ram (size bytes, zero-filled already).  With lazy
 * set and userfaultfd available, returns at once and pages arrive on first
 * touch or from a background thread; otherwise copies everything now.  Each
 * page's checksum is verified as it is loaded; a bad page is an error (eager)
 * or a fatal error logged with the page address (lazy).
 */
int ckpt_load_memory(struct ckpt_reader *r, uint8_t *ram, uint64_t size, bool lazy,
		     struct verr *e);
/*
 * Waits until every page of a lazy load is present (before a new suspend).
 * Once every page is in, the reader has closed the file: nothing more is read
 * from it, and a removed checkpoint's space is freed while the VM runs.
 */
int ckpt_memory_wait(struct ckpt_reader *r, struct verr *e);

/*
 * Checks a whole checkpoint without resuming it: the header, every section
 * (header and payload checksum) and every stored memory page against its own
 * checksum, which a resume checks only as each page is loaded.  The error
 * names the section, or the page by its number in guest RAM.
 */
struct ckpt_verify_info {
	unsigned nsections;
	uint64_t ram_size;
	uint64_t pages_verified;
};
int ckpt_verify(const char *path, struct ckpt_verify_info *info, struct verr *e);

#endif
