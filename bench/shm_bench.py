#!/usr/bin/python3
"""shm_bench.py: a 1 MiB FP32 tensor through the `identity` backend by
system shared memory vs by HTTP binary data, against a bare 1 MiB memcpy,
in one run (issue 10, P8: shm >= 0.5 of the memcpy-bound rate).

  memcpy   numpy copyto of 1 MiB between two warm buffers: the rate if a
           request cost nothing but the one copy identity must make
  shm      input and output in two registered regions (/dev/shm): the
           request carries ~300 bytes of JSON, the server reads the input
           in place and identity writes the output straight into the
           client's region (one 1 MiB copy in all)
  binary   the same tensor as HTTP binary data both ways (1 MiB up, 1 MiB
           down, Inference-Header-Content-Length)

The client is a minimal keep-alive HTTP/1.1 loop over raw sockets with
pre-built requests (Python's http.client would dominate the shm figures);
--clients N runs N such connections in threads. Each mode is checked once
for the right answer before it is timed. Prints requests/s, MiB/s of tensor
payload and the ratios.

Usage: /usr/bin/python3 bench/shm_bench.py [--build build] [--secs 5]
           [--clients 1] [--instances 1] [--mib 1]
"""
import argparse
import json
import mmap
import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """name: "ident"
backend: "identity"
max_batch_size: 0
input [ {{ name: "INPUT0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ kind: KIND_CPU count: {instances} }} ]
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    """One keep-alive connection; send(req) returns (status, body)."""

    def __init__(self, port, max_body):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(max_body + 65536)
        self.view = memoryview(self.buf)

    def send(self, req):
        self.s.sendall(req)
        n = 0
        while True:  # headers
            k = self.s.recv_into(self.view[n:])
            if k == 0:
                raise ConnectionError("server closed the connection")
            n += k
            end = self.buf.find(b"\r\n\r\n", 0, n)
            if end >= 0:
                break
        head = bytes(self.buf[:end]).decode("latin-1")
        status = int(head.split(" ", 2)[1])
        length = 0
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        total = end + 4 + length
        while n < total:
            k = self.s.recv_into(self.view[n:total])
            if k == 0:
                raise ConnectionError("server closed the connection")
            n += k
        return status, self.view[end + 4:total]

    def close(self):
        self.s.close()


def http_request(path, body, headers=()):
    h = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
         f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(h).encode() + body


def timed(port, req, secs, clients, max_body):
    """Requests/s over `secs` with `clients` connections sending req."""
    counts = [0] * clients
    stop = threading.Event()
    errors = []

    def run(i):
        c = Conn(port, max_body)
        try:
            while not stop.is_set():
                st, body = c.send(req)
                if st != 200:
                    errors.append(bytes(body[:200]))
                    return
                counts[i] += 1
        finally:
            c.close()

    ts = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"request failed: {errors[0]!r}")
    return sum(counts) / dt


class Region:
    def __init__(self, key, size):
        self.key = key
        fd = os.open("/dev/shm" + key, os.O_CREAT | os.O_EXCL | os.O_RDWR,
                     0o600)
        try:
            os.ftruncate(fd, size)
            self.mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.arr = np.frombuffer(self.mm, dtype=np.float32)

    def close(self):
        del self.arr
        self.mm.close()
        os.unlink("/dev/shm" + self.key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--secs", type=float, default=5)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--mib", type=float, default=1)
    a = ap.parse_args()
    n = int(a.mib * (1 << 20)) // 4
    nbytes = 4 * n
    x = np.random.default_rng(0).random(n, dtype=np.float32)

    # --- bare memcpy --------------------------------------------------------
    dst = np.empty_like(x)
    for _ in range(50):
        np.copyto(dst, x)
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.secs:
        for _ in range(100):
            np.copyto(dst, x)
        iters += 100
    memcpy_rate = iters / (time.perf_counter() - t0)

    repo = Path(tempfile.mkdtemp(prefix="inferd-shm-bench-"))
    (repo / "ident" / "1").mkdir(parents=True)
    (repo / "ident" / "config.pbtxt").write_text(
        CONFIG.format(instances=a.instances))
    port = free_port()
    log = open(repo / "inferd.log", "wb")
    proc = subprocess.Popen(
        [str(Path(a.build) / "inferd"), f"--model-repository={repo}",
         "--http-address=127.0.0.1", f"--http-port={port}",
         "--allow-grpc=false", "--log-info=false"],
        stdout=log, stderr=subprocess.STDOUT)
    tag = f"/inferd_shm_bench_{os.getpid()}"
    rin = rout = None
    try:
        deadline = time.time() + 30
        while True:
            try:
                c = Conn(port, 1 << 16)
                st, _ = c.send(b"GET /v2/health/ready HTTP/1.1\r\n"
                               b"Host: x\r\n\r\n")
                c.close()
                if st == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("inferd did not become ready")
            time.sleep(0.05)

        # --- shared memory --------------------------------------------------
        rin = Region(tag + "_in", nbytes)
        rout = Region(tag + "_out", nbytes)
        rin.arr[:] = x
        c = Conn(port, 1 << 16)
        for name, r in (("in", rin), ("out", rout)):
            body = json.dumps({"key": r.key, "offset": 0,
                               "byte_size": nbytes}).encode()
            st, b = c.send(http_request(
                f"/v2/systemsharedmemory/region/{name}/register", body))
            assert st == 200, bytes(b)
        shm_body = json.dumps({
            "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [n],
                        "parameters": {"shared_memory_region": "in",
                                       "shared_memory_byte_size": nbytes}}],
            "outputs": [{"name": "OUTPUT0",
                         "parameters": {"shared_memory_region": "out",
                                        "shared_memory_byte_size": nbytes}}]
        }).encode()
        shm_req = http_request("/v2/models/ident/infer", shm_body)
        st, b = c.send(shm_req)
        assert st == 200, bytes(b)
        assert np.array_equal(rout.arr, x), "shm output differs"
        c.close()

        # --- HTTP binary ----------------------------------------------------
        hdr = json.dumps({
            "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [n],
                        "parameters": {"binary_data_size": nbytes}}],
            "outputs": [{"name": "OUTPUT0",
                         "parameters": {"binary_data": True}}]}).encode()
        bin_req = http_request(
            "/v2/models/ident/infer", hdr + x.tobytes(),
            [f"Inference-Header-Content-Length: {len(hdr)}"])
        c = Conn(port, nbytes + 4096)
        st, b = c.send(bin_req)
        assert st == 200, bytes(b[:200])
        assert np.array_equal(np.frombuffer(b[-nbytes:], np.float32), x)
        c.close()

        shm_rate = timed(port, shm_req, a.secs, a.clients, 1 << 16)
        bin_rate = timed(port, bin_req, a.secs, a.clients, nbytes + 4096)
    finally:
        for r in (rin, rout):
            if r:
                r.close()
        proc.terminate()
        proc.wait(30)
        log.close()

    mib = nbytes / (1 << 20)
    print(f"tensor: {n} FP32 ({mib:g} MiB); clients {a.clients}, identity "
          f"instances {a.instances}, {a.secs:g} s per mode")
    print(f"{'mode':<8} {'req/s':>10} {'MiB/s':>10} {'vs memcpy':>10}")
    for name, rate in (("memcpy", memcpy_rate), ("shm", shm_rate),
                       ("binary", bin_rate)):
        print(f"{name:<8} {rate:>10.0f} {rate * mib:>10.0f} "
              f"{rate / memcpy_rate:>10.2f}")
    print(f"shm / binary: {shm_rate / bin_rate:.2f}x")
    print(f"P8 goal shm >= 0.5 x memcpy: "
          f"{'met' if shm_rate >= 0.5 * memcpy_rate else 'NOT met'}")


if __name__ == "__main__":
    main()
