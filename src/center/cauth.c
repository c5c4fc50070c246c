/*
 * cauth.c - the center's users and sessions, kept in etcd so that every
 * vmx3-center of the cluster accepts the same logins and tokens.  Passwords
 * are argon2id hashes (libsodium, "interactive" limits); a session is stored
 * under the SHA-256 of its token with an etcd lease, so a copy of etcd's data
 * lets nobody in and an idle session ends by itself.  At most two argon2id
 * verifications (64 MiB each) run at once per process.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "center.h"

#define CAUTH_SESSION_S (8 * 3600)
#define CAUTH_NAME_MAX 64
#define CAUTH_PASSWORD_MAX 1024
#define CAUTH_MAX_VERIFY 2

static pthread_mutex_t g_vlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_vcond = PTHREAD_COND_INITIALIZER;
static unsigned g_vrunning;

const char *crole_name(enum crole r)
{
	return r == CROLE_ADMIN ? "admin" : r == CROLE_READONLY ? "read-only" : "none";
}

int crole_parse(const char *s, enum crole *r)
{
	if (s && !strcmp(s, "admin"))
		*r = CROLE_ADMIN;
	else if (s && (!strcmp(s, "read-only") || !strcmp(s, "readonly")))
		*r = CROLE_READONLY;
	else
		return -EINVAL;
	return 0;
}

int cauth_useradd(const char *name, const char *password, enum crole role, struct verr *e)
{
	char hash[crypto_pwhash_STRBYTES], key[200];
	int rc;

	if (!center_name_ok(name, CAUTH_NAME_MAX))
		return verr_set(e, -EINVAL, "name: 1-%d letters, digits, '-', '_', '.'",
				CAUTH_NAME_MAX);
	if (!password || !*password || strlen(password) > CAUTH_PASSWORD_MAX)
		return verr_set(e, -EINVAL, "password: 1-%d bytes", CAUTH_PASSWORD_MAX);
	if (crypto_pwhash_str_alg(hash, password, strlen(password),
				  crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return verr_set(e, -ENOMEM, "password: hashing failed (out of memory)");
	json_t *j = json_pack("{s:s, s:s}", "hash", hash, "role", crole_name(role));
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	rc = etcd_put(g_center.etcd, center_key(key, sizeof(key), "users/%s", name), text, 0, NULL,
		      e);
	free(text);
	return rc;
}

static void token_key(const char *token, char *out, size_t len)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	center_key(out, len, "sessions/%s", hex);
}

/* A real hash of a random password: verifying against it costs what a real user's does. */
static char g_dummy[crypto_pwhash_STRBYTES];
static pthread_once_t g_dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	char pw[33];
	unsigned char raw[16];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(pw, sizeof(pw), raw, sizeof(raw));
	if (crypto_pwhash_str_alg(g_dummy, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		g_dummy[0] = 0;
}

int cauth_login(const char *name, const char *password, char token[65], enum crole *role,
		struct verr *e)
{
	char key[200], hash[crypto_pwhash_STRBYTES] = "";
	unsigned char raw[32];
	struct etcd_kv kv;
	bool exists = false, ok;
	int64_t lease;
	int rc;

	*role = CROLE_NONE;
	if (!name || !password || !center_name_ok(name, CAUTH_NAME_MAX) || strlen(password) > CAUTH_PASSWORD_MAX)
		return verr_set(e, -EINVAL, "username: 1-%d letters, digits, '-', '_', '.'",
				CAUTH_NAME_MAX);
	rc = etcd_get(g_center.etcd, center_key(key, sizeof(key), "users/%s", name), &kv, e);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0) {
		json_t *j = json_loads(kv.value, 0, NULL);
		const char *h = json_string_value(json_object_get(j, "hash"));
		exists = h && crole_parse(json_string_value(json_object_get(j, "role")), role) == 0;
		if (exists)
			snprintf(hash, sizeof(hash), "%s", h);
		json_decref(j);
		free(kv.key);
		free(kv.value);
	}
	pthread_mutex_lock(&g_vlock);
	while (g_vrunning >= CAUTH_MAX_VERIFY)
		pthread_cond_wait(&g_vcond, &g_vlock);
	g_vrunning++;
	pthread_mutex_unlock(&g_vlock);
	/* The same work for unknown names, so timing does not tell which exist. */
	pthread_once(&g_dummy_once, dummy_init);
	ok = crypto_pwhash_str_verify(exists ? hash : g_dummy, password, strlen(password)) == 0 &&
	     exists;
	pthread_mutex_lock(&g_vlock);
	g_vrunning--;
	pthread_cond_signal(&g_vcond);
	pthread_mutex_unlock(&g_vlock);
	if (!ok) {
		*role = CROLE_NONE;
		return verr_set(e, -EACCES, "wrong user name or password");
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, 65, raw, sizeof(raw));
	rc = etcd_lease_grant(g_center.etcd, CAUTH_SESSION_S, &lease, e);
	if (rc < 0)
		return rc;
	json_t *s = json_pack("{s:s, s:s}", "user", name, "role", crole_name(*role));
	char *text = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	token_key(token, key, sizeof(key));
	rc = etcd_put(g_center.etcd, key, text, lease, NULL, e);
	free(text);
	return rc;
}

enum crole cauth_session(const char *token, char *user, size_t ulen)
{
	char key[200];
	struct etcd_kv kv;
	enum crole r = CROLE_NONE;

	user[0] = 0;
	if (!token || strlen(token) != 64)
		return CROLE_NONE;
	token_key(token, key, sizeof(key));
	if (etcd_get(g_center.etcd, key, &kv, NULL) < 0)
		return CROLE_NONE;
	json_t *j = json_loads(kv.value, 0, NULL);
	if (crole_parse(json_string_value(json_object_get(j, "role")), &r) == 0)
		snprintf(user, ulen, "%s", json_string_value(json_object_get(j, "user")) ?: "");
	json_decref(j);
	free(kv.key);
	free(kv.value);
	return user[0] ? r : CROLE_NONE;
}

void cauth_logout(const char *token)
{
	char key[200];
	struct etcd_kv kv;

	if (!token || strlen(token) != 64)
		return;
	token_key(token, key, sizeof(key));
	if (etcd_get(g_center.etcd, key, &kv, NULL) == 0) {
		if (kv.lease)
			etcd_lease_revoke(g_center.etcd, kv.lease, NULL);
		free(kv.key);
		free(kv.value);
	}
	etcd_del(g_center.etcd, key, NULL);
}
