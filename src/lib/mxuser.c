/*
 * mxuser.c - MXUser locks (mxuser.h): pthread wrappers that every build
 * compiles, calling the rank checker (beta) and lock statistics (stats) where
 * those are compiled in; in release the calls are empty inline stubs and the
 * `if (VMX_DEBUG)` / `if (VMX_STATS)` branches fold away.
 *
 * A failing pthread call on a lock we own is a monitor bug, never a guest
 * action, so it stops the monitor through VMX_VERIFY.
 */
#include <cpuid.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>
#include "../stats/kstat.h"
#include "mxuser.h"

/*
 * The holder of an exclusive lock is kept where something asks for it: the
 * beta build's checks (mxuser_lock_is_held).  A read-write lock's writer is
 * kept in the stats build too, which needs it to tell a writer's release
 * (hold time) from a reader's.
 */
#define TRACK_OWNER VMX_DEBUG
#define TRACK_WRITER (VMX_DEBUG || VMX_STATS)

static _Thread_local int my_tid;

static int self_tid(void)
{
	if (!my_tid)
		my_tid = (int)syscall(SYS_gettid);
	return my_tid;
}

uint64_t mxuser_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The clock of the lock statistics.  They time every acquisition and every
 * release, hundreds of thousands a second on a console-bound guest, so the
 * clock must be cheap: the TSC read directly (about half the cost of
 * clock_gettime's vDSO path on a paravirtual host), scaled to CLOCK_MONOTONIC
 * nanoseconds by a factor measured against that clock once 200 ms have
 * passed since the first reading.  Until then, and on a CPU without an
 * invariant TSC, CLOCK_MONOTONIC itself.  Both give nanoseconds on one time
 * line, so a hold that starts on one and ends on the other is still right
 * to within the factor's error; a difference that comes out negative (a
 * thread that moved to a CPU whose TSC lags) counts as zero.
 */
#define TSC_CAL_NS 200000000ull

static struct {
	int state;             /* atomic: 0 unset, 1 being set, 2 origin set, 3 no TSC */
	uint64_t tsc0, ns0;    /* the origin: one reading of both clocks */
	uint64_t mult;         /* atomic: ns per tick, 32.32 fixed point; 0 until measured */
} tsc_cal;

static bool tsc_invariant(void)
{
	unsigned a, b, c, d;
	/* CPUID 0x80000007, EDX bit 8: the TSC runs at one rate in every state. */
	return __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8));
}

/*
 * One reading of both clocks, the closest together of three tries: a
 * thread preempted between the two reads would put the whole preemption
 * into the scale factor.
 */
static uint64_t clock_pair(uint64_t *tsc)
{
	uint64_t best_gap = 0, ns = 0;
	for (int i = 0; i < 3; i++) {
		uint64_t t1 = __rdtsc(), n = mxuser_now_ns(), t2 = __rdtsc();
		if (i == 0 || t2 - t1 < best_gap) {
			best_gap = t2 - t1;
			ns = n;
			*tsc = t1 + (t2 - t1) / 2;
		}
	}
	return ns;
}

/*
 * The clock until the scale factor is known.  Only the two readings the
 * factor is made of (the origin, and the first one 200 ms later) need both
 * clocks read close together; every other reading of that time, and every
 * reading without an invariant TSC, is CLOCK_MONOTONIC alone.
 */
static __attribute__((noinline)) uint64_t stats_clock_slow(void)
{
	int st = __atomic_load_n(&tsc_cal.state, __ATOMIC_ACQUIRE), zero = 0;
	uint64_t t, ns;

	if (st == 2) {
		ns = mxuser_now_ns();
		if (ns - tsc_cal.ns0 < TSC_CAL_NS)
			return ns;
		ns = clock_pair(&t);
		if (t > tsc_cal.tsc0) {
			uint64_t m = (uint64_t)(((unsigned __int128)(ns - tsc_cal.ns0) << 32) /
						(t - tsc_cal.tsc0));
			uint64_t none = 0;
			if (m)
				__atomic_compare_exchange_n(&tsc_cal.mult, &none, m, false,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
		}
		return ns;
	}
	if (st != 0)
		return mxuser_now_ns();
	ns = clock_pair(&t);
	if (__atomic_compare_exchange_n(&tsc_cal.state, &zero, 1, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED)) {
		tsc_cal.tsc0 = t;
		tsc_cal.ns0 = ns;
		__atomic_store_n(&tsc_cal.state, tsc_invariant() ? 2 : 3, __ATOMIC_RELEASE);
	}
	return ns;
}

static inline uint64_t stats_clock(void)
{
	uint64_t m = __atomic_load_n(&tsc_cal.mult, __ATOMIC_ACQUIRE);
	if (VMX_UNLIKELY(!m))
		return stats_clock_slow();
	uint64_t d = __rdtsc() - tsc_cal.tsc0;
	return tsc_cal.ns0 + (uint64_t)(((unsigned __int128)d * m) >> 32);
}

unsigned mxuser_hold_every = 1;

/*
 * The calling thread's countdown to its next measured hold, and the state of
 * the generator drawing the gaps (xorshift32, seeded from the thread id).
 */
static _Thread_local uint32_t hold_countdown, hold_rng;

static __attribute__((noinline)) bool hold_gap_slow(void)
{
	uint32_t x = hold_rng ? hold_rng : (uint32_t)self_tid() * 0x9e3779b9u | 1u;
	unsigned n = mxuser_hold_every ? mxuser_hold_every : 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	hold_rng = x;
	/* Uniform in [1, 2n - 1] (a multiply, not a division): mean n, never a fixed period. */
	hold_countdown = 1 + (uint32_t)(((uint64_t)x * (2 * n - 1)) >> 32);
	return true;
}

/* Whether the hold that starts now on r's lock is measured (mxuser.h). */
static inline bool hold_measured(const struct mxuser_lockstats *r)
{
	if (__atomic_load_n(&r->acquisitions, __ATOMIC_RELAXED) <= MXUSER_HOLD_EXACT)
		return true;
	if (VMX_LIKELY(hold_countdown > 1)) {
		hold_countdown--;
		return false;
	}
	return hold_gap_slow();
}

/* When the hold starting now began, or 0 when it is not measured. */
static inline uint64_t hold_start(const struct mxuser_lockstats *r, uint64_t now)
{
	return hold_measured(r) ? now : 0;
}

/* end - start for two stats_clock() readings, never negative. */
static inline uint64_t stats_since(uint64_t start, uint64_t end)
{
	return end > start ? end - start : 0;
}

static void hdr_init(struct mxuser_hdr *h, const char *name, unsigned rank, unsigned kind)
{
	h->name = name;
	h->rank = rank;
	h->kind = kind;
	h->stats = NULL;
	h->stats_state = 1;
	if (VMX_STATS)
		mxuser_stats_attach(h);
}

/* A statically initialized lock gets its statistics record on first use. */
static __attribute__((noinline)) void lazy_attach_slow(struct mxuser_hdr *h)
{
	static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&attach_lock);
	if (!h->stats_state) {
		mxuser_stats_attach(h);
		__atomic_store_n(&h->stats_state, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&attach_lock);
}

static inline void lazy_attach(struct mxuser_hdr *h)
{
	if (VMX_STATS && VMX_UNLIKELY(!__atomic_load_n(&h->stats_state, __ATOMIC_ACQUIRE)))
		lazy_attach_slow(h);
}

/* ---- exclusive locks ---- */

int mxuser_lock_init(struct mxuser_lock *l, const char *name, unsigned rank)
{
	int rc = pthread_mutex_init(&l->m, NULL);
	if (rc)
		return -rc;
	l->owner = 0;
	l->acquired_ns = 0;
	hdr_init(&l->hdr, name, rank, MXUSER_EXCL);
	return 0;
}

void mxuser_lock_destroy(struct mxuser_lock *l)
{
	if (VMX_STATS)
		mxuser_stats_detach(&l->hdr);
	pthread_mutex_destroy(&l->m);
}

/*
 * Blocks on m, found held, charged to LOCK_WAIT; returns when the wait
 * began.  Out of line, so the uncontended path stays short.
 */
static __attribute__((noinline)) uint64_t mutex_wait(pthread_mutex_t *m)
{
	uint64_t t0;

	STAT_INC(LOCK_CONTENDED);
	t0 = stats_clock();
	kstat_push(KSTAT_LOCK_WAIT);
	VMX_VERIFY(pthread_mutex_lock(m) == 0);
	kstat_pop();
	return t0;
}

/*
 * Takes m if no thread holds it, else returns false without waiting.  Under
 * glibc a relaxed look at the mutex word (public in its headers and fixed by
 * its ABI: static initializers write it), then a plain lock: about 4 ns less
 * per acquisition than a try-lock (glibc 2.36).  A thread that takes m
 * between the look and the lock makes the caller wait uncounted, a window of
 * a few instructions.  Elsewhere a try-lock.
 */
static inline bool mutex_take_if_free(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) != 0)
		return false;
	VMX_VERIFY(pthread_mutex_lock(m) == 0);
	return true;
#else
	return pthread_mutex_trylock(m) == 0;
#endif
}

/* Blocks on m; with statistics on, measures the wait and charges it to LOCK_WAIT. */
static inline void mutex_acquire(struct mxuser_hdr *h, pthread_mutex_t *m, uint64_t *acquired_ns)
{
	uint64_t t0, now;

	lazy_attach(h);
	if (!VMX_STATS || !h->stats) {
		VMX_VERIFY(pthread_mutex_lock(m) == 0);
		return;
	}
	if (VMX_UNLIKELY(!mutex_take_if_free(m))) {
		t0 = mutex_wait(m);
		now = stats_clock();
		mxuser_stats_acquired(h, true, stats_since(t0, now), self_tid());
		*acquired_ns = hold_start(h->stats, now);
		return;
	}
	mxuser_stats_acquired_excl(h->stats, self_tid());
	/* The clock is read only for a measured hold. */
	*acquired_ns = hold_measured(h->stats) ? stats_clock() : 0;
}

void mxuser_lock_at(struct mxuser_lock *l, const char *file, int line)
{
	if (VMX_DEBUG)
		mxuser_rank_check(&l->hdr, file, line);
	mutex_acquire(&l->hdr, &l->m, &l->acquired_ns);
	if (TRACK_OWNER)
		__atomic_store_n(&l->owner, self_tid(), __ATOMIC_RELAXED);
	if (VMX_DEBUG)
		mxuser_rank_acquired(&l->hdr, file, line);
}

bool mxuser_trylock_at(struct mxuser_lock *l, const char *file, int line)
{
	/* A try cannot deadlock, so ranks are not checked; the lock still counts as held. */
	if (pthread_mutex_trylock(&l->m) != 0)
		return false;
	if (VMX_STATS && l->hdr.stats) {
		mxuser_stats_acquired(&l->hdr, false, 0, self_tid());
		l->acquired_ns = hold_measured(l->hdr.stats) ? stats_clock() : 0;
	}
	if (TRACK_OWNER)
		__atomic_store_n(&l->owner, self_tid(), __ATOMIC_RELAXED);
	if (VMX_DEBUG)
		mxuser_rank_acquired(&l->hdr, file, line);
	return true;
}

void mxuser_unlock_at(struct mxuser_lock *l, const char *file, int line)
{
	if (VMX_DEBUG)
		mxuser_rank_release(&l->hdr, file, line);
	/* acquired_ns is 0 for a hold that is not measured. */
	if (VMX_STATS && l->hdr.stats && l->acquired_ns)
		mxuser_stats_released_excl(l->hdr.stats, stats_since(l->acquired_ns, stats_clock()));
	if (TRACK_OWNER)
		__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	VMX_VERIFY(pthread_mutex_unlock(&l->m) == 0);
}

bool mxuser_lock_is_held(const struct mxuser_lock *l)
{
	if (!TRACK_OWNER)
		return true;
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == self_tid();
}

/* ---- read-write locks ---- */

int mxuser_rw_init(struct mxuser_rwlock *l, const char *name, unsigned rank)
{
	int rc = pthread_rwlock_init(&l->rw, NULL);
	if (rc)
		return -rc;
	l->writer = 0;
	l->acquired_ns = 0;
	hdr_init(&l->hdr, name, rank, MXUSER_RW);
	return 0;
}

void mxuser_rw_destroy(struct mxuser_rwlock *l)
{
	if (VMX_STATS)
		mxuser_stats_detach(&l->hdr);
	pthread_rwlock_destroy(&l->rw);
}

static void rw_acquire(struct mxuser_rwlock *l, bool write)
{
	bool contended = false;
	uint64_t t0 = 0, now;
	int (*try)(pthread_rwlock_t *) = write ? pthread_rwlock_trywrlock : pthread_rwlock_tryrdlock;
	int (*block)(pthread_rwlock_t *) = write ? pthread_rwlock_wrlock : pthread_rwlock_rdlock;

	if (!VMX_STATS || !l->hdr.stats) {
		VMX_VERIFY(block(&l->rw) == 0);
		return;
	}
	if (try(&l->rw) != 0) {
		contended = true;
		STAT_INC(LOCK_CONTENDED);
		t0 = stats_clock();
		kstat_push(KSTAT_LOCK_WAIT);
		VMX_VERIFY(block(&l->rw) == 0);
		kstat_pop();
	}
	now = stats_clock();
	mxuser_stats_acquired(&l->hdr, contended, contended ? stats_since(t0, now) : 0, self_tid());
	/* Hold time is kept for writers only: readers overlap. */
	if (write)
		l->acquired_ns = now;
}

void mxuser_rdlock_at(struct mxuser_rwlock *l, const char *file, int line)
{
	if (VMX_DEBUG)
		mxuser_rank_check(&l->hdr, file, line);
	rw_acquire(l, false);
	if (VMX_DEBUG)
		mxuser_rank_acquired(&l->hdr, file, line);
}

void mxuser_wrlock_at(struct mxuser_rwlock *l, const char *file, int line)
{
	if (VMX_DEBUG)
		mxuser_rank_check(&l->hdr, file, line);
	rw_acquire(l, true);
	if (TRACK_WRITER)
		__atomic_store_n(&l->writer, self_tid(), __ATOMIC_RELAXED);
	if (VMX_DEBUG)
		mxuser_rank_acquired(&l->hdr, file, line);
}

void mxuser_rw_unlock_at(struct mxuser_rwlock *l, const char *file, int line)
{
	bool writer = TRACK_WRITER && __atomic_load_n(&l->writer, __ATOMIC_RELAXED) == self_tid();

	if (VMX_DEBUG)
		mxuser_rank_release(&l->hdr, file, line);
	if (writer) {
		if (VMX_STATS && l->hdr.stats)
			mxuser_stats_released(&l->hdr, stats_since(l->acquired_ns, stats_clock()));
		__atomic_store_n(&l->writer, 0, __ATOMIC_RELAXED);
	}
	VMX_VERIFY(pthread_rwlock_unlock(&l->rw) == 0);
}

/* ---- condition variables ---- */

int mxuser_cond_init(struct mxuser_cond *c, const char *name)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (rc)
		return -rc;
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&c->c, &a);
	pthread_condattr_destroy(&a);
	if (rc)
		return -rc;
	hdr_init(&c->hdr, name, MXUSER_RANK_LEAF, MXUSER_COND);
	return 0;
}

void mxuser_cond_destroy(struct mxuser_cond *c)
{
	if (VMX_STATS)
		mxuser_stats_detach(&c->hdr);
	pthread_cond_destroy(&c->c);
}

/*
 * A wait releases l and takes it again: for l's statistics that ends one hold
 * and starts another; for the condition variable it is one "acquisition"
 * whose wait time is the time spent waiting.
 */
static int cond_wait(struct mxuser_cond *c, struct mxuser_lock *l, const struct timespec *ts)
{
	uint64_t t0 = 0, now;
	int rc;

	if (VMX_DEBUG && !mxuser_lock_is_held(l))
		vmx_panic(__FILE__, __LINE__, "MXUser: waiting on \"%s\" without holding \"%s\"",
			  c->hdr.name, l->hdr.name);
	if (VMX_STATS && (c->hdr.stats || l->hdr.stats)) {
		t0 = stats_clock();
		if (l->hdr.stats && l->acquired_ns)
			mxuser_stats_released(&l->hdr, stats_since(l->acquired_ns, t0));
	}
	if (TRACK_OWNER)
		__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	rc = ts ? pthread_cond_timedwait(&c->c, &l->m, ts) : pthread_cond_wait(&c->c, &l->m);
	VMX_VERIFY(rc == 0 || rc == ETIMEDOUT);
	if (TRACK_OWNER)
		__atomic_store_n(&l->owner, self_tid(), __ATOMIC_RELAXED);
	if (VMX_STATS && (c->hdr.stats || l->hdr.stats)) {
		now = stats_clock();
		if (c->hdr.stats)
			mxuser_stats_acquired(&c->hdr, true, stats_since(t0, now), self_tid());
		if (l->hdr.stats) {
			mxuser_stats_acquired(&l->hdr, false, 0, self_tid());
			l->acquired_ns = hold_start(l->hdr.stats, now);
		}
	}
	return rc == ETIMEDOUT ? -ETIMEDOUT : 0;
}

void mxuser_cond_wait(struct mxuser_cond *c, struct mxuser_lock *l)
{
	cond_wait(c, l, NULL);
}

int mxuser_cond_timedwait(struct mxuser_cond *c, struct mxuser_lock *l, uint64_t deadline_ns)
{
	struct timespec ts = { (time_t)(deadline_ns / 1000000000ull),
			       (long)(deadline_ns % 1000000000ull) };
	return cond_wait(c, l, &ts);
}

void mxuser_cond_signal(struct mxuser_cond *c) { pthread_cond_signal(&c->c); }
void mxuser_cond_broadcast(struct mxuser_cond *c) { pthread_cond_broadcast(&c->c); }

/* ---- semaphores ---- */

int mxuser_sem_init(struct mxuser_sem *s, const char *name, unsigned value)
{
	if (sem_init(&s->s, 0, value) < 0)
		return -errno;
	hdr_init(&s->hdr, name, MXUSER_RANK_LEAF, MXUSER_SEM);
	return 0;
}

void mxuser_sem_destroy(struct mxuser_sem *s)
{
	if (VMX_STATS)
		mxuser_stats_detach(&s->hdr);
	sem_destroy(&s->s);
}

void mxuser_sem_wait(struct mxuser_sem *s)
{
	uint64_t t0;

	if (VMX_STATS && s->hdr.stats) {
		if (sem_trywait(&s->s) == 0) {
			mxuser_stats_acquired(&s->hdr, false, 0, self_tid());
			return;
		}
		t0 = stats_clock();
		kstat_push(KSTAT_LOCK_WAIT);
		while (sem_wait(&s->s) < 0)
			VMX_VERIFY(errno == EINTR);
		kstat_pop();
		mxuser_stats_acquired(&s->hdr, true, stats_since(t0, stats_clock()), self_tid());
		return;
	}
	while (sem_wait(&s->s) < 0)
		VMX_VERIFY(errno == EINTR);
}

bool mxuser_sem_trywait(struct mxuser_sem *s)
{
	if (sem_trywait(&s->s) < 0)
		return false;
	if (VMX_STATS && s->hdr.stats)
		mxuser_stats_acquired(&s->hdr, false, 0, self_tid());
	return true;
}

void mxuser_sem_post(struct mxuser_sem *s) { VMX_VERIFY(sem_post(&s->s) == 0); }
