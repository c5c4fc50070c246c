#!/usr/bin/env bash
# mxuser_rule.sh - every lock, read-write lock, condition variable and
# semaphore of the monitor goes through MXUser (src/lib/mxuser.h), so beta
# can rank-check it and stats can measure it.  The monitor's code (every
# object linked into vmx) may not call raw pthread or POSIX locking
# primitives, except MXUser itself and the stats registries that MXUser's
# statistics are built on.  hostd and the host tools are separate programs
# and not covered.
#
# The check reads the compiled objects of the obj build type (the one that
# links every monitor source, debug and stats included) with nm, so it sees
# what the code calls, whatever the declarations or comments say.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; fails=$((fails + 1)); }
fails=0
objdir=$B/obj/obj
allowed='^(lib/mxuser|stats/stats|stats/kstat|stats/lockstats)\.o$'
prims='^(pthread_(mutex|cond|rwlock|spin|barrier)_[a-z]+|sem_(init|wait|timedwait|trywait|post|destroy|open)|mtx_[a-z]+|cnd_[a-z]+)$'

objs=$(cd "$objdir" 2>/dev/null && find . -name '*.o' | sed 's|^\./||' | sort)
nobj=$(echo "$objs" | grep -c . || true)
if [ "$nobj" -lt 20 ]; then
  bad mxuser-objects-present "only $nobj objects under $objdir: build the obj type first (make obj)"
  exit 1
fi
ok "mxuser-objects-present ($nobj objects)"

raw=
for o in $objs; do
  calls=$(nm -u "$objdir/$o" | awk '{print $NF}' | grep -E "$prims" | tr '\n' ' ')
  [ -z "$calls" ] && continue
  echo "$o" | grep -qE "$allowed" && continue
  raw="$raw$o: $calls; "
done
if [ -z "$raw" ]; then ok mxuser-only-locks-in-vmx; else bad mxuser-only-locks-in-vmx "$raw"; fi

# MXUser itself does call them: if it did not, the nm reading above would be
# reading the wrong symbols and prove nothing.
if nm -u "$objdir/lib/mxuser.o" | grep -q 'pthread_mutex_lock'; then ok mxuser-check-sees-calls
else bad mxuser-check-sees-calls "nm finds no pthread_mutex_lock in lib/mxuser.o"; fi

# And the rule is not vacuous: the monitor's other objects do use MXUser.
n=0
for o in $objs; do
  [ "$o" = lib/mxuser.o ] && continue
  nm -u "$objdir/$o" | grep -qE ' mxuser_[a-z_]+$' && n=$((n + 1))
done
if [ "$n" -ge 3 ]; then ok "mxuser-used ($n objects)"; else bad mxuser-used "only $n objects call MXUser"; fi
[ $fails -eq 0 ]
