"""End-to-end tests of issue 9, points 1 and 2 (inferd extensions for many
models on one node):

- load on demand (--model-control-mode=explicit --model-load-on-demand=true):
  a first infer, metadata or config request for a cold model loads it and
  waits (HTTP and gRPC, unary and streaming); 50 concurrent first requests
  share one load; a failing load answers every waiting request with its
  error; an unknown model and a server without the flag answer as before.
- the memory budget (--model-memory-budget): models of known size (the
  testing backend's `model_init_alloc_bytes`, reported to the server),
  least recently used idle models evicted first, busy and pinned models
  (load parameter `pinned`, --load-model) never, a model bigger than the
  budget refused with both figures, and requests rotating over more models
  than fit.

The index figures (`memory_bytes`, `loads`, `evictions`, `on_demand_loads`,
`pinned`) and the statistics' `memory_usage` are inferd extensions too."""
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import (Model, error_of, http_index, http_load, index_entries,
                      testing_config, wait_until)

EXPLICIT = ["--model-control-mode=explicit"]
ON_DEMAND = EXPLICIT + ["--model-load-on-demand=true"]
MB = 1000 * 1000
MODEL_BYTES = 30 * MB  # each budget test model allocates this at model_init
BUDGET = ["--model-memory-budget=100M"]  # three such models fit, not four


def tmodel(name, **params):
    """A testing-backend model (FP32 INPUT0 [-1] -> OUTPUT0 [-1])."""
    return Model(testing_config(name, params))


def sized(name, nbytes=MODEL_BYTES, **params):
    return tmodel(name, model_init_alloc_bytes=nbytes, **params)


def start(start_server, models, extra=()):
    return start_server(models=models, extra_args=list(extra),
                        wait_ready=False)


def infer(srv, name, data=(1.0, 2.0, 3.0), timeout=60, params=None):
    body = {"inputs": [{"name": "INPUT0", "datatype": "FP32",
                        "shape": [len(data)], "data": list(data)}]}
    if params:
        body["parameters"] = params
    return requests.post(f"{srv.url}/v2/models/{name}/infer", json=body,
                         timeout=timeout)


def check_infer(r, data=(1.0, 2.0, 3.0)):
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == list(data), r.text


def entry(srv, name):
    """The index entry of a model's version 1 (or its name-only entry)."""
    es = index_entries(http_index(srv), name)
    assert len(es) == 1, es
    return es[0]


def state(srv, name):
    e = entry(srv, name)
    return e.get("state", ""), e.get("reason", "")


def settled_state(srv, name):
    """The state once an evicted or unloaded version was finalised: it is
    UNLOADING until its last user lets go."""
    deadline = time.monotonic() + 15
    st = state(srv, name)
    while st[0] == "UNLOADING" and time.monotonic() < deadline:
        time.sleep(0.01)
        st = state(srv, name)
    return st


def is_ready(srv, name):
    return requests.get(f"{srv.url}/v2/models/{name}/ready",
                        timeout=10).status_code == 200


def unknown_text(name):
    return f"Request for unknown model: '{name}' is not found"


def cold_text(name):
    return f"Request for unknown model: '{name}' has no available versions"


# ------------------------------------------------------------ load on demand


def test_first_infer_loads_a_cold_model(start_server):
    srv = start(start_server, {"m": tmodel("m"), "other": tmodel("other")},
                ON_DEMAND)
    assert set(entry(srv, "m")) == {"name"}  # cold: the name only
    assert not is_ready(srv, "m")  # readiness never loads
    assert set(entry(srv, "m")) == {"name"}
    check_infer(infer(srv, "m"))
    e = entry(srv, "m")
    assert e["state"] == "READY", e
    assert e["on_demand_loads"] == 1 and e["loads"] == 1, e
    assert e["evictions"] == 0 and e["pinned"] is False, e
    assert is_ready(srv, "m")
    # a hot model is answered without a second load
    check_infer(infer(srv, "m", data=(4.0,)), data=(4.0,))
    e = entry(srv, "m")
    assert e["on_demand_loads"] == 1 and e["loads"] == 1, e
    # the other model was never asked for: untouched, no figures
    assert set(entry(srv, "other")) == {"name"}
    # an explicit version loads too
    r = requests.post(f"{srv.url}/v2/models/other/versions/1/infer",
                      json={"inputs": [{"name": "INPUT0", "datatype": "FP32",
                                        "shape": [1], "data": [7.0]}]},
                      timeout=60)
    check_infer(r, data=(7.0,))


def test_concurrent_first_requests_share_one_load(start_server):
    # a slow load: every request arrives while it runs
    srv = start(start_server, {"m": tmodel("m", model_init_delay_ms=500)},
                ON_DEMAND)
    barrier = threading.Barrier(50)

    def one(i):
        barrier.wait(timeout=30)
        return infer(srv, "m", data=(float(i),))

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    for i, r in enumerate(results):
        check_infer(r, data=(float(i),))
    e = entry(srv, "m")
    assert e["state"] == "READY", e
    assert e["on_demand_loads"] == 1, e
    assert e["loads"] == 1, e


def test_metadata_and_config_load_a_cold_model(start_server):
    srv = start(start_server, {"a": tmodel("a"), "b": tmodel("b"),
                               "c": tmodel("c")}, ON_DEMAND)
    r = requests.get(f"{srv.url}/v2/models/a", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "a" and r.json()["versions"] == ["1"], r.text
    assert r.json()["inputs"][0]["name"] == "INPUT0", r.text
    assert state(srv, "a") == ("READY", "")
    r = requests.get(f"{srv.url}/v2/models/b/config", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "b" and r.json()["backend"] == "testing"
    assert state(srv, "b") == ("READY", "")
    r = requests.get(f"{srv.url}/v2/models/c/versions/1", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["versions"] == ["1"], r.text
    for name in "abc":
        assert entry(srv, name)["on_demand_loads"] == 1


def test_failing_load_answers_every_waiting_request(start_server):
    srv = start(start_server,
                {"bad": tmodel("bad", fail_model_init="boom",
                               model_init_delay_ms=300)}, ON_DEMAND)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: infer(srv, "bad"), range(8)))
    for r in results:
        assert r.status_code == 500, r.text
        assert "model \"bad\": boom (fail_model_init)" in error_of(r), r.text
    st, reason = state(srv, "bad")
    assert st == "UNAVAILABLE" and "boom (fail_model_init)" in reason
    # metadata waits for (another) load and gets its error too
    r = requests.get(f"{srv.url}/v2/models/bad", timeout=60)
    assert r.status_code == 500, r.text
    assert "boom (fail_model_init)" in error_of(r)


def test_unknown_model_and_bad_versions(start_server):
    srv = start(start_server, {"m": tmodel("m")}, ON_DEMAND)
    r = infer(srv, "nope")
    assert r.status_code == 404, r.text
    assert error_of(r) == unknown_text("nope")
    for path in ("/v2/models/nope", "/v2/models/nope/config"):
        r = requests.get(srv.url + path, timeout=30)
        assert r.status_code == 404, r.text
        assert error_of(r) == unknown_text("nope")
    # a version the repository does not have: the model loads, the version
    # stays unknown (one wait only)
    r = requests.post(f"{srv.url}/v2/models/m/versions/7/infer",
                      json={"inputs": [{"name": "INPUT0", "datatype": "FP32",
                                        "shape": [1], "data": [1.0]}]},
                      timeout=60)
    assert r.status_code == 404, r.text
    assert error_of(r) == ("Request for unknown model: 'm' version 7 is not "
                           "found"), r.text
    assert entry(srv, "m")["on_demand_loads"] == 1


def test_without_the_flag_a_cold_model_is_unknown(start_server):
    srv = start(start_server, {"m": tmodel("m")}, EXPLICIT)
    r = infer(srv, "m")
    assert r.status_code == 404, r.text
    assert error_of(r) == cold_text("m")
    r = requests.get(f"{srv.url}/v2/models/m", timeout=30)
    assert r.status_code == 404, r.text
    assert error_of(r) == cold_text("m")
    assert set(entry(srv, "m")) == {"name"}


def test_on_demand_flag_rules(start_server):
    srv = start_server(models={"m": tmodel("m")},
                       extra_args=["--model-load-on-demand=true"],
                       expect_exit=True)
    assert srv.proc.returncode == 2
    assert ("--model-load-on-demand requires --model-control-mode=explicit "
            "(the mode is \"none\")") in srv.log()
    srv = start_server(models={"m": tmodel("m")},
                       extra_args=["--model-memory-budget=1G",
                                   "--model-control-mode=poll"],
                       expect_exit=True)
    assert srv.proc.returncode == 2
    assert ("--model-memory-budget requires --model-control-mode=explicit "
            "(the mode is \"poll\")") in srv.log()


def test_on_demand_timeout(start_server):
    """A load slower than --model-load-on-demand-timeout-ms: the waiting
    request is answered UNAVAILABLE when the time is up (the load goes on
    and serves later requests)."""
    srv = start(start_server, {"m": tmodel("m", model_init_delay_ms=2500)},
                ON_DEMAND + ["--model-load-on-demand-timeout-ms=300"])
    t0 = time.monotonic()
    r = infer(srv, "m")
    assert r.status_code == 503, r.text
    assert "m" in error_of(r), r.text
    assert time.monotonic() - t0 < 2.0, "answered only after the load"
    wait_until(lambda: state(srv, "m")[0] == "READY", timeout=20,
               what="the load went on")
    check_infer(infer(srv, "m"))


def test_client_gone_while_waiting(start_server):
    """A client that disconnects during the load: the load goes on, the
    server stays healthy and leaks nothing (sanitizer runs check)."""
    srv = start(start_server, {"m": tmodel("m", model_init_delay_ms=800)},
                ON_DEMAND)
    with pytest.raises(requests.exceptions.Timeout):
        infer(srv, "m", timeout=0.2)
    wait_until(lambda: state(srv, "m")[0] == "READY", timeout=20,
               what="model loaded after its client left")
    check_infer(infer(srv, "m"))


# ----------------------------------------------------------- load on demand:
# gRPC

def gh():
    """test_grpc_helpers, or a skip when python3-grpcio is missing (imported
    here, not at module level, so the HTTP tests run without it)."""
    return pytest.importorskip("test_grpc_helpers")


def grpc_start(start_server, models, extra):
    grpc_helpers = gh()
    srv = start(start_server, models, extra)
    if srv.grpc_port is None:
        pytest.skip("no gRPC frontend in this run (inferd built without it, "
                    "or INFERD_E2E_GRPC=0)")
    ch = grpc_helpers.channel_to(srv)
    grpc_helpers.grpc.channel_ready_future(ch).result(timeout=30)
    return srv, ch, grpc_helpers.pb_grpc.GRPCInferenceServiceStub(ch)


def grpc_infer_req(name, values=(1.0, 2.0, 3.0), id=""):
    a = gh().np.array(values, dtype=gh().np.float32)
    return gh().infer_request(name, [("INPUT0", "FP32", [len(a)], a)], id=id)


def grpc_values(resp):
    return gh().output_array(resp, "OUTPUT0")[2].tolist()


def test_grpc_first_requests_load_cold_models(start_server):
    pb, grpc = gh().pb, gh().grpc
    srv, ch, stub = grpc_start(
        start_server, {n: tmodel(n) for n in ("a", "b", "c", "d", "s")},
        ON_DEMAND)
    try:
        resp = stub.ModelInfer(grpc_infer_req("a"), timeout=60)
        assert grpc_values(resp) == [1.0, 2.0, 3.0]
        assert entry(srv, "a")["on_demand_loads"] == 1

        md = stub.ModelMetadata(pb.ModelMetadataRequest(name="b"), timeout=60)
        assert md.name == "b" and list(md.versions) == ["1"]
        cfg = stub.ModelConfig(pb.ModelConfigRequest(name="c"), timeout=60)
        assert cfg.config.name == "c" and cfg.config.backend == "testing"
        for n in "bc":
            assert state(srv, n) == ("READY", "")

        # concurrent unary calls share one load
        futs = [stub.ModelInfer.future(grpc_infer_req("d", (float(i),)),
                                       timeout=60) for i in range(20)]
        for i, f in enumerate(futs):
            assert grpc_values(f.result()) == [float(i)]
        assert entry(srv, "d")["on_demand_loads"] == 1
        assert entry(srv, "d")["loads"] == 1

        # streaming: each request of the stream may wait
        reqs = [grpc_infer_req("s", (float(i),), id=str(i)) for i in range(5)]
        got = {}
        for r in stub.ModelStreamInfer(iter(reqs), timeout=60):
            assert not r.error_message, r.error_message
            got[r.infer_response.id] = grpc_values(r.infer_response)
        assert got == {str(i): [float(i)] for i in range(5)}
        assert entry(srv, "s")["on_demand_loads"] == 1

        # unknown model: Triton's text, nothing to wait for
        with pytest.raises(grpc.RpcError) as ei:
            stub.ModelInfer(grpc_infer_req("nope"), timeout=30)
        assert ei.value.details() == unknown_text("nope")
        with pytest.raises(grpc.RpcError) as ei:
            stub.ModelMetadata(pb.ModelMetadataRequest(name="nope"),
                               timeout=30)
        assert ei.value.details() == unknown_text("nope")
    finally:
        ch.close()


def test_grpc_failing_load_and_flag_off(start_server):
    pb, grpc = gh().pb, gh().grpc
    srv, ch, stub = grpc_start(
        start_server, {"bad": tmodel("bad", fail_model_init="boom",
                                     model_init_delay_ms=200)}, ON_DEMAND)
    try:
        futs = [stub.ModelInfer.future(grpc_infer_req("bad"), timeout=60)
                for _ in range(5)]
        for f in futs:
            with pytest.raises(grpc.RpcError) as ei:
                f.result()
            assert ei.value.code() == grpc.StatusCode.INTERNAL
            assert "boom (fail_model_init)" in ei.value.details()
        # a stream reports the error as a response and goes on
        reqs = [grpc_infer_req("bad", id="x")]
        out = list(stub.ModelStreamInfer(iter(reqs), timeout=60))
        assert len(out) == 1 and "boom (fail_model_init)" in \
            out[0].error_message
        with pytest.raises(grpc.RpcError) as ei:
            stub.ModelConfig(pb.ModelConfigRequest(name="bad"), timeout=60)
        assert "boom (fail_model_init)" in ei.value.details()
    finally:
        ch.close()

    srv, ch, stub = grpc_start(start_server, {"m": tmodel("m")}, EXPLICIT)
    try:
        with pytest.raises(grpc.RpcError) as ei:
            stub.ModelInfer(grpc_infer_req("m"), timeout=30)
        assert ei.value.details() == cold_text("m")
        assert set(entry(srv, "m")) == {"name"}
    finally:
        ch.close()


def test_grpc_pinned_parameter_and_memory_usage(start_server):
    pb, grpc = gh().pb, gh().grpc
    srv, ch, stub = grpc_start(start_server, {"a": sized("a")},
                               EXPLICIT + BUDGET)
    try:
        req = pb.RepositoryModelLoadRequest(model_name="a")
        req.parameters["pinned"].string_param = "yes"
        with pytest.raises(grpc.RpcError) as ei:
            stub.RepositoryModelLoad(req, timeout=60)
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ei.value.details() == ("load parameter \"pinned\": expected "
                                      "bool_param, got string_param")
        req = pb.RepositoryModelLoadRequest(model_name="a")
        req.parameters["pinned"].bool_param = True
        stub.RepositoryModelLoad(req, timeout=60)
        assert entry(srv, "a")["pinned"] is True
        st = stub.ModelStatistics(pb.ModelStatisticsRequest(name="a"),
                                  timeout=30)
        mu = st.model_stats[0].memory_usage
        assert len(mu) == 1 and mu[0].type == "CPU" and mu[0].id == 0
        assert mu[0].byte_size >= MODEL_BYTES * 0.9
    finally:
        ch.close()


# ------------------------------------------------------------- memory budget


def test_budget_evicts_the_least_recently_used_idle_model(start_server):
    srv = start(start_server, {n: sized(n) for n in "abcd"},
                EXPLICIT + BUDGET)
    for n in "abc":
        r = http_load(srv, n)
        assert r.status_code == 200, r.text
    for n in "abc":
        e = entry(srv, n)
        assert e["state"] == "READY" and e["loads"] == 1, e
        assert e["memory_bytes"] >= MODEL_BYTES * 0.9, e
        assert e["on_demand_loads"] == 0 and e["evictions"] == 0, e
    # a is used again: b is now the least recently used
    check_infer(infer(srv, "a"))
    r = http_load(srv, "d")
    assert r.status_code == 200, r.text
    st, reason = settled_state(srv, "b")
    assert st == "UNAVAILABLE" and "evicted" in reason, (st, reason)
    assert entry(srv, "b")["evictions"] == 1
    for n in "acd":
        assert state(srv, n) == ("READY", ""), n
    # statistics report the measured memory of loaded versions
    r = requests.get(f"{srv.url}/v2/models/a/stats", timeout=30)
    assert r.status_code == 200, r.text
    mu = r.json()["model_stats"][0]["memory_usage"]
    assert len(mu) == 1 and mu[0]["type"] == "CPU" and mu[0]["id"] == 0, mu
    assert mu[0]["byte_size"] >= MODEL_BYTES * 0.9, mu
    # an evicted model loads again (evicting the next in line, c)
    r = http_load(srv, "b")
    assert r.status_code == 200, r.text
    assert settled_state(srv, "c")[0] == "UNAVAILABLE"
    assert entry(srv, "b")["loads"] == 2


def test_budget_never_evicts_a_busy_model(start_server):
    models = {n: sized(n) for n in "bcd"}
    models["a"] = sized("a", execute_delay_ms=3000)
    srv = start(start_server, models, EXPLICIT + BUDGET)
    for n in "abc":
        assert http_load(srv, n).status_code == 200
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(infer, srv, "a")  # a busy for 3 s
        time.sleep(0.5)
        check_infer(infer(srv, "b"))
        check_infer(infer(srv, "c"))
        # a is the least recently used, but busy: b goes
        r = http_load(srv, "d")
        assert r.status_code == 200, r.text
        assert state(srv, "a") == ("READY", "")
        assert settled_state(srv, "b")[0] == "UNAVAILABLE"
        check_infer(slow.result(timeout=30))
    assert entry(srv, "a")["evictions"] == 0


def test_budget_never_evicts_pinned_models(start_server):
    srv = start(start_server, {n: sized(n) for n in "abcde"},
                EXPLICIT + BUDGET + ["--load-model=a"])
    wait_until(lambda: state(srv, "a")[0] == "READY", what="a loaded")
    assert entry(srv, "a")["pinned"] is True  # --load-model pins
    r = http_load(srv, "b", body={"parameters": {"pinned": "true"}})
    assert r.status_code == 400, r.text
    assert error_of(r) == "load parameter \"pinned\" must be a boolean"
    r = http_load(srv, "b", body={"parameters": {"pinned": True}})
    assert r.status_code == 200, r.text
    assert entry(srv, "b")["pinned"] is True
    assert http_load(srv, "c").status_code == 200
    assert entry(srv, "c")["pinned"] is False
    check_infer(infer(srv, "c"))
    # a and b are older but pinned: c goes
    assert http_load(srv, "d").status_code == 200
    assert settled_state(srv, "c")[0] == "UNAVAILABLE"
    for n in "abd":
        assert state(srv, n) == ("READY", ""), n
    # only pinned models left besides d: d goes for e
    assert http_load(srv, "e").status_code == 200
    assert settled_state(srv, "d")[0] == "UNAVAILABLE"
    assert state(srv, "e") == ("READY", "")


def _mentions(msg, nbytes):
    """msg names nbytes: as bytes, or in MB/MiB with up to one decimal."""
    cands = {str(nbytes)}
    for unit, div in (("MB", 1e6), ("MiB", 2**20)):
        v = nbytes / div
        cands |= {f"{v:.0f} {unit}", f"{v:.1f} {unit}", f"{v:.0f}{unit}",
                  f"{v:.1f}{unit}"}
    return any(c in msg for c in cands)


def test_model_bigger_than_the_budget_fails(start_server):
    srv = start(start_server, {"big": sized("big", 150 * MB),
                               "m": sized("m")}, EXPLICIT + BUDGET)
    assert http_load(srv, "m").status_code == 200
    r = http_load(srv, "big")
    assert r.status_code != 200, r.text
    msg = error_of(r)
    assert "big" in msg, msg
    assert _mentions(msg, 100 * MB), msg  # the budget
    nums = [int(x) for x in re.findall(r"\d{9,}", msg)]
    assert any(n >= 150 * MB * 0.9 for n in nums) or \
        re.search(r"1[45]\d(\.\d)? Mi?B", msg), msg  # the model
    st, reason = state(srv, "big")
    assert st == "UNAVAILABLE", (st, reason)
    # nothing was evicted for a load that could not fit anyway
    assert state(srv, "m") == ("READY", "")


def test_on_demand_rotation_over_more_models_than_fit(start_server):
    names = [f"r{i}" for i in range(6)]
    srv = start(start_server, {n: sized(n) for n in names},
                ON_DEMAND + BUDGET)
    for rnd in range(3):
        for i, n in enumerate(names):
            check_infer(infer(srv, n, data=(float(rnd), float(i))),
                        data=(float(rnd), float(i)))
    idx = http_index(srv)
    assert sum(e.get("evictions", 0) for e in idx) >= 18 - 3, idx
    assert sum(1 for e in idx if e.get("state") == "READY") <= 3, idx


def test_on_demand_rotation_concurrent_clients(start_server):
    """Two clients rotating in opposite directions over 6 models of which 3
    fit: a model loaded for a waiting request is that request's, even when
    the other client's next load needs room at once."""
    names = [f"r{i}" for i in range(6)]
    srv = start(start_server, {n: sized(n) for n in names},
                ON_DEMAND + BUDGET)

    def client(k, order):
        for rnd in range(2):
            for i, n in enumerate(order):
                data = (float(k), float(rnd), float(i))
                check_infer(infer(srv, n, data=data), data=data)

    with ThreadPoolExecutor(max_workers=2) as pool:
        fs = [pool.submit(client, 0, names),
              pool.submit(client, 1, names[::-1])]
        for f in fs:
            f.result(timeout=60)
