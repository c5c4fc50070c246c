/*
 * stats.c - stats counters (stats.h); linked into stats, opt and obj builds only.
 */
#include <stdlib.h>
#include "stats.h"

uint64_t stats_counts[STATS_SLOTS][STAT_COUNT];
_Thread_local unsigned stats_slot = STATS_SLOT_OTHER;

static const char *const stat_names[STAT_COUNT] = {
#define STAT_NAME(n, d) #n,
	STATS_COUNTERS(STAT_NAME)
#undef STAT_NAME
};

void stats_set_slot(unsigned slot)
{
	stats_slot = slot < STATS_SLOTS ? slot : STATS_SLOT_OTHER;
}

const char *stats_name(enum stat_id id) { return stat_names[id]; }

uint64_t stats_total(enum stat_id id)
{
	uint64_t t = 0;
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		t += stats_counts[s][id];
	return t;
}

static int by_total_desc(const void *a, const void *b)
{
	uint64_t ta = stats_total(*(const enum stat_id *)a);
	uint64_t tb = stats_total(*(const enum stat_id *)b);
	return ta < tb ? 1 : ta > tb ? -1 : 0;
}

void stats_report(FILE *f)
{
	enum stat_id order[STAT_COUNT];
	for (int i = 0; i < STAT_COUNT; i++)
		order[i] = (enum stat_id)i;
	qsort(order, STAT_COUNT, sizeof(order[0]), by_total_desc);
	for (int i = 0; i < STAT_COUNT; i++) {
		fprintf(f, "%-24s %12llu", stat_names[order[i]],
			(unsigned long long)stats_total(order[i]));
		for (unsigned s = 0; s < STATS_SLOTS; s++)
			fprintf(f, " %llu", (unsigned long long)stats_counts[s][order[i]]);
		fputc('\n', f);
	}
}
