#!/usr/bin/env bash
# grpc_bench.sh: ModelInfer/s of inferd's gRPC frontend on the `simple`
# model (add_sub, 2x INT32[1,16]) next to a bare gRPC C-core unary echo
# server answering the same request bytes, both driven by the same C load
# client (grpc_bench_client.c) in the same run.
#
# usage: bench/grpc_bench.sh [seconds per point (5)] [concurrencies ("1 4 16 64")]
# env:   INFERD_BIN (build/inferd), INFERD_BACKEND_DIR (<bin dir>/backends),
#        INFERD_EXTRA_ARGS (e.g. "--allow-http=false"), GRPC_THREADS (nproc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-5}
concs=${2:-"1 4 16 64"}
bin=${INFERD_BIN:-$root/build/inferd}
backends=${INFERD_BACKEND_DIR:-$(dirname "$bin")/backends}
threads=${GRPC_THREADS:-$(nproc)}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

flags=$(pkg-config --cflags --libs grpc gpr)
gcc -O2 -o "$work/client" "$here/grpc_bench_client.c" $flags
gcc -O2 -o "$work/echo" "$here/grpc_echo_server.c" $flags -lpthread

# the request: a serialized ModelInferRequest for simple, raw inputs
protoc -I"$root/proto" --python_out="$work" "$root/proto/model_config.proto" \
  "$root/proto/grpc_service.proto"
/usr/bin/python3 - "$work" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import grpc_service_pb2 as pb
r = pb.ModelInferRequest(model_name="simple")
for n in ("INPUT0", "INPUT1"):
    r.inputs.add(name=n, datatype="INT32", shape=[1, 16])
    r.raw_input_contents.append(bytes(range(64)))
open(sys.argv[1] + "/payload.bin", "wb").write(r.SerializeToString())
PY

mkdir -p "$work/repo/simple/1"
cat >"$work/repo/simple/config.pbtxt" <<'CFG'
name: "simple"
backend: "add_sub"
max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
        { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
         { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
CFG

port_e=$((20000 + RANDOM % 10000)); port_i=$((port_e + 1)); port_h=$((port_e + 2))
"$work/echo" "$port_e" "$threads" >/dev/null &
"$bin" --model-repository="$work/repo" --backend-directory="$backends" \
  --grpc-port="$port_i" --grpc-address=127.0.0.1 --http-port="$port_h" \
  --grpc-thread-count="$threads" ${INFERD_EXTRA_ARGS:-} >"$work/inferd.log" 2>&1 &
sleep 2
method=/inference.GRPCInferenceService/ModelInfer
echo "payload $(stat -c %s "$work/payload.bin") bytes, $threads server threads, ${secs}s per point"
printf "%-12s %14s %14s %8s\n" concurrency "echo calls/s" "inferd calls/s" ratio
for c in $concs; do
  e=$("$work/client" "127.0.0.1:$port_e" $method "$work/payload.bin" "$c" "$secs" | awk '{print $1}')
  i=$("$work/client" "127.0.0.1:$port_i" $method "$work/payload.bin" "$c" "$secs" | awk '{print $1}')
  printf "%-12s %14s %14s %8s\n" "$c" "$e" "$i" "$(awk -v a="$i" -v b="$e" 'BEGIN{printf "%.2f", a/b}')"
done
