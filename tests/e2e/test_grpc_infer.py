"""gRPC ModelInfer: raw and typed inputs for every data type, BYTES both
ways, requested outputs, parameters, id echo, the bad-input suite (status
code and message) and equality with the HTTP answers."""

import numpy as np
import pytest
import requests

from conftest import SIMPLE_CONFIG, Model, identity_config, testing_config
from test_grpc_helpers import (NP_TYPES, grpc, grpc_server, infer_request,  # noqa: F401
                               output_array, pb)

TYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
         "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]


def models():
    m = {"simple": Model(SIMPLE_CONFIG),
         "slow": Model(testing_config("slow", {"execute_delay_ms": "300"}))}
    for dt in TYPES:
        name = "id_" + dt.lower()
        m[name] = Model(identity_config(name, dt, [-1], max_batch_size=0))
    return m


def sample(dt, n=6):
    if dt == "BYTES":
        return [b"", b"a", "h\u00e9llo".encode(), b"\x00\xff", b"x" * 300,
                b"last"][:n]
    if dt == "BOOL":
        return np.array([True, False, True, True, False, False][:n])
    info = np.finfo if dt.startswith("FP") else np.iinfo
    t = NP_TYPES[dt]
    lim = info(t)
    return np.array([0, 1, lim.max, lim.min, 7, 3][:n], dtype=t)


def simple_inputs(a, b):
    return [("INPUT0", "INT32", [1, 16], a), ("INPUT1", "INT32", [1, 16], b)]


def test_simple_raw_and_typed(grpc_server):
    _, stub, _ = grpc_server(models())
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.full((1, 16), 3, dtype=np.int32)
    for raw in (True, False):
        resp = stub.ModelInfer(infer_request("simple", simple_inputs(a, b),
                                             raw=raw, id="r1"), timeout=10)
        assert resp.id == "r1"
        assert resp.model_name == "simple" and resp.model_version == "1"
        assert len(resp.raw_output_contents) == len(resp.outputs) == 2
        dt, shape, out0 = output_array(resp, "OUTPUT0")
        assert dt == "INT32" and shape == [1, 16]
        assert (out0 == a + b).all()
        assert (output_array(resp, "OUTPUT1")[2] == a - b).all()
        # outputs never in typed contents
        assert not resp.outputs[0].HasField("contents")


@pytest.mark.parametrize("raw", [True, False])
def test_every_datatype(grpc_server, raw):
    _, stub, _ = grpc_server(models())
    for dt in TYPES:
        if not raw and dt == "FP16":
            continue  # no typed field: covered by the bad-input test
        vals = sample(dt)
        req = infer_request("id_" + dt.lower(),
                            [("INPUT0", dt, [len(vals)], vals)], raw=raw)
        resp = stub.ModelInfer(req, timeout=10)
        odt, shape, out = output_array(resp, "OUTPUT0")
        assert odt == dt and shape == [len(vals)], dt
        if dt == "BYTES":
            assert out == list(vals)
        else:
            assert (out == vals).all(), dt


def test_requested_outputs_and_params(grpc_server):
    _, stub, _ = grpc_server(models())
    a = np.ones((1, 16), np.int32)
    req = infer_request("simple", simple_inputs(a, a), outputs=["OUTPUT1"],
                        params={"custom_s": "v", "custom_i": 5,
                                "custom_b": True, "custom_d": 0.5,
                                "priority": 1, "timeout": 10_000_000})
    resp = stub.ModelInfer(req, timeout=10)
    assert [o.name for o in resp.outputs] == ["OUTPUT1"]
    assert (output_array(resp, "OUTPUT1")[2] == 0).all()
    assert resp.id == ""


def test_same_answer_as_http(grpc_server):
    server, stub, _ = grpc_server(models())
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.arange(16, 32, dtype=np.int32).reshape(1, 16)
    resp = stub.ModelInfer(infer_request("simple", simple_inputs(a, b)),
                           timeout=10)
    http = requests.post(server.url + "/v2/models/simple/infer", json={
        "inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
                    "data": a.flatten().tolist()},
                   {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                    "data": b.flatten().tolist()}]}, timeout=10).json()
    for o in http["outputs"]:
        dt, shape, arr = output_array(resp, o["name"])
        assert dt == o["datatype"] and shape == o["shape"]
        assert arr.flatten().tolist() == o["data"]


def expect_error(stub, req, code, *fragments):
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req, timeout=10)
    assert e.value.code() == code, e.value.details()
    for f in fragments:
        assert f in e.value.details(), (f, e.value.details())
    return e.value


def test_bad_inputs(grpc_server):
    server, stub, _ = grpc_server(models())
    a = np.ones((1, 16), np.int32)
    INV = grpc.StatusCode.INVALID_ARGUMENT
    # unknown model / version, same as HTTP
    e = expect_error(stub, infer_request("nope", simple_inputs(a, a)),
                     grpc.StatusCode.NOT_FOUND, "nope")
    r = requests.post(server.url + "/v2/models/nope/infer", json={
        "inputs": []}, timeout=10)
    assert r.status_code == 404 and r.json()["error"] == e.details()
    expect_error(stub, infer_request("simple", simple_inputs(a, a),
                                     version="9"),
                 grpc.StatusCode.NOT_FOUND, "version 9")
    expect_error(stub, infer_request("simple", simple_inputs(a, a),
                                     version="v1"), INV, "v1")
    # wrong datatype, unknown datatype, wrong shape, wrong size
    req = infer_request("simple", [("INPUT0", "FP32", [1, 16],
                                    a.astype(np.float32)),
                                   ("INPUT1", "INT32", [1, 16], a)])
    expect_error(stub, req, INV, "INPUT0")
    req = infer_request("simple", simple_inputs(a, a))
    req.inputs[0].datatype = "INT33"
    expect_error(stub, req, INV, "INT33")
    req = infer_request("simple", simple_inputs(a, a))
    req.inputs[0].shape[:] = [1, 15]
    expect_error(stub, req, INV, "INPUT0")
    req = infer_request("simple", simple_inputs(a, a))
    req.raw_input_contents[1] = req.raw_input_contents[1][:-4]
    expect_error(stub, req, INV, "INPUT1")
    # unknown input, missing input
    req = infer_request("simple", simple_inputs(a, a))
    req.inputs[1].name = "INPUTX"
    expect_error(stub, req, INV, "INPUTX")
    req = infer_request("simple", simple_inputs(a, a)[:1])
    expect_error(stub, req, INV)
    # raw entries: missing, extra; mixing with typed contents
    req = infer_request("simple", simple_inputs(a, a))
    del req.raw_input_contents[1]
    expect_error(stub, req, INV, "unable to find data", "INPUT1")
    req = infer_request("simple", simple_inputs(a, a))
    req.raw_input_contents.append(b"1234")
    expect_error(stub, req, INV, "raw_input_contents", "got 3")
    req = infer_request("simple", simple_inputs(a, a))
    req.inputs[0].contents.int_contents.extend([1] * 16)
    expect_error(stub, req, INV, "contents must not be set",
                 "raw_input_contents")
    # typed: wrong field, wrong count, FP16 typed
    req = infer_request("simple", simple_inputs(a, a), raw=False)
    req.inputs[0].contents.ClearField("int_contents")
    req.inputs[0].contents.fp32_contents.extend([1.0] * 16)
    expect_error(stub, req, INV, "int_contents")
    req = infer_request("simple", simple_inputs(a, a), raw=False)
    del req.inputs[0].contents.int_contents[3:]
    expect_error(stub, req, INV, "expected 16 elements", "got 3")
    req = infer_request("id_fp16", [("INPUT0", "FP16", [2],
                                     np.zeros(2, np.float16))])
    req.ClearField("raw_input_contents")
    req.inputs[0].contents.fp32_contents.extend([1.0, 2.0])
    expect_error(stub, req, INV, "FP16", "raw_input_contents")
    # BYTES framing
    req = infer_request("id_bytes", [("INPUT0", "BYTES", [1], [b"abc"])])
    req.raw_input_contents[0] = b"\x09\x00\x00\x00ab"
    expect_error(stub, req, INV, "INPUT0")
    # parameters
    for params, frag in [({"sequence_start": 1}, "bool_param"),
                         ({"priority": -1}, "priority"),
                         ({"timeout": "soon"}, "timeout"),
                         ({"triton_x": True}, "reserved")]:
        expect_error(stub, infer_request("simple", simple_inputs(a, a),
                                         params=params), INV, frag)
    req = infer_request("simple", simple_inputs(a, a))
    req.parameters["custom_u"].uint64_param = 3
    expect_error(stub, req, INV, "custom_u", "uint64_param")
    # unknown requested output
    expect_error(stub, infer_request("simple", simple_inputs(a, a),
                                     outputs=["NOPE"]), INV, "NOPE")
    # unsupported output features
    req = infer_request("simple", simple_inputs(a, a), outputs=["OUTPUT0"])
    req.outputs[0].parameters["classification"].int64_param = 2
    expect_error(stub, req, grpc.StatusCode.UNIMPLEMENTED, "classification")
    # still serving
    resp = stub.ModelInfer(infer_request("simple", simple_inputs(a, a)),
                           timeout=10)
    assert len(resp.outputs) == 2


def test_large_tensor_zero_copy_paths(grpc_server):
    """8 MiB in and out: raw input pieces across many received slices and
    an output sent straight from the response buffer."""
    _, stub, _ = grpc_server(models())
    vals = np.random.default_rng(1).random(2 * 1024 * 1024, np.float32)
    req = infer_request("id_fp32", [("INPUT0", "FP32", [vals.size], vals)])
    resp = stub.ModelInfer(req, timeout=30)
    assert (output_array(resp, "OUTPUT0")[2] == vals).all()


def test_client_cancel_unary(grpc_server):
    """A cancelled ModelInfer frees the request; the server keeps
    serving."""
    _, stub, _ = grpc_server(models())
    v = np.ones(4, np.float32)
    futs = [stub.ModelInfer.future(
        infer_request("slow", [("INPUT0", "FP32", [4], v)]), timeout=30)
        for _ in range(4)]
    for f in futs:
        f.cancel()
    for f in futs:
        assert f.cancelled() or f.done()
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(infer_request("slow", [("INPUT0", "FP32", [4], v)]),
                        timeout=0.05)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    resp = stub.ModelInfer(infer_request("slow", [("INPUT0", "FP32", [4],
                                                   v)]), timeout=30)
    assert (output_array(resp, "OUTPUT0")[2] == v).all()
