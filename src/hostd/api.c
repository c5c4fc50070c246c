/*
 * api.c - hostd's HTTP/1.1 + JSON API (docs/API.md), served by libmicrohttpd
 * on a loopback TCP port and on a Unix socket in the state directory, over
 * TLS when a certificate is configured.
 *
 * Routes register in api_routes[] below: method, path pattern (segments in
 * braces are captured), the least role that may call it, and a handler that
 * returns an HTTP status and a JSON body.  A future web interface uses the
 * same routes.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include "../lib/bodybuf.h"
#include "../lib/build.h"
#include "../lib/cfg.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "../lib/urlpath.h"
#include "../stats/ustats.h"
#include "hostd.h"

#define API_MAX_BODY (1 << 20)
#define API_MAX_ARGS 4
#define API_WAIT_MAX_MS (15 * 60 * 1000)
/*
 * Connections: a per-address limit (hostd.perIpConnections) keeps one client
 * from taking them all; the total is high enough that slow clients from a few
 * addresses do not lock out everyone else, and idle or slow ones are dropped
 * after hostd.connectionTimeout.
 */
#define API_MAX_CONNECTIONS 256u
#define API_THREAD_STACK (1u << 20)
/*
 * Request headers: libmicrohttpd answers a request whose headers overflow its
 * per-connection memory with its own HTML 431, so its memory is larger and
 * hostd refuses headers over API_MAX_HEADERS itself, in JSON.
 */
#define API_MAX_HEADERS (32u << 10)
#define API_CONN_MEMORY (1u << 20)
/* TLS 1.2 or later only (GnuTLS priority string). */
#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define API_MAX_PAGE 1000
/* revertAfter is a temporary switch; the bound also keeps now + it far from overflow. */
#define API_MAX_REVERT_S (30u * 24 * 3600)

struct req {
	struct MHD_Connection *conn;
	const char *method;
	json_t *body;
	const char *arg[API_MAX_ARGS];
	char user[64];
	enum role role;
	const char *token;
	char *text;        /* a non-JSON reply (malloc'd), sent instead of the JSON one */
	const char *ctype; /* its Content-Type */
};

typedef int (*route_fn)(struct req *r, json_t **out);

struct route {
	const char *method;
	const char *pattern; /* below HOSTD_API_PREFIX (root_routes: the whole path) */
	enum role need;
	route_fn fn;
	const char *help;
};

/* The Prometheus text exposition format, version 0.0.4. */
#define API_PROM_CTYPE "text/plain; version=0.0.4; charset=utf-8"

struct upload {
	struct bodybuf body;
	bool headers_too_big;
};

static enum MHD_Result header_size(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	size_t *sum = cls;
	*sum += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static struct MHD_Daemon *g_tcp, *g_unix;
static int g_unix_fd = -1;

/* {"error": {"code", "message", "field"?}} with the given status. */
VMX_PRINTF(5, 6)
static int api_err(json_t **out, int status, const char *code, const char *field,
		   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*out = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	if (!*out) {
		/* The message quotes request bytes that are not UTF-8 (method, path): JSON refuses them. */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		*out = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	}
	if (field)
		json_object_set_new(json_object_get(*out, "error"), "field", json_string(field));
	return status;
}

/* An error from a lower layer: "field: text" messages name their field. */
static int api_verr(json_t **out, int status, int rc, const struct verr *e)
{
	char field[64] = "";
	const char *colon = strchr(e->msg, ':');
	size_t n = colon ? (size_t)(colon - e->msg) : 0;
	const char *code = rc == -ENOENT ? "notFound" : rc == -EBUSY ? "conflict" :
			   rc == -ENOSPC ? "admissionRefused" : rc == -EEXIST ? "exists" :
			   status == 400 ? "invalidArgument" : status == 409 ? "conflict" : "failed";

	if (n > 0 && n < sizeof(field) && strspn(e->msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") == n)
		snprintf(field, sizeof(field), "%.*s", (int)n, e->msg);
	if (rc == -ENOENT && field[0] && status < 500)
		status = 404;
	return api_err(out, status, code, field[0] ? field : NULL, "%s", e->msg);
}

static const char *query(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static int parse_id(const char *s)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	return *end || v <= 0 || v > 1000000000 ? -1 : (int)v;
}

/* --- handlers ----------------------------------------------------------------- */

static int h_index(struct req *r, json_t **out);

static int h_login(struct req *r, json_t **out)
{
	const char *name = json_string_value(json_object_get(r->body, "username"));
	const char *pw = json_string_value(json_object_get(r->body, "password"));
	char token[65];
	unsigned retry = 0;
	enum role role = ROLE_NONE;
	int rc;

	if (!name)
		return api_err(out, 400, "invalidArgument", "username", "username: missing");
	if (!pw)
		return api_err(out, 400, "invalidArgument", "password", "password: missing");
	/* Checked before anything else, and never recorded: no user has such a name. */
	if (strlen(name) > AUTH_NAME_MAX)
		return api_err(out, 400, "invalidArgument", "username",
			       "username: longer than %d bytes", AUTH_NAME_MAX);
	if (strlen(pw) > AUTH_PASSWORD_MAX)
		return api_err(out, 400, "invalidArgument", "password",
			       "password: longer than %d bytes", AUTH_PASSWORD_MAX);
	rc = auth_login(name, pw, token, &role, &retry);
	if (rc == -EINVAL)
		return api_err(out, 400, "invalidArgument", "username",
			       "username: 1-%d letters, digits, '-', '_', '.'", AUTH_NAME_MAX);
	if (rc == -EBUSY)
		return api_err(out, 503, "busy", NULL, "too many logins in progress; try again");
	if (rc == -EAGAIN) {
		db_event_coalesced(name, "loginRefused", name, "too many failed logins; locked");
		return api_err(out, 429, "tooManyFailures", "username",
			       "too many failed logins for '%s'; try again in %u s", name, retry);
	}
	if (rc < 0) {
		db_event_coalesced(name, "loginFailed", name, "wrong user name or password");
		return api_err(out, 401, "badCredentials", "password", "wrong user name or password");
	}
	*out = json_pack("{s:s, s:s, s:s}", "token", token, "user", name, "role", role_name(role));
	return 200;
}

static int h_logout(struct req *r, json_t **out)
{
	auth_logout(r->token);
	*out = json_pack("{s:b}", "ok", 1);
	return 200;
}

static int h_host(struct req *r, json_t **out)
{
	json_t *ds = json_array(), *bins = json_object();
	char host[256] = "", bin[PATH_MAX];
	uint64_t reserved;
	int nvms = 0;

	gethostname(host, sizeof(host) - 1);
	for (unsigned i = 0; i < g_hostd.cfg.nds; i++)
		json_array_append_new(ds, json_pack("{s:s, s:s}", "name", g_hostd.cfg.ds[i].name,
						    "path", g_hostd.cfg.ds[i].path));
	for (int t = 0; t < BUILDTYPE_COUNT; t++) {
		struct verr e = { "" };
		bool ok = vmop_binary((enum buildtype)t, bin, sizeof(bin), &e) == 0;
		json_object_set_new(bins, buildtype_name((enum buildtype)t),
				    ok ? json_string(bin) : json_null());
	}
	hostd_lock();
	reserved = hvm_reserved_mb(0);
	for (struct hvm *v = g_hostd.vms; v; v = v->next)
		nvms++;
	hostd_unlock();
	*out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:o, s:o, s:{s:I, s:I, s:I}, s:s}",
			 "kind", "hostd", "hostname", host, "version", vmx_version, "build",
			 vmx_revision, "apiVersion", 1, "memCapacityMB",
			 (json_int_t)g_hostd.cfg.mem_capacity_mb, "memReservedMB",
			 (json_int_t)reserved, "vms", nvms, "datastores", ds, "vmxBinaries", bins,
			 "overheadMB", "default", (json_int_t)admit_overhead_mb(BUILDTYPE_DEFAULT),
			 "debug", (json_int_t)admit_overhead_mb(BUILDTYPE_DEBUG), "stats",
			 (json_int_t)admit_overhead_mb(BUILDTYPE_STATS), "user", r->user);
	return 200;
}

static int h_vms(struct req *r, json_t **out)
{
	const char *name = query(r, "name"), *file = query(r, "file");
	char abs[PATH_MAX];
	struct verr e = { "" };
	json_t *list = json_array();

	if (file) {
		int rc = ds_resolve(&g_hostd.cfg, file, abs, sizeof(abs), &e);
		if (rc < 0) {
			json_decref(list);
			return api_verr(out, 400, rc, &e);
		}
	}
	hostd_lock();
	for (struct hvm *v = g_hostd.vms; v; v = v->next) {
		if (name && strcmp(v->name, name) != 0)
			continue;
		if (file && strcmp(v->path, abs) != 0)
			continue;
		json_array_append_new(list, hvm_json(v));
	}
	hostd_unlock();
	*out = json_pack("{s:o}", "vms", list);
	return 200;
}

static int h_vm_add(struct req *r, json_t **out)
{
	const char *file = json_string_value(json_object_get(r->body, "file"));
	const char *name = json_string_value(json_object_get(r->body, "name"));
	json_t *create = json_object_get(r->body, "create");
	struct verr e = { "" };
	int id;

	if (!file)
		return api_err(out, 400, "invalidArgument", "file", "file: missing (\"[ds] dir/NAME.vmx\")");
	if (create && !json_is_object(create) && !json_is_true(create))
		return api_err(out, 400, "invalidArgument", "create", "create: must be true or an object of .vmx keys");
	id = create ? hvm_create(file, json_is_object(create) ? create : NULL, r->user, &e)
		    : hvm_register(file, name, r->user, &e);
	if (id < 0)
		return api_verr(out, id == -EEXIST ? 409 : 400, id, &e);
	hostd_lock();
	*out = hvm_json(hvm_find(id));
	hostd_unlock();
	return 201;
}

static struct hvm *vm_arg(struct req *r, json_t **out, int *status)
{
	int id = parse_id(r->arg[0]);
	struct hvm *vm = id > 0 ? hvm_find(id) : NULL;

	if (!vm)
		*status = api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	return vm;
}

static int h_vm_get(struct req *r, json_t **out)
{
	int status = 200;
	struct hvm *vm;

	hostd_lock();
	vm = vm_arg(r, out, &status);
	if (vm)
		*out = hvm_json(vm);
	hostd_unlock();
	return status;
}

static int h_vm_del(struct req *r, json_t **out)
{
	struct verr e = { "" };
	int id = parse_id(r->arg[0]), rc;

	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	rc = hvm_unregister(id, r->user, &e);
	if (rc < 0)
		return api_verr(out, rc == -ENOENT ? 404 : 409, rc, &e);
	*out = json_pack("{s:b}", "ok", 1);
	return 200;
}

/* Replies 202 with the task, or waits for it when the body says "wait": true. */
static int task_reply(struct req *r, int task, json_t **out)
{
	if (json_is_true(json_object_get(r->body, "wait"))) {
		uint64_t deadline = now_ms() + API_WAIT_MAX_MS;
		for (;;) {
			json_t *t = task_get(task);
			const char *st = json_string_value(json_object_get(t, "state"));
			if (!t || (st && strcmp(st, "running") != 0) || now_ms() > deadline) {
				*out = t;
				return st && !strcmp(st, "error") ? 500 : 200;
			}
			json_decref(t);
			usleep(20 * 1000);
		}
	}
	*out = task_get(task);
	return 202;
}

static int h_vm_power(struct req *r, json_t **out)
{
	const char *op = json_string_value(json_object_get(r->body, "op"));
	struct verr e = { "" };
	enum vm_op o;
	int id = parse_id(r->arg[0]), status, task;

	if (!op || vmop_parse(op, &o) < 0)
		return api_err(out, 400, "invalidArgument", "op",
			       "op: must be one of on, off, hardOff, reset, suspend, resume");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	task = vmop_start(id, o, BUILDTYPE_DEFAULT, 0, SWITCH_FAST, r->user, &status, &e);
	if (task < 0)
		return api_verr(out, status, task, &e);
	return task_reply(r, task, out);
}

static int h_mig_in(struct req *r, json_t **out)
{
	const char *file = json_string_value(json_object_get(r->body, "file"));
	const char *name = json_string_value(json_object_get(r->body, "name"));
	struct verr e = { "" };
	int status, rc;

	if (!file)
		return api_err(out, 400, "invalidArgument", "file", "file: missing (\"[ds] dir/NAME.vmx\")");
	rc = hmig_incoming(file, name, r->user, out, &status, &e);
	if (rc < 0)
		return api_verr(out, status, rc, &e);
	return 201;
}

static int h_mig_out(struct req *r, json_t **out)
{
	struct verr e = { "" };
	int id = parse_id(r->arg[0]), status, task;

	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	task = hmig_outgoing(id, json_string_value(json_object_get(r->body, "peer")),
			     json_string_value(json_object_get(r->body, "token")), r->user, &status, &e);
	if (task < 0)
		return api_verr(out, status, task, &e);
	return task_reply(r, task, out);
}

static int h_mig_resolve(struct req *r, json_t **out)
{
	json_t *run = json_object_get(r->body, "runHere");
	struct verr e = { "" };
	int id = parse_id(r->arg[0]), status, rc;

	if (!json_is_boolean(run))
		return api_err(out, 400, "invalidArgument", "runHere",
			       "runHere: true (the destination does not run the guest) or false");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	rc = hmig_resolve(id, json_is_true(run), &status, &e);
	if (rc < 0)
		return api_verr(out, status, rc, &e);
	*out = json_pack("{s:b}", "ok", 1);
	return 200;
}

static int h_bt_get(struct req *r, json_t **out)
{
	int status = 200;
	struct hvm *vm;

	hostd_lock();
	vm = vm_arg(r, out, &status);
	if (vm) {
		json_t *j = hvm_json(vm);
		*out = json_pack("{s:O, s:O, s:O}", "file", json_object_get(j, "file"), "buildType",
				 json_object_get(j, "buildType"), "powerState",
				 json_object_get(j, "powerState"));
		if (json_object_get(j, "pendingRevert"))
			json_object_set(*out, "pendingRevert", json_object_get(j, "pendingRevert"));
		if (json_object_get(j, "runningBuildType"))
			json_object_set(*out, "runningBuildType", json_object_get(j, "runningBuildType"));
		json_decref(j);
	}
	hostd_unlock();
	return status;
}

static int h_bt_put(struct req *r, json_t **out)
{
	const char *bt = json_string_value(json_object_get(r->body, "buildType"));
	json_t *ra = json_object_get(r->body, "revertAfter");
	json_t *jm = json_object_get(r->body, "method");
	enum switch_method method = SWITCH_FAST;
	uint64_t revert = 0;
	struct verr e = { "" };
	enum buildtype t;
	int id = parse_id(r->arg[0]), status, task;

	if (!bt || buildtype_parse(bt, &t) < 0)
		return api_err(out, 400, "invalidArgument", "buildType",
			       "buildType: \"%s\" is not one of default, debug, stats", bt ? bt : "");
	if (ra && !json_is_null(ra)) {
		char num[32];
		const char *s = json_string_value(ra);
		if (json_is_integer(ra)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(ra));
			s = num;
		}
		if (!s || cfg_parse_duration(s, &revert) < 0 || revert == 0)
			return api_err(out, 400, "invalidArgument", "revertAfter",
				       "revertAfter: not a duration like 90s, 15m, 2h, 1d");
		if (revert > API_MAX_REVERT_S)
			return api_err(out, 400, "invalidArgument", "revertAfter",
				       "revertAfter: \"%s\" is longer than 30 days", s);
		if (t == BUILDTYPE_DEFAULT)
			return api_err(out, 400, "invalidArgument", "revertAfter",
				       "revertAfter: only meaningful when changing away from default");
	}
	if (jm && !json_is_null(jm) && switch_method_parse(json_string_value(jm), &method) < 0)
		return api_err(out, 400, "invalidArgument", "method",
			       "method: \"%s\" is not one of fast, suspend",
			       json_string_value(jm) ? json_string_value(jm) : "");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	task = vmop_start(id, OP_BUILDTYPE, t, revert, method, r->user, &status, &e);
	if (task < 0)
		return api_verr(out, status, task, &e);
	return task_reply(r, task, out);
}

/* ?NAME= as a count in 1..max (def when absent); -1 when malformed. */
static long query_count(struct req *r, const char *name, long def, long max)
{
	const char *s = query(r, name);
	char *end;
	long v;

	if (!s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1)
		return -1;
	return v > max ? max : v;
}

static int h_tasks(struct req *r, json_t **out)
{
	long lim = query_count(r, "limit", 50, API_MAX_PAGE);

	if (lim < 0)
		return api_err(out, 400, "invalidArgument", "limit", "limit: a number from 1 to %d",
			       API_MAX_PAGE);
	*out = json_pack("{s:o}", "tasks", task_list((int)lim));
	return 200;
}

static int h_task(struct req *r, json_t **out)
{
	int id = parse_id(r->arg[0]);
	json_t *t = id > 0 ? task_get(id) : NULL;

	if (!t)
		return api_err(out, 404, "notFound", "task", "task: no task with id '%s'", r->arg[0]);
	*out = t;
	return 200;
}

/*
 * Newest first, a page at a time: ?limit= (1..1000, default 100) and
 * ?before=ID (events older than ID).  "next" is the before= of the next page
 * when there may be more.
 */
static int h_events(struct req *r, json_t **out)
{
	const char *vm = query(r, "vm");
	long lim = query_count(r, "limit", 100, API_MAX_PAGE);
	long before = query_count(r, "before", 0, INT64_MAX / 2);
	char l[24], b[24];
	json_t *rows;

	if (lim < 0)
		return api_err(out, 400, "invalidArgument", "limit", "limit: a number from 1 to %d",
			       API_MAX_PAGE);
	if (before < 0)
		return api_err(out, 400, "invalidArgument", "before", "before: an event id");
	if (vm && parse_id(vm) < 0)
		return api_err(out, 400, "invalidArgument", "vm", "vm: not a VM id");
	snprintf(l, sizeof(l), "%ld", lim);
	snprintf(b, sizeof(b), "%ld", before ? before : INT64_MAX / 2);
	const char *p[] = { b, vm, l };
	rows = vm ? db_query("SELECT * FROM events WHERE id < ? AND vm_id=? ORDER BY id DESC LIMIT ?",
			     3, p)
		  : db_query("SELECT * FROM events WHERE id < ? ORDER BY id DESC LIMIT ?", 2,
			     (const char *const[]){ b, l });
	*out = json_pack("{s:o}", "events", rows);
	if ((long)json_array_size(rows) == lim)
		json_object_set_new(*out, "next", json_object_get(json_array_get(rows, lim - 1), "id") ?
				    json_copy(json_object_get(json_array_get(rows, lim - 1), "id")) :
				    json_null());
	return 200;
}

static int h_users(struct req *r, json_t **out)
{
	*out = json_pack("{s:o}", "users", db_query("SELECT name, role FROM users ORDER BY name", 0, NULL));
	return 200;
}

static int h_user_add(struct req *r, json_t **out)
{
	const char *name = json_string_value(json_object_get(r->body, "name"));
	const char *pw = json_string_value(json_object_get(r->body, "password"));
	const char *rs = json_string_value(json_object_get(r->body, "role"));
	struct verr e = { "" };
	enum role role;
	int rc;

	if (!rs || role_parse(rs, &role) < 0)
		return api_err(out, 400, "invalidArgument", "role", "role: must be admin or read-only");
	rc = auth_user_add(name, pw, role, &e);
	if (rc < 0)
		return api_verr(out, 400, rc, &e);
	db_event(r->user, 0, "userAdded", "user %s (%s)", name, role_name(role));
	*out = json_pack("{s:s, s:s}", "name", name, "role", role_name(role));
	return 201;
}

static int h_user_del(struct req *r, json_t **out)
{
	struct verr e = { "" };
	int rc;

	if (!strcmp(r->arg[0], r->user))
		return api_err(out, 409, "conflict", "name", "name: you cannot remove yourself");
	rc = auth_user_del(r->arg[0], &e);
	if (rc < 0)
		return api_verr(out, 404, rc, &e);
	db_event(r->user, 0, "userRemoved", "user %s", r->arg[0]);
	*out = json_pack("{s:b}", "ok", 1);
	return 200;
}

static int h_vm_stats(struct req *r, json_t **out)
{
	const char *fmt = query(r, "format");
	const char *acc = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
	struct verr e = { "" };
	int id = parse_id(r->arg[0]), status, rc;
	bool prom;

	if (fmt && strcmp(fmt, "json") && strcmp(fmt, "prom") && strcmp(fmt, "prometheus"))
		return api_err(out, 400, "invalidArgument", "format",
			       "format: must be json or prom (Prometheus text)");
	/*
	 * ?format= wins; otherwise a scraper's Accept naming text/plain (and not
	 * application/json, which a JSON client may list beside it) asks for the exposition.
	 */
	prom = fmt ? strcmp(fmt, "json") != 0 :
		     acc && strstr(acc, "text/plain") && !strstr(acc, "application/json");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	rc = stats_api_vm(id, prom, out, &r->text, &status, &e);
	if (rc < 0)
		return api_verr(out, status, rc, &e);
	if (prom)
		r->ctype = API_PROM_CTYPE;
	return 200;
}

static int h_session(struct req *r, json_t **out)
{
	*out = json_pack("{s:s, s:s}", "user", r->user, "role", role_name(r->role));
	return 200;
}

static int h_vm_log(struct req *r, json_t **out)
{
	long lines = query_count(r, "lines", 200, 2000);
	struct verr e = { "" };
	int id = parse_id(r->arg[0]), status, rc;

	if (lines < 0)
		return api_err(out, 400, "invalidArgument", "lines", "lines: a number from 1 to 2000");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	rc = vmdata_log(id, lines, out, &status, &e);
	return rc < 0 ? api_verr(out, status, rc, &e) : status;
}

static int h_vm_profile(struct req *r, json_t **out)
{
	const char *vc = query(r, "vcpu"), *tail = query(r, "monitorTail");
	struct verr e = { "" };
	int id = parse_id(r->arg[0]), status, rc, vcpu = -1;

	if (vc) {
		char *end;
		long v = strtol(vc, &end, 10);
		if (!*vc || *end || v < 0 || v > 254)
			return api_err(out, 400, "invalidArgument", "vcpu", "vcpu: a vCPU number, 0-254");
		vcpu = (int)v;
	}
	if (tail && strcmp(tail, "0") && strcmp(tail, "1"))
		return api_err(out, 400, "invalidArgument", "monitorTail", "monitorTail: 0 or 1");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	rc = vmdata_profile(id, vcpu, tail && !strcmp(tail, "1"), out, &status, &e);
	return rc < 0 ? api_verr(out, status, rc, &e) : status;
}

static int h_vm_series(struct req *r, json_t **out)
{
	const char *last = query(r, "last");
	struct verr e = { "" };
	uint64_t last_ns = 0;
	int id = parse_id(r->arg[0]), status, rc;

	if (last && ustats_parse_duration(last, &last_ns) < 0)
		return api_err(out, 400, "invalidArgument", "last",
			       "last: not a duration like 90s, 500ms, 5m, 1h");
	if (id < 0)
		return api_err(out, 404, "notFound", "vm", "vm: no VM with id '%s'", r->arg[0]);
	rc = vmdata_series(id, last_ns, out, &status, &e);
	return rc < 0 ? api_verr(out, status, rc, &e) : status;
}

static int h_metrics(struct req *r, json_t **out)
{
	struct verr e = { "" };
	int rc = stats_api_metrics(&r->text, &e);

	if (rc < 0)
		return api_verr(out, 500, rc, &e);
	r->ctype = API_PROM_CTYPE;
	return 200;
}

static const struct route api_routes[] = {
	{ "GET", "", ROLE_NONE, h_index, "API version and this route table" },
	{ "POST", "/session", ROLE_NONE, h_login, "log in: {username, password} -> {token}" },
	{ "GET", "/session", ROLE_READONLY, h_session, "the session's user and role" },
	{ "DELETE", "/session", ROLE_READONLY, h_logout, "log out (ends the session of the token)" },
	{ "GET", "/host", ROLE_READONLY, h_host, "host information, capacity, datastores, binaries" },
	{ "GET", "/vms", ROLE_READONLY, h_vms, "list VMs (?name=, ?file= filter)" },
	{ "POST", "/vms", ROLE_ADMIN, h_vm_add, "register {file[, name]} or create {file, create:{keys}}" },
	{ "GET", "/vms/{id}", ROLE_READONLY, h_vm_get, "one VM" },
	{ "DELETE", "/vms/{id}", ROLE_ADMIN, h_vm_del, "unregister a VM that is not running" },
	{ "POST", "/vms/{id}/power", ROLE_ADMIN, h_vm_power, "{op: on|off|hardOff|reset|suspend|resume[, wait]} -> task" },
	{ "POST", "/vms/incoming", ROLE_ADMIN, h_mig_in, "a VM migrating here: {file[, name]} -> {id, address, token, task}" },
	{ "POST", "/vms/{id}/migrate", ROLE_ADMIN, h_mig_out, "send the running VM to {peer, token} (from /vms/incoming there) -> task" },
	{ "POST", "/vms/{id}/migrateResolve", ROLE_ADMIN, h_mig_resolve, "a migration in doubt: {runHere: true|false}" },
	{ "GET", "/vms/{id}/buildType", ROLE_READONLY, h_bt_get, "build type and pending revert" },
	{ "GET", "/vms/{id}/stats", ROLE_READONLY, h_vm_stats, "live stats of a running stats-build VM (?format=json|prom)" },
	{ "GET", "/vms/{id}/log", ROLE_READONLY, h_vm_log, "the tail of vmx.log (?lines=, at most 2000)" },
	{ "GET", "/vms/{id}/profile", ROLE_READONLY, h_vm_profile, "the newest callstack profile as stacks (?vcpu=, ?monitorTail=1)" },
	{ "GET", "/vms/{id}/series", ROLE_READONLY, h_vm_series, "the newest ustats file as rates over time (?last=5m)" },
	{ "PUT", "/vms/{id}/buildType", ROLE_ADMIN, h_bt_put, "{buildType[, revertAfter][, method: fast|suspend][, wait]} -> task" },
	{ "GET", "/tasks", ROLE_READONLY, h_tasks, "recent tasks (?limit=, at most 1000)" },
	{ "GET", "/tasks/{id}", ROLE_READONLY, h_task, "one task: state, progress, phases, result" },
	{ "GET", "/events", ROLE_READONLY, h_events, "events, newest first (?vm=, ?limit=, ?before=)" },
	{ "GET", "/users", ROLE_ADMIN, h_users, "users and roles" },
	{ "POST", "/users", ROLE_ADMIN, h_user_add, "add or replace {name, password, role}" },
	{ "DELETE", "/users/{name}", ROLE_ADMIN, h_user_del, "remove a user" },
};

/* Outside HOSTD_API_PREFIX: /metrics is where Prometheus scrapes by default. */
static const struct route root_routes[] = {
	{ "GET", "/metrics", ROLE_READONLY, h_metrics, "Prometheus: every running stats VM (vm label) and hostd" },
};

static int h_index(struct req *r, json_t **out)
{
	json_t *routes = json_array();

	for (size_t i = 0; i < VMX_ARRAY_SIZE(api_routes); i++)
		json_array_append_new(routes, json_pack("{s:s, s:s+, s:s, s:s}", "method",
					api_routes[i].method, "path", HOSTD_API_PREFIX,
					api_routes[i].pattern, "role", role_name(api_routes[i].need),
					"what", api_routes[i].help));
	for (size_t i = 0; i < VMX_ARRAY_SIZE(root_routes); i++)
		json_array_append_new(routes, json_pack("{s:s, s:s, s:s, s:s}", "method",
					root_routes[i].method, "path", root_routes[i].pattern,
					"role", role_name(root_routes[i].need), "what",
					root_routes[i].help));
	*out = json_pack("{s:s, s:i, s:o}", "product", "vmx3 hostd", "apiVersion", 1, "routes", routes);
	return 200;
}

static enum MHD_Result send_json_if(struct MHD_Connection *c, int status, json_t *body,
				    bool conditional);

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *body)
{
	return send_json_if(c, status, body, false);
}

/*
 * A 200 reply to a GET carries an ETag (a hash of the body), and a request
 * whose If-None-Match names it gets 304 with no body: pollers such as the web
 * interface then move bytes only when something changed.  The reply is still
 * computed; what is saved is the transfer and the client's work.
 */
static enum MHD_Result send_json_if(struct MHD_Connection *c, int status, json_t *body,
				    bool conditional)
{
	char etag[24];
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;

	/* Never an empty body (and never free() of a literal, which MUST_FREE would do). */
	if (!text) {
		status = 500;
		text = strdup("{\"error\":{\"code\":\"failed\",\"message\":"
			      "\"the response could not be encoded\"}}");
		if (!text)
			return MHD_NO;
	}
	len = strlen(text);
	char *nt = realloc(text, len + 2);
	if (!nt) {
		free(text);
		json_decref(body);
		return MHD_NO;
	}
	text = nt;
	text[len++] = '\n';
	text[len] = 0;
	if (conditional && status == 200) {
		const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
		ui_etag((const unsigned char *)text, len, etag, sizeof(etag));
		if (inm && !strcmp(inm, etag)) {
			free(text);
			json_decref(body);
			resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
			MHD_add_response_header(resp, "ETag", etag);
			MHD_add_response_header(resp, "Cache-Control", "no-cache");
			ret = MHD_queue_response(c, 304, resp);
			MHD_destroy_response(resp);
			return ret;
		}
	}
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (conditional && status == 200) {
		MHD_add_response_header(resp, "ETag", etag);
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
	} else {
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	json_decref(body);
	return ret;
}

/* Sends text (malloc'd, freed here) as the body. */
static enum MHD_Result send_text(struct MHD_Connection *c, int status, char *text,
				 const char *ctype)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype ? ctype : "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A redirect within this server (Location is a path, never a client's text). */
static enum MHD_Result send_redirect(struct MHD_Connection *c, const char *to)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", to);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, 302, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * The web interface's files: no session needed (they hold no data; every
 * figure they show comes from the API with the user's token), GET and HEAD
 * only, each with the interface's confining headers and a validator.
 */
static enum MHD_Result send_ui(struct MHD_Connection *c, const char *url, const char *method)
{
	const struct ui_asset *a = ui_find(url);
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char etag[24];
	unsigned status = 200;

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		json_t *out = NULL;
		api_err(&out, 405, "methodNotAllowed", NULL, "%s %s: method not allowed", method, url);
		return send_json(c, 405, out);
	}
	if (!a) {
		static const char msg[] = "no such file in the web interface\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		status = 404;
	} else {
		const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
		ui_etag(a->data, a->len, etag, sizeof(etag));
		if (inm && !strcmp(inm, etag)) {
			resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
			status = 304;
		} else {
			resp = MHD_create_response_from_buffer(a->len, (void *)a->data,
							       MHD_RESPMEM_PERSISTENT);
		}
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", a && status == 200 ? a->ctype :
				"text/plain; charset=utf-8");
	if (a) {
		MHD_add_response_header(resp, "ETag", etag);
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
	}
	for (unsigned i = 0; i < ui_nheaders; i++)
		MHD_add_response_header(resp, ui_headers[i][0], ui_headers[i][1]);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **con_cls)
{
	struct upload *up = *con_cls;
	struct req r = { .conn = conn, .method = method };
	const struct route *rt = NULL;
	char store[1024];
	bool path_known = false;
	json_t *out = NULL;
	json_error_t jerr;
	const char *auth;
	int status;

	if (!up) {
		size_t hdr = strlen(url) + strlen(method) + 16;
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*con_cls = up;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, header_size, &hdr);
		if (hdr > API_MAX_HEADERS) {
			up->headers_too_big = true;
			return MHD_YES;
		}
		return MHD_YES;
	}
	if (up->headers_too_big) {
		*upload_size = 0; /* the body is not read */
		return send_json(conn, 431, json_pack("{s:{s:s, s:s}}", "error", "code", "tooLarge",
						      "message", "request headers larger than 32 KiB"));
	}
	if (*upload_size) {
		if (bodybuf_append(&up->body, upload_data, *upload_size, API_MAX_BODY) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (up->body.too_big)
		return send_json(conn, 413, json_pack("{s:{s:s, s:s}}", "error", "code", "tooLarge",
						      "message", "request body larger than 1 MiB"));
	if (!strcmp(url, "/") || !strcmp(url, "/ui"))
		return send_redirect(conn, "/ui/");
	if (!strncmp(url, "/ui/", 4))
		return send_ui(conn, url, method);
	const char *sub = strncmp(url, HOSTD_API_PREFIX, strlen(HOSTD_API_PREFIX)) ? NULL :
			  url + strlen(HOSTD_API_PREFIX);
	for (int t = 0; t < 2 && !rt; t++) {
		const struct route *tab = t ? root_routes : api_routes;
		size_t n = t ? VMX_ARRAY_SIZE(root_routes) : VMX_ARRAY_SIZE(api_routes);
		const char *p = t ? url : sub;
		for (size_t i = 0; p && i < n; i++) {
			if (!urlpath_match(tab[i].pattern, p, store, sizeof(store), r.arg, API_MAX_ARGS))
				continue;
			path_known = true;
			if (!strcmp(tab[i].method, method)) {
				rt = &tab[i];
				break;
			}
		}
	}
	if (!rt && !sub && !path_known) {
		api_err(&out, 404, "notFound", NULL, "no such path %s (the API lives under %s)", url,
			HOSTD_API_PREFIX);
		return send_json(conn, 404, out);
	}
	if (!rt) {
		status = path_known ? 405 : 404;
		api_err(&out, status, path_known ? "methodNotAllowed" : "notFound", NULL,
			"%s %s: %s", method, url, path_known ? "method not allowed" : "no such path");
		return send_json(conn, status, out);
	}
	if (up->body.len) {
		r.body = json_loadb(up->body.buf, up->body.len, 0, &jerr);
		if (!r.body || !json_is_object(r.body)) {
			api_err(&out, 400, "badJson", "body", "body: not a JSON object (%s at line %d)",
				r.body ? "not an object" : jerr.text, jerr.line);
			json_decref(r.body);
			return send_json(conn, 400, out);
		}
	} else {
		r.body = json_object();
	}
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (auth && !strncmp(auth, "Bearer ", 7))
		r.token = auth + 7;
	r.role = auth_session(r.token, r.user, sizeof(r.user));
	if (rt->need != ROLE_NONE && r.role == ROLE_NONE) {
		status = api_err(&out, 401, "unauthenticated", NULL,
				 "log in first (POST %s/session) and send 'Authorization: Bearer TOKEN'",
				 HOSTD_API_PREFIX);
	} else if (r.role < rt->need) {
		status = api_err(&out, 403, "forbidden", NULL,
				 "user '%s' (%s) may not %s %s%s: it needs the admin role", r.user,
				 role_name(r.role), method, HOSTD_API_PREFIX, rt->pattern);
		db_event(r.user, 0, "forbidden", "%s %s refused (role %s)", method, url,
			 role_name(r.role));
	} else {
		status = rt->fn(&r, &out);
	}
	json_decref(r.body);
	if (r.text) {
		json_decref(out);
		return send_text(conn, status, r.text, r.ctype);
	}
	return send_json_if(conn, status, out ? out : json_object(), !strcmp(method, "GET"));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;
	if (up) {
		bodybuf_free(&up->body);
		free(up);
		*con_cls = NULL;
	}
}

static int unix_listen(const char *path, struct verr *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return verr_set(e, -ENAMETOOLONG, "%s: too long for a Unix socket", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return verr_set(e, rc, "%s: %s", path, strerror(-rc));
	}
	chmod(path, 0660);
	return fd;
}

int api_start(struct verr *e)
{
	const struct hostd_cfg *c = &g_hostd.cfg;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG;
	char *cert = NULL, *key = NULL;
	size_t n;
	int rc;

	if (c->tls_cert[0]) {
		rc = file_read_all(c->tls_cert, 1 << 20, &cert, &n, e);
		if (rc == 0)
			rc = file_read_all(c->tls_key, 1 << 20, &key, &n, e);
		if (rc < 0) {
			free(cert);
			return verr_prefix(e, rc, "TLS");
		}
	}
	if (c->port) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
		if (inet_pton(AF_INET, c->listen_addr, &sin.sin_addr) != 1) {
			free(cert);
			free(key);
			return verr_set(e, -EINVAL, "hostd.listen: '%s' is not an IPv4 address",
					c->listen_addr);
		}
		/* Passwords and tokens in clear text may only stay on this host. */
		if (!cert && (ntohl(sin.sin_addr.s_addr) >> 24) != 127) {
			if (!c->allow_plain_http) {
				free(key);
				return verr_set(e, -EPERM, "hostd.listen: plain HTTP on %s (not a loopback "
						"address) would send passwords in clear text; configure "
						"hostd.tlsCert and hostd.tlsKey, or set hostd.allowPlainHttp "
						"(--allow-plain-http)", c->listen_addr);
			}
			LOG_WRN("serving the API in plain HTTP on %s:%u (hostd.allowPlainHttp): "
				"passwords and tokens cross the network in clear text", c->listen_addr,
				c->port);
		}
		if (cert)
			g_tcp = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handle, NULL,
						 MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_NOTIFY_COMPLETED,
						 completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
						 c->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
						 API_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						 c->per_ip_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
						 (size_t)API_CONN_MEMORY, MHD_OPTION_THREAD_STACK_SIZE,
						 (size_t)API_THREAD_STACK, MHD_OPTION_HTTPS_PRIORITIES,
						 API_TLS_PRIORITIES, MHD_OPTION_HTTPS_MEM_KEY, key,
						 MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
		else
			g_tcp = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
						 &sin, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
						 MHD_OPTION_CONNECTION_TIMEOUT, c->conn_timeout_s,
						 MHD_OPTION_CONNECTION_LIMIT, API_MAX_CONNECTIONS,
						 MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->per_ip_limit,
						 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
						 MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK,
						 MHD_OPTION_END);
		if (!g_tcp) {
			free(cert);
			free(key);
			return verr_set(e, -EADDRINUSE, "cannot listen on %s:%u%s", c->listen_addr,
					c->port, cert ? " (TLS)" : "");
		}
	}
	free(cert);
	free(key);
	if (c->sock_path[0]) {
		g_unix_fd = unix_listen(c->sock_path, e);
		if (g_unix_fd < 0) {
			api_stop();
			return g_unix_fd;
		}
		g_unix = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_LISTEN_SOCKET,
					  g_unix_fd, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
					  MHD_OPTION_CONNECTION_TIMEOUT, c->conn_timeout_s,
					  MHD_OPTION_CONNECTION_LIMIT, API_MAX_CONNECTIONS,
					  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
					  MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK,
					  MHD_OPTION_END);
		if (!g_unix) {
			api_stop();
			return verr_set(e, -EIO, "cannot serve the API on %s", c->sock_path);
		}
	}
	return 0;
}

void api_stop(void)
{
	if (g_tcp)
		MHD_stop_daemon(g_tcp);
	if (g_unix)
		MHD_stop_daemon(g_unix);
	g_tcp = g_unix = NULL;
	if (g_unix_fd >= 0) {
		close(g_unix_fd);
		unlink(g_hostd.cfg.sock_path);
	}
	g_unix_fd = -1;
}
