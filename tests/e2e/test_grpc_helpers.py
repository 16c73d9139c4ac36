"""Shared helpers of the gRPC end-to-end tests (no tests here).

The Python stubs are generated at import time from our proto/ files with
Debian's protoc and grpc_python_plugin into a temporary directory. Tests use
grpcio stubs only: tritonclient is not packaged by Debian.

Fixture `grpc_server(models, extra_args=())` starts inferd through the
conftest harness and returns (server, stub, channel); it skips when the
binary was built without gRPC.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc", reason="python3-grpcio is not installed")
np = pytest.importorskip("numpy")

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "proto"


def _generate():
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        pytest.skip("protoc / grpc_python_plugin missing (Debian packages "
                    "protobuf-compiler, protobuf-compiler-grpc)",
                    allow_module_level=True)
    out = tempfile.mkdtemp(prefix="inferd_grpc_stubs_")
    protos = ["model_config.proto", "grpc_service.proto", "health.proto"]
    subprocess.run(
        [protoc, f"-I{PROTO_DIR}", f"--python_out={out}",
         f"--grpc_python_out={out}",
         f"--plugin=protoc-gen-grpc_python={plugin}", *protos],
        check=True, capture_output=True)
    sys.path.insert(0, out)


_generate()
import grpc_service_pb2 as pb  # noqa: E402
import grpc_service_pb2_grpc as pb_grpc  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402

MAX_MSG = 2**31 - 1

NP_TYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16,
    "UINT32": np.uint32, "UINT64": np.uint64, "INT8": np.int8,
    "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}

# datatype -> InferTensorContents field (FP16/BF16 have none)
TYPED_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents",
    "UINT8": "uint_contents", "UINT16": "uint_contents",
    "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def channel_to(server):
    return grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}",
        options=[("grpc.max_send_message_length", MAX_MSG),
                 ("grpc.max_receive_message_length", MAX_MSG)])


@pytest.fixture
def grpc_server(start_server):
    channels = []

    def start(models, extra_args=()):
        server = start_server(models=models, extra_args=extra_args)
        if server.grpc_port is None:
            pytest.skip("inferd was built without the gRPC frontend (or "
                        "the harness passed no --grpc-port)")
        ch = channel_to(server)
        grpc.channel_ready_future(ch).result(timeout=20)
        channels.append(ch)
        return server, pb_grpc.GRPCInferenceServiceStub(ch), ch

    yield start
    for ch in channels:
        ch.close()


def bytes_wire(items):
    """BYTES elements -> wire form ([u32 LE length][bytes] each)."""
    out = bytearray()
    for it in items:
        b = it if isinstance(it, bytes) else str(it).encode()
        out += len(b).to_bytes(4, "little") + b
    return bytes(out)


def bytes_unwire(buf):
    items, i = [], 0
    while i < len(buf):
        n = int.from_bytes(buf[i:i + 4], "little")
        items.append(bytes(buf[i + 4:i + 4 + n]))
        i += 4 + n
    return items


def infer_request(model, inputs, outputs=None, raw=True, id="", params=None,
                  version=""):
    """inputs: list of (name, datatype, shape, values: ndarray or list of
    bytes for BYTES). raw: send raw_input_contents, else typed contents."""
    req = pb.ModelInferRequest(model_name=model, model_version=version, id=id)
    for name, dt, shape, values in inputs:
        t = req.inputs.add(name=name, datatype=dt, shape=list(shape))
        if raw:
            if dt == "BYTES":
                req.raw_input_contents.append(bytes_wire(values))
            else:
                req.raw_input_contents.append(
                    np.ascontiguousarray(values, dtype=NP_TYPES[dt])
                    .tobytes())
        else:
            field = getattr(t.contents, TYPED_FIELD[dt])
            if dt == "BYTES":
                field.extend(values)
            else:
                field.extend(np.asarray(values).flatten().tolist())
    for o in outputs or []:
        req.outputs.add(name=o)
    for k, v in (params or {}).items():
        set_param(req.parameters[k], v)
    return req


def set_param(p, v):
    if isinstance(v, bool):
        p.bool_param = v
    elif isinstance(v, int):
        p.int64_param = v
    elif isinstance(v, float):
        p.double_param = v
    else:
        p.string_param = v


def output_array(resp, name):
    """(datatype, shape, ndarray or list of bytes) of output `name`."""
    for i, o in enumerate(resp.outputs):
        if o.name == name:
            raw = resp.raw_output_contents[i]
            if o.datatype == "BYTES":
                return o.datatype, list(o.shape), bytes_unwire(raw)
            arr = np.frombuffer(raw, dtype=NP_TYPES[o.datatype])
            return o.datatype, list(o.shape), arr.reshape(o.shape)
    raise KeyError(name)
