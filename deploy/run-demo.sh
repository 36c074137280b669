#!/usr/bin/env bash
# The README's first command: set everything up, start infer-server on this machine, stream the
# MNIST test set through it with infer-client, print the report, stop the server.
# The server runs on the virtual overlay (OVERLAY=sim, the default; OVERLAY=none for CPU only):
# the MNIST models with an accelerator are served by the fabric and the CPU together, and the
# report's server view says how many images each served.
# Environment: INFER_DATA_DIR (default ../shared/datasets), DATASET (mnist, the default;
# fashion-mnist; cifar10), GRPC_PORT / METRICS_PORT (default 8001 / 8002), MIN_ACCURACY (default:
# the bar of the dataset's model, 0.99 / 0.90 / 0.84).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh release

bin=build/release
dataset=${DATASET:-mnist}
case "$dataset" in
  fashion-mnist) default_min=0.90 ;;
  cifar10) default_min=0.84 ;;
  *) default_min=0.99 ;;
esac
grpc_port=${GRPC_PORT:-8001}
metrics_port=${METRICS_PORT:-8002}
log=$(mktemp -t infer-server.XXXXXX.log)

"$bin/server/infer-server" --model-repository models/zoo --grpc-port "$grpc_port" \
  --metrics-port "$metrics_port" --overlay "${OVERLAY:-sim}" >"$log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || echo "infer-server exited with status $? (log: $log)" >&2
  fi
}
trap stop_server EXIT

# Ready when it logs that it serves (or dead if it exits first).
for _ in $(seq 1 100); do
  grep -q "serving" "$log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; echo "infer-server failed to start" >&2; exit 1; }
  sleep 0.1
done
sed 's/^/[server] /' "$log"

"$bin/client/infer-client" --dataset "$dataset" --host "localhost:$grpc_port" \
  --metrics-url "http://localhost:$metrics_port/metrics" --concurrency 16 \
  --json "$bin/report-$dataset.json" --min-accuracy "${MIN_ACCURACY:-$default_min}"
echo "JSON report: $bin/report-$dataset.json   server log: $log"
