"""End-to-end tests of the testing backend: parallel instances with
execute_delay_ms, failing execute (the server keeps serving), fail_every_n,
per-request `fail` and `delay_ms`, fail_model_init / fail_instance_init
(UNAVAILABLE with the reason while other models serve), the batch record
file, and crash_on_execute (the server dies with a clear log line)."""
import json
import threading
import time

import numpy as np
import requests

from conftest import Model
from test_backends_helpers import (error_text, infer_binary, infer_json,
                                   json_outputs, model_config, wait_settled)


def tcfg(name, params, count=1, max_batch_size=0, dims=(-1,)):
    return model_config(name, "testing", [("INPUT0", "INT32", list(dims))],
                        [("OUTPUT0", "INT32", list(dims))],
                        max_batch_size=max_batch_size, params=params, count=count)


def one(url, model, value=1, **kw):
    return infer_json(url, model, [("INPUT0", "INT32", [1], [value])], **kw)


def test_two_instances_run_in_parallel(start_server):
    srv = start_server(models={
        "slow": Model(tcfg("slow", {"execute_delay_ms": 1000}, count=2))})
    results = {}

    def worker(i):
        results[i] = one(srv.url, "slow", value=i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    for i in range(2):
        assert json_outputs(results[i])["OUTPUT0"]["data"] == [i]
    assert 0.95 <= elapsed < 1.8, f"2 requests on 2 instances took {elapsed:.2f}s"


def test_execute_delay_serialises_one_instance(start_server):
    srv = start_server(models={
        "slow1": Model(tcfg("slow1", {"execute_delay_ms": 300}, count=1))})
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, one(srv.url, "slow1")))
               for i in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert all(r.status_code == 200 for r in results.values())
    assert elapsed >= 0.55, f"one instance served 2 delayed requests in {elapsed:.2f}s"


def test_fail_execute_returns_error_and_server_keeps_serving(start_server):
    srv = start_server(models={
        "broken": Model(tcfg("broken", {"fail_execute": "true"})),
        "fine": Model(tcfg("fine", {})),
    })
    for _ in range(2):
        r = one(srv.url, "broken")
        assert r.status_code == 500, r.text
        msg = error_text(r)
        assert "fail_execute" in msg and "broken" in msg, msg
    assert requests.get(f"{srv.url}/v2/health/live", timeout=5).status_code == 200
    assert json_outputs(one(srv.url, "fine", value=5))["OUTPUT0"]["data"] == [5]
    assert srv.proc.poll() is None


def test_fail_every_n(start_server):
    srv = start_server(models={"flaky": Model(tcfg("flaky", {"fail_every_n": 3}))})
    codes = [one(srv.url, "flaky").status_code for _ in range(6)]
    assert codes == [200, 200, 500, 200, 200, 500], codes
    r = one(srv.url, "flaky")  # request 7: fine
    assert r.status_code == 200


def test_request_parameters_fail_and_delay(start_server):
    srv = start_server(models={"ctl": Model(tcfg("ctl", {"fail_every_n": 1}))})
    # fail_every_n=1 fails everything unless the request says fail=false
    r = one(srv.url, "ctl")
    assert r.status_code == 500 and "fail_every_n" in error_text(r), r.text
    r = one(srv.url, "ctl", value=4, parameters={"fail": False})
    assert json_outputs(r)["OUTPUT0"]["data"] == [4]
    r = one(srv.url, "ctl", parameters={"fail": True})
    assert r.status_code == 500 and '"fail"' in error_text(r), r.text
    t0 = time.monotonic()
    r = one(srv.url, "ctl", parameters={"fail": False, "delay_ms": 400})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 >= 0.38
    r = one(srv.url, "ctl", parameters={"fail": False, "delay_ms": "soon"})
    assert r.status_code == 400 and "delay_ms" in error_text(r), r.text


def test_fail_model_init_is_unavailable_with_reason(start_server):
    models = {
        "bad_init": Model(tcfg("bad_init", {"fail_model_init": "no such weights"})),
        "bad_instance": Model(tcfg("bad_instance", {"fail_instance_init": "device gone"})),
        "bad_param": Model(tcfg("bad_param", {"execute_delay_ms": "soon"})),
        "good": Model(tcfg("good", {})),
    }
    srv = start_server(models=models, extra_args=("--exit-on-error=false",),
                       wait_ready=False)
    idx = wait_settled(srv.url, models)
    e = idx["bad_init"]
    assert e.get("state") == "UNAVAILABLE", e
    assert "no such weights" in e.get("reason", ""), e
    e = idx["bad_instance"]
    assert e.get("state") == "UNAVAILABLE", e
    assert "device gone" in e.get("reason", ""), e
    e = idx["bad_param"]
    assert e.get("state") == "UNAVAILABLE", e
    assert "execute_delay_ms" in e.get("reason", ""), e
    assert idx["good"].get("state") == "READY", idx
    assert json_outputs(one(srv.url, "good", value=9))["OUTPUT0"]["data"] == [9]
    r = one(srv.url, "bad_init")
    assert r.status_code != 200


def test_record_batches_file(start_server, tmp_path):
    rec = tmp_path / "batches.jsonl"
    srv = start_server(models={
        "rec": Model(tcfg("rec", {"record_batches_file": str(rec)},
                          max_batch_size=8, dims=(2,)))})
    for i, rows in enumerate((1, 3, 2)):
        x = np.arange(rows * 2, dtype=np.int32).reshape(rows, 2)
        r, _, out = infer_binary(srv.url, "rec", [("INPUT0", "INT32", [rows, 2], x)],
                                 request_id=f"req{i}")
        assert r.status_code == 200, error_text(r)
        np.testing.assert_array_equal(out["OUTPUT0"], x)
    lines = [json.loads(l) for l in rec.read_text().splitlines()]
    assert [l["batch_size"] for l in lines] == [1, 3, 2], lines
    assert [l["ids"] for l in lines] == [["req0"], ["req1"], ["req2"]], lines
    assert all(l["requests"] == 1 for l in lines)


def test_crash_on_execute_kills_server_with_log_line(start_server):
    srv = start_server(models={"bomb": Model(tcfg("bomb", {"crash_on_execute": "true"}))})
    try:
        one(srv.url, "bomb")
    except requests.RequestException:
        pass  # the connection dies with the server
    for _ in range(100):
        if srv.proc.poll() is not None:
            break
        time.sleep(0.05)
    assert srv.proc.poll() is not None, "server survived crash_on_execute"
    assert "crash_on_execute" in srv.log()
