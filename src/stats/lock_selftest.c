/*
 * lock_selftest.c - a lock made contended on purpose, for the lock table's
 * tests (opt/obj builds: VMX_DEVEL).  With monitor.debugTestContendedLock =
 * "TRUE", two threads take the MXUser lock "debugTestContended" in turn
 * while the VM runs, each holding it about 1 ms, so its record must show
 * contended acquisitions and wait time, where an idle VM's locks show none.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "../lib/build.h"
#include "../lib/cfg.h"
#include "../lib/log.h"
#include "../lib/mxuser.h"
#include "stats.h"
#include "ustats.h"

static struct {
	bool want, running;
	_Atomic bool quit;
	pthread_t t[2];
	struct mxuser_lock lock;
} st = { .lock = MXUSER_LOCK_INITIALIZER("debugTestContended", MXUSER_RANK_LEAF) };

static void sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

static void *contender(void *arg)
{
	(void)arg;
	while (!atomic_load(&st.quit)) {
		mxuser_lock(&st.lock);
		sleep_us(1000);
		mxuser_unlock(&st.lock);
		sleep_us(100);
	}
	return NULL;
}

int lock_selftest_configure(const struct cfg *c, struct verr *e)
{
	st.want = false;
	if (!VMX_DEVEL)
		return 0;
	return cfg_get_bool(c, "monitor.debugTestContendedLock", false, &st.want, e);
}

void lock_selftest_start(void)
{
	if (!st.want || st.running)
		return;
	atomic_store(&st.quit, false);
	for (unsigned i = 0; i < 2; i++)
		if (pthread_create(&st.t[i], NULL, contender, NULL) != 0) {
			LOG_WRN("debugTestContendedLock: cannot start thread %u", i);
			atomic_store(&st.quit, true);
			for (unsigned j = 0; j < i; j++)
				pthread_join(st.t[j], NULL);
			return;
		}
	st.running = true;
	LOG_INF("debugTestContendedLock: two threads contend for \"debugTestContended\"");
}

void lock_selftest_stop(void)
{
	if (!st.running)
		return;
	atomic_store(&st.quit, true);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(st.t[i], NULL);
	st.running = false;
}
