/*
 * ckpt.c - writing and reading the suspend file's header and sections
 * (ckpt.h; layout in ckpt_int.h and docs/CHECKPOINT.md).  Memory is in
 * ckpt_mem.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <sys/mman.h>
#include <zlib.h>
#include "../lib/fileutil.h"
#include "ckpt_int.h"
#include "ckpt_writer_int.h"

static uint32_t crc(const void *p, size_t len)
{
	return (uint32_t)crc32(0L, p, (uInt)len);
}

int ckpt_pwrite_full(struct ckpt_writer *w, const void *buf, size_t len, uint64_t off,
		     struct verr *e)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(w->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return verr_set(e, n < 0 ? -errno : -EIO, "%s: write failed: %s", w->tmp,
					n < 0 ? strerror(errno) : "short write");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
		atomic_fetch_add(&w->prog->bytes_written, (uint64_t)n);
	}
	return 0;
}

/* The file header's fixed fields; nsections and crc are set when the file is finished. */
static void fill_header(struct ckpt_file_header *h, const char *vmx_version,
			const char *build_type)
{
	struct timespec ts;

	memcpy(h->magic, CKPT_MAGIC, 8);
	h->format_version = CKPT_FORMAT_VERSION;
	h->header_size = CKPT_HEADER_SIZE;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	snprintf(h->vmx_version, sizeof(h->vmx_version), "%s", vmx_version);
	snprintf(h->build_type, sizeof(h->build_type), "%s", build_type);
}

int ckpt_writer_open(struct ckpt_writer **out, const char *path, const char *vmx_version,
		     const char *build_type, struct ckpt_progress *prog, struct verr *e)
{
	struct ckpt_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return verr_set(e, -ENOMEM, "out of memory");
	snprintf(w->path, sizeof(w->path), "%s", path);
	snprintf(w->tmp, sizeof(w->tmp), "%s.tmpXXXXXX", path);
	w->prog = prog ? prog : &w->own_prog;
	w->fd = mkstemp(w->tmp);
	if (w->fd < 0) {
		int rc = verr_set(e, -errno, "%s: cannot create temporary file: %s", path,
				  strerror(errno));
		free(w);
		return rc;
	}
	fill_header(&w->h, vmx_version, build_type);
	w->off = CKPT_HEADER_SIZE;
	*out = w;
	return 0;
}

int ckpt_writer_open_anon(struct ckpt_writer **out, struct verr *e)
{
	struct ckpt_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return verr_set(e, -ENOMEM, "out of memory");
	w->prog = &w->own_prog;
	w->fd = memfd_create("vmx3-state-hash", MFD_CLOEXEC);
	if (w->fd < 0) {
		int rc = verr_set(e, -errno, "memfd_create: %s", strerror(errno));
		free(w);
		return rc;
	}
	snprintf(w->tmp, sizeof(w->tmp), "<state hash>");
	w->off = CKPT_HEADER_SIZE;
	*out = w;
	return 0;
}

int ckpt_writer_hash(struct ckpt_writer *w, char hex[65], struct verr *e)
{
	crypto_hash_sha256_state st;
	unsigned char digest[crypto_hash_sha256_BYTES];
	const size_t bufsz = 1 << 20;
	uint8_t *buf = malloc(bufsz);
	uint64_t off = CKPT_HEADER_SIZE;
	int rc = 0;

	if (!buf) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	crypto_hash_sha256_init(&st);
	while (off < w->off) {
		size_t n = w->off - off < bufsz ? (size_t)(w->off - off) : bufsz;
		ssize_t got = pread(w->fd, buf, n, (off_t)off);
		if (got <= 0) {
			rc = verr_set(e, got < 0 ? -errno : -EIO, "state hash: read failed");
			goto out;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)got);
		off += (uint64_t)got;
	}
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(hex, 65, digest, sizeof(digest));
out:
	free(buf);
	close(w->fd);
	free(w);
	return rc;
}

int ckpt_writer_finish_fd(struct ckpt_writer *w, const char *vmx_version,
			  const char *build_type, int *fd, struct verr *e)
{
	int rc;

	fill_header(&w->h, vmx_version, build_type);
	w->h.crc = crc(&w->h, offsetof(struct ckpt_file_header, crc));
	rc = ckpt_pwrite_full(w, &w->h, sizeof(w->h), 0, e);
	if (rc == 0 && ftruncate(w->fd, (off_t)w->off) < 0)
		rc = verr_set(e, -errno, "state image: %s", strerror(errno));
	if (rc < 0) {
		close(w->fd);
		free(w);
		return rc;
	}
	*fd = w->fd;
	free(w);
	return 0;
}

bool ckpt_writer_cancelled(struct ckpt_writer *w)
{
	return atomic_load(&w->prog->cancel) != 0;
}

/* Writes the section header for a payload already written at data_offset. */
int ckpt_finish_section(struct ckpt_writer *w, const char *name, uint32_t version,
			uint64_t data_offset, uint64_t payload_len, uint32_t payload_crc,
			uint64_t extent_end, uint64_t hdr_offset, struct verr *e)
{
	struct ckpt_sect_header h;

	if (strlen(name) >= CKPT_NAME_MAX)
		return verr_set(e, -ENAMETOOLONG, "section name %s too long", name);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CKPT_SECT_MAGIC, 4);
	h.version = version;
	strncpy(h.name, name, sizeof(h.name) - 1);
	h.payload_len = payload_len;
	h.data_offset = data_offset;
	h.extent_end = extent_end;
	h.payload_crc = payload_crc;
	h.crc = crc(&h, offsetof(struct ckpt_sect_header, crc));
	w->h.nsections++;
	return ckpt_pwrite_full(w, &h, sizeof(h), hdr_offset, e);
}

static int put_payload(struct ckpt_writer *w, const char *name, uint32_t version,
		       const void *payload, size_t len, struct verr *e)
{
	uint64_t hdr_off = w->off, data_off = hdr_off + CKPT_SECT_HDR_SIZE;
	uint64_t end = (data_off + len + 7) & ~7ull;
	int rc;

	if (ckpt_writer_cancelled(w))
		return verr_set(e, -ECANCELED, "suspend cancelled");
	rc = ckpt_pwrite_full(w, payload, len, data_off, e);
	if (rc < 0)
		return rc;
	rc = ckpt_finish_section(w, name, version, data_off, len, crc(payload, len), end, hdr_off,
				 e);
	if (rc < 0)
		return rc;
	w->off = end;
	return 0;
}

int ckpt_put_struct(struct ckpt_writer *w, const char *section, uint32_t version,
		    const struct ckpt_field *fields, size_t nfields, const void *base,
		    struct verr *e)
{
	size_t len = 0, off = 0;
	uint8_t *buf;
	int rc;

	for (size_t i = 0; i < nfields; i++)
		len += 1 + strlen(fields[i].name) + 4 + fields[i].size;
	buf = malloc(len ? len : 1);
	if (!buf)
		return verr_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < nfields; i++) {
		uint8_t nl = (uint8_t)strlen(fields[i].name);
		uint32_t sz = (uint32_t)fields[i].size;
		buf[off++] = nl;
		memcpy(buf + off, fields[i].name, nl);
		off += nl;
		memcpy(buf + off, &sz, 4);
		off += 4;
		memcpy(buf + off, (const uint8_t *)base + fields[i].offset, sz);
		off += sz;
	}
	rc = put_payload(w, section, version, buf, len, e);
	free(buf);
	return rc;
}

int ckpt_put_blob(struct ckpt_writer *w, const char *section, uint32_t version, const void *data,
		  size_t len, struct verr *e)
{
	const struct ckpt_field f = { "data", 0, len };
	return ckpt_put_struct(w, section, version, &f, 1, data, e);
}

int ckpt_writer_commit(struct ckpt_writer *w, struct verr *e)
{
	int rc;

	w->h.crc = crc(&w->h, offsetof(struct ckpt_file_header, crc));
	rc = ckpt_pwrite_full(w, &w->h, sizeof(w->h), 0, e);
	if (rc < 0)
		goto fail;
	if (ftruncate(w->fd, (off_t)w->off) < 0 || fsync(w->fd) < 0) {
		rc = verr_set(e, -errno, "%s: cannot sync: %s", w->tmp, strerror(errno));
		goto fail;
	}
	if (close(w->fd) < 0) {
		w->fd = -1;
		rc = verr_set(e, -errno, "%s: close failed: %s", w->tmp, strerror(errno));
		goto fail;
	}
	w->fd = -1;
	if (ckpt_writer_cancelled(w)) {
		rc = verr_set(e, -ECANCELED, "suspend cancelled");
		goto fail;
	}
	if (rename(w->tmp, w->path) < 0) {
		rc = verr_set(e, -errno, "cannot rename %s to %s: %s", w->tmp, w->path,
			      strerror(errno));
		goto fail;
	}
	file_sync_dir(w->path);
	free(w);
	return 0;
fail:
	ckpt_writer_abort(w);
	return rc;
}

void ckpt_writer_abort(struct ckpt_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w);
}

/* ---- reading ---------------------------------------------------------------- */

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int ckpt_pread(struct ckpt_reader *r, void *buf, size_t len, uint64_t off)
{
	if (r->fd < 0)
		return -EBADF;   /* released after every page was loaded */
	return pread_full(r->fd, buf, len, off);
}

void ckpt_reader_release_file(struct ckpt_reader *r)
{
	int fd = r->fd;
	r->fd = -1;
	if (fd >= 0)
		close(fd);
}

struct ckpt_section_info *ckpt_find_section(struct ckpt_reader *r, const char *name)
{
	for (unsigned i = 0; i < r->nsections; i++)
		if (strncmp(r->sections[i].h.name, name, CKPT_NAME_MAX) == 0)
			return &r->sections[i];
	return NULL;
}

bool ckpt_has_section(const struct ckpt_reader *r, const char *section)
{
	return ckpt_find_section((struct ckpt_reader *)r, section) != NULL;
}

const char *ckpt_reader_version(const struct ckpt_reader *r) { return r->h.vmx_version; }
const char *ckpt_reader_build_type(const struct ckpt_reader *r) { return r->h.build_type; }

uint32_t ckpt_section_version(struct ckpt_reader *r, const char *section)
{
	struct ckpt_section_info *s = ckpt_find_section(r, section);
	return s ? s->h.version : 0;
}

static int reader_open(struct ckpt_reader *r, struct ckpt_reader **out, struct verr *e);

int ckpt_reader_open(struct ckpt_reader **out, const char *path, struct verr *e)
{
	/* Never blocks (a FIFO named as the checkpoint is refused, not waited on). */
	int fd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);
	if (fd < 0)
		return fd;
	return ckpt_reader_open_fd(out, fd, path, e);
}

int ckpt_reader_open_fd(struct ckpt_reader **out, int fd, const char *name, struct verr *e)
{
	struct ckpt_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	snprintf(r->path, sizeof(r->path), "%s", name);
	r->fd = fd;
	return reader_open(r, out, e);
}

static int reader_open(struct ckpt_reader *r, struct ckpt_reader **out, struct verr *e)
{
	const char *path = r->path;
	struct stat st;
	uint64_t off;
	int rc;

	if (fstat(r->fd, &st) < 0) {
		rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
		goto err;
	}
	rc = pread_full(r->fd, &r->h, sizeof(r->h), 0);
	if (rc < 0 || memcmp(r->h.magic, CKPT_MAGIC, 8) != 0) {
		rc = verr_set(e, -EINVAL, "%s: not a vmx3 checkpoint (section header: bad magic)",
			      path);
		goto err;
	}
	if (r->h.crc != crc(&r->h, offsetof(struct ckpt_file_header, crc))) {
		rc = verr_set(e, -EINVAL, "%s: section header: checksum mismatch", path);
		goto err;
	}
	if (r->h.format_version != CKPT_FORMAT_VERSION || r->h.header_size != CKPT_HEADER_SIZE) {
		rc = verr_set(e, -EPROTO,
			      "%s: section header: format version %u is not supported (this vmx reads %u)",
			      path, r->h.format_version, CKPT_FORMAT_VERSION);
		goto err;
	}
	if (r->h.nsections == 0 || r->h.nsections > CKPT_MAX_SECTIONS) {
		rc = verr_set(e, -EINVAL, "%s: section header: %u sections", path, r->h.nsections);
		goto err;
	}
	r->h.vmx_version[sizeof(r->h.vmx_version) - 1] = 0;
	r->h.build_type[sizeof(r->h.build_type) - 1] = 0;
	off = CKPT_HEADER_SIZE;
	for (unsigned i = 0; i < r->h.nsections; i++) {
		struct ckpt_section_info *s = &r->sections[i];
		char name[CKPT_NAME_MAX + 1];

		rc = pread_full(r->fd, &s->h, sizeof(s->h), off);
		if (rc < 0) {
			rc = verr_set(e, -EINVAL, "%s: section %u: truncated file", path, i);
			goto err;
		}
		memcpy(name, s->h.name, CKPT_NAME_MAX);
		name[CKPT_NAME_MAX] = 0;
		if (memcmp(s->h.magic, CKPT_SECT_MAGIC, 4) != 0 ||
		    s->h.crc != crc(&s->h, offsetof(struct ckpt_sect_header, crc))) {
			rc = verr_set(e, -EINVAL, "%s: section %u (after \"%s\"): header corrupt",
				      path, i,
				      i ? r->sections[i - 1].h.name : "file header");
			goto err;
		}
		s->h.name[CKPT_NAME_MAX - 1] = 0;
		if (s->h.data_offset < off + CKPT_SECT_HDR_SIZE ||
		    s->h.payload_len > CKPT_MAX_SECTION_PAYLOAD ||
		    s->h.extent_end < s->h.data_offset + s->h.payload_len ||
		    s->h.extent_end > (uint64_t)st.st_size) {
			rc = verr_set(e, -EINVAL, "%s: section \"%s\": truncated or bad extent", path,
				      name);
			goto err;
		}
		s->payload = malloc(s->h.payload_len ? s->h.payload_len : 1);
		if (!s->payload) {
			rc = verr_set(e, -ENOMEM, "out of memory");
			goto err;
		}
		r->nsections = i + 1;
		rc = pread_full(r->fd, s->payload, s->h.payload_len, s->h.data_offset);
		if (rc < 0) {
			rc = verr_set(e, -EINVAL, "%s: section \"%s\": truncated", path, name);
			goto err;
		}
		if (crc(s->payload, s->h.payload_len) != s->h.payload_crc) {
			rc = verr_set(e, -EINVAL, "%s: section \"%s\": checksum mismatch", path, name);
			goto err;
		}
		off = s->h.extent_end;
	}
	if (off != (uint64_t)st.st_size) {
		rc = verr_set(e, -EINVAL, "%s: %llu bytes after the last section (\"%s\")", path,
			      (unsigned long long)((uint64_t)st.st_size - off),
			      r->sections[r->nsections - 1].h.name);
		goto err;
	}
	*out = r;
	return 0;
err:
	ckpt_reader_close(r);
	return rc;
}

void ckpt_mem_lazy_free(struct ckpt_reader *r);

void ckpt_reader_close(struct ckpt_reader *r)
{
	if (!r)
		return;
	ckpt_mem_lazy_free(r);
	for (unsigned i = 0; i < r->nsections; i++)
		free(r->sections[i].payload);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* Finds a field in a struct section's payload; returns its data or NULL. */
static const uint8_t *find_field(const struct ckpt_section_info *s, const char *name,
				 uint32_t *size)
{
	const uint8_t *p = s->payload, *end = s->payload + s->h.payload_len;
	size_t nl = strlen(name);
	while (p < end) {
		uint8_t l = *p++;
		uint32_t sz;
		if ((size_t)(end - p) < (size_t)l + 4)
			return NULL;
		const uint8_t *fname = p;
		p += l;
		memcpy(&sz, p, 4);
		p += 4;
		if ((size_t)(end - p) < sz)
			return NULL;
		if (l == nl && memcmp(fname, name, nl) == 0) {
			*size = sz;
			return p;
		}
		p += sz;
	}
	return NULL;
}

int ckpt_get_struct(struct ckpt_reader *r, const char *section, uint32_t max_version,
		    const struct ckpt_field *fields, size_t nfields, void *base, struct verr *e)
{
	struct ckpt_section_info *s = ckpt_find_section(r, section);
	if (!s)
		return verr_set(e, -ENOENT, "%s: section \"%s\" is missing", r->path, section);
	if (s->h.version > max_version)
		return verr_set(e, -EPROTO,
				"%s: section \"%s\": version %u is newer than this vmx reads (%u)",
				r->path, section, s->h.version, max_version);
	for (size_t i = 0; i < nfields; i++) {
		uint32_t sz;
		const uint8_t *d = find_field(s, fields[i].name, &sz);
		if (!d)
			return verr_set(e, -EINVAL, "%s: section \"%s\": field \"%s\" is missing",
					r->path, section, fields[i].name);
		if (sz != fields[i].size)
			return verr_set(e, -EINVAL,
					"%s: section \"%s\": field \"%s\" has %u bytes, expected %zu",
					r->path, section, fields[i].name, sz, fields[i].size);
		memcpy((uint8_t *)base + fields[i].offset, d, sz);
	}
	return 0;
}

int ckpt_get_blob(struct ckpt_reader *r, const char *section, uint32_t max_version, void *data,
		  size_t len, struct verr *e)
{
	const struct ckpt_field f = { "data", 0, len };
	return ckpt_get_struct(r, section, max_version, &f, 1, data, e);
}
