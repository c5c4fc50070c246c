#!/usr/bin/env bash
# stats_locks.sh - the lock table tells contention from waiting: on a VM
# where no lock is contended (the stats build running a small bare-metal
# guest) every lock shows zero contended acquisitions and the callstack
# collector's condition variable is listed apart, as waits for a signal; on
# the opt build with monitor.debugTestContendedLock the lock made contended
# on purpose tops --locks-only with its contended count and wait time.  No
# two records share a name.
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

if ! make -s B="$B" "$B/stats/vmx-stats" "$B/opt/vmx-opt" "$B/host/vmx-getstats" \
     "$B/host/vmx-kstats" "$B/isa/cs-stacks.elf" >/dev/null 2>&1; then
  bad "stats-locks-build"
  exit 1
fi
B=$(cd "$B" && pwd)
G="$B/host/vmx-getstats"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/idle" "$tmp/cont"
printf 'memSize = "64"\nguest.elf = "%s"\n' "$B/isa/cs-stacks.elf" >"$tmp/idle/idle.vmx"
printf 'memSize = "64"\nguest.elf = "%s"\nmonitor.debugTestContendedLock = "TRUE"\nustats.interval = "100000"\n' \
  "$B/isa/cs-stacks.elf" >"$tmp/cont/cont.vmx"

# Rows of the first table (locks) and of the second (condition variables, semaphores).
locks() { awk '/^locks,/ { t = 1; getline; next } /^condition variables/ { t = 2; getline; next }
               NF == 0 { next } t == 1' "$1"; }
waits() { awk '/^condition variables/ { t = 2; getline; next } NF == 0 { next } t == 2' "$1"; }

"$B/stats/vmx-stats" "$tmp/idle/idle.vmx" >"$tmp/idle.out" 2>&1 || bad "stats-locks-idle-run" "$(tail -2 "$tmp/idle.out")"
"$G" --locks-only "$tmp/idle" >"$tmp/idle.txt" 2>&1
cat "$tmp/idle.txt"
check "stats-locks-idle-rows" test "$(locks "$tmp/idle.txt" | wc -l)" -gt 0
check "stats-locks-idle-no-contention" awk '$5 != 0 { bad = 1 } END { exit bad }' <(locks "$tmp/idle.txt")
check "stats-locks-idle-no-wait" awk '$7 != "0.000" { bad = 1 } END { exit bad }' <(locks "$tmp/idle.txt")
check "stats-locks-cond-apart" sh -c "awk '\$2 == \"cond\" && \$3 > 0 { f = 1 } END { exit !f }' <<'X'
$(waits "$tmp/idle.txt")
X"
check "stats-locks-cond-not-in-locks" sh -c "! awk '\$3 == \"cond\" || \$3 == \"sem\"' <<'X' | grep -q .
$(locks "$tmp/idle.txt")
X"
check "stats-locks-unique-names" test -z "$( (locks "$tmp/idle.txt"; waits "$tmp/idle.txt") | awk '{ print $1 }' | sort | uniq -d)"

"$B/opt/vmx-opt" "$tmp/cont/cont.vmx" >"$tmp/cont.out" 2>&1 || bad "stats-locks-contended-run" "$(tail -2 "$tmp/cont.out")"
"$G" --locks-only "$tmp/cont" >"$tmp/cont.txt" 2>&1
cat "$tmp/cont.txt"
first=$(locks "$tmp/cont.txt" | head -1)
check "stats-locks-contended-first" test "$(echo "$first" | awk '{ print $1 }')" = debugTestContended
check "stats-locks-contended-counts" awk -v l="$first" 'BEGIN { split(l, f, " "); exit !(f[5] > 0 && f[7] > 0) }'
# --last: only the records of the last 0.2 s (two whole 0.1 s intervals of a run
# that lasts about a second even on a fast machine).
acq() { locks "$1" | awk '$1 == "debugTestContended" { print $4 }'; }
"$G" --locks-only --last 0.2s "$tmp/cont" >"$tmp/cont-last.txt" 2>&1
all=$(acq "$tmp/cont.txt"); last=$(acq "$tmp/cont-last.txt")
echo "debugTestContended acquisitions: $all in the run, $last in its last 0.2 s"
check "stats-locks-last-window" test "${last:-0}" -gt 0 -a "${last:-0}" -lt "${all:-0}"
check "stats-locks-last-header" grep -Eq "^window: the last [0-9.]+ s" "$tmp/cont-last.txt"
"$B/host/vmx-kstats" --last 0.2s "$tmp/cont" >"$tmp/ks-last.txt" 2>&1
"$B/host/vmx-kstats" "$tmp/cont" >"$tmp/ks.txt" 2>&1
kt() { awk '$1 == "TOTAL" { print $2 }' "$1"; }
echo "kstat samples: $(kt "$tmp/ks.txt") in the run, $(kt "$tmp/ks-last.txt") in the last 0.2 s"
check "stats-kstats-last-window" test "$(kt "$tmp/ks-last.txt")" -gt 0 -a "$(kt "$tmp/ks-last.txt")" -lt "$(kt "$tmp/ks.txt")"
check "stats-last-bad-duration" sh -c "! '$G' --last soon '$tmp/cont' >/dev/null 2>&1"
# --locks-only prints no counter table.
check "stats-locks-only" sh -c "! grep -q '^counter ' '$tmp/cont.txt'"
exit 0
