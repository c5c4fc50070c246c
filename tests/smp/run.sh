#!/bin/sh
# run.sh - run the multi-hart tests (and the ISA tests) with several vCPU counts.
#
# Usage: tests/smp/run.sh [--vcpus "1 2 4 8"] [--no-translate] [--label TEXT]
#                         [--rounds N] VMX_BINARY|--qemu [ELF...]
# Without ELF arguments: every ${B:-build}/smp/*.elf and ${B:-build}/isa/*.elf.
# Each ELF runs once per vCPU count (and N times with --rounds N), from a
# fresh .vmx (`guest.elf`, `numvcpus`, with --no-translate also
# `monitor.translate = "FALSE"`); the exit status is the test's tohost code.
# --qemu runs the SMP tests on QEMU's virt machine with MTTCG
# (-M virt -smp N -accel tcg,thread=multi; they end through the SiFive test
# finisher) and the ISA tests on the spike machine (HTIF, -icount as in
# tests/isa/run.sh).  Timeout ${SMP_TIMEOUT:-90} s per run (the tests give up
# by themselves after 60 s of guest time).  Prints "PASS name [N vcpus...]"
# or "FAIL name [N vcpus...] (code C)" (the vmx.log of a failed vmx run is kept
# in ${TMPDIR:-/tmp}/vmx3-smp-NAME-N.log) and "N passed, N failed".
set -u

usage() { echo "usage: $0 [--vcpus LIST] [--no-translate] [--label TEXT] [--rounds N] VMX|--qemu [ELF...]" >&2; exit 2; }
VCPUS="1 2 4 8"
NOTRANSLATE=0
LABEL=
ROUNDS=1
while [ $# -ge 1 ]; do
	case $1 in
	--vcpus) [ $# -ge 2 ] || usage; VCPUS=$2; shift 2 ;;
	--no-translate) NOTRANSLATE=1; shift ;;
	--label) [ $# -ge 2 ] || usage; LABEL=", $2"; shift 2 ;;
	--rounds) [ $# -ge 2 ] || usage; ROUNDS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
RUNNER=$1
shift
[ "$RUNNER" = --qemu ] && [ $NOTRANSLATE = 1 ] && usage
if [ $# -eq 0 ]; then
	set -- "${B:-build}"/smp/*.elf "${B:-build}"/isa/*.elf
	[ -e "$1" ] || { echo "run.sh: no ELFs in ${B:-build}/smp (make isa-tests)" >&2; exit 2; }
fi
TIMEOUT=${SMP_TIMEOUT:-90}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
pass=0
fail=0
round=0
while [ $round -lt "$ROUNDS" ]; do
	round=$((round + 1))
	for elf in "$@"; do
		name=$(basename "$elf" .elf)
		abs="$(cd "$(dirname "$elf")" && pwd)/$(basename "$elf")"
		# An ELF whose harness has hart_main is a multi-hart test.
		smp=0
		case $abs in */smp/*) smp=1 ;; esac
		for n in $VCPUS; do
			if [ "$RUNNER" = --qemu ]; then
				if [ $smp = 1 ]; then
					timeout "$TIMEOUT" qemu-system-riscv64 -M virt -smp "$n" \
						-accel tcg,thread=multi -nographic -bios none \
						-kernel "$abs" </dev/null >/dev/null 2>&1
				else
					timeout "$TIMEOUT" qemu-system-riscv64 -M spike -smp "$n" \
						-nographic -bios none -icount shift=0 \
						-kernel "$abs" </dev/null >/dev/null 2>&1
				fi
			else
				vm="$tmp/$name-$n"
				rm -rf "$vm"
				mkdir -p "$vm"
				# .vmx values escape only \ and ".
				esc=$(printf '%s' "$abs" | sed 's/[\\"]/\\&/g')
				{
					printf 'guest.elf = "%s"\nnumvcpus = "%s"\n' "$esc" "$n"
					[ $NOTRANSLATE = 1 ] && printf 'monitor.translate = "FALSE"\n'
				} >"$vm/$name.vmx"
				timeout "$TIMEOUT" "$RUNNER" "$vm/$name.vmx" </dev/null >/dev/null 2>&1
			fi
			rc=$?
			what="$n vcpus$LABEL"
			if [ $rc -eq 0 ]; then
				echo "PASS $name [$what]"
				pass=$((pass + 1))
			else
				[ $rc -eq 124 ] && rc="124, timeout"
				# 133 = 901 & 255: a bounded wait in the test gave up (smp.h).
				[ "$rc" = 133 ] && rc="133, gave up waiting"
				echo "FAIL $name [$what] (code $rc)"
				fail=$((fail + 1))
				[ "$RUNNER" != --qemu ] && cp "$vm/vmx.log" "${TMPDIR:-/tmp}/vmx3-smp-$name-$n.log" 2>/dev/null && echo "  log: ${TMPDIR:-/tmp}/vmx3-smp-$name-$n.log"
			fi
		done
	done
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
