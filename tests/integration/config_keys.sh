#!/usr/bin/env bash
# config_keys.sh - every .vmx key the code reads by name is documented in the
# key table of docs/CONFIG.md.
set -u
# The key is the call's second argument when it is a literal (cfg_set's
# third, the value, is not a key).
keys=$(grep -rhoE 'cfg_(get|get_bool|get_u64|get_duration|path|set|unset)\([^,;]*, *"[A-Za-z0-9_.]+"' src |
       grep -oE '"[A-Za-z0-9_.]+"' | tr -d '"' | sort -u)
keys="$keys $(grep -rhoE '#define [A-Z_]*KEY "[A-Za-z0-9_.]+"' src | grep -oE '"[^"]+"' | tr -d '"')"
n=0
for k in $keys; do
  n=$((n + 1))
  if grep -qF "| \`$k\`" docs/CONFIG.md; then echo "PASS key-documented-$k"; else echo "FAIL key-documented-$k (not in docs/CONFIG.md)"; fi
done
[ $n -gt 10 ] && echo "PASS keys-found-$n" || echo "FAIL keys-found-$n"
