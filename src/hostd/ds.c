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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hostd.h"

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
