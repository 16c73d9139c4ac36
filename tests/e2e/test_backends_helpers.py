"""Helpers shared by the backend end-to-end tests (test_backends_*.py).

KServe v2 inference over HTTP in both forms: JSON (`data` arrays) and the
binary tensor extension (reference §1.6/§1.7), plus model config text for the
three shipped backends. No tests here.
"""
import json
import struct
import time

import numpy as np
import requests

# protocol datatype -> numpy dtype (BF16 travels as its raw 16-bit pattern)
NP_TYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BF16": np.uint16,
}

# protocol datatype -> config data_type
CONFIG_TYPES = {dt: "TYPE_" + dt for dt in NP_TYPES}
CONFIG_TYPES["BYTES"] = "TYPE_STRING"


def io_block(kind, name, datatype, dims):
    return (
        f'{kind} [ {{ name: "{name}" data_type: {CONFIG_TYPES[datatype]} '
        f'dims: [ {", ".join(str(d) for d in dims)} ] }} ]\n'
    )


def model_config(name, backend, inputs, outputs, max_batch_size=0,
                 params=None, count=1):
    """inputs/outputs: lists of (name, datatype, dims)."""
    text = f'name: "{name}"\nbackend: "{backend}"\nmax_batch_size: {max_batch_size}\n'
    for n, dt, dims in inputs:
        text += io_block("input", n, dt, dims)
    for n, dt, dims in outputs:
        text += io_block("output", n, dt, dims)
    text += f"instance_group [ {{ count: {count} kind: KIND_CPU }} ]\n"
    for k, v in (params or {}).items():
        text += f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}\n'
    return text


def encode_bytes(items):
    """BYTES tensor blob: 4-byte little-endian length + bytes per element."""
    out = b""
    for it in items:
        b = it if isinstance(it, bytes) else str(it).encode()
        out += struct.pack("<I", len(b)) + b
    return out


def decode_bytes(blob):
    items, off = [], 0
    while off < len(blob):
        (n,) = struct.unpack_from("<I", blob, off)
        off += 4
        items.append(blob[off:off + n])
        off += n
    return items


def infer_url(url, model):
    return f"{url}/v2/models/{model}/infer"


def infer_json(url, model, inputs, outputs=None, parameters=None,
               request_id=None, timeout=30):
    """inputs: list of (name, datatype, shape, flat data list).
    Returns the requests.Response."""
    body = {
        "inputs": [
            {"name": n, "datatype": dt, "shape": list(shape), "data": data}
            for n, dt, shape, data in inputs
        ]
    }
    if outputs is not None:
        body["outputs"] = [{"name": o} for o in outputs]
    if parameters:
        body["parameters"] = parameters
    if request_id is not None:
        body["id"] = request_id
    return requests.post(infer_url(url, model), json=body, timeout=timeout)


def json_outputs(resp):
    """{name: output object} from a JSON inference response."""
    assert resp.status_code == 200, resp.text
    return {o["name"]: o for o in resp.json()["outputs"]}


def infer_binary(url, model, inputs, outputs=None, parameters=None,
                 request_id=None, timeout=30):
    """inputs: list of (name, datatype, shape, payload) where payload is a
    numpy array (or, for BYTES, a list of bytes/str). All inputs and outputs
    travel in binary form. Returns (requests.Response, header dict or None,
    {name: numpy array or list of bytes})."""
    header_inputs, blobs = [], []
    for n, dt, shape, payload in inputs:
        if dt == "BYTES":
            blob = encode_bytes(payload)
        else:
            blob = np.ascontiguousarray(payload, dtype=NP_TYPES[dt]).tobytes()
        header_inputs.append({
            "name": n, "datatype": dt, "shape": list(shape),
            "parameters": {"binary_data_size": len(blob)},
        })
        blobs.append(blob)
    body = {"inputs": header_inputs,
            "parameters": dict(parameters or {}, binary_data_output=True)}
    if outputs is not None:
        body["outputs"] = [{"name": o, "parameters": {"binary_data": True}}
                           for o in outputs]
    if request_id is not None:
        body["id"] = request_id
    header = json.dumps(body).encode()
    resp = requests.post(
        infer_url(url, model), data=header + b"".join(blobs),
        headers={"Inference-Header-Content-Length": str(len(header)),
                 "Content-Type": "application/octet-stream"},
        timeout=timeout)
    if resp.status_code != 200:
        return resp, None, {}
    hlen = resp.headers.get("Inference-Header-Content-Length")
    raw = resp.content
    hlen = int(hlen) if hlen is not None else len(raw)
    hdr = json.loads(raw[:hlen])
    off = hlen
    result = {}
    for o in hdr["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is None:
            result[o["name"]] = o.get("data")
            continue
        blob = raw[off:off + size]
        off += size
        if o["datatype"] == "BYTES":
            result[o["name"]] = decode_bytes(blob)
        else:
            arr = np.frombuffer(blob, dtype=NP_TYPES[o["datatype"]])
            result[o["name"]] = arr.reshape(o["shape"])
    assert off == len(raw), "trailing bytes after the output blobs"
    return resp, hdr, result


def error_text(resp):
    try:
        return resp.json().get("error", resp.text)
    except ValueError:
        return resp.text


def repository_index(url):
    r = requests.post(f"{url}/v2/repository/index", json={}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def index_entry(url, name):
    entries = [e for e in repository_index(url) if e["name"] == name]
    assert entries, f"model {name} not in repository index"
    return entries[0]


def wait_settled(url, names, timeout=20):
    """Waits until every model in names has left LOADING (a server with a
    failed model is not ready, so tests start it with wait_ready=False) and
    returns {name: index entry}."""
    deadline = time.monotonic() + timeout
    while True:
        entries = {e["name"]: e for e in repository_index(url)}
        if all(n in entries and entries[n].get("state") in ("READY", "UNAVAILABLE")
               for n in names) or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)
