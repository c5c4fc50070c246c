/*
 * fastswitch.c - the fast runtime build-type change: hostd starts the new
 * build type's vmx with --incoming-handover next to the running one, asks
 * the running one (control command "handover") to hand the VM over, and
 * watches until the new process runs the guest and the old one has exited.
 * The vmx side of it, and who may run the guest when, is src/vmx/handover.c
 * (docs/HANDOVER.md).  Whatever goes wrong before the new process runs the
 * guest leaves the old one running it; this file then says why in words and
 * the caller falls back to suspend/resume (vmop.c, op_buildtype).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/log.h"
#include "hostd.h"

#define HO_SOCKET       "vmx-handover.sock"
#define HO_LISTEN_MS    30000    /* the new vmx: until it listens */
#define HO_REQUEST_MS   40000    /* "handover": connect, versions, fds, the receiver's machine */
#define HO_FINISH_MS    60000    /* after the request: until the new vmx runs the guest */

int switch_method_parse(const char *s, enum switch_method *out)
{
	if (s && !strcmp(s, "fast"))
		*out = SWITCH_FAST;
	else if (s && !strcmp(s, "suspend"))
		*out = SWITCH_SUSPEND;
	else
		return -EINVAL;
	return 0;
}

const char *switch_method_name(enum switch_method m)
{
	return m == SWITCH_FAST ? "fast" : "suspend";
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_between(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e6 : 0;
}

/* The new vmx's wait status once it has exited (reaped), -1 while it runs. */
static int reap(pid_t pid, bool block)
{
	int st;
	pid_t r = waitpid(pid, &st, block ? 0 : WNOHANG);
	return r == pid ? st : (r < 0 ? 0 : -1);
}

static void describe_status(int st, char *out, size_t len)
{
	if (WIFEXITED(st))
		snprintf(out, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(out, len, "wait status %#x", st);
}

/* Ends the new vmx (it ran nothing) and forgets it; returns its status in words. */
static void drop_new(struct hvm *vm, pid_t npid, char *why, size_t len)
{
	int st = reap(npid, false);
	if (st < 0) {
		/* A receiver that has not said "running" may be killed: the old vmx keeps the guest. */
		kill(npid, SIGKILL);
		st = reap(npid, true);
	}
	describe_status(st, why, len);
	hostd_lock();
	vm->ho_pid = 0;
	vm->ho_extra_mb = 0;
	hostd_unlock();
}

static pid_t current_pid(struct hvm *vm)
{
	hostd_lock();
	pid_t p = vm->pid;
	hostd_unlock();
	return p;
}

/* True when the old vmx (still owning the control socket) says its hand-over failed. */
static bool old_failed(struct hvm *vm, char *err, size_t len)
{
	json_t *r = NULL;
	bool failed = false;
	if (vmctl_call(vm->dir, "handoverStatus", NULL, 1000, &r, NULL) == 0) {
		const char *state = json_string_value(json_object_get(r, "state"));
		const char *role = json_string_value(json_object_get(r, "role"));
		if (state && role && !strcmp(role, "outgoing") && !strcmp(state, "failed")) {
			const char *m = json_string_value(json_object_get(r, "error"));
			snprintf(err, len, "%s", m ? m : "no reason given");
			failed = true;
		}
	}
	json_decref(r);
	return failed;
}

int fastswitch_run(struct hvm *vm, int task, enum buildtype to, const char *bin, json_t *res,
		   struct verr *e)
{
	char sock[PATH_MAX + 32], why[300], err[600];
	/* Bare names: both vmx reach the socket through their VM directory fd. */
	const char *args[] = { "--incoming-handover", HO_SOCKET, NULL };
	struct privdrop_fds fds;
	uint64_t t0 = now_ns(), t_listen, t_req;
	pid_t oldpid = current_pid(vm), npid;
	json_t *reply = NULL;
	struct stat st;
	int rc;

	snprintf(sock, sizeof(sock), "%s/" HO_SOCKET, vm->dir);
	unlink(sock);
	task_progress(task, 10, "launching the new vmx");
	/* Same files as at power-on: the new vmx runs as the same user. */
	rc = privdrop_prepare_vm(&g_hostd.cfg, vm->file, &fds, e);
	if (rc == 0) {
		rc = vmop_spawn(vm, bin, args, &fds, &npid, e);
		privdrop_fds_close(&fds);
	}
	if (rc < 0)
		return verr_prefix(e, -EAGAIN, "cannot start the new vmx");
	hostd_lock();
	vm->ho_pid = npid;
	vm->ho_bt = to;
	vm->ho_extra_mb = admit_overhead_mb(to);
	hostd_unlock();
	LOG_INF("vm %d: fast switch: started %s (pid %d) next to pid %d", vm->id, bin, (int)npid,
		(int)oldpid);
	json_object_set_new(res, "oldPid", json_integer(oldpid));

	/* launch: until the new vmx listens for the old one. */
	for (;;) {
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			break;
		if (reap(npid, false) >= 0 || ms_between(t0, now_ns()) > HO_LISTEN_MS) {
			drop_new(vm, npid, why, sizeof(why));
			return verr_set(e, -EAGAIN, "the new vmx (%s) did not start listening: %s; see "
					"vmx-stdio.log", buildtype_binary(to), why);
		}
		usleep(1000);
	}
	t_listen = now_ns();

	/* prepare + pause: the old vmx connects, checks versions, passes its fds, stops. */
	task_progress(task, 30, "handing over");
	json_t *arg = json_pack("{s:s}", "peer", HO_SOCKET);
	rc = vmctl_call(vm->dir, "handover", arg, HO_REQUEST_MS, &reply, e);
	json_decref(arg);
	if (rc < 0 || !json_is_true(json_object_get(reply, "ok"))) {
		const char *m = json_string_value(json_object_get(reply, "error"));
		snprintf(err, sizeof(err), "%s", m ? m : e->msg);
		json_decref(reply);
		drop_new(vm, npid, why, sizeof(why));
		return verr_set(e, -EAGAIN, "the running vmx cannot hand over to the new one: %s", err);
	}
	json_decref(reply);
	t_req = now_ns();

	/* Until the new vmx runs the guest (the supervisor then makes it vm->pid) or it fails. */
	for (;;) {
		if (current_pid(vm) == npid)
			break;
		if (old_failed(vm, err, sizeof(err))) {
			drop_new(vm, npid, why, sizeof(why));
			return verr_set(e, -EAGAIN, "the hand-over failed and the running vmx kept the "
					"guest (it paused only for the attempt): %s", err);
		}
		hostd_lock();
		bool old_gone = vm->pid != oldpid;
		hostd_unlock();
		int nst = reap(npid, false);
		if (nst >= 0) {
			describe_status(nst, why, sizeof(why));
			hostd_lock();
			vm->ho_pid = 0;
			vm->ho_extra_mb = 0;
			hostd_unlock();
			/* It ran nothing unless it said "running"; the old vmx takes the guest back. */
			if (!old_gone)
				return verr_set(e, -EAGAIN, "the new vmx (%s) ended before running the guest "
						"(%s); the running vmx kept it", buildtype_binary(to), why);
			return verr_set(e, -EIO, "the new vmx (%s) ended (%s) and the old one is gone: "
					"the VM is powered off", buildtype_binary(to), why);
		}
		if (old_gone && current_pid(vm) != npid) {
			/* The old vmx died without handing over: the new one may still take over. */
			if (ms_between(t_req, now_ns()) > 5000) {
				drop_new(vm, npid, why, sizeof(why));
				return verr_set(e, -EIO, "the running vmx ended during the hand-over "
						"before sending its state: the VM is powered off");
			}
		}
		if (ms_between(t_req, now_ns()) > HO_FINISH_MS) {
			/* Killing the receiver gives the guest back to the old vmx. */
			drop_new(vm, npid, why, sizeof(why));
			return verr_set(e, -EAGAIN, "the new vmx did not take over within %d s; killed "
					"it, the running vmx kept the guest", HO_FINISH_MS / 1000);
		}
		usleep(2000);
	}

	/* The new vmx runs the guest; its timestamps give the phases. */
	json_t *t = NULL;
	reply = NULL;
	for (int i = 0; i < 100; i++) {
		if (vmctl_call(vm->dir, "handoverStatus", NULL, 2000, &reply, NULL) == 0 &&
		    json_integer_value(json_object_get(json_object_get(reply, "timesNs"), "run")))
			break;
		json_decref(reply);
		reply = NULL;
		usleep(10000);
	}
	t = json_object_get(reply, "timesNs");
	uint64_t t_request = (uint64_t)json_integer_value(json_object_get(t, "request"));
	uint64_t t_stop = (uint64_t)json_integer_value(json_object_get(t, "stop"));
	uint64_t t_ready = (uint64_t)json_integer_value(json_object_get(t, "ready"));
	uint64_t t_run = (uint64_t)json_integer_value(json_object_get(t, "run"));
	uint64_t t_end = now_ns();
	task_phase_ms(task, "launch", ms_between(t0, t_listen));
	task_phase_ms(task, "prepare", ms_between(t_listen, t_request));
	task_phase_ms(task, "pause", ms_between(t_request, t_stop));
	task_phase_ms(task, "transfer", ms_between(t_stop, t_ready));
	task_phase_ms(task, "resume", ms_between(t_ready, t_run));
	task_phase_ms(task, "release", ms_between(t_run, t_end));
	double down = ms_between(t_stop, t_run);
	json_object_set_new(res, "downtimeMs", json_real((double)(int64_t)(down * 1000 + 0.5) / 1000));
	if (t)
		json_object_set_new(res, "handoverTimesNs", json_deep_copy(t));
	json_decref(reply);
	hostd_lock();
	vm->ho_pid = 0;
	vm->ho_extra_mb = 0;
	hostd_unlock();
	LOG_INF("vm %d: fast switch: pid %d runs the guest after %.3f ms of downtime", vm->id,
		(int)npid, down);
	return 0;
}
