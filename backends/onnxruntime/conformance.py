#!/usr/bin/python3
"""conformance.py: runs the ONNX node conformance tests that Debian's
libonnx-testdata ships (data/node/<test>/model.onnx with
test_data_set_0/input_*.pb and output_*.pb) through the onnxruntime backend
of the real server: one inferd in explicit mode; for each test, the model is
loaded through the repository API (config JSON + the model file in the
request), run once over HTTP (binary tensors) and unloaded. Prints the pass
rate per operator as a Markdown table (the table of README.md).

Usage: conformance.py [--inferd build/inferd] [--data DIR] [-k SUBSTRING] [-v]
Outputs compare with ONNX's own tolerance (|got - want| <= 1e-7 + 1e-3 *
|want|, NaN equal to NaN); BYTES exactly. A test whose data cannot travel as
Triton tensors (sequences, optionals, complex numbers) counts as "type"; a
server that dies counts as "crash" (and is restarted).
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import requests
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from test_backends_helpers import infer_binary  # noqa: E402

RESULTS = ("pass", "load", "run", "mismatch", "type", "crash")

NP_TO_TRITON = {
    np.dtype(np.bool_): "BOOL", np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16", np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64", np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16", np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64", np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64",
}


class NotTensor(Exception):
    pass


def load_tensor(path, elem_type):
    t = onnx.TensorProto()
    data = Path(path).read_bytes()
    try:
        t.ParseFromString(data)
    except Exception as e:  # a SequenceProto / OptionalProto
        raise NotTensor(str(e))
    if t.data_type == 0 or elem_type == 0:
        raise NotTensor("not a tensor")
    a = numpy_helper.to_array(t)
    bf16 = onnx.TensorProto.BFLOAT16
    if t.data_type == bf16 or elem_type == bf16:
        # BF16 travels as its 16-bit pattern (the upper half of an FP32)
        if a.dtype == np.float32:
            a = (a.view(np.uint32) >> 16).astype(np.uint16)
        return "BF16", a.astype(np.uint16)
    if a.dtype == object:
        return "BYTES", a
    if a.dtype not in NP_TO_TRITON:
        raise NotTensor(f"numpy type {a.dtype}")
    return NP_TO_TRITON[a.dtype], a


def graph_values(values, init_names):
    return [v for v in values if v.name not in init_names]


def elem_type(v):
    tt = v.type
    return tt.tensor_type.elem_type if tt.HasField("tensor_type") else 0


def operator_of(name, model):
    if "_expanded" in name:
        return "(expanded function bodies)"
    if not model.graph.node:
        return "(empty)"
    n = model.graph.node[0]
    return f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") \
        else n.op_type


class Server:
    def __init__(self, inferd, backends, log_path):
        self.inferd, self.backends, self.log_path = inferd, backends, log_path
        self.repo = tempfile.mkdtemp(prefix="ort_conf_repo_")
        self.proc = None
        self.start()

    def start(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.inferd, f"--model-repository={self.repo}",
             f"--backend-directory={self.backends}",
             "--model-control-mode=explicit", "--http-address=127.0.0.1",
             f"--http-port={self.port}", "--exit-on-error=false"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/v2/health/live",
                                timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"inferd did not start; see {self.log_path}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc and self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def close_enough(got, want, dt):
    if dt == "BF16":
        got = (np.asarray(got, np.uint16).astype(np.uint32) << 16).view(
            np.float32)
        want = (want.astype(np.uint32) << 16).view(np.float32)
    if want.dtype == object:
        return [bytes(g) for g in got] == [w if isinstance(w, bytes)
                                           else str(w).encode()
                                           for w in want.ravel()]
    got = np.asarray(got).reshape(want.shape) if np.asarray(got).size == \
        want.size else None
    if got is None:
        return False
    if want.dtype == np.bool_ or np.issubdtype(want.dtype, np.integer):
        return np.array_equal(got, want)
    g, w = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore"):
        return bool(np.all((np.abs(g - w) <= 1e-7 + 1e-3 * np.abs(w)) |
                           (np.isnan(g) & np.isnan(w)) | (g == w)))


def run_test(srv, name, test_dir, seq, verbose):
    model_path = test_dir / "model.onnx"
    model = onnx.load(str(model_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    g_in = graph_values(model.graph.input, inits)
    g_out = list(model.graph.output)
    ds = test_dir / "test_data_set_0"
    try:
        ins = [(v.name, *load_tensor(ds / f"input_{i}.pb", elem_type(v)))
               for i, v in enumerate(g_in)
               if (ds / f"input_{i}.pb").exists()]
        outs = [(v.name, *load_tensor(ds / f"output_{i}.pb", elem_type(v)))
                for i, v in enumerate(g_out)]
    except NotTensor as e:
        return "type", str(e)
    if len(ins) != len(g_in):
        return "type", "optional inputs omitted"

    def dims(a):
        return list(a.shape) if a.ndim else [1]

    def ctype(t):
        return "TYPE_STRING" if t == "BYTES" else "TYPE_" + t

    cfg = {"backend": "onnxruntime", "max_batch_size": 0,
           "input": [{"name": n, "data_type": ctype(t), "dims": dims(a)}
                     for n, t, a in ins],
           "output": [{"name": n, "data_type": ctype(t), "dims": dims(a)}
                      for n, t, a in outs],
           "instance_group": [{"count": 1, "kind": "KIND_CPU"}]}
    mname = f"t{seq}"
    params = {"config": json.dumps(cfg),
              "file:1/model.onnx":
                  base64.b64encode(model_path.read_bytes()).decode()}
    r = requests.post(f"{srv.url}/v2/repository/models/{mname}/load",
                      json={"parameters": params}, timeout=120)
    if r.status_code != 200:
        msg = r.text
        if "only tensors can be served" in msg or "has no Triton" in msg:
            return "type", msg
        return "load", msg
    try:
        payload = [(n, t, dims(a), [x if isinstance(x, bytes) else
                                    str(x).encode() for x in a.ravel()]
                    if t == "BYTES" else a.reshape(dims(a)))
                   for n, t, a in ins]
        resp, _, got = infer_binary(srv.url, mname, payload,
                                    [n for n, _, _ in outs], timeout=120)
        if resp.status_code != 200:
            return "run", resp.text
        for n, t, a in outs:
            if n not in got or not close_enough(got[n], a, t):
                return "mismatch", f"output {n}"
        return "pass", ""
    finally:
        try:
            requests.post(f"{srv.url}/v2/repository/models/{mname}/unload",
                          timeout=120)
        except requests.RequestException:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inferd", default=str(ROOT / "build" / "inferd"))
    ap.add_argument("--backends", default=None)
    ap.add_argument("--data",
                    default="/usr/share/libonnx-testdata/data/node")
    ap.add_argument("-k", default="")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--log", default="/tmp/ort_conformance_server.log")
    a = ap.parse_args()
    backends = a.backends or str(Path(a.inferd).parent / "backends")
    names = sorted(n for n in os.listdir(a.data) if a.k in n)
    srv = Server(a.inferd, backends, a.log)
    per_op, totals = {}, dict.fromkeys(RESULTS, 0)
    t0 = time.monotonic()
    try:
        for seq, name in enumerate(names):
            d = Path(a.data) / name
            try:
                op = operator_of(name, onnx.load(str(d / "model.onnx"),
                                                 load_external_data=False))
            except Exception:
                op = "(unreadable)"
            try:
                res, why = run_test(srv, name, d, seq, a.v)
            except requests.RequestException as e:
                res, why = ("crash", str(e)) if not srv.alive() else \
                    ("run", str(e))
            if not srv.alive():
                res, why = "crash", f"server exited {srv.proc.returncode}"
                srv.start()
            if a.v and res != "pass":
                print(f"{name}: {res}: {why[:300]}", file=sys.stderr)
            st = per_op.setdefault(op, dict.fromkeys(RESULTS, 0))
            st[res] += 1
            totals[res] += 1
    finally:
        srv.stop()
    elapsed = time.monotonic() - t0
    print("| operator | pass | tests | load fail | run fail | mismatch | "
          "type unsupported | crash |\n|---|---|---|---|---|---|---|---|")
    for op in sorted(per_op, key=lambda o: (not o.startswith("("), o)):
        s = per_op[op]
        print(f"| {op} | {s['pass']} | {sum(s.values())} | {s['load']} | "
              f"{s['run']} | {s['mismatch']} | {s['type']} | {s['crash']} |")
    n = sum(totals.values())
    full = sum(1 for s in per_op.values() if s["pass"] == sum(s.values()))
    print(f"\nTotal: {totals['pass']} of {n} tests pass "
          f"({100.0 * totals['pass'] / max(n, 1):.1f}%); {full} of "
          f"{len(per_op)} operators pass all their tests. Failures: load "
          f"{totals['load']}, run {totals['run']}, mismatch "
          f"{totals['mismatch']}, type {totals['type']}, crash "
          f"{totals['crash']}. Run time {elapsed:.0f} s.")


if __name__ == "__main__":
    main()
