/*
 * ctask.c - the center's tasks and events, in etcd.  A change the center
 * asks of a host (a build-type switch) runs as a task on that hostd; the
 * center's task mirrors it (state, progress, phases, result) and says which
 * host and hostd task it follows.  The leader follows its running tasks; a
 * new leader takes over every task still running, so a task never stays
 * "running" because the center that started it died: it ends as the host's
 * task ends, or fails with the reason when the host no longer knows it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "../lib/log.h"
#include "center.h"

#define CTASK_POLL_US 100000
#define CTASK_MAX_FOLLOW 256
/* A host silent this long fails the task (it is still the host's to finish). */
#define CTASK_UNREACHABLE_S 120

static int64_t g_following[CTASK_MAX_FOLLOW];
static pthread_mutex_t g_flock = PTHREAD_MUTEX_INITIALIZER;

static void now_iso(char *out, size_t len)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)(tv.tv_usec / 1000));
}

static const char *task_key(char *out, size_t len, int64_t id)
{
	/* Zero-padded: etcd lists keys in byte order, so tasks list in id order. */
	return center_key(out, len, "tasks/%012" PRId64, id);
}

static int put_json(const char *key, json_t *j, struct verr *e)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = text ? etcd_put(g_center.etcd, key, text, 0, NULL, e) :
			verr_set(e, -ENOMEM, "out of memory");
	free(text);
	return rc;
}

/* A new id: the store's revision after a write to the sequence key (unique, growing). */
static int64_t next_id(struct verr *e)
{
	char key[200];
	int64_t rev = 0;
	int rc = etcd_put(g_center.etcd, center_key(key, sizeof(key), "seq"), "", 0, &rev, e);
	return rc < 0 ? rc : rev;
}

void ctask_event(const char *user, const char *host, int vm, const char *type, const char *fmt,
		 ...)
{
	char msg[1024], key[200], t[40];
	va_list ap;
	int64_t id = next_id(NULL);

	if (id <= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	now_iso(t, sizeof(t));
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "time", t,
			      "user", user ? user : "", "host", host ? host : "", "type", type,
			      "message", msg);
	if (vm > 0)
		json_object_set_new(j, "vm", json_integer(vm));
	put_json(center_key(key, sizeof(key), "events/%012" PRId64, id), j, NULL);
	json_decref(j);
}

static json_t *newest(const char *prefix, int limit)
{
	char key[200];
	struct etcd_kv *kv;
	unsigned n;
	json_t *out = json_array();

	if (etcd_list(g_center.etcd, center_key(key, sizeof(key), "%s", prefix), &kv, &n, NULL) < 0)
		return out;
	for (unsigned i = n; i-- > 0 && (int)json_array_size(out) < limit;) {
		json_t *j = json_loads(kv[i].value, 0, NULL);
		if (j)
			json_array_append_new(out, j);
	}
	etcd_kv_free(kv, n);
	return out;
}

json_t *ctask_events(int limit)
{
	return newest("events/", limit);
}

json_t *ctask_list(int limit)
{
	return newest("tasks/", limit);
}

json_t *ctask_get(int64_t id)
{
	char key[200];
	struct etcd_kv kv;

	if (id <= 0 || etcd_get(g_center.etcd, task_key(key, sizeof(key), id), &kv, NULL) < 0)
		return NULL;
	json_t *j = json_loads(kv.value, 0, NULL);
	free(kv.key);
	free(kv.value);
	return j;
}

bool ctask_claim(int64_t id)
{
	bool ok = false;
	pthread_mutex_lock(&g_flock);
	for (unsigned i = 0; i < CTASK_MAX_FOLLOW; i++)
		if (g_following[i] == id)
			goto out;
	for (unsigned i = 0; i < CTASK_MAX_FOLLOW; i++)
		if (!g_following[i]) {
			g_following[i] = id;
			ok = true;
			break;
		}
out:
	pthread_mutex_unlock(&g_flock);
	return ok;
}

void ctask_release(int64_t id)
{
	pthread_mutex_lock(&g_flock);
	for (unsigned i = 0; i < CTASK_MAX_FOLLOW; i++)
		if (g_following[i] == id)
			g_following[i] = 0;
	pthread_mutex_unlock(&g_flock);
}

/* The host task's fields the center's task shows as they are. */
static void mirror(json_t *t, json_t *ht)
{
	static const char *const keys[] = { "state", "progress", "what", "phases", "result",
					    "error", "finished" };
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(ht, keys[i]);
		if (v)
			json_object_set(t, keys[i], v);
	}
}

static void *follow(void *arg)
{
	int64_t id = (int64_t)(intptr_t)arg;
	char key[200], ts[40];
	time_t silent_since = 0;

	task_key(key, sizeof(key), id);
	for (;;) {
		json_t *t = ctask_get(id), *ht = NULL;
		struct verr e = { "" };
		char path[64];

		/* Only the leader writes; a new leader takes the task over. */
		if (!t || !lead_is_leader() ||
		    strcmp(json_string_value(json_object_get(t, "state")) ?: "", "running")) {
			json_decref(t);
			break;
		}
		const char *host = json_string_value(json_object_get(t, "host"));
		snprintf(path, sizeof(path), "/tasks/%lld",
			 (long long)json_integer_value(json_object_get(t, "hostTask")));
		long st = chost_call(host ? host : "", "GET", path, NULL, &ht, &e);
		if (st == 200) {
			silent_since = 0;
			mirror(t, ht);
		} else if (st == 404 || st == -ENOENT) {
			json_object_set_new(t, "state", json_string("error"));
			json_object_set_new(t, "error", json_string(st == -ENOENT ? e.msg :
				"the host no longer knows the task (its hostd lost its state)"));
		} else {
			time_t now = time(NULL);
			if (!silent_since)
				silent_since = now;
			if (now - silent_since > CTASK_UNREACHABLE_S) {
				json_object_set_new(t, "state", json_string("error"));
				json_object_set_new(t, "error", json_string(
					st < 0 ? e.msg : "the host stopped answering about the task"));
			}
		}
		const char *state = json_string_value(json_object_get(t, "state")) ?: "";
		if (strcmp(state, "running")) {
			if (!json_object_get(t, "finished")) {
				now_iso(ts, sizeof(ts));
				json_object_set_new(t, "finished", json_string(ts));
			}
			ctask_event(json_string_value(json_object_get(t, "user")), host,
				    (int)json_integer_value(json_object_get(t, "vm")),
				    strcmp(state, "success") ? "taskFailed" : "taskDone",
				    "task %lld (%s on host %s): %s", (long long)id,
				    json_string_value(json_object_get(t, "op")) ?: "?", host ? host : "?",
				    strcmp(state, "success") ?
					    json_string_value(json_object_get(t, "error")) ?: "failed" :
					    "done");
		}
		bool done = strcmp(state, "running") != 0;
		if (lead_is_leader())
			put_json(key, t, NULL);
		json_decref(ht);
		json_decref(t);
		if (done)
			break;
		usleep(CTASK_POLL_US);
	}
	ctask_release(id);
	return NULL;
}

void ctask_spawn(int64_t id, void *(*fn)(void *))
{
	pthread_t th;
	pthread_attr_t at;

	if (!ctask_claim(id))
		return;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, fn, (void *)(intptr_t)id) != 0) {
		LOG_ERR("task %lld: cannot start its worker", (long long)id);
		ctask_release(id);
	}
	pthread_attr_destroy(&at);
}

static void follow_start(int64_t id)
{
	ctask_spawn(id, follow);
}

int ctask_put(json_t *t, struct verr *e)
{
	char key[200];
	return put_json(task_key(key, sizeof(key), json_integer_value(json_object_get(t, "id"))), t,
			e);
}

json_t *ctask_new(const char *op, const char *host, int vm, const char *user, json_t *params,
		  struct verr *e)
{
	char ts[40];
	int64_t id = next_id(e);

	if (id < 0)
		return NULL;
	now_iso(ts, sizeof(ts));
	return json_pack("{s:I, s:s, s:s, s:i, s:s, s:s, s:O, s:s, s:s, s:i}", "id", (json_int_t)id,
			 "op", op, "host", host, "vm", vm, "user", user, "started", ts, "params",
			 params, "center", g_center.cfg.name, "state", "running", "progress", 0);
}

void ctask_finish(json_t *t, const char *error)
{
	char ts[40];

	now_iso(ts, sizeof(ts));
	json_object_set_new(t, "state", json_string(error ? "error" : "success"));
	json_object_set_new(t, "progress", json_integer(100));
	json_object_set_new(t, "finished", json_string(ts));
	if (error)
		json_object_set_new(t, "error", json_string(error));
}

int64_t ctask_follow(const char *op, const char *host, int vm, const char *user, json_t *params,
		     json_t *host_task, struct verr *e)
{
	json_t *t = ctask_new(op, host, vm, user, params, e);
	int64_t id;
	int rc;

	if (!t)
		return -EIO;
	id = json_integer_value(json_object_get(t, "id"));
	/* The host's name for what it does (powerOn, suspend, changeBuildType) is the precise one. */
	if (json_is_string(json_object_get(host_task, "op")))
		json_object_set(t, "op", json_object_get(host_task, "op"));
	json_object_set_new(t, "hostTask",
			    json_integer(json_integer_value(json_object_get(host_task, "id"))));
	mirror(t, host_task);
	rc = ctask_put(t, e);
	json_decref(t);
	if (rc < 0)
		return rc;
	follow_start(id);
	return id;
}

void ctask_resume_all(void)
{
	char key[200];
	struct etcd_kv *kv;
	unsigned n;

	if (etcd_list(g_center.etcd, center_key(key, sizeof(key), "tasks/"), &kv, &n, NULL) < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		json_t *j = json_loads(kv[i].value, 0, NULL);
		if (!strcmp(json_string_value(json_object_get(j, "state")) ?: "", "running")) {
			int64_t id = json_integer_value(json_object_get(j, "id"));
			LOG_INF("task %lld: taking it over (started by %s)", (long long)id,
				json_string_value(json_object_get(j, "center")) ?: "?");
			if (!strcmp(json_string_value(json_object_get(j, "op")) ?: "", "migrate"))
				cmig_resume(id);
			else
				follow_start(id);
		}
		json_decref(j);
	}
	etcd_kv_free(kv, n);
}

void ctask_stop(void)
{
	/* Followers end within a poll once this center no longer leads. */
	for (int i = 0; i < 100; i++) {
		bool busy = false;
		pthread_mutex_lock(&g_flock);
		for (unsigned j = 0; j < CTASK_MAX_FOLLOW; j++)
			busy |= g_following[j] != 0;
		pthread_mutex_unlock(&g_flock);
		if (!busy)
			return;
		usleep(50000);
	}
}

void lead_on_elected(void)
{
	ctask_event("", "", 0, "leaderElected", "center %s leads the cluster", g_center.cfg.name);
	ctask_resume_all();
}
