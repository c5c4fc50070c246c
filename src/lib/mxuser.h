/*
 * mxuser.h - every lock, read-write lock, condition variable and semaphore of
 * the monitor, each with a name and a rank.
 *
 * Release: thin wrappers over pthreads and POSIX semaphores.
 * Beta (VMX_DEBUG): lock ranks are checked.  A thread must acquire locks in
 * strictly increasing rank; taking a lock of lower or equal rank than one it
 * holds, taking a lock it already holds, or releasing a lock it does not hold
 * stops the process with a report naming both locks, where each was taken,
 * and a backtrace (src/debug/lockrank.c) -- a would-be deadlock becomes a
 * report instead of a hang.
 * Stats (VMX_STATS): per lock acquisitions, contended acquisitions, owner
 * changes, wait and hold time (total, max, log2 histograms), unless
 * `vmx.MXUser.statsEnabled = "FALSE"` (src/stats/lockstats.c).
 *
 * The checking and statistics bodies live in src/debug and src/stats and are
 * not linked into builds without them; below they are static inline stubs.
 * The structures have the same layout in every build type so code compiled
 * with different flags (unit tests against the obj library) agrees on them.
 */
#ifndef VMX_LIB_MXUSER_H
#define VMX_LIB_MXUSER_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include "build.h"

/*
 * Ranks: acquire in increasing order.  Leave gaps; a new lock picks the rank
 * that places it correctly relative to the locks held around it.
 */
enum mxuser_rank {
	MXUSER_RANK_VM = 100,        /* board-wide state: run/stop, power */
	MXUSER_RANK_CTL = 200,       /* control socket */
	MXUSER_RANK_HART = 300,      /* per-hart state shared with other threads */
	MXUSER_RANK_DEVICE = 400,    /* a device's register state */
	MXUSER_RANK_VIRTIO = 500,    /* virtio queues */
	MXUSER_RANK_IO = 600,        /* I/O submission/completion queues */
	MXUSER_RANK_IRQ = 700,       /* interrupt controller lines */
	MXUSER_RANK_STATS = 800,     /* stats thread state */
	MXUSER_RANK_LEAF = 900,      /* nothing but the log is taken while holding one of these */
	MXUSER_RANK_LOG = 950,       /* the log: any code may log while holding any lock */
};

enum mxuser_kind { MXUSER_EXCL = 1, MXUSER_RW, MXUSER_COND, MXUSER_SEM };

struct mxuser_lockstats;

/* What every MXUser object starts with. */
struct mxuser_hdr {
	const char *name;
	unsigned rank;
	unsigned kind;
	struct mxuser_lockstats *stats; /* NULL unless statistics are on */
	int stats_state;                /* 0: statistics not attached yet (static initializer) */
};

struct mxuser_lock {
	struct mxuser_hdr hdr;
	pthread_mutex_t m;
	int owner;              /* tid of the holder (debug builds), 0 when free */
	uint64_t acquired_ns;   /* when the holder got it (stats) */
};

struct mxuser_rwlock {
	struct mxuser_hdr hdr;
	pthread_rwlock_t rw;
	int writer;             /* tid of the writer holding it (debug and stats builds) */
	uint64_t acquired_ns;
};

struct mxuser_cond {
	struct mxuser_hdr hdr;
	pthread_cond_t c;       /* uses CLOCK_MONOTONIC */
};

struct mxuser_sem {
	struct mxuser_hdr hdr;
	sem_t s;
};

/*
 * For locks with static storage: `static struct mxuser_lock l =
 * MXUSER_LOCK_INITIALIZER("log", MXUSER_RANK_LEAF);`  Statistics attach on
 * first use.
 */
#define MXUSER_LOCK_INITIALIZER(nm, rk) \
	{ .hdr = { .name = (nm), .rank = (rk), .kind = MXUSER_EXCL }, \
	  .m = PTHREAD_MUTEX_INITIALIZER }

/* Actions return 0 or a negative errno. */
int mxuser_lock_init(struct mxuser_lock *l, const char *name, unsigned rank);
void mxuser_lock_destroy(struct mxuser_lock *l);
void mxuser_lock_at(struct mxuser_lock *l, const char *file, int line);
bool mxuser_trylock_at(struct mxuser_lock *l, const char *file, int line);
void mxuser_unlock_at(struct mxuser_lock *l, const char *file, int line);
#define mxuser_lock(l) mxuser_lock_at((l), __FILE__, __LINE__)
#define mxuser_trylock(l) mxuser_trylock_at((l), __FILE__, __LINE__)
#define mxuser_unlock(l) mxuser_unlock_at((l), __FILE__, __LINE__)
/* True when the calling thread holds l (always true in builds that do not track owners). */
bool mxuser_lock_is_held(const struct mxuser_lock *l);

int mxuser_rw_init(struct mxuser_rwlock *l, const char *name, unsigned rank);
void mxuser_rw_destroy(struct mxuser_rwlock *l);
void mxuser_rdlock_at(struct mxuser_rwlock *l, const char *file, int line);
void mxuser_wrlock_at(struct mxuser_rwlock *l, const char *file, int line);
void mxuser_rw_unlock_at(struct mxuser_rwlock *l, const char *file, int line);
#define mxuser_rdlock(l) mxuser_rdlock_at((l), __FILE__, __LINE__)
#define mxuser_wrlock(l) mxuser_wrlock_at((l), __FILE__, __LINE__)
#define mxuser_rw_unlock(l) mxuser_rw_unlock_at((l), __FILE__, __LINE__)

int mxuser_cond_init(struct mxuser_cond *c, const char *name);
void mxuser_cond_destroy(struct mxuser_cond *c);
void mxuser_cond_wait(struct mxuser_cond *c, struct mxuser_lock *l);
/* Waits until CLOCK_MONOTONIC reaches deadline_ns; 0 when signalled, -ETIMEDOUT otherwise. */
int mxuser_cond_timedwait(struct mxuser_cond *c, struct mxuser_lock *l, uint64_t deadline_ns);
void mxuser_cond_signal(struct mxuser_cond *c);
void mxuser_cond_broadcast(struct mxuser_cond *c);

int mxuser_sem_init(struct mxuser_sem *s, const char *name, unsigned value);
void mxuser_sem_destroy(struct mxuser_sem *s);
void mxuser_sem_wait(struct mxuser_sem *s);
bool mxuser_sem_trywait(struct mxuser_sem *s);
void mxuser_sem_post(struct mxuser_sem *s);

/* CLOCK_MONOTONIC in ns (the clock of mxuser_cond_timedwait deadlines). */
uint64_t mxuser_now_ns(void);

/* ---- rank checking: src/debug/lockrank.c (beta, opt, obj) ---- */
#if VMX_DEBUG
/* Before blocking on h: panics on a rank violation or recursive acquisition. */
void mxuser_rank_check(const struct mxuser_hdr *h, const char *file, int line);
/* After h was acquired: remember it as held by this thread. */
void mxuser_rank_acquired(const struct mxuser_hdr *h, const char *file, int line);
/* Before h is released: panics when this thread does not hold it. */
void mxuser_rank_release(const struct mxuser_hdr *h, const char *file, int line);
/* Number of MXUser locks the calling thread holds. */
unsigned mxuser_rank_held_count(void);
#else
static inline void mxuser_rank_check(const struct mxuser_hdr *h, const char *file, int line)
{
	(void)h; (void)file; (void)line;
}
static inline void mxuser_rank_acquired(const struct mxuser_hdr *h, const char *file, int line)
{
	(void)h; (void)file; (void)line;
}
static inline void mxuser_rank_release(const struct mxuser_hdr *h, const char *file, int line)
{
	(void)h; (void)file; (void)line;
}
static inline unsigned mxuser_rank_held_count(void) { return 0; }
#endif

/* ---- lock statistics: src/stats/lockstats.c (stats, opt, obj) ---- */
#define MXUSER_HIST_BUCKETS 40  /* bucket b counts times in [2^b, 2^(b+1)) ns; 0 and 1 ns in 0 */
#define MXUSER_MAX_STATS 1024   /* lock statistics records; more locks share one "other" */

/*
 * One lock's statistics record (src/stats/lockstats.c owns them).  Declared
 * here so the wrappers in mxuser.c update an exclusive lock's record in line
 * on the path every device access takes; other builds never touch one.
 */
struct mxuser_lockstats {
	char name[48];
	unsigned rank, kind;
	bool live;
	int last_owner;
	uint64_t acquisitions, contended, owner_changes;
	uint64_t wait_total_ns, wait_max_ns, hold_total_ns, hold_max_ns;
	uint64_t wait_hist[MXUSER_HIST_BUCKETS], hold_hist[MXUSER_HIST_BUCKETS];
};

static inline unsigned mxuser_hist_bucket(uint64_t ns)
{
	unsigned b = ns > 1 ? 63u - (unsigned)__builtin_clzll(ns) : 0;
	return b < MXUSER_HIST_BUCKETS ? b : MXUSER_HIST_BUCKETS - 1;
}

/*
 * An exclusive lock's record is only written while the lock is held
 * (acquired: after taking it; released: before letting go), so the lock
 * itself orders the writers: a relaxed load and store, not a locked add.
 * Readers load relaxed, as for every counter.
 */
static inline void mxuser_stats_bump_(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* An exclusive lock taken without waiting by thread tid (the wait histogram's bucket 0 is derived). */
static inline void mxuser_stats_acquired_excl(struct mxuser_lockstats *r, int tid)
{
	int prev = __atomic_load_n(&r->last_owner, __ATOMIC_RELAXED);
	mxuser_stats_bump_(&r->acquisitions, 1);
	if (prev != tid) {
		__atomic_store_n(&r->last_owner, tid, __ATOMIC_RELAXED);
		if (prev)
			mxuser_stats_bump_(&r->owner_changes, 1);
	}
}

/*
 * Hold times of exclusive locks are measured on a sample of the holds: two
 * clock reads per hold were most of what lock statistics cost (every device
 * access of a console-bound guest takes and releases a lock).  Each lock's
 * first MXUSER_HOLD_EXACT holds are all measured, so a rarely taken lock
 * shows every hold; after that about one in mxuser_hold_every is (the gaps
 * are drawn at random per thread, so no periodic access pattern lines up
 * with the sampling), and a measured hold counts for mxuser_hold_every holds
 * in the total and the histogram.  Those two are then estimates; the maximum
 * is the longest hold measured.  Writers of read-write locks measure every
 * hold.  mxuser_hold_every is 1 (every hold) until the stats build sets it
 * (`vmx.MXUser.holdSampleEvery`).
 */
#define MXUSER_HOLD_EXACT 256
#define MXUSER_HOLD_EVERY_DEFAULT 16
extern unsigned mxuser_hold_every;   /* mxuser.c */

/* How many holds a measured hold of r stands for (read while r's lock is held). */
static inline uint64_t mxuser_stats_hold_weight_(const struct mxuser_lockstats *r)
{
	return __atomic_load_n(&r->acquisitions, __ATOMIC_RELAXED) <= MXUSER_HOLD_EXACT
		       ? 1 : mxuser_hold_every;
}

/* An exclusive lock released after a measured hold of hold_ns. */
static inline void mxuser_stats_released_excl(struct mxuser_lockstats *r, uint64_t hold_ns)
{
	uint64_t w = mxuser_stats_hold_weight_(r);
	mxuser_stats_bump_(&r->hold_total_ns, hold_ns * w);
	if (hold_ns > __atomic_load_n(&r->hold_max_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&r->hold_max_ns, hold_ns, __ATOMIC_RELAXED);
	mxuser_stats_bump_(&r->hold_hist[mxuser_hist_bucket(hold_ns)], w);
}

struct mxuser_lockstats_view {
	char name[48];
	unsigned rank, kind;
	bool live;
	/* Hold figures: 1 when every hold is measured, else as mxuser_hold_every says. */
	unsigned hold_every;
	uint64_t acquisitions, contended, owner_changes;
	uint64_t wait_total_ns, wait_max_ns, hold_total_ns, hold_max_ns;
	uint64_t wait_hist[MXUSER_HIST_BUCKETS], hold_hist[MXUSER_HIST_BUCKETS];
};

#if VMX_STATS
/* `vmx.MXUser.statsEnabled`: locks created while it is false keep no statistics. */
void mxuser_stats_set_enabled(bool on);
/* `vmx.MXUser.holdSampleEvery` (>= 1): set before locks are taken. */
void mxuser_stats_set_hold_every(unsigned every);
void mxuser_stats_attach(struct mxuser_hdr *h);
void mxuser_stats_detach(struct mxuser_hdr *h);
/* One acquisition: whether it had to wait, how long, and by which thread. */
void mxuser_stats_acquired(struct mxuser_hdr *h, bool contended, uint64_t wait_ns, int tid);
void mxuser_stats_released(struct mxuser_hdr *h, uint64_t hold_ns);
/* Snapshot of record i (0 <= i < mxuser_stats_count()); false when out of range. */
unsigned mxuser_stats_count(void);
bool mxuser_stats_get(unsigned i, struct mxuser_lockstats_view *out);
/* Index of h's record, -1 when it keeps none. */
int mxuser_stats_index(const struct mxuser_hdr *h);
void mxuser_stats_reset(void);
#else
static inline void mxuser_stats_attach(struct mxuser_hdr *h) { (void)h; }
static inline void mxuser_stats_detach(struct mxuser_hdr *h) { (void)h; }
static inline void mxuser_stats_acquired(struct mxuser_hdr *h, bool contended, uint64_t wait_ns,
					 int tid)
{
	(void)h; (void)contended; (void)wait_ns; (void)tid;
}
static inline void mxuser_stats_released(struct mxuser_hdr *h, uint64_t hold_ns)
{
	(void)h; (void)hold_ns;
}
static inline void mxuser_stats_set_enabled(bool on) { (void)on; }
static inline void mxuser_stats_set_hold_every(unsigned every) { (void)every; }
#endif

#endif
