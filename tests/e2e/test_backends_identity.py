"""End-to-end tests of the identity backend: every data type in JSON form
(where the protocol allows it) and binary form (all, including FP16, BF16
and BYTES), several inputs with the INPUTn -> OUTPUTn and X -> X name rules,
the batch dimension, requested-output filtering, and config errors."""
import numpy as np

from conftest import Model, identity_config
from test_backends_helpers import (NP_TYPES, error_text, infer_binary,
                                   infer_json, json_outputs, model_config,
                                   wait_settled)

ALL_TYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
             "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16"]
JSON_TYPES = [t for t in ALL_TYPES if t not in ("FP16", "BF16")]


def model_name(dt):
    return "id_" + dt.lower()


def sample(dt, n):
    """n sample values of type dt as (json list, binary payload)."""
    if dt == "BOOL":
        v = [bool(i % 2) for i in range(n)]
        return v, np.array(v, dtype=np.bool_)
    if dt == "BYTES":
        v = ["", "a", "hello world", "\u00e9t\u00e9", "x" * 300][:n]
        v += [f"s{i}" for i in range(n - len(v))]
        return v, [s.encode() for s in v]
    if dt == "BF16":
        # raw bit patterns of 1.0, -2.0, 0.5, ... (top half of the FP32 bits)
        f = np.array([1.0, -2.0, 0.5, 3.0, 100.0, -0.0][:n] + [0.0] * max(0, n - 6),
                     dtype=np.float32)
        return None, (f.view(np.uint32) >> 16).astype(np.uint16)
    np_t = np.dtype(NP_TYPES[dt])
    if np_t.kind in "iu":
        info = np.iinfo(np_t)
        v = [int(info.max), int(info.min), 0, 1, 42, 7][:n]
    else:
        v = [1.5, -2.25, 0.0, 65504.0 if dt == "FP16" else 1e30, 3.0, -7.5][:n]
    v += [0] * (n - len(v))
    return v, np.array(v, dtype=np_t)


def test_identity_all_types_json(start_server):
    srv = start_server(models={model_name(dt): Model(identity_config(model_name(dt), dt, [-1]))
                               for dt in JSON_TYPES})
    for dt in JSON_TYPES:
        data, _ = sample(dt, 5)
        r = infer_json(srv.url, model_name(dt), [("INPUT0", dt, [5], data)])
        assert r.status_code == 200, f"{dt}: {error_text(r)}"
        out = json_outputs(r)["OUTPUT0"]
        assert out["datatype"] == dt and out["shape"] == [5], (dt, out)
        if dt in ("FP32",):
            np.testing.assert_allclose(out["data"], np.float32(data), err_msg=dt)
        else:
            assert out["data"] == data, (dt, out["data"])


def test_identity_all_types_binary(start_server):
    srv = start_server(models={model_name(dt): Model(identity_config(model_name(dt), dt, [-1]))
                               for dt in ALL_TYPES})
    for dt in ALL_TYPES:
        _, payload = sample(dt, 6)
        r, hdr, out = infer_binary(srv.url, model_name(dt),
                                   [("INPUT0", dt, [6], payload)])
        assert r.status_code == 200, f"{dt}: {error_text(r)}"
        o = hdr["outputs"][0]
        assert o["name"] == "OUTPUT0" and o["datatype"] == dt and o["shape"] == [6], (dt, o)
        if dt == "BYTES":
            assert out["OUTPUT0"] == payload, dt
        else:
            np.testing.assert_array_equal(out["OUTPUT0"], payload, err_msg=dt)
            assert out["OUTPUT0"].tobytes() == payload.tobytes(), dt


def test_identity_empty_tensor(start_server):
    srv = start_server(models={"id": Model(identity_config("id", "INT32", [-1]))})
    r, hdr, out = infer_binary(srv.url, "id",
                               [("INPUT0", "INT32", [0], np.zeros(0, np.int32))])
    assert r.status_code == 200, error_text(r)
    assert hdr["outputs"][0]["shape"] == [0]


def test_identity_multi_input_and_requested_outputs(start_server):
    cfg = model_config(
        "multi", "identity",
        [("INPUT0", "INT32", [-1]), ("INPUT1", "BYTES", [-1]),
         ("INPUT2", "FP32", [2, 2]), ("X", "UINT8", [-1])],
        [("OUTPUT0", "INT32", [-1]), ("OUTPUT1", "BYTES", [-1]),
         ("OUTPUT2", "FP32", [2, 2]), ("X", "UINT8", [-1])])
    srv = start_server(models={"multi": Model(cfg)})
    ins = [("INPUT0", "INT32", [3], np.array([1, -2, 3], np.int32)),
           ("INPUT1", "BYTES", [2], [b"ab", b"\x00\xff"]),
           ("INPUT2", "FP32", [2, 2], np.array([[1, 2], [3, 4]], np.float32)),
           ("X", "UINT8", [4], np.array([9, 8, 7, 255], np.uint8))]
    r, hdr, out = infer_binary(srv.url, "multi", ins)
    assert r.status_code == 200, error_text(r)
    assert sorted(out) == ["OUTPUT0", "OUTPUT1", "OUTPUT2", "X"]
    np.testing.assert_array_equal(out["OUTPUT0"], ins[0][3])
    assert out["OUTPUT1"] == ins[1][3]
    np.testing.assert_array_equal(out["OUTPUT2"], ins[2][3])
    np.testing.assert_array_equal(out["X"], ins[3][3])

    # only the requested outputs come back
    r, hdr, out = infer_binary(srv.url, "multi", ins, outputs=["OUTPUT2", "X"])
    assert r.status_code == 200, error_text(r)
    assert sorted(out) == ["OUTPUT2", "X"]
    np.testing.assert_array_equal(out["OUTPUT2"], ins[2][3])

    # JSON form of the same
    r = infer_json(srv.url, "multi",
                   [("INPUT0", "INT32", [3], [1, -2, 3]),
                    ("INPUT1", "BYTES", [2], ["ab", "cd"]),
                    ("INPUT2", "FP32", [2, 2], [1.0, 2.0, 3.0, 4.0]),
                    ("X", "UINT8", [4], [9, 8, 7, 255])],
                   outputs=["OUTPUT1"])
    out = json_outputs(r)
    assert list(out) == ["OUTPUT1"] and out["OUTPUT1"]["data"] == ["ab", "cd"]


def test_identity_batch_dimension(start_server):
    srv = start_server(models={"idb": Model(identity_config("idb", "FP32", [2], 8))})
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    r, hdr, out = infer_binary(srv.url, "idb", [("INPUT0", "FP32", [3, 2], x)])
    assert r.status_code == 200, error_text(r)
    assert hdr["outputs"][0]["shape"] == [3, 2]
    np.testing.assert_array_equal(out["OUTPUT0"], x)


def test_identity_config_errors_fail_load(start_server):
    models = {
        "noout": Model(model_config("noout", "identity", [("INPUT0", "INT32", [1])],
                                    [("RESULT", "INT32", [1])])),
        "badtype": Model(model_config("badtype", "identity", [("INPUT0", "INT32", [1])],
                                      [("OUTPUT0", "FP32", [1])])),
        "ok": Model(identity_config("ok", "INT32", [1])),
    }
    srv = start_server(models=models, extra_args=("--exit-on-error=false",),
                       wait_ready=False)
    idx = wait_settled(srv.url, models)
    assert idx["ok"].get("state") == "READY", idx
    e = idx["noout"]
    assert e.get("state") == "UNAVAILABLE", e
    assert "noout" in e.get("reason", "") and "OUTPUT0" in e["reason"], e
    e = idx["badtype"]
    assert e.get("state") == "UNAVAILABLE", e
    assert "OUTPUT0" in e.get("reason", "") and "FP32" in e["reason"], e
    out = json_outputs(infer_json(srv.url, "ok", [("INPUT0", "INT32", [1], [7])]))
    assert out["OUTPUT0"]["data"] == [7]
