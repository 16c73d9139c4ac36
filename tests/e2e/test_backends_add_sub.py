"""End-to-end tests of the add_sub backend (Triton's `simple` model):
results for INT32 and FP32 (JSON and binary), the other integer and float
types with wrap-around, batching, requested-output filtering, the error for
inputs of different shapes and config errors at load."""
import numpy as np
import requests

from conftest import SIMPLE_CONFIG, Model
from test_backends_helpers import (error_text, infer_binary, infer_json,
                                   json_outputs, model_config, wait_settled)


def add_sub_config(name, dt, dims, max_batch_size=0, in_dts=None):
    in_dts = in_dts or (dt, dt)
    return model_config(
        name, "add_sub",
        [("INPUT0", in_dts[0], dims), ("INPUT1", in_dts[1], dims)],
        [("OUTPUT0", dt, dims), ("OUTPUT1", dt, dims)],
        max_batch_size=max_batch_size)


def test_add_sub_int32_json_batched(start_server):
    srv = start_server(models={"simple": Model(SIMPLE_CONFIG)})
    a = list(range(16))
    b = [1] * 16
    r = infer_json(srv.url, "simple", [("INPUT0", "INT32", [1, 16], a),
                                       ("INPUT1", "INT32", [1, 16], b)])
    out = json_outputs(r)
    assert out["OUTPUT0"]["datatype"] == "INT32"
    assert out["OUTPUT0"]["shape"] == [1, 16]
    assert out["OUTPUT0"]["data"] == [x + 1 for x in a]
    assert out["OUTPUT1"]["data"] == [x - 1 for x in a]
    assert r.json()["model_name"] == "simple"


def test_add_sub_int32_binary_batch_and_wraparound(start_server):
    srv = start_server(models={"simple": Model(SIMPLE_CONFIG)})
    rng = np.random.default_rng(1)
    a = rng.integers(-1000, 1000, size=(3, 16), dtype=np.int32)
    b = rng.integers(-1000, 1000, size=(3, 16), dtype=np.int32)
    a[0, 0], b[0, 0] = 2**31 - 1, 1        # wraps to -2^31
    a[0, 1], b[0, 1] = -(2**31), 1         # wraps to 2^31-1 on subtraction
    r, hdr, out = infer_binary(srv.url, "simple",
                               [("INPUT0", "INT32", [3, 16], a),
                                ("INPUT1", "INT32", [3, 16], b)])
    assert r.status_code == 200, error_text(r)
    expect_sum = (a.astype(np.int64) + b).astype(np.int32)  # two's complement
    expect_diff = (a.astype(np.int64) - b).astype(np.int32)
    np.testing.assert_array_equal(out["OUTPUT0"], expect_sum)
    np.testing.assert_array_equal(out["OUTPUT1"], expect_diff)
    assert out["OUTPUT0"][0, 0] == -(2**31)
    assert out["OUTPUT1"][0, 1] == 2**31 - 1


def test_add_sub_fp32_json_and_binary(start_server):
    srv = start_server(models={
        "add_fp32": Model(add_sub_config("add_fp32", "FP32", [4]))})
    a = [1.5, -2.25, 0.0, 1e10]
    b = [0.5, 0.25, -3.0, 1.0]
    out = json_outputs(infer_json(srv.url, "add_fp32",
                                  [("INPUT0", "FP32", [4], a),
                                   ("INPUT1", "FP32", [4], b)]))
    np.testing.assert_allclose(out["OUTPUT0"]["data"],
                               np.float32(a) + np.float32(b))
    np.testing.assert_allclose(out["OUTPUT1"]["data"],
                               np.float32(a) - np.float32(b))
    assert out["OUTPUT0"]["datatype"] == "FP32"

    r, _, bout = infer_binary(srv.url, "add_fp32",
                              [("INPUT0", "FP32", [4], np.float32(a)),
                               ("INPUT1", "FP32", [4], np.float32(b))])
    assert r.status_code == 200, error_text(r)
    np.testing.assert_array_equal(bout["OUTPUT0"], np.float32(a) + np.float32(b))
    np.testing.assert_array_equal(bout["OUTPUT1"], np.float32(a) - np.float32(b))


def test_add_sub_other_types(start_server):
    types = ["INT8", "INT16", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
             "FP64"]
    models = {f"as_{t.lower()}": Model(add_sub_config(f"as_{t.lower()}", t, [-1]))
              for t in types}
    srv = start_server(models=models)
    for t in types:
        np_t = np.dtype({"INT8": np.int8, "INT16": np.int16, "INT64": np.int64,
                         "UINT8": np.uint8, "UINT16": np.uint16,
                         "UINT32": np.uint32, "UINT64": np.uint64,
                         "FP64": np.float64}[t])
        if np_t.kind in "iu":
            info = np.iinfo(np_t)
            a = np.array([info.max, info.min, 7, 0], dtype=np_t)
            b = np.array([1, 1, 3, 0], dtype=np_t)
        else:
            a = np.array([1.25, -1e300, 7.5, 0.0], dtype=np_t)
            b = np.array([1.0, 2.0, 0.5, 0.0], dtype=np_t)
        r, _, out = infer_binary(srv.url, f"as_{t.lower()}",
                                 [("INPUT0", t, [4], a), ("INPUT1", t, [4], b)])
        assert r.status_code == 200, f"{t}: {error_text(r)}"
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(out["OUTPUT0"], a + b, err_msg=t)
            np.testing.assert_array_equal(out["OUTPUT1"], a - b, err_msg=t)


def test_add_sub_only_requested_output(start_server):
    srv = start_server(models={
        "simple": Model(add_sub_config("simple", "INT32", [2]))})
    r = infer_json(srv.url, "simple", [("INPUT0", "INT32", [2], [5, 6]),
                                       ("INPUT1", "INT32", [2], [1, 2])],
                   outputs=["OUTPUT1"])
    out = json_outputs(r)
    assert list(out) == ["OUTPUT1"]
    assert out["OUTPUT1"]["data"] == [4, 4]


def test_add_sub_shape_mismatch_is_an_error(start_server):
    srv = start_server(models={
        "vsimple": Model(add_sub_config("vsimple", "INT32", [-1]))})
    r = infer_json(srv.url, "vsimple", [("INPUT0", "INT32", [3], [1, 2, 3]),
                                        ("INPUT1", "INT32", [4], [1, 2, 3, 4])])
    assert r.status_code == 400, r.text
    msg = error_text(r)
    assert "[3]" in msg and "[4]" in msg, msg
    assert "INPUT0" in msg and "INPUT1" in msg, msg
    # the model keeps serving
    out = json_outputs(infer_json(srv.url, "vsimple",
                                  [("INPUT0", "INT32", [1], [3]),
                                   ("INPUT1", "INT32", [1], [2])]))
    assert out["OUTPUT0"]["data"] == [5]


def test_add_sub_config_errors_fail_load(start_server):
    models = {
        "mixed": Model(add_sub_config("mixed", "INT32", [4],
                                      in_dts=("INT32", "FP32"))),
        "strings": Model(add_sub_config("strings", "BYTES", [4])),
        "good": Model(add_sub_config("good", "INT32", [4])),
    }
    srv = start_server(models=models, extra_args=("--exit-on-error=false",),
                       wait_ready=False)
    idx = wait_settled(srv.url, models)
    assert idx["good"].get("state") == "READY", idx
    mixed = idx["mixed"]
    assert mixed.get("state") == "UNAVAILABLE", mixed
    assert "mixed" in mixed.get("reason", "") and "INPUT1" in mixed["reason"], mixed
    strings = idx["strings"]
    assert strings.get("state") == "UNAVAILABLE", strings
    assert "BYTES" in strings.get("reason", ""), strings
    out = json_outputs(infer_json(srv.url, "good",
                                  [("INPUT0", "INT32", [4], [1, 2, 3, 4]),
                                   ("INPUT1", "INT32", [4], [1, 1, 1, 1])]))
    assert out["OUTPUT1"]["data"] == [0, 1, 2, 3]
    r = requests.get(f"{srv.url}/v2/models/mixed/ready", timeout=10)
    assert r.status_code != 200
