"""End-to-end tests of the onnx backend (OpenCV DNN): ONNX models exported
once per module with python3-torch (tests/e2e/models/fw_models.py) served by
the real binary; outputs over HTTP JSON and binary match torch within 1e-5
relative; dynamic batch; a torch export with Identity nodes on shared
weights; the engine named in the log; an unsupported operator named at load;
a config without inputs gets the graph's inputs in its error."""
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

import conftest
from conftest import INFERD_BACKEND_DIR, Model
from test_backends_helpers import (error_text, infer_binary, infer_json,
                                   json_outputs, wait_settled)

pytest.importorskip("torch", reason="python3-torch is not installed")
onnx = pytest.importorskip("onnx", reason="python3-onnx is not installed")
if not (Path(INFERD_BACKEND_DIR) / "onnx" / "libinferd_onnx.so").exists():
    pytest.skip("libinferd_onnx.so not built (libopencv-dnn-dev missing?)",
                allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent / "models"))
import fw_models  # noqa: E402
from fw_server import start_module_server, stop_module_server  # noqa: E402

NAMES = ("onnx_add_sub", "onnx_mlp", "onnx_shared", "onnx_resnet18")


def close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    assert err <= 1e-5 * scale, f"max abs error {err}, scale {scale}"


@pytest.fixture(scope="module")
def models():
    return {n: getattr(fw_models, n)() for n in NAMES}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    srv = start_module_server(tmp_path_factory.mktemp("onnx_server_repo"), models,
                              "onnx_server")
    yield srv
    stop_module_server(srv)


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_engine_named_in_log(server):
    log = server.log()
    assert "run by OpenCV DNN 4." in log
    assert "Identity nodes on initializers removed" in log  # onnx_shared


def test_add_sub_json_and_binary(server, models):
    a, b = rand((3, 4), 1), rand((3, 4), 2)
    want = models["onnx_add_sub"].reference({"INPUT0": a, "INPUT1": b})
    r = infer_json(server.url, "onnx_add_sub",
                   [("INPUT0", "FP32", [3, 4], a.ravel().tolist()),
                    ("INPUT1", "FP32", [3, 4], b.ravel().tolist())])
    out = json_outputs(r)
    for n in ("OUTPUT0", "OUTPUT1"):
        assert out[n]["shape"] == [3, 4]
        close(np.array(out[n]["data"], np.float32).reshape(3, 4), want[n])
    r, _, outs = infer_binary(server.url, "onnx_add_sub",
                              [("INPUT0", "FP32", [3, 4], a),
                               ("INPUT1", "FP32", [3, 4], b)])
    assert r.status_code == 200, r.text
    close(outs["OUTPUT0"], want["OUTPUT0"])
    close(outs["OUTPUT1"], want["OUTPUT1"])


@pytest.mark.parametrize("batch", [1, 5, 16])
def test_mlp_dynamic_batch(server, models, batch):
    x = rand((batch, 16), batch)
    want = models["onnx_mlp"].reference({"x": x})["y"]
    r, _, outs = infer_binary(server.url, "onnx_mlp",
                              [("x", "FP32", [batch, 16], x)])
    assert r.status_code == 200, r.text
    close(outs["y"], want)


def test_identity_rewrite_model(server, models):
    x = rand((2, 8), 3)
    want = models["onnx_shared"].reference({"x": x})["y"]
    r, _, outs = infer_binary(server.url, "onnx_shared",
                              [("x", "FP32", [2, 8], x)])
    assert r.status_code == 200, r.text
    close(outs["y"], want)


@pytest.mark.parametrize("batch", [1, 2])
def test_resnet18(server, models, batch):
    x = rand((batch, 3, 224, 224), 9)
    want = models["onnx_resnet18"].reference({"input": x})["logits"]
    r, _, outs = infer_binary(server.url, "onnx_resnet18",
                              [("input", "FP32", [batch, 3, 224, 224], x)])
    assert r.status_code == 200, r.text
    close(outs["logits"], want)


def unsupported_op_model():
    from onnx import TensorProto, helper
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    return model.SerializeToString()


def test_load_errors(start_server, models):
    mlp = models["onnx_mlp"]
    wrong = mlp.config.replace('name: "onnx_mlp"', 'name: "wrong_in"').replace(
        'name: "x"', 'name: "z"')
    op_cfg = fw_models.config("bad_op", "onnx", [("x", "FP32", [2])],
                              [("y", "FP32", [2])])
    srv = start_server(models={
        "wrong_in": Model(wrong, files={"1/model.onnx": mlp.data}),
        "bad_op": Model(op_cfg, files={"1/model.onnx": unsupported_op_model()}),
    }, wait_ready=False, extra_args=["--exit-on-error=false"])
    entries = wait_settled(srv.url, ["wrong_in", "bad_op"])
    reasons = {n: e.get("reason", "") for n, e in entries.items()}
    assert all(e["state"] == "UNAVAILABLE" for e in entries.values()), entries
    assert 'operator "Frobnicate"' in reasons["bad_op"] or \
        "Frobnicate" in reasons["bad_op"], reasons["bad_op"]
    assert 'input "z" is not an input of the ONNX graph' in reasons["wrong_in"]


def test_config_completed_from_the_graph(start_server, models):
    """A bare model.onnx (no config.pbtxt) and a config without inputs are
    completed from the graph (reference §3.6): names, types, dims, and
    max_batch_size 4 since every first dimension is dynamic."""
    mlp = models["onnx_mlp"]
    no_io = 'backend: "onnxruntime"\n'
    srv = start_server(models={
        "bare": Model(None, files={"1/model.onnx": mlp.data}),
        "no_io": Model(no_io, files={"1/model.onnx": mlp.data}),
    })
    for name in ("bare", "no_io"):
        cfg = requests.get(f"{srv.url}/v2/models/{name}/config",
                           timeout=10).json()
        assert cfg["name"] == name
        assert cfg["backend"] == "onnxruntime"
        assert cfg["max_batch_size"] == 4
        assert [(i["name"], i["data_type"], i["dims"]) for i in cfg["input"]] \
            == [("x", "TYPE_FP32", [16])]
        meta = requests.get(f"{srv.url}/v2/models/{name}", timeout=10).json()
        assert meta["inputs"] == [{"name": "x", "datatype": "FP32",
                                   "shape": [-1, 16]}]
        x = rand((3, 16), 4)
        want = mlp.reference({"x": x})["y"]
        r, _, outs = infer_binary(srv.url, name, [("x", "FP32", [3, 16], x)])
        assert r.status_code == 200, r.text
        close(outs["y"], want)


def test_grpc_raw_inputs_match_torch(server, models):
    """The ONNX MLP through gRPC ModelInfer (raw inputs and outputs)."""
    if server.grpc_port is None:
        pytest.skip("inferd was built without the gRPC frontend")
    from test_grpc_helpers import (channel_to, infer_request, output_array,
                                   pb_grpc)
    ch = channel_to(server)
    try:
        stub = pb_grpc.GRPCInferenceServiceStub(ch)
        x = rand((5, 16), 3)
        want = models["onnx_mlp"].reference({"x": x})["y"]
        resp = stub.ModelInfer(infer_request(
            "onnx_mlp", [("x", "FP32", [5, 16], x)]), timeout=30)
        dt, shape, got = output_array(resp, "y")
        assert dt == "FP32" and shape == [5, 4]
        close(got, want)
    finally:
        ch.close()
