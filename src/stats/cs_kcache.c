/*
 * cs_kcache.c - a cache of the guest kernel's decoded function symbols, so a
 * VM started again on the same kernel Image does not decode its kallsyms
 * tables again: about 20 ms of the collector's CPU per start with Debian's
 * kernel, which a short run feels in the whole process's cost.
 *
 * The cache is one file per Image and monitor executable in the user's
 * cache directory (cs_kcache_path), naming the Image it was made from by
 * device, inode, size and modification and change times in ns: an Image
 * rebuilt, copied over, replaced by another file or touched misses and is
 * decoded again (one changed in the last second is not cached yet, see
 * settled()), and so does a rebuilt monitor (struct kc_key).  It is
 * written to a temporary file beside it and renamed over it, so a reader
 * sees a whole cache or the previous one; no fsync, since a file a crash
 * left short or empty fails the checks below like any other bad input.  A
 * cache is trusted only when its length, magic, key and CRC all hold and
 * its table passes cs_symtab_raw_check; anything else is a miss.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "cs_kallsyms.h"

#define KC_MAGIC "VMX3KSY2"
#define KC_MAX (256u << 20)

/*
 * What identifies the Image and how its table was made: the file's header.
 * The decoder is the running executable's, so its identity is part of the
 * key too: a rebuilt monitor (a fixed or changed decoder) decodes afresh
 * rather than trust a table an older one made.
 */
struct kc_key {
	char magic[8];
	uint64_t dev, ino, size, mtime_ns, ctime_ns, link_base;
	uint64_t exe_dev, exe_ino, exe_size, exe_mtime_ns;
	uint64_t blob_len;
};

static uint64_t ts_ns(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec;
}

static int key_of(const struct stat *st, uint64_t link_base, struct kc_key *k)
{
	struct stat exe;
	if (stat("/proc/self/exe", &exe) < 0)
		return -errno;
	memset(k, 0, sizeof(*k));
	memcpy(k->magic, KC_MAGIC, sizeof(k->magic));
	k->dev = (uint64_t)st->st_dev;
	k->ino = (uint64_t)st->st_ino;
	k->size = (uint64_t)st->st_size;
	k->mtime_ns = ts_ns(&st->st_mtim);
	k->ctime_ns = ts_ns(&st->st_ctim);
	k->link_base = link_base;
	k->exe_dev = (uint64_t)exe.st_dev;
	k->exe_ino = (uint64_t)exe.st_ino;
	k->exe_size = (uint64_t)exe.st_size;
	k->exe_mtime_ns = ts_ns(&exe.st_mtim);
	return 0;
}

static int pread_full(int fd, void *p, size_t len, off_t off)
{
	char *c = p;
	while (len) {
		ssize_t n = pread(fd, c, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		c += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Layout: key, blob (blob_len bytes: cs_symtab_blob), crc32 of both (u32).
 * The records and names are read straight into the table (no second copy of
 * 2 MB to fault in and free), the CRC taken over them as they were read.
 */
static int read_cache(struct cs_symtab **out, const char *path, const struct kc_key *want)
{
	struct verr e = { 0 };
	struct cs_symtab *t = NULL;
	struct kc_key k;
	struct stat st;
	uint64_t h[2];
	uint32_t crc, want_crc;
	void *recs;
	char *names;
	int rc = -EINVAL, fd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, &e);

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || st.st_size > KC_MAX ||
	    (size_t)st.st_size < sizeof(k) + sizeof(h) + 4 ||
	    pread_full(fd, &k, sizeof(k), 0) < 0 || pread_full(fd, h, sizeof(h), sizeof(k)) < 0)
		goto out;
	if (k.blob_len != (uint64_t)st.st_size - sizeof(k) - 4 || h[0] > CS_SYMTAB_RAW_MAX_N ||
	    h[1] > CS_SYMTAB_RAW_MAX_NAMES || k.blob_len != sizeof(h) + h[0] * CS_SYMTAB_REC + h[1])
		goto out;
	k.blob_len = want->blob_len;
	if (memcmp(&k, want, sizeof(k)))
		goto out;
	t = cs_symtab_raw((size_t)h[0], (size_t)h[1], &recs, &names);
	if (!t)
		goto out;
	off_t off = (off_t)(sizeof(k) + sizeof(h));
	if (pread_full(fd, recs, (size_t)h[0] * CS_SYMTAB_REC, off) < 0 ||
	    pread_full(fd, names, (size_t)h[1], off + (off_t)(h[0] * CS_SYMTAB_REC)) < 0 ||
	    pread_full(fd, &want_crc, 4, st.st_size - 4) < 0)
		goto out;
	k.blob_len = (uint64_t)st.st_size - sizeof(k) - 4;
	crc = (uint32_t)crc32(0L, (const Bytef *)&k, sizeof(k));
	crc = (uint32_t)crc32(crc, (const Bytef *)h, sizeof(h));
	crc = (uint32_t)crc32(crc, recs, (uInt)(h[0] * CS_SYMTAB_REC));
	crc = (uint32_t)crc32(crc, (const Bytef *)names, (uInt)h[1]);
	if (crc != want_crc || cs_symtab_raw_check(t, &e) < 0)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	cs_symtab_free(t);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_cache(const char *path, const struct kc_key *key, const struct cs_symtab *t)
{
	struct kc_key k = *key;
	size_t blen = cs_symtab_blob_size(t), len = sizeof(k) + blen + 4;
	char tmp[4200];
	uint8_t *buf;
	uint32_t crc;
	int fd, rc;

	if (len > KC_MAX)
		return -EFBIG;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	k.blob_len = blen;
	memcpy(buf, &k, sizeof(k));
	cs_symtab_blob(t, buf + sizeof(k));
	crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
	memcpy(buf + len - 4, &crc, 4);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, buf, len);
	if (!rc && fchmod(fd, 0644) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	free(buf);
	return rc;
}

/*
 * File times come from a clock that may tick only every few ms: an Image
 * changed again within the tick of the change the key saw, at the same
 * size, would keep the key.  So an Image changed less than KC_SETTLE_NS ago
 * is decoded but not cached (git's "racily clean" files).
 */
#define KC_SETTLE_NS 1000000000ull

static bool settled(const struct kc_key *k)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t n = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	return n > k->ctime_ns + KC_SETTLE_NS && n > k->mtime_ns + KC_SETTLE_NS;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int cs_symtab_from_kernel_cached(struct cs_symtab **out, const char *image_path,
				 uint64_t link_base, const char *cache_path, bool *cached,
				 struct verr *e)
{
	struct stat before, after;
	struct kc_key key;
	int rc, fd = file_open_typed(image_path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);

	*cached = false;
	if (fd < 0)
		return fd;
	if (fstat(fd, &before) < 0) {
		rc = verr_set(e, -errno, "%s: %s", image_path, strerror(errno));
		goto out;
	}
	if (cache_path && key_of(&before, link_base, &key) < 0)
		cache_path = NULL;
	if (cache_path && read_cache(out, cache_path, &key) == 0) {
		*cached = true;
		rc = 0;
		goto out;
	}
	rc = cs_symtab_from_kernel_fd(out, fd, image_path, link_base, e);
	/*
	 * Cached only when the Image did not change while it was read: the
	 * table must be that of the file the key names.
	 */
	if (rc == 0 && cache_path && settled(&key) && fstat(fd, &after) == 0 &&
	    same_file(&before, &after)) {
		int w = write_cache(cache_path, &key, *out);
		if (w < 0)   /* the next start decodes again: nothing worse */
			LOG_DBG("callstack: %s not written: %s", cache_path, strerror(-w));
	}
out:
	close(fd);
	return rc;
}

static bool usable_dir(const char *d)
{
	if (mkdir(d, 0700) < 0 && errno != EEXIST)
		return false;
	return access(d, W_OK | X_OK) == 0;
}

void cs_kcache_path(char *out, size_t len, const char *image_path, const char *fallback_dir)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[4096] = "", real[4096];
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */

	char base[4096] = "";

	if (xdg && xdg[0] == '/')
		snprintf(base, sizeof(base), "%s", xdg);
	else if (home && home[0] == '/' && snprintf(base, sizeof(base), "%s/.cache", home) >=
		 (int)sizeof(base))
		base[0] = 0;
	if (base[0] && usable_dir(base) &&
	    snprintf(dir, sizeof(dir), "%s/vmx3", base) < (int)sizeof(dir) && usable_dir(dir) &&
	    snprintf(dir, sizeof(dir), "%s/vmx3/kallsyms", base) < (int)sizeof(dir) &&
	    usable_dir(dir))
		;
	else if (fallback_dir && fallback_dir[0])
		snprintf(dir, sizeof(dir), "%s", fallback_dir);
	else {
		out[0] = 0;
		return;
	}
	/*
	 * One file per Image and monitor executable (paths): two monitors
	 * booting one Image (a stats and an opt build) each keep theirs instead
	 * of replacing each other's, and a monitor rebuilt in place replaces
	 * its own.
	 */
	if (!realpath(image_path, real))
		snprintf(real, sizeof(real), "%s", image_path);
	for (const char *c = real; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	h = (h ^ '\n') * 0x100000001b3ull;
	if (realpath("/proc/self/exe", real))
		for (const char *c = real; *c; c++)
			h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	if (snprintf(out, len, "%s/kallsyms-%016llx.cache", dir, (unsigned long long)h) >= (int)len)
		out[0] = 0;
}
