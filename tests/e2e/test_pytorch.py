"""End-to-end tests of the pytorch backend (libtorch): TorchScript models
generated once per module with python3-torch (tests/e2e/models/fw_models.py)
served by the real binary; outputs over HTTP JSON and binary match the
Python run within 1e-5 relative; dynamic batch sizes; config mapping by
argument name and by INPUT__k; per-request and load errors."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import INFERD_BACKEND_DIR, Model
from test_backends_helpers import (error_text, infer_binary, infer_json,
                                   json_outputs, wait_settled)

torch = pytest.importorskip("torch", reason="python3-torch is not installed")
pytest.importorskip("torchvision", reason="python3-torchvision is not installed")
if not (Path(INFERD_BACKEND_DIR) / "pytorch" / "libinferd_pytorch.so").exists():
    pytest.skip("libinferd_pytorch.so not built (libtorch-dev missing?)",
                allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent / "models"))
import fw_models  # noqa: E402
from fw_server import start_module_server, stop_module_server  # noqa: E402


def close(got, want):
    """Within 1e-5 relative to the tensor's scale."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "iub":
        assert np.array_equal(got, want)
        return
    scale = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0
    assert err <= 1e-5 * scale, f"max abs error {err}, scale {scale}"


@pytest.fixture(scope="module")
def models():
    made = {n: getattr(fw_models, n)() for n in
            ("pt_add_sub", "pt_mlp", "pt_two_types", "pt_resnet18")}
    return made


def repo_models(made, names=None):
    return {n: Model(m.config, files={f"1/{m.file_name}": m.data})
            for n, m in made.items() if names is None or n in names}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    srv = start_module_server(tmp_path_factory.mktemp("pt_server_repo"), models,
                              "pt_server")
    yield srv
    stop_module_server(srv)


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_add_sub_json_and_binary(server, models):
    m = models["pt_add_sub"]
    a, b = rand((2, 4), seed=1), rand((2, 4), seed=2)
    want = m.reference({"INPUT0": a, "INPUT1": b})
    r = infer_json(server.url, "pt_add_sub",
                   [("INPUT0", "FP32", [2, 4], a.ravel().tolist()),
                    ("INPUT1", "FP32", [2, 4], b.ravel().tolist())])
    out = json_outputs(r)
    for name in ("OUTPUT__0", "OUTPUT__1"):
        assert out[name]["datatype"] == "FP32"
        assert out[name]["shape"] == [2, 4]
        close(np.array(out[name]["data"], np.float32).reshape(2, 4), want[name])
    r, _, outs = infer_binary(server.url, "pt_add_sub",
                              [("INPUT0", "FP32", [2, 4], a),
                               ("INPUT1", "FP32", [2, 4], b)],
                              outputs=["OUTPUT__1"])
    assert r.status_code == 200, r.text
    assert set(outs) == {"OUTPUT__1"}
    close(outs["OUTPUT__1"], want["OUTPUT__1"])


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_mlp_dynamic_batch(server, models, batch):
    x = rand((batch, 16), seed=batch)
    want = models["pt_mlp"].reference({"INPUT__0": x})["OUTPUT__0"]
    r, _, outs = infer_binary(server.url, "pt_mlp",
                              [("INPUT__0", "FP32", [batch, 16], x)])
    assert r.status_code == 200, r.text
    close(outs["OUTPUT__0"], want)


def test_two_input_types(server, models):
    x = rand((2, 3), seed=5)
    k = np.array([[3], [-2]], dtype=np.int64)
    want = models["pt_two_types"].reference({"x": x, "k": k})
    r, _, outs = infer_binary(server.url, "pt_two_types",
                              [("x", "FP32", [2, 3], x),
                               ("k", "INT64", [2, 1], k)])
    assert r.status_code == 200, r.text
    close(outs["y__0"], want["y__0"])
    assert outs["k2__1"].dtype == np.int64
    close(outs["k2__1"], want["k2__1"])
    r = infer_json(server.url, "pt_two_types",
                   [("x", "FP32", [1, 3], [1.0, 2.0, 3.0]),
                    ("k", "INT64", [1, 1], [4])])
    out = json_outputs(r)
    assert out["y__0"]["data"] == [4.0, 8.0, 12.0]
    assert out["k2__1"]["data"] == [8] and out["k2__1"]["datatype"] == "INT64"


@pytest.mark.parametrize("batch", [1, 4])
def test_resnet18(server, models, batch):
    x = rand((batch, 3, 224, 224), seed=7)
    want = models["pt_resnet18"].reference({"INPUT__0": x})["OUTPUT__0"]
    r, _, outs = infer_binary(server.url, "pt_resnet18",
                              [("INPUT__0", "FP32", [batch, 3, 224, 224], x)])
    assert r.status_code == 200, r.text
    close(outs["OUTPUT__0"], want)


def test_wrong_type_is_a_request_error(server):
    r = infer_json(server.url, "pt_two_types",
                   [("x", "FP32", [1, 3], [1.0, 2.0, 3.0]),
                    ("k", "INT32", [1, 1], [4])])
    assert r.status_code == 400
    assert "k" in error_text(r) and "INT64" in error_text(r)


def test_load_errors(start_server, models):
    good = models["pt_add_sub"]
    files = {f"1/{good.file_name}": good.data}
    bytes_cfg = good.config.replace('name: "pt_add_sub"', 'name: "bytes_in"')
    bytes_cfg = bytes_cfg.replace("TYPE_FP32", "TYPE_STRING", 1)
    badname_cfg = good.config.replace('name: "pt_add_sub"',
                                      'name: "bad_name"').replace(
        '"INPUT0"', '"NOPE"')
    srv = start_server(models={
        "bytes_in": Model(bytes_cfg, files=files),
        "bad_name": Model(badname_cfg, files=files),
        "not_ts": Model(good.config.replace('name: "pt_add_sub"',
                                            'name: "not_ts"'),
                        files={"1/model.pt": b"this is not torchscript"}),
    }, wait_ready=False, extra_args=["--exit-on-error=false"])
    entries = wait_settled(srv.url, ["bytes_in", "bad_name", "not_ts"])
    reasons = {n: e.get("reason", "") for n, e in entries.items()}
    assert entries["bytes_in"]["state"] == "UNAVAILABLE"
    assert "BYTES is not supported by the pytorch backend" in reasons["bytes_in"]
    assert 'input "NOPE" matches no argument of forward()' in reasons["bad_name"]
    assert "cannot load TorchScript file" in reasons["not_ts"]


def test_grpc_raw_inputs_match_torch(server, models):
    """The same TorchScript models through gRPC ModelInfer (raw inputs and
    outputs): add/sub and the batched MLP."""
    if server.grpc_port is None:
        pytest.skip("inferd was built without the gRPC frontend")
    from test_grpc_helpers import (channel_to, infer_request, output_array,
                                   pb_grpc)
    ch = channel_to(server)
    try:
        stub = pb_grpc.GRPCInferenceServiceStub(ch)
        a, b = rand((2, 4), seed=1), rand((2, 4), seed=2)
        want = models["pt_add_sub"].reference({"INPUT0": a, "INPUT1": b})
        resp = stub.ModelInfer(infer_request(
            "pt_add_sub", [("INPUT0", "FP32", [2, 4], a),
                           ("INPUT1", "FP32", [2, 4], b)]), timeout=30)
        for name in ("OUTPUT__0", "OUTPUT__1"):
            dt, shape, got = output_array(resp, name)
            assert dt == "FP32" and shape == [2, 4]
            close(got, want[name])
        x = rand((5, 16), seed=3)
        want = models["pt_mlp"].reference({"INPUT__0": x})["OUTPUT__0"]
        resp = stub.ModelInfer(infer_request(
            "pt_mlp", [("INPUT__0", "FP32", [5, 16], x)]), timeout=30)
        close(output_array(resp, "OUTPUT__0")[2], want)
    finally:
        ch.close()
