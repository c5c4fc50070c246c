#!/usr/bin/env bash
# fpu_diff.sh - the FPU against an independent implementation: 3000 random and
# edge-biased cases per F/D operation, all rounding modes, results and flags
# compared with the real instructions run under qemu-riscv64 (softfloat).
exec tests/fpu/run-diff.sh 3000
