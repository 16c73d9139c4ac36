"""Many concurrent HTTP clients on the default scheduler: every response
belongs to its request (ids and values), nothing is lost, and instances
really run in parallel."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import requests

from conftest import SIMPLE_CONFIG, Model, testing_config


def test_50_concurrent_clients_simple(start_server):
    cfg = SIMPLE_CONFIG + "instance_group [ { count: 2 kind: KIND_CPU } ]\n"
    srv = start_server({"simple": Model(cfg)})
    url = srv.url + "/v2/models/simple/infer"

    def client(c):
        rng = np.random.default_rng(c)
        with requests.Session() as s:
            for k in range(20):
                a = rng.integers(-1000, 1000, size=16)
                b = rng.integers(-1000, 1000, size=16)
                rid = f"c{c}-{k}"
                body = {"id": rid, "inputs": [
                    {"name": "INPUT0", "shape": [1, 16], "datatype": "INT32",
                     "data": a.tolist()},
                    {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32",
                     "data": b.tolist()}]}
                r = s.post(url, json=body, timeout=30)
                assert r.status_code == 200, r.text
                out = r.json()
                assert out["id"] == rid
                got = {o["name"]: o["data"] for o in out["outputs"]}
                assert got["OUTPUT0"] == (a + b).tolist()
                assert got["OUTPUT1"] == (a - b).tolist()
        return c

    with ThreadPoolExecutor(max_workers=50) as ex:
        assert sorted(ex.map(client, range(50))) == list(range(50))
    stats = requests.get(srv.url + "/v2/models/simple/stats",
                         timeout=10).json()["model_stats"][0]
    assert stats["inference_stats"]["success"]["count"] == 1000
    assert stats["inference_stats"]["fail"]["count"] == 0


def test_two_instances_serve_two_requests_in_the_time_of_one(start_server):
    cfg = testing_config("sleepy", {"execute_delay_ms": 800}, count=2)
    srv = start_server({"sleepy": Model(cfg)})
    url = srv.url + "/v2/models/sleepy/infer"
    body = {"inputs": [{"name": "INPUT0", "shape": [1], "datatype": "FP32",
                        "data": [1.0]}]}
    requests.post(url, json=body, timeout=30)  # warm connection paths
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as ex:
        codes = list(ex.map(lambda _: requests.post(url, json=body,
                                                    timeout=30).status_code,
                            range(2)))
    elapsed = time.monotonic() - t0
    assert codes == [200, 200]
    assert elapsed < 1.5, elapsed  # one execution takes 0.8 s
