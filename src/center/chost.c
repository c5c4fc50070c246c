/*
 * chost.c - the hosts a center manages: their hostd's URL and credentials in
 * etcd (PREFIX hosts/NAME), and calls to their API with libcurl.  A session
 * token per host is cached in this process and renewed when hostd answers
 * 401; the password stays in etcd, which the cluster's operators secure as
 * they would any credential store (TLS and client certificates for etcd, as
 * its documentation describes).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "center.h"
#include "curlbuf.h"

#define CHOST_TIMEOUT_S 60L
#define CHOST_PROBE_TIMEOUT_S 3L
#define CHOST_MAX_CACHE 64

struct tok {
	char host[CENTER_NAME_MAX + 1];
	char token[80];
};
static struct tok g_tok[CHOST_MAX_CACHE];
static pthread_mutex_t g_tok_lock = PTHREAD_MUTEX_INITIALIZER;

struct hostrec {
	char name[CENTER_NAME_MAX + 1], url[512], user[128], password[1100];
};

/* One HTTP exchange with a hostd; status or -errno (unreachable). */
static long http(const struct hostrec *h, const char *method, const char *path, json_t *body,
		 const char *token, long timeout_s, json_t **reply, struct verr *e)
{
	char url[1200], auth[128], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	struct curlbuf b = { NULL, 0, 0 };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	CURL *cu = curl_easy_init();
	long status = -EHOSTUNREACH;
	CURLcode cr;

	*reply = NULL;
	if (!cu) {
		curl_slist_free_all(hd);
		free(text);
		return verr_set(e, -ENOMEM, "cannot initialise libcurl");
	}
	snprintf(url, sizeof(url), "%s/api/v1%s", h->url, path);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hd = curl_slist_append(hd, auth);
	}
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, curlbuf_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 3L);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	if (getenv("VMX3_CA_CERT"))
		curl_easy_setopt(cu, CURLOPT_CAINFO, getenv("VMX3_CA_CERT"));
	if (text)
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, text);
	cr = curl_easy_perform(cu);
	if (cr == CURLE_OK) {
		curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
		*reply = b.p ? json_loads(b.p, 0, NULL) : NULL;
		if (!*reply)
			*reply = json_pack("{s:{s:s, s:s}}", "error", "code", "badReply", "message",
					   "the host's reply is not JSON");
	} else {
		verr_set(e, -EHOSTUNREACH, "host '%s' (%s) is unreachable: %s", h->name, h->url,
			 cerr[0] ? cerr : curl_easy_strerror(cr));
	}
	curl_easy_cleanup(cu);
	curl_slist_free_all(hd);
	free(text);
	free(b.p);
	return status;
}

static int host_load(const char *name, struct hostrec *h, struct verr *e)
{
	char key[200];
	struct etcd_kv kv;
	int rc;

	if (!center_name_ok(name, CENTER_NAME_MAX))
		return verr_set(e, -ENOENT, "host: no host named '%s'", name);
	rc = etcd_get(g_center.etcd, center_key(key, sizeof(key), "hosts/%s", name), &kv, e);
	if (rc == -ENOENT)
		return verr_set(e, -ENOENT, "host: no host named '%s'", name);
	if (rc < 0)
		return rc;
	json_t *j = json_loads(kv.value, 0, NULL);
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->url, sizeof(h->url), "%s", json_string_value(json_object_get(j, "url")) ?: "");
	snprintf(h->user, sizeof(h->user), "%s", json_string_value(json_object_get(j, "user")) ?: "");
	snprintf(h->password, sizeof(h->password), "%s",
		 json_string_value(json_object_get(j, "password")) ?: "");
	json_decref(j);
	free(kv.key);
	free(kv.value);
	return 0;
}

static void tok_get(const char *host, char *out, size_t len)
{
	out[0] = 0;
	pthread_mutex_lock(&g_tok_lock);
	for (unsigned i = 0; i < CHOST_MAX_CACHE; i++)
		if (!strcmp(g_tok[i].host, host))
			snprintf(out, len, "%s", g_tok[i].token);
	pthread_mutex_unlock(&g_tok_lock);
}

static void tok_set(const char *host, const char *token)
{
	unsigned slot = CHOST_MAX_CACHE;
	pthread_mutex_lock(&g_tok_lock);
	for (unsigned i = 0; i < CHOST_MAX_CACHE && slot == CHOST_MAX_CACHE; i++)
		if (!strcmp(g_tok[i].host, host) || !g_tok[i].host[0])
			slot = i;
	if (slot == CHOST_MAX_CACHE)
		slot = 0;
	snprintf(g_tok[slot].host, sizeof(g_tok[slot].host), "%s", host);
	snprintf(g_tok[slot].token, sizeof(g_tok[slot].token), "%s", token);
	pthread_mutex_unlock(&g_tok_lock);
}

static int host_login(const struct hostrec *h, char *token, size_t len, struct verr *e)
{
	json_t *r, *body = json_pack("{s:s, s:s}", "username", h->user, "password", h->password);
	/* hostd's argon2id check takes a good fraction of a second. */
	long st = http(h, "POST", "/session", body, NULL, CHOST_PROBE_TIMEOUT_S * 10, &r, e);
	json_decref(body);
	if (st < 0) {
		json_decref(r);
		return (int)st;
	}
	if (st != 200) {
		const char *m = json_string_value(json_object_get(json_object_get(r, "error"),
								  "message"));
		verr_set(e, -EACCES, "host '%s' refused the center's login as '%s': %s", h->name,
			 h->user, m ? m : "no reason given");
		json_decref(r);
		return -EACCES;
	}
	snprintf(token, len, "%s", json_string_value(json_object_get(r, "token")) ?: "");
	json_decref(r);
	tok_set(h->name, token);
	return 0;
}

static long call_rec(const struct hostrec *h, const char *method, const char *path, json_t *body,
		     long timeout_s, json_t **reply, struct verr *e)
{
	char token[80];
	long st;

	tok_get(h->name, token, sizeof(token));
	if (!token[0] && host_login(h, token, sizeof(token), e) < 0) {
		*reply = NULL;
		return -EACCES;
	}
	st = http(h, method, path, body, token, timeout_s, reply, e);
	if (st == 401) {
		json_decref(*reply);
		if (host_login(h, token, sizeof(token), e) < 0) {
			*reply = NULL;
			return -EACCES;
		}
		st = http(h, method, path, body, token, timeout_s, reply, e);
	}
	return st;
}

long chost_call(const char *host, const char *method, const char *path, json_t *body,
		json_t **reply, struct verr *e)
{
	struct hostrec h;
	int rc = host_load(host, &h, e);

	*reply = NULL;
	if (rc < 0)
		return rc;
	return call_rec(&h, method, path, body, CHOST_TIMEOUT_S, reply, e);
}

int chost_add(const char *name, const char *url, const char *user, const char *password,
	      json_t **host, struct verr *e)
{
	struct hostrec h = { 0 };
	char key[200], token[80];
	json_t *r = NULL;
	long st;
	int rc;

	if (!name || !center_name_ok(name, CENTER_NAME_MAX))
		return verr_set(e, -EINVAL, "name: 1-%d letters, digits, '-', '_', '.'",
				CENTER_NAME_MAX);
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strlen(url) >= sizeof(h.url))
		return verr_set(e, -EINVAL, "url: hostd's http:// or https:// address");
	if (!user || !*user || strlen(user) >= sizeof(h.user))
		return verr_set(e, -EINVAL, "user: the hostd user the center acts as");
	if (!password || !*password || strlen(password) >= sizeof(h.password))
		return verr_set(e, -EINVAL, "password: that user's password");
	snprintf(h.name, sizeof(h.name), "%s", name);
	snprintf(h.url, sizeof(h.url), "%s", url);
	while (strlen(h.url) > 8 && h.url[strlen(h.url) - 1] == '/')
		h.url[strlen(h.url) - 1] = 0;
	snprintf(h.user, sizeof(h.user), "%s", user);
	snprintf(h.password, sizeof(h.password), "%s", password);
	rc = host_login(&h, token, sizeof(token), e);
	if (rc < 0)
		return rc;
	st = http(&h, "GET", "/host", NULL, token, CHOST_PROBE_TIMEOUT_S, &r, e);
	if (st != 200 || strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "hostd")) {
		json_decref(r);
		return verr_set(e, st < 0 ? (int)st : -EPROTO, "url: %s is not a hostd (GET /host "
				"said HTTP %ld)", h.url, st);
	}
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "name", h.name, "url", h.url, "user",
				h.user, "password", h.password);
	char *text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	rc = etcd_put(g_center.etcd, center_key(key, sizeof(key), "hosts/%s", name), text, 0, NULL,
		      e);
	free(text);
	if (rc < 0) {
		json_decref(r);
		return rc;
	}
	*host = json_pack("{s:s, s:s, s:s, s:O}", "name", h.name, "url", h.url, "state", "connected",
			  "hostd", r);
	json_decref(r);
	return 0;
}

int chost_del(const char *name, struct verr *e)
{
	char key[200];
	struct hostrec h;
	int rc = host_load(name, &h, e);

	if (rc < 0)
		return rc;
	return etcd_del(g_center.etcd, center_key(key, sizeof(key), "hosts/%s", name), e);
}

json_t *chost_list(bool probe)
{
	char key[200];
	struct etcd_kv *kv;
	unsigned n;
	json_t *out = json_array();

	if (etcd_list(g_center.etcd, center_key(key, sizeof(key), "hosts/"), &kv, &n, NULL) < 0)
		return out;
	for (unsigned i = 0; i < n; i++) {
		json_t *j = json_loads(kv[i].value, 0, NULL);
		struct hostrec h = { 0 };
		snprintf(h.name, sizeof(h.name), "%s", json_string_value(json_object_get(j, "name")) ?: "");
		snprintf(h.url, sizeof(h.url), "%s", json_string_value(json_object_get(j, "url")) ?: "");
		snprintf(h.user, sizeof(h.user), "%s", json_string_value(json_object_get(j, "user")) ?: "");
		snprintf(h.password, sizeof(h.password), "%s",
			 json_string_value(json_object_get(j, "password")) ?: "");
		json_decref(j);
		json_t *o = json_pack("{s:s, s:s}", "name", h.name, "url", h.url);
		if (probe) {
			struct verr e = { "" };
			json_t *r = NULL;
			long st = call_rec(&h, "GET", "/host", NULL, CHOST_PROBE_TIMEOUT_S, &r, &e);
			if (st == 200) {
				json_object_set_new(o, "state", json_string("connected"));
				json_object_set(o, "hostd", r);
			} else {
				json_object_set_new(o, "state", json_string("unreachable"));
				json_object_set_new(o, "message", json_string(
					st < 0 ? e.msg : "GET /host did not answer 200"));
			}
			json_decref(r);
		}
		json_array_append_new(out, o);
	}
	etcd_kv_free(kv, n);
	return out;
}
