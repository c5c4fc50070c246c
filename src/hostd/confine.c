/*
 * confine.c - keeps every file a VM uses inside hostd's datastores or its
 * read-only image directories.
 *
 * vmx opens whatever its .vmx names, so a key such as serial0.fileName =
 * "/etc/shadow" would turn an API admin into host root.  Each path is resolved
 * by the kernel beneath the directory it claims to be in (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute symlinks and
 * symlinks leading out are refused whatever the string looks like.  A path that
 * does not exist yet (a console file vmx will create) must have an existing
 * part that resolves beneath its root and a missing tail of plain names.
 *
 * Directories that hostd creates for a new VM are made the same way, one
 * component at a time beneath the datastore, so nothing is created outside it.
 * The resolution itself (confine_open, confine_check) lives in ds.c, which
 * the datastore-path fuzz target compiles on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../lib/cfg.h"
#include "hostd.h"

/* A plain name: not empty, ".", "..". */
static bool plain_name(const char *s, size_t n)
{
	return n > 0 && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

int confine_mkdirs(int rootfd, const char *reldir, mode_t mode)
{
	char prefix[PATH_MAX];
	size_t n = strlen(reldir);
	int parent = dup(rootfd);

	if (parent < 0)
		return -errno;
	if (n >= sizeof(prefix)) {
		close(parent);
		return -ENAMETOOLONG;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && reldir[i] != '/')
			continue;
		if (i == 0)
			continue;
		memcpy(prefix, reldir, i);
		prefix[i] = 0;
		int fd = confine_open(rootfd, prefix, O_PATH | O_DIRECTORY);
		if (fd == -ENOENT) {
			const char *name = strrchr(prefix, '/');
			name = name ? name + 1 : prefix;
			if (!plain_name(name, strlen(name))) {
				close(parent);
				return -EXDEV;
			}
			/* mkdirat never follows a symlink in its last component. */
			if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) {
				int rc = -errno;
				close(parent);
				return rc;
			}
			fd = confine_open(rootfd, prefix, O_PATH | O_DIRECTORY);
		}
		close(parent);
		if (fd < 0)
			return fd == -ELOOP ? -EXDEV : fd;
		parent = fd;
	}
	return parent;
}

/* --- the .vmx keys that name files ---------------------------------------------- */

/*
 * Every key vmx opens a file for (docs/CONFIG.md).  read_only: vmx only reads
 * it, so it may live in an image directory.  Any key ending in ".fileName" is
 * treated as a file too, so a device added later is confined from the start.
 */
static const struct {
	const char *key;
	bool read_only;
	bool device_ok;
} file_keys[] = {
	{ "guest.firmware", true, false },   { "guest.kernel", true, false },
	{ "guest.initrd", true, false },     { "guest.elf", true, false },
	{ "guest.symbols", true, false },    { "guest.userSymbols", true, false },
	{ "serial0.fileName", false, false }, { "checkpoint.vmState", false, false },
};

bool confine_is_file_key(const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < sizeof(file_keys) / sizeof(file_keys[0]); i++)
		if (!strcasecmp(key, file_keys[i].key))
			return true;
	return n > 9 && !strcasecmp(key + n - 9, ".fileName");
}

const char *confine_next_path(const char *key, const char **cur, char *buf, size_t len)
{
	char prog[64];

	if (strcasecmp(key, "guest.userSymbols") != 0) {
		const char *v = *cur;
		if (!*v)
			return NULL;
		*cur = v + strlen(v);
		return v;
	}
	return cfg_next_program(cur, prog, sizeof(prog), buf, len) ? buf : NULL;
}

/* diskN.fileName: "diskN" into prefix, true when it is one. */
static bool disk_key(const char *key, char *prefix, size_t len)
{
	const char *dot = strchr(key, '.');

	if (strncasecmp(key, "disk", 4) != 0 || !dot || dot == key + 4 ||
	    strcasecmp(dot, ".fileName") != 0 || (size_t)(dot - key) >= len)
		return false;
	for (const char *p = key + 4; p < dot; p++)
		if (*p < '0' || *p > '9')
			return false;
	snprintf(prefix, len, "%.*s", (int)(dot - key), key);
	return true;
}

static bool value_true(const char *v)
{
	return v && (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
		     !strcmp(v, "1"));
}

/* Root (datastore or image directory) an absolute path claims to be under. */
static const char *abs_root(const struct hostd_cfg *c, const char *v, bool *image,
			    const char **label)
{
	for (unsigned i = 0; i < c->nds + c->nimages; i++) {
		const char *r = i < c->nds ? c->ds[i].path : c->images[i - c->nds];
		size_t rl = strlen(r);
		if (!strncmp(v, r, rl) && (v[rl] == '/' || v[rl] == 0)) {
			*image = i >= c->nds;
			*label = i < c->nds ? c->ds[i].name : r;
			return r;
		}
	}
	return NULL;
}

int confine_vmx_file(const struct hostd_cfg *c, const char *ds_root, const char *vm_reldir,
		     const char *key, const char *value, bool read_only, bool device_ok,
		     struct verr *e)
{
	char rel[PATH_MAX * 2];
	const char *root = ds_root, *label = "the VM's datastore";
	bool image = false, exists;
	struct stat st;
	int rootfd, rc;

	if (!value || !*value)
		return 0;
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return verr_set(e, -EINVAL, "%s: control characters are not allowed in a path",
					key);
	if (value[0] == '/') {
		root = abs_root(c, value, &image, &label);
		if (!root)
			return verr_set(e, -EPERM, "%s: \"%s\" is outside hostd's datastores and image "
					"directories", key, value);
		snprintf(rel, sizeof(rel), "%s", value + strlen(root) + (value[strlen(root)] == '/'));
	} else if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", vm_reldir, *vm_reldir ? "/" : "",
				    value) >= sizeof(rel)) {
		return verr_set(e, -ENAMETOOLONG, "%s: path too long", key);
	}
	if (image && !read_only)
		return verr_set(e, -EPERM, "%s: \"%s\" is in a read-only image directory; vmx writes "
				"this file, so it must be in a datastore", key, value);
	rootfd = confine_root_open(root);
	if (rootfd < 0)
		return verr_set(e, rootfd, "%s: %s: %s", key, root, strerror(-rootfd));
	rc = confine_check(rootfd, rel, &exists, &st);
	close(rootfd);
	if (rc == -EXDEV)
		return verr_set(e, -EPERM, "%s: \"%s\" leads outside %s%s%s", key, value,
				image ? "image directory " : "datastore ", image ? "" : "'",
				image ? label : label);
	if (rc < 0)
		return verr_set(e, rc, "%s: \"%s\": %s", key, value, strerror(-rc));
	if (exists && !S_ISREG(st.st_mode) && !(device_ok && S_ISBLK(st.st_mode)))
		return verr_set(e, -EPERM, "%s: \"%s\" is not a regular file", key, value);
	return 0;
}

int confine_open_abs(const struct hostd_cfg *c, const char *value, int flags)
{
	bool image;
	const char *label, *root = abs_root(c, value, &image, &label);
	int rootfd, fd;

	if (value[0] != '/' || !root)
		return -EPERM;
	rootfd = confine_root_open(root);
	if (rootfd < 0)
		return rootfd;
	value += strlen(root);
	while (*value == '/')
		value++;
	fd = confine_open(rootfd, *value ? value : ".", flags);
	close(rootfd);
	return fd;
}

int confine_vmx(const struct hostd_cfg *c, const struct cfg *vmx, const char *ds_name,
		const char *vm_reldir, struct verr *e)
{
	const struct hostd_ds *ds = NULL;
	const char *key, *val;
	size_t pos = 0;

	for (unsigned i = 0; i < c->nds; i++)
		if (!strcmp(c->ds[i].name, ds_name))
			ds = &c->ds[i];
	if (!ds)
		return verr_set(e, -ENOENT, "file: no datastore named '%s'", ds_name);
	while (cfg_iter(vmx, &pos, &key, &val)) {
		char disk[32], ro_key[48];
		bool read_only = false, device_ok = false;
		int rc;
		if (!confine_is_file_key(key))
			continue;
		for (size_t i = 0; i < sizeof(file_keys) / sizeof(file_keys[0]); i++)
			if (!strcasecmp(key, file_keys[i].key)) {
				read_only = file_keys[i].read_only;
				device_ok = file_keys[i].device_ok;
			}
		if (disk_key(key, disk, sizeof(disk))) {
			snprintf(ro_key, sizeof(ro_key), "%s.readOnly", disk);
			read_only = value_true(cfg_get(vmx, ro_key));
			device_ok = true;
		}
		const char *cur = val, *path;
		char pbuf[PATH_MAX];
		while ((path = confine_next_path(key, &cur, pbuf, sizeof(pbuf))))
			if ((rc = confine_vmx_file(c, ds->path, vm_reldir, key, path, read_only,
						   device_ok, e)) < 0)
				return rc;
		if (*cur)
			return verr_set(e, -ENAMETOOLONG, "%s: an entry is too long", key);
	}
	return 0;
}

int confine_vm_file(const struct hostd_cfg *c, const char *file, struct verr *e)
{
	char abs[PATH_MAX], name[64], reldir[PATH_MAX];
	const char *rel, *slash;
	struct cfg *vmx;
	int rc;

	rc = ds_resolve(c, file, abs, sizeof(abs), e);
	if (rc < 0)
		return rc;
	if (ds_split(file, name, sizeof(name), &rel) < 0)
		return verr_set(e, -EINVAL, "file: \"%s\" is not a datastore path", file);
	slash = strrchr(rel, '/');
	snprintf(reldir, sizeof(reldir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	rc = cfg_load(abs, &vmx, e);
	if (rc < 0)
		return rc;
	rc = confine_vmx(c, vmx, name, reldir, e);
	cfg_free(vmx);
	return rc;
}

int read_nofollow(const char *path, size_t max, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	size_t n = 0;
	char *b;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	b = malloc(max + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (n < max) {
		ssize_t r = read(fd, b + n, max - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = 0;
	*buf = b;
	*len = n;
	return 0;
}
