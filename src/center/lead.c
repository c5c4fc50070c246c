/*
 * lead.c - which vmx3-center leads.  Each center holds an etcd lease of
 * lease_ttl_s seconds, kept alive every third of it, and tries to create the
 * leader key bound to that lease; whoever created it leads until its lease
 * ends (a stop, a crash, a network split), when etcd deletes the key and the
 * next try of another center succeeds.  A leader that fails to keep its lease
 * alive stops leading at once, before etcd could give the key to another, so
 * two centers never both believe they lead for longer than a keep-alive
 * interval.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../lib/log.h"
#include "center.h"

static pthread_t g_thread;
static atomic_bool g_leader, g_stop, g_started;
static int64_t g_lease;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;

bool lead_is_leader(void)
{
	return atomic_load(&g_leader);
}

void lead_current(char *name, size_t nlen, char *url, size_t ulen)
{
	char key[128];
	struct etcd_kv kv;

	name[0] = url[0] = 0;
	if (etcd_get(g_center.etcd, center_key(key, sizeof(key), "leader"), &kv, NULL) < 0)
		return;
	json_t *j = json_loads(kv.value, 0, NULL);
	snprintf(name, nlen, "%s", json_string_value(json_object_get(j, "name")) ?: "");
	snprintf(url, ulen, "%s", json_string_value(json_object_get(j, "url")) ?: "");
	json_decref(j);
	free(kv.key);
	free(kv.value);
}

/* Sleeps ms unless lead_stop() wakes it; false when stopping. */
static bool nap(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g_lock);
	if (!atomic_load(&g_stop))
		pthread_cond_timedwait(&g_wake, &g_lock, &ts);
	pthread_mutex_unlock(&g_lock);
	return !atomic_load(&g_stop);
}

static void *lead_loop(void *arg)
{
	const unsigned tick_ms = (unsigned)g_center.cfg.lease_ttl_s * 1000 / 3;
	char key[128], value[512];
	struct verr e = { "" };

	(void)arg;
	center_key(key, sizeof(key), "leader");
	snprintf(value, sizeof(value), "{\"name\":\"%s\",\"url\":\"%s\"}", g_center.cfg.name,
		 g_center.url);
	do {
		if (!g_lease) {
			if (etcd_lease_grant(g_center.etcd, g_center.cfg.lease_ttl_s, &g_lease, &e) < 0) {
				LOG_WRN("leadership: %s", e.msg);
				g_lease = 0;
				continue;
			}
		} else if (etcd_lease_keepalive(g_center.etcd, g_lease, &e) < 0) {
			/* Whatever happened (expired, etcd unreachable), this center stops leading now. */
			if (atomic_exchange(&g_leader, false))
				LOG_WRN("leadership lost: %s", e.msg);
			if (e.msg[0] && strstr(e.msg, "expired"))
				g_lease = 0;
			continue;
		}
		if (!atomic_load(&g_leader)) {
			int rc = etcd_create(g_center.etcd, key, value, g_lease, NULL, &e);
			if (rc == 0) {
				atomic_store(&g_leader, true);
				LOG_INF("leading the cluster (lease %lld, %d s)", (long long)g_lease,
					g_center.cfg.lease_ttl_s);
				lead_on_elected();
			} else if (rc == -EEXIST) {
				/* Still ours after a keep-alive that failed for a moment? */
				struct etcd_kv kv;
				if (etcd_get(g_center.etcd, key, &kv, NULL) == 0) {
					if (kv.lease == g_lease) {
						atomic_store(&g_leader, true);
						LOG_INF("leading the cluster again (lease %lld)",
							(long long)g_lease);
						lead_on_elected();
					}
					free(kv.key);
					free(kv.value);
				}
			} else {
				LOG_WRN("leadership: %s", e.msg);
			}
		}
	} while (nap(tick_ms));
	/* A clean stop hands leadership over at once instead of after the lease's time. */
	if (g_lease) {
		if (atomic_load(&g_leader))
			etcd_del(g_center.etcd, key, NULL);
		etcd_lease_revoke(g_center.etcd, g_lease, NULL);
	}
	atomic_store(&g_leader, false);
	return NULL;
}

int lead_start(struct verr *e)
{
	atomic_store(&g_stop, false);
	if (pthread_create(&g_thread, NULL, lead_loop, NULL) != 0)
		return verr_set(e, -EAGAIN, "cannot start the leadership thread");
	atomic_store(&g_started, true);
	return 0;
}

void lead_stop(void)
{
	if (!atomic_load(&g_started))
		return;
	pthread_mutex_lock(&g_lock);
	atomic_store(&g_stop, true);
	pthread_cond_broadcast(&g_wake);
	pthread_mutex_unlock(&g_lock);
	pthread_join(g_thread, NULL);
	atomic_store(&g_started, false);
}
