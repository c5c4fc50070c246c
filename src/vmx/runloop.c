/*
 * runloop.c - runs the guest on the calling thread (every vCPU) and serves
 * what stopped it: an instruction budget, a state-hash point or request, a
 * suspend, a hand-over to another vmx or the last round of a live
 * migration (enum vmx_stop).  Every stop is at
 * a scheduling-round boundary, so in deterministic mode a run that stopped
 * and went on (in this process or another) matches one that never stopped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/log.h"
#include "../debug/dbg.h"
#include "../stats/kstat.h"
#include "vmx.h"

static void suspend_set_error(struct vmx *x, const char *msg)
{
	mxuser_lock(&x->suspend_lock);
	snprintf(x->suspend_error, sizeof(x->suspend_error), "%s", msg);
	mxuser_unlock(&x->suspend_lock);
}

int vmx_set_vmstate_key(struct vmx *x, const char *value, struct verr *e)
{
	struct cfg *c;
	int rc = cfg_load(x->vmx_path, &c, e);
	if (rc < 0)
		return rc;
	rc = value ? cfg_set(c, VMX_VMSTATE_KEY, value) : cfg_unset(c, VMX_VMSTATE_KEY);
	if (rc < 0)
		verr_set(e, rc, "%s: cannot set %s", x->vmx_path, VMX_VMSTATE_KEY);
	else
		rc = cfg_save(c, x->vmx_path, e);
	cfg_free(c);
	return rc;
}

/*
 * Writes the checkpoint of the stopped VM.  Returns 0 when the VM is saved
 * (the caller exits), or a negative errno when the VM must keep running:
 * the earlier checkpoint, if any, is untouched.
 */
static int do_suspend(struct vmx *x)
{
	struct ckpt_writer *w = NULL;
	struct verr e = { "" };
	uint64_t t0 = vmx_now_ns();
	int rc;

	atomic_store(&x->suspend_state, VMX_SUSPEND_RUNNING);
	LOG_INF("suspend: writing %s", x->vmss_path);
	rc = ckpt_writer_open(&w, x->vmss_path, vmx_version, VMX_BUILDTYPE_NAME,
			      &x->suspend_prog, &e);
	if (rc < 0)
		goto fail;
	rc = vm_save(x->vm, w, &e);
	if (rc < 0) {
		ckpt_writer_abort(w);
		goto fail;
	}
	rc = ckpt_writer_commit(w, &e);
	if (rc < 0)
		goto fail;
	/* Beta: what was just written reads back equal to the stopped VM. */
	DBG_CHECK("checkpoint", vm_ckpt_problem(x->vm, x->vmss_path));
	{
		char base[4096];
		const char *slash = strrchr(x->vmss_path, '/');
		snprintf(base, sizeof(base), "%s", slash ? slash + 1 : x->vmss_path);
		rc = vmx_set_vmstate_key(x, base, &e);
	}
	if (rc < 0) {
		/* Without the key nobody would resume from it: keep running instead. */
		unlink(x->vmss_path);
		goto fail;
	}
	LOG_INF("suspend: done, %llu bytes in %.3f s",
		(unsigned long long)atomic_load(&x->suspend_prog.bytes_written),
		(double)(vmx_now_ns() - t0) / 1e9);
	atomic_store(&x->suspend_state, VMX_SUSPEND_DONE);
	return 0;
fail:
	if (rc == -ECANCELED) {
		LOG_INF("suspend cancelled; the VM keeps running");
		atomic_store(&x->suspend_state, VMX_SUSPEND_CANCELLED);
	} else {
		LOG_ERR("suspend failed, the VM keeps running: %s", e.msg);
		suspend_set_error(x, e.msg);
		atomic_store(&x->suspend_state, VMX_SUSPEND_FAILED);
	}
	return rc;
}

int vmx_state_hash(struct vmx *x, char hex[65], struct verr *e)
{
	struct ckpt_writer *w;
	int rc;

	/* Memory still arriving from a resume must be in before it is hashed. */
	if (x->resume_reader && (rc = ckpt_memory_wait(x->resume_reader, e)) < 0)
		return rc;
	rc = ckpt_writer_open_anon(&w, e);
	if (rc < 0)
		return rc;
	rc = vm_save(x->vm, w, e);
	if (rc < 0) {
		ckpt_writer_abort(w);
		return rc;
	}
	return ckpt_writer_hash(w, hex, e);
}

/*
 * Work a control-socket request asks of the stopped VM (a hash, a suspend, a
 * hand-over): every vCPU waits for it, so in the stats build each vCPU's time
 * goes to the CTL kstat until the VM runs again (vm_run attaches afresh).
 */
static void ctl_work_begin(struct vmx *x)
{
	for (unsigned i = 0; i < x->vc.numvcpus; i++) {
		kstat_attach(i);
		kstat_start(KSTAT_CTL);
	}
	stats_set_slot(STATS_SLOT_OTHER);
}

/* Answers a control-socket hash request while the VM is stopped. */
static void serve_hash(struct vmx *x)
{
	struct verr e = { "" };
	struct vm_status st;
	char hex[65] = "";
	int rc = vmx_state_hash(x, hex, &e);

	if (rc < 0)
		LOG_ERR("state hash: %s", e.msg);
	vm_get_status(x->vm, &st);
	mxuser_lock(&x->suspend_lock);
	x->hash_rc = rc;
	memcpy(x->hash_hex, hex, sizeof(hex));
	x->hash_instret = st.instret;
	x->hash_ready = true;
	mxuser_cond_broadcast(&x->hash_cond);
	mxuser_unlock(&x->suspend_lock);
	atomic_store(&x->hash_req, 0);
}

/* Prints the state hash line that tests compare; 0 or the hash's error. */
static int print_hash(struct vmx *x, bool to_log)
{
	struct verr e = { "" };
	struct vm_status st;
	char hex[65];

	vm_get_status(x->vm, &st);
	if (vmx_state_hash(x, hex, &e) < 0) {
		LOG_ERR("state hash: %s", e.msg);
		return -1;
	}
	printf("state-hash instret=%llu sha256=%s\n", (unsigned long long)st.instret, hex);
	fflush(stdout);
	if (to_log)
		LOG_INF("state hash at %llu instructions: %s", (unsigned long long)st.instret, hex);
	return 0;
}

/* A resume still loading memory must finish before RAM is saved or handed over. */
static void join_resume_cleanup(struct vmx *x)
{
	if (x->resume_cleanup_started) {
		pthread_join(x->resume_cleanup, NULL);
		x->resume_cleanup_started = false;
	}
}

static int exit_code_for(enum vm_result r, struct vm *vm)
{
	switch (r) {
	case VM_RESULT_POWEROFF:
	case VM_RESULT_STOPPED:
		return VMX_EXIT_OK;
	case VM_RESULT_RESET:
		return VMX_EXIT_RESET;
	case VM_RESULT_TOHOST: {
		uint64_t code = vm_tohost_code(vm);
		return code == 0 ? 0 : (code > 255 ? 255 : (int)code);
	}
	case VM_RESULT_BUDGET:
		return VMX_EXIT_OK;
	case VM_RESULT_ERROR:
	default:
		return VMX_EXIT_ERROR;
	}
}

/* What a run that returned res means; at_budget: --until-insns is reached. */
static enum vmx_stop stop_reason(struct vmx *x, const struct vmx_opts *o, enum vm_result res,
				 bool hash_point, bool at_budget)
{
	if (res == VM_RESULT_BUDGET && hash_point && !at_budget)
		return VMX_STOP_HASH_POINT;
	if (res == VM_RESULT_STOPPED && atomic_load(&x->hash_req))
		return VMX_STOP_HASH_REQUEST;
	if (res == VM_RESULT_BUDGET)
		return o->suspend_at_end ? VMX_STOP_SUSPEND
		       : o->handover_to  ? VMX_STOP_HANDOVER : VMX_STOP_BUDGET;
	if (res == VM_RESULT_STOPPED && atomic_load(&x->suspend_state) == VMX_SUSPEND_REQUESTED)
		return VMX_STOP_SUSPEND;
	if (res == VM_RESULT_STOPPED && atomic_load(&x->ho.state) == HO_REQUESTED)
		return VMX_STOP_HANDOVER;
	if (res == VM_RESULT_STOPPED && atomic_load(&x->mig.state) == MIG_STOPPING)
		return VMX_STOP_MIGRATE;
	return VMX_STOP_DONE;
}

int vmx_run(struct vmx *x, const struct vmx_opts *o)
{
	uint64_t next_hash = 0;
	enum vm_result res = VM_RESULT_ERROR;
	struct verr e = { "" };
	struct vm_status st;
	int code = -1;

	atomic_store(&x->power_state, VMX_POWER_ON);
	LOG_INF("powering on: %u vCPU(s), %llu MiB", x->vc.numvcpus,
		(unsigned long long)(x->vc.mem_size >> 20));
	/* This thread runs every vCPU: its CPU time from here on is the guest's cost. */
	uint64_t run_cpu0 = vmx_clock_ns(CLOCK_THREAD_CPUTIME_ID), run_wall0 = vmx_now_ns();
	vm_get_status(x->vm, &st);
	uint64_t run_insn0 = st.instret;
	if (o->hash_every)
		next_hash = (st.instret / o->hash_every + 1) * o->hash_every;
	if (x->mig.incoming) {
		x->mig.t.run = vmx_now_ns();
		LOG_INF("migration: running the guest %.3f ms after the sending vmx stopped it",
			(double)(x->mig.t.run - x->mig.t.stop) / 1e6);
	}
	if (x->ho.incoming) {
		/* The hand-over's downtime ends here, at the first guest instruction. */
		x->ho.t.run = vmx_now_ns();
		LOG_INF("handover: running the guest %.3f ms after the old vmx stopped it",
			(double)(x->ho.t.run - x->ho.t.stop) / 1e6);
	}
	for (;;) {
		uint64_t stop_at = o->until;
		if (next_hash && (!stop_at || next_hash < stop_at))
			stop_at = next_hash;
		vm_get_status(x->vm, &st);
		if (atomic_load(&x->mig.state) == MIG_STOPPING)
			res = VM_RESULT_STOPPED;   /* asked for while another stop was served */
		else if (stop_at)
			res = st.instret >= stop_at ? VM_RESULT_BUDGET
						    : vm_run_insns(x->vm, stop_at - st.instret);
		else
			res = vm_run(x->vm);
		vm_get_status(x->vm, &st);
		bool at_budget = o->until && st.instret >= o->until;
		bool hash_point = next_hash && stop_at == next_hash;

		if (res == VM_RESULT_BUDGET && hash_point) {
			/* A hash point may coincide with the budget: print it, then serve that. */
			if (print_hash(x, false) < 0) {
				res = VM_RESULT_ERROR;
				break;
			}
			next_hash = (st.instret / o->hash_every + 1) * o->hash_every;
		}
		enum vmx_stop why = stop_reason(x, o, res, hash_point, at_budget);
		if (res == VM_RESULT_BUDGET && at_budget)
			LOG_INF("reached %llu instructions retired (asked for %llu)",
				(unsigned long long)st.instret, (unsigned long long)o->until);
		switch (why) {
		case VMX_STOP_HASH_POINT:
			continue;
		case VMX_STOP_HASH_REQUEST:
			ctl_work_begin(x);
			serve_hash(x);
			kstat_detach_all();
			continue;
		case VMX_STOP_SUSPEND:
			if (res == VM_RESULT_STOPPED)
				ctl_work_begin(x);
			join_resume_cleanup(x);
			if (o->suspend_at_end && res == VM_RESULT_BUDGET)
				atomic_store(&x->suspend_state, VMX_SUSPEND_REQUESTED);
			if (do_suspend(x) == 0) {
				code = VMX_EXIT_SUSPENDED;
				break;
			}
			if (res == VM_RESULT_BUDGET) {
				res = VM_RESULT_ERROR;   /* --suspend asked for a checkpoint */
				break;
			}
			kstat_detach_all();
			continue;   /* failed or cancelled: the guest carries on */
		case VMX_STOP_HANDOVER:
			if (res == VM_RESULT_STOPPED)
				ctl_work_begin(x);
			join_resume_cleanup(x);
			if (res == VM_RESULT_BUDGET && handover_connect(x, o->handover_to, &e) < 0) {
				LOG_ERR("handover: %s", e.msg);
				res = VM_RESULT_ERROR;
				break;
			}
			if (handover_send(x, &e) == 0) {
				code = VMX_EXIT_HANDEDOVER;
				break;
			}
			if (res == VM_RESULT_BUDGET) {
				res = VM_RESULT_ERROR;   /* --handover asked for a hand-over */
				break;
			}
			kstat_detach_all();
			continue;   /* taken back: the guest carries on here */
		case VMX_STOP_MIGRATE:
			ctl_work_begin(x);
			if (migration_finish(x, &e) == 0) {
				code = VMX_EXIT_HANDEDOVER;
				break;
			}
			kstat_detach_all();
			continue;   /* taken back: the guest carries on here */
		case VMX_STOP_BUDGET:
		case VMX_STOP_DONE:
			break;
		}
		break;
	}

	atomic_store(&x->power_state, VMX_POWER_OFF);
	vm_get_status(x->vm, &st);
	LOG_INF("run: %llu instructions retired in %.3f s of vCPU-thread CPU time, %.3f s elapsed",
		(unsigned long long)(st.instret - run_insn0),
		(double)(vmx_clock_ns(CLOCK_THREAD_CPUTIME_ID) - run_cpu0) / 1e9,
		(double)(vmx_now_ns() - run_wall0) / 1e9);
	if (code < 0)
		code = exit_code_for(res, x->vm);
	join_resume_cleanup(x);
	/* Handed over or saved: the state belongs to the other process or the file now. */
	if (o->want_hash && code != VMX_EXIT_SUSPENDED && code != VMX_EXIT_HANDEDOVER &&
	    print_hash(x, true) < 0)
		code = VMX_EXIT_ERROR;
	LOG_INF("vm stopped: result %d, exit status %d", (int)res, code);
	return code;
}
