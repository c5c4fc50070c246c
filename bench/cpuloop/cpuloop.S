/*
 * cpuloop.S - the CPU benchmark's loop as a bare-metal M-mode program, so a
 * monitor's speed can be measured with no kernel in the way.  The loop is
 * the one guest/src/vmx3-cpu.c runs under Linux (24 instructions on every
 * path), for ITERS iterations from the same seed, table and constants.  It
 * ends through the SiFive test device at 0x100000 (vmx's board and QEMU's
 * virt machine both have it): 0x5555 (power off, exit 0) when acc ^ x is
 * the sum bench/mips.sh expects for ITERS = 100000000, else a failure code.
 */
	.section .text.init, "ax"
	.globl _start
	.type _start, @function
_start:
	li	a0, 100000000            /* iterations */
	li	a1, 0x2545f4914f6cdd1d   /* x (seed) */
	li	a2, 0                    /* acc */
	li	a3, 0x9e3779b97f4a7c15   /* k */
	li	a4, 7                    /* seven */
	la	a5, table
1:
	slli	t0, a1, 13
	xor	a1, a1, t0
	srli	t0, a1, 7
	xor	a1, a1, t0
	slli	t0, a1, 17
	xor	a1, a1, t0
	andi	t1, a1, 1016
	add	t1, t1, a5
	ld	t2, 0(t1)
	add	t2, t2, a1
	sd	t2, 0(t1)
	mul	t0, a1, a3
	add	a2, a2, t0
	srli	t0, a1, 3
	divu	t0, t0, a4
	add	a2, a2, t0
	andi	t1, a1, 16
	bnez	t1, 2f
	addi	a2, a2, 1
	j	3f
2:
	addi	a2, a2, -1
	nop
3:
	srli	t0, a2, 1
	xor	a2, a2, t0
	addi	a0, a0, -1
	bnez	a0, 1b

	xor	a2, a2, a1
	li	t0, 0xb78ff2a602532acb
	li	t1, 0x100000
	li	t2, 0x5555
	beq	a2, t0, 4f
	li	t2, (1 << 16) | 0x3333   /* wrong sum: fail with exit code 1 */
4:	sw	t2, 0(t1)
5:	j	5b
	.size _start, . - _start

	/* Its own page: a store to a page holding code makes every monitor
	   drop that page's translations. */
	.bss
	.align 12
table:
	.skip 1024
