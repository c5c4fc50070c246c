/*
 * cs_collect.c - the callstack profiler's sampling and collection.
 *
 * Sampled threads get a CLOCK_MONOTONIC timer delivering SIGPROF to that
 * thread alone (SIGEV_THREAD_ID) at CS_HZ, so waits (WFI idle, I/O) show up
 * as time like in kstats.  The handler is async-signal-safe: it only reads
 * (the hart the board published in hart_current, guest RAM through
 * hart_peek_virt, its own stack within the bounds recorded at attach time)
 * and writes one slot of the thread's single-producer ring.  The collector
 * thread drains the rings into the bounded table every 100 ms and writes the
 * symbolized profile every CS_WRITE_INTERVAL_S seconds and at cs_stop().
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include "../cpu/hart.h"
#include "../lib/cfg.h"
#include "../lib/log.h"
#include "../lib/mxuser.h"
#include "callstack.h"
#include "cs_kallsyms.h"
#include "kstat.h"

#define CS_RING 64                  /* samples: 660 ms at 97 Hz, drained every 250 ms */
#define CS_DRAIN_NS 250000000ull    /* each wake-up of the collector costs the host a CPU switch */
#define CS_MAX_THREADS 16   /* the main thread, the vCPU threads, room for others */
#define CS_MAX_VCPUS 8
#define CS_WRITE_INTERVAL_S 10
#define CS_BUCKET_S 1
#define CS_USER_AS 64               /* address spaces tracked per guest.userSymbols program */
#define CS_USER_PROGS 8             /* programs in guest.userSymbols */

/* One program of guest.userSymbols and the address spaces checked against its code. */
struct cs_prog {
	struct cs_symtab *sym;
	char name[64], path[4096];
	uint8_t *code;
	uint64_t lo, hi;
	uint64_t as[CS_USER_AS];
	uint32_t match[CS_USER_AS], mismatch[CS_USER_AS];
	unsigned nas;
};

struct cs_thread {
	struct cs_sample ring[CS_RING];
	uint8_t stack[CS_RING][CS_STACK_COPY];   /* each sample's copy of the monitor's stack */
	_Atomic uint32_t head, tail;     /* head: handler only; tail: collector only */
	_Atomic uint64_t drops;
	uint64_t stack_lo, stack_hi;
	timer_t timer;
	bool timer_ok;
	sigset_t wait_mask;              /* the thread's mask plus SIGPROF (cs_wait_sigmask) */
};

static struct {
	bool started;
	_Atomic bool running;
	struct cs_thread *threads[CS_MAX_THREADS];
	_Atomic unsigned nthreads;
	struct cs_thread *vcpu[CS_MAX_VCPUS];   /* the ring of each vCPU thread, kept across runs */
	_Atomic uint64_t signals;
	_Atomic uint64_t pc_exact, pc_block;  /* guest samples by pc precision */
	_Atomic uint64_t handler_ns;     /* time spent in the handler, for the overhead figure */
	_Atomic uint64_t collector_ns;   /* CPU time of the collector thread so far */
	uint64_t gstops[CS_GSTOP_N];     /* guest walks by stop reason (collector only) */
	uint64_t hstops[CS_HSTOP_N];     /* monitor walks by stop reason (collector only) */
	struct cs_unwind *unwind;        /* the monitor's CFI (collector only) */
	bool unwind_failed;
	struct cs_table *table;
	struct cs_symtab *mon, *guest;
	/* guest.userSymbols: programs, each recognised per address space by its code. */
	struct cs_prog prog[CS_USER_PROGS];
	unsigned nprog;
	char guest_syms[4096];
	char console_path[4096];
	char guest_image[4096];
	char kcache_path[4200];          /* guest.kernel's decoded symbols (cs_kcache.c), "" for none */
	bool kallsyms_tried;             /* guest.kernel's kallsyms decoded (or failed) once */
	uint64_t console_tried_ns;       /* last look for kallsyms in the console log */
	char path[4200];
	uint64_t t0_ns, start_unix_ns;
	pthread_t collector;
	struct mxuser_lock lock;         /* stop flag, with cond to wake the collector */
	struct mxuser_cond cond;
	bool stop;
	struct sigaction old_sa;
} cs = { .lock = MXUSER_LOCK_INITIALIZER("callstackCollector", MXUSER_RANK_STATS) };

static _Thread_local struct cs_thread *cs_self;
static volatile unsigned cs_slow_us;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool peek_hart(const void *ctx, uint64_t va, void *buf, unsigned len)
{
	return hart_peek_virt(ctx, va, buf, len);
}

/* The guest's call chain: pc, then the return addresses of the s0/fp chain. */
static unsigned walk_guest(const struct hart *h, uint64_t pc, uint64_t *out, unsigned max,
			   uint8_t *stop)
{
	uint64_t satp = hart_peek_satp(h);
	unsigned mode = (unsigned)(satp >> 60), vabits = 0;
	/* Canonical form follows the translation the walk reads through (peek.c). */
	if (hart_peek_priv(h) != 3)
		vabits = mode == 8 ? 39 : mode == 9 ? 48 : mode == 10 ? 57 : 0;
	return cs_walk_guest(peek_hart, h, vabits, pc, hart_get_xreg(h, 8), hart_get_xreg(h, 2),
			     hart_get_xreg(h, 1), out, max, stop);
}

/*
 * Copies the interrupted thread's raw stack from a signal handler: it holds
 * locals the sanitizers may have poisoned a moment ago (a scope just left),
 * so neither ASan nor TSan instruments this copy, and it is a loop of word
 * loads, never a call to their checked memcpy.
 */
__attribute__((no_sanitize("address", "thread"), noinline))
static void copy_stack(uint8_t *dst, uint64_t src, uint32_t len)
{
	const volatile uint64_t *s = (const volatile uint64_t *)(uintptr_t)src;
	uint64_t *d = (uint64_t *)(void *)dst;
	for (uint32_t i = 0; i < len / 8; i++)
		d[i] = s[i];
}

static void cs_handler(int sig, siginfo_t *si, void *ucv)
{
	struct cs_thread *t = cs_self;
	const ucontext_t *uc = ucv;
	int saved = errno;
	(void)sig;
	(void)si;

	if (!t || !atomic_load_explicit(&cs.running, memory_order_relaxed))
		goto out;
	atomic_fetch_add_explicit(&cs.signals, 1, memory_order_relaxed);
	/*
	 * Ticks that expired while this signal was pending (the thread slept
	 * with SIGPROF blocked, or waited for a host CPU) are overruns: this
	 * sample stands for all of them, and the kstats are charged for all.
	 */
	int over = timer_getoverrun(t->timer);
	unsigned ticks = 1 + (over > 0 ? (unsigned)over : 0);
	if (ticks > UINT16_MAX)
		ticks = UINT16_MAX;
	kstat_sample_self(ticks);
	uint32_t head = atomic_load_explicit(&t->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
	if (head - tail >= CS_RING) {
		atomic_fetch_add_explicit(&t->drops, 1, memory_order_relaxed);
		goto out;
	}
	struct cs_sample *s = &t->ring[head % CS_RING];
	const struct hart *h = hart_current;
	s->t_ns = now_ns(CLOCK_MONOTONIC);
	s->weight = (uint16_t)ticks;
	s->kstat = (uint16_t)kstat_vcpu_cur(&kstat_vcpus[stats_slot]);
	if (h) {
		uint64_t regs[NGREG], pc;
		for (unsigned i = 0; i < NGREG; i++)
			regs[i] = (uint64_t)uc->uc_mcontext.gregs[i];
		s->pc_exact = hart_peek_pc(h, regs, NGREG, &pc, &s->graw);
		atomic_fetch_add_explicit(s->pc_exact ? &cs.pc_exact : &cs.pc_block, 1,
					  memory_order_relaxed);
		s->vcpu = (uint8_t)hart_id(h);
		s->priv = (uint8_t)hart_peek_priv(h);
		s->nguest = (uint8_t)walk_guest(h, pc, s->guest, CS_MAX_GUEST, &s->gstop);
		/* User code is named per address space: satp without its mode field. */
		uint64_t satp = hart_peek_satp(h);
		s->as = s->priv == 0 && (satp >> 60) ? satp & ((1ull << 60) - 1) : 0;
	} else {
		s->vcpu = CS_VCPU_NONE;
		s->priv = 0;
		s->nguest = 0;
		s->pc_exact = 0;
		s->graw = 0;
		s->as = 0;
	}
	/*
	 * The monitor's stack is unwound on the collector, from the registers
	 * and a copy of the stack's top: the handler cannot read unwind tables.
	 */
	s->hregs = (struct cs_hregs){ (uint64_t)uc->uc_mcontext.gregs[REG_RIP],
				      (uint64_t)uc->uc_mcontext.gregs[REG_RSP],
				      (uint64_t)uc->uc_mcontext.gregs[REG_RBP] };
	s->stack_len = 0;
	/* x86-64 code keeps sp 8-aligned; anything else is not a stack to read. */
	if (s->hregs.sp >= t->stack_lo && s->hregs.sp < t->stack_hi && !(s->hregs.sp & 7)) {
		uint64_t len = t->stack_hi - s->hregs.sp;
		s->stack_len = (uint32_t)(len < CS_STACK_COPY ? len : CS_STACK_COPY) & ~7u;
		copy_stack(t->stack[head % CS_RING], s->hregs.sp, s->stack_len);
	}
	if (h)
		hart_peek_jit(h, &s->hjit.lo, &s->hjit.body, &s->hjit.hi);
	else
		s->hjit = (struct cs_hjit){ 0, 0, 0 };
	atomic_store_explicit(&t->head, head + 1, memory_order_release);
	atomic_fetch_add_explicit(&cs.handler_ns, now_ns(CLOCK_MONOTONIC) - s->t_ns,
				  memory_order_relaxed);
out:
	errno = saved;
}

/*
 * Guest symbols that are not named in the .vmx file, found on the collector
 * thread: needed before the first samples are drained (the walk's symbol
 * rules use them), but never on the vCPU thread.
 */
static void find_guest_symbols(void)
{
	struct verr e = { 0 };
	/*
	 * No symbols named: the kernel's own kallsyms tables, in the Image it
	 * boots.  Done here, on the collector thread at its first drain, not in
	 * cs_start: decoding takes ~0.15 s, which a runtime switch to the stats
	 * build would otherwise add to the VM's downtime.
	 */
	if (!cs.guest && cs.guest_image[0] && !cs.kallsyms_tried) {
		struct cs_symtab *t;
		bool cached;
		cs.kallsyms_tried = true;
		if (cs_symtab_from_kernel_cached(&t, cs.guest_image, CS_KERNEL_LINK_BASE,
						 cs.kcache_path[0] ? cs.kcache_path : NULL, &cached,
						 &e) == 0) {
			cs.guest = t;
			snprintf(cs.guest_syms, sizeof(cs.guest_syms), "%s#kallsyms", cs.guest_image);
			LOG_INF("callstack: %u guest kernel symbols from the kallsyms tables of %s%s%s%s",
				cs_symtab_count(t), cs.guest_image,
				cached ? " (decoded before: " : "", cached ? cs.kcache_path : "",
				cached ? ")" : "");
		} else {
			LOG_INF("callstack: no guest symbols from guest.kernel: %s", e.msg);
			e.msg[0] = 0;
		}
	}
	/*
	 * Auto-gathered guest symbols: the guest's kallsyms workload on the
	 * console, looked for as often as the profile is written.
	 */
	if (!cs.guest && cs.console_path[0] &&
	    now_ns(CLOCK_MONOTONIC) - cs.console_tried_ns >= CS_WRITE_INTERVAL_S * 1000000000ull) {
		cs.console_tried_ns = now_ns(CLOCK_MONOTONIC);
		struct cs_symtab *t;
		if (cs_symtab_load_console(&t, cs.console_path, &e) == 0) {
			cs.guest = t;
			snprintf(cs.guest_syms, sizeof(cs.guest_syms), "%s#console-kallsyms",
				 cs.console_path);
			LOG_INF("callstack: %u guest symbols from the console log",
				cs_symtab_count(t));
		}
	}
}

/*
 * Is this address space running one of guest.userSymbols' programs?  An
 * exactly sampled user instruction inside a program's code range either has
 * the ELF's bits there or not; the verdict is the majority (written with the
 * counts in the profile).  Without this, one program's names would be put
 * on every process's code.
 */
static void recognise_user(struct cs_prog *g, const struct cs_sample *smp)
{
	uint64_t pc = smp->guest[0];
	unsigned len = (smp->graw & 3) == 3 ? 4 : 2, i;
	if (pc < g->lo || pc + len > g->hi)
		return;
	for (i = 0; i < g->nas && g->as[i] != smp->as; i++)
		;
	if (i == g->nas) {
		if (i == CS_USER_AS)
			return;
		g->as[i] = smp->as;
		g->match[i] = g->mismatch[i] = 0;
		g->nas++;
	}
	uint32_t want = 0;
	memcpy(&want, g->code + (pc - g->lo), len);
	if (want == smp->graw)
		g->match[i]++;
	else
		g->mismatch[i]++;
}

static void drain(void)
{
	find_guest_symbols();
	if (!cs.unwind && !cs.unwind_failed) {
		/* Here, not in cs_start: a switch to the stats build waits for cs_start. */
		struct verr e = { 0 };
		if (cs_unwind_new(&cs.unwind, &e) < 0) {
			cs.unwind_failed = true;
			LOG_WRN("%s: monitor frames are the sampled pc alone", e.msg);
		}
	}
	unsigned n = atomic_load(&cs.nthreads);
	for (unsigned i = 0; i < n; i++) {
		struct cs_thread *t = cs.threads[i];
		uint32_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
		uint32_t head = atomic_load_explicit(&t->head, memory_order_acquire);
		for (; tail != head; tail++) {
			struct cs_sample *smp = &t->ring[tail % CS_RING];
			if (smp->as && smp->pc_exact && smp->graw)
				for (unsigned p = 0; p < cs.nprog; p++)
					recognise_user(&cs.prog[p], smp);
			if (smp->nguest) {
				smp->nguest = (uint8_t)cs_trim_guest(cs.guest, smp->priv == 3,
								     smp->guest, smp->nguest,
								     &smp->gstop);
				cs.gstops[smp->gstop < CS_GSTOP_N ? smp->gstop : CS_GSTOP_END]++;
			}
			if (cs.unwind) {
				smp->nmon = (uint8_t)cs_unwind_walk(cs.unwind, &smp->hregs,
								    t->stack[tail % CS_RING],
								    smp->stack_len, &smp->hjit,
								    smp->mon, CS_MAX_MON,
								    &smp->hstop);
			} else {
				smp->mon[0] = smp->hregs.pc;
				smp->nmon = 1;
				smp->hstop = CS_HSTOP_NO_CFI;
			}
			cs.hstops[smp->hstop < CS_HSTOP_N ? smp->hstop : CS_HSTOP_END]++;
			cs_table_add(cs.table, smp, cs.t0_ns);
		}
		atomic_store_explicit(&t->tail, tail, memory_order_release);
	}
}

static void write_profile(void)
{
	struct verr e = { 0 };
	struct cs_meta m = { 0 };
	unsigned n = atomic_load(&cs.nthreads);

	if (!cs.path[0])
		return;
	char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = 0;
	m.exe = exe;
	m.exe_bias = cs_self_bias();
	m.guest_image = cs.guest_image;
	m.buildtype = VMX_BUILDTYPE_NAME;
	m.guest_symbols = cs.guest_syms;
	m.hz = CS_HZ;
	m.start_unix_ns = cs.start_unix_ns;
	m.elapsed_ns = now_ns(CLOCK_MONOTONIC) - cs.t0_ns;
	m.signals = atomic_load(&cs.signals);
	m.pc_exact = atomic_load(&cs.pc_exact);
	m.pc_block = atomic_load(&cs.pc_block);
	m.handler_ns = atomic_load(&cs.handler_ns);
	m.collector_ns = atomic_load(&cs.collector_ns);
	for (unsigned i = 0; i < n; i++)
		m.ring_drops += atomic_load(&cs.threads[i]->drops);
	memcpy(m.gstops, cs.gstops, sizeof(m.gstops));
	memcpy(m.hstops, cs.hstops, sizeof(m.hstops));
	struct cs_user user[CS_USER_PROGS];
	for (unsigned p = 0; p < cs.nprog; p++) {
		const struct cs_prog *g = &cs.prog[p];
		user[p] = (struct cs_user){ g->sym, g->name, g->path, g->nas, g->as, g->match,
					    g->mismatch };
	}
	m.user = cs.nprog ? user : NULL;
	m.nuser = cs.nprog;
	if (cs_write_profile(cs.path, cs.table, &m, cs.mon, cs.guest, &e) < 0)
		LOG_WRN("callstack: %s", e.msg);
}

static void *collector(void *arg)
{
	uint64_t last_write = now_ns(CLOCK_MONOTONIC);
	(void)arg;
	/*
	 * On a busy host the vCPU threads come first: the collector's work
	 * (decoding the guest kernel's symbols, then draining and writing) can
	 * wait, its rings hold 660 ms.  Nice 5 still gives it about a quarter
	 * of a CPU shared with one busy thread.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5) < 0)
		LOG_DBG("callstack: collector priority: %s", strerror(errno));
	mxuser_lock(&cs.lock);
	while (!cs.stop) {
		mxuser_cond_timedwait(&cs.cond, &cs.lock, mxuser_now_ns() + CS_DRAIN_NS);
		if (cs.stop)
			break;
		mxuser_unlock(&cs.lock);
		drain();
		if (now_ns(CLOCK_MONOTONIC) - last_write >= CS_WRITE_INTERVAL_S * 1000000000ull) {
			write_profile();
			last_write = now_ns(CLOCK_MONOTONIC);
		}
		atomic_store(&cs.collector_ns, now_ns(CLOCK_THREAD_CPUTIME_ID));
		mxuser_lock(&cs.lock);
	}
	mxuser_unlock(&cs.lock);
	return NULL;
}

/* Arms t's timer for the calling thread: its ticks land in t's ring from now on. */
static int arm_thread(struct cs_thread *t, struct verr *e)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
			t->stack_lo = (uint64_t)(uintptr_t)addr;
			t->stack_hi = t->stack_lo + size;
		}
		pthread_attr_destroy(&attr);
	}
	struct sigevent sev = { 0 };
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGPROF;
	sev._sigev_un._tid = gettid();   /* sigev_notify_thread_id in newer glibc */
	if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer) < 0) {
		int rc = -errno;
		return verr_set(e, rc, "callstack: timer_create: %s", strerror(-rc));
	}
	t->timer_ok = true;
	pthread_sigmask(SIG_BLOCK, NULL, &t->wait_mask);
	sigaddset(&t->wait_mask, SIGPROF);
	/* kstats come from this thread's own ticks; without it, the stats thread samples it. */
	if (kstat_self_begin() < 0)
		LOG_WRN("callstack: kstats of this thread stay with the stats thread's sampler");
	cs_self = t;
	long period = 1000000000L / CS_HZ;
	struct itimerspec its = { { 0, period }, { 0, period } };
	timer_settime(t->timer, 0, &its, NULL);
	return 0;
}

/* A new ring, listed for the collector (which reads every listed ring until cs_stop). */
static struct cs_thread *new_thread(struct verr *e)
{
	unsigned n = atomic_load(&cs.nthreads);
	if (n == CS_MAX_THREADS) {
		verr_set(e, -ENOSPC, "callstack: too many sampled threads");
		return NULL;
	}
	struct cs_thread *t = calloc(1, sizeof(*t));
	if (!t) {
		verr_set(e, -ENOMEM, "callstack: out of memory");
		return NULL;
	}
	cs.threads[n] = t;
	atomic_store(&cs.nthreads, n + 1);
	return t;
}

/* Samples the calling thread from now on. */
static int attach_thread(struct verr *e)
{
	struct cs_thread *t = new_thread(e);
	return t ? arm_thread(t, e) : -ENOMEM;
}

int cs_vcpu_attach(unsigned idx, struct verr *e)
{
	if (!atomic_load(&cs.running) || idx >= CS_MAX_VCPUS)
		return 0;
	mxuser_lock(&cs.lock);
	struct cs_thread *t = cs.vcpu[idx];
	if (!t)
		t = cs.vcpu[idx] = new_thread(e);
	mxuser_unlock(&cs.lock);
	return t ? arm_thread(t, e) : -ENOMEM;
}

void cs_vcpu_detach(void)
{
	struct cs_thread *t = cs_self;
	if (!t)
		return;
	if (t->timer_ok)
		timer_delete(t->timer);
	t->timer_ok = false;
	/* A tick already queued finds nothing to do. */
	cs_self = NULL;
	kstat_self_end();
}

/*
 * guest.userSymbols = "PROG:FILE;PROG:FILE..." (each also just FILE, PROG
 * then the file's name): user programs' ELFs, kept apart from the kernel's
 * table (which is still looked for as without them) and each applied only
 * where that program runs.
 */
static void free_user(void)
{
	for (unsigned p = 0; p < cs.nprog; p++) {
		cs_symtab_free(cs.prog[p].sym);
		free(cs.prog[p].code);
	}
	memset(cs.prog, 0, sizeof(cs.prog));
	cs.nprog = 0;
}

static int read_user_program(const char *prog, const char *file, const char *vmdir,
			     struct verr *e)
{
	char p[4096];
	struct cs_prog *g;
	int rc;

	if (cs.nprog == CS_USER_PROGS)
		return verr_set(e, -E2BIG, "guest.userSymbols: more than %d programs", CS_USER_PROGS);
	g = &cs.prog[cs.nprog];
	if (!file[0])
		return verr_set(e, -EINVAL, "guest.userSymbols: no file for program \"%s\"", prog);
	if (file[0] == '/' || !vmdir)
		snprintf(p, sizeof(p), "%s", file);
	else
		snprintf(p, sizeof(p), "%s/%s", vmdir, file);
	snprintf(g->name, sizeof(g->name), "%s",
		 prog[0] ? prog : strrchr(p, '/') ? strrchr(p, '/') + 1 : p);
	for (unsigned i = 0; i < cs.nprog; i++)
		if (!strcmp(cs.prog[i].name, g->name))
			return verr_set(e, -EINVAL, "guest.userSymbols: program \"%s\" named twice",
					g->name);
	rc = cs_symtab_load(&g->sym, p, e);
	if (rc < 0)
		return verr_prefix(e, rc, "guest.userSymbols");
	rc = cs_elf_code(p, &g->code, &g->lo, &g->hi, e);
	if (rc < 0) {
		cs_symtab_free(g->sym);
		g->sym = NULL;
		return verr_prefix(e, rc, "guest.userSymbols (its code is how the program is recognised)");
	}
	snprintf(g->path, sizeof(g->path), "%s", p);
	g->nas = 0;
	cs.nprog++;
	return 0;
}

static int read_user_symbols(const struct cfg *c, const char *vmdir, struct verr *e)
{
	const char *v = cfg_get(c, "guest.userSymbols");
	char prog[64], file[4096];
	int rc;

	free_user();
	if (!v)
		return 0;
	while (cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)))
		if ((rc = read_user_program(prog, file, vmdir, e)) < 0) {
			free_user();
			return rc;
		}
	if (*v) {
		free_user();
		return verr_set(e, -ENAMETOOLONG, "guest.userSymbols: an entry is too long near \"%.40s\"",
				v);
	}
	return 0;
}

static int read_config(const struct cfg *c, const char *vmdir, bool *on, uint64_t *mb,
		       struct verr *e)
{
	int rc = cfg_get_bool(c, "monitor.callstack", true, on, e);
	if (rc < 0)
		return rc;
	rc = cfg_get_u64(c, "vmx.callstackMaxFootprintMB", CS_DEFAULT_FOOTPRINT_MB, 1, 4096, mb, e);
	if (rc < 0)
		return rc;
	if (VMX_DEVEL) {
		uint64_t us;
		rc = cfg_get_u64(c, "monitor.callstackTestSlowUs", 0, 0, 100000, &us, e);
		if (rc < 0)
			return rc;
		cs_slow_us = (unsigned)us;
	}
	/* A bare-metal guest's ELF is its own symbol table. */
	const char *key = "guest.symbols", *v = cfg_get(c, key);
	if ((!v || !v[0]) && cfg_get(c, "guest.elf") && cfg_get(c, "guest.elf")[0])
		key = "guest.elf";
	v = cfg_get(c, key);
	if (v && v[0]) {
		char p[4096];
		rc = cfg_path(c, key, vmdir, p, sizeof(p), e);
		if (rc < 0)
			return rc;
		rc = cs_symtab_load(&cs.guest, p, e);
		if (rc < 0)
			return verr_prefix(e, rc, "%s", key);
		snprintf(cs.guest_syms, sizeof(cs.guest_syms), "%s", p);
	}
	rc = read_user_symbols(c, vmdir, e);
	if (rc < 0)
		return rc;
	const char *kernel = cfg_get(c, "guest.kernel");
	if (kernel && kernel[0] && vmdir &&
	    cfg_path(c, "guest.kernel", vmdir, cs.guest_image, sizeof(cs.guest_image), e) < 0)
		cs.guest_image[0] = 0;
	const char *con = cfg_get(c, "serial0.fileName");
	if (!cs.guest && con && con[0] && vmdir &&
	    cfg_path(c, "serial0.fileName", vmdir, cs.console_path, sizeof(cs.console_path), e) < 0)
		cs.console_path[0] = 0;
	return 0;
}

int cs_start(const struct cfg *c, const char *vmdir, struct verr *e)
{
	bool on = true;
	uint64_t mb = CS_DEFAULT_FOOTPRINT_MB;
	int rc;

	if (cs.started || !stats_on)
		return 0;
	if (c) {
		rc = read_config(c, vmdir, &on, &mb, e);
		if (rc < 0)
			goto fail;
	}
	if (!on) {
		LOG_INF("callstack profiler off (monitor.callstack)");
		free_user();
		cs_symtab_free(cs.guest);
		cs.guest = NULL;
		return 0;
	}
	rc = cs_symtab_self(&cs.mon, e);
	if (rc < 0)
		LOG_WRN("callstack: monitor symbols: %s", e->msg);   /* addresses only */
	rc = cs_table_create(&cs.table, (size_t)mb << 20, CS_BUCKET_S);
	if (rc < 0) {
		verr_set(e, rc, "callstack: cannot allocate %llu MB", (unsigned long long)mb);
		goto fail;
	}
	if (vmdir) {
		char dir[4200];
		struct tm tm;
		time_t now = time(NULL);
		snprintf(dir, sizeof(dir), "%s/stats", vmdir);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			rc = verr_set(e, -errno, "%s: %s", dir, strerror(errno));
			goto fail;
		}
		gmtime_r(&now, &tm);
		snprintf(cs.path, sizeof(cs.path), "%s/callstack-%04d%02d%02d-%02d%02d%02d-%d.txt",
			 dir, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)getpid());
		if (cs.guest_image[0] && !cs.guest)
			cs_kcache_path(cs.kcache_path, sizeof(cs.kcache_path), cs.guest_image, dir);
	}
	struct sigaction sa = { 0 };
	sa.sa_sigaction = cs_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPROF, &sa, &cs.old_sa) < 0) {
		rc = verr_set(e, -errno, "callstack: sigaction: %s", strerror(errno));
		goto fail;
	}
	cs.t0_ns = now_ns(CLOCK_MONOTONIC);
	cs.start_unix_ns = now_ns(CLOCK_REALTIME);
	cs.stop = false;
	cs.kallsyms_tried = false;
	cs.console_tried_ns = 0;
	memset(cs.gstops, 0, sizeof(cs.gstops));
	memset(cs.hstops, 0, sizeof(cs.hstops));
	cs.unwind_failed = false;
	atomic_store(&cs.running, true);
	rc = attach_thread(e);
	if (rc < 0)
		goto fail_sig;
	rc = mxuser_cond_init(&cs.cond, "callstackCollectorWake");
	if (rc < 0) {
		verr_set(e, rc, "callstack: cannot create the collector's condition variable");
		goto fail_sig;
	}
	rc = -pthread_create(&cs.collector, NULL, collector, NULL);
	if (rc < 0) {
		verr_set(e, rc, "callstack: cannot start the collector thread");
		mxuser_cond_destroy(&cs.cond);
		goto fail_sig;
	}
	cs.started = true;
	LOG_INF("callstack profiler: %u Hz, cap %llu MB, %u monitor and %u guest symbols%s%s",
		CS_HZ, (unsigned long long)mb, cs_symtab_count(cs.mon), cs_symtab_count(cs.guest),
		cs.path[0] ? ", profile " : "", cs.path);
	return 0;
fail_sig:
	atomic_store(&cs.running, false);
	sigaction(SIGPROF, &cs.old_sa, NULL);
fail:
	free_user();
	cs_symtab_free(cs.mon);
	cs_symtab_free(cs.guest);
	cs_table_free(cs.table);
	cs.mon = cs.guest = NULL;
	cs.table = NULL;
	return rc;
}

void cs_stop(void)
{
	unsigned n;
	if (!cs.started)
		return;
	n = atomic_load(&cs.nthreads);
	for (unsigned i = 0; i < n; i++)
		if (cs.threads[i]->timer_ok)
			timer_delete(cs.threads[i]->timer);
	atomic_store(&cs.running, false);
	kstat_self_end_all();
	mxuser_lock(&cs.lock);
	cs.stop = true;
	mxuser_cond_signal(&cs.cond);
	mxuser_unlock(&cs.lock);
	pthread_join(cs.collector, NULL);
	mxuser_cond_destroy(&cs.cond);
	drain();
	write_profile();
	LOG_INF("callstack: %llu samples, %u stacks, %llu dropped%s",
		(unsigned long long)cs_table_samples(cs.table), cs_table_entries(cs.table),
		(unsigned long long)cs_table_drops(cs.table),
		cs_table_coarse(cs.table) ? " (coarse aggregation: footprint cap reached)" : "");
	/* A signal already queued must find no handler work to do, not a freed ring. */
	cs_self = NULL;
	sigaction(SIGPROF, &cs.old_sa, NULL);
	for (unsigned i = 0; i < n; i++) {
		free(cs.threads[i]);
		cs.threads[i] = NULL;
	}
	memset(cs.vcpu, 0, sizeof(cs.vcpu));
	atomic_store(&cs.nthreads, 0);
	free_user();
	cs_symtab_free(cs.mon);
	cs_symtab_free(cs.guest);
	cs_table_free(cs.table);
	cs_unwind_free(cs.unwind);
	cs.unwind = NULL;
	cs.mon = cs.guest = NULL;
	cs.table = NULL;
	cs.guest_syms[0] = 0;
	cs.console_path[0] = 0;
	cs.guest_image[0] = 0;
	cs.kcache_path[0] = 0;
	cs.started = false;
}

const char *cs_profile_path(void) { return cs.path; }

const sigset_t *cs_wait_sigmask(void)
{
	struct cs_thread *t = cs_self;
	return t && atomic_load_explicit(&cs.running, memory_order_relaxed) ? &t->wait_mask : NULL;
}

/* Kept out of line and named, so the test sees it as its own function. */
__attribute__((noinline)) void cs_slow_path(unsigned us)
{
	uint64_t end = now_ns(CLOCK_MONOTONIC) + (uint64_t)us * 1000;
	/* Mostly arithmetic here, so samples land in this function, not in the clock. */
	do {
		for (volatile unsigned i = 0; i < 20000; i = i + 1)
			;
	} while (now_ns(CLOCK_MONOTONIC) < end);
}

void cs_devel_tick(void)
{
	if (VMX_DEVEL && cs_slow_us)
		cs_slow_path(cs_slow_us);
}
