/*
 * vmdata.c - what a VM's directory holds, served as JSON for the web
 * interface and other API clients (docs/API.md): the tail of vmx.log, the
 * newest callstack profile as labelled stacks (vmx-callstack's own model,
 * src/cstools/csp.c: the browser only draws them), and the newest ustats file
 * as a time series of rates.
 *
 * Files are read on a copy of the VM's directory taken under hostd_lock, so a
 * slow disk never holds the lock; every size read is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../cstools/csp.h"
#include "../lib/fileutil.h"
#include "../stats/ustats.h"
#include "hostd.h"

/* Bytes of vmx.log read from its end: more than VMDATA_MAX_LINES lines of any sane log. */
#define VMDATA_LOG_TAIL (256u << 10)
/* A profile is capped by vmx.callstackMaxFootprintMB (32 MiB by default). */
#define VMDATA_MAX_STACKS 50000u
#define VMDATA_MAX_POINTS 600u
#define VMDATA_MAX_SERIES 48u
#define VMDATA_USTATS_MAX ((size_t)256 << 20)

static int vm_dir(int id, char *dir, size_t len, char *name, size_t nlen)
{
	struct hvm *v;

	hostd_lock();
	v = hvm_find(id);
	if (v) {
		snprintf(dir, len, "%s", v->dir);
		snprintf(name, nlen, "%s", v->name);
	}
	hostd_unlock();
	return v ? 0 : -ENOENT;
}

int vmdata_log(int id, long lines, json_t **out, int *http_status, struct verr *e)
{
	char dir[PATH_MAX], name[128], path[PATH_MAX + 16];
	struct stat st;
	char *buf;
	ssize_t n;
	off_t from;
	int fd;

	*http_status = 404;
	if (vm_dir(id, dir, sizeof(dir), name, sizeof(name)) < 0)
		return verr_set(e, -ENOENT, "vm: no VM with id '%d'", id);
	snprintf(path, sizeof(path), "%s/vmx.log", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT) {
			*http_status = 500;
			return verr_set(e, -errno, "vm: '%s': vmx.log: %s", name, strerror(errno));
		}
		/* A VM never powered on has no log: an empty one, not an error. */
		*out = json_pack("{s:s, s:[], s:b}", "file", "vmx.log", "lines", "truncated", 0);
		*http_status = 200;
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*http_status = 500;
		return verr_set(e, -EINVAL, "vm: '%s': vmx.log is not a regular file", name);
	}
	from = st.st_size > (off_t)VMDATA_LOG_TAIL ? st.st_size - (off_t)VMDATA_LOG_TAIL : 0;
	buf = malloc(VMDATA_LOG_TAIL + 1);
	if (!buf) {
		close(fd);
		*http_status = 500;
		return verr_set(e, -ENOMEM, "out of memory");
	}
	n = pread(fd, buf, VMDATA_LOG_TAIL, from);
	close(fd);
	if (n < 0) {
		free(buf);
		*http_status = 500;
		return verr_set(e, -EIO, "vm: '%s': vmx.log: read failed", name);
	}
	buf[n] = 0;
	/* Lines from the end; a partial first line (mid-file start) is dropped. */
	json_t *arr = json_array();
	char *end = buf + n;
	long got = 0;
	bool truncated = from > 0;
	if (end > buf && end[-1] == '\n')
		*--end = 0;
	while (end > buf && got < lines) {
		char *start = end;
		while (start > buf && start[-1] != '\n')
			start--;
		if (start == buf && from > 0)
			break; /* the cut first line */
		*end = 0;
		/* Log text need not be UTF-8: anything JSON refuses becomes '?'. */
		json_t *s = json_string(start);
		if (!s) {
			for (unsigned char *p = (unsigned char *)start; *p; p++)
				if (*p >= 0x80)
					*p = '?';
			s = json_string(start);
		}
		json_array_insert_new(arr, 0, s ? s : json_string(""));
		got++;
		end = start > buf ? start - 1 : buf;
	}
	if (end > buf)
		truncated = true;
	free(buf);
	*out = json_pack("{s:s, s:o, s:b}", "file", "vmx.log", "lines", arr, "truncated", truncated);
	*http_status = 200;
	return 0;
}

int vmdata_profile(int id, int vcpu, bool monitor_tail, json_t **out, int *http_status,
		   struct verr *e)
{
	char dir[PATH_MAX], name[128], file[PATH_MAX + 64];
	struct csp_profile *p = NULL;
	struct csp_filter f = { .vcpu = vcpu, .kstat = -1, .priv = -1, .to_s = -1,
				.monitor_tail = monitor_tail };
	struct csp_view v;
	struct verr ce = { "" };
	int rc;

	*http_status = 404;
	if (vm_dir(id, dir, sizeof(dir), name, sizeof(name)) < 0)
		return verr_set(e, -ENOENT, "vm: no VM with id '%d'", id);
	/* None yet is an empty profile that says why, not an error (as vmx.log before power-on). */
	if (csp_find(dir, file, sizeof(file), &ce) < 0) {
		*out = json_pack("{s:n, s:I, s:[], s:[], s:[], s:s}", "file", "samples", (json_int_t)0,
				 "vcpus", "labels", "stacks", "pending",
				 "no callstack profile yet: the stats build writes stats/callstack-*.txt "
				 "10 s after it starts and every 10 s");
		*http_status = 200;
		return 0;
	}
	rc = csp_load(file, &p, &ce);
	if (rc < 0) {
		*http_status = 500;
		return verr_set(e, rc, "vm: '%s': %s", name, ce.msg);
	}
	rc = csp_view_build(p, &f, &v);
	if (rc < 0) {
		csp_free(p);
		csp_view_free(&v);
		*http_status = 500;
		return verr_set(e, rc, "out of memory");
	}
	json_t *labels = json_array(), *stacks = json_array(), *vcpus = json_array();
	bool seen[256] = { false };
	for (unsigned i = 0; i < v.nlabels; i++) {
		/* Symbol names come from guest memory: anything not UTF-8 is shown as "?". */
		json_t *js = json_string(v.label[i]);
		json_array_append_new(labels, js ? js : json_string("?"));
	}
	for (unsigned i = 0; i < v.n && i < VMDATA_MAX_STACKS; i++) {
		json_t *fr = json_array();
		for (unsigned j = 0; j < v.st[i].len; j++)
			json_array_append_new(fr, json_integer(v.st[i].lab[j]));
		json_array_append_new(stacks, json_pack("[I, i, o]", (json_int_t)v.st[i].count,
							(int)v.st[i].vcpu, fr));
	}
	/* The vCPUs of the whole profile, so a filtered view can offer the others. */
	for (unsigned i = 0; i < p->nstacks; i++)
		if (p->stacks[i].vcpu < 255)
			seen[p->stacks[i].vcpu] = true;
	for (unsigned i = 0; i < 255; i++)
		if (seen[i])
			json_array_append_new(vcpus, json_integer(i));
	const char *base = strrchr(file, '/');
	*out = json_pack("{s:s, s:s, s:i, s:I, s:f, s:I, s:I, s:b, s:o, s:o, s:o, s:b}", "file",
			 base ? base + 1 : file, "buildType", p->buildtype, "hz", (int)p->hz,
			 "samples", (json_int_t)v.total, "elapsedSeconds",
			 (double)p->elapsed_ns / 1e9, "startUnixMs",
			 (json_int_t)(p->start_unix_ns / 1000000), "drops",
			 (json_int_t)(p->drops + p->ring_drops), "monitorTail", monitor_tail,
			 "vcpus", vcpus, "labels", labels, "stacks", stacks, "truncated",
			 v.n > VMDATA_MAX_STACKS);
	csp_view_free(&v);
	csp_free(p);
	*http_status = 200;
	return 0;
}

/* --- ustats as a time series ---------------------------------------------------- */

struct series {
	/* Sums over the vCPU slots at the previous sample: a few KiB, not the whole ustats_data. */
	uint64_t prev_c[STATS_MAX_COUNTERS], prev_k[KSTAT_MAX], prev_t;
	unsigned npoints;
	double t[VMDATA_MAX_POINTS];
	/* Per sample: counters summed over slots, kstat samples summed over slots. */
	uint64_t *cdelta; /* [VMDATA_MAX_POINTS][STATS_MAX_COUNTERS] */
	uint64_t *kdelta; /* [VMDATA_MAX_POINTS][KSTAT_MAX] */
	double dt[VMDATA_MAX_POINTS];
	uint64_t from_ns;
};

static void series_each(const struct ustats_data *d, void *arg)
{
	struct series *s = arg;
	uint64_t c[STATS_MAX_COUNTERS] = { 0 }, k[KSTAT_MAX] = { 0 };

	for (unsigned i = 0; i < STATS_SLOTS; i++) {
		for (unsigned j = 0; j < d->ncounters && j < STATS_MAX_COUNTERS; j++)
			c[j] += d->counts[i][j];
		for (unsigned j = 0; j < d->nkstats && j < KSTAT_MAX; j++)
			k[j] += d->ksamples[i][j];
	}
	if (d->elapsed_ns >= s->from_ns && d->elapsed_ns > s->prev_t) {
		/* Keep the newest VMDATA_MAX_POINTS: shift when full. */
		if (s->npoints == VMDATA_MAX_POINTS) {
			memmove(s->t, s->t + 1, sizeof(s->t[0]) * (VMDATA_MAX_POINTS - 1));
			memmove(s->dt, s->dt + 1, sizeof(s->dt[0]) * (VMDATA_MAX_POINTS - 1));
			memmove(s->cdelta, s->cdelta + STATS_MAX_COUNTERS,
				sizeof(uint64_t) * STATS_MAX_COUNTERS * (VMDATA_MAX_POINTS - 1));
			memmove(s->kdelta, s->kdelta + KSTAT_MAX,
				sizeof(uint64_t) * KSTAT_MAX * (VMDATA_MAX_POINTS - 1));
			s->npoints--;
		}
		unsigned p = s->npoints++;
		s->t[p] = (double)d->elapsed_ns / 1e9;
		s->dt[p] = (double)(d->elapsed_ns - s->prev_t) / 1e9;
		for (unsigned j = 0; j < STATS_MAX_COUNTERS; j++)
			s->cdelta[(size_t)p * STATS_MAX_COUNTERS + j] =
				c[j] > s->prev_c[j] ? c[j] - s->prev_c[j] : 0;
		for (unsigned j = 0; j < KSTAT_MAX; j++)
			s->kdelta[(size_t)p * KSTAT_MAX + j] = k[j] > s->prev_k[j] ? k[j] - s->prev_k[j] : 0;
	}
	memcpy(s->prev_c, c, sizeof(c));
	memcpy(s->prev_k, k, sizeof(k));
	s->prev_t = d->elapsed_ns;
}

struct ranked {
	unsigned idx;
	uint64_t total;
};

static int by_total_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	return x->total < y->total ? 1 : x->total > y->total ? -1 : (int)x->idx - (int)y->idx;
}

int vmdata_series(int id, uint64_t last_ns, json_t **out, int *http_status, struct verr *e)
{
	char dir[PATH_MAX], name[128], file[PATH_MAX + 64];
	struct ustats_data *d = NULL;
	struct series *s = NULL;
	struct verr re = { "" };
	char *buf = NULL;
	size_t len;
	int rc;

	*http_status = 404;
	if (vm_dir(id, dir, sizeof(dir), name, sizeof(name)) < 0)
		return verr_set(e, -ENOENT, "vm: no VM with id '%d'", id);
	if (ustats_find(dir, file, sizeof(file)) < 0) {
		*out = json_pack("{s:n, s:[], s:[], s:[], s:s}", "file", "t", "counters", "kstats",
				 "pending", "no ustats file yet: only the stats build writes "
				 "stats/ustats-*.bin");
		*http_status = 200;
		return 0;
	}
	*http_status = 500;
	rc = file_read_all(file, VMDATA_USTATS_MAX, &buf, &len, &re);
	if (rc < 0)
		return verr_set(e, rc, "vm: '%s': %s", name, re.msg);
	d = malloc(sizeof(*d));
	s = calloc(1, sizeof(*s));
	if (s) {
		s->cdelta = calloc((size_t)VMDATA_MAX_POINTS * STATS_MAX_COUNTERS, sizeof(uint64_t));
		s->kdelta = calloc((size_t)VMDATA_MAX_POINTS * KSTAT_MAX, sizeof(uint64_t));
	}
	if (!d || !s || !s->cdelta || !s->kdelta) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto done;
	}
	/* The window's start needs the file's end: a first pass finds it. */
	rc = ustats_parse((const uint8_t *)buf, len, d, &re);
	if (rc == 0) {
		s->from_ns = last_ns && last_ns < d->elapsed_ns ? d->elapsed_ns - last_ns : 0;
		rc = ustats_parse_each((const uint8_t *)buf, len, d, series_each, s, &re);
	}
	if (rc < 0) {
		const char *base = strrchr(file, '/');
		rc = verr_set(e, rc, "vm: '%s': %s: %s", name, base ? base + 1 : file, re.msg);
		goto done;
	}
	/* The busiest counters over the window, then every kstat with samples. */
	struct ranked rk[STATS_MAX_COUNTERS];
	unsigned nr = 0;
	for (unsigned c = 0; c < d->ncounters && c < STATS_MAX_COUNTERS; c++) {
		uint64_t tot = 0;
		for (unsigned p = 0; p < s->npoints; p++)
			tot += s->cdelta[(size_t)p * STATS_MAX_COUNTERS + c];
		if (tot && d->counter_name[c][0])
			rk[nr++] = (struct ranked){ c, tot };
	}
	qsort(rk, nr, sizeof(rk[0]), by_total_desc);
	json_t *t = json_array(), *counters = json_array(), *kstats = json_array();
	for (unsigned p = 0; p < s->npoints; p++)
		json_array_append_new(t, json_real(s->t[p]));
	for (unsigned i = 0; i < nr && i < VMDATA_MAX_SERIES; i++) {
		json_t *v = json_array();
		for (unsigned p = 0; p < s->npoints; p++)
			json_array_append_new(v, json_real(
				(double)s->cdelta[(size_t)p * STATS_MAX_COUNTERS + rk[i].idx] / s->dt[p]));
		json_array_append_new(counters, json_pack("{s:s, s:s, s:I, s:o}", "name",
							  d->counter_name[rk[i].idx], "description",
							  d->counter_desc[rk[i].idx], "total",
							  (json_int_t)rk[i].total, "perSecond", v));
	}
	for (unsigned k = 0; k < d->nkstats && k < KSTAT_MAX; k++) {
		uint64_t tot = 0;
		for (unsigned p = 0; p < s->npoints; p++)
			tot += s->kdelta[(size_t)p * KSTAT_MAX + k];
		if (!tot || !d->kstat_name[k][0])
			continue;
		json_t *v = json_array();
		for (unsigned p = 0; p < s->npoints; p++)
			json_array_append_new(v, json_integer((json_int_t)s->kdelta[(size_t)p * KSTAT_MAX + k]));
		json_array_append_new(kstats, json_pack("{s:s, s:I, s:o}", "name", d->kstat_name[k],
							"total", (json_int_t)tot, "samples", v));
	}
	const char *base = strrchr(file, '/');
	*out = json_pack("{s:s, s:s, s:i, s:I, s:f, s:f, s:o, s:o, s:o}", "file",
			 base ? base + 1 : file, "buildType", d->buildtype, "hz", (int)d->hz,
			 "intervalUs", (json_int_t)d->interval_us, "elapsedSeconds",
			 (double)d->elapsed_ns / 1e9, "fromSeconds", (double)s->from_ns / 1e9, "t",
			 t, "counters", counters, "kstats", kstats);
	*http_status = 200;
	rc = 0;
done:
	free(buf);
	free(d);
	if (s) {
		free(s->cdelta);
		free(s->kdelta);
	}
	free(s);
	return rc;
}
