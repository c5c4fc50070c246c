/*
 * vmctl.c - hostd's client for a vmx control socket (docs/CONTROL.md):
 * one request line, one reply line, bounded by a timeout so a hung vmx
 * cannot hang hostd.  Long VM paths are reached through /proc/self/fd, as
 * vmx binds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "hostd.h"

/* Stats replies of a busy VM (per-register MMIO counters per vCPU) pass 64 KiB. */
#define VMCTL_MAX_REPLY (4u << 20)

static int vmctl_connect(const char *vmdir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, dfd = -1, rc = 0;

	if (strlen(vmdir) + sizeof("/vmx.ctl") <= sizeof(sa.sun_path)) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vmx.ctl", vmdir);
	} else {
		dfd = open(vmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/vmx.ctl", dfd);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		rc = -errno;
	if (dfd >= 0)
		close(dfd);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

int vmctl_call(const char *vmdir, const char *cmd, json_t *args, int timeout_ms, json_t **reply,
	       struct verr *e)
{
	json_t *req = args ? json_deep_copy(args) : json_object();
	char *line, *buf = NULL;
	size_t len = 0;
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	json_error_t jerr;
	int fd, rc = 0;

	*reply = NULL;
	json_object_set_new(req, "v", json_integer(1));
	json_object_set_new(req, "cmd", json_string(cmd));
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	fd = vmctl_connect(vmdir);
	if (fd < 0) {
		free(line);
		return verr_set(e, fd, "control socket %s/vmx.ctl: %s", vmdir, strerror(-fd));
	}
	if (!line || dprintf(fd, "%s\n", line) < 0) {
		rc = verr_set(e, -EIO, "control socket: send failed");
		goto out;
	}
	buf = malloc(VMCTL_MAX_REPLY);
	while (buf && len < VMCTL_MAX_REPLY - 1 && !memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0) {
			rc = verr_set(e, -ETIMEDOUT, "control socket: no reply to '%s' within %d ms",
				      cmd, timeout_ms);
			goto out;
		}
		n = read(fd, buf + len, VMCTL_MAX_REPLY - 1 - len);
		if (n <= 0) {
			rc = verr_set(e, -ECONNRESET, "control socket: vmx closed the connection");
			goto out;
		}
		len += (size_t)n;
	}
	if (!buf) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	buf[len] = 0;
	if (!memchr(buf, '\n', len)) {
		rc = verr_set(e, -EMSGSIZE, "control socket: reply to '%s' larger than %u bytes", cmd,
			      VMCTL_MAX_REPLY - 1);
		goto out;
	}
	*reply = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!*reply || !json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		rc = verr_set(e, -EPROTO, "control socket: reply is not a JSON object");
		goto out;
	}
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		const char *msg = json_string_value(json_object_get(*reply, "error"));
		rc = verr_set(e, -EREMOTEIO, "vmx refused '%s': %s", cmd, msg ? msg : "no reason given");
	}
out:
	free(buf);
	free(line);
	close(fd);
	return rc;
}
