/*
 * crashrep.c - the beta build's part of the crash report (crashrep.h): a
 * symbolized backtrace of every thread.  The report itself, written by every
 * build type, is in src/vmx/crashreport.c.
 *
 * Backtraces of other threads: each thread is sent a real-time signal whose
 * handler records its own stack with backtrace(); the crashing thread waits a
 * bounded time for them, so a thread that cannot run (stuck in the kernel)
 * costs a short delay and a note, never a hang.  Symbols of the vmx binary
 * come from its own .symtab read with libelf (static functions included,
 * which backtrace_symbols cannot name without -rdynamic); shared-library
 * frames are named by dladdr().
 *
 * This runs once, while the process is dying; it prefers getting a report
 * out over strict async-signal safety.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "crashrep.h"

#define MAX_THREADS 64
#define MAX_FRAMES 48

struct thread_bt {
	_Atomic int tid;
	_Atomic int done;
	int n;
	void *frames[MAX_FRAMES];
};

static struct thread_bt bts[MAX_THREADS];
static int bt_signal;

struct sym {
	uint64_t addr, size;
	const char *name;
};
static struct sym *syms;
static size_t nsyms;
static Elf *exe_elf;
static int exe_fd = -1;
static void *exe_base;
static bool exe_pie;

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Reads the function symbols of /proc/self/exe (kept for the process lifetime). */
static void load_symbols(void)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return;
	exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe_fd < 0)
		return;
	exe_elf = elf_begin(exe_fd, ELF_C_READ, NULL);
	if (!exe_elf)
		return;
	{
		GElf_Ehdr eh;
		Dl_info info;
		if (gelf_getehdr(exe_elf, &eh))
			exe_pie = eh.e_type == ET_DYN;
		if (dladdr((void *)(uintptr_t)load_symbols, &info))
			exe_base = info.dli_fbase;
	}
	while ((scn = elf_nextscn(exe_elf, scn))) {
		Elf_Data *data;
		size_t n;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		n = sh.sh_size / sh.sh_entsize;
		syms = calloc(n, sizeof(*syms));
		if (!data || !syms)
			return;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym s;
			if (!gelf_getsym(data, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    !s.st_value)
				continue;
			syms[nsyms++] = (struct sym){ s.st_value, s.st_size,
						      elf_strptr(exe_elf, sh.sh_link, s.st_name) };
		}
		qsort(syms, nsyms, sizeof(*syms), by_addr);
		break;
	}
}

static const struct sym *lookup(uint64_t x)
{
	size_t lo = 0, hi = nsyms;

	if (!nsyms || x < syms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (syms[mid].addr <= x)
			lo = mid;
		else
			hi = mid;
	}
	return x < syms[lo].addr + (syms[lo].size ? syms[lo].size : 1) ? &syms[lo] : NULL;
}

static void symbolize(FILE *f, unsigned i, void *pc)
{
	Dl_info info;
	/* Above frame 0 pc is a return address, possibly just past a noreturn call. */
	uint64_t a = (uint64_t)(uintptr_t)pc - (i > 0);
	const struct sym *s;

	if (!dladdr(pc, &info) || !info.dli_fname) {
		fprintf(f, "  #%-2u %p\n", i, pc);
		return;
	}
	if (info.dli_fbase == exe_base) {
		/* Symbol values of a PIE are offsets from its load base. */
		uint64_t x = exe_pie ? a - (uint64_t)(uintptr_t)exe_base : a;
		s = lookup(x);
		if (s) {
			fprintf(f, "  #%-2u %p %s+0x%llx\n", i, pc, s->name,
				(unsigned long long)(x - s->addr + (i > 0)));
			return;
		}
	}
	if (info.dli_sname)
		fprintf(f, "  #%-2u %p %s+0x%llx (%s)\n", i, pc, info.dli_sname,
			(unsigned long long)(a - (uint64_t)(uintptr_t)info.dli_saddr + (i > 0)),
			info.dli_fname);
	else
		fprintf(f, "  #%-2u %p (%s+0x%llx)\n", i, pc, info.dli_fname,
			(unsigned long long)(a - (uint64_t)(uintptr_t)info.dli_fbase + (i > 0)));
}

static int gettid_(void) { return (int)syscall(SYS_gettid); }

static void on_bt_signal(int sig)
{
	int tid = gettid_();
	(void)sig;
	for (int i = 0; i < MAX_THREADS; i++) {
		if (atomic_load(&bts[i].tid) == tid) {
			bts[i].n = backtrace(bts[i].frames, MAX_FRAMES);
			atomic_store(&bts[i].done, 1);
			return;
		}
	}
}

static void thread_name(int tid, char *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
}

static void all_backtraces(FILE *f)
{
	int self = gettid_(), nt = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	void *frames[MAX_FRAMES];
	char name[32];
	int n;

	thread_name(self, name, sizeof(name));
	fprintf(f, "== thread %d \"%s\" (the one that failed)\n", self, name);
	n = backtrace(frames, MAX_FRAMES);
	for (int i = 0; i < n; i++)
		symbolize(f, (unsigned)i, frames[i]);
	if (!d)
		return;
	while ((de = readdir(d)) && nt < MAX_THREADS) {
		int tid = atoi(de->d_name);
		if (tid <= 0 || tid == self)
			continue;
		atomic_store(&bts[nt].done, 0);
		atomic_store(&bts[nt].tid, tid);
		if (syscall(SYS_tgkill, getpid(), tid, bt_signal) == 0)
			nt++;
	}
	closedir(d);
	for (int i = 0; i < nt; i++) {
		struct timespec ms = { 0, 1000000 };
		int tid = atomic_load(&bts[i].tid);
		for (int w = 0; w < 200 && !atomic_load(&bts[i].done); w++)
			nanosleep(&ms, NULL);
		thread_name(tid, name, sizeof(name));
		fprintf(f, "\n== thread %d \"%s\"\n", tid, name);
		if (!atomic_load(&bts[i].done)) {
			fprintf(f, "  (did not answer within 200 ms)\n");
			continue;
		}
		for (int j = 0; j < bts[i].n; j++)
			symbolize(f, (unsigned)j, bts[i].frames[j]);
	}
}

void crashrep_bt_prepare(void)
{
	struct sigaction sa = { 0 };

	if (!syms)
		load_symbols();
	bt_signal = SIGRTMIN + 3;
	sa.sa_handler = on_bt_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(bt_signal, &sa, NULL);
}

void crashrep_bt_all(FILE *f)
{
	all_backtraces(f);
}
