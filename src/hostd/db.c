/*
 * db.c - hostd's inventory in SQLite (hostd.db in the state directory):
 * registered VMs and what hostd knows of their processes, tasks, events,
 * users and sessions.  The .vmx file stays the source of truth for a VM's
 * configuration; the database only records what hostd needs to find the VM
 * again and to adopt its vmx after a restart.
 *
 * One connection, serialized by its own mutex; WAL so a crash of hostd at any
 * moment leaves a consistent database.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../lib/log.h"
#include "hostd.h"

static sqlite3 *g_db;
static pthread_mutex_t g_db_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int64_t g_last_id;
static uint64_t g_events_max_age = 90ull * 24 * 3600, g_events_max_count = 100000;
static uint64_t g_coalesce_s = 60;

#define EVENT_USER_MAX 64
#define EVENT_PRUNE_EVERY 256
#define EVENT_COALESCE_SLOTS 256

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS vms ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, file TEXT NOT NULL UNIQUE,"
	" path TEXT NOT NULL, power TEXT NOT NULL DEFAULT 'poweredOff', pid INTEGER DEFAULT 0,"
	" pid_start INTEGER DEFAULT 0, running_bt TEXT DEFAULT 'default',"
	" revert_at INTEGER DEFAULT 0, last_exit TEXT DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS tasks ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, vm_id INTEGER, op TEXT, user TEXT,"
	" state TEXT, started INTEGER, updated INTEGER, body TEXT);"
	"CREATE TABLE IF NOT EXISTS events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT, user TEXT, vm_id INTEGER,"
	" type TEXT, message TEXT);"
	"CREATE TABLE IF NOT EXISTS users ("
	" name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sessions ("
	" token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, expires INTEGER NOT NULL);";

int db_open(const char *path, struct verr *e)
{
	char *err = NULL;

	if (sqlite3_open_v2(path, &g_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		verr_set(e, -EIO, "%s: %s", path, g_db ? sqlite3_errmsg(g_db) : "cannot open");
		sqlite3_close(g_db);
		g_db = NULL;
		return -EIO;
	}
	sqlite3_busy_timeout(g_db, 5000);
	if (sqlite3_exec(g_db, schema, NULL, NULL, &err) != SQLITE_OK) {
		verr_set(e, -EIO, "%s: schema: %s", path, err ? err : "?");
		sqlite3_free(err);
		sqlite3_close(g_db);
		g_db = NULL;
		return -EIO;
	}
	return 0;
}

void db_close(void)
{
	pthread_mutex_lock(&g_db_lock);
	sqlite3_close(g_db);
	g_db = NULL;
	pthread_mutex_unlock(&g_db_lock);
}

static sqlite3_stmt *prepare(const char *sql, int nparams, const char *const *params)
{
	sqlite3_stmt *st = NULL;

	if (!g_db || sqlite3_prepare_v2(g_db, sql, -1, &st, NULL) != SQLITE_OK) {
		LOG_ERR("hostd db: %s: %s", sql, g_db ? sqlite3_errmsg(g_db) : "closed");
		return NULL;
	}
	for (int i = 0; i < nparams; i++) {
		if (params[i])
			sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, i + 1);
	}
	return st;
}

int db_exec(const char *sql, int nparams, const char *const *params)
{
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&g_db_lock);
	st = prepare(sql, nparams, params);
	if (!st) {
		pthread_mutex_unlock(&g_db_lock);
		return -EIO;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		LOG_ERR("hostd db: %s: %s", sql, sqlite3_errmsg(g_db));
	g_last_id = sqlite3_last_insert_rowid(g_db);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&g_db_lock);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

int64_t db_last_id(void)
{
	return g_last_id;
}

json_t *db_query(const char *sql, int nparams, const char *const *params)
{
	json_t *rows = json_array();
	sqlite3_stmt *st;

	pthread_mutex_lock(&g_db_lock);
	st = prepare(sql, nparams, params);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_t *row = json_object();
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *col = sqlite3_column_name(st, i);
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				json_object_set_new(row, col, json_integer(sqlite3_column_int64(st, i)));
				break;
			case SQLITE_NULL:
				json_object_set_new(row, col, json_null());
				break;
			default:
				json_object_set_new(row, col,
						    json_string((const char *)sqlite3_column_text(st, i)));
			}
		}
		json_array_append_new(rows, row);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&g_db_lock);
	return rows;
}

static void iso_time(time_t t, long ms, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* A user name as stored in an event: at most EVENT_USER_MAX bytes, marked when cut. */
static void event_user(const char *user, char *out, size_t len)
{
	size_t n = strlen(user ? user : "");

	if (n <= EVENT_USER_MAX)
		snprintf(out, len, "%s", user ? user : "");
	else
		snprintf(out, len, "%.*s...(%zu bytes)", EVENT_USER_MAX, user, n);
}

static int64_t event_insert(const char *user, int vm_id, const char *type, const char *msg)
{
	char when[40], vid[24], u[EVENT_USER_MAX + 32];
	struct timespec ts;
	int64_t id;

	clock_gettime(CLOCK_REALTIME, &ts);
	iso_time(ts.tv_sec, ts.tv_nsec / 1000000, when, sizeof(when));
	snprintf(vid, sizeof(vid), "%d", vm_id);
	event_user(user, u, sizeof(u));
	const char *p[] = { when, u, vm_id > 0 ? vid : NULL, type, msg };
	db_exec("INSERT INTO events(time,user,vm_id,type,message) VALUES(?,?,?,?,?)", 5, p);
	id = db_last_id();
	LOG_INF("event %s vm=%d user=%s: %s", type, vm_id, u, msg);
	if (id % EVENT_PRUNE_EVERY == 0)
		db_prune_events();
	return id;
}

void db_event(const char *user, int vm_id, const char *type, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	event_insert(user, vm_id, type, msg);
}

void db_set_event_limits(uint64_t max_age_s, uint64_t max_count, uint64_t coalesce_s)
{
	g_events_max_age = max_age_s;
	g_events_max_count = max_count;
	g_coalesce_s = coalesce_s;
}

void db_prune_events(void)
{
	char cutoff[40], keep[24];

	if (g_events_max_age) {
		iso_time(time(NULL) - (time_t)g_events_max_age, 0, cutoff, sizeof(cutoff));
		const char *p[] = { cutoff };
		db_exec("DELETE FROM events WHERE time < ?", 1, p);
	}
	if (g_events_max_count) {
		snprintf(keep, sizeof(keep), "%llu", (unsigned long long)g_events_max_count);
		const char *p[] = { keep };
		db_exec("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", 1, p);
	}
}

/*
 * Coalesced events: the first of (type, key) in an interval is a row; later
 * ones in the same interval only count, and the row's message is rewritten
 * with the count at most once a second.  So refused logins, which anyone can
 * cause without logging in, write a bounded number of rows.
 */
struct coalesce {
	char type[32];
	char key[EVENT_USER_MAX + 1];
	int64_t id;
	time_t start, written;
	unsigned count;
	char msg[512];
};
static struct coalesce g_coal[EVENT_COALESCE_SLOTS];
static pthread_mutex_t g_coal_lock = PTHREAD_MUTEX_INITIALIZER;

static void coalesce_write(struct coalesce *c)
{
	char msg[700], ids[24];

	if (c->count > 1) {
		char since[40];
		iso_time(c->start, 0, since, sizeof(since));
		snprintf(msg, sizeof(msg), "%s (%u times since %s)", c->msg, c->count, since);
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	snprintf(ids, sizeof(ids), "%lld", (long long)c->id);
	const char *p[] = { msg, ids };
	db_exec("UPDATE events SET message=? WHERE id=?", 2, p);
	c->written = time(NULL);
}

void db_event_coalesced(const char *user, const char *type, const char *key, const char *msg)
{
	struct coalesce *c = NULL, *oldest = &g_coal[0];
	time_t now = time(NULL);

	pthread_mutex_lock(&g_coal_lock);
	for (int i = 0; i < EVENT_COALESCE_SLOTS; i++) {
		if (!strcmp(g_coal[i].type, type) && !strncmp(g_coal[i].key, key, EVENT_USER_MAX) &&
		    g_coal[i].id) {
			c = &g_coal[i];
			break;
		}
		if (g_coal[i].start < oldest->start)
			oldest = &g_coal[i];
	}
	if (c && now - c->start < (time_t)g_coalesce_s) {
		c->count++;
		snprintf(c->msg, sizeof(c->msg), "%s", msg);
		if (now > c->written)
			coalesce_write(c);
		pthread_mutex_unlock(&g_coal_lock);
		return;
	}
	if (c && c->count > 1 && c->written < now)
		coalesce_write(c); /* the last count of the interval that ended */
	if (!c) {
		c = oldest;
		if (c->id && c->count > 1)
			coalesce_write(c);
	}
	memset(c, 0, sizeof(*c));
	snprintf(c->type, sizeof(c->type), "%s", type);
	snprintf(c->key, sizeof(c->key), "%s", key);
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	c->start = now;
	c->written = now;
	c->count = 1;
	c->id = event_insert(user, 0, type, msg);
	pthread_mutex_unlock(&g_coal_lock);
}
