/*
 * stats.c - stats counters (stats.h) and their text and Prometheus reports;
 * linked into stats, opt and obj builds only.
 *
 * The registry of run-time counter names uses a raw pthread mutex rather than
 * an MXUser lock: it sits underneath the lock instrumentation itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "../lib/mxuser.h"
#include "kstat.h"
#include "stats.h"

uint64_t stats_counts[STATS_SLOTS][STATS_MAX_COUNTERS] __attribute__((aligned(64)));
_Thread_local unsigned stats_slot STATS_TLS = STATS_SLOT_OTHER;
_Thread_local uint64_t *stats_row STATS_TLS = stats_counts[STATS_SLOT_OTHER];
_Thread_local struct kstat_vcpu *kstat_me STATS_TLS = &kstat_vcpus[STATS_SLOT_OTHER];
bool stats_on = true;

/*
 * Where a thread's counts and kstats go while stats are off: written (the
 * instrumentation does not test stats_on), never read or sampled.
 */
static uint64_t off_row[STATS_MAX_COUNTERS] __attribute__((aligned(64)));
static struct kstat_vcpu off_kstat;

struct stat_static {
	const char *name;
	const char *desc;
	unsigned first, n;
};

static const struct stat_static stat_static[] = {
#define STAT_DEF(n, c, d) { #n, d, STAT_##n, c },
	STATS_COUNTERS(STAT_DEF)
#undef STAT_DEF
};

/*
 * A plain pthread mutex, the one exception to "every lock is an MXUser
 * lock": MXUser's own statistics register their counters, kstats and
 * records through this registry, so an MXUser lock here would recurse.
 * It is a leaf: nothing else is taken while it is held.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned reg_count = STAT_COUNT;
static char reg_names[STATS_MAX_COUNTERS][STATS_NAME_MAX];
static char *reg_descs[STATS_MAX_COUNTERS];

void stats_set_slot(unsigned slot)
{
	stats_slot = slot < STATS_SLOTS ? slot : STATS_SLOT_OTHER;
	stats_row = stats_on ? stats_counts[stats_slot] : off_row;
	kstat_me = stats_on ? &kstat_vcpus[stats_slot] : &off_kstat;
}

void stats_set_enabled(bool on)
{
	stats_on = on;
	stats_set_slot(stats_slot);
}

unsigned stats_ncounters(void) { return atomic_load(&reg_count); }

int stats_register(const char *name, const char *desc)
{
	char buf[STATS_NAME_MAX];
	int id = -ENOSPC;

	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < STAT_COUNT; i++) {
		if (strcmp(stats_name(i, buf, sizeof(buf)), name) == 0) {
			id = (int)i;
			goto out;
		}
	}
	for (unsigned i = STAT_COUNT; i < reg_count; i++) {
		if (strcmp(reg_names[i], name) == 0) {
			id = (int)i;
			goto out;
		}
	}
	if (reg_count < STATS_MAX_COUNTERS) {
		id = (int)reg_count;
		snprintf(reg_names[id], STATS_NAME_MAX, "%s", name);
		reg_descs[id] = strdup(desc ? desc : "");
		atomic_store(&reg_count, reg_count + 1);
	}
out:
	pthread_mutex_unlock(&reg_lock);
	return id;
}

static const struct stat_static *static_of(unsigned id)
{
	for (size_t i = 0; i < VMX_ARRAY_SIZE(stat_static); i++)
		if (id >= stat_static[i].first && id < stat_static[i].first + stat_static[i].n)
			return &stat_static[i];
	return NULL;
}

const char *stats_name(unsigned id, char *buf, size_t len)
{
	const struct stat_static *s = static_of(id);
	if (s && s->n == 1)
		snprintf(buf, len, "%s", s->name);
	else if (s)
		snprintf(buf, len, "%s.%u", s->name, id - s->first);
	else if (id < stats_ncounters())
		snprintf(buf, len, "%s", reg_names[id]);
	else
		snprintf(buf, len, "?%u", id);
	return buf;
}

const char *stats_desc(unsigned id)
{
	const struct stat_static *s = static_of(id);
	if (s)
		return s->desc;
	return id < stats_ncounters() && reg_descs[id] ? reg_descs[id] : "";
}

uint64_t stats_get(unsigned slot, unsigned id)
{
	if (slot >= STATS_SLOTS || id >= STATS_MAX_COUNTERS)
		return 0;
	return __atomic_load_n(&stats_counts[slot][id], __ATOMIC_RELAXED);
}

uint64_t stats_total(unsigned id)
{
	uint64_t t = 0;
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		t += stats_get(s, id);
	return t;
}

void stats_reset(void)
{
	memset(stats_counts, 0, sizeof(stats_counts));
}

struct order {
	unsigned id;
	uint64_t total;
};

static int by_total_desc(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void stats_report(FILE *f)
{
	static struct order order[STATS_MAX_COUNTERS];
	/* Plain mutex for the same reason as reg_lock (a leaf around the static buffer). */
	static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned n = 0, nc = stats_ncounters();
	char name[STATS_NAME_MAX];

	pthread_mutex_lock(&report_lock);
	for (unsigned i = 0; i < nc; i++) {
		uint64_t t = stats_total(i);
		if (t)
			order[n++] = (struct order){ i, t };
	}
	qsort(order, n, sizeof(order[0]), by_total_desc);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%-28s %14llu", stats_name(order[i].id, name, sizeof(name)),
			(unsigned long long)order[i].total);
		for (unsigned s = 0; s < STATS_SLOTS; s++)
			fprintf(f, " %llu", (unsigned long long)stats_get(s, order[i].id));
		fputc('\n', f);
	}
	pthread_mutex_unlock(&report_lock);
}

static const char *slot_label(unsigned s, char *buf, size_t len)
{
	if (s == STATS_SLOT_OTHER)
		snprintf(buf, len, "other");
	else
		snprintf(buf, len, "%u", s);
	return buf;
}

/* Prometheus metric names allow [a-zA-Z0-9_:]; label values are quoted and escaped. */
static void prom_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void stats_prometheus(FILE *f)
{
	char name[STATS_NAME_MAX], sl[16];
	unsigned nc = stats_ncounters(), nk;

	fputs("# HELP vmx_counter_total Stats counters of the vmx stats build, per vCPU.\n"
	      "# TYPE vmx_counter_total counter\n", f);
	for (unsigned i = 0; i < nc; i++) {
		for (unsigned s = 0; s < STATS_SLOTS; s++) {
			uint64_t v = stats_get(s, i);
			if (!v)
				continue;
			fputs("vmx_counter_total{name=\"", f);
			prom_label(f, stats_name(i, name, sizeof(name)));
			fprintf(f, "\",vcpu=\"%s\"} %llu\n", slot_label(s, sl, sizeof(sl)),
				(unsigned long long)v);
		}
	}
	nk = kstat_count();
	fputs("# HELP vmx_kstat_invocations_total Invocations of each monitor service (kstat).\n"
	      "# TYPE vmx_kstat_invocations_total counter\n", f);
	for (unsigned k = 0; k < nk; k++)
		for (unsigned s = 0; s < STATS_SLOTS; s++) {
			uint64_t v = kstat_invocations(s, k);
			if (!v)
				continue;
			fputs("vmx_kstat_invocations_total{kstat=\"", f);
			prom_label(f, kstat_name(k));
			fprintf(f, "\",vcpu=\"%s\"} %llu\n", slot_label(s, sl, sizeof(sl)),
				(unsigned long long)v);
		}
	fprintf(f, "# HELP vmx_kstat_samples_total Samples (at %d Hz) charged to each kstat.\n"
		"# TYPE vmx_kstat_samples_total counter\n", KSTAT_HZ);
	for (unsigned k = 0; k < nk; k++)
		for (unsigned s = 0; s < STATS_SLOTS; s++) {
			uint64_t v = kstat_samples(s, k);
			if (!v)
				continue;
			fputs("vmx_kstat_samples_total{kstat=\"", f);
			prom_label(f, kstat_name(k));
			fprintf(f, "\",vcpu=\"%s\"} %llu\n", slot_label(s, sl, sizeof(sl)),
				(unsigned long long)v);
		}
	/* As vmx-getstats --prom prints it from the file: id is the lock's record (descriptor) id. */
	fputs("# HELP vmx_lock_acquisitions_total MXUser lock acquisitions (condition variables "
	      "and semaphores: waits).\n# TYPE vmx_lock_acquisitions_total counter\n", f);
	for (unsigned i = 0, nl = mxuser_stats_count(); i < nl; i++) {
		struct mxuser_lockstats_view lv;
		if (!mxuser_stats_get(i, &lv) || !lv.acquisitions)
			continue;
		fputs("vmx_lock_acquisitions_total{lock=\"", f);
		prom_label(f, lv.name);
		fprintf(f, "\",id=\"%u\"} %llu\n", i, (unsigned long long)lv.acquisitions);
	}
}
