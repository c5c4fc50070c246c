#!/usr/bin/env bash
# hostd_vmx3.sh - runs the seed's test, tests/vmx3.sh, as part of `make check`.
cd "$(dirname "$0")/../.." && exec bash tests/vmx3.sh
