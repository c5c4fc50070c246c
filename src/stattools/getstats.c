/*
 * getstats.c - vmx-getstats: report of the stats counters and MXUser lock
 * statistics in a ustats file (the seed's getStats).
 *
 *   vmx-getstats [--locks|--locks-only] [--hist] [--prom] [--last DURATION] FILE|VMDIR
 *
 * Counters are sorted by total, with the rate per second of run time and a
 * column per vCPU that counted anything ("other" = non-vCPU threads).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats/ustats.h"

struct row {
	unsigned id;
	uint64_t total;
};

static int by_total(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static const char *slot_name(unsigned s, char *buf, size_t len)
{
	if (s == STATS_SLOT_OTHER)
		snprintf(buf, len, "other");
	else
		snprintf(buf, len, "vcpu%u", s);
	return buf;
}

static void print_header(const struct ustats_data *d, const char *file)
{
	char end[200];
	printf("ustats %s: buildType=%s pid=%u, %.1f s, %u intervals of %.1f s, %s", file,
	       d->buildtype, d->pid, (double)d->elapsed_ns / 1e9, d->nsamples,
	       (double)d->interval_us / 1e6, ustats_end_state(d, file, end, sizeof(end)));
	if (d->ignored_bytes)
		printf(", %zu bytes of torn tail ignored", d->ignored_bytes);
	if (d->window_from_ns)
		printf("\nwindow: the last %.1f s (%.1f s .. %.1f s of the run, whole intervals); "
		       "lock maxima are the run's", (double)(d->elapsed_ns - d->window_from_ns) / 1e9,
		       (double)d->window_from_ns / 1e9, (double)d->elapsed_ns / 1e9);
	printf("\n\n");
}

/* RISC-V exception and interrupt causes (mcause), for TRAP_EXC.N / TRAP_IRQ.N. */
static const char *const exc_name[16] = {
	"insn-misaligned", "insn-access-fault", "illegal-insn", "breakpoint",
	"load-misaligned", "load-access-fault", "store-misaligned", "store-access-fault",
	"ecall-U", "ecall-S", "10", "ecall-M", "insn-page-fault", "load-page-fault", "14",
	"store-page-fault",
};
static const char *const irq_name[16] = {
	"0", "S-software", "2", "M-software", "4", "S-timer", "6", "M-timer",
	"8", "S-external", "10", "M-external", "12", "13", "14", "15",
};

/* The name as shown: array elements with a known meaning get it ("TRAP_EXC.ecall-S"). */
static const char *display_name(const char *name, char *buf, size_t len)
{
	char *end;
	const char *const *tab = !strncmp(name, "TRAP_EXC.", 9) ? exc_name :
				 !strncmp(name, "TRAP_IRQ.", 9) ? irq_name : NULL;
	if (tab) {
		unsigned long i = strtoul(name + 9, &end, 10);
		/* The last element also collects out-of-range causes: keep its number then. */
		if (end != name + 9 && !*end && i < 15) {
			snprintf(buf, len, "%.9s%s", name, tab[i]);
			return buf;
		}
	}
	return name[0] ? name : "?";
}

static bool is_mmio_register(const char *name)
{
	return !strncmp(name, "MMIO.", 5) && strchr(name + 5, '.');
}

static void print_row(const struct ustats_data *d, const char *label, uint64_t total, double secs,
		      const uint64_t *per_slot, const bool *used, const char *desc)
{
	printf("%-32s %14llu %12.1f", label, (unsigned long long)total, (double)total / secs);
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		if (used[s])
			printf(" %12llu", (unsigned long long)per_slot[s]);
	printf("  %s\n", desc);
	(void)d;
}

/*
 * Counters sorted by total, each with its description; the per-register
 * MMIO counters (MMIO.<device>.<r|w>.<offset>) are grouped under their
 * device after the others, the device's total first.
 */
static void print_counters(const struct ustats_data *d)
{
	static struct row rows[STATS_MAX_COUNTERS];
	bool used[STATS_SLOTS] = { false };
	uint64_t span = d->elapsed_ns - d->window_from_ns;
	double secs = span ? (double)span / 1e9 : 1.0;
	unsigned n = 0;
	char sl[16], nb[96];
	uint64_t per[STATS_SLOTS];

	for (unsigned i = 0; i < d->ncounters; i++) {
		uint64_t t = 0;
		for (unsigned s = 0; s < STATS_SLOTS; s++) {
			t += d->counts[s][i];
			used[s] |= d->counts[s][i] != 0;
		}
		if (t)
			rows[n++] = (struct row){ i, t };
	}
	qsort(rows, n, sizeof(rows[0]), by_total);
	printf("%-32s %14s %12s", "counter", "total", "per second");
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		if (used[s])
			printf(" %12s", slot_name(s, sl, sizeof(sl)));
	printf("  description\n");
	for (unsigned i = 0; i < n; i++) {
		const char *name = d->counter_name[rows[i].id];
		if (is_mmio_register(name))
			continue;
		for (unsigned s = 0; s < STATS_SLOTS; s++)
			per[s] = d->counts[s][rows[i].id];
		print_row(d, display_name(name, nb, sizeof(nb)), rows[i].total, secs, per, used,
			  d->counter_desc[rows[i].id]);
	}
	/* Devices in order of their busiest register; each once. */
	for (unsigned i = 0; i < n; i++) {
		const char *name = d->counter_name[rows[i].id];
		if (!is_mmio_register(name))
			continue;
		size_t dl = (size_t)(strchr(name + 5, '.') - name);
		bool done = false;
		for (unsigned j = 0; j < i && !done; j++) {
			const char *o = d->counter_name[rows[j].id];
			done = is_mmio_register(o) && !strncmp(o, name, dl) && o[dl] == '.';
		}
		if (done)
			continue;
		uint64_t tot = 0;
		memset(per, 0, sizeof(per));
		for (unsigned j = i; j < n; j++) {
			const char *o = d->counter_name[rows[j].id];
			if (!strncmp(o, name, dl) && o[dl] == '.')
				for (unsigned s = 0; s < STATS_SLOTS; s++) {
					per[s] += d->counts[s][rows[j].id];
					tot += d->counts[s][rows[j].id];
				}
		}
		snprintf(nb, sizeof(nb), "%.*s (registers)", (int)dl, name);
		print_row(d, nb, tot, secs, per, used, "MMIO accesses by register, below");
		for (unsigned j = i; j < n; j++) {
			const char *o = d->counter_name[rows[j].id];
			if (strncmp(o, name, dl) || o[dl] != '.')
				continue;
			for (unsigned s = 0; s < STATS_SLOTS; s++)
				per[s] = d->counts[s][rows[j].id];
			/* "  w 0x50": access kind and register offset */
			snprintf(nb, sizeof(nb), "  %s", o + dl + 1);
			for (char *c = nb; *c; c++)
				if (*c == '.')
					*c = ' ';
			print_row(d, nb, rows[j].total, secs, per, used,
				  o[dl + 1] == 'w' ? "writes to this register" : "reads of this register");
		}
	}
	if (!n)
		printf("(no counter was reached)\n");
}

static void print_hist(const char *what, const uint64_t *h)
{
	printf("      %s:", what);
	for (unsigned b = 0; b < MXUSER_HIST_BUCKETS; b++)
		if (h[b])
			printf(" <2^%u:%llu", b + 1, (unsigned long long)h[b]);
	printf("\n");
}

static const struct ustats_data *sort_d;

/* Most contended first, then most time waited, then by name. */
static int by_contention(const void *a, const void *b)
{
	const struct ustats_lock *x = &sort_d->locks[*(const unsigned *)a];
	const struct ustats_lock *y = &sort_d->locks[*(const unsigned *)b];
	if (x->contended != y->contended)
		return x->contended < y->contended ? 1 : -1;
	if (x->wait_total_ns != y->wait_total_ns)
		return x->wait_total_ns < y->wait_total_ns ? 1 : -1;
	return strcmp(x->name, y->name);
}

static bool is_wait_object(const struct ustats_lock *l)
{
	return l->kind == MXUSER_COND || l->kind == MXUSER_SEM;
}

/*
 * Whether l's hold figures are (or, in a --last window, whose acquisitions
 * do not say how many came before, may be) estimates from a sample of its
 * holds (mxuser.h).
 */
static bool held_sampled(const struct ustats_data *d, const struct ustats_lock *l)
{
	return l->hold_every > 1 && (l->acquisitions > MXUSER_HOLD_EXACT || d->window_from_ns);
}

/*
 * Record i's name as shown: a file written before names were made unique
 * may hold two records under one name, so the later ones get "#id".
 */
static const char *lock_label(const struct ustats_data *d, unsigned i, char *buf, size_t len)
{
	const char *name = d->locks[i].name[0] ? d->locks[i].name : "?";
	for (unsigned j = 0; j < i; j++)
		if (!strcmp(d->locks[j].name, d->locks[i].name)) {
			snprintf(buf, len, "%s#id%u", name, i);
			return buf;
		}
	return name;
}

/*
 * Two tables: mutexes and rwlocks (contention is another thread holding the
 * lock), then condition variables and semaphores (a wait is for a signal:
 * idle by design, never contention).
 */
static void print_locks(const struct ustats_data *d, bool hist)
{
	static const char *const kinds[] = { "?", "lock", "rwlock", "cond", "sem" };
	static unsigned order[MXUSER_MAX_STATS];
	unsigned n = 0, nw = 0;
	char lb[80];

	for (unsigned i = 0; i < d->nlocks; i++)
		if (d->locks[i].acquisitions)
			order[n++] = i;
	sort_d = d;
	qsort(order, n, sizeof(order[0]), by_contention);
	unsigned every = 1;
	for (unsigned k = 0; k < n; k++)
		if (held_sampled(d, &d->locks[order[k]]) && d->locks[order[k]].hold_every > every)
			every = d->locks[order[k]].hold_every;
	/* Above the table's title: a reader of the table takes the line after it as its header. */
	if (every > 1)
		printf("\n~ hold-ms and hold histograms are estimates: after a lock's first %u holds, "
		       "1 in %u is timed and counts for %u; hold-max-us is the longest timed",
		       MXUSER_HOLD_EXACT, every, every);
	printf("\nlocks, most contended first (contended: the lock was held by another thread)\n");
	printf("%-28s %6s %-6s %10s %10s %8s %10s %11s %11s %11s\n", "lock", "rank", "kind",
	       "acquired", "contended", "owner-chg", "wait-ms", "wait-max-us", "hold-ms",
	       "hold-max-us");
	for (unsigned k = 0; k < n; k++) {
		const struct ustats_lock *l = &d->locks[order[k]];
		char hold[32];
		if (is_wait_object(l)) {
			nw++;
			continue;
		}
		snprintf(hold, sizeof(hold), "%s%.3f", held_sampled(d, l) ? "~" : "",
			 (double)l->hold_total_ns / 1e6);
		printf("%-28s %6u %-6s %10llu %10llu %8llu %10.3f %11.1f %11s %11.1f\n",
		       lock_label(d, order[k], lb, sizeof(lb)), l->rank, kinds[l->kind < 5 ? l->kind : 0],
		       (unsigned long long)l->acquisitions, (unsigned long long)l->contended,
		       (unsigned long long)l->owner_changes, (double)l->wait_total_ns / 1e6,
		       (double)l->wait_max_ns / 1e3, hold, (double)l->hold_max_ns / 1e3);
		if (hist) {
			print_hist("wait ns", l->wait_hist);
			print_hist(held_sampled(d, l) ? "hold ns (~)" : "hold ns", l->hold_hist);
		}
	}
	if (!nw)
		return;
	printf("\ncondition variables and semaphores (waits for a signal, not contention)\n");
	printf("%-28s %-6s %10s %14s %16s\n", "object", "kind", "waits", "waited-ms",
	       "waited-max-us");
	for (unsigned k = 0; k < n; k++) {
		const struct ustats_lock *l = &d->locks[order[k]];
		if (!is_wait_object(l))
			continue;
		printf("%-28s %-6s %10llu %14.3f %16.1f\n", lock_label(d, order[k], lb, sizeof(lb)),
		       kinds[l->kind], (unsigned long long)l->acquisitions,
		       (double)l->wait_total_ns / 1e6, (double)l->wait_max_ns / 1e3);
		if (hist)
			print_hist("waited ns", l->wait_hist);
	}
}

static void prom_str(const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
}

/* The live exposition's label for a slot (stats_prometheus in src/stats/stats.c). */
static const char *prom_slot(unsigned s, char *buf, size_t len)
{
	if (s == STATS_SLOT_OTHER)
		snprintf(buf, len, "other");
	else
		snprintf(buf, len, "%u", s);
	return buf;
}

/*
 * The same schema as the live exposition (vmx-ctl stats, hostd): names,
 * labels (vcpu="0", "other") and HELP lines, so one dashboard reads both;
 * the file adds the lock acquisitions it records.
 */
static void print_prom(const struct ustats_data *d)
{
	char sl[16];
	static const struct { const char *metric, *help; int which; } fams[] = {
		{ "vmx_kstat_invocations_total", "Invocations of each monitor service (kstat).", 1 },
		{ "vmx_kstat_samples_total", NULL, 2 },
	};
	printf("# HELP vmx_counter_total Stats counters of the vmx stats build, per vCPU.\n"
	       "# TYPE vmx_counter_total counter\n");
	for (unsigned i = 0; i < d->ncounters; i++)
		for (unsigned s = 0; s < STATS_SLOTS; s++)
			if (d->counts[s][i]) {
				printf("vmx_counter_total{name=\"");
				prom_str(d->counter_name[i]);
				printf("\",vcpu=\"%s\"} %llu\n", prom_slot(s, sl, sizeof(sl)),
				       (unsigned long long)d->counts[s][i]);
			}
	for (unsigned f = 0; f < 2; f++) {
		if (fams[f].help)
			printf("# HELP %s %s\n", fams[f].metric, fams[f].help);
		else
			printf("# HELP %s Samples (at %u Hz) charged to each kstat.\n", fams[f].metric,
			       d->hz);
		printf("# TYPE %s counter\n", fams[f].metric);
		for (unsigned k = 0; k < d->nkstats; k++)
			for (unsigned s = 0; s < STATS_SLOTS; s++) {
				uint64_t v = fams[f].which == 1 ? d->kinv[s][k] : d->ksamples[s][k];
				if (!v)
					continue;
				printf("%s{kstat=\"", fams[f].metric);
				prom_str(d->kstat_name[k]);
				printf("\",vcpu=\"%s\"} %llu\n", prom_slot(s, sl, sizeof(sl)),
				       (unsigned long long)v);
			}
	}
	printf("# HELP vmx_lock_acquisitions_total MXUser lock acquisitions (condition variables "
	       "and semaphores: waits).\n# TYPE vmx_lock_acquisitions_total counter\n");
	for (unsigned i = 0; i < d->nlocks; i++)
		if (d->locks[i].acquisitions) {
			printf("vmx_lock_acquisitions_total{lock=\"");
			prom_str(d->locks[i].name);
			printf("\",id=\"%u\"} %llu\n", i,
			       (unsigned long long)d->locks[i].acquisitions);
		}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "locks", no_argument, NULL, 'l' }, { "hist", no_argument, NULL, 'H' },
		{ "locks-only", no_argument, NULL, 'L' }, { "last", required_argument, NULL, 'T' },
		{ "prom", no_argument, NULL, 'p' },  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool locks = false, hist = false, prom = false, locks_only = false;
	uint64_t last_ns = 0;
	struct ustats_data *d;
	struct verr e = { "" };
	char file[4400];
	int c;

	while ((c = getopt_long(argc, argv, "lLHph", opts, NULL)) != -1) {
		switch (c) {
		case 'l': locks = true; break;
		case 'L': locks = locks_only = true; break;
		case 'T':
			if (ustats_parse_duration(optarg, &last_ns) < 0) {
				fprintf(stderr, "vmx-getstats: --last %s: not a duration (90s, 5m, 1h)\n",
					optarg);
				return 2;
			}
			break;
		case 'H': hist = locks = true; break;
		case 'p': prom = true; break;
		case 'h':
			printf("usage: vmx-getstats [--locks|--locks-only] [--hist] [--prom] [--last DURATION] FILE|VMDIR\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: vmx-getstats [--locks|--locks-only] [--hist] [--prom] [--last DURATION] FILE|VMDIR\n");
		return 2;
	}
	if (ustats_load_last(argv[optind], last_ns, &d, file, sizeof(file), &e) < 0) {
		fprintf(stderr, "vmx-getstats: %s\n", e.msg);
		return 1;
	}
	if (prom) {
		print_prom(d);
	} else {
		print_header(d, file);
		if (!locks_only)
			print_counters(d);
		if (locks)
			print_locks(d, hist);
	}
	free(d);
	return 0;
}
