"""Startup with a broken model: --exit-on-error decides whether the server
exits (1, with the reason) or serves the other models; --strict-readiness
decides what /v2/health/ready says then."""

import requests

from conftest import SIMPLE_CONFIG, Model

BROKEN = """\
name: "broken"
backend: "no_such_backend_xyz"
max_batch_size: 0
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 1 ] } ]
"""

MODELS = {"simple": Model(SIMPLE_CONFIG), "broken": Model(BROKEN)}


def infer_simple(url):
    a = list(range(16))
    b = [1] * 16
    body = {"inputs": [
        {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a},
        {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": b}]}
    r = requests.post(url + "/v2/models/simple/infer", json=body, timeout=10)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["OUTPUT0"]["data"] == [x + y for x, y in zip(a, b)]
    assert out["OUTPUT1"]["data"] == [x - y for x, y in zip(a, b)]
    assert out["OUTPUT0"]["shape"] == [1, 16]


def test_simple_serves(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)})
    infer_simple(s.url)
    assert s.stop() == 0


def test_exit_on_error_default_exits_1_with_reason(start_server):
    s = start_server(models=MODELS, expect_exit=True)
    assert s.proc.returncode == 1, s.log()
    assert "error: creating server:" in s.log()
    assert "no_such_backend_xyz" in s.log()


def test_exit_on_error_true_exits_1(start_server):
    s = start_server(models=MODELS, extra_args=["--exit-on-error=true"],
                     expect_exit=True)
    assert s.proc.returncode == 1, s.log()
    assert "error: creating server:" in s.log()


def test_exit_on_error_false_serves_the_others(start_server):
    s = start_server(models=MODELS, extra_args=["--exit-on-error=false"],
                     wait_ready=False)
    infer_simple(s.url)
    assert requests.get(s.url + "/v2/models/simple/ready").status_code == 200
    assert requests.get(s.url + "/v2/models/broken/ready").status_code != 200
    # strict readiness (the default): one failed model → not ready
    assert requests.get(s.url + "/v2/health/ready").status_code == 400
    assert requests.get(s.url + "/v2/health/live").status_code == 200
    assert s.stop() == 0, s.log()


def test_strict_readiness_true_with_failed_model(start_server):
    s = start_server(models=MODELS, wait_ready=False,
                     extra_args=["--exit-on-error=false",
                                 "--strict-readiness=true"])
    assert requests.get(s.url + "/v2/health/ready").status_code == 400


def test_strict_readiness_false_with_failed_model(start_server):
    s = start_server(models=MODELS,
                     extra_args=["--exit-on-error", "false",
                                 "--strict-readiness", "false"])
    assert requests.get(s.url + "/v2/health/ready").status_code == 200
    infer_simple(s.url)
