/*
 * fpu_diff.c - differential test of src/cpu/fpu.c against real RISC-V F/D
 * instructions executed by qemu-riscv64 (softfloat, an independent
 * implementation).  Generates random and edge-biased operands for every
 * operation and rounding mode, has the oracle (oracle.c) compute them, and
 * compares results and fflags bit for bit.  Prints one line per operation.
 *
 * usage: fpu_diff [-n cases-per-op] [-s seed] [-r rm] [-v] ORACLE [QEMU]
 * (-r fixes the rounding mode, e.g. -r 0 to exercise the RNE fast paths only)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/fpu.h"
#include "fpu_ops.h"

static const char *op_names[] = {
#define NAME(n, k) #n,
	FPU_DIFF_OPS(NAME)
#undef NAME
};

enum kind { S1, S2, S3, D1, D2, D3, I };
static const enum kind op_kinds[] = {
#define KIND(n, k) k,
	FPU_DIFF_OPS(KIND)
#undef KIND
};

static uint64_t rng_state;
static int fixed_rm = -1;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

/* A fraction of `fb` bits drawn from shapes that hit rounding edges. */
static uint64_t gen_frac(int fb)
{
	uint64_t all = (1ull << fb) - 1, r = rnd() & all;

	switch (rndn(12)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return all;
	case 3: return all - 1;
	case 4: return 1ull << (fb - 1);
	case 5: return (1ull << (fb - 1)) | 1;
	case 6: return r & (rnd() & rnd()); /* sparse */
	case 7: return r | (rnd() | rnd());  /* dense */
	case 8: return r & ~((1ull << rndn((unsigned)fb)) - 1); /* low bits zero */
	case 9: return r | ((1ull << rndn((unsigned)fb)) - 1);   /* low bits one */
	default: return r;
	}
}

/* An exponent field biased towards zero/subnormal, one, the top, and around the bias. */
static uint64_t gen_exp(int ew, int fb)
{
	int emax = (1 << ew) - 1, bias = emax >> 1;

	switch (rndn(10)) {
	case 0: return 0;
	case 1: return 1 + rndn(3);
	case 2: return (uint64_t)(emax - 1 - (int)rndn(3));
	case 3: return (uint64_t)emax;
	case 4: case 5: return (uint64_t)(bias - 3 + (int)rndn(7));
	case 6: return (uint64_t)(bias + (int)rndn(66)); /* integer conversion range */
	case 7: return (uint64_t)(bias - fb - 2 + (int)rndn(5));
	default: return rnd() % (uint64_t)(emax + 1);
	}
}

static uint64_t mk(int ew, int fb, uint64_t sign, uint64_t e, uint64_t f)
{
	return (sign << (ew + fb)) | ((e & ((1ull << ew) - 1)) << fb) | (f & ((1ull << fb) - 1));
}

static uint64_t gen_fp(int ew, int fb)
{
	if (rndn(4) == 0)
		return rnd() & (ew == 8 ? 0xffffffffull : UINT64_MAX);
	return mk(ew, fb, rnd() & 1, gen_exp(ew, fb), gen_frac(fb));
}

/* A second operand related to the first: nearby exponent, nearby bits. */
static uint64_t gen_near(int ew, int fb, uint64_t a)
{
	uint64_t e = (a >> fb) & ((1ull << ew) - 1);
	uint64_t f = a & ((1ull << fb) - 1);

	switch (rndn(4)) {
	case 0: return a ^ (1ull << (ew + fb)); /* same magnitude, other sign */
	case 1: return a + (rnd() % 5) - 2;     /* a few ulps away */
	case 2: return mk(ew, fb, rnd() & 1, e + rndn(60) - 30, gen_frac(fb));
	default: return mk(ew, fb, rnd() & 1, e + rndn(5) - 2, f ^ (rnd() & 7));
	}
}

/* Exponent field of b chosen so that a*b (or a/b) lands near the under- or overflow edge. */
static uint64_t gen_edge_partner(int ew, int fb, uint64_t a, int is_div)
{
	int emax = (1 << ew) - 1, bias = emax >> 1;
	int ea = (int)((a >> fb) & (uint64_t)emax) - bias;
	int t = rndn(2) ? -bias - fb - 2 + (int)rndn((unsigned)fb + 6) : bias - 2 + (int)rndn(4);
	int eb = is_div ? ea - t : t - ea;
	int ebf = eb + bias;

	if (ebf < 0)
		ebf = 0;
	if (ebf > emax - 1)
		ebf = emax - 1;
	return mk(ew, fb, rnd() & 1, (uint64_t)ebf, gen_frac(fb));
}

static uint64_t gen_int(void)
{
	uint64_t r = rnd();

	switch (rndn(8)) {
	case 0: return r;
	case 1: return (uint64_t)(int64_t)(int32_t)r;
	case 2: return (uint32_t)r;
	case 3: return r >> rndn(64);
	case 4: return 0 - (r >> rndn(64));
	case 5: { /* a run of significant bits then a halfway-ish tail */
		unsigned top = rndn(64);
		uint64_t v = (1ull << top) | (r & ((1ull << top) - 1) & ~((1ull << rndn(top + 1)) - 1));
		return rndn(2) ? v : 0 - v;
	}
	case 6: {
		static const uint64_t b[] = { 0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
					      0x7fffffffffffffffull, 0x8000000000000000ull, UINT64_MAX,
					      0xffffff, 0x1000001, 0x1fffffffffffffull, 0x20000000000001ull };
		return b[rndn((unsigned)(sizeof(b) / sizeof(b[0])))] + rndn(3) - 1;
	}
	default: return r & (rnd() & rnd());
	}
}

static void gen(struct fpu_diff_rec *r, uint32_t op)
{
	enum kind k = op_kinds[op];
	int ew = (k == S1 || k == S2 || k == S3) ? 8 : 11, fb = ew == 8 ? 23 : 52;
	const char *nm = op_names[op];
	int is_mul = strncmp(nm, "mul", 3) == 0, is_div = strncmp(nm, "div", 3) == 0;

	r->op = op;
	r->rm = fixed_rm >= 0 ? (uint32_t)fixed_rm : rndn(5);
	r->a = r->b = r->c = 0;
	if (k == I) {
		r->a = gen_int();
		return;
	}
	r->a = gen_fp(ew, fb);
	if (k == S1 || k == D1)
		return;
	switch (rndn(4)) {
	case 0: r->b = gen_near(ew, fb, r->a); break;
	case 1:
		r->b = (is_mul || is_div || k == S3 || k == D3) ? gen_edge_partner(ew, fb, r->a, is_div)
								: gen_fp(ew, fb);
		break;
	default: r->b = gen_fp(ew, fb); break;
	}
	if (ew == 8)
		r->b &= 0xffffffffu;
	if (k == S2 || k == D2)
		return;
	/* Addend: random, or near minus the product for cancellation. */
	if (rndn(2)) {
		r->c = gen_fp(ew, fb);
	} else if (ew == 8) {
		float fa, fb_, p;
		uint32_t ua = (uint32_t)r->a, ub = (uint32_t)r->b, up;
		memcpy(&fa, &ua, 4);
		memcpy(&fb_, &ub, 4);
		p = (float)((double)fa * (double)fb_);
		memcpy(&up, &p, 4);
		r->c = gen_near(8, 23, up ^ (rndn(2) ? 0x80000000u : 0)) & 0xffffffffu;
	} else {
		double da, db, p;
		uint64_t up;
		memcpy(&da, &r->a, 8);
		memcpy(&db, &r->b, 8);
		p = da * db;
		memcpy(&up, &p, 8);
		r->c = gen_near(11, 52, up ^ (rndn(2) ? 1ull << 63 : 0));
	}
}

static struct fpu_diff_res mine(const struct fpu_diff_rec *r)
{
	struct fpu_diff_res o = { 0 };
	unsigned fl = 0, rm = r->rm;
	uint32_t a32 = (uint32_t)r->a, b32 = (uint32_t)r->b, c32 = (uint32_t)r->c;
	uint64_t a = r->a, b = r->b, c = r->c;

	switch (r->op) {
	case OP_add_s: o.val = fpu_add_s(a32, b32, rm, &fl); break;
	case OP_sub_s: o.val = fpu_sub_s(a32, b32, rm, &fl); break;
	case OP_mul_s: o.val = fpu_mul_s(a32, b32, rm, &fl); break;
	case OP_div_s: o.val = fpu_div_s(a32, b32, rm, &fl); break;
	case OP_sqrt_s: o.val = fpu_sqrt_s(a32, rm, &fl); break;
	case OP_fmadd_s: o.val = fpu_fma_s(a32, b32, c32, 0, 0, rm, &fl); break;
	case OP_fmsub_s: o.val = fpu_fma_s(a32, b32, c32, 0, 1, rm, &fl); break;
	case OP_fnmsub_s: o.val = fpu_fma_s(a32, b32, c32, 1, 0, rm, &fl); break;
	case OP_fnmadd_s: o.val = fpu_fma_s(a32, b32, c32, 1, 1, rm, &fl); break;
	case OP_min_s: o.val = fpu_min_s(a32, b32, &fl); break;
	case OP_max_s: o.val = fpu_max_s(a32, b32, &fl); break;
	case OP_eq_s: o.val = (uint64_t)fpu_eq_s(a32, b32, &fl); break;
	case OP_lt_s: o.val = (uint64_t)fpu_lt_s(a32, b32, &fl); break;
	case OP_le_s: o.val = (uint64_t)fpu_le_s(a32, b32, &fl); break;
	case OP_class_s: o.val = fpu_class_s(a32); break;
	case OP_add_d: o.val = fpu_add_d(a, b, rm, &fl); break;
	case OP_sub_d: o.val = fpu_sub_d(a, b, rm, &fl); break;
	case OP_mul_d: o.val = fpu_mul_d(a, b, rm, &fl); break;
	case OP_div_d: o.val = fpu_div_d(a, b, rm, &fl); break;
	case OP_sqrt_d: o.val = fpu_sqrt_d(a, rm, &fl); break;
	case OP_fmadd_d: o.val = fpu_fma_d(a, b, c, 0, 0, rm, &fl); break;
	case OP_fmsub_d: o.val = fpu_fma_d(a, b, c, 0, 1, rm, &fl); break;
	case OP_fnmsub_d: o.val = fpu_fma_d(a, b, c, 1, 0, rm, &fl); break;
	case OP_fnmadd_d: o.val = fpu_fma_d(a, b, c, 1, 1, rm, &fl); break;
	case OP_min_d: o.val = fpu_min_d(a, b, &fl); break;
	case OP_max_d: o.val = fpu_max_d(a, b, &fl); break;
	case OP_eq_d: o.val = (uint64_t)fpu_eq_d(a, b, &fl); break;
	case OP_lt_d: o.val = (uint64_t)fpu_lt_d(a, b, &fl); break;
	case OP_le_d: o.val = (uint64_t)fpu_le_d(a, b, &fl); break;
	case OP_class_d: o.val = fpu_class_d(a); break;
	case OP_cvt_d_s: o.val = fpu_cvt_d_s(a32, &fl); break;
	case OP_cvt_s_d: o.val = fpu_cvt_s_d(a, rm, &fl); break;
	case OP_cvt_w_s: o.val = fpu_cvt_w_s(a32, rm, &fl); break;
	case OP_cvt_wu_s: o.val = fpu_cvt_wu_s(a32, rm, &fl); break;
	case OP_cvt_l_s: o.val = fpu_cvt_l_s(a32, rm, &fl); break;
	case OP_cvt_lu_s: o.val = fpu_cvt_lu_s(a32, rm, &fl); break;
	case OP_cvt_w_d: o.val = fpu_cvt_w_d(a, rm, &fl); break;
	case OP_cvt_wu_d: o.val = fpu_cvt_wu_d(a, rm, &fl); break;
	case OP_cvt_l_d: o.val = fpu_cvt_l_d(a, rm, &fl); break;
	case OP_cvt_lu_d: o.val = fpu_cvt_lu_d(a, rm, &fl); break;
	case OP_cvt_s_w: o.val = fpu_cvt_s_w(a, rm, &fl); break;
	case OP_cvt_s_wu: o.val = fpu_cvt_s_wu(a, rm, &fl); break;
	case OP_cvt_s_l: o.val = fpu_cvt_s_l(a, rm, &fl); break;
	case OP_cvt_s_lu: o.val = fpu_cvt_s_lu(a, rm, &fl); break;
	case OP_cvt_d_w: o.val = fpu_cvt_d_w(a, rm, &fl); break;
	case OP_cvt_d_wu: o.val = fpu_cvt_d_wu(a, rm, &fl); break;
	case OP_cvt_d_l: o.val = fpu_cvt_d_l(a, rm, &fl); break;
	case OP_cvt_d_lu: o.val = fpu_cvt_d_lu(a, rm, &fl); break;
	default: break;
	}
	o.flags = fl;
	return o;
}

/* Single-precision results leave the oracle through fmv.x.w, sign-extended. */
static int single_result(uint32_t op)
{
	const char *n = op_names[op];
	size_t l = strlen(n);
	if (strncmp(n, "eq", 2) == 0 || strncmp(n, "lt", 2) == 0 || strncmp(n, "le", 2) == 0 ||
	    strncmp(n, "class", 5) == 0)
		return 0;
	if (strncmp(n, "cvt_", 4) == 0)
		return n[4] == 's';
	return n[l - 1] == 's';
}

int main(int argc, char **argv)
{
	long n = 3000;
	uint64_t seed = 1;
	int verbose = 0, opt;
	const char *qemu = "qemu-riscv64";

	while ((opt = getopt(argc, argv, "n:s:r:v")) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'v': verbose = 1; break;
		case 'r': fixed_rm = atoi(optarg) % 5; break;
		default: goto usage;
		}
	}
	if (optind >= argc || n <= 0)
		goto usage;
	const char *oracle = argv[optind];
	if (optind + 1 < argc)
		qemu = argv[optind + 1];
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;

	size_t total = (size_t)n * OP_COUNT;
	struct fpu_diff_rec *recs = calloc(total, sizeof(*recs));
	struct fpu_diff_res *res = calloc(total, sizeof(*res));
	char in_path[] = "/tmp/fpu_diff_in.XXXXXX", out_path[] = "/tmp/fpu_diff_out.XXXXXX";
	int fin = mkstemp(in_path), fout = mkstemp(out_path);
	if (!recs || !res || fin < 0 || fout < 0) {
		perror("fpu_diff: setup");
		return 2;
	}
	close(fout);
	for (uint32_t op = 0; op < OP_COUNT; op++)
		for (long i = 0; i < n; i++)
			gen(&recs[op * (size_t)n + (size_t)i], op);
	FILE *f = fdopen(fin, "wb");
	if (!f || fwrite(recs, sizeof(*recs), total, f) != total || fclose(f) != 0) {
		perror("fpu_diff: write");
		return 2;
	}
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s < %s > %s", qemu, oracle, in_path, out_path);
	if (system(cmd) != 0) {
		fprintf(stderr, "fpu_diff: oracle failed: %s\n", cmd);
		return 2;
	}
	f = fopen(out_path, "rb");
	if (!f || fread(res, sizeof(*res), total, f) != total) {
		fprintf(stderr, "fpu_diff: short oracle output\n");
		return 2;
	}
	fclose(f);
	unlink(in_path);
	unlink(out_path);

	long bad_total = 0;
	for (uint32_t op = 0; op < OP_COUNT; op++) {
		long bad = 0;
		for (long i = 0; i < n; i++) {
			size_t j = op * (size_t)n + (size_t)i;
			struct fpu_diff_res want = res[j], got = mine(&recs[j]);
			if (single_result(op))
				want.val &= 0xffffffffu;
			if (want.val == got.val && want.flags == got.flags)
				continue;
			if (bad++ < (verbose ? 20 : 3))
				printf("  MISMATCH %s rm=%u a=%#" PRIx64 " b=%#" PRIx64 " c=%#" PRIx64
				       ": want %#" PRIx64 "/%#x got %#" PRIx64 "/%#x\n",
				       op_names[op], recs[j].rm, recs[j].a, recs[j].b, recs[j].c,
				       want.val, want.flags, got.val, got.flags);
		}
		printf("%-10s %8ld/%ld agree\n", op_names[op], n - bad, n);
		bad_total += bad;
	}
	printf("total: %ld of %zu cases disagree (seed %" PRIu64 ")\n", bad_total, total, seed);
	free(recs);
	free(res);
	return bad_total ? 1 : 0;

usage:
	fprintf(stderr, "usage: %s [-n cases-per-op] [-s seed] [-r rm] [-v] ORACLE [QEMU]\n", argv[0]);
	return 2;
}
