"""The statistics extension (reference §1.11) counts exactly: a known
sequence of successful, failing and batched requests gives known numbers."""

import requests

from conftest import Model, testing_config


def body(values, batch=1, fail=False):
    b = {"inputs": [{"name": "INPUT0", "shape": [batch, len(values) // batch],
                     "datatype": "FP32", "data": values}]}
    if fail:
        b["parameters"] = {"fail": True}
    return b


def stats(srv, model):
    r = requests.get(f"{srv.url}/v2/models/{model}/stats", timeout=10)
    assert r.status_code == 200, r.text
    (s,) = r.json()["model_stats"]
    return s


def test_counts_are_exact(start_server):
    srv = start_server({"m": Model(testing_config("m", {}, max_batch_size=8))})
    url = srv.url + "/v2/models/m/infer"
    s = stats(srv, "m")
    assert s["inference_count"] == 0 and s["execution_count"] == 0
    assert s["last_inference"] == 0
    assert s["inference_stats"]["success"] == {"count": 0, "ns": 0}
    for _ in range(3):
        assert requests.post(url, json=body([1.0, 2.0]), timeout=10).ok
    for _ in range(2):  # batch of 4 each
        assert requests.post(url, json=body([1.0] * 8, batch=4),
                             timeout=10).ok
    r = requests.post(url, json=body([1.0], fail=True), timeout=10)
    assert r.status_code == 500
    # a request refused before queueing (bad shape) is not counted
    r = requests.post(url, json={"inputs": [{"name": "INPUT0", "shape": [2],
                                             "datatype": "FP32",
                                             "data": [1, 2]}]}, timeout=10)
    assert r.status_code == 400
    s = stats(srv, "m")
    assert s["name"] == "m" and s["version"] == "1"
    assert s["inference_count"] == 3 + 8  # successful ones only
    assert s["execution_count"] == 6
    inf = s["inference_stats"]
    assert inf["success"]["count"] == 5
    assert inf["fail"]["count"] == 1
    assert inf["queue"]["count"] == 5  # successful requests only
    assert inf["compute_infer"]["count"] == 5
    assert inf["success"]["ns"] > 0 and inf["queue"]["ns"] > 0
    by_size = {b["batch_size"]: b for b in s["batch_stats"]}
    assert set(by_size) == {1, 4}
    assert by_size[1]["compute_infer"]["count"] == 4
    assert by_size[4]["compute_infer"]["count"] == 2
    assert s["last_inference"] > 1.6e12  # ms since the epoch
    r = requests.get(srv.url + "/v2/models/m/versions/2/stats", timeout=10)
    assert r.status_code == 404
