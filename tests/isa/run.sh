#!/bin/sh
# run.sh - run the bare-metal ISA tests and summarise.
#
# Usage: tests/isa/run.sh VMX_BINARY [ELF...]
#        tests/isa/run.sh --qemu [ELF...]
# Without ELF arguments, every ${B:-build}/isa/*.elf is run.  Each test runs
# as `VMX_BINARY --elf FILE` (or under QEMU's spike machine, whose HTIF turns
# the test's tohost value into the exit status), with a timeout of
# ${ISA_TIMEOUT:-60} seconds.  Prints "PASS name" or "FAIL name (code N)" per
# test and "N passed, N failed"; exits 0 only when nothing failed.
set -u

[ $# -ge 1 ] || { echo "usage: $0 VMX_BINARY|--qemu [ELF...]" >&2; exit 2; }
RUNNER=$1
shift
if [ $# -eq 0 ]; then
	set -- "${B:-build}"/isa/*.elf
	[ -e "$1" ] || { echo "run.sh: no ELFs in ${B:-build}/isa (make isa-tests)" >&2; exit 2; }
fi
TIMEOUT=${ISA_TIMEOUT:-60}
pass=0
fail=0
for elf in "$@"; do
	name=$(basename "$elf" .elf)
	if [ "$RUNNER" = --qemu ]; then
		# -icount shift=0 makes QEMU's instret count instructions exactly
		# (otherwise it follows the host clock), which csr.c checks.
		timeout "$TIMEOUT" qemu-system-riscv64 -M spike -nographic -bios none \
			-icount shift=0 -kernel "$elf" </dev/null >/dev/null 2>&1
	else
		timeout "$TIMEOUT" "$RUNNER" --elf "$elf" </dev/null >/dev/null 2>&1
	fi
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "PASS $name"
		pass=$((pass + 1))
	else
		[ $rc -eq 124 ] && rc="124, timeout"
		echo "FAIL $name (code $rc)"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
