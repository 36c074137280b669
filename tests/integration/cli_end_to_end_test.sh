#!/usr/bin/env bash
# End to end with the shipped binaries: infer-server on free ports, infer-client streaming the
# MNIST test set, a live /metrics scrape that promtool must accept and whose histogram counts
# must equal the requests sent, then SIGTERM and a clean exit.
# Usage: cli_end_to_end_test.sh <infer-server> <infer-client> <model-repository>
set -euo pipefail
server_bin=$1 client_bin=$2 repo=$3
work=$(mktemp -d)
trap 'kill -9 "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; cat "$work/server.log" >&2; exit 1; }

"$server_bin" --model-repository "$repo" --address 127.0.0.1 --grpc-port 0 --metrics-port 0 \
  --cpu-threads 2 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q "serving" "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || fail "infer-server exited during start-up"
  sleep 0.05
done
line=$(grep -o "gRPC on port [0-9]*, metrics on port [0-9]*" "$work/server.log") ||
  fail "no 'serving' line with ports in the log"
grpc_port=$(echo "$line" | awk '{print $4}' | tr -d ,)
metrics_port=$(echo "$line" | awk '{print $8}')

"$client_bin" --dataset mnist --host "127.0.0.1:$grpc_port" \
  --metrics-url "http://127.0.0.1:$metrics_port/metrics" --concurrency 32 \
  --json "$work/report.json" --min-accuracy 0.99 >"$work/client.out" ||
  { cat "$work/client.out"; fail "infer-client exited with $?"; }
cat "$work/client.out"

python3 - "$work/report.json" <<'PY' || fail "report JSON check"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["images"] == 10000, r["images"]
assert r["errors"] == 0, r["errors"]
assert r["accuracy"] >= 0.99, r["accuracy"]
assert sum(c["total"] for c in r["per_class"]) == 10000
assert len(r["confusion"]) == 10 and sum(map(sum, r["confusion"])) == 10000
for k in ("p50", "p99", "max"):
    assert r["latency_us"][k] > 0, k
print("report ok: accuracy %.4f" % r["accuracy"])
PY

curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "scrape failed"
promtool check metrics <"$work/metrics.txt" || fail "promtool rejected the scrape"
python3 - "$work/metrics.txt" <<'PY' || fail "metrics counts"
import re, sys
text = open(sys.argv[1]).read()
def value(name, labels):
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if m and m.group(1) == name and all(f'{k}="{v}"' in (m.group(2) or "") for k, v in labels.items()):
            total += float(m.group(3)); found = True
    assert found, f"{name}{labels} missing"
    return total
model = {"model": "mnist-cnn-q8"}
for h in ("request", "queue", "compute"):
    n = value(f"pynq_inference_{h}_duration_seconds_count", model)
    assert n == 10000, f"{h} histogram counted {n}, sent 10000"
    inf = value(f"pynq_inference_{h}_duration_seconds_bucket", dict(model, le="+Inf"))
    assert inf == n, f"{h}: +Inf bucket {inf} != count {n}"
ok = value("pynq_inference_requests_total", dict(model, outcome="success"))
assert ok == 10000, ok
images = value("pynq_inference_batch_size_sum", model)
assert images == 10000, images
assert value("process_resident_memory_bytes", {}) > 0
print("metrics ok: 10000 requests in", value("pynq_inference_batch_size_count", model), "batches")
PY

kill -TERM "$server_pid"
for _ in $(seq 1 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$server_pid" 2>/dev/null && fail "infer-server still running 10 s after SIGTERM"
wait "$server_pid" || fail "infer-server exited with status $? after SIGTERM"
grep -q "shutdown complete" "$work/server.log" || fail "no 'shutdown complete' in the log"
echo "PASS"
