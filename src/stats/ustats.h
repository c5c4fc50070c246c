/*
 * ustats.h - the stats directory: periodic, compact records of counters,
 * kstats and lock statistics (format in docs/STATS.md), the stats thread that
 * samples kstats and writes them, and the reader the report tools use.
 *
 * File: <vmdir>/stats/ustats-<YYYYmmdd-HHMMSS>-<pid>.bin
 *   "VMXUST01", then records  type:u8 len:varint payload[len] crc32:u32le
 * Every interval one write() appends descriptors of anything new and one
 * sample record of deltas, so a SIGKILL loses at most the current interval
 * and a torn tail is recognised by its length or CRC and ignored.
 *
 * Writer and stats thread: stats builds only (stubs otherwise).
 * Reader: plain C with no build-type dependency; the host tools compile it.
 */
#ifndef VMX_STATS_USTATS_H
#define VMX_STATS_USTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../lib/build.h"
#include "../lib/mxuser.h"
#include "../lib/verr.h"
#include "kstat.h"
#include "stats.h"

#define USTATS_MAGIC "VMXUST01"
#define USTATS_VERSION 1
#define USTATS_DEFAULT_INTERVAL_US 10000000ull

enum ustats_rec { USTATS_REC_HEADER = 'H', USTATS_REC_DESC = 'D', USTATS_REC_SAMPLE = 'S',
		  USTATS_REC_END = 'E' };
enum ustats_desc { USTATS_DESC_COUNTER = 1, USTATS_DESC_KSTAT = 2, USTATS_DESC_LOCK = 3,
		   USTATS_DESC_PATH = 4 };
/* Lock record fields, in this order in a sample's per-lock field mask. */
enum ustats_lockfield { ULF_ACQ, ULF_CONTENDED, ULF_OWNER_CHANGES, ULF_WAIT_TOTAL, ULF_WAIT_MAX,
			ULF_HOLD_TOTAL, ULF_HOLD_MAX, ULF_WAIT_HIST, ULF_HOLD_HIST, ULF_COUNT };

/* ---- reader (every build, host tools) ---- */
struct ustats_lock {
	char name[48];
	unsigned rank, kind;
	unsigned hold_every;     /* hold figures from 1 in this many holds (mxuser.h), 1: all */
	bool described;
	uint64_t acquisitions, contended, owner_changes;
	uint64_t wait_total_ns, wait_max_ns, hold_total_ns, hold_max_ns;
	uint64_t wait_hist[MXUSER_HIST_BUCKETS], hold_hist[MXUSER_HIST_BUCKETS];
};

/* Everything in one file, summed over its records. */
struct ustats_data {
	unsigned version, hz, nslots, pid;
	uint64_t start_unix_ns, interval_us, elapsed_ns;
	char buildtype[16];
	char vmdir[256];
	unsigned nsamples;       /* sample records read (in the window) */
	uint64_t window_from_ns; /* ustats_load_last: the figures are from here to elapsed_ns */
	bool clean_end;          /* the writer closed the file ('E' record) */
	size_t good_bytes;       /* bytes up to the end of the last good record */
	size_t ignored_bytes;    /* torn or corrupt tail */
	unsigned ncounters, nkstats, nlocks, npaths;
	char counter_name[STATS_MAX_COUNTERS][STATS_NAME_MAX];
	char counter_desc[STATS_MAX_COUNTERS][80];
	char kstat_name[KSTAT_MAX][STATS_NAME_MAX];
	uint64_t counts[STATS_SLOTS][STATS_MAX_COUNTERS];
	uint64_t kinv[STATS_SLOTS][KSTAT_MAX];
	uint64_t ksamples[STATS_SLOTS][KSTAT_MAX];
	int path_parent[KSTAT_MAX_PATHS];
	unsigned path_kstat[KSTAT_MAX_PATHS];
	uint64_t path_samples[STATS_SLOTS][KSTAT_MAX_PATHS];
	struct ustats_lock locks[MXUSER_MAX_STATS];
};

/*
 * Parses buf; a torn or corrupt tail ends the parse without error (counted in
 * ignored_bytes).  Returns -EINVAL (with a message) when the file is not a
 * ustats file or a well-formed record contradicts the format.
 */
int ustats_parse(const uint8_t *buf, size_t len, struct ustats_data *d, struct verr *e);
/*
 * The same, calling each after every sample record with the sums up to and
 * including it (a time series is the difference of successive calls).
 */
typedef void (*ustats_each_fn)(const struct ustats_data *d, void *arg);
int ustats_parse_each(const uint8_t *buf, size_t len, struct ustats_data *d, ustats_each_fn each,
		      void *arg, struct verr *e);
/* The newest ustats-*.bin of dir or of dir/stats, into out; -ENOENT when none. */
int ustats_find(const char *dir, char *out, size_t outlen);
/* Loads a file, or the newest ustats-*.bin of a directory (or of its stats/). */
/*
 * Is the file still open for writing in process pid (a running VM)?  Then a
 * missing end record only means the run has not ended; after a crash or a
 * kill nobody holds it.
 */
bool ustats_writer_alive(unsigned pid, const char *file);
/*
 * The end of a report's header line: "clean end", "still being written by
 * running process PID" or "no end record: the process did not stop cleanly".
 */
const char *ustats_end_state(const struct ustats_data *d, const char *file, char *buf, size_t len);
/*
 * The same for the last last_ns of the run only (0: all of it): counters,
 * kstats and lock counts and totals of the records in that window (whole
 * intervals: from the last record at or before its start); lock maxima are
 * the run's.
 */
/* "90", "90s", "500ms", "5m", "1h" into nanoseconds; -EINVAL otherwise. */
int ustats_parse_duration(const char *s, uint64_t *ns);
int ustats_load_last(const char *path, uint64_t last_ns, struct ustats_data **out, char *chosen,
		     size_t chosen_len, struct verr *e);
int ustats_load(const char *path, struct ustats_data **out, char *chosen, size_t chosen_len,
		struct verr *e);

/* LEB128 helpers shared by writer, reader and tests. */
size_t ustats_put_varint(uint8_t *p, uint64_t v);
/* Returns bytes consumed, 0 when truncated or longer than 10 bytes. */
size_t ustats_get_varint(const uint8_t *p, size_t len, uint64_t *v);

/* ---- writer and stats thread (stats builds) ---- */
struct cfg;
struct ustats_writer;

#if VMX_STATS
/* Creates <vmdir>/stats/ and a new ustats file in it; writes header and descriptors. */
int ustats_open(struct ustats_writer **out, const char *vmdir, uint64_t interval_us,
		struct verr *e);
/* Appends one interval: new descriptors and the deltas since the last call. */
int ustats_write_sample(struct ustats_writer *w);
/* Writes a last sample and the end record, closes, frees. */
void ustats_close(struct ustats_writer *w);
const char *ustats_path(const struct ustats_writer *w);
/* Bytes written so far. */
uint64_t ustats_bytes(const struct ustats_writer *w);

/*
 * Applies the knobs (stats.enable, vmx.MXUser.statsEnabled, ustats.interval);
 * call before locks are created and vCPUs start.
 */
int stats_configure(const struct cfg *c, struct verr *e);
/*
 * Starts the stats thread: kstat sampling at KSTAT_HZ and a ustats record
 * every ustats.interval into <vmdir>/stats (no file when vmdir is NULL).
 */
int stats_start(const char *vmdir, struct verr *e);
/* Stops the thread; the last partial interval is written. */
void stats_stop(void);
/*
 * Test-only (opt/obj builds): monitor.debugTestContendedLock makes two
 * threads contend for one MXUser lock while stats run (lock_selftest.c).
 */
int lock_selftest_configure(const struct cfg *c, struct verr *e);
void lock_selftest_start(void);
void lock_selftest_stop(void);
#else
static inline int stats_configure(const struct cfg *c, struct verr *e)
{
	(void)c; (void)e;
	return 0;
}
static inline int stats_start(const char *vmdir, struct verr *e)
{
	(void)vmdir; (void)e;
	return 0;
}
static inline void stats_stop(void) {}
#endif

#endif
