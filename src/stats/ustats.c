/*
 * ustats.c - the ustats writer and the stats thread (ustats.h); stats builds.
 *
 * The writer keeps a copy of every value it last wrote and emits only the
 * entries that changed, as varint deltas keyed by (slot, id) gaps, so a quiet
 * interval costs a few bytes and a busy one a few hundred.  Each interval is
 * one buffer and one write() in O_APPEND mode: after a SIGKILL the kernel
 * still holds every completed interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "../lib/cfg.h"
#include "../lib/log.h"
#include "ustats.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct ustats_writer {
	int fd;
	char path[4200];
	uint64_t start_ns, bytes;
	struct buf out, rec;
	unsigned ncounters_desc, nkstats_desc, npaths_desc, nlocks_desc;
	uint64_t counts[STATS_SLOTS][STATS_MAX_COUNTERS];
	uint64_t kinv[STATS_SLOTS][KSTAT_MAX];
	uint64_t ksamples[STATS_SLOTS][KSTAT_MAX];
	uint64_t psamples[STATS_SLOTS][KSTAT_MAX_PATHS];
	struct mxuser_lockstats_view locks[MXUSER_MAX_STATS];
};

static int reserve(struct buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Allocation failures are remembered in the buffer (cap = SIZE_MAX) and reported at flush. */
static void put_bytes(struct buf *b, const void *src, size_t n)
{
	if (n == 0)
		return;
	if (reserve(b, n) < 0) {
		b->len = 0;
		return;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put_u(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	put_bytes(b, tmp, ustats_put_varint(tmp, v));
}

static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	put_u(b, n);
	put_bytes(b, s, n);
}

/* Wraps w->rec as one record of `type` onto w->out and empties w->rec. */
static void end_record(struct ustats_writer *w, uint8_t type)
{
	uint8_t hdr[11], crcb[4];
	size_t n = 1;
	uLong crc;

	hdr[0] = type;
	n += ustats_put_varint(hdr + 1, w->rec.len);
	crc = crc32(0L, hdr, (uInt)n);
	crc = crc32(crc, w->rec.p, (uInt)w->rec.len);
	for (int i = 0; i < 4; i++)
		crcb[i] = (uint8_t)(crc >> (8 * i));
	put_bytes(&w->out, hdr, n);
	put_bytes(&w->out, w->rec.p, w->rec.len);
	put_bytes(&w->out, crcb, 4);
	w->rec.len = 0;
}

static int flush(struct ustats_writer *w)
{
	size_t off = 0;

	while (off < w->out.len) {
		ssize_t n = write(w->fd, w->out.p + off, w->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->out.len = 0;
			return -errno;
		}
		off += (size_t)n;
	}
	w->bytes += off;
	w->out.len = 0;
	/*
	 * A killed process loses nothing the kernel has; this also keeps the
	 * intervals across a host crash, at one flush per interval.
	 */
	fdatasync(w->fd);
	return 0;
}

static void describe_new(struct ustats_writer *w)
{
	unsigned nc = stats_ncounters(), nk = kstat_count(), np = kstat_npaths();
	unsigned nl = mxuser_stats_count();
	char name[STATS_NAME_MAX];

	for (; w->ncounters_desc < nc; w->ncounters_desc++) {
		put_u(&w->rec, USTATS_DESC_COUNTER);
		put_u(&w->rec, w->ncounters_desc);
		put_str(&w->rec, stats_name(w->ncounters_desc, name, sizeof(name)));
		put_str(&w->rec, stats_desc(w->ncounters_desc));
		end_record(w, USTATS_REC_DESC);
	}
	for (; w->nkstats_desc < nk; w->nkstats_desc++) {
		put_u(&w->rec, USTATS_DESC_KSTAT);
		put_u(&w->rec, w->nkstats_desc);
		put_str(&w->rec, kstat_name(w->nkstats_desc));
		put_str(&w->rec, kstat_desc(w->nkstats_desc));
		end_record(w, USTATS_REC_DESC);
	}
	for (; w->npaths_desc < np; w->npaths_desc++) {
		int parent;
		unsigned k;
		kstat_path(w->npaths_desc, &parent, &k);
		put_u(&w->rec, USTATS_DESC_PATH);
		put_u(&w->rec, w->npaths_desc);
		put_u(&w->rec, (uint64_t)(parent + 1));
		put_u(&w->rec, k);
		end_record(w, USTATS_REC_DESC);
	}
	for (; w->nlocks_desc < nl; w->nlocks_desc++) {
		struct mxuser_lockstats_view v;
		if (!mxuser_stats_get(w->nlocks_desc, &v))
			break;
		put_u(&w->rec, USTATS_DESC_LOCK);
		put_u(&w->rec, w->nlocks_desc);
		put_str(&w->rec, v.name);
		put_u(&w->rec, v.rank);
		put_u(&w->rec, v.kind);
		put_u(&w->rec, v.hold_every);
		end_record(w, USTATS_REC_DESC);
	}
}

/*
 * One section of (key gap, delta) pairs for a [nslots][stride] table, of
 * which the first `n` columns are in use.  The file carries only growth: a
 * value below the last one written (kstat_vector taking back an invocation,
 * a reset) is skipped until it passes that value again.
 */
static void put_section(struct buf *b, uint64_t *prev, const uint64_t *(*get)(unsigned slot),
			size_t stride, unsigned n)
{
	struct buf tmp = { 0 };
	unsigned count = 0;
	int64_t last = -1;

	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		const uint64_t *row = get(s);
		for (unsigned i = 0; i < n; i++) {
			uint64_t v = __atomic_load_n(&row[i], __ATOMIC_RELAXED);
			uint64_t *p = &prev[s * stride + i];
			int64_t key = (int64_t)(s * stride + i);
			if (v <= *p)
				continue;
			put_u(&tmp, (uint64_t)(key - last - 1));
			put_u(&tmp, v - *p);
			*p = v;
			last = key;
			count++;
		}
	}
	put_u(b, count);
	put_bytes(b, tmp.p, tmp.len);
	free(tmp.p);
}

static const uint64_t *row_counts(unsigned s) { return stats_counts[s]; }
static const uint64_t *row_kinv(unsigned s) { return kstat_vcpus[s].invocations; }
static const uint64_t *row_ksamples(unsigned s) { return kstat_vcpus[s].samples; }

static uint64_t path_row[STATS_SLOTS][KSTAT_MAX_PATHS];
static const uint64_t *row_paths(unsigned s) { return path_row[s]; }

static void put_hist(struct buf *b, const uint64_t *cur, uint64_t *prev)
{
	unsigned n = 0;
	int last = -1;
	for (unsigned i = 0; i < MXUSER_HIST_BUCKETS; i++)
		n += cur[i] > prev[i];
	put_u(b, n);
	for (unsigned i = 0; i < MXUSER_HIST_BUCKETS; i++) {
		if (cur[i] <= prev[i])
			continue;
		put_u(b, (uint64_t)((int)i - last - 1));
		put_u(b, cur[i] - prev[i]);
		prev[i] = cur[i];
		last = (int)i;
	}
}

static bool hist_changed(const uint64_t *cur, const uint64_t *prev)
{
	for (unsigned i = 0; i < MXUSER_HIST_BUCKETS; i++)
		if (cur[i] > prev[i])
			return true;
	return false;
}

static void put_locks(struct ustats_writer *w)
{
	struct buf tmp = { 0 };
	unsigned count = 0, n = w->nlocks_desc;
	int64_t last = -1;

	for (unsigned i = 0; i < n; i++) {
		struct mxuser_lockstats_view v;
		struct mxuser_lockstats_view *p = &w->locks[i];
		uint64_t mask = 0;

		if (!mxuser_stats_get(i, &v))
			break;
		mask |= (uint64_t)(v.acquisitions > p->acquisitions) << ULF_ACQ;
		mask |= (uint64_t)(v.contended > p->contended) << ULF_CONTENDED;
		mask |= (uint64_t)(v.owner_changes > p->owner_changes) << ULF_OWNER_CHANGES;
		mask |= (uint64_t)(v.wait_total_ns > p->wait_total_ns) << ULF_WAIT_TOTAL;
		mask |= (uint64_t)(v.wait_max_ns > p->wait_max_ns) << ULF_WAIT_MAX;
		mask |= (uint64_t)(v.hold_total_ns > p->hold_total_ns) << ULF_HOLD_TOTAL;
		mask |= (uint64_t)(v.hold_max_ns > p->hold_max_ns) << ULF_HOLD_MAX;
		mask |= (uint64_t)hist_changed(v.wait_hist, p->wait_hist) << ULF_WAIT_HIST;
		mask |= (uint64_t)hist_changed(v.hold_hist, p->hold_hist) << ULF_HOLD_HIST;
		if (!mask)
			continue;
		put_u(&tmp, (uint64_t)((int64_t)i - last - 1));
		put_u(&tmp, mask);
		if (mask & (1u << ULF_ACQ))
			put_u(&tmp, v.acquisitions - p->acquisitions);
		if (mask & (1u << ULF_CONTENDED))
			put_u(&tmp, v.contended - p->contended);
		if (mask & (1u << ULF_OWNER_CHANGES))
			put_u(&tmp, v.owner_changes - p->owner_changes);
		if (mask & (1u << ULF_WAIT_TOTAL))
			put_u(&tmp, v.wait_total_ns - p->wait_total_ns);
		if (mask & (1u << ULF_WAIT_MAX))
			put_u(&tmp, v.wait_max_ns);
		if (mask & (1u << ULF_HOLD_TOTAL))
			put_u(&tmp, v.hold_total_ns - p->hold_total_ns);
		if (mask & (1u << ULF_HOLD_MAX))
			put_u(&tmp, v.hold_max_ns);
		if (mask & (1u << ULF_WAIT_HIST))
			put_hist(&tmp, v.wait_hist, p->wait_hist);
		if (mask & (1u << ULF_HOLD_HIST))
			put_hist(&tmp, v.hold_hist, p->hold_hist);
		*p = v;
		last = (int64_t)i;
		count++;
	}
	put_u(&w->rec, count);
	put_bytes(&w->rec, tmp.p, tmp.len);
	free(tmp.p);
}

static uint64_t now_ns(void) { return mxuser_now_ns(); }

int ustats_write_sample(struct ustats_writer *w)
{
	unsigned np = kstat_npaths();

	describe_new(w);
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		for (unsigned i = 0; i < np; i++)
			path_row[s][i] = kstat_path_samples(s, i);
	put_u(&w->rec, now_ns() - w->start_ns);
	put_section(&w->rec, &w->counts[0][0], row_counts, STATS_MAX_COUNTERS, w->ncounters_desc);
	put_section(&w->rec, &w->kinv[0][0], row_kinv, KSTAT_MAX, w->nkstats_desc);
	put_section(&w->rec, &w->ksamples[0][0], row_ksamples, KSTAT_MAX, w->nkstats_desc);
	put_section(&w->rec, &w->psamples[0][0], row_paths, KSTAT_MAX_PATHS, w->npaths_desc);
	put_locks(w);
	end_record(w, USTATS_REC_SAMPLE);
	return flush(w);
}

int ustats_open(struct ustats_writer **out, const char *vmdir, uint64_t interval_us,
		struct verr *e)
{
	struct ustats_writer *w;
	char dir[4100], stamp[32];
	struct timespec rt;
	struct tm tm;
	int rc;

	if (snprintf(dir, sizeof(dir), "%s/stats", vmdir) >= (int)sizeof(dir))
		return verr_set(e, -ENAMETOOLONG, "stats directory path too long");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return verr_set(e, -errno, "cannot create %s: %s", dir, strerror(errno));
	w = calloc(1, sizeof(*w));
	if (!w)
		return verr_set(e, -ENOMEM, "out of memory");
	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(w->path, sizeof(w->path), "%s/ustats-%s-%d.bin", dir, stamp, (int)getpid());
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = verr_set(e, -errno, "cannot create %s: %s", w->path, strerror(errno));
		free(w);
		return rc;
	}
	w->start_ns = now_ns();
	put_bytes(&w->out, USTATS_MAGIC, 8);
	put_u(&w->rec, USTATS_VERSION);
	put_u(&w->rec, (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec);
	put_u(&w->rec, KSTAT_HZ);
	put_u(&w->rec, STATS_SLOTS);
	put_u(&w->rec, (uint64_t)getpid());
	put_u(&w->rec, interval_us);
	put_str(&w->rec, VMX_BUILDTYPE_NAME);
	put_str(&w->rec, vmdir);
	end_record(w, USTATS_REC_HEADER);
	describe_new(w);
	rc = flush(w);
	if (rc < 0) {
		rc = verr_set(e, rc, "cannot write %s: %s", w->path, strerror(-rc));
		ustats_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

void ustats_close(struct ustats_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0 && w->bytes) {
		ustats_write_sample(w);
		put_u(&w->rec, now_ns() - w->start_ns);
		end_record(w, USTATS_REC_END);
		flush(w);
	}
	if (w->fd >= 0)
		close(w->fd);
	free(w->out.p);
	free(w->rec.p);
	free(w);
}

const char *ustats_path(const struct ustats_writer *w) { return w->path; }
uint64_t ustats_bytes(const struct ustats_writer *w) { return w->bytes; }

/* ---- knobs and the stats thread ---- */

static uint64_t interval_us = USTATS_DEFAULT_INTERVAL_US;
static pthread_t stats_tid;
static bool stats_running;
static _Atomic bool stats_quit;
static struct ustats_writer *stats_writer;

int stats_configure(const struct cfg *c, struct verr *e)
{
	bool on, locks;
	uint64_t hold_every;
	int rc;

	rc = cfg_get_bool(c, "stats.enable", true, &on, e);
	if (rc < 0)
		return rc;
	rc = cfg_get_bool(c, "vmx.MXUser.statsEnabled", true, &locks, e);
	if (rc < 0)
		return rc;
	rc = cfg_get_u64(c, "vmx.MXUser.holdSampleEvery", MXUSER_HOLD_EVERY_DEFAULT, 1, 1024,
			 &hold_every, e);
	if (rc < 0)
		return rc;
	rc = cfg_get_u64(c, "ustats.interval", USTATS_DEFAULT_INTERVAL_US, 100000,
			 24ull * 3600 * 1000000, &interval_us, e);
	if (rc < 0)
		return rc;
	rc = lock_selftest_configure(c, e);
	if (rc < 0)
		return rc;
	stats_set_enabled(on);
	mxuser_stats_set_enabled(on && locks);
	mxuser_stats_set_hold_every((unsigned)hold_every);
	return 0;
}

/*
 * The stats thread sleeps on this condition so stats_stop() wakes it at
 * once: when every vCPU thread samples its own kstats it sleeps up to
 * SELF_WAKE_NS.  Its waits show among the waitables of the lock statistics
 * (a wait for a signal, never contention).
 */
static struct mxuser_lock stats_mu = MXUSER_LOCK_INITIALIZER("statsThread", MXUSER_RANK_STATS);
static struct mxuser_cond stats_cv;
static bool stats_cv_ready;
#define SELF_WAKE_NS 250000000ull

static void stats_sleep_until(uint64_t t)
{
	mxuser_lock(&stats_mu);
	while (!atomic_load(&stats_quit) && now_ns() < t)
		if (mxuser_cond_timedwait(&stats_cv, &stats_mu, t) == -ETIMEDOUT)
			break;
	mxuser_unlock(&stats_mu);
}

static void *stats_main(void *arg)
{
	const uint64_t period = 1000000000ull / KSTAT_HZ;
	uint64_t next = now_ns(), next_write = next + interval_us * 1000;

	(void)arg;
	log_set_thread_name("vmx-stats");
	while (!atomic_load(&stats_quit)) {
		next += period;
		/*
		 * Every attached vCPU charges its own kstats from the profiler's
		 * tick: wake only for the ustats write, and now and then to see
		 * whether a slot appeared that does not.
		 */
		if (kstat_self_covers()) {
			uint64_t n = now_ns() + SELF_WAKE_NS;
			next = stats_writer && next_write < n ? next_write : n;
		}
		stats_sleep_until(next);
		if (atomic_load(&stats_quit))
			break;
		kstat_sample_once();
		if (stats_writer && now_ns() >= next_write) {
			int rc = ustats_write_sample(stats_writer);
			if (rc < 0)
				LOG_WRN("ustats: write to %s failed: %s", ustats_path(stats_writer),
					strerror(-rc));
			next_write += interval_us * 1000;
			if (next_write < now_ns())
				next_write = now_ns() + interval_us * 1000;
		}
		/* After a long host stall, do not try to catch up tick by tick. */
		if (now_ns() > next + 10 * period)
			next = now_ns();
	}
	return NULL;
}

int stats_start(const char *vmdir, struct verr *e)
{
	int rc;

	if (!stats_on || stats_running)
		return 0;
	if (vmdir) {
		rc = ustats_open(&stats_writer, vmdir, interval_us, e);
		if (rc < 0)
			return rc;
		LOG_INF("ustats: writing %s every %llu us", ustats_path(stats_writer),
			(unsigned long long)interval_us);
	}
	atomic_store(&stats_quit, false);
	if (!stats_cv_ready) {
		rc = mxuser_cond_init(&stats_cv, "statsThreadWake");
		if (rc < 0) {
			ustats_close(stats_writer);
			stats_writer = NULL;
			return verr_set(e, rc, "cannot create the stats thread's condition variable");
		}
		stats_cv_ready = true;
	}
	rc = pthread_create(&stats_tid, NULL, stats_main, NULL);
	if (rc) {
		ustats_close(stats_writer);
		stats_writer = NULL;
		return verr_set(e, -rc, "cannot start the stats thread: %s", strerror(rc));
	}
	stats_running = true;
	lock_selftest_start();
	return 0;
}

void stats_stop(void)
{
	lock_selftest_stop();
	if (!stats_running)
		return;
	mxuser_lock(&stats_mu);
	atomic_store(&stats_quit, true);
	mxuser_cond_signal(&stats_cv);
	mxuser_unlock(&stats_mu);
	pthread_join(stats_tid, NULL);
	stats_running = false;
	if (stats_writer) {
		LOG_INF("ustats: %s: %llu bytes", ustats_path(stats_writer),
			(unsigned long long)ustats_bytes(stats_writer));
		ustats_close(stats_writer);
		stats_writer = NULL;
	}
}
