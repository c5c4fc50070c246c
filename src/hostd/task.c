/*
 * task.c - long operations as tasks a client can poll.
 *
 * A task is a row whose body is a JSON object: id, op, vm, user, state
 * ("running", "success", "error"), progress (0-100), phases (each with its
 * duration in ms), result or error, and times.  Every update is written to the
 * database at once, so a task survives a restart of hostd; a task still
 * "running" when hostd starts was interrupted and says so.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hostd.h"

static pthread_mutex_t g_task_lock = PTHREAD_MUTEX_INITIALIZER;

static void iso_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static json_t *load_body(int id)
{
	char ids[24];
	json_t *rows, *body = NULL;

	snprintf(ids, sizeof(ids), "%d", id);
	const char *p[] = { ids };
	rows = db_query("SELECT body FROM tasks WHERE id=?", 1, p);
	if (json_array_size(rows) == 1)
		body = json_loads(json_string_value(json_object_get(json_array_get(rows, 0), "body")),
				  0, NULL);
	json_decref(rows);
	return body;
}

static void store_body(int id, json_t *body)
{
	char ids[24], upd[24];
	char *text = json_dumps(body, JSON_COMPACT);

	snprintf(ids, sizeof(ids), "%d", id);
	snprintf(upd, sizeof(upd), "%lld", (long long)time(NULL));
	const char *p[] = { json_string_value(json_object_get(body, "state")), upd, text, ids };
	db_exec("UPDATE tasks SET state=?, updated=?, body=? WHERE id=?", 4, p);
	free(text);
}

int task_new(int vm_id, const char *op, const char *user, json_t *params)
{
	char vid[24], when[40], now[24];
	json_t *body;
	int id;

	snprintf(vid, sizeof(vid), "%d", vm_id);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	iso_now(when, sizeof(when));
	pthread_mutex_lock(&g_task_lock);
	const char *p[] = { vid, op, user, "running", now, now, "{}" };
	if (db_exec("INSERT INTO tasks(vm_id,op,user,state,started,updated,body) VALUES(?,?,?,?,?,?,?)",
		    7, p) < 0) {
		pthread_mutex_unlock(&g_task_lock);
		json_decref(params);
		return -EIO;
	}
	id = (int)db_last_id();
	body = json_pack("{s:i, s:s, s:i, s:s, s:s, s:i, s:s, s:[], s:s, s:o}", "id", id, "op", op,
			 "vm", vm_id, "user", user, "state", "running", "progress", 0, "what",
			 "started", "phases", "started", when, "params",
			 params ? params : json_object());
	store_body(id, body);
	json_decref(body);
	pthread_mutex_unlock(&g_task_lock);
	return id;
}

void task_progress(int id, int percent, const char *what)
{
	json_t *body;

	pthread_mutex_lock(&g_task_lock);
	body = load_body(id);
	if (body) {
		if (percent >= 0)
			json_object_set_new(body, "progress", json_integer(percent));
		if (what)
			json_object_set_new(body, "what", json_string(what));
		store_body(id, body);
		json_decref(body);
	}
	pthread_mutex_unlock(&g_task_lock);
}

void task_phase(int id, const char *name, uint64_t ms)
{
	json_t *body;

	pthread_mutex_lock(&g_task_lock);
	body = load_body(id);
	if (body) {
		json_array_append_new(json_object_get(body, "phases"),
				      json_pack("{s:s, s:I}", "name", name, "ms", (json_int_t)ms));
		store_body(id, body);
		json_decref(body);
	}
	pthread_mutex_unlock(&g_task_lock);
}

void task_phase_ms(int id, const char *name, double ms)
{
	json_t *body;

	pthread_mutex_lock(&g_task_lock);
	body = load_body(id);
	if (body) {
		json_array_append_new(json_object_get(body, "phases"),
				      json_pack("{s:s, s:f}", "name", name, "ms",
						(double)(int64_t)(ms * 1000 + 0.5) / 1000));
		store_body(id, body);
		json_decref(body);
	}
	pthread_mutex_unlock(&g_task_lock);
}

void task_finish(int id, json_t *result, const char *error)
{
	char when[40];
	json_t *body;

	iso_now(when, sizeof(when));
	pthread_mutex_lock(&g_task_lock);
	body = load_body(id);
	if (body) {
		json_object_set_new(body, "state", json_string(error ? "error" : "success"));
		json_object_set_new(body, "finished", json_string(when));
		if (!error)
			json_object_set_new(body, "progress", json_integer(100));
		if (error)
			json_object_set_new(body, "error", json_string(error));
		if (result)
			json_object_set(body, "result", result);
		store_body(id, body);
		json_decref(body);
	}
	pthread_mutex_unlock(&g_task_lock);
	json_decref(result);
}

json_t *task_get(int id)
{
	json_t *body;

	pthread_mutex_lock(&g_task_lock);
	body = load_body(id);
	pthread_mutex_unlock(&g_task_lock);
	return body;
}

json_t *task_list(int limit)
{
	char lim[24];
	json_t *rows, *out = json_array();
	size_t i;
	json_t *row;

	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	const char *p[] = { lim };
	rows = db_query("SELECT body FROM tasks ORDER BY id DESC LIMIT ?", 1, p);
	json_array_foreach(rows, i, row) {
		json_t *b = json_loads(json_string_value(json_object_get(row, "body")), 0, NULL);
		if (b)
			json_array_append_new(out, b);
	}
	json_decref(rows);
	return out;
}

json_t *task_interrupted(void)
{
	json_t *rows, *out = json_array(), *row;
	size_t i;

	rows = db_query("SELECT body FROM tasks WHERE state='running' ORDER BY id", 0, NULL);
	json_array_foreach(rows, i, row) {
		json_t *b = json_loads(json_string_value(json_object_get(row, "body")), 0, NULL);
		if (b)
			json_array_append_new(out, b);
	}
	json_decref(rows);
	return out;
}
