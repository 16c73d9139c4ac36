"""gRPC frontend: every RPC other than inference, and the same answers as
the HTTP frontend for the same operations (grpcio stubs generated from our
proto/; tritonclient is not in Debian)."""

import json

import pytest
import requests
from google.protobuf import json_format

from conftest import SIMPLE_CONFIG, Model, identity_config
from test_grpc_helpers import grpc, grpc_server, health_pb2, health_pb2_grpc, pb  # noqa: F401

HTTP_TO_GRPC = {400: grpc.StatusCode.INVALID_ARGUMENT,
                404: grpc.StatusCode.NOT_FOUND,
                500: grpc.StatusCode.INTERNAL,
                501: grpc.StatusCode.UNIMPLEMENTED,
                503: grpc.StatusCode.UNAVAILABLE}

MODELS = {"simple": Model(SIMPLE_CONFIG),
          "ident": Model(identity_config("ident", "FP32", [4]), versions=(1, 2))}


def call_error(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req, timeout=10)
    return e.value


def test_health_and_server_metadata(grpc_server):
    server, stub, ch = grpc_server(MODELS)
    assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
    assert stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    h = health_pb2_grpc.HealthStub(ch).Check(
        health_pb2.HealthCheckRequest(), timeout=10)
    assert h.status == health_pb2.HealthCheckResponse.SERVING
    md = stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
    http = requests.get(server.url + "/v2", timeout=10).json()
    assert md.name == http["name"]
    assert md.version == http["version"]
    assert list(md.extensions) == http["extensions"]


def test_model_ready_and_errors_match_http(grpc_server):
    server, stub, _ = grpc_server(MODELS)
    assert stub.ModelReady(pb.ModelReadyRequest(name="simple"),
                           timeout=10).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="ident", version="2"),
                           timeout=10).ready
    for name, version, path in [
            ("nope", "", "/v2/models/nope/ready"),
            ("simple", "7", "/v2/models/simple/versions/7/ready")]:
        e = call_error(stub.ModelReady,
                       pb.ModelReadyRequest(name=name, version=version))
        r = requests.get(server.url + path, timeout=10)
        assert e.code() == HTTP_TO_GRPC[r.status_code]
        assert e.code() == grpc.StatusCode.NOT_FOUND
        assert e.details() == r.json()["error"]
        assert "Request for unknown model" in e.details()
    e = call_error(stub.ModelReady,
                   pb.ModelReadyRequest(name="simple", version="x1"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert '"x1"' in e.details()


def test_model_metadata_matches_http(grpc_server):
    server, stub, _ = grpc_server(MODELS)
    for name, version in [("simple", ""), ("ident", ""), ("ident", "2")]:
        md = stub.ModelMetadata(
            pb.ModelMetadataRequest(name=name, version=version), timeout=10)
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version
                                       else "")
        http = requests.get(server.url + path, timeout=10).json()
        assert md.name == http["name"]
        assert list(md.versions) == http["versions"]
        assert md.platform == http["platform"]
        for mine, theirs in [(md.inputs, http["inputs"]),
                             (md.outputs, http["outputs"])]:
            assert [(t.name, t.datatype, list(t.shape)) for t in mine] == \
                [(t["name"], t["datatype"], t["shape"]) for t in theirs]
    md = stub.ModelMetadata(pb.ModelMetadataRequest(name="simple"), timeout=10)
    assert list(md.inputs[0].shape) == [-1, 16]
    assert md.inputs[0].datatype == "INT32"
    e = call_error(stub.ModelMetadata, pb.ModelMetadataRequest(name="nope"))
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_model_config_matches_http(grpc_server):
    server, stub, _ = grpc_server(MODELS)
    cfg = stub.ModelConfig(pb.ModelConfigRequest(name="simple"),
                           timeout=10).config
    http = requests.get(server.url + "/v2/models/simple/config",
                        timeout=10).json()
    mine = json_format.MessageToDict(cfg, preserving_proto_field_name=True)
    assert cfg.name == "simple" == http["name"]
    assert cfg.max_batch_size == 8 == http["max_batch_size"]
    assert [i.name for i in cfg.input] == [i["name"] for i in http["input"]]
    assert [list(i.dims) for i in cfg.input] == \
        [[int(d) for d in i["dims"]] for i in http["input"]]
    assert mine.get("backend", "") == http.get("backend", "")
    e = call_error(stub.ModelConfig, pb.ModelConfigRequest(name="nope"))
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_unsupported_features_are_unimplemented(grpc_server):
    _, stub, _ = grpc_server(MODELS)
    # system shared memory works (test_shm.py); CUDA shared memory answers
    # status and unregister as a GPU-less Triton does (Triton's shm clients
    # call them first) and refuses register
    calls = [
        (stub.CudaSharedMemoryRegister,
         pb.CudaSharedMemoryRegisterRequest(name="r", raw_handle=b"x" * 64),
         "CUDA"),
        (stub.TraceSetting, pb.TraceSettingRequest(), "trace"),
    ]
    for fn, req, what in calls:
        e = call_error(fn, req)
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, what
        assert what in e.details() and "not supported" in e.details(), \
            e.details()


def test_repository_rpcs_match_http(grpc_server):
    server, stub, _ = grpc_server(MODELS)
    idx = stub.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10)
    http = requests.post(server.url + "/v2/repository/index",
                         timeout=10).json()
    mine = sorted((m.name, m.version, m.state, m.reason) for m in idx.models)
    theirs = sorted((m["name"], m.get("version", ""), m.get("state", ""),
                     m.get("reason", "")) for m in http)
    assert mine == theirs
    assert ("simple", "1", "READY", "") in mine
    ready = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True),
                                 timeout=10)
    assert all(m.state == "READY" for m in ready.models)
    # control mode none: load/unload refused, as over HTTP
    e = call_error(stub.RepositoryModelLoad,
                   pb.RepositoryModelLoadRequest(model_name="simple"))
    r = requests.post(server.url + "/v2/repository/models/simple/load",
                      timeout=10)
    assert e.code() == HTTP_TO_GRPC[r.status_code]
    assert e.details() == r.json()["error"]
    e = call_error(stub.RepositoryModelUnload,
                   pb.RepositoryModelUnloadRequest(model_name="simple"))
    r = requests.post(server.url + "/v2/repository/models/simple/unload",
                      timeout=10)
    assert e.code() == HTTP_TO_GRPC[r.status_code]
    assert e.details() == r.json()["error"]
    req = pb.RepositoryModelLoadRequest(model_name="simple")
    req.parameters["bogus"].string_param = "x"
    e = call_error(stub.RepositoryModelLoad, req)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bogus" in e.details()
    e = call_error(stub.RepositoryModelLoad,
                   pb.RepositoryModelLoadRequest(repository_name="other",
                                                 model_name="simple"))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED


def test_repository_load_unload_explicit(grpc_server):
    server, stub, _ = grpc_server(
        MODELS, extra_args=["--model-control-mode=explicit",
                            "--load-model=simple"])
    stub.RepositoryModelUnload(
        pb.RepositoryModelUnloadRequest(model_name="simple"), timeout=30)
    e = call_error(stub.ModelReady, pb.ModelReadyRequest(name="simple"))
    assert e.code() in (grpc.StatusCode.NOT_FOUND,
                        grpc.StatusCode.UNAVAILABLE)
    stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="simple"),
                             timeout=30)
    assert stub.ModelReady(pb.ModelReadyRequest(name="simple"),
                           timeout=10).ready
    req = pb.RepositoryModelLoadRequest(model_name="simple")
    req.parameters["config"].bool_param = True
    e = call_error(stub.RepositoryModelLoad, req)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config" in e.details()


def test_log_settings(grpc_server):
    server, stub, _ = grpc_server(MODELS)
    cur = stub.LogSettings(pb.LogSettingsRequest(), timeout=10).settings
    assert set(cur) == {"log_file", "log_info", "log_warning", "log_error",
                        "log_verbose_level", "log_format"}
    req = pb.LogSettingsRequest()
    req.settings["log_verbose_level"].uint32_param = 2
    req.settings["log_format"].string_param = "ISO8601"
    got = stub.LogSettings(req, timeout=10).settings
    assert got["log_verbose_level"].uint32_param == 2
    assert got["log_format"].string_param == "ISO8601"
    http = requests.get(server.url + "/v2/logging", timeout=10).json()
    assert http["log_verbose_level"] == 2
    assert http["log_format"] == "ISO8601"
    assert http["log_info"] == got["log_info"].bool_param
    bad = pb.LogSettingsRequest()
    bad.settings["log_info"].string_param = "yes"
    e = call_error(stub.LogSettings, bad)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "log_info" in e.details() and "bool_param" in e.details()
    bad = pb.LogSettingsRequest()
    bad.settings["log_format"].string_param = "fancy"
    e = call_error(stub.LogSettings, bad)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = pb.LogSettingsRequest()
    bad.settings["log_file"].string_param = "/tmp/x.log"
    e = call_error(stub.LogSettings, bad)
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    # nothing changed by the refused requests
    got = stub.LogSettings(pb.LogSettingsRequest(), timeout=10).settings
    assert got["log_format"].string_param == "ISO8601"


def test_unknown_method_and_malformed_messages(grpc_server):
    _, _, ch = grpc_server(MODELS)
    ident = (lambda b: b)
    unknown = ch.unary_unary("/inference.GRPCInferenceService/Nope",
                             request_serializer=ident,
                             response_deserializer=ident)
    with pytest.raises(grpc.RpcError) as e:
        unknown(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "Nope" in e.value.details()
    for rpc in ["ModelMetadata", "ModelConfig", "RepositoryIndex",
                "LogSettings", "ModelInfer"]:
        call = ch.unary_unary(f"/inference.GRPCInferenceService/{rpc}",
                              request_serializer=ident,
                              response_deserializer=ident)
        for junk in [b"\x0a\xff\xff\x01abc", b"\x0b\x00", b"\xff" * 12]:
            with pytest.raises(grpc.RpcError) as e:
                call(junk, timeout=10)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, rpc
            assert "malformed" in e.value.details(), rpc
    # the server still serves
    stub = pb.ServerLiveRequest()
    live = ch.unary_unary("/inference.GRPCInferenceService/ServerLive",
                          request_serializer=pb.ServerLiveRequest.
                          SerializeToString,
                          response_deserializer=pb.ServerLiveResponse.
                          FromString)
    assert live(stub, timeout=10).live


def test_model_statistics_match_http(grpc_server):
    server, stub, _ = grpc_server(MODELS)
    body = {"inputs": [
        {"name": n, "shape": [1, 16], "datatype": "INT32",
         "data": list(range(16))} for n in ("INPUT0", "INPUT1")]}
    for _ in range(3):
        r = requests.post(server.url + "/v2/models/simple/infer", json=body,
                          timeout=10)
        assert r.status_code == 200
    g = stub.ModelStatistics(pb.ModelStatisticsRequest(name="simple"),
                             timeout=10)
    h = requests.get(server.url + "/v2/models/simple/stats",
                     timeout=10).json()["model_stats"]
    assert len(g.model_stats) == len(h) == 1
    gs, hs = g.model_stats[0], h[0]
    assert gs.name == hs["name"] == "simple"
    assert gs.version == hs["version"] == "1"
    assert gs.inference_count == hs["inference_count"] == 3
    assert gs.execution_count == hs["execution_count"] == 3
    assert gs.inference_stats.success.count == 3
    assert hs["inference_stats"]["success"]["count"] == 3
    assert gs.inference_stats.fail.count == 0
    assert [b.batch_size for b in gs.batch_stats] == \
        [b["batch_size"] for b in hs["batch_stats"]] == [1]
    every = stub.ModelStatistics(pb.ModelStatisticsRequest(), timeout=10)
    assert {m.name for m in every.model_stats} >= {"simple"}
    e = call_error(stub.ModelStatistics, pb.ModelStatisticsRequest(name="nope"))
    assert e.code() == grpc.StatusCode.NOT_FOUND
