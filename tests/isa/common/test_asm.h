/*
 * test_asm.h - constants and register save macros shared by crt0.S and C.
 */
#ifndef ISA_TEST_ASM_H
#define ISA_TEST_ASM_H

#define MSTATUS_SIE 0x2
#define MSTATUS_MIE 0x8
#define MSTATUS_SPIE 0x20
#define MSTATUS_MPIE 0x80
#define MSTATUS_SPP 0x100
#define MSTATUS_MPP 0x1800
#define MSTATUS_FS 0x6000
#define MSTATUS_FS_INITIAL 0x2000
#define MSTATUS_MPRV 0x20000
#define MSTATUS_SUM 0x40000
#define MSTATUS_MXR 0x80000

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_ECALL_U 8
#define CAUSE_ECALL_S 9
#define CAUSE_ECALL_M 11
#define CAUSE_FETCH_PAGE 12
#define CAUSE_LOAD_PAGE 13
#define CAUSE_STORE_PAGE 15

/* a7 value of the ecall that ends run_in_mode(). */
#define ECALL_EXIT_M 0x7e57

/* Frame: x0..x31 at 8*i, then mepc, mcause, mtval, mstatus. */
#define FRAME_SIZE (36 * 8)

#ifdef __ASSEMBLER__
	.macro SAVE_GPRS base
	sd x1, 1*8(\base)
	sd x3, 3*8(\base)
	sd x4, 4*8(\base)
	sd x5, 5*8(\base)
	sd x6, 6*8(\base)
	sd x7, 7*8(\base)
	sd x8, 8*8(\base)
	sd x9, 9*8(\base)
	sd x10, 10*8(\base)
	sd x11, 11*8(\base)
	sd x12, 12*8(\base)
	sd x13, 13*8(\base)
	sd x14, 14*8(\base)
	sd x15, 15*8(\base)
	sd x16, 16*8(\base)
	sd x17, 17*8(\base)
	sd x18, 18*8(\base)
	sd x19, 19*8(\base)
	sd x20, 20*8(\base)
	sd x21, 21*8(\base)
	sd x22, 22*8(\base)
	sd x23, 23*8(\base)
	sd x24, 24*8(\base)
	sd x25, 25*8(\base)
	sd x26, 26*8(\base)
	sd x27, 27*8(\base)
	sd x28, 28*8(\base)
	sd x29, 29*8(\base)
	sd x30, 30*8(\base)
	sd x31, 31*8(\base)
	.endm
	/* base must be sp: x2 is reloaded last from the frame. */
	.macro RESTORE_GPRS base
	ld x1, 1*8(\base)
	ld x3, 3*8(\base)
	ld x4, 4*8(\base)
	ld x5, 5*8(\base)
	ld x6, 6*8(\base)
	ld x7, 7*8(\base)
	ld x8, 8*8(\base)
	ld x9, 9*8(\base)
	ld x10, 10*8(\base)
	ld x11, 11*8(\base)
	ld x12, 12*8(\base)
	ld x13, 13*8(\base)
	ld x14, 14*8(\base)
	ld x15, 15*8(\base)
	ld x16, 16*8(\base)
	ld x17, 17*8(\base)
	ld x18, 18*8(\base)
	ld x19, 19*8(\base)
	ld x20, 20*8(\base)
	ld x21, 21*8(\base)
	ld x22, 22*8(\base)
	ld x23, 23*8(\base)
	ld x24, 24*8(\base)
	ld x25, 25*8(\base)
	ld x26, 26*8(\base)
	ld x27, 27*8(\base)
	ld x28, 28*8(\base)
	ld x29, 29*8(\base)
	ld x30, 30*8(\base)
	ld x31, 31*8(\base)
	ld x2, 2*8(\base)
	.endm
#endif

#endif
