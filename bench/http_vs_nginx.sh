#!/usr/bin/env bash
# http_vs_nginx.sh: HTTP throughput of inferd against nginx on this machine,
# measured in one run so both see the same conditions.
#
#   1. inferd (build/inferd) serves examples/model_repository on a loopback
#      port; wrk POSTs Triton's "simple" request (two INT32 [1,16] inputs)
#      as JSON (simple_json.lua), then as binary tensor data
#      (simple_binary.lua).
#   2. nginx, unprivileged, config in a temp dir: 1 worker process,
#      access_log off, `return 200` with a ~100-byte body; wrk sends it the
#      same JSON POST.
# Prints req/s of each run and the inferd/nginx ratios.
#
# Environment: DURATION (10s), CONNECTIONS (16), THREADS (1), WARMUP (2s),
#   INFERD_BIN (build/inferd), INFERD_ARGS (extra inferd flags), NGINX (nginx)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
INFERD_BIN=${INFERD_BIN:-$root/build/inferd}
INFERD_ARGS=${INFERD_ARGS:-}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

for tool in wrk curl "$NGINX" "$INFERD_BIN"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "http_vs_nginx: $tool not found (run scripts/setup-deps.sh --bench" \
      "and make build)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
inferd_pid=""
nginx_pid=""
cleanup() {
  [[ -n "$inferd_pid" ]] && kill "$inferd_pid" 2>/dev/null && wait "$inferd_pid" 2>/dev/null
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # url: waits up to 20 s for a 200
  for _ in $(seq 200); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$1") == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "http_vs_nginx: $1 did not answer 200 within 20 s" >&2
  return 1
}

# run_wrk name url script → prints a result line, sets $rps
run_wrk() {
  local name=$1 url=$2 script=$3 out
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$script" "$url" >/dev/null
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s "$script" "$url")
  echo "$out" >"$tmp/wrk-$name.txt"
  if grep -q "Non-2xx" <<<"$out"; then
    echo "http_vs_nginx: $name: some responses were not 2xx:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  local p50 p99
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%-22s %12s req/s   p50 %-9s p99 %s\n' "$name" "$rps" "$p50" "$p99"
}

# ---- inferd ---------------------------------------------------------------
iport=$(free_port)
# shellcheck disable=SC2086
"$INFERD_BIN" --model-repository="$root/examples/model_repository" \
  --http-address=127.0.0.1 --http-port="$iport" $INFERD_ARGS \
  >"$tmp/inferd.log" 2>&1 &
inferd_pid=$!
wait_http "http://127.0.0.1:$iport/v2/health/ready" || {
  cat "$tmp/inferd.log" >&2
  exit 1
}
# Check the answers before measuring them.
reply=$(curl -s -X POST -H 'Content-Type: application/json' \
  "http://127.0.0.1:$iport/v2/models/simple/infer" -d '{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},{"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}' | tr -d ' \n')
if ! grep -q '"OUTPUT0"' <<<"$reply" ||
  ! grep -q '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16' <<<"$reply"; then
  echo "http_vs_nginx: unexpected reply from inferd: $reply" >&2
  exit 1
fi

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (keep-alive), $(nproc) cores," \
  "$(date -u +%Y-%m-%dT%H:%MZ)"
run_wrk "inferd simple JSON" "http://127.0.0.1:$iport" "$bench/simple_json.lua"
inferd_json=$rps
run_wrk "inferd simple binary" "http://127.0.0.1:$iport" \
  "$bench/simple_binary.lua"
inferd_bin=$rps
kill "$inferd_pid"
wait "$inferd_pid" 2>/dev/null || true
inferd_pid=""

# ---- nginx ----------------------------------------------------------------
nport=$(free_port)
mkdir -p "$tmp/nginx"
temp_paths=""
# one *_temp_path line per temp path this nginx build knows
for kind in client_body proxy fastcgi uwsgi scgi; do
  flag="--http-${kind//_/-}-temp-path"
  [[ $kind == client_body ]] && flag="--http-client-body-temp-path"
  if "$NGINX" -V 2>&1 | grep -q -- "$flag"; then
    temp_paths+="  ${kind}_temp_path $tmp/nginx/$kind;"$'\n'
  fi
done
body=$(printf '{"model_name":"simple","outputs":[{"name":"OUTPUT0","datatype":"INT32","shape":[1,1],"data":[1]}]}')
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
$temp_paths
  server {
    listen 127.0.0.1:$nport;
    location / {
      default_type application/json;
      return 200 '$body';
    }
  }
}
CONF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
wait_http "http://127.0.0.1:$nport/" || {
  cat "$tmp/nginx/error.log" >&2
  exit 1
}
run_wrk "nginx return 200" "http://127.0.0.1:$nport" "$bench/simple_json.lua"
nginx_rps=$rps

awk -v j="$inferd_json" -v b="$inferd_bin" -v n="$nginx_rps" 'BEGIN {
  printf "ratio inferd JSON / nginx:   %.2f\n", j / n
  printf "ratio inferd binary / nginx: %.2f\n", b / n
}'
