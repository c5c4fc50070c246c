/*
 * ustats_read.c - reads ustats files (ustats.h) for the report tools, the
 * tests and the fuzz target.  No build-type dependency: the host tools
 * compile this file on its own.
 *
 * The input is untrusted (a file from a crashed or foreign process): every
 * length, id and count is checked before use, and anything after the last
 * record whose length and CRC check out is ignored rather than trusted.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "../lib/fileutil.h"
#include "ustats.h"

size_t ustats_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		p[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

size_t ustats_get_varint(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < len && i < 10; i++) {
		uint64_t b = p[i] & 0x7f;
		if (i == 9 && b > 1)
			return 0; /* more than 64 bits */
		r |= b << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

/* A cursor over one record's payload; any overrun sets bad and yields zeros. */
struct cur {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint64_t get_u(struct cur *c)
{
	uint64_t v = 0;
	size_t n;
	if (c->bad)
		return 0;
	n = ustats_get_varint(c->p + c->off, c->len - c->off, &v);
	if (!n) {
		c->bad = true;
		return 0;
	}
	c->off += n;
	return v;
}

static void get_str(struct cur *c, char *out, size_t outlen)
{
	uint64_t n = get_u(c);
	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		out[0] = 0;
		return;
	}
	snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1),
		 (const char *)(c->p + c->off));
	/* Names are printed by the tools: keep them to printable ASCII. */
	for (char *s = out; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
	c->off += n;
}

static int parse_desc(struct cur *c, struct ustats_data *d)
{
	uint64_t kind = get_u(c), id = get_u(c), a, b;
	char desc[256];

	switch (kind) {
	case USTATS_DESC_COUNTER:
		if (id >= STATS_MAX_COUNTERS)
			return -EINVAL;
		get_str(c, d->counter_name[id], STATS_NAME_MAX);
		get_str(c, d->counter_desc[id], sizeof(d->counter_desc[id]));
		if (id >= d->ncounters)
			d->ncounters = (unsigned)id + 1;
		break;
	case USTATS_DESC_KSTAT:
		if (id >= KSTAT_MAX)
			return -EINVAL;
		get_str(c, d->kstat_name[id], STATS_NAME_MAX);
		get_str(c, desc, sizeof(desc));
		if (id >= d->nkstats)
			d->nkstats = (unsigned)id + 1;
		break;
	case USTATS_DESC_PATH:
		a = get_u(c);
		b = get_u(c);
		/* A parent always comes before its children. */
		if (id >= KSTAT_MAX_PATHS || a > id || b >= KSTAT_MAX)
			return -EINVAL;
		d->path_parent[id] = (int)a - 1;
		d->path_kstat[id] = (unsigned)b;
		if (id >= d->npaths)
			d->npaths = (unsigned)id + 1;
		break;
	case USTATS_DESC_LOCK:
		if (id >= MXUSER_MAX_STATS)
			return -EINVAL;
		get_str(c, d->locks[id].name, sizeof(d->locks[id].name));
		d->locks[id].rank = (unsigned)get_u(c);
		d->locks[id].kind = (unsigned)get_u(c);
		/* Files written before holds were sampled end here: every hold measured. */
		d->locks[id].hold_every = c->off < c->len ? (unsigned)get_u(c) : 1;
		if (!d->locks[id].hold_every)
			d->locks[id].hold_every = 1;
		d->locks[id].described = true;
		if (id >= d->nlocks)
			d->nlocks = (unsigned)id + 1;
		break;
	default:
		break; /* a newer descriptor kind: skip the record */
	}
	return c->bad ? -EINVAL : 0;
}

/* Adds a (key gap, delta) section into table[nslots][stride]. */
static int parse_section(struct cur *c, uint64_t *table, size_t stride)
{
	uint64_t n = get_u(c), key = (uint64_t)-1;

	if (n > c->len)
		return -EINVAL;
	for (uint64_t i = 0; i < n && !c->bad; i++) {
		uint64_t gap = get_u(c), delta = get_u(c);
		if (gap >= STATS_SLOTS * stride)
			return -EINVAL;
		key += gap + 1;
		if (key >= STATS_SLOTS * stride)
			return -EINVAL;
		table[key] += delta;
	}
	return c->bad ? -EINVAL : 0;
}

static int parse_hist(struct cur *c, uint64_t *hist)
{
	uint64_t n = get_u(c), b = (uint64_t)-1;
	if (n > MXUSER_HIST_BUCKETS)
		return -EINVAL;
	for (uint64_t i = 0; i < n && !c->bad; i++) {
		uint64_t gap = get_u(c);
		if (gap >= MXUSER_HIST_BUCKETS)
			return -EINVAL;
		b += gap + 1;
		if (b >= MXUSER_HIST_BUCKETS)
			return -EINVAL;
		hist[b] += get_u(c);
	}
	return c->bad ? -EINVAL : 0;
}

static int parse_locks(struct cur *c, struct ustats_data *d)
{
	uint64_t n = get_u(c), id = (uint64_t)-1;

	if (n > MXUSER_MAX_STATS)
		return -EINVAL;
	for (uint64_t i = 0; i < n && !c->bad; i++) {
		uint64_t gap = get_u(c), mask = get_u(c);
		struct ustats_lock *l;
		if (gap >= MXUSER_MAX_STATS)
			return -EINVAL;
		id += gap + 1;
		if (id >= MXUSER_MAX_STATS || (mask >> ULF_COUNT))
			return -EINVAL;
		l = &d->locks[id];
		if (id >= d->nlocks)
			d->nlocks = (unsigned)id + 1;
		if (mask & (1u << ULF_ACQ))
			l->acquisitions += get_u(c);
		if (mask & (1u << ULF_CONTENDED))
			l->contended += get_u(c);
		if (mask & (1u << ULF_OWNER_CHANGES))
			l->owner_changes += get_u(c);
		if (mask & (1u << ULF_WAIT_TOTAL))
			l->wait_total_ns += get_u(c);
		if (mask & (1u << ULF_WAIT_MAX))
			l->wait_max_ns = get_u(c);
		if (mask & (1u << ULF_HOLD_TOTAL))
			l->hold_total_ns += get_u(c);
		if (mask & (1u << ULF_HOLD_MAX))
			l->hold_max_ns = get_u(c);
		if ((mask & (1u << ULF_WAIT_HIST)) && parse_hist(c, l->wait_hist) < 0)
			return -EINVAL;
		if ((mask & (1u << ULF_HOLD_HIST)) && parse_hist(c, l->hold_hist) < 0)
			return -EINVAL;
	}
	return c->bad ? -EINVAL : 0;
}

static int parse_sample(struct cur *c, struct ustats_data *d)
{
	uint64_t t = get_u(c);

	if (parse_section(c, &d->counts[0][0], STATS_MAX_COUNTERS) < 0 ||
	    parse_section(c, &d->kinv[0][0], KSTAT_MAX) < 0 ||
	    parse_section(c, &d->ksamples[0][0], KSTAT_MAX) < 0 ||
	    parse_section(c, &d->path_samples[0][0], KSTAT_MAX_PATHS) < 0 ||
	    parse_locks(c, d) < 0)
		return -EINVAL;
	if (t > d->elapsed_ns)
		d->elapsed_ns = t;
	d->nsamples++;
	return 0;
}

/*
 * Parses records up to the first sample taken after until_ns, calling each
 * (when set) after every sample record with the sums so far.
 */
static int parse_until(const uint8_t *buf, size_t len, struct ustats_data *d, uint64_t until_ns,
		       ustats_each_fn each, void *arg, struct verr *e);

int ustats_parse(const uint8_t *buf, size_t len, struct ustats_data *d, struct verr *e)
{
	return parse_until(buf, len, d, UINT64_MAX, NULL, NULL, e);
}

int ustats_parse_each(const uint8_t *buf, size_t len, struct ustats_data *d, ustats_each_fn each,
		      void *arg, struct verr *e)
{
	return parse_until(buf, len, d, UINT64_MAX, each, arg, e);
}

static int parse_until(const uint8_t *buf, size_t len, struct ustats_data *d, uint64_t until_ns,
		       ustats_each_fn each, void *arg, struct verr *e)
{
	size_t off = 8;
	bool header = false;

	memset(d, 0, sizeof(*d));
	for (unsigned i = 0; i < KSTAT_MAX_PATHS; i++)
		d->path_parent[i] = -1;
	if (len < 8 || memcmp(buf, USTATS_MAGIC, 8) != 0)
		return verr_set(e, -EINVAL, "not a ustats file (bad magic)");
	d->good_bytes = 8;
	while (off < len) {
		uint64_t plen;
		size_t n = ustats_get_varint(buf + off + 1, len - off - 1, &plen);
		uint8_t type = buf[off];
		struct cur c;
		uLong crc;
		uint32_t want;
		int rc = 0;

		if (!n || plen > len - off - 1 - n || len - off - 1 - n - plen < 4)
			break; /* torn tail */
		crc = crc32(0L, buf + off, (uInt)(1 + n + plen));
		want = (uint32_t)buf[off + 1 + n + plen] | (uint32_t)buf[off + 2 + n + plen] << 8 |
		       (uint32_t)buf[off + 3 + n + plen] << 16 |
		       (uint32_t)buf[off + 4 + n + plen] << 24;
		if ((uint32_t)crc != want)
			break; /* corrupt: nothing after it can be trusted */
		c = (struct cur){ buf + off + 1 + n, (size_t)plen, 0, false };
		if (type != USTATS_REC_HEADER && !header)
			return verr_set(e, -EINVAL, "ustats record before the header");
		switch (type) {
		case USTATS_REC_HEADER:
			d->version = (unsigned)get_u(&c);
			d->start_unix_ns = get_u(&c);
			d->hz = (unsigned)get_u(&c);
			d->nslots = (unsigned)get_u(&c);
			d->pid = (unsigned)get_u(&c);
			d->interval_us = get_u(&c);
			get_str(&c, d->buildtype, sizeof(d->buildtype));
			get_str(&c, d->vmdir, sizeof(d->vmdir));
			if (c.bad || d->version != USTATS_VERSION || d->nslots > STATS_SLOTS)
				return verr_set(e, -EINVAL, "unsupported ustats header (version %u)",
						d->version);
			header = true;
			break;
		case USTATS_REC_DESC:
			rc = parse_desc(&c, d);
			break;
		case USTATS_REC_SAMPLE: {
			/* The sample's time comes first: peek at it. */
			struct cur t = c;
			if (get_u(&t) > until_ns)
				return 0;
			rc = parse_sample(&c, d);
			if (rc == 0 && each)
				each(d, arg);
			break;
		}
		case USTATS_REC_END: {
			uint64_t t = get_u(&c);
			if (!c.bad && t > d->elapsed_ns)
				d->elapsed_ns = t;
			d->clean_end = true;
			break;
		}
		default:
			break;
		}
		if (rc < 0)
			return verr_set(e, rc, "bad ustats record at offset %zu", off);
		off += 1 + n + plen + 4;
		d->good_bytes = off;
	}
	d->ignored_bytes = len - d->good_bytes;
	if (!header)
		return verr_set(e, -EINVAL, "ustats file has no header");
	return 0;
}

/* Newest (by name: names sort by time) ustats-*.bin in dir, into out. */
static int newest_in(const char *dir, char *out, size_t outlen)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char best[256] = "";

	if (!dh)
		return -errno;
	while ((de = readdir(dh))) {
		size_t n = strlen(de->d_name);
		if (strncmp(de->d_name, "ustats-", 7) == 0 && n > 4 &&
		    strcmp(de->d_name + n - 4, ".bin") == 0 && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(dh);
	if (!best[0])
		return -ENOENT;
	snprintf(out, outlen, "%s/%s", dir, best);
	return 0;
}

int ustats_find(const char *dir, char *out, size_t outlen)
{
	char sub[4200];

	snprintf(sub, sizeof(sub), "%s/stats", dir);
	if (newest_in(dir, out, outlen) == 0 || newest_in(sub, out, outlen) == 0)
		return 0;
	return -ENOENT;
}

static void sub(uint64_t *a, const uint64_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = a[i] >= b[i] ? a[i] - b[i] : 0;
}

/*
 * The last last_ns of the file: its totals minus those of the records up to
 * the window's start (sums are of deltas, so the difference is the window's).
 * Lock maxima stay the run's.
 */
static int window(const uint8_t *buf, size_t len, struct ustats_data *d, uint64_t last_ns,
		  struct verr *e)
{
	struct ustats_data *b;
	int rc;
	if (!last_ns || last_ns >= d->elapsed_ns)
		return 0;
	if (!(b = malloc(sizeof(*b))))
		return verr_set(e, -ENOMEM, "out of memory");
	d->window_from_ns = d->elapsed_ns - last_ns;
	rc = parse_until(buf, len, b, d->window_from_ns, NULL, NULL, e);
	if (rc == 0) {
		sub(&d->counts[0][0], &b->counts[0][0], sizeof(d->counts) / 8);
		sub(&d->kinv[0][0], &b->kinv[0][0], sizeof(d->kinv) / 8);
		sub(&d->ksamples[0][0], &b->ksamples[0][0], sizeof(d->ksamples) / 8);
		sub(&d->path_samples[0][0], &b->path_samples[0][0], sizeof(d->path_samples) / 8);
		for (unsigned i = 0; i < MXUSER_MAX_STATS; i++) {
			struct ustats_lock *l = &d->locks[i];
			const struct ustats_lock *o = &b->locks[i];
			sub(&l->acquisitions, &o->acquisitions, 1);
			sub(&l->contended, &o->contended, 1);
			sub(&l->owner_changes, &o->owner_changes, 1);
			sub(&l->wait_total_ns, &o->wait_total_ns, 1);
			sub(&l->hold_total_ns, &o->hold_total_ns, 1);
			sub(l->wait_hist, o->wait_hist, MXUSER_HIST_BUCKETS);
			sub(l->hold_hist, o->hold_hist, MXUSER_HIST_BUCKETS);
		}
		/* The window starts at the last record at or before its start. */
		d->window_from_ns = b->nsamples ? b->elapsed_ns : 0;
		d->nsamples -= b->nsamples;
	}
	free(b);
	return rc;
}

int ustats_load(const char *path, struct ustats_data **out, char *chosen, size_t chosen_len,
		struct verr *e)
{
	return ustats_load_last(path, 0, out, chosen, chosen_len, e);
}

int ustats_load_last(const char *path, uint64_t last_ns, struct ustats_data **out, char *chosen,
		     size_t chosen_len, struct verr *e)
{
	char file[4400];
	struct stat st;
	char *buf = NULL;
	size_t len;
	struct ustats_data *d;
	int rc;

	if (stat(path, &st) < 0)
		return verr_set(e, -errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (ustats_find(path, file, sizeof(file)) < 0)
			return verr_set(e, -ENOENT, "%s: no ustats-*.bin file here or in stats/",
					path);
	} else {
		snprintf(file, sizeof(file), "%s", path);
	}
	if (chosen)
		snprintf(chosen, chosen_len, "%s", file);
	rc = file_read_all(file, (size_t)1 << 30, &buf, &len, e);
	if (rc < 0)
		return rc;
	d = malloc(sizeof(*d));
	if (!d) {
		free(buf);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	rc = ustats_parse((const uint8_t *)buf, len, d, e);
	if (rc == 0)
		rc = window((const uint8_t *)buf, len, d, last_ns, e);
	free(buf);
	if (rc < 0) {
		verr_prefix(e, rc, "%s", file);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

bool ustats_writer_alive(unsigned pid, const char *file)
{
	char dir[64], fd_path[400], target[4096], want[4096];
	struct dirent *de;
	DIR *d;
	bool found = false;

	if (!pid || !realpath(file, want))
		return false;
	snprintf(dir, sizeof(dir), "/proc/%u/fd", pid);
	if (!(d = opendir(dir)))
		return false;
	while (!found && (de = readdir(d))) {
		ssize_t l;
		snprintf(fd_path, sizeof(fd_path), "%s/%s", dir, de->d_name);
		l = readlink(fd_path, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		found = !strcmp(target, want);
	}
	closedir(d);
	return found;
}

const char *ustats_end_state(const struct ustats_data *d, const char *file, char *buf, size_t len)
{
	if (d->clean_end)
		snprintf(buf, len, "clean end");
	else if (ustats_writer_alive(d->pid, file))
		snprintf(buf, len, "still being written by running process %u (totals up to its "
			 "last interval)", d->pid);
	else
		snprintf(buf, len, "no end record: the process did not stop cleanly");
	return buf;
}

int ustats_parse_duration(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end);
	double mul = 1e9;
	if (end == s || v <= 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1e6;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		mul = 60e9;
	else if (!strcmp(end, "h"))
		mul = 3600e9;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	*ns = (uint64_t)(v * mul);
	return 0;
}
