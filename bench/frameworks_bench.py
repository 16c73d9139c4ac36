#!/usr/bin/python3
"""frameworks_bench.py: resnet18 (TorchScript through the pytorch backend,
ONNX through the onnx backend) at batch 1 and 8: throughput through inferd
(HTTP, binary tensor data, `--concurrency` requests in flight) against the
same model served in-process by libinferd.so, one request at a time in a loop,
without a frontend (bench/frameworks_inproc.c), in one run, same config.

Usage: /usr/bin/python3 bench/frameworks_bench.py [--build build-fw]
           [--inferd path] [--seconds 8] [--concurrency 2] [--threads 2]
Needs a built inferd and backends in the build directory, python3-torch,
torchvision and onnx. Prints a Markdown table.
"""
import argparse
import http.client
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
import fw_models  # noqa: E402

CASES = [  # (label, maker, backend, input, output)
    ("TorchScript (pytorch)", "pt_resnet18", "pytorch", "INPUT__0", "OUTPUT__0"),
    ("ONNX (onnx, OpenCV DNN)", "onnx_resnet18", "onnx", "input", "logits"),
]


def build_inproc(build):
    subprocess.run(["cmake", "--build", str(build), "--target",
                    "frameworks_inproc"], check=True, stdout=subprocess.DEVNULL)
    return Path(build) / "bench" / "frameworks_inproc"


def inproc(exe, build, repo, model, inp, out, batch, seconds):
    """repo holds only `model` (the in-process server loads every model)."""
    r = subprocess.run([str(exe), str(repo), model, inp, out, str(batch),
                        str(seconds), str(Path(build) / "backends")],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])["inferences_per_s"]


def binary_request(model, inp, out, batch):
    x = np.random.default_rng(0).standard_normal(
        (batch, 3, 224, 224)).astype(np.float32).tobytes()
    header = json.dumps({
        "inputs": [{"name": inp, "datatype": "FP32",
                    "shape": [batch, 3, 224, 224],
                    "parameters": {"binary_data_size": len(x)}}],
        "outputs": [{"name": out, "parameters": {"binary_data": True}}],
    }).encode()
    body = header + x
    headers = {"Content-Type": "application/octet-stream",
               "Inference-Header-Content-Length": str(len(header)),
               "Content-Length": str(len(body))}
    return f"/v2/models/{model}/infer", body, headers


def http_load(port, path, body, headers, seconds, concurrency):
    count = [0] * concurrency
    errors = []
    stop = time.monotonic() + seconds

    def worker(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            c.request("POST", path, body=body, headers=headers)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
                return
            count[i] += 1
        c.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"HTTP errors: {errors[:5]}")
    return sum(count), time.monotonic() - t0


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--inferd", help="server binary (default BUILD/inferd)")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternate inferd and in-process runs this many "
                         "times and keep the best of each (shared machines)")
    a = ap.parse_args()
    exe = build_inproc(a.build)
    params = {"INTRA_OP_THREAD_COUNT": str(a.threads)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for _, maker, *_ in CASES:
            m = getattr(fw_models, maker)(params=params)
            d = repo / maker
            (d / "1").mkdir(parents=True)
            (d / "config.pbtxt").write_text(m.config)
            (d / "1" / m.file_name).write_bytes(m.data)
            # the same model alone in a repository of its own (symlinks)
            alone = Path(tmp) / "inproc" / maker
            alone.mkdir(parents=True)
            (alone / maker).symlink_to(d)
        port = free_port()
        args = [a.inferd or str(Path(a.build) / "inferd"), f"--model-repository={repo}",
                f"--backend-directory={Path(a.build) / 'backends'}",
                "--http-address=127.0.0.1", f"--http-port={port}",
                f"--grpc-port={free_port()}"]
        log = open(Path(tmp) / "inferd.log", "wb")
        srv = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    c.request("GET", "/v2/health/ready")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("inferd did not become ready")
            for label, maker, backend, inp, out in CASES:
                for batch in (1, 8):
                    path, body, headers = binary_request(maker, inp, out, batch)
                    http_load(port, path, body, headers, 1.0, a.concurrency)
                    served = local = 0.0
                    for _ in range(a.rounds):
                        n, dt = http_load(port, path, body, headers, a.seconds,
                                          a.concurrency)
                        served = max(served, n * batch / dt)
                        local = max(local, inproc(
                            exe, a.build, Path(tmp) / "inproc" / maker, maker,
                            inp, out, batch, a.seconds))
                    rows.append((label, batch, served, local))
                    print(f"{label} batch {batch}: inferd {served:.1f}/s, "
                          f"in-process {local:.1f}/s", file=sys.stderr)
        finally:
            srv.terminate()
            srv.wait(timeout=30)
    print(f"\nresnet18, 1 instance, {a.threads} intra-op threads, "
          f"{a.concurrency} HTTP requests in flight, best of {a.rounds} "
          f"alternating {a.seconds:.0f} s runs, {os.cpu_count()} CPUs\n")
    print("| model | batch | inferd HTTP binary (inf/s) | in-process loop "
          "(inf/s) | ratio |")
    print("|---|---|---|---|---|")
    for label, batch, served, local in rows:
        print(f"| {label} | {batch} | {served:.1f} | {local:.1f} | "
              f"{served / local:.3f} |")


if __name__ == "__main__":
    main()
