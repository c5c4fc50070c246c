/*
 * test_decode.c - the decoder (src/cpu/decode.c): every compressed form
 * decodes to the same operation, registers and immediate as its 32-bit
 * expansion, reserved compressed encodings are illegal, and writes to x0 go
 * to the sink register.  The encoding pairs were produced by GNU as
 * (riscv64-unknown-elf-as, -march=rv64gc, .option rvc / norvc), including
 * the extreme immediates of each format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include "cpu/hart_int.h"

struct pair {
	uint16_t c;
	uint32_t full;
	const char *text;
};

static const struct pair pairs[] = {
	{ 0x1fe8, 0x3fc10513, "c.addi4spn a0, sp, 1020" },
	{ 0x0048, 0x00410513, "c.addi4spn a0, sp, 4" },
	{ 0x3de8, 0x0f85b507, "c.fld fa0, 248(a1)" },
	{ 0x5ef0, 0x07c6a603, "c.lw a2, 124(a3)" },
	{ 0x7ff8, 0x0f87b703, "c.ld a4, 248(a5)" },
	{ 0xa40c, 0x00b43427, "c.fsd fa1, 8(s0)" },
	{ 0xc124, 0x04952023, "c.sw s1, 64(a0)" },
	{ 0xe20c, 0x00b63023, "c.sd a1, 0(a2)" },
	{ 0x0001, 0x00000013, "c.nop" },
	{ 0x1501, 0xfe050513, "c.addi a0, -32" },
	{ 0x057d, 0x01f50513, "c.addi a0, 31" },
	{ 0x35fd, 0xfff5859b, "c.addiw a1, -1" },
	{ 0x5601, 0xfe000613, "c.li a2, -32" },
	{ 0x467d, 0x01f00613, "c.li a2, 31" },
	{ 0x7101, 0xe0010113, "c.addi16sp sp, -512" },
	{ 0x617d, 0x1f010113, "c.addi16sp sp, 496" },
	{ 0x7681, 0xfffe06b7, "c.lui a3, 0xfffe0" },
	{ 0x66fd, 0x0001f6b7, "c.lui a3, 0x1f" },
	{ 0x937d, 0x03f75713, "c.srli a4, 63" },
	{ 0x8785, 0x4017d793, "c.srai a5, 1" },
	{ 0x9801, 0xfe047413, "c.andi s0, -32" },
	{ 0x8c89, 0x40a484b3, "c.sub s1, a0" },
	{ 0x8e35, 0x00d64633, "c.xor a2, a3" },
	{ 0x8f5d, 0x00f76733, "c.or a4, a5" },
	{ 0x8c65, 0x00947433, "c.and s0, s1" },
	{ 0x9d0d, 0x40b5053b, "c.subw a0, a1" },
	{ 0x9e35, 0x00d6063b, "c.addw a2, a3" },
	{ 0xb001, 0x801ff06f, "c.j .-2048" },
	{ 0xaffd, 0x7fe0006f, "c.j .+2046" },
	{ 0xa02d, 0x02a0006f, "c.j .+0x2a" },
	{ 0xd101, 0xf00500e3, "c.beqz a0, .-256" },
	{ 0xedfd, 0x0e059f63, "c.bnez a1, .+254" },
	{ 0xe1b9, 0x04059363, "c.bnez a1, .+0x46" },
	{ 0x157e, 0x03f51513, "c.slli a0, 63" },
	{ 0x0286, 0x00129293, "c.slli t0, 1" },
	{ 0x367e, 0x1f813607, "c.fldsp fa2, 504(sp)" },
	{ 0x557e, 0x0fc12503, "c.lwsp a0, 252(sp)" },
	{ 0x75fe, 0x1f813583, "c.ldsp a1, 504(sp)" },
	{ 0x6fa2, 0x00813f83, "c.ldsp t6, 8(sp)" },
	{ 0x8082, 0x00008067, "c.jr ra" },
	{ 0x852e, 0x00b00533, "c.mv a0, a1" },
	{ 0x9002, 0x00100073, "c.ebreak" },
	{ 0x9502, 0x000500e7, "c.jalr a0" },
	{ 0x952e, 0x00b50533, "c.add a0, a1" },
	{ 0xbfb6, 0x1ed13c27, "c.fsdsp fa3, 504(sp)" },
	{ 0xdfb2, 0x0ec12e23, "c.swsp a2, 252(sp)" },
	{ 0xffb6, 0x1ed13c23, "c.sdsp a3, 504(sp)" },
	{ 0xe07e, 0x01f13023, "c.sdsp t6, 0(sp)" },
};

/* Names the instruction when a field differs. */
#define CHECK_EQ(a, b, text) do { \
		if ((uint64_t)(a) != (uint64_t)(b)) \
			print_message("mismatch in %s: %s\n", text, #a); \
		assert_int_equal(a, b); \
	} while (0)

static void test_compressed_matches_expansion(void **state)
{
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct dinsn c, f;
		decode_insn(&c, pairs[i].c);
		decode_insn(&f, pairs[i].full);
		CHECK_EQ(c.op != OP_ILLEGAL, 1, pairs[i].text);
		CHECK_EQ(c.op, f.op, pairs[i].text);
		CHECK_EQ(c.len, 2, pairs[i].text);
		CHECK_EQ(f.len, 4, pairs[i].text);
		CHECK_EQ(c.imm, f.imm, pairs[i].text);
		/* register fields that the op does not use may differ */
		bool writes = c.op != OP_SB && c.op != OP_SH && c.op != OP_SW && c.op != OP_SD &&
			      c.op != OP_FSD && c.op != OP_BEQ && c.op != OP_BNE && c.op != OP_EBREAK;
		if (writes)
			CHECK_EQ(c.rd, f.rd, pairs[i].text);
		if (c.op != OP_LUI && c.op != OP_JAL && c.op != OP_EBREAK)
			CHECK_EQ(c.rs1, f.rs1, pairs[i].text);
		if (c.op != OP_ADDI && c.op != OP_ADDIW && c.op != OP_SLLI && c.op != OP_SRLI &&
		    c.op != OP_SRAI && c.op != OP_ANDI && c.op != OP_LUI && c.op != OP_JAL &&
		    c.op != OP_JALR && c.op != OP_EBREAK && c.op != OP_LW && c.op != OP_LD &&
		    c.op != OP_FLD)
			CHECK_EQ(c.rs2, f.rs2, pairs[i].text);
		CHECK_EQ(c.raw, pairs[i].c, pairs[i].text);
	}
}

static void test_reserved_compressed_are_illegal(void **state)
{
	static const uint16_t bad[] = {
		0x0000,   /* all zero */
		0x0004,   /* c.addi4spn with zero immediate */
		0x6081,   /* c.lui with zero immediate */
		0x6101,   /* c.addi16sp with zero immediate */
		0x4002,   /* c.lwsp rd = x0 */
		0x6002,   /* c.ldsp rd = x0 */
		0x8002,   /* c.jr rs1 = x0 */
		0x2001,   /* c.addiw rd = x0 */
		0x8000,   /* quadrant 0, funct3 100 */
		0x9c41,   /* reserved arithmetic form */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dinsn d;
		decode_insn(&d, bad[i]);
		if (d.op != OP_ILLEGAL)
			print_message("0x%04x decoded as op %u\n", bad[i], d.op);
		assert_int_equal(d.op, OP_ILLEGAL);
		assert_int_equal(d.raw, bad[i]);
	}
}

static void test_illegal_32bit_and_x0_sink(void **state)
{
	struct dinsn d;
	decode_insn(&d, 0xffffffffu);
	assert_int_equal(d.op, OP_ILLEGAL);
	assert_int_equal(d.raw, 0xffffffffu);
	decode_insn(&d, 0x02a00013u);   /* addi x0, x0, 42 */
	assert_int_equal(d.op, OP_ADDI);
	assert_int_equal(d.rd, 32);
	decode_insn(&d, 0x00003003u);   /* ld x0, 0(x0): still a load, result dropped */
	assert_int_equal(d.op, OP_LD);
	assert_int_equal(d.rd, 32);
	decode_insn(&d, 0x00003007u);   /* fld f0, 0(x0): f0 is a real register */
	assert_int_equal(d.op, OP_FLD);
	assert_int_equal(d.rd, 0);
	decode_insn(&d, 0x00001073u | 0x340u << 20);   /* csrrw x0, mscratch, x0 */
	assert_int_equal(d.op, OP_CSRRW);
	assert_int_equal(d.csr, 0x340);
	assert_int_equal(d.rd, 32);
	decode_insn(&d, 0x12000073u);   /* sfence.vma x0, x0 */
	assert_int_equal(d.op, OP_SFENCE_VMA);
	decode_insn(&d, 0x12000173u);   /* sfence.vma with rd != 0 is reserved */
	assert_int_equal(d.op, OP_ILLEGAL);
	decode_insn(&d, 0x00503027u);   /* fsd with reserved width? no: fsd f5, 0(x0) */
	assert_int_equal(d.op, OP_FSD);
	decode_insn(&d, 0x00504027u);   /* store-fp with width 100: illegal */
	assert_int_equal(d.op, OP_ILLEGAL);
}

static void test_block_enders(void **state)
{
	assert_true(decode_ends_block(OP_JAL));
	assert_true(decode_ends_block(OP_CSRRS));
	assert_true(decode_ends_block(OP_ECALL));
	assert_true(decode_ends_block(OP_FENCE_I));
	/* conditional branches are side exits, not block ends */
	assert_false(decode_ends_block(OP_BEQ));
	assert_false(decode_ends_block(OP_ADD));
	assert_false(decode_ends_block(OP_SD));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compressed_matches_expansion),
		cmocka_unit_test(test_reserved_compressed_are_illegal),
		cmocka_unit_test(test_illegal_32bit_and_x0_sink),
		cmocka_unit_test(test_block_enders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
