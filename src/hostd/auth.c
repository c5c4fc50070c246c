/*
 * auth.c - users, passwords and sessions.
 *
 * Passwords are stored as argon2id hashes (libsodium's crypto_pwhash_str_alg,
 * "interactive" limits).  A login returns a random session token; only a hash
 * of the token is stored, so the database alone does not let anyone in.
 * Repeated failed logins for a name are slowed down: each failure doubles a
 * delay (0.25 s .. 8 s) before the reply, and after AUTH_LOCK_AFTER failures
 * the name is refused outright for AUTH_LOCK_SECONDS more.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../lib/log.h"
#include "hostd.h"

#define AUTH_SESSION_SECONDS (24 * 3600)
#define AUTH_LOCK_AFTER 5
#define AUTH_LOCK_SECONDS 30
#define AUTH_MAX_FAIL_SLOTS 64

struct fail_slot {
	char name[64];
	unsigned count;
	time_t until; /* refused before this time once locked */
};

static struct fail_slot g_fail[AUTH_MAX_FAIL_SLOTS];
static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;

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
	if (len == 0 || len >= 64)
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
		return verr_set(e, -EINVAL, "name: use 1-63 letters, digits, '-', '_', '.'");
	if (!password || strlen(password) < 4)
		return verr_set(e, -EINVAL, "password: at least 4 characters");
	if (crypto_pwhash_str_alg(hash, password, strlen(password),
				  crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return verr_set(e, -ENOMEM, "password hashing failed (out of memory)");
	const char *p[] = { name, hash, role_name(r) };
	if (db_exec("INSERT OR REPLACE INTO users(name,hash,role) VALUES(?,?,?)", 3, p) < 0)
		return verr_set(e, -EIO, "cannot store user '%s'", name);
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
	return 0;
}

static struct fail_slot *fail_slot(const char *name, bool create)
{
	struct fail_slot *oldest = &g_fail[0];

	for (int i = 0; i < AUTH_MAX_FAIL_SLOTS; i++) {
		if (g_fail[i].count && !strcmp(g_fail[i].name, name))
			return &g_fail[i];
		if (g_fail[i].until < oldest->until)
			oldest = &g_fail[i];
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->name, sizeof(oldest->name), "%s", name);
	return oldest;
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
	char th[65], exp[24];
	struct fail_slot *f;
	json_t *rows;
	bool ok = false;
	time_t now = time(NULL);
	const char *p[] = { name ? name : "" };

	*retry_s = 0;
	pthread_mutex_lock(&g_fail_lock);
	f = fail_slot(p[0], false);
	if (f && f->count >= AUTH_LOCK_AFTER && now < f->until) {
		*retry_s = (unsigned)(f->until - now);
		pthread_mutex_unlock(&g_fail_lock);
		return -EAGAIN;
	}
	pthread_mutex_unlock(&g_fail_lock);

	rows = db_query("SELECT hash, role FROM users WHERE name=?", 1, p);
	if (json_array_size(rows) == 1 && password) {
		json_t *row = json_array_get(rows, 0);
		const char *hash = json_string_value(json_object_get(row, "hash"));
		ok = hash && crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 &&
		     role_parse(json_string_value(json_object_get(row, "role")), r) == 0;
	} else if (password) {
		/* Same cost for unknown names, so timing does not reveal which exist. */
		char dummy[crypto_pwhash_STRBYTES];
		if (crypto_pwhash_str_alg(dummy, password, strlen(password),
				      crypto_pwhash_OPSLIMIT_INTERACTIVE,
				      crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
			LOG_WRN("password hashing failed (out of memory)");
	}
	json_decref(rows);

	pthread_mutex_lock(&g_fail_lock);
	if (!ok) {
		unsigned delay_ms;
		f = fail_slot(p[0], true);
		f->count++;
		delay_ms = 250u << (f->count - 1 < 5 ? f->count - 1 : 5);
		f->until = now + (delay_ms + 999) / 1000 + (f->count >= AUTH_LOCK_AFTER ? AUTH_LOCK_SECONDS : 0);
		pthread_mutex_unlock(&g_fail_lock);
		usleep(delay_ms * 1000u);
		return -EACCES;
	}
	f = fail_slot(p[0], false);
	if (f)
		memset(f, 0, sizeof(*f));
	pthread_mutex_unlock(&g_fail_lock);

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, 65, raw, sizeof(raw));
	token_hash(token, th);
	snprintf(exp, sizeof(exp), "%lld", (long long)(now + AUTH_SESSION_SECONDS));
	const char *sp[] = { th, p[0], exp };
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
