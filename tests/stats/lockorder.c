/*
 * lockorder.c - a deliberate lock-order inversion for tests/integration/stats_beta.sh.
 *
 *   lockorder DIR
 *
 * One thread takes vmLock then devLock (the ranked order), a second thread,
 * later, takes devLock then vmLock.  The two never overlap, so no run of this
 * program deadlocks: release runs to completion and prints "completed"; beta
 * sees the inverted order and stops with a crash report in DIR naming both
 * locks (exit status 70).
 */
#include <pthread.h>
#include <stdio.h>
#include "debug/crashrep.h"
#include "lib/log.h"
#include "lib/mxuser.h"

static struct mxuser_lock vm_lock, dev_lock;

static void *ordered(void *arg)
{
	(void)arg;
	mxuser_lock(&vm_lock);
	mxuser_lock(&dev_lock);
	mxuser_unlock(&dev_lock);
	mxuser_unlock(&vm_lock);
	return NULL;
}

static void *inverted(void *arg)
{
	(void)arg;
	mxuser_lock(&dev_lock);
	mxuser_lock(&vm_lock);
	mxuser_unlock(&vm_lock);
	mxuser_unlock(&dev_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	struct verr e = { "" };
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: lockorder DIR\n");
		return 2;
	}
	if (log_open(argv[1], "vmx", 0, VMX_BUILDTYPE_NAME, false, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	crashrep_install(argv[1]);
	mxuser_lock_init(&vm_lock, "vmLock", MXUSER_RANK_VM);
	mxuser_lock_init(&dev_lock, "devLock", MXUSER_RANK_DEVICE);
	LOG_INF("lockorder: ordered pass");
	pthread_create(&t, NULL, ordered, NULL);
	pthread_join(t, NULL);
	LOG_INF("lockorder: inverted pass");
	pthread_create(&t, NULL, inverted, NULL);
	pthread_join(t, NULL);
	printf("completed\n");
	log_close();
	return 0;
}
