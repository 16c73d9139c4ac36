"""System shared memory extension (reference §1.13) over HTTP and gRPC:
register / status (one and all) / unregister (one and all), inputs read
from and outputs written into client regions (alone, at offsets, mixed with
regular tensors, on a gRPC stream), the error texts and codes (bad keys,
names registered twice, regions too small, out-of-range offsets and sizes,
missing regions), a region unregistered while a request uses it (the
request completes correctly and the mapping goes afterwards), and the CUDA
routes of a server without CUDA.

Regions are created as tritonclient.utils.shared_memory does (shm_open +
ftruncate + mmap, here os.open on /dev/shm), and the Triton clients'
simple_http_shm_client / simple_grpc_shm_client flows are replayed with the
exact messages those clients send (tritonclient is not packaged by Debian).
"""

import json
import mmap
import os
import threading
import time

import numpy as np
import pytest
import requests

from conftest import (SIMPLE_CONFIG, Model, error_of, identity_config,
                      testing_config)

try:
    from test_grpc_helpers import grpc, grpc_server, pb  # noqa: F401
except pytest.skip.Exception:  # no grpcio / protoc: gRPC tests skip
    grpc = pb = None

    @pytest.fixture
    def grpc_server():
        pytest.skip("gRPC test dependencies are missing")


_counter = [0]


class Region:
    """A POSIX shared memory object of `size` bytes, created and mapped the
    way tritonclient.utils.shared_memory.create_shared_memory_region does."""

    def __init__(self, tag, size):
        _counter[0] += 1
        self.key = f"/inferd_test_{os.getpid()}_{_counter[0]}_{tag}"
        self.size = size
        fd = os.open("/dev/shm" + self.key,
                     os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            self.mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def write(self, arr, offset=0):
        b = np.ascontiguousarray(arr).tobytes()
        self.mm[offset:offset + len(b)] = b

    def read(self, dtype, count, offset=0):
        n = np.dtype(dtype).itemsize * count
        return np.frombuffer(self.mm[offset:offset + n], dtype=dtype).copy()

    def close(self):
        self.mm.close()
        try:
            os.unlink("/dev/shm" + self.key)
        except FileNotFoundError:
            pass


@pytest.fixture
def regions():
    made = []

    def make(tag, size):
        r = Region(tag, size)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def models():
    return {
        "simple": Model(SIMPLE_CONFIG),
        "id_fp32": Model(identity_config("id_fp32", "FP32", [-1])),
        "slow": Model(testing_config("slow", {"execute_delay_ms": "1500"})),
    }


def mapped(server, key):
    """How many mappings of /dev/shm<key> the server process has."""
    path = "/dev/shm" + key
    with open(f"/proc/{server.proc.pid}/maps") as f:
        return sum(1 for line in f
                   if line.rstrip("\n").endswith((path, path + " (deleted)")))


def register(server, name, key, byte_size, offset=0):
    """What tritonclient.http's register_system_shared_memory sends."""
    return requests.post(
        f"{server.url}/v2/systemsharedmemory/region/{name}/register",
        json={"key": key, "offset": offset, "byte_size": byte_size},
        timeout=30)


def status(server, name=None):
    path = (f"/v2/systemsharedmemory/region/{name}/status" if name else
            "/v2/systemsharedmemory/status")
    return requests.get(server.url + path, timeout=30)


def unregister(server, name=None):
    path = (f"/v2/systemsharedmemory/region/{name}/unregister" if name else
            "/v2/systemsharedmemory/unregister")
    return requests.post(server.url + path, timeout=30)


def shm_params(region, byte_size, offset=0):
    """An InferInput/InferRequestedOutput's set_shared_memory parameters."""
    p = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
    if offset:
        p["shared_memory_offset"] = offset
    return p


def infer(server, model, body, timeout=60):
    return requests.post(f"{server.url}/v2/models/{model}/infer", json=body,
                         timeout=timeout)


def shm_input(name, dt, shape, region, byte_size, offset=0):
    return {"name": name, "shape": shape, "datatype": dt,
            "parameters": shm_params(region, byte_size, offset)}


def shm_output(name, region, byte_size, offset=0):
    # tritonclient.http: InferRequestedOutput(binary_data=True) then
    # set_shared_memory, which turns binary_data to False
    p = {"binary_data": False}
    p.update(shm_params(region, byte_size, offset))
    return {"name": name, "parameters": p}


# ------------------------------------------------------------------ HTTP


def test_extension_listed(start_server):
    srv = start_server(models=models())
    ext = requests.get(srv.url + "/v2", timeout=30).json()["extensions"]
    assert "system_shared_memory" in ext
    assert "cuda_shared_memory" not in ext


def test_http_triton_client_flow(start_server, regions):
    """simple_http_shm_client: every call and body it sends."""
    srv = start_server(models=models())
    assert unregister(srv).status_code == 200
    r = requests.post(srv.url + "/v2/cudasharedmemory/unregister", timeout=30)
    assert r.status_code == 200, r.text
    a = np.arange(16, dtype=np.int32)
    b = np.ones(16, dtype=np.int32)
    out = regions("output_simple", 128)
    assert register(srv, "output_data", out.key, 128).status_code == 200
    inp = regions("input_simple", 128)
    inp.write(a)
    inp.write(b, offset=64)
    assert register(srv, "input_data", inp.key, 128).status_code == 200
    body = {"inputs": [shm_input("INPUT0", "INT32", [1, 16], "input_data", 64),
                       shm_input("INPUT1", "INT32", [1, 16], "input_data", 64,
                                 64)],
            "outputs": [shm_output("OUTPUT0", "output_data", 64),
                        shm_output("OUTPUT1", "output_data", 64, 64)]}
    r = infer(srv, "simple", body)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    res = r.json()
    # as Triton: shared memory outputs carry name, datatype and shape only
    assert res["outputs"] == [
        {"name": "OUTPUT0", "datatype": "INT32", "shape": [1, 16]},
        {"name": "OUTPUT1", "datatype": "INT32", "shape": [1, 16]}]
    assert (out.read(np.int32, 16) == a + b).all()
    assert (out.read(np.int32, 16, offset=64) == a - b).all()
    st = status(srv)
    assert st.status_code == 200
    assert sorted(st.json(), key=lambda x: x["name"]) == [
        {"name": "input_data", "key": inp.key, "offset": 0, "byte_size": 128},
        {"name": "output_data", "key": out.key, "offset": 0,
         "byte_size": 128}]
    assert unregister(srv).status_code == 200
    assert status(srv).json() == []
    assert mapped(srv, inp.key) == 0 and mapped(srv, out.key) == 0


def test_http_mixed_with_regular_tensors(start_server, regions):
    srv = start_server(models=models())
    a = np.arange(16, dtype=np.int32) * 3
    b = np.arange(16, dtype=np.int32)
    inp = regions("in", 64)
    inp.write(a)
    out = regions("out", 64)
    assert register(srv, "in", inp.key, 64).status_code == 200
    assert register(srv, "out", out.key, 64).status_code == 200
    body = {"inputs": [shm_input("INPUT0", "INT32", [1, 16], "in", 64),
                       {"name": "INPUT1", "datatype": "INT32",
                        "shape": [1, 16], "data": b.tolist()}],
            "outputs": [shm_output("OUTPUT0", "out", 64),
                        {"name": "OUTPUT1"}]}
    r = infer(srv, "simple", body)
    assert r.status_code == 200, r.text
    res = r.json()["outputs"]
    assert res[0] == {"name": "OUTPUT0", "datatype": "INT32",
                      "shape": [1, 16]}
    assert res[1]["data"] == (a - b).tolist()
    assert (out.read(np.int32, 16) == a + b).all()
    # the other way round, with the regular output in binary form and the
    # request-level binary_data_output (does not apply to shm outputs)
    out.write(np.zeros(16, dtype=np.int32))
    inp.write(b)
    body = {"parameters": {"binary_data_output": True},
            "inputs": [{"name": "INPUT0", "datatype": "INT32",
                        "shape": [1, 16], "data": a.tolist()},
                       shm_input("INPUT1", "INT32", [1, 16], "in", 64)],
            "outputs": [{"name": "OUTPUT0"},
                        {"name": "OUTPUT1",
                         "parameters": shm_params("out", 64)}]}
    r = infer(srv, "simple", body)
    assert r.status_code == 200, r.text
    hl = int(r.headers["Inference-Header-Content-Length"])
    head = r.content[:hl].decode()
    res = json.loads(head)["outputs"]
    assert res[0]["parameters"] == {"binary_data_size": 64}
    assert res[1] == {"name": "OUTPUT1", "datatype": "INT32",
                      "shape": [1, 16]}
    assert (np.frombuffer(r.content[hl:], dtype=np.int32) == a + b).all()
    assert (out.read(np.int32, 16) == a - b).all()
    # a binary input beside a shm input (blobs consumed only by binary ones)
    inp.write(a)
    hdr = json.dumps({
        "inputs": [shm_input("INPUT0", "INT32", [1, 16], "in", 64),
                   {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                    "parameters": {"binary_data_size": 64}}],
        "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": False}},
                    shm_output("OUTPUT1", "out", 64)]}).encode()
    r = requests.post(f"{srv.url}/v2/models/simple/infer",
                      data=hdr + b.tobytes(),
                      headers={"Inference-Header-Content-Length":
                               str(len(hdr))}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == (a + b).tolist()
    assert (out.read(np.int32, 16) == a - b).all()


def test_http_plain_requests_between_shm_ones(start_server, regions):
    """Request states (and their arenas) are reused across requests: an
    output without parameters must never inherit a previous request's
    region (regression: the parser left it uninitialised)."""
    srv = start_server(models=models())
    out = regions("out", 64)
    assert register(srv, "out", out.key, 64).status_code == 200
    a = list(range(16))
    plain = {"inputs": [{"name": n, "datatype": "INT32", "shape": [1, 16],
                         "data": a} for n in ("INPUT0", "INPUT1")]}
    with requests.Session() as s:
        for i in range(20):
            body = dict(plain)
            if i % 3 == 0:
                body["outputs"] = [shm_output("OUTPUT0", "out", 64)]
            elif i % 3 == 1:
                body["parameters"] = {"binary_data_output": True}
            else:
                body["outputs"] = [{"name": "OUTPUT1"}, {"name": "OUTPUT0"}]
            r = s.post(f"{srv.url}/v2/models/simple/infer", json=body,
                       timeout=30)
            assert r.status_code == 200, (i, r.text)
            if i % 3 == 2:
                assert [o["data"] for o in r.json()["outputs"]] == [
                    [0] * 16, [2 * x for x in a]]
        r = s.post(f"{srv.url}/v2/models/simple/infer",
                   json=dict(plain, outputs=[{"name": "NOPE"}]), timeout=30)
        assert r.status_code == 400 and "NOPE" in error_of(r)
    assert (out.read(np.int32, 16) == [2 * x for x in a]).all()


def test_http_offsets(start_server, regions):
    """A region registered at an unaligned offset into its object, tensors
    at offsets into the region, a 1 MiB FP32 tensor both ways."""
    srv = start_server(models=models())
    obj = regions("obj", 3 * 4096)
    a = np.arange(16, dtype=np.int32) + 100
    b = np.arange(16, dtype=np.int32)
    base = 4096 + 12  # object offset of the region
    obj.write(a, offset=base + 8)
    obj.write(b, offset=base + 8 + 64)
    assert register(srv, "r", obj.key, 1024, offset=base).status_code == 200
    assert status(srv, "r").json() == [
        {"name": "r", "key": obj.key, "offset": base, "byte_size": 1024}]
    body = {"inputs": [shm_input("INPUT0", "INT32", [1, 16], "r", 64, 8),
                       shm_input("INPUT1", "INT32", [1, 16], "r", 64, 72)],
            "outputs": [shm_output("OUTPUT0", "r", 64, 200),
                        shm_output("OUTPUT1", "r", 64, 1024 - 64)]}
    r = infer(srv, "simple", body)
    assert r.status_code == 200, r.text
    assert (obj.read(np.int32, 16, base + 200) == a + b).all()
    assert (obj.read(np.int32, 16, base + 1024 - 64) == a - b).all()
    # 1 MiB FP32 through identity, input and output in one region
    n = 1 << 18
    big = regions("big", 2 * 4 * n)
    x = np.random.default_rng(1).random(n, dtype=np.float32)
    big.write(x)
    assert register(srv, "big", big.key, 2 * 4 * n).status_code == 200
    body = {"inputs": [shm_input("INPUT0", "FP32", [n], "big", 4 * n)],
            "outputs": [shm_output("OUTPUT0", "big", 4 * n, 4 * n)]}
    r = infer(srv, "id_fp32", body)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == [
        {"name": "OUTPUT0", "datatype": "FP32", "shape": [n]}]
    assert (big.read(np.float32, n, 4 * n) == x).all()


def test_http_register_errors(start_server, regions):
    srv = start_server(models=models())
    obj = regions("obj", 256)
    assert register(srv, "r", obj.key, 256).status_code == 200
    r = register(srv, "r", obj.key, 16)
    assert r.status_code == 400
    assert error_of(r) == "shared memory region 'r' already in manager"
    # paths and other non-POSIX-shm keys
    for key in ["/dev/shm" + obj.key, obj.key[1:], "/../" + obj.key[1:],
                "/a/b", "/", "/..", "/x..y", "", "../etc/passwd"]:
        r = register(srv, "k", key, 16)
        assert r.status_code == 400, key
        assert error_of(r).startswith(
            "failed to register shared memory region 'k': invalid key"), key
    r = register(srv, "k", "/inferd_test_no_such_region", 16)
    assert r.status_code == 500
    assert error_of(r).startswith(
        "Unable to open shared memory region: '/inferd_test_no_such_region'")
    # the object is smaller than offset + byte_size
    for off, size in [(0, 257), (200, 57), (256, 1), (1 << 40, 1)]:
        r = register(srv, "small", obj.key, size, offset=off)
        assert r.status_code == 400, (off, size)
        assert error_of(r).startswith(
            "failed to register shared memory region 'small': invalid args")
    r = register(srv, "zero", obj.key, 0)
    assert r.status_code == 400 and "invalid args" in error_of(r)
    url = f"{srv.url}/v2/systemsharedmemory/region/x/register"
    r = requests.post(url, json={"byte_size": 4}, timeout=30)
    assert r.status_code == 400
    assert error_of(r) == "Shared memory register request has no 'key' field"
    r = requests.post(url, json={"key": obj.key}, timeout=30)
    assert r.status_code == 400
    assert (error_of(r) ==
            "Shared memory register request has no 'byte_size' field")
    r = requests.post(url, json={"key": obj.key, "byte_size": -1}, timeout=30)
    assert r.status_code == 400 and "'byte_size'" in error_of(r)
    r = requests.post(url, json={"key": 5, "byte_size": 4}, timeout=30)
    assert r.status_code == 400 and "'key'" in error_of(r)
    r = requests.post(url, data=b"{not json", timeout=30)
    assert r.status_code == 400
    r = requests.get(url, timeout=30)
    assert r.status_code == 405
    # nothing but "r" got registered
    assert [x["name"] for x in status(srv).json()] == ["r"]


def test_http_infer_errors(start_server, regions):
    srv = start_server(models=models())
    inp = regions("in", 64)
    out = regions("out", 64)
    assert register(srv, "in", inp.key, 64).status_code == 200
    assert register(srv, "out", out.key, 32).status_code == 200

    def body(i0=None, o0=None):
        return {"inputs": [i0 or shm_input("INPUT0", "INT32", [1, 16], "in",
                                           64),
                           {"name": "INPUT1", "datatype": "INT32",
                            "shape": [1, 16], "data": [0] * 16}],
                "outputs": [o0 or {"name": "OUTPUT0"}]}

    r = infer(srv, "simple", body(shm_input("INPUT0", "INT32", [1, 16],
                                            "nope", 64)))
    assert r.status_code == 404
    assert "Unable to find shared memory region: 'nope'" in error_of(r)
    r = infer(srv, "simple", body(shm_input("INPUT0", "INT32", [1, 16], "in",
                                            4, 64)))
    assert r.status_code == 400
    assert "Invalid offset for shared memory region: 'in'" in error_of(r)
    r = infer(srv, "simple", body(shm_input("INPUT0", "INT32", [1, 16], "in",
                                            64, 4)))
    assert r.status_code == 400
    assert ("Invalid offset + byte size for shared memory region: 'in'"
            in error_of(r))
    # the region holds the bytes but they do not match the shape
    r = infer(srv, "simple", body(shm_input("INPUT0", "INT32", [1, 16], "in",
                                            60)))
    assert r.status_code == 400 and "expected 64 bytes" in error_of(r)
    # an output region too small for the result (Triton: INTERNAL)
    r = infer(srv, "simple", body(o0=shm_output("OUTPUT0", "out", 32)))
    assert r.status_code == 500
    assert ("shared memory size specified with the request for output "
            "'OUTPUT0' (32 bytes) should be at least 64 bytes to hold the "
            "results") in error_of(r)
    # the output's byte size beyond the registered region
    r = infer(srv, "simple", body(o0=shm_output("OUTPUT0", "out", 64)))
    assert r.status_code == 400
    assert "Invalid offset + byte size for shared memory region: 'out'" in \
        error_of(r)
    # parameter combinations
    i0 = shm_input("INPUT0", "INT32", [1, 16], "in", 64)
    i0["data"] = [0] * 16
    r = infer(srv, "simple", body(i0))
    assert r.status_code == 400
    i0 = {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
          "parameters": {"shared_memory_region": "in"}}
    r = infer(srv, "simple", body(i0))
    assert r.status_code == 400 and "shared_memory_byte_size" in error_of(r)
    i0 = {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
          "data": [0] * 16, "parameters": {"shared_memory_offset": 4}}
    r = infer(srv, "simple", body(i0))
    assert r.status_code == 400 and "shared_memory_region" in error_of(r)
    o0 = {"name": "OUTPUT0", "parameters": dict(shm_params("out", 32),
                                                binary_data=True)}
    r = infer(srv, "simple", body(o0=o0))
    assert r.status_code == 400
    assert ("Output can't set both 'shared_memory_region' and 'binary_data'"
            in error_of(r))
    o0 = {"name": "OUTPUT0", "parameters": dict(shm_params("out", 32),
                                                classification=2)}
    r = infer(srv, "simple", body(o0=o0))
    assert r.status_code == 400
    assert ("Output can't set both 'shared_memory_region' and "
            "'classification'") in error_of(r)
    # no region was left held by the failures
    assert unregister(srv).status_code == 200
    assert mapped(srv, inp.key) == 0 and mapped(srv, out.key) == 0


def test_http_status_and_unregister(start_server, regions):
    srv = start_server(models=models())
    objs = [regions(f"o{i}", 64) for i in range(3)]
    for i, o in enumerate(objs):
        assert register(srv, f"r{i}", o.key, 64 - 8 * i, 8 * i).status_code \
            == 200
    assert status(srv).json() == [
        {"name": f"r{i}", "key": o.key, "offset": 8 * i,
         "byte_size": 64 - 8 * i} for i, o in enumerate(objs)]
    assert status(srv, "r1").json() == [
        {"name": "r1", "key": objs[1].key, "offset": 8, "byte_size": 56}]
    r = status(srv, "nope")
    assert r.status_code == 404
    assert error_of(r) == ("Unable to find system shared memory region: "
                           "'nope'")
    assert requests.post(srv.url + "/v2/systemsharedmemory/status",
                         timeout=30).status_code == 405
    assert unregister(srv, "r1").status_code == 200
    assert [x["name"] for x in status(srv).json()] == ["r0", "r2"]
    assert mapped(srv, objs[1].key) == 0
    assert unregister(srv, "never-registered").status_code == 200
    # the name is free again
    assert register(srv, "r1", objs[1].key, 64).status_code == 200
    assert unregister(srv).status_code == 200
    assert status(srv).json() == []
    assert all(mapped(srv, o.key) == 0 for o in objs)


def _slow_body(n, in_region, out_region):
    return {"inputs": [shm_input("INPUT0", "FP32", [n], in_region, 4 * n)],
            "outputs": [shm_output("OUTPUT0", out_region, 4 * n)]}


def test_http_unregister_during_request(start_server, regions):
    srv = start_server(models=models())
    n = 4096
    inp = regions("in", 4 * n)
    out = regions("out", 4 * n)
    x = np.arange(n, dtype=np.float32) * 0.5
    inp.write(x)
    assert register(srv, "in", inp.key, 4 * n).status_code == 200
    assert register(srv, "out", out.key, 4 * n).status_code == 200
    result = {}

    def run():
        result["r"] = infer(srv, "slow", _slow_body(n, "in", "out"))

    t = threading.Thread(target=run)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.5)  # the request is executing (1.5 s)
    assert unregister(srv, "in").status_code == 200
    assert unregister(srv).status_code == 200
    assert status(srv).json() == []
    # still mapped: the request holds both regions
    assert mapped(srv, inp.key) == 1 and mapped(srv, out.key) == 1
    # the names are free again at once
    assert register(srv, "in", out.key, 16).status_code == 200
    t.join(30)
    assert time.monotonic() - t0 >= 1.4
    r = result["r"]
    assert r.status_code == 200, r.text
    assert (out.read(np.float32, n) == x).all()
    # the request is over: only the new registration maps anything
    assert mapped(srv, inp.key) == 0
    assert mapped(srv, out.key) == 1
    assert unregister(srv).status_code == 200
    assert mapped(srv, out.key) == 0


def test_http_cuda_routes_without_cuda(start_server):
    srv = start_server(models=models())
    r = requests.post(srv.url + "/v2/cudasharedmemory/region/c/register",
                      json={"raw_handle": {"b64": "AA=="}, "device_id": 0,
                            "byte_size": 4}, timeout=30)
    assert r.status_code == 501
    assert error_of(r).startswith(
        "failed to register CUDA shared memory region: 'c', GPUs not "
        "supported")
    assert "CUDA" in error_of(r)
    r = requests.get(srv.url + "/v2/cudasharedmemory/status", timeout=30)
    assert r.status_code == 200 and r.json() == []
    r = requests.get(srv.url + "/v2/cudasharedmemory/region/c/status",
                     timeout=30)
    assert r.status_code == 404
    assert error_of(r) == "Unable to find cuda shared memory region: 'c'"
    for path in ["/v2/cudasharedmemory/unregister",
                 "/v2/cudasharedmemory/region/c/unregister"]:
        assert requests.post(srv.url + path, timeout=30).status_code == 200


# ------------------------------------------------------------------ gRPC


def shm_set(params, region, byte_size, offset=0):
    """grpcclient's InferInput / InferRequestedOutput set_shared_memory."""
    params["shared_memory_region"].string_param = region
    params["shared_memory_byte_size"].int64_param = byte_size
    if offset:
        params["shared_memory_offset"].int64_param = offset


def grpc_err(fn, *args):
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, timeout=30)
    return e.value


def test_grpc_triton_client_flow(grpc_server, regions):
    """simple_grpc_shm_client: every RPC and message it sends."""
    srv, stub, _ = grpc_server(models())
    stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(),
                                      timeout=30)
    stub.CudaSharedMemoryUnregister(pb.CudaSharedMemoryUnregisterRequest(),
                                    timeout=30)
    a = np.arange(16, dtype=np.int32)
    b = np.ones(16, dtype=np.int32)
    out = regions("output_simple", 128)
    stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="output_data", key=out.key, offset=0, byte_size=128), timeout=30)
    inp = regions("input_simple", 128)
    inp.write(a)
    inp.write(b, offset=64)
    stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="input_data", key=inp.key, offset=0, byte_size=128), timeout=30)
    req = pb.ModelInferRequest(model_name="simple", model_version="")
    t = req.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 16])
    shm_set(t.parameters, "input_data", 64)
    t = req.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 16])
    shm_set(t.parameters, "input_data", 64, 64)
    o = req.outputs.add(name="OUTPUT0")
    shm_set(o.parameters, "output_data", 64)
    o = req.outputs.add(name="OUTPUT1")
    shm_set(o.parameters, "output_data", 64, 64)
    resp = stub.ModelInfer(req, timeout=30)
    assert [(x.name, x.datatype, list(x.shape)) for x in resp.outputs] == [
        ("OUTPUT0", "INT32", [1, 16]), ("OUTPUT1", "INT32", [1, 16])]
    # one (empty) raw entry per output, as Triton
    assert list(resp.raw_output_contents) == [b"", b""]
    assert (out.read(np.int32, 16) == a + b).all()
    assert (out.read(np.int32, 16, offset=64) == a - b).all()
    st = stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(),
                                       timeout=30)
    assert sorted(st.regions) == ["input_data", "output_data"]
    rs = st.regions["input_data"]
    assert (rs.name, rs.key, rs.offset, rs.byte_size) == (
        "input_data", inp.key, 0, 128)
    stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(),
                                      timeout=30)
    st = stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(),
                                       timeout=30)
    assert len(st.regions) == 0
    assert mapped(srv, inp.key) == 0 and mapped(srv, out.key) == 0


def test_grpc_mixed_offsets_and_stream(grpc_server, regions):
    srv, stub, _ = grpc_server(models())
    obj = regions("obj", 8192)
    a = np.arange(16, dtype=np.int32) * 7
    b = np.arange(16, dtype=np.int32)
    base = 4100
    obj.write(a, offset=base + 16)
    stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="r", key=obj.key, offset=base, byte_size=512), timeout=30)

    def request():
        req = pb.ModelInferRequest(model_name="simple")
        t = req.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 16])
        shm_set(t.parameters, "r", 64, 16)
        req.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 16])
        req.raw_input_contents.append(b.tobytes())  # the only raw entry
        o = req.outputs.add(name="OUTPUT0")
        shm_set(o.parameters, "r", 64, 256)
        req.outputs.add(name="OUTPUT1")
        return req

    resp = stub.ModelInfer(request(), timeout=30)
    assert resp.raw_output_contents[0] == b""
    assert (np.frombuffer(resp.raw_output_contents[1], dtype=np.int32)
            == a - b).all()
    assert (obj.read(np.int32, 16, base + 256) == a + b).all()
    # the same on a stream, twice
    obj.write(np.zeros(16, dtype=np.int32), offset=base + 256)
    got = list(stub.ModelStreamInfer(iter([request(), request()]),
                                     timeout=30))
    assert len(got) == 2
    for g in got:
        assert g.error_message == ""
        assert g.infer_response.raw_output_contents[0] == b""
        assert (np.frombuffer(g.infer_response.raw_output_contents[1],
                              dtype=np.int32) == a - b).all()
    assert (obj.read(np.int32, 16, base + 256) == a + b).all()


def test_grpc_errors(grpc_server, regions):
    srv, stub, _ = grpc_server(models())
    obj = regions("obj", 64)
    reg = pb.SystemSharedMemoryRegisterRequest
    stub.SystemSharedMemoryRegister(reg(name="r", key=obj.key, byte_size=64),
                                    timeout=30)
    e = grpc_err(stub.SystemSharedMemoryRegister,
                 reg(name="r", key=obj.key, byte_size=64))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    assert e.details() == "shared memory region 'r' already in manager"
    e = grpc_err(stub.SystemSharedMemoryRegister,
                 reg(name="p", key="/dev/shm" + obj.key, byte_size=8))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid key" in e.details()
    e = grpc_err(stub.SystemSharedMemoryRegister,
                 reg(name="big", key=obj.key, byte_size=65))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith(
        "failed to register shared memory region 'big': invalid args")
    e = grpc_err(stub.SystemSharedMemoryRegister,
                 reg(name="", key=obj.key, byte_size=8))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details() == ("'region name' is necessary to register system "
                           "shared memory region")
    e = grpc_err(stub.SystemSharedMemoryStatus,
                 pb.SystemSharedMemoryStatusRequest(name="nope"))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert e.details() == ("Unable to find system shared memory region: "
                           "'nope'")
    st = stub.SystemSharedMemoryStatus(
        pb.SystemSharedMemoryStatusRequest(name="r"), timeout=30)
    assert list(st.regions) == ["r"] and st.regions["r"].byte_size == 64

    def req(region="r", size=64, offset=0, out=None):
        q = pb.ModelInferRequest(model_name="simple")
        t = q.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 16])
        shm_set(t.parameters, region, size, offset)
        q.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 16])
        q.raw_input_contents.append(bytes(64))
        if out:
            o = q.outputs.add(name="OUTPUT0")
            shm_set(o.parameters, *out)
        return q

    e = grpc_err(stub.ModelInfer, req(region="nope"))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "Unable to find shared memory region: 'nope'" in e.details()
    e = grpc_err(stub.ModelInfer, req(size=4, offset=64))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Invalid offset for shared memory region: 'r'" in e.details()
    e = grpc_err(stub.ModelInfer, req(offset=8))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("Invalid offset + byte size for shared memory region: 'r'"
            in e.details())
    e = grpc_err(stub.ModelInfer, req(out=("r", 32)))
    assert e.code() == grpc.StatusCode.INTERNAL
    assert "should be at least 64 bytes to hold the results" in e.details()
    q = req()
    del q.inputs[0].parameters["shared_memory_byte_size"]
    e = grpc_err(stub.ModelInfer, q)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "shared_memory_byte_size" in e.details()
    q = req()
    q.inputs[0].parameters["shared_memory_byte_size"].string_param = "64"
    e = grpc_err(stub.ModelInfer, q)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    q = req()
    q.inputs[0].contents.int_contents.extend([0] * 16)
    e = grpc_err(stub.ModelInfer, q)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # nothing is left held
    stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(
        name="r"), timeout=30)
    assert mapped(srv, obj.key) == 0


def test_grpc_unregister_during_request(grpc_server, regions):
    srv, stub, _ = grpc_server(models())
    n = 1024
    inp = regions("in", 4 * n)
    out = regions("out", 4 * n)
    x = np.arange(n, dtype=np.float32) - 3.25
    inp.write(x)
    for name, r in (("in", inp), ("out", out)):
        stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
            name=name, key=r.key, byte_size=4 * n), timeout=30)
    q = pb.ModelInferRequest(model_name="slow")
    t = q.inputs.add(name="INPUT0", datatype="FP32", shape=[n])
    shm_set(t.parameters, "in", 4 * n)
    o = q.outputs.add(name="OUTPUT0")
    shm_set(o.parameters, "out", 4 * n)
    fut = stub.ModelInfer.future(q, timeout=30)
    time.sleep(0.5)
    stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(),
                                      timeout=30)
    assert mapped(srv, inp.key) == 1 and mapped(srv, out.key) == 1
    resp = fut.result()
    assert list(resp.raw_output_contents) == [b""]
    assert (out.read(np.float32, n) == x).all()
    # the job is freed right after the reply: allow it a moment
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (mapped(srv, inp.key) or
                                           mapped(srv, out.key)):
        time.sleep(0.05)
    assert mapped(srv, inp.key) == 0 and mapped(srv, out.key) == 0


def test_grpc_cuda_without_cuda(grpc_server):
    srv, stub, _ = grpc_server(models())
    e = grpc_err(stub.CudaSharedMemoryRegister,
                 pb.CudaSharedMemoryRegisterRequest(name="c",
                                                    raw_handle=b"x" * 64,
                                                    device_id=0, byte_size=4))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert e.details().startswith(
        "failed to register CUDA shared memory region: 'c', GPUs not "
        "supported")
    st = stub.CudaSharedMemoryStatus(pb.CudaSharedMemoryStatusRequest(),
                                     timeout=30)
    assert len(st.regions) == 0
    e = grpc_err(stub.CudaSharedMemoryStatus,
                 pb.CudaSharedMemoryStatusRequest(name="c"))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    stub.CudaSharedMemoryUnregister(pb.CudaSharedMemoryUnregisterRequest(
        name="c"), timeout=30)
