/*
 * vmop.c - the operations on a VM: power on/off, hard power off, reset,
 * suspend, resume and changing the build type.  Each runs as a task in its
 * own thread and owns the VM (vm->busy_task) until it ends; a second
 * operation on a busy VM is refused with a conflict.  Power on spawns the vmx
 * binary that the VM's vmx.buildType selects, in its own session with stdio
 * going to vmx-stdio.log in the VM directory, so a vmx outlives a hostd that
 * dies.  The exits that operations wait for are noticed by vmsup.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/log.h"
#include "hostd.h"
#include "hvm_int.h"

#define HARD_STOP_MS 10000
#define KILLED_EXIT_MS 60000  /* a killed vmx releases its disks only when it has unmapped the guest */
#define SUSPEND_MAX_MS (30 * 60 * 1000)

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

int vmop_parse(const char *s, enum vm_op *out)
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

static bool file_executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int vmop_binary(enum buildtype t, char *out, size_t len, struct verr *e)
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

/* Appends a line in the vmx log's own format, so who-did-what sits with the VM. */
static void vmop_log_note(const struct hvm *vm, const char *fmt, ...)
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

static pid_t vmop_pid(struct hvm *vm)
{
	pid_t p;
	hostd_lock();
	p = vm->pid;
	hostd_unlock();
	return p;
}

/* See hostd.h; the fast switch spawns its second vmx with it too. */
int vmop_spawn(struct hvm *vm, const char *bin, const char *const *args,
	       const struct privdrop_fds *f, pid_t *pid, struct verr *e)
{
	char out[PATH_MAX + 32];
	int rc;

	/* vmx's stdio log: never through a symlink the vmx user may have planted. */
	snprintf(out, sizeof(out), "%s/" VM_STDIO_LOG, vm->dir);
	int out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (out_fd < 0)
		return verr_set(e, -errno, "%s: %s", out, strerror(errno));
	*pid = privdrop_spawn(&g_hostd.cfg, bin, args, vm->path, f, out_fd, &rc);
	close(out_fd);
	if (*pid < 0)
		return verr_set(e, -rc, "cannot start %s: %s", bin, strerror(rc));
	return 0;
}

/*
 * Spawns the vmx binary for the VM's configured build type and waits until
 * its control socket answers with the new pid.
 */
static int vmop_launch(struct hvm *vm, struct verr *e)
{
	struct privdrop_fds fds;
	char bin[PATH_MAX];
	enum buildtype bt;
	uint64_t deadline;
	pid_t pid;
	int rc;

	rc = hvm_read_cfg(vm, &bt, NULL, NULL, e);
	if (rc == 0)
		rc = confine_vm_file(&g_hostd.cfg, vm->file, e);
	if (rc < 0)
		return rc;
	rc = vmop_binary(bt, bin, sizeof(bin), e);
	if (rc < 0)
		return rc;
	vmdir_clean_stale(&g_hostd.cfg, vm->file);
	rc = privdrop_prepare_vm(&g_hostd.cfg, vm->file, &fds, e);
	if (rc < 0)
		return rc;
	hostd_lock();
	rc = vmop_spawn(vm, bin, NULL, &fds, &pid, e);
	privdrop_fds_close(&fds);
	if (rc == 0) {
		vm->pid = pid;
		vm->child = true;
		vm->pidfd = -1;
		vm->exited = false;
		vm->pid_start = hvm_pid_start(pid);
		vm->running_bt = bt;
		vm->power = HP_ON;
		hvm_save(vm);
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
			/*
			 * Wait until it is gone: until then it may hold the disks'
			 * locks and the guest's memory, and a retry (the old build
			 * type resuming) would find them taken.  A large guest takes
			 * seconds to unmap.
			 */
			kill(pid, SIGKILL);
			bool gone = wait_exit(vm, KILLED_EXIT_MS);
			return verr_set(e, -ETIMEDOUT, "%s (pid %d) did not answer on its control socket "
					"within %llu s; killed%s", buildtype_binary(bt), (int)pid,
					(unsigned long long)g_hostd.cfg.launch_timeout_s,
					gone ? "" : ", and it has not exited yet");
		}
		usleep(20 * 1000);
	}
}

/* Hard stop: control-socket poweroff, then SIGKILL. */
static int vmop_hard_stop(struct hvm *vm, struct verr *e)
{
	json_t *reply = NULL;
	pid_t pid = vmop_pid(vm);

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
static int vmop_suspend(struct hvm *vm, int task, uint64_t *downtime, struct verr *e)
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
		if (!vmop_pid(vm))
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
static void vmop_wait_resumed(struct hvm *vm, int task, uint64_t *downtime)
{
	uint64_t t0 = now_ms(), deadline = t0 + 120000, t1;
	bool checkpoint = true;

	while (now_ms() < deadline && vmop_pid(vm)) {
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
	while (now_ms() < deadline && vmop_pid(vm)) {
		if (hvm_read_cfg(vm, NULL, NULL, &checkpoint, NULL) == 0 && !checkpoint)
			break;
		usleep(20 * 1000);
	}
	task_phase(task, "resume", now_ms() - t1);
	*downtime += now_ms() - t0;
}

static int op_buildtype(struct hvm *vm, struct op_ctx *o, json_t *res, struct verr *e)
{
	enum buildtype old;
	enum hpower power;
	uint64_t downtime = 0, t;
	char bin[PATH_MAX];
	int rc;

	rc = hvm_read_cfg(vm, &old, NULL, NULL, e);
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
		rc = hvm_set_buildtype(vm, o->bt, e);
		if (rc < 0)
			return rc;
		task_phase(o->task, "reconfigure", now_ms() - t);
	} else {
		pid_t oldpid = vmop_pid(vm);
		rc = vmop_binary(o->bt, bin, sizeof(bin), e);
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
				rc = hvm_set_buildtype(vm, o->bt, e);
				if (rc < 0)
					return verr_prefix(e, rc, "the VM runs build type %s (pid %d)",
							   buildtype_name(o->bt), (int)vmop_pid(vm));
				task_phase(o->task, "reconfigure", now_ms() - t);
				json_object_set_new(res, "pid", json_integer(vmop_pid(vm)));
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
		rc = vmop_suspend(vm, o->task, &downtime, e);
		hostd_lock();
		vm->stopping = false;
		hostd_unlock();
		if (rc < 0)
			return rc;
		t = now_ms();
		task_progress(o->task, 50, "reconfiguring");
		rc = hvm_set_buildtype(vm, o->bt, e);
		if (rc < 0)
			return verr_prefix(e, rc, "the VM is suspended with a valid checkpoint");
		task_phase(o->task, "reconfigure", now_ms() - t);
		downtime += now_ms() - t;
		task_progress(o->task, 60, "launching");
		t = now_ms();
		rc = vmop_launch(vm, e);
		if (rc < 0) {
			struct verr e2 = { "" };
			/* Put the VM back as it was rather than leave it down. */
			LOG_WRN("vm %d: new vmx failed (%s); resuming with %s", vm->id, e->msg,
				buildtype_name(old));
			if (hvm_set_buildtype(vm, old, &e2) == 0 && vmop_launch(vm, &e2) == 0)
				return verr_prefix(e, rc, "resumed with build type %s instead",
						   buildtype_name(old));
			return verr_prefix(e, rc, "VM left suspended (%s)", e2.msg);
		}
		task_phase(o->task, "launch", now_ms() - t);
		downtime += now_ms() - t;
		task_progress(o->task, 80, "resuming");
		vmop_wait_resumed(vm, o->task, &downtime);
		json_object_set_new(res, "pid", json_integer(vmop_pid(vm)));
		json_object_set_new(res, "binary", json_string(bin));
		json_object_set_new(res, "downtimeMs", json_integer((json_int_t)downtime));
	}
done:
	vmop_log_note(vm, "vmx.buildType changed from %s to %s by user %s (hostd task %d%s%s)",
		    buildtype_name(old), buildtype_name(o->bt), o->user, o->task,
		    power == HP_ON ? ", method " : "",
		    power != HP_ON ? "" : json_string_value(json_object_get(res, "method")));
	hostd_lock();
	if (o->bt != BUILDTYPE_DEFAULT && o->revert_after_s)
		vm->revert_at = time(NULL) + (int64_t)o->revert_after_s;
	else
		vm->revert_at = 0;
	hvm_save(vm);
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
	vm = hvm_find(o->vm_id);
	hostd_unlock();
	switch (o->op) {
	case OP_POWERON:
	case OP_RESUME: {
		bool was_suspended = false;
		hvm_read_cfg(vm, NULL, NULL, &was_suspended, NULL);
		uint64_t t = now_ms();
		task_progress(o->task, 10, "launching");
		rc = vmop_launch(vm, &e);
		if (rc == 0) {
			task_phase(o->task, "launch", now_ms() - t);
			if (was_suspended)
				vmop_wait_resumed(vm, o->task, &downtime);
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
			rc = vmop_hard_stop(vm, &e);
		}
		json_decref(reply);
		break;
	}
	case OP_HARDOFF:
	case OP_RESET:
		hostd_lock();
		vm->stopping = true;
		hostd_unlock();
		rc = vmop_hard_stop(vm, &e);
		if (rc == 0 && o->op == OP_RESET) {
			hostd_lock();
			vm->stopping = false;
			hostd_unlock();
			rc = vmop_launch(vm, &e);
		}
		break;
	case OP_SUSPEND:
		hostd_lock();
		vm->stopping = true;
		hostd_unlock();
		rc = vmop_suspend(vm, o->task, &downtime, &e);
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

int vmop_start_locked(struct hvm *vm, enum vm_op op, enum buildtype bt,
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
	rc = hvm_read_cfg(vm, &cur, &mem, NULL, e);
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
		rc = vmop_binary(want, bin, sizeof(bin), e);
		if (rc < 0)
			return rc;
		if (op == OP_BUILDTYPE && method == SWITCH_FAST) {
			/* Both vmx processes live for a moment: RAM once (shared), both overheads. */
			uint64_t two = mem + admit_overhead_mb(vm->running_bt) + admit_overhead_mb(want);
			if (admit_check(g_hostd.cfg.mem_capacity_mb, hvm_reserved_mb(vm->id), two, msg,
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
		rc = admit_check(g_hostd.cfg.mem_capacity_mb, hvm_reserved_mb(vm->id),
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

int vmop_start(int id, enum vm_op op, enum buildtype bt, uint64_t revert_after_s,
	       enum switch_method method, const char *user, int *http_status, struct verr *e)
{
	struct hvm *vm;
	int rc;

	hostd_lock();
	vm = hvm_find(id);
	if (!vm) {
		hostd_unlock();
		*http_status = 404;
		return verr_set(e, -ENOENT, "vm: no VM with id %d", id);
	}
	rc = vmop_start_locked(vm, op, bt, revert_after_s, method, user, http_status, e);
	hostd_unlock();
	return rc;
}
