#!/usr/bin/python3
"""many_models.py: one node, many models (issue "Many models on one node").

Generates N `identity` models (default 10 000) in a temporary repository
and starts inferd in explicit mode with loading on demand. Prints:
  - start to ready: process start until /v2/health/ready answers 200;
  - first-request latency of a cold model (an infer that loads it), over
    `--cold` models picked at random, p50 and max;
  - with `--loaded` models loaded (by requests) and idle for 3 s: RSS,
    threads, and CPU time the process used over `--idle-secs` seconds.

Usage: /usr/bin/python3 bench/many_models.py [--build build] [--models 10000]
           [--loaded 1000] [--cold 50] [--idle-secs 10] [--extra "flags"]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """backend: "identity"
max_batch_size: 0
input [ {{ name: "INPUT0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""
BODY = json.dumps({"inputs": [{"name": "INPUT0", "datatype": "FP32",
                               "shape": [4], "data": [1, 2, 3, 4]}]})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def status_field(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime


def infer(conn, name):
    conn.request("POST", f"/v2/models/{name}/infer", BODY,
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{name}: {r.status} {body[:200]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--models", type=int, default=10000)
    ap.add_argument("--loaded", type=int, default=1000)
    ap.add_argument("--cold", type=int, default=50)
    ap.add_argument("--idle-secs", type=float, default=10)
    ap.add_argument("--extra", default="")
    a = ap.parse_args()
    repo = Path(tempfile.mkdtemp(prefix="inferd-many-"))
    proc = None
    try:
        for i in range(a.models):
            d = repo / f"m{i:05d}"
            (d / "1").mkdir(parents=True)
            (d / "config.pbtxt").write_text(CONFIG.format())
        port = free_port()
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [f"{a.build}/inferd", f"--model-repository={repo}",
             "--model-control-mode=explicit", "--model-load-on-demand=true",
             f"--http-port={port}", "--http-address=127.0.0.1",
             "--allow-grpc=false", "--log-info=false",
             f"--backend-directory={a.build}/backends"] + a.extra.split(),
            stdout=subprocess.DEVNULL)
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v2/health/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.005)
        ready_s = time.monotonic() - t0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        names = [f"m{i:05d}" for i in range(a.models)]
        random.seed(7)
        cold = random.sample(names, a.cold)
        lat = []
        for n in cold:
            t = time.monotonic()
            infer(conn, n)
            lat.append((time.monotonic() - t) * 1000)
        lat.sort()
        warm = []
        for n in cold[:20]:
            t = time.monotonic()
            infer(conn, n)
            warm.append((time.monotonic() - t) * 1000)
        warm.sort()
        for n in names[:a.loaded]:
            infer(conn, n)
        time.sleep(3)
        rss = status_field(proc.pid, "VmRSS") / 1024
        threads = status_field(proc.pid, "Threads")
        c0 = cpu_ticks(proc.pid)
        time.sleep(a.idle_secs)
        c1 = cpu_ticks(proc.pid)
        hz = os.sysconf("SC_CLK_TCK")
        print(f"| models | start→ready | cold first request p50 / max | "
              f"warm p50 | loaded | RSS | threads | idle CPU |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {a.models} | {ready_s * 1000:.0f} ms | "
              f"{lat[len(lat) // 2]:.1f} / {lat[-1]:.1f} ms | "
              f"{warm[len(warm) // 2]:.2f} ms | "
              f"{a.loaded + a.cold} | {rss:.1f} MB | {threads} | "
              f"{100 * (c1 - c0) / hz / a.idle_secs:.2f} % |")
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    main()
