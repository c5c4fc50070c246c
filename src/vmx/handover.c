/*
 * handover.c - moving a running VM to another vmx process (handover.h,
 * docs/HANDOVER.md).  Both sides are here: the sender (the running vmx,
 * driven by the control socket's "handover" or by --handover) and the
 * receiver (a vmx started with --incoming-handover SOCK).
 *
 * The rule that keeps exactly one process running the guest: the receiver
 * runs only after it got "go" and said "running"; the sender stops for
 * good only when it read "running".  Any other end of the conversation
 * (refusal, timeout before "go", the receiver's death) leaves the sender
 * free to take the guest back, since the receiver ran nothing.  The one
 * case where the receiver runs without "go": the sender died after sending
 * its state (confirmed through a pidfd), so it can no longer run anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "../debug/dbg.h"
#include "vmx.h"

#define HO_MAX_MSG      65536
#define HO_MAX_FDS      (VM_MAX_HOST_FDS + 1)   /* the state image, then the host fds */
#define HO_ACCEPT_MS    120000   /* receiver: how long it waits for the running vmx */
#define HO_HELLO_MS     5000     /* sender: connect and hello */
#define HO_STATE_MS     30000    /* receiver: state after hello; sender: "ready" after state */
#define HO_PAUSE_KEY    "monitor.debugTestHandoverPause"

static const char *const state_names[] = {
	"none", "requested", "sending", "waiting", "done", "failed", "running",
};

static const char *ho_state_name(int s)
{
	return s >= 0 && s < (int)VMX_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

void handover_init(struct handover *h)
{
	memset(h, 0, sizeof(*h));
	h->fd = -1;
}

void handover_close(struct handover *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

int handover_configure(struct vmx *x, struct verr *e)
{
	const char *v = cfg_get(x->cfg, HO_PAUSE_KEY);
	x->ho.test_pause[0] = 0;
	/* Like monitor.debugTestCorrupt: a shipped build must not be stallable from a .vmx. */
	if (!VMX_DEVEL || !v || !v[0])
		return 0;
	if (strlen(v) >= sizeof(x->ho.test_pause))
		return verr_set(e, -EINVAL, "%s: key '%s': \"%s\" is too long", cfg_name(x->cfg),
				HO_PAUSE_KEY, v);
	snprintf(x->ho.test_pause, sizeof(x->ho.test_pause), "%s", v);
	return 0;
}

static void test_pause(struct vmx *x, const char *phase)
{
	vmx_test_pause(x->ho.test_pause, phase);
}

static void set_error(struct vmx *x, const char *msg)
{
	mxuser_lock(&x->suspend_lock);
	snprintf(x->ho.error, sizeof(x->ho.error), "%s", msg);
	mxuser_unlock(&x->suspend_lock);
}

/* ---- messages: one JSON object per SOCK_SEQPACKET record, fds alongside ---- */

static int send_msg(int fd, json_t *msg, const int *fds, unsigned nfds, struct verr *e)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	union {
		char buf[CMSG_SPACE(sizeof(int) * HO_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int rc = 0;

	json_decref(msg);
	if (!s)
		return verr_set(e, -ENOMEM, "out of memory");
	iov = (struct iovec){ .iov_base = s, .iov_len = strlen(s) };
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		rc = verr_set(e, -errno, "send: %s", strerror(errno));
		break;
	}
	free(s);
	return rc;
}

/*
 * Receives one message (and up to HO_MAX_FDS fds, close-on-exec) within
 * timeout_ms (-1: no limit).  -ENOTCONN: the peer closed the connection.
 */
static int recv_msg(int fd, int timeout_ms, json_t **out, int *fds, unsigned *nfds,
		    struct verr *e)
{
	static _Thread_local char buf[HO_MAX_MSG];
	union {
		char buf[CMSG_SPACE(sizeof(int) * HO_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	json_error_t jerr;
	ssize_t n;
	int r;

	*out = NULL;
	if (nfds)
		*nfds = 0;
	while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return verr_set(e, -errno, "poll: %s", strerror(errno));
	if (r == 0)
		return verr_set(e, -ETIMEDOUT, "no answer within %d ms", timeout_ms);
	while ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return verr_set(e, errno == ECONNRESET ? -ENOTCONN : -errno, "receive: %s",
				strerror(errno));
	/* Any fds that came along are ours now, even if the message is refused. */
	unsigned got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fds && got < HO_MAX_FDS)
				fds[got++] = f;
			else
				close(f);
		}
	}
	if (nfds)
		*nfds = got;
	if (n == 0)
		return verr_set(e, -ENOTCONN, "the other vmx closed the connection");
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return verr_set(e, -EMSGSIZE, "message or its fds truncated");
	buf[n] = 0;
	*out = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out || !json_is_object(*out) || !json_string_value(json_object_get(*out, "msg"))) {
		json_decref(*out);
		*out = NULL;
		return verr_set(e, -EPROTO, "malformed message");
	}
	return 0;
}

static const char *msg_type(json_t *m) { return json_string_value(json_object_get(m, "msg")); }

static uint64_t msg_u64(json_t *m, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(m, key));
}

/* The peer's pid, checked to run as our user (the socket's mode is the first guard). */
static int peer_check(int fd, pid_t *pid, struct verr *e)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return verr_set(e, -errno, "SO_PEERCRED: %s", strerror(errno));
	if (cr.uid != geteuid())
		return verr_set(e, -EPERM, "the other end (pid %d) runs as uid %u, not %u",
				(int)cr.pid, (unsigned)cr.uid, (unsigned)geteuid());
	*pid = cr.pid;
	return 0;
}

/*
 * A Unix socket address for path, through /proc/self/fd so long VM paths work.
 * A bare name is in the VM directory: hostd names the socket that way, since
 * an unprivileged vmx may reach its directory only through an inherited fd.
 */
static int sock_addr(const char *vmdir, const char *path, struct sockaddr_un *sa, int *dirfd,
		     struct verr *e)
{
	char dir[4096];
	const char *base = strrchr(path, '/');
	if (base || !vmdir[0])
		file_dirname(path, dir, sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%s", vmdir);
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return verr_set(e, -errno, "%s: %s", dir, strerror(errno));
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd,
			     base ? base + 1 : path) >= sizeof(sa->sun_path)) {
		close(*dirfd);
		return verr_set(e, -ENAMETOOLONG, "%s: socket name too long", path);
	}
	return 0;
}

/* ---- sender ------------------------------------------------------------------ */

void handover_check_versions(json_t *sections, const char *peer_build, char *why, size_t len)
{
	const char *names[VM_MAX_STATE_KINDS];
	uint32_t vers[VM_MAX_STATE_KINDS];
	unsigned n = vm_state_versions(names, vers, VM_MAX_STATE_KINDS);

	why[0] = 0;
	for (unsigned i = 0; i < n; i++) {
		json_t *v = json_object_get(sections, names[i]);
		if (!json_is_integer(v)) {
			snprintf(why, len, "section \"%s\": the receiving vmx (%s build) does not read it",
				 names[i], peer_build);
			return;
		}
		if ((uint64_t)json_integer_value(v) < vers[i]) {
			snprintf(why, len, "section \"%s\": this vmx (%s build) writes version %u, the "
				 "receiving vmx (%s build) reads up to %lld", names[i],
				 VMX_BUILDTYPE_NAME, vers[i], peer_build,
				 (long long)json_integer_value(v));
			return;
		}
	}
}

int handover_connect(struct vmx *x, const char *path, struct verr *e)
{
	struct handover *h = &x->ho;
	struct sockaddr_un sa;
	json_t *hello = NULL;
	int dirfd, fd, rc;
	char why[400];

	handover_close(h);
	if ((rc = sock_addr(x->vmdir, path, &sa, &dirfd, e)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		close(dirfd);
		return verr_set(e, -errno, "socket: %s", strerror(errno));
	}
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(dirfd);
	if (rc < 0) {
		rc = verr_set(e, -errno, "cannot connect to %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((rc = peer_check(fd, &h->peer_pid, e)) < 0)
		goto fail;
	if ((rc = recv_msg(fd, HO_HELLO_MS, &hello, NULL, NULL, e)) < 0) {
		verr_prefix(e, rc, "hello from %s", path);
		goto fail;
	}
	const char *build = json_string_value(json_object_get(hello, "buildType"));
	snprintf(h->peer_build, sizeof(h->peer_build), "%s", build ? build : "?");
	if (strcmp(msg_type(hello), "hello") != 0 ||
	    json_integer_value(json_object_get(hello, "proto")) != HANDOVER_PROTOCOL_VERSION) {
		rc = verr_set(e, -EPROTO, "the receiving vmx (pid %d) speaks another hand-over "
			      "protocol (this vmx: %d)", (int)h->peer_pid, HANDOVER_PROTOCOL_VERSION);
		goto fail;
	}
	handover_check_versions(json_object_get(hello, "sections"), h->peer_build, why, sizeof(why));
	if (why[0]) {
		rc = verr_set(e, -EPROTO, "%s", why);
		goto fail;
	}
	json_decref(hello);
	hello = NULL;
	/*
	 * The host fds go now, while the guest still runs: the receiver builds
	 * its machine around them (mapping guest RAM, taking the disks) but
	 * touches nothing until "go", so only the state travels during the pause.
	 */
	char names[VM_MAX_HOST_FDS][16];
	int fds[VM_MAX_HOST_FDS];
	unsigned n = vm_host_fds(x->vm, names, fds, VM_MAX_HOST_FDS);
	json_t *fdnames = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(fdnames, json_string(names[i]));
	rc = send_msg(fd, json_pack("{s:s, s:i, s:i, s:s, s:s, s:o}", "msg", "fds", "proto",
				    HANDOVER_PROTOCOL_VERSION, "pid", (int)getpid(), "buildType",
				    VMX_BUILDTYPE_NAME, "version", vmx_version, "fds", fdnames),
		      fds, n, e);
	if (rc < 0)
		goto fail;
	if ((rc = recv_msg(fd, HO_STATE_MS, &hello, NULL, NULL, e)) < 0) {
		verr_prefix(e, rc, "waiting for the receiving vmx to build its machine");
		goto fail;
	}
	if (strcmp(msg_type(hello), "prepared") != 0) {
		const char *err = json_string_value(json_object_get(hello, "error"));
		rc = verr_set(e, -EPROTO, "the receiving vmx (%s build) refused: %s", h->peer_build,
			      err ? err : msg_type(hello));
		goto fail;
	}
	json_decref(hello);
	h->fd = fd;
	LOG_INF("handover: connected to pid %d (%s build) at %s", (int)h->peer_pid, h->peer_build,
		path);
	return 0;
fail:
	json_decref(hello);
	close(fd);
	return rc;
}

/* The machine state (no memory) as a checkpoint image in a memfd. */
static int state_image(struct vmx *x, int *fd, struct verr *e)
{
	struct ckpt_writer *w;
	int rc = ckpt_writer_open_anon(&w, e);
	if (rc < 0)
		return rc;
	if ((rc = vm_save_state(x->vm, w, e)) < 0) {
		ckpt_writer_abort(w);
		return rc;
	}
	return ckpt_writer_finish_fd(w, vmx_version, VMX_BUILDTYPE_NAME, fd, e);
}

/* The hand-over did not happen: say why; the guest is this process's again. */
static int take_back(struct vmx *x, int rc, struct verr *e, const char *what)
{
	struct handover *h = &x->ho;
	char msg[512];

	snprintf(msg, sizeof(msg), "%s: %s", what, e->msg);
	verr_set(e, rc, "%s", msg);
	/* Tell a receiver still listening that it must not run (it exits). */
	if (h->fd >= 0) {
		struct verr ignore;
		send_msg(h->fd, json_pack("{s:s, s:s}", "msg", "abort", "error", msg), NULL, 0,
			 &ignore);
	}
	handover_close(h);
	set_error(x, msg);
	atomic_store(&h->state, HO_FAILED);
	LOG_WRN("handover to pid %d failed after %.3f ms, the guest runs on here: %s",
		(int)h->peer_pid, (double)(vmx_now_ns() - h->t.stop) / 1e6, msg);
	return rc;
}

int handover_send(struct vmx *x, struct verr *e)
{
	struct handover *h = &x->ho;
	json_t *reply = NULL;
	int rc, statefd = -1;

	h->t.stop = vmx_now_ns();
	if (!h->t.request)
		h->t.request = h->t.stop;
	atomic_store(&h->state, HO_SENDING);
	if (h->fd < 0)
		return take_back(x, -ENOTCONN, e, "no receiver connected");
	LOG_INF("handover: vCPUs stopped; sending the state to pid %d", (int)h->peer_pid);
	test_pause(x, "stopped");
	/* Console bytes the guest wrote go out before the file changes hands. */
	vm_flush_output(x->vm);
	if ((rc = state_image(x, &statefd, e)) < 0)
		return take_back(x, rc, e, "saving the state");
	h->t.sent = vmx_now_ns();
	rc = send_msg(h->fd,
		      json_pack("{s:s, s:I, s:I, s:I}", "msg", "state", "tRequest",
				(json_int_t)h->t.request, "tStop", (json_int_t)h->t.stop, "tSent",
				(json_int_t)h->t.sent),
		      &statefd, 1, e);
	close(statefd);
	if (rc < 0)
		return take_back(x, rc, e, "sending the state");
	atomic_store(&h->state, HO_WAITING);
	test_pause(x, "sent");
	/* The receiver builds its machine and restores; it may refuse. */
	rc = recv_msg(h->fd, HO_STATE_MS, &reply, NULL, NULL, e);
	if (rc < 0)
		return take_back(x, rc, e, rc == -ENOTCONN ? "the receiving vmx exited before "
				 "it was ready" : "waiting for the receiving vmx");
	if (strcmp(msg_type(reply), "ready") != 0) {
		const char *err = json_string_value(json_object_get(reply, "error"));
		rc = verr_set(e, -EPROTO, "%s", err ? err : msg_type(reply));
		json_decref(reply);
		return take_back(x, rc, e, "the receiving vmx refused the state");
	}
	json_decref(reply);
	test_pause(x, "ready");
	if ((rc = send_msg(h->fd, json_pack("{s:s}", "msg", "go"), NULL, 0, e)) < 0)
		return take_back(x, rc, e, "sending go");
	/*
	 * From here the receiver may run the guest, but only after saying so: wait
	 * for "running" without a time limit.  If it dies first, it ran nothing
	 * and the guest is ours again; if it hangs, killing it gives the guest back.
	 */
	rc = recv_msg(h->fd, -1, &reply, NULL, NULL, e);
	if (rc < 0)
		return take_back(x, rc, e, "the receiving vmx ended before running the guest");
	if (strcmp(msg_type(reply), "running") != 0) {
		rc = verr_set(e, -EPROTO, "unexpected \"%s\"", msg_type(reply));
		json_decref(reply);
		return take_back(x, rc, e, "after go");
	}
	json_decref(reply);
	handover_close(h);
	/* The host fds are the other process's now (a NIC's passt must outlive us). */
	vm_handed_over(x->vm);
	atomic_store(&h->state, HO_DONE);
	LOG_INF("handover: pid %d (%s build) runs the guest (paused %.3f ms here before it "
		"started); this process releases guest RAM and devices and exits",
		(int)h->peer_pid, h->peer_build, (double)(vmx_now_ns() - h->t.stop) / 1e6);
	/*
	 * What is left here is teardown, and unmapping a large guest's RAM is
	 * dear: at the lowest priority it leaves the host's CPUs to the new
	 * process, which runs the guest now (still making progress, unlike
	 * SCHED_IDLE, since hostd's task ends when this process has exited).
	 */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) < 0)
		LOG_DBG("handover: setpriority: %s", strerror(errno));
	return 0;
}

/* ---- receiver ---------------------------------------------------------------- */

static int listen_at(const char *vmdir, const char *path, struct verr *e)
{
	struct sockaddr_un sa;
	int dirfd, fd, rc;

	if ((rc = sock_addr(vmdir, path, &sa, &dirfd, e)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = verr_set(e, -errno, "socket: %s", strerror(errno));
		goto out;
	}
	unlink(sa.sun_path);
	/* Only our own user may connect: the state and fds are the whole VM. */
	mode_t old = umask(0077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 1) < 0) {
		rc = verr_set(e, -errno, "cannot listen at %s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	rc = fd;
out:
	close(dirfd);
	return rc;
}

static json_t *hello_msg(void)
{
	const char *names[VM_MAX_STATE_KINDS];
	uint32_t vers[VM_MAX_STATE_KINDS];
	unsigned n = vm_state_versions(names, vers, VM_MAX_STATE_KINDS);
	json_t *sections = json_object();
	for (unsigned i = 0; i < n; i++) {
		/* Test knob (opt/obj): pretend to read device sections only as old blobs. */
		bool dev = strcmp(names[i], "machine") != 0 && strcmp(names[i], "cpu") != 0;
		uint32_t v = dev && dbg_fault(DBG_FAULT_HANDOVER_HELLO) ? 1 : vers[i];
		json_object_set_new(sections, names[i], json_integer(v));
	}
	return json_pack("{s:s, s:i, s:i, s:s, s:s, s:o}", "msg", "hello", "proto",
			 HANDOVER_PROTOCOL_VERSION, "pid", (int)getpid(), "buildType",
			 VMX_BUILDTYPE_NAME, "version", vmx_version, "sections", sections);
}

/* True when pidfd says its process has exited (waiting up to ms). */
static bool peer_gone(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	return pidfd >= 0 && poll(&p, 1, ms) == 1;
}

/* Builds the machine around the handed-over host fds (guest RAM, disks, console). */
static int take_fds(struct vmx *x, json_t *m, int *fds, unsigned nfds, struct verr *e)
{
	json_t *names = json_object_get(m, "fds");

	if (json_integer_value(json_object_get(m, "proto")) != HANDOVER_PROTOCOL_VERSION)
		return verr_set(e, -EPROTO, "hand-over protocol %lld, this vmx speaks %d",
				(long long)json_integer_value(json_object_get(m, "proto")),
				HANDOVER_PROTOCOL_VERSION);
	if (!json_is_array(names) || json_array_size(names) != nfds)
		return verr_set(e, -EPROTO, "%u fds arrived for %zu names", nfds,
				json_array_size(names));
	x->vc.nhost_fds = 0;
	for (unsigned i = 0; i < nfds; i++) {
		const char *name = json_string_value(json_array_get(names, i));
		if (!name || strlen(name) >= 16)
			return verr_set(e, -EPROTO, "fd %u has no name", i);
		if (x->vc.nhost_fds == VM_MAX_HOST_FDS)
			return verr_set(e, -E2BIG, "too many fds");
		snprintf(x->vc.host_fds[x->vc.nhost_fds].name, 16, "%s", name);
		x->vc.host_fds[x->vc.nhost_fds++].fd = fds[i];
	}
	if (vm_config_dup_fd(&x->vc, "ram") == -ENOENT)
		return verr_set(e, -EPROTO, "no guest RAM among the fds");
	/* Only the layout: guest RAM is the running guest's and must not be written. */
	x->vc.resume = true;
	return vm_create(&x->vm, &x->vc, e);
}

/* Restores the machine state from the state image the sender passed. */
static int take_state(struct vmx *x, int *fds, unsigned nfds, struct verr *e)
{
	struct ckpt_reader *rd = NULL;
	int rc;

	if (nfds != 1)
		return verr_set(e, -EPROTO, "the state came with %u fds, not 1", nfds);
	int dupfd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0)
		return verr_set(e, -errno, "dup: %s", strerror(errno));
	if ((rc = ckpt_reader_open_fd(&rd, dupfd, "handed-over state", e)) < 0)
		return rc;
	rc = vm_restore_state(x->vm, rd, e);
	ckpt_reader_close(rd);
	/* The guest's clock went on while the vCPUs were stopped (docs/HANDOVER.md). */
	uint64_t now = vmx_now_ns();
	if (rc == 0 && x->ho.t.stop && now > x->ho.t.stop)
		vm_time_advance(x->vm, now - x->ho.t.stop);
	return rc;
}

static void refuse(int fd, struct verr *e)
{
	struct verr ignore;
	LOG_ERR("handover: refusing: %s", e->msg);
	send_msg(fd, json_pack("{s:s, s:s}", "msg", "refused", "error", e->msg), NULL, 0, &ignore);
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int handover_receive(struct vmx *x, const char *path, struct verr *e)
{
	struct handover *h = &x->ho;
	json_t *m = NULL;
	int fds[HO_MAX_FDS];
	unsigned nfds = 0;
	int lfd, fd = -1, pidfd = -1, rc;
	struct pollfd p;
	bool sender_dead = false;

	h->incoming = true;
	if ((lfd = listen_at(x->vmdir, path, e)) < 0)
		return lfd;
	LOG_INF("handover: waiting for the running vmx at %s", path);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	while ((rc = poll(&p, 1, HO_ACCEPT_MS)) < 0 && errno == EINTR)
		;
	if (rc == 1)
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	rc = fd < 0 ? verr_set(e, rc == 0 ? -ETIMEDOUT : -errno, "no vmx connected to %s within "
			       "%d s", path, HO_ACCEPT_MS / 1000) : 0;
	close(lfd);
	unlink(path);
	if (rc < 0)
		return rc;
	if ((rc = peer_check(fd, &h->peer_pid, e)) < 0)
		goto out;
	/* To tell the sender's death (it can no longer run) from its taking the guest back. */
	pidfd = (int)syscall(SYS_pidfd_open, h->peer_pid, 0);
	if ((rc = send_msg(fd, hello_msg(), NULL, 0, e)) < 0)
		goto out;
	test_pause(x, "hello");
	/* The host fds, while the guest still runs in the sender. */
	rc = recv_msg(fd, HO_STATE_MS, &m, fds, &nfds, e);
	if (rc == 0 && strcmp(msg_type(m), "fds") != 0)
		rc = verr_set(e, -EPROTO, "the sending vmx gave up: %s",
			      json_string_value(json_object_get(m, "error")) ?: msg_type(m));
	if (rc < 0) {
		close_fds(fds, nfds);
		goto out;
	}
	const char *build = json_string_value(json_object_get(m, "buildType"));
	snprintf(h->peer_build, sizeof(h->peer_build), "%s", build ? build : "?");
	LOG_INF("handover: taking over from pid %d (%s build, vmx %s): %u fds", (int)h->peer_pid,
		h->peer_build, json_string_value(json_object_get(m, "version")) ?: "?", nfds);
	rc = take_fds(x, m, fds, nfds, e);
	/* The machine holds its own duplicates of whatever it uses. */
	close_fds(fds, nfds);
	x->vc.nhost_fds = 0;
	if (rc == 0)
		rc = send_msg(fd, json_pack("{s:s}", "msg", "prepared"), NULL, 0, e);
	else
		refuse(fd, e);
	json_decref(m);
	m = NULL;
	if (rc < 0)
		goto out;
	/* The state, once the sender has stopped the guest. */
	rc = recv_msg(fd, HO_STATE_MS, &m, fds, &nfds, e);
	if (rc == 0 && strcmp(msg_type(m), "state") != 0)
		rc = verr_set(e, -EPROTO, "the sending vmx gave up: %s",
			      json_string_value(json_object_get(m, "error")) ?: msg_type(m));
	if (rc < 0) {
		close_fds(fds, nfds);
		goto out;
	}
	h->t.received = vmx_now_ns();
	h->t.request = msg_u64(m, "tRequest");
	h->t.stop = msg_u64(m, "tStop");
	h->t.sent = msg_u64(m, "tSent");
	rc = take_state(x, fds, nfds, e);
	close_fds(fds, nfds);
	if (rc < 0) {
		refuse(fd, e);
		goto out;
	}
	test_pause(x, "restored");
	h->t.ready = vmx_now_ns();
	json_decref(m);
	m = NULL;
	rc = send_msg(fd, json_pack("{s:s}", "msg", "ready"), NULL, 0, e);
	if (rc == 0)
		rc = recv_msg(fd, -1, &m, NULL, NULL, e);
	if (rc < 0) {
		/* Silence from the sender: only its death lets this process run the guest. */
		if (!peer_gone(pidfd, 2000))
			goto out;
		sender_dead = true;
		LOG_WRN("handover: the sending vmx (pid %d) died after handing over its state; "
			"this process runs the guest", (int)h->peer_pid);
	} else if (strcmp(msg_type(m), "go") != 0) {
		rc = verr_set(e, -ECANCELED, "the sending vmx took the guest back: %s",
			      json_string_value(json_object_get(m, "error")) ?: msg_type(m));
		goto out;
	}
	h->t.go = vmx_now_ns();
	test_pause(x, "go");
	if (!sender_dead) {
		rc = send_msg(fd, json_pack("{s:s, s:i}", "msg", "running", "pid", (int)getpid()),
			      NULL, 0, e);
		if (rc < 0 && !peer_gone(pidfd, 2000))
			goto out;
	}
	rc = 0;
	atomic_store(&h->state, HO_RUNNING);
	LOG_INF("handover: state restored in %.3f ms; running the guest",
		(double)(h->t.ready - h->t.received) / 1e6);
out:
	json_decref(m);
	if (fd >= 0)
		close(fd);
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}

/* ---- control socket ------------------------------------------------------------ */

struct json_t *handover_ctl_start(struct vmx *x, struct json_t *req, const char **err)
{
	static _Thread_local char msg[600];
	const char *peer = json_string_value(json_object_get(req, "peer"));
	struct verr e = { "" };

	if (!peer || !peer[0]) {
		*err = "field \"peer\" (the receiving vmx's socket path) is missing";
		return NULL;
	}
	if ((*err = vmx_move_refusal(x)))
		return NULL;
	/* Connected and compatible before the guest stops: a refusal here costs no pause. */
	if (handover_connect(x, peer, &e) < 0) {
		snprintf(msg, sizeof(msg), "%s", e.msg);
		set_error(x, msg);
		*err = msg;
		return NULL;
	}
	set_error(x, "");
	memset(&x->ho.t, 0, sizeof(x->ho.t));
	x->ho.incoming = false;
	x->ho.t.request = vmx_now_ns();
	atomic_store(&x->ho.state, HO_REQUESTED);
	LOG_INF("control socket: hand-over to pid %d requested", (int)x->ho.peer_pid);
	vm_request_stop(x->vm);
	return json_pack("{s:i, s:s}", "peerPid", (int)x->ho.peer_pid, "peerBuildType",
			 x->ho.peer_build);
}

struct json_t *handover_ctl_status(struct vmx *x, struct json_t *req, const char **err)
{
	struct handover *h = &x->ho;
	char msg[sizeof(h->error)];
	int s = atomic_load(&h->state);

	mxuser_lock(&x->suspend_lock);
	memcpy(msg, h->error, sizeof(msg));
	mxuser_unlock(&x->suspend_lock);
	json_t *t = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "request",
			      (json_int_t)h->t.request, "stop", (json_int_t)h->t.stop, "sent",
			      (json_int_t)h->t.sent, "received", (json_int_t)h->t.received, "ready",
			      (json_int_t)h->t.ready, "go", (json_int_t)h->t.go, "run",
			      (json_int_t)h->t.run);
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:o}", "state", ho_state_name(s), "role",
			      h->incoming ? "incoming" : "outgoing", "peerPid", (int)h->peer_pid,
			      "peerBuildType", h->peer_build, "timesNs", t);
	if (h->t.run && h->t.stop)
		json_object_set_new(o, "downtimeMs",
				    json_real((double)(h->t.run - h->t.stop) / 1e6));
	if (msg[0])
		json_object_set_new(o, "error", json_string(msg));
	return o;
}
