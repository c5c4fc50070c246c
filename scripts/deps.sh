#!/usr/bin/env bash
# deps.sh - installs the Debian packages the build and tests need.
# As root it runs apt-get; otherwise it prints the apt-get line and fails.
set -euo pipefail

PKGS=(
  build-essential pkg-config git
  libfdt-dev device-tree-compiler libelf-dev libdw-dev zlib1g-dev
  libjansson-dev libmicrohttpd-dev libsqlite3-dev libsodium-dev libcurl4-openssl-dev
  libcmocka-dev clang libclang-rt-14-dev
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross gcc-riscv64-unknown-elf binutils-riscv64-linux-gnu
  binutils   # x86-64 objdump: the reference decoder of tests/unit/test_x86enc.c
  cpio xz-utils zstd dpkg-dev apt ca-certificates bc qemu-user qemu-system-misc e2fsprogs python3
  curl openssl
)
PKGS+=(libncurses-dev)   # vmx-callstack interactive view
PKGS+=(chromium)         # the test that the flame-graph HTML renders
PKGS+=(chromium-driver python3-selenium)  # tests/integration/ui_browser.sh drives the web interface
PKGS+=(etcd-server)      # vmx3-center's cluster state (tests/integration/center.sh)
PKGS+=(python3-prometheus-client)  # hostd_stats.sh parses the Prometheus expositions
PKGS+=(passt)            # virtio-net's user-mode network (ethernetN.connectionType = "user")
PKGS+=(apache2-utils)    # ab: the HTTP load of net_fastswitch.sh and bench/net.sh
PKGS+=(${VMX3_EXTRA_PKGS:-})

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
