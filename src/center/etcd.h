/*
 * etcd.h - the management server's client of etcd's v3 API, through the JSON
 * gateway etcd serves on its client port (Debian's etcd-server 3.4: the
 * /v3/kv/..., /v3/lease/... routes, keys and values base64 in JSON), with
 * libcurl.  Only what vmx3-center needs: get, list a prefix, put, delete,
 * create-if-absent and compare-and-swap transactions, and leases.
 *
 * Every call is synchronous with a short timeout and tries each endpoint in
 * turn, so one etcd member down does not stop the center.  Thread-safe: one
 * curl handle per call.
 */
#ifndef VMX_CENTER_ETCD_H
#define VMX_CENTER_ETCD_H

#include <jansson.h>
#include <stdint.h>
#include "../lib/verr.h"

struct etcd;

/* endpoints: "http://127.0.0.1:2379" or several separated by commas. */
int etcd_open(const char *endpoints, struct etcd **out, struct verr *e);
void etcd_close(struct etcd *c);

struct etcd_kv {
	char *key, *value; /* NUL-terminated copies */
	int64_t create_rev, mod_rev, lease;
};
void etcd_kv_free(struct etcd_kv *kv, unsigned n);

/* One key; -ENOENT when absent. */
int etcd_get(struct etcd *c, const char *key, struct etcd_kv *out, struct verr *e);
/* Every key under prefix, sorted by key (caller frees with etcd_kv_free). */
int etcd_list(struct etcd *c, const char *prefix, struct etcd_kv **out, unsigned *n,
	      struct verr *e);
/* Put with an optional lease (0: none); *rev (may be NULL) gets the store's revision. */
int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev,
	     struct verr *e);
int etcd_del(struct etcd *c, const char *key, struct verr *e);
/*
 * Transactions on one key: create it only if absent (-EEXIST otherwise), or
 * replace it only if its mod revision is still mod_rev (-EAGAIN otherwise;
 * mod_rev 0 means "absent", as create).
 */
int etcd_create(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev,
		struct verr *e);
int etcd_cas(struct etcd *c, const char *key, const char *value, int64_t mod_rev, int64_t lease,
	     int64_t *rev, struct verr *e);
/* Leases: grant (ttl seconds), keep alive once (-ENOENT when it expired), revoke. */
int etcd_lease_grant(struct etcd *c, int ttl_s, int64_t *id, struct verr *e);
int etcd_lease_keepalive(struct etcd *c, int64_t id, struct verr *e);
int etcd_lease_revoke(struct etcd *c, int64_t id, struct verr *e);

#endif
