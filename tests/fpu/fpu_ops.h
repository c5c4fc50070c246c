/*
 * fpu_ops.h - the operation table shared by the differential test's host
 * driver (fpu_diff.c) and its riscv64 oracle (oracle.c), so both sides number
 * the operations the same way.
 *
 * X(name, kind): kind tells the generator which operands are meaningful:
 *   S1/S2/S3 single operands, D1/D2/D3 double operands, I integer source.
 */
#ifndef VMX_TESTS_FPU_OPS_H
#define VMX_TESTS_FPU_OPS_H

#include <stdint.h>

#define FPU_DIFF_OPS(X) \
	X(add_s, S2) X(sub_s, S2) X(mul_s, S2) X(div_s, S2) X(sqrt_s, S1) \
	X(fmadd_s, S3) X(fmsub_s, S3) X(fnmsub_s, S3) X(fnmadd_s, S3) \
	X(min_s, S2) X(max_s, S2) X(eq_s, S2) X(lt_s, S2) X(le_s, S2) X(class_s, S1) \
	X(add_d, D2) X(sub_d, D2) X(mul_d, D2) X(div_d, D2) X(sqrt_d, D1) \
	X(fmadd_d, D3) X(fmsub_d, D3) X(fnmsub_d, D3) X(fnmadd_d, D3) \
	X(min_d, D2) X(max_d, D2) X(eq_d, D2) X(lt_d, D2) X(le_d, D2) X(class_d, D1) \
	X(cvt_d_s, S1) X(cvt_s_d, D1) \
	X(cvt_w_s, S1) X(cvt_wu_s, S1) X(cvt_l_s, S1) X(cvt_lu_s, S1) \
	X(cvt_w_d, D1) X(cvt_wu_d, D1) X(cvt_l_d, D1) X(cvt_lu_d, D1) \
	X(cvt_s_w, I) X(cvt_s_wu, I) X(cvt_s_l, I) X(cvt_s_lu, I) \
	X(cvt_d_w, I) X(cvt_d_wu, I) X(cvt_d_l, I) X(cvt_d_lu, I)

enum fpu_diff_op {
#define FPU_DIFF_ENUM(n, k) OP_##n,
	FPU_DIFF_OPS(FPU_DIFF_ENUM)
#undef FPU_DIFF_ENUM
	OP_COUNT
};

/* One test case, and the oracle's answer (little-endian, both sides). */
struct fpu_diff_rec {
	uint32_t op, rm;
	uint64_t a, b, c;
};

struct fpu_diff_res {
	uint64_t val;
	uint32_t flags, pad;
};

#endif
