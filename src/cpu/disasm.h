/*
 * disasm.h - text form of one RISC-V (RV64GC) instruction, from the monitor's
 * own decoder (decode.c), so the callstack viewer can show guest code without
 * a cross binutils.  The output follows objdump's conventions: ABI register
 * names, `ld a2,174(a2)`, shift amounts and lui/auipc immediates in hex,
 * branch and jump targets as absolute 0x addresses (objdump adds <symbol> to
 * those when it has symbols; the viewer shows function ranges instead), CSR names.
 */
#ifndef VMX_CPU_DISASM_H
#define VMX_CPU_DISASM_H

#include <stddef.h>
#include <stdint.h>

/* Flags of disasm_insn_flags(). */
enum {
	/*
	 * Print every instruction in its base form (`addi a0,zero,5`, not
	 * `li a0,5`), as objdump -M no-aliases does for 32-bit code.
	 * Compressed instructions print as their 32-bit expansion either way.
	 */
	DISASM_NO_ALIASES = 1u << 0,
};

/*
 * Writes the text of the instruction whose bits are `raw` at address `pc`
 * into buf (always NUL-terminated when len > 0).  raw's low two bits decide
 * the length: 11 is a 32-bit instruction, anything else a compressed one
 * (only the low 16 bits are read).  Returns the length, 2 or 4 (also for
 * illegal encodings, printed as `.insn 0x...`), or -EINVAL for no buffer,
 * -ENOSPC when the text did not fit (buf then holds a truncated text).
 * A few common pseudo-instructions are used (nop, li, mv, ret, j, jal, jr, beqz,
 * bnez, sext.w, csrr, csrw, not, neg).
 */
int disasm_insn(uint32_t raw, uint64_t pc, char *buf, size_t len);
int disasm_insn_flags(uint32_t raw, uint64_t pc, unsigned flags, char *buf, size_t len);

/* ABI names: x0..x31 (zero, ra, sp, ...) and f0..f31 (ft0, ..., fa0, ..., fs0, ...). */
const char *disasm_xreg(unsigned r);
const char *disasm_freg(unsigned r);
/* Name of a CSR the hart implements or objdump names commonly, or NULL. */
const char *disasm_csr_name(unsigned csr);

#endif
