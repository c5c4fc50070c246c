/*
 * auth.c - users, passwords and sessions.
 *
 * Passwords are stored as argon2id hashes (libsodium's crypto_pwhash_str_alg,
 * "interactive" limits).  A login returns a random session token; only a hash
 * of the token is stored, so the database alone does not let anyone in.
 * Repeated failed logins for a name are slowed down: each failure doubles a
 * delay (0.25 s .. 8 s) before the reply, and after AUTH_LOCK_AFTER attempts
 * without a success the name is refused outright for AUTH_LOCK_SECONDS more.
 * At most AUTH_MAX_VERIFY argon2id computations (64 MiB each) run at once.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../lib/log.h"
#include "hostd.h"

#define AUTH_SESSION_SECONDS (24 * 3600)
#define AUTH_LOCK_AFTER 5
#define AUTH_LOCK_SECONDS 30
/* argon2id at the interactive limits takes 64 MiB: this many run at once... */
#define AUTH_MAX_VERIFY 2
/* ...and this many more wait for a turn; beyond that a login gets -EBUSY (503). */
#define AUTH_MAX_WAIT 16

/*
 * Failure counts.  Each existing user has its own entry (so junk names cannot
 * push a user's count out); every unknown name shares one bucket, so a flood of
 * made-up names locks only made-up names.  Entries exist only for names in the
 * users table, so the list is as long as that table at most.
 */
struct fail_entry {
	char name[AUTH_NAME_MAX + 1];
	unsigned count;
	time_t until; /* refused before this time once locked */
	struct fail_entry *next;
};

static struct fail_entry *g_fail;
static struct fail_entry g_fail_unknown = { "(unknown)", 0, 0, NULL };
static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t g_verify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_verify_cond = PTHREAD_COND_INITIALIZER;
static unsigned g_verify_running, g_verify_waiting;

static void fail_forget(const char *name);

const char *role_name(enum role r)
{
	return r == ROLE_ADMIN ? "admin" : r == ROLE_READONLY ? "read-only" : "none";
}

int role_parse(const char *s, enum role *out)
{
	if (s && !strcmp(s, "admin"))
		*out = ROLE_ADMIN;
	else if (s && (!strcmp(s, "read-only") || !strcmp(s, "readonly")))
		*out = ROLE_READONLY;
	else
		return -EINVAL;
	return 0;
}

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static bool user_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > AUTH_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

int auth_user_add(const char *name, const char *password, enum role r, struct verr *e)
{
	char hash[crypto_pwhash_STRBYTES];

	if (!name || !user_name_ok(name))
		return verr_set(e, -EINVAL, "name: use 1-%d letters, digits, '-', '_', '.'",
				AUTH_NAME_MAX);
	if (!password || strlen(password) < 4)
		return verr_set(e, -EINVAL, "password: at least 4 characters");
	if (crypto_pwhash_str_alg(hash, password, strlen(password),
				  crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return verr_set(e, -ENOMEM, "password hashing failed (out of memory)");
	const char *p[] = { name, hash, role_name(r) };
	if (db_exec("INSERT OR REPLACE INTO users(name,hash,role) VALUES(?,?,?)", 3, p) < 0)
		return verr_set(e, -EIO, "cannot store user '%s'", name);
	/* A replaced password (or role) ends every session of the old one. */
	db_exec("DELETE FROM sessions WHERE user=?", 1, p);
	fail_forget(name);
	return 0;
}

int auth_user_del(const char *name, struct verr *e)
{
	const char *p[] = { name };
	json_t *rows = db_query("SELECT name FROM users WHERE name=?", 1, p);
	bool found = json_array_size(rows) > 0;

	json_decref(rows);
	if (!found)
		return verr_set(e, -ENOENT, "name: no user '%s'", name);
	db_exec("DELETE FROM users WHERE name=?", 1, p);
	db_exec("DELETE FROM sessions WHERE user=?", 1, p);
	fail_forget(name);
	return 0;
}

/* The entry counting failures for name (lock held); exists: name is a user. */
static struct fail_entry *fail_entry(const char *name, bool exists)
{
	struct fail_entry *f;

	if (!exists)
		return &g_fail_unknown;
	for (f = g_fail; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return &g_fail_unknown;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->next = g_fail;
	g_fail = f;
	return f;
}

/* Forgets the count of a user that is removed (or whose password is replaced). */
static void fail_forget(const char *name)
{
	pthread_mutex_lock(&g_fail_lock);
	for (struct fail_entry **pp = &g_fail; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name)) {
			struct fail_entry *f = *pp;
			*pp = f->next;
			free(f);
			break;
		}
	pthread_mutex_unlock(&g_fail_lock);
}

/* Waits for one of the AUTH_MAX_VERIFY argon2id slots; -EBUSY when the queue is full. */
static int verify_enter(void)
{
	pthread_mutex_lock(&g_verify_lock);
	if (g_verify_running >= AUTH_MAX_VERIFY && g_verify_waiting >= AUTH_MAX_WAIT) {
		pthread_mutex_unlock(&g_verify_lock);
		return -EBUSY;
	}
	g_verify_waiting++;
	while (g_verify_running >= AUTH_MAX_VERIFY)
		pthread_cond_wait(&g_verify_cond, &g_verify_lock);
	g_verify_waiting--;
	g_verify_running++;
	pthread_mutex_unlock(&g_verify_lock);
	return 0;
}

static void verify_leave(void)
{
	pthread_mutex_lock(&g_verify_lock);
	g_verify_running--;
	pthread_cond_signal(&g_verify_cond);
	pthread_mutex_unlock(&g_verify_lock);
}

static void token_hash(const char *token, char out[65])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

int auth_login(const char *name, const char *password, char token[65], enum role *r,
	       unsigned *retry_s)
{
	unsigned char raw[32];
	char th[65], exp[24], *hash = NULL;
	struct fail_entry *f;
	json_t *rows;
	bool ok = false, exists;
	unsigned count;
	time_t now = time(NULL);
	int rc;

	*retry_s = 0;
	/* Refused before anything else: no lookup, no count, no hashing. */
	if (!name || !password || !user_name_ok(name) || strlen(password) > AUTH_PASSWORD_MAX)
		return -EINVAL;
	const char *p[] = { name };
	rows = db_query("SELECT hash, role FROM users WHERE name=?", 1, p);
	exists = json_array_size(rows) == 1;
	if (exists) {
		json_t *row = json_array_get(rows, 0);
		const char *h = json_string_value(json_object_get(row, "hash"));
		hash = h ? strdup(h) : NULL;
		if (role_parse(json_string_value(json_object_get(row, "role")), r) < 0)
			exists = false;
	}
	json_decref(rows);

	/*
	 * The attempt counts before the password is verified, so parallel guesses
	 * get AUTH_LOCK_AFTER verifications in all, not one per request in flight.
	 */
	pthread_mutex_lock(&g_fail_lock);
	f = fail_entry(name, exists);
	if (f->count >= AUTH_LOCK_AFTER && now < f->until) {
		*retry_s = (unsigned)(f->until - now);
		pthread_mutex_unlock(&g_fail_lock);
		free(hash);
		return -EAGAIN;
	}
	if (f->count >= AUTH_LOCK_AFTER)
		f->count = 0; /* the lock has expired */
	count = ++f->count;
	if (count >= AUTH_LOCK_AFTER)
		f->until = now + 8 + AUTH_LOCK_SECONDS;
	pthread_mutex_unlock(&g_fail_lock);

	rc = verify_enter();
	if (rc < 0) {
		/* Not verified: the attempt does not count against the name. */
		pthread_mutex_lock(&g_fail_lock);
		if (f->count)
			f->count--;
		pthread_mutex_unlock(&g_fail_lock);
		free(hash);
		return rc;
	}
	if (exists && hash) {
		ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	} else {
		/* Same cost for unknown names, so timing does not reveal which exist. */
		char dummy[crypto_pwhash_STRBYTES];
		if (crypto_pwhash_str_alg(dummy, password, strlen(password),
				      crypto_pwhash_OPSLIMIT_INTERACTIVE,
				      crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
			LOG_WRN("password hashing failed (out of memory)");
	}
	verify_leave();
	free(hash);

	if (!ok) {
		unsigned delay_ms = 250u << (count - 1 < 5 ? count - 1 : 5);
		usleep(delay_ms * 1000u);
		return -EACCES;
	}
	pthread_mutex_lock(&g_fail_lock);
	f->count = 0;
	f->until = 0;
	pthread_mutex_unlock(&g_fail_lock);

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, 65, raw, sizeof(raw));
	token_hash(token, th);
	snprintf(exp, sizeof(exp), "%lld", (long long)(now + AUTH_SESSION_SECONDS));
	const char *sp[] = { th, name, exp };
	db_exec("DELETE FROM sessions WHERE expires < strftime('%s','now')", 0, NULL);
	return db_exec("INSERT INTO sessions(token_hash,user,expires) VALUES(?,?,?)", 3, sp);
}

enum role auth_session(const char *token, char *user, size_t len)
{
	char th[65];
	enum role r = ROLE_NONE;
	json_t *rows;

	if (!token || strlen(token) != 64)
		return ROLE_NONE;
	token_hash(token, th);
	const char *p[] = { th };
	rows = db_query("SELECT s.user AS user, u.role AS role FROM sessions s JOIN users u "
			"ON u.name = s.user WHERE s.token_hash=? AND s.expires >= strftime('%s','now')",
			1, p);
	if (json_array_size(rows) == 1) {
		json_t *row = json_array_get(rows, 0);
		if (role_parse(json_string_value(json_object_get(row, "role")), &r) < 0)
			r = ROLE_NONE;
		snprintf(user, len, "%s", json_string_value(json_object_get(row, "user")));
	}
	json_decref(rows);
	return r;
}

void auth_logout(const char *token)
{
	char th[65];

	if (!token || strlen(token) != 64)
		return;
	token_hash(token, th);
	const char *p[] = { th };
	db_exec("DELETE FROM sessions WHERE token_hash=?", 1, p);
}
