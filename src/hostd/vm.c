/*
 * vm.c - registered VMs, their vmx processes and the operations on them.
 *
 * Power on spawns the vmx binary that the VM's vmx.buildType selects, in its
 * own session with stdio going to vmx-stdio.log in the VM directory, so a vmx
 * outlives a hostd that dies.  A supervisor thread notices every exit (waitpid
 * for our children, a pidfd for processes adopted after a restart), records
 * the reason and keeps crash reports.  Each operation runs as a task in its
 * own thread and owns the VM (vm->busy_task) until it ends; a second operation
 * on a busy VM is refused with a conflict.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/cfg.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "hostd.h"

#define CHECKPOINT_KEY "checkpoint.vmState"
#define STDIO_LOG "vmx-stdio.log"
#define HARD_STOP_MS 10000
#define SUSPEND_MAX_MS (30 * 60 * 1000)

extern char **environ;

struct hostd g_hostd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static pthread_t g_supervisor;
static bool g_supervisor_running;

struct op_ctx {
	int vm_id;
	int task;
	enum vm_op op;
	enum buildtype bt;
	uint64_t revert_after_s;
	enum switch_method method;   /* runtime build-type change */
	char fallback[600];          /* why the fast path is not used, "" = it is */
	char user[64];
};

static const char *const op_names[] = {
	[OP_POWERON] = "powerOn", [OP_POWEROFF] = "powerOff", [OP_HARDOFF] = "hardPowerOff",
	[OP_RESET] = "reset",     [OP_SUSPEND] = "suspend",   [OP_RESUME] = "resume",
	[OP_BUILDTYPE] = "changeBuildType",
};

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hostd_lock(void)
{
	pthread_mutex_lock(&g_hostd.lock);
}

void hostd_unlock(void)
{
	pthread_mutex_unlock(&g_hostd.lock);
}

const char *hpower_name(enum hpower p)
{
	return p == HP_ON ? "poweredOn" : p == HP_SUSPENDED ? "suspended" : "poweredOff";
}

int vm_op_parse(const char *s, enum vm_op *out)
{
	static const struct { const char *name; enum vm_op op; } alias[] = {
		{ "on", OP_POWERON },     { "off", OP_POWEROFF },   { "hardOff", OP_HARDOFF },
		{ "reset", OP_RESET },    { "suspend", OP_SUSPEND }, { "resume", OP_RESUME },
	};
	for (size_t i = 0; s && i < VMX_ARRAY_SIZE(alias); i++)
		if (!strcmp(s, alias[i].name)) {
			*out = alias[i].op;
			return 0;
		}
	return -EINVAL;
}

struct hvm *vm_find(int id)
{
	for (struct hvm *v = g_hostd.vms; v; v = v->next)
		if (v->id == id)
			return v;
	return NULL;
}

/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). */
static uint64_t proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

static void vm_save(struct hvm *vm)
{
	char id[24], pid[24], st[24], rev[24], bt[16];

	snprintf(id, sizeof(id), "%d", vm->id);
	snprintf(pid, sizeof(pid), "%d", (int)vm->pid);
	snprintf(st, sizeof(st), "%llu", (unsigned long long)vm->pid_start);
	snprintf(rev, sizeof(rev), "%lld", (long long)vm->revert_at);
	snprintf(bt, sizeof(bt), "%s", buildtype_name(vm->running_bt));
	const char *p[] = { hpower_name(vm->power), pid, st, bt, rev, vm->last_exit, id };
	db_exec("UPDATE vms SET power=?, pid=?, pid_start=?, running_bt=?, revert_at=?, last_exit=? "
		"WHERE id=?", 7, p);
}

/* Reads the VM's build type, memory size and checkpoint from its .vmx. */
static int vm_read_cfg(const struct hvm *vm, enum buildtype *bt, uint64_t *mem_mb,
		       bool *checkpoint, struct verr *e)
{
	struct cfg *c;
	int rc = cfg_load(vm->path, &c, e);

	if (rc < 0)
		return rc;
	if (bt && (rc = buildtype_from_cfg(c, bt, e)) < 0)
		goto out;
	if (mem_mb && (rc = cfg_get_u64(c, "memSize", 512, 1, 1u << 24, mem_mb, e)) < 0)
		goto out;
	if (checkpoint) {
		const char *cp = cfg_get(c, CHECKPOINT_KEY);
		char p[PATH_MAX * 2];
		struct stat st;
		*checkpoint = false;
		if (cp && *cp) {
			if (cp[0] == '/')
				snprintf(p, sizeof(p), "%s", cp);
			else
				snprintf(p, sizeof(p), "%s/%s", vm->dir, cp);
			*checkpoint = stat(p, &st) == 0 && st.st_size > 0;
		}
	}
out:
	cfg_free(c);
	return rc;
}

static bool file_executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int vm_binary(enum buildtype t, char *out, size_t len, struct verr *e)
{
	static const char *const tree_dir[BUILDTYPE_COUNT] = { "release", "beta", "stats" };
	const struct hostd_cfg *c = &g_hostd.cfg;
	const char *bin = buildtype_binary(t);

	if (c->vmx_dir[0]) {
		snprintf(out, len, "%s/%s", c->vmx_dir, bin);
		if (file_executable(out))
			return 0;
		return verr_set(e, -ENOENT, "no vmx binary for build type %s: %s is missing or not "
				"executable (hostd.vmxDir)", buildtype_name(t), out);
	}
	snprintf(out, len, "%s/%s", c->self_dir, bin);
	if (file_executable(out))
		return 0;
	/* Run from the build tree: $(B)/host/hostd next to $(B)/<type>/<binary>. */
	snprintf(out, len, "%s/../%s/%s", c->self_dir, tree_dir[t], bin);
	if (file_executable(out)) {
		char real[PATH_MAX];
		if (realpath(out, real))
			snprintf(out, len, "%s", real);
		return 0;
	}
	return verr_set(e, -ENOENT, "no vmx binary for build type %s: %s/%s is missing "
			"(install it beside hostd or set hostd.vmxDir)", buildtype_name(t),
			c->self_dir, bin);
}

uint64_t vm_reserved_mb(int except_id)
{
	uint64_t sum = 0, mem;

	for (struct hvm *v = g_hostd.vms; v; v = v->next) {
		/* A VM owned by a task (for example suspended in the middle of a
		 * runtime switch) is about to run again: it keeps its reservation. */
		if (v->id == except_id || (v->power != HP_ON && !v->pid && !v->busy_task))
			continue;
		if (vm_read_cfg(v, NULL, &mem, NULL, NULL) < 0)
			mem = 512;
		/* During a fast switch both vmx processes live: both overheads, RAM once. */
		sum += mem + admit_overhead_mb(v->running_bt) + v->ho_extra_mb;
	}
	return sum;
}

/* Last non-empty line of a file (for error messages). */
static void last_line(const char *path, char *out, size_t len)
{
	char *buf = NULL, *end, *start;
	size_t n;

	out[0] = 0;
	if (read_nofollow(path, 1 << 20, &buf, &n) < 0)
		return;
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = 0;
	start = strrchr(buf, '\n');
	snprintf(out, len, "%s", start ? start + 1 : buf);
	free(buf);
}

/* Appends a line in the vmx log's own format, so who-did-what sits with the VM. */
static void vm_log_note(const struct hvm *vm, const char *fmt, ...)
{
	char path[PATH_MAX + 16], msg[768];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/vmx.log", vm->dir);
	/* Never start a log: line 1 of every vmx.log belongs to vmx. */
	if (access(path, F_OK) < 0)
		return;
	/* The VM directory belongs to the vmx user: do not follow a symlink as root. */
	int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	f = fd < 0 ? NULL : fdopen(fd, "a");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ hostd I %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		msg);
	fclose(f);
}

/* Newest crash report in the VM directory younger than since; copied to the state dir. */
static void keep_crash_report(struct hvm *vm, time_t since, char *name, size_t len)
{
	DIR *d = opendir(vm->dir);
	struct dirent *de;
	time_t best = 0;

	name[0] = 0;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX + 300];
		struct stat st;
		if (strncmp(de->d_name, "vmx-crash-", 10) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", vm->dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime >= since &&
		    st.st_mtime >= best) {
			best = st.st_mtime;
			snprintf(name, len, "%s", de->d_name);
		}
	}
	closedir(d);
	if (name[0]) {
		char src[PATH_MAX + 300], dst[PATH_MAX + 300], *buf;
		size_t n;
		snprintf(src, sizeof(src), "%s/%s", vm->dir, name);
		snprintf(dst, sizeof(dst), "%s/crash/vm%d-%s", g_hostd.cfg.state_dir, vm->id, name);
		if (read_nofollow(src, 64 << 20, &buf, &n) == 0) {
			file_write_atomic(dst, buf, n, 0640, NULL);
			free(buf);
		}
	}
}

static int start_op_locked(struct hvm *vm, enum vm_op op, enum buildtype bt,
			   uint64_t revert_after_s, enum switch_method method, const char *user,
			   int *http_status, struct verr *e);

static int vm_set_buildtype(struct hvm *vm, enum buildtype bt, struct verr *e);

/* Which build type's binary (as hostd would pick it) process p runs; false when none. */
static bool bt_of_pid(pid_t p, enum buildtype *out)
{
	char link[64], exe[PATH_MAX], bin[PATH_MAX], real[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)p);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	for (int t = 0; t < BUILDTYPE_COUNT; t++) {
		if (vm_binary((enum buildtype)t, bin, sizeof(bin), NULL) == 0 && realpath(bin, real) &&
		    !strcmp(real, exe)) {
			*out = (enum buildtype)t;
			return true;
		}
	}
	return false;
}

/*
 * The VM's vmx went away: did another vmx take the guest over (a hand-over,
 * from a fast switch in progress or one that a restarted hostd only sees the
 * end of)?  That process answers on the control socket, which it binds once
 * it runs the guest.  Lock held; true when vm->pid is now the successor.
 */
static bool vm_successor(struct hvm *vm, int status)
{
	bool handed = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == VMX_EXIT_HANDEDOVER;
	pid_t old = vm->pid, p = 0;
	json_t *hello = NULL;

	if (!handed && !vm->ho_pid && status >= 0)
		return false;
	/*
	 * The successor binds vmx.ctl right after it says "running", before the
	 * old vmx even exits; a few tries cover a loaded host (the lock is held).
	 */
	for (int i = 0; i < 25 && p <= 0; i++) {
		if (vmctl_call(vm->dir, "hello", NULL, 200, &hello, NULL) == 0) {
			pid_t q = (pid_t)json_integer_value(json_object_get(hello, "pid"));
			if (q > 0 && q != old && kill(q, 0) == 0)
				p = q;
		}
		json_decref(hello);
		hello = NULL;
		if (p <= 0 && (handed || (vm->ho_pid && kill(vm->ho_pid, 0) == 0)))
			usleep(20000);
		else if (p <= 0)
			break;
	}
	if (p <= 0)
		return false;
	char how[80];
	if (status >= 0 && WIFEXITED(status))
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	else if (status >= 0 && WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "ended");
	snprintf(vm->last_exit, sizeof(vm->last_exit), "vmx pid %d: %s (handed over to pid %d)",
		 (int)old, how, (int)p);
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->pid = p;
	vm->pid_start = proc_start_time(p);
	vm->child = p == vm->ho_pid;
	if (!vm->child)
		vm->pidfd = (int)syscall(SYS_pidfd_open, p, 0);
	bool known = true;
	if (p == vm->ho_pid)
		vm->running_bt = vm->ho_bt;
	else
		known = bt_of_pid(p, &vm->running_bt);
	vm->exited = false;
	vm->power = HP_ON;
	vm_save(vm);
	LOG_INF("vm %d: %s", vm->id, vm->last_exit);
	if (!vm->busy_task) {
		/* Nobody is finishing a switch: make the .vmx name what runs. */
		enum buildtype cfg_bt;
		if (known && vm_read_cfg(vm, &cfg_bt, NULL, NULL, NULL) == 0 &&
		    cfg_bt != vm->running_bt)
			vm_set_buildtype(vm, vm->running_bt, NULL);
		db_event("hostd", vm->id, "vmAdopted", "%s", vm->last_exit);
	}
	pthread_cond_broadcast(&g_hostd.cond);
	return true;
}

/*
 * Exit status of an adopted vmx (not our child, so waitpid cannot tell):
 * vmx's last words in vmx.log, "vm stopped: ..., exit status N".  -1 when it
 * wrote none (killed, or crashed hard).
 */
static int vmx_log_exit_status(const struct hvm *vm)
{
	char path[PATH_MAX + 16], *buf, *p;
	size_t n;
	int code = -1;

	snprintf(path, sizeof(path), "%s/vmx.log", vm->dir);
	if (read_nofollow(path, 1 << 20, &buf, &n) < 0)
		return -1;
	p = strstr(buf, "vm stopped: ");
	for (char *q = p; q; q = strstr(q + 1, "vm stopped: "))
		p = q;
	if (p && (p = strstr(p, "exit status ")) && sscanf(p, "exit status %d", &code) == 1 &&
	    code >= 0 && code < 256)
		code = code << 8; /* a wait status with WIFEXITED */
	else
		code = -1;
	free(buf);
	return code;
}

/* Called with the lock held when vm->pid has gone away; status -1 = unknown. */
static void vm_exited(struct hvm *vm, int status)
{
	char why[400] = "", crash[256] = "", sl[PATH_MAX + 32], tail[200];
	bool checkpoint = false;
	pid_t pid = vm->pid;

	if (vm_successor(vm, status))
		return;

	vm_read_cfg(vm, NULL, NULL, &checkpoint, NULL);
	bool unknown = status < 0;
	if (unknown)
		status = vmx_log_exit_status(vm);
	if (status >= 0 && WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		snprintf(sl, sizeof(sl), "%s/" STDIO_LOG, vm->dir);
		switch (code) {
		case VMX_EXIT_OK: snprintf(why, sizeof(why), "exit status 0 (powered off)"); break;
		case VMX_EXIT_SUSPENDED: snprintf(why, sizeof(why), "exit status 3 (suspended)"); break;
		case VMX_EXIT_RESET: snprintf(why, sizeof(why), "exit status 4 (guest reset)"); break;
		case VMX_EXIT_HANDEDOVER:
			snprintf(why, sizeof(why), "exit status 5 (handed over, but no vmx runs the VM)");
			break;
		case VMX_EXIT_PANIC:
			keep_crash_report(vm, time(NULL) - 24 * 3600, crash, sizeof(crash));
			snprintf(why, sizeof(why), "exit status 70 (vmx panic)%s%s",
				 crash[0] ? "; crash report kept: " : "; no crash report", crash);
			break;
		default:
			last_line(sl, tail, sizeof(tail));
			snprintf(why, sizeof(why), "exit status %d (error)%s%s", code,
				 tail[0] ? ": " : "", tail);
		}
	} else if (status >= 0 && WIFSIGNALED(status)) {
		keep_crash_report(vm, time(NULL) - 3600, crash, sizeof(crash));
		snprintf(why, sizeof(why), "killed by signal %d (%s)%s%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), crash[0] ? "; crash report kept: " : "", crash);
	} else {
		snprintf(why, sizeof(why), "ended without logging an exit status (killed or "
			 "crashed)%s", checkpoint ? "; checkpoint present" : "");
	}
	if (unknown)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), " [adopted: from vmx.log]");
	snprintf(vm->last_exit, sizeof(vm->last_exit), "vmx pid %d: %s", (int)pid, why);
	vm->pid = 0;
	vm->pid_start = 0;
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->exited = true;
	vm->exit_status = status;
	vm->power = checkpoint ? HP_SUSPENDED : HP_OFF;
	vm_save(vm);
	/*
	 * A crash is recorded also while a task expects an exit (a vmx killed in
	 * the middle of a suspend), but not the SIGKILL of hostd's own hard stop.
	 */
	bool crashed = !vm->hard_killed && (status < 0 || WIFSIGNALED(status) ||
		(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
		 WEXITSTATUS(status) != VMX_EXIT_SUSPENDED && WEXITSTATUS(status) != VMX_EXIT_RESET));
	vm->hard_killed = false;
	if (vm->stopping && crashed)
		db_event("hostd", vm->id, "vmCrashed", "%s", vm->last_exit);
	if (!vm->stopping) {
		db_event("hostd", vm->id, crashed ? "vmCrashed" : "vmExited", "%s", vm->last_exit);
		if (vm->recover_resume && vm->power == HP_SUSPENDED && !vm->busy_task) {
			int http;
			struct verr e = { "" };
			vm->recover_resume = false;
			/* Finish what an interrupted runtime switch started. */
			if (start_op_locked(vm, OP_RESUME, BUILDTYPE_DEFAULT, 0, SWITCH_FAST, "hostd (recovery)", &http,
					    &e) < 0)
				db_event("hostd", vm->id, "recoveryFailed", "resume: %s", e.msg);
		} else if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == VMX_EXIT_RESET &&
		    !vm->busy_task) {
			int http;
			/* The board could not reset in place: power the VM on again. */
			start_op_locked(vm, OP_POWERON, BUILDTYPE_DEFAULT, 0, SWITCH_FAST, "hostd", &http, NULL);
		}
	}
	pthread_cond_broadcast(&g_hostd.cond);
}

static void supervise_once(void)
{
	time_t now = time(NULL);

	for (struct hvm *v = g_hostd.vms; v; v = v->next) {
		if (v->pid > 0) {
			int st = -1;
			bool gone = false;
			if (v->child) {
				pid_t r = waitpid(v->pid, &st, WNOHANG);
				gone = r == v->pid || (r < 0 && errno == ECHILD);
				if (r < 0)
					st = -1;
			} else if (v->pidfd >= 0) {
				struct pollfd p = { .fd = v->pidfd, .events = POLLIN };
				gone = poll(&p, 1, 0) > 0;
			} else {
				gone = kill(v->pid, 0) < 0 && errno == ESRCH;
			}
			if (gone)
				vm_exited(v, st);
		}
		if (v->revert_at && now >= v->revert_at && !v->busy_task) {
			int http;
			struct verr e = { "" };
			if (start_op_locked(v, OP_BUILDTYPE, BUILDTYPE_DEFAULT, 0, SWITCH_FAST, "hostd (revertAfter)",
					    &http, &e) < 0) {
				db_event("hostd", v->id, "revertFailed", "revertAfter: %s", e.msg);
				v->revert_at = 0;
				vm_save(v);
			}
		}
	}
}

static void *supervisor_main(void *arg)
{
	(void)arg;
	log_set_thread_name("supervisor");
	while (!g_hostd.stop) {
		hostd_lock();
		supervise_once();
		hostd_unlock();
		usleep(50 * 1000);
	}
	return NULL;
}

int vm_supervisor_start(void)
{
	int rc = pthread_create(&g_supervisor, NULL, supervisor_main, NULL);
	g_supervisor_running = rc == 0;
	return -rc;
}

void vm_supervisor_stop(void)
{
	g_hostd.stop = 1;
	if (g_supervisor_running)
		pthread_join(g_supervisor, NULL);
	g_supervisor_running = false;
}

/* Waits (lock not held) until the VM's vmx is gone; true when it is. */
static bool wait_exit(struct hvm *vm, uint64_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	bool gone;

	hostd_lock();
	while (vm->pid && now_ms() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&g_hostd.cond, &g_hostd.lock, &ts);
	}
	gone = vm->pid == 0;
	hostd_unlock();
	return gone;
}

static pid_t vm_pid(struct hvm *vm)
{
	pid_t p;
	hostd_lock();
	p = vm->pid;
	hostd_unlock();
	return p;
}

/*
 * Spawns the vmx binary for the VM's configured build type and waits until
 * its control socket answers with the new pid.
 */
int vm_spawn(struct hvm *vm, const char *bin, const char *const *args,
	     const struct privdrop_fds *f, pid_t *pid, struct verr *e)
{
	char out[PATH_MAX + 32];
	int rc;

	/* vmx's stdio log: never through a symlink the vmx user may have planted. */
	snprintf(out, sizeof(out), "%s/" STDIO_LOG, vm->dir);
	int out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (out_fd < 0)
		return verr_set(e, -errno, "%s: %s", out, strerror(errno));
	*pid = privdrop_spawn(&g_hostd.cfg, bin, args, vm->path, f, out_fd, &rc);
	close(out_fd);
	if (*pid < 0)
		return verr_set(e, -rc, "cannot start %s: %s", bin, strerror(rc));
	return 0;
}

static int vm_launch(struct hvm *vm, struct verr *e)
{
	struct privdrop_fds fds;
	char bin[PATH_MAX];
	enum buildtype bt;
	uint64_t deadline;
	pid_t pid;
	int rc;

	rc = vm_read_cfg(vm, &bt, NULL, NULL, e);
	if (rc == 0)
		rc = confine_vm_file(&g_hostd.cfg, vm->file, e);
	if (rc < 0)
		return rc;
	rc = vm_binary(bt, bin, sizeof(bin), e);
	if (rc < 0)
		return rc;
	vmdir_clean_stale(&g_hostd.cfg, vm->file);
	rc = privdrop_prepare_vm(&g_hostd.cfg, vm->file, &fds, e);
	if (rc < 0)
		return rc;
	hostd_lock();
	rc = vm_spawn(vm, bin, NULL, &fds, &pid, e);
	privdrop_fds_close(&fds);
	if (rc == 0) {
		vm->pid = pid;
		vm->child = true;
		vm->pidfd = -1;
		vm->exited = false;
		vm->pid_start = proc_start_time(pid);
		vm->running_bt = bt;
		vm->power = HP_ON;
		vm_save(vm);
	}
	hostd_unlock();
	if (rc < 0)
		return rc;
	LOG_INF("vm %d: started %s (pid %d) on %s", vm->id, bin, (int)pid, vm->path);

	deadline = now_ms() + g_hostd.cfg.launch_timeout_s * 1000;
	for (;;) {
		json_t *reply = NULL;
		hostd_lock();
		if (vm->exited || vm->pid != pid) {
			char why[600];
			snprintf(why, sizeof(why), "%s", vm->last_exit);
			hostd_unlock();
			return verr_set(e, -ECHILD, "%s did not start: %s", buildtype_binary(bt), why);
		}
		hostd_unlock();
		if (vmctl_call(vm->dir, "hello", NULL, 500, &reply, NULL) == 0 &&
		    json_integer_value(json_object_get(reply, "pid")) == pid) {
			json_decref(reply);
			return 0;
		}
		json_decref(reply);
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			return verr_set(e, -ETIMEDOUT, "%s (pid %d) did not answer on its control socket "
					"within %llu s; killed", buildtype_binary(bt), (int)pid,
					(unsigned long long)g_hostd.cfg.launch_timeout_s);
		}
		usleep(20 * 1000);
	}
}

/* Hard stop: control-socket poweroff, then SIGKILL. */
static int vm_hard_stop(struct hvm *vm, struct verr *e)
{
	json_t *reply = NULL;
	pid_t pid = vm_pid(vm);

	if (!pid)
		return 0;
	vmctl_call(vm->dir, "poweroff", NULL, 2000, &reply, NULL);
	json_decref(reply);
	if (wait_exit(vm, HARD_STOP_MS))
		return 0;
	LOG_WRN("vm %d: vmx pid %d ignored poweroff; killing it", vm->id, (int)pid);
	hostd_lock();
	vm->hard_killed = true;
	hostd_unlock();
	kill(pid, SIGKILL);
	if (wait_exit(vm, HARD_STOP_MS))
		return 0;
	return verr_set(e, -ETIMEDOUT, "vmx pid %d did not exit after SIGKILL", (int)pid);
}

/*
 * Suspends a running VM: asks vmx to save its checkpoint, reports progress,
 * and waits for vmx to exit.  Records the "stop" and "save" phases.  On any
 * failure before vmx exits the VM keeps running.
 */
static int vm_do_suspend(struct hvm *vm, int task, uint64_t *downtime, struct verr *e)
{
	uint64_t t0 = now_ms(), t_save = 0, deadline = t0 + SUSPEND_MAX_MS;
	json_t *reply = NULL;
	bool checkpoint = false;
	int rc;

	task_progress(task, 5, "suspending");
	rc = vmctl_call(vm->dir, "suspend", NULL, 5000, &reply, e);
	json_decref(reply);
	if (rc < 0)
		return verr_prefix(e, rc, "suspend");
	for (;;) {
		const char *state;
		if (!vm_pid(vm))
			break;
		if (now_ms() > deadline) {
			vmctl_call(vm->dir, "suspendCancel", NULL, 2000, &reply, NULL);
			json_decref(reply);
			return verr_set(e, -ETIMEDOUT, "suspend did not finish within %d s; cancelled",
					SUSPEND_MAX_MS / 1000);
		}
		reply = NULL;
		if (vmctl_call(vm->dir, "suspendStatus", NULL, 2000, &reply, NULL) < 0) {
			json_decref(reply);
			usleep(20 * 1000); /* vmx is closing its socket on the way out */
			continue;
		}
		state = json_string_value(json_object_get(reply, "state"));
		json_int_t w = json_integer_value(json_object_get(reply, "bytesWritten"));
		json_int_t t = json_integer_value(json_object_get(reply, "bytesTotal"));
		if (!t_save && (w > 0 || (state && strcmp(state, "running") != 0))) {
			t_save = now_ms();
			task_phase(task, "stop", t_save - t0);
		}
		if (state && (!strcmp(state, "failed") || !strcmp(state, "cancelled"))) {
			const char *msg = json_string_value(json_object_get(reply, "error"));
			rc = verr_set(e, -EIO, "suspend %s: %s; the VM keeps running", state,
				      msg ? msg : "no reason given");
			json_decref(reply);
			return rc;
		}
		if (t > 0)
			task_progress(task, 5 + (int)(40 * w / t), "saving");
		bool done = state && !strcmp(state, "done");
		json_decref(reply);
		if (done)
			break;
		usleep(20 * 1000);
	}
	if (!wait_exit(vm, 60000))
		return verr_set(e, -ETIMEDOUT, "vmx did not exit within 60 s after saving its checkpoint");
	if (!t_save) {
		t_save = now_ms();
		task_phase(task, "stop", t_save - t0);
	}
	task_phase(task, "save", now_ms() - t_save);
	*downtime += now_ms() - t0;
	hostd_lock();
	checkpoint = vm->power == HP_SUSPENDED;
	int st = vm->exit_status;
	hostd_unlock();
	if (!checkpoint)
		return verr_set(e, -EIO, "vmx exited (%s) without a valid checkpoint",
				st >= 0 && WIFEXITED(st) ? "status not 3" : "abnormally");
	return 0;
}

/* After a launch from a checkpoint: "load" until poweredOn, "resume" until vmx drops it. */
static void vm_wait_resumed(struct hvm *vm, int task, uint64_t *downtime)
{
	uint64_t t0 = now_ms(), deadline = t0 + 120000, t1;
	bool checkpoint = true;

	while (now_ms() < deadline && vm_pid(vm)) {
		json_t *reply = NULL;
		const char *ps = NULL;
		if (vmctl_call(vm->dir, "status", NULL, 2000, &reply, NULL) == 0)
			ps = json_string_value(json_object_get(reply, "powerState"));
		bool on = ps && !strcmp(ps, "poweredOn");
		json_decref(reply);
		if (on)
			break;
		usleep(20 * 1000);
	}
	t1 = now_ms();
	task_phase(task, "load", t1 - t0);
	while (now_ms() < deadline && vm_pid(vm)) {
		if (vm_read_cfg(vm, NULL, NULL, &checkpoint, NULL) == 0 && !checkpoint)
			break;
		usleep(20 * 1000);
	}
	task_phase(task, "resume", now_ms() - t1);
	*downtime += now_ms() - t0;
}

static int vm_set_buildtype(struct hvm *vm, enum buildtype bt, struct verr *e)
{
	struct cfg *c;
	int rc = cfg_load(vm->path, &c, e);

	if (rc < 0)
		return rc;
	rc = cfg_set(c, BUILDTYPE_KEY, buildtype_name(bt));
	if (rc == 0)
		rc = cfg_save(c, vm->path, e);
	else
		verr_set(e, rc, "%s: cannot set %s", vm->path, BUILDTYPE_KEY);
	cfg_free(c);
	return rc;
}

static int op_buildtype(struct hvm *vm, struct op_ctx *o, json_t *res, struct verr *e)
{
	enum buildtype old;
	enum hpower power;
	uint64_t downtime = 0, t;
	char bin[PATH_MAX];
	int rc;

	rc = vm_read_cfg(vm, &old, NULL, NULL, e);
	if (rc < 0)
		return rc;
	hostd_lock();
	power = vm->power;
	hostd_unlock();
	json_object_set_new(res, "from", json_string(buildtype_name(old)));
	json_object_set_new(res, "to", json_string(buildtype_name(o->bt)));
	json_object_set_new(res, "powerState", json_string(hpower_name(power)));
	if (power != HP_ON) {
		t = now_ms();
		task_progress(o->task, 50, "reconfiguring");
		rc = vm_set_buildtype(vm, o->bt, e);
		if (rc < 0)
			return rc;
		task_phase(o->task, "reconfigure", now_ms() - t);
	} else {
		pid_t oldpid = vm_pid(vm);
		rc = vm_binary(o->bt, bin, sizeof(bin), e);
		if (rc < 0)
			return rc;
		json_object_set_new(res, "oldPid", json_integer(oldpid));
		if (o->method == SWITCH_FAST) {
			struct verr fe = { "" };
			uint64_t tf = now_ms();
			rc = fastswitch_run(vm, o->task, o->bt, bin, res, &fe);
			if (rc == 0) {
				json_object_set_new(res, "method", json_string("fast"));
				t = now_ms();
				task_progress(o->task, 90, "reconfiguring");
				rc = vm_set_buildtype(vm, o->bt, e);
				if (rc < 0)
					return verr_prefix(e, rc, "the VM runs build type %s (pid %d)",
							   buildtype_name(o->bt), (int)vm_pid(vm));
				task_phase(o->task, "reconfigure", now_ms() - t);
				json_object_set_new(res, "pid", json_integer(vm_pid(vm)));
				json_object_set_new(res, "binary", json_string(bin));
				goto done;
			}
			if (rc != -EAGAIN)
				return verr_set(e, rc, "%s", fe.msg);
			/* The old vmx still runs the guest: take the slow, sure way. */
			snprintf(o->fallback, sizeof(o->fallback), "%.500s", fe.msg);
			task_phase(o->task, "fastAttempt", now_ms() - tf);
			LOG_WRN("vm %d: fast switch not possible, suspending and resuming instead: %s",
				vm->id, fe.msg);
		}
		json_object_set_new(res, "method", json_string("suspend"));
		if (o->fallback[0])
			json_object_set_new(res, "fallbackReason", json_string(o->fallback));
		hostd_lock();
		vm->stopping = true;
		hostd_unlock();
		rc = vm_do_suspend(vm, o->task, &downtime, e);
		hostd_lock();
		vm->stopping = false;
		hostd_unlock();
		if (rc < 0)
			return rc;
		t = now_ms();
		task_progress(o->task, 50, "reconfiguring");
		rc = vm_set_buildtype(vm, o->bt, e);
		if (rc < 0)
			return verr_prefix(e, rc, "the VM is suspended with a valid checkpoint");
		task_phase(o->task, "reconfigure", now_ms() - t);
		downtime += now_ms() - t;
		task_progress(o->task, 60, "launching");
		t = now_ms();
		rc = vm_launch(vm, e);
		if (rc < 0) {
			struct verr e2 = { "" };
			/* Put the VM back as it was rather than leave it down. */
			LOG_WRN("vm %d: new vmx failed (%s); resuming with %s", vm->id, e->msg,
				buildtype_name(old));
			if (vm_set_buildtype(vm, old, &e2) == 0 && vm_launch(vm, &e2) == 0)
				return verr_prefix(e, rc, "resumed with build type %s instead",
						   buildtype_name(old));
			return verr_prefix(e, rc, "VM left suspended (%s)", e2.msg);
		}
		task_phase(o->task, "launch", now_ms() - t);
		downtime += now_ms() - t;
		task_progress(o->task, 80, "resuming");
		vm_wait_resumed(vm, o->task, &downtime);
		json_object_set_new(res, "pid", json_integer(vm_pid(vm)));
		json_object_set_new(res, "binary", json_string(bin));
		json_object_set_new(res, "downtimeMs", json_integer((json_int_t)downtime));
	}
done:
	vm_log_note(vm, "vmx.buildType changed from %s to %s by user %s (hostd task %d%s%s)",
		    buildtype_name(old), buildtype_name(o->bt), o->user, o->task,
		    power == HP_ON ? ", method " : "",
		    power != HP_ON ? "" : json_string_value(json_object_get(res, "method")));
	hostd_lock();
	if (o->bt != BUILDTYPE_DEFAULT && o->revert_after_s)
		vm->revert_at = time(NULL) + (int64_t)o->revert_after_s;
	else
		vm->revert_at = 0;
	vm_save(vm);
	if (vm->revert_at)
		json_object_set_new(res, "revertAt", json_integer(vm->revert_at));
	hostd_unlock();
	db_event(o->user, vm->id, "buildTypeChanged", "vmx.buildType %s -> %s (%s)%s",
		 buildtype_name(old), buildtype_name(o->bt), hpower_name(power),
		 o->revert_after_s && o->bt != BUILDTYPE_DEFAULT ? ", revertAfter set" : "");
	return 0;
}

static void *op_thread(void *arg)
{
	struct op_ctx *o = arg;
	struct verr e = { "" };
	json_t *res = json_object();
	struct hvm *vm;
	uint64_t downtime = 0;
	int rc = 0;

	log_set_thread_name("task");
	hostd_lock();
	vm = vm_find(o->vm_id);
	hostd_unlock();
	switch (o->op) {
	case OP_POWERON:
	case OP_RESUME: {
		bool was_suspended = false;
		vm_read_cfg(vm, NULL, NULL, &was_suspended, NULL);
		uint64_t t = now_ms();
		task_progress(o->task, 10, "launching");
		rc = vm_launch(vm, &e);
		if (rc == 0) {
			task_phase(o->task, "launch", now_ms() - t);
			if (was_suspended)
				vm_wait_resumed(vm, o->task, &downtime);
		}
		break;
	}
	case OP_POWEROFF: {
		json_t *reply = NULL;
		hostd_lock();
		vm->stopping = true;
		hostd_unlock();
		task_progress(o->task, 10, "asking the guest to power off");
		if (vmctl_call(vm->dir, "shutdown", NULL, 2000, &reply, &e) == 0 &&
		    wait_exit(vm, g_hostd.cfg.shutdown_timeout_s * 1000)) {
			json_object_set_new(res, "graceful", json_true());
		} else {
			json_object_set_new(res, "graceful", json_false());
			json_object_set_new(res, "note", json_string(e.msg[0] ? e.msg :
				"the guest did not power off in time; powered off hard"));
			e.msg[0] = 0;
			rc = vm_hard_stop(vm, &e);
		}
		json_decref(reply);
		break;
	}
	case OP_HARDOFF:
	case OP_RESET:
		hostd_lock();
		vm->stopping = true;
		hostd_unlock();
		rc = vm_hard_stop(vm, &e);
		if (rc == 0 && o->op == OP_RESET) {
			hostd_lock();
			vm->stopping = false;
			hostd_unlock();
			rc = vm_launch(vm, &e);
		}
		break;
	case OP_SUSPEND:
		hostd_lock();
		vm->stopping = true;
		hostd_unlock();
		rc = vm_do_suspend(vm, o->task, &downtime, &e);
		break;
	case OP_BUILDTYPE:
		rc = op_buildtype(vm, o, res, &e);
		break;
	}
	hostd_lock();
	vm->stopping = false;
	vm->busy_task = 0;
	json_object_set_new(res, "powerState", json_string(hpower_name(vm->power)));
	if (vm->pid)
		json_object_set_new(res, "pid", json_integer(vm->pid));
	pthread_cond_broadcast(&g_hostd.cond);
	hostd_unlock();
	if (rc < 0) {
		db_event(o->user, o->vm_id, "taskFailed", "%s: %s", op_names[o->op], e.msg);
		task_finish(o->task, res, e.msg);
	} else {
		if (o->op != OP_BUILDTYPE)
			db_event(o->user, o->vm_id, op_names[o->op], "%s done", op_names[o->op]);
		task_finish(o->task, res, NULL);
	}
	free(o);
	return NULL;
}

static int start_op_locked(struct hvm *vm, enum vm_op op, enum buildtype bt,
			   uint64_t revert_after_s, enum switch_method method, const char *user,
			   int *http_status, struct verr *e)
{
	char fallback[600] = "";
	enum buildtype cur;
	uint64_t mem;
	char msg[300], bin[PATH_MAX];
	struct op_ctx *o;
	pthread_t th;
	int rc;

	*http_status = 409;
	if (vm->busy_task)
		return verr_set(e, -EBUSY, "VM %d is busy with task %d; try again when it has finished",
				vm->id, vm->busy_task);
	switch (op) {
	case OP_POWERON:
		if (vm->power == HP_ON)
			return verr_set(e, -EALREADY, "VM %d is already powered on", vm->id);
		break;
	case OP_RESUME:
		if (vm->power != HP_SUSPENDED)
			return verr_set(e, -EINVAL, "VM %d is %s, not suspended", vm->id,
					hpower_name(vm->power));
		break;
	case OP_BUILDTYPE:
		break;
	default:
		if (vm->power != HP_ON)
			return verr_set(e, -EINVAL, "VM %d is %s", vm->id, hpower_name(vm->power));
	}
	*http_status = 500;
	rc = vm_read_cfg(vm, &cur, &mem, NULL, e);
	if (rc < 0)
		return rc;
	/* Admission and binary checks come before anything is touched. */
	if (op == OP_POWERON || op == OP_RESUME || (op == OP_BUILDTYPE && vm->power == HP_ON)) {
		enum buildtype want = op == OP_BUILDTYPE ? bt : cur;
		*http_status = 409;
		/* The .vmx may have been edited on disk since it was registered. */
		rc = confine_vm_file(&g_hostd.cfg, vm->file, e);
		if (rc < 0)
			return rc;
		rc = vm_binary(want, bin, sizeof(bin), e);
		if (rc < 0)
			return rc;
		if (op == OP_BUILDTYPE && method == SWITCH_FAST) {
			/* Both vmx processes live for a moment: RAM once (shared), both overheads. */
			uint64_t two = mem + admit_overhead_mb(vm->running_bt) + admit_overhead_mb(want);
			if (admit_check(g_hostd.cfg.mem_capacity_mb, vm_reserved_mb(vm->id), two, msg,
					sizeof(msg)) < 0) {
				snprintf(fallback, sizeof(fallback), "admission control cannot hold two vmx "
					 "processes: %s (memSize %llu MiB + %llu MiB %s overhead + %llu MiB "
					 "%s overhead)", msg, (unsigned long long)mem,
					 (unsigned long long)admit_overhead_mb(vm->running_bt),
					 buildtype_name(vm->running_bt),
					 (unsigned long long)admit_overhead_mb(want), buildtype_name(want));
				method = SWITCH_SUSPEND;
			}
		}
		rc = admit_check(g_hostd.cfg.mem_capacity_mb, vm_reserved_mb(vm->id),
				 mem + admit_overhead_mb(want), msg, sizeof(msg));
		if (rc < 0)
			return verr_set(e, rc, "admission control refused: %s (memSize %llu MiB + "
					"%llu MiB %s overhead)", msg, (unsigned long long)mem,
					(unsigned long long)admit_overhead_mb(want), buildtype_name(want));
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return verr_set(e, -ENOMEM, "out of memory");
	o->vm_id = vm->id;
	o->op = op;
	o->bt = bt;
	o->revert_after_s = revert_after_s;
	o->method = method;
	snprintf(o->fallback, sizeof(o->fallback), "%s", fallback);
	snprintf(o->user, sizeof(o->user), "%s", user);
	json_t *params = json_pack("{s:s, s:s}", "vm", vm->file, "powerState", hpower_name(vm->power));
	if (op == OP_BUILDTYPE) {
		json_object_set_new(params, "buildType", json_string(buildtype_name(bt)));
		json_object_set_new(params, "revertAfterSeconds", json_integer((json_int_t)revert_after_s));
		if (vm->power == HP_ON)
			json_object_set_new(params, "method", json_string(switch_method_name(method)));
	}
	o->task = task_new(vm->id, op_names[op], user, params);
	if (o->task < 0) {
		free(o);
		return verr_set(e, -EIO, "cannot record the task");
	}
	vm->busy_task = o->task;
	if (pthread_create(&th, NULL, op_thread, o) != 0) {
		vm->busy_task = 0;
		task_finish(o->task, NULL, "cannot start a thread");
		free(o);
		return verr_set(e, -EAGAIN, "cannot start a thread");
	}
	pthread_detach(th);
	*http_status = 202;
	return o->task;
}

int vm_start_op(int id, enum vm_op op, enum buildtype bt, uint64_t revert_after_s,
		enum switch_method method, const char *user, int *http_status, struct verr *e)
{
	struct hvm *vm;
	int rc;

	hostd_lock();
	vm = vm_find(id);
	if (!vm) {
		hostd_unlock();
		*http_status = 404;
		return verr_set(e, -ENOENT, "vm: no VM with id %d", id);
	}
	rc = start_op_locked(vm, op, bt, revert_after_s, method, user, http_status, e);
	hostd_unlock();
	return rc;
}

json_t *vm_json(struct hvm *vm)
{
	enum buildtype bt = BUILDTYPE_DEFAULT;
	uint64_t mem = 0;
	struct verr e = { "" };
	json_t *j;

	int rc = vm_read_cfg(vm, &bt, &mem, NULL, &e);
	j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I}", "id", vm->id, "name", vm->name, "file",
		      vm->file, "path", vm->path, "powerState", hpower_name(vm->power), "buildType",
		      rc < 0 ? "unknown" : buildtype_name(bt), "memSizeMB", (json_int_t)mem);
	if (rc < 0)
		json_object_set_new(j, "configError", json_string(e.msg));
	if (vm->pid) {
		json_object_set_new(j, "pid", json_integer(vm->pid));
		json_object_set_new(j, "runningBuildType", json_string(buildtype_name(vm->running_bt)));
		json_object_set_new(j, "binary", json_string(buildtype_binary(vm->running_bt)));
	}
	if (vm->busy_task)
		json_object_set_new(j, "busyTask", json_integer(vm->busy_task));
	if (vm->revert_at) {
		int64_t left = vm->revert_at - time(NULL);
		json_object_set_new(j, "pendingRevert",
				    json_pack("{s:s, s:I, s:I}", "buildType", "default", "at",
					      (json_int_t)vm->revert_at, "inSeconds",
					      (json_int_t)(left > 0 ? left : 0)));
	}
	if (vm->last_exit[0])
		json_object_set_new(j, "lastExit", json_string(vm->last_exit));
	return j;
}

static struct hvm *vm_alloc(int id, const char *name, const char *file, const char *path)
{
	struct hvm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->id = id;
	vm->pidfd = -1;
	vm->exit_status = -1;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->file, sizeof(vm->file), "%s", file);
	snprintf(vm->path, sizeof(vm->path), "%s", path);
	file_dirname(vm->path, vm->dir, sizeof(vm->dir));
	return vm;
}

static void vm_append(struct hvm *vm)
{
	struct hvm **pp = &g_hostd.vms;
	while (*pp)
		pp = &(*pp)->next;
	*pp = vm;
}

/* Takes over a running vmx that hostd did not start (or started before a restart). */
static bool vm_adopt(struct hvm *vm, pid_t pid, uint64_t start)
{
	json_t *reply = NULL;
	int fd;

	if (pid <= 0 || proc_start_time(pid) != start || start == 0)
		return false;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return false;
	if (vmctl_call(vm->dir, "hello", NULL, 2000, &reply, NULL) == 0) {
		enum buildtype bt;
		const char *name = json_string_value(json_object_get(reply, "buildType"));
		for (int t = 0; t < BUILDTYPE_COUNT; t++)
			if (name && !strcmp(buildtype_compiled_name((enum buildtype)t), name))
				vm->running_bt = (enum buildtype)t;
		(void)bt;
	}
	json_decref(reply);
	vm->pid = pid;
	vm->pid_start = start;
	vm->pidfd = fd;
	vm->child = false;
	vm->power = HP_ON;
	return true;
}

int vm_register(const char *file, const char *name, const char *user, struct verr *e)
{
	char abs[PATH_MAX], nm[128];
	struct cfg *c;
	struct hvm *vm;
	bool checkpoint = false;
	int rc, id;

	rc = ds_resolve(&g_hostd.cfg, file, abs, sizeof(abs), e);
	if (rc < 0)
		return rc;
	if (access(abs, R_OK) < 0)
		return verr_set(e, -ENOENT, "file: \"%s\": %s", file, strerror(errno));
	rc = cfg_load(abs, &c, e);
	if (rc < 0)
		return verr_prefix(e, rc, "file");
	if (name && *name) {
		rc = vmcfg_check_name("name", name, e);
		snprintf(nm, sizeof(nm), "%s", name);
	} else if (cfg_get(c, "displayName")) {
		rc = vmcfg_check_name("displayName", cfg_get(c, "displayName"), e);
		snprintf(nm, sizeof(nm), "%s", cfg_get(c, "displayName"));
	} else {
		const char *b = strrchr(abs, '/') + 1;
		if (strlen(b) - 4 > HOSTD_NAME_MAX)
			rc = verr_set(e, -EINVAL, "file: the file name makes a VM name longer than %d "
				      "bytes; set displayName or give a name", HOSTD_NAME_MAX);
		snprintf(nm, sizeof(nm), "%.*s", (int)(strlen(b) - 4), b);
	}
	cfg_free(c);
	/* Every file the .vmx names must be in a datastore or an image directory. */
	if (rc == 0)
		rc = confine_vm_file(&g_hostd.cfg, file, e);
	if (rc < 0)
		return rc;
	hostd_lock();
	for (struct hvm *v = g_hostd.vms; v; v = v->next)
		if (!strcmp(v->path, abs)) {
			hostd_unlock();
			return verr_set(e, -EEXIST, "file: \"%s\" is already registered as VM %d", file,
					v->id);
		}
	const char *p[] = { nm, file, abs };
	if (db_exec("INSERT INTO vms(name,file,path) VALUES(?,?,?)", 3, p) < 0) {
		hostd_unlock();
		return verr_set(e, -EIO, "cannot record the VM");
	}
	id = (int)db_last_id();
	vm = vm_alloc(id, nm, file, abs);
	if (!vm) {
		hostd_unlock();
		return verr_set(e, -ENOMEM, "out of memory");
	}
	vm_read_cfg(vm, &vm->running_bt, NULL, &checkpoint, NULL);
	vm->power = checkpoint ? HP_SUSPENDED : HP_OFF;
	vm_save(vm);
	vm_append(vm);
	hostd_unlock();
	db_event(user, id, "vmRegistered", "registered %s as \"%s\"", file, nm);
	return id;
}

static bool key_ok(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '.' || *k == '_' || *k == '-'))
			return false;
	return true;
}

int vm_create(const char *file, json_t *config, const char *user, struct verr *e)
{
	char abs[PATH_MAX], dsname[64], reldir[PATH_MAX], target[64 + NAME_MAX];
	const struct hostd_ds *ds;
	const char *key, *rel, *slash;
	struct cfg *c;
	json_t *val;
	int rc, rootfd, dirfd;

	rc = ds_resolve(&g_hostd.cfg, file, abs, sizeof(abs), e);
	if (rc < 0)
		return rc;
	if (access(abs, F_OK) == 0)
		return verr_set(e, -EEXIST, "file: \"%s\" already exists", file);
	if (config && !json_is_object(config))
		return verr_set(e, -EINVAL, "config: must be an object of key: value");
	c = cfg_new(abs);
	if (!c)
		return verr_set(e, -ENOMEM, "out of memory");
	cfg_set(c, "memSize", "512");
	cfg_set(c, "numvcpus", "1");
	cfg_set(c, BUILDTYPE_KEY, "default");
	json_object_foreach(config, key, val) {
		char s[PATH_MAX];
		if (!key_ok(key)) {
			cfg_free(c);
			return verr_set(e, -EINVAL, "config.%s: keys are letters, digits, '.', '_', '-'; "
					"values are one-line strings or integers", key);
		}
		rc = vmcfg_value(key, val, s, sizeof(s), e);
		if (rc < 0) {
			cfg_free(c);
			return rc;
		}
		cfg_set(c, key, s);
	}
	/* Files the new .vmx names: checked before anything is created. */
	ds_split(file, dsname, sizeof(dsname), &rel);
	ds = ds_find(&g_hostd.cfg, dsname);
	slash = strrchr(rel, '/');
	snprintf(reldir, sizeof(reldir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	rc = confine_vmx(&g_hostd.cfg, c, dsname, reldir, e);
	if (rc < 0) {
		cfg_free(c);
		return rc;
	}
	/* Directories are made beneath the datastore, never through a symlink out of it. */
	rootfd = confine_root_open(ds->path);
	dirfd = rootfd < 0 ? rootfd : confine_mkdirs(rootfd, reldir, 0755);
	if (rootfd >= 0)
		close(rootfd);
	if (dirfd < 0) {
		cfg_free(c);
		return verr_set(e, dirfd == -EXDEV ? -EINVAL : dirfd, "file: \"%s\": %s", file,
				dirfd == -EXDEV ? "leads outside the datastore" : strerror(-dirfd));
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d/%s", dirfd, slash ? slash + 1 : rel);
	rc = cfg_save(c, target, e);
	close(dirfd);
	cfg_free(c);
	if (rc < 0)
		return rc;
	db_event(user, 0, "vmCreated", "created %s", file);
	return vm_register(file, NULL, user, e);
}

int vm_unregister(int id, const char *user, struct verr *e)
{
	struct hvm **pp, *vm = NULL;
	char ids[24];

	hostd_lock();
	for (pp = &g_hostd.vms; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			vm = *pp;
			break;
		}
	if (!vm) {
		hostd_unlock();
		return verr_set(e, -ENOENT, "vm: no VM with id %d", id);
	}
	if (vm->busy_task || vm->pid) {
		hostd_unlock();
		return verr_set(e, -EBUSY, "VM %d is %s; power it off first", id,
				vm->busy_task ? "busy" : "running");
	}
	*pp = vm->next;
	snprintf(ids, sizeof(ids), "%d", id);
	const char *p[] = { ids };
	db_exec("DELETE FROM vms WHERE id=?", 1, p);
	hostd_unlock();
	db_event(user, id, "vmUnregistered", "unregistered %s", vm->file);
	free(vm);
	return 0;
}

int vm_restore(struct verr *e)
{
	json_t *rows = db_query("SELECT * FROM vms ORDER BY id", 0, NULL), *row, *tasks, *t;
	size_t i;

	hostd_lock();
	json_array_foreach(rows, i, row) {
		struct hvm *vm = vm_alloc((int)json_integer_value(json_object_get(row, "id")),
					  json_string_value(json_object_get(row, "name")),
					  json_string_value(json_object_get(row, "file")),
					  json_string_value(json_object_get(row, "path")));
		pid_t pid = (pid_t)json_integer_value(json_object_get(row, "pid"));
		uint64_t start = (uint64_t)json_integer_value(json_object_get(row, "pid_start"));
		bool checkpoint = false;
		if (!vm)
			break;
		buildtype_parse(json_string_value(json_object_get(row, "running_bt")), &vm->running_bt);
		vm->revert_at = json_integer_value(json_object_get(row, "revert_at"));
		snprintf(vm->last_exit, sizeof(vm->last_exit), "%s",
			 json_string_value(json_object_get(row, "last_exit")) ?: "");
		json_t *hello = NULL;
		pid_t ctl_pid = 0;
		/* A vmx the database does not know (hostd died right after spawning it) still answers. */
		if (!(pid && proc_start_time(pid) == start) &&
		    vmctl_call(vm->dir, "hello", NULL, 1000, &hello, NULL) == 0) {
			ctl_pid = (pid_t)json_integer_value(json_object_get(hello, "pid"));
			if (ctl_pid > 0) {
				pid = ctl_pid;
				start = proc_start_time(pid);
			}
		}
		json_decref(hello);
		if (pid && vm_adopt(vm, pid, start)) {
			LOG_INF("vm %d: adopted running vmx pid %d", vm->id, (int)pid);
			db_event("hostd", vm->id, "vmAdopted", "adopted running vmx pid %d%s", (int)pid,
				 ctl_pid ? " (found through its control socket)" : "");
		} else {
			vmdir_clean_stale(&g_hostd.cfg, vm->file);
			vm_read_cfg(vm, NULL, NULL, &checkpoint, NULL);
			vm->power = checkpoint ? HP_SUSPENDED : HP_OFF;
			if (pid) {
				snprintf(vm->last_exit, sizeof(vm->last_exit),
					 "vmx pid %d ended while hostd was not running%s", (int)pid,
					 checkpoint ? "; checkpoint present" : "");
				db_event("hostd", vm->id, "vmExited", "%s", vm->last_exit);
			}
		}
		vm_save(vm);
		vm_append(vm);
	}
	json_decref(rows);

	/* Tasks that a killed hostd left running: say what happened to their VM. */
	tasks = task_interrupted();
	json_array_foreach(tasks, i, t) {
		int tid = (int)json_integer_value(json_object_get(t, "id"));
		int vid = (int)json_integer_value(json_object_get(t, "vm"));
		const char *op = json_string_value(json_object_get(t, "op"));
		const char *what = json_string_value(json_object_get(t, "what"));
		struct hvm *vm = vm_find(vid);
		char msg[900];
		if (!vm) {
			task_finish(tid, NULL, "interrupted by a restart of hostd; the VM is no longer registered");
			continue;
		}
		bool bt_switch = op && !strcmp(op, "changeBuildType");
		if (vm->pid && bt_switch) {
			/* Its vmx may still be saving; resume it once it has suspended. */
			vm->recover_resume = true;
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; "
				 "the VM is running (pid %d, build type %s) and was adopted; if it "
				 "suspends, hostd resumes it", what ? what : "running", (int)vm->pid,
				 buildtype_name(vm->running_bt));
		} else if (bt_switch && vm->power == HP_SUSPENDED) {
			int http, rt;
			struct verr e2 = { "" };
			rt = start_op_locked(vm, OP_RESUME, BUILDTYPE_DEFAULT, 0, SWITCH_FAST, "hostd (recovery)", &http,
					     &e2);
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; "
				 "the VM was suspended with a valid checkpoint; %s%.300s",
				 what ? what : "running", rt > 0 ? "hostd resumes it in task " : "resume failed: ",
				 rt > 0 ? "" : e2.msg);
			if (rt > 0)
				snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%d", rt);
		} else {
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; "
				 "the VM is %s%s", what ? what : "running", hpower_name(vm->power),
				 vm->power == HP_SUSPENDED ? " with a valid checkpoint" : "");
		}
		task_finish(tid, NULL, msg);
		db_event("hostd", vid, "taskInterrupted", "task %d (%s): %s", tid, op ? op : "?", msg);
	}
	json_decref(tasks);
	hostd_unlock();
	(void)e;
	return 0;
}
