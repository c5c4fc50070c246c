/*
 * ds.c - datastores and datastore paths.
 *
 * A datastore is a named directory; VMs are addressed as the seed does,
 * "[datastore1] m0n0wall/m0n0wall.vmx".  Everything a client sends is checked
 * here before it becomes a host path, so a request cannot reach a file
 * outside the datastores (no absolute paths, no "..", no symlink escapes:
 * the kernel resolves each path beneath its datastore, see confine.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hostd.h"

/* --- resolution beneath a root (used by confine.c too) ------------------------- */

int confine_open(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!*rel)
		rel = ".";
	fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (fd < 0)
		return errno == ELOOP && !(flags & O_NOFOLLOW) ? -EXDEV : -errno;
	return (int)fd;
}

/* A plain name: not empty, ".", "..", no slash. */
static bool plain_name(const char *s, size_t n)
{
	return n > 0 && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

int confine_check(int rootfd, const char *rel, bool *exists, struct stat *st)
{
	char prefix[PATH_MAX];
	size_t n = strlen(rel);
	int fd;

	*exists = false;
	if (n >= sizeof(prefix))
		return -ENAMETOOLONG;
	fd = confine_open(rootfd, rel, O_PATH);
	if (fd >= 0) {
		int rc = fstat(fd, st) < 0 ? -errno : 0;
		close(fd);
		*exists = rc == 0;
		return rc;
	}
	if (fd != -ENOENT)
		return fd == -ELOOP ? -EXDEV : fd;
	/* Find the first missing component; everything before it must resolve beneath. */
	for (size_t i = 0; i <= n; i++) {
		if (i < n && rel[i] != '/')
			continue;
		memcpy(prefix, rel, i);
		prefix[i] = 0;
		fd = confine_open(rootfd, prefix, O_PATH);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (fd != -ENOENT)
			return fd == -ELOOP ? -EXDEV : fd;
		/* prefix is missing: a dangling symlink there would be followed on create. */
		struct stat lst;
		const char *last = strrchr(prefix, '/');
		int dfd;
		char parent[PATH_MAX];
		size_t pl = last ? (size_t)(last - prefix) : 0;
		memcpy(parent, prefix, pl);
		parent[pl] = 0;
		dfd = confine_open(rootfd, parent, O_PATH | O_DIRECTORY);
		if (dfd < 0)
			return dfd;
		int lrc = fstatat(dfd, last ? last + 1 : prefix, &lst, AT_SYMLINK_NOFOLLOW);
		close(dfd);
		if (lrc == 0)
			return -EXDEV;
		/* The missing tail must be plain names, created beneath what exists. */
		if (!plain_name(last ? last + 1 : prefix, strlen(last ? last + 1 : prefix)))
			return -EXDEV;
		for (const char *p = rel + i; *p;) {
			while (*p == '/')
				p++;
			const char *slash = strchrnul(p, '/');
			if (*p && !plain_name(p, (size_t)(slash - p)))
				return -EXDEV;
			p = slash;
		}
		return 0;
	}
	return -ENOENT;
}

int confine_root_open(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* --- datastore paths ----------------------------------------------------------- */

int ds_split(const char *file, char *ds, size_t dslen, const char **rel)
{
	const char *close;

	if (!file || file[0] != '[')
		return -EINVAL;
	close = strchr(file, ']');
	if (!close || close == file + 1 || (size_t)(close - file - 1) >= dslen)
		return -EINVAL;
	snprintf(ds, dslen, "%.*s", (int)(close - file - 1), file + 1);
	close++;
	while (*close == ' ')
		close++;
	*rel = close;
	return 0;
}

static bool ds_name_ok(const char *n)
{
	if (!*n)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

int ds_add(struct hostd_cfg *c, const char *name, const char *path, struct verr *e)
{
	char real[PATH_MAX];

	if (!ds_name_ok(name))
		return verr_set(e, -EINVAL, "datastore name '%s': use letters, digits, '-', '_', '.'",
				name);
	if (c->nds >= HOSTD_MAX_DS)
		return verr_set(e, -E2BIG, "too many datastores (at most %d)", HOSTD_MAX_DS);
	for (unsigned i = 0; i < c->nds; i++)
		if (!strcmp(c->ds[i].name, name))
			return verr_set(e, -EEXIST, "datastore '%s' defined twice", name);
	if (!realpath(path, real))
		return verr_set(e, -errno, "datastore '%s': %s: %s", name, path, strerror(errno));
	snprintf(c->ds[c->nds].name, sizeof(c->ds[0].name), "%s", name);
	snprintf(c->ds[c->nds].path, sizeof(c->ds[0].path), "%s", real);
	c->nds++;
	return 0;
}

const struct hostd_ds *ds_find(const struct hostd_cfg *c, const char *name)
{
	for (unsigned i = 0; i < c->nds; i++)
		if (!strcmp(c->ds[i].name, name))
			return &c->ds[i];
	return NULL;
}

/* True when every component of rel is a plain name (no "", ".", ".."). */
static bool rel_components_ok(const char *rel)
{
	const char *p = rel;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			return false;
	}
	return true;
}

int ds_resolve(const struct hostd_cfg *c, const char *file, char *abs, size_t len,
	       struct verr *e)
{
	char name[64];
	const struct hostd_ds *ds;
	const char *rel;
	struct stat st;
	bool exists;
	size_t n;
	int rootfd, rc;

	if (ds_split(file, name, sizeof(name), &rel) < 0)
		return verr_set(e, -EINVAL, "file: \"%s\" is not a datastore path like \"[ds] dir/NAME.vmx\"",
				file ? file : "");
	ds = ds_find(c, name);
	if (!ds)
		return verr_set(e, -ENOENT, "file: no datastore named '%s'", name);
	n = strlen(rel);
	if (n == 0 || rel[0] == '/')
		return verr_set(e, -EINVAL, "file: \"%s\": the path must be relative to the datastore",
				file);
	if (strchr(rel, '\\') || !rel_components_ok(rel))
		return verr_set(e, -EINVAL, "file: \"%s\": '.', '..' and empty path components are not allowed",
				file);
	for (const char *p = rel; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return verr_set(e, -EINVAL, "file: \"%s\": control characters are not allowed",
					file);
	if (n < 5 || strcmp(rel + n - 4, ".vmx") != 0)
		return verr_set(e, -EINVAL, "file: \"%s\" does not name a .vmx file", file);
	if ((size_t)snprintf(abs, len, "%s/%s", ds->path, rel) >= len)
		return verr_set(e, -ENAMETOOLONG, "file: \"%s\" is too long", file);
	/*
	 * The kernel resolves it beneath the datastore: a symlink (directory or the
	 * file itself) may not lead out, and a missing part may not be a dangling
	 * symlink that creating the VM would follow.
	 */
	rootfd = confine_root_open(ds->path);
	if (rootfd < 0)
		return verr_set(e, rootfd, "file: datastore '%s' (%s): %s", name, ds->path,
				strerror(-rootfd));
	rc = confine_check(rootfd, rel, &exists, &st);
	close(rootfd);
	if (rc == -EXDEV)
		return verr_set(e, -EINVAL, "file: \"%s\" leads outside datastore '%s'", file, name);
	if (rc < 0)
		return verr_set(e, rc, "file: \"%s\": %s", file, strerror(-rc));
	if (exists && !S_ISREG(st.st_mode))
		return verr_set(e, -EINVAL, "file: \"%s\" is not a regular file", file);
	return 0;
}
