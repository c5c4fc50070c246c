/*
 * stats_ctl.c - control-socket views of the live counters and kstats
 * (stats_ctl.h); stats builds only.  Values are read with relaxed loads while
 * vCPUs keep counting, so one reply is a near-instant, not atomic, snapshot.
 */
#include <stdlib.h>
#include <string.h>
#include "../lib/mxuser.h"
#include "kstat.h"
#include "stats.h"
#include "stats_ctl.h"

static json_t *per_slot(uint64_t (*get)(unsigned slot, unsigned id), unsigned id, uint64_t *total)
{
	json_t *a = json_array();
	*total = 0;
	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		uint64_t v = get(s, id);
		*total += v;
		json_array_append_new(a, json_integer((json_int_t)v));
	}
	return a;
}

json_t *stats_ctl_stats(struct vmx *x, json_t *req, const char **err)
{
	const char *fmt = json_string_value(json_object_get(req, "format"));
	char name[STATS_NAME_MAX];
	unsigned n = stats_ncounters();
	json_t *o, *list;

	(void)x;
	if (!stats_on) {
		*err = "stats are disabled (stats.enable = \"FALSE\")";
		return NULL;
	}
	if (fmt && strcmp(fmt, "prometheus") == 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f) {
			*err = "out of memory";
			return NULL;
		}
		stats_prometheus(f);
		fclose(f);
		o = json_pack("{s:s}", "text", buf);
		free(buf);
		return o;
	}
	if (fmt && strcmp(fmt, "json") != 0) {
		*err = "format must be \"json\" or \"prometheus\"";
		return NULL;
	}
	list = json_array();
	for (unsigned i = 0; i < n; i++) {
		uint64_t total;
		json_t *slots = per_slot(stats_get, i, &total);
		if (!total) {
			json_decref(slots);
			continue;
		}
		json_array_append_new(list, json_pack("{s:s, s:I, s:o}", "name",
						      stats_name(i, name, sizeof(name)), "total",
						      (json_int_t)total, "perSlot", slots));
	}
	return json_pack("{s:o, s:i}", "counters", list, "otherSlot", STATS_SLOT_OTHER);
}

json_t *stats_ctl_kstats(struct vmx *x, json_t *req, const char **err)
{
	unsigned nk = kstat_count();
	json_t *list = json_array(), *totals = json_array();

	(void)x;
	(void)req;
	if (!stats_on) {
		json_decref(list);
		json_decref(totals);
		*err = "stats are disabled (stats.enable = \"FALSE\")";
		return NULL;
	}
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		json_array_append_new(totals, json_integer((json_int_t)kstat_total_samples(s)));
	for (unsigned k = 0; k < nk; k++) {
		uint64_t inv, samples;
		json_t *ji = per_slot(kstat_invocations, k, &inv);
		json_t *js = per_slot(kstat_samples, k, &samples);
		if (!inv && !samples) {
			json_decref(ji);
			json_decref(js);
			continue;
		}
		json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:o, s:o}", "name",
						      kstat_name(k), "invocations", (json_int_t)inv,
						      "samples", (json_int_t)samples,
						      "invocationsPerSlot", ji, "samplesPerSlot", js));
	}
	return json_pack("{s:o, s:o, s:i}", "kstats", list, "samplesPerSlot", totals, "hz",
			 KSTAT_HZ);
}

/*
 * Locks and waitable objects apart, as vmx-getstats --locks shows them: a
 * condition variable's or semaphore's wait is for a signal, never contention.
 * holdSampleEvery > 1: holdTotalNs is an estimate from 1 in that many holds,
 * holdMaxNs the longest of those (mxuser.h).
 */
json_t *stats_ctl_locks(struct vmx *x, json_t *req, const char **err)
{
	static const char *const kinds[] = { "?", "lock", "rwlock", "cond", "sem" };
	json_t *locks = json_array(), *waits = json_array();
	struct mxuser_lockstats_view l;

	(void)x;
	(void)req;
	if (!stats_on) {
		json_decref(locks);
		json_decref(waits);
		*err = "stats are disabled (stats.enable = \"FALSE\")";
		return NULL;
	}
	for (unsigned i = 0; mxuser_stats_get(i, &l); i++) {
		const char *kind = kinds[l.kind < 5 ? l.kind : 0];
		if (l.kind == MXUSER_COND || l.kind == MXUSER_SEM)
			json_array_append_new(waits, json_pack(
				"{s:s, s:s, s:b, s:I, s:I, s:I}", "name", l.name, "kind", kind,
				"live", l.live, "waits", (json_int_t)l.acquisitions, "waitedTotalNs",
				(json_int_t)l.wait_total_ns, "waitedMaxNs", (json_int_t)l.wait_max_ns));
		else
			json_array_append_new(locks, json_pack(
				"{s:s, s:s, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "name", l.name,
				"kind", kind, "rank", (int)l.rank, "live", l.live, "acquisitions",
				(json_int_t)l.acquisitions, "contended", (json_int_t)l.contended,
				"ownerChanges", (json_int_t)l.owner_changes, "waitTotalNs",
				(json_int_t)l.wait_total_ns, "waitMaxNs", (json_int_t)l.wait_max_ns,
				"holdTotalNs", (json_int_t)l.hold_total_ns, "holdMaxNs",
				(json_int_t)l.hold_max_ns, "holdSampleEvery",
				(int)(l.acquisitions > MXUSER_HOLD_EXACT ? l.hold_every : 1)));
	}
	return json_pack("{s:o, s:o}", "locks", locks, "waitables", waits);
}
