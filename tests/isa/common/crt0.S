/*
 * crt0.S - start-up, trap entry and mode switching for the ISA tests.
 *
 * _start: clears .bss, turns on the FPU, installs the M-mode trap vector
 * and calls main().  main's return value is reported through HTIF:
 * 0 -> tohost = 1 (pass), N -> tohost = (N << 1) | 1 (test N failed).
 *
 * Every hart starts at _start.  Harts other than 0 park in WFI unless the
 * test defines hart_main (smp.h): then each gets its own stack and trap
 * stack (link.ld), waits until hart 0 has cleared .bss, and runs
 * smp_secondary(); hart 0 runs smp_primary() (counting them) before main.
 *
 * Traps taken to M-mode run on their own stack (mscratch holds its top) and
 * call trap_m(struct trap_frame *) in C, which may change mepc/mstatus in the
 * frame.  An ecall with a7 == ECALL_EXIT_M from a lower mode returns to the
 * caller of run_in_mode() instead (see test.h).  The S-mode vector only
 * records scause/stval/sepc and skips the trapping instruction: enough for
 * the delegation tests, which need no S-mode C handler.  Tests that use it
 * set stvec = trap_vector_s and sscratch = s_trap_save.
 */
#include "test_asm.h"

#define SMP_MAX_HARTS 8         /* as in smp.h */

	.section .text.init, "ax"
	.globl _start
_start:
	/* Every hart starts here (vmx --elf, QEMU -bios none) with a1 = the
	   device tree; only hart 0 runs main(), the others either park in WFI
	   with interrupts off for good or, for a test with hart_main, join it. */
	csrr	t0, mhartid
	bnez	t0, secondary
	mv	s0, a1
	.option push
	.option norelax
	la	sp, __stack_top
	.option pop
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	/* One PMP entry granting U and S all of memory: without any entry
	   they could access nothing (QEMU even refuses the mret to them). */
	li	t0, -1
	csrw	pmpaddr0, t0
	li	t0, 0x1f             /* NAPOT, R, W, X */
	csrw	pmpcfg0, t0
	li	t0, MSTATUS_FS_INITIAL
	csrs	mstatus, t0
	csrwi	fcsr, 0
	la	t0, trap_vector_m
	csrw	mtvec, t0
	la	t0, __trap_stack_top
	csrw	mscratch, t0
	ld	t0, hart_main_ptr
	beqz	t0, 1f
	/* .bss is clear: the secondaries may go on to register. */
	li	t0, 1
	fence	rw, w
	la	t1, smp_boot_go
	sw	t0, 0(t1)
	mv	a0, s0
	call	smp_primary
	bnez	a0, test_exit
1:	call	main
	/* fall through with a0 = result */
	.globl test_exit
test_exit:
	mv	t2, a0
	beqz	a0, 3f
	slli	a0, a0, 1
	ori	a0, a0, 1
	j	4f
3:	li	a0, 1
4:	la	t0, tohost
	sd	a0, 0(t0)
	/* Multi-hart tests run on QEMU virt too, which has no HTIF: there the
	   store above is plain memory and the SiFive test finisher ends the
	   run, 0x5555 = pass, (code << 16) | 0x3333 = fail. */
	ld	t0, hart_main_ptr
	beqz	t0, 5f
	li	t0, 0x5555
	beqz	t2, 6f
	slli	t0, t2, 16
	li	t1, 0x3333
	or	t0, t0, t1
6:	li	t1, 0x100000
	sw	t0, 0(t1)
5:	j	5b

secondary:
	ld	t1, hart_main_ptr
	beqz	t1, park
	li	t1, SMP_MAX_HARTS
	bgeu	t0, t1, park
	/* Nothing in .bss may be touched before hart 0 has cleared it. */
	la	t1, smp_boot_go
7:	lw	t2, 0(t1)
	beqz	t2, 7b
	fence	r, rw
	/* Stack i and trap stack i, each 16 KiB, above hart 0's (link.ld). */
	slli	t1, t0, 14
	la	sp, __smp_stacks
	add	sp, sp, t1
	la	t2, __smp_trap_stacks
	add	t2, t2, t1
	csrw	mscratch, t2
	li	t1, -1
	csrw	pmpaddr0, t1
	li	t1, 0x1f
	csrw	pmpcfg0, t1
	li	t1, MSTATUS_FS_INITIAL
	csrs	mstatus, t1
	csrwi	fcsr, 0
	la	t1, trap_vector_m
	csrw	mtvec, t1
	call	smp_secondary
park:	wfi
	j	park

	/* The weak hart_main's address: 0 when the test has none (an absolute
	   word, since a pc-relative la cannot reach address 0). */
	.section .rodata
	.balign 8
	.weak	hart_main
hart_main_ptr:
	.dword	hart_main
	.data
	.balign 4
smp_boot_go:
	.word	0

	.text
	.balign 4
	.globl trap_vector_m
trap_vector_m:
	csrrw	sp, mscratch, sp
	addi	sp, sp, -FRAME_SIZE
	SAVE_GPRS sp
	csrr	t0, mscratch
	sd	t0, 2*8(sp)          /* the interrupted sp */
	csrr	t0, mepc
	sd	t0, 32*8(sp)
	csrr	t0, mcause
	sd	t0, 33*8(sp)
	csrr	t0, mtval
	sd	t0, 34*8(sp)
	csrr	t0, mstatus
	sd	t0, 35*8(sp)
	/* ecall from U or S with a7 == ECALL_EXIT_M: back to run_in_mode's caller. */
	csrr	t0, mcause
	li	t1, CAUSE_ECALL_U
	beq	t0, t1, 6f
	li	t1, CAUSE_ECALL_S
	bne	t0, t1, 7f
6:	li	t1, ECALL_EXIT_M
	beq	a7, t1, return_to_m
7:	mv	a0, sp
	call	trap_m
	ld	t0, 32*8(sp)
	csrw	mepc, t0
	ld	t0, 35*8(sp)
	csrw	mstatus, t0
	addi	t0, sp, FRAME_SIZE
	csrw	mscratch, t0
	RESTORE_GPRS sp              /* restores sp last */
	mret

return_to_m:
	/* The lower mode's a0 becomes run_in_mode's return value. */
	addi	t0, sp, FRAME_SIZE
	csrw	mscratch, t0
	la	t0, m_ctx
	ld	ra, 0*8(t0)
	ld	sp, 1*8(t0)
	ld	s0, 2*8(t0)
	ld	s1, 3*8(t0)
	ld	s2, 4*8(t0)
	ld	s3, 5*8(t0)
	ld	s4, 6*8(t0)
	ld	s5, 7*8(t0)
	ld	s6, 8*8(t0)
	ld	s7, 9*8(t0)
	ld	s8, 10*8(t0)
	ld	s9, 11*8(t0)
	ld	s10, 12*8(t0)
	ld	s11, 13*8(t0)
	ld	gp, 14*8(t0)
	ld	tp, 15*8(t0)
	/* MPP back to M so a later plain mret in M-mode code stays in M. */
	li	t0, MSTATUS_MPP
	csrs	mstatus, t0
	ret

/*
 * long run_in_mode(unsigned long mode, long (*fn)(long), long arg, void *sp)
 * Runs fn(arg) in privilege `mode` (0 = U, 1 = S) with stack sp (NULL: keep
 * the current one).  fn must end with exit_to_m(value) (an ecall).
 */
	.globl run_in_mode
run_in_mode:
	la	t0, m_ctx
	sd	ra, 0*8(t0)
	sd	sp, 1*8(t0)
	sd	s0, 2*8(t0)
	sd	s1, 3*8(t0)
	sd	s2, 4*8(t0)
	sd	s3, 5*8(t0)
	sd	s4, 6*8(t0)
	sd	s5, 7*8(t0)
	sd	s6, 8*8(t0)
	sd	s7, 9*8(t0)
	sd	s8, 10*8(t0)
	sd	s9, 11*8(t0)
	sd	s10, 12*8(t0)
	sd	s11, 13*8(t0)
	sd	gp, 14*8(t0)
	sd	tp, 15*8(t0)
	li	t0, MSTATUS_MPP
	csrc	mstatus, t0
	slli	t1, a0, 11
	csrs	mstatus, t1
	csrw	mepc, a1
	mv	a0, a2
	beqz	a3, 8f
	mv	sp, a3
8:	la	ra, lower_returned
	mret
lower_returned:
	/* fn returned instead of calling exit_to_m: exit with its value anyway. */
	li	a7, ECALL_EXIT_M
	ecall
9:	j	9b

	.globl exit_to_m
exit_to_m:
	li	a7, ECALL_EXIT_M
	ecall
	j	exit_to_m

/* S-mode vector: record; after an exception skip the instruction (2 or 4
   bytes), after an interrupt clear sip.SSIP (the only one tests raise). */
	.balign 4
	.globl trap_vector_s
trap_vector_s:
	csrrw	t0, sscratch, t0     /* sscratch points at s_trap_save */
	sd	t1, 0(t0)
	sd	t2, 8(t0)
	csrr	t1, scause
	la	t2, s_trap_cause
	sd	t1, 0(t2)
	csrr	t1, stval
	la	t2, s_trap_tval
	sd	t1, 0(t2)
	csrr	t1, sepc
	la	t2, s_trap_epc
	sd	t1, 0(t2)
	la	t2, s_trap_count
	ld	t1, 0(t2)
	addi	t1, t1, 1
	sd	t1, 0(t2)
	csrr	t1, scause
	bgez	t1, 11f
	csrci	sip, 2
	j	12f
11:	csrr	t1, sepc
	lhu	t2, 0(t1)
	andi	t2, t2, 3
	addi	t1, t1, 2
	li	t0, 3
	bne	t2, t0, 10f
	addi	t1, t1, 2
10:	csrw	sepc, t1
12:	la	t0, s_trap_save
	ld	t1, 0(t0)
	ld	t2, 8(t0)
	csrrw	t0, sscratch, t0
	sret

	.section .tohost, "aw", @progbits
	.balign 64
	.globl tohost
	.type	tohost, @object
	.size	tohost, 8           /* QEMU insists on an 8-byte symbol */
tohost:	.dword 0
	.balign 64
	.globl fromhost
	.type	fromhost, @object
	.size	fromhost, 8
fromhost: .dword 0

	.bss
	.balign 8
m_ctx:	.space 16*8
	.globl s_trap_save, s_trap_cause, s_trap_tval, s_trap_epc, s_trap_count
s_trap_save: .space 16
s_trap_cause: .space 8
s_trap_tval: .space 8
s_trap_epc: .space 8
s_trap_count: .space 8
