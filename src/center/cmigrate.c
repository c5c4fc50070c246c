/*
 * cmigrate.c - moving a VM to another host that sees the same datastore
 * (the same name on both hostd, as NFS or VMFS would give): the checks and
 * the task for every move, and cold migration of a powered-off or
 * suspended VM, by unregistering it on the source and registering the same
 * .vmx on the destination.  Its files do not move; a suspended VM's
 * checkpoint comes along and resumes there, in the build type its .vmx
 * names.  A running VM moves live (clive.c).
 *
 * The task in etcd records each step before it is taken ("step": check,
 * unregistered, then done), so a new leader finishes a migration its
 * predecessor left half done, or puts the VM back: at the end the VM is
 * registered on exactly one host, never two and never none.  Only a source
 * that refuses to take the VM back after the destination refused it leaves
 * it registered nowhere, and the task then says so with the file to register.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../lib/log.h"
#include "center.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k)) ?: "";
}

static void phase(json_t *t, const char *name, double ms)
{
	json_t *ph = json_object_get(t, "phases");
	if (!json_is_array(ph)) {
		ph = json_array();
		json_object_set_new(t, "phases", ph);
	}
	json_array_append_new(ph, json_pack("{s:s, s:f}", "name", name, "ms", ms));
}

static const char *err_of(json_t *reply, const struct verr *e, long st)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
	return st < 0 ? e->msg : m ? m : "no reason given";
}

/* The VM's id on host for file, or -1. */
static int id_on(const char *host, const char *file)
{
	json_t *r = NULL;
	int id = -1;

	if (chost_call(host, "GET", "/vms", NULL, &r, NULL) == 200) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(r, "vms"), i, v)
			if (!strcmp(jstr(v, "file"), file))
				id = (int)json_integer_value(json_object_get(v, "id"));
	}
	json_decref(r);
	return id;
}

static int reg(const char *host, json_t *t, char *why, size_t wlen)
{
	json_t *body = json_pack("{s:s, s:s}", "file", jstr(t, "file"), "name", jstr(t, "name"));
	json_t *r = NULL;
	struct verr e = { "" };
	long st = chost_call(host, "POST", "/vms", body, &r, &e);
	int id = -1;

	json_decref(body);
	if (st == 201)
		id = (int)json_integer_value(json_object_get(r, "id"));
	else if (st == 409)
		id = id_on(host, jstr(t, "file")); /* registered already: a step retried */
	if (id < 0)
		snprintf(why, wlen, "%s", err_of(r, &e, st));
	json_decref(r);
	return id;
}

/*
 * The build type travels with the VM: on a host without that build type's
 * binary (an older host) it runs default, and the center keeps the requested
 * type (PREFIX buildtypes/FILE) to put back when the VM reaches a host that
 * has it.  Returns the VM's build type on dst (for the result).
 */
static const char *travel(json_t *t, const char *dst, int nid, char *bt_out, size_t len)
{
	char key[1200], path[96];
	json_t *h = NULL, *r = NULL;
	struct etcd_kv kv;
	const char *bt = jstr(t, "buildType"), *file = jstr(t, "file");
	const char *want = bt;
	bool kept = false;

	snprintf(bt_out, len, "%s", bt);
	center_key(key, sizeof(key), "buildtypes/%s", file);
	if (etcd_get(g_center.etcd, key, &kv, NULL) == 0) {
		snprintf(bt_out, len, "%s", kv.value);
		kept = true;
		free(kv.key);
		free(kv.value);
		want = bt_out;
	}
	if (!*want)
		return bt_out; /* a record from before build types were kept: leave it be */
	if (chost_call(dst, "GET", "/host", NULL, &h, NULL) != 200) {
		json_decref(h);
		snprintf(bt_out, len, "%s", bt);
		return bt_out;
	}
	bool has = json_is_string(json_object_get(json_object_get(h, "vmxBinaries"), want));
	json_decref(h);
	snprintf(path, sizeof(path), "/vms/%d/buildType", nid);
	if (!has && strcmp(want, "default")) {
		json_t *body = json_pack("{s:s, s:b}", "buildType", "default", "wait", 1);
		long st = chost_call(dst, "PUT", path, body, &r, NULL);
		json_decref(body);
		json_decref(r);
		if (st == 200) {
			etcd_put(g_center.etcd, key, want, 0, NULL, NULL);
			json_object_set_new(t, "requestedBuildType", json_string(want));
			ctask_event(jstr(t, "user"), dst, nid, "buildTypeDropped",
				    "%s: host %s has no %s binary, so the VM runs default there; %s is "
				    "put back when it moves to a host that has one", file, dst, want, want);
			snprintf(bt_out, len, "default");
		}
	} else if (has && kept && strcmp(want, bt)) {
		json_t *body = json_pack("{s:s, s:b}", "buildType", want, "wait", 1);
		long st = chost_call(dst, "PUT", path, body, &r, NULL);
		json_decref(body);
		json_decref(r);
		if (st == 200) {
			etcd_del(g_center.etcd, key, NULL);
			ctask_event(jstr(t, "user"), dst, nid, "buildTypeReapplied",
				    "%s: host %s has the %s binary: vmx.buildType is %s again", file, dst,
				    want, want);
		} else {
			snprintf(bt_out, len, "%s", bt);
		}
	} else if (has && kept) {
		etcd_del(g_center.etcd, key, NULL);
	}
	return bt_out;
}

static void run(json_t *t)
{
	int64_t id = json_integer_value(json_object_get(t, "id"));
	const char *src = jstr(t, "host"), *dst = jstr(json_object_get(t, "params"), "to");
	char why[700] = "", path[64], msg[1600];
	double t0 = now_ms();

	if (json_is_true(json_object_get(t, "live"))) {
		clive_run(t);
		goto out;
	}

	if (!strcmp(jstr(t, "step"), "check")) {
		json_t *r = NULL;
		struct verr e = { "" };
		snprintf(path, sizeof(path), "/vms/%lld",
			 (long long)json_integer_value(json_object_get(t, "vm")));
		long st = chost_call(src, "DELETE", path, NULL, &r, &e);
		if (st != 200 && st != 404) {
			snprintf(msg, sizeof(msg), "host %s did not unregister the VM: %s (it stays "
				 "there)", src, err_of(r, &e, st));
			json_decref(r);
			ctask_finish(t, msg);
			goto out;
		}
		json_decref(r);
		phase(t, "unregister", now_ms() - t0);
		json_object_set_new(t, "step", json_string("unregistered"));
		json_object_set_new(t, "progress", json_integer(50));
		if (!lead_is_leader() || ctask_put(t, NULL) < 0)
			return; /* the next leader goes on from the recorded step */
		t0 = now_ms();
	}
	if (!strcmp(jstr(t, "step"), "unregistered")) {
		int nid = reg(dst, t, why, sizeof(why));
		phase(t, "register", now_ms() - t0);
		if (nid > 0) {
			char bt[32];
			t0 = now_ms();
			travel(t, dst, nid, bt, sizeof(bt));
			phase(t, "buildType", now_ms() - t0);
			json_object_set_new(t, "step", json_string("done"));
			json_object_set_new(t, "result", json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:s}",
								   "from", src, "to", dst, "oldId",
								   json_integer_value(json_object_get(t, "vm")),
								   "newId", nid, "file", jstr(t, "file"),
								   "powerState", jstr(t, "powerState"),
								   "buildType", bt));
			if (json_object_get(t, "requestedBuildType"))
				json_object_set(json_object_get(t, "result"), "requestedBuildType",
						json_object_get(t, "requestedBuildType"));
			ctask_finish(t, NULL);
			ctask_event(jstr(t, "user"), dst, nid, "vmMigrated", "%s (%s) moved from %s to %s "
				    "(%s)", jstr(t, "name"), jstr(t, "file"), src, dst,
				    jstr(t, "powerState"));
			goto out;
		}
		/* The destination refused: the VM goes back where it was. */
		char back[700] = "";
		int bid = reg(src, t, back, sizeof(back));
		if (bid > 0)
			snprintf(msg, sizeof(msg), "host %s refused the VM: %s; it is registered on %s "
				 "again (id %d)", dst, why, src, bid);
		else
			snprintf(msg, sizeof(msg), "host %s refused the VM: %s; and %s refused it back: "
				 "%s; it is registered nowhere: register %s on a host by hand", dst, why,
				 src, back, jstr(t, "file"));
		json_object_set_new(t, "step", json_string(bid > 0 ? "undone" : "lost"));
		ctask_finish(t, msg);
	}
out:
	if (lead_is_leader())
		ctask_put(t, NULL);
	LOG_INF("task %lld (migrate %s from %s to %s): %s", (long long)id, jstr(t, "file"), src, dst,
		jstr(t, "state"));
}

static void *worker(void *arg)
{
	int64_t id = (int64_t)(intptr_t)arg;
	json_t *t = ctask_get(id);

	if (t && lead_is_leader() && !strcmp(jstr(t, "state"), "running"))
		run(t);
	json_decref(t);
	ctask_release(id);
	return NULL;
}

void cmig_resume(int64_t id)
{
	ctask_spawn(id, worker);
}

int cmig_start(const char *src, int vm, const char *dst, const char *user, int64_t *id,
	       int *http_status, struct verr *e)
{
	char path[64], ds[128] = "";
	json_t *v = NULL, *h = NULL;
	struct verr ce = { "" };
	long st;
	int rc = 0;

	*http_status = 409;
	if (!strcmp(src, dst)) {
		*http_status = 400;
		return verr_set(e, -EINVAL, "to: the VM is on host %s already", src);
	}
	st = chost_call(dst, "GET", "/host", NULL, &h, &ce);
	if (st != 200) {
		*http_status = st == -ENOENT ? 404 : 502;
		rc = verr_set(e, st < 0 ? (int)st : -EIO, "to: %s", err_of(h, &ce, st));
		goto out;
	}
	snprintf(path, sizeof(path), "/vms/%d", vm);
	st = chost_call(src, "GET", path, NULL, &v, &ce);
	if (st != 200) {
		*http_status = st == 404 || st == -ENOENT ? 404 : 502;
		rc = verr_set(e, st < 0 ? (int)st : -ENOENT, "vm: %s", err_of(v, &ce, st));
		goto out;
	}
	const char *power = jstr(v, "powerState"), *file = jstr(v, "file");
	bool live = !strcmp(power, "poweredOn");
	if (!live && strcmp(power, "poweredOff") && strcmp(power, "suspended")) {
		rc = verr_set(e, -EBUSY, "vm: '%s' is %s; it can move when it is powered on, off or "
			      "suspended", jstr(v, "name"), power);
		goto out;
	}
	if (json_object_get(v, "busyTask")) {
		rc = verr_set(e, -EBUSY, "vm: '%s' is busy with task %lld on %s", jstr(v, "name"),
			      (long long)json_integer_value(json_object_get(v, "busyTask")), src);
		goto out;
	}
	/* The destination must see the same datastore, by name. */
	sscanf(file, "[%127[^]]]", ds);
	bool seen = false;
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(h, "datastores"), i, d)
		seen |= !strcmp(jstr(d, "name"), ds);
	if (!seen) {
		rc = verr_set(e, -ENOENT, "to: host %s has no datastore '%s', where %s lives", dst, ds,
			      file);
		goto out;
	}
	/*
	 * Admission: a suspended VM will resume on the destination, so its RAM
	 * and its build type's overhead must fit there now, as hostd would check
	 * at the resume (a powered-off VM is checked by hostd at power-on).
	 */
	if (live || !strcmp(power, "suspended")) {
		/*
		 * A running VM needs its RAM and overhead on the destination while it
		 * still runs on the source: the destination's second copy is reserved
		 * from the start of the copy.  The build type it will run there is
		 * default when that host lacks the VM's binary.
		 */
		const char *bt = jstr(v, "buildType");
		if (!json_is_string(json_object_get(json_object_get(h, "vmxBinaries"), bt)))
			bt = "default";
		json_t *ovh = json_object_get(json_object_get(h, "overheadMB"), bt);
		long long cap = json_integer_value(json_object_get(h, "memCapacityMB"));
		long long res = json_integer_value(json_object_get(h, "memReservedMB"));
		long long need = json_integer_value(json_object_get(v, "memSizeMB")) +
				 json_integer_value(ovh);
		if (cap && (res > cap || need > cap - res)) {
			rc = verr_set(e, -ENOSPC, "to: host %s cannot take the %s VM: memory "
				      "capacity %lld MiB, %lld MiB reserved by running VMs, %lld MiB "
				      "free; it needs %lld MiB (%lld guest + %lld %s overhead)", dst,
				      live ? "running" : "suspended",
				      cap, res, res <= cap ? cap - res : 0, need,
				      (long long)json_integer_value(json_object_get(v, "memSizeMB")),
				      (long long)json_integer_value(ovh), bt);
			goto out;
		}
	}
	json_t *params = json_pack("{s:s}", "to", dst);
	json_t *t = ctask_new("migrate", src, vm, user, params, e);
	json_decref(params);
	if (!t) {
		*http_status = 503;
		rc = -EIO;
		goto out;
	}
	json_object_set_new(t, "step", json_string("check"));
	json_object_set_new(t, "file", json_string(file));
	json_object_set_new(t, "name", json_string(jstr(v, "name")));
	json_object_set_new(t, "powerState", json_string(power));
	json_object_set_new(t, "buildType", json_string(jstr(v, "buildType")));
	json_object_set_new(t, "what", json_string(live ? "starting the destination's vmx"
							     : "moving the registration"));
	if (live)
		json_object_set_new(t, "live", json_true());
	rc = ctask_put(t, e);
	*id = json_integer_value(json_object_get(t, "id"));
	json_decref(t);
	if (rc < 0) {
		*http_status = 503;
		goto out;
	}
	ctask_spawn(*id, worker);
out:
	json_decref(v);
	json_decref(h);
	return rc;
}
