"""End-to-end tests of model control over gRPC (RepositoryIndex,
RepositoryModelLoad, RepositoryModelUnload; reference §2.2, §4.2): the same
behaviour as over HTTP (test_lifecycle_explicit.py), with file overrides as
bytes_param and model names the URL could not carry (empty, "/", NUL)."""
import json

import pytest
import requests

from conftest import (wait_until, NOT_ALLOWED, SIMPLE_CONFIG, Model, identity_config,
                      identity_config_json, simple_config_json)
from test_grpc_helpers import (channel_to, grpc, infer_request,  # noqa: F401
                               np, output_array, pb, pb_grpc)

EXPLICIT = ["--model-control-mode=explicit"]


def models():
    return {"simple": Model(SIMPLE_CONFIG),
            "ids": Model(identity_config("ids", "FP32", [4]))}


@pytest.fixture
def grpc_explicit(start_server):
    """start(models=None, extra=(), mode_args=EXPLICIT) -> (server, stub);
    does not wait for readiness (nothing may be loaded)."""
    channels = []

    def start(models_=None, extra=(), mode_args=EXPLICIT):
        srv = start_server(models=models() if models_ is None else models_,
                           extra_args=list(mode_args) + list(extra),
                           wait_ready=False)
        if srv.grpc_port is None:
            pytest.skip("no gRPC frontend in this run (inferd built "
                        "without it, or INFERD_E2E_GRPC=0)")
        ch = channel_to(srv)
        grpc.channel_ready_future(ch).result(timeout=30)
        channels.append(ch)
        return srv, pb_grpc.GRPCInferenceServiceStub(ch)

    yield start
    for ch in channels:
        ch.close()


def call_error(fn, req, timeout=60):
    with pytest.raises(grpc.RpcError) as ei:
        fn(req, timeout=timeout)
    return ei.value


def load(stub, name, config=None, files=None, timeout=60):
    req = pb.RepositoryModelLoadRequest(model_name=name)
    if config is not None:
        req.parameters["config"].string_param = (
            config if isinstance(config, str) else json.dumps(config))
    for path, data in (files or {}).items():
        req.parameters["file:" + path].bytes_param = data
    return stub.RepositoryModelLoad(req, timeout=timeout)


def load_error(stub, name, config=None, files=None):
    with pytest.raises(grpc.RpcError) as ei:
        load(stub, name, config, files)
    return ei.value


def unload(stub, name, dependents=None, timeout=60):
    req = pb.RepositoryModelUnloadRequest(model_name=name)
    if dependents is not None:
        req.parameters["unload_dependents"].bool_param = dependents
    return stub.RepositoryModelUnload(req, timeout=timeout)


def index(stub, ready=False):
    resp = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=ready),
                                timeout=30)
    return sorted((m.name, m.version, m.state, m.reason) for m in resp.models)


def ready(stub, name):
    try:
        return stub.ModelReady(pb.ModelReadyRequest(name=name),
                               timeout=10).ready
    except grpc.RpcError:
        return False


def infer_ids(stub, name="ids", values=(1, 2, 3, 4)):
    a = np.array(values, dtype=np.float32)
    return stub.ModelInfer(infer_request(name, [("INPUT0", "FP32", [len(a)],
                                                 a)]), timeout=30)


def simple_inputs():
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.ones((1, 16), dtype=np.int32)
    return [("INPUT0", "INT32", [1, 16], a), ("INPUT1", "INT32", [1, 16], b)]


def test_grpc_explicit_load_unload_index(grpc_explicit):
    srv, stub = grpc_explicit()
    assert index(stub) == [("ids", "", "", ""), ("simple", "", "", "")]
    assert index(stub, ready=True) == []
    load(stub, "ids")
    assert index(stub) == [("ids", "1", "READY", ""), ("simple", "", "", "")]
    assert index(stub, ready=True) == [("ids", "1", "READY", "")]
    assert ready(stub, "ids")
    _, _, out = output_array(infer_ids(stub), "OUTPUT0")
    assert out.tolist() == [1, 2, 3, 4]
    # HTTP sees the same index
    http = requests.post(srv.url + "/v2/repository/index", timeout=10).json()
    assert sorted((m["name"], m.get("version", ""), m.get("state", ""),
                   m.get("reason", "")) for m in http) == index(stub)

    unload(stub, "ids", dependents=False)
    # UNLOADING until the version's last user let go (see the HTTP test)
    wait_until(lambda: index(stub) == [("ids", "1", "UNAVAILABLE", "unloaded"),
                                       ("simple", "", "", "")],
               what="ids finalised")
    assert index(stub, ready=True) == []
    assert not ready(stub, "ids")
    e = call_error(stub.ModelInfer,
                   infer_request("ids", [("INPUT0", "FP32", [4],
                                          np.zeros(4, np.float32))]))
    assert e.code() in (grpc.StatusCode.NOT_FOUND,
                        grpc.StatusCode.UNAVAILABLE,
                        grpc.StatusCode.INVALID_ARGUMENT), e
    unload(stub, "simple")  # known, never loaded: succeeds
    load(stub, "ids")
    assert ready(stub, "ids")


def test_grpc_startup_models(grpc_explicit):
    _, stub = grpc_explicit(extra=["--load-model=simple"])
    assert index(stub, ready=True) == [("simple", "1", "READY", "")]
    resp = stub.ModelInfer(infer_request("simple", simple_inputs()),
                           timeout=30)
    _, _, out = output_array(resp, "OUTPUT0")
    assert out.tolist() == [[x + 1 for x in range(16)]]


def test_grpc_unknown_models(grpc_explicit):
    _, stub = grpc_explicit()
    e = load_error(stub, "nope")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details() == ("failed to load 'nope', failed to poll from model "
                           "repository")
    e = call_error(stub.RepositoryModelUnload,
                   pb.RepositoryModelUnloadRequest(model_name="nope"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details() == "failed to unload 'nope', no version is available"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../outer", "/etc",
                                  "ids/..", "a\x00b", "ids\x00"],
                         ids=["empty", "dot", "dotdot", "slash", "up",
                              "absolute", "trailing-dotdot", "nul",
                              "trailing-nul"])
def test_grpc_invalid_model_names(grpc_explicit, tmp_path, name):
    srv, stub = grpc_explicit()
    for fn, req in ((stub.RepositoryModelLoad,
                     pb.RepositoryModelLoadRequest(model_name=name)),
                    (stub.RepositoryModelUnload,
                     pb.RepositoryModelUnloadRequest(model_name=name))):
        e = call_error(fn, req)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, e)
        assert e.details().startswith("invalid model name"), e.details()
    assert index(stub, ready=True) == []


def test_grpc_config_override_and_bad_config(grpc_explicit):
    srv, stub = grpc_explicit(extra=["--load-model=simple"])
    load(stub, "simple", config=simple_config_json(max_batch_size=3))
    cfg = stub.ModelConfig(pb.ModelConfigRequest(name="simple"), timeout=10)
    assert cfg.config.max_batch_size == 3
    e = load_error(stub, "simple", config='{"bogus_field": 1}')
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bogus_field" in e.details()
    e = load_error(stub, "simple", config="{")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # the failed reloads left the override serving
    cfg = stub.ModelConfig(pb.ModelConfigRequest(name="simple"), timeout=10)
    assert cfg.config.max_batch_size == 3
    # ... and the index gives the last reload failure as the reason
    [(name, version, state, reason)] = index(stub, ready=True)
    assert (name, version, state) == ("simple", "1", "READY")
    assert reason == e.details()
    req = pb.RepositoryModelLoadRequest(model_name="simple")
    req.parameters["config"].bool_param = True
    e = call_error(stub.RepositoryModelLoad, req)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config" in e.details()


def test_grpc_file_override(grpc_explicit):
    srv, stub = grpc_explicit()
    load(stub, "fresh", config=identity_config_json("fresh", dims=[3]),
         files={"1/weights.bin": bytes(range(256)) * 4,
                "1/nested/empty": b""})
    assert ("fresh", "1", "READY", "") in index(stub)
    resp = infer_ids(stub, name="fresh", values=(4, 5, 6))
    assert resp.model_version == "1"
    _, _, out = output_array(resp, "OUTPUT0")
    assert out.tolist() == [4, 5, 6]
    assert not (srv.repo / "fresh").exists()
    # files without a config
    e = load_error(stub, "other", files={"1/x": b"x"})
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config" in e.details()
    # a file parameter that is not bytes
    req = pb.RepositoryModelLoadRequest(model_name="fresh")
    req.parameters["config"].string_param = json.dumps(
        identity_config_json("fresh", dims=[3]))
    req.parameters["file:1/x"].string_param = "text"
    e = call_error(stub.RepositoryModelLoad, req)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "file:1/x" in e.details()


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "1/../../x", "..",
                                  "1//x", "", "1/\x00x"],
                         ids=["up", "absolute", "up-twice", "dotdot",
                              "empty-component", "empty", "nul"])
def test_grpc_file_override_paths_that_escape(grpc_explicit, tmp_path, path):
    srv, stub = grpc_explicit()
    before = sorted(p.name for p in tmp_path.iterdir())
    e = load_error(stub, "fresh", config=identity_config_json("fresh"),
                   files={path: b"pwned"})
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    assert path.split("\x00")[0] in e.details(), e.details()
    assert not ready(stub, "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (srv.repo.parent / "x").exists()


def test_grpc_missing_backend(grpc_explicit):
    cfg = SIMPLE_CONFIG.replace('name: "simple"', 'name: "nobk"').replace(
        'backend: "add_sub"', 'backend: "doesnotexist"')
    _, stub = grpc_explicit({"nobk": Model(cfg)})
    e = load_error(stub, "nobk")
    assert e.code() != grpc.StatusCode.OK
    assert "doesnotexist" in e.details()
    entries = [m for m in index(stub) if m[0] == "nobk"]
    assert len(entries) == 1 and entries[0][2] == "UNAVAILABLE", entries
    assert "doesnotexist" in entries[0][3]


@pytest.mark.parametrize("mode", ["none", "poll"])
def test_grpc_load_unload_refused_unless_explicit(grpc_explicit, mode):
    args = [f"--model-control-mode={mode}"]
    if mode == "poll":
        args.append("--repository-poll-secs=1")
    _, stub = grpc_explicit(mode_args=args)
    for name in ("simple", "nope"):
        e = load_error(stub, name)
        assert e.code() == grpc.StatusCode.UNAVAILABLE
        assert e.details() == NOT_ALLOWED
        e = call_error(stub.RepositoryModelUnload,
                       pb.RepositoryModelUnloadRequest(model_name=name))
        assert e.code() == grpc.StatusCode.UNAVAILABLE
        assert e.details() == NOT_ALLOWED
    assert ("simple", "1", "READY", "") in index(stub)
