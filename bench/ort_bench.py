#!/usr/bin/python3
"""ort_bench.py: the onnxruntime backend against ONNX Runtime itself, and
ONNX Runtime against OpenCV DNN and libtorch, in one run.

resnet18 and the 2-layer transformer encoder (seq 32) of
tests/e2e/models/ort_models.py at batch 1 and 8: throughput through inferd
(HTTP with binary tensors, and gRPC with raw contents; `--concurrency`
requests in flight, 1 instance) against the same runtime driven in-process by
bench/ort_inproc.c (same library, same intra-op thread count). resnet18 is
also served by the onnx backend (OpenCV DNN) and the pytorch backend
(libtorch), each against its own in-process loop (bench/frameworks_inproc.c,
as bench/frameworks_bench.py).

Usage: /usr/bin/python3 bench/ort_bench.py [--build build] [--seconds 5]
           [--concurrency 2] [--threads 2] [--rounds 2]
Needs a built inferd with the onnxruntime, onnx and pytorch backends and
ort_inproc (cmake --build BUILD --target inferd ort_inproc). Prints a
Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "models"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import fw_models  # noqa: E402
import frameworks_bench as fb  # noqa: E402
import ort_models  # noqa: E402

SEQ = 32


def opencv(m):
    """fw_models' ONNX configs say backend "onnxruntime", which is ONNX
    Runtime now: "onnx" names the OpenCV DNN backend."""
    m.config = m.config.replace('backend: "onnxruntime"', 'backend: "onnx"')
    return m

# (label, model dir, maker, maker kwargs, engine, input, output, row shape)
CASES = [
    ("resnet18, ONNX Runtime", "ort_resnet18", ort_models.ort_resnet18,
     "ort", "input", "logits", [3, 224, 224]),
    ("transformer, ONNX Runtime", "ort_transformer",
     ort_models.ort_transformer, "ort", "x", "y", [SEQ, 64]),
    ("resnet18, OpenCV DNN", "cv_resnet18", lambda name, params: opencv(
        fw_models.onnx_resnet18(name, params=params)),
     "onnx", "input", "logits", [3, 224, 224]),
    ("resnet18, libtorch", "pt_resnet18",
     lambda name, params: fw_models.pt_resnet18(name, params=params),
     "pytorch", "INPUT__0", "OUTPUT__0", [3, 224, 224]),
]


def http_request(model, inp, out, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(
        np.float32).tobytes()
    header = json.dumps({
        "inputs": [{"name": inp, "datatype": "FP32", "shape": shape,
                    "parameters": {"binary_data_size": len(x)}}],
        "outputs": [{"name": out, "parameters": {"binary_data": True}}],
    }).encode()
    body = header + x
    headers = {"Content-Type": "application/octet-stream",
               "Inference-Header-Content-Length": str(len(header)),
               "Content-Length": str(len(body))}
    return f"/v2/models/{model}/infer", body, headers


WRK_LUA = """
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = os.getenv("WRK_HLEN")
wrk.body = body
"""


def wrk_load(port, path, body, headers, seconds, concurrency, tmp):
    """HTTP load from wrk (C): a Python client cannot keep a fast model
    busy. Returns requests per second."""
    bf = Path(tmp) / "wrk_body.bin"
    bf.write_bytes(body)
    lua = Path(tmp) / "wrk_ort.lua"
    lua.write_text(WRK_LUA)
    env = dict(os.environ, WRK_BODY=str(bf), WRK_PATH=path,
               WRK_HLEN=headers["Inference-Header-Content-Length"])
    r = subprocess.run(["wrk", "-t1", f"-c{concurrency}",
                        f"-d{max(1, int(seconds))}s", "-s", str(lua),
                        f"http://127.0.0.1:{port}"],
                       capture_output=True, text=True, env=env, check=True)
    for line in r.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(r.stdout + r.stderr)


def grpc_load(port, model, inp, out, shape, seconds, concurrency):
    import grpc
    from test_grpc_helpers import infer_request, pb_grpc
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    req = infer_request(model, [(inp, "FP32", shape, x)], [out])
    count = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(i):
        ch = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_receive_message_length", 1 << 28),
                     ("grpc.max_send_message_length", 1 << 28)])
        stub = pb_grpc.GRPCInferenceServiceStub(ch)
        while time.monotonic() < stop:
            stub.ModelInfer(req, timeout=60)
            count[i] += 1
        ch.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,))
          for i in range(concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(count), time.monotonic() - t0


def ort_inproc(exe, model_file, inp, out, shape, seconds, threads):
    r = subprocess.run([str(exe), str(model_file), inp, out,
                        ",".join(str(d) for d in shape), str(seconds),
                        str(threads)], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])["inferences_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--wrk", action="store_true",
                    help="HTTP load from wrk instead of Python")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternate inferd and in-process runs this many "
                         "times and keep the best of each (shared machines)")
    ap.add_argument("-k", default="", help="only cases whose label has this")
    a = ap.parse_args()
    build = Path(a.build)
    ort_exe = build / "backends" / "onnxruntime" / "ort_inproc"
    fw_exe = fb.build_inproc(a.build)
    t = str(a.threads)
    params = {"ort": {"intra_op_thread_count": t, "inter_op_thread_count": "1"},
              "onnx": {"INTRA_OP_THREAD_COUNT": t},
              "pytorch": {"INTRA_OP_THREAD_COUNT": t}}
    cases = [c for c in CASES if a.k in c[0]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for _, name, maker, engine, *_ in cases:
            m = maker(name=name, params=params[engine])
            d = repo / name
            (d / "1").mkdir(parents=True)
            (d / "config.pbtxt").write_text(m.config)
            (d / "1" / m.file_name).write_bytes(m.data)
        port, gport = fb.free_port(), fb.free_port()
        log = open(Path(tmp) / "inferd.log", "wb")
        srv = subprocess.Popen(
            [str(build / "inferd"), f"--model-repository={repo}",
             f"--backend-directory={build / 'backends'}",
             "--http-address=127.0.0.1", f"--http-port={port}",
             f"--grpc-port={gport}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            import http.client
            for _ in range(600):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port,
                                                   timeout=2)
                    c.request("GET", "/v2/health/ready")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("inferd did not become ready")
            for label, name, _, engine, inp, out, row in cases:
                model_file = repo / name / "1" / (
                    "model.pt" if engine == "pytorch" else "model.onnx")
                for batch in (1, 8):
                    shape = [batch] + row
                    path, body, headers = http_request(name, inp, out, shape)
                    fb.http_load(port, path, body, headers, 1.0,
                                 a.concurrency)
                    best = {"http": 0.0, "grpc": 0.0, "local": 0.0}
                    for _ in range(a.rounds):
                        if a.wrk:
                            rate = wrk_load(port, path, body, headers,
                                            a.seconds, a.concurrency, tmp)
                        else:
                            n, dt = fb.http_load(port, path, body, headers,
                                                 a.seconds, a.concurrency)
                            rate = n / dt
                        best["http"] = max(best["http"], rate * batch)
                        if engine == "ort":
                            n, dt = grpc_load(gport, name, inp, out, shape,
                                              a.seconds, a.concurrency)
                            best["grpc"] = max(best["grpc"], n * batch / dt)
                            local = ort_inproc(ort_exe, model_file, inp, out,
                                               shape, a.seconds, a.threads)
                        else:
                            # the same model alone in a repository of its
                            # own (the in-process server loads every model)
                            alone = repo.parent / "inproc" / name
                            if not alone.exists():
                                alone.mkdir(parents=True)
                                (alone / name).symlink_to(repo / name)
                            local = fb.inproc(fw_exe, a.build, alone, name,
                                              inp, out, batch, a.seconds)
                        best["local"] = max(best["local"], local)
                    rows.append((label, batch, best))
                    print(f"{label} batch {batch}: {best}", file=sys.stderr)
        finally:
            srv.terminate()
            srv.wait(timeout=30)
    print(f"\n1 instance, {a.threads} intra-op threads, {a.concurrency} "
          f"requests in flight, best of {a.rounds} alternating "
          f"{a.seconds:.0f} s runs, {os.cpu_count()} CPUs; transformer: "
          f"seq {SEQ}, d_model 64, 2 layers\n")
    print("| model, engine | batch | inferd HTTP binary (inf/s) | inferd gRPC "
          "(inf/s) | in-process (inf/s) | HTTP ratio | gRPC ratio |")
    print("|---|---|---|---|---|---|---|")
    for label, batch, b in rows:
        g = f"{b['grpc']:.1f}" if b["grpc"] else "-"
        gr = f"{b['grpc'] / b['local']:.3f}" if b["grpc"] else "-"
        print(f"| {label} | {batch} | {b['http']:.1f} | {g} | "
              f"{b['local']:.1f} | {b['http'] / b['local']:.3f} | {gr} |")


if __name__ == "__main__":
    main()
