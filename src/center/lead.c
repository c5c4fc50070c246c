/*
 * lead.c - which vmx3-center leads.  Each center holds an etcd lease of
 * lease_ttl_s seconds, kept alive every third of it, and tries every 200 ms
 * to create the leader key bound to that lease; whoever created it leads
 * until its lease ends (a stop, a crash, a network split), when etcd deletes
 * the key and the next try of another center succeeds.  A leader counts its
 * lease as alive only until lease_ttl_s (less a margin) after the last
 * keep-alive it sent that etcd answered, so it stops acting before etcd
 * could give the key to another, even when a keep-alive hangs.
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
static _Atomic uint64_t g_valid_until; /* CLOCK_MONOTONIC ms */
/* How often a follower tries to take the key, and the safety margin before the lease's end. */
#define LEAD_POLL_MS 200
#define LEAD_MARGIN_MS 500

static uint64_t mono_ms(void);
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;

/*
 * Leading needs the key and a lease known to be alive: a keep-alive that
 * hangs (etcd slow or cut off) must not leave this center acting after etcd
 * could have given the key to another.
 */
bool lead_is_leader(void)
{
	return atomic_load(&g_leader) && mono_ms() < atomic_load(&g_valid_until);
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

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Takes the leader key if it is free (or still ours after a keep-alive that failed for a moment). */
static void try_lead(const char *key, const char *value)
{
	struct verr e = { "" };
	struct etcd_kv kv;
	int rc = etcd_create(g_center.etcd, key, value, g_lease, NULL, &e);

	if (rc == -EEXIST && etcd_get(g_center.etcd, key, &kv, NULL) == 0) {
		rc = kv.lease == g_lease ? 0 : -EEXIST;
		free(kv.key);
		free(kv.value);
	}
	if (rc == 0) {
		atomic_store(&g_leader, true);
		LOG_INF("leading the cluster (lease %lld, %d s)", (long long)g_lease,
			g_center.cfg.lease_ttl_s);
		lead_on_elected();
	} else if (rc != -EEXIST) {
		LOG_WRN("leadership: %s", e.msg);
	}
}

static void *lead_loop(void *arg)
{
	const uint64_t ttl_ms = (uint64_t)g_center.cfg.lease_ttl_s * 1000;
	uint64_t last_ka = 0;
	char key[128], value[512];
	struct verr e = { "" };

	(void)arg;
	center_key(key, sizeof(key), "leader");
	snprintf(value, sizeof(value), "{\"name\":\"%s\",\"url\":\"%s\"}", g_center.cfg.name,
		 g_center.url);
	do {
		uint64_t now = mono_ms();
		if (!g_lease) {
			if (etcd_lease_grant(g_center.etcd, g_center.cfg.lease_ttl_s, &g_lease, &e) < 0) {
				LOG_WRN("leadership: %s", e.msg);
				g_lease = 0;
				continue;
			}
			last_ka = now;
			atomic_store(&g_valid_until, now + ttl_ms - LEAD_MARGIN_MS);
		} else if (now - last_ka >= ttl_ms / 3) {
			if (etcd_lease_keepalive(g_center.etcd, g_lease, &e) < 0) {
				/* Whatever happened (expired, etcd unreachable), this center stops leading now. */
				if (atomic_exchange(&g_leader, false))
					LOG_WRN("leadership lost: %s", e.msg);
				if (strstr(e.msg, "expired"))
					g_lease = 0;
				continue;
			}
			last_ka = now;
			/* From when the keep-alive was sent: etcd counts the lease from its arrival. */
			atomic_store(&g_valid_until, now + ttl_ms - LEAD_MARGIN_MS);
		}
		if (!atomic_load(&g_leader))
			try_lead(key, value);
	} while (nap(LEAD_POLL_MS));
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
