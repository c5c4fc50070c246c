/*
 * hmig.c - live migration between hosts, hostd's part (docs/MIGRATION.md).
 * The destination registers the VM and starts a vmx waiting for it on a TCP
 * port of its own, with a one-time token (hmig_incoming); the source asks
 * its running vmx to send the VM there (hmig_outgoing) and, once that vmx
 * has exited after the hand-over, forgets the VM: it is the destination's.
 * Each side is a task.  The vmx processes decide who runs the guest; a
 * migration left in doubt waits for hmig_resolve, which the caller (the
 * center) gives after asking the destination.
 *
 * Both hosts see the VM's directory (a shared datastore), where the
 * receiving vmx binds vmx.ctl once it runs the guest: from then on the
 * source's control socket may answer for the destination, so the source
 * trusts only replies whose role is "outgoing", and resolving "the
 * destination runs it" ends the paused source with SIGKILL, not a command.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/log.h"
#include "hostd.h"
#include "hvm_int.h"

#define HMIG_GO_WAIT_S   1800   /* destination: the longest pre-copy it waits for */
#define HMIG_START_MS    60000  /* source: connect, hello, the receiver's machine built */

struct hmig_ctx {
	int vm_id;
	int task;
	pid_t pid;          /* incoming: the receiving vmx */
	int status_fd;      /* incoming: read end of its --migration-status-fd pipe */
	enum buildtype bt;  /* incoming: the build type it runs */
	enum buildtype want;/* incoming: the one the .vmx asked for (bt when this host has it) */
	char peer[300];     /* outgoing */
	char token[80];     /* outgoing */
	char user[64];
};

static uint64_t now_ms_(void) { return now_ms(); }

/* A listening TCP socket on the host's migration address, any free port. */
static int listen_any(char *addr, size_t len, struct verr *e)
{
	const char *host = g_hostd.cfg.migration_addr[0] ? g_hostd.cfg.migration_addr : "127.0.0.1";
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST }, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[128], p[16];
	int fd, rc;

	if ((rc = getaddrinfo(host, "0", &hints, &ai)) != 0)
		return verr_set(e, -EINVAL, "hostd.migrationAddress \"%s\": %s", host,
				gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		rc = verr_set(e, -errno, "cannot listen for the migration on %s: %s", host,
			      strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	snprintf(addr, len, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p);
	return fd;
}

/* ---- destination ------------------------------------------------------------- */

/* The incoming migration of the VM is over (lock held): no task, no receiving vmx. */
static struct hvm *incoming_over(int vm_id)
{
	struct hvm *vm = hvm_find(vm_id);
	if (vm) {
		vm->busy_task = 0;
		vm->mig_in_pid = 0;
		vm->mig_in_fd = -1;
	}
	return vm;
}

/* The receiving vmx ran nothing and is gone: the VM was never here. */
static void incoming_failed(struct hmig_ctx *c, const char *msg)
{
	struct verr e = { "" };
	hostd_lock();
	incoming_over(c->vm_id);
	hostd_unlock();
	if (hvm_unregister(c->vm_id, c->user, &e) < 0)
		LOG_WRN("vm %d: incoming migration: cannot unregister: %s", c->vm_id, e.msg);
	task_finish(c->task, NULL, msg);
	LOG_WRN("vm %d: incoming migration failed: %s", c->vm_id, msg);
}

static void describe(int st, char *out, size_t len)
{
	if (WIFEXITED(st))
		snprintf(out, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, len, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(out, len, "ended");
}

static void *incoming_main(void *arg)
{
	struct hmig_ctx *c = arg;
	uint64_t deadline = now_ms_() + HMIG_GO_WAIT_S * 1000ull;
	char buf[64], why[200], msg[600];
	bool go = false;

	log_set_thread_name("migrateIn");
	task_progress(c->task, 10, "waiting for the running vmx");
	for (;;) {
		struct pollfd p = { .fd = c->status_fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0) {
			ssize_t n = read(c->status_fd, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = 0;
			if (n >= 2 && !memcmp(buf, "go", 2)) {
				go = true;
				break;
			}
			if (n > 0 && strstr(buf, "orphaned"))
				task_progress(c->task, 80, "orphaned: the sending vmx vanished after handing "
					      "over the whole VM; nothing runs it until migrateResolve says "
					      "whether this host may");
			if (n > 0 && strstr(buf, "go"))
				go = true;
			if (go)
				break;
		}
		int st;
		pid_t r = waitpid(c->pid, &st, WNOHANG);
		if (r == c->pid) {
			/* "go" may be in the pipe still: the vmx wrote it and then died. */
			p.revents = 0;
			if (poll(&p, 1, 0) > 0 && read(c->status_fd, buf, sizeof(buf)) >= 2 &&
			    !memcmp(buf, "go", 2)) {
				describe(st, why, sizeof(why));
				snprintf(msg, sizeof(msg), "the receiving vmx ended (%s) after it was "
					 "given the guest: the VM is powered off here", why);
				hostd_lock();
				struct hvm *vm = incoming_over(c->vm_id);
				if (vm) {
					vm->power = HP_OFF;
					snprintf(vm->last_exit, sizeof(vm->last_exit), "vmx pid %d: %s",
						 (int)c->pid, why);
					hvm_save(vm);
				}
				hostd_unlock();
				db_event("hostd", c->vm_id, "vmCrashed", "%s", msg);
				task_finish(c->task, NULL, msg);
				goto out;
			}
			describe(st, why, sizeof(why));
			snprintf(msg, sizeof(msg), "the receiving vmx ended (%s) before it was given the "
				 "guest, which stays where it was; see vmx.log", why);
			incoming_failed(c, msg);
			goto out;
		}
		if (now_ms_() > deadline) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			snprintf(msg, sizeof(msg), "no VM arrived within %d s; the receiving vmx was "
				 "stopped", HMIG_GO_WAIT_S);
			incoming_failed(c, msg);
			goto out;
		}
	}
	/* It runs the guest: from now on the supervisor watches it like any other vmx. */
	hostd_lock();
	struct hvm *vm = hvm_find(c->vm_id);
	if (vm) {
		vm->pid = c->pid;
		vm->child = true;
		vm->pid_start = hvm_pid_start(c->pid);
		vm->running_bt = c->bt;
		vm->exited = false;
		vm->power = HP_ON;
		vm->mig_in_pid = 0;
		vm->mig_in_fd = -1;
		hvm_save(vm);
	}
	hostd_unlock();
	if (c->bt != c->want) {
		/* This host lacks that binary: the .vmx says what runs (the center keeps the wish). */
		struct verr be = { "" };
		hostd_lock();
		vm = hvm_find(c->vm_id);
		hostd_unlock();
		if (vm && hvm_set_buildtype(vm, c->bt, &be) < 0)
			LOG_WRN("vm %d: cannot set vmx.buildType %s: %s", c->vm_id,
				buildtype_name(c->bt), be.msg);
		db_event(c->user, c->vm_id, "buildTypeDropped", "this host has no %s binary: the VM "
			 "runs %s here", buildtype_name(c->want), buildtype_name(c->bt));
	}
	task_progress(c->task, 90, "the guest runs here");
	/* Its figures, once it answers on the control socket. */
	json_t *res = json_pack("{s:i, s:s}", "pid", (int)c->pid, "buildType",
				buildtype_name(c->bt));
	char dir[PATH_MAX] = "";
	hostd_lock();
	if ((vm = hvm_find(c->vm_id)))
		snprintf(dir, sizeof(dir), "%s", vm->dir);
	hostd_unlock();
	for (int i = 0; i < 100 && dir[0]; i++) {
		json_t *r = NULL;
		if (vmctl_call(dir, "migrateStatus", NULL, 1000, &r, NULL) == 0 &&
		    !strcmp(json_string_value(json_object_get(r, "role")) ?: "", "incoming") &&
		    json_object_get(r, "downtimeMs")) {
			/* The receiver's count is the whole transfer (the sender's ends with it). */
			const char *keys[] = { "downtimeMs", "rounds", "pagesSent", "zeroPages",
					       "bytesSent", "lastRoundPages" };
			for (unsigned k = 0; k < VMX_ARRAY_SIZE(keys); k++)
				if (json_object_get(r, keys[k]))
					json_object_set(res, keys[k], json_object_get(r, keys[k]));
			json_decref(r);
			break;
		}
		json_decref(r);
		usleep(20000);
	}
	hostd_lock();
	if ((vm = hvm_find(c->vm_id)))
		vm->busy_task = 0;
	hostd_unlock();
	db_event(c->user, c->vm_id, "vmMigratedIn", "the VM runs here (pid %d, %s)", (int)c->pid,
		 buildtype_name(c->bt));
	task_finish(c->task, res, NULL);
out:
	close(c->status_fd);
	free(c);
	return NULL;
}

int hmig_incoming(const char *file, const char *name, const char *user, json_t **result,
		  int *http_status, struct verr *e)
{
	char bin[PATH_MAX], addr[200], token[65], env[100], msg[300];
	unsigned char raw[32];
	enum buildtype want, bt;
	uint64_t mem;
	struct privdrop_fds fds;
	struct hmig_ctx *c = NULL;
	int id, rc, lfd = -1, pipefd[2] = { -1, -1 };
	pid_t pid = -1;
	pthread_t th;

	*http_status = 400;
	id = hvm_register(file, name, user, e);
	if (id < 0) {
		*http_status = id == -EEXIST ? 409 : 400;
		return id;
	}
	hostd_lock();
	struct hvm *vm = hvm_find(id);
	rc = vm ? hvm_read_cfg(vm, &want, &mem, NULL, e) : -ENOENT;
	hostd_unlock();
	if (rc < 0)
		goto fail;
	/* A host without that build type's binary runs default (an older host). */
	bt = want;
	if (vmop_binary(bt, bin, sizeof(bin), NULL) < 0) {
		bt = BUILDTYPE_DEFAULT;
		if ((rc = vmop_binary(bt, bin, sizeof(bin), e)) < 0)
			goto fail;
	}
	hostd_lock();
	rc = admit_check(g_hostd.cfg.mem_capacity_mb, hvm_reserved_mb(id), mem + admit_overhead_mb(bt),
			 msg, sizeof(msg));
	hostd_unlock();
	if (rc < 0) {
		*http_status = 409;
		verr_set(e, rc, "admission control refused the incoming VM: %s (memSize %llu MiB + "
			 "%llu MiB %s overhead)", msg, (unsigned long long)mem,
			 (unsigned long long)admit_overhead_mb(bt), buildtype_name(bt));
		goto fail;
	}
	*http_status = 500;
	if ((lfd = listen_any(addr, sizeof(addr), e)) < 0) {
		rc = lfd;
		goto fail;
	}
	/* Both ways: the vmx says "go" or "orphaned", hostd answers an orphan "run" or "exit". */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipefd) < 0) {
		rc = verr_set(e, -errno, "socketpair: %s", strerror(errno));
		goto fail;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		rc = verr_set(e, -EIO, "no random token");
		goto fail;
	}
	for (unsigned i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	snprintf(env, sizeof(env), "VMX_MIGRATION_TOKEN=%s", token);
	rc = privdrop_prepare_vm(&g_hostd.cfg, file, &fds, e);
	if (rc < 0)
		goto fail;
	fds.nextra = 2;
	fds.extra_fd[0] = lfd;
	fds.extra_opt[0] = "--incoming-migration=fd:%d";
	fds.extra_fd[1] = pipefd[1];
	fds.extra_opt[1] = "--migration-status-fd=%d";
	fds.extra_env = env;
	hostd_lock();
	vm = hvm_find(id);
	rc = vm ? vmop_spawn(vm, bin, NULL, &fds, &pid, e) : -ENOENT;
	hostd_unlock();
	privdrop_fds_close(&fds);
	explicit_bzero(env, sizeof(env));
	close(lfd);
	lfd = -1;
	close(pipefd[1]);
	pipefd[1] = -1;
	if (rc < 0)
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	c->vm_id = id;
	c->pid = pid;
	c->status_fd = pipefd[0];
	c->bt = bt;
	c->want = want;
	snprintf(c->user, sizeof(c->user), "%s", user);
	/* The pid lets a restarted hostd find the receiving vmx again (hmig_watch). */
	json_t *params = json_pack("{s:s, s:s, s:i, s:I}", "vm", file, "address", addr, "pid",
				   (int)pid, "pidStart", (json_int_t)hvm_pid_start(pid));
	c->task = task_new(id, "migrateIn", user, params);
	hostd_lock();
	if ((vm = hvm_find(id))) {
		vm->busy_task = c->task;
		vm->mig_in_pid = pid;
		vm->mig_in_fd = pipefd[0];
		vm->running_bt = bt;
	}
	hostd_unlock();
	if (c->task < 0 || pthread_create(&th, NULL, incoming_main, c) != 0) {
		rc = verr_set(e, -EAGAIN, "cannot start the task");
		goto fail;
	}
	pthread_detach(th);
	*result = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s}", "id", id, "address", addr, "token",
			    token, "task", c->task, "buildType", buildtype_name(bt),
			    "requestedBuildType", buildtype_name(want));
	explicit_bzero(token, sizeof(token));
	LOG_INF("vm %d: waiting for %s to arrive on %s (pid %d, %s)", id, file, addr, (int)pid,
		buildtype_name(bt));
	*http_status = 201;
	return c->task;
fail:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (c && c->task > 0)
		task_finish(c->task, NULL, e->msg);
	free(c);
	if (lfd >= 0)
		close(lfd);
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	hostd_lock();
	if ((vm = hvm_find(id))) {
		vm->busy_task = 0;
		vm->mig_in_pid = 0;
		vm->mig_in_fd = -1;
	}
	hostd_unlock();
	struct verr ue = { "" };
	hvm_unregister(id, user, &ue);
	return rc;
}

/* ---- source ------------------------------------------------------------------ */

/* The source vmx's own migrateStatus (a reply from the destination's vmx does not count). */
static json_t *own_status(const char *dir)
{
	json_t *r = NULL;
	if (vmctl_call(dir, "migrateStatus", NULL, 1000, &r, NULL) < 0 ||
	    strcmp(json_string_value(json_object_get(r, "role")) ?: "", "outgoing") != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static void outgoing_end(struct hmig_ctx *c, json_t *res, const char *error)
{
	hostd_lock();
	struct hvm *vm = hvm_find(c->vm_id);
	if (vm) {
		vm->busy_task = 0;
		if (error)
			vm->mig_out = false;
	}
	hostd_unlock();
	task_finish(c->task, res, error);
}

static void *outgoing_main(void *arg)
{
	struct hmig_ctx *c = arg;
	char dir[PATH_MAX] = "", msg[900];
	json_t *reply = NULL, *last = NULL;
	struct verr e = { "" };

	log_set_thread_name("migrateOut");
	hostd_lock();
	struct hvm *vm = hvm_find(c->vm_id);
	if (vm)
		snprintf(dir, sizeof(dir), "%s", vm->dir);
	hostd_unlock();
	task_progress(c->task, 5, "connecting to the destination");
	json_t *a = json_pack("{s:s, s:s}", "peer", c->peer, "token", c->token);
	int rc = vmctl_call(dir, "migrate", a, HMIG_START_MS, &reply, &e);
	json_decref(a);
	explicit_bzero(c->token, sizeof(c->token));
	if (rc < 0 || !json_is_true(json_object_get(reply, "ok"))) {
		snprintf(msg, sizeof(msg), "the running vmx cannot migrate: %s",
			 json_string_value(json_object_get(reply, "error")) ?: e.msg);
		json_decref(reply);
		outgoing_end(c, NULL, msg);
		goto out;
	}
	json_decref(reply);
	db_event(c->user, c->vm_id, "vmMigrating", "sending the running VM to %s", c->peer);
	for (;;) {
		usleep(50000);
		hostd_lock();
		vm = hvm_find(c->vm_id);
		bool gone = !vm || !vm->pid;
		bool migrated = vm && vm->migrated;
		char last_exit[512] = "";
		if (vm)
			snprintf(last_exit, sizeof(last_exit), "%s", vm->last_exit);
		hostd_unlock();
		if (gone) {
			if (!migrated) {
				snprintf(msg, sizeof(msg), "the vmx ended during the migration: %s; ask "
					 "the destination whether the VM runs there", last_exit);
				outgoing_end(c, NULL, msg);
				goto out;
			}
			/* It handed the guest over: the VM is the destination's now. */
			hostd_lock();
			if ((vm = hvm_find(c->vm_id))) {
				vm->busy_task = 0;
				vm->migrated = false;
				vm->mig_out = false;
			}
			hostd_unlock();
			struct verr ue = { "" };
			if (hvm_unregister(c->vm_id, c->user, &ue) < 0)
				LOG_WRN("vm %d: migrated, but cannot unregister: %s", c->vm_id, ue.msg);
			json_t *res = json_pack("{s:s, s:b}", "to", c->peer, "migrated", 1);
			if (last) {
				const char *keys[] = { "rounds", "pagesSent", "zeroPages", "bytesSent",
						       "pauseToSentMs", "elapsedMs" };
				for (unsigned i = 0; i < VMX_ARRAY_SIZE(keys); i++)
					if (json_object_get(last, keys[i]))
						json_object_set(res, keys[i], json_object_get(last, keys[i]));
			}
			db_event(c->user, c->vm_id, "vmMigratedOut", "the VM runs on %s now", c->peer);
			task_finish(c->task, res, NULL);
			goto out;
		}
		json_t *s = own_status(dir);
		if (!s)
			continue;
		const char *state = json_string_value(json_object_get(s, "state")) ?: "";
		json_decref(last);
		last = s;
		if (!strcmp(state, "failed")) {
			snprintf(msg, sizeof(msg), "the migration failed and the VM runs on here: %s",
				 json_string_value(json_object_get(s, "error")) ?: "no reason given");
			outgoing_end(c, NULL, msg);
			goto out;
		}
		if (!strcmp(state, "inDoubt")) {
			task_progress(c->task, 95, "in doubt: the guest is paused until migrateResolve "
				      "says whether the destination runs it");
		} else if (!strcmp(state, "precopy")) {
			char what[120];
			snprintf(what, sizeof(what), "copying memory: round %lld, %lld pages sent",
				 (long long)json_integer_value(json_object_get(s, "rounds")),
				 (long long)json_integer_value(json_object_get(s, "pagesSent")));
			task_progress(c->task, 20, what);
		} else if (strcmp(state, "none")) {
			task_progress(c->task, 80, "the guest is paused: last pages and state");
		}
	}
out:
	json_decref(last);
	free(c);
	return NULL;
}

int hmig_outgoing(int id, const char *peer, const char *token, const char *user,
		  int *http_status, struct verr *e)
{
	struct hmig_ctx *c;
	pthread_t th;

	*http_status = 400;
	if (!peer || !peer[0] || strlen(peer) >= sizeof(c->peer))
		return verr_set(e, -EINVAL, "peer: missing (HOST:PORT of the destination's vmx)");
	if (!token || strlen(token) < 16 || strlen(token) >= sizeof(c->token))
		return verr_set(e, -EINVAL, "token: missing (the destination gave it)");
	hostd_lock();
	struct hvm *vm = hvm_find(id);
	*http_status = 409;
	if (!vm) {
		hostd_unlock();
		*http_status = 404;
		return verr_set(e, -ENOENT, "vm: no VM with id %d", id);
	}
	if (vm->busy_task) {
		hostd_unlock();
		return verr_set(e, -EBUSY, "VM %d is busy with task %d; try again when it has finished",
				id, vm->busy_task);
	}
	if (vm->power != HP_ON || !vm->pid) {
		hostd_unlock();
		return verr_set(e, -EINVAL, "VM %d is %s; only a running VM migrates live", id,
				hpower_name(vm->power));
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		hostd_unlock();
		return verr_set(e, -ENOMEM, "out of memory");
	}
	c->vm_id = id;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->token, sizeof(c->token), "%s", token);
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->task = task_new(id, "migrateOut", user, json_pack("{s:s, s:s}", "vm", vm->file, "to",
							       peer));
	if (c->task < 0) {
		hostd_unlock();
		free(c);
		return verr_set(e, -EIO, "cannot record the task");
	}
	vm->busy_task = c->task;
	vm->mig_out = true;
	vm->migrated = false;
	if (pthread_create(&th, NULL, outgoing_main, c) != 0) {
		vm->busy_task = 0;
		vm->mig_out = false;
		hostd_unlock();
		task_finish(c->task, NULL, "cannot start a thread");
		free(c);
		return verr_set(e, -EAGAIN, "cannot start a thread");
	}
	pthread_detach(th);
	hostd_unlock();
	*http_status = 202;
	return c->task;
}

int hmig_resolve(int id, bool run_here, int *http_status, struct verr *e)
{
	char dir[PATH_MAX];
	pid_t pid;

	*http_status = 404;
	hostd_lock();
	struct hvm *vm = hvm_find(id);
	if (!vm) {
		hostd_unlock();
		return verr_set(e, -ENOENT, "vm: no VM with id %d", id);
	}
	*http_status = 409;
	if (vm->mig_in_pid && vm->mig_in_fd >= 0) {
		/* The receiving side, orphaned: it runs the guest or ends. */
		const char *word = run_here ? "run\n" : "exit\n";
		ssize_t w = write(vm->mig_in_fd, word, strlen(word));
		hostd_unlock();
		if (w != (ssize_t)strlen(word))
			return verr_set(e, -EIO, "VM %d: the receiving vmx is gone", id);
		LOG_INF("vm %d: orphaned incoming migration resolved: %s", id,
			run_here ? "this host runs the guest" : "the receiving vmx ends");
		*http_status = 200;
		return 0;
	}
	if (!vm->mig_out || !vm->pid) {
		hostd_unlock();
		return verr_set(e, -EINVAL, "VM %d has no migration in doubt here", id);
	}
	pid = vm->pid;
	snprintf(dir, sizeof(dir), "%s", vm->dir);
	hostd_unlock();
	json_t *s = own_status(dir);
	bool doubt = s && !strcmp(json_string_value(json_object_get(s, "state")) ?: "", "inDoubt");
	json_decref(s);
	if (!run_here) {
		/*
		 * The destination runs the guest: this paused copy must never run
		 * again.  It may no longer own vmx.ctl, so it is ended by signal.
		 */
		hostd_lock();
		if ((vm = hvm_find(id)) && vm->pid == pid) {
			vm->migrated = true;
			vm->hard_killed = true;
		}
		hostd_unlock();
		kill(pid, SIGKILL);
		LOG_INF("vm %d: migration resolved: the destination runs the guest; ended pid %d", id,
			(int)pid);
		*http_status = 200;
		return 0;
	}
	if (!doubt)
		return verr_set(e, -EINVAL, "VM %d: its vmx has no migration in doubt", id);
	json_t *r = NULL, *a = json_pack("{s:b}", "runHere", 1);
	int rc = vmctl_call(dir, "migrateResolve", a, 5000, &r, e);
	json_decref(a);
	if (rc == 0 && !json_is_true(json_object_get(r, "ok")))
		rc = verr_set(e, -EIO, "%s", json_string_value(json_object_get(r, "error")) ?: "refused");
	json_decref(r);
	if (rc < 0)
		return rc;
	*http_status = 200;
	return 0;
}

/* ---- after a restart of hostd --------------------------------------------- */

struct hmig_watch {
	int vm_id;
	pid_t pid;
	uint64_t start;
};

static bool alive(pid_t pid, uint64_t start)
{
	return kill(pid, 0) == 0 && hvm_pid_start(pid) == start;
}

/*
 * A receiving vmx that an earlier hostd started: it runs the guest once it
 * answers on the VM's control socket with its own pid (then it is adopted
 * like any vmx found at start), and the VM was never here if it ends first.
 */
static void *watch_main(void *arg)
{
	struct hmig_watch *w = arg;
	char dir[PATH_MAX] = "";
	uint64_t deadline = now_ms_() + HMIG_GO_WAIT_S * 1000ull;

	log_set_thread_name("migrateWatch");
	hostd_lock();
	struct hvm *vm = hvm_find(w->vm_id);
	if (vm)
		snprintf(dir, sizeof(dir), "%s", vm->dir);
	hostd_unlock();
	while (dir[0] && now_ms_() < deadline) {
		if (!alive(w->pid, w->start)) {
			struct verr e = { "" };
			hostd_lock();
			if ((vm = hvm_find(w->vm_id)))
				vm->mig_in_pid = 0;
			hostd_unlock();
			hvm_unregister(w->vm_id, "hostd", &e);
			LOG_INF("vm %d: the receiving vmx pid %d ended before it ran the guest; "
				"unregistered", w->vm_id, (int)w->pid);
			break;
		}
		json_t *h = NULL;
		if (vmctl_call(dir, "hello", NULL, 500, &h, NULL) == 0 &&
		    json_integer_value(json_object_get(h, "pid")) == w->pid) {
			const char *name = json_string_value(json_object_get(h, "buildType"));
			int fd = (int)syscall(SYS_pidfd_open, w->pid, 0);
			hostd_lock();
			if ((vm = hvm_find(w->vm_id)) && fd >= 0) {
				for (int t = 0; t < BUILDTYPE_COUNT; t++)
					if (name && !strcmp(buildtype_compiled_name((enum buildtype)t), name))
						vm->running_bt = (enum buildtype)t;
				vm->pid = w->pid;
				vm->pid_start = w->start;
				vm->pidfd = fd;
				vm->child = false;
				vm->exited = false;
				vm->power = HP_ON;
				vm->mig_in_pid = 0;
				hvm_save(vm);
				fd = -1;
			}
			hostd_unlock();
			if (fd >= 0)
				close(fd);
			json_decref(h);
			db_event("hostd", w->vm_id, "vmMigratedIn", "the VM runs here (pid %d): its "
				 "receiving vmx, started before hostd restarted, was given the guest",
				 (int)w->pid);
			break;
		}
		json_decref(h);
		usleep(100000);
	}
	free(w);
	return NULL;
}

int hmig_watch(struct hvm *vm, json_t *task)
{
	json_t *params = json_object_get(task, "params");
	pid_t pid = (pid_t)json_integer_value(json_object_get(params, "pid"));
	uint64_t start = (uint64_t)json_integer_value(json_object_get(params, "pidStart"));
	struct hmig_watch *w;
	pthread_t th;

	if (pid <= 0 || !alive(pid, start) || !(w = calloc(1, sizeof(*w))))
		return 0;
	w->vm_id = vm->id;
	w->pid = pid;
	w->start = start;
	vm->mig_in_pid = pid;
	if (pthread_create(&th, NULL, watch_main, w) != 0) {
		vm->mig_in_pid = 0;
		free(w);
		return 0;
	}
	pthread_detach(th);
	return (int)pid;
}
