#!/bin/sh
# run.sh - run the bare-metal ISA tests and summarise.
#
# Usage: tests/isa/run.sh [--no-translate] [--label TEXT] VMX_BINARY [ELF...]
#        tests/isa/run.sh --qemu [ELF...]
# Without ELF arguments, every ${B:-build}/isa/*.elf is run.  Each test runs
# as `VMX_BINARY --elf FILE` (or under QEMU's spike machine, whose HTIF turns
# the test's tohost value into the exit status), with a timeout of
# ${ISA_TIMEOUT:-60} seconds.  --no-translate runs each test from a .vmx
# instead (`guest.elf` naming the ELF, `monitor.translate = "FALSE"`: the
# interpreter only), in a fresh VM directory; `vmx NAME.vmx` exits with the
# test's tohost code just as `vmx --elf` does.  Prints "PASS name" or
# "FAIL name (code N)" per test ("PASS name [TEXT]" with --label) and
# "N passed, N failed"; exits 0 only when nothing failed.
set -u

usage() { echo "usage: $0 [--no-translate] [--label TEXT] VMX_BINARY|--qemu [ELF...]" >&2; exit 2; }
NOTRANSLATE=0
LABEL=
while [ $# -ge 1 ]; do
	case $1 in
	--no-translate) NOTRANSLATE=1; shift ;;
	--label) [ $# -ge 2 ] || usage; LABEL=" [$2]"; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
RUNNER=$1
shift
[ "$RUNNER" = --qemu ] && [ $NOTRANSLATE = 1 ] && usage
if [ $# -eq 0 ]; then
	set -- "${B:-build}"/isa/*.elf
	[ -e "$1" ] || { echo "run.sh: no ELFs in ${B:-build}/isa (make isa-tests)" >&2; exit 2; }
fi
TIMEOUT=${ISA_TIMEOUT:-60}
tmp=
if [ $NOTRANSLATE = 1 ]; then
	tmp=$(mktemp -d) || exit 2
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM
fi
pass=0
fail=0
for elf in "$@"; do
	name=$(basename "$elf" .elf)
	if [ "$RUNNER" = --qemu ]; then
		# -icount shift=0 makes QEMU's instret count instructions exactly
		# (otherwise it follows the host clock), which csr.c checks.
		timeout "$TIMEOUT" qemu-system-riscv64 -M spike -nographic -bios none \
			-icount shift=0 -kernel "$elf" </dev/null >/dev/null 2>&1
	elif [ $NOTRANSLATE = 1 ]; then
		vm="$tmp/$name"
		rm -rf "$vm"
		mkdir -p "$vm"
		abs="$(cd "$(dirname "$elf")" && pwd)/$(basename "$elf")"
		# .vmx values escape only \ and ".
		abs=$(printf '%s' "$abs" | sed 's/[\\"]/\\&/g')
		printf 'guest.elf = "%s"\nmonitor.translate = "FALSE"\n' "$abs" >"$vm/$name.vmx"
		timeout "$TIMEOUT" "$RUNNER" "$vm/$name.vmx" </dev/null >/dev/null 2>&1
	else
		timeout "$TIMEOUT" "$RUNNER" --elf "$elf" </dev/null >/dev/null 2>&1
	fi
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "PASS $name$LABEL"
		pass=$((pass + 1))
	else
		[ $rc -eq 124 ] && rc="124, timeout"
		echo "FAIL $name$LABEL (code $rc)"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
