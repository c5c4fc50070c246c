/*
 * cs_table.c - the callstack profiler's bounded aggregation table, the
 * guest stack walk, and the profile writer.
 *
 * The table is one allocation made up front (entries, hash index, frame
 * arena) sized from the footprint cap, so collecting never allocates and
 * never grows past the cap: when it is 3/4 full, new stacks are aggregated
 * coarsely (no time bucket, CS_COARSE_FRAMES leaf-most frames per domain),
 * and when even that finds no room the sample is counted as dropped.
 *
 * Beside the stacks it keeps the instruction bits of every distinct guest pc
 * sampled exactly (struct cs_sample.pc_exact), so the viewer can show the
 * sampled instructions without the guest's binary: a small open-addressing
 * set carved out of the same cap (1/16 of it), filled to 3/4, after which new
 * words are only counted.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "callstack.h"
#include "kstat.h"

struct cs_entry {
	uint64_t hash;
	uint64_t count;
	uint64_t as;            /* cs_sample.as */
	uint32_t tbucket;
	uint32_t frames;        /* offset into the arena: guest frames then monitor frames */
	uint16_t kstat;
	uint8_t vcpu, priv, nguest, nmon;
};

/* One sampled guest instruction: its address and bits (the pair is the key). */
struct cs_gcode {
	uint64_t addr;
	uint32_t raw;       /* 0: empty slot (0 is no instruction the hart executes) */
	uint32_t pad;
};

struct cs_table {
	size_t cap_bytes;
	unsigned bucket_s;
	struct cs_entry *ent;
	uint32_t nent, maxent;
	uint32_t *idx;          /* entry index + 1, 0 = empty */
	uint32_t idx_mask;
	uint64_t *arena;
	uint32_t arena_used, arena_max;
	uint64_t samples, drops;
	bool coarse;
	struct cs_gcode *gcode;
	uint32_t gcode_mask, ngcode;
	uint64_t gcode_drops;   /* distinct words not kept: the set was full */
	/*
	 * Which 4 KiB pages of idx and gcode were written: a probe into a page
	 * never written finds an empty slot without reading it.  Both arrays
	 * are fresh zero pages from the kernel, and hashing spreads new stacks
	 * over all of their pages; reading one first maps the shared zero page,
	 * and the write after it copies that with a TLB shootdown that also
	 * interrupts the vCPU thread's CPU (about 11 ms of the collector's CPU
	 * in a 4 s console run of 400 stacks).  Written first, a page costs
	 * one fault.
	 */
	uint8_t *idx_pg, *gcode_pg;
};

#define IDX_PG_SHIFT 10     /* 1024 uint32_t index slots per page */
#define GCODE_PG_SHIFT 8    /* 256 16-byte cs_gcode slots per page */

#define CS_AVG_FRAMES 24

/* Bytes of the written-page flags of an index of nidx slots and a set of ngc. */
static size_t page_flags(size_t nidx, size_t ngc)
{
	return (nidx >> IDX_PG_SHIFT) + 1 + (ngc >> GCODE_PG_SHIFT) + 1;
}

int cs_table_create(struct cs_table **out, size_t cap_bytes, unsigned bucket_s)
{
	struct cs_table *t;
	size_t per = sizeof(struct cs_entry) + 2 * sizeof(uint32_t) + CS_AVG_FRAMES * 8;
	size_t maxent, nidx = 16, ngc = 64, rest;

	if (cap_bytes < 64 * 1024)
		cap_bytes = 64 * 1024;
	/* The instruction set gets 1/16 of the cap; stacks the rest. */
	while (ngc * 2 * sizeof(struct cs_gcode) <= cap_bytes / 16)
		ngc *= 2;
	rest = cap_bytes - ngc * sizeof(struct cs_gcode);
	maxent = (rest - sizeof(*t)) / per;
	while (nidx < 2 * maxent)
		nidx *= 2;
	if (nidx * sizeof(uint32_t) > 2 * maxent * sizeof(uint32_t))
		nidx /= 2;   /* stay within the per-entry index budget */
	if (maxent >= nidx)
		maxent = nidx * 3 / 4;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cap_bytes = cap_bytes;
	t->bucket_s = bucket_s ? bucket_s : 1;
	t->maxent = (uint32_t)maxent;
	t->idx_mask = (uint32_t)nidx - 1;
	t->arena_max = (uint32_t)((rest - sizeof(*t) - maxent * sizeof(struct cs_entry) -
				   nidx * sizeof(uint32_t) - page_flags(nidx, ngc)) / 8);
	t->gcode_mask = (uint32_t)ngc - 1;
	t->ent = calloc(maxent, sizeof(*t->ent));
	t->idx = calloc(nidx, sizeof(*t->idx));
	t->arena = calloc(t->arena_max, 8);
	t->gcode = calloc(ngc, sizeof(*t->gcode));
	t->idx_pg = calloc((nidx >> IDX_PG_SHIFT) + 1, 1);
	t->gcode_pg = calloc((ngc >> GCODE_PG_SHIFT) + 1, 1);   /* page_flags() bytes */
	if (!t->ent || !t->idx || !t->arena || !t->gcode || !t->idx_pg || !t->gcode_pg) {
		cs_table_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void cs_table_free(struct cs_table *t)
{
	if (!t)
		return;
	free(t->ent);
	free(t->idx);
	free(t->arena);
	free(t->gcode);
	free(t->idx_pg);
	free(t->gcode_pg);
	free(t);
}

uint64_t cs_table_samples(const struct cs_table *t) { return t->samples; }
uint64_t cs_table_drops(const struct cs_table *t) { return t->drops; }
unsigned cs_table_entries(const struct cs_table *t) { return t->nent; }
bool cs_table_coarse(const struct cs_table *t) { return t->coarse; }

size_t cs_table_footprint(const struct cs_table *t)
{
	return sizeof(*t) + (size_t)t->maxent * sizeof(struct cs_entry) +
	       ((size_t)t->idx_mask + 1) * sizeof(uint32_t) + (size_t)t->arena_max * 8 +
	       ((size_t)t->gcode_mask + 1) * sizeof(struct cs_gcode) +
	       page_flags((size_t)t->idx_mask + 1, (size_t)t->gcode_mask + 1);
}

unsigned cs_table_gcode_count(const struct cs_table *t) { return t->ngcode; }
uint64_t cs_table_gcode_drops(const struct cs_table *t) { return t->gcode_drops; }

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static bool try_add(struct cs_table *t, const struct cs_sample *s, uint32_t tb, unsigned ng,
		    unsigned nm, uint64_t w)
{
	uint64_t h = mix(mix(mix(0, tb), ((uint64_t)s->kstat << 24) | ((uint64_t)s->vcpu << 16) |
			     ((uint64_t)s->priv << 8)), ((uint64_t)ng << 8) | nm);
	h = mix(h, s->as);
	for (unsigned i = 0; i < ng; i++)
		h = mix(h, s->guest[i]);
	for (unsigned i = 0; i < nm; i++)
		h = mix(h, s->mon[i]);
	for (uint32_t slot = (uint32_t)h & t->idx_mask;; slot = (slot + 1) & t->idx_mask) {
		uint32_t k = t->idx_pg[slot >> IDX_PG_SHIFT] ? t->idx[slot] : 0;
		if (!k) {
			if (t->nent == t->maxent || t->arena_used + ng + nm > t->arena_max)
				return false;
			struct cs_entry *e = &t->ent[t->nent];
			*e = (struct cs_entry){ h, w, s->as, tb, t->arena_used, s->kstat, s->vcpu,
						s->priv, (uint8_t)ng, (uint8_t)nm };
			memcpy(&t->arena[t->arena_used], s->guest, ng * 8);
			memcpy(&t->arena[t->arena_used + ng], s->mon, nm * 8);
			t->arena_used += ng + nm;
			t->idx_pg[slot >> IDX_PG_SHIFT] = 1;
			t->idx[slot] = ++t->nent;
			return true;
		}
		struct cs_entry *e = &t->ent[k - 1];
		if (e->hash == h && e->tbucket == tb && e->kstat == s->kstat && e->vcpu == s->vcpu &&
		    e->priv == s->priv && e->nguest == ng && e->nmon == nm && e->as == s->as &&
		    !memcmp(&t->arena[e->frames], s->guest, ng * 8) &&
		    !memcmp(&t->arena[e->frames + ng], s->mon, nm * 8)) {
			e->count += w;
			return true;
		}
	}
}

static void gcode_add(struct cs_table *t, uint64_t addr, uint32_t raw)
{
	uint64_t h = mix(mix(0, addr), raw);
	for (uint32_t slot = (uint32_t)h & t->gcode_mask;; slot = (slot + 1) & t->gcode_mask) {
		struct cs_gcode *g = &t->gcode[slot];
		bool empty = !t->gcode_pg[slot >> GCODE_PG_SHIFT] || !g->raw;
		if (!empty && g->raw == raw && g->addr == addr)
			return;
		if (empty) {
			/* 3/4 full at most, so probes stay short and always end. */
			if (t->ngcode >= (t->gcode_mask + 1) / 4 * 3) {
				t->gcode_drops++;
				return;
			}
			t->gcode_pg[slot >> GCODE_PG_SHIFT] = 1;
			*g = (struct cs_gcode){ addr, raw, 0 };
			t->ngcode++;
			return;
		}
	}
}

void cs_table_add(struct cs_table *t, const struct cs_sample *s, uint64_t t0_ns)
{
	unsigned ng = s->nguest > CS_MAX_GUEST ? CS_MAX_GUEST : s->nguest;
	unsigned nm = s->nmon > CS_MAX_MON ? CS_MAX_MON : s->nmon;
	uint64_t dt = s->t_ns > t0_ns ? s->t_ns - t0_ns : 0;
	uint32_t tb = (uint32_t)(dt / 1000000000ull / t->bucket_s);
	/* One sample may stand for several ticks (a tick held back while the thread slept). */
	uint64_t w = s->weight ? s->weight : 1;

	t->samples += w;
	if (s->pc_exact && s->nguest && s->graw)
		gcode_add(t, s->guest[0], s->graw);
	if (!t->coarse) {
		if (t->nent < t->maxent / 4 * 3 && t->arena_used < t->arena_max / 4 * 3 &&
		    try_add(t, s, tb, ng, nm, w))
			return;
		t->coarse = true;
	}
	if (ng > CS_COARSE_FRAMES)
		ng = CS_COARSE_FRAMES;
	if (nm > CS_COARSE_FRAMES)
		nm = CS_COARSE_FRAMES;
	if (!try_add(t, s, CS_TBUCKET_ALL, ng, nm, w))
		t->drops += w;
}

const char *const cs_gstop_name[CS_GSTOP_N] = {
	[CS_GSTOP_END] = "end", [CS_GSTOP_NONCANON] = "noncanonical",
	[CS_GSTOP_OTHER_HALF] = "other-half", [CS_GSTOP_FP_ORDER] = "fp-order",
	[CS_GSTOP_FP_RANGE] = "fp-range", [CS_GSTOP_UNMAPPED] = "unmapped",
	[CS_GSTOP_DEPTH] = "depth", [CS_GSTOP_MARKER] = "marker",
	[CS_GSTOP_UNKNOWN_CODE] = "unknown-code",
};

/*
 * No guest frame is larger than this: a caller's fp further up than that is
 * not on the same stack (Linux's kernel stacks are 16 KiB; a kernel thread
 * starts with a function pointer in s0, far away in the kernel's text).
 */
#define CS_GUEST_MAX_STEP (1u << 20)

static bool canonical(unsigned vabits, uint64_t a)
{
	if (!vabits)
		return a < (1ull << 56);   /* bare: a physical address */
	return (uint64_t)((int64_t)(a << (64 - vabits)) >> (64 - vabits)) == a;
}

unsigned cs_walk_guest(cs_peek_fn peek, const void *ctx, unsigned vabits, uint64_t pc,
		       uint64_t fp, uint64_t sp, uint64_t ra, uint64_t *out, unsigned max,
		       uint8_t *stop)
{
	unsigned n = 0;
	/* Under translation, a kernel chain never returns to user code and vice versa. */
	bool upper = vabits && (pc >> 63);
	if (!max) {
		*stop = CS_GSTOP_DEPTH;
		return 0;
	}
	out[n++] = pc;
	if (!fp) {
		*stop = CS_GSTOP_END;
		return n;
	}
	if (fp & 7 || fp < 16 || fp < sp || fp - sp > CS_GUEST_MAX_STEP) {
		*stop = CS_GSTOP_FP_RANGE;
		return n;
	}
	/*
	 * A leaf function's frame holds only the caller's fp, at [fp - 8]
	 * (gcc saves no ra there): when that word looks like a frame pointer on
	 * this stack rather than a return address, the caller is in ra.
	 */
	uint64_t w;
	if (peek(ctx, fp - 8, &w, 8) && !(w & 7) && w > fp && w > sp && w - sp <= 64 * 1024 &&
	    ra && canonical(vabits, ra) && (!vabits || (ra >> 63) == upper) && n < max) {
		out[n++] = ra;
		fp = w;
	}
	/* RISC-V frame record below fp: [fp - 8] = ra, [fp - 16] = caller's fp. */
	for (;;) {
		uint64_t rec[2];
		if (n == max) {
			*stop = CS_GSTOP_DEPTH;
			return n;
		}
		if (!peek(ctx, fp - 16, rec, sizeof(rec))) {
			*stop = CS_GSTOP_UNMAPPED;
			return n;
		}
		if (!rec[1]) {
			*stop = CS_GSTOP_END;
			return n;
		}
		if (!canonical(vabits, rec[1])) {
			*stop = CS_GSTOP_NONCANON;
			return n;
		}
		if (vabits && (rec[1] >> 63) != upper) {
			*stop = CS_GSTOP_OTHER_HALF;
			return n;
		}
		out[n++] = rec[1];
		if (!rec[0]) {
			*stop = CS_GSTOP_END;
			return n;
		}
		if (rec[0] <= fp) {
			*stop = CS_GSTOP_FP_ORDER;
			return n;
		}
		if (rec[0] & 7 || rec[0] - fp > CS_GUEST_MAX_STEP) {
			*stop = CS_GSTOP_FP_RANGE;
			return n;
		}
		fp = rec[0];
	}
}

unsigned cs_trim_guest(const struct cs_symtab *t, bool bare, const uint64_t *frames, unsigned n,
		       uint8_t *stop)
{
	uint64_t lo, hi;
	if (!cs_symtab_hull(t, &lo, &hi))
		return n;
	/* frames[0] is the sampled pc, executed for sure; callers from 1 on. */
	for (unsigned j = 1; j < n; j++) {
		uint64_t a = frames[j] - 1;   /* return addresses: the call is before them */
		const char *name = cs_symtab_lookup(t, a, NULL);
		if (!name && ((a >= lo && a < hi) || bare)) {
			*stop = CS_GSTOP_UNKNOWN_CODE;
			return j;
		}
		/* Linux starts every task in ret_from_fork* with s0 holding no frame. */
		if (name && !strncmp(name, "ret_from_fork", 13)) {
			*stop = CS_GSTOP_MARKER;
			return j + 1;
		}
	}
	return n;
}

/* ---- writer ---- */

/*
 * Which table names a guest frame: a user frame depends on its address
 * space (FP_USER0 + i: program i of guest.userSymbols).
 */
enum { FP_MAIN, FP_USER_UNKNOWN, FP_USER0 };

struct frame_key {
	uint64_t addr;
	uint8_t dom;    /* 'g' or 'm' */
	uint8_t leaf;
	uint8_t prog;   /* FP_* */
};

struct frame_map {
	struct frame_key *k;
	uint32_t *slot;     /* id + 1 */
	uint32_t n, mask;
};

static uint32_t frame_id(struct frame_map *m, uint64_t addr, uint8_t dom, uint8_t leaf,
			 uint8_t prog)
{
	uint64_t h = mix(mix(0, addr), (uint64_t)prog << 16 | (uint64_t)dom << 8 | leaf);
	for (uint32_t s = (uint32_t)h & m->mask;; s = (s + 1) & m->mask) {
		uint32_t k = m->slot[s];
		if (!k) {
			m->k[m->n] = (struct frame_key){ addr, dom, leaf, prog };
			m->slot[s] = ++m->n;
			return m->n - 1;
		}
		const struct frame_key *f = &m->k[k - 1];
		if (f->addr == addr && f->dom == dom && f->leaf == leaf && f->prog == prog)
			return k - 1;
	}
}

/*
 * The table that names an entry's guest frame at addr: a user address of a
 * U-mode sample under translation belongs to its address space's program.
 */
static uint8_t frame_prog(const struct cs_entry *en, uint64_t addr, const struct cs_user *u,
			  unsigned nu)
{
	int64_t best = 0;
	uint8_t prog = FP_USER_UNKNOWN;

	if (en->priv != 0 || !en->as || (addr >> 63))
		return FP_MAIN;
	/* The program whose code this address space matched best (majority of its words). */
	for (unsigned p = 0; p < nu && p < 250; p++)
		for (unsigned i = 0; u[p].sym && i < u[p].nas; i++) {
			int64_t score = (int64_t)u[p].match[i] - u[p].mismatch[i];
			if (u[p].as[i] == en->as && score > best) {
				best = score;
				prog = (uint8_t)(FP_USER0 + p);
			}
		}
	return prog;
}

static int gcode_cmp(const void *a, const void *b)
{
	const struct cs_gcode *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->raw < y->raw ? -1 : x->raw > y->raw;
}

/* The sampled instruction words, by address. */
static int write_gcode(FILE *f, const struct cs_table *t)
{
	struct cs_gcode *v = malloc(((size_t)t->ngcode + 1) * sizeof(*v));
	uint32_t n = 0;
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i <= t->gcode_mask; i++)
		if (t->gcode_pg[i >> GCODE_PG_SHIFT] && t->gcode[i].raw)
			v[n++] = t->gcode[i];
	qsort(v, n, sizeof(*v), gcode_cmp);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "gcode %llx %0*x\n", (unsigned long long)v[i].addr,
			(v[i].raw & 3) == 3 ? 8 : 4, v[i].raw);
	free(v);
	return 0;
}

static void put_name(FILE *f, const char *name)
{
	/* Names are single tokens in the file; anything odd becomes '_'. */
	for (const char *p = name; *p; p++)
		fputc((unsigned char)*p <= ' ' ? '_' : *p, f);
}

static void write_frame(FILE *f, uint32_t id, const struct frame_key *k,
			const struct cs_symtab *mon, const struct cs_symtab *guest,
			const struct cs_user *user)
{
	uint64_t start = 0, end = 0, look = k->leaf ? k->addr : k->addr - 1;
	const struct cs_user *u = k->dom == 'g' && k->prog >= FP_USER0 ? &user[k->prog - FP_USER0] :
				  NULL;
	const struct cs_symtab *tab = k->dom == 'm' ? mon : k->prog == FP_MAIN ? guest :
				      u ? u->sym : NULL;
	const char *name = cs_symtab_lookup_range(tab, look, &start, &end);
	fprintf(f, "frame %u %c %u %llx ", id, k->dom, k->leaf, (unsigned long long)k->addr);
	if (name && u) {
		put_name(f, u->prog);
		fputc(':', f);
	}
	if (!name && k->dom == 'g' && k->prog != FP_MAIN) {
		/* User code with no symbol: the program (or "[user]") and the address. */
		put_name(f, u ? u->prog : "[user]");
		fprintf(f, "+0x%llx %llx -\n", (unsigned long long)k->addr,
			(unsigned long long)k->addr);
		return;
	}
	if (name) {
		put_name(f, name);
		fprintf(f, " %llx %llx\n", (unsigned long long)start, (unsigned long long)end);
		return;
	}
	if (k->dom == 'm') {
		/* Outside the executable: a shared library's exported symbol, if any. */
		Dl_info di;
		if (dladdr((void *)(uintptr_t)look, &di) && di.dli_fname) {
			const char *lib = strrchr(di.dli_fname, '/');
			put_name(f, lib ? lib + 1 : di.dli_fname);
			if (di.dli_sname) {
				fputc(':', f);
				put_name(f, di.dli_sname);
				fprintf(f, " %llx -\n", (unsigned long long)(uintptr_t)di.dli_saddr);
			} else {
				/* No exported symbol: the library and the offset in it. */
				fprintf(f, "+0x%llx %llx -\n",
					(unsigned long long)(k->addr - (uintptr_t)di.dli_fbase),
					(unsigned long long)k->addr);
			}
			return;
		}
	}
	fprintf(f, "- - -\n");
}

int cs_write_profile(const char *path, const struct cs_table *t, const struct cs_meta *m,
		     const struct cs_symtab *mon, const struct cs_symtab *guest, struct verr *e)
{
	char tmp[4200];
	struct frame_map fm = { 0 };
	uint32_t nidx = 16;
	FILE *f = NULL;
	int rc = 0;

	while (nidx < 2 * t->arena_used + 16)
		nidx *= 2;
	fm.k = malloc((size_t)t->arena_used * sizeof(*fm.k) + 1);
	fm.slot = calloc(nidx, sizeof(*fm.slot));
	fm.mask = nidx - 1;
	if (!fm.k || !fm.slot) {
		rc = verr_set(e, -ENOMEM, "callstack: out of memory writing the profile");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		rc = verr_set(e, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* Only this thread writes f: no lock per character and per line. */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	fprintf(f, "vmx3-callstack 1\n");
	fprintf(f, "buildtype %s\n", m->buildtype ? m->buildtype : "-");
	fprintf(f, "pid %d\nhz %u\n", (int)getpid(), m->hz);
	fprintf(f, "start_unix_ns %llu\nelapsed_ns %llu\nbucket_s %u\n",
		(unsigned long long)m->start_unix_ns, (unsigned long long)m->elapsed_ns, t->bucket_s);
	fprintf(f, "samples %llu\ndrops %llu\nring_drops %llu\nsignals %llu\n",
		(unsigned long long)t->samples, (unsigned long long)t->drops,
		(unsigned long long)m->ring_drops, (unsigned long long)m->signals);
	fprintf(f, "handler_ns %llu\ncollector_cpu_ns %llu\n", (unsigned long long)m->handler_ns,
		(unsigned long long)m->collector_ns);
	fprintf(f, "guest_pc_exact %llu\nguest_pc_block %llu\n", (unsigned long long)m->pc_exact,
		(unsigned long long)m->pc_block);
	for (unsigned k = 0; k < CS_GSTOP_N; k++)
		fprintf(f, "guest_walk_stop %s %llu\n", cs_gstop_name[k],
			(unsigned long long)m->gstops[k]);
	for (unsigned k = 0; k < CS_HSTOP_N; k++)
		fprintf(f, "monitor_walk_stop %s %llu\n", cs_hstop_name[k],
			(unsigned long long)m->hstops[k]);
	fprintf(f, "coarse %d\nfootprint %zu\nentries %u\n", t->coarse, cs_table_footprint(t),
		t->nent);
	fprintf(f, "gcode_words %u\ngcode_dropped %llu\n", t->ngcode,
		(unsigned long long)t->gcode_drops);
	fprintf(f, "guest_symbols %s %u\n", m->guest_symbols && m->guest_symbols[0] ?
		m->guest_symbols : "-", cs_symtab_count(guest));
	/* Per program: its table, then each address space checked against its code. */
	for (unsigned p = 0; m->user && p < m->nuser; p++) {
		const struct cs_user *u = &m->user[p];
		if (!u->sym)
			continue;
		fprintf(f, "guest_user_symbols %s %s %u\n", u->prog, u->path,
			cs_symtab_count(u->sym));
		for (unsigned i = 0; i < u->nas; i++)
			fprintf(f, "guest_user_as %llx %s %u %u\n", (unsigned long long)u->as[i],
				u->match[i] > u->mismatch[i] ? u->prog : "-", u->match[i],
				u->mismatch[i]);
	}
	fprintf(f, "monitor_symbols %u\n", cs_symtab_count(mon));
	fprintf(f, "monitor_exe %s %llx\n", m->exe && m->exe[0] ? m->exe : "-",
		(unsigned long long)m->exe_bias);
	/* A non-relocatable 64-bit RISC-V Linux Image runs at its link address. */
	if (m->guest_image && m->guest_image[0])
		fprintf(f, "guest_image %s ffffffff80000000\n", m->guest_image);
	for (unsigned k = 0; k < kstat_count(); k++) {
		fprintf(f, "kstat %u ", k);
		put_name(f, kstat_name(k) ? kstat_name(k) : "?");
		fputc('\n', f);
	}
	if (write_gcode(f, t) < 0) {
		rc = verr_set(e, -ENOMEM, "callstack: out of memory writing the profile");
		goto out;
	}
	/* Frames: ids in first-seen order, each symbolized once. */
	for (uint32_t i = 0; i < t->nent; i++) {
		const struct cs_entry *en = &t->ent[i];
		for (unsigned j = 0; j < en->nguest; j++) {
			uint32_t before = fm.n;
			uint64_t a = t->arena[en->frames + j];
			uint32_t id = frame_id(&fm, a, 'g', j == 0, frame_prog(en, a, m->user, m->nuser));
			if (id == before)
				write_frame(f, id, &fm.k[id], mon, guest, m->user);
		}
		for (unsigned j = 0; j < en->nmon; j++) {
			uint32_t before = fm.n;
			uint32_t id = frame_id(&fm, t->arena[en->frames + en->nguest + j], 'm', j == 0,
					       FP_MAIN);
			if (id == before)
				write_frame(f, id, &fm.k[id], mon, guest, m->user);
		}
	}
	/* Stacks: frames root first (outermost caller first) in each domain. */
	for (uint32_t i = 0; i < t->nent; i++) {
		const struct cs_entry *en = &t->ent[i];
		fprintf(f, "stack %llu %u %u %u %lld ", (unsigned long long)en->count, en->vcpu,
			en->priv, en->kstat,
			en->tbucket == CS_TBUCKET_ALL ? -1LL : (long long)en->tbucket);
		if (!en->nguest)
			fputc('-', f);
		for (int j = en->nguest - 1; j >= 0; j--) {
			uint64_t a = t->arena[en->frames + j];
			fprintf(f, "%s%u", j == en->nguest - 1 ? "" : ",",
				frame_id(&fm, a, 'g', j == 0, frame_prog(en, a, m->user, m->nuser)));
		}
		fputc(' ', f);
		if (!en->nmon)
			fputc('-', f);
		for (int j = en->nmon - 1; j >= 0; j--)
			fprintf(f, "%s%u", j == en->nmon - 1 ? "" : ",",
				frame_id(&fm, t->arena[en->frames + en->nguest + j], 'm', j == 0,
					 FP_MAIN));
		/* The address space of a U-mode sample (satp's ASID and root page). */
		if (en->as)
			fprintf(f, " %llx", (unsigned long long)en->as);
		fputc('\n', f);
	}
	fprintf(f, "end\n");
	if (fflush(f) || ferror(f)) {
		rc = verr_set(e, -EIO, "%s: write failed", tmp);
		goto out;
	}
	fclose(f);
	f = NULL;
	if (rename(tmp, path) < 0)
		rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
out:
	if (f) {
		fclose(f);
		unlink(tmp);
	}
	free(fm.k);
	free(fm.slot);
	return rc;
}
