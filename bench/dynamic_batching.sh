#!/usr/bin/env bash
# dynamic_batching.sh: throughput and latency with and without the dynamic
# batcher, in one run, for a model whose cost is mostly per execution.
#
# The model is the testing backend (identity FP32 [1,16]) with a fixed
# per-execution delay (EXEC_MS, default 2 ms: the cost of one model launch,
# whatever the batch size), max_batch_size 64, one instance. "plain" uses the
# default scheduler (one request per execution), "batched" adds
# `dynamic_batching { max_queue_delay_microseconds: DELAY_US }`. wrk drives
# each at concurrency 1, 4, 16 and 64 (one connection = one client with one
# request in flight) and reports req/s and p50/p99 latency.
#
# Environment: DURATION (5s), EXEC_MS (2), DELAY_US (500), INFERD_BIN
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5s}
EXEC_MS=${EXEC_MS:-2}
DELAY_US=${DELAY_US:-500}
INFERD_BIN=${INFERD_BIN:-$root/build/inferd}
for tool in wrk "$INFERD_BIN"; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "dynamic_batching: $tool not found (make build; setup-deps --bench)" >&2
    exit 1
  }
done

tmp=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

model() { # name extra-config
  mkdir -p "$tmp/repo/$1/1"
  cat >"$tmp/repo/$1/config.pbtxt" <<CFG
name: "$1"
backend: "testing"
max_batch_size: 64
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 16 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 16 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
parameters { key: "execute_delay_ms" value { string_value: "$EXEC_MS" } }
$2
CFG
}
model plain ""
model batched "dynamic_batching { max_queue_delay_microseconds: $DELAY_US }"

cat >"$tmp/post.lua" <<'LUA'
local v = {}
for i = 1, 16 do v[#v + 1] = tostring(i) .. ".5" end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],' ..
  '"data":[' .. table.concat(v, ",") .. ']}]}'
LUA

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$INFERD_BIN" --model-repository="$tmp/repo" --http-address=127.0.0.1 \
  --http-port="$port" --allow-grpc=false --log-info=false \
  >"$tmp/inferd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break
  sleep 0.1
done

# latency value of a wrk --latency line, in ms
to_ms() {
  /usr/bin/python3 -c '
import sys
v = sys.argv[1]
for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
    if v.endswith(unit):
        print("%.2f" % (float(v[:-len(unit)]) * f)); break' "$1"
}

echo "testing backend, ${EXEC_MS} ms per execution, max_batch_size 64," \
  "1 instance; batched: max_queue_delay ${DELAY_US} us; wrk -t1 -d$DURATION," \
  "$(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf "%-8s %5s %12s %10s %10s\n" model conc "req/s" "p50 ms" "p99 ms"
declare -A rate
for conc in 1 4 16 64; do
  for m in plain batched; do
    out=$(wrk -t1 -c"$conc" -d"$DURATION" --latency -s "$tmp/post.lua" \
      "http://127.0.0.1:$port/v2/models/$m/infer")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    [[ -n "$non2xx" ]] && { echo "errors: $out" >&2; exit 1; }
    rate[$m$conc]=$rps
    printf "%-8s %5d %12.0f %10s %10s\n" "$m" "$conc" "$rps" \
      "$(to_ms "$p50")" "$(to_ms "$p99")"
  done
  /usr/bin/python3 -c "print('  ratio batched/plain at concurrency $conc: %.2f' % (${rate[batched$conc]} / ${rate[plain$conc]}))"
done
