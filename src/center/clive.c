/*
 * clive.c - live migration of a running VM between two hosts that see its
 * datastore (docs/MIGRATION.md): the destination's hostd starts a vmx
 * waiting for it (POST /vms/incoming), the source's hostd has its vmx send
 * the VM there (POST /vms/{id}/migrate), and the center follows both hostd
 * tasks.  The vmx processes decide who runs the guest; the center's own
 * decision is the rare migration left in doubt (the connection lost
 * between "go" and "running"): it asks the destination whether its vmx
 * was given the guest, and tells the source to end or to run on.
 *
 * Each step is written to the task in etcd before it is taken ("check",
 * "incoming", "copying", then "done" or "undone"), with the hostd task ids,
 * so a new leader follows a migration its predecessor started.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../lib/log.h"
#include "center.h"

#define CLIVE_POLL_US    100000
#define CLIVE_MAX_S      3600     /* a migration that has not ended by then is given up */

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k)) ?: "";
}

static long long jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *err_of(json_t *reply, const struct verr *e, long st)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
	return st < 0 ? e->msg : m ? m : "no reason given";
}

/* A hostd task, or NULL when the host cannot say now. */
static json_t *host_task(const char *host, long long id)
{
	char path[64];
	json_t *r = NULL;
	snprintf(path, sizeof(path), "/tasks/%lld", id);
	if (chost_call(host, "GET", path, NULL, &r, NULL) != 200) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static bool stored(json_t *t)
{
	return lead_is_leader() && ctask_put(t, NULL) == 0;
}

/* The destination's hostd takes the VM in: a vmx there waits for it. */
static bool step_incoming(json_t *t, const char *src, const char *dst)
{
	json_t *body = json_pack("{s:s, s:s}", "file", jstr(t, "file"), "name", jstr(t, "name"));
	json_t *r = NULL;
	struct verr e = { "" };
	char msg[1200];
	long st = chost_call(dst, "POST", "/vms/incoming", body, &r, &e);

	json_decref(body);
	if (st != 201) {
		snprintf(msg, sizeof(msg), "host %s cannot take the VM: %s; it runs on %s as before",
			 dst, err_of(r, &e, st), src);
		json_decref(r);
		json_object_set_new(t, "step", json_string("undone"));
		ctask_finish(t, msg);
		return false;
	}
	json_object_set_new(t, "dstId", json_integer(jint(r, "id")));
	json_object_set_new(t, "dstTask", json_integer(jint(r, "task")));
	json_object_set_new(t, "address", json_string(jstr(r, "address")));
	/*
	 * The token is a secret: not in the task, which read-only users see.  etcd
	 * keeps the hosts' credentials already; it lives there until it is used.
	 */
	char key[128];
	center_key(key, sizeof(key), "migtokens/%lld", jint(t, "id"));
	if (etcd_put(g_center.etcd, key, jstr(r, "token"), 0, NULL, &e) < 0) {
		snprintf(msg, sizeof(msg), "cannot keep the migration token in etcd: %s; the VM runs "
			 "on %s as before", e.msg, src);
		json_decref(r);
		json_object_set_new(t, "step", json_string("undone"));
		ctask_finish(t, msg);
		return false;
	}
	json_object_set_new(t, "dstBuildType", json_string(jstr(r, "buildType")));
	json_object_set_new(t, "step", json_string("incoming"));
	json_object_set_new(t, "progress", json_integer(10));
	json_decref(r);
	return stored(t);
}

/* The source's hostd has its vmx send the VM. */
static bool step_send(json_t *t, const char *src, const char *dst)
{
	char path[64], msg[1200], key[128], token[128] = "";
	json_t *r = NULL;
	struct verr e = { "" };
	struct etcd_kv kv;

	center_key(key, sizeof(key), "migtokens/%lld", jint(t, "id"));
	if (etcd_get(g_center.etcd, key, &kv, NULL) == 0) {
		snprintf(token, sizeof(token), "%s", kv.value);
		free(kv.key);
		free(kv.value);
	}
	json_t *body = json_pack("{s:s, s:s}", "peer", jstr(t, "address"), "token", token);
	explicit_bzero(token, sizeof(token));
	etcd_del(g_center.etcd, key, NULL);

	snprintf(path, sizeof(path), "/vms/%lld/migrate", jint(t, "vm"));
	long st = chost_call(src, "POST", path, body, &r, &e);
	json_decref(body);
	if (st != 202 && st != 200) {
		snprintf(msg, sizeof(msg), "host %s cannot send the VM: %s; it runs there as before "
			 "(the vmx waiting on %s gives up within two minutes)", src,
			 err_of(r, &e, st), dst);
		json_decref(r);
		json_object_set_new(t, "step", json_string("undone"));
		ctask_finish(t, msg);
		return false;
	}
	json_object_set_new(t, "srcTask", json_integer(jint(r, "id")));
	json_object_set_new(t, "step", json_string("copying"));
	json_object_set_new(t, "progress", json_integer(20));
	json_decref(r);
	return stored(t);
}

/*
 * The build type travels: a destination without the VM's build type runs
 * default (its hostd said so, and set the .vmx), and the type asked for is
 * kept in etcd (PREFIX buildtypes/FILE) until a host that has it takes the
 * VM, where it is switched back (a fast switch there).  bt gets what runs.
 */
static void clive_travel(json_t *t, const char *dst, int nid, char *bt, size_t len)
{
	char key[1200], path[96];
	const char *ran = jstr(t, "dstBuildType"), *asked = jstr(t, "buildType");
	const char *file = jstr(t, "file");
	struct etcd_kv kv;
	char kept[32] = "";

	snprintf(bt, len, "%s", ran);
	center_key(key, sizeof(key), "buildtypes/%s", file);
	if (etcd_get(g_center.etcd, key, &kv, NULL) == 0) {
		snprintf(kept, sizeof(kept), "%s", kv.value);
		free(kv.key);
		free(kv.value);
	}
	if (*asked && strcmp(ran, asked)) {
		const char *want = kept[0] ? kept : asked;
		etcd_put(g_center.etcd, key, want, 0, NULL, NULL);
		json_object_set_new(t, "requestedBuildType", json_string(want));
		ctask_event(jstr(t, "user"), dst, nid, "buildTypeDropped",
			    "%s: host %s has no %s binary, so the VM runs %s there; %s is put back "
			    "when it moves to a host that has one", file, dst, want, ran, want);
		return;
	}
	if (!kept[0])
		return;
	if (!strcmp(kept, ran)) {
		etcd_del(g_center.etcd, key, NULL);
		return;
	}
	json_t *h = NULL, *r = NULL;
	bool has = chost_call(dst, "GET", "/host", NULL, &h, NULL) == 200 &&
		   json_is_string(json_object_get(json_object_get(h, "vmxBinaries"), kept));
	json_decref(h);
	if (!has) {
		json_object_set_new(t, "requestedBuildType", json_string(kept));
		return;
	}
	snprintf(path, sizeof(path), "/vms/%d/buildType", nid);
	json_t *body = json_pack("{s:s, s:b}", "buildType", kept, "wait", 1);
	long st = chost_call(dst, "PUT", path, body, &r, NULL);
	json_decref(body);
	json_decref(r);
	if (st == 200) {
		etcd_del(g_center.etcd, key, NULL);
		snprintf(bt, len, "%s", kept);
		ctask_event(jstr(t, "user"), dst, nid, "buildTypeReapplied",
			    "%s: host %s has the %s binary: the running VM was switched back to %s",
			    file, dst, kept, kept);
	} else {
		json_object_set_new(t, "requestedBuildType", json_string(kept));
	}
}

/* In doubt: did the destination's vmx get the guest?  1 yes, 0 no, -1 cannot tell yet. */
static int dst_has_guest(json_t *dt)
{
	const char *state = jstr(dt, "state");
	if (!strcmp(state, "success"))
		return 1;
	if (!strcmp(state, "error"))
		return strstr(jstr(dt, "error"), "after it was given the guest") ? 1 : 0;
	return -1;
}

static void resolve(json_t *t, const char *src, bool run_here)
{
	char path[80];
	json_t *body = json_pack("{s:b}", "runHere", run_here), *r = NULL;
	snprintf(path, sizeof(path), "/vms/%lld/migrateResolve", jint(t, "vm"));
	long st = chost_call(src, "POST", path, body, &r, NULL);
	json_decref(body);
	json_decref(r);
	ctask_event(jstr(t, "user"), src, (int)jint(t, "vm"), "migrationResolved",
		    "%s: the connection was lost after \"go\"; the destination %s the guest, so the "
		    "source was told to %s (%ld)", jstr(t, "file"), run_here ? "did not get" : "has",
		    run_here ? "run on" : "end", st);
}

/* Follows both hostd tasks to the end. */
static void step_follow(json_t *t, const char *src, const char *dst)
{
	char msg[1600];
	bool resolved = false;
	time_t give_up = time(NULL) + CLIVE_MAX_S;

	while (lead_is_leader()) {
		json_t *st = host_task(src, jint(t, "srcTask"));
		json_t *dt = host_task(dst, jint(t, "dstTask"));
		const char *ss = st ? jstr(st, "state") : "", *ds = dt ? jstr(dt, "state") : "";

		if (st && !strcmp(ss, "running") && !resolved &&
		    !strncmp(jstr(st, "what"), "in doubt", 8) && dt) {
			int has = dst_has_guest(dt);
			if (has >= 0) {
				resolve(t, src, has == 0);
				resolved = true;
			}
		}
		if (dt && !strcmp(ds, "running") && !strncmp(jstr(dt, "what"), "orphaned", 8) &&
		    !resolved && st && strcmp(ss, "running")) {
			/*
			 * The destination holds the whole VM and the source's vmx ended
			 * before "go": if the source does not run the guest, the
			 * destination's copy is the only one left.
			 */
			char path[64];
			json_t *v = NULL;
			snprintf(path, sizeof(path), "/vms/%lld", jint(t, "vm"));
			long vst = chost_call(src, "GET", path, NULL, &v, NULL);
			bool src_runs = vst == 200 && !strcmp(jstr(v, "powerState"), "poweredOn");
			json_decref(v);
			if (vst == 200 || vst == 404) {
				json_t *body = json_pack("{s:b}", "runHere", !src_runs), *r = NULL;
				snprintf(path, sizeof(path), "/vms/%lld/migrateResolve", jint(t, "dstId"));
				long rst = chost_call(dst, "POST", path, body, &r, NULL);
				json_decref(body);
				json_decref(r);
				resolved = true;
				ctask_event(jstr(t, "user"), dst, (int)jint(t, "dstId"), "migrationResolved",
					    "%s: the source's vmx ended after handing over the whole VM; %s "
					    "(%ld)", jstr(t, "file"), src_runs ? "the source runs the guest, "
					    "the destination's copy ends" : "the destination runs the only copy",
					    rst);
			}
		}
		if (st && dt && !strcmp(ss, "error") && !strcmp(ds, "success")) {
			/* The source's vmx died after handing over everything: the destination runs it. */
			char path[64];
			json_t *r = NULL;
			snprintf(path, sizeof(path), "/vms/%lld", jint(t, "vm"));
			/* Its hostd lets go once it has seen its vmx exit. */
			for (int i = 0; i < 60; i++) {
				long dst_st = chost_call(src, "DELETE", path, NULL, &r, NULL);
				json_decref(r);
				r = NULL;
				if (dst_st == 200 || dst_st == 404)
					break;
				usleep(500000);
			}
			json_t *dr = json_object_get(dt, "result");
			json_object_set_new(t, "step", json_string("done"));
			json_object_set_new(t, "result", json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:O?}",
				"from", src, "to", dst, "oldId", (json_int_t)jint(t, "vm"), "newId",
				(json_int_t)jint(t, "dstId"), "file", jstr(t, "file"), "powerState",
				"poweredOn", "method", "live", "downtimeMs",
				json_object_get(dr, "downtimeMs")));
			ctask_finish(t, NULL);
			ctask_event(jstr(t, "user"), dst, (int)jint(t, "dstId"), "vmMigrated",
				    "%s (%s) moved live from %s to %s; the source's vmx ended (%s) after "
				    "handing over the whole VM, and %s ran it", jstr(t, "name"),
				    jstr(t, "file"), src, dst, jstr(st, "error"), dst);
			json_decref(st);
			json_decref(dt);
			return;
		}
		if (st && dt && !strcmp(ss, "success") && !strcmp(ds, "success")) {
			json_t *dr = json_object_get(dt, "result");
			char bt[32];
			json_object_set_new(t, "step", json_string("done"));
			clive_travel(t, dst, (int)jint(t, "dstId"), bt, sizeof(bt));
			json_t *res = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "from", src,
						"to", dst, "oldId", (json_int_t)jint(t, "vm"), "newId",
						(json_int_t)jint(t, "dstId"), "file", jstr(t, "file"),
						"powerState", "poweredOn", "method", "live", "buildType",
						bt);
			/* The destination counted the whole transfer. */
			const char *keys[] = { "rounds", "pagesSent", "zeroPages", "bytesSent",
					       "lastRoundPages", "downtimeMs" };
			for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (json_object_get(dr, keys[i]))
					json_object_set(res, keys[i], json_object_get(dr, keys[i]));
			if (json_object_get(t, "requestedBuildType"))
				json_object_set(res, "requestedBuildType",
						json_object_get(t, "requestedBuildType"));
			json_object_set_new(t, "result", res);
			ctask_finish(t, NULL);
			ctask_event(jstr(t, "user"), dst, (int)jint(t, "dstId"), "vmMigrated",
				    "%s (%s) moved live from %s to %s (downtime %.3f ms)",
				    jstr(t, "name"), jstr(t, "file"), src, dst,
				    json_number_value(json_object_get(dr, "downtimeMs")));
			json_decref(st);
			json_decref(dt);
			return;
		}
		if (st && dt && !strcmp(ss, "success") && !strcmp(ds, "error")) {
			/*
			 * Handed over, and the destination's task failed: its hostd restarted
			 * (and adopts the vmx that runs the guest), or its vmx died with it.
			 */
			char path[64];
			json_t *v = NULL;
			bool runs = false;
			snprintf(path, sizeof(path), "/vms/%lld", jint(t, "dstId"));
			for (int i = 0; i < 100 && !runs; i++) {
				long vst = chost_call(dst, "GET", path, NULL, &v, NULL);
				runs = vst == 200 && !strcmp(jstr(v, "powerState"), "poweredOn");
				json_decref(v);
				v = NULL;
				if (vst == 404 || (vst == 200 && !strstr(jstr(dt, "error"), "restart")))
					break;
				if (!runs)
					usleep(200000);
			}
			if (runs) {
				json_object_set_new(t, "step", json_string("done"));
				json_object_set_new(t, "result", json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}",
					"from", src, "to", dst, "oldId", (json_int_t)jint(t, "vm"), "newId",
					(json_int_t)jint(t, "dstId"), "file", jstr(t, "file"), "powerState",
					"poweredOn", "method", "live"));
				ctask_finish(t, NULL);
				ctask_event(jstr(t, "user"), dst, (int)jint(t, "dstId"), "vmMigrated",
					    "%s (%s) moved live from %s to %s (%s)", jstr(t, "name"),
					    jstr(t, "file"), src, dst, jstr(dt, "error"));
				json_decref(st);
				json_decref(dt);
				return;
			}
			snprintf(msg, sizeof(msg), "the VM was handed over to %s, whose vmx then ended: %s; "
				 "it is powered off on %s", dst, jstr(dt, "error"), dst);
			json_object_set_new(t, "step", json_string("done"));
			ctask_finish(t, msg);
			json_decref(st);
			json_decref(dt);
			return;
		}
		if (st && !strcmp(ss, "error") && (!dt || strcmp(ds, "running"))) {
			int has = dt ? dst_has_guest(dt) : -1;
			if (has == 1 && !strcmp(ds, "error"))
				snprintf(msg, sizeof(msg), "%s; the destination %s was given the guest "
					 "and its vmx ended: the VM is powered off on %s", jstr(st, "error"),
					 dst, dst);
			else
				snprintf(msg, sizeof(msg), "%s (host %s); destination %s: %s", jstr(st, "error"),
					 src, dst, dt ? (strcmp(ds, "error") ? ds : jstr(dt, "error"))
						      : "unreachable");
			json_object_set_new(t, "step", json_string(has == 1 ? "done" : "undone"));
			ctask_finish(t, msg);
			json_decref(st);
			json_decref(dt);
			return;
		}
		if (time(NULL) > give_up) {
			json_object_set_new(t, "step", json_string("undone"));
			ctask_finish(t, "the migration did not end within an hour; see both hosts' tasks");
			json_decref(st);
			json_decref(dt);
			return;
		}
		if (st) {
			json_object_set_new(t, "what", json_string(jstr(st, "what")));
			json_object_set_new(t, "progress", json_integer(jint(st, "progress")));
		}
		json_decref(st);
		json_decref(dt);
		usleep(CLIVE_POLL_US);
	}
}

void clive_run(json_t *t)
{
	const char *src = jstr(t, "host"), *dst = jstr(json_object_get(t, "params"), "to");
	char s[128], d[128];

	snprintf(s, sizeof(s), "%s", src);
	snprintf(d, sizeof(d), "%s", dst);
	if (!strcmp(jstr(t, "step"), "check") && !step_incoming(t, s, d))
		return;
	if (!strcmp(jstr(t, "step"), "incoming") && !step_send(t, s, d))
		return;
	if (!strcmp(jstr(t, "step"), "copying"))
		step_follow(t, s, d);
}
