# tests.mk - test tiers: unit (cmocka, linked against the obj build's library
# so they run under ASan+UBSan), integration (shell scripts driving the real
# binaries), ISA tests (bare-metal ELFs run by vmx --elf), fuzz targets.

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRCS))
TEST_CFLAGS := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -g -O1 \
               -Isrc -fsanitize=address,undefined -fno-omit-frame-pointer \
               $(shell pkg-config --cflags cmocka)
TEST_LIBS := $(shell pkg-config --libs cmocka) $(VMX_LIBS) $(VMX_STATS_LIBS)

$(B)/tests/unit/%: tests/unit/%.c $(B)/obj/libvmx.a
	@mkdir -p $(@D)
	@echo "  CC [test] $<"
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $< $(B)/obj/libvmx.a -fsanitize=address,undefined $(TEST_LIBS)

unit-tests: $(UNIT_BINS)

tests: all unit-tests

# Everything `make check` needs, then the runner; it prints "N passed, N failed".
check:
	$(MAKE) -j2 all unit-tests tsan
	$(MAKE) -j2 guest-for-tests
	B=$(B) tests/run.sh $(TIERS)

# The multi-hart tests many times over (not part of make check): every
# tests/smp and ISA ELF with 1, 2, 4 and 8 vCPUs, SOAK_ROUNDS rounds, in
# release (translated and interpreted), beta and stats.  Interleavings differ
# from run to run once vCPUs run in parallel; a rare failure shows up here.
SOAK_ROUNDS ?= 200
soak-smp: $(B)/release/vmx $(B)/beta/vmx-debug $(B)/stats/vmx-stats isa-tests
	tests/smp/run.sh --rounds $(SOAK_ROUNDS) --label release $(B)/release/vmx
	tests/smp/run.sh --rounds $(SOAK_ROUNDS) --no-translate --label "release, interpreter" $(B)/release/vmx
	tests/smp/run.sh --rounds $(SOAK_ROUNDS) --label beta $(B)/beta/vmx-debug
	tests/smp/run.sh --rounds $(SOAK_ROUNDS) --label stats $(B)/stats/vmx-stats
.PHONY: soak-smp

# Fuzz targets (libFuzzer, clang): one per parser or client-facing surface.
#   make fuzz         each target for FUZZ_SECONDS (long runs; corpora kept in $(B)/fuzz)
#   make fuzz-smoke   each target for FUZZ_SMOKE_RUNS executions from its seeds
#                     (part of make check, through tests/integration/fuzz_smoke.sh)
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(wildcard src/lib/*.c src/ckpt/*.c)
# Without these, ASan fills every allocation and keeps 256 MiB in quarantine,
# which makes the small-input targets several times slower.
FUZZ_ASAN_OPTIONS := max_malloc_fill_size=0:quarantine_size_mb=16
$(B)/fuzz/%: fuzz/%.c $(FUZZ_LIB_SRCS) $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(FUZZ_LIB_SRCS) $(B)/release/version.c -lpthread -ljansson -lsodium -lz
# Targets that compile a source file in directly depend on it too.
$(B)/fuzz/fuzz_ctl: src/vmx/ctl.c src/vmx/ctl.h src/vmx/vmx.h
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do echo "== $$f"; mkdir -p $(B)/fuzz/corpus-$$(basename $$f); \
	  ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) $$f -max_total_time=$(FUZZ_SECONDS) \
	  $(B)/fuzz/corpus-$$(basename $$f) fuzz/seeds/$$(basename $$f) || exit 1; done
fuzz-smoke: $(FUZZ_BINS)
	@B=$(B) FUZZ_SMOKE_RUNS=$(FUZZ_SMOKE_RUNS) bash tests/integration/fuzz_smoke.sh

.PHONY: check tests unit-tests fuzz fuzz-build fuzz-smoke guest-for-tests

# Crafted bare-metal guests of the security tests (tests/security/guest/*.c,
# same toolchain and harness as the ISA tests): $(B)/security/<name>.elf, outside
# $(B)/isa, whose every ELF tests/isa/run.sh runs to completion (these never end).
$(B)/security/%.elf: tests/security/guest/%.c $(ISA_DEPS)
	@mkdir -p $(@D)
	@echo "  CC [isa] $<"
	$(Q)$(ISA_CC) $(ISA_CFLAGS) -o $@ $(ISA_COMMON) $<

# hostd's HTTP API: api.c is compiled into the target (it reaches the static
# request handler); the rest of hostd is linked from sources, auth.c with its
# argon2id calls and usleep renamed to the target's cheap stand-ins.  No libmicrohttpd:
# the target provides the few MHD functions api.c calls.
FUZZ_API_HOSTD := $(filter-out src/hostd/main.c src/hostd/api.c src/hostd/auth.c,$(wildcard src/hostd/*.c))
FUZZ_CLANG := clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined
$(B)/fuzz/fuzz_api: fuzz/fuzz_api.c src/hostd/api.c src/hostd/auth.c $(wildcard src/hostd/*.h) $(FUZZ_API_HOSTD) \
                    $(HOSTD_SHARED_SRCS) $(UI_ASSETS_C) $(wildcard src/lib/*.c) $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CLANG) -Dcrypto_pwhash_str_alg=fuzz_pwhash_str_alg \
	    -Dcrypto_pwhash_str_verify=fuzz_pwhash_str_verify -Dusleep=fuzz_usleep \
	    -c src/hostd/auth.c -o $@-auth.o
	$(Q)$(FUZZ_CLANG) -o $@ fuzz/fuzz_api.c $@-auth.o $(FUZZ_API_HOSTD) $(HOSTD_SHARED_SRCS) $(UI_ASSETS_C) $(wildcard src/lib/*.c) \
	    $(B)/release/version.c -lpthread -ljansson -lsodium -lsqlite3 -lz

# The translator against the interpreter: the CPU, memory and library
# sources compiled in, with the release build type's flags (VMX_DEBUG and
# VMX_STATS 0, so no stats or debug code is needed; src/lib/build.h).  Only
# the translator, the decoder and the CSR/trap code carry coverage
# instrumentation: in the interpreter loop (hart.c), the TLB flushes, the FPU
# and the library it halved the executions per second without steering the
# fuzzer anywhere the translator's own coverage does not.
FUZZ_JIT_COV := src/cpu/jit.c src/cpu/x86enc.c src/cpu/decode.c src/cpu/csr.c
FUZZ_JIT_REST := $(filter-out $(FUZZ_JIT_COV),$(wildcard src/cpu/*.c src/mem/*.c src/lib/*.c))
FUZZ_JIT_OBJS := $(patsubst src/%.c,$(B)/fuzz/fuzz_jit_diff-obj/%.o,$(FUZZ_JIT_REST))
FUZZ_JIT_FLAGS := $(filter -D%,$(FLAGS_release)) -DVMX_BUILDTYPE_NAME='"release"'
FUZZ_JIT_HDRS := $(wildcard src/cpu/*.h src/mem/*.h src/lib/*.h src/stats/*.h src/debug/*.h)
$(B)/fuzz/fuzz_jit_diff-obj/%.o: src/%.c $(FUZZ_JIT_HDRS)
	@mkdir -p $(@D)
	$(Q)clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=address,undefined $(FUZZ_JIT_FLAGS) -c $< -o $@
$(B)/fuzz/fuzz_jit_diff: fuzz/fuzz_jit_diff.c $(FUZZ_JIT_COV) $(FUZZ_JIT_OBJS) $(FUZZ_JIT_HDRS) \
                         $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CLANG) $(FUZZ_JIT_FLAGS) -o $@ fuzz/fuzz_jit_diff.c $(FUZZ_JIT_COV) $(FUZZ_JIT_OBJS) \
	    $(B)/release/version.c -lpthread -ljansson -lsodium -lz -lm

# The README's two commands in a minimal Debian 12 root (root only; minutes,
# mostly apt and make check).  Not part of `make check`: run it before a
# change to the build, scripts/deps.sh or the guest tooling lands.
fresh-check:
	tests/fresh-check.sh
.PHONY: fresh-check

# Live migration's long kill matrix: every party (either vmx, either hostd,
# the leading center) killed at every phase a vmx can be held at, through
# the center (tests/integration/center_live.sh, whose short subset is in
# make check).  About 20 minutes.
kill-matrix-migrate: $(B)/release/vmx $(B)/beta/vmx-debug $(B)/stats/vmx-stats $(B)/opt/vmx-opt host-progs guest
	LIVE_MATRIX=1 bash tests/integration/center_live.sh | tee $(B)/kill-matrix-migrate.log
	@echo "kill-matrix-migrate: $$(grep -c '^PASS ' $(B)/kill-matrix-migrate.log) passed, $$(grep -c '^FAIL ' $(B)/kill-matrix-migrate.log) failed (log: $(B)/kill-matrix-migrate.log)"
	@! grep -q '^FAIL ' $(B)/kill-matrix-migrate.log
.PHONY: kill-matrix-migrate

# The smp workload soaked: tests/integration/smp_linux.sh (part of make check
# with short runs) with more iterations, every vCPU count in every shipped
# build type, SOAK_SMP_ROUNDS boots of each.  Not in make check: one round
# took 100 s on a 2-core host with the one-thread monitor of 2026-11, so about
# 5 minutes with the defaults.  Fails when any check printed FAIL.
SOAK_SMP_ITERS ?= 400000
SOAK_SMP_ROUNDS ?= 3
SOAK_SMP_CONFIGS ?= release:1 release:2 release:4 release:8 release-interp:2 release-interp:8 \
                    beta:1 beta:2 beta:4 beta:8 stats:1 stats:2 stats:4 stats:8
soak-smp-linux: $(B)/release/vmx $(B)/beta/vmx-debug $(B)/stats/vmx-stats guest
	@B=$(B) SMP_ITERS=$(SOAK_SMP_ITERS) SMP_ROUNDS=$(SOAK_SMP_ROUNDS) \
	  SMP_CONFIGS="$(SOAK_SMP_CONFIGS)" bash tests/integration/smp_linux.sh | tee $(B)/soak-smp-linux.log
	@echo "soak-smp-linux: $$(grep -c '^PASS ' $(B)/soak-smp-linux.log) passed, $$(grep -c '^FAIL ' $(B)/soak-smp-linux.log) failed (log: $(B)/soak-smp-linux.log)"
	@! grep -q '^FAIL ' $(B)/soak-smp-linux.log
.PHONY: soak-smp-linux
