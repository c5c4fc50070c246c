#!/usr/bin/env bash
# stats_ustats.sh - the stats directory survives a SIGKILL: a stats-build
# program (tests/stats/ustats_kill.c) counts one VIRTIO_REQ, one MMIO kstat
# push and one devLock acquisition per millisecond while the stats thread
# writes a ustats record every 200 ms; after kill -9 the report tools read the
# file, which covers all but at most the last interval.
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

if ! make -s B="$B" "$B/stats/tests/ustats_kill" "$B/host/vmx-getstats" "$B/host/vmx-kstats" \
     >/dev/null 2>&1; then
  bad "stats-ustats-build"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

t0=$(date +%s%N)
"$B/stats/tests/ustats_kill" "$tmp" 200000 >"$tmp/out" 2>&1 &
pid=$!
disown "$pid"
sleep 1.6
kill -9 "$pid"
t1=$(date +%s%N)
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
run_ms=$(( (t1 - t0) / 1000000 ))

gs=$("$B/host/vmx-getstats" --locks "$tmp" 2>&1); rc=$?
check getstats-reads-after-kill test "$rc" -eq 0
check getstats-no-end-record grep -q 'no end record' <<<"$gs"
elapsed_ms=$(sed -n 's/.*pid=[0-9]*, \([0-9.]*\) s,.*/\1/p' <<<"$gs" | awk '{printf "%d", $1 * 1000}')
req=$(awk '$1 == "VIRTIO_REQ" {print $2}' <<<"$gs")
lock=$(awk '$1 == "devLock" {print $4}' <<<"$gs")
echo "run ${run_ms} ms, file covers ${elapsed_ms:-?} ms, VIRTIO_REQ=${req:-?} devLock=${lock:-?}"
# Loses at most the last interval (200 ms) plus start-up and scheduling slack.
check ustats-covers-all-but-last-interval test "${elapsed_ms:-0}" -ge $(( run_ms - 200 - 250 ))
check ustats-counter-matches-time test "${req:-0}" -ge $(( ${elapsed_ms:-0} - 150 )) -a "${req:-0}" -le $(( ${elapsed_ms:-0} + 50 ))
check ustats-lock-stats test -n "$lock" -a "${lock:-0}" -ge $(( ${req:-0} - 2 )) -a "${lock:-0}" -le $(( ${req:-0} + 2 ))

ks=$("$B/host/vmx-kstats" --both "$tmp" 2>&1); rc=$?
check kstats-reads-after-kill test "$rc" -eq 0
mmio=$(awk '$1 == "MMIO" {print $2; exit}' <<<"$ks")
check kstats-mmio-invocations test -n "$mmio" -a "${mmio:-0}" -ge $(( ${req:-0} - 2 )) -a "${mmio:-0}" -le $(( ${req:-0} + 2 ))
check kstats-guest-sampled grep -Eq '^GUEST +[0-9]+ +[1-9][0-9]* ' <<<"$ks"
check kstats-nested grep -Eq '^  MMIO +[1-9]' <<<"$ks"
# Of the samples when the thread had a CPU (not HOST_SCHED), MMIO should be about 30%;
# a loaded host preempts the busy MMIO part more than the sleeping part, hence the range.
share=$(awk '$1 == "MMIO" && !m {m = $3} $1 == "GUEST" && !g {g = $3}
             END {if (m + g) printf "%d", 100 * m / (m + g); else print 0}' <<<"$ks")
echo "MMIO share of on-CPU samples: ${share}%"
check kstats-mmio-share-about-30pct test "${share:-0}" -ge 5 -a "${share:-0}" -le 60
size=$(stat -c %s "$tmp"/stats/ustats-*.bin)
echo "ustats file: $size bytes for ${elapsed_ms:-?} ms at 200 ms intervals"
