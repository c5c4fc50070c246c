/*
 * test_disasm.c - the disassembler (src/cpu/disasm.c): a corpus of RV64I, M,
 * A, F, D, Zicsr, Zifencei, privileged and compressed encodings with their
 * expected text (the encodings come from GNU as, -march=rv64gc; the texts
 * agree with objdump -M no-aliases except where noted), the pseudo-instruction
 * forms, compressed instructions printing as their 32-bit expansions, buffer
 * handling, and a sweep: all 2^16 compressed values and millions of random
 * 32-bit words return a length of 2 or 4 and a terminated text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/disasm.h"

#define PC 0x80000000ull

struct ex {
	uint32_t raw;
	const char *text;
};

/* Base forms (DISASM_NO_ALIASES), at PC. */
static const struct ex base[] = {
	/* RV64I */
	{ 0x00150513, "addi a0,a0,1" },
	{ 0xffb00513, "addi a0,zero,-5" },
	{ 0x00000013, "addi zero,zero,0" },
	{ 0x02079793, "slli a5,a5,0x20" },
	{ 0x4037d793, "srai a5,a5,0x3" },
	{ 0x01f5d51b, "srliw a0,a1,0x1f" },
	{ 0x80000537, "lui a0,0x80000" },
	{ 0xfffff537, "lui a0,0xfffff" },
	{ 0x00001297, "auipc t0,0x1" },
	{ 0x0ae63603, "ld a2,174(a2)" },
	{ 0xfe113c23, "sd ra,-8(sp)" },
	{ 0x0003c303, "lbu t1,0(t2)" },
	{ 0x00008067, "jalr zero,0(ra)" },
	{ 0x008280e7, "jalr ra,8(t0)" },
	{ 0x004000ef, "jal ra,0x80000004" },
	{ 0xfe1ff06f, "jal zero,0x7fffffe0" },
	{ 0x00b50063, "beq a0,a1,0x80000000" },
	{ 0xfef4e5e3, "bltu s1,a5,0x7fffffea" },
	{ 0x10c7f063, "bgeu a5,a2,0x80000100" },
	{ 0xfff53513, "sltiu a0,a0,-1" },
	{ 0xfff54513, "xori a0,a0,-1" },
	{ 0x40c5053b, "subw a0,a0,a2" },
	{ 0x40c5553b, "sraw a0,a0,a2" },
	{ 0x01ff0fb3, "add t6,t5,t6" },
	/* M */
	{ 0x02c50533, "mul a0,a0,a2" },
	{ 0x02c52533, "mulhsu a0,a0,a2" },
	{ 0x02c5753b, "remuw a0,a0,a2" },
	/* A */
	{ 0x06b6252f, "amoadd.w.aqrl a0,a1,(a2)" },
	{ 0x0cb6352f, "amoswap.d.aq a0,a1,(a2)" },
	{ 0xe2b6252f, "amomaxu.w.rl a0,a1,(a2)" },
	{ 0x1005b52f, "lr.d a0,(a1)" },
	{ 0x1405a52f, "lr.w.aq a0,(a1)" },
	{ 0x18c5b52f, "sc.d a0,a2,(a1)" },
	{ 0x1ac5a52f, "sc.w.rl a0,a2,(a1)" },
	/* F, D */
	{ 0x02c5f553, "fadd.d fa0,fa1,fa2" },
	{ 0x02c59553, "fadd.d fa0,fa1,fa2,rtz" },
	{ 0xc2051553, "fcvt.w.d a0,fa0,rtz" },
	{ 0xd2050553, "fcvt.d.w fa0,a0" },
	{ 0x42058553, "fcvt.d.s fa0,fa1" },
	{ 0x4015f553, "fcvt.s.d fa0,fa1" },
	{ 0x6ac5f543, "fmadd.d fa0,fa1,fa2,fa3" },
	{ 0x1820804b, "fnmsub.s ft0,ft1,ft2,ft3,rne" },
	{ 0x5a04f453, "fsqrt.d fs0,fs1" },
	{ 0xe20f8553, "fmv.x.d a0,ft11" },
	{ 0xf0050053, "fmv.w.x ft0,a0" },
	{ 0xe0051553, "fclass.s a0,fa0" },
	{ 0xa2b52553, "feq.d a0,fa0,fa1" },
	{ 0x22b58553, "fsgnj.d fa0,fa1,fa1" },
	{ 0x00452007, "flw ft0,4(a0)" },
	{ 0xfe813827, "fsd fs0,-16(sp)" },
	{ 0x2ac58553, "fmin.d fa0,fa1,fa2" },
	{ 0xc0357553, "fcvt.lu.s a0,fa0" },
	{ 0xd0357553, "fcvt.s.lu fa0,a0" },
	{ 0xc2050553, "fcvt.w.d a0,fa0,rne" },
	{ 0xd2250553, "fcvt.d.l fa0,a0,rne" },
	/* Zicsr */
	{ 0x30002573, "csrrs a0,mstatus,zero" },
	{ 0x18051073, "csrrw zero,satp,a0" },
	{ 0x30045073, "csrrwi zero,mstatus,8" },
	{ 0x7c002573, "csrrs a0,0x7c0,zero" },
	{ 0x0015b573, "csrrc a0,fflags,a1" },
	{ 0xc0002573, "csrrs a0,cycle,zero" },
	{ 0x1205f073, "csrrci zero,0x120,11" },
	{ 0x3b2022f3, "csrrs t0,pmpaddr2,zero" },   /* objdump names these too */
	{ 0x30a027f3, "csrrs a5,menvcfg,zero" },    /* objdump 2.40: 0x30a */
	/* Zifencei, fences, privileged */
	{ 0x0330000f, "fence rw,rw" },
	{ 0x0ff0000f, "fence iorw,iorw" },
	{ 0x8330000f, "fence.tso" },
	{ 0x0120000f, "fence w,r" },
	{ 0x0000100f, "fence.i" },
	{ 0x00000073, "ecall" },
	{ 0x00100073, "ebreak" },
	{ 0x30200073, "mret" },
	{ 0x10200073, "sret" },
	{ 0x10500073, "wfi" },
	{ 0x12000073, "sfence.vma zero,zero" },
	{ 0x12b50073, "sfence.vma a0,a1" },
	/* Compressed: the 32-bit instruction they execute as. */
	{ 0x0505, "addi a0,a0,1" },              /* c.addi */
	{ 0x1141, "addi sp,sp,-16" },            /* c.addi */
	{ 0x4515, "addi a0,zero,5" },            /* c.li */
	{ 0x852e, "add a0,zero,a1" },            /* c.mv */
	{ 0x952e, "add a0,a0,a1" },              /* c.add */
	{ 0xa001, "jal zero,0x80000000" },       /* c.j . */
	{ 0x8082, "jalr zero,0(ra)" },           /* c.jr ra */
	{ 0x9502, "jalr ra,0(a0)" },             /* c.jalr a0 */
	{ 0xc101, "beq a0,zero,0x80000000" },    /* c.beqz a0 */
	{ 0x657d, "lui a0,0x1f" },               /* c.lui */
	{ 0x7505, "lui a0,0xfffe1" },            /* c.lui, negative */
	{ 0x7139, "addi sp,sp,-64" },            /* c.addi16sp */
	{ 0x0808, "addi a0,sp,16" },             /* c.addi4spn */
	{ 0x60a2, "ld ra,8(sp)" },               /* c.ldsp */
	{ 0xe406, "sd ra,8(sp)" },               /* c.sdsp */
	{ 0x2522, "fld fa0,8(sp)" },             /* c.fldsp */
	{ 0x810d, "srli a0,a0,0x3" },            /* c.srli */
	{ 0x997d, "andi a0,a0,-1" },             /* c.andi */
	{ 0x9d0d, "subw a0,a0,a1" },             /* c.subw */
	{ 0x0001, "addi zero,zero,0" },          /* c.nop */
	{ 0x9002, "ebreak" },                    /* c.ebreak */
	{ 0x157e, "slli a0,a0,0x3f" },           /* c.slli */
	{ 0x6588, "ld a0,8(a1)" },               /* c.ld */
	{ 0x357d, "addiw a0,a0,-1" },            /* c.addiw */
	{ 0x3de8, "fld fa0,248(a1)" },           /* c.fld */
	{ 0xa40c, "fsd fa1,8(s0)" },             /* c.fsd */
	/* Illegal */
	{ 0x0000, ".insn 0x0000" },
	{ 0x6001, ".insn 0x6001" },              /* c.lui with a zero immediate: reserved */
	{ 0xffffffff, ".insn 0xffffffff" },
	{ 0x0000707f, ".insn 0x0000707f" },
	{ 0x00004073, ".insn 0x00004073" },      /* SYSTEM funct3 4 */
};

/* Default form: pseudo-instructions where they apply. */
static const struct ex alias[] = {
	{ 0x00000013, "nop" },
	{ 0x0001, "nop" },
	{ 0xffb00513, "li a0,-5" },
	{ 0x4515, "li a0,5" },
	{ 0x00058513, "mv a0,a1" },
	{ 0x852e, "mv a0,a1" },
	{ 0x00008067, "ret" },
	{ 0x8082, "ret" },
	{ 0x00028067, "jr t0" },
	{ 0x000280e7, "jalr t0" },
	{ 0xfe1ff06f, "j 0x7fffffe0" },
	{ 0x004000ef, "jal 0x80000004" },
	{ 0x00050463, "beqz a0,0x80000008" },
	{ 0x00051463, "bnez a0,0x80000008" },
	{ 0xc101, "beqz a0,0x80000000" },
	{ 0x0005051b, "sext.w a0,a0" },
	{ 0xfff54513, "not a0,a0" },
	{ 0x40a00533, "neg a0,a0" },
	{ 0x30002573, "csrr a0,mstatus" },
	{ 0x18051073, "csrw satp,a0" },
	/* Not pseudo-instructions: the base form. */
	{ 0x00150513, "addi a0,a0,1" },
	{ 0x008280e7, "jalr ra,8(t0)" },
	{ 0x00b50063, "beq a0,a1,0x80000000" },
	{ 0x02c50533, "mul a0,a0,a2" },
	{ 0x00f6f463, "bgeu a3,a5,0x80000008" },
};

static void check(const struct ex *v, size_t n, unsigned flags)
{
	for (size_t i = 0; i < n; i++) {
		char buf[96];
		int want_len = (v[i].raw & 3) == 3 ? 4 : 2;
		memset(buf, 'x', sizeof(buf));
		int rc = disasm_insn_flags(v[i].raw, PC, flags, buf, sizeof(buf));
		if (rc != want_len || strcmp(buf, v[i].text))
			print_error("0x%08x: got %d '%s', want %d '%s'\n", v[i].raw, rc, buf, want_len,
				    v[i].text);
		assert_int_equal(rc, want_len);
		assert_string_equal(buf, v[i].text);
	}
}

static void test_base_forms(void **state)
{
	(void)state;
	check(base, sizeof(base) / sizeof(base[0]), DISASM_NO_ALIASES);
}

static void test_pseudo_instructions(void **state)
{
	(void)state;
	check(alias, sizeof(alias) / sizeof(alias[0]), 0);
	/* disasm_insn is the default form. */
	char buf[64];
	assert_int_equal(disasm_insn(0x00008067, 0, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "ret");
}

/* Compressed forms and their expansions print the same (pairs from GNU as). */
static void test_compressed_as_expansion(void **state)
{
	static const struct { uint16_t c; uint32_t full; } pairs[] = {
		{ 0x1fe8, 0x3fc10513 }, { 0x5ef0, 0x07c6a603 }, { 0x7ff8, 0x0f87b703 },
		{ 0xa40c, 0x00b43427 }, { 0x1141, 0xff010113 }, { 0x357d, 0xfff5051b },
		{ 0x6141, 0x01010113 }, { 0x8d05, 0x40950533 }, { 0x9d2d, 0x00b5053b },
		{ 0x60a2, 0x00813083 }, { 0xe406, 0x00113423 }, { 0x4522, 0x00812503 },
		{ 0xc22a, 0x00a12223 }, { 0x0506, 0x00151513 }, { 0x8905, 0x00157513 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char a[96], b[96];
		assert_int_equal(disasm_insn_flags(pairs[i].c, PC, DISASM_NO_ALIASES, a, sizeof(a)), 2);
		assert_int_equal(disasm_insn_flags(pairs[i].full, PC, DISASM_NO_ALIASES, b, sizeof(b)),
				 4);
		assert_string_equal(a, b);
		assert_int_equal(disasm_insn(pairs[i].c, PC, a, sizeof(a)), 2);
		assert_int_equal(disasm_insn(pairs[i].full, PC, b, sizeof(b)), 4);
		assert_string_equal(a, b);
	}
	/* Only the low 16 bits of a compressed word count. */
	char a[64], b[64];
	assert_int_equal(disasm_insn(0xdead0505, PC, a, sizeof(a)), 2);
	assert_int_equal(disasm_insn(0x0505, PC, b, sizeof(b)), 2);
	assert_string_equal(a, b);
}

static void test_buffer_handling(void **state)
{
	char buf[8];
	(void)state;
	assert_int_equal(disasm_insn(0x00150513, PC, NULL, 16), -EINVAL);
	assert_int_equal(disasm_insn(0x00150513, PC, buf, 0), -EINVAL);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(disasm_insn(0x06b6252f, PC, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(buf[7], 0);
	assert_string_equal(buf, "amoadd.");
	assert_int_equal(disasm_insn(0x06b6252f, PC, buf, 1), -ENOSPC);
	assert_int_equal(buf[0], 0);
	/* Exactly fitting: "ecall" and its NUL. */
	assert_int_equal(disasm_insn(0x00000073, PC, buf, 6), 4);
	assert_string_equal(buf, "ecall");
	assert_int_equal(disasm_insn(0x00000073, PC, buf, 5), -ENOSPC);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(disasm_xreg(0), "zero");
	assert_string_equal(disasm_xreg(8), "s0");
	assert_string_equal(disasm_xreg(31), "t6");
	assert_string_equal(disasm_freg(10), "fa0");
	assert_string_equal(disasm_freg(27), "fs11");
	assert_string_equal(disasm_csr_name(0x180), "satp");
	assert_string_equal(disasm_csr_name(0x14d), "stimecmp");
	assert_null(disasm_csr_name(0x7c0));
}

static bool text_ok(const char *buf, size_t len)
{
	size_t n = strnlen(buf, len);
	if (n == 0 || n == len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (buf[i] < ' ' || buf[i] > '~')
			return false;
	return true;
}

static void test_every_16bit_value(void **state)
{
	unsigned legal = 0;
	(void)state;
	for (uint32_t v = 0; v < 0x10000; v++) {
		char buf[96];
		int rc = disasm_insn_flags(v, PC, (v & 1) ? DISASM_NO_ALIASES : 0, buf, sizeof(buf));
		assert_int_equal(rc, (v & 3) == 3 ? 4 : 2);
		assert_true(text_ok(buf, sizeof(buf)));
		legal += strncmp(buf, ".insn", 5) != 0;
	}
	/* Most of quadrants 0-2 are legal; quadrant 3 (32-bit) mostly is not with zero upper bits. */
	assert_true(legal > 40000);
}

static void test_random_32bit_values(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned illegal = 0;
	const unsigned n = 4000000;
	(void)state;
	for (unsigned i = 0; i < n; i++) {
		char buf[96];
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t raw = (uint32_t)(x >> 16);
		int rc = disasm_insn_flags(raw, x, (unsigned)(x >> 60) & 1, buf, sizeof(buf));
		assert_int_equal(rc, (raw & 3) == 3 ? 4 : 2);
		assert_true(text_ok(buf, sizeof(buf)));
		illegal += !strncmp(buf, ".insn", 5);
	}
	/* Both outcomes occur: the sweep reaches the decoder's legal and illegal paths. */
	assert_true(illegal > n / 10 && illegal < n - n / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_forms),
		cmocka_unit_test(test_pseudo_instructions),
		cmocka_unit_test(test_compressed_as_expansion),
		cmocka_unit_test(test_buffer_handling),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_every_16bit_value),
		cmocka_unit_test(test_random_32bit_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
