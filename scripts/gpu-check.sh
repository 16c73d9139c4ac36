#!/bin/sh
# gpu-check.sh: the GPU checks of issue 10, for a machine with a CUDA GPU.
# Builds what needs CUDA (inferd, the add_sub and cuda_add_sub backends, the
# GPU layer's unit test) into $BUILD_DIR (default build-gpu), then starts
# inferd on a temporary repository and checks: the probe finds the device,
# KIND_GPU cuda_add_sub on 1 and 2 instances (INT32 and FP32 results),
# KIND_AUTO resolving to GPU, a GPU id beyond the device count refused, the
# pinned and CUDA pools allocated. Prints a pass/fail table; exit 1 if any
# check failed. Under 5 minutes with one GPU (the build is most of it).
#
# Without a GPU (no /dev/nvidia0 and no device in nvidia-smi -L) it says so
# and exits 0 with "skipped": the CPU-only behaviour is covered by
# tests/unit/core/test_gpu.c and tests/e2e/test_gpu_cpu_only.py.
# GPU_CHECK_FORCE=1 runs the checks anyway: a dry run of this script on a
# CPU-only host, where they fail.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-gpu}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
PY=${PYTHON:-python3}

gpus=""
if command -v nvidia-smi >/dev/null 2>&1; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep '^GPU ' || true)
fi
if [ -z "$gpus" ] && ! ls /dev/nvidia[0-9]* >/dev/null 2>&1 &&
   [ -z "${GPU_CHECK_FORCE:-}" ]; then
  echo "gpu-check: no GPU found (no /dev/nvidia[0-9]*, no device in nvidia-smi -L)"
  echo "gpu-check: skipped"
  exit 0
fi
echo "gpu-check: ${gpus:-a /dev/nvidia device is present}"

NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -z "$NVCC" ]; then
  echo "gpu-check: FAIL: a GPU is present but nvcc is not (install the CUDA toolkit)"
  exit 1
fi

start=$(date +%s)
mkdir -p "$BUILD_DIR"
echo "gpu-check: building in $BUILD_DIR with $NVCC"
if ! { cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DCMAKE_CUDA_COMPILER="$NVCC" >"$BUILD_DIR/gpu-check.configure.log" 2>&1 &&
       cmake --build "$BUILD_DIR" -j"$JOBS" --target inferd inferd_add_sub \
         inferd_cuda_add_sub core_test_gpu >"$BUILD_DIR/gpu-check.build.log" 2>&1; }; then
  echo "gpu-check: FAIL: build (logs: $BUILD_DIR/gpu-check.configure.log, $BUILD_DIR/gpu-check.build.log)"
  tail -30 "$BUILD_DIR/gpu-check.build.log" 2>/dev/null || tail -30 "$BUILD_DIR/gpu-check.configure.log"
  exit 1
fi
echo "gpu-check: built in $(( $(date +%s) - start )) s"

RESULTS=$(mktemp)
record() { printf '%-44s %s\n' "$1" "$2" >>"$RESULTS"; }

if out=$("$BUILD_DIR/tests/unit/core_test_gpu" 2>&1) &&
   echo "$out" | grep -q '^GPU host: '; then
  record "unit: probe finds the device" PASS
else
  record "unit: probe finds the device" FAIL
  echo "$out" | tail -5
fi

# the server checks, in Python's standard library only
INFERD="$BUILD_DIR/inferd" BACKENDS="$BUILD_DIR/backends" RESULTS="$RESULTS" \
  timeout 180 "$PY" - <<'PYEOF'
import json, os, socket, subprocess, tempfile, time, urllib.request, urllib.error

results = os.environ["RESULTS"]
def record(name, ok, detail=""):
    with open(results, "a") as f:
        f.write(f"{name:<44} {'PASS' if ok else 'FAIL'}"
                f"{'  ' + detail if detail and not ok else ''}\n")

io = """
input [ { name: "INPUT0" data_type: TYPE_%(t)s dims: [ 16 ] },
        { name: "INPUT1" data_type: TYPE_%(t)s dims: [ 16 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_%(t)s dims: [ 16 ] },
         { name: "OUTPUT1" data_type: TYPE_%(t)s dims: [ 16 ] } ]
"""
def model(name, backend, t, group):
    return (f'name: "{name}"\nbackend: "{backend}"\nmax_batch_size: 8\n'
            + io % {"t": t} + group)
models = {
    "cuda1": model("cuda1", "cuda_add_sub", "INT32",
                   'instance_group [ { kind: KIND_GPU count: 1 gpus: [ 0 ] } ]'),
    "cuda2": model("cuda2", "cuda_add_sub", "FP32",
                   'instance_group [ { kind: KIND_GPU count: 2 } ]'),
    "auto": model("auto", "cuda_add_sub", "INT32",
                  'instance_group [ { kind: KIND_AUTO } ]'),
    "gpu3": model("gpu3", "add_sub", "INT32",
                  'instance_group [ { kind: KIND_GPU gpus: [ 3 ] } ]'),
}
repo = tempfile.mkdtemp(prefix="gpu_check_")
for n, cfg in models.items():
    os.makedirs(f"{repo}/{n}/1")
    open(f"{repo}/{n}/config.pbtxt", "w").write(cfg)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
log = open(f"{repo}/inferd.log", "w+")
p = subprocess.Popen([os.environ["INFERD"], f"--model-repository={repo}",
                      f"--backend-directory={os.environ['BACKENDS']}",
                      "--http-address=127.0.0.1", f"--http-port={port}",
                      "--allow-grpc=false", "--allow-metrics=false",
                      "--exit-on-error=false",
                      "--pinned-memory-pool-byte-size=16777216",
                      "--cuda-memory-pool-byte-size=0:16777216"],
                     stdout=log, stderr=subprocess.STDOUT)
url = f"http://127.0.0.1:{port}"
def call(path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else
                                 json.dumps(body).encode(), method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except Exception as e:
        return 0, {"error": str(e)}
deadline = time.time() + 60
while time.time() < deadline and call("/v2/health/live")[0] != 200:
    time.sleep(0.2)
def ready(n):
    return call(f"/v2/models/{n}/ready")[0] == 200
while time.time() < deadline and not all(ready(n) for n in ("cuda1", "cuda2", "auto")):
    time.sleep(0.2)
try:
    for n, t, cnt in (("cuda1", "INT32", 1), ("cuda2", "FP32", 2), ("auto", "INT32", 1)):
        a = list(range(16)); b = [1] * 16
        st, r = call(f"/v2/models/{n}/infer", {"inputs": [
            {"name": "INPUT0", "datatype": t, "shape": [1, 16], "data": a},
            {"name": "INPUT1", "datatype": t, "shape": [1, 16], "data": b}]})
        outs = {o["name"]: o["data"] for o in r.get("outputs", [])}
        ok = (st == 200 and [int(x) for x in outs.get("OUTPUT0", [])] == [x + 1 for x in a]
              and [int(x) for x in outs.get("OUTPUT1", [])] == [x - 1 for x in a])
        record(f"infer {n} ({t}, {cnt} GPU instance{'s' if cnt > 1 else ''})", ok,
               f"{st} {r}"[:200])
    st, cfg = call("/v2/models/auto/config")
    kinds = [g.get("kind") for g in cfg.get("instance_group", [])]
    record("KIND_AUTO resolves to KIND_GPU", kinds == ["KIND_GPU"], str(kinds))
    st, idx = call("/v2/repository/index", {})
    g3 = [e for e in idx if e.get("name") == "gpu3"] if isinstance(idx, list) else []
    ok = bool(g3) and g3[0].get("state") == "UNAVAILABLE" and "GPU id 3" in g3[0].get("reason", "")
    record("gpus: [3] refused, naming the id", ok, str(g3)[:200])
    # 2 instances in parallel: 64 requests from 8 threads, all correct
    import concurrent.futures as cf
    def one(i):
        st, r = call("/v2/models/cuda2/infer", {"inputs": [
            {"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "data": [float(i)] * 16},
            {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "data": [1.0] * 16}]})
        return st == 200 and r["outputs"][0]["data"][0] == i + 1
    with cf.ThreadPoolExecutor(8) as ex:
        ok = all(ex.map(one, range(64)))
    record("cuda2: 64 concurrent requests correct", ok)
    log.seek(0); text = log.read()
    record("pools allocated (not logged unused)", "are unused" not in text
           and "CUDA device 0: " in text, text[-300:])
finally:
    p.terminate()
    try: p.wait(timeout=30)
    except subprocess.TimeoutExpired: p.kill()
    log.seek(0); text = log.read()
    if "FAIL" in open(results).read():
        print("---- inferd log (tail) ----"); print(text[-3000:])
PYEOF
[ $? -eq 0 ] || record "server checks ran to the end" FAIL

echo "---------------------------------------------------------"
cat "$RESULTS"
echo "--------------------------------------------------------- $(( $(date +%s) - start )) s"
if grep -q 'FAIL' "$RESULTS"; then rc=1; echo "gpu-check: FAILED"; else rc=0; echo "gpu-check: all passed"; fi
rm -f "$RESULTS"
exit $rc
