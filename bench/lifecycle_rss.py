#!/usr/bin/python3
"""lifecycle_rss.py: memory across load/unload cycles (explicit control
mode, repository API over HTTP). For each model: load + one inference +
unload, `--cycles` times; prints the server's RSS after the first cycle and
after the last, and the growth, as a Markdown table. A cycle waits until
the index says the version is UNAVAILABLE "unloaded", i.e. finalised.

Usage: /usr/bin/python3 bench/lifecycle_rss.py [--build build] [--cycles 100]
           [--models simple,pt_resnet18,onnx_resnet18]
Framework models are generated with Debian's torch (tests/e2e/models).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "models"))

INPUTS = {  # model → (name, datatype, shape)
    "simple": [("INPUT0", "INT32", [1, 16]), ("INPUT1", "INT32", [1, 16])],
    "pt_resnet18": [("INPUT__0", "FP32", [1, 3, 224, 224])],
    "onnx_resnet18": [("input", "FP32", [1, 3, 224, 224])],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(url, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read()


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def index_state(base, name):
    _, body = post(base + "/v2/repository/index")
    for e in json.loads(body):
        if e["name"] == name:
            return e.get("state"), e.get("reason")
    return None, None


def cycle(base, name):
    post(f"{base}/v2/repository/models/{name}/load")
    inputs = []
    for n, dt, shape in INPUTS[name]:
        count = int(np.prod(shape))
        inputs.append({"name": n, "datatype": dt, "shape": shape,
                       "data": [1] * count if dt == "INT32" else
                       [0.5] * count})
    status, _ = post(f"{base}/v2/models/{name}/infer", {"inputs": inputs})
    assert status == 200
    post(f"{base}/v2/repository/models/{name}/unload")
    for _ in range(2000):
        if index_state(base, name) == ("UNAVAILABLE", "unloaded"):
            return
        time.sleep(0.005)
    raise RuntimeError(f"{name}: not finalised after unload")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--models", default="simple,pt_resnet18,onnx_resnet18")
    a = ap.parse_args()
    names = a.models.split(",")
    repo = Path(tempfile.mkdtemp(prefix="inferd-rss-"))
    try:
        fw = [n for n in names if n != "simple"]
        if fw:
            import fw_models
            fw_models.write(repo, fw)
        if "simple" in names:
            shutil.copytree(ROOT / "examples" / "model_repository" / "simple",
                            repo / "simple")
        print("| model | cycles | RSS after cycle 1 (MB) | RSS after last "
              "(MB) | growth (MB) | growth % |")
        print("|---|---|---|---|---|---|")
        for name in names:
            port = free_port()
            proc = subprocess.Popen(
                [f"{a.build}/inferd", f"--model-repository={repo}",
                 "--model-control-mode=explicit", f"--http-port={port}",
                 "--allow-grpc=false", "--log-info=false",
                 f"--backend-directory={a.build}/backends"])
            base = f"http://127.0.0.1:{port}"
            try:
                for _ in range(200):
                    try:
                        urllib.request.urlopen(base + "/v2/health/live",
                                               timeout=1)
                        break
                    except OSError:
                        time.sleep(0.05)
                cycle(base, name)
                first = rss_kb(proc.pid)
                t0 = time.time()
                for _ in range(a.cycles - 1):
                    cycle(base, name)
                last = rss_kb(proc.pid)
                grow = (last - first) / 1024
                print(f"| {name} | {a.cycles} | {first / 1024:.1f} | "
                      f"{last / 1024:.1f} | {grow:+.1f} | "
                      f"{100 * (last - first) / first:+.1f} % |"
                      f"  <!-- {time.time() - t0:.1f} s -->", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    finally:
        shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    main()
