/*
 * etcd.c - etcd v3 through its JSON gateway (etcd.h).  Keys and values are
 * base64 in the JSON (libsodium's codec); 64-bit numbers come as strings.
 * A request goes to the endpoint that answered last, then to the others: an
 * unreachable member costs one timeout, not the call.
 */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "curlbuf.h"
#include "etcd.h"

#define ETCD_MAX_ENDPOINTS 8
#define ETCD_TIMEOUT_MS 3000L
#define ETCD_MAX_REPLY (64u << 20)

struct etcd {
	unsigned n, good;
	char url[ETCD_MAX_ENDPOINTS][256];
};

int etcd_open(const char *endpoints, struct etcd **out, struct verr *e)
{
	struct etcd *c = calloc(1, sizeof(*c));
	const char *p = endpoints;

	if (!c)
		return verr_set(e, -ENOMEM, "out of memory");
	while (p && *p) {
		const char *end = strchrnul(p, ',');
		size_t l = (size_t)(end - p);
		if (c->n == ETCD_MAX_ENDPOINTS || l == 0 || l >= sizeof(c->url[0]) ||
		    (strncmp(p, "http://", 7) && strncmp(p, "https://", 8))) {
			free(c);
			return verr_set(e, -EINVAL, "etcd: endpoint '%.*s' is not an http:// or "
					"https:// URL (at most %d, comma-separated)", (int)l, p,
					ETCD_MAX_ENDPOINTS);
		}
		memcpy(c->url[c->n], p, l);
		c->url[c->n][l] = 0;
		while (l && c->url[c->n][l - 1] == '/')
			c->url[c->n][--l] = 0;
		c->n++;
		p = *end ? end + 1 : end;
	}
	if (!c->n) {
		free(c);
		return verr_set(e, -EINVAL, "etcd: no endpoint given");
	}
	*out = c;
	return 0;
}

void etcd_close(struct etcd *c)
{
	free(c);
}

void etcd_kv_free(struct etcd_kv *kv, unsigned n)
{
	if (!kv)
		return;
	for (unsigned i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static json_t *b64(const char *s, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(cap);
	json_t *j;
	if (!out)
		return NULL;
	sodium_bin2base64(out, cap, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
	j = json_string(out);
	free(out);
	return j;
}

static char *unb64(const char *s)
{
	size_t sl = s ? strlen(s) : 0, len = 0;
	char *out = malloc(sl + 1);
	if (!out)
		return NULL;
	if (sl && sodium_base642bin((unsigned char *)out, sl, s, sl, NULL, &len, NULL,
				    sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(out);
		return NULL;
	}
	out[len] = 0;
	return out;
}

static int64_t num(json_t *j)
{
	if (json_is_integer(j))
		return json_integer_value(j);
	return json_is_string(j) ? strtoll(json_string_value(j), NULL, 10) : 0;
}

static json_t *jnum(int64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%lld", (long long)v);
	return json_string(b);
}

/* POSTs req (consumed) to path; *resp is the reply object on 0. */
static int call(struct etcd *c, const char *path, json_t *req, json_t **resp, struct verr *e)
{
	char *body = json_dumps(req, JSON_COMPACT);
	char cerr[CURL_ERROR_SIZE] = "", last[600] = "";
	int rc = -EHOSTUNREACH;

	json_decref(req);
	*resp = NULL;
	if (!body)
		return verr_set(e, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < c->n; i++) {
		unsigned idx = (c->good + i) % c->n;
		char url[400];
		struct curlbuf b = { NULL, 0, ETCD_MAX_REPLY };
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
		CURL *cu = curl_easy_init();
		long status = 0;
		CURLcode cr;

		if (!cu) {
			curl_slist_free_all(h);
			free(body);
			return verr_set(e, -ENOMEM, "etcd: cannot initialise libcurl");
		}
		snprintf(url, sizeof(url), "%s%s", c->url[idx], path);
		curl_easy_setopt(cu, CURLOPT_URL, url);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, curlbuf_write);
		curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, ETCD_TIMEOUT_MS);
		curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
		curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
		cr = curl_easy_perform(cu);
		if (cr == CURLE_OK)
			curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(cu);
		curl_slist_free_all(h);
		if (cr != CURLE_OK) {
			snprintf(last, sizeof(last), "%s: %s", c->url[idx],
				 cerr[0] ? cerr : curl_easy_strerror(cr));
			free(b.p);
			continue;
		}
		json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
		free(b.p);
		if (status == 200 && json_is_object(j)) {
			c->good = idx;
			*resp = j;
			free(body);
			return 0;
		}
		/* The member answered: its refusal is the answer (another would say the same). */
		const char *m = json_string_value(json_object_get(j, "message"));
		rc = verr_set(e, -EIO, "etcd %s: %s (HTTP %ld)", c->url[idx], m ? m : "bad reply",
			      status);
		json_decref(j);
		free(body);
		return rc;
	}
	free(body);
	return verr_set(e, rc, "etcd: no endpoint answered (%s)", last);
}

static int kv_from(json_t *j, struct etcd_kv *kv)
{
	kv->key = unb64(json_string_value(json_object_get(j, "key")));
	kv->value = unb64(json_string_value(json_object_get(j, "value")));
	kv->create_rev = num(json_object_get(j, "create_revision"));
	kv->mod_rev = num(json_object_get(j, "mod_revision"));
	kv->lease = num(json_object_get(j, "lease"));
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		kv->key = kv->value = NULL;
		return -EIO;
	}
	return 0;
}

int etcd_get(struct etcd *c, const char *key, struct etcd_kv *out, struct verr *e)
{
	json_t *r;
	int rc = call(c, "/v3/kv/range", json_pack("{s:o}", "key", b64(key, strlen(key))), &r, e);

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	json_t *kvs = json_object_get(r, "kvs");
	if (!json_array_size(kvs)) {
		json_decref(r);
		return -ENOENT;
	}
	rc = kv_from(json_array_get(kvs, 0), out);
	json_decref(r);
	return rc < 0 ? verr_set(e, rc, "etcd: %s: undecodable reply", key) : 0;
}

int etcd_list(struct etcd *c, const char *prefix, struct etcd_kv **out, unsigned *n,
	      struct verr *e)
{
	size_t pl = strlen(prefix);
	char *end = malloc(pl + 1);
	json_t *r;
	int rc;

	*out = NULL;
	*n = 0;
	if (!end || !pl) {
		free(end);
		return verr_set(e, -EINVAL, "etcd: empty prefix");
	}
	/* The range [prefix, prefix with its last byte + 1) is every key under it. */
	memcpy(end, prefix, pl + 1);
	end[pl - 1]++;
	rc = call(c, "/v3/kv/range",
		  json_pack("{s:o, s:o, s:s, s:s}", "key", b64(prefix, pl), "range_end", b64(end, pl),
			    "sort_order", "ASCEND", "sort_target", "KEY"),
		  &r, e);
	free(end);
	if (rc < 0)
		return rc;
	json_t *kvs = json_object_get(r, "kvs");
	size_t cnt = json_array_size(kvs);
	struct etcd_kv *kv = cnt ? calloc(cnt, sizeof(*kv)) : NULL;
	if (cnt && !kv) {
		json_decref(r);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cnt; i++)
		if (kv_from(json_array_get(kvs, i), &kv[i]) < 0) {
			etcd_kv_free(kv, (unsigned)i);
			json_decref(r);
			return verr_set(e, -EIO, "etcd: %s: undecodable reply", prefix);
		}
	json_decref(r);
	*out = kv;
	*n = (unsigned)cnt;
	return 0;
}

static json_t *put_req(const char *key, const char *value, int64_t lease)
{
	json_t *p = json_pack("{s:o, s:o}", "key", b64(key, strlen(key)), "value",
			      b64(value, strlen(value)));
	if (lease)
		json_object_set_new(p, "lease", jnum(lease));
	return p;
}

int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev,
	     struct verr *e)
{
	json_t *r;
	int rc = call(c, "/v3/kv/put", put_req(key, value, lease), &r, e);
	if (rc < 0)
		return rc;
	if (rev)
		*rev = num(json_object_get(json_object_get(r, "header"), "revision"));
	json_decref(r);
	return 0;
}

int etcd_del(struct etcd *c, const char *key, struct verr *e)
{
	json_t *r;
	int rc = call(c, "/v3/kv/deleterange", json_pack("{s:o}", "key", b64(key, strlen(key))), &r,
		      e);
	json_decref(r);
	return rc;
}

static int txn_put(struct etcd *c, const char *key, const char *value, const char *target,
		   int64_t want, int64_t lease, int64_t *rev, struct verr *e)
{
	json_t *cmp = json_pack("{s:o, s:s, s:s}", "key", b64(key, strlen(key)), "target", target,
				"result", "EQUAL");
	json_t *r;
	int rc;

	json_object_set_new(cmp, !strcmp(target, "MOD") ? "mod_revision" : "create_revision",
			    jnum(want));
	rc = call(c, "/v3/kv/txn",
		  json_pack("{s:[o], s:[{s:o}]}", "compare", cmp, "success", "request_put",
			    put_req(key, value, lease)),
		  &r, e);
	if (rc < 0)
		return rc;
	bool ok = json_is_true(json_object_get(r, "succeeded"));
	if (rev)
		*rev = num(json_object_get(json_object_get(r, "header"), "revision"));
	json_decref(r);
	return ok ? 0 : -EEXIST;
}

int etcd_create(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev,
		struct verr *e)
{
	return txn_put(c, key, value, "CREATE", 0, lease, rev, e);
}

int etcd_cas(struct etcd *c, const char *key, const char *value, int64_t mod_rev, int64_t lease,
	     int64_t *rev, struct verr *e)
{
	int rc = mod_rev ? txn_put(c, key, value, "MOD", mod_rev, lease, rev, e) :
			   txn_put(c, key, value, "CREATE", 0, lease, rev, e);
	return rc == -EEXIST ? -EAGAIN : rc;
}

int etcd_lease_grant(struct etcd *c, int ttl_s, int64_t *id, struct verr *e)
{
	json_t *r;
	int rc = call(c, "/v3/lease/grant", json_pack("{s:i}", "TTL", ttl_s), &r, e);
	if (rc < 0)
		return rc;
	*id = num(json_object_get(r, "ID"));
	json_decref(r);
	return *id ? 0 : verr_set(e, -EIO, "etcd: lease grant without an ID");
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, struct verr *e)
{
	json_t *r;
	int rc = call(c, "/v3/lease/keepalive", json_pack("{s:o}", "ID", jnum(id)), &r, e);
	if (rc < 0)
		return rc;
	/* An expired lease answers without a TTL. */
	int64_t ttl = num(json_object_get(json_object_get(r, "result"), "TTL"));
	json_decref(r);
	return ttl > 0 ? 0 : verr_set(e, -ENOENT, "etcd: lease %lld has expired", (long long)id);
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct verr *e)
{
	json_t *r;
	int rc = call(c, "/v3/lease/revoke", json_pack("{s:o}", "ID", jnum(id)), &r, e);
	json_decref(r);
	return rc;
}
