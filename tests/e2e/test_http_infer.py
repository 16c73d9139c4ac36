"""End-to-end tests of POST .../infer over HTTP: every data type as JSON and
as binary tensor data, BYTES round trips, requested outputs with per-output
binary_data, raw binary bodies, id echo, parameters, keep-alive, and the
bad-input suite (each checks status code and message, then that the server
still serves)."""
import json
import socket
import struct

import numpy as np
import requests

from conftest import SIMPLE_CONFIG, Model, identity_config

NP = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
      "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
      "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
      "BF16": np.uint16}
ALL = list(NP) + ["BYTES"]
JSON_TYPES = [t for t in ALL if t not in ("FP16", "BF16")]


def mname(dt):
    return "id_" + dt.lower()


def all_models():
    m = {mname(dt): Model(identity_config(mname(dt), dt, [-1])) for dt in ALL}
    m["simple"] = Model(SIMPLE_CONFIG)
    return m


def err(r):
    assert r.headers["Content-Type"] == "application/json", r.headers
    return r.json()["error"]


def bytes_blob(items):
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def split_response(r):
    """(json header, rest) of a response with or without binary blobs."""
    hl = r.headers.get("Inference-Header-Content-Length")
    if hl is None:
        assert r.headers["Content-Type"] == "application/json"
        return r.json(), b""
    assert r.headers["Content-Type"] == "application/octet-stream"
    n = int(hl)
    return json.loads(r.content[:n]), r.content[n:]


def post_binary(url, model, header, blobs, session=requests):
    h = json.dumps(header).encode()
    return session.post(f"{url}/v2/models/{model}/infer", data=h + b"".join(blobs),
                        headers={"Inference-Header-Content-Length": str(len(h))})


def sample(dt):
    if dt == "BOOL":
        return [True, False, True]
    if dt == "BYTES":
        return ["", "h\u00e9llo \u4e16\u754c", "a\"b\\c\n"]
    t = np.dtype(NP[dt])
    if t.kind in "iu":
        info = np.iinfo(t)
        return [int(info.min), int(info.max), 7]
    return [1.5, -0.25, 3e10 if dt == "FP64" else 100.0]


def simple_inputs(a, b):
    return [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a},
            {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": b}]


def test_json_all_types_and_keepalive(start_server):
    srv = start_server(models=all_models())
    s = requests.Session()
    for dt in JSON_TYPES:
        data = sample(dt)
        body = {"id": "req-" + dt, "inputs": [
            {"name": "INPUT0", "datatype": dt, "shape": [3], "data": data}]}
        r = s.post(f"{srv.url}/v2/models/{mname(dt)}/infer", json=body)
        assert r.status_code == 200, (dt, r.text)
        j, rest = split_response(r)
        assert rest == b""
        assert j["id"] == "req-" + dt and j["model_name"] == mname(dt)
        assert j["model_version"] == "1"
        o = j["outputs"][0]
        assert o["name"] == "OUTPUT0" and o["datatype"] == dt and o["shape"] == [3]
        assert o["data"] == data, dt
    # nested data and a batch of many calls over the same connection
    for i in range(200):
        a = [[i + k for k in range(16)]]
        r = s.post(f"{srv.url}/v2/models/simple/infer",
                   json={"inputs": simple_inputs(a, [[1] * 16])})
        assert r.status_code == 200
        out = {o["name"]: o["data"] for o in r.json()["outputs"]}
        assert out["OUTPUT0"] == [i + k + 1 for k in range(16)]
        assert out["OUTPUT1"] == [i + k - 1 for k in range(16)]
    assert "id" not in r.json()


def test_binary_all_types(start_server):
    srv = start_server(models=all_models())
    for dt in ALL:
        if dt == "BYTES":
            items = [b"", "\u00e9t\u00e9".encode(), b"\x00\xff\xfe", b"x" * 1000]
            blob = bytes_blob(items)
        else:
            arr = np.array([1, 0, 1, 1] if dt == "BOOL" else [1, 2, 3, 250],
                           dtype=NP[dt])
            blob = arr.tobytes()
        hdr = {"inputs": [{"name": "INPUT0", "datatype": dt, "shape": [4],
                           "parameters": {"binary_data_size": len(blob)}}],
               "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}
        r = post_binary(srv.url, mname(dt), hdr, [blob])
        assert r.status_code == 200, (dt, r.text)
        j, rest = split_response(r)
        o = j["outputs"][0]
        assert o["parameters"]["binary_data_size"] == len(blob) and "data" not in o
        assert rest == blob, dt


def test_fp16_json_refused_and_binary_output_needed(start_server):
    srv = start_server(models=all_models())
    r = requests.post(f"{srv.url}/v2/models/id_fp16/infer", json={"inputs": [
        {"name": "INPUT0", "datatype": "FP16", "shape": [1], "data": [1.0]}]})
    assert r.status_code == 400
    assert 'input "INPUT0": FP16 data cannot be sent as JSON' in err(r)
    blob = np.array([1.0], np.float16).tobytes()
    hdr = {"inputs": [{"name": "INPUT0", "datatype": "FP16", "shape": [1],
                       "parameters": {"binary_data_size": 2}}]}
    r = post_binary(srv.url, "id_fp16", hdr, [blob])
    assert r.status_code == 400
    assert 'output "OUTPUT0": FP16 data cannot be returned as JSON' in err(r)


def test_bytes_json_and_invalid_utf8_output(start_server):
    srv = start_server(models=all_models())
    # invalid UTF-8 sent in binary, returned as JSON: replaced by U+FFFD
    blob = bytes_blob([b"ok", b"\xffA"])
    hdr = {"inputs": [{"name": "INPUT0", "datatype": "BYTES", "shape": [2],
                       "parameters": {"binary_data_size": len(blob)}}]}
    r = post_binary(srv.url, "id_bytes", hdr, [blob])
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == ["ok", "\ufffdA"]


def test_requested_outputs_and_binary_data_output(start_server):
    srv = start_server(models=all_models())
    a, b = list(range(16)), [2] * 16
    url = f"{srv.url}/v2/models/simple/infer"
    r = requests.post(url, json={"inputs": simple_inputs(a, b),
                                 "outputs": [{"name": "OUTPUT1"}]})
    j = r.json()
    assert [o["name"] for o in j["outputs"]] == ["OUTPUT1"]
    assert j["outputs"][0]["data"] == [x - 2 for x in a]
    # mixed: OUTPUT0 binary, OUTPUT1 JSON
    r = requests.post(url, json={"inputs": simple_inputs(a, b), "outputs": [
        {"name": "OUTPUT0", "parameters": {"binary_data": True}},
        {"name": "OUTPUT1", "parameters": {"binary_data": False}}]})
    j, rest = split_response(r)
    outs = {o["name"]: o for o in j["outputs"]}
    assert outs["OUTPUT0"]["parameters"]["binary_data_size"] == 64
    assert np.frombuffer(rest, np.int32).tolist() == [x + 2 for x in a]
    assert outs["OUTPUT1"]["data"] == [x - 2 for x in a]
    # request-level binary_data_output, one output overriding it
    r = requests.post(url, json={"parameters": {"binary_data_output": True},
                                 "inputs": simple_inputs(a, b),
                                 "outputs": [{"name": "OUTPUT0"},
                                             {"name": "OUTPUT1",
                                              "parameters": {"binary_data": False}}]})
    j, rest = split_response(r)
    assert len(rest) == 64 and "data" in j["outputs"][1]
    r = requests.post(url, json={"parameters": {"binary_data_output": True},
                                 "inputs": simple_inputs(a, b)})
    j, rest = split_response(r)
    assert len(rest) == 128
    assert np.frombuffer(rest[64:], np.int32).tolist() == [x - 2 for x in a]
    r = requests.post(url, json={"inputs": simple_inputs(a, b),
                                 "outputs": [{"name": "NOPE"}]})
    assert r.status_code == 400 and "NOPE" in err(r)


def test_mixed_binary_and_json_inputs(start_server):
    srv = start_server(models=all_models())
    a = np.arange(16, dtype=np.int32)
    hdr = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
                       "parameters": {"binary_data_size": 64}},
                      {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                       "data": [1] * 16}]}
    r = post_binary(srv.url, "simple", hdr, [a.tobytes()])
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == (a + 1).tolist()


def test_raw_binary_request(start_server):
    srv = start_server(models=all_models())
    arr = np.array([1.5, 2.5, -1.0], np.float32)
    r = requests.post(f"{srv.url}/v2/models/id_fp32/infer", data=arr.tobytes(),
                      headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 200, r.text
    j, rest = split_response(r)
    assert j["outputs"][0]["shape"] == [3]
    assert np.frombuffer(rest, np.float32).tolist() == arr.tolist()
    r = requests.post(f"{srv.url}/v2/models/simple/infer", data=b"\0" * 64,
                      headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 400
    assert "needs a model with exactly one input" in err(r)
    r = requests.post(f"{srv.url}/v2/models/id_fp32/infer", data=b"\0" * 6,
                      headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 400 and "not a whole number of elements" in err(r)


def test_parameters(start_server):
    srv = start_server(models=all_models())
    url = f"{srv.url}/v2/models/simple/infer"
    ins = simple_inputs([1] * 16, [1] * 16)
    r = requests.post(url, json={"parameters": {"custom": "x", "n": 3, "f": 1.5,
                                                "b": True, "priority": 0},
                                 "inputs": ins})
    assert r.status_code == 200, r.text
    r = requests.post(url, json={"parameters": {"triton_foo": 1}, "inputs": ins})
    assert r.status_code == 400 and 'parameter "triton_foo" is reserved' in err(r)
    r = requests.post(url, json={"parameters": {"timeout": "x"}, "inputs": ins})
    assert r.status_code == 400
    assert 'parameter "timeout" must be a non-negative integer' in err(r)
    r = requests.post(url, json={"inputs": ins, "outputs": [
        {"name": "OUTPUT0", "parameters": {"classification": 2}}]})
    assert r.status_code == 501 and "classification" in err(r)
    ins2 = [dict(ins[0], parameters={"shared_memory_region": "r"}), ins[1]]
    del ins2[0]["data"]
    r = requests.post(url, json={"inputs": ins2})
    assert r.status_code == 400
    assert "shared_memory_byte_size is required" in err(r)


def still_serves(srv):
    r = requests.post(f"{srv.url}/v2/models/simple/infer",
                      json={"inputs": simple_inputs([0] * 16, [0] * 16)})
    assert r.status_code == 200, r.text


def test_bad_inputs(start_server):
    srv = start_server(models=all_models())
    url = f"{srv.url}/v2/models/simple/infer"
    ok = simple_inputs([1] * 16, [1] * 16)
    cases = [
        (b"{not json", 400, "failed to parse the request JSON"),
        (b"[1]", 400, "the request JSON must be an object"),
        ({"inputs": [dict(ok[0], data=["a"] * 16), ok[1]]}, 400,
         'input "INPUT0": element 0: expected an integer for INT32, got string'),
        ({"inputs": [dict(ok[0], data=[2 ** 31] + [0] * 15), ok[1]]}, 400,
         "value 2147483648 is out of range for INT32"),
        ({"inputs": [dict(ok[0], data=[1] * 15), ok[1]]}, 400,
         'input "INPUT0": shape [1,16] needs 16 elements, data has 15'),
        ({"inputs": [dict(ok[0], shape=[1, 15], data=[1] * 15), ok[1]]}, 400,
         "INPUT0"),
        ({"inputs": [dict(ok[0], datatype="FP32", data=[1.0] * 16), ok[1]]}, 400,
         "INPUT0"),
        ({"inputs": [ok[0]]}, 400, "INPUT1"),
        ({"inputs": ok + [dict(ok[0], name="EXTRA")]}, 400, "EXTRA"),
        ({"inputs": [dict(ok[0], data=None), ok[1]]}, 400, "INPUT0"),
        ({}, 400, 'must have an "inputs" array'),
    ]
    for body, code, msg in cases:
        if isinstance(body, bytes):
            r = requests.post(url, data=body)
        else:
            r = requests.post(url, json=body)
        assert r.status_code == code, (body, r.text)
        assert msg in err(r), (msg, err(r))
    r = requests.post(f"{srv.url}/v2/models/nope/infer", json={"inputs": ok})
    assert r.status_code == 404
    assert err(r).startswith("Request for unknown model: 'nope' is not found")
    r = requests.post(f"{srv.url}/v2/models/simple/versions/9/infer", json={"inputs": ok})
    assert r.status_code == 404 and "'simple' version 9 is not found" in err(r)
    still_serves(srv)


def test_bad_binary(start_server):
    srv = start_server(models=all_models())
    url = f"{srv.url}/v2/models/simple/infer"
    blob = np.zeros(16, np.int32).tobytes()
    hdr = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
                       "parameters": {"binary_data_size": 64}},
                      {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                       "parameters": {"binary_data_size": 64}}]}
    r = post_binary(srv.url, "simple", hdr, [blob, blob[:60]])
    assert r.status_code == 400
    assert ('unexpected size for input "INPUT1": binary_data_size is 64 bytes but '
            'only 60 bytes') in err(r)
    r = post_binary(srv.url, "simple", hdr, [blob, blob, b"xx"])
    assert r.status_code == 400
    assert "unexpected additional input data: 2 bytes" in err(r)
    # byte size that does not match the shape
    hdr2 = json.loads(json.dumps(hdr))
    hdr2["inputs"][1]["parameters"]["binary_data_size"] = 60
    r = post_binary(srv.url, "simple", hdr2, [blob, blob[:60]])
    assert r.status_code == 400 and "INPUT1" in err(r)
    h = json.dumps(hdr).encode()
    for value, msg in [("abc", '"abc" is not an integer'),
                       ("-5", "-5 is out of range"),
                       (str(len(h) + 1000), "exceeds the body size")]:
        r = requests.post(url, data=h + blob + blob,
                          headers={"Inference-Header-Content-Length": value})
        assert r.status_code == 400, value
        assert msg in err(r), (value, err(r))
    r = requests.post(url, data=h, headers={})  # binary sizes, no header
    assert r.status_code == 400
    assert "no Inference-Header-Content-Length header" in err(r)
    still_serves(srv)


def test_oversized_body(start_server):
    srv = start_server(models=all_models(), extra_args=["--http-max-input-size=2048"])
    big = {"inputs": simple_inputs([1] * 16, [1] * 16), "pad": "x" * 4000}
    r = requests.post(f"{srv.url}/v2/models/simple/infer", json=big)
    assert r.status_code == 400
    assert "exceeds the maximum input size of 2048 bytes" in err(r)

    def chunks():  # chunked upload: no Content-Length
        for _ in range(10):
            yield b" " * 500
    r = requests.post(f"{srv.url}/v2/models/simple/infer", data=chunks())
    assert r.status_code == 400
    assert "exceeds the maximum input size of 2048 bytes" in err(r)
    still_serves(srv)


def test_truncated_body_and_disconnect(start_server):
    srv = start_server(models=all_models())
    body = json.dumps({"inputs": simple_inputs([1] * 16, [1] * 16)}).encode()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
    # chunked body truncated mid-chunk
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n100\r\nabc")
    still_serves(srv)


def test_disconnect_while_in_flight(start_server):
    from conftest import testing_config
    models = {"slow": Model(testing_config("slow", {"execute_delay_ms": "300"})),
              "simple": Model(SIMPLE_CONFIG)}
    srv = start_server(models=models)
    body = json.dumps({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [2],
                                   "data": [1.0, 2.0]}]}).encode()
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        s.close()
    r = requests.post(f"{srv.url}/v2/models/slow/infer", data=body)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [1.0, 2.0]
    still_serves(srv)


def test_binary_outputs_small_and_large(start_server):
    """Binary outputs are copied behind the JSON when small and sent from the
    server's buffers when large: both read back the same."""
    srv = start_server(models={"big": Model(identity_config(
        "big", "FP32", [-1]))})
    for n in (3, 4096, 300000):  # 12 B, 16 KiB (the limit), 1.2 MB
        x = np.arange(n, dtype=np.float32) * 0.5
        header = {"inputs": [{"name": "INPUT0", "datatype": "FP32",
                              "shape": [n],
                              "parameters": {"binary_data_size": x.nbytes}}],
                  "outputs": [{"name": "OUTPUT0",
                               "parameters": {"binary_data": True}}]}
        r = post_binary(srv.url, "big", header,
                        [x.tobytes()])
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/octet-stream"
        js, blob = split_response(r)
        out = js["outputs"][0]
        assert out["parameters"]["binary_data_size"] == x.nbytes
        assert np.array_equal(np.frombuffer(blob, dtype=np.float32), x)
