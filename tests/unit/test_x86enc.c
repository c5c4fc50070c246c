/*
 * test_x86enc.c - the x86-64 encoder (src/cpu/x86enc.c) against GNU objdump
 * as an independent decoder.  Each test emits a batch of instructions, each
 * paired with the Intel-syntax text the test builds for the instruction it
 * meant; objdump disassembles the batch and every decoded instruction must
 * start where the encoder put it, have the encoder's length and read as the
 * intended text.  Registers sweep all 16, memory operands every base with
 * disp 0 / disp8 / disp32 and every index with every scale, immediates the
 * edges of imm8/imm32/imm64.  Branch batches run with run_delta != 0 and
 * objdump's --adjust-vma set to the run address, so printed targets are run
 * addresses.  Where the text cannot show a choice (disp8 vs disp32, imm8 vs
 * imm32, rel8 vs rel32, no needless REX) the expected length is checked too.
 *
 * objdump (package binutils) is required: without it the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu/x86enc.h"

extern char **environ;

/* ---- expected text ------------------------------------------------------ */

static const char *const r64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
				     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const r32[16] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
				     "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d" };
static const char *const r16[16] = { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
				     "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w" };
static const char *const r8[16] = { "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
				    "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b" };
static const char *const alu_name[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
static const char *const cc_name[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
					 "s", "ns", "p", "np", "l", "ge", "le", "g" };

static const char *rn(int r, unsigned size)
{
	return size == 8 ? r64[r] : size == 4 ? r32[r] : size == 2 ? r16[r] : r8[r];
}

static const char *ptr(unsigned size)
{
	return size == 8 ? "QWORD PTR " : size == 4 ? "DWORD PTR " : size == 2 ? "WORD PTR " : "BYTE PTR ";
}

/* [base+index*scale+disp] as objdump -M intel prints it: a displacement
 * appears whenever one is encoded, so rbp/r13 with disp 0 show "+0x0". */
static const char *mem_text(char *out, size_t n, const char *ptrs, struct xe_mem m)
{
	int k = snprintf(out, n, "%s[%s", ptrs, r64[m.base]);
	if (m.index != XE_NOREG)
		k += snprintf(out + k, n - (size_t)k, "+%s*%u", r64[m.index], m.scale);
	if (m.disp != 0 || (m.base & 7) == 5) {
		int64_t d = m.disp;
		k += snprintf(out + k, n - (size_t)k, "%c0x%" PRIx64, d < 0 ? '-' : '+',
			      (uint64_t)(d < 0 ? -d : d));
	}
	snprintf(out + k, n - (size_t)k, "]");
	return out;
}

/* An immediate as objdump prints it: sign-extended to the operand size. */
static uint64_t imm_as(int32_t imm, bool w64)
{
	return w64 ? (uint64_t)(int64_t)imm : (uint64_t)(uint32_t)imm;
}

/* The instruction xe_mov_ri should pick (shortest of three forms). */
static void mov_ri_text(char *out, size_t n, enum xe_reg r, uint64_t imm, size_t *len)
{
	if (imm <= UINT32_MAX) {
		snprintf(out, n, "mov %s,0x%" PRIx64, r32[r], imm);
		*len = 5 + (r >= 8);
	} else if ((int64_t)imm >= INT32_MIN && (int64_t)imm <= INT32_MAX) {
		snprintf(out, n, "mov %s,0x%" PRIx64, r64[r], imm);
		*len = 7;
	} else {
		snprintf(out, n, "movabs %s,0x%" PRIx64, r64[r], imm);
		*len = 10;
	}
}

/* Length of ModRM + SIB + displacement: the shortest legal encoding. */
static size_t modrm_len(struct xe_mem m)
{
	size_t n = 1;
	if (m.index != XE_NOREG || (m.base & 7) == 4)
		n++;
	if (m.disp == 0 && (m.base & 7) != 5)
		return n;
	return n + (m.disp >= -128 && m.disp <= 127 ? 1 : 4);
}

/* Whether a memory-operand instruction needs a REX prefix. */
static bool rex_mem(bool w64, int reg, struct xe_mem m)
{
	return w64 || reg >= 8 || m.base >= 8 || m.index >= 8;
}

/* ---- batches: emit, then compare with objdump ---------------------------- */

#define BUF_SIZE (256u << 10)
#define SLACK 4096u     /* flush a batch when less than this is left */
#define TEXT_MAX 160

struct want {
	size_t off, len;
	size_t exp_len;     /* 0: not checked beyond objdump agreeing */
	char text[TEXT_MAX]; /* "; " between the instructions of one emit */
};

struct batch {
	uint8_t *mem;
	struct xe_buf b;
	intptr_t run_delta;
	struct want *w;
	size_t n, cap;
	size_t mark;        /* offset where the current emit started */
};

static unsigned long n_checked, n_insns;

static void batch_init(struct batch *t, intptr_t run_delta)
{
	memset(t, 0, sizeof *t);
	t->mem = malloc(BUF_SIZE);
	assert_non_null(t->mem);
	t->run_delta = run_delta;
	xe_init(&t->b, t->mem, BUF_SIZE, run_delta);
}

static uint64_t run_addr(const struct batch *t, size_t off)
{
	return (uint64_t)(uintptr_t)t->b.start + (uint64_t)t->run_delta + off;
}

/* Collapses whitespace and drops objdump's " <sym>" and "# comment" tails. */
static void normalise(char *s)
{
	char *o = s;
	bool space = false;
	for (char *p = s; *p && *p != '#' && *p != '<' && *p != '\n'; p++) {
		if (*p == ' ' || *p == '\t') {
			space = o != s;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = false;
		*o++ = *p;
	}
	*o = 0;
}

struct line {
	uint64_t addr;
	size_t len;
	char text[TEXT_MAX];
};

/* Parses "  addr:\tbb bb bb \ttext"; false for the header and blank lines. */
static bool parse_line(char *s, struct line *l)
{
	char *p = s;
	while (*p == ' ')
		p++;
	char *end;
	errno = 0;
	l->addr = strtoull(p, &end, 16);
	if (end == p || errno || end[0] != ':' || end[1] != '\t')
		return false;
	p = end + 2;
	l->len = 0;
	while (*p && *p != '\t') {
		if (*p != ' ') {
			l->len++;
			p += 2;
		} else {
			p++;
		}
	}
	if (*p == '\t')
		p++;
	snprintf(l->text, sizeof l->text, "%s", p);
	normalise(l->text);
	return true;
}

/* Runs objdump on bytes [0, size) of t and returns its lines. */
static struct line *disassemble(struct batch *t, size_t size, size_t *nlines)
{
	char bin[] = "/tmp/test_x86enc.bin.XXXXXX", out[] = "/tmp/test_x86enc.out.XXXXXX";
	int fd = mkstemp(bin);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, t->mem, size), (ssize_t)size);
	close(fd);
	int ofd = mkstemp(out);
	assert_true(ofd >= 0);

	char vma[64];
	snprintf(vma, sizeof vma, "--adjust-vma=0x%" PRIx64, run_addr(t, 0));
	char *argv[] = { "objdump", "-D", "-z", "-b", "binary", "-m", "i386:x86-64", "-M", "intel",
			 "--insn-width=16", vma, bin, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ofd, 1);
	pid_t pid;
	int rc = posix_spawnp(&pid, "objdump", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(ofd);
	if (rc != 0) {
		unlink(bin);
		unlink(out);
		fail_msg("cannot run objdump (%s): this test needs GNU objdump for x86-64, "
			 "package binutils (scripts/deps.sh)", strerror(rc));
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(bin);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		unlink(out);
		fail_msg("objdump failed (status 0x%x)", status);
	}

	FILE *f = fopen(out, "r");
	assert_non_null(f);
	unlink(out);
	size_t cap = 1024, n = 0;
	struct line *lines = malloc(cap * sizeof *lines);
	assert_non_null(lines);
	char *buf = NULL;
	size_t bufsz = 0;
	while (getline(&buf, &bufsz, f) > 0) {
		if (n == cap) {
			cap *= 2;
			lines = realloc(lines, cap * sizeof *lines);
			assert_non_null(lines);
		}
		if (parse_line(buf, &lines[n]))
			n++;
	}
	free(buf);
	fclose(f);
	*nlines = n;
	return lines;
}

/* Checks everything emitted since the last check and starts a new batch. */
static void check(struct batch *t)
{
	assert_false(t->b.overflow);
	size_t size = (size_t)(t->b.p - t->b.start);
	assert_int_equal(t->mark, size);   /* every emit has its want() */
	if (t->n == 0)
		return;

	size_t nl, li = 0, bytes = 0, expect_insns = 0;
	struct line *l = disassemble(t, size, &nl);
	for (size_t i = 0; i < nl; i++)
		bytes += l[i].len;

	unsigned bad = 0;
	for (size_t k = 0; k < t->n; k++) {
		const struct want *w = &t->w[k];
		uint64_t at = run_addr(t, w->off);
		char got[4 * TEXT_MAX] = "";
		size_t glen = 0, gbytes = 0;
		bool starts = li < nl && l[li].addr == at;
		for (const char *s = w->text; (s = strstr(s, "; ")) != NULL; s++)
			expect_insns++;
		expect_insns++;
		while (li < nl && l[li].addr < at + w->len) {
			glen += (size_t)snprintf(got + glen, sizeof got - glen, "%s%s",
						 glen ? "; " : "", l[li].text);
			if (glen >= sizeof got)
				glen = sizeof got - 1;
			gbytes += l[li].len;
			li++;
		}
		bool ok = starts && gbytes == w->len && strcmp(got, w->text) == 0 &&
			  (w->exp_len == 0 || w->exp_len == w->len);
		if (!ok && ++bad <= 30) {
			char hex[64] = "";
			for (size_t i = 0; i < w->len && i < 20; i++)
				snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", t->mem[w->off + i]);
			print_error("at +%zu [%s] (%zu bytes, expected %zu):\n  want: %s\n  "
				    "objdump: %s (%zu bytes%s)\n", w->off, hex, w->len, w->exp_len,
				    w->text, got, gbytes, starts ? "" : ", not an instruction start");
		}
	}
	if (li != nl)
		print_error("objdump decoded %zu instructions past the last expected one\n", nl - li);
	for (size_t i = 0; i < nl; i++)
		if (strstr(l[i].text, "(bad)"))
			bad++;
	n_checked += t->n;
	n_insns += nl;
	free(l);
	assert_int_equal(bad, 0);
	assert_int_equal(li, nl);
	assert_int_equal(nl, expect_insns);
	assert_int_equal(bytes, size);

	t->n = 0;
	t->mark = 0;
	t->b.p = t->b.start;
}

/* Records the emit since the last want() as the instruction(s) described by fmt. */
static void want_len(struct batch *t, size_t exp_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void want_len(struct batch *t, size_t exp_len, const char *fmt, ...)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 4096;
		t->w = realloc(t->w, t->cap * sizeof *t->w);
		assert_non_null(t->w);
	}
	struct want *w = &t->w[t->n++];
	size_t now = (size_t)(t->b.p - t->b.start);
	assert_false(t->b.overflow);
	assert_true(now > t->mark);
	w->off = t->mark;
	w->len = now - t->mark;
	w->exp_len = exp_len;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->text, sizeof w->text, fmt, ap);
	va_end(ap);
	t->mark = now;
	if ((size_t)(t->b.end - t->b.p) < SLACK)
		check(t);
}

#define want(t, ...) want_len(t, 0, __VA_ARGS__)

static void batch_done(struct batch *t)
{
	check(t);
	free(t->w);
	free(t->mem);
}

/* ---- operand sweeps ------------------------------------------------------- */

static const int32_t imms[] = { 0, 1, -1, 127, 128, -128, -129, 0x12345678, INT32_MIN, INT32_MAX };
#define N_IMMS (sizeof imms / sizeof imms[0])

static struct xe_mem mems[1024];
static size_t n_mems;

/* Every base with a spread of displacements, then every index (all but rsp)
 * with every scale under a few bases, including rsp/r12 (SIB needed anyway)
 * and rbp/r13 (disp 0 needs disp8). */
static void build_mems(void)
{
	static const int32_t disps[] = { 0, 1, -1, 127, -128, 128, -129, 0x1234, INT32_MAX, INT32_MIN };
	static const enum xe_reg ibase[] = { XE_RAX, XE_RSP, XE_RBP, XE_R12, XE_R13, XE_R15, XE_RBX, XE_R9 };
	static const int32_t idisp[] = { 0, -128, 0x100, INT32_MIN, 1 };
	static const uint8_t scales[] = { 1, 2, 4, 8 };
	size_t k = 0;

	n_mems = 0;
	for (int base = 0; base < 16; base++)
		for (size_t d = 0; d < sizeof disps / sizeof disps[0]; d++)
			mems[n_mems++] = XE_M((enum xe_reg)base, disps[d]);
	for (size_t b = 0; b < sizeof ibase / sizeof ibase[0]; b++)
		for (int idx = 0; idx < 16; idx++)
			for (size_t s = 0; s < 4; s++) {
				if (idx == XE_RSP)
					continue;
				mems[n_mems++] = XE_MX(ibase[b], (enum xe_reg)idx, scales[s],
						       idisp[k++ % (sizeof idisp / sizeof idisp[0])]);
			}
	assert_true(n_mems <= sizeof mems / sizeof mems[0]);
}

/* A register to pair with memory operand i: all 16 turn up across the sweep. */
static enum xe_reg pair_reg(size_t i) { return (enum xe_reg)((i * 5 + 3) % 16); }

/* ---- tests ---------------------------------------------------------------- */

static void test_alu(void **state)
{
	struct batch t;
	char m[96];
	batch_init(&t, 0);
	struct xe_buf *b = &t.b;

	for (int op = 0; op < 8; op++)
		for (int w = 0; w < 2; w++) {
			unsigned sz = w ? 8 : 4;
			for (int d = 0; d < 16; d++)
				for (int s = 0; s < 16; s++) {
					xe_alu_rr(b, op, w, d, s);
					want_len(&t, 2 + (w || d >= 8 || s >= 8), "%s %s,%s",
						 alu_name[op], rn(d, sz), rn(s, sz));
				}
			for (size_t i = 0; i < n_mems; i++) {
				struct xe_mem mm = mems[i];
				enum xe_reg r = pair_reg(i);
				size_t len = rex_mem(w, r, mm) + 1 + modrm_len(mm);
				mem_text(m, sizeof m, ptr(sz), mm);
				xe_alu_rm(b, op, w, r, mm);
				want_len(&t, len, "%s %s,%s", alu_name[op], rn(r, sz), m);
				xe_alu_mr(b, op, w, mm, r);
				want_len(&t, len, "%s %s,%s", alu_name[op], m, rn(r, sz));
				int32_t imm = imms[i % N_IMMS];
				bool i8 = imm >= -128 && imm <= 127;
				xe_alu_mi(b, op, w, mm, imm);
				want_len(&t, rex_mem(w, 0, mm) + 1 + modrm_len(mm) + (i8 ? 1 : 4),
					 "%s %s,0x%" PRIx64, alu_name[op], m, imm_as(imm, w));
			}
			for (int r = 0; r < 16; r++)
				for (size_t k = 0; k < N_IMMS; k++) {
					int32_t imm = imms[k];
					bool i8 = imm >= -128 && imm <= 127;
					xe_alu_ri(b, op, w, r, imm);
					want_len(&t, (w || r >= 8) + 2 + (i8 ? 1 : 4), "%s %s,0x%" PRIx64,
						 alu_name[op], rn(r, sz), imm_as(imm, w));
				}
			/* Every immediate on the memory operands that need SIB or disp8 0. */
			const struct xe_mem special[] = {
				XE_M(XE_RSP, 0), XE_M(XE_R12, 0), XE_M(XE_RBP, 0), XE_M(XE_R13, 0),
				XE_MX(XE_R13, XE_R12, 8, -129),
			};
			for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
				for (size_t k = 0; k < N_IMMS; k++) {
					xe_alu_mi(b, op, w, special[i], imms[k]);
					want(&t, "%s %s,0x%" PRIx64, alu_name[op],
					     mem_text(m, sizeof m, ptr(sz), special[i]), imm_as(imms[k], w));
				}
		}
	for (int w = 0; w < 2; w++)
		for (int a = 0; a < 16; a++)
			for (int c = 0; c < 16; c++) {
				xe_test_rr(b, w, a, c);
				want_len(&t, 2 + (w || a >= 8 || c >= 8), "test %s,%s",
					 rn(a, w ? 8 : 4), rn(c, w ? 8 : 4));
			}
	batch_done(&t);
}

static void test_mov(void **state)
{
	static const uint64_t mov_imms[] = {
		0, 1, 127, 128, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
		UINT64_MAX, (uint64_t)INT32_MIN, (uint64_t)(int64_t)-129,
		(uint64_t)INT32_MIN - 1, 0x8000000000000000, 0x7fffffffffffffff, 0x123456789abcdef0,
	};
	struct batch t;
	char m[96], txt[96];
	batch_init(&t, 0);
	struct xe_buf *b = &t.b;

	for (int w = 0; w < 2; w++)
		for (int d = 0; d < 16; d++)
			for (int s = 0; s < 16; s++) {
				xe_mov_rr(b, w, d, s);
				want_len(&t, 2 + (w || d >= 8 || s >= 8), "mov %s,%s",
					 rn(d, w ? 8 : 4), rn(s, w ? 8 : 4));
			}
	for (int r = 0; r < 16; r++)
		for (size_t k = 0; k < sizeof mov_imms / sizeof mov_imms[0]; k++) {
			size_t len;
			mov_ri_text(txt, sizeof txt, r, mov_imms[k], &len);
			xe_mov_ri(b, r, mov_imms[k]);
			want_len(&t, len, "%s", txt);
		}
	for (int w = 0; w < 2; w++) {
		for (size_t i = 0; i < n_mems; i++) {
			int32_t imm = imms[i % N_IMMS];
			xe_mov_mi(b, w, mems[i], imm);
			want_len(&t, rex_mem(w, 0, mems[i]) + 1 + modrm_len(mems[i]) + 4,
				 "mov %s,0x%" PRIx64, mem_text(m, sizeof m, ptr(w ? 8 : 4), mems[i]),
				 imm_as(imm, w));
		}
		for (size_t k = 0; k < N_IMMS; k++) {
			xe_mov_mi(b, w, XE_M(XE_R12, 8), imms[k]);
			want(&t, "mov %s,0x%" PRIx64, mem_text(m, sizeof m, ptr(w ? 8 : 4),
								XE_M(XE_R12, 8)), imm_as(imms[k], w));
		}
	}
	for (int d = 0; d < 16; d++)
		for (int s = 0; s < 16; s++) {
			xe_movsxd(b, d, s);
			want_len(&t, 3, "movsxd %s,%s", r64[d], r32[s]);
			xe_movzx8(b, d, s);
			want_len(&t, 3 + (d >= 8 || s >= 4), "movzx %s,%s", r32[d], r8[s]);
		}
	for (size_t i = 0; i < n_mems; i++) {
		enum xe_reg r = pair_reg(i);
		xe_lea(b, r, mems[i]);
		want_len(&t, 2 + modrm_len(mems[i]), "lea %s,%s", r64[r],
			 mem_text(m, sizeof m, "", mems[i]));
	}
	batch_done(&t);
}

static void test_load_store(void **state)
{
	static const struct { const char *mn; unsigned dsize, msize; bool w; } ld[] = {
		[XE_LD8S] = { "movsx", 8, 1, true },   [XE_LD8Z] = { "movzx", 4, 1, false },
		[XE_LD16S] = { "movsx", 8, 2, true },  [XE_LD16Z] = { "movzx", 4, 2, false },
		[XE_LD32S] = { "movsxd", 8, 4, true }, [XE_LD32Z] = { "mov", 4, 4, false },
		[XE_LD64] = { "mov", 8, 8, true },
	};
	struct batch t;
	char m[96];
	batch_init(&t, 0);
	struct xe_buf *b = &t.b;

	for (int k = XE_LD8S; k <= XE_LD64; k++)
		for (size_t i = 0; i < n_mems; i++) {
			enum xe_reg r = pair_reg(i + (size_t)k);
			size_t oplen = ld[k].msize <= 2 ? 2 : 1;
			xe_load(b, k, r, mems[i]);
			want_len(&t, rex_mem(ld[k].w, r, mems[i]) + oplen + modrm_len(mems[i]),
				 "%s %s,%s", ld[k].mn, rn(r, ld[k].dsize),
				 mem_text(m, sizeof m, ptr(ld[k].msize), mems[i]));
		}
	for (unsigned size = 1; size <= 8; size *= 2)
		for (size_t i = 0; i < n_mems; i++) {
			enum xe_reg r = pair_reg(i + size);
			bool rex = rex_mem(size == 8, r, mems[i]) || (size == 1 && r >= 4);
			xe_store(b, size, mems[i], r);
			want_len(&t, (size == 2) + rex + 1 + modrm_len(mems[i]), "mov %s,%s",
				 mem_text(m, sizeof m, ptr(size), mems[i]), rn(r, size));
		}
	/* Every register as the stored byte/word, on a plain base. */
	for (unsigned size = 1; size <= 8; size *= 2)
		for (int r = 0; r < 16; r++) {
			xe_store(b, size, XE_M(XE_RDI, 16), r);
			want(&t, "mov %s,%s", mem_text(m, sizeof m, ptr(size), XE_M(XE_RDI, 16)),
			     rn(r, size));
		}
	batch_done(&t);
}

static void test_shift_mul(void **state)
{
	static const char *const shift_name[8] = { "rol", "ror", NULL, NULL, "shl", "shr", NULL, "sar" };
	static const enum xe_shift shifts[] = { XE_ROL, XE_ROR, XE_SHL, XE_SHR, XE_SAR };
	static const uint8_t counts[] = { 0, 1, 2, 31, 32, 63 };
	static const enum xe_unary un[] = { XE_NOT, XE_NEG, XE_MUL, XE_IMUL1, XE_DIV, XE_IDIV };
	static const char *const un_name[8] = { NULL, NULL, "not", "neg", "mul", "imul", "div", "idiv" };
	struct batch t;
	batch_init(&t, 0);
	struct xe_buf *b = &t.b;

	for (int w = 0; w < 2; w++) {
		unsigned sz = w ? 8 : 4;
		for (int r = 0; r < 16; r++) {
			for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++) {
				for (size_t c = 0; c < sizeof counts; c++) {
					xe_shift_ri(b, shifts[s], w, r, counts[c]);
					want(&t, "%s %s,0x%x", shift_name[shifts[s]], rn(r, sz), counts[c]);
				}
				xe_shift_rcl(b, shifts[s], w, r);
				want(&t, "%s %s,cl", shift_name[shifts[s]], rn(r, sz));
			}
			for (size_t u = 0; u < sizeof un / sizeof un[0]; u++) {
				xe_unary(b, un[u], w, r);
				want(&t, "%s %s", un_name[un[u]], rn(r, sz));
			}
			for (int s = 0; s < 16; s++) {
				xe_imul_rr(b, w, r, s);
				want_len(&t, 3 + (w || r >= 8 || s >= 8), "imul %s,%s", rn(r, sz), rn(s, sz));
			}
		}
		xe_cqo(b, w);
		want(&t, "%s", w ? "cqo" : "cdq");
	}
	batch_done(&t);
}

static void test_cc(void **state)
{
	struct batch t;
	batch_init(&t, 0);
	struct xe_buf *b = &t.b;

	for (int cc = 0; cc < 16; cc++)
		for (int r = 0; r < 16; r++) {
			xe_setcc(b, cc, r);
			want_len(&t, 3 + (r >= 4), "set%s %s", cc_name[cc], r8[r]);
			for (int w = 0; w < 2; w++) {
				enum xe_reg s = (enum xe_reg)((r * 7 + cc) % 16);
				xe_cmov(b, cc, w, r, s);
				want(&t, "cmov%s %s,%s", cc_name[cc], rn(r, w ? 8 : 4), rn(s, w ? 8 : 4));
			}
		}
	batch_done(&t);
}

static void test_misc(void **state)
{
	struct batch t;
	batch_init(&t, 0);
	struct xe_buf *b = &t.b;

	for (int r = 0; r < 16; r++) {
		xe_push(b, r);
		want_len(&t, 1 + (r >= 8), "push %s", r64[r]);
		xe_pop(b, r);
		want_len(&t, 1 + (r >= 8), "pop %s", r64[r]);
		xe_jmp_r(b, r);
		want_len(&t, 2 + (r >= 8), "jmp %s", r64[r]);
		xe_call_r(b, r);
		want_len(&t, 2 + (r >= 8), "call %s", r64[r]);
	}
	xe_ret(b);
	want(&t, "ret");
	xe_int3(b);
	want(&t, "int3");
	xe_mfence(b);
	want_len(&t, 3, "mfence");
	xe_nops(b, 1);
	want_len(&t, 1, "nop");
	xe_nops(b, 3);
	want_len(&t, 3, "nop; nop; nop");
	size_t before = (size_t)(b->p - b->start);
	xe_nops(b, 0);
	assert_int_equal((size_t)(b->p - b->start), before);
	batch_done(&t);
}

/* Branches with the run address apart from the write address. */
static void branches(intptr_t run_delta)
{
	struct batch t;
	batch_init(&t, run_delta);
	struct xe_buf *b = &t.b;
	/* Offsets from the end of the rel8 form; -128/127 reach, -129/128 do not. */
	static const int64_t rel[] = { 0, 1, -2, 127, 128, -128, -129, 0x1000, -0x1000,
				       0x7fff0000, -0x7fff0000 };

	for (int cc = -1; cc < 16; cc++)
		for (size_t k = 0; k < sizeof rel / sizeof rel[0]; k++) {
			uint64_t here = (uint64_t)(uintptr_t)xe_here(b);
			assert_int_equal(here, run_addr(&t, t.mark));
			uint64_t target = here + 2 + (uint64_t)rel[k];
			bool short_ = rel[k] >= -128 && rel[k] <= 127;
			if (cc < 0) {
				xe_jmp_to(b, (const void *)(uintptr_t)target);
				want_len(&t, short_ ? 2 : 5, "jmp 0x%" PRIx64, target);
			} else {
				xe_jcc_to(b, cc, (const void *)(uintptr_t)target);
				want_len(&t, short_ ? 2 : 6, "j%s 0x%" PRIx64, cc_name[cc], target);
			}
		}

	/* rel32 forms, patched forwards, backwards and to the next instruction. */
	for (int cc = -1; cc < 16; cc++)
		for (int k = 0; k < 3; k++) {
			uint8_t *start = b->p;
			uint8_t *field = cc < 0 ? xe_jmp(b) : xe_jcc(b, cc);
			size_t len = cc < 0 ? 5 : 6;
			assert_ptr_equal(field, start + len - 4);
			uint64_t next = (uint64_t)(uintptr_t)start + (uint64_t)run_delta + len;
			uint64_t target = k == 0 ? next + 0x12345 : k == 1 ? next - 0x7654321 : next;
			if (k != 2)
				xe_patch_rel32(field, run_delta, (const void *)(uintptr_t)target);
			if (cc < 0)
				want_len(&t, len, "jmp 0x%" PRIx64, target);
			else
				want_len(&t, len, "j%s 0x%" PRIx64, cc_name[cc], target);
		}

	/* call: rel32 within reach of the run address, else through rax. */
	uint64_t low = 0x1000, kernelish = 0xffffffff80001000u;
	for (int k = 0; k < 7; k++) {
		uint64_t end = (uint64_t)(uintptr_t)xe_here(b) + 5;
		uint64_t targets[] = { end + INT32_MAX, end + (uint64_t)INT32_MAX + 1,
				       end - 0x80000000u, end - 0x80000001u, low, kernelish, end };
		uint64_t target = targets[k];
		int64_t d = (int64_t)(target - end);
		xe_call(b, (const void *)(uintptr_t)target);
		if (d >= INT32_MIN && d <= INT32_MAX) {
			want_len(&t, 5, "call 0x%" PRIx64, target);
		} else {
			char txt[96];
			size_t len;
			mov_ri_text(txt, sizeof txt, XE_RAX, target, &len);
			want_len(&t, len + 2, "%s; call rax", txt);
		}
	}
	batch_done(&t);
}

static void test_branches(void **state)
{
	branches(0);
	branches(0x10000);
	branches(-0x123450);
}

/* Emitters for the overflow test: one of every kind of form. */
static void e_alu_rr(struct xe_buf *b) { xe_alu_rr(b, XE_ADD, true, XE_R12, XE_RSP); }
static void e_alu_mi(struct xe_buf *b) { xe_alu_mi(b, XE_CMP, true, XE_MX(XE_R13, XE_R12, 8, 1 << 20), 1 << 20); }
static void e_mov_ri(struct xe_buf *b) { xe_mov_ri(b, XE_R9, 0x8000000000000000u); }
static void e_store1(struct xe_buf *b) { xe_store(b, 1, XE_M(XE_RSP, 0), XE_RSI); }
static void e_store2(struct xe_buf *b) { xe_store(b, 2, XE_M(XE_RBP, 0), XE_R8); }
static void e_load(struct xe_buf *b) { xe_load(b, XE_LD16S, XE_R15, XE_M(XE_R12, -1)); }
static void e_setcc(struct xe_buf *b) { xe_setcc(b, XE_CC_NE, XE_RDI); }
static void e_cqo(struct xe_buf *b) { xe_cqo(b, true); }
/* The rel32 forms return NULL exactly when they wrote nothing. */
static void e_jcc(struct xe_buf *b) { uint8_t *f = xe_jcc(b, XE_CC_E); assert_true(!f == b->overflow); }
static void e_jmp(struct xe_buf *b) { uint8_t *f = xe_jmp(b); assert_true(!f == b->overflow); }
static void e_jmp_to(struct xe_buf *b) { xe_jmp_to(b, xe_here(b)); }
static void e_call(struct xe_buf *b) { xe_call(b, xe_here(b)); }
static void e_call_far(struct xe_buf *b) { xe_call(b, (const void *)(uintptr_t)0x123456789abcdefu); }
static void e_push(struct xe_buf *b) { xe_push(b, XE_R15); }
static void e_ret(struct xe_buf *b) { xe_ret(b); }
static void e_nops(struct xe_buf *b) { xe_nops(b, 4); }

static void (*const emitters[])(struct xe_buf *) = {
	e_alu_rr, e_alu_mi, e_mov_ri, e_store1, e_store2, e_load, e_setcc, e_cqo, e_jcc, e_jmp,
	e_jmp_to, e_call, e_call_far, e_push, e_ret, e_nops,
};

#define GUARD 32

static uint8_t *guarded(size_t size)
{
	uint8_t *mem = malloc(size + GUARD);
	assert_non_null(mem);
	memset(mem, 0xaa, size + GUARD);
	return mem;
}

static void assert_untouched(const uint8_t *mem, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (mem[i] != 0xaa)
			fail_msg("byte %zu written (0x%02x)", i, mem[i]);
}

/* Under 15 bytes of room nothing is written; the guard past end never is. */
static void test_overflow(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 5, 10, 14 };
	for (size_t e = 0; e < sizeof emitters / sizeof emitters[0]; e++) {
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			uint8_t *mem = guarded(sizes[s]);
			struct xe_buf b;
			xe_init(&b, mem, sizes[s], 0x10000);
			emitters[e](&b);
			assert_true(b.overflow);
			assert_ptr_equal(b.p, mem);
			assert_untouched(mem, 0, sizes[s] + GUARD);
			free(mem);
		}
		/* With 15 bytes the emit fits, except the far call's second instruction
		 * and the nops after the first (each needs 15 bytes of room). */
		uint8_t *mem = guarded(15);
		struct xe_buf b;
		xe_init(&b, mem, 15, 0);
		emitters[e](&b);
		assert_true(b.p <= b.end);
		assert_untouched(mem, 15, 15 + GUARD);
		assert_true(b.overflow == (emitters[e] == e_call_far || emitters[e] == e_nops));
		free(mem);
	}

	/* Fill a buffer: whole instructions only, then nothing more, even small ones. */
	size_t size = 103;
	uint8_t *mem = guarded(size);
	struct xe_buf b;
	xe_init(&b, mem, size, 0);
	unsigned n = 0;
	while (!b.overflow) {
		e_mov_ri(&b);
		n++;
	}
	assert_int_equal(b.p - mem, 10 * (n - 1));
	assert_true(b.end - b.p < 15);
	uint8_t *p = b.p;
	xe_ret(&b);
	xe_nops(&b, 3);
	assert_null(xe_jcc(&b, XE_CC_E));
	assert_ptr_equal(b.p, p);
	assert_untouched(mem, (size_t)(p - mem), size + GUARD);
	free(mem);
}

/* Operands x86 cannot encode: nothing written, buffer marked. */
static void test_bad_operands(void **state)
{
	uint8_t *mem = guarded(64);
	struct xe_buf b;

	xe_init(&b, mem, 64, 0);
	xe_lea(&b, XE_RAX, XE_MX(XE_RAX, XE_RSP, 1, 0));
	assert_true(b.overflow);
	xe_init(&b, mem, 64, 0);
	xe_load(&b, XE_LD64, XE_RAX, XE_M(XE_NOREG, 16));
	assert_true(b.overflow);
	xe_init(&b, mem, 64, 0);
	xe_store(&b, 4, XE_MX(XE_RAX, XE_RCX, 3, 0), XE_RDX);
	assert_true(b.overflow);
	xe_init(&b, mem, 64, 0);
	xe_store(&b, 3, XE_M(XE_RAX, 0), XE_RDX);
	assert_true(b.overflow);
	xe_init(&b, mem, 64, 0);
	xe_jmp_to(&b, (const void *)((uintptr_t)xe_here(&b) + 5 + (uintptr_t)INT32_MAX + 1));
	assert_true(b.overflow);
	xe_init(&b, mem, 64, 0);
	xe_jcc_to(&b, XE_CC_E, (const void *)((uintptr_t)xe_here(&b) + 6 - (uintptr_t)INT32_MAX - 2));
	assert_true(b.overflow);
	assert_untouched(mem, 0, 64 + GUARD);

	/* The edges of rel32 reach still encode. */
	xe_init(&b, mem, 64, 0);
	xe_jmp_to(&b, (const void *)((uintptr_t)xe_here(&b) + 5 + (uintptr_t)INT32_MAX));
	xe_jcc_to(&b, XE_CC_E, (const void *)((uintptr_t)xe_here(&b) + 6 - (uintptr_t)INT32_MAX - 1));
	assert_false(b.overflow);
	assert_int_equal(b.p - mem, 11);
	free(mem);
}

static int setup(void **state)
{
	build_mems();
	return 0;
}

static int report(void **state)
{
	print_message("x86enc: %lu encodings (%lu instructions) matched objdump\n", n_checked, n_insns);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alu),
		cmocka_unit_test(test_mov),
		cmocka_unit_test(test_load_store),
		cmocka_unit_test(test_shift_mul),
		cmocka_unit_test(test_cc),
		cmocka_unit_test(test_misc),
		cmocka_unit_test(test_branches),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_bad_operands),
	};
	return cmocka_run_group_tests(tests, setup, report);
}
