/*
 * fileutil.c - atomic file replacement, whole-file reads and the typed open of
 * files a configuration names, with the descriptors a parent passed in for
 * paths this process could not reach by name (fileutil.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileutil.h"

void file_dirname(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(out, len, ".");
	else if (slash == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(slash - path), path);
}

int file_sync_dir(const char *path)
{
	char dir[4096];
	int fd, rc = 0;

	file_dirname(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, struct verr *e)
{
	char tmp[4096];
	struct stat st;
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp))
		return verr_set(e, -ENAMETOOLONG, "%s: path too long", path);
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	fd = mkstemp(tmp);
	if (fd < 0)
		return verr_set(e, -errno, "%s: cannot create temporary file: %s", path,
				strerror(errno));
	rc = write_full(fd, buf, len);
	if (rc < 0) {
		verr_set(e, rc, "%s: write failed: %s", tmp, strerror(-rc));
		goto err_unlink;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		rc = verr_set(e, -errno, "%s: sync failed: %s", tmp, strerror(errno));
		goto err_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = verr_set(e, -errno, "%s: close failed: %s", tmp, strerror(errno));
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = verr_set(e, -errno, "cannot replace %s: %s", path, strerror(errno));
		goto err_unlink;
	}
	file_sync_dir(path);
	return 0;

err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

const char *file_type_name(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "of an unknown type";
}

static const char *allowed_text(unsigned allowed)
{
	switch (allowed) {
	case FILE_T_REG: return "not a regular file";
	case FILE_T_REG | FILE_T_BLK: return "not a regular file or block device";
	case FILE_T_REG | FILE_T_CHR: return "not a regular file or character device";
	default: return "not a file of a usable type";
	}
}

/*
 * Paths whose files the parent opened for this process (file_pass_add).  Few
 * (one per file key of a .vmx), set up before any thread starts, then only read.
 */
#define FILE_PASS_MAX 32
static struct {
	char *path;
	int fd;
} g_pass[FILE_PASS_MAX];
static unsigned g_npass;

int file_pass_add(const char *path, int fd)
{
	struct stat st;

	if (g_npass == FILE_PASS_MAX)
		return -ENOSPC;
	if (path[0] != '/')
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -EBADF;
	g_pass[g_npass].path = strdup(path);
	if (!g_pass[g_npass].path)
		return -ENOMEM;
	g_pass[g_npass].fd = fd;
	g_npass++;
	return 0;
}

/*
 * The name to open path by: /proc/self/fd/N when the parent passed its file.
 * Opening through the descriptor's magic link checks the file's own
 * permissions with the caller's flags, but not the directories above it,
 * which this process (an unprivileged vmx) may be unable to search.
 */
int file_pass_fd(const char *path)
{
	for (unsigned i = 0; i < g_npass; i++)
		if (!strcmp(g_pass[i].path, path))
			return g_pass[i].fd;
	return -ENOENT;
}

/* The name to open path by: through its passed descriptor when it has one. */
static const char *pass_name(const char *path, char *buf, size_t len)
{
	int fd = file_pass_fd(path);
	if (fd < 0)
		return path;
	snprintf(buf, len, "/proc/self/fd/%d", fd);
	return buf;
}

int file_open_typed(const char *path, int flags, mode_t mode, unsigned allowed, struct verr *e)
{
	char passed[32];
	const char *name = pass_name(path, passed, sizeof(passed));
	struct stat st;
	int fd = open(name, flags | O_NONBLOCK | O_NOCTTY, mode), rc, fl;

	if (fd < 0) {
		rc = -errno;
		/* A FIFO without a reader refuses a non-blocking writer with ENXIO: say what it is. */
		if (rc == -ENXIO && stat(name, &st) == 0 && S_ISFIFO(st.st_mode))
			return verr_set(e, -EINVAL, "%s: %s (it is a FIFO)", path,
					allowed_text(allowed));
		return verr_set(e, rc, "%s: %s", path, strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!((S_ISREG(st.st_mode) && (allowed & FILE_T_REG)) ||
	      (S_ISBLK(st.st_mode) && (allowed & FILE_T_BLK)) ||
	      (S_ISCHR(st.st_mode) && (allowed & FILE_T_CHR)))) {
		rc = verr_set(e, -EINVAL, "%s: %s (it is %s)", path, allowed_text(allowed),
			      file_type_name(st.st_mode));
		goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

int file_read_all(const char *path, size_t max, char **buf, size_t *len, struct verr *e)
{
	struct stat st;
	char *b;
	size_t off = 0;
	int fd, rc;

	fd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	if ((size_t)st.st_size > max) {
		rc = verr_set(e, -EFBIG, "%s: larger than %zu bytes", path, max);
		goto out_close;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		rc = verr_set(e, -ENOMEM, "%s: out of memory", path);
		goto out_close;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, b + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = verr_set(e, n < 0 ? -errno : -EIO, "%s: read failed", path);
			free(b);
			goto out_close;
		}
		off += (size_t)n;
	}
	b[off] = 0;
	*buf = b;
	*len = off;
	rc = 0;
out_close:
	close(fd);
	return rc;
}
