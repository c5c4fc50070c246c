/*
 * main.c - the vmx program: one process per running VM.
 *
 *   vmx [options] path/to/NAME.vmx     run the VM until the guest powers off
 *   vmx --elf FILE                     run a bare-metal HTIF test program
 *   vmx --incoming-handover SOCK NAME.vmx   take over the VM from a running vmx
 *   vmx --version
 *
 * main is parse, open, run, close: it parses the command line, loads the
 * .vmx, rotates and opens vmx.log in the VM directory, builds the machine
 * (fresh, from a checkpoint, or handed over by another vmx), serves the
 * control socket, runs the guest in the foreground (runloop.c) and tears
 * everything down on one path.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

uint64_t vmx_clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vmx_now_ns(void)
{
	return vmx_clock_ns(CLOCK_MONOTONIC);
}

void vmx_test_pause(const char *spec, const char *phase)
{
	char name[16];
	unsigned secs = 30;
	if (!spec || !spec[0])
		return;
	snprintf(name, sizeof(name), "%s", spec);
	char *colon = strchr(name, ':');
	if (colon) {
		*colon = 0;
		secs = (unsigned)strtoul(colon + 1, NULL, 10);
	}
	if (strcmp(name, phase) != 0)
		return;
	LOG_INF("test pause at %s for %u s", phase, secs);
	log_flush();
	/* The stats builds' profiler signals would cut a plain sleep short. */
	uint64_t end = vmx_now_ns() + secs * 1000000000ull;
	for (uint64_t now; (now = vmx_now_ns()) < end;)
		usleep((useconds_t)((end - now) / 1000 > 100000 ? 100000 : (end - now) / 1000));
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
	if (vmx_set_vmstate_key(x, NULL, &e) < 0) {
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
		"  --handover SOCK at the end of --until-insns, hand the VM over to the vmx\n"
		"                  listening at SOCK (exit 5)\n"
		"  --incoming-handover SOCK\n"
		"                  listen at SOCK and take over the VM from the running vmx\n"
		"                  that connects (docs/HANDOVER.md)\n"
		"  --incoming-migration HOST:PORT | fd:N\n"
		"                  listen there (or on the inherited listening socket N) and\n"
		"                  take over the VM from a vmx on another host that presents\n"
		"                  the token in $VMX_MIGRATION_TOKEN (docs/MIGRATION.md)\n"
		"  --migration-status-fd N\n"
		"                  with --incoming-migration: write \"go\" to fd N once this\n"
		"                  process may run the guest (hostd's record)\n"
		"  --vm-dir-fd N   the .vmx's directory is open as fd N: reach it and its\n"
		"                  files through the fd (hostd, for an unprivileged vmx)\n"
		"  --pass-fd N:PATH\n"
		"                  fd N is the file at PATH (which this process may be unable\n"
		"                  to reach by name); repeatable\n"
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
static int setup_config(struct vmx *x, bool echo, int dir_fd, struct verr *e)
{
	uint64_t keep_old;
	enum buildtype bt;
	int rc;

	if (dir_fd >= 0) {
		/*
		 * hostd opened the directory for this (unprivileged) process, which
		 * may not be able to search the directories above it: every path
		 * in it is reached through the descriptor's magic link.
		 */
		const char *base = strrchr(x->vmx_name, '/');
		struct stat st;
		if (fstat(dir_fd, &st) < 0 || !S_ISDIR(st.st_mode))
			return verr_set(e, -EBADF, "--vm-dir-fd %d: not an open directory", dir_fd);
		snprintf(x->vmdir, sizeof(x->vmdir), "/proc/self/fd/%d", dir_fd);
		if ((size_t)snprintf(x->vmx_path, sizeof(x->vmx_path), "%s/%s", x->vmdir,
				     base ? base + 1 : x->vmx_name) >= sizeof(x->vmx_path))
			return verr_set(e, -ENAMETOOLONG, "%s: path too long", x->vmx_name);
	} else {
		if (!realpath(x->vmx_name, x->vmdir))
			return verr_set(e, -errno, "%s: %s", x->vmx_name, strerror(errno));
		snprintf(x->vmx_path, sizeof(x->vmx_path), "%s", x->vmdir);
		snprintf(x->vmx_name, sizeof(x->vmx_name), "%s", x->vmdir);
		file_dirname(x->vmx_path, x->vmdir, sizeof(x->vmdir));
	}
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
		VMX_BUILDTYPE_NAME, x->vmx_name);
	if (strcmp(buildtype_compiled_name(bt), VMX_BUILDTYPE_NAME) != 0)
		LOG_WRN("%s asks for vmx.buildType \"%s\" (%s) but this binary is the %s build",
			x->vmx_name, buildtype_name(bt), buildtype_binary(bt), VMX_BUILDTYPE_NAME);
	return 0;
}

/* Parses the command line into o; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct vmx_opts *o)
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
		{ "handover", required_argument, NULL, 'O' },
		{ "incoming-handover", required_argument, NULL, 'I' },
		{ "incoming-migration", required_argument, NULL, 'M' },
		{ "migration-status-fd", required_argument, NULL, 'F' },
		{ "verify-checkpoint", required_argument, NULL, 'C' },
		{ "vm-dir-fd", required_argument, NULL, 'D' },
		{ "pass-fd", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *endp;
	int c;

	*o = (struct vmx_opts){ .echo = true, .vm_dir_fd = -1, .migration_status_fd = -1 };
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			print_version();
			return 0;
		case 'E':
			o->elf = optarg;
			break;
		case 'q':
			o->echo = false;
			break;
		case 'R':
			o->resume = true;
			break;
		case 'U':
			errno = 0;
			o->until = strtoull(optarg, &endp, 0);
			if (errno || *endp || !o->until) {
				fprintf(stderr, "vmx: --until-insns: \"%s\" is not a positive number\n",
					optarg);
				return VMX_EXIT_USAGE;
			}
			break;
		case 'H':
			o->want_hash = true;
			break;
		case 'e':
			errno = 0;
			o->hash_every = strtoull(optarg, &endp, 0);
			if (errno || *endp || !o->hash_every) {
				fprintf(stderr, "vmx: --hash-every: \"%s\" is not a positive number\n",
					optarg);
				return VMX_EXIT_USAGE;
			}
			break;
		case 'S':
			o->suspend_at_end = true;
			break;
		case 'O':
			o->handover_to = optarg;
			break;
		case 'I':
			o->incoming = optarg;
			break;
		case 'M':
			o->incoming_migration = optarg;
			break;
		case 'F':
			errno = 0;
			o->migration_status_fd = (int)strtol(optarg, &endp, 10);
			if (errno || *endp || endp == optarg || o->migration_status_fd < 3) {
				fprintf(stderr, "vmx: --migration-status-fd: \"%s\" is not a "
					"descriptor number (3 or more)\n", optarg);
				return VMX_EXIT_USAGE;
			}
			break;
		case 'C':
			return verify_checkpoint(optarg);
		case 'D':
			errno = 0;
			o->vm_dir_fd = (int)strtol(optarg, &endp, 10);
			if (errno || *endp || endp == optarg || o->vm_dir_fd < 3) {
				fprintf(stderr, "vmx: --vm-dir-fd: \"%s\" is not a descriptor number "
					"(3 or more)\n", optarg);
				return VMX_EXIT_USAGE;
			}
			break;
		case 'P': {
			errno = 0;
			long fd = strtol(optarg, &endp, 10);
			int rc;
			if (errno || endp == optarg || *endp != ':' || fd < 3 || fd > INT_MAX) {
				fprintf(stderr, "vmx: --pass-fd: \"%s\" is not N:PATH\n", optarg);
				return VMX_EXIT_USAGE;
			}
			if ((rc = file_pass_add(endp + 1, (int)fd)) < 0) {
				fprintf(stderr, "vmx: --pass-fd %s: %s\n", optarg,
					rc == -EBADF ? "no such open descriptor" :
					rc == -EINVAL ? "PATH must be absolute" : strerror(-rc));
				return VMX_EXIT_USAGE;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return VMX_EXIT_USAGE;
		}
	}
	if (optind + 1 < argc || (optind == argc && !o->elf)) {
		usage(stderr);
		return VMX_EXIT_USAGE;
	}
	if ((o->suspend_at_end || o->handover_to) && !o->until) {
		fprintf(stderr, "vmx: --%s needs --until-insns\n",
			o->suspend_at_end ? "suspend" : "handover");
		return VMX_EXIT_USAGE;
	}
	if (o->suspend_at_end && o->handover_to) {
		fprintf(stderr, "vmx: --suspend and --handover exclude each other\n");
		return VMX_EXIT_USAGE;
	}
	if (o->incoming && (o->elf || o->resume || optind == argc)) {
		fprintf(stderr, "vmx: --incoming-handover needs a .vmx and no --elf or --resume\n");
		return VMX_EXIT_USAGE;
	}
	if (o->incoming_migration && (o->elf || o->resume || o->incoming || optind == argc)) {
		fprintf(stderr, "vmx: --incoming-migration needs a .vmx and no --elf, --resume or "
			"--incoming-handover\n");
		return VMX_EXIT_USAGE;
	}
	if (o->migration_status_fd >= 0 && !o->incoming_migration) {
		fprintf(stderr, "vmx: --migration-status-fd goes with --incoming-migration\n");
		return VMX_EXIT_USAGE;
	}
	return -1;
}

/* Finds the checkpoint path: the one checkpoint.vmState names, or NAME.vmss. */
static int setup_vmss_path(struct vmx *x, struct vmx_opts *o, struct verr *e)
{
	const char *vs = cfg_get(x->cfg, VMX_VMSTATE_KEY);
	char stem[4096];
	int rc;

	if (!x->vmx_path[0])
		return o->resume ? verr_set(e, -EINVAL, "--resume needs a .vmx file") : 0;
	snprintf(stem, sizeof(stem), "%s", x->vmx_path);
	char *dot = strrchr(stem, '.');
	if (dot && strcmp(dot, ".vmx") == 0)
		*dot = 0;
	if (vs && vs[0] && !o->incoming && !o->incoming_migration) {
		rc = cfg_path(x->cfg, VMX_VMSTATE_KEY, x->vmdir, x->vmss_path, sizeof(x->vmss_path),
			      e);
		if (rc < 0)
			return rc;
		o->resume = true;
	} else {
		snprintf(x->vmss_path, sizeof(x->vmss_path), "%s.vmss", stem);
	}
	return 0;
}

/*
 * A NIC without an address got a generated one: store it in the .vmx
 * (ethernetN.generatedAddress, written atomically as every .vmx change) before
 * the guest sees it, so the MAC is the same at every later power-on.
 */
static int store_generated_macs(struct vmx *x, struct verr *e)
{
	struct cfg *c = NULL;
	bool any = false;
	int rc = 0;
	for (unsigned i = 0; i < x->vc.nnics; i++)
		any |= x->vc.nics[i].mac_generated;
	if (!any)
		return 0;
	if (!x->vmx_path[0])
		return verr_set(e, -EINVAL, "a NIC without ethernetN.address needs a .vmx file to "
				"store its generated address in");
	if ((rc = cfg_load(x->vmx_path, &c, e)) < 0)
		return rc;
	for (unsigned i = 0; rc == 0 && i < x->vc.nnics; i++) {
		const struct vm_nic_config *n = &x->vc.nics[i];
		char key[64], mac[18];
		if (!n->mac_generated)
			continue;
		vm_format_mac(n->mac, mac);
		/* VMware's value for an address the product chose. */
		static const char generated[] = "generated";
		snprintf(key, sizeof(key), "ethernet%u.addressType", n->idx);
		rc = cfg_set(c, key, generated);
		snprintf(key, sizeof(key), "ethernet%u.generatedAddress", n->idx);
		if (rc == 0)
			rc = cfg_set(c, key, mac);
		if (rc == 0)
			LOG_INF("ethernet%u: generated MAC address %s, stored in %s", n->idx, mac,
				x->vmx_name);
	}
	if (rc < 0)
		verr_set(e, rc, "%s: cannot store a generated MAC address", x->vmx_name);
	else
		rc = cfg_save(c, x->vmx_path, e);
	cfg_free(c);
	return rc;
}

/*
 * Everything up to running the guest: configuration, log, knobs, the
 * machine (fresh, resumed or handed over), profiler, stats, control socket.
 */
static int vmx_open(struct vmx *x, struct vmx_opts *o, struct verr *e)
{
	int rc;

	log_set_thread_name("vmx");
	mxuser_lock_init(&x->suspend_lock, "vmxSuspend", MXUSER_RANK_CTL);
	mxuser_cond_init(&x->hash_cond, "vmxHash");
	handover_init(&x->ho);
	migration_init(&x->mig);
	x->mig.status_fd = o->migration_status_fd;
	if (x->mig.status_fd >= 0)
		fcntl(x->mig.status_fd, F_SETFD, FD_CLOEXEC);
	if (x->vmx_path[0]) {
		if ((rc = setup_config(x, o->echo, o->vm_dir_fd, e)) < 0)
			return rc;
	} else {
		x->cfg = cfg_new("<command line>");
		if (!x->cfg)
			return verr_set(e, -ENOMEM, "out of memory");
		if (!getcwd(x->vmdir, sizeof(x->vmdir)))
			snprintf(x->vmdir, sizeof(x->vmdir), ".");
	}
	if ((rc = vm_config_from_cfg(&x->vc, x->cfg, x->vmdir, e)) < 0)
		return rc;
	if ((rc = store_generated_macs(x, e)) < 0)
		return rc;
	if (o->elf)
		snprintf(x->vc.elf, sizeof(x->vc.elf), "%s", o->elf);
	if ((rc = install_signals()) < 0)
		return verr_set(e, rc, "cannot install signal handlers");
	/* Stats build knobs before any lock exists; beta crash reports into the VM directory. */
	if ((rc = stats_configure(x->cfg, e)) < 0)
		return rc;
	/* opt/obj builds: the test knobs that break a beta check or pause a hand-over on purpose. */
	if ((rc = dbg_configure(x->cfg, e)) < 0 || (rc = handover_configure(x, e)) < 0 ||
	    (rc = migration_configure(x, e)) < 0)
		return rc;
	crashrep_install(x->vmdir);
	if ((rc = setup_vmss_path(x, o, e)) < 0)
		return rc;
	if (o->incoming) {
		if ((rc = handover_receive(x, o->incoming, e)) < 0)
			return verr_prefix(e, rc, "handover");
	} else if (o->incoming_migration) {
		if ((rc = migration_receive(x, o->incoming_migration, e)) < 0)
			return verr_prefix(e, rc, "migration");
	} else {
		x->vc.resume = o->resume;
		if ((rc = vm_create(&x->vm, &x->vc, e)) < 0)
			return rc;
	}
	crashrep_set_guest_dump(crashrep_dump_vm, x->vm);
	if (o->resume && (rc = do_resume(x, e)) < 0)
		return verr_prefix(e, rc, "resume failed (checkpoint left in place): %s",
				   VMX_VMSTATE_KEY);
	if (x->vmx_path[0]) {
		/* Stats build: the callstack profiler samples this thread, the one running the vCPUs. */
		if ((rc = cs_start(x->cfg, x->vmdir, e)) < 0 || (rc = stats_start(x->vmdir, e)) < 0 ||
		    (rc = ctl_start(&x->ctl, x, e)) < 0)
			return rc;
	}
	if (o->resume && pthread_create(&x->resume_cleanup, NULL, resume_cleanup_thread, x) == 0)
		x->resume_cleanup_started = true;
	return 0;
}

/* The one teardown path, whatever vmx_open reached. */
static void vmx_close(struct vmx *x)
{
	if (x->ctl)
		ctl_stop(x->ctl);
	cs_stop();
	stats_stop();
	/* The reader's lazy-load threads write guest RAM: end them before RAM goes. */
	ckpt_reader_close(x->resume_reader);
	handover_close(&x->ho);
	migration_close(&x->mig);
	crashrep_set_guest_dump(NULL, NULL);
	vm_destroy(x->vm);
	cfg_free(x->cfg);
	log_close();
}

int main(int argc, char **argv)
{
	struct vmx *x = &g_vmx;
	struct vmx_opts o;
	struct verr e = { "" };
	int code;

	x->start_ns = vmx_now_ns();
	if ((code = parse_args(argc, argv, &o)) >= 0)
		return code;
	if (optind < argc) {
		snprintf(x->vmx_path, sizeof(x->vmx_path), "%s", argv[optind]);
		snprintf(x->vmx_name, sizeof(x->vmx_name), "%s", argv[optind]);
	}
	if (vmx_open(x, &o, &e) < 0) {
		LOG_ERR("%s", e.msg);
		code = VMX_EXIT_ERROR;
	} else {
		code = vmx_run(x, &o);
	}
	vmx_close(x);
	return code;
}
