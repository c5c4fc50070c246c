/*
 * main.c - the vmx program: one process per running VM.
 *
 *   vmx [options] path/to/NAME.vmx     run the VM until the guest powers off
 *   vmx --elf FILE                     run a bare-metal HTIF test program
 *   vmx --version
 *
 * It loads the .vmx, rotates and opens vmx.log in the VM directory, builds the
 * machine, serves the control socket and runs the guest in the foreground.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/buildtype.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "../ckpt/ckpt.h"
#include "../stats/callstack.h"
#include "../stats/ustats.h"
#include "../debug/crashrep.h"
#include "../debug/dbg.h"
#include "ctl.h"
#include "vmx.h"

#define LOG_KEEP_OLD_DEFAULT 6

static struct vmx g_vmx;

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vmx_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

const char *vmx_power_name(int state)
{
	static const char *const names[] = { "starting", "poweredOn", "stopping", "poweredOff" };
	return state >= 0 && state < (int)VMX_ARRAY_SIZE(names) ? names[state] : "unknown";
}

const char *vmx_suspend_name(int state)
{
	static const char *const names[] = { "none", "requested", "running", "done", "failed",
					     "cancelled" };
	return state >= 0 && state < (int)VMX_ARRAY_SIZE(names) ? names[state] : "unknown";
}

static void suspend_set_error(struct vmx *x, const char *msg)
{
	mxuser_lock(&x->suspend_lock);
	snprintf(x->suspend_error, sizeof(x->suspend_error), "%s", msg);
	mxuser_unlock(&x->suspend_lock);
}

/* Points vmx_path's checkpoint key at the .vmss (or removes it), atomically. */
static int set_vmstate_key(struct vmx *x, const char *value, struct verr *e)
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
		rc = set_vmstate_key(x, base, &e);
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

/* Removes the checkpoint once every page of it is in guest RAM. */
static void *resume_cleanup_thread(void *arg)
{
	struct vmx *x = arg;
	struct verr e = { "" };
	log_set_thread_name("resume");
	if (ckpt_memory_wait(x->resume_reader, &e) < 0) {
		LOG_ERR("resume: %s", e.msg);
		return NULL;
	}
	if (set_vmstate_key(x, NULL, &e) < 0) {
		LOG_WRN("resume: %s", e.msg);
		return NULL;
	}
	if (unlink(x->vmss_path) < 0)
		LOG_WRN("resume: cannot remove %s: %s", x->vmss_path, strerror(errno));
	else
		LOG_INF("resume: guest memory loaded; removed %s", x->vmss_path);
	return NULL;
}

static int do_resume(struct vmx *x, struct verr *e)
{
	uint64_t t0 = vmx_now_ns();
	int rc = ckpt_reader_open(&x->resume_reader, x->vmss_path, e);
	if (rc < 0)
		return rc;
	LOG_INF("resume: %s written by vmx %s (%s build)", x->vmss_path,
		ckpt_reader_version(x->resume_reader), ckpt_reader_build_type(x->resume_reader));
	rc = vm_restore(x->vm, x->resume_reader, e);
	if (rc < 0)
		return rc;
	LOG_INF("resume: state loaded in %.3f s", (double)(vmx_now_ns() - t0) / 1e9);
	return 0;
}

/* vmx --verify-checkpoint FILE: every section and page checked, nothing resumed. */
static int verify_checkpoint(const char *path)
{
	struct ckpt_verify_info info;
	struct verr e = { "" };
	if (ckpt_verify(path, &info, &e) < 0) {
		fprintf(stderr, "vmx: checkpoint damaged: %s\n", e.msg);
		return VMX_EXIT_ERROR;
	}
	printf("%s: ok: %u sections, %llu MiB of RAM, %llu stored pages verified\n", path,
	       info.nsections, (unsigned long long)(info.ram_size >> 20),
	       (unsigned long long)info.pages_verified);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmx [options] path/to/NAME.vmx\n"
		"       vmx --elf FILE        run a bare-metal test program (HTIF tohost)\n"
		"       vmx --version\n"
		"       vmx --verify-checkpoint FILE   check every section and page of a .vmss\n"
		"options:\n"
		"  --elf FILE      load FILE (ELF) without firmware; exit with its result\n"
		"  --resume        resume from NAME.vmss (also when checkpoint.vmState is set)\n"
		"  --until-insns N run until N guest instructions have retired in total (all\n"
		"                  vCPUs, since power-on; with monitor.deterministic the stop is\n"
		"                  at the first scheduling round boundary at or after N)\n"
		"  --hash          at the end, print the machine state's SHA-256\n"
		"  --hash-every N  also print it each time another N instructions have retired\n"
		"  --suspend       at the end of --until-insns, suspend to NAME.vmss (exit 3)\n"
		"  --quiet         do not copy warnings and errors to stderr\n"
		"  -h, --help      this text\n");
}

static void print_version(void)
{
	printf("vmx3 vmx %s (build %s) buildType=%s\n", vmx_version, vmx_revision,
	       VMX_BUILDTYPE_NAME);
}

static void on_signal(int sig)
{
	(void)sig;
	if (g_vmx.vm)
		vm_request_stop(g_vmx.vm);
}

static int install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Loads the .vmx and opens the log; for --elf alone there is neither. */
static int setup_config(struct vmx *x, bool echo, struct verr *e)
{
	uint64_t keep_old;
	enum buildtype bt;
	int rc;

	if (!realpath(x->vmx_path, x->vmdir))
		return verr_set(e, -errno, "%s: %s", x->vmx_path, strerror(errno));
	snprintf(x->vmx_path, sizeof(x->vmx_path), "%s", x->vmdir);
	file_dirname(x->vmx_path, x->vmdir, sizeof(x->vmdir));
	rc = cfg_load(x->vmx_path, &x->cfg, e);
	if (rc < 0)
		return rc;
	rc = cfg_get_u64(x->cfg, "log.keepOld", LOG_KEEP_OLD_DEFAULT, 0, 100, &keep_old, e);
	if (rc < 0)
		return rc;
	rc = buildtype_from_cfg(x->cfg, &bt, e);
	if (rc < 0)
		return rc;
	rc = log_open(x->vmdir, "vmx", (unsigned)keep_old, VMX_BUILDTYPE_NAME, echo, e);
	if (rc < 0)
		return rc;
	LOG_INF("vmx %s build %s buildType=%s config %s", vmx_version, vmx_revision,
		VMX_BUILDTYPE_NAME, x->vmx_path);
	if (strcmp(buildtype_compiled_name(bt), VMX_BUILDTYPE_NAME) != 0)
		LOG_WRN("%s asks for vmx.buildType \"%s\" (%s) but this binary is the %s build",
			x->vmx_path, buildtype_name(bt), buildtype_binary(bt), VMX_BUILDTYPE_NAME);
	return 0;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "elf", required_argument, NULL, 'E' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resume", no_argument, NULL, 'R' },
		{ "until-insns", required_argument, NULL, 'U' },
		{ "hash", no_argument, NULL, 'H' },
		{ "hash-every", required_argument, NULL, 'e' },
		{ "suspend", no_argument, NULL, 'S' },
		{ "verify-checkpoint", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vmx *x = &g_vmx;
	const char *elf = NULL;
	bool echo = true, resume = false, want_hash = false, suspend_at_end = false;
	uint64_t until = 0, hash_every = 0, next_hash = 0;
	char *endp;
	pthread_t cleanup;
	bool cleanup_started = false;
	struct verr e = { "" };
	enum vm_result res;
	int c, rc, code;

	x->start_ns = vmx_now_ns();
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			print_version();
			return 0;
		case 'E':
			elf = optarg;
			break;
		case 'q':
			echo = false;
			break;
		case 'R':
			resume = true;
			break;
		case 'U':
			errno = 0;
			until = strtoull(optarg, &endp, 0);
			if (errno || *endp || !until) {
				fprintf(stderr, "vmx: --until-insns: \"%s\" is not a positive number\n",
					optarg);
				return VMX_EXIT_USAGE;
			}
			break;
		case 'H':
			want_hash = true;
			break;
		case 'e':
			errno = 0;
			hash_every = strtoull(optarg, &endp, 0);
			if (errno || *endp || !hash_every) {
				fprintf(stderr, "vmx: --hash-every: \"%s\" is not a positive number\n",
					optarg);
				return VMX_EXIT_USAGE;
			}
			break;
		case 'S':
			suspend_at_end = true;
			break;
		case 'C':
			return verify_checkpoint(optarg);
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return VMX_EXIT_USAGE;
		}
	}
	if (optind + 1 < argc || (optind == argc && !elf)) {
		usage(stderr);
		return VMX_EXIT_USAGE;
	}
	log_set_thread_name("vmx");
	if (optind < argc) {
		snprintf(x->vmx_path, sizeof(x->vmx_path), "%s", argv[optind]);
		rc = setup_config(x, echo, &e);
		if (rc < 0)
			goto fail;
		rc = vm_config_from_cfg(&x->vc, x->cfg, x->vmdir, &e);
		if (rc < 0)
			goto fail;
	} else {
		x->cfg = cfg_new("<command line>");
		if (!x->cfg) {
			rc = verr_set(&e, -ENOMEM, "out of memory");
			goto fail;
		}
		if (!getcwd(x->vmdir, sizeof(x->vmdir)))
			snprintf(x->vmdir, sizeof(x->vmdir), ".");
		rc = vm_config_from_cfg(&x->vc, x->cfg, x->vmdir, &e);
		if (rc < 0)
			goto fail;
	}
	if (elf)
		snprintf(x->vc.elf, sizeof(x->vc.elf), "%s", elf);

	rc = install_signals();
	if (rc < 0) {
		verr_set(&e, rc, "cannot install signal handlers");
		goto fail;
	}
	/* Stats build knobs before any lock exists; beta crash reports into the VM directory. */
	rc = stats_configure(x->cfg, &e);
	if (rc < 0)
		goto fail;
	/* opt/obj builds: the test knob that breaks a beta check on purpose. */
	rc = dbg_configure(x->cfg, &e);
	if (rc < 0)
		goto fail;
	crashrep_install(x->vmdir);
	if (suspend_at_end && !until) {
		fprintf(stderr, "vmx: --suspend needs --until-insns\n");
		return VMX_EXIT_USAGE;
	}
	mxuser_lock_init(&x->suspend_lock, "vmxSuspend", MXUSER_RANK_CTL);
	mxuser_cond_init(&x->hash_cond, "vmxHash");
	if (x->vmx_path[0]) {
		const char *vs = cfg_get(x->cfg, VMX_VMSTATE_KEY);
		char stem[4096];
		snprintf(stem, sizeof(stem), "%s", x->vmx_path);
		char *dot = strrchr(stem, '.');
		if (dot && strcmp(dot, ".vmx") == 0)
			*dot = 0;
		if (vs && vs[0]) {
			rc = cfg_path(x->cfg, VMX_VMSTATE_KEY, x->vmdir, x->vmss_path,
				      sizeof(x->vmss_path), &e);
			if (rc < 0)
				goto fail;
			resume = true;
		} else {
			snprintf(x->vmss_path, sizeof(x->vmss_path), "%s.vmss", stem);
		}
	} else if (resume) {
		rc = verr_set(&e, -EINVAL, "--resume needs a .vmx file");
		goto fail;
	}
	x->vc.resume = resume;
	rc = vm_create(&x->vm, &x->vc, &e);
	if (rc < 0)
		goto fail;
	crashrep_set_guest_dump(crashrep_dump_vm, x->vm);
	if (resume) {
		rc = do_resume(x, &e);
		if (rc < 0) {
			verr_prefix(&e, rc, "resume failed (checkpoint left in place): %s",
				    VMX_VMSTATE_KEY);
			goto fail_vm;
		}
	}
	if (x->vmx_path[0]) {
		/* Stats build: the callstack profiler samples this thread, the one running the vCPUs. */
		rc = cs_start(x->cfg, x->vmdir, &e);
		if (rc < 0)
			goto fail_vm;
		rc = stats_start(x->vmdir, &e);
		if (rc < 0)
			goto fail_vm;
		rc = ctl_start(&x->ctl, x, &e);
		if (rc < 0)
			goto fail_vm;
	}
	atomic_store(&x->power_state, VMX_POWER_ON);
	LOG_INF("powering on: %u vCPU(s), %llu MiB", x->vc.numvcpus,
		(unsigned long long)(x->vc.mem_size >> 20));
	/* This thread runs every vCPU: its CPU time from here on is the guest's cost. */
	uint64_t run_cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), run_wall0 = vmx_now_ns(), run_insn0;
	{
		struct vm_status st;
		vm_get_status(x->vm, &st);
		run_insn0 = st.instret;
	}
	if (resume && pthread_create(&cleanup, NULL, resume_cleanup_thread, x) == 0)
		cleanup_started = true;
	if (hash_every) {
		struct vm_status st;
		vm_get_status(x->vm, &st);
		next_hash = (st.instret / hash_every + 1) * hash_every;
	}
	for (;;) {
		uint64_t stop_at = until;
		if (next_hash && (!stop_at || next_hash < stop_at))
			stop_at = next_hash;
		if (stop_at) {
			struct vm_status st;
			vm_get_status(x->vm, &st);
			res = st.instret >= stop_at ? VM_RESULT_BUDGET
						    : vm_run_insns(x->vm, stop_at - st.instret);
		} else {
			res = vm_run(x->vm);
		}
		if (res == VM_RESULT_BUDGET && next_hash && stop_at == next_hash) {
			char hex[65];
			struct vm_status st;
			vm_get_status(x->vm, &st);
			if (vmx_state_hash(x, hex, &e) < 0) {
				LOG_ERR("state hash: %s", e.msg);
				res = VM_RESULT_ERROR;
				break;
			}
			printf("state-hash instret=%llu sha256=%s\n", (unsigned long long)st.instret,
			       hex);
			fflush(stdout);
			next_hash = (st.instret / hash_every + 1) * hash_every;
			if (!until || st.instret < until)
				continue;
		}
		if (res == VM_RESULT_STOPPED && atomic_load(&x->hash_req)) {
			serve_hash(x);
			continue;
		}
		if (res == VM_RESULT_BUDGET) {
			struct vm_status st;
			vm_get_status(x->vm, &st);
			LOG_INF("reached %llu instructions retired (asked for %llu)",
				(unsigned long long)st.instret, (unsigned long long)until);
			if (suspend_at_end)
				atomic_store(&x->suspend_state, VMX_SUSPEND_REQUESTED);
			else
				break;
		}
		if ((res == VM_RESULT_STOPPED || res == VM_RESULT_BUDGET) &&
		    atomic_load(&x->suspend_state) == VMX_SUSPEND_REQUESTED) {
			/* A resume still loading memory must finish before RAM is saved again. */
			if (cleanup_started) {
				pthread_join(cleanup, NULL);
				cleanup_started = false;
			}
			if (do_suspend(x) == 0)
				break;
			if (res == VM_RESULT_BUDGET) {
				res = VM_RESULT_ERROR;   /* --suspend asked for a checkpoint */
				break;
			}
			continue;   /* failed or cancelled: the guest carries on */
		}
		break;
	}
	atomic_store(&x->power_state, VMX_POWER_OFF);
	{
		struct vm_status st;
		vm_get_status(x->vm, &st);
		LOG_INF("run: %llu instructions retired in %.3f s of vCPU-thread CPU time, "
			"%.3f s elapsed", (unsigned long long)(st.instret - run_insn0),
			(double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - run_cpu0) / 1e9,
			(double)(vmx_now_ns() - run_wall0) / 1e9);
	}
	cs_stop();
	stats_stop();
	code = atomic_load(&x->suspend_state) == VMX_SUSPEND_DONE ? VMX_EXIT_SUSPENDED
								    : exit_code_for(res, x->vm);
	if (cleanup_started)
		pthread_join(cleanup, NULL);
	if (want_hash && code != VMX_EXIT_SUSPENDED) {
		char hex[65];
		struct vm_status st;
		vm_get_status(x->vm, &st);
		if (vmx_state_hash(x, hex, &e) < 0) {
			LOG_ERR("state hash: %s", e.msg);
			code = VMX_EXIT_ERROR;
		} else {
			printf("state-hash instret=%llu sha256=%s\n", (unsigned long long)st.instret, hex);
			LOG_INF("state hash at %llu instructions: %s", (unsigned long long)st.instret, hex);
		}
	}
	LOG_INF("vm stopped: result %d, exit status %d", (int)res, code);
	if (x->ctl)
		ctl_stop(x->ctl);
	/* The reader's lazy-load threads write guest RAM: end them before RAM goes. */
	ckpt_reader_close(x->resume_reader);
	crashrep_set_guest_dump(NULL, NULL);
	vm_destroy(x->vm);
	cfg_free(x->cfg);
	log_close();
	return code;

fail_vm:
	cs_stop();
	stats_stop();
	ckpt_reader_close(x->resume_reader);
	crashrep_set_guest_dump(NULL, NULL);
	vm_destroy(x->vm);
fail:
	LOG_ERR("%s", e.msg);
	log_close();
	cfg_free(x->cfg);
	return VMX_EXIT_ERROR;
}
