#!/usr/bin/env bash
# The README's second command (and what CI runs): set everything up, build, run every test.
# SANITIZERS=1 (the default in CI) also builds and runs the suite under ASan+UBSan and TSan, and
# runs the fuzz targets (libFuzzer, `fuzz` preset) for a bounded time (FUZZ_SECONDS, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=(release)
if [ "${SANITIZERS:-0}" = 1 ]; then presets+=(asan tsan fuzz); fi
for preset in "${presets[@]}"; do
  deploy/setup.sh "$preset"
  if [ "$preset" = fuzz ]; then
    cmake --preset fuzz -DPYNQ_FUZZ_SECONDS="${FUZZ_SECONDS:-60}" >/dev/null
  fi
  echo "tests: running the suite ($preset)"
  ctest --preset "$preset" -j "$(nproc)"
done
