#!/bin/bash
# The side-by-side compute benchmark of docs/performance.md, in one run on this machine: for each
# model of the zoo, at batch 1 and batch 64, images/s of our CPU backend (tests/bench/model_bench)
# against PyTorch (float32, eval mode) and OpenCV's DNN module (the same network exported to
# ONNX), both by tests/bench/framework_bench.py; then, with CALLGRIND=1, the instructions per image
# of our backend at batch 64 under valgrind's callgrind.
#
# The frameworks run once per thread count, each time with OpenBLAS's and OpenMP's pools set to
# that count before the interpreter starts (Debian's torch runs Linear layers through OpenBLAS,
# whose own threads otherwise spin beside torch's: at 1 torch thread the MLP of mnist-lfc-w1a1 ran
# 10,300 images/s with the pools left alone and 15,000 with them at 1); each figure is the best
# of these runs.
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
framework_args=(--seconds "$seconds")
if [ -n "$models" ]; then
  model_args+=(--models "$models")
  framework_args+=(--models "$models")
fi
echo "== our CPU backend ($build/tests/bench/model_bench)"
"$build/tests/bench/model_bench" "${model_args[@]}"
for threads in 1 2; do
  echo "== PyTorch and OpenCV DNN at $threads thread(s) (tests/bench/framework_bench.py)"
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads /usr/bin/python3 \
    tests/bench/framework_bench.py --zoo models/zoo --threads "$threads" \
    "${framework_args[@]}" --json "$out/frameworks-$threads.json"
done

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
# The best of the per-thread-count runs, for each model, framework and batch.
frameworks = {}
for path in sorted(glob.glob(os.path.join(out, 'frameworks-*.json'))):
    for model, fws in json.load(open(path)).items():
        if model == 'versions':
            frameworks['versions'] = fws
            continue
        for fw, batches in fws.items():
            if fw not in ('pytorch', 'opencv') or not isinstance(batches, dict):
                continue
            for batch, fig in batches.items():
                if not isinstance(fig, dict) or 'images_per_second' not in fig:
                    continue
                best = frameworks.setdefault(model, {}).setdefault(fw, {}).get(batch)
                if best is None or fig['images_per_second'] > best['images_per_second']:
                    frameworks[model][fw][batch] = fig
print('\n| model | batch | ours img/s | PyTorch img/s (threads) | OpenCV DNN img/s (threads) | ours / PyTorch | ours / OpenCV | ours / faster of the two |')
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
        pt_threads = fw.get('pytorch', {}).get(batch, {}).get('threads', '?')
        cv_threads = fw.get('opencv', {}).get(batch, {}).get('threads', '?')
        print(f'| {model} | {batch} | {fmt(mine)} | {fmt(pt)} ({pt_threads}) | '
              f'{fmt(cv)} ({cv_threads}) | {ratio(pt)} | {ratio(cv)} | {ratio(faster)} |')
for path in sorted(glob.glob(os.path.join(out, 'callgrind-*.json'))):
    for model, total in json.load(open(path)).items():
        print(f"callgrind {model}: {total / 64:,.0f} instructions per image (batch 64)")
if 'versions' in frameworks:
    print('versions:', json.dumps(frameworks['versions']))
PY
