/*
 * vmsup.c - the supervisor: a thread that notices every exit of a VM's vmx
 * (waitpid for hostd's children, a pidfd for processes adopted after a
 * restart), records the reason and keeps crash reports.  When a vmx goes away
 * because it handed the guest over (a fast switch), it follows the successor
 * instead.  It also starts what an exit or the clock calls for: powering on
 * after a reset the board could not do in place, resuming after an
 * interrupted switch, and a pending revertAfter.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "hostd.h"
#include "hvm_int.h"

static pthread_t g_supervisor;
static bool g_supervisor_running;

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
		if (vmop_binary((enum buildtype)t, bin, sizeof(bin), NULL) == 0 && realpath(bin, real) &&
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
static bool vmsup_successor(struct hvm *vm, int status)
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
	vm->pid_start = hvm_pid_start(p);
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
	hvm_save(vm);
	LOG_INF("vm %d: %s", vm->id, vm->last_exit);
	if (!vm->busy_task) {
		/* Nobody is finishing a switch: make the .vmx name what runs. */
		enum buildtype cfg_bt;
		if (known && hvm_read_cfg(vm, &cfg_bt, NULL, NULL, NULL) == 0 &&
		    cfg_bt != vm->running_bt)
			hvm_set_buildtype(vm, vm->running_bt, NULL);
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
static int logged_exit_status(const struct hvm *vm)
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

/* vm->pid ended with status (lock held): no vmx runs the VM now; recorded. */
static void forget_pid(struct hvm *vm, int status, enum hpower power)
{
	vm->pid = 0;
	vm->pid_start = 0;
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->exited = true;
	vm->exit_status = status;
	vm->power = power;
	hvm_save(vm);
}

/*
 * An adopted vmx that was sending the VM away is gone, its exit status
 * unknown: the VM left if the vmx answering on the (shared) directory's
 * control socket is the migration's receiver, running the guest.
 */
static bool migration_receiver_runs(struct hvm *vm)
{
	json_t *r = NULL;
	bool runs = vmctl_call(vm->dir, "migrateStatus", NULL, 1000, &r, NULL) == 0 &&
		    !strcmp(json_string_value(json_object_get(r, "role")) ?: "", "incoming") &&
		    !strcmp(json_string_value(json_object_get(r, "state")) ?: "", "running");
	json_decref(r);
	return runs;
}

/* Called with the lock held when vm->pid has gone away; status -1 = unknown. */
static void vmsup_exited(struct hvm *vm, int status)
{
	char why[400] = "", crash[256] = "", sl[PATH_MAX + 32], tail[200];
	bool checkpoint = false;
	pid_t pid = vm->pid;

	if (vm->mig_out && (vm->migrated || (status >= 0 && WIFEXITED(status) &&
					     WEXITSTATUS(status) == VMX_EXIT_HANDEDOVER) ||
			    (status < 0 && migration_receiver_runs(vm)))) {
		/* Not a successor here: the VM runs on another host (hmig.c forgets it). */
		snprintf(vm->last_exit, sizeof(vm->last_exit), "vmx pid %d: migrated to another host",
			 (int)pid);
		vm->migrated = true;
		vm->hard_killed = false;
		forget_pid(vm, status, HP_OFF);
		pthread_cond_broadcast(&g_hostd.cond);
		return;
	}
	if (vmsup_successor(vm, status))
		return;

	hvm_read_cfg(vm, NULL, NULL, &checkpoint, NULL);
	bool unknown = status < 0;
	if (unknown)
		status = logged_exit_status(vm);
	if (status >= 0 && WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		snprintf(sl, sizeof(sl), "%s/" VM_STDIO_LOG, vm->dir);
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
	forget_pid(vm, status, checkpoint ? HP_SUSPENDED : HP_OFF);
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
			if (vmop_start_locked(vm, OP_RESUME, BUILDTYPE_DEFAULT, 0, SWITCH_FAST,
					      "hostd (recovery)", &http, &e) < 0)
				db_event("hostd", vm->id, "recoveryFailed", "resume: %s", e.msg);
		} else if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == VMX_EXIT_RESET &&
		    !vm->busy_task) {
			int http;
			/* The board could not reset in place: power the VM on again. */
			vmop_start_locked(vm, OP_POWERON, BUILDTYPE_DEFAULT, 0, SWITCH_FAST, "hostd", &http,
					  NULL);
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
				vmsup_exited(v, st);
		}
		if (v->revert_at && now >= v->revert_at && !v->busy_task) {
			int http;
			struct verr e = { "" };
			if (vmop_start_locked(v, OP_BUILDTYPE, BUILDTYPE_DEFAULT, 0, SWITCH_FAST,
					      "hostd (revertAfter)", &http, &e) < 0) {
				db_event("hostd", v->id, "revertFailed", "revertAfter: %s", e.msg);
				v->revert_at = 0;
				hvm_save(v);
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

int vmsup_start(void)
{
	int rc = pthread_create(&g_supervisor, NULL, supervisor_main, NULL);
	g_supervisor_running = rc == 0;
	return -rc;
}

void vmsup_stop(void)
{
	g_hostd.stop = 1;
	if (g_supervisor_running)
		pthread_join(g_supervisor, NULL);
	g_supervisor_running = false;
}
