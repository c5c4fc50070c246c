/*
 * center.h - vmx3-center, the management server over several hostd
 * (docs/CENTER.md): its configuration, and the contracts of its modules.
 *
 * All of its state lives in etcd under one prefix (default "/vmx3/"), so
 * several vmx3-center processes can serve one cluster: exactly one leads (an
 * etcd lease and a create-if-absent transaction on the leader key) and makes
 * changes; every one answers reads from etcd.
 *
 *   PREFIX leader                 the leading center's name and URL (leased)
 *   PREFIX users/NAME             {hash, role}
 *   PREFIX sessions/SHA256(token) {user, role} (leased: expires by itself)
 *   PREFIX hosts/NAME             {name, url, user, password}
 *   PREFIX tasks/ID               a task, as hostd's, plus host and hostTask
 *   PREFIX events/ID              an event
 */
#ifndef VMX_CENTER_CENTER_H
#define VMX_CENTER_CENTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "../lib/verr.h"
#include "etcd.h"

#define CENTER_DEFAULT_PORT 8308
#define CENTER_NAME_MAX 63
#define CENTER_DEFAULT_TTL_S 5

struct center_cfg {
	char name[CENTER_NAME_MAX + 1]; /* this process, unique in the cluster */
	char etcd[1024];                /* endpoints, comma-separated */
	char prefix[64];
	char listen_addr[64];
	unsigned port;
	int lease_ttl_s; /* leadership is lost this long after the leader stops */
};

struct center {
	struct center_cfg cfg;
	struct etcd *etcd;
	char url[128]; /* where this center's API answers */
};

extern struct center g_center;

/* Names of users, hosts and centers: 1..max letters, digits, '-', '_', '.'. */
bool center_name_ok(const char *s, size_t max);
/* "PREFIX" + fmt into out. */
VMX_PRINTF(3, 4) const char *center_key(char *out, size_t len, const char *fmt, ...);

/* --- lead.c: leadership ------------------------------------------------------------ */

int lead_start(struct verr *e);
void lead_stop(void);
bool lead_is_leader(void);
/* The leader's name and URL as etcd has them ("" when nobody leads). */
void lead_current(char *name, size_t nlen, char *url, size_t ulen);
/* Called (on the leadership thread) each time this center becomes the leader. */
void lead_on_elected(void);

/* --- cauth.c: users and sessions ---------------------------------------------------- */

enum crole { CROLE_NONE, CROLE_READONLY, CROLE_ADMIN };
const char *crole_name(enum crole r);
int crole_parse(const char *s, enum crole *r);
int cauth_useradd(const char *name, const char *password, enum crole role, struct verr *e);
/* A new session token (64 hex) for a right password; -EACCES otherwise. */
int cauth_login(const char *name, const char *password, char token[65], enum crole *role,
		struct verr *e);
/* The role of a token's session (CROLE_NONE when unknown or expired). */
enum crole cauth_session(const char *token, char *user, size_t ulen);
void cauth_logout(const char *token);

/* --- chost.c: the managed hosts and their API ----------------------------------------- */

/*
 * Adds (or replaces) a host after logging in to its hostd and checking that it
 * is one; the credentials are kept in etcd for the centers' calls.
 */
int chost_add(const char *name, const char *url, const char *user, const char *password,
	      json_t **host, struct verr *e);
int chost_del(const char *name, struct verr *e);
/* Every host: {name, url, state: connected|unreachable, message?, hostd's /host fields}. */
json_t *chost_list(bool probe);
/*
 * One call to a host's API (path below /api/v1); logs in (and again after a
 * 401) with the stored credentials.  Returns the HTTP status, or -errno when
 * the host is unknown (-ENOENT) or unreachable (message in e).
 */
long chost_call(const char *host, const char *method, const char *path, json_t *body,
		json_t **reply, struct verr *e);

/* --- ctask.c: tasks and events ------------------------------------------------------- */

/*
 * A center task that mirrors a hostd task (host, hostTask) until it ends:
 * returns its id, or -errno.
 */
int64_t ctask_follow(const char *op, const char *host, int vm, const char *user, json_t *params,
		     json_t *host_task, struct verr *e);
json_t *ctask_get(int64_t id);
/* A new running task (id drawn, not yet stored), stored by ctask_put. */
json_t *ctask_new(const char *op, const char *host, int vm, const char *user, json_t *params,
		  struct verr *e);
int ctask_put(json_t *t, struct verr *e);
/* Ends t (not stored): success when error is NULL. */
void ctask_finish(json_t *t, const char *error);
/* One worker per task in this process: false when one already works on it. */
bool ctask_claim(int64_t id);
void ctask_release(int64_t id);
/* Runs fn(id) on a detached thread if no worker has the task (fn releases it). */
void ctask_spawn(int64_t id, void *(*fn)(void *));
json_t *ctask_list(int limit);
/* On election: follow again every task a former leader left running. */
void ctask_resume_all(void);
void ctask_event(const char *user, const char *host, int vm, const char *type, const char *fmt,
		 ...) VMX_PRINTF(5, 6);
json_t *ctask_events(int limit);
/* After lead_stop(): waits (at most 5 s) for the followers to end. */
void ctask_stop(void);

/* --- cmigrate.c: cold migration --------------------------------------------------------- */

/*
 * Moves a powered-off or suspended VM to another host that sees its
 * datastore: checks, then a task (its id in *id) that unregisters it on the
 * source and registers it on the destination.  -errno with the HTTP status
 * in *http_status when a check refuses.
 */
int cmig_start(const char *src, int vm, const char *dst, const char *user, int64_t *id,
	       int *http_status, struct verr *e);
/* A new leader finishes (or undoes) a migration left running. */
void cmig_resume(int64_t id);

/* --- clive.c: live migration ------------------------------------------------------------ */

/* Runs (or, for a new leader, follows on from its recorded step) a live migration task. */
void clive_run(json_t *t);

/* --- capi.c: the HTTP API ------------------------------------------------------------ */

int capi_start(struct verr *e);
void capi_stop(void);

#endif
