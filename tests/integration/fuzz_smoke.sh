#!/usr/bin/env bash
# fuzz_smoke.sh - every fuzz target builds and survives a short run from its
# seeds (5 s each); `make fuzz` runs them for longer.
set -u
B=${B:-build}
make -s B="$B" fuzz-build >/dev/null 2>&1 || { echo "FAIL fuzz-build"; exit 0; }
for f in "$B"/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=$(mktemp -d)
  seeds=fuzz/seeds/$name
  [ -d "$seeds" ] || seeds=
  if "$f" -max_total_time=5 -rss_limit_mb=2048 -artifact_prefix="$corpus/" "$corpus" $seeds >"$corpus/log" 2>&1; then
    echo "PASS fuzz-$name"
  else
    echo "FAIL fuzz-$name"; tail -20 "$corpus/log"
  fi
  rm -rf "$corpus"
done
