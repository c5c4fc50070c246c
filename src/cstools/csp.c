/*
 * csp.c - vmx-callstack: reading a profile file, filtering it into stacks of
 * interned labels, and building top-down and bottom-up call trees.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "csp.h"

void csp_free(struct csp_profile *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nkstats; i++)
		free(p->kstat[i]);
	free(p->kstat);
	for (unsigned i = 0; i < p->nframes; i++)
		free(p->frames[i].name);
	free(p->frames);
	for (unsigned i = 0; i < p->nstacks; i++) {
		free(p->stacks[i].g);
		free(p->stacks[i].m);
	}
	free(p->stacks);
	free(p->gcode);
	free(p);
}

static int parse_ids(const char *s, uint32_t **out, unsigned *n, unsigned nframes)
{
	unsigned cnt = 0, cap = 8;
	uint32_t *v;
	*out = NULL;
	*n = 0;
	if (!strcmp(s, "-"))
		return 0;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (*s) {
		char *end;
		unsigned long id = strtoul(s, &end, 10);
		if (end == s || id >= nframes || (*end && *end != ',')) {
			free(v);
			return -EINVAL;
		}
		if (cnt == cap) {
			uint32_t *nv = realloc(v, (cap *= 2) * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = (uint32_t)id;
		s = *end ? end + 1 : end;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static void *grow(void *p, unsigned *cap, unsigned need, size_t el)
{
	if (need <= *cap)
		return p;
	unsigned nc = *cap ? *cap : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(p, (size_t)nc * el);
	if (!np)
		return NULL;
	memset((char *)np + (size_t)*cap * el, 0, (size_t)(nc - *cap) * el);
	*cap = nc;
	return np;
}

/* One walk_stop line; more reasons than the array holds are left out. */
static void add_stop(struct csp_stops *s, const char *name, uint64_t count)
{
	if (s->n < sizeof(s->v) / sizeof(s->v[0])) {
		snprintf(s->v[s->n].name, sizeof(s->v[0].name), "%.23s", name);
		s->v[s->n++].count = count;
	}
}

int csp_load(const char *path, struct csp_profile **out, struct verr *e)
{
	FILE *f = fopen(path, "r");
	int rc;
	if (!f)
		return verr_set(e, -errno, "%s: %s", path, strerror(errno));
	rc = csp_parse(f, path, out, e);
	fclose(f);
	return rc;
}

int csp_parse(FILE *f, const char *path, struct csp_profile **out, struct verr *e)
{
	struct csp_profile *p;
	char *line = NULL;
	size_t lcap = 0;
	unsigned lineno = 0, fcap = 0, scap = 0, kcap = 0, gcap = 0;
	bool ended = false;
	int rc = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return verr_set(e, -ENOMEM, "out of memory");
	while (getline(&line, &lcap, f) > 0) {
		char a[4096], b[4096], c[4096], d[64];
		unsigned long long x, y;
		unsigned u, lf;
		char dom;
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (lineno == 1) {
			if (sscanf(line, "vmx3-callstack %u", &p->version) != 1 || p->version != 1) {
				rc = verr_set(e, -EINVAL, "%s: not a vmx3 callstack profile (version 1)",
					      path);
				goto out;
			}
			continue;
		}
		if (!strncmp(line, "stack ", 6)) {
			struct csp_stack *s;
			long long tb;
			unsigned vc, pr, ks;
			if (sscanf(line, "stack %llu %u %u %u %lld %4095s %4095s", &x, &vc, &pr, &ks, &tb,
				   a, b) != 7)
				goto bad;
			p->stacks = grow(p->stacks, &scap, p->nstacks + 1, sizeof(*p->stacks));
			if (!p->stacks)
				goto nomem;
			s = &p->stacks[p->nstacks++];
			*s = (struct csp_stack){ .count = x, .vcpu = vc, .priv = pr, .kstat = ks,
						 .tbucket = tb };
			if (parse_ids(a, &s->g, &s->ng, p->nframes) < 0 ||
			    parse_ids(b, &s->m, &s->nm, p->nframes) < 0)
				goto bad;
		} else if (!strncmp(line, "frame ", 6)) {
			struct csp_frame *fr;
			d[0] = 0;
			if (sscanf(line, "frame %u %c %u %llx %4095s %4095s %63s", &u, &dom, &lf, &x, a, c,
				   d) < 6 ||
			    u != p->nframes || (dom != 'g' && dom != 'm'))
				goto bad;
			p->frames = grow(p->frames, &fcap, p->nframes + 1, sizeof(*p->frames));
			if (!p->frames)
				goto nomem;
			fr = &p->frames[p->nframes++];
			fr->dom = dom;
			fr->leaf = lf;
			fr->addr = x;
			if (strcmp(a, "-")) {
				fr->name = strdup(a);
				if (!fr->name)
					goto nomem;
				fr->start = strtoull(c, NULL, 16);
				fr->end = strcmp(d, "-") ? strtoull(d, NULL, 16) : 0;
			}
		} else if (!strncmp(line, "gcode ", 6)) {
			if (sscanf(line, "gcode %llx %llx", &x, &y) != 2 || !y || y > 0xffffffffull)
				goto bad;
			p->gcode = grow(p->gcode, &gcap, p->ngcode + 1, sizeof(*p->gcode));
			if (!p->gcode)
				goto nomem;
			p->gcode[p->ngcode++] = (struct csp_gcode){ x, (uint32_t)y };
		} else if (sscanf(line, "guest_pc_exact %llu", &x) == 1) {
			p->pc_exact = x;
		} else if (sscanf(line, "guest_pc_block %llu", &x) == 1) {
			p->pc_block = x;
		} else if (sscanf(line, "guest_walk_stop %23s %llu", d, &x) == 2) {
			add_stop(&p->gstops, d, x);
		} else if (sscanf(line, "monitor_walk_stop %23s %llu", d, &x) == 2) {
			add_stop(&p->hstops, d, x);
		} else if (sscanf(line, "gcode_dropped %llu", &x) == 1) {
			p->gcode_dropped = x;
		} else if (sscanf(line, "kstat %u %4095s", &u, a) == 2) {
			if (u >= 65536)
				goto bad;
			p->kstat = grow(p->kstat, &kcap, u + 1, sizeof(*p->kstat));
			if (!p->kstat)
				goto nomem;
			if (u >= p->nkstats)
				p->nkstats = u + 1;
			free(p->kstat[u]);
			p->kstat[u] = strdup(a);
		} else if (sscanf(line, "hz %u", &p->hz) == 1 || sscanf(line, "bucket_s %u", &p->bucket_s) == 1 ||
			   sscanf(line, "start_unix_ns %llu", &x) == 1 || sscanf(line, "elapsed_ns %llu", &x) == 1 ||
			   sscanf(line, "samples %llu", &x) == 1 || sscanf(line, "drops %llu", &x) == 1 ||
			   sscanf(line, "ring_drops %llu", &x) == 1 || sscanf(line, "coarse %u", &u) == 1) {
			if (!strncmp(line, "start_unix_ns", 13))
				p->start_unix_ns = x;
			else if (!strncmp(line, "elapsed_ns", 10))
				p->elapsed_ns = x;
			else if (!strncmp(line, "samples", 7))
				p->samples = x;
			else if (!strncmp(line, "drops", 5))
				p->drops = x;
			else if (!strncmp(line, "ring_drops", 10))
				p->ring_drops = x;
			else if (!strncmp(line, "coarse", 6))
				p->coarse = u;
		} else if (sscanf(line, "buildtype %31s", p->buildtype) == 1) {
		} else if (sscanf(line, "guest_symbols %4095s", p->guest_symbols) == 1) {
		} else if (sscanf(line, "guest_image %4095s %llx", p->guest_image, &y) == 2) {
			p->guest_image_va = y;
		} else if (sscanf(line, "monitor_exe %4095s %llx", p->monitor_exe, &y) == 2) {
			p->monitor_bias = y;
		} else if (!strcmp(line, "end")) {
			ended = true;
			break;
		}
		/* Other keys are informational; unknown ones are skipped. */
		continue;
bad:
		rc = verr_set(e, -EINVAL, "%s:%u: malformed line", path, lineno);
		goto out;
nomem:
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if (!lineno)
		rc = verr_set(e, -EINVAL, "%s: empty file", path);
	else if (!ended)
		rc = verr_set(e, -EINVAL, "%s: truncated (no end line)", path);
	if (!p->bucket_s)
		p->bucket_s = 1;
out:
	free(line);
	if (rc < 0) {
		csp_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int csp_find(const char *arg, char *out, size_t outlen, struct verr *e)
{
	struct stat st;
	char dir[4096];
	if (stat(arg, &st) < 0)
		return verr_set(e, -errno, "%s: %s", arg, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		snprintf(out, outlen, "%s", arg);
		return 0;
	}
	for (int pass = 0; pass < 2; pass++) {
		DIR *d;
		struct dirent *de;
		char best[512] = "";
		snprintf(dir, sizeof(dir), pass ? "%s/stats" : "%s", arg);
		d = opendir(dir);
		if (!d)
			continue;
		/* Names carry a UTC timestamp, so the greatest name is the newest. */
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (!strncmp(de->d_name, "callstack-", 10) && l > 4 &&
			    !strcmp(de->d_name + l - 4, ".txt") && strcmp(de->d_name, best) > 0)
				snprintf(best, sizeof(best), "%s", de->d_name);
		}
		closedir(d);
		if (best[0]) {
			snprintf(out, outlen, "%s/%s", dir, best);
			return 0;
		}
	}
	return verr_set(e, -ENOENT, "%s: no callstack-*.txt profile here or in its stats/", arg);
}

/* ---- views ---- */

static uint32_t hstr(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int intern(struct csp_view *v, const char *s, int frame)
{
	if (!v->hslot || v->nlabels * 2 >= v->hmask) {
		uint32_t nm = v->hmask ? v->hmask * 2 + 1 : 1023;
		uint32_t *ns = calloc((size_t)nm + 1, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		for (unsigned i = 0; i < v->nlabels; i++) {
			uint32_t k = hstr(v->label[i]) & nm;
			while (ns[k])
				k = (k + 1) & nm;
			ns[k] = i + 1;
		}
		free(v->hslot);
		v->hslot = ns;
		v->hmask = nm;
	}
	uint32_t k = hstr(s) & v->hmask;
	for (; v->hslot[k]; k = (k + 1) & v->hmask)
		if (!strcmp(v->label[v->hslot[k] - 1], s))
			return (int)v->hslot[k] - 1;
	unsigned cap = v->labcap;
	v->label = grow(v->label, &cap, v->nlabels + 1, sizeof(*v->label));
	if (!v->label)
		return -ENOMEM;
	cap = v->labcap;
	v->lab_frame = grow(v->lab_frame, &cap, v->nlabels + 1, sizeof(*v->lab_frame));
	if (!v->lab_frame)
		return -ENOMEM;
	v->labcap = cap;
	v->label[v->nlabels] = strdup(s);
	if (!v->label[v->nlabels])
		return -ENOMEM;
	v->lab_frame[v->nlabels] = frame;
	v->hslot[k] = ++v->nlabels;
	return (int)v->nlabels - 1;
}

int csp_label_find(const struct csp_view *v, const char *name)
{
	/* Exact label first, then the name without its domain prefix. */
	for (unsigned i = 0; i < v->nlabels; i++)
		if (!strcmp(v->label[i], name))
			return (int)i;
	for (unsigned i = 0; i < v->nlabels; i++) {
		const char *c = strchr(v->label[i], ':');
		if (c && !strcmp(c + 1, name))
			return (int)i;
	}
	return -1;
}

const char *csp_frame_label(const struct csp_frame *fr, char *buf, size_t len)
{
	const char *dom = fr->dom == 'g' ? "guest" : "mon";
	if (fr->name)
		snprintf(buf, len, "%s:%s", dom, fr->name);
	else
		snprintf(buf, len, "%s:0x%llx", dom, (unsigned long long)fr->addr);
	return buf;
}

void csp_view_free(struct csp_view *v)
{
	for (unsigned i = 0; i < v->nlabels; i++)
		free(v->label[i]);
	free(v->label);
	free(v->lab_frame);
	free(v->hslot);
	for (unsigned i = 0; i < v->n; i++)
		free(v->st[i].lab);
	free(v->st);
	memset(v, 0, sizeof(*v));
}

int csp_view_build(const struct csp_profile *p, const struct csp_filter *f, struct csp_view *v)
{
	memset(v, 0, sizeof(*v));
	for (unsigned i = 0; i < p->nstacks; i++) {
		const struct csp_stack *s = &p->stacks[i];
		char buf[600];
		unsigned len = 0;
		if (f->vcpu >= 0 && s->vcpu != (unsigned)f->vcpu)
			continue;
		if (f->kstat >= 0 && s->kstat != (unsigned)f->kstat)
			continue;
		/* Samples outside hart_run have no guest mode. */
		if (f->priv >= 0 && (s->priv != (unsigned)f->priv || s->vcpu == 255))
			continue;
		if (f->from_s > 0 || f->to_s >= 0) {
			double t0 = (double)s->tbucket * p->bucket_s, t1 = t0 + p->bucket_s;
			if (s->tbucket < 0 || t1 <= f->from_s || (f->to_s >= 0 && t0 >= f->to_s))
				continue;
		}
		if (f->guest_only && !s->ng)
			continue;
		uint32_t *lab = malloc((s->ng + s->nm + 1) * sizeof(*lab));
		if (!lab)
			return -ENOMEM;
		if (!f->monitor_only)
			for (unsigned j = 0; j < s->ng; j++) {
				int id = intern(v, csp_frame_label(&p->frames[s->g[j]], buf, sizeof(buf)),
						(int)s->g[j]);
				if (id < 0)
					goto nomem;
				lab[len++] = (uint32_t)id;
			}
		/* Monitor frames from this index on (root first): below hart_run unless asked. */
		unsigned mfrom = 0;
		bool kstat_guest = s->kstat < p->nkstats && p->kstat[s->kstat] &&
				   !strcmp(p->kstat[s->kstat], "GUEST");
		if (s->ng && !f->monitor_tail && !f->monitor_only)
			for (unsigned j = 0; j < s->nm; j++) {
				const char *nm = p->frames[s->m[j]].name;
				if (nm && !strcmp(nm, "hart_run")) {
					mfrom = j + 1;
					break;
				}
			}
		bool drop_kstat = mfrom && mfrom == s->nm && kstat_guest;
		if (!f->guest_only) {
			for (unsigned j = mfrom; j < s->nm; j++) {
				int id = intern(v, csp_frame_label(&p->frames[s->m[j]], buf, sizeof(buf)),
						(int)s->m[j]);
				if (id < 0)
					goto nomem;
				lab[len++] = (uint32_t)id;
			}
		}
		if (!f->guest_only && !f->no_kstat && !drop_kstat) {
			snprintf(buf, sizeof(buf), "kstat:%s", s->kstat < p->nkstats && p->kstat[s->kstat] ?
				 p->kstat[s->kstat] : "?");
			int id = intern(v, buf, -1);
			if (id < 0)
				goto nomem;
			lab[len++] = (uint32_t)id;
		}
		if (!len) {
			free(lab);
			continue;
		}
		unsigned cap = v->cap;
		v->st = grow(v->st, &cap, v->n + 1, sizeof(*v->st));
		if (!v->st) {
			free(lab);
			return -ENOMEM;
		}
		v->cap = cap;
		v->st[v->n++] = (struct csp_vstack){ s->count, len, lab, s->vcpu };
		v->total += s->count;
		continue;
nomem:
		free(lab);
		return -ENOMEM;
	}
	return 0;
}

/* ---- trees ---- */

static int node_new(struct csp_tree *t, int lab, int parent)
{
	unsigned cap = t->cap;
	t->n = grow(t->n, &cap, t->len + 1, sizeof(*t->n));
	if (!t->n)
		return -ENOMEM;
	t->cap = cap;
	t->n[t->len] = (struct csp_node){ lab, parent, -1, -1, 0, 0 };
	if (parent >= 0) {
		t->n[t->len].next = t->n[parent].child;
		t->n[parent].child = (int)t->len;
	}
	return (int)t->len++;
}

int csp_tree_build(const struct csp_view *v, bool bottom_up, int rootat, struct csp_tree *t)
{
	memset(t, 0, sizeof(*t));
	if (node_new(t, -1, -1) < 0)   /* node 0: the root of all */
		return -ENOMEM;
	for (unsigned i = 0; i < v->n; i++) {
		const struct csp_vstack *s = &v->st[i];
		int from = 0, to = (int)s->len, step = 1, cur = 0;
		if (rootat >= 0) {
			int k = -1;
			for (unsigned j = 0; j < s->len; j++)
				if (s->lab[j] == (uint32_t)rootat) {
					k = (int)j;
					break;
				}
			if (k < 0)
				continue;
			from = k;
		}
		if (bottom_up) {
			/* Leaf first, down to the rootat frame (or the outermost caller). */
			int lo = from;
			from = (int)s->len - 1;
			to = lo - 1;
			step = -1;
		}
		int first = -1;
		t->n[0].total += s->count;
		for (int j = from; j != to; j += step) {
			int c;
			for (c = t->n[cur].child; c >= 0; c = t->n[c].next)
				if (t->n[c].lab == (int)s->lab[j])
					break;
			if (c < 0 && (c = node_new(t, (int)s->lab[j], cur)) < 0)
				return -ENOMEM;
			t->n[c].total += s->count;
			cur = c;
			if (first < 0)
				first = c;
		}
		/* Self time belongs to the sampled leaf: last node top-down, first bottom-up. */
		if (bottom_up && first >= 0)
			t->n[first].self += s->count;
		else
			t->n[cur].self += s->count;
	}
	/* Percentages are of every sample in the view, rootat or not. */
	t->total = v->total;
	return 0;
}

void csp_tree_free(struct csp_tree *t)
{
	free(t->n);
	memset(t, 0, sizeof(*t));
}

static const struct csp_tree *sort_tree;
static int by_total(const void *a, const void *b)
{
	uint64_t x = sort_tree->n[*(const int *)a].total, y = sort_tree->n[*(const int *)b].total;
	return x > y ? -1 : x < y;
}

unsigned csp_tree_children(const struct csp_tree *t, int i, int **out)
{
	unsigned n = 0;
	for (int c = t->n[i].child; c >= 0; c = t->n[c].next)
		n++;
	*out = malloc((n + 1) * sizeof(int));
	if (!*out)
		return 0;
	n = 0;
	for (int c = t->n[i].child; c >= 0; c = t->n[c].next)
		(*out)[n++] = c;
	sort_tree = t;
	qsort(*out, n, sizeof(int), by_total);
	return n;
}
