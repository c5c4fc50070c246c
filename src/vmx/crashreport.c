/*
 * crashreport.c - the crash report of every build type (crashrep.h).
 *
 * A support engineer gets the same report from a release VM as from a debug
 * one: the reason, the version and build type, a backtrace, every hart's
 * registers and the log tail.  Only the backtrace differs: the beta build
 * symbolizes every thread (src/debug/crashrep.c, linked into debug builds
 * only); the others print the failing thread's frames as module+offset,
 * which addr2line resolves against the shipped binary.
 *
 * This runs once, while the process is dying; it prefers getting a report
 * out over strict async-signal safety.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../board/vm.h"
#include "../cpu/hart.h"
#include "../cpu/hart_state.h"
#include "../debug/crashrep.h"
#include "../lib/crash.h"
#include "../lib/log.h"

#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_set_death_callback(void (*callback)(void));
#endif

static char report_dir[4096] = ".";
static char report_path[4400];
static crashrep_guest_fn guest_fn;
static void *guest_ctx;

void crashrep_format_hart(FILE *f, const struct hart_state *s)
{
	static const char *const abi[32] = {
		"zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0",
		"a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5",
		"s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
	};
	fprintf(f, "hart %llu: pc %016llx priv %llu instret %llu\n",
		(unsigned long long)s->hartid, (unsigned long long)s->pc,
		(unsigned long long)s->priv, (unsigned long long)s->icount);
	for (int i = 0; i < 32; i++)
		fprintf(f, "  %-4s %016llx%s", abi[i], (unsigned long long)s->x[i],
			i % 4 == 3 ? "\n" : "");
	fprintf(f, "  mstatus %016llx mie %016llx mip %016llx\n"
		   "  mepc %016llx mcause %016llx mtval %016llx mtvec %016llx\n"
		   "  sepc %016llx scause %016llx stval %016llx stvec %016llx\n"
		   "  satp %016llx medeleg %016llx mideleg %016llx stimecmp %016llx\n",
		(unsigned long long)s->mstatus, (unsigned long long)s->mie,
		(unsigned long long)s->mip, (unsigned long long)s->mepc,
		(unsigned long long)s->mcause, (unsigned long long)s->mtval,
		(unsigned long long)s->mtvec, (unsigned long long)s->sepc,
		(unsigned long long)s->scause, (unsigned long long)s->stval,
		(unsigned long long)s->stvec, (unsigned long long)s->satp,
		(unsigned long long)s->medeleg, (unsigned long long)s->mideleg,
		(unsigned long long)s->stimecmp);
}

void crashrep_dump_vm(FILE *f, void *ctx)
{
	struct vm *vm = ctx;

	if (!vm) {
		fprintf(f, "(no machine)\n");
		return;
	}
	for (unsigned i = 0; i < VM_MAX_HARTS; i++) {
		struct hart *h = vm_hart(vm, i);
		if (!h)
			break;
		crashrep_format_hart(f, hart_state(h));
		fputc('\n', f);
	}
}

#if !VMX_DEBUG
/* The failing thread's frames as module+offset (no symbol table is read here). */
static void raw_backtrace(FILE *f)
{
	void *frames[48];
	int n = backtrace(frames, 48);
	fprintf(f, "== the failing thread (addr2line -f -e <module> <offset>)\n");
	for (int i = 0; i < n; i++) {
		Dl_info info;
		if (dladdr(frames[i], &info) && info.dli_fname)
			fprintf(f, "  #%-2d %p %s+0x%llx\n", i, frames[i], info.dli_fname,
				(unsigned long long)((uintptr_t)frames[i] - (uintptr_t)info.dli_fbase));
		else
			fprintf(f, "  #%-2d %p\n", i, frames[i]);
	}
}
#endif

const char *crashrep_write(const char *msg)
{
	static char tail[64 * 1024];
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int fd;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(report_path, sizeof(report_path), "%s/vmx-crash-%s-%d.txt", report_dir, stamp,
		 (int)getpid());
	fd = open(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		fprintf(stderr, "vmx: cannot write crash report %s: %s\n", report_path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	fprintf(f, "vmx3 crash report\nversion %s build %s buildType=%s pid %d time %s UTC\n\n",
		vmx_version, vmx_revision, VMX_BUILDTYPE_NAME, (int)getpid(), stamp);
	fprintf(f, "message: %s\n\n", msg);
	fflush(f);
	fprintf(f, "---- backtraces\n");
#if VMX_DEBUG
	crashrep_bt_all(f);
#else
	raw_backtrace(f);
#endif
	fflush(f);
	fprintf(f, "\n---- guest vCPU state\n");
	if (guest_fn)
		guest_fn(f, guest_ctx);
	else
		fprintf(f, "(no guest state available: the machine was not running)\n");
	fflush(f);
	fprintf(f, "\n---- last lines of the log\n");
	log_tail(tail, sizeof(tail), 40);
	fputs(tail, f);
	if (tail[0] && tail[strlen(tail) - 1] != '\n')
		fputc('\n', f);
	fclose(f);
	fprintf(stderr, "vmx: crash report written to %s\n", report_path);
	return report_path;
}

static void panic_hook(const char *msg)
{
	if (crashrep_write(msg))
		LOG_ERR("crash report: %s", report_path);
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	vmx_panic(__FILE__, __LINE__, "fatal signal %d (%s) at address %p", sig, strsignal(sig),
		  si->si_addr);
}

int crashrep_install(const char *dir)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sigaction sa = { 0 };

	snprintf(report_dir, sizeof(report_dir), "%s", dir ? dir : ".");
#if VMX_DEBUG
	crashrep_bt_prepare();
#else
	{
		/* backtrace() loads libgcc on first use: not in a dying process. */
		void *warm[1];
		backtrace(warm, 1);
	}
#endif
	/* Under ASan (obj) its own reports of these signals are more useful than ours. */
#if !defined(__SANITIZE_ADDRESS__)
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < VMX_ARRAY_SIZE(fatal); i++)
		sigaction(fatal[i], &sa, NULL);
#else
	(void)fatal;
	(void)sa;
	(void)on_fatal;
	/* ASan reports and exits on its own: the cleanups (control socket) still run. */
	__sanitizer_set_death_callback(crash_run_cleanups);
#endif
	crash_set_hook(panic_hook);
	return 0;
}

void crashrep_set_guest_dump(crashrep_guest_fn fn, void *ctx)
{
	guest_fn = fn;
	guest_ctx = ctx;
}
