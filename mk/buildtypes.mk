# buildtypes.mk - the seed's build-type table as compiler flags.
#
#                 release  beta   stats  opt    obj
# VMX_DEBUG         0       1      0      1      1
# VMX_STATS         0       0      1      1      1
# VMX_DEVEL         0       0      0      1      1
# optimization     -O2     -O2    -O2    -O2    -O1 -g
# frame pointers    no     yes    no     yes    yes
# sanitizers        no      no     no     no    ASan+UBSan

BUILDTYPES := release beta stats opt obj
SHIPPED_BUILDTYPES := release beta stats

# Installed binary name of each build type.
BIN_release := vmx
BIN_beta    := vmx-debug
BIN_stats   := vmx-stats
BIN_opt     := vmx-opt
BIN_obj     := vmx-obj

FLAGS_release := -DVMX_DEBUG=0 -DVMX_STATS=0 -DVMX_DEVEL=0 -O2 -fomit-frame-pointer
FLAGS_beta    := -DVMX_DEBUG=1 -DVMX_STATS=0 -DVMX_DEVEL=0 -O2 -fno-omit-frame-pointer
FLAGS_stats   := -DVMX_DEBUG=0 -DVMX_STATS=1 -DVMX_DEVEL=0 -O2 -fomit-frame-pointer
FLAGS_opt     := -DVMX_DEBUG=1 -DVMX_STATS=1 -DVMX_DEVEL=1 -O2 -fno-omit-frame-pointer
FLAGS_obj     := -DVMX_DEBUG=1 -DVMX_STATS=1 -DVMX_DEVEL=1 -O1 -fno-omit-frame-pointer \
                 -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_obj   := -fsanitize=address,undefined

# tsan: the obj build's checks under ThreadSanitizer instead of ASan (the two
# cannot share a binary).  Not part of `make all`: `make tsan` builds it for
# the concurrency tests (tests/integration/smp_tsan.sh, docs/BOARD.md).
EXTRA_BUILDTYPES := tsan
# clang: GCC's TSan does not model atomic_thread_fence, which the code-page
# protocol between harts relies on (src/cpu/hart_int.h).
BIN_tsan      := vmx-tsan
CC_tsan       := clang
FLAGS_tsan    := -DVMX_DEBUG=1 -DVMX_STATS=1 -DVMX_DEVEL=1 -O1 -fno-omit-frame-pointer \
                 -fsanitize=thread -Wno-unknown-warning-option
LDFLAGS_tsan  := -fsanitize=thread
DEBUG_tsan    := 1
STATS_tsan    := 1

DEBUG_release := 0
DEBUG_beta    := 1
DEBUG_stats   := 0
DEBUG_opt     := 1
DEBUG_obj     := 1
STATS_release := 0
STATS_beta    := 0
STATS_stats   := 1
STATS_opt     := 1
STATS_obj     := 1
