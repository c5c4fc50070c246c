/*
 * ustats_kill.c - a steady workload for tests/integration/stats_ustats.sh.
 *
 *   ustats_kill DIR INTERVAL_US
 *
 * Starts the stats thread writing DIR/stats every INTERVAL_US, then a "vCPU"
 * thread that makes VIRTIO_REQ equal to the milliseconds elapsed since start
 * (so the count in the file says how much of the run the file covers), and
 * once per millisecond pushes the MMIO kstat and holds a lock for 0.3 ms.  It runs until
 * killed; the test SIGKILLs it and reads the file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/cfg.h"
#include "lib/mxuser.h"
#include "stats/kstat.h"
#include "stats/stats.h"
#include "stats/ustats.h"

static struct mxuser_lock dev_lock;

static void *vcpu(void *arg)
{
	uint64_t start = mxuser_now_ns(), done = 0;
	struct timespec ts = { 0, 200000 };

	(void)arg;
	kstat_attach(0);
	KSTAT_START(GUEST);
	for (;;) {
		uint64_t ms = (mxuser_now_ns() - start) / 1000000;
		for (; done < ms; done++) {
			STAT_INC(VIRTIO_REQ);
			uint64_t t = mxuser_now_ns();
			KSTAT_PUSH(MMIO);
			mxuser_lock(&dev_lock);
			/* Busy for 0.3 ms: the sampler must find MMIO about 30% of the time. */
			while (mxuser_now_ns() - t < 300000)
				;
			mxuser_unlock(&dev_lock);
			KSTAT_POP();
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct verr e = { "" };
	struct cfg *c;
	char text[128];
	pthread_t t;

	if (argc != 3) {
		fprintf(stderr, "usage: ustats_kill DIR INTERVAL_US\n");
		return 2;
	}
	snprintf(text, sizeof(text), "ustats.interval = \"%s\"\n", argv[2]);
	if (cfg_parse("ustats_kill", text, strlen(text), &c, &e) < 0 ||
	    stats_configure(c, &e) < 0 || stats_start(argv[1], &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	cfg_free(c);
	mxuser_lock_init(&dev_lock, "devLock", MXUSER_RANK_DEVICE);
	pthread_create(&t, NULL, vcpu, NULL);
	printf("running\n");
	fflush(stdout);
	pthread_join(t, NULL);
	return 0;
}
