#!/usr/bin/env bash
# fuzz_smoke.sh - every fuzz target in fuzz/ builds and survives a fixed
# number of executions (FUZZ_SMOKE_RUNS, default 20000) starting from its
# seeds, which are all replayed first, so every regression seed in
# fuzz/seeds/<target>/ is checked on each `make check`.  `make fuzz` runs the
# targets for longer.
set -u
B=${B:-build}
RUNS=${FUZZ_SMOKE_RUNS:-20000}
targets=$(ls fuzz/fuzz_*.c 2>/dev/null | sed 's|^fuzz/||; s|\.c$||')
[ -n "$targets" ] || { echo "FAIL fuzz-no-targets"; exit 1; }
make -s B="$B" fuzz-build >/dev/null 2>&1 || { echo "FAIL fuzz-build"; exit 1; }
failed=0
for name in $targets; do
  f=$B/fuzz/$name
  if [ ! -x "$f" ]; then
    echo "FAIL fuzz-$name (not built)"; failed=1; continue
  fi
  corpus=$(mktemp -d)
  seeds=fuzz/seeds/$name
  [ -d "$seeds" ] || seeds=
  if ASAN_OPTIONS=max_malloc_fill_size=0:quarantine_size_mb=16 \
     "$f" -runs="$RUNS" -rss_limit_mb=2048 -artifact_prefix="$corpus/" "$corpus" $seeds \
     >"$corpus/log" 2>&1 &&
     # libFuzzer may count a few runs more than -runs (inputs merged at start).
     done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$corpus/log") &&
     [ "${done_runs:-0}" -ge "$RUNS" ]; then
    echo "PASS fuzz-$name ($done_runs runs)"
  else
    echo "FAIL fuzz-$name"; tail -20 "$corpus/log"; failed=1
  fi
  rm -rf "$corpus"
done
exit $failed
