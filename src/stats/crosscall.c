/*
 * crosscall.c - crosscall (IPI) statistics per vCPU pair, the seed's
 * "Crosscall Stats": how many software interrupts each vCPU sent each other
 * one, and how long each took from the sender's write (the CLINT msip
 * store, which OpenSBI makes for Linux's IPIs) to the receiver taking the
 * interrupt.
 *
 * Named counters, so vmx-getstats and the Prometheus export show them with
 * the others:
 *   crosscall.sent.toN            on the sender's slot: IPIs raised to vCPU N
 *   crosscall.taken.fromN         on the receiver's slot: taken, sent by N
 *   crosscall.latency_ns.fromN    on the receiver's slot: their total latency
 *   crosscall.latency.fromN.<bucket>  on the receiver's slot: a histogram
 * N = "board" for an IPI the board thread raised.  Stats builds only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include "stats.h"

#define XC_HARTS 8
#define XC_FROM (XC_HARTS + 1)     /* senders: harts, and the board */
#define XC_BUCKETS 4

static const char *const bucket_name[XC_BUCKETS] = { "lt10us", "lt100us", "lt1ms", "ge1ms" };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int id_sent[XC_HARTS], id_taken[XC_FROM], id_lat[XC_FROM], id_hist[XC_FROM][XC_BUCKETS];
/* Per receiver: when the pending IPI was raised (0: none measured) and by whom. */
static _Atomic uint64_t sent_ns[XC_HARTS];
static _Atomic unsigned sent_by[XC_HARTS];

static void register_all(void)
{
	char name[STATS_NAME_MAX], from[16];
	for (unsigned n = 0; n < XC_FROM; n++) {
		if (n < XC_HARTS) {
			snprintf(name, sizeof(name), "crosscall.sent.to%u", n);
			id_sent[n] = stats_register(name, "IPIs (software interrupts) raised to this vCPU");
			snprintf(from, sizeof(from), "%u", n);
		} else {
			snprintf(from, sizeof(from), "board");
		}
		snprintf(name, sizeof(name), "crosscall.taken.from%s", from);
		id_taken[n] = stats_register(name, "IPIs taken by this vCPU, by sender");
		snprintf(name, sizeof(name), "crosscall.latency_ns.from%s", from);
		id_lat[n] = stats_register(name, "total ns from the sender's write to this vCPU's trap");
		for (unsigned b = 0; b < XC_BUCKETS; b++) {
			snprintf(name, sizeof(name), "crosscall.latency.from%s.%s", from, bucket_name[b]);
			id_hist[n][b] = stats_register(name, "IPIs by latency, sender to trap");
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void stats_ipi_sent(unsigned from, unsigned to)
{
	if (!stats_on || to >= XC_HARTS)
		return;
	pthread_once(&once, register_all);
	STAT_INC_DYN(id_sent[to]);
	atomic_store_explicit(&sent_by[to], from < XC_HARTS ? from : XC_HARTS,
			      memory_order_relaxed);
	atomic_store_explicit(&sent_ns[to], now_ns(), memory_order_release);
}

void stats_ipi_taken(unsigned hart)
{
	if (!stats_on || hart >= XC_HARTS)
		return;
	uint64_t t0 = atomic_exchange_explicit(&sent_ns[hart], 0, memory_order_acquire);
	if (!t0)
		return;
	pthread_once(&once, register_all);
	unsigned from = atomic_load_explicit(&sent_by[hart], memory_order_relaxed);
	uint64_t lat = now_ns() - t0;
	STAT_INC_DYN(id_taken[from]);
	STAT_ADD_DYN(id_lat[from], lat);
	unsigned b = lat < 10000 ? 0 : lat < 100000 ? 1 : lat < 1000000 ? 2 : 3;
	STAT_INC_DYN(id_hist[from][b]);
}
