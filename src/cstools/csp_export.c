/*
 * csp_export.c - vmx-callstack's exports: folded stacks (flamegraph.pl,
 * speedscope, inferno), speedscope's JSON file format, pprof (profile.proto,
 * gzipped) and a self-contained HTML page with a flame graph and the tree.
 *
 * pprof is written with a small protobuf encoder of its own: the message is
 * a handful of varint and length-delimited fields, and a generated
 * protobuf-c binding would need the .proto and a code generator at build
 * time for the same few lines.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "csp.h"

static const struct csp_view *sort_view;

static int by_labels(const void *a, const void *b)
{
	const struct csp_vstack *x = &sort_view->st[*(const unsigned *)a];
	const struct csp_vstack *y = &sort_view->st[*(const unsigned *)b];
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->lab, y->lab, x->len * sizeof(*x->lab));
}

/*
 * One line per distinct stack: the profile keeps a stack once per vCPU,
 * time bucket and address space, which a flame graph does not distinguish.
 */
int csp_export_folded(const struct csp_view *v, FILE *f)
{
	unsigned *order = malloc((v->n + 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (unsigned i = 0; i < v->n; i++)
		order[i] = i;
	sort_view = v;
	qsort(order, v->n, sizeof(*order), by_labels);
	for (unsigned i = 0; i < v->n;) {
		const struct csp_vstack *s = &v->st[order[i]];
		uint64_t count = 0;
		unsigned k = i;
		for (; k < v->n && !by_labels(&order[i], &order[k]); k++)
			count += v->st[order[k]].count;
		for (unsigned j = 0; j < s->len; j++) {
			/* ';' separates frames and ' ' ends the stack: neither may appear in one. */
			for (const char *c = v->label[s->lab[j]]; *c; c++)
				fputc(*c == ';' || *c == ' ' ? '_' : *c, f);
			fputc(j + 1 < s->len ? ';' : ' ', f);
		}
		fprintf(f, "%llu\n", (unsigned long long)count);
		i = k;
	}
	free(order);
	return ferror(f) ? -EIO : 0;
}

/*
 * One sampled profile per vCPU (and one for samples outside hart_run), in
 * seconds: a sample stands for 1/hz s of wall time.
 */
int csp_export_speedscope(const struct csp_profile *p, const struct csp_view *v, FILE *f)
{
	json_t *root = json_object(), *frames = json_array(), *profs = json_array();
	double per = p->hz ? 1.0 / p->hz : 0.01;
	bool seen[256] = { false };
	int rc;
	for (unsigned i = 0; i < v->nlabels; i++)
		json_array_append_new(frames, json_pack("{s:s}", "name", v->label[i]));
	for (unsigned i = 0; i < v->n; i++)
		seen[v->st[i].vcpu & 255] = true;
	for (unsigned c = 0; c < 256; c++) {
		json_t *samples, *weights, *prof;
		uint64_t total = 0;
		if (!seen[c])
			continue;
		samples = json_array();
		weights = json_array();
		prof = json_object();
		for (unsigned i = 0; i < v->n; i++) {
			if ((v->st[i].vcpu & 255) != c)
				continue;
			json_t *st = json_array();
			for (unsigned j = 0; j < v->st[i].len; j++)
				json_array_append_new(st, json_integer(v->st[i].lab[j]));
			json_array_append_new(samples, st);
			json_array_append_new(weights, json_real((double)v->st[i].count * per));
			total += v->st[i].count;
		}
		json_object_set_new(prof, "type", json_string("sampled"));
		if (c == 255)
			json_object_set_new(prof, "name", json_string("outside hart_run (no vCPU)"));
		else
			json_object_set_new(prof, "name", json_sprintf("vCPU %u", c));
		json_object_set_new(prof, "unit", json_string("seconds"));
		json_object_set_new(prof, "startValue", json_integer(0));
		json_object_set_new(prof, "endValue", json_real((double)total * per));
		json_object_set_new(prof, "samples", samples);
		json_object_set_new(prof, "weights", weights);
		json_array_append_new(profs, prof);
	}
	json_object_set_new(root, "$schema",
			    json_string("https://www.speedscope.app/file-format-schema.json"));
	json_object_set_new(root, "shared", json_pack("{s:o}", "frames", frames));
	json_object_set_new(root, "profiles", profs);
	json_object_set_new(root, "name", json_sprintf("vmx callstack (%s build, %u Hz, wall time)",
						       p->buildtype, p->hz));
	json_object_set_new(root, "exporter", json_string("vmx-callstack"));
	rc = json_dumpf(root, f, JSON_COMPACT);
	fputc('\n', f);
	json_decref(root);
	return rc < 0 || ferror(f) ? -EIO : 0;
}

/* ---- pprof ---- */

struct pb {
	uint8_t *b;
	size_t len, cap;
	bool err;
};

static void pb_bytes(struct pb *p, const void *d, size_t n)
{
	if (p->err)
		return;
	if (p->len + n > p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 4096;
		while (nc < p->len + n)
			nc *= 2;
		uint8_t *nb = realloc(p->b, nc);
		if (!nb) {
			p->err = true;
			return;
		}
		p->b = nb;
		p->cap = nc;
	}
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	pb_bytes(p, t, n);
}

static void pb_uint(struct pb *p, unsigned field, uint64_t v)
{
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, v);
}

static void pb_msg(struct pb *p, unsigned field, const struct pb *m)
{
	pb_varint(p, (uint64_t)field << 3 | 2);
	pb_varint(p, m->len);
	pb_bytes(p, m->b, m->len);
	if (m->err)
		p->err = true;
}

static void pb_str(struct pb *p, unsigned field, const char *s)
{
	struct pb m = { (uint8_t *)(uintptr_t)s, strlen(s), 0, false };
	pb_msg(p, field, &m);
}

int csp_export_pprof(const struct csp_profile *p, const struct csp_view *v, const char *path,
		     struct verr *e)
{
	struct pb out = { 0 };
	/* String table: "" first, then the fixed strings, then one per label (index 5 + label). */
	/* The timer is CLOCK_MONOTONIC: samples are wall time, idle and waits included. */
	static const char *fixed[] = { "", "samples", "count", "wall", "nanoseconds" };
	uint64_t period = p->hz ? 1000000000ull / p->hz : 10000000ull;
	int rc = 0;

	for (unsigned k = 0; k < 2; k++) {
		struct pb vt = { 0 };
		pb_uint(&vt, 1, k ? 3 : 1);
		pb_uint(&vt, 2, k ? 4 : 2);
		pb_msg(&out, 1, &vt);          /* sample_type */
		free(vt.b);
	}
	for (unsigned i = 0; i < v->n; i++) {
		struct pb s = { 0 }, locs = { 0 }, vals = { 0 };
		const struct csp_vstack *st = &v->st[i];
		for (unsigned j = st->len; j-- > 0;)   /* leaf first */
			pb_varint(&locs, st->lab[j] + 1);
		pb_varint(&vals, st->count);
		pb_varint(&vals, st->count * period);
		pb_msg(&s, 1, &locs);
		pb_msg(&s, 2, &vals);
		pb_msg(&out, 2, &s);           /* sample */
		free(s.b);
		free(locs.b);
		free(vals.b);
	}
	for (unsigned l = 0; l < v->nlabels; l++) {
		struct pb loc = { 0 }, line = { 0 }, fn = { 0 };
		int fr = v->lab_frame[l];
		pb_uint(&loc, 1, l + 1);
		if (fr >= 0)
			pb_uint(&loc, 3, p->frames[fr].addr);
		pb_uint(&line, 1, l + 1);
		pb_msg(&loc, 4, &line);
		pb_msg(&out, 4, &loc);         /* location */
		pb_uint(&fn, 1, l + 1);
		pb_uint(&fn, 2, 5 + l);
		pb_uint(&fn, 3, 5 + l);
		pb_msg(&out, 5, &fn);          /* function */
		free(loc.b);
		free(line.b);
		free(fn.b);
	}
	for (unsigned i = 0; i < 5; i++)
		pb_str(&out, 6, fixed[i]);
	for (unsigned l = 0; l < v->nlabels; l++)
		pb_str(&out, 6, v->label[l]);
	pb_uint(&out, 9, p->start_unix_ns);
	pb_uint(&out, 10, p->elapsed_ns);
	{
		struct pb vt = { 0 };
		pb_uint(&vt, 1, 3);
		pb_uint(&vt, 2, 4);
		pb_msg(&out, 11, &vt);         /* period_type */
		free(vt.b);
	}
	pb_uint(&out, 12, period);
	if (out.err) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto done;
	}
	gzFile gz = gzopen(path, "wb");
	if (!gz) {
		rc = verr_set(e, -errno ? -errno : -EIO, "%s: cannot create", path);
		goto done;
	}
	if (gzwrite(gz, out.b, (unsigned)out.len) != (int)out.len)
		rc = verr_set(e, -EIO, "%s: write failed", path);
	if (gzclose(gz) != Z_OK && !rc)
		rc = verr_set(e, -EIO, "%s: write failed", path);
done:
	free(out.b);
	return rc;
}

/* ---- HTML ---- */

static const char html_head[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>vmx callstack</title>\n"
	"<style>\n"
	"body{font:13px sans-serif;margin:12px}\n"
	"#fg{position:relative;width:100%;border:1px solid #ccc;overflow:hidden}\n"
	".fg-cell{position:absolute;height:17px;line-height:17px;font-size:11px;overflow:hidden;"
	"white-space:nowrap;box-sizing:border-box;border:1px solid #fff;padding:0 2px;cursor:pointer}\n"
	".g{background:#f4a582}.m{background:#92c5de}.k{background:#d9d9d9}.hit{background:#c2a5cf}\n"
	"details{margin-left:14px}summary{font-family:monospace;white-space:pre}\n"
	"</style></head><body>\n"
	"<h2>vmx callstack profile</h2><p id=\"info\"></p>\n"
	"<p>Flame graph (callers at the top, or with <i>bottom-up</i> the functions where samples "
	"landed at the top and their callers below; click a frame to zoom, click the root bar to "
	"reset). Orange: guest, blue: monitor, grey: kstat, purple: matches the search.</p>\n"
	"<p><input id=\"q\" size=\"40\" placeholder=\"search frames (regular expression)\"> "
	"<label><input type=\"checkbox\" id=\"bu\"> bottom-up (icicle)</label> "
	"<span id=\"match\"></span></p>\n"
	"<div id=\"fg\"></div>\n<h3 id=\"treetitle\">Top-down tree</h3>\n"
	"<p>Each line: total % (with callees), self %, samples, frame.</p><div id=\"tree\"></div>\n"
	"<script>\nconst DATA = ";

/*
 * The page's script: the view's stacks (root first) as a tree, top-down or
 * bottom-up (each stack reversed: the leaf frames become the roots), drawn
 * as a flame graph and a collapsible tree; a search (regular expression)
 * colours matching frames and counts the samples whose stack holds one.
 * The URL's fragment presets both (#bottomup&search=RE), so a view can be
 * linked, and the page records what it drew in data-* attributes of <body>.
 */
static const char html_tail[] =
	";\n"
	"let BU=false,RE=null,ROOT,zoom,cells=0;\n"
	"function build(){const root={name:'all',total:0,self:0,kids:new Map()};\n"
	" for(const [n,st] of DATA.stacks){root.total+=n;let c=root;const s=BU?[...st].reverse():st;\n"
	"  for(const l of s){let k=c.kids.get(l);if(!k){k={name:DATA.labels[l],total:0,self:0,"
	"kids:new Map(),parent:c};c.kids.set(l,k);}k.total+=n;c=k;}c.self+=n;}\n"
	" return root;}\n"
	"function cls(n){return RE&&RE.test(n)?'hit':n.startsWith('guest:')?'g':n.startsWith('mon:')?'m':'k';}\n"
	"function esc(s){return s.replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));}\n"
	"function pct(x){return (100*x/Math.max(1,ROOT.total)).toFixed(2);}\n"
	"function flame(){const fg=document.getElementById('fg');fg.innerHTML='';cells=0;let maxd=0;\n"
	" function put(n,x,w,d){if(w<0.0005)return;maxd=Math.max(maxd,d);const e=document.createElement('div');\n"
	"  e.className='fg-cell '+cls(n.name);e.style.left=(100*x)+'%';e.style.width=(100*w)+'%';\n"
	"  e.style.top=(d*18)+'px';e.title=n.name+' '+pct(n.total)+'% ('+n.total+' samples)';\n"
	"  e.textContent=n.name;e.onclick=()=>{zoom=(n===zoom&&n.parent)?n.parent:n;flame();};fg.appendChild(e);cells++;\n"
	"  let cx=x;const kids=[...n.kids.values()].sort((a,b)=>b.total-a.total);\n"
	"  for(const k of kids){const kw=w*k.total/Math.max(1,n.total);put(k,cx,kw,d+1);cx+=kw;}}\n"
	" put(zoom,0,1,0);fg.style.height=((maxd+1)*18+2)+'px';}\n"
	"function tree(n,el){const kids=[...n.kids.values()].sort((a,b)=>b.total-a.total);\n"
	" for(const k of kids){if(100*k.total/Math.max(1,ROOT.total)<0.5)continue;\n"
	"  const d=document.createElement('details');const s=document.createElement('summary');\n"
	"  s.textContent=pct(k.total).padStart(6)+'% '+pct(k.self).padStart(6)+'% '+String(k.total).padStart(7)+'  '+k.name;\n"
	"  d.appendChild(s);d.className='tree-node';if(k.total*5>ROOT.total)d.open=true;el.appendChild(d);tree(k,d);}}\n"
	"function matched(){let m=0;if(!RE)return 0;\n"
	" for(const [n,st] of DATA.stacks)if(st.some(l=>RE.test(DATA.labels[l])))m+=n;return m;}\n"
	"function draw(){ROOT=build();zoom=ROOT;flame();const t=document.getElementById('tree');t.innerHTML='';\n"
	" tree(ROOT,t);document.getElementById('treetitle').textContent=BU?'Bottom-up tree':'Top-down tree';\n"
	" const m=matched(),b=document.body;b.setAttribute('data-rendered',String(cells));\n"
	" b.setAttribute('data-view',BU?'bottom-up':'top-down');b.setAttribute('data-matched',String(m));\n"
	" b.setAttribute('data-total',String(ROOT.total));\n"
	" const first=[...ROOT.kids.values()].sort((a,c)=>c.total-a.total)[0];\n"
	" b.setAttribute('data-first',first?first.name:'');\n"
	" document.getElementById('match').textContent=RE?('matched: '+pct(m)+'% ('+m+' samples)'):'';}\n"
	"function setq(q){try{RE=q?new RegExp(q):null;document.getElementById('q').style.background='';}\n"
	" catch(e){RE=null;document.getElementById('q').style.background='#fdd';}}\n"
	"const H=new URLSearchParams(location.hash.slice(1));BU=H.has('bottomup');\n"
	"document.getElementById('bu').checked=BU;\n"
	"if(H.get('search')){document.getElementById('q').value=H.get('search');setq(H.get('search'));}\n"
	"document.getElementById('bu').onchange=e=>{BU=e.target.checked;draw();};\n"
	"document.getElementById('q').oninput=e=>{setq(e.target.value);draw();};\n"
	"document.getElementById('info').innerHTML=esc(DATA.info);\n"
	"draw();\n"
	"</script></body></html>\n";

int csp_export_html(const struct csp_profile *p, const struct csp_view *v, FILE *f)
{
	json_t *d = json_object(), *labels = json_array(), *stacks = json_array();
	char info[512];
	char *s;

	for (unsigned i = 0; i < v->nlabels; i++)
		json_array_append_new(labels, json_string(v->label[i]));
	for (unsigned i = 0; i < v->n; i++) {
		json_t *st = json_array();
		for (unsigned j = 0; j < v->st[i].len; j++)
			json_array_append_new(st, json_integer(v->st[i].lab[j]));
		json_array_append_new(stacks, json_pack("[I,o]", (json_int_t)v->st[i].count, st));
	}
	snprintf(info, sizeof(info), "%llu samples in view at %u Hz over %.1f s, %s build%s",
		 (unsigned long long)v->total, p->hz, (double)p->elapsed_ns / 1e9, p->buildtype,
		 p->drops ? " (some samples dropped: footprint cap)" : "");
	json_object_set_new(d, "labels", labels);
	json_object_set_new(d, "stacks", stacks);
	json_object_set_new(d, "info", json_string(info));
	s = json_dumps(d, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(d);
	if (!s)
		return -ENOMEM;
	fputs(html_head, f);
	/* "</" inside the data must not end the script element. */
	for (const char *c = s; *c; c++) {
		if (c[0] == '<' && c[1] == '/')
			fputs("<\\", f);
		else
			fputc(*c, f);
	}
	free(s);
	fputs(html_tail, f);
	return ferror(f) ? -EIO : 0;
}
