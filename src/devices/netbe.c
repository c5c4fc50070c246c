/*
 * netbe.c - starts the user-mode network (passt) or opens a tap interface
 * for a virtio-net device (see netbe.h).
 *
 * passt is found on PATH, else in /usr/bin and /usr/sbin.  It runs in the
 * foreground as our child (-f), quiet (-q), bound to the socket we give it
 * (--fd) and exits with it (-1); its port forwards are ethernetN.portForward.
 * As root it drops to "nobody" by itself; under hostd the vmx, and so passt,
 * already run as the unprivileged vmx3 user.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "netbe.h"
#include "../lib/log.h"

extern char **environ;

/* The fd number passt gets its end as: high enough not to collide with stdio. */
#define NETBE_PASST_FD 3

static const char *passt_path(void)
{
	static const char *const fixed[] = { "/usr/bin/passt", "/usr/sbin/passt" };
	static char found[4096];
	const char *path = getenv("PATH");
	if (path) {
		char buf[4096];
		char *save = NULL;
		snprintf(buf, sizeof(buf), "%s", path);
		for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(found, sizeof(found), "%s/passt", d);
			if (access(found, X_OK) == 0)
				return found;
		}
	}
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (access(fixed[i], X_OK) == 0)
			return fixed[i];
	return NULL;
}

int netbe_passt_start(const struct vm_nic_config *n, pid_t *pid, struct verr *e)
{
	int sv[2], r;
	const char *bin = passt_path();
	char *argv[8 + 2 * VM_NIC_MAX_FWD];
	char fwd[VM_NIC_MAX_FWD][16];
	char fdarg[16];
	unsigned a = 0;
	posix_spawn_file_actions_t fa;

	if (!bin)
		return verr_set(e, -ENOENT, "ethernet%u: connectionType \"user\" needs passt "
				"(Debian package passt), not found on PATH or in /usr/bin", n->idx);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return verr_set(e, -errno, "ethernet%u: socketpair: %s", n->idx, strerror(errno));
	snprintf(fdarg, sizeof(fdarg), "%d", NETBE_PASST_FD);
	argv[a++] = (char *)"passt";
	argv[a++] = (char *)"-f";
	argv[a++] = (char *)"-q";
	argv[a++] = (char *)"-1";
	argv[a++] = (char *)"--fd";
	argv[a++] = fdarg;
	for (unsigned i = 0; i < n->nfwd; i++) {
		snprintf(fwd[i], sizeof(fwd[i]), "%u:%u", n->fwd[i].host, n->fwd[i].guest);
		argv[a++] = (char *)(n->fwd[i].udp ? "-u" : "-t");
		argv[a++] = fwd[i];
	}
	argv[a] = NULL;
	/* dup2 onto NETBE_PASST_FD clears close-on-exec for passt's end only. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], NETBE_PASST_FD);
	r = posix_spawn(pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		return verr_set(e, -r, "ethernet%u: cannot start %s: %s", n->idx, bin, strerror(r));
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close(sv[0]);
		return verr_set(e, r, "ethernet%u: fcntl: %s", n->idx, strerror(-r));
	}
	LOG_INF("ethernet%u: started %s (pid %d), %u port forward(s)", n->idx, bin, (int)*pid,
		n->nfwd);
	return sv[0];
}

int netbe_tap_open(const char *name, struct verr *e)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return verr_set(e, -errno, "tap %s: /dev/net/tun: %s", name, strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int r = -errno;
		close(fd);
		return verr_set(e, r, "tap %s: cannot attach (it must exist and be usable by this "
				"user: ip tuntap add %s mode tap user USER): %s", name, name,
				strerror(-r));
	}
	return fd;
}
