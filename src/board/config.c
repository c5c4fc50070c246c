/*
 * config.c - vm_config_from_cfg: the machine keys of the .vmx file
 * (documented in docs/CONFIG-machine.md).  Only syntax and ranges are
 * checked here; whether the files exist and are what they claim is checked
 * by vm_create, which names the file in its error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
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

void vm_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

/* A unicast MAC "xx:xx:xx:xx:xx:xx"; false when malformed. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;
	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6)
		return false;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1) && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

/* "tcp:8080:80[,udp:5353:53...]": host port, then guest port. */
static int parse_forwards(struct vm_nic_config *n, const struct cfg *c, const char *key,
			  struct verr *e)
{
	const char *v = cfg_get(c, key);
	char buf[512], *save = NULL;
	if (!v || !*v)
		return 0;
	if ((size_t)snprintf(buf, sizeof(buf), "%s", v) >= sizeof(buf))
		return verr_set(e, -EINVAL, "%s:%u: key '%s': value too long", cfg_name(c),
				cfg_line(c, key), key);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		char proto[8];
		unsigned host, guest;
		char end;
		if (sscanf(tok, "%7[a-z]:%u:%u%c", proto, &host, &guest, &end) != 3 ||
		    (strcmp(proto, "tcp") && strcmp(proto, "udp")) || host < 1 || host > 65535 ||
		    guest < 1 || guest > 65535)
			return verr_set(e, -EINVAL, "%s:%u: key '%s': \"%s\" is not "
					"PROTO:HOSTPORT:GUESTPORT (e.g. \"tcp:8080:80\")", cfg_name(c),
					cfg_line(c, key), key, tok);
		if (n->nfwd == VM_NIC_MAX_FWD)
			return verr_set(e, -EINVAL, "%s:%u: key '%s': at most %d forwards",
					cfg_name(c), cfg_line(c, key), key, VM_NIC_MAX_FWD);
		n->fwd[n->nfwd].udp = proto[0] == 'u';
		n->fwd[n->nfwd].host = (uint16_t)host;
		n->fwd[n->nfwd].guest = (uint16_t)guest;
		n->nfwd++;
	}
	return 0;
}

/* ethernetN.*: VMware's key names where they exist. */
static int nic_config(struct vm_config *vc, const struct cfg *c, unsigned i, struct verr *e)
{
	struct vm_nic_config *n = &vc->nics[vc->nnics];
	char key[64];
	bool present;
	const char *v;
	int r;

	snprintf(key, sizeof(key), "ethernet%u.present", i);
	if ((r = cfg_get_bool(c, key, false, &present, e)) < 0)
		return r;
	if (!present)
		return 0;
	memset(n, 0, sizeof(*n));
	n->idx = i;
	snprintf(key, sizeof(key), "ethernet%u.virtualDev", i);
	v = cfg_get(c, key);
	if (v && strcasecmp(v, "virtio") != 0)
		return verr_set(e, -EINVAL, "%s:%u: key '%s': \"%s\" is not supported (only "
				"\"virtio\")", cfg_name(c), cfg_line(c, key), key, v);
	snprintf(key, sizeof(key), "ethernet%u.connectionType", i);
	v = cfg_get(c, key);
	if (!v || !strcasecmp(v, "user") || !strcasecmp(v, "nat"))
		n->conn = VM_NIC_USER;
	else if (!strcasecmp(v, "tap"))
		n->conn = VM_NIC_TAP;
	else
		return verr_set(e, -EINVAL, "%s:%u: key '%s': \"%s\" is not \"user\" or \"tap\"",
				cfg_name(c), cfg_line(c, key), key, v);
	snprintf(key, sizeof(key), "ethernet%u.vnet", i);
	v = cfg_get(c, key);
	if (n->conn == VM_NIC_TAP) {
		if (!v || !*v || strlen(v) >= sizeof(n->vnet) || strchr(v, '/'))
			return verr_set(e, -EINVAL, "%s: key '%s': connectionType \"tap\" needs the "
					"name of an existing tap interface (at most 15 characters)",
					cfg_name(c), key);
		snprintf(n->vnet, sizeof(n->vnet), "%s", v);
	}
	snprintf(key, sizeof(key), "ethernet%u.portForward", i);
	if (n->conn == VM_NIC_TAP && cfg_get(c, key))
		return verr_set(e, -EINVAL, "%s:%u: key '%s': port forwards need connectionType "
				"\"user\"", cfg_name(c), cfg_line(c, key), key);
	if ((r = parse_forwards(n, c, key, e)) < 0)
		return r;
	/* ethernetN.address (static) wins; else the generated one stored earlier; else a new one. */
	snprintf(key, sizeof(key), "ethernet%u.address", i);
	v = cfg_get(c, key);
	if (!v) {
		snprintf(key, sizeof(key), "ethernet%u.generatedAddress", i);
		v = cfg_get(c, key);
	}
	if (v) {
		if (!parse_mac(v, n->mac))
			return verr_set(e, -EINVAL, "%s:%u: key '%s': \"%s\" is not a unicast MAC "
					"address (xx:xx:xx:xx:xx:xx)", cfg_name(c), cfg_line(c, key),
					key, v);
	} else {
		/* Locally administered, unicast: 02:xx:xx:xx:xx:xx. */
		if (getrandom(n->mac, sizeof(n->mac), 0) != sizeof(n->mac))
			return verr_set(e, -errno, "ethernet%u: cannot generate a MAC address: %s", i,
					strerror(errno));
		n->mac[0] = 0x02;
		n->mac_generated = true;
	}
	vc->nnics++;
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
	if ((r = cfg_get_bool(c, "monitor.vcpuThreads", true, &vc->vcpu_threads, e)) < 0)
		return r;
	if ((r = cfg_get_bool(c, "monitor.translate", true, &vc->translate, e)) < 0)
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
	for (unsigned i = 0; i < VM_MAX_NICS; i++)
		if ((r = nic_config(vc, c, i, e)) < 0)
			return r;
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
