/*
 * capi.c - vmx3-center's HTTP API (docs/CENTER.md), with hostd's conventions
 * (docs/API.md): JSON under /api/v1, bearer tokens from POST /session, roles,
 * errors as {"error": {code, message, field?}}, tasks to poll, GET /api/v1 as
 * the route table.  A host's VMs are reached below /api/v1/hosts/{host}/vms,
 * with the routes and replies of that host's own API, plus "host".
 *
 * Every center answers reads; changes (hosts, power, build types) are made by
 * the leader only, and another center refuses them with 503 naming the
 * leader, so two centers never act on one VM at once.
 */
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "../lib/bodybuf.h"
#include "../lib/build.h"
#include "../lib/log.h"
#include "../lib/urlpath.h"
#include "center.h"

#define CAPI_MAX_BODY (1 << 20)
#define CAPI_MAX_ARGS 4
#define CAPI_PREFIX "/api/v1"

struct req {
	struct MHD_Connection *conn;
	const char *method;
	json_t *body;
	const char *arg[CAPI_MAX_ARGS];
	char user[80];
	enum crole role;
	const char *token;
};

typedef int (*route_fn)(struct req *r, json_t **out);

struct route {
	const char *method, *pattern;
	enum crole need;
	bool leader; /* a change: the leader's to make */
	route_fn fn;
	const char *help;
};

static struct MHD_Daemon *g_daemon;

VMX_PRINTF(5, 6)
static int err(json_t **out, int status, const char *code, const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	*out = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	if (field)
		json_object_set_new(json_object_get(*out, "error"), "field", json_string(field));
	return status;
}

static const char *query(struct req *r, const char *k)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, k);
}

/* A host's reply passed on: its status and body, or 502 when it could not be reached. */
static int relay(long st, json_t *reply, const struct verr *e, json_t **out)
{
	if (st < 0) {
		json_decref(reply);
		return st == -ENOENT ? err(out, 404, "notFound", "host", "%s", e->msg) :
				       err(out, 502, "hostUnreachable", "host", "%s", e->msg);
	}
	*out = reply ? reply : json_object();
	return (int)st;
}

static void tag_vms(json_t *list, const char *host)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		json_object_set_new(v, "host", json_string(host));
}

/* --- handlers --------------------------------------------------------------------- */

static const struct route routes[];
static const size_t nroutes;

static int h_index(struct req *r, json_t **out)
{
	json_t *list = json_array();
	for (size_t i = 0; i < nroutes; i++)
		json_array_append_new(list, json_pack("{s:s, s:s+, s:s, s:b, s:s}", "method",
						      routes[i].method, "path", CAPI_PREFIX,
						      routes[i].pattern, "role",
						      crole_name(routes[i].need), "leaderOnly",
						      routes[i].leader, "what", routes[i].help));
	*out = json_pack("{s:s, s:i, s:o}", "product", "vmx3-center", "apiVersion", 1, "routes", list);
	return 200;
}

static int h_login(struct req *r, json_t **out)
{
	const char *u = json_string_value(json_object_get(r->body, "username"));
	const char *p = json_string_value(json_object_get(r->body, "password"));
	struct verr e = { "" };
	char token[65];
	enum crole role;
	int rc;

	if (!u)
		return err(out, 400, "invalidArgument", "username", "username: missing");
	if (!p)
		return err(out, 400, "invalidArgument", "password", "password: missing");
	rc = cauth_login(u, p, token, &role, &e);
	if (rc == -EACCES)
		return err(out, 401, "badCredentials", "password", "%s", e.msg);
	if (rc == -EINVAL)
		return err(out, 400, "invalidArgument", "username", "%s", e.msg);
	if (rc < 0)
		return err(out, 503, "storeUnavailable", NULL, "%s", e.msg);
	*out = json_pack("{s:s, s:s, s:s}", "token", token, "user", u, "role", crole_name(role));
	return 200;
}

static int h_session(struct req *r, json_t **out)
{
	*out = json_pack("{s:s, s:s}", "user", r->user, "role", crole_name(r->role));
	return 200;
}

static int h_logout(struct req *r, json_t **out)
{
	cauth_logout(r->token);
	*out = json_pack("{s:b}", "ok", 1);
	return 200;
}

static int h_host(struct req *r, json_t **out)
{
	char ln[128], lu[256];
	lead_current(ln, sizeof(ln), lu, sizeof(lu));
	*out = json_pack("{s:s, s:s, s:s, s:i, s:b, s:{s:s, s:s}, s:s, s:i, s:o}", "kind",
			 "manager", "name", g_center.cfg.name, "url", g_center.url, "apiVersion", 1,
			 "leader", lead_is_leader(), "leadership", "name", ln, "url", lu, "etcd",
			 g_center.cfg.etcd, "leaseSeconds", g_center.cfg.lease_ttl_s, "hosts",
			 chost_list(false));
	return 200;
}

static int h_hosts(struct req *r, json_t **out)
{
	*out = json_pack("{s:o}", "hosts", chost_list(true));
	return 200;
}

static int h_host_add(struct req *r, json_t **out)
{
	struct verr e = { "" };
	json_t *h = NULL;
	const char *name = json_string_value(json_object_get(r->body, "name"));
	int rc = chost_add(name, json_string_value(json_object_get(r->body, "url")),
			   json_string_value(json_object_get(r->body, "user")),
			   json_string_value(json_object_get(r->body, "password")), &h, &e);

	if (rc < 0) {
		char field[16] = "";
		sscanf(e.msg, "%15[a-z]:", field);
		return err(out, rc == -EINVAL ? 400 : rc == -EACCES ? 409 : 502,
			   rc == -EINVAL ? "invalidArgument" : "hostRefused", field[0] ? field : NULL,
			   "%s", e.msg);
	}
	ctask_event(r->user, name, 0, "hostAdded", "host %s at %s",
		    name, json_string_value(json_object_get(h, "url")));
	*out = h;
	return 201;
}

static int h_host_del(struct req *r, json_t **out)
{
	struct verr e = { "" };
	int rc = chost_del(r->arg[0], &e);

	if (rc < 0)
		return err(out, rc == -ENOENT ? 404 : 503, rc == -ENOENT ? "notFound" : "failed",
			   "host", "%s", e.msg);
	ctask_event(r->user, r->arg[0], 0, "hostRemoved", "host %s", r->arg[0]);
	*out = json_pack("{s:b}", "ok", 1);
	return 200;
}

/* The VM query (?name=, ?file=) as the host's API takes it. */
static void vm_query(struct req *r, char *path, size_t len, const char *base)
{
	const char *name = query(r, "name"), *file = query(r, "file");
	char *en = name ? curl_easy_escape(NULL, name, 0) : NULL;
	char *ef = file ? curl_easy_escape(NULL, file, 0) : NULL;
	snprintf(path, len, "%s%s%s%s%s%s", base, name || file ? "?" : "", name ? "name=" : "",
		 en ? en : "", name && file ? "&" : "", file ? "file=" : "");
	if (ef)
		snprintf(path + strlen(path), len - strlen(path), "%s", ef);
	curl_free(en);
	curl_free(ef);
}

static int h_vms(struct req *r, json_t **out)
{
	const char *only = query(r, "host");
	json_t *hosts = chost_list(false), *all = json_array(), *down = json_array(), *h;
	char path[1200];
	size_t i;

	vm_query(r, path, sizeof(path), "/vms");
	json_array_foreach(hosts, i, h) {
		const char *name = json_string_value(json_object_get(h, "name"));
		json_t *rep = NULL;
		struct verr e = { "" };
		if (only && strcmp(only, name))
			continue;
		long st = chost_call(name, "GET", path, NULL, &rep, &e);
		if (st == 200) {
			json_t *vms = json_object_get(rep, "vms");
			tag_vms(vms, name);
			json_array_extend(all, vms);
		} else {
			json_array_append_new(down, json_pack("{s:s, s:s}", "host", name, "message",
							      st < 0 ? e.msg : "GET /vms failed"));
		}
		json_decref(rep);
	}
	json_decref(hosts);
	*out = json_pack("{s:o, s:o}", "vms", all, "unreachable", down);
	return 200;
}

static int h_host_vms(struct req *r, json_t **out)
{
	char path[1200];
	json_t *rep = NULL;
	struct verr e = { "" };

	vm_query(r, path, sizeof(path), "/vms");
	long st = chost_call(r->arg[0], "GET", path, NULL, &rep, &e);
	if (st == 200)
		tag_vms(json_object_get(rep, "vms"), r->arg[0]);
	return relay(st, rep, &e, out);
}

static int h_host_vm(struct req *r, json_t **out)
{
	char path[200];
	json_t *rep = NULL;
	struct verr e = { "" };

	snprintf(path, sizeof(path), "/vms/%s", r->arg[1]);
	long st = chost_call(r->arg[0], "GET", path, NULL, &rep, &e);
	if (st == 200)
		json_object_set_new(rep, "host", json_string(r->arg[0]));
	return relay(st, rep, &e, out);
}

/* A change on a host: forwarded; its task becomes a center task the leader follows. */
static int change(struct req *r, const char *method, const char *what, const char *op,
		  json_t **out)
{
	char path[200];
	json_t *rep = NULL;
	struct verr e = { "" };
	int vm = atoi(r->arg[1]);

	snprintf(path, sizeof(path), "/vms/%s/%s", r->arg[1], what);
	long st = chost_call(r->arg[0], method, path, r->body, &rep, &e);
	if ((st == 200 || st == 202 || st == 500) && json_object_get(rep, "id") &&
	    json_object_get(rep, "state")) {
		int64_t id = ctask_follow(op, r->arg[0], vm, r->user, r->body, rep, &e);
		json_decref(rep);
		if (id < 0)
			return err(out, 503, "storeUnavailable", NULL,
				   "the host started the task, but the center could not record it: %s",
				   e.msg);
		*out = ctask_get(id);
		return *out ? 202 : err(out, 503, "storeUnavailable", NULL, "task %lld vanished",
					(long long)id);
	}
	return relay(st, rep, &e, out);
}

/*
 * Cluster admission for a build-type change of a running VM: the host must
 * hold the VM in its new build type (guest RAM plus that overhead, in place
 * of what the VM reserves now), or the center refuses with the numbers
 * before the host is asked.  When it holds that but not both processes of
 * a fast switch at once (RAM shared, both overheads), the host switches by
 * suspend and resume instead, and says why in its task.
 */
static int bt_admission(struct req *r, json_t **out)
{
	const char *bt = json_string_value(json_object_get(r->body, "buildType"));
	char path[200], msg[600];
	json_t *v = NULL, *h = NULL;
	int rc = 0;

	snprintf(path, sizeof(path), "/vms/%s", r->arg[1]);
	if (!bt || chost_call(r->arg[0], "GET", path, NULL, &v, NULL) != 200 ||
	    chost_call(r->arg[0], "GET", "/host", NULL, &h, NULL) != 200)
		goto out;   /* the host answers for itself */
	const char *power = json_string_value(json_object_get(v, "powerState")) ?: "";
	const char *cur = json_string_value(json_object_get(v, "runningBuildType")) ?:
			  json_string_value(json_object_get(v, "buildType")) ?: "default";
	json_t *ovh = json_object_get(h, "overheadMB");
	long long cap = json_integer_value(json_object_get(h, "memCapacityMB"));
	long long res = json_integer_value(json_object_get(h, "memReservedMB"));
	long long mem = json_integer_value(json_object_get(v, "memSizeMB"));
	long long onew = json_integer_value(json_object_get(ovh, bt));
	long long ocur = json_integer_value(json_object_get(ovh, cur));
	if (strcmp(power, "poweredOn") || !cap || !json_object_get(ovh, bt))
		goto out;
	long long others = res - (mem + ocur);
	if (others < 0)
		others = 0;
	if (mem + onew > cap - others) {
		snprintf(msg, sizeof(msg), "admission control refused: host %s: memory capacity %lld "
			 "MiB, %lld MiB reserved by its other VMs, %lld MiB free; the VM needs %lld MiB "
			 "as %s (%lld guest + %lld %s overhead)", r->arg[0], cap, others,
			 cap > others ? cap - others : 0, mem + onew, bt, mem, onew, bt);
		rc = err(out, 409, "admissionRefused", "buildType", "%s", msg);
	}
out:
	json_decref(v);
	json_decref(h);
	return rc;
}

static int h_bt_put(struct req *r, json_t **out)
{
	int rc = bt_admission(r, out);
	if (rc)
		return rc;
	return change(r, "PUT", "buildType", "changeBuildType", out);
}

static int h_power(struct req *r, json_t **out)
{
	return change(r, "POST", "power", "power", out);
}

static int h_migrate(struct req *r, json_t **out)
{
	const char *to = json_string_value(json_object_get(r->body, "to"));
	struct verr e = { "" };
	int64_t id = 0;
	int status, rc;

	if (!to)
		return err(out, 400, "invalidArgument", "to", "to: the destination host's name");
	rc = cmig_start(r->arg[0], atoi(r->arg[1]), to, r->user, &id, &status, &e);
	if (rc < 0) {
		char field[16] = "";
		sscanf(e.msg, "%15[a-z]:", field);
		return err(out, status, status == 404 ? "notFound" : status == 400 ? "invalidArgument" :
			   "conflict", field[0] ? field : NULL, "%s", e.msg);
	}
	*out = ctask_get(id);
	return *out ? 202 : err(out, 503, "storeUnavailable", NULL, "task %lld vanished", (long long)id);
}

static int h_tasks(struct req *r, json_t **out)
{
	const char *l = query(r, "limit");
	int lim = l ? atoi(l) : 50;
	if (lim < 1 || lim > 1000)
		return err(out, 400, "invalidArgument", "limit", "limit: a number from 1 to 1000");
	*out = json_pack("{s:o}", "tasks", ctask_list(lim));
	return 200;
}

static int h_task(struct req *r, json_t **out)
{
	char *end;
	long long id = strtoll(r->arg[0], &end, 10);
	json_t *t = *end || id <= 0 ? NULL : ctask_get(id);

	if (!t)
		return err(out, 404, "notFound", "task", "task: no task with id '%s'", r->arg[0]);
	*out = t;
	return 200;
}

static int h_events(struct req *r, json_t **out)
{
	const char *l = query(r, "limit");
	int lim = l ? atoi(l) : 100;
	if (lim < 1 || lim > 1000)
		return err(out, 400, "invalidArgument", "limit", "limit: a number from 1 to 1000");
	*out = json_pack("{s:o}", "events", ctask_events(lim));
	return 200;
}

static const struct route routes[] = {
	{ "GET", "", CROLE_NONE, false, h_index, "API version and this route table" },
	{ "POST", "/session", CROLE_NONE, false, h_login, "log in: {username, password} -> {token}" },
	{ "GET", "/session", CROLE_READONLY, false, h_session, "the session's user and role" },
	{ "DELETE", "/session", CROLE_READONLY, false, h_logout, "log out" },
	{ "GET", "/host", CROLE_READONLY, false, h_host, "this center: kind manager, leadership, hosts" },
	{ "GET", "/hosts", CROLE_READONLY, false, h_hosts, "managed hosts, probed: state, hostd's /host" },
	{ "POST", "/hosts", CROLE_ADMIN, true, h_host_add, "add a host {name, url, user, password}" },
	{ "DELETE", "/hosts/{host}", CROLE_ADMIN, true, h_host_del, "stop managing a host" },
	{ "GET", "/vms", CROLE_READONLY, false, h_vms, "every host's VMs with their host (?name=, ?file=, ?host=)" },
	{ "GET", "/hosts/{host}/vms", CROLE_READONLY, false, h_host_vms, "one host's VMs (?name=, ?file=)" },
	{ "GET", "/hosts/{host}/vms/{id}", CROLE_READONLY, false, h_host_vm, "one VM" },
	{ "PUT", "/hosts/{host}/vms/{id}/buildType", CROLE_ADMIN, true, h_bt_put, "change the build type (the host's body) -> task" },
	{ "POST", "/hosts/{host}/vms/{id}/power", CROLE_ADMIN, true, h_power, "power operation (the host's body) -> task" },
	{ "POST", "/hosts/{host}/vms/{id}/migrate", CROLE_ADMIN, true, h_migrate, "{to}: move a powered-off or suspended VM to another host that sees its datastore -> task" },
	{ "GET", "/tasks", CROLE_READONLY, false, h_tasks, "recent tasks, newest first (?limit=)" },
	{ "GET", "/tasks/{id}", CROLE_READONLY, false, h_task, "one task: state, progress, phases, result, host" },
	{ "GET", "/events", CROLE_READONLY, false, h_events, "recent events, newest first (?limit=)" },
};
static const size_t nroutes = sizeof(routes) / sizeof(routes[0]);

/* --- the server ------------------------------------------------------------------- */

static enum MHD_Result reply_json(struct MHD_Connection *c, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(body);
	if (!text) {
		status = 500;
		text = strdup("{\"error\":{\"code\":\"failed\",\"message\":\"the response could not be encoded\"}}");
		if (!text)
			return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **con_cls)
{
	struct bodybuf *up = *con_cls;
	struct req r = { .conn = conn, .method = method };
	const struct route *rt = NULL;
	char store[1024];
	bool known = false;
	json_t *out = NULL;
	int status;

	if (!up) {
		up = calloc(1, sizeof(*up));
		*con_cls = up;
		return up ? MHD_YES : MHD_NO;
	}
	if (*size) {
		if (bodybuf_append(up, data, *size, CAPI_MAX_BODY) < 0)
			return MHD_NO;
		*size = 0;
		return MHD_YES;
	}
	if (up->too_big)
		return reply_json(conn, 413, json_pack("{s:{s:s, s:s}}", "error", "code", "tooLarge",
						 "message", "request body larger than 1 MiB"));
	if (strncmp(url, CAPI_PREFIX, strlen(CAPI_PREFIX))) {
		err(&out, 404, "notFound", NULL, "no such path (the API lives under %s)", CAPI_PREFIX);
		return reply_json(conn, 404, out);
	}
	const char *sub = url + strlen(CAPI_PREFIX);
	for (size_t i = 0; i < nroutes && !rt; i++)
		if (urlpath_match(routes[i].pattern, sub, store, sizeof(store), r.arg, CAPI_MAX_ARGS)) {
			known = true;
			if (!strcmp(routes[i].method, method))
				rt = &routes[i];
		}
	if (!rt) {
		err(&out, known ? 405 : 404, known ? "methodNotAllowed" : "notFound", NULL, "%s %s: %s",
		    method, url, known ? "method not allowed" : "no such path");
		return reply_json(conn, known ? 405 : 404, out);
	}
	if (up->len) {
		json_error_t je;
		r.body = json_loadb(up->buf, up->len, 0, &je);
		if (!json_is_object(r.body)) {
			json_decref(r.body);
			err(&out, 400, "badJson", "body", "body: not a JSON object (%s)", je.text);
			return reply_json(conn, 400, out);
		}
	} else {
		r.body = json_object();
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (auth && !strncmp(auth, "Bearer ", 7))
		r.token = auth + 7;
	r.role = cauth_session(r.token, r.user, sizeof(r.user));
	if (rt->need != CROLE_NONE && r.role == CROLE_NONE) {
		status = err(&out, 401, "unauthenticated", NULL,
			     "log in first (POST %s/session) and send 'Authorization: Bearer TOKEN'",
			     CAPI_PREFIX);
	} else if (r.role < rt->need) {
		status = err(&out, 403, "forbidden", NULL, "user '%s' (%s) may not %s %s: it needs "
			     "the admin role", r.user, crole_name(r.role), method, url);
	} else if (rt->leader && !lead_is_leader()) {
		char ln[128], lu[256];
		lead_current(ln, sizeof(ln), lu, sizeof(lu));
		status = err(&out, 503, "notLeader", NULL,
			     "center %s does not lead the cluster; %s%s%s%s makes changes (retry there)",
			     g_center.cfg.name, ln[0] ? ln : "nobody yet", lu[0] ? " at " : "", lu,
			     ln[0] ? "" : ": try again in a few seconds");
		if (ln[0])
			json_object_set_new(json_object_get(out, "error"), "leader",
					    json_pack("{s:s, s:s}", "name", ln, "url", lu));
	} else {
		status = rt->fn(&r, &out);
	}
	json_decref(r.body);
	return reply_json(conn, status, out ? out : json_object());
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct bodybuf *up = *con_cls;
	if (up) {
		bodybuf_free(up);
		free(up);
		*con_cls = NULL;
	}
}

int capi_start(struct verr *e)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_center.cfg.port) };

	if (inet_pton(AF_INET, g_center.cfg.listen_addr, &sin.sin_addr) != 1)
		return verr_set(e, -EINVAL, "--listen: '%s' is not an IPv4 address",
				g_center.cfg.listen_addr);
	if ((ntohl(sin.sin_addr.s_addr) >> 24) != 127)
		return verr_set(e, -EPERM, "--listen: %s is not a loopback address; plain HTTP would "
				"send passwords in clear text (vmx3-center serves loopback only; put a "
				"TLS proxy in front of it)", g_center.cfg.listen_addr);
	g_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					    MHD_USE_ERROR_LOG,
				    0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sin,
				    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				    MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT,
				    128u, MHD_OPTION_END);
	if (!g_daemon)
		return verr_set(e, -EADDRINUSE, "cannot listen on %s:%u", g_center.cfg.listen_addr,
				g_center.cfg.port);
	return 0;
}

void capi_stop(void)
{
	if (g_daemon)
		MHD_stop_daemon(g_daemon);
	g_daemon = NULL;
}
