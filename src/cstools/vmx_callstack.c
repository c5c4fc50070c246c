/*
 * vmx_callstack.c - vmx-callstack, the viewer of the stats build's callstack
 * profiles (the seed's viewCallstack): top-down and bottom-up trees, a tree
 * rooted at one function, per-instruction counts with disassembly, filters,
 * an interactive terminal view, and exports (folded, speedscope, pprof,
 * HTML).  The profile is already symbolized, so nothing else is needed;
 * guest code is disassembled by the monitor's own decoder (src/cpu/disasm.c)
 * from the guest binary or the instruction words the profile recorded, the
 * monitor's code by objdump.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <regex.h>
#include <ncurses.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../cpu/disasm.h"
#include "csp.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmx-callstack [VIEW] [FILTERS] [OPTIONS] FILE|VMDIR|STATSDIR\n"
		"views (default --top-down):\n"
		"  --top-down          callers first; total %% (with callees) and self %%\n"
		"  --bottom-up         leaf functions first, their callers below (without the\n"
		"                      kstat frame unless --with-kstat)\n"
		"  --rootat FUNC       all of FUNC's time from every path, as the root\n"
		"  --insn FUNC         samples per address in FUNC, with disassembly\n"
		"  --tui               interactive tree (arrows, Enter/Right expand, Left collapse, q)\n"
		"  --summary           header and totals only\n"
		"filters:\n"
		"  --vcpu N  --guest-only  --monitor-only  --kstat NAME  --from SEC  --to SEC\n"
		"  --no-kstat / --with-kstat   leave off / keep the kstat frame at the leaf end\n"
		"  --monitor-tail      keep the monitor frames down to hart_run under guest\n"
		"                      stacks (left off by default: the same on every one)\n"
		"  --priv U|S|M        samples taken while the guest ran in that mode\n"
		"text options:\n"
		"  --depth N           levels shown (default unlimited)\n"
		"  --min PCT           hide nodes below PCT %% of the samples (default 0.5)\n"
		"exports (to -o FILE or stdout):\n"
		"  --folded            frame;frame;... count lines, root first\n"
		"  --speedscope        speedscope JSON\n"
		"  --pprof FILE        pprof profile.proto, gzipped\n"
		"  --html              self-contained HTML page: flame graph and tree\n"
		"FUNC is a frame name with or without its domain (guest:, mon:, kstat:).\n");
}

/* "# WHAT: N, stopped at REASON N, ..." for the reasons that occurred; nothing for an old profile. */
static void print_stops(FILE *out, const char *what, const struct csp_stops *s)
{
	uint64_t all = 0;
	if (!s->n)
		return;
	for (unsigned i = 0; i < s->n; i++)
		all += s->v[i].count;
	fprintf(out, "# %s: %llu, stopped at", what, (unsigned long long)all);
	for (unsigned i = 0, k = 0; i < s->n; i++)
		if (s->v[i].count)
			fprintf(out, "%s %s %llu", k++ ? "," : "", s->v[i].name,
				(unsigned long long)s->v[i].count);
	fputc('\n', out);
}

static void print_tree(const struct csp_view *v, const struct csp_tree *t, int node, int depth,
		       int maxdepth, double minpct, FILE *f)
{
	int *kids;
	unsigned n;
	if (maxdepth >= 0 && depth >= maxdepth)
		return;
	n = csp_tree_children(t, node, &kids);
	for (unsigned i = 0; i < n; i++) {
		const struct csp_node *c = &t->n[kids[i]];
		double tp = t->total ? 100.0 * (double)c->total / (double)t->total : 0;
		double sp = t->total ? 100.0 * (double)c->self / (double)t->total : 0;
		if (tp < minpct)
			continue;
		fprintf(f, "%6.2f%% %6.2f%% %8llu  %*s%s\n", tp, sp, (unsigned long long)c->total,
			2 * depth, "", v->label[c->lab]);
		print_tree(v, t, kids[i], depth + 1, maxdepth, minpct, f);
	}
	free(kids);
}

/*
 * The answer first, when no view was asked for: where the guest spends its
 * time (guest functions by self samples, the leaf end of the bottom-up
 * view) and how the monitor's services split it (kstats), then the tree.
 */
static void first_screen(const struct csp_profile *p, const struct csp_view *v, FILE *out)
{
	uint64_t *self = calloc(v->nlabels + 1, sizeof(*self));
	uint64_t *ks = calloc(p->nkstats + 1, sizeof(*ks));
	unsigned *order = calloc(v->nlabels + 1, sizeof(*order));
	uint64_t guest = 0, all = 0;
	if (!self || !ks || !order)
		goto out;
	for (unsigned i = 0; i < v->n; i++) {
		const struct csp_vstack *st = &v->st[i];
		/* The innermost guest frame of the stack is where the guest was. */
		for (int j = (int)st->len - 1; j >= 0; j--)
			if (!strncmp(v->label[st->lab[j]], "guest:", 6)) {
				self[st->lab[j]] += st->count;
				guest += st->count;
				break;
			}
	}
	for (unsigned i = 0; i < p->nstacks; i++) {
		ks[p->stacks[i].kstat < p->nkstats ? p->stacks[i].kstat : p->nkstats] +=
			p->stacks[i].count;
		all += p->stacks[i].count;
	}
	unsigned n = 0;
	for (unsigned i = 0; i < v->nlabels; i++)
		if (self[i])
			order[n++] = i;
	for (unsigned a = 1; a < n; a++)   /* insertion sort: a few hundred labels at most */
		for (unsigned b = a; b > 0 && self[order[b]] > self[order[b - 1]]; b--) {
			unsigned tmp = order[b];
			order[b] = order[b - 1];
			order[b - 1] = tmp;
		}
	if (n) {
		fprintf(out, "# hottest guest functions (innermost guest frame; %% of all %llu samples)\n",
			(unsigned long long)v->total);
		for (unsigned k = 0; k < n && k < 15; k++)
			fprintf(out, "%6.2f%% %8llu  %s\n",
				100.0 * (double)self[order[k]] / (double)(v->total ? v->total : 1),
				(unsigned long long)self[order[k]], v->label[order[k]]);
		if (guest < v->total)
			fprintf(out, "%6.2f%% %8llu  (no guest frame: outside hart_run)\n",
				100.0 * (double)(v->total - guest) / (double)v->total,
				(unsigned long long)(v->total - guest));
	}
	fprintf(out, "# kstat split (monitor service at the sample; %% of all %llu samples)\n",
		(unsigned long long)all);
	for (unsigned k = 0; k <= p->nkstats; k++)
		if (ks[k])
			fprintf(out, "%6.2f%% %8llu  kstat:%s\n", 100.0 * (double)ks[k] / (double)all,
				(unsigned long long)ks[k],
				k < p->nkstats && p->kstat[k] ? p->kstat[k] : "?");
	fprintf(out, "#\n");
out:
	free(self);
	free(ks);
	free(order);
}

/* ---- naming a frame: exact, then a pattern, else suggestions ---- */

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[256];
	if (la > 255 || lb > 255)
		return 1000;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const char *undomain(const char *l)
{
	const char *c = strchr(l, ':');
	return c && (!strncmp(l, "guest:", 6) || !strncmp(l, "mon:", 4) || !strncmp(l, "kstat:", 6)) ?
	       c + 1 : l;
}

/*
 * The label FUNC means among labels: itself (with or without its domain),
 * else the one label an extended regular expression (case-insensitive,
 * also a plain substring) matches.  Several matches or none: a message
 * naming the candidates (or the closest names) and NULL.
 */
static const char *resolve_label(char *const *labels, unsigned n, const char *func, const char *opt)
{
	regex_t re;
	unsigned hits = 0, first = 0;
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(labels[i], func) || !strcmp(undomain(labels[i]), func))
			return labels[i];
	if (regcomp(&re, func, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0) {
		for (unsigned i = 0; i < n; i++)
			if (!regexec(&re, labels[i], 0, NULL, 0) && !hits++)
				first = i;
		if (hits == 1) {
			regfree(&re);
			fprintf(stderr, "vmx-callstack: %s %s: using %s\n", opt, func, labels[first]);
			return labels[first];
		}
		if (hits > 1) {
			fprintf(stderr, "vmx-callstack: %s %s matches %u frames:", opt, func, hits);
			for (unsigned i = 0, k = 0; i < n && k < 10; i++)
				if (!regexec(&re, labels[i], 0, NULL, 0))
					fprintf(stderr, "%s %s", k++ ? "," : "", labels[i]);
			fprintf(stderr, "%s; give one of them\n", hits > 10 ? ", ..." : "");
			regfree(&re);
			return NULL;
		}
		regfree(&re);
	}
	/* Nothing matched: the closest names, if any is close. */
	fprintf(stderr, "vmx-callstack: %s %s: no such frame in the selected samples", opt, func);
	const char *want = undomain(func);
	unsigned limit = (unsigned)strlen(want) / 3 + 2, shown = 0;
	for (unsigned d = 0; d <= limit && shown < 5; d++)
		for (unsigned i = 0; i < n && shown < 5; i++)
			if (edit_distance(undomain(labels[i]), want) == d)
				fprintf(stderr, "%s %s", shown++ ? "," : "; did you mean", labels[i]);
	fputc('\n', stderr);
	return NULL;
}

/* ---- interactive view ---- */

struct tui_row {
	int node, depth;
};

static void tui_flatten(const struct csp_tree *t, int node, int depth, const bool *open,
			struct tui_row *rows, unsigned *n)
{
	int *kids;
	unsigned k = csp_tree_children(t, node, &kids);
	for (unsigned i = 0; i < k; i++) {
		rows[(*n)++] = (struct tui_row){ kids[i], depth };
		if (open[kids[i]])
			tui_flatten(t, kids[i], depth + 1, open, rows, n);
	}
	free(kids);
}

static int run_tui(const struct csp_view *v, const struct csp_tree *t, const char *title)
{
	bool *open = calloc(t->len, sizeof(bool));
	struct tui_row *rows = calloc(t->len, sizeof(*rows));
	unsigned n = 0, sel = 0, top = 0;
	if (!open || !rows) {
		free(open);
		free(rows);
		return -ENOMEM;
	}
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	for (;;) {
		int h, w, ch;
		n = 0;
		tui_flatten(t, 0, 0, open, rows, &n);
		if (sel >= n)
			sel = n ? n - 1 : 0;
		getmaxyx(stdscr, h, w);
		if (sel < top)
			top = sel;
		if (h > 2 && sel >= top + (unsigned)(h - 2))
			top = sel - (unsigned)(h - 3);
		erase();
		mvprintw(0, 0, "%.*s", w, title);
		for (unsigned r = top; r < n && (int)(r - top) < h - 2; r++) {
			const struct csp_node *c = &t->n[rows[r].node];
			char line[1024];
			snprintf(line, sizeof(line), "%6.2f%% %6.2f%% %*s%c %s",
				 100.0 * (double)c->total / (double)(t->total ? t->total : 1),
				 100.0 * (double)c->self / (double)(t->total ? t->total : 1),
				 2 * rows[r].depth, "", c->child < 0 ? ' ' : open[rows[r].node] ? '-' : '+',
				 v->label[c->lab]);
			if (r == sel)
				attron(A_REVERSE);
			mvprintw(1 + (int)(r - top), 0, "%.*s", w, line);
			if (r == sel)
				attroff(A_REVERSE);
		}
		mvprintw(h - 1, 0, "%.*s", w,
			 "up/down move  right/enter expand  left collapse  e expand all  q quit");
		refresh();
		ch = getch();
		/* ERR: input closed (EOF, hangup); nothing more can come. */
		if (ch == 'q' || ch == 27 || ch == ERR)
			break;
		if (ch == KEY_UP && sel > 0)
			sel--;
		else if (ch == KEY_DOWN && sel + 1 < n)
			sel++;
		else if (ch == KEY_NPAGE)
			sel = sel + (unsigned)h < n ? sel + (unsigned)h : (n ? n - 1 : 0);
		else if (ch == KEY_PPAGE)
			sel = sel > (unsigned)h ? sel - (unsigned)h : 0;
		else if ((ch == KEY_RIGHT || ch == '\n' || ch == ' ') && n)
			open[rows[sel].node] = ch == KEY_RIGHT ? true : !open[rows[sel].node];
		else if (ch == KEY_LEFT && n) {
			if (open[rows[sel].node]) {
				open[rows[sel].node] = false;
			} else {
				/* Jump to the parent row. */
				int parent = t->n[rows[sel].node].parent;
				for (unsigned r = 0; r < n; r++)
					if (rows[r].node == parent)
						sel = r;
			}
		} else if (ch == 'e') {
			for (unsigned i = 0; i < t->len; i++)
				open[i] = true;
		}
	}
	endwin();
	free(open);
	free(rows);
	return 0;
}

/* ---- instruction level ---- */

/* Longest guest function disassembled from a binary. */
#define CODE_MAX (1u << 20)

#define CALLEES_KEPT 4

struct addr_count {
	uint64_t addr, count;
	bool leaf;
	/* At a return address: the functions called from there, by samples. */
	const char *callee[CALLEES_KEPT];
	uint64_t callee_n[CALLEES_KEPT], callee_other;
};

static void add_callee(struct addr_count *a, const char *name, uint64_t n)
{
	for (unsigned i = 0; i < CALLEES_KEPT; i++) {
		if (!a->callee[i])
			a->callee[i] = name;
		if (a->callee[i] == name || !strcmp(a->callee[i], name)) {
			a->callee_n[i] += n;
			return;
		}
	}
	a->callee_other += n;
}

static int by_count(const void *a, const void *b)
{
	const struct addr_count *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int by_addr(const void *a, const void *b)
{
	const struct addr_count *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* One annotated line: samples and share when the address has any. */
static void insn_line(FILE *out, uint64_t addr, uint32_t raw, int len, const char *text,
		      const struct addr_count *ac, unsigned nac, uint64_t total)
{
	char body[160];
	uint64_t cnt = 0;
	for (unsigned k = 0; k < nac; k++)
		if (ac[k].addr == addr)
			cnt = ac[k].count;
	snprintf(body, sizeof(body), "%llx:  %0*x%*s  %s", (unsigned long long)addr, 2 * len, raw,
		 len == 2 ? 4 : 0, "", text);
	if (cnt)
		fprintf(out, "%8llu %6.2f%% %s\n", (unsigned long long)cnt,
			100.0 * (double)cnt / (double)total, body);
	else
		fprintf(out, "%16s %s\n", "", body);
}

/*
 * Guest code, disassembled by the monitor's own decoder: the bytes of the
 * function's range from the guest ELF or the flat kernel Image when one is
 * at hand, else the instruction words the profile recorded at exactly
 * sampled addresses (only those, so the listing has gaps).
 */
static void guest_disasm(const struct csp_profile *p, const struct csp_frame *fn, const char *name,
			 const struct addr_count *ac, unsigned nac, uint64_t total, FILE *out)
{
	char file[4096] = "";
	uint8_t *code = NULL;
	ssize_t got = 0;
	bool ranged = fn && fn->end > fn->start && fn->end - fn->start <= CODE_MAX;

	snprintf(file, sizeof(file), "%s", p->guest_symbols);
	file[strcspn(file, ",#")] = 0;
	if (ranged)
		code = malloc(fn->end - fn->start);
	if (code && file[0] && strcmp(file, "-") && csp_is_elf(file))
		got = csp_code_read(file, 0, fn->start, code, fn->end - fn->start);
	if (code && got <= 0 && p->guest_image[0]) {
		snprintf(file, sizeof(file), "%s", p->guest_image);
		got = csp_code_read(file, p->guest_image_va, fn->start, code, fn->end - fn->start);
	}
	if (p->pc_exact || p->pc_block)
		fprintf(out, "\n(whole profile: %llu guest samples at the exact instruction, %llu only "
			"at the start of the decoded block, counted there)\n",
			(unsigned long long)p->pc_exact, (unsigned long long)p->pc_block);
	static const char gcode_title[] =
		"disassembly (vmx decoder) of the sampled instructions only: no guest binary, "
		"words recorded in the profile\n";
	if (got > 0) {
		fprintf(out, "\ndisassembly (vmx decoder, code from %s):\n", file);
		for (size_t off = 0; off + 2 <= (size_t)got;) {
			uint32_t raw = (uint32_t)code[off] | (uint32_t)code[off + 1] << 8;
			char text[96];
			if ((raw & 3) == 3) {
				if (off + 4 > (size_t)got)
					break;
				raw |= (uint32_t)code[off + 2] << 16 | (uint32_t)code[off + 3] << 24;
			}
			int len = disasm_insn(raw, fn->start + off, text, sizeof(text));
			if (len < 0)
				break;
			insn_line(out, fn->start + off, raw, len, text, ac, nac, total);
			off += (size_t)len;
		}
		free(code);
		return;
	}
	free(code);

	/*
	 * No binary: the words recorded at sampled pcs within the function, and
	 * the sampled addresses that have none (block starts, return addresses).
	 */
	unsigned shown = 0;
	size_t k = 0;
	for (unsigned i = 0; i <= p->ngcode; i++) {
		const struct csp_gcode *g = i < p->ngcode ? &p->gcode[i] : NULL;
		bool in = false;
		if (g) {
			in = ranged && g->addr >= fn->start && g->addr < fn->end;
			for (unsigned j = 0; !in && j < nac; j++)
				in = ac[j].addr == g->addr;
			if (!in)
				continue;
		}
		/* Sampled addresses below this word (ac is sorted) that have no word of their own. */
		for (; k < nac && (!g || ac[k].addr <= g->addr); k++) {
			bool has = false;
			for (unsigned j = 0; j < p->ngcode && !has; j++)
				has = p->gcode[j].addr == ac[k].addr;
			if (has)
				continue;
			if (!shown++)
				fprintf(out, "\n%s", gcode_title);
			fprintf(out, "%8llu %6.2f%% %llx:  (no instruction word recorded%s)\n",
				(unsigned long long)ac[k].count, 100.0 * (double)ac[k].count / (double)total,
				(unsigned long long)ac[k].addr, ac[k].leaf ? "" : "; return address");
		}
		if (!g)
			break;
		char text[96];
		int len = disasm_insn(g->raw, g->addr, text, sizeof(text));
		if (len < 0)
			continue;
		if (!shown++)
			fprintf(out, "\n%s", gcode_title);
		insn_line(out, g->addr, g->raw, len, text, ac, nac, total);
	}
	if (!shown)
		fprintf(out, "(no disassembly: no guest ELF or kernel image for %s and no instruction "
			"words recorded at its sampled addresses)\n", name);
	else if (p->gcode_dropped)
		fprintf(out, "(%llu sampled words were not recorded: their share of the profile's "
			"footprint was full)\n", (unsigned long long)p->gcode_dropped);
}

static bool frame_is(const struct csp_frame *fr, const char *name, bool by_address,
		     uint64_t addr)
{
	if (by_address)
		return fr->addr == addr;
	return fr->name && !strcmp(fr->name, name);
}

static int insn_view(const struct csp_profile *p, const struct csp_filter *flt, const char *func,
		     FILE *out)
{
	const char *name = func;
	const struct csp_frame *fn = NULL;
	char dom = 0;
	struct addr_count *ac = NULL;
	unsigned nac = 0;
	uint64_t total = 0, all = 0;

	if (!strncmp(func, "guest:", 6)) {
		dom = 'g';
		name = func + 6;
	} else if (!strncmp(func, "mon:", 4)) {
		dom = 'm';
		name = func + 4;
	}
	/*
	 * An address (the label of a frame no symbol covers, "guest:0x10636"):
	 * the frames at exactly that address, whatever their name.
	 */
	bool by_addr_only = false;
	uint64_t want = 0;
	if (!strncmp(name, "0x", 2) || !strncmp(name, "0X", 2)) {
		char *end;
		want = strtoull(name + 2, &end, 16);
		by_addr_only = end != name + 2 && !*end;
	}
	for (unsigned i = 0; i < p->nstacks; i++) {
		const struct csp_stack *s = &p->stacks[i];
		if ((flt->vcpu >= 0 && s->vcpu != (unsigned)flt->vcpu) ||
		    (flt->kstat >= 0 && s->kstat != (unsigned)flt->kstat))
			continue;
		all += s->count;
		/* The innermost frame of the function: where its time was spent. */
		const struct csp_frame *hit = NULL, *callee = NULL;
		for (unsigned j = 0; j < s->ng && !hit && !flt->monitor_only; j++) {
			const struct csp_frame *fr = &p->frames[s->g[s->ng - 1 - j]];
			if (frame_is(fr, name, by_addr_only, want) && (!dom || dom == 'g')) {
				hit = fr;
				callee = j ? &p->frames[s->g[s->ng - j]] : NULL;
			}
		}
		for (unsigned j = 0; j < s->nm && !hit && !flt->guest_only; j++) {
			const struct csp_frame *fr = &p->frames[s->m[s->nm - 1 - j]];
			if (frame_is(fr, name, by_addr_only, want) && (!dom || dom == 'm')) {
				hit = fr;
				callee = j ? &p->frames[s->m[s->nm - j]] : NULL;
			}
		}
		if (!hit)
			continue;
		if (!dom)
			dom = hit->dom;
		else if (dom != hit->dom)
			continue;
		total += s->count;
		if (!fn || (!fn->end && hit->end))
			fn = hit;
		unsigned k;
		for (k = 0; k < nac; k++)
			if (ac[k].addr == hit->addr)
				break;
		if (k == nac) {
			struct addr_count *na = realloc(ac, (nac + 1) * sizeof(*ac));
			if (!na) {
				free(ac);
				return -ENOMEM;
			}
			ac = na;
			ac[nac++] = (struct addr_count){ .addr = hit->addr, .leaf = hit->leaf };
		}
		ac[k].count += s->count;
		if (callee && callee->name)
			add_callee(&ac[k], callee->name, s->count);
	}
	if (!nac) {
		fprintf(stderr, "vmx-callstack: no samples in %s\n", func);
		free(ac);
		return -ENOENT;
	}
	/* The table hottest first; the disassembly below wants address order. */
	qsort(ac, nac, sizeof(*ac), by_count);
	fprintf(out, "%s:%s: %llu samples (%.2f%% of %llu)\n", dom == 'g' ? "guest" : "mon", name,
		(unsigned long long)total, 100.0 * (double)total / (double)(all ? all : 1),
		(unsigned long long)all);
	fprintf(out, "%8s %7s  %-18s  %s\n", "samples", "share", "address", "");
	for (unsigned k = 0; k < nac; k++) {
		fprintf(out, "%8llu %6.2f%%  0x%-16llx  ", (unsigned long long)ac[k].count,
			100.0 * (double)ac[k].count / (double)total, (unsigned long long)ac[k].addr);
		if (ac[k].leaf) {
			fputc('\n', out);
			continue;
		}
		/* A return address: the time went to what was called from here, most first. */
		for (unsigned i = 1; i < CALLEES_KEPT && ac[k].callee[i]; i++)
			for (unsigned j = i; j > 0 && ac[k].callee_n[j] > ac[k].callee_n[j - 1]; j--) {
				const char *tn = ac[k].callee[j];
				uint64_t tc = ac[k].callee_n[j];
				ac[k].callee[j] = ac[k].callee[j - 1];
				ac[k].callee_n[j] = ac[k].callee_n[j - 1];
				ac[k].callee[j - 1] = tn;
				ac[k].callee_n[j - 1] = tc;
			}
		fprintf(out, "(return address: time in callees");
		for (unsigned i = 0; i < CALLEES_KEPT && ac[k].callee[i]; i++)
			fprintf(out, "%s %s %.1f%%", i ? "," : ":", ac[k].callee[i],
				100.0 * (double)ac[k].callee_n[i] / (double)ac[k].count);
		if (ac[k].callee_other)
			fprintf(out, ", others %.1f%%",
				100.0 * (double)ac[k].callee_other / (double)ac[k].count);
		fprintf(out, ")\n");
	}
	qsort(ac, nac, sizeof(*ac), by_addr);

	if (dom == 'g') {
		guest_disasm(p, fn, name, ac, nac, total, out);
		free(ac);
		return 0;
	}

	/* Monitor code: objdump of the symbol in the recorded binary, bias removed. */
	char file[4096] = "", cmd[8800];
	uint64_t bias = p->monitor_bias;
	snprintf(file, sizeof(file), "%s", p->monitor_exe);
	if (!file[0] || !strcmp(file, "-")) {
		fprintf(out, "(no binary recorded for disassembly)\n");
		free(ac);
		return 0;
	}
	/* objdump run directly, no shell: a symbol's name is never command text. */
	snprintf(cmd, sizeof(cmd), "--disassemble=%s", name);
	pid_t opid = -1;
	FILE *pf = NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) == 0) {
		posix_spawn_file_actions_t fa;
		char *oargv[] = { "objdump", "-d", "--no-show-raw-insn", cmd, file, NULL };
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
		if (posix_spawnp(&opid, "objdump", &fa, NULL, oargv, environ) != 0)
			opid = -1;
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[1]);
		pf = opid > 0 ? fdopen(pfd[0], "r") : NULL;
		if (!pf)
			close(pfd[0]);
	}
	char line[1024];
	bool any = false;
	while (pf && fgets(line, sizeof(line), pf)) {
		unsigned long long a;
		char *colon = strchr(line, ':');
		/* Instruction lines only: "  addr:<TAB>insn" (not "addr <sym>:" headers). */
		if (sscanf(line, " %llx:", &a) != 1 || !colon || colon[1] != '\t')
			continue;
		uint64_t cnt = 0;
		for (unsigned k = 0; k < nac; k++)
			if (ac[k].addr - bias == a)
				cnt = ac[k].count;
		line[strcspn(line, "\n")] = 0;
		if (!any)
			fprintf(out, "\ndisassembly (%s):\n", file);
		any = true;
		if (cnt)
			fprintf(out, "%8llu %6.2f%% %s\n", (unsigned long long)cnt,
				100.0 * (double)cnt / (double)total, line);
		else
			fprintf(out, "%16s %s\n", "", line);
	}
	if (pf)
		fclose(pf);
	if (opid > 0)
		waitpid(opid, NULL, 0);
	if (!any)
		fprintf(out, "(no disassembly: %s is not an ELF with %s, or objdump is missing)\n", file,
			name);
	free(ac);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_TOP = 1000, O_BOTTOM, O_ROOTAT, O_INSN, O_TUI, O_SUMMARY, O_VCPU, O_GUEST,
	       O_MONITOR, O_KSTAT, O_FROM, O_TO, O_DEPTH, O_MIN, O_FOLDED, O_SPEEDSCOPE, O_PPROF,
	       O_HTML, O_NOKSTAT, O_WITHKSTAT, O_PRIV, O_DISASM_ELF, O_NO_ALIASES, O_MONTAIL };
	static const struct option opts[] = {
		{ "top-down", no_argument, NULL, O_TOP }, { "bottom-up", no_argument, NULL, O_BOTTOM },
		{ "rootat", required_argument, NULL, O_ROOTAT },
		{ "insn", required_argument, NULL, O_INSN }, { "tui", no_argument, NULL, O_TUI },
		{ "summary", no_argument, NULL, O_SUMMARY },
		{ "vcpu", required_argument, NULL, O_VCPU },
		{ "guest-only", no_argument, NULL, O_GUEST },
		{ "monitor-only", no_argument, NULL, O_MONITOR },
		{ "kstat", required_argument, NULL, O_KSTAT },
		{ "from", required_argument, NULL, O_FROM }, { "to", required_argument, NULL, O_TO },
		{ "depth", required_argument, NULL, O_DEPTH }, { "min", required_argument, NULL, O_MIN },
		{ "folded", no_argument, NULL, O_FOLDED },
		{ "speedscope", no_argument, NULL, O_SPEEDSCOPE },
		{ "pprof", required_argument, NULL, O_PPROF }, { "html", no_argument, NULL, O_HTML },
		{ "no-kstat", no_argument, NULL, O_NOKSTAT },
		{ "priv", required_argument, NULL, O_PRIV },
		{ "with-kstat", no_argument, NULL, O_WITHKSTAT },
		{ "monitor-tail", no_argument, NULL, O_MONTAIL },
		/* Test aids, not in the usage text: the decoder's view of an ELF. */
		{ "disasm-elf", required_argument, NULL, O_DISASM_ELF },
		{ "no-aliases", no_argument, NULL, O_NO_ALIASES },
		{ "output", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct csp_filter flt = { .vcpu = -1, .kstat = -1, .from_s = 0, .to_s = -1, .priv = -1 };
	const char *disasm_elf = NULL;
	unsigned dis_flags = 0;
	const char *rootat = NULL, *insn = NULL, *kstat = NULL, *pprof = NULL, *outpath = NULL;
	bool bottom = false, tui = false, summary = false, folded = false, speedscope = false,
	     html = false, explicit_view = false;
	int depth = -1, c, rc, with_kstat = -1;
	double minpct = 0.5;
	char path[4096];
	struct verr e = { 0 };
	struct csp_profile *p = NULL;
	struct csp_view v;
	struct csp_tree t;
	FILE *out = stdout;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case O_TOP: bottom = false; explicit_view = true; break;
		case O_BOTTOM: bottom = true; explicit_view = true; break;
		case O_ROOTAT: rootat = optarg; explicit_view = true; break;
		case O_INSN: insn = optarg; break;
		case O_TUI: tui = true; break;
		case O_SUMMARY: summary = true; break;
		case O_VCPU: flt.vcpu = atoi(optarg); break;
		case O_GUEST: flt.guest_only = true; break;
		case O_MONITOR: flt.monitor_only = true; break;
		case O_KSTAT: kstat = optarg; break;
		case O_FROM: flt.from_s = atof(optarg); break;
		case O_TO: flt.to_s = atof(optarg); break;
		case O_DEPTH: depth = atoi(optarg); break;
		case O_MIN: minpct = atof(optarg); break;
		case O_FOLDED: folded = true; break;
		case O_SPEEDSCOPE: speedscope = true; break;
		case O_PPROF: pprof = optarg; break;
		case O_HTML: html = true; break;
		case O_NOKSTAT: with_kstat = 0; break;
		case O_PRIV:
			flt.priv = optarg[0] == 'U' || optarg[0] == 'u' ? 0 :
				   optarg[0] == 'S' || optarg[0] == 's' ? 1 :
				   optarg[0] == 'M' || optarg[0] == 'm' ? 3 : -2;
			if (flt.priv == -2) {
				usage(stderr);
				return 2;
			}
			break;
		case O_WITHKSTAT: with_kstat = 1; break;
		case O_MONTAIL: flt.monitor_tail = true; break;
		case O_DISASM_ELF: disasm_elf = optarg; break;
		case O_NO_ALIASES: dis_flags |= DISASM_NO_ALIASES; break;
		case 'o': outpath = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (disasm_elf) {
		rc = csp_disasm_elf(disasm_elf, dis_flags, stdout);
		if (rc < 0)
			fprintf(stderr, "vmx-callstack: %s: %s\n", disasm_elf, strerror(-rc));
		return rc < 0 || fflush(stdout) ? 1 : 0;
	}
	if (optind + 1 != argc || (flt.guest_only && flt.monitor_only)) {
		usage(stderr);
		return 2;
	}
	if (csp_find(argv[optind], path, sizeof(path), &e) < 0 || csp_load(path, &p, &e) < 0) {
		fprintf(stderr, "vmx-callstack: %s\n", e.msg);
		return 1;
	}
	if (kstat) {
		for (unsigned i = 0; i < p->nkstats; i++)
			if (p->kstat[i] && (!strcmp(p->kstat[i], kstat) ||
					    (!strncmp(kstat, "kstat:", 6) && !strcmp(p->kstat[i], kstat + 6))))
				flt.kstat = (int)i;
		if (flt.kstat < 0) {
			fprintf(stderr, "vmx-callstack: no kstat %s in %s\n", kstat, path);
			csp_free(p);
			return 1;
		}
	}
	if (outpath && !(out = fopen(outpath, "w"))) {
		fprintf(stderr, "vmx-callstack: %s: %s\n", outpath, strerror(errno));
		csp_free(p);
		return 1;
	}
	/* A kstat at the leaf end would be the root of every bottom-up tree. */
	flt.no_kstat = with_kstat == 0 || (with_kstat < 0 && bottom);
	/* curses on a pipe or file would read EOF forever: refuse up front. */
	if (tui && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "vmx-callstack: --tui needs a terminal on stdin and stdout; "
			"use the plain-text views (--top-down, --bottom-up) otherwise\n");
		rc = -ENOTTY;
		goto done_profile;
	}
	if (insn) {
		/* A pattern or a near miss is resolved against every frame's label. */
		struct csp_filter all = { .vcpu = -1, .kstat = -1, .priv = -1, .to_s = -1,
					  .monitor_tail = true, .no_kstat = true };
		bool is_addr = strstr(insn, "0x") != NULL;
		if (!is_addr && csp_view_build(p, &all, &v) == 0) {
			const char *l = resolve_label(v.label, v.nlabels, insn, "--insn");
			char *keep = l ? strdup(l) : NULL;
			csp_view_free(&v);
			if (!keep) {
				rc = -ENOENT;
				goto done_profile;
			}
			rc = insn_view(p, &flt, keep, out);
			free(keep);
			goto done_profile;
		}
		rc = insn_view(p, &flt, insn, out);
		goto done_profile;
	}
	rc = csp_view_build(p, &flt, &v);
	if (rc < 0) {
		fprintf(stderr, "vmx-callstack: out of memory\n");
		goto done_profile;
	}
	if (folded) {
		rc = csp_export_folded(&v, out);
	} else if (speedscope) {
		rc = csp_export_speedscope(p, &v, out);
	} else if (pprof) {
		rc = csp_export_pprof(p, &v, pprof, &e);
		if (rc < 0)
			fprintf(stderr, "vmx-callstack: %s\n", e.msg);
	} else if (html) {
		rc = csp_export_html(p, &v, out);
	} else {
		int root = -1;
		if (rootat) {
			const char *l = resolve_label(v.label, v.nlabels, rootat, "--rootat");
			if (!l || (root = csp_label_find(&v, l)) < 0) {
				rc = -ENOENT;
				goto done_view;
			}
		}
		if (!tui)
			fprintf(out, "# %s: %s build, %u Hz, %.1f s, %llu samples (%llu in view), "
				"%u stacks%s%s\n", path, p->buildtype, p->hz, (double)p->elapsed_ns / 1e9,
				(unsigned long long)p->samples, (unsigned long long)v.total, p->nstacks,
				p->coarse ? ", coarse aggregation (cap reached)" : "",
				p->drops ? ", samples dropped" : "");
		if (!tui) {
			print_stops(out, "guest stack walks", &p->gstops);
			print_stops(out, "monitor stack unwinds", &p->hstops);
		}
		if (!tui && (p->drops || p->ring_drops))
			fprintf(out, "# dropped: %llu (table full), %llu (ring full)\n",
				(unsigned long long)p->drops, (unsigned long long)p->ring_drops);
		if (summary)
			goto done_view;
		if (!explicit_view && !tui)
			first_screen(p, &v, out);
		rc = csp_tree_build(&v, bottom, root, &t);
		if (rc < 0)
			goto done_view;
		if (tui) {
			char title[512];
			snprintf(title, sizeof(title), "vmx-callstack %s %s: %llu samples", bottom ?
				 "bottom-up" : "top-down", path, (unsigned long long)v.total);
			rc = run_tui(&v, &t, title);
		} else {
			fprintf(out, "# %s%s%s; columns: total%% (with %s), self%%, samples, frame\n",
				bottom ? "bottom-up (leaves first, callers below)" : "top-down (callers first)",
				root >= 0 ? ", rooted at " : "", root >= 0 ? v.label[root] : "",
				bottom ? "callers below" : "callees");
			print_tree(&v, &t, 0, 0, depth, minpct, out);
		}
		csp_tree_free(&t);
	}
done_view:
	csp_view_free(&v);
done_profile:
	if (out != stdout && fclose(out) && !rc)
		rc = -EIO;
	else if (out == stdout && fflush(stdout))
		rc = -EIO;
	csp_free(p);
	return rc < 0 ? 1 : 0;
}
