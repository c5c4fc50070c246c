#!/usr/bin/env bash
# stats_beta.sh - beta build checks end to end, with small programs linked
# against each build type's libvmx.a (tests/stats/*.c, rules in mk/stats.mk):
#  - a lock-order inversion stops beta with a report naming both locks, and
#    release runs the same program to completion without a report;
#  - a failing VMX_ASSERT makes beta write vmx-crash-*.txt (message, every
#    thread's symbolized backtrace, guest vCPU state, log tail) and exit 70,
#    and release runs the same program to completion.
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

if ! make -s B="$B" "$B/release/tests/lockorder" "$B/beta/tests/lockorder" \
     "$B/release/tests/assertfail" "$B/beta/tests/assertfail" >/dev/null 2>&1; then
  bad "stats-beta-build"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lr" "$tmp/lb" "$tmp/ar" "$tmp/ab"

out=$("$B/release/tests/lockorder" "$tmp/lr" 2>&1); rc=$?
check lockorder-release-completes test "$rc" -eq 0 -a "$out" = completed
check lockorder-release-no-report test -z "$(ls "$tmp/lr" | grep vmx-crash)"

out=$("$B/beta/tests/lockorder" "$tmp/lb" 2>&1); rc=$?
check lockorder-beta-exit-70 test "$rc" -eq 70
check lockorder-beta-names-both grep -q 'acquiring "vmLock" (rank 100) at tests/stats/lockorder.c:[0-9]* while holding "devLock" (rank 400) taken at tests/stats/lockorder.c:[0-9]*' <<<"$out"
rep=$(ls "$tmp"/lb/vmx-crash-*.txt 2>/dev/null | head -1)
check lockorder-beta-report test -n "$rep"
check lockorder-report-names-both grep -q 'vmLock.*devLock' "${rep:-/dev/null}"
check lockorder-report-backtrace grep -Eq '^  #[0-9]+ +0x[0-9a-f]+ (inverted|mxuser_lock_at)\+' "${rep:-/dev/null}"

out=$("$B/release/tests/assertfail" "$tmp/ar" 2>&1); rc=$?
check assert-release-completes test "$rc" -eq 0 -a "$out" = completed
check assert-release-no-report test -z "$(ls "$tmp/ar" | grep vmx-crash)"

out=$("$B/beta/tests/assertfail" "$tmp/ab" 2>&1); rc=$?
check assert-beta-exit-70 test "$rc" -eq 70
rep=$(ls "$tmp"/ab/vmx-crash-*.txt 2>/dev/null | head -1)
check assert-beta-report test -n "$rep"
rep=${rep:-/dev/null}
check assert-report-message grep -q '^message: tests/stats/assertfail.c:[0-9]*: ASSERT regs == 4$' "$rep"
check assert-report-failing-thread grep -q 'check_device_state' "$rep"
check assert-report-other-thread grep -q 'helper_sleeping_here' "$rep"
check assert-report-two-threads test "$(grep -c '^== thread' "$rep")" -ge 2
check assert-report-guest-state grep -q 'a0   00000000deadbeef' "$rep"
check assert-report-log-tail grep -q 'assertfail: step 4' "$rep"
check assert-log-names-report grep -q 'crash report: .*vmx-crash-' "$tmp/ab/vmx.log"
