#!/bin/bash
# The FPGA path's throughput benchmark of docs/performance.md: for each model with an
# accelerator, the MNIST test set streamed through infer-server by infer-client at concurrency 64,
#   cpu          --overlay none                          (measured: the CPU backend alone)
#   fabric       --overlay sim --dispatch fabric-first   (measured on the virtual overlay: the
#                                                         fabric's C simulation on this machine)
#   both         --overlay sim --dispatch share          (measured: fabric + CPU at once)
# then the fabric's MODELLED figures at 100 MHz (tests/bench/fabric_model_bench, the cycle model).
# On the virtual overlay the "fabric" is the HLS kernels' C simulation running on this machine's
# cores: it is as fast as that, and it takes a core from the CPU backend; a board's fabric takes
# no ARM core and runs at the modelled rate.
#
#   tests/bench/run_fabric_bench.sh [build-dir]     (default build/release; LIMIT=10000 images)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
limit=${LIMIT:-10000}
port=${GRPC_PORT:-18101}
metrics_port=${METRICS_PORT:-18102}
out=$(mktemp -d)
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$out"' EXIT

run() {  # model mode overlay dispatch
  local model=$1 mode=$2 overlay=$3 dispatch=$4
  "$build/server/infer-server" --model-repository models/zoo --grpc-port "$port" \
    --metrics-port "$metrics_port" --overlay "$overlay" --dispatch "$dispatch" \
    --log-level warn >"$out/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://localhost:$metrics_port/metrics" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$build/client/infer-client" --dataset mnist --model "$model" --host "localhost:$port" \
    --metrics-url "http://localhost:$metrics_port/metrics" --concurrency 64 --limit "$limit" \
    --no-progress --json "$out/$model-$mode.json" >/dev/null 2>&1
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  python3 - "$out/$model-$mode.json" "$model" "$mode" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b = j["server"]["backends"]
def share(name):
    return b.get(name, {}).get("images", 0)
print(f"{sys.argv[2]:16s} {sys.argv[3]:7s} {j['throughput_ips']:9.0f} img/s  "
      f"accuracy {100 * j['accuracy']:.2f}%  fabric {share('fpga'):6.0f} images  "
      f"cpu {share('cpu'):6.0f} images  avg batch {j['server']['avg_batch_size']:.1f}  "
      f"p50 {j['latency_us']['p50']:.0f} us  p99 {j['latency_us']['p99']:.0f} us")
PY
}

echo "MEASURED on this machine ($(nproc) cores), concurrency 64, $limit MNIST test images each:"
for model in mnist-lfc-w1a1 mnist-lfc-w1a2 mnist-cnn-q8; do
  run "$model" cpu none share
  run "$model" fabric sim fabric-first
  run "$model" both sim share
done
echo
"$build/tests/bench/fabric_model_bench"
