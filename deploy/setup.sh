#!/usr/bin/env bash
# Installs what pynq-infer needs from Debian 12's packages, then configures and builds one CMake
# preset. Usage: deploy/setup.sh [preset ...]   (default: release). Idempotent: a second run
# installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libtbb-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  libspdlog-dev prometheus-cpp-dev civetweb libcivetweb-dev libsystemd-dev zlib1g-dev
  libcurl4-openssl-dev python3 libssl-dev
  libpugixml-dev  # the overlay loader reads Vivado's .hwh
  prometheus  # promtool, which the tests use to lint a live /metrics scrape
  clang libclang-rt-14-dev  # libFuzzer, for the `fuzz` preset
)
# XRT is packaged for amd64 and arm64 only (not armhf, the PYNQ-Z1/Z2's architecture): its
# platform is built where the package is (CMake says so when it is not).
case "$(dpkg --print-architecture)" in
  amd64 | arm64) PACKAGES+=(libxrt-dev uuid-dev) ;;  # xrt::uuid calls libuuid
esac

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # The mirror is sometimes mid-sync and `apt-get update` fails: retry, then let the install
  # itself say what is missing.
  for attempt in 1 2 3; do
    as_root apt-get update -qq && break
    echo "setup: apt-get update failed (attempt $attempt); retrying" >&2
    sleep $((attempt * 5))
  done
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release)
for preset in "${presets[@]}"; do
  echo "setup: building preset '$preset' in build/$preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
done
