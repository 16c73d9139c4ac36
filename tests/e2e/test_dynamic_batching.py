"""Dynamic batching through the HTTP frontend: many concurrent clients get
their own answers (ids and values), batches are really formed, priorities
and queue policies answer as Triton does."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import Model, testing_config


def batching_config(name, params, dynamic, count=1, max_batch_size=8):
    return testing_config(name, params, count=count,
                          max_batch_size=max_batch_size) + \
        f"dynamic_batching {{ {dynamic} }}\n"


def infer_body(values, rid=None, parameters=None):
    body = {"inputs": [{"name": "INPUT0", "shape": [1, len(values)],
                        "datatype": "FP32", "data": values}]}
    if rid is not None:
        body["id"] = rid
    if parameters:
        body["parameters"] = parameters
    return body


def read_batches(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_200_concurrent_clients_get_their_own_answers(start_server, tmp_path):
    record = tmp_path / "batches.jsonl"
    cfg = batching_config(
        "db", {"execute_delay_ms": "20", "record_batches_file": str(record)},
        "max_queue_delay_microseconds: 5000", count=2)
    srv = start_server({"db": Model(cfg)})
    url = srv.url + "/v2/models/db/infer"

    def one(i):
        with requests.Session() as s:
            values = [float(i), float(i) + 0.5, -float(i)]
            r = s.post(url, json=infer_body(values, rid=f"req-{i}"),
                       timeout=60)
            return i, r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=200) as ex:
        results = list(ex.map(one, range(200)))
    for i, code, body in results:
        assert code == 200, body
        assert body["id"] == f"req-{i}"
        out = body["outputs"][0]
        assert out["name"] == "OUTPUT0"
        assert out["shape"] == [1, 3]
        assert out["data"] == [float(i), float(i) + 0.5, -float(i)]
    batches = read_batches(record)
    assert sum(b["batch_size"] for b in batches) == 200
    assert max(b["batch_size"] for b in batches) <= 8
    # with 200 clients and a 20 ms execution, requests must be combined
    assert len(batches) < 150
    ids = [i for b in batches for i in b["ids"]]
    assert sorted(ids) == sorted(f"req-{i}" for i in range(200))
    assert srv.proc.poll() is None


def test_priority_parameter_orders_the_queue(start_server, tmp_path):
    record = tmp_path / "batches.jsonl"
    cfg = batching_config(
        "prio", {"execute_delay_ms": "400",
                 "record_batches_file": str(record)},
        "priority_levels: 2 default_priority_level: 2", max_batch_size=1)
    srv = start_server({"prio": Model(cfg)})
    url = srv.url + "/v2/models/prio/infer"
    results = {}

    def send(rid, prio):
        params = {"priority": prio} if prio else None
        r = requests.post(url, json=infer_body([1.0], rid, params), timeout=30)
        results[rid] = r.status_code

    first = threading.Thread(target=send, args=("busy", 0))
    first.start()
    time.sleep(0.15)
    low = threading.Thread(target=send, args=("low", 2))
    low.start()
    time.sleep(0.05)
    high = threading.Thread(target=send, args=("high", 1))
    high.start()
    for t in (first, low, high):
        t.join()
    assert results == {"busy": 200, "low": 200, "high": 200}
    order = [b["ids"][0] for b in read_batches(record)]
    assert order == ["busy", "high", "low"]


def test_queue_full_is_503_and_timeout_is_an_error(start_server):
    cfg = batching_config(
        "q", {"execute_delay_ms": "600"},
        "default_queue_policy { max_queue_size: 1 "
        "default_timeout_microseconds: 10000000 "
        "allow_timeout_override: true }", max_batch_size=1)
    srv = start_server({"q": Model(cfg)})
    url = srv.url + "/v2/models/q/infer"
    codes = {}

    def send(rid, params=None):
        r = requests.post(url, json=infer_body([1.0], rid, params), timeout=30)
        codes[rid] = (r.status_code, r.json())

    running = threading.Thread(target=send, args=("running",))
    running.start()
    time.sleep(0.2)
    waiting = threading.Thread(target=send,
                               args=("waiting", {"timeout": 300000}))
    waiting.start()
    time.sleep(0.05)
    send("refused")
    code, body = codes["refused"]
    assert code == 503
    assert "exceeds maximum queue size 1" in body["error"]
    waiting.join()
    code, body = codes["waiting"]
    assert code == 503
    assert "timeout" in body["error"]
    running.join()
    assert codes["running"][0] == 200
    # and it keeps serving
    r = requests.post(url, json=infer_body([2.0]), timeout=30)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [2.0]


def test_bad_dynamic_batching_config_fails_to_load(start_server):
    cfg = batching_config("bad", {}, "preferred_batch_size: [ 16 ]",
                          max_batch_size=8)
    srv = start_server({"bad": Model(cfg)},
                       extra_args=["--exit-on-error=false"], wait_ready=False)
    r = requests.post(srv.url + "/v2/repository/index", timeout=10)
    entries = [e for e in r.json() if e["name"] == "bad"]
    assert entries and entries[0]["state"] == "UNAVAILABLE"
    assert "preferred_batch_size" in entries[0]["reason"]


def test_client_disconnect_cancels_a_queued_request(start_server, tmp_path):
    """A client that goes away while its request waits in the queue has it
    removed (answered CANCELLED internally, never executed)."""
    import socket
    record = tmp_path / "batches.jsonl"
    cfg = batching_config(
        "c", {"execute_delay_ms": "700", "record_batches_file": str(record)},
        "max_queue_delay_microseconds: 0", max_batch_size=1)
    srv = start_server({"c": Model(cfg)})
    url = srv.url + "/v2/models/c/infer"
    busy = threading.Thread(
        target=lambda: requests.post(url, json=infer_body([1.0], "busy"),
                                     timeout=30))
    busy.start()
    time.sleep(0.2)  # "busy" executes; the next request waits in the queue
    body = json.dumps(infer_body([2.0], "gone")).encode()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /v2/models/c/infer HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" +
              body)
    time.sleep(0.2)
    s.close()  # the client gives up while "gone" is queued
    busy.join()
    r = requests.post(url, json=infer_body([3.0], "after"), timeout=30)
    assert r.status_code == 200
    ids = [i for b in read_batches(record) for i in b["ids"]]
    assert "gone" not in ids, ids
    assert ids == ["busy", "after"]
    st = requests.get(srv.url + "/v2/models/c/stats",
                      timeout=10).json()["model_stats"][0]
    assert st["inference_stats"]["success"]["count"] == 2
    assert st["inference_stats"]["fail"]["count"] == 1  # the cancelled one
