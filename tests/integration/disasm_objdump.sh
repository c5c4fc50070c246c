#!/usr/bin/env bash
# disasm_objdump.sh - the monitor's disassembler (src/cpu/disasm.c, the text
# form of what decode.c decodes) against GNU objdump on real RISC-V code:
# every instruction of the bare-metal test ELFs ($B/isa/*.elf), and of the
# default guest's static busybox when the package cache holds it.  Both sweep
# the executable sections linearly (vmx-callstack --disasm-elf --no-aliases
# versus objdump -d -M no-aliases); objdump's compressed mnemonics are mapped
# to the 32-bit instructions they expand to, and its data words (mapping
# symbols) are left out.  Every mnemonic must agree; the full text (operands
# too) of 32-bit instructions must agree for at least 99 % of them (objdump
# 2.40 prints some CSRs, e.g. menvcfg, as numbers).  Figures are printed.
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }

if ! command -v riscv64-linux-gnu-objdump >/dev/null; then
  bad disasm-objdump "riscv64-linux-gnu-objdump not installed (scripts/deps.sh installs it)"
  exit 1
fi
if ! make -s B="$B" "$B/host/vmx-callstack" isa-tests >/dev/null 2>&1; then
  bad "disasm-objdump-build"
  exit 0
fi
elfs=("$B"/isa/*.elf)
bb=$(find "${VMX3_CACHE:-$HOME/.cache/vmx3}/unpacked" -path '*busybox*' -name busybox -type f -size +100k 2>/dev/null | head -1)

compare() { # name elf...
  local name=$1; shift
  python3 - "$B/host/vmx-callstack" "$@" <<'EOP'
import re, subprocess, sys
# objdump -M no-aliases prints compressed instructions as c.*; the decoder
# gives the op of the 32-bit expansion.
CMAP = {'c.addi4spn': 'addi', 'c.fld': 'fld', 'c.lw': 'lw', 'c.ld': 'ld', 'c.fsd': 'fsd',
        'c.sw': 'sw', 'c.sd': 'sd', 'c.nop': 'addi', 'c.addi': 'addi', 'c.addiw': 'addiw',
        'c.li': 'addi', 'c.addi16sp': 'addi', 'c.lui': 'lui', 'c.srli': 'srli',
        'c.srai': 'srai', 'c.andi': 'andi', 'c.sub': 'sub', 'c.xor': 'xor', 'c.or': 'or',
        'c.and': 'and', 'c.subw': 'subw', 'c.addw': 'addw', 'c.j': 'jal', 'c.beqz': 'beq',
        'c.bnez': 'bne', 'c.slli': 'slli', 'c.fldsp': 'fld', 'c.lwsp': 'lw', 'c.ldsp': 'ld',
        'c.jr': 'jalr', 'c.mv': 'add', 'c.ebreak': 'ebreak', 'c.jalr': 'jalr', 'c.add': 'add',
        'c.fsdsp': 'fsd', 'c.swsp': 'sw', 'c.sdsp': 'sd'}
ILLEGAL = ('.insn', '.4byte', '.2byte', 'unimp', 'c.unimp')
DATA = ('.word', '.short', '.byte')
BRANCH = ('jal', 'beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu')

def norm_ops(mn, ops):
    # Targets: objdump writes "3c <sym>" or "0x3c"; the decoder "0x3c".
    ops = re.sub(r'\s*(#|<).*$', '', ops).strip()
    if mn in BRANCH and ops:
        head, _, last = ops.rpartition(',')
        ops = (head + ',' if head else '') + hex(int(last, 16))
    return ops

def objdump(elf):
    out = subprocess.run(['riscv64-linux-gnu-objdump', '-d', '-M', 'no-aliases', elf],
                         capture_output=True, text=True, check=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r'^\s*([0-9a-f]+):\t([0-9a-f]+)\s*\t(\S+)\s*(.*)$', line)
        if m:
            d[int(m.group(1), 16)] = (m.group(2), m.group(3), norm_ops(m.group(3), m.group(4)))
    return d

def ours(vc, elf):
    out = subprocess.run([vc, '--disasm-elf', elf, '--no-aliases'], capture_output=True,
                         text=True, check=True).stdout
    d = {}
    for line in out.splitlines():
        if not line.startswith('#'):
            a, raw, text = line.split('\t')
            mn, _, ops = text.partition(' ')
            d[int(a, 16)] = (raw, mn, ops)
    return d

n = agree = n32 = full32 = 0
shown = 0
for elf in sys.argv[2:]:
    o, u = objdump(elf), ours(sys.argv[1], elf)
    for a, (raw, mn, ops) in sorted(o.items()):
        if mn in DATA:
            continue
        n += 1
        want = 'illegal' if mn.startswith(ILLEGAL) else CMAP.get(mn, mn)
        got = u.get(a)
        have = None if got is None else 'illegal' if got[1] == '.insn' else got[1]
        if have == want:
            agree += 1
        elif shown < 20:
            shown += 1
            print(f"  differs: {elf} {a:x} {raw}: objdump '{mn} {ops}', vmx '{got}'")
        if len(raw) == 8 and want != 'illegal':
            n32 += 1
            if got and (got[1], got[2]) == (mn, ops):
                full32 += 1
print(f"mnemonics agree {agree}/{n} ({100.0 * agree / max(n, 1):.3f} %); "
      f"32-bit full text {full32}/{n32} ({100.0 * full32 / max(n32, 1):.3f} %)")
sys.exit(0 if n > 0 and agree == n and full32 * 100 >= n32 * 99 else 1)
EOP
}

out=$(compare isa "${elfs[@]}"); rc=$?
echo "isa ELFs (${#elfs[@]}): $out"
if [ $rc -eq 0 ]; then ok "disasm-objdump-isa"; else bad "disasm-objdump-isa"; fi
if [ -n "$bb" ]; then
  out=$(compare busybox "$bb"); rc=$?
  echo "busybox: $out"
  if [ $rc -eq 0 ]; then ok "disasm-objdump-busybox"; else bad "disasm-objdump-busybox"; fi
else
  bad disasm-objdump-busybox "no busybox package in the guest cache (make guest fetches it)"
fi
exit 0
