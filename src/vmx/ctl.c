/*
 * ctl.c - control socket server: one thread, poll() over the listening socket
 * and its clients, newline-delimited JSON requests dispatched through the
 * command table below.  Replies never block the vCPU thread: commands read
 * state that is safe to read concurrently or ask the board through its
 * thread-safe entry points.
 *
 * A client holds a slot only while it is busy: one that has not completed a
 * request within CTL_IDLE_TIMEOUT_MS of connecting (or of its last request)
 * is closed, and one slot is kept for the process that launched vmx, so idle
 * or stuck clients cannot lock hostd out of its own VM.  The request layer
 * (ctl_reader_feed, ctl_dispatch) is apart from the socket so that it can be
 * fed bytes directly (fuzz/fuzz_ctl.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/crash.h"
#include "../lib/log.h"
#include "../stats/stats.h"
#include "../stats/stats_ctl.h"
#include "ctl.h"
#include "vmx.h"

/* Slots shared by every client, plus one only the launching process may take. */
#define CTL_MAX_CLIENTS 8
#define CTL_RESERVED_SLOT CTL_MAX_CLIENTS
#define CTL_SLOTS (CTL_MAX_CLIENTS + 1)
#ifndef CTL_MAX_LINE   /* the fuzz target makes it small, to reach the limit cheaply */
#define CTL_MAX_LINE 65536
#endif
#define CTL_SEND_TIMEOUT_S 2

struct ctl_reader {
	size_t len;
	char buf[CTL_MAX_LINE];
};

struct ctl_client {
	int fd;
	uint64_t since_ns;       /* connected, or last completed a request */
	struct ctl_reader *rd;
};

struct ctl {
	struct vmx *x;
	int lfd, stopfd, dirfd;
	ino_t ino;               /* the socket file we bound, to remove only that one */
	uint64_t idle_ns;
	pthread_t thread;
	char path[4200];
	struct ctl_client *clients[CTL_SLOTS];
};

typedef json_t *(*ctl_handler)(struct vmx *x, json_t *req, const char **err);

struct ctl_command {
	const char *name;
	const char *help;
	ctl_handler fn;
};

static json_t *cmd_hello(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_status(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_poweroff(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_help(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_suspend(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_suspend_status(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_suspend_cancel(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_shutdown(struct vmx *x, json_t *req, const char **err);
static json_t *cmd_hash(struct vmx *x, json_t *req, const char **err);

static const struct ctl_command ctl_commands[] = {
	{ "hello", "protocol version and identity of this vmx", cmd_hello },
	{ "status", "power state, pid, build type, uptime, instructions retired", cmd_status },
	{ "poweroff", "stop the VM now (hard power off)", cmd_poweroff },
	{ "shutdown", "ask the guest to power itself off", cmd_shutdown },
	{ "suspend", "save the VM to NAME.vmss and exit (status 3)", cmd_suspend },
	{ "suspendStatus", "state and progress of a suspend", cmd_suspend_status },
	{ "suspendCancel", "cancel a suspend in progress; the VM keeps running", cmd_suspend_cancel },
	{ "hash", "SHA-256 of the machine state at an instruction boundary", cmd_hash },
	{ "handover", "hand the running VM over to the vmx listening at \"peer\" (exit 5)",
	  (ctl_handler)handover_ctl_start },
	{ "handoverStatus", "state, timestamps and downtime of a hand-over", (ctl_handler)handover_ctl_status },
	{ "migrate", "live-migrate the running VM to the vmx listening at \"peer\" (HOST:PORT) with \"token\" (exit 5)",
	  (ctl_handler)migration_ctl_start },
	{ "migrateStatus", "state, rounds, pages and downtime of a live migration", (ctl_handler)migration_ctl_status },
	{ "migrateResolve", "a migration in doubt: \"runHere\" true (the receiver does not run the guest) or false",
	  (ctl_handler)migration_ctl_resolve },
	{ "stats", "stats build: counters per vCPU (format: json or prometheus)", stats_ctl_stats },
	{ "kstats", "stats build: kstat invocations and samples per vCPU", stats_ctl_kstats },
	{ "locks", "stats build: lock statistics (contention, hold times; waits of condition variables and semaphores)", stats_ctl_locks },
	{ "help", "list the commands", cmd_help },
};

static json_t *cmd_hello(struct vmx *x, json_t *req, const char **err)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i}", "product", "vmx3", "version", vmx_version,
			 "build", vmx_revision, "buildType", VMX_BUILDTYPE_NAME, "pid",
			 (int)getpid());
}

static json_t *cmd_status(struct vmx *x, json_t *req, const char **err)
{
	struct vm_status st = { 0 };
	int ps = atomic_load(&x->power_state);
	if (x->vm && ps == VMX_POWER_ON)
		vm_get_status(x->vm, &st);
	return json_pack("{s:s, s:i, s:s, s:s, s:f, s:I, s:i, s:I, s:s}", "powerState",
			 vmx_power_name(ps), "pid", (int)getpid(), "buildType",
			 VMX_BUILDTYPE_NAME, "version", vmx_version,
			 "uptimeSeconds", (double)(vmx_now_ns() - x->start_ns) / 1e9,
			 "instructionsRetired", (json_int_t)st.instret, "numvcpus",
			 (int)x->vc.numvcpus, "memSizeMB", (json_int_t)(x->vc.mem_size >> 20),
			 "config", x->vmx_name);
}

static json_t *cmd_poweroff(struct vmx *x, json_t *req, const char **err)
{
	LOG_INF("control socket: power off requested");
	atomic_store(&x->power_state, VMX_POWER_STOPPING);
	vm_request_stop(x->vm);
	return json_object();
}

static json_t *cmd_shutdown(struct vmx *x, json_t *req, const char **err)
{
	LOG_INF("control socket: guest shutdown requested");
	vm_request_shutdown(x->vm);
	return json_object();
}

static json_t *cmd_suspend(struct vmx *x, json_t *req, const char **err)
{
	int expect = VMX_SUSPEND_NONE;
	if ((*err = vmx_move_refusal(x)))
		return NULL;
	/* A finished failed/cancelled attempt may be retried. */
	int cur = atomic_load(&x->suspend_state);
	if (cur == VMX_SUSPEND_FAILED || cur == VMX_SUSPEND_CANCELLED)
		expect = cur;
	if (!atomic_compare_exchange_strong(&x->suspend_state, &expect, VMX_SUSPEND_REQUESTED)) {
		*err = "a suspend is already in progress";
		return NULL;
	}
	atomic_store(&x->suspend_prog.cancel, 0);
	atomic_store(&x->suspend_prog.bytes_written, 0);
	atomic_store(&x->suspend_prog.bytes_total, 0);
	LOG_INF("control socket: suspend requested");
	vm_request_stop(x->vm);
	return json_object();
}

static json_t *cmd_suspend_status(struct vmx *x, json_t *req, const char **err)
{
	char msg[sizeof(x->suspend_error)];
	mxuser_lock(&x->suspend_lock);
	memcpy(msg, x->suspend_error, sizeof(msg));
	mxuser_unlock(&x->suspend_lock);
	json_t *o = json_pack("{s:s, s:I, s:I}", "state",
			      vmx_suspend_name(atomic_load(&x->suspend_state)), "bytesWritten",
			      (json_int_t)atomic_load(&x->suspend_prog.bytes_written), "bytesTotal",
			      (json_int_t)atomic_load(&x->suspend_prog.bytes_total));
	if (msg[0])
		json_object_set_new(o, "error", json_string(msg));
	return o;
}

static json_t *cmd_suspend_cancel(struct vmx *x, json_t *req, const char **err)
{
	int st = atomic_load(&x->suspend_state);
	if (st != VMX_SUSPEND_REQUESTED && st != VMX_SUSPEND_RUNNING) {
		*err = "no suspend in progress";
		return NULL;
	}
	atomic_store(&x->suspend_prog.cancel, 1);
	LOG_INF("control socket: suspend cancel requested");
	return json_object();
}

static json_t *cmd_hash(struct vmx *x, json_t *req, const char **err)
{
	json_t *o = NULL;
	int expect = 0;

	if (atomic_load(&x->power_state) != VMX_POWER_ON) {
		*err = "the VM is not running";
		return NULL;
	}
	if (!atomic_compare_exchange_strong(&x->hash_req, &expect, 1)) {
		*err = "a state hash is already being computed";
		return NULL;
	}
	mxuser_lock(&x->suspend_lock);
	x->hash_ready = false;
	mxuser_unlock(&x->suspend_lock);
	vm_request_stop(x->vm);
	uint64_t deadline = mxuser_now_ns() + 60000000000ull;
	mxuser_lock(&x->suspend_lock);
	while (!x->hash_ready)
		if (mxuser_cond_timedwait(&x->hash_cond, &x->suspend_lock, deadline) != 0)
			break;
	if (!x->hash_ready)
		*err = "timed out waiting for the vCPUs to stop";
	else if (x->hash_rc < 0)
		*err = "computing the state hash failed (see vmx.log)";
	else
		o = json_pack("{s:s, s:I}", "sha256", x->hash_hex, "instret",
			      (json_int_t)x->hash_instret);
	mxuser_unlock(&x->suspend_lock);
	return o;
}

static json_t *cmd_help(struct vmx *x, json_t *req, const char **err)
{
	json_t *o = json_object();
	for (size_t i = 0; i < VMX_ARRAY_SIZE(ctl_commands); i++)
		json_object_set_new(o, ctl_commands[i].name, json_string(ctl_commands[i].help));
	return json_pack("{s:o}", "commands", o);
}

/* Builds the reply for one request line; always returns a JSON object. */
json_t *ctl_dispatch(struct vmx *x, const char *line, size_t len)
{
	json_error_t jerr;
	const char *err = NULL;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *reply = NULL;
	json_t *res;
	const char *cmd;
	json_int_t v;

	if (!req || !json_is_object(req)) {
		err = req ? "request must be a JSON object" : "request is not valid JSON";
		goto out;
	}
	v = json_integer_value(json_object_get(req, "v"));
	if (v != CTL_PROTOCOL_VERSION) {
		err = "unsupported protocol version (field \"v\" must be 1)";
		goto out;
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd) {
		err = "field \"cmd\" is missing or not a string";
		goto out;
	}
	for (size_t i = 0; i < VMX_ARRAY_SIZE(ctl_commands); i++) {
		if (strcmp(cmd, ctl_commands[i].name) != 0)
			continue;
		LOG_DBG("control socket: %s", cmd);
		STAT_INC(CTL_COMMAND);
		res = ctl_commands[i].fn(x, req, &err);
		if (res && !json_is_object(res)) {
			json_decref(res);
			res = NULL;
		}
		if (res) {
			json_object_set_new(res, "v", json_integer(CTL_PROTOCOL_VERSION));
			json_object_set_new(res, "ok", json_true());
			reply = res;
		}
		goto out;
	}
	err = "unknown command";
out:
	if (!reply)
		reply = json_pack("{s:i, s:b, s:s}", "v", CTL_PROTOCOL_VERSION, "ok", 0, "error",
				  err ? err : "internal error");
	json_decref(req);
	return reply;
}

/* One reply line to out; a reply that cannot be built is an error reply, never silence. */
static void emit(json_t *reply, ctl_out_fn out, void *arg)
{
	char *s = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	static const char oom[] = "{\"v\":1,\"ok\":false,\"error\":\"out of memory\"}";
	if (!s) {
		out(arg, oom, sizeof(oom) - 1);
		return;
	}
	out(arg, s, strlen(s));
	free(s);
}

struct ctl_reader *ctl_reader_new(void)
{
	return calloc(1, sizeof(struct ctl_reader));
}

void ctl_reader_free(struct ctl_reader *r)
{
	free(r);
}

int ctl_reader_feed(struct ctl_reader *r, struct vmx *x, const char *data, size_t n,
		    ctl_out_fn out, void *arg)
{
	int completed = 0;
	while (n) {
		size_t take = sizeof(r->buf) - r->len;
		char *nl;
		if (take > n)
			take = n;
		memcpy(r->buf + r->len, data, take);
		r->len += take;
		data += take;
		n -= take;
		while ((nl = memchr(r->buf, '\n', r->len))) {
			size_t l = (size_t)(nl - r->buf);
			json_t *reply = ctl_dispatch(x, r->buf, l);
			emit(reply, out, arg);
			json_decref(reply);
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			completed = 1;
		}
		if (r->len == sizeof(r->buf)) {
			json_t *e = json_pack("{s:i, s:b, s:s}", "v", CTL_PROTOCOL_VERSION, "ok", 0,
					      "error", "request line too long");
			emit(e, out, arg);
			json_decref(e);
			return -1;
		}
	}
	return completed;
}

struct send_ctx {
	int fd;
	bool failed;
};

static void send_line(void *arg, const char *line, size_t len)
{
	struct send_ctx *sc = arg;
	struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t left = len + 1;

	/*
	 * Blocking, but bounded by the socket's send timeout (set at accept): a
	 * client that does not read its replies is dropped instead of stalling
	 * every other client.
	 */
	while (!sc->failed && left) {
		ssize_t n = sendmsg(sc->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			LOG_DBG("control socket: send: %s", n < 0 ? strerror(errno) : "closed");
			sc->failed = true;
			break;
		}
		left -= (size_t)n;
		while (n > 0 && mh.msg_iovlen) {
			size_t k = (size_t)n < mh.msg_iov->iov_len ? (size_t)n : mh.msg_iov->iov_len;
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + k;
			mh.msg_iov->iov_len -= k;
			n -= (ssize_t)k;
			if (!mh.msg_iov->iov_len) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
}

static void drop_client(struct ctl *c, int i)
{
	close(c->clients[i]->fd);
	ctl_reader_free(c->clients[i]->rd);
	free(c->clients[i]);
	c->clients[i] = NULL;
}

static void client_readable(struct ctl *c, int i)
{
	struct ctl_client *cl = c->clients[i];
	char buf[16384];
	ssize_t n = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
	struct send_ctx sc = { cl->fd, false };
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(c, i);
		return;
	}
	rc = ctl_reader_feed(cl->rd, c->x, buf, (size_t)n, send_line, &sc);
	if (rc > 0)
		cl->since_ns = vmx_now_ns();
	if (rc < 0 || sc.failed)
		drop_client(c, i);
}

/*
 * The process that launched vmx (hostd, or a test harness): the one peer
 * that may take the reserved slot.  After hostd restarts vmx has another
 * parent, and hostd competes for the shared slots like any other client
 * (which the idle timeout keeps from staying full).
 */
static bool peer_is_launcher(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	pid_t ppid = getppid();
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr))
		return false;
	return ppid > 1 && cr.pid == ppid;
}

static void accept_client(struct ctl *c)
{
	int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC), slot = -1;
	bool launcher;

	if (fd < 0)
		return;
	launcher = peer_is_launcher(fd);
	for (int i = 0; i < CTL_MAX_CLIENTS && slot < 0; i++)
		if (!c->clients[i])
			slot = i;
	if (slot < 0 && launcher && !c->clients[CTL_RESERVED_SLOT])
		slot = CTL_RESERVED_SLOT;
	if (slot < 0) {
		static const char busy[] = "{\"v\":1,\"ok\":false,\"error\":\"too many clients; "
					   "idle ones are closed after a few seconds, try again\"}\n";
		LOG_WRN("control socket: too many clients, refusing one");
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			LOG_DBG("control socket: send: %s", strerror(errno));
		close(fd);
		return;
	}
	c->clients[slot] = calloc(1, sizeof(struct ctl_client));
	if (!c->clients[slot] || !(c->clients[slot]->rd = ctl_reader_new())) {
		free(c->clients[slot]);
		c->clients[slot] = NULL;
		close(fd);
		return;
	}
	c->clients[slot]->fd = fd;
	c->clients[slot]->since_ns = vmx_now_ns();
	{
		struct timeval tv = { .tv_sec = CTL_SEND_TIMEOUT_S };
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			LOG_DBG("control socket: SO_SNDTIMEO: %s", strerror(errno));
	}
}

/* Closes clients that have not completed a request within the idle timeout. */
static int expire_idle(struct ctl *c)
{
	uint64_t now = vmx_now_ns(), next = UINT64_MAX;
	for (int i = 0; i < CTL_SLOTS; i++) {
		if (!c->clients[i])
			continue;
		uint64_t dl = c->clients[i]->since_ns + c->idle_ns;
		if (now >= dl) {
			LOG_DBG("control socket: closing a client idle for %llu ms",
				(unsigned long long)(c->idle_ns / 1000000));
			drop_client(c, i);
		} else if (dl < next) {
			next = dl;
		}
	}
	if (next == UINT64_MAX)
		return -1;
	return (int)((next - now) / 1000000) + 1;
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;
	log_set_thread_name("ctl");
	for (;;) {
		struct pollfd p[2 + CTL_SLOTS];
		int map[2 + CTL_SLOTS];
		int n = 0, used = 0, timeout = expire_idle(c);
		p[n++] = (struct pollfd){ .fd = c->stopfd, .events = POLLIN };
		for (int i = 0; i < CTL_SLOTS; i++)
			used += c->clients[i] != NULL;
		/* Every slot taken: new clients wait in the listen backlog for one to free. */
		p[n++] = (struct pollfd){ .fd = used < CTL_SLOTS ? c->lfd : -1, .events = POLLIN };
		for (int i = 0; i < CTL_SLOTS; i++) {
			if (c->clients[i]) {
				map[n] = i;
				p[n++] = (struct pollfd){ .fd = c->clients[i]->fd, .events = POLLIN };
			}
		}
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			LOG_ERR("control socket: poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		for (int k = 2; k < n; k++)
			if (p[k].revents && c->clients[map[k]])
				client_readable(c, map[k]);
		if (p[1].revents & POLLIN)
			accept_client(c);
	}
	return NULL;
}

/* The VM directory of the live socket, for removing it on a panic (crash.h). */
static _Atomic int crash_dirfd = -1;
static _Atomic uint64_t crash_ino;

static void unlink_on_crash(void)
{
	int fd = atomic_load(&crash_dirfd);
	struct stat st;
	/* Only our own socket: after a hand-over the name is the new vmx's. */
	if (fd >= 0 && fstatat(fd, CTL_SOCKET_NAME, &st, 0) == 0 &&
	    (uint64_t)st.st_ino == atomic_load(&crash_ino))
		unlinkat(fd, CTL_SOCKET_NAME, 0);
}

int ctl_start(struct ctl **out, struct vmx *x, struct verr *e)
{
	struct ctl *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (!c)
		return verr_set(e, -ENOMEM, "out of memory");
	c->x = x;
	c->lfd = c->stopfd = c->dirfd = -1;
	c->idle_ns = (uint64_t)CTL_IDLE_TIMEOUT_MS * 1000000ull;
	snprintf(c->path, sizeof(c->path), "%s/%s", x->vmdir, CTL_SOCKET_NAME);
	/* sun_path is short; bind through /proc/self/fd so long VM paths work too. */
	c->dirfd = open(x->vmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		rc = verr_set(e, -errno, "%s: %s", x->vmdir, strerror(errno));
		goto err;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", c->dirfd,
		 CTL_SOCKET_NAME);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->stopfd = eventfd(0, EFD_CLOEXEC);
	if (c->lfd < 0 || c->stopfd < 0) {
		rc = verr_set(e, -errno, "control socket: %s", strerror(errno));
		goto err;
	}
	unlinkat(c->dirfd, CTL_SOCKET_NAME, 0);
	{
		/* Before bind: a panic from here on removes the socket... */
		static bool registered;
		atomic_store(&crash_dirfd, c->dirfd);
		if (!registered)
			crash_add_cleanup(unlink_on_crash);
		registered = true;
	}
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->lfd, 8) < 0) {
		rc = verr_set(e, -errno, "control socket %s: %s", c->path, strerror(errno));
		goto err;
	}
	/* The file we bound: after a hand-over the name is the new vmx's, not ours to remove. */
	{
		struct stat st;
		c->ino = fstatat(c->dirfd, CTL_SOCKET_NAME, &st, 0) == 0 ? st.st_ino : 0;
		atomic_store(&crash_ino, (uint64_t)c->ino);
	}
	/* ...and one whose cleanup ran before this bind is caught here (another thread panicked). */
	if (crash_in_progress()) {
		unlinkat(c->dirfd, CTL_SOCKET_NAME, 0);
		/* The panicking thread writes its report and exits with 70: let it. */
		for (;;)
			pause();
	}
	rc = pthread_create(&c->thread, NULL, ctl_thread, c);
	if (rc) {
		rc = verr_set(e, -rc, "control socket thread: %s", strerror(rc));
		goto err_unlink;
	}
	LOG_INF("control socket listening on %s (protocol %d)", c->path, CTL_PROTOCOL_VERSION);
	*out = c;
	return 0;

err_unlink:
	unlinkat(c->dirfd, CTL_SOCKET_NAME, 0);
err:
	atomic_store(&crash_dirfd, -1);
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->stopfd >= 0)
		close(c->stopfd);
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c);
	return rc;
}

void ctl_stop(struct ctl *c)
{
	uint64_t one = 1;
	if (write(c->stopfd, &one, sizeof(one)) < 0)
		LOG_WRN("control socket: cannot signal its thread: %s", strerror(errno));
	pthread_join(c->thread, NULL);
	for (int i = 0; i < CTL_SLOTS; i++)
		if (c->clients[i])
			drop_client(c, i);
	atomic_store(&crash_dirfd, -1);
	/* After a hand-over the path is the new vmx's socket: leave it alone. */
	struct stat st;
	if (fstatat(c->dirfd, CTL_SOCKET_NAME, &st, 0) == 0 && st.st_ino == c->ino)
		unlinkat(c->dirfd, CTL_SOCKET_NAME, 0);
	close(c->lfd);
	close(c->stopfd);
	close(c->dirfd);
	free(c);
}
