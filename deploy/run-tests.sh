#!/usr/bin/env bash
# The README's second command (and what CI runs): set everything up, build, run every test.
# SANITIZERS=1 (the default in CI) also builds and runs the suite under ASan+UBSan and TSan.
set -euo pipefail
cd "$(dirname "$0")/.."
presets=(release)
if [ "${SANITIZERS:-0}" = 1 ]; then presets+=(asan tsan); fi
for preset in "${presets[@]}"; do
  deploy/setup.sh "$preset"
  echo "tests: running the suite ($preset)"
  ctest --preset "$preset" -j "$(nproc)"
done
