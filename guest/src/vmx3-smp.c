/*
 * vmx3-smp.c - multi-threaded stress of the guest's SMP primitives with exact
 * checks: one thread per online CPU (or -t N), each pinned to its CPU.
 *
 * Phases, separated by barriers so that every thread takes part in each:
 *   amo    __atomic fetch_add on 64- and 32-bit counters (amoadd.d/.w), the
 *          sum of the returned old values (each must be unique), fetch_or /
 *          fetch_and of the thread's own bit, fetch_max (amomaxu.d)
 *   lrsc   an inline-asm lr.d/sc.d (and lr.w.aq/sc.w.rl) increment loop on a
 *          counter that other iterations bump with amoadd at the same time
 *   cas    __atomic_compare_exchange_n increments (gcc emits LR/SC), also
 *          mixed with amoadd on the same word
 *   lock   a pthread mutex and an amoswap spinlock, each protecting a
 *          multi-word invariant checked by every holder
 *   mp     message passing around a ring of threads: payload with plain
 *          stores, sequence number with store-release / load-acquire
 *   xmod   cross-modifying code: thread 0 writes `lui; addiw; ret` returning a
 *          new value into an RWX page and into a memfd mapped RW and RX,
 *          calls __builtin___clear_cache (the riscv_flush_icache syscall, so
 *          the kernel fences every hart running this mm), publishes the round;
 *          every thread then calls both functions and must get the new value
 * and ends with one line
 *   VMX3 smp threads=N cpus=C iters=I ... ok      (exit 0)
 *   VMX3 smp threads=N ... FAIL <reason>          (exit 1)
 * A watchdog (-w SECONDS, default 600) turns a hang into a FAIL line.
 *
 * Usage: vmx3-smp [-t THREADS] [-w SECONDS] [-x PHASE] [ITERS]
 *   ITERS   per-thread iterations of the counter phases (default 200000);
 *           the lock phase runs ITERS/16 rounds per thread, mp ITERS/(16*N)
 *           trips round the ring (at least 8), xmod ITERS/(100*N) code
 *           rewrites (at least 10), N the thread count
 *   -x PHASE  deliberately expect a wrong value in PHASE (amo, lrsc, cas,
 *           lock, mp, xmod, cpus): proves the checks can fail
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define DEFAULT_ITERS 200000UL
#define CACHELINE 64

static unsigned nthreads;
static unsigned long iters, lock_iters, mp_rounds, xmod_rounds;
static const char *mutate = "";        /* -x: phase whose expectation is wrong */
static int cpu_of[MAX_THREADS];        /* the CPU each thread is pinned to */
static pthread_barrier_t barrier;
static volatile const char *phase = "start";

/* First failure wins the message; `aborting` makes every wait loop give up,
 * so a failed protocol phase cannot leave the other threads spinning. */
static int aborting;
static int fail_claimed;
static char fail_msg[256];

static void fail(const char *fmt, ...)
{
	va_list ap;

	__atomic_store_n(&aborting, 1, __ATOMIC_RELEASE);
	if (__atomic_exchange_n(&fail_claimed, 1, __ATOMIC_ACQ_REL))
		return;
	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
}

static int aborted(void)
{
	return __atomic_load_n(&aborting, __ATOMIC_ACQUIRE);
}

/* Spin-wait step: with more threads than CPUs a waiter must give its CPU to
 * the thread it waits for; with one thread per CPU it keeps spinning, which
 * is the point (remote stores must become visible without a reschedule). */
static int oversubscribed;
static int wait_step(void)
{
	if (oversubscribed)
		sched_yield();
	return aborted();
}

static int mutated(const char *p)
{
	return strcmp(mutate, p) == 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A well-mixed 64-bit function of x: message payloads that a stale or torn
 * read cannot match by accident. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* --- amo -------------------------------------------------------------------- */
static uint64_t amo64 __attribute__((aligned(CACHELINE)));
static uint32_t amo32 __attribute__((aligned(CACHELINE)));
static uint64_t amo_oldsum __attribute__((aligned(CACHELINE)));
static uint64_t amo_bits __attribute__((aligned(CACHELINE)));
static uint64_t amo_max __attribute__((aligned(CACHELINE)));
static uint64_t amo_interleave;

/* gcc has no fetch_max builtin: amomaxu.d directly. */
static inline void amomaxu64(uint64_t *p, uint64_t v)
{
	uint64_t old;

	__asm__ volatile("amomaxu.d %0, %2, (%1)" : "=r"(old) : "r"(p), "r"(v) : "memory");
	(void)old;
}

static void phase_amo(unsigned t)
{
	uint64_t bit = 1ULL << (t % 64), sum = 0, prev = 0, inter = 0;

	for (unsigned long i = 0; i < iters; i++) {
		/* Every increment by 1 returns a distinct old value: together they are
		 * 0 .. total-1, whatever the interleaving. */
		uint64_t old = __atomic_fetch_add(&amo64, 1, __ATOMIC_RELAXED);
		sum += old;
		if (i && old != prev + 1)
			inter++;        /* another thread got in between: real contention */
		prev = old;
		__atomic_fetch_add(&amo32, 3, __ATOMIC_RELAXED);
		/* Threads 64 apart would share a bit; MAX_THREADS keeps them apart. */
		if (__atomic_fetch_or(&amo_bits, bit, __ATOMIC_ACQ_REL) & bit)
			fail("amo: own bit %u already set", t);
		if (!(__atomic_fetch_and(&amo_bits, ~bit, __ATOMIC_ACQ_REL) & bit))
			fail("amo: own bit %u lost", t);
		amomaxu64(&amo_max, (uint64_t)i * nthreads + t);
		if ((i & 1023) == 0 && aborted())
			return;
	}
	__atomic_fetch_add(&amo_oldsum, sum, __ATOMIC_RELAXED);
	__atomic_fetch_add(&amo_interleave, inter, __ATOMIC_RELAXED);
}

static void check_amo(char *info, size_t n)
{
	uint64_t total = (uint64_t)nthreads * iters;
	uint64_t want64 = total + mutated("amo");

	if (amo64 != want64)
		fail("amo: amoadd.d counter %" PRIu64 " expected %" PRIu64, amo64, want64);
	else if (amo32 != (uint32_t)(3 * total))
		fail("amo: amoadd.w counter %" PRIu32 " expected %" PRIu32, amo32, (uint32_t)(3 * total));
	else if (amo_oldsum != total * (total - 1) / 2)
		fail("amo: old values sum %" PRIu64 " expected %" PRIu64, amo_oldsum, total * (total - 1) / 2);
	else if (amo_bits != 0)
		fail("amo: bits left %#" PRIx64, amo_bits);
	else if (amo_max != total - 1)
		fail("amo: amomaxu %" PRIu64 " expected %" PRIu64, amo_max, total - 1);
	snprintf(info, n, "amo=%" PRIu64 " interleave=%" PRIu64, amo64, amo_interleave);
}

/* --- lrsc ------------------------------------------------------------------- */
static uint64_t lrsc64 __attribute__((aligned(CACHELINE)));
static uint32_t lrsc32 __attribute__((aligned(CACHELINE)));
static uint64_t lrsc_retries;

/* A constrained LR/SC loop (ISA 8.3: only base integer instructions, under 16,
 * backward branch to retry), so the hart must eventually succeed.  Returns
 * the number of failed store-conditionals. */
static inline uint64_t lrsc_inc64(uint64_t *p)
{
	uint64_t tmp, rc, retries = 0;

	__asm__ volatile("1: lr.d   %0, (%3)\n"
			 "   addi   %0, %0, 1\n"
			 "   sc.d   %1, %0, (%3)\n"
			 "   beqz   %1, 2f\n"
			 "   addi   %2, %2, 1\n"
			 "   j      1b\n"
			 "2:\n"
			 : "=&r"(tmp), "=&r"(rc), "+r"(retries)
			 : "r"(p)
			 : "memory");
	return retries;
}

static inline uint64_t lrsc_inc32(uint32_t *p)
{
	uint64_t tmp, rc, retries = 0;

	__asm__ volatile("1: lr.w.aq %0, (%3)\n"
			 "   addiw   %0, %0, 1\n"
			 "   sc.w.rl %1, %0, (%3)\n"
			 "   beqz    %1, 2f\n"
			 "   addi    %2, %2, 1\n"
			 "   j       1b\n"
			 "2:\n"
			 : "=&r"(tmp), "=&r"(rc), "+r"(retries)
			 : "r"(p)
			 : "memory");
	return retries;
}

static void phase_lrsc(unsigned t)
{
	uint64_t retries = 0;

	for (unsigned long i = 0; i < iters; i++) {
		retries += lrsc_inc64(&lrsc64);
		retries += lrsc_inc32(&lrsc32);
		/* An AMO from another hart between lr and sc must make the sc fail:
		 * a monitor that lets it succeed loses one of the two increments. */
		if ((i + t) & 1)
			__atomic_fetch_add(&lrsc64, 1, __ATOMIC_RELAXED);
		if ((i & 1023) == 0 && aborted())
			return;
	}
	__atomic_fetch_add(&lrsc_retries, retries, __ATOMIC_RELAXED);
}

/* AMO increments of phase_lrsc: iterations where (i + t) is odd. */
static uint64_t odd_count(unsigned long n, unsigned t)
{
	return (t & 1) ? (n + 1) / 2 : n / 2;
}

static void check_lrsc(char *info, size_t n)
{
	uint64_t want64 = 0, want32 = (uint64_t)nthreads * iters;

	for (unsigned t = 0; t < nthreads; t++)
		want64 += iters + odd_count(iters, t);
	want64 += mutated("lrsc");
	if (lrsc64 != want64)
		fail("lrsc: lr.d/sc.d counter %" PRIu64 " expected %" PRIu64, lrsc64, want64);
	else if (lrsc32 != (uint32_t)want32)
		fail("lrsc: lr.w/sc.w counter %" PRIu32 " expected %" PRIu32, lrsc32, (uint32_t)want32);
	snprintf(info, n, "lrsc=%" PRIu64 " scfail=%" PRIu64, lrsc64, lrsc_retries);
}

/* --- cas -------------------------------------------------------------------- */
static uint64_t cas64 __attribute__((aligned(CACHELINE)));
static uint32_t cas32 __attribute__((aligned(CACHELINE)));
static uint64_t cas_retries;

static void phase_cas(unsigned t)
{
	uint64_t retries = 0;

	for (unsigned long i = 0; i < iters; i++) {
		/* The new value depends on the old one in two ways: the word carries
		 * the count in its high half and a running xor of thread ids in the
		 * low half, so a CAS that succeeded on a stale value breaks both. */
		uint64_t old = __atomic_load_n(&cas64, __ATOMIC_RELAXED), nv;
		do {
			nv = (((old >> 32) + 1) << 32) | ((old ^ (t + 1)) & 0xffffffffu);
			retries++;
		} while (!__atomic_compare_exchange_n(&cas64, &old, nv, 0, __ATOMIC_ACQ_REL,
						      __ATOMIC_RELAXED));
		retries--;
		uint32_t o32 = __atomic_load_n(&cas32, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&cas32, &o32, o32 + 1, 1, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			retries++;
		if ((i + t) & 1)
			__atomic_fetch_add(&cas32, 1, __ATOMIC_RELAXED);
		if ((i & 1023) == 0 && aborted())
			return;
	}
	__atomic_fetch_add(&cas_retries, retries, __ATOMIC_RELAXED);
}

static void check_cas(char *info, size_t n)
{
	uint64_t count = (uint64_t)nthreads * iters, want32 = 0;
	uint32_t x = 0;

	for (unsigned t = 0; t < nthreads; t++) {
		/* Each thread xors its id in `iters` times: odd counts leave it in. */
		if (iters & 1)
			x ^= t + 1;
		want32 += iters + odd_count(iters, t);
	}
	want32 += mutated("cas");
	if (cas64 >> 32 != (count & 0xffffffffu) || (uint32_t)cas64 != x)
		fail("cas: word %#" PRIx64 " expected count %" PRIu64 " xor %#x", cas64, count, x);
	else if (cas32 != (uint32_t)want32)
		fail("cas: 32-bit counter %" PRIu32 " expected %" PRIu32, cas32, (uint32_t)want32);
	snprintf(info, n, "cas=%" PRIu64 " casfail=%" PRIu64, cas64 >> 32, cas_retries);
}

/* --- lock ------------------------------------------------------------------- */
#define LOCK_WORDS 8
/* Invariant while unlocked: w[k] == w[0] * (k + 1) + k for every k.  Each
 * holder checks it, then rewrites all words one store at a time, so a second
 * thread inside the critical section would see a torn state. */
static struct locked {
	uint64_t w[LOCK_WORDS];
} __attribute__((aligned(CACHELINE))) by_mutex, by_spin;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static uint32_t spin __attribute__((aligned(CACHELINE)));

static int locked_step(struct locked *s, const char *what, unsigned t)
{
	volatile uint64_t *w = s->w;
	uint64_t base = w[0];

	for (unsigned k = 1; k < LOCK_WORDS; k++) {
		if (w[k] != base * (k + 1) + k) {
			fail("lock: %s invariant broken in thread %u: w[%u]=%" PRIu64 " w[0]=%" PRIu64,
			     what, t, k, w[k], base);
			return -1;
		}
	}
	w[0] = base + 1;
	for (unsigned k = 1; k < LOCK_WORDS; k++)
		w[k] = (base + 1) * (k + 1) + k;
	return 0;
}

static void spin_lock(void)
{
	/* amoswap.w.aq; spin on plain loads while held (test and test-and-set). */
	while (__atomic_exchange_n(&spin, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&spin, __ATOMIC_RELAXED))
			if (wait_step())
				return;
}

static void phase_lock(unsigned t)
{
	for (unsigned long i = 0; i < lock_iters && !aborted(); i++) {
		pthread_mutex_lock(&mutex);
		int r = locked_step(&by_mutex, "mutex", t);
		pthread_mutex_unlock(&mutex);
		spin_lock();
		r |= locked_step(&by_spin, "spinlock", t);
		__atomic_store_n(&spin, 0, __ATOMIC_RELEASE);
		if (r)
			return;
	}
}

static void lock_setup(void)
{
	/* w[0] = 0 satisfies the invariant with w[k] = k. */
	for (unsigned k = 0; k < LOCK_WORDS; k++)
		by_mutex.w[k] = by_spin.w[k] = k;
}

static void check_lock(char *info, size_t n)
{
	uint64_t want = (uint64_t)nthreads * lock_iters + mutated("lock");

	if (by_mutex.w[0] != want)
		fail("lock: mutex count %" PRIu64 " expected %" PRIu64, by_mutex.w[0], want);
	else if (by_spin.w[0] != want)
		fail("lock: spinlock count %" PRIu64 " expected %" PRIu64, by_spin.w[0], want);
	snprintf(info, n, "lock=%" PRIu64, by_mutex.w[0]);
}

/* --- mp --------------------------------------------------------------------- */
#define MP_WORDS 7
static struct mailbox {
	uint64_t seq;
	uint64_t payload[MP_WORDS];
} __attribute__((aligned(CACHELINE))) mbox[MAX_THREADS];
static uint64_t mp_checked;

static uint64_t mp_word(uint64_t round, unsigned from, unsigned k)
{
	return mix((round << 16) ^ ((uint64_t)from << 8) ^ k);
}

static void mp_send(unsigned from, uint64_t round)
{
	struct mailbox *m = &mbox[(from + 1) % nthreads];

	/* Relaxed atomics compile to plain sd: only the release orders them. */
	for (unsigned k = 0; k < MP_WORDS; k++)
		__atomic_store_n(&m->payload[k], mp_word(round, from, k), __ATOMIC_RELAXED);
	__atomic_store_n(&m->seq, round, __ATOMIC_RELEASE);
}

static int mp_receive(unsigned t, uint64_t round)
{
	struct mailbox *m = &mbox[t];
	unsigned from = (t + nthreads - 1) % nthreads;

	while (__atomic_load_n(&m->seq, __ATOMIC_ACQUIRE) != round)
		if (wait_step())
			return -1;
	for (unsigned k = 0; k < MP_WORDS; k++) {
		uint64_t got = __atomic_load_n(&m->payload[k], __ATOMIC_RELAXED);
		uint64_t want = mp_word(round + (mutated("mp") && t == 0 && round == 1), from, k);
		if (got != want) {
			fail("mp: thread %u round %" PRIu64 " word %u = %#" PRIx64 " expected %#" PRIx64,
			     t, round, k, got, want);
			return -1;
		}
	}
	__atomic_fetch_add(&mp_checked, 1, __ATOMIC_RELAXED);
	return 0;
}

/* A token goes round the ring 0 -> 1 -> ... -> N-1 -> 0 once per round. */
static void phase_mp(unsigned t)
{
	for (uint64_t r = 1; r <= mp_rounds; r++) {
		if (t == 0)
			mp_send(t, r);
		if (mp_receive(t, r))
			return;
		if (t != 0)
			mp_send(t, r);
	}
}

static void check_mp(char *info, size_t n)
{
	if (!aborted() && mp_checked != (uint64_t)nthreads * mp_rounds)
		fail("mp: %" PRIu64 " messages checked, expected %" PRIu64, mp_checked,
		     (uint64_t)nthreads * mp_rounds);
	snprintf(info, n, "mp=%" PRIu64, mp_checked);
}

/* --- xmod ------------------------------------------------------------------- */
/* Two places for generated code: an RWX anonymous page (written and run at the
 * same address) and a memfd page mapped twice, written through the RW view and
 * run through the RX one (different virtual addresses, same physical page, as
 * JITs with W^X do). */
static uint32_t *rwx_page;
static uint32_t *alias_w, *alias_x;
static uint64_t xmod_round __attribute__((aligned(CACHELINE)));
static uint64_t xmod_acks __attribute__((aligned(CACHELINE)));
static uint64_t xmod_calls;
#define XMOD_CALLS 32   /* calls per thread per round: the code gets hot */

typedef long (*gen_fn)(void);

/* `lui a0, hi; addiw a0, a0, lo; ret`, returning v (0 <= v < 2^31). */
static void emit_li_ret(uint32_t *w, int32_t v)
{
	int32_t lo = (int32_t)((uint32_t)v << 20) >> 20;
	uint32_t hi = ((uint32_t)(v - lo) >> 12) & 0xfffff;

	w[0] = (hi << 12) | (10u << 7) | 0x37;                                   /* lui a0 */
	w[1] = ((uint32_t)lo << 20) | (10u << 15) | (10u << 7) | 0x1b;       /* addiw a0,a0 */
	w[2] = 0x00008067;                                                       /* ret */
}

/* The values of round r: distinct per round and per code place, with both
 * the lui and the addiw immediates changing. */
static int32_t xmod_value(uint64_t r, int place)
{
	return (int32_t)((mix(r * 2 + (uint64_t)place) & 0x7ffff7ff) | 0x800);
}

static int xmod_setup(char *note, size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd;

	rwx_page = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE | PROT_EXEC,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rwx_page == MAP_FAILED) {
		/* Allowed to be refused (a W^X policy); the alias pair is still run. */
		snprintf(note, n, " rwx=unavailable(%s)", strerror(errno));
		rwx_page = NULL;
	}
	fd = memfd_create("vmx3-smp-code", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, pg) != 0) {
		fail("xmod: memfd: %s", strerror(errno));
		return -1;
	}
	alias_w = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	alias_x = mmap(NULL, (size_t)pg, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	close(fd);
	if (alias_w == MAP_FAILED || alias_x == MAP_FAILED) {
		fail("xmod: mmap of the memfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void xmod_publish(uint64_t r)
{
	if (rwx_page) {
		emit_li_ret(rwx_page, xmod_value(r, 0));
		__builtin___clear_cache((char *)rwx_page, (char *)(rwx_page + 3));
	}
	emit_li_ret(alias_w, xmod_value(r, 1));
	/* The range is the executable view's: the kernel fences whole harts
	 * anyway, but that is the address a portable JIT would name. */
	__builtin___clear_cache((char *)alias_x, (char *)(alias_x + 3));
	__atomic_store_n(&xmod_round, r, __ATOMIC_RELEASE);
}

static int xmod_run(unsigned t, uint64_t r)
{
	for (int i = 0; i < XMOD_CALLS; i++) {
		for (int place = 0; place < 2; place++) {
			gen_fn f;
			if (place == 0 && !rwx_page)
				continue;
			f = (gen_fn)(void *)(place == 0 ? rwx_page : alias_x);
			long got = f();
			long want = xmod_value(r + (mutated("xmod") && r == xmod_rounds), place);
			if (got != want) {
				uint64_t seen = 0;
				for (uint64_t q = r - 1; q > 0 && q + 64 > r; q--)
					if (got == xmod_value(q, place))
						seen = q;
				fail("xmod: thread %u round %" PRIu64 " call %d %s code returned %ld expected %ld%s",
				     t, r, i, place ? "alias" : "rwx", got, want,
				     seen ? " (stale: an earlier round's code)" : "");
				return -1;
			}
		}
	}
	__atomic_fetch_add(&xmod_calls, XMOD_CALLS, __ATOMIC_RELAXED);
	return 0;
}

static void phase_xmod(unsigned t)
{
	for (uint64_t r = 1; r <= xmod_rounds; r++) {
		if (t == 0) {
			/* Rewrite only once every thread has run the previous code. */
			while (__atomic_load_n(&xmod_acks, __ATOMIC_ACQUIRE) != (r - 1) * nthreads)
				if (wait_step())
					return;
			xmod_publish(r);
		} else {
			while (__atomic_load_n(&xmod_round, __ATOMIC_ACQUIRE) != r)
				if (wait_step())
					return;
		}
		if (xmod_run(t, r))
			return;
		__atomic_fetch_add(&xmod_acks, 1, __ATOMIC_RELEASE);
	}
}

static void check_xmod(char *info, size_t n)
{
	uint64_t want = (uint64_t)nthreads * xmod_rounds * XMOD_CALLS;

	if (!aborted() && xmod_calls != want)
		fail("xmod: %" PRIu64 " checked calls, expected %" PRIu64, xmod_calls, want);
	snprintf(info, n, "xmod=%" PRIu64 "x%s", xmod_rounds, rwx_page ? "2" : "1");
}

/* --- threads ---------------------------------------------------------------- */
struct phase_def {
	const char *name;
	void (*run)(unsigned t);
	void (*check)(char *info, size_t n);
};
static const struct phase_def phases[] = {
	{ "amo", phase_amo, check_amo },   { "lrsc", phase_lrsc, check_lrsc },
	{ "cas", phase_cas, check_cas },   { "lock", phase_lock, check_lock },
	{ "mp", phase_mp, check_mp },      { "xmod", phase_xmod, check_xmod },
};
#define NPHASES (sizeof(phases) / sizeof(phases[0]))
static uint64_t phase_ns[NPHASES];
static int ran_on[MAX_THREADS];

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu_of[t], &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		fail("sched_setaffinity(cpu %d) for thread %u: %s", cpu_of[t], t, strerror(errno));
	/* Once pinned, the thread must be running on that CPU. */
	ran_on[t] = sched_getcpu();
	for (unsigned p = 0; p < NPHASES; p++) {
		uint64_t t0 = now_ns();
		pthread_barrier_wait(&barrier);
		if (t == 0)
			phase = phases[p].name;
		phases[p].run(t);
		pthread_barrier_wait(&barrier);
		if (t == 0)
			phase_ns[p] = now_ns() - t0;
	}
	return NULL;
}

static void on_alarm(int sig)
{
	char buf[160];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf), "VMX3 smp threads=%u FAIL timeout in phase %s\n", nthreads,
		     phase);
	if (write(1, buf, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

int main(int argc, char **argv)
{
	unsigned long timeout = 600;
	cpu_set_t online;
	int opt, ncpus = 0, cpus_onln;
	pthread_t tid[MAX_THREADS];
	char info[NPHASES][96], note[96] = "";
	uint64_t t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "t:w:x:")) != -1) {
		switch (opt) {
		case 't': nthreads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'w': timeout = strtoul(optarg, NULL, 0); break;
		case 'x': mutate = optarg; break;
		default:
			fprintf(stderr, "usage: vmx3-smp [-t THREADS] [-w SECONDS] [-x PHASE] [ITERS]\n");
			return 2;
		}
	}
	iters = optind < argc ? strtoul(argv[optind], NULL, 0) : DEFAULT_ITERS;
	if (iters < 16)
		iters = 16;

	/* The CPUs this process may run on: the online ones, from the kernel. */
	if (sched_getaffinity(0, sizeof(online), &online) != 0) {
		printf("VMX3 smp FAIL sched_getaffinity: %s\n", strerror(errno));
		return 1;
	}
	for (int c = 0; c < CPU_SETSIZE && ncpus < MAX_THREADS; c++)
		if (CPU_ISSET(c, &online))
			cpu_of[ncpus++] = c;
	cpus_onln = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads == 0)
		nthreads = (unsigned)ncpus;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	/* More threads than CPUs: wrap round, several threads per CPU. */
	for (unsigned t = (unsigned)ncpus; t < nthreads; t++)
		cpu_of[t] = cpu_of[t % (unsigned)ncpus];
	oversubscribed = nthreads > (unsigned)ncpus;
	/* The hand-off phases (mp, xmod) wait for other threads: with more vCPUs
	 * than host cores, each hand-off can cost a host time slice, so their
	 * rounds shrink as the thread count grows (total hand-offs stay put). */
	lock_iters = iters / 16;
	mp_rounds = iters / (16 * nthreads);
	if (mp_rounds < 8)
		mp_rounds = 8;
	xmod_rounds = iters / (100 * nthreads);
	if (xmod_rounds < 10)
		xmod_rounds = 10;

	printf("VMX3 smp start threads=%u cpus=%d affinity=%d iters=%lu lock=%lu mp=%lu xmod=%lu\n",
	       nthreads, cpus_onln, ncpus, iters, lock_iters, mp_rounds, xmod_rounds);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)timeout);

	lock_setup();
	if (xmod_setup(note, sizeof(note)) == 0) {
		pthread_barrier_init(&barrier, NULL, nthreads);
		t0 = now_ns();
		for (unsigned t = 0; t < nthreads; t++)
			if (pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)t) != 0) {
				printf("VMX3 smp threads=%u FAIL pthread_create %u\n", nthreads, t);
				return 1;
			}
		for (unsigned t = 0; t < nthreads; t++)
			pthread_join(tid[t], NULL);
		t0 = now_ns() - t0;
		alarm(0);

		/* Every thread ran where it was pinned, and with one thread per CPU
		 * every online CPU ran one. */
		for (unsigned t = 0; t < nthreads; t++)
			if (ran_on[t] != cpu_of[t])
				fail("cpus: thread %u ran on cpu %d, pinned to %d", t, ran_on[t], cpu_of[t]);
		if (mutated("cpus") && ran_on[0] == cpu_of[0])
			fail("cpus: thread 0 ran on cpu %d (mutated expectation)", ran_on[0]);
		for (unsigned p = 0; p < NPHASES; p++) {
			phases[p].check(info[p], sizeof(info[p]));
			printf("VMX3 smp phase %s ms=%" PRIu64 " %s\n", phases[p].name,
			       phase_ns[p] / 1000000, info[p]);
		}
	} else {
		t0 = 0;
		for (unsigned p = 0; p < NPHASES; p++)
			info[p][0] = 0;
	}

	if (fail_claimed) {
		printf("VMX3 smp threads=%u cpus=%d iters=%lu FAIL %s\n", nthreads, cpus_onln, iters,
		       fail_msg);
		return 1;
	}
	printf("VMX3 smp threads=%u cpus=%d iters=%lu ms=%" PRIu64 "%s ok\n", nthreads, cpus_onln,
	       iters, t0 / 1000000, note);
	return 0;
}
