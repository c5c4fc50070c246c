#!/usr/bin/env bash
# run.sh - runs the test tiers and ends with one summary line:
#   N passed, N failed[, N skipped]
#
# Usage: tests/run.sh [TIER...]      (no tier: all of them, in this order)
#   unit         cmocka binaries under $B/tests/unit (counted per test case)
#   integration  tests/integration/*.sh and tests/vmx3.sh's wrapper
#   security     tests/security/*.sh: hostile clients, bad files, limits
#   isa          the bare-metal ISA tests under vmx --elf in release, beta and
#                stats, and in release with the translator off; then the
#                multi-hart tests (tests/smp) and the ISA tests again with 1, 2,
#                4 and 8 vCPUs in the same four configurations
#   fuzz-smoke   every fuzz target for a short, fixed run
# Scripts print one "PASS name" / "FAIL name" / "SKIP name (why)" line each; a
# script that exits non-zero without a FAIL line counts as one failure.  A tier
# with nothing to run is a failure, not a silent pass.
set -u
B=${B:-build}
export B
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
ALL_TIERS="unit integration security isa fuzz-smoke"
pass=0 fail=0 skip=0
failed=()
ran=()

tiers=("$@")
[ ${#tiers[@]} -eq 0 ] && read -r -a tiers <<<"$ALL_TIERS"
for t in "${tiers[@]}"; do
  case " $ALL_TIERS " in *" $t "*) ;; *)
    echo "run.sh: unknown tier \"$t\" (tiers: $ALL_TIERS)" >&2; exit 2 ;; esac
done

count_lines() { # reads PASS/FAIL/SKIP lines from a script's output
  local out=$1 name=$2 rc=$3 p f s
  p=$(grep -c '^PASS ' "$out" || true)
  f=$(grep -c '^FAIL ' "$out" || true)
  s=$(grep -c '^SKIP ' "$out" || true)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $name (exit $rc)"; fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  [ "$f" -gt 0 ] && failed+=("$name")
  return 0
}

nothing_to_run() { # TIER WHY
  echo "FAIL $1 ($2)"
  fail=$((fail + 1)); failed+=("$1")
}

run_scripts() { # TIER SCRIPT...
  local tier=$1 s out rc n=0; shift
  for s in "$@"; do
    [ -e "$s" ] || continue
    n=$((n + 1))
    echo "== $s"
    out=$(mktemp)
    bash "$s" >"$out" 2>&1; rc=$?
    cat "$out"
    count_lines "$out" "$s" "$rc"
    rm -f "$out"
  done
  [ $n -gt 0 ] || nothing_to_run "$tier" "no test scripts found"
}

tier_unit() {
  local t out rc p f n=0
  echo "== unit tests"
  for t in "$B"/tests/unit/test_*; do
    [ -x "$t" ] || continue
    n=$((n + 1))
    out=$(mktemp)
    ASAN_OPTIONS=detect_leaks=1 "$t" >"$out" 2>&1; rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    printf '%-40s %s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
    if [ "$f" -gt 0 ]; then failed+=("$(basename "$t")"); tail -40 "$out"; fi
    pass=$((pass + p)); fail=$((fail + f))
    rm -f "$out"
  done
  [ $n -gt 0 ] || nothing_to_run unit "no unit test binaries in $B/tests/unit (make unit-tests)"
}

tier_integration() {
  local s list=()
  for s in tests/integration/*.sh; do
    # The *_lib.sh files are sourced by the others; fuzz_smoke.sh is its own tier.
    case $s in *_lib.sh|*/fuzz_smoke.sh) continue ;; esac
    list+=("$s")
  done
  run_scripts integration "${list[@]}"
}

tier_security() { run_scripts security tests/security/*.sh; }

tier_fuzz_smoke() { run_scripts fuzz-smoke tests/integration/fuzz_smoke.sh; }

# The ISA tests with the translator on in release, beta and stats (vmx --elf),
# and once with it off in release (a .vmx with monitor.translate = "FALSE");
# the PASS/FAIL lines name the build and engine: "PASS rv64i [stats]",
# "PASS rv64i [release, interpreter]".
tier_isa() {
  local out rc run bin label opt
  echo "== ISA tests (vmx --elf; release, beta, stats translated, release interpreted)"
  for run in release:release/vmx: beta:beta/vmx-debug: stats:stats/vmx-stats: \
             "release, interpreter:release/vmx:--no-translate"; do
    label=${run%%:*} run=${run#*:}
    bin=${run%%:*} opt=${run#*:}
    if [ ! -x "$B/$bin" ]; then nothing_to_run "isa [$label]" "$B/$bin missing"; continue; fi
    out=$(mktemp)
    tests/isa/run.sh $opt --label "$label" "$B/$bin" >"$out" 2>&1; rc=$?
    grep -E '^(PASS|FAIL|SKIP) ' "$out" | grep -v '^PASS ' || true
    echo "isa [$label]: $(tail -1 "$out")"
    count_lines "$out" "isa [$label]" "$rc"
    rm -f "$out"
  done
  # Multi-hart: "PASS amo [4 vcpus, beta]", "FAIL mp [8 vcpus, release, interpreter] (code N)".
  echo "== SMP tests (tests/smp/run.sh: 1, 2, 4, 8 vCPUs; same four configurations)"
  for run in release:release/vmx: beta:beta/vmx-debug: stats:stats/vmx-stats: \
             "release, interpreter:release/vmx:--no-translate"; do
    label=${run%%:*} run=${run#*:}
    bin=${run%%:*} opt=${run#*:}
    if [ ! -x "$B/$bin" ]; then nothing_to_run "smp [$label]" "$B/$bin missing"; continue; fi
    out=$(mktemp)
    tests/smp/run.sh $opt --label "$label" "$B/$bin" >"$out" 2>&1; rc=$?
    grep -E '^(PASS|FAIL|SKIP) ' "$out" | grep -v '^PASS ' || true
    echo "smp [$label]: $(tail -1 "$out")"
    count_lines "$out" "smp [$label]" "$rc"
    rm -f "$out"
  done
}

for t in "${tiers[@]}"; do
  "tier_${t//-/_}"
  ran+=("$t")
done

echo
echo "tiers run: ${ran[*]}"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
if [ "$skip" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
