/*
 * lockstats.c - MXUser lock statistics of the stats build (mxuser.h).
 *
 * One record per lock, attached when the lock is created.  Records are never
 * freed while the process runs (the ustats writer may be reading them); a lock
 * destroyed and created again under the same name reuses its old record, so
 * short-lived locks do not use up the table.  Updates use relaxed atomic adds
 * because readers of a read-write lock and waiters on a condition variable
 * update the same record concurrently; this is the stats build only, and every
 * update sits next to a clock read that costs more.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "../lib/mxuser.h"
#include "stats.h"

/*
 * A plain pthread mutex, the one exception to "every lock is an MXUser
 * lock": MXUser's own statistics register their counters, kstats and
 * records through this registry, so an MXUser lock here would recurse.
 * It is a leaf: nothing else is taken while it is held.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mxuser_lockstats *records[MXUSER_MAX_STATS];
static _Atomic unsigned nrecords;
static bool enabled = true;

void mxuser_stats_set_enabled(bool on) { enabled = on; }

void mxuser_stats_set_hold_every(unsigned every) { mxuser_hold_every = every ? every : 1; }

static struct mxuser_lockstats *new_record(const struct mxuser_hdr *h)
{
	unsigned n = nrecords;
	struct mxuser_lockstats *r;

	const char *name = h->name ? h->name : "?";
	size_t l = strlen(name);
	unsigned same = 0;

	for (unsigned i = 0; i < n; i++) {
		r = records[i];
		if (!__atomic_load_n(&r->live, __ATOMIC_RELAXED) && r->kind == h->kind &&
		    !strncmp(r->name, name, l) &&
		    (!r->name[l] || r->name[l] == '#'))
			return r;
	}
	/*
	 * Two objects alive under one name (a lock and its condition variable,
	 * or per-device locks) get "name#2", "name#3": a report line then
	 * always means one record.
	 */
	for (unsigned i = 0; i < n; i++) {
		const char *rn = records[i]->name;
		if (!strncmp(rn, name, l) && (!rn[l] || rn[l] == '#'))
			same++;
	}
	if (n == MXUSER_MAX_STATS)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (same)
		snprintf(r->name, sizeof(r->name), "%.40s#%u", name, same + 1);
	else
		snprintf(r->name, sizeof(r->name), "%s", name);
	r->rank = h->rank;
	r->kind = h->kind;
	records[n] = r;
	atomic_store(&nrecords, n + 1);
	return r;
}

void mxuser_stats_attach(struct mxuser_hdr *h)
{
	struct mxuser_lockstats *r;

	if (!enabled || !stats_on)
		return;
	pthread_mutex_lock(&reg_lock);
	r = new_record(h);
	if (r)
		__atomic_store_n(&r->live, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	h->stats = r;
}

void mxuser_stats_detach(struct mxuser_hdr *h)
{
	if (!h->stats)
		return;
	pthread_mutex_lock(&reg_lock);
	__atomic_store_n(&h->stats->live, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	h->stats = NULL;
}

static void add(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

/* An exclusive lock's record needs no locked instruction (mxuser_stats_bump_). */
static void bump(uint64_t *p, uint64_t v) { mxuser_stats_bump_(p, v); }

static void raise_max(uint64_t *p, uint64_t v)
{
	if (v > __atomic_load_n(p, __ATOMIC_RELAXED))
		__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void set_max(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

/* An exclusive lock's record (excl) needs no locked instruction: see bump. */
static void count(bool excl, uint64_t *p, uint64_t v)
{
	if (excl)
		bump(p, v);
	else
		add(p, v);
}

static void count_max(bool excl, uint64_t *p, uint64_t v)
{
	if (excl)
		raise_max(p, v);
	else
		set_max(p, v);
}

void mxuser_stats_acquired(struct mxuser_hdr *h, bool contended, uint64_t wait_ns, int tid)
{
	struct mxuser_lockstats *r = h->stats;
	int prev;

	if (!r)
		return;
	/*
	 * A condition variable or semaphore "acquisition" is a wait for a
	 * signal: it counts as a wait (acquisitions, wait time) and never as
	 * contention, which is about a lock someone else holds.
	 */
	if (r->kind == MXUSER_COND || r->kind == MXUSER_SEM)
		contended = false;
	bool excl = r->kind == MXUSER_EXCL;
	count(excl, &r->acquisitions, 1);
	if (contended)
		count(excl, &r->contended, 1);
	/*
	 * Bucket 0 of the wait histogram (under 2 ns: every uncontended
	 * acquisition) is not stored; mxuser_stats_get derives it from the
	 * acquisitions, which saves a store per acquisition.
	 */
	if (wait_ns) {
		count(excl, &r->wait_total_ns, wait_ns);
		count_max(excl, &r->wait_max_ns, wait_ns);
		if (wait_ns > 1)
			count(excl, &r->wait_hist[mxuser_hist_bucket(wait_ns)], 1);
	}
	prev = excl ? __atomic_load_n(&r->last_owner, __ATOMIC_RELAXED)
		    : __atomic_exchange_n(&r->last_owner, tid, __ATOMIC_RELAXED);
	if (excl && prev != tid)
		__atomic_store_n(&r->last_owner, tid, __ATOMIC_RELAXED);
	if (prev && prev != tid)
		count(excl, &r->owner_changes, 1);
}

void mxuser_stats_released(struct mxuser_hdr *h, uint64_t hold_ns)
{
	struct mxuser_lockstats *r = h->stats;

	if (!r)
		return;
	if (r->kind == MXUSER_EXCL) {
		mxuser_stats_released_excl(r, hold_ns);
		return;
	}
	add(&r->hold_total_ns, hold_ns);
	set_max(&r->hold_max_ns, hold_ns);
	add(&r->hold_hist[mxuser_hist_bucket(hold_ns)], 1);
}

unsigned mxuser_stats_count(void) { return atomic_load(&nrecords); }

static uint64_t ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

bool mxuser_stats_get(unsigned i, struct mxuser_lockstats_view *out)
{
	const struct mxuser_lockstats *r;

	if (i >= mxuser_stats_count())
		return false;
	r = records[i];
	memset(out, 0, sizeof(*out));
	memcpy(out->name, r->name, sizeof(out->name));
	out->rank = r->rank;
	out->kind = r->kind;
	out->live = __atomic_load_n(&r->live, __ATOMIC_RELAXED);
	out->hold_every = r->kind == MXUSER_EXCL ? mxuser_hold_every : 1;
	out->acquisitions = ld(&r->acquisitions);
	out->contended = ld(&r->contended);
	out->owner_changes = ld(&r->owner_changes);
	out->wait_total_ns = ld(&r->wait_total_ns);
	out->wait_max_ns = ld(&r->wait_max_ns);
	out->hold_total_ns = ld(&r->hold_total_ns);
	out->hold_max_ns = ld(&r->hold_max_ns);
	uint64_t waited = 0;
	for (unsigned b = 0; b < MXUSER_HIST_BUCKETS; b++) {
		out->wait_hist[b] = ld(&r->wait_hist[b]);
		out->hold_hist[b] = ld(&r->hold_hist[b]);
		waited += out->wait_hist[b];
	}
	/*
	 * Every acquisition is in one wait bucket; the counts are read one
	 * by one while other threads add to them, so a bucket may be seen
	 * before its acquisition: never below zero.
	 */
	out->wait_hist[0] = out->acquisitions > waited ? out->acquisitions - waited : 0;
	return true;
}

int mxuser_stats_index(const struct mxuser_hdr *h)
{
	unsigned n = mxuser_stats_count();
	for (unsigned i = 0; i < n; i++)
		if (records[i] == h->stats)
			return (int)i;
	return -1;
}

void mxuser_stats_reset(void)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nrecords; i++) {
		struct mxuser_lockstats *r = records[i];
		if (__atomic_load_n(&r->live, __ATOMIC_RELAXED)) {
			/* Keep the record (a lock points at it), clear the figures. */
			char name[48];
			unsigned rank = r->rank, kind = r->kind;
			memcpy(name, r->name, sizeof(name));
			memset(r, 0, sizeof(*r));
			memcpy(r->name, name, sizeof(name));
			r->rank = rank;
			r->kind = kind;
			__atomic_store_n(&r->live, true, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&reg_lock);
}
