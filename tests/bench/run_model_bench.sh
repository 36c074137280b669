#!/bin/bash
# The side-by-side compute benchmark of docs/performance.md, in one run on this machine: for each
# model of the zoo, at batch 1 and batch 64, images/s of our CPU backend (tests/bench/model_bench)
# against PyTorch (float32, eval mode, the faster of 1 and 2 threads) and OpenCV's DNN module
# (the same network exported to ONNX), both by tests/bench/framework_bench.py; then, with
# CALLGRIND=1, the instructions per image of our backend at batch 64 under valgrind's callgrind.
#
#   tests/bench/run_model_bench.sh [build-dir]        (default build/release; SECONDS_PER=3)
#
# Needs python3-torch and python3-opencv (apt install python3-torch python3-opencv), which the
# product itself does not.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
seconds=${SECONDS_PER:-3}
models=${MODELS:-}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

model_args=(--seconds "$seconds" --json "$out/ours.json" --kernels fast)
framework_args=(--seconds "$seconds" --json "$out/frameworks.json")
if [ -n "$models" ]; then
  model_args+=(--models "$models")
  framework_args+=(--models "$models")
fi
echo "== our CPU backend ($build/tests/bench/model_bench)"
"$build/tests/bench/model_bench" "${model_args[@]}"
echo "== PyTorch and OpenCV DNN (tests/bench/framework_bench.py)"
/usr/bin/python3 tests/bench/framework_bench.py --zoo models/zoo "${framework_args[@]}"

if [ "${CALLGRIND:-0}" = 1 ]; then
  echo "== callgrind: instructions per image, fast kernels, batch 64, 1 thread"
  for dir in models/zoo/*/; do
    name=$(basename "$dir")
    [ -n "$models" ] && [[ ",$models," != *",$name,"* ]] && continue
    [ -f "$dir/1/model.pb" ] || continue
    total=$(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null \
      "$build/tests/bench/model_bench" --models "$name" --kernels fast --batch 64 --threads 1 \
      --callgrind 1 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo "{\"$name\": $total}" > "$out/callgrind-$name.json"
    echo "$name: $((total / 64)) instructions per image"
  done
fi

/usr/bin/python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
ours = json.load(open(os.path.join(out, 'ours.json')))
frameworks = json.load(open(os.path.join(out, 'frameworks.json')))
print('\n| model | batch | ours img/s | PyTorch img/s | OpenCV DNN img/s | ours / PyTorch | ours / OpenCV | ours / faster of the two |')
print('| --- | --- | --- | --- | --- | --- | --- | --- |')
for model in sorted(ours):
    for batch in ('1', '64'):
        mine = ours[model].get('fast', {}).get(batch, {}).get('images_per_second')
        if mine is None:
            continue
        fw = frameworks.get(model, {})
        pt = fw.get('pytorch', {}).get(batch, {}).get('images_per_second')
        cv = fw.get('opencv', {}).get(batch, {}).get('images_per_second')
        fmt = lambda v: f'{v:,.0f}' if v else 'n/a'
        ratio = lambda v: f'{mine / v:.1f}x' if v else 'n/a'
        faster = max([v for v in (pt, cv) if v] or [0])
        print(f'| {model} | {batch} | {fmt(mine)} | {fmt(pt)} | {fmt(cv)} | {ratio(pt)} | '
              f'{ratio(cv)} | {ratio(faster)} |')
for path in sorted(glob.glob(os.path.join(out, 'callgrind-*.json'))):
    for model, total in json.load(open(path)).items():
        print(f"callgrind {model}: {total / 64:,.0f} instructions per image (batch 64)")
if 'versions' in frameworks:
    print('versions:', json.dumps(frameworks['versions']))
PY
