/*
 * stats_api.c - hostd serves the stats of its VMs (docs/API.md, docs/STATS.md):
 * one VM's counters and kstats as JSON or Prometheus text, read live from the
 * vmx control socket of a VM running the stats build, and a host-wide
 * Prometheus exposition that merges every running stats VM (each series gets a
 * vm="NAME" label, nothing else changes) with hostd's own metrics.
 *
 * The per-VM series are the vmx's own exposition (stats_prometheus), so the
 * schema is the one vmx-ctl and vmx-getstats --prom print.  Control-socket
 * calls block, so they run without hostd_lock, on a copy of what they need.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hostd.h"

/* A hung vmx must not hold a scrape for long; a healthy one answers in ms. */
#define STATS_CTL_TIMEOUT_MS 5000
#define STATS_MAX_FAMILIES 64

/* What a scrape needs of a VM, copied under hostd_lock. */
struct vm_snap {
	int id;
	char name[128];
	char dir[PATH_MAX];
	enum hpower power;
	enum buildtype bt;
	int busy_task;
	bool has_pid;
};

static int hvm_snapshot(int id, struct vm_snap *s)
{
	struct hvm *v;

	hostd_lock();
	v = hvm_find(id);
	if (v) {
		s->id = v->id;
		snprintf(s->name, sizeof(s->name), "%s", v->name);
		snprintf(s->dir, sizeof(s->dir), "%s", v->dir);
		s->power = v->power;
		s->bt = v->running_bt;
		s->busy_task = v->busy_task;
		s->has_pid = v->pid != 0;
	}
	hostd_unlock();
	return v ? 0 : -ENOENT;
}

/* Can this VM be asked for stats?  409 with the reason otherwise. */
static int hvm_stats_ready(const struct vm_snap *s, int *http_status, struct verr *e)
{
	if (s->power != HP_ON || !s->has_pid) {
		*http_status = 409;
		return verr_set(e, -EBUSY, "vm: '%s' is %s; stats come from a running vmx (power it on "
				"with build type stats)", s->name, hpower_name(s->power));
	}
	if (s->bt != BUILDTYPE_STATS) {
		*http_status = 409;
		return verr_set(e, -EBUSY, "vm: '%s' runs the %s build, which keeps no stats; change "
				"its build type to stats (PUT /api/v1/vms/%d/buildType)", s->name,
				buildtype_name(s->bt), s->id);
	}
	return 0;
}

/* A control-socket failure as an API error: a refusal (stats disabled) is a conflict. */
static int ctl_failed(const struct vm_snap *s, int rc, int *http_status, struct verr *e)
{
	if (rc == -EREMOTEIO) {
		*http_status = 409;
		return verr_prefix(e, -EBUSY, "vm: '%s'", s->name);
	}
	*http_status = 503;
	return verr_prefix(e, rc, "vm: '%s'%s", s->name,
			   s->busy_task ? " (a task is changing it; try again)" : "");
}

/* The vmx's Prometheus text; caller frees. */
static int hvm_prom_text(const struct vm_snap *s, char **text, int *http_status, struct verr *e)
{
	json_t *args = json_pack("{s:s}", "format", "prometheus"), *reply = NULL;
	const char *t;
	int rc = vmctl_call(s->dir, "stats", args, STATS_CTL_TIMEOUT_MS, &reply, e);

	json_decref(args);
	if (rc < 0)
		return ctl_failed(s, rc, http_status, e);
	t = json_string_value(json_object_get(reply, "text"));
	*text = t ? strdup(t) : NULL;
	json_decref(reply);
	if (!*text) {
		*http_status = 502;
		return verr_set(e, -EPROTO, "vm: '%s': the vmx's stats reply has no text", s->name);
	}
	return 0;
}

/* The control socket's own fields, which are not stats. */
static void strip_envelope(json_t *o)
{
	json_object_del(o, "v");
	json_object_del(o, "ok");
}

int stats_api_vm(int id, bool prom, json_t **out, char **text, int *http_status, struct verr *e)
{
	struct vm_snap s;
	json_t *st = NULL, *ks = NULL, *lk = NULL;
	int rc;

	*out = NULL;
	*text = NULL;
	*http_status = 200;
	if (hvm_snapshot(id, &s) < 0) {
		*http_status = 404;
		return verr_set(e, -ENOENT, "vm: no VM with id '%d'", id);
	}
	rc = hvm_stats_ready(&s, http_status, e);
	if (rc < 0)
		return rc;
	if (prom)
		return hvm_prom_text(&s, text, http_status, e);
	rc = vmctl_call(s.dir, "stats", NULL, STATS_CTL_TIMEOUT_MS, &st, e);
	if (rc == 0)
		rc = vmctl_call(s.dir, "kstats", NULL, STATS_CTL_TIMEOUT_MS, &ks, e);
	/* Lock statistics are an addition: a vmx without the command still gives the rest. */
	if (rc == 0 && vmctl_call(s.dir, "locks", NULL, STATS_CTL_TIMEOUT_MS, &lk, NULL) < 0) {
		json_decref(lk);
		lk = NULL;
	}
	if (rc < 0) {
		json_decref(st);
		json_decref(ks);
		return ctl_failed(&s, rc, http_status, e);
	}
	strip_envelope(st);
	strip_envelope(ks);
	strip_envelope(lk);
	*out = json_pack("{s:i, s:s, s:s}", "id", s.id, "name", s.name, "buildType",
			 buildtype_name(s.bt));
	json_object_update(*out, st);
	json_object_update(*out, ks);
	if (lk)
		json_object_update(*out, lk);
	json_decref(st);
	json_decref(ks);
	json_decref(lk);
	return 0;
}

/* --- the merged exposition ------------------------------------------------------ */

/*
 * The text format wants each family's samples together, after its one HELP
 * and TYPE, so samples are gathered per family (in order of first sight) and
 * printed at the end.
 */
struct family {
	char name[128];
	char *help, *type; /* whole lines, first seen */
	char *body;
	size_t len;
	FILE *f;
};

struct merge {
	struct family fam[STATS_MAX_FAMILIES];
	unsigned n;
};

static struct family *family_get(struct merge *m, const char *name, size_t len)
{
	for (unsigned i = 0; i < m->n; i++)
		if (strlen(m->fam[i].name) == len && !memcmp(m->fam[i].name, name, len))
			return &m->fam[i];
	if (m->n == STATS_MAX_FAMILIES || len >= sizeof(m->fam[0].name))
		return NULL;
	struct family *f = &m->fam[m->n];
	memset(f, 0, sizeof(*f));
	memcpy(f->name, name, len);
	f->f = open_memstream(&f->body, &f->len);
	if (!f->f)
		return NULL;
	m->n++;
	return f;
}

/* The family a sample belongs to: its own name, or a histogram/summary's base. */
static struct family *family_of_sample(struct merge *m, const char *name, size_t len)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };

	for (unsigned i = 0; i < m->n; i++)
		if (strlen(m->fam[i].name) == len && !memcmp(m->fam[i].name, name, len))
			return &m->fam[i];
	for (size_t k = 0; k < VMX_ARRAY_SIZE(sfx); k++) {
		size_t sl = strlen(sfx[k]);
		if (len > sl && !memcmp(name + len - sl, sfx[k], sl))
			for (unsigned i = 0; i < m->n; i++)
				if (strlen(m->fam[i].name) == len - sl &&
				    !memcmp(m->fam[i].name, name, len - sl))
					return &m->fam[i];
	}
	return family_get(m, name, len);
}

/* A label value as the text format quotes it. */
static void put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* Adds one exposition; vm != NULL puts vm="..." first in every sample's labels. */
static void merge_add(struct merge *m, const char *text, const char *vm)
{
	const char *p = text;

	while (*p) {
		const char *eol = strchrnul(p, '\n');
		size_t ll = (size_t)(eol - p);

		if (ll >= 7 && (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7))) {
			const char *nm = p + 7;
			size_t nl = strcspn(nm, " \n");
			struct family *f = family_get(m, nm, nl);
			char **slot = !f ? NULL : p[2] == 'H' ? &f->help : &f->type;
			if (slot && !*slot)
				*slot = strndup(p, ll);
		} else if (ll && p[0] != '#') {
			size_t nl = strcspn(p, "{ \n");
			struct family *f = family_of_sample(m, p, nl);
			if (f) {
				fwrite(p, 1, nl, f->f);
				if (vm) {
					fputs("{vm=\"", f->f);
					put_label_value(f->f, vm);
					fputc('"', f->f);
					if (p[nl] == '{' && p[nl + 1] != '}')
						fputc(',', f->f);
					else if (p[nl] != '{')
						fputc('}', f->f);
					fwrite(p + nl + (p[nl] == '{'), 1, ll - nl - (p[nl] == '{'), f->f);
				} else {
					fwrite(p + nl, 1, ll - nl, f->f);
				}
				fputc('\n', f->f);
			}
		}
		p = *eol ? eol + 1 : eol;
	}
}

/* Prints and frees the families; out NULL only frees. */
static void merge_print(struct merge *m, FILE *out)
{
	for (unsigned i = 0; i < m->n; i++) {
		struct family *f = &m->fam[i];
		fclose(f->f);
		if (out) {
			if (f->help)
				fprintf(out, "%s\n", f->help);
			if (f->type)
				fprintf(out, "%s\n", f->type);
			fwrite(f->body, 1, f->len, out);
		}
		free(f->help);
		free(f->type);
		free(f->body);
	}
	m->n = 0;
}

/* hostd's own metrics, from the VM table and the task rows. */
static void hostd_metrics(FILE *f)
{
	static const char *const powers[] = { "poweredOn", "poweredOff", "suspended" };
	static const char *const task_states[] = { "running", "success", "error" };
	static const double bounds[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
	unsigned npower[3] = { 0 }, nbt[BUILDTYPE_COUNT + 1] = { 0 };
	uint64_t buckets[VMX_ARRAY_SIZE(bounds)] = { 0 }, count = 0;
	double sum = 0;
	json_t *rows, *row;
	size_t i;

	hostd_lock();
	for (struct hvm *v = g_hostd.vms; v; v = v->next) {
		json_t *j = hvm_json(v);
		const char *bt = json_string_value(json_object_get(j, "buildType"));
		enum buildtype t;
		npower[v->power == HP_ON ? 0 : v->power == HP_OFF ? 1 : 2]++;
		nbt[bt && buildtype_parse(bt, &t) == 0 ? (unsigned)t : BUILDTYPE_COUNT]++;
		json_decref(j);
	}
	hostd_unlock();
	fputs("# HELP hostd_vms Registered VMs by power state.\n# TYPE hostd_vms gauge\n", f);
	for (i = 0; i < 3; i++)
		fprintf(f, "hostd_vms{power_state=\"%s\"} %u\n", powers[i], npower[i]);
	fputs("# HELP hostd_vms_by_build_type Registered VMs by configured build type "
	      "(vmx.buildType).\n# TYPE hostd_vms_by_build_type gauge\n", f);
	for (int t = 0; t < BUILDTYPE_COUNT; t++)
		fprintf(f, "hostd_vms_by_build_type{build_type=\"%s\"} %u\n",
			buildtype_name((enum buildtype)t), nbt[t]);
	if (nbt[BUILDTYPE_COUNT])
		fprintf(f, "hostd_vms_by_build_type{build_type=\"unknown\"} %u\n", nbt[BUILDTYPE_COUNT]);

	fputs("# HELP hostd_tasks_total Tasks recorded by hostd, by state.\n"
	      "# TYPE hostd_tasks_total counter\n", f);
	/* The three states always, so a rate() sees a series before the first error. */
	rows = db_query("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state", 0, NULL);
	for (unsigned q = 0; q <= VMX_ARRAY_SIZE(task_states); q++) {
		long long cnt = 0;
		json_array_foreach(rows, i, row) {
			const char *st = json_string_value(json_object_get(row, "state"));
			json_t *n = json_object_get(row, "n");
			long long c = json_is_integer(n) ? (long long)json_integer_value(n) : 0;
			unsigned k = 0;
			while (k < VMX_ARRAY_SIZE(task_states) && (!st || strcmp(st, task_states[k])))
				k++;
			if (k == q && q < VMX_ARRAY_SIZE(task_states)) {
				cnt = c;
			} else if (k == q) { /* last pass: a state this hostd does not know, as it is */
				fputs("hostd_tasks_total{state=\"", f);
				put_label_value(f, st ? st : "");
				fprintf(f, "\"} %lld\n", c);
			}
		}
		if (q < VMX_ARRAY_SIZE(task_states))
			fprintf(f, "hostd_tasks_total{state=\"%s\"} %lld\n", task_states[q], cnt);
	}
	json_decref(rows);

	rows = db_query("SELECT body FROM tasks WHERE op='changeBuildType' AND state='success'", 0, NULL);
	json_array_foreach(rows, i, row) {
		json_t *b = json_loads(json_string_value(json_object_get(row, "body")) ?: "", 0, NULL);
		json_t *d = json_object_get(json_object_get(b, "result"), "downtimeMs");
		if (json_is_integer(d)) {
			double s = (double)json_integer_value(d) / 1000.0;
			count++;
			sum += s;
			for (size_t k = 0; k < VMX_ARRAY_SIZE(bounds); k++)
				if (s <= bounds[k])
					buckets[k]++;
		}
		json_decref(b);
	}
	json_decref(rows);
	fputs("# HELP hostd_switch_downtime_seconds Guest downtime of build-type switches of running "
	      "VMs (the tasks' downtimeMs).\n# TYPE hostd_switch_downtime_seconds histogram\n", f);
	for (size_t k = 0; k < VMX_ARRAY_SIZE(bounds); k++)
		fprintf(f, "hostd_switch_downtime_seconds_bucket{le=\"%g\"} %llu\n", bounds[k],
			(unsigned long long)buckets[k]);
	fprintf(f, "hostd_switch_downtime_seconds_bucket{le=\"+Inf\"} %llu\n"
		"hostd_switch_downtime_seconds_sum %.3f\nhostd_switch_downtime_seconds_count %llu\n",
		(unsigned long long)count, sum, (unsigned long long)count);
}

int stats_api_metrics(char **text, struct verr *e)
{
	struct merge *m = calloc(1, sizeof(*m));
	char *buf = NULL, *up = NULL;
	size_t len = 0, uplen = 0;
	FILE *out, *upf;
	int *ids = NULL, nids = 0, cap = 0;

	*text = NULL;
	if (!m)
		return verr_set(e, -ENOMEM, "out of memory");
	/* Ids first: the table may change while the sockets are asked. */
	hostd_lock();
	for (struct hvm *v = g_hostd.vms; v; v = v->next) {
		if (v->power != HP_ON || !v->pid || v->running_bt != BUILDTYPE_STATS)
			continue;
		if (nids == cap) {
			int *n = realloc(ids, sizeof(*ids) * (size_t)(cap = cap ? cap * 2 : 8));
			if (!n)
				break;
			ids = n;
		}
		ids[nids++] = v->id;
	}
	hostd_unlock();
	upf = open_memstream(&up, &uplen);
	if (!upf) {
		free(ids);
		free(m);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < nids; i++) {
		struct vm_snap s;
		struct verr ve = { "" };
		char *t = NULL;
		int st = 0;
		bool ok;

		if (hvm_snapshot(ids[i], &s) < 0)
			continue;
		ok = hvm_stats_ready(&s, &st, &ve) == 0 && hvm_prom_text(&s, &t, &st, &ve) == 0;
		if (ok)
			merge_add(m, t, s.name);
		free(t);
		fputs("hostd_vm_stats_up{vm=\"", upf);
		put_label_value(upf, s.name);
		fprintf(upf, "\"} %d\n", ok ? 1 : 0);
	}
	free(ids);
	fclose(upf);
	out = open_memstream(&buf, &len);
	if (!out) {
		free(up);
		merge_print(m, NULL);
		free(m);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	merge_print(m, out);
	free(m);
	fputs("# HELP hostd_vm_stats_up Whether the last scrape of a running stats VM's control "
	      "socket worked.\n# TYPE hostd_vm_stats_up gauge\n", out);
	fwrite(up, 1, uplen, out);
	free(up);
	hostd_metrics(out);
	fclose(out);
	*text = buf;
	return 0;
}
