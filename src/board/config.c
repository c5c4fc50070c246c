/*
 * config.c - vm_config_from_cfg: the machine keys of the .vmx file
 * (documented in docs/CONFIG-machine.md).  Only syntax and ranges are
 * checked here; whether the files exist and are what they claim is checked
 * by vm_create, which names the file in its error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "vm.h"

#define MEMSIZE_DEFAULT_MIB 512
#define MEMSIZE_MAX_MIB     (256ULL * 1024)   /* ram_create checks the host too */

static int get_str(const struct cfg *c, const char *key, const char *def, char *out,
		   size_t len, struct verr *e)
{
	const char *v = cfg_get(c, key);
	if (!v)
		v = def;
	if ((size_t)snprintf(out, len, "%s", v) >= len)
		return verr_set(e, -ENAMETOOLONG, "%s:%u: key '%s': value too long", cfg_name(c),
				cfg_line(c, key), key);
	return 0;
}

int vm_config_from_cfg(struct vm_config *vc, const struct cfg *c, const char *vmdir,
		       struct verr *e)
{
	uint64_t mib, ncpu;
	char key[64];
	int r;

	memset(vc, 0, sizeof(*vc));
	snprintf(vc->vmdir, sizeof(vc->vmdir), "%s", vmdir);
	if ((r = cfg_get_u64(c, "memSize", MEMSIZE_DEFAULT_MIB, 16, MEMSIZE_MAX_MIB, &mib, e)) < 0)
		return r;
	vc->mem_size = mib << 20;
	if ((r = cfg_get_u64(c, "numvcpus", 1, 1, VM_MAX_HARTS, &ncpu, e)) < 0)
		return r;
	vc->numvcpus = (unsigned)ncpu;
	if ((r = cfg_path(c, "guest.firmware", vmdir, vc->firmware, sizeof(vc->firmware), e)) < 0 ||
	    (r = cfg_path(c, "guest.kernel", vmdir, vc->kernel, sizeof(vc->kernel), e)) < 0 ||
	    (r = cfg_path(c, "guest.initrd", vmdir, vc->initrd, sizeof(vc->initrd), e)) < 0 ||
	    (r = cfg_path(c, "guest.elf", vmdir, vc->elf, sizeof(vc->elf), e)) < 0 ||
	    (r = cfg_path(c, "serial0.fileName", vmdir, vc->serial_file, sizeof(vc->serial_file),
			  e)) < 0)
		return r;
	if ((r = get_str(c, "guest.cmdline", "console=ttyS0", vc->cmdline, sizeof(vc->cmdline),
			 e)) < 0)
		return r;
	if ((r = cfg_get_bool(c, "monitor.deterministic", false, &vc->deterministic, e)) < 0)
		return r;

	for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
		struct vm_disk_config *d = &vc->disks[vc->ndisks];
		snprintf(key, sizeof(key), "disk%u.fileName", i);
		if ((r = cfg_path(c, key, vmdir, d->path, sizeof(d->path), e)) < 0)
			return r;
		if (!d->path[0])
			continue;
		/* Disks fill virtio slots in order: a gap would renumber the later ones. */
		if (vc->ndisks != i)
			return verr_set(e, -EINVAL, "%s:%u: key '%s': disk%u.fileName is not set",
					cfg_name(c), cfg_line(c, key), key, vc->ndisks);
		snprintf(key, sizeof(key), "disk%u.readOnly", i);
		if ((r = cfg_get_bool(c, key, false, &d->readonly, e)) < 0)
			return r;
		vc->ndisks++;
	}
	return 0;
}

int vm_config_dup_fd(const struct vm_config *vc, const char *name)
{
	for (unsigned i = 0; vc && i < vc->nhost_fds && i < VM_MAX_HOST_FDS; i++) {
		if (strcmp(vc->host_fds[i].name, name) != 0)
			continue;
		int fd = fcntl(vc->host_fds[i].fd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	return -ENOENT;
}
