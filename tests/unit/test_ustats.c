/*
 * test_ustats.c - the ustats file: varints, a write/read round trip of
 * counters, kstats, paths and lock statistics, a torn or corrupted tail, and
 * the size of an hour of records for a 2-vCPU VM against the 0.5 MB target.
 */
#define VMX_STATS 1
#define VMX_DEBUG 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/fileutil.h"
#include "lib/mxuser.h"
#include "stats/kstat.h"
#include "stats/stats.h"
#include "stats/ustats.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_ustats.XXXXXX");
	assert_non_null(mkdtemp(dir));
	stats_reset();
	kstat_reset();
	mxuser_stats_reset();
	stats_set_enabled(true);
	stats_set_slot(STATS_SLOT_OTHER);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_varint(void **state)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, 1ull << 35,
					 UINT64_MAX - 1, UINT64_MAX };
	uint8_t buf[16];
	uint64_t v;
	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		size_t n = ustats_put_varint(buf, vals[i]);
		assert_true(n >= 1 && n <= 10);
		assert_int_equal(ustats_get_varint(buf, n, &v), n);
		assert_true(v == vals[i]);
		if (n > 1)
			assert_int_equal(ustats_get_varint(buf, n - 1, &v), 0);
	}
	assert_int_equal(ustats_put_varint(buf, 127), 1);
	assert_int_equal(ustats_put_varint(buf, 128), 2);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(ustats_get_varint(buf, sizeof(buf), &v), 0); /* over 64 bits */
}

static char *only_file(void)
{
	static char path[600];
	char sd[300];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(sd, sizeof(sd), "%s/stats", dir);
	d = opendir(sd);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "ustats-", 7) == 0) {
			snprintf(path, sizeof(path), "%s/%s", sd, de->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
	return path;
}

static struct ustats_data *load(const char *path)
{
	struct ustats_data *d = NULL;
	struct verr e = { "" };
	if (ustats_load(path, &d, NULL, 0, &e) < 0)
		fail_msg("%s", e.msg);
	return d;
}

static unsigned counter_id(const struct ustats_data *d, const char *name)
{
	for (unsigned i = 0; i < d->ncounters; i++)
		if (strcmp(d->counter_name[i], name) == 0)
			return i;
	fail_msg("counter %s not described", name);
	return 0;
}

/* What ustats_parse_each saw: VIRTIO_REQ's running sum in slot 1 at each sample. */
struct each_seen {
	unsigned calls;
	uint64_t virtio[8];
	uint64_t t[8];
};

static void each_sample(const struct ustats_data *d, void *arg)
{
	struct each_seen *s = arg;
	for (unsigned i = 0; i < d->ncounters; i++)
		if (!strcmp(d->counter_name[i], "VIRTIO_REQ") && s->calls < 8)
			s->virtio[s->calls] = d->counts[1][i];
	if (s->calls < 8)
		s->t[s->calls] = d->elapsed_ns;
	s->calls++;
}

static void test_round_trip(void **state)
{
	struct ustats_writer *w;
	struct ustats_data *d;
	struct verr e = { "" };
	struct mxuser_lock l;
	int dyn;
	(void)state;

	assert_int_equal(ustats_open(&w, dir, 1000000, &e), 0);
	kstat_attach(1);
	KSTAT_START(GUEST);
	for (int i = 0; i < 300; i++)
		STAT_INC(VIRTIO_REQ);
	KSTAT_PUSH(IO_SUBMIT);
	kstat_sample_once();
	KSTAT_POP();
	assert_int_equal(ustats_write_sample(w), 0);
	/* Things that appear after the first record are described later. */
	dyn = stats_register("MMIO.test.REG", "late counter");
	STAT_INC_DYN(dyn);
	STAT_INC_DYN(dyn);
	for (int i = 0; i < 200; i++)
		STAT_INC(VIRTIO_REQ);
	stats_set_slot(0);
	STAT_INC_IDX(TRAP_EXC, 9);
	stats_set_slot(1);
	mxuser_lock_init(&l, "test.ustats", MXUSER_RANK_DEVICE);
	for (int i = 0; i < 10; i++) {
		mxuser_lock(&l);
		mxuser_unlock(&l);
	}
	assert_int_equal(ustats_write_sample(w), 0);
	assert_int_equal(ustats_write_sample(w), 0); /* nothing new: an almost empty record */
	ustats_close(w);
	kstat_detach();
	stats_set_slot(STATS_SLOT_OTHER);

	d = load(dir); /* a VM directory: the newest file in its stats/ */
	assert_true(d->clean_end);
	assert_int_equal(d->ignored_bytes, 0);
	assert_int_equal(d->nsamples, 4); /* three plus the one written by close */
	assert_string_equal(d->buildtype, "obj"); /* the library this test links */
	assert_int_equal(d->pid, (unsigned)getpid());
	assert_int_equal(d->hz, KSTAT_HZ);
	assert_int_equal(d->counts[1][counter_id(d, "VIRTIO_REQ")], 500);
	assert_int_equal(d->counts[1][counter_id(d, "MMIO.test.REG")], 2);
	assert_int_equal(d->counts[0][counter_id(d, "TRAP_EXC.9")], 1);
	assert_string_equal(d->kstat_name[KSTAT_IO_SUBMIT], "IO_SUBMIT");
	assert_int_equal(d->kinv[1][KSTAT_IO_SUBMIT], 1);
	assert_int_equal(d->kinv[1][KSTAT_GUEST], 1);
	assert_int_equal(d->ksamples[1][KSTAT_IO_SUBMIT] + d->ksamples[1][KSTAT_HOST_SCHED], 1);
	assert_true(d->npaths >= 1);
	{
		int idx = mxuser_stats_index(&l.hdr);
		assert_true(idx >= 0);
		assert_string_equal(d->locks[idx].name, "test.ustats");
		assert_int_equal(d->locks[idx].acquisitions, 10);
		assert_int_equal(d->locks[idx].rank, MXUSER_RANK_DEVICE);
		uint64_t s = 0;
		for (unsigned b = 0; b < MXUSER_HIST_BUCKETS; b++)
			s += d->locks[idx].hold_hist[b];
		assert_int_equal(s, 10);
	}
	free(d);

	/* Sample by sample: the sums grow as written (300, then 500, 500, 500). */
	{
		char *buf;
		size_t len;
		struct each_seen seen = { 0 };
		char found[600];
		d = malloc(sizeof(*d));
		assert_non_null(d);
		assert_int_equal(ustats_find(dir, found, sizeof(found)), 0);
		assert_string_equal(found, only_file());
		assert_int_equal(file_read_all(found, 1 << 20, &buf, &len, &e), 0);
		assert_int_equal(ustats_parse_each((const uint8_t *)buf, len, d, each_sample, &seen, &e), 0);
		assert_int_equal(seen.calls, 4);
		assert_int_equal(seen.virtio[0], 300);
		assert_int_equal(seen.virtio[1], 500);
		assert_int_equal(seen.virtio[3], 500);
		assert_true(seen.t[0] <= seen.t[1] && seen.t[1] <= seen.t[2] && seen.t[2] <= seen.t[3]);
		free(buf);
		free(d);
		assert_int_equal(ustats_find("/nonexistent-dir", found, sizeof(found)), -ENOENT);
	}
	mxuser_lock_destroy(&l);
}

static void test_torn_and_corrupt(void **state)
{
	struct ustats_writer *w;
	struct ustats_data *d;
	struct verr e = { "" };
	char *path, *buf;
	size_t len, first;
	(void)state;

	assert_int_equal(ustats_open(&w, dir, 1000000, &e), 0);
	STAT_ADD(UART_TX, 10);
	assert_int_equal(ustats_write_sample(w), 0);
	first = (size_t)ustats_bytes(w);
	STAT_ADD(UART_TX, 5);
	assert_int_equal(ustats_write_sample(w), 0);
	path = only_file();
	assert_int_equal(file_read_all(path, 1 << 20, &buf, &len, &e), 0);
	assert_int_equal(len, ustats_bytes(w));
	d = malloc(sizeof(*d));

	/* Whole file so far (no end record: as after a SIGKILL). */
	assert_int_equal(ustats_parse((uint8_t *)buf, len, d, &e), 0);
	assert_false(d->clean_end);
	assert_int_equal(d->counts[STATS_SLOT_OTHER][STAT_UART_TX], 15);
	/* Every truncation inside the second interval gives the first interval whole. */
	for (size_t cut = first; cut < len; cut++) {
		assert_int_equal(ustats_parse((uint8_t *)buf, cut, d, &e), 0);
		assert_int_equal(d->counts[STATS_SLOT_OTHER][STAT_UART_TX], 10);
		assert_int_equal(d->ignored_bytes, cut - first);
	}
	/* A flipped byte in the last record: that record is dropped. */
	buf[len - 6] ^= 0x40;
	assert_int_equal(ustats_parse((uint8_t *)buf, len, d, &e), 0);
	assert_int_equal(d->counts[STATS_SLOT_OTHER][STAT_UART_TX], 10);
	/* Not a ustats file at all. */
	buf[0] = 'X';
	assert_int_equal(ustats_parse((uint8_t *)buf, len, d, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "magic"));
	free(d);
	free(buf);
	ustats_close(w);
}

/*
 * An hour at the default 10 s interval for a 2-vCPU VM: 360 records, each
 * with 40 busy counters per vCPU, 15 kstats per vCPU with invocations and
 * samples, 30 nested paths and 12 busy locks.
 */
static void test_hour_size(void **state)
{
	struct ustats_writer *w;
	struct verr e = { "" };
	struct mxuser_lock locks[12];
	char name[32];
	uint64_t bytes;
	(void)state;

	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "test.size%d", i);
		mxuser_lock_init(&locks[i], strdup(name), MXUSER_RANK_DEVICE);
	}
	assert_int_equal(ustats_open(&w, dir, 10000000, &e), 0);
	srand(7);
	for (int rec = 0; rec < 360; rec++) {
		for (unsigned s = 0; s < 2; s++) {
			for (unsigned c = 0; c < 40; c++)
				stats_counts[s][c] += 1000 + (uint64_t)(rand() % 5000000);
			for (unsigned k = 0; k < 15; k++) {
				kstat_vcpus[s].invocations[k] += (uint64_t)(rand() % 200000);
				kstat_vcpus[s].samples[k] += (uint64_t)(rand() % 100);
			}
		}
		kstat_attach(0);
		for (int k = 0; k < 6; k++) {
			kstat_start(KSTAT_GUEST);
			kstat_push((unsigned)(KSTAT_TRAP + k));
			kstat_push(KSTAT_PAGE_WALK);
			kstat_sample_once();
		}
		kstat_detach();
		for (int i = 0; i < 12; i++)
			for (int j = 0; j < 1 + rand() % 50; j++) {
				mxuser_lock(&locks[i]);
				mxuser_unlock(&locks[i]);
			}
		assert_int_equal(ustats_write_sample(w), 0);
	}
	bytes = ustats_bytes(w);
	ustats_close(w);
	stats_set_slot(STATS_SLOT_OTHER);
	print_message("one hour, 2 vCPUs: %llu bytes\n", (unsigned long long)bytes);
	assert_true(bytes < 500 * 1000);
	for (int i = 0; i < 12; i++) {
		free((char *)locks[i].hdr.name);
		mxuser_lock_destroy(&locks[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hour_size, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
