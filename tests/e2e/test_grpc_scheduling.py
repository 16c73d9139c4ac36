"""Scheduling parameters over gRPC: `priority` orders the dynamic batcher's
queue and `timeout` rejects a request that waited too long, as over HTTP."""

import json
import threading
import time

import numpy as np

from conftest import Model, testing_config
from test_grpc_helpers import grpc, grpc_server, infer_request  # noqa: F401


def config(name, params, dynamic):
    return testing_config(name, params, max_batch_size=1) + \
        f"dynamic_batching {{ {dynamic} }}\n"


def request(model, rid, params=None):
    x = np.array([[1.0]], dtype=np.float32)
    return infer_request(model, [("INPUT0", "FP32", [1, 1], x)], id=rid,
                         params=params)


def test_priority_and_timeout_parameters(grpc_server, tmp_path):
    record = tmp_path / "batches.jsonl"
    cfg = config("p", {"execute_delay_ms": "500",
                       "record_batches_file": str(record)},
                 "priority_levels: 2 default_priority_level: 2 "
                 "default_queue_policy { allow_timeout_override: true }")
    _, stub, _ = grpc_server({"p": Model(cfg)})
    results = {}

    def send(rid, params=None):
        try:
            stub.ModelInfer(request("p", rid, params), timeout=30)
            results[rid] = "ok"
        except grpc.RpcError as e:
            results[rid] = (e.code(), e.details())

    threads = [threading.Thread(target=send, args=("busy",))]
    threads[0].start()
    time.sleep(0.2)  # "busy" executes; the others queue behind it
    for rid, params in (("low", {"priority": 2}),
                        ("expires", {"priority": 2, "timeout": 100000}),
                        ("high", {"priority": 1})):
        t = threading.Thread(target=send, args=(rid, params))
        t.start()
        threads.append(t)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert results["busy"] == results["low"] == results["high"] == "ok"
    code, details = results["expires"]
    assert code == grpc.StatusCode.UNAVAILABLE and "timeout" in details
    with open(record) as f:
        order = [json.loads(line)["ids"][0] for line in f if line.strip()]
    assert order == ["busy", "high", "low"]
