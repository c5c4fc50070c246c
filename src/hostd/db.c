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

void db_event(const char *user, int vm_id, const char *type, const char *fmt, ...)
{
	char msg[1024], when[40], vid[24];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	snprintf(vid, sizeof(vid), "%d", vm_id);
	const char *p[] = { when, user, vm_id > 0 ? vid : NULL, type, msg };
	db_exec("INSERT INTO events(time,user,vm_id,type,message) VALUES(?,?,?,?,?)", 5, p);
	LOG_INF("event %s vm=%d user=%s: %s", type, vm_id, user, msg);
}
