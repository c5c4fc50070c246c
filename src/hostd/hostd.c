/*
 * hostd.c - the daemon's state that every module reaches: g_hostd (the
 * settings main.c loads, the VM table, the stop flag), the lock that guards
 * the VM table and the condition broadcast when a vmx exits or an operation
 * ends, and a monotonic clock.  Kept out of the VM registry (hvm.c) because the
 * API, the control-socket client and main use them without being about VMs.
 */
#include <pthread.h>
#include <time.h>
#include "hostd.h"

struct hostd g_hostd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hostd_lock(void)
{
	pthread_mutex_lock(&g_hostd.lock);
}

void hostd_unlock(void)
{
	pthread_mutex_unlock(&g_hostd.lock);
}
