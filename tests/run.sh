#!/usr/bin/env bash
# run.sh - runs every test tier and ends with one summary line:
#   N passed, N failed[, N skipped]
# Unit tests are cmocka binaries (counted per test case); integration and ISA
# scripts print one "PASS name" / "FAIL name" / "SKIP name (why)" line each.
set -u
B=${B:-build}
export B
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pass=0 fail=0 skip=0
failed=()

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

echo "== unit tests"
for t in "$B"/tests/unit/test_*; do
  [ -x "$t" ] || continue
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

for s in tests/integration/*.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  out=$(mktemp)
  bash "$s" >"$out" 2>&1; rc=$?
  cat "$out"
  count_lines "$out" "$s" "$rc"
  rm -f "$out"
done

for s in tests/security/*.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  out=$(mktemp)
  bash "$s" >"$out" 2>&1; rc=$?
  cat "$out"
  count_lines "$out" "$s" "$rc"
  rm -f "$out"
done

if [ -x tests/isa/run.sh ] && [ -x "$B/release/vmx" ]; then
  echo "== ISA tests (vmx --elf)"
  out=$(mktemp)
  tests/isa/run.sh "$B/release/vmx" >"$out" 2>&1; rc=$?
  grep -E '^(PASS|FAIL|SKIP) ' "$out" | grep -v '^PASS ' || true
  count_lines "$out" "isa" "$rc"
  rm -f "$out"
fi

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
if [ "$skip" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
