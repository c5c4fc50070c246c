#!/usr/bin/env bash
# mxuser_rule.sh - every lock, read-write lock, condition variable and
# semaphore of the monitor goes through MXUser (src/lib/mxuser.h), so beta
# can rank-check it and stats can measure it.  The monitor's sources (every
# directory linked into vmx) may not declare raw pthread or POSIX objects,
# except MXUser itself and the stats registries that MXUser's statistics are
# built on (each says so where it is declared).  hostd and the host tools
# are separate programs and not covered.
set -u
cd "$(dirname "$0")/../.."
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
monitor_dirs="src/board src/ckpt src/cpu src/debug src/devices src/lib src/mem src/stats src/vmx"
allowed='^src/lib/mxuser\.[ch]:|^src/stats/(stats|kstat|lockstats)\.c:'
raw=$(grep -rnE '\b(pthread_mutex_t|pthread_cond_t|pthread_rwlock_t|pthread_spinlock_t|sem_t)\b' \
      $monitor_dirs --include='*.c' --include='*.h' | grep -vE "$allowed")
if [ -z "$raw" ]; then ok mxuser-only-locks-in-vmx; else bad mxuser-only-locks-in-vmx "$(echo "$raw" | head -3 | tr '\n' ' ')"; fi
# The exceptions explain themselves.
n=$(grep -lE 'one exception to "every lock is an MXUser' src/stats/stats.c src/stats/kstat.c src/stats/lockstats.c | wc -l)
if [ "$n" -eq 3 ]; then ok mxuser-exceptions-documented; else bad mxuser-exceptions-documented "$n of 3"; fi
# And the rule is not vacuous: the monitor does use MXUser objects.
n=$(grep -rlE 'struct mxuser_(lock|cond|rwlock|sem)\b' $monitor_dirs --include='*.c' | grep -v '^src/lib/mxuser' | wc -l)
if [ "$n" -ge 3 ]; then ok mxuser-used; else bad mxuser-used "only $n files"; fi
