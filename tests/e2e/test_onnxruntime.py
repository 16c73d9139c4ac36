"""End-to-end tests of the onnxruntime backend (ONNX Runtime): models exported
once per module with python3-torch / built with python3-onnx
(tests/e2e/models/ort_models.py) served by the real binary. resnet18, a
2-layer transformer encoder (dynamic sequence length) and an LSTM match
torch within 1e-4 over HTTP (binary) and gRPC; every Triton data type incl.
FP16, BOOL and BYTES (ONNX strings); dynamic batching; external data; config
completed from the session; Triton's parameters; errors of ONNX Runtime and of
the config reach the client; explicit load / unload through the repository
API with the model sent in the request."""
import base64
import concurrent.futures
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

import conftest
from conftest import INFERD_BACKEND_DIR, Model
from test_backends_helpers import error_text, infer_binary, wait_settled

pytest.importorskip("torch", reason="python3-torch is not installed")
pytest.importorskip("onnx", reason="python3-onnx is not installed")
if not (Path(INFERD_BACKEND_DIR) / "onnxruntime" /
        "libinferd_onnxruntime.so").exists():
    pytest.skip("libinferd_onnxruntime.so not built: ONNX Runtime was not "
                "fetched (scripts/setup-deps.sh --onnxruntime)",
                allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent / "models"))
import fw_models  # noqa: E402
import ort_models  # noqa: E402

TOL = 1e-4
DB = "dynamic_batching { max_queue_delay_microseconds: 50000 }\n"


def close(got, want, tol=TOL):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1.0)
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    assert err <= tol * scale, f"max abs error {err}, scale {scale}"


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


def mlp_model(name, extra=""):
    """fw_models' MLP exported for this backend (x [-1,16] -> y [-1,4])."""
    mod = fw_models.mlp_module()
    data = ort_models._export(mod, fw_models.torch.zeros(1, 16), ["x"], ["y"],
                              {"x": {0: "batch"}, "y": {0: "batch"}})
    cfg = fw_models.config(name, "onnxruntime", [("x", "FP32", [16])],
                           [("y", "FP32", [4])], max_batch_size=16) + extra
    return fw_models.FwModel("model.onnx", data, cfg,
                             fw_models._eager(mod, ["x"], ["y"]))


@pytest.fixture(scope="module")
def models():
    made = {n: f() for n, f in ort_models.MAKERS.items()}
    made["ort_mlp_db"] = mlp_model("ort_mlp_db", DB)
    return made


def start_repo_server(tmp_dir, made, name, extra_args=()):
    """Like fw_server.start_module_server, with every file of the models."""
    conftest.write_repository(tmp_dir, {
        n: Model(m.config, files=ort_models.files_of(m))
        for n, m in made.items()})
    port = conftest.free_port()
    args = [conftest.INFERD_BIN, f"--model-repository={tmp_dir}",
            f"--backend-directory={conftest.INFERD_BACKEND_DIR}",
            "--http-address=127.0.0.1", f"--http-port={port}", *extra_args]
    grpc_port = conftest.free_port() if conftest.inferd_has_grpc() else None
    if grpc_port:
        args.append(f"--grpc-port={grpc_port}")
    log_path = tmp_dir.parent / f"{name}.log"
    import subprocess
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    srv = conftest.Server(proc, port, tmp_dir, log_path)
    srv.grpc_port = grpc_port
    if not conftest._wait_http(srv, "/v2/health/ready",
                               time.monotonic() + 120):
        srv._teardown()
        raise RuntimeError(f"inferd not ready; args {args}; log:\n{srv.log()}")
    return srv


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    srv = start_repo_server(tmp_path_factory.mktemp("ort_repo"), models,
                            "ort_server")
    yield srv
    srv.stop()
    report = conftest.sanitizer_report(srv.log())
    assert not report, srv.log()


def grpc_infer(server, model, inputs, outputs=None):
    """{name: ndarray or list of bytes} of a raw gRPC ModelInfer."""
    if server.grpc_port is None:
        pytest.skip("inferd was built without the gRPC frontend")
    from test_grpc_helpers import (channel_to, infer_request, output_array,
                                   pb_grpc)
    ch = channel_to(server)
    try:
        stub = pb_grpc.GRPCInferenceServiceStub(ch)
        resp = stub.ModelInfer(infer_request(model, inputs, outputs),
                               timeout=60)
        return {o.name: output_array(resp, o.name)[2] for o in resp.outputs}
    finally:
        ch.close()


def http_infer(server, model, inputs, outputs=None):
    r, _, outs = infer_binary(server.url, model, inputs, outputs, timeout=60)
    assert r.status_code == 200, r.text
    return outs


def test_engine_named_in_log(server):
    assert "run by ONNX Runtime 1.30.0" in server.log()


@pytest.mark.parametrize("batch", [1, 8])
def test_resnet18_matches_torch(server, models, batch):
    x = rand((batch, 3, 224, 224), 9 + batch)
    want = models["ort_resnet18"].reference({"input": x})["logits"]
    inp = [("input", "FP32", list(x.shape), x)]
    close(http_infer(server, "ort_resnet18", inp)["logits"], want)
    close(grpc_infer(server, "ort_resnet18", inp)["logits"], want)


@pytest.mark.parametrize("batch,seq", [(1, 3), (1, 17), (8, 5), (8, 31)])
def test_transformer_dynamic_sequence(server, models, batch, seq):
    x = rand((batch, seq, 64), batch * 100 + seq)
    want = models["ort_transformer"].reference({"x": x})["y"]
    inp = [("x", "FP32", list(x.shape), x)]
    close(http_infer(server, "ort_transformer", inp)["y"], want)
    close(grpc_infer(server, "ort_transformer", inp)["y"], want)


def test_lstm_matches_torch(server, models):
    x = rand((3, 9, 16), 4)
    want = models["ort_lstm"].reference({"x": x})
    inp = [("x", "FP32", [3, 9, 16], x)]
    for outs in (http_infer(server, "ort_lstm", inp),
                 grpc_infer(server, "ort_lstm", inp)):
        close(outs["seq"], want["seq"])
        close(outs["last"], want["last"])


def type_inputs(batch):
    rng = np.random.default_rng(7)
    inputs, want = [], {}
    for t, (_, npt) in ort_models.TYPES.items():
        if t == "BYTES":
            vals = [b"", b"abc", "h\u00e9llo".encode(), b"x" * 300, b"1",
                    b"two words"][:batch * 3]
            vals += [b"pad%d" % i for i in range(batch * 3 - len(vals))]
            inputs.append((f"IN_{t}", t, [batch, 3], vals))
            want[f"OUT_{t}"] = vals
            continue
        if t == "BOOL":
            a = rng.integers(0, 2, (batch, 3)).astype(np.bool_)
        elif npt in (np.float16, np.float32, np.float64):
            a = rng.standard_normal((batch, 3)).astype(npt)
        else:
            info = np.iinfo(npt)
            a = rng.integers(info.min, info.max, (batch, 3), dtype=npt,
                             endpoint=True)
        inputs.append((f"IN_{t}", t, [batch, 3], a))
        want[f"OUT_{t}"] = a
    want["OUT_FP16_X2"] = want["OUT_FP16"] + want["OUT_FP16"]
    return inputs, want


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_every_data_type(server, proto):
    inputs, want = type_inputs(2)
    infer = http_infer if proto == "http" else grpc_infer
    outs = infer(server, "ort_types", inputs)
    for name, w in want.items():
        got = outs[name]
        if isinstance(w, list):
            assert [bytes(g) for g in got] == w, name
        else:
            got = np.asarray(got).reshape(w.shape)
            assert got.dtype == w.dtype, (name, got.dtype)
            assert np.array_equal(got, w), name


def test_external_data_beside_the_model(server, models):
    x = rand((4, 16), 5)
    want = models["ort_external"].reference({"x": x})["y"]
    close(http_infer(server, "ort_external", [("x", "FP32", [4, 16], x)])["y"],
          want)


def test_runtime_error_reaches_the_client(server):
    x = np.arange(5, dtype=np.float32)
    r, _, _ = infer_binary(server.url, "ort_reshape", [("x", "FP32", [5], x)])
    assert r.status_code in (400, 500), r.text
    msg = error_text(r)
    assert 'model "ort_reshape": ONNX Runtime 1.30.0 failed to run' in msg, msg
    assert "reshape" in msg.lower(), msg
    ok = http_infer(server, "ort_reshape",
                    [("x", "FP32", [6], np.arange(6, dtype=np.float32))])
    assert np.array_equal(ok["y"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_dynamic_batching_concatenates(server, models):
    """Concurrent one-row requests are run together (fewer executions than
    inferences) and each gets its own row back."""
    xs = [rand((1, 16), 40 + i) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda x: http_infer(
            server, "ort_mlp_db", [("x", "FP32", [1, 16], x)])["y"], xs))
    for x, g in zip(xs, got):
        close(g, models["ort_mlp_db"].reference({"x": x})["y"])
    stats = requests.get(f"{server.url}/v2/models/ort_mlp_db/stats",
                         timeout=10).json()["model_stats"][0]
    assert stats["execution_count"] < stats["inference_count"], stats


def test_config_completed_from_the_session(start_server, models):
    """A bare model.onnx serves: inputs, outputs and types from the session,
    max_batch_size 4 since every first dimension is dynamic."""
    lstm = models["ort_lstm"]
    srv = start_server(models={
        "bare": Model(None, files={"1/model.onnx": lstm.data})})
    cfg = requests.get(f"{srv.url}/v2/models/bare/config", timeout=10).json()
    assert cfg["backend"] == "onnxruntime" and cfg["max_batch_size"] == 4
    assert [(i["name"], i["data_type"], i["dims"]) for i in cfg["input"]] == \
        [("x", "TYPE_FP32", [-1, 16])]
    assert sorted((o["name"], o["data_type"], o["dims"])
                  for o in cfg["output"]) == \
        [("last", "TYPE_FP32", [4]), ("seq", "TYPE_FP32", [-1, 32])]
    x = rand((2, 6, 16), 8)
    outs = http_infer(srv, "bare", [("x", "FP32", [2, 6, 16], x)])
    close(outs["last"], lstm.reference({"x": x})["last"])


PARAMS = {"intra_op_thread_count": "1", "inter_op_thread_count": "1",
          "execution_mode": "1", "enable_mem_arena": "1",
          "enable_mem_pattern": "0",
          "memory.enable_memory_arena_shrinkage": "cpu:0"}


def test_parameters_and_load_errors(start_server, models):
    mlp = mlp_model("p")
    files = {"1/model.onnx": mlp.data}

    def cfg(name, params=None, extra="", replace=()):
        text = fw_models.config(name, "onnxruntime", [("x", "FP32", [16])],
                                [("y", "FP32", [4])], max_batch_size=16,
                                params=params) + extra
        for a, b in replace:
            text = text.replace(a, b)
        return text

    srv = start_server(models={
        "params": Model(cfg("params", PARAMS,
                            "optimization { graph { level: -1 } }\n"),
                        files=files),
        "level1": Model(cfg("level1", extra="optimization { graph { level: 1 "
                                             "} }\n"), files=files),
        "bad_mode": Model(cfg("bad_mode", {"execution_mode": "7"}),
                          files=files),
        "bad_name": Model(cfg("bad_name", replace=[('name: "x"',
                                                    'name: "z"')]),
                          files=files),
        "bad_type": Model(cfg("bad_type", replace=[("TYPE_FP32 dims: [ 16 ]",
                                                    "TYPE_INT32 dims: [ 16 ]")]),
                          files=files),
        "bad_dims": Model(cfg("bad_dims", replace=[("dims: [ 16 ]",
                                                    "dims: [ 17 ]")]),
                          files=files),
        "gpu": Model(cfg("gpu", replace=[("KIND_CPU", "KIND_GPU")]),
                     files=files),
        "broken": Model(cfg("broken"), files={"1/model.onnx": b"not onnx"}),
    }, wait_ready=False, extra_args=["--exit-on-error=false"])
    names = ["params", "level1", "bad_mode", "bad_name", "bad_type",
             "bad_dims", "gpu", "broken"]
    entries = wait_settled(srv.url, names, timeout=60)
    reasons = {n: entries[n].get("reason", "") for n in names}
    for good in ("params", "level1"):
        assert entries[good]["state"] == "READY", reasons[good]
        x = rand((3, 16), 6)
        close(http_infer(srv, good, [("x", "FP32", [3, 16], x)])["y"],
              mlp.reference({"x": x})["y"])
    assert "execution_mode" in reasons["bad_mode"] and "7" in \
        reasons["bad_mode"], reasons["bad_mode"]
    assert 'input "z" is not an input of the ONNX graph (graph inputs: "x")' \
        in reasons["bad_name"], reasons["bad_name"]
    assert 'input "x": the config says TYPE_INT32, the model has TYPE_FP32' \
        in reasons["bad_type"], reasons["bad_type"]
    assert "do not match the model's [-1,16]" in reasons["bad_dims"], \
        reasons["bad_dims"]
    # Without a GPU the server refuses KIND_GPU before the backend runs; with
    # one, the backend says why it cannot use it (no CUDA provider library).
    assert entries["gpu"]["state"] == "UNAVAILABLE"
    assert "KIND_GPU needs a CUDA GPU" in reasons["gpu"] or (
        "CUDA execution provider" in reasons["gpu"] and
        "libonnxruntime_providers_cuda.so" in reasons["gpu"]), reasons["gpu"]
    assert "ONNX Runtime 1.30.0 cannot load" in reasons["broken"], \
        reasons["broken"]


def test_explicit_load_infer_unload(start_server, models):
    """The lifecycle through the repository API: config and files (model and
    its external weights) sent in the load request, inference, unload."""
    try:
        srv = start_server(models={"idle": Model(conftest.identity_config(
            "idle", "FP32", [1]))}, extra_args=[
            "--model-control-mode=explicit"])
    except RuntimeError as e:
        if "not supported yet" in str(e):
            pytest.skip("the server has no explicit control mode yet")
        raise
    ext = models["ort_external"]
    files = ort_models.files_of(ext)
    # no inputs/outputs in the config: the backend completes them
    params = {"config": '{"backend":"onnxruntime","max_batch_size":16}'}
    for rel, data in files.items():
        params[f"file:{rel}"] = base64.b64encode(data).decode()
    for _ in range(2):  # twice: the runtime survives its last model going
        r = requests.post(f"{srv.url}/v2/repository/models/ext/load",
                          json={"parameters": params}, timeout=60)
        assert r.status_code == 200, r.text
        x = rand((2, 16), 11)
        close(http_infer(srv, "ext", [("x", "FP32", [2, 16], x)])["y"],
              ext.reference({"x": x})["y"])
        r = requests.post(f"{srv.url}/v2/repository/models/ext/unload",
                          timeout=60)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while requests.get(f"{srv.url}/v2/models/ext/ready",
                           timeout=10).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
