/*
 * test_jit_diff.c - differential test of the translator (src/cpu/jit.c)
 * against the interpreter, which stays the reference.
 *
 * Two harts, each on its own guest RAM and bus: one interprets, the other
 * translates every block the first time the run loop meets it (threshold 1).
 * From a fixed seed, each case generates a random but valid RV64IMAC (plus
 * a little F/D, CSR and system) program with bounded loops, forward and
 * backward branches, calls, computed jumps, loads and stores of every width
 * (some misaligned, some crossing a page or the end of RAM, some to MMIO or
 * unmapped addresses), LR/SC/AMO, illegal instructions and ecalls; gives
 * both harts the same memory and random register state, a trap handler that
 * skips the faulting instruction, and the same instruction budget, in one
 * call or split into many small ones so runs stop mid-block; then demands
 * identical results: hart_run's return value, the whole struct hart_state
 * (byte for byte, the x0 sink x[32] included), all of RAM and the MMIO
 * device.  A mismatch prints the seed, the case, the program and the first
 * differing field.
 *
 * Two series: 10^5 programs on harts reset in between, each case standing
 * alone; then 2*10^4 more with the decoded blocks and translations kept from
 * one program to the next, so that code invalidation by DMA, stale links and
 * the flushes of a full arena or translation cache are exercised as well.
 *
 * Environment (for reproducing): JIT_DIFF_SEED (base seed), JIT_DIFF_COUNT
 * (cases of the first series), JIT_DIFF_CASE (run that one case of the first
 * series only, printing the program and both harts' state after every
 * hart_run call), JIT_DIFF_KEPT_COUNT (cases of the second series).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cpu/disasm.h"
#include "cpu/hart.h"
#include "cpu/hart_int.h"
#include "cpu/hart_state.h"
#include "mem/bus.h"
#include "mem/ram.h"

#define DEFAULT_SEED  0x6a17d1ff5eedULL
#define DEFAULT_COUNT 100000u
#define DEFAULT_KEPT_COUNT 20000u

/* ---- guest memory map ----------------------------------------------------
 * Page 0 holds the trap handler and the two ends a program can jump to; the
 * program goes into the next two pages (sometimes straddling them); the
 * tohost word has a page of its own; the data area is the last two pages of
 * RAM, so accesses just past it fault.
 */
#define BASE        0x80000000ULL
#define RAM_SIZE    0xc000ULL
#define HANDLER     BASE
#define STOP        (BASE + 0x100)   /* self-loop: the budget ends the run */
#define TOHOST_END  (BASE + 0x180)   /* writes tohost: hart_run returns TOHOST */
#define CODE_LO     (BASE + 0x1000)
#define CODE_HI     (BASE + 0x3000)
#define TOHOST      (BASE + 0x3800)
#define DATA_LO     (BASE + 0xa000)
#define DATA_HI     (BASE + RAM_SIZE)
#define DATA_MID    (BASE + 0xb000)
#define MMIO_BASE   0x10000000ULL
#define MMIO_SIZE   0x100u

/* Registers with a fixed role in generated programs. */
#define RA    1    /* link register of calls to the program's function */
#define SP    2    /* data pointer (the compressed *sp forms use it) */
#define P1    8    /* data pointers, reachable by compressed loads/stores */
#define P2    9
#define LOOPC 29   /* counted-loop counter */
#define T5    30   /* trap handler only */
#define T6    31

/* ---- PRNG: splitmix64 ---------------------------------------------------- */
struct rng { uint64_t s; };

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static unsigned below(struct rng *r, unsigned n) { return (unsigned)(rnd(r) % n); }
static bool chance(struct rng *r, unsigned pct) { return below(r, 100) < pct; }
static int32_t range(struct rng *r, int32_t lo, int32_t hi)
{
	return lo + (int32_t)below(r, (unsigned)(hi - lo + 1));
}

/* ---- encoders ------------------------------------------------------------ */
static uint32_t enc_r(unsigned f7, unsigned rs2, unsigned rs1, unsigned f3, unsigned rd,
		      unsigned op)
{
	return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t enc_i(int32_t imm, unsigned rs1, unsigned f3, unsigned rd, unsigned op)
{
	return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t enc_s(int32_t imm, unsigned rs2, unsigned rs1, unsigned f3, unsigned op)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | op;
}
static uint32_t bimm(int32_t off)
{
	uint32_t u = (uint32_t)off;
	return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | ((u >> 1) & 0xf) << 8 |
	       ((u >> 11) & 1) << 7;
}
static uint32_t jimm(int32_t off)
{
	uint32_t u = (uint32_t)off;
	return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
	       ((u >> 12) & 0xff) << 12;
}
static uint32_t enc_b(int32_t off, unsigned rs2, unsigned rs1, unsigned f3)
{
	return bimm(off) | rs2 << 20 | rs1 << 15 | f3 << 12 | 0x63;
}
static uint32_t enc_j(int32_t off, unsigned rd) { return jimm(off) | rd << 7 | 0x6f; }
#define ADDI(rd, rs, imm) enc_i(imm, rs, 0, rd, 0x13)
#define CSRR(rd, csr) enc_i(csr, 0, 2, rd, 0x73)
#define CSRW(csr, rs) enc_i(csr, rs, 1, 0, 0x73)
#define MRET 0x30200073u

/* Compressed forms; register arguments are full register numbers. */
static uint32_t c_bimm(int32_t off)
{
	uint32_t u = (uint32_t)off;
	return ((u >> 8) & 1) << 12 | ((u >> 3) & 3) << 10 | ((u >> 6) & 3) << 5 |
	       ((u >> 1) & 3) << 3 | ((u >> 5) & 1) << 2;
}
static uint32_t c_jimm(int32_t off)
{
	uint32_t u = (uint32_t)off;
	return ((u >> 11) & 1) << 12 | ((u >> 4) & 1) << 11 | ((u >> 8) & 3) << 9 |
	       ((u >> 10) & 1) << 8 | ((u >> 6) & 1) << 7 | ((u >> 7) & 1) << 6 |
	       ((u >> 1) & 7) << 3 | ((u >> 5) & 1) << 2;
}
static uint32_t c_ci(unsigned f3, int32_t imm6, unsigned rd, unsigned op)
{
	uint32_t u = (uint32_t)imm6;
	return f3 << 13 | ((u >> 5) & 1) << 12 | rd << 7 | (u & 31) << 2 | op;
}
/* c.srli (0), c.srai (1), c.andi (2) on rd' */
static uint32_t c_cb_alu(unsigned f2, int32_t imm6, unsigned rd)
{
	uint32_t u = (uint32_t)imm6;
	return 4u << 13 | ((u >> 5) & 1) << 12 | f2 << 10 | (rd - 8) << 7 | (u & 31) << 2 | 1;
}
/* c.sub c.xor c.or c.and (w = 0), c.subw c.addw (w = 1) */
static uint32_t c_ca(bool w, unsigned f, unsigned rd, unsigned rs2)
{
	return 4u << 13 | (uint32_t)w << 12 | 3u << 10 | (rd - 8) << 7 | f << 5 | (rs2 - 8) << 2 | 1;
}
/* c.lw/c.sw (f3 2/6, word), c.ld/c.sd/c.fld/c.fsd (f3 3/7/1/5, double) */
static uint32_t c_mem(unsigned f3, unsigned uimm, unsigned rs1, unsigned r)
{
	uint32_t lo = (f3 == 2 || f3 == 6) ? ((uimm >> 2) & 1) << 6 | ((uimm >> 6) & 1) << 5
					     : ((uimm >> 6) & 3) << 5;
	return f3 << 13 | ((uimm >> 3) & 7) << 10 | (rs1 - 8) << 7 | lo | (r - 8) << 2;
}
static uint32_t c_addi4spn(unsigned uimm, unsigned rd)
{
	return ((uimm >> 4) & 3) << 11 | ((uimm >> 6) & 15) << 7 | ((uimm >> 2) & 1) << 6 |
	       ((uimm >> 3) & 1) << 5 | (rd - 8) << 2;
}
static uint32_t c_addi16sp(int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return 3u << 13 | ((u >> 9) & 1) << 12 | 2u << 7 | ((u >> 4) & 1) << 6 |
	       ((u >> 6) & 1) << 5 | ((u >> 7) & 3) << 3 | ((u >> 5) & 1) << 2 | 1;
}
/* c.lwsp (f3 2), c.ldsp (3), c.fldsp (1) */
static uint32_t c_lsp(unsigned f3, unsigned uimm, unsigned rd)
{
	uint32_t lo = f3 == 2 ? ((uimm >> 2) & 7) << 4 | ((uimm >> 6) & 3) << 2
			      : ((uimm >> 3) & 3) << 5 | ((uimm >> 6) & 7) << 2;
	return f3 << 13 | ((uimm >> 5) & 1) << 12 | rd << 7 | lo | 2;
}
/* c.swsp (f3 6), c.sdsp (7), c.fsdsp (5) */
static uint32_t c_ssp(unsigned f3, unsigned uimm, unsigned rs2)
{
	uint32_t hi = f3 == 6 ? ((uimm >> 2) & 15) << 9 | ((uimm >> 6) & 3) << 7
			      : ((uimm >> 3) & 7) << 10 | ((uimm >> 6) & 7) << 7;
	return f3 << 13 | hi | rs2 << 2 | 2;
}
#define C_NOP 0x0001u

/* ---- programs -------------------------------------------------------------
 * A program is a list of items (one instruction each), laid out after
 * generation so that branch offsets can be filled in.  Regions keep loops
 * bounded: region 0 is the main line, each counted loop's body is a region
 * of its own, FUNC the function called from the main line.  A forward branch
 * only lands in its own region or the main line, so nothing jumps into a
 * loop past its counter's initialisation.
 */
enum { IK_RAW, IK_BR, IK_CBR, IK_JAL, IK_CJ, IK_JALR_ADDI, IK_JAL_ABS };
#define FUNC 255
#define MAX_ITEMS 200

struct item {
	uint32_t raw;        /* encoding, or its template without the offset */
	uint8_t kind, len, region;
	bool target_ok;      /* a branch may land here */
	bool back;           /* wants a backward target */
	bool call;           /* goes to the function (jal ra, or the jalr group's addi) */
	int target;          /* item index, -1 until resolved */
	int aux;             /* IK_JALR_ADDI: the auipc item */
	int32_t imm;         /* IK_JALR_ADDI: the jalr's own offset */
	uint64_t abs;        /* IK_JAL_ABS: target address */
	uint64_t pc;
};

struct prog {
	struct item it[MAX_ITEMS];
	unsigned n;
	unsigned tail;       /* index of the main line's last item */
	int func;            /* first item of the function, -1 if none */
	uint64_t start;
	uint8_t image[CODE_HI - CODE_LO];
};

struct gen {
	struct rng *r;
	struct prog *p;
	uint8_t region;
	unsigned nloops;
	/* A few registers used often, so that values flow from one
	 * instruction to the next and the translator's register cache both
	 * hits and evicts. */
	uint8_t hot[5];
};

static struct item *add(struct gen *g, uint32_t raw)
{
	struct prog *p = g->p;
	struct item *it = &p->it[p->n++];
	*it = (struct item){ .raw = raw, .kind = IK_RAW, .len = (raw & 3) == 3 ? 4 : 2,
			     .region = g->region, .target_ok = true, .target = -1, .aux = -1 };
	return it;
}

/* ---- random operands ------------------------------------------------------ */
static const uint8_t main_rd[] = { 0, 1, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17,
				   18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28 };
static unsigned rd_any(struct gen *g)
{
	unsigned r = chance(g->r, 45) ? g->hot[below(g->r, 5)] : main_rd[below(g->r, sizeof(main_rd))];
	/* The function must keep ra: it returns through it. */
	return g->region == FUNC && r == RA ? 0 : r;
}
static unsigned rs_any(struct gen *g)
{
	if (chance(g->r, 45))
		return g->hot[below(g->r, 5)];
	return chance(g->r, 8) ? 0 : 1 + below(g->r, 31);
}
static unsigned crd(struct gen *g) { return 10 + below(g->r, 6); }   /* x10..x15 */
static unsigned crs(struct gen *g) { return 8 + below(g->r, 8); }    /* x8..x15 */
static unsigned ptr(struct gen *g)
{
	static const uint8_t p[] = { SP, P1, P2 };
	unsigned k = below(g->r, 100);
	if (k < 5)
		return 0;              /* x0 + imm: unmapped, access fault */
	if (k < 9)
		return rs_any(g);      /* a data register: mostly faults, sometimes RAM */
	return p[below(g->r, 3)];
}
static int32_t mem_imm(struct gen *g, unsigned size)
{
	unsigned k = below(g->r, 100);
	if (k < 5)
		return range(g->r, -2048, 2047);
	int32_t v = range(g->r, -256, 255);
	return k < 70 ? v & ~(int32_t)(size - 1) : v;
}
static int32_t imm12(struct gen *g)
{
	static const int32_t edge[] = { 0, 1, -1, 2047, -2048, 0x7ff, 31, 32, 63, -32 };
	unsigned k = below(g->r, 100);
	if (k < 20)
		return edge[below(g->r, sizeof(edge) / sizeof(edge[0]))];
	if (k < 60)
		return range(g->r, -16, 16);
	return range(g->r, -2048, 2047);
}
static unsigned shamt(struct gen *g, unsigned bits)
{
	static const uint8_t edge[] = { 0, 1, 31, 32, 63 };
	if (chance(g->r, 40)) {
		unsigned s = edge[below(g->r, 5)];
		return s < bits ? s : bits - 1;
	}
	return below(g->r, bits);
}

/* ---- instruction classes ---------------------------------------------------- */
static void gen_alu(struct gen *g)
{
	static const uint8_t rr[][2] = { { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 },
					 { 0, 4 }, { 0, 5 }, { 0x20, 5 }, { 0, 6 }, { 0, 7 } };
	unsigned k = below(g->r, 10);
	unsigned rd = rd_any(g), rs1 = rs_any(g), rs2 = rs_any(g);

	if (k < 4) {   /* register-register */
		unsigned i = below(g->r, 10);
		add(g, enc_r(rr[i][0], rs2, rs1, rr[i][1], rd, 0x33));
	} else if (k < 7) {   /* register-immediate */
		static const uint8_t f3[] = { 0, 2, 3, 4, 6, 7 };
		unsigned i = below(g->r, 9);
		if (i < 6)
			add(g, enc_i(imm12(g), rs1, f3[i], rd, 0x13));
		else if (i == 6)
			add(g, enc_i((int32_t)shamt(g, 64), rs1, 1, rd, 0x13));
		else
			add(g, enc_i((int32_t)(shamt(g, 64) | (i == 8 ? 0x400 : 0)), rs1, 5, rd, 0x13));
	} else if (k < 9) {   /* W forms */
		unsigned i = below(g->r, 9);
		switch (i) {
		case 0: add(g, enc_r(0, rs2, rs1, 0, rd, 0x3b)); break;       /* addw */
		case 1: add(g, enc_r(0x20, rs2, rs1, 0, rd, 0x3b)); break;    /* subw */
		case 2: add(g, enc_r(0, rs2, rs1, 1, rd, 0x3b)); break;       /* sllw */
		case 3: add(g, enc_r(0, rs2, rs1, 5, rd, 0x3b)); break;       /* srlw */
		case 4: add(g, enc_r(0x20, rs2, rs1, 5, rd, 0x3b)); break;    /* sraw */
		case 5: add(g, enc_i(imm12(g), rs1, 0, rd, 0x1b)); break;     /* addiw */
		case 6: add(g, enc_i((int32_t)shamt(g, 32), rs1, 1, rd, 0x1b)); break;
		case 7: add(g, enc_i((int32_t)shamt(g, 32), rs1, 5, rd, 0x1b)); break;
		default: add(g, enc_i((int32_t)(shamt(g, 32) | 0x400), rs1, 5, rd, 0x1b)); break;
		}
	} else {   /* lui / auipc */
		uint32_t imm20 = chance(g->r, 30) ? (chance(g->r, 50) ? 0x80000u : 0xfffffu)
						  : (uint32_t)rnd(g->r) & 0xfffff;
		add(g, imm20 << 12 | rd << 7 | (chance(g->r, 50) ? 0x37u : 0x17u));
	}
}

static void gen_muldiv(struct gen *g)
{
	unsigned rd = rd_any(g), rs1 = rs_any(g), rs2 = rs_any(g);
	bool w = chance(g->r, 35);
	unsigned f3 = w ? (chance(g->r, 20) ? 0 : 4 + below(g->r, 4)) : below(g->r, 8);

	if (chance(g->r, 25)) {
		/* The cases the spec defines instead of trapping: a dividend of
		 * INT64_MIN (or INT32_MIN) by -1, and division by zero. */
		unsigned a = rd_any(g), b = rd_any(g);
		if (a == 0 || b == 0 || a == b)
			a = 5, b = 6;
		add(g, ADDI(b, 0, -1));
		if (w) {
			add(g, 0x80000u << 12 | a << 7 | 0x37);        /* lui a, 0x80000 */
		} else {
			add(g, ADDI(a, 0, 1));
			add(g, enc_i(63, a, 1, a, 0x13));              /* slli a, a, 63 */
		}
		rs1 = a;
		rs2 = chance(g->r, 70) ? b : 0;
		f3 = 4 + below(g->r, 4);
	} else if (chance(g->r, 10)) {
		rs2 = 0;
	}
	add(g, enc_r(1, rs2, rs1, f3, rd, w ? 0x3b : 0x33));
}

static void gen_load_store(struct gen *g)
{
	unsigned k = below(g->r, 10);
	if (k < 4) {
		static const uint8_t sz[] = { 1, 2, 4, 8, 1, 2, 4 };
		unsigned f3 = below(g->r, 7), base = ptr(g);
		add(g, enc_i(mem_imm(g, sz[f3]), base, f3, rd_any(g), 0x03));
	} else if (k < 8) {
		unsigned f3 = below(g->r, 4), base = ptr(g);
		add(g, enc_s(mem_imm(g, 1u << f3), rs_any(g), base, f3, 0x23));
	} else if (chance(g->r, 5)) {
		/* move a pointer: later accesses land elsewhere, maybe off the end */
		static const uint8_t p[] = { SP, P1, P2 };
		unsigned r = p[below(g->r, 3)];
		add(g, ADDI(r, r, range(g->r, -64, 64)));
	} else {
		/* compressed loads and stores */
		unsigned c = below(g->r, 8), b = P1 + below(g->r, 2);
		switch (c) {
		case 0: add(g, c_mem(2, below(g->r, 32) * 4, b, crd(g))); break;          /* c.lw */
		case 1: add(g, c_mem(3, below(g->r, 32) * 8, b, crd(g))); break;          /* c.ld */
		case 2: add(g, c_mem(6, below(g->r, 32) * 4, b, crs(g))); break;          /* c.sw */
		case 3: add(g, c_mem(7, below(g->r, 32) * 8, b, crs(g))); break;          /* c.sd */
		case 4: { unsigned rd = rd_any(g);                                         /* c.lwsp */
			add(g, rd ? c_lsp(2, below(g->r, 64) * 4, rd) : C_NOP); break; }
		case 5: { unsigned rd = rd_any(g);                                         /* c.ldsp */
			add(g, rd ? c_lsp(3, below(g->r, 64) * 8, rd) : C_NOP); break; }
		case 6: add(g, c_ssp(6, below(g->r, 64) * 4, rs_any(g))); break;          /* c.swsp */
		default: add(g, c_ssp(7, below(g->r, 64) * 8, rs_any(g))); break;         /* c.sdsp */
		}
	}
}

static void gen_compressed_alu(struct gen *g)
{
	unsigned k = below(g->r, 14), rd = crd(g);
	int32_t imm6 = range(g->r, -32, 31);
	switch (k) {
	case 0: add(g, c_ci(0, imm6, rd_any(g), 1)); break;                    /* c.addi (x0: hint) */
	case 1: { unsigned r = rd_any(g); add(g, c_ci(1, imm6, r ? r : 10, 1)); break; } /* c.addiw */
	case 2: add(g, c_ci(2, imm6, rd_any(g), 1)); break;                    /* c.li */
	case 3: add(g, c_ci(3, imm6 ? imm6 : 1, rd, 1)); break;                /* c.lui */
	case 4: add(g, c_ci(0, (int32_t)shamt(g, 64), rd_any(g), 2)); break;  /* c.slli */
	case 5: add(g, c_cb_alu(0, (int32_t)shamt(g, 64), rd)); break;         /* c.srli */
	case 6: add(g, c_cb_alu(1, (int32_t)shamt(g, 64), rd)); break;         /* c.srai */
	case 7: add(g, c_cb_alu(2, imm6, rd)); break;                          /* c.andi */
	case 8: add(g, c_ca(false, below(g->r, 4), rd, crs(g))); break;       /* c.sub..c.and */
	case 9: add(g, c_ca(true, below(g->r, 2), rd, crs(g))); break;        /* c.subw c.addw */
	case 10: { unsigned r = rd_any(g), s = 1 + below(g->r, 31);            /* c.mv */
		add(g, r ? 0x8002u | r << 7 | s << 2 : C_NOP); break; }
	case 11: { unsigned r = rd_any(g), s = 1 + below(g->r, 31);            /* c.add */
		add(g, r ? 0x9002u | r << 7 | s << 2 : C_NOP); break; }
	case 12: add(g, c_addi4spn(4 * (1 + below(g->r, 255)), rd)); break;   /* c.addi4spn */
	default:
		/* c.addi16sp: moves sp by up to 512 bytes; rarely, and back */
		if (chance(g->r, 30)) {
			int32_t d = 16 * range(g->r, -4, 4);
			add(g, c_addi16sp(d ? d : 16));
		} else {
			add(g, C_NOP);
		}
		break;
	}
}

static void gen_atomic(struct gen *g)
{
	static const uint8_t f5[] = { AMO_ADD, AMO_SWAP, AMO_XOR, AMO_OR, AMO_AND, AMO_MIN,
				      AMO_MAX, AMO_MINU, AMO_MAXU };
	unsigned f3 = chance(g->r, 50) ? 2 : 3, aqrl = below(g->r, 4), base = ptr(g);
	unsigned k = below(g->r, 10);

	if (k < 5) {
		add(g, (uint32_t)f5[below(g->r, 9)] << 27 | aqrl << 25 |
			       enc_r(0, rs_any(g), base, f3, rd_any(g), 0x2f));
	} else if (k < 8) {
		/* lr, a little work, sc: usually succeeds */
		unsigned n = below(g->r, 3);
		add(g, 2u << 27 | aqrl << 25 | enc_r(0, 0, base, f3, rd_any(g), 0x2f));
		for (unsigned i = 0; i < n; i++)
			gen_alu(g);
		if (chance(g->r, 15))
			base = ptr(g);
		add(g, 3u << 27 | enc_r(0, rs_any(g), base, chance(g->r, 80) ? f3 : 5 - f3, rd_any(g), 0x2f));
	} else {
		/* sc without a reservation, or lr alone */
		add(g, (chance(g->r, 50) ? 3u : 2u) << 27 |
			       enc_r(0, chance(g->r, 50) ? rs_any(g) : 0, base, f3, rd_any(g), 0x2f));
	}
}

static void gen_fp(struct gen *g)
{
	static const uint8_t rms[] = { 0, 1, 2, 3, 4, 7, 7, 7, 5, 6 };
	unsigned fd = below(g->r, 32), f1 = below(g->r, 32), f2 = below(g->r, 32);
	unsigned rm = rms[below(g->r, sizeof(rms))];
	unsigned d = below(g->r, 2);
	switch (below(g->r, 14)) {
	case 0: add(g, enc_r(0x00 | d | 4 * below(g->r, 4), f2, f1, rm, fd, 0x53)); break; /* fadd..fdiv */
	case 1: add(g, enc_r(0x2c | d, 0, f1, rm, fd, 0x53)); break;            /* fsqrt */
	case 2: add(g, enc_r(0x10 | d, f2, f1, below(g->r, 3), fd, 0x53)); break;  /* fsgnj* */
	case 3: add(g, enc_r(0x14 | d, f2, f1, below(g->r, 2), fd, 0x53)); break;  /* fmin/fmax */
	case 4: add(g, enc_r(0x60 | d, below(g->r, 4), f1, rm, rd_any(g), 0x53)); break; /* fcvt.x.f */
	case 5: add(g, enc_r(0x68 | d, below(g->r, 4), rs_any(g), rm, fd, 0x53)); break; /* fcvt.f.x */
	case 6: add(g, enc_r(0x70 | d, 0, f1, below(g->r, 2), rd_any(g), 0x53)); break;  /* fmv.x, fclass */
	case 7: add(g, enc_r(0x78 | d, 0, rs_any(g), 0, fd, 0x53)); break;     /* fmv.f.x */
	case 8: add(g, enc_r(0x50 | d, f2, f1, below(g->r, 3), rd_any(g), 0x53)); break; /* feq flt fle */
	case 9: add(g, enc_r(d ? 0x21 : 0x20, d ? 0 : 1, f1, rm, fd, 0x53)); break;  /* fcvt.s.d, fcvt.d.s */
	case 10: add(g, below(g->r, 32) << 27 | d << 25 | enc_r(0, f2, f1, rm, fd, 0x43 + 4 * below(g->r, 4)));
		break;                                                            /* fmadd..fnmadd */
	case 11: { unsigned b = ptr(g);                                          /* flw fld */
		add(g, enc_i(mem_imm(g, 4u << d), b, 2 + d, fd, 0x07)); break; }
	case 12: { unsigned b = ptr(g);                                          /* fsw fsd */
		add(g, enc_s(mem_imm(g, 4u << d), f2, b, 2 + d, 0x27)); break; }
	default:                                                                 /* c.fld c.fsd c.fldsp c.fsdsp */
		switch (below(g->r, 4)) {
		case 0: add(g, c_mem(1, below(g->r, 32) * 8, P1 + below(g->r, 2), crs(g))); break;
		case 1: add(g, c_mem(5, below(g->r, 32) * 8, P1 + below(g->r, 2), crs(g))); break;
		case 2: add(g, c_lsp(1, below(g->r, 64) * 8, fd)); break;
		default: add(g, c_ssp(5, below(g->r, 64) * 8, f2)); break;
		}
		break;
	}
}

static void gen_csr(struct gen *g)
{
	/* Harmless to the harness: counters (exact counting), scratch and FP
	 * CSRs, trap CSRs the handler rewrites anyway, read-only ones (writes
	 * are illegal), one that does not exist; rarely mstatus, mie and mip,
	 * which can raise an interrupt or send the next trap return to U or S. */
	static const uint16_t rd_csrs[] = { 0xb02, 0xb00, 0xc02, 0xc00, 0xc01, 0x300, 0x301, 0xf14,
					    0x340, 0x341, 0x342, 0x343, 0x344, 0x304, 0x003, 0x001,
					    0x002, 0x100, 0x140, 0x7c0 };
	static const uint16_t wr_csrs[] = { 0x340, 0x140, 0x003, 0x001, 0x002, 0xb02, 0xb00, 0x343,
					    0x342, 0x341, 0xf14, 0xc00, 0x301, 0x7c0 };
	unsigned k = below(g->r, 100), rd = rd_any(g);
	if (k < 45) {
		add(g, CSRR(rd, rd_csrs[below(g->r, sizeof(rd_csrs) / 2)]));
	} else if (k < 85) {
		unsigned csr = wr_csrs[below(g->r, sizeof(wr_csrs) / 2)], f3 = 1 + below(g->r, 3);
		if (chance(g->r, 40))
			f3 += 4;   /* the immediate forms: rs1 is a 5-bit value */
		add(g, enc_i((int32_t)csr, rs_any(g), f3, rd, 0x73));
	} else if (k < 92) {
		/* mie.SSIE / mip.SSIP / mstatus.MIE: a software interrupt */
		static const uint16_t c[] = { 0x304, 0x344, 0x300 };
		unsigned i = below(g->r, 3);
		add(g, enc_i(c[i], i == 2 ? 8 : 2, chance(g->r, 75) ? 6 : 7, rd, 0x73));
	} else {
		add(g, enc_i(0x300, rs_any(g), 1, rd, 0x73));   /* csrw mstatus, random */
	}
}

static void gen_system(struct gen *g)
{
	static const uint32_t sys[] = {
		0x00000073u,   /* ecall */
		0x00100073u,   /* ebreak */
		0x9002u,       /* c.ebreak */
		0x0000100fu,   /* fence.i */
		0x0ff0000fu,   /* fence */
		0x8330000fu,   /* fence.tso */
		0x12000073u,   /* sfence.vma (illegal in U) */
		0x10500073u,   /* wfi */
		0x0000u,       /* c.unimp, illegal */
		0xffffffffu,   /* illegal */
		0x0000007fu,   /* longer-than-32-bit prefix: illegal here */
		0x0200909bu,   /* slliw with shamt[5]: illegal on RV64 */
		0x00007003u,   /* load with funct3 7: illegal */
		0x0000a063u,   /* branch with funct3 2: illegal */
		0x4002u,       /* c.lwsp x0: reserved */
		0x10200073u,   /* sret in M: returns (mstatus.SPP), rarely useful */
	};
	unsigned i = below(g->r, sizeof(sys) / sizeof(sys[0]));
	if (i == 15 && !chance(g->r, 10))
		i = 0;
	add(g, sys[i]);
}

/* Control transfers: targets are chosen once the whole program exists. */
static void gen_branch(struct gen *g)
{
	struct item *it;
	bool back = chance(g->r, 12);
	if (chance(g->r, 25)) {
		it = add(g, (chance(g->r, 50) ? 6u : 7u) << 13 | (crs(g) - 8) << 7 | 1);  /* c.beqz/c.bnez */
		it->kind = IK_CBR;
	} else {
		static const uint8_t f3[] = { 0, 1, 4, 5, 6, 7 };
		unsigned a = rs_any(g), b = chance(g->r, 20) ? a : rs_any(g);
		it = add(g, enc_b(0, b, a, f3[below(g->r, 6)]));
		it->kind = IK_BR;
	}
	it->back = back;
}

static void gen_jump(struct gen *g)
{
	struct prog *p = g->p;
	unsigned k = below(g->r, 10);
	if (k < 4) {
		struct item *it = add(g, chance(g->r, 40) ? 0xa001u : enc_j(0, rd_any(g)));
		it->kind = it->len == 2 ? IK_CJ : IK_JAL;
	} else {
		/* auipc t, 0; addi t, t, delta; jalr rd, imm(t) (or c.jr/c.jalr t):
		 * a computed jump forward inside the program; nothing may land
		 * between the auipc and the jump. */
		unsigned t = rd_any(g);
		if (t == 0 || t == RA)
			t = 7;
		int a = (int)p->n;
		add(g, 0x17u | t << 7);
		struct item *ad = add(g, ADDI(t, t, 0));
		ad->kind = IK_JALR_ADDI;
		ad->aux = a;
		ad->target_ok = false;
		struct item *j;
		if (k < 7) {
			int32_t imm = 2 * range(g->r, -8, 8);
			j = add(g, enc_i(imm, t, 0, rd_any(g), 0x67));
			ad->imm = imm;
		} else {
			bool link = chance(g->r, 50) && g->region != FUNC;
			j = add(g, (link ? 0x9002u : 0x8002u) | t << 7);
		}
		j->target_ok = false;
	}
}

static void gen_call(struct gen *g)
{
	if (g->region == FUNC)
		return;
	struct item *it;
	if (chance(g->r, 70)) {
		it = add(g, enc_j(0, RA));
		it->kind = IK_JAL;
	} else {
		/* through jalr: the same computed-target group, linking ra */
		int a = (int)g->p->n;
		add(g, 0x17u | 7u << 7);
		struct item *ad = add(g, ADDI(7, 7, 0));
		ad->kind = IK_JALR_ADDI;
		ad->aux = a;
		ad->target_ok = false;
		it = add(g, enc_i(0, 7, 0, RA, 0x67));
		it->target_ok = false;
		it = ad;
	}
	it->call = true;
}

static void gen_unit(struct gen *g, bool have_func)
{
	unsigned k = below(g->r, 1000);
	if (k < 200) gen_alu(g);
	else if (k < 290) gen_muldiv(g);
	else if (k < 500) gen_load_store(g);
	else if (k < 590) gen_compressed_alu(g);
	else if (k < 640) gen_atomic(g);
	else if (k < 680) gen_fp(g);
	else if (k < 715) gen_csr(g);
	else if (k < 745) gen_system(g);
	else if (k < 880) gen_branch(g);
	else if (k < 940) gen_jump(g);
	else if (k < 970 && have_func) gen_call(g);
	else add(g, chance(g->r, 50) ? C_NOP : ADDI(0, 0, 0));
}

/* for (x29 = k; x29 != 0; x29--) { body } */
static void gen_loop(struct gen *g, unsigned units, bool have_func)
{
	struct prog *p = g->p;
	int32_t k = range(g->r, 1, 6);
	add(g, chance(g->r, 50) ? c_ci(2, k, LOOPC, 1) : ADDI(LOOPC, 0, k));
	g->region = (uint8_t)(1 + g->nloops++);
	int head = (int)p->n;
	for (unsigned i = 0; i < units && p->n < MAX_ITEMS - 30; i++)
		gen_unit(g, have_func);
	add(g, chance(g->r, 50) ? c_ci(0, -1, LOOPC, 1) : ADDI(LOOPC, LOOPC, -1));
	struct item *br = add(g, chance(g->r, 50) ? enc_b(0, 0, LOOPC, 1) : enc_b(0, LOOPC, 0, 4));
	br->kind = IK_BR;
	br->target = head;
	br->target_ok = false;
	g->region = 0;
}

/* Picks a target for control item i (see struct prog on regions). */
static int pick_target(struct rng *r, const struct prog *p, unsigned i)
{
	const struct item *it = &p->it[i];
	int cand[MAX_ITEMS];
	unsigned nc = 0;
	unsigned lo = it->region == FUNC ? (unsigned)p->func : 0;
	unsigned hi = it->region == FUNC ? p->n - 1 : p->tail;

	if (it->back) {
		for (unsigned j = lo; j <= i; j++)
			if (p->it[j].target_ok && p->it[j].region == it->region)
				cand[nc++] = (int)j;
	} else {
		for (unsigned j = i + 1; j <= hi; j++) {
			const struct item *t = &p->it[j];
			if (!t->target_ok || (t->region != it->region && t->region != 0))
				continue;
			if (it->kind == IK_CBR && j > i + 40)
				break;
			cand[nc++] = (int)j;
		}
	}
	if (!nc)
		return (int)(it->region == FUNC ? p->n - 1 : p->tail);
	/* mostly short hops, so the code in between still runs sometimes */
	return cand[chance(r, 60) ? below(r, nc < 6 ? nc : 6) : below(r, nc)];
}

static void put_bytes(struct prog *p, uint64_t pc, uint32_t raw, unsigned len)
{
	for (unsigned b = 0; b < len; b++)
		p->image[pc - CODE_LO + b] = (uint8_t)(raw >> (8 * b));
}

/* Lays the items out from p->start and fills in every offset. */
static void layout(struct prog *p)
{
	uint64_t pc = p->start;
	for (unsigned i = 0; i < p->n; i++) {
		p->it[i].pc = pc;
		pc += p->it[i].len;
	}
	memset(p->image, 0, sizeof(p->image));
	for (unsigned i = 0; i < p->n; i++) {
		struct item *it = &p->it[i];
		int32_t off = it->target >= 0 ? (int32_t)(p->it[it->target].pc - it->pc) : 0;
		switch (it->kind) {
		case IK_BR: it->raw |= bimm(off); break;
		case IK_JAL: it->raw |= jimm(off); break;
		case IK_CJ: it->raw |= c_jimm(off); break;
		case IK_CBR:
			/* out of reach of the 9-bit offset: a nop, the same for both */
			it->raw = off >= -256 && off < 256 ? it->raw | c_bimm(off) : C_NOP;
			break;
		case IK_JAL_ABS: it->raw |= jimm((int32_t)(it->abs - it->pc)); break;
		case IK_JALR_ADDI: {
			int32_t d = (int32_t)(p->it[it->target].pc - p->it[it->aux].pc) - it->imm;
			it->raw = ADDI((it->raw >> 7) & 31, (it->raw >> 7) & 31, d);
			break;
		}
		}
		put_bytes(p, it->pc, it->raw, it->len);
	}
}

static void gen_prog(struct rng *r, struct prog *p)
{
	struct gen g = { .r = r, .p = p };
	bool have_func = chance(r, 40);
	for (unsigned i = 0; i < 5; i++)
		g.hot[i] = main_rd[1 + below(r, sizeof(main_rd) - 1)];
	unsigned units = 4 + below(r, 40);

	p->n = 0;
	p->func = -1;
	for (unsigned u = 0; u < units && p->n < MAX_ITEMS - 50; u++) {
		if (g.nloops < 3 && chance(r, 6))
			gen_loop(&g, 1 + below(r, 10), have_func);
		else
			gen_unit(&g, have_func);
	}
	/* the end: the stop loop or a tohost write */
	struct item *t = add(&g, enc_j(0, 0));
	t->kind = IK_JAL_ABS;
	t->abs = chance(r, 70) ? STOP : TOHOST_END;
	p->tail = p->n - 1;
	if (have_func) {
		g.region = FUNC;
		p->func = (int)p->n;
		unsigned n = 1 + below(r, 10);
		for (unsigned u = 0; u < n && p->n < MAX_ITEMS - 10; u++)
			gen_unit(&g, false);
		add(&g, chance(r, 50) ? 0x8082u : 0x00008067u);   /* c.jr ra / ret */
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct item *it = &p->it[i];
		if (it->call)
			it->target = p->func;
		else if (it->target < 0 && it->kind != IK_RAW && it->kind != IK_JAL_ABS)
			it->target = pick_target(r, p, i);
	}
	/* Usually somewhere in the first page; sometimes so that the program
	 * runs over into the second (a 32-bit instruction may straddle it). */
	uint64_t off = chance(r, 30) ? 0x1000 - 2 * (1 + below(r, 120)) : 2 * below(r, 0x400);
	p->start = CODE_LO + off;
	layout(p);
}

/* ---- the machine ----------------------------------------------------------- */
/*
 * A few bytes of device memory, so loads, stores and AMOs reach the bus.
 * A read at DMA_OFF or above also DMAs two bytes over the program, as a
 * device whose register read starts a transfer would: the running block
 * may be the one rewritten.
 */
#define DMA_OFF 0xc0
struct mmdev {
	uint8_t mem[MMIO_SIZE];
	uint64_t reads, writes, dmas;
	struct bus *bus;
	uint64_t dma_pa;     /* 0: no DMA */
	uint16_t dma_val;
};

static int mmdev_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct mmdev *d = dev;
	uint64_t v = 0;
	if (off + len > MMIO_SIZE)
		return -EFAULT;
	memcpy(&v, d->mem + off, len);
	*val = v;
	d->reads++;
	if (off >= DMA_OFF && d->dma_pa) {
		if (bus_dma_write(d->bus, d->dma_pa, &d->dma_val, 2) < 0)
			return -EIO;
		d->dmas++;
	}
	return 0;
}

static int mmdev_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct mmdev *d = dev;
	if (off + len > MMIO_SIZE)
		return -EFAULT;
	memcpy(d->mem + off, &val, len);
	d->writes++;
	return 0;
}

static const struct mmio_ops mmdev_ops = { mmdev_read, mmdev_write };

struct machine {
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat;
	struct mmdev dev;
	struct hart *h;
};

static uint64_t fixed_time(void *ctx) { (void)ctx; return 123456789; }

static void machine_init(struct machine *m, bool translate)
{
	struct verr err;
	memset(m, 0, sizeof(*m));
	assert_int_equal(ram_create(&m->ram, BASE, RAM_SIZE, &err), 0);
	bus_init(&m->bus, &m->ram);
	assert_int_equal(bus_map(&m->bus, "diffdev", MMIO_BASE, MMIO_SIZE, &mmdev_ops, &m->dev), 0);
	m->dev.bus = &m->bus;
	m->plat.bus = &m->bus;
	m->plat.time = fixed_time;
	m->plat.timebase_hz = 10000000;
	m->plat.tohost = TOHOST;
	m->plat.translate = translate;
	assert_int_equal(hart_create(&m->h, 0, &m->plat, &err), 0);
	if (translate) {
		assert_non_null(m->h->jit);
		hart_jit_threshold(m->h, 1);
	}
	/* A decoded-block field the decoder forgets to set must not read as a
	 * lucky zero (fresh pages) or a stale value: fill the arena the way
	 * ASan fills malloc'ed memory, all of it. */
	memset(m->h->arena, 0xbe, m->h->arena_size);
}

static void machine_fini(struct machine *m)
{
	hart_destroy(m->h);
	ram_destroy(&m->ram);
}

/*
 * The trap handler: after an exception it resumes at the next instruction
 * (2 or 4 bytes on), after an interrupt it clears the software-writable
 * pending bits and returns, and a fetch fault (nothing to skip) goes to the
 * stop loop.  Only x30/x31, which programs never write, are used.
 */
static void write_page0(struct machine *m)
{
	const uint32_t h[] = {
		/* 0x00 */ CSRR(T6, 0x342),                              /* mcause */
		/* 0x04 */ enc_b(0x40 - 0x04, 0, T6, 4),                 /* blt t6, x0, irq */
		/* 0x08 */ ADDI(T5, T6, -12),
		/* 0x0c */ enc_b((int32_t)(STOP - HANDLER - 0x0c), 0, T5, 0),   /* beqz t5, STOP */
		/* 0x10 */ enc_i(2, T6, 3, T5, 0x13),                    /* sltiu t5, t6, 2 */
		/* 0x14 */ enc_b((int32_t)(STOP - HANDLER - 0x14), 0, T5, 1),   /* bnez t5, STOP */
		/* 0x18 */ CSRR(T6, 0x341),                              /* mepc */
		/* 0x1c */ enc_i(0, T6, 5, T5, 0x03),                    /* lhu t5, 0(t6) */
		/* 0x20 */ enc_i(3, T5, 7, T5, 0x13),                    /* andi t5, t5, 3 */
		/* 0x24 */ ADDI(T5, T5, -3),
		/* 0x28 */ enc_i(1, T5, 3, T5, 0x13),                    /* seqz t5, t5 */
		/* 0x2c */ enc_i(1, T5, 1, T5, 0x13),                    /* slli t5, t5, 1 */
		/* 0x30 */ ADDI(T5, T5, 2),                              /* 2 or 4 */
		/* 0x34 */ enc_r(0, T5, T6, 0, T6, 0x33),                /* add t6, t6, t5 */
		/* 0x38 */ CSRW(0x341, T6),
		/* 0x3c */ MRET,
		/* 0x40 irq */ ADDI(T6, 0, 0x22),                        /* SSIP | STIP */
		/* 0x44 */ enc_i(0x344, T6, 3, 0, 0x73),                 /* csrc mip, t6 */
		/* 0x48 */ MRET,
	};
	const uint32_t stop = enc_j(0, 0);
	/* auipc t6, 3; addi t6, t6, 0x680 (= TOHOST); li t5, 1; sd t5, 0(t6); j . */
	_Static_assert(TOHOST - TOHOST_END == 0x3680, "tohost stub offsets");
	const uint32_t th[] = { 3u << 12 | T6 << 7 | 0x17, ADDI(T6, T6, 0x680), ADDI(T5, 0, 1),
				enc_s(0, T5, T6, 3, 0x23), enc_j(0, 0) };
	assert_int_equal(bus_dma_write(&m->bus, HANDLER, h, sizeof(h)), 0);
	assert_int_equal(bus_dma_write(&m->bus, STOP, &stop, 4), 0);
	assert_int_equal(bus_dma_write(&m->bus, TOHOST_END, th, sizeof(th)), 0);
}

/* ---- initial state ---------------------------------------------------------- */
struct init {
	uint64_t x[32], f[32];
	uint64_t fcsr, mstatus_fs, mie;
	unsigned priv;
	uint8_t data[DATA_HI - DATA_LO];
	uint8_t dev[MMIO_SIZE];
	uint64_t dma_pa;
	uint16_t dma_val;
};

static uint64_t rnd_value(struct rng *r)
{
	static const uint64_t edge[] = {
		0, 1, 2, ~0ULL, 0x8000000000000000ULL, 0x7fffffffffffffffULL,
		0xffffffff80000000ULL, 0x7fffffffULL, 0x80000000ULL, 0xffffffffULL, 31, 32, 63,
		64, 65, 0x100000000ULL, 0xfffffffe00000000ULL, DATA_MID, CODE_LO, MMIO_BASE,
	};
	unsigned k = below(r, 100);
	if (k < 20)
		return (uint64_t)(int64_t)range(r, -16, 16);
	if (k < 40)
		return edge[below(r, sizeof(edge) / sizeof(edge[0]))];
	if (k < 55)
		return (uint64_t)(int64_t)(int32_t)rnd(r);
	return rnd(r);
}

static uint64_t rnd_pointer(struct rng *r, const struct prog *prog)
{
	unsigned k = below(r, 100);
	uint64_t p;
	if (k < 3)   /* stores rewrite the program: self-modifying code */
		return prog->start + 2 * below(r, 64);
	if (k < 80) {
		p = DATA_MID + (uint64_t)(int64_t)range(r, -0x700, 0x700);
		return chance(r, 70) ? p & ~7ULL : p;
	}
	if (k < 87)
		return DATA_HI - 1 - below(r, 300);        /* accesses run off the end of RAM */
	if (k < 93)
		return MMIO_BASE + 8 * below(r, MMIO_SIZE / 8 - 4);
	if (k < 97)
		return TOHOST - 8 * below(r, 16);          /* some stores hit tohost */
	return rnd_value(r);
}

static void gen_init(struct rng *r, const struct prog *prog, struct init *in)
{
	static const uint64_t fp_edge[] = {
		0, 0x8000000000000000ULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
		0x7ff8000000000000ULL, 0x7ff0000000000001ULL, 0x3ff0000000000000ULL,
		0xffffffff3f800000ULL, 0xffffffff7fc00000ULL, 0x0000000000000001ULL,
		0x43e0000000000000ULL, 0xc3e0000000000000ULL,
	};
	for (unsigned i = 1; i < 32; i++)
		in->x[i] = rnd_value(r);
	in->x[SP] = rnd_pointer(r, prog);
	in->x[P1] = rnd_pointer(r, prog);
	in->x[P2] = rnd_pointer(r, prog);
	for (unsigned i = 0; i < 32; i++)
		in->f[i] = chance(r, 40) ? fp_edge[below(r, sizeof(fp_edge) / 8)] : rnd(r);
	in->fcsr = below(r, 256);
	/* mostly FP on (initial or dirty); sometimes off, so FP traps */
	in->mstatus_fs = (uint64_t)(chance(r, 85) ? 1 + below(r, 3) : 0) << 13;
	in->mie = chance(r, 10) ? MIP_SSIP : 0;
	in->priv = chance(r, 10) ? PRIV_U : chance(r, 5) ? PRIV_S : PRIV_M;
	for (size_t i = 0; i < sizeof(in->data); i += 8) {
		uint64_t v = chance(r, 30) ? rnd_value(r) : rnd(r);
		memcpy(in->data + i, &v, 8);
	}
	for (size_t i = 0; i < sizeof(in->dev); i += 8) {
		uint64_t v = rnd(r);
		memcpy(in->dev + i, &v, 8);
	}
	/* DMA over one of the program's instructions, with a nop, an illegal
	 * instruction, a c.li or noise */
	static const uint16_t dv[] = { C_NOP, 0x0000, 0x4505 /* c.li a0, 1 */, 0x4e81 /* c.li t4, 0 */ };
	in->dma_pa = chance(r, 80) ? prog->it[below(r, prog->n)].pc : 0;
	in->dma_val = chance(r, 75) ? dv[below(r, 4)] : (uint16_t)rnd(r);
}

/*
 * keep_caches: instead of hart_reset (which drops every decoded block and
 * translation), reset the architectural state alone and leave the code to
 * the DMA writes below, which must drop what they overwrite; decoded blocks
 * and translations then pile up until the arena or the translation cache
 * fills and is flushed in the middle of a run.
 */
static void load_case(struct machine *m, const struct prog *p, const struct init *in,
		      bool keep_caches)
{
	static const uint64_t zero = 0;
	if (keep_caches) {
		struct hart_state *s = hart_state(m->h);
		memset(s, 0, sizeof(*s));
		s->priv = PRIV_M;
		s->pc = p->start;
		s->mstatus = (2ULL << 32) | (2ULL << 34);   /* UXL = SXL = 64, as hart_reset */
		mmu_flush_all(m->h);
	} else {
		hart_reset(m->h, p->start);
	}
	write_page0(m);
	assert_int_equal(bus_dma_write(&m->bus, CODE_LO, p->image, sizeof(p->image)), 0);
	assert_int_equal(bus_dma_write(&m->bus, TOHOST, &zero, 8), 0);
	assert_int_equal(bus_dma_write(&m->bus, DATA_LO, in->data, sizeof(in->data)), 0);
	memcpy(m->dev.mem, in->dev, sizeof(in->dev));
	m->dev.reads = m->dev.writes = m->dev.dmas = 0;
	m->dev.dma_pa = in->dma_pa;
	m->dev.dma_val = in->dma_val;

	struct hart_state *s = hart_state(m->h);
	for (unsigned i = 1; i < 32; i++)
		s->x[i] = in->x[i];
	memcpy(s->f, in->f, sizeof(s->f));
	s->fcsr = in->fcsr;
	s->mstatus |= in->mstatus_fs;
	s->mie = in->mie;
	s->mtvec = HANDLER;
	s->priv = in->priv;
	/* a trap from M returns to M; set MPP so the first one from U/S does too */
	s->mstatus |= (uint64_t)in->priv << 11;
	hart_update_modes(m->h);
}

/* ---- comparing ----------------------------------------------------------- */
struct field { const char *name; size_t off, size; };
#define FIELD(n) { #n, offsetof(struct hart_state, n), sizeof(((struct hart_state *)0)->n) }
static const struct field fields[] = {
	FIELD(x), FIELD(f), FIELD(pc), FIELD(priv), FIELD(fcsr), FIELD(icount),
	FIELD(minstret_off), FIELD(mcycle_off), FIELD(mstatus), FIELD(medeleg), FIELD(mideleg),
	FIELD(mie), FIELD(mip), FIELD(mtvec), FIELD(mscratch), FIELD(mepc), FIELD(mcause),
	FIELD(mtval), FIELD(mcounteren), FIELD(menvcfg), FIELD(pmpcfg), FIELD(pmpaddr),
	FIELD(stvec), FIELD(sscratch), FIELD(sepc), FIELD(scause), FIELD(stval),
	FIELD(scounteren), FIELD(senvcfg), FIELD(satp), FIELD(stimecmp), FIELD(resv_addr),
	FIELD(resv_valid), FIELD(hartid), FIELD(tohost_value),
};

/* Name of the state word at byte offset off ("x[5]", "mepc"). */
static void field_name(size_t off, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		if (off < f->off || off >= f->off + f->size)
			continue;
		if (f->size > 8)
			snprintf(buf, len, "%s[%zu]", f->name, (off - f->off) / 8);
		else
			snprintf(buf, len, "%s", f->name);
		return;
	}
	snprintf(buf, len, "(padding at %zu)", off);
}

static const char *exit_name(enum hart_exit x)
{
	static const char *n[] = { "BUDGET", "WFI", "STOP", "TOHOST" };
	return (unsigned)x < 4 ? n[x] : "?";
}

static void print_prog(const struct prog *p)
{
	char text[96];
	fprintf(stderr, "program (start 0x%" PRIx64 "):\n", p->start);
	for (unsigned i = 0; i < p->n; i++) {
		const struct item *it = &p->it[i];
		disasm_insn(it->raw, it->pc, text, sizeof(text));
		fprintf(stderr, "  %" PRIx64 ": %0*x  %s%s\n", it->pc, it->len * 2, it->raw, text,
			i == p->tail ? "   # end of main line" :
			(int)i == p->func ? "   # function" : "");
	}
}

/* JIT_DIFF_CASE: the state of both harts after every call. */
static bool g_trace;

struct run_plan {
	uint64_t total;      /* instructions to retire in all */
	unsigned step_max;   /* 0: one call; else calls of 1..step_max */
};

struct outcome {
	unsigned calls;
	uint64_t retired;
};

/*
 * Runs both machines through the same sequence of hart_run calls and
 * compares them after every call; returns false (after printing why) on
 * the first difference.
 */
static bool run_and_compare(struct machine *a, struct machine *b, struct rng *r,
			    const struct run_plan *plan, char *why, size_t whylen,
			    struct outcome *out)
{
	struct hart_state *sa = hart_state(a->h), *sb = hart_state(b->h);
	uint64_t start = sa->icount;
	unsigned calls = 0;

	for (;;) {
		uint64_t done = sa->icount - start;
		if (done >= plan->total || calls >= 400)
			break;
		uint64_t left = plan->total - done;
		uint64_t n = plan->step_max ? 1 + below(r, plan->step_max) : left;
		if (n > left)
			n = left;
		enum hart_exit ea = hart_run(a->h, n), eb = hart_run(b->h, n);
		calls++;
		if (g_trace) {
			for (int k = 0; k < 2; k++) {
				const struct hart_state *s = k ? sb : sa;
				fprintf(stderr, "  %3u %s n=%-3" PRIu64 " %-6s pc %" PRIx64 " icount %" PRIu64
					" priv %" PRIu64 " mcause %" PRIx64 " mepc %" PRIx64
					" mstatus %" PRIx64 " mie %" PRIx64 " mip %" PRIx64 "\n",
					calls, k ? "jit" : "int", n, exit_name(k ? eb : ea), s->pc,
					s->icount, s->priv, s->mcause, s->mepc, s->mstatus, s->mie, s->mip);
			}
		}
		if (ea != eb) {
			snprintf(why, whylen, "call %u (budget %" PRIu64 "): hart_run returned %s "
				 "(interpreter) vs %s (translator)", calls, n, exit_name(ea), exit_name(eb));
			return false;
		}
		if (memcmp(sa, sb, sizeof(*sa)) != 0) {
			const uint64_t *wa = (const uint64_t *)(const void *)sa;
			const uint64_t *wb = (const uint64_t *)(const void *)sb;
			size_t k = 0;
			while (wa[k] == wb[k])
				k++;
			char name[32];
			field_name(k * 8, name, sizeof(name));
			int len = snprintf(why, whylen, "call %u (budget %" PRIu64 ", %s): state "
					   "field %s: interpreter 0x%" PRIx64 ", translator 0x%" PRIx64,
					   calls, n, exit_name(ea), name, wa[k], wb[k]);
			/* the other differing words, for context */
			for (size_t j = k + 1; j < sizeof(*sa) / 8 && len > 0 && (size_t)len < whylen; j++) {
				if (wa[j] == wb[j])
					continue;
				field_name(j * 8, name, sizeof(name));
				len += snprintf(why + len, whylen - (size_t)len,
						"\n    also %s: 0x%" PRIx64 " vs 0x%" PRIx64, name, wa[j], wb[j]);
			}
			return false;
		}
		if (ea == HART_EXIT_TOHOST && !plan->step_max)
			break;
	}
	out->calls = calls;
	out->retired = sa->icount - start;
	if (memcmp(a->ram.host, b->ram.host, RAM_SIZE) != 0) {
		size_t k = 0;
		while (a->ram.host[k] == b->ram.host[k])
			k++;
		snprintf(why, whylen, "RAM at 0x%" PRIx64 ": interpreter 0x%02x, translator 0x%02x",
			 (uint64_t)(BASE + k), a->ram.host[k], b->ram.host[k]);
		return false;
	}
	if (memcmp(a->dev.mem, b->dev.mem, MMIO_SIZE) != 0 || a->dev.reads != b->dev.reads ||
	    a->dev.writes != b->dev.writes || a->dev.dmas != b->dev.dmas) {
		snprintf(why, whylen, "MMIO device: %s differ",
			 memcmp(a->dev.mem, b->dev.mem, MMIO_SIZE) ? "contents" : "access counts");
		return false;
	}
	return true;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : def;
}

static uint64_t case_seed(uint64_t seed, uint64_t i)
{
	struct rng r = { seed ^ (i * 0xd1342543de82ef95ULL) };
	return rnd(&r);
}

/*
 * Runs cases first..count-1 of the series seeded by seed on fresh harts;
 * fails the test on the first mismatch.
 */
static void run_series(const char *name, uint64_t seed, uint64_t first, uint64_t count,
		       bool keep_caches)
{
	static struct machine ma, mb;
	static struct prog prog;
	static struct init init;
	char why[2048];
	uint64_t retired = 0, calls = 0, tohost = 0, split = 0, dmas = 0;
	struct timespec t0, t1;

	machine_init(&ma, false);
	machine_init(&mb, true);
	uint64_t flushes0 = mb.h->jit->flushes, translated0 = mb.h->jit->translated;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("jit_diff %s: seed 0x%" PRIx64 ", cases %" PRIu64 "..%" PRIu64 "\n", name, seed,
	       first, count - 1);
	for (uint64_t i = first; i < count; i++) {
		struct rng r = { case_seed(seed, i) };
		gen_prog(&r, &prog);
		gen_init(&r, &prog, &init);
		struct run_plan plan;
		unsigned k = below(&r, 100);
		plan.total = k < 10 ? 1 + below(&r, 24) : k < 70 ? 50 + below(&r, 600)
								 : 600 + below(&r, 2500);
		k = below(&r, 100);
		plan.step_max = k < 60 ? 0 : k < 90 ? 1 + below(&r, 24) : 1;
		if (plan.step_max == 1 && plan.total > 300)
			plan.total = 300;
		if (g_trace)
			print_prog(&prog);
		load_case(&ma, &prog, &init, keep_caches);
		load_case(&mb, &prog, &init, keep_caches);
		struct outcome o = { 0, 0 };
		struct rng rr = { rnd(&r) };
		if (!run_and_compare(&ma, &mb, &rr, &plan, why, sizeof(why), &o)) {
			fprintf(stderr, "\njit_diff MISMATCH in %s: seed 0x%" PRIx64 " case %" PRIu64 "\n"
				"  (reproduce: %s)\n  budget %" PRIu64 " in %s",
				name, seed, i,
				keep_caches ? "run the whole series again; its history matters"
					    : "JIT_DIFF_CASE=<case> [JIT_DIFF_SEED=<seed>]",
				plan.total, plan.step_max ? "steps of 1.." : "one call");
			if (plan.step_max)
				fprintf(stderr, "%u", plan.step_max);
			fprintf(stderr, "\n  %s\n", why);
			if (!g_trace)   /* else printed already */
				print_prog(&prog);
			machine_fini(&ma);
			machine_fini(&mb);
			fail_msg("interpreter and translator differ (%s, seed 0x%" PRIx64 ", case %" PRIu64 ")",
				 name, seed, i);
		}
		retired += o.retired;
		calls += o.calls;
		split += plan.step_max != 0;
		tohost += hart_state(ma.h)->tohost_value != 0;
		dmas += ma.dev.dmas;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t translated = mb.h->jit->translated - translated0;
	printf("jit_diff %s: %" PRIu64 " sequences agree (%" PRIu64 " with split budgets, %" PRIu64
	       " ended by tohost), %" PRIu64 " instructions and %" PRIu64 " hart_run calls each, "
	       "%" PRIu64 " device DMAs over code, %" PRIu64 " blocks translated, %" PRIu64
	       " cache flushes, %.1f s\n",
	       name, count - first, split, tohost, retired, calls, dmas, translated,
	       mb.h->jit->flushes - flushes0,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	/* The comparison means nothing if the translator never ran. */
	assert_true(translated > 0);
	machine_fini(&ma);
	machine_fini(&mb);
}

/* 10^5 random programs, each on harts reset in between (hart_reset). */
static void test_random_sequences(void **state)
{
	(void)state;
	uint64_t seed = env_u64("JIT_DIFF_SEED", DEFAULT_SEED);
	uint64_t count = env_u64("JIT_DIFF_COUNT", DEFAULT_COUNT);
	const char *only = getenv("JIT_DIFF_CASE");
	uint64_t first = 0;

	if (only && *only) {
		first = strtoull(only, NULL, 0);
		count = first + 1;
		g_trace = true;
	}
	run_series("reset", seed, first, count, false);
}

/* More, with decoded blocks and translations kept from one program to the next. */
static void test_caches_kept(void **state)
{
	(void)state;
	if (getenv("JIT_DIFF_CASE") && *getenv("JIT_DIFF_CASE"))
		skip();
	uint64_t seed = env_u64("JIT_DIFF_SEED", DEFAULT_SEED) ^ 0x5ca1ab1eULL;
	run_series("kept", seed, 0, env_u64("JIT_DIFF_KEPT_COUNT", DEFAULT_KEPT_COUNT), true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_caches_kept),
	};
	return cmocka_run_group_tests_name("jit_diff", tests, NULL, NULL);
}
