/*
 * kstats.c - vmx-kstats: where the VM's elapsed time went, by monitor service
 * (the seed's kstats.prl), from the kstat samples in a ustats file.
 *
 *   vmx-kstats [--flat|--nested|--both] [--last DURATION] FILE|VMDIR
 *
 * Estimated time is samples / sampling rate; share is a kstat's samples over
 * all samples of that vCPU (so shares of one vCPU add up to 100%, guest
 * execution, idle, waiting and host scheduling included).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats/ustats.h"

static bool used[STATS_SLOTS];
static uint64_t slot_total[STATS_SLOTS], all_total;

static const char *kname(const struct ustats_data *d, unsigned k)
{
	return k < d->nkstats && d->kstat_name[k][0] ? d->kstat_name[k] : "?";
}

static void totals(const struct ustats_data *d)
{
	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		for (unsigned k = 0; k < d->nkstats; k++) {
			slot_total[s] += d->ksamples[s][k];
			used[s] |= d->ksamples[s][k] || d->kinv[s][k];
		}
		all_total += slot_total[s];
	}
}

static double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0; }

struct krow {
	unsigned k;
	uint64_t samples, inv;
};

static int by_samples(const void *a, const void *b)
{
	const struct krow *x = a, *y = b;
	if (x->samples != y->samples)
		return x->samples < y->samples ? 1 : -1;
	if (x->inv != y->inv)
		return x->inv < y->inv ? 1 : -1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static void flat(const struct ustats_data *d)
{
	static struct krow rows[KSTAT_MAX];
	double hz = d->hz ? d->hz : KSTAT_HZ;
	unsigned n = 0;

	for (unsigned k = 0; k < d->nkstats; k++) {
		struct krow r = { k, 0, 0 };
		for (unsigned s = 0; s < STATS_SLOTS; s++) {
			r.samples += d->ksamples[s][k];
			r.inv += d->kinv[s][k];
		}
		if (r.samples || r.inv)
			rows[n++] = r;
	}
	qsort(rows, n, sizeof(rows[0]), by_samples);
	printf("%-20s %12s %9s %10s %7s", "kstat", "invocations", "samples", "est-time-s", "share");
	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		char h[24];
		if (!used[s])
			continue;
		if (s == STATS_SLOT_OTHER)
			snprintf(h, sizeof(h), "other:invoc");
		else
			snprintf(h, sizeof(h), "vcpu%u:invoc", s);
		printf("  %14s %6s", h, "share");
	}
	printf("\n");
	for (unsigned i = 0; i < n; i++) {
		unsigned k = rows[i].k;
		printf("%-20s %12llu %9llu %10.2f %6.1f%%", kname(d, k),
		       (unsigned long long)rows[i].inv, (unsigned long long)rows[i].samples,
		       (double)rows[i].samples / hz, pct(rows[i].samples, all_total));
		for (unsigned s = 0; s < STATS_SLOTS; s++)
			if (used[s])
				printf("  %14llu %5.1f%%", (unsigned long long)d->kinv[s][k],
				       pct(d->ksamples[s][k], slot_total[s]));
		printf("\n");
	}
	printf("%-20s %12s %9llu %10.2f %6.1f%%\n", "TOTAL", "",
	       (unsigned long long)all_total, (double)all_total / hz, all_total ? 100.0 : 0.0);
}

/* Samples of node and everything below it, summed over slots. */
static uint64_t inclusive(const struct ustats_data *d, unsigned node, uint64_t *self)
{
	uint64_t t = 0;
	*self = 0;
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		*self += d->path_samples[s][node];
	t = *self;
	for (unsigned c = node + 1; c < d->npaths; c++) {
		uint64_t cs;
		if (d->path_parent[c] == (int)node)
			t += inclusive(d, c, &cs);
	}
	return t;
}

static void nested_node(const struct ustats_data *d, int parent, unsigned depth, double hz)
{
	for (unsigned n = 0; n < d->npaths; n++) {
		uint64_t self, incl;
		if (d->path_parent[n] != parent)
			continue;
		incl = inclusive(d, n, &self);
		if (!incl)
			continue;
		printf("%*s%-*s %10llu %10llu %10.2f %6.1f%%\n", (int)depth * 2, "",
		       30 - (int)depth * 2, kname(d, d->path_kstat[n]), (unsigned long long)incl,
		       (unsigned long long)self, (double)incl / hz, pct(incl, all_total));
		if (depth < KSTAT_DEPTH + 1)
			nested_node(d, (int)n, depth + 1, hz);
	}
}

static void nested(const struct ustats_data *d)
{
	printf("%-30s %10s %10s %10s %7s\n", "kstat (nested by push depth)", "samples", "self",
	       "est-time-s", "share");
	nested_node(d, -1, 0, d->hz ? d->hz : KSTAT_HZ);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "flat", no_argument, NULL, 'f' }, { "nested", no_argument, NULL, 'n' },
		{ "both", no_argument, NULL, 'b' }, { "help", no_argument, NULL, 'h' },
		{ "last", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	bool f = true, n = false;
	uint64_t last_ns = 0;
	struct ustats_data *d;
	struct verr e = { "" };
	char file[4400];
	int c;

	while ((c = getopt_long(argc, argv, "fnbh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': f = true; n = false; break;
		case 'n': f = false; n = true; break;
		case 'b': f = n = true; break;
		case 'T':
			if (ustats_parse_duration(optarg, &last_ns) < 0) {
				fprintf(stderr, "vmx-kstats: --last %s: not a duration (90s, 5m, 1h)\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			printf("usage: vmx-kstats [--flat|--nested|--both] [--last DURATION] FILE|VMDIR\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: vmx-kstats [--flat|--nested|--both] [--last DURATION] FILE|VMDIR\n");
		return 2;
	}
	if (ustats_load_last(argv[optind], last_ns, &d, file, sizeof(file), &e) < 0) {
		fprintf(stderr, "vmx-kstats: %s\n", e.msg);
		return 1;
	}
	char end[200];
	printf("kstats %s: buildType=%s, %.1f s elapsed, %u Hz sampling, %u intervals, %s\n\n",
	       file, d->buildtype, (double)d->elapsed_ns / 1e9, d->hz, d->nsamples,
	       ustats_end_state(d, file, end, sizeof(end)));
	if (d->window_from_ns)
		printf("window: the last %.1f s (%.1f s .. %.1f s of the run, whole intervals)\n\n",
		       (double)(d->elapsed_ns - d->window_from_ns) / 1e9,
		       (double)d->window_from_ns / 1e9, (double)d->elapsed_ns / 1e9);
	totals(d);
	if (f)
		flat(d);
	if (f && n)
		printf("\n");
	if (n)
		nested(d);
	free(d);
	return 0;
}
