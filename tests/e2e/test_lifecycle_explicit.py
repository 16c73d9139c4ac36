"""End-to-end tests of model control over HTTP (reference §1.12, §4.2):
explicit mode (startup with and without --load-model, load, unload, index),
config and file overrides, bad input (config JSON, file paths, model names
that try to leave the repository), unknown models, a missing backend, the
no-op load of an unchanged model, and the refusal in modes none and poll.
The gRPC side is in test_lifecycle_grpc.py."""
import base64
import json

import pytest
import requests

from conftest import (wait_until, INFERD_BACKEND_DIR, NOT_ALLOWED, SIMPLE_CONFIG, Model,
                      check_simple_result, error_of, http_index, http_load, http_unload,
                      identity_config, identity_config_json, index_entries,
                      infer_simple, model_states, raw_request, run_inferd,
                      simple_config_json, testing_config)

EXPLICIT = ["--model-control-mode=explicit"]


def models():
    return {"simple": Model(SIMPLE_CONFIG),
            "ids": Model(identity_config("ids", "FP32", [4]))}


def start_explicit(start_server, models_=None, extra=(), **kw):
    return start_server(models=models() if models_ is None else models_,
                        extra_args=EXPLICIT + list(extra), wait_ready=False,
                        **kw)


def infer_ids(srv, data=(1.0, 2.0, 3.0, 4.0), name="ids"):
    return requests.post(f"{srv.url}/v2/models/{name}/infer", json={
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [4],
                    "data": list(data)}]}, timeout=30)


def is_ready(srv, name):
    return requests.get(f"{srv.url}/v2/models/{name}/ready",
                        timeout=10).status_code == 200


# ------------------------------------------------------------ startup


def test_explicit_start_loads_nothing(start_server):
    srv = start_explicit(start_server)
    idx = http_index(srv)
    assert sorted(e["name"] for e in idx) == ["ids", "simple"], idx
    for e in idx:  # never loaded: the name only
        assert set(e) == {"name"}, idx
    assert http_index(srv, ready=True) == []
    assert not is_ready(srv, "simple")
    r = infer_simple(srv)
    assert r.status_code in (400, 404, 503), r.text
    assert "simple" in error_of(r)


def test_explicit_start_with_load_model(start_server):
    srv = start_explicit(start_server, extra=["--load-model=simple"])
    assert model_states(srv, "simple") == {"1": ("READY", "")}
    assert model_states(srv, "ids") == {"": ("", "")}
    check_simple_result(infer_simple(srv))
    assert [e["name"] for e in http_index(srv, ready=True)] == ["simple"]
    assert requests.get(srv.url + "/v2/health/ready",
                        timeout=10).status_code == 200


def test_explicit_start_with_load_model_star(start_server):
    srv = start_explicit(start_server, extra=["--load-model=*"])
    ready = http_index(srv, ready=True)
    assert sorted((e["name"], e["version"], e["state"]) for e in ready) == [
        ("ids", "1", "READY"), ("simple", "1", "READY")]
    check_simple_result(infer_simple(srv))
    assert infer_ids(srv).status_code == 200


def test_load_model_flag_rules(tmp_path):
    repo = tmp_path / "repo"
    (repo / "simple" / "1").mkdir(parents=True)
    (repo / "simple" / "config.pbtxt").write_text(SIMPLE_CONFIG)
    # --load-model needs explicit mode
    common = [f"--model-repository={repo}", "--http-port=0",
              "--http-address=127.0.0.1", "--allow-grpc=false",
              f"--backend-directory={INFERD_BACKEND_DIR}"]
    p = run_inferd([*common, "--load-model=simple"])
    assert p.returncode != 0
    assert "--load-model" in p.stderr and "explicit" in p.stderr, p.stderr
    # "*" must be the only one
    p = run_inferd([*common, *EXPLICIT, "--load-model=*",
                    "--load-model=simple"])
    assert p.returncode != 0
    assert "*" in p.stderr, p.stderr


# ------------------------------------------------------ load / unload


def test_load_unload_index(start_server):
    srv = start_explicit(start_server)
    r = http_load(srv, "ids")
    assert r.status_code == 200, r.text
    assert model_states(srv, "ids") == {"1": ("READY", "")}
    assert model_states(srv, "simple") == {"": ("", "")}
    assert is_ready(srv, "ids")
    assert infer_ids(srv).json()["outputs"][0]["data"] == [1, 2, 3, 4]
    assert [e["name"] for e in http_index(srv, ready=True)] == ["ids"]
    assert all(e["state"] == "READY" for e in http_index(srv, ready=False)
               if "state" in e)

    r = http_unload(srv, "ids", unload_dependents=False)
    assert r.status_code == 200, r.text
    # unload returns when the version left the table; it is UNLOADING until
    # its last user let go, then UNAVAILABLE "unloaded"
    assert model_states(srv, "ids")["1"][0] in ("UNLOADING", "UNAVAILABLE")
    wait_until(lambda: model_states(srv, "ids") ==
               {"1": ("UNAVAILABLE", "unloaded")}, what="ids finalised")
    assert http_index(srv, ready=True) == []
    assert not is_ready(srv, "ids")
    r = infer_ids(srv)
    assert r.status_code in (400, 404, 503), r.text
    assert "ids" in error_of(r)

    # unloading a known model that is not loaded succeeds
    r = http_unload(srv, "ids")
    assert r.status_code == 200, r.text
    r = http_unload(srv, "simple")
    assert r.status_code == 200, r.text

    # and it loads again
    r = http_load(srv, "ids")
    assert r.status_code == 200, r.text
    assert model_states(srv, "ids") == {"1": ("READY", "")}
    assert infer_ids(srv).status_code == 200


def test_load_unknown_and_unload_unknown(start_server):
    srv = start_explicit(start_server)
    r = http_load(srv, "nope")
    assert r.status_code == 400, r.text
    assert error_of(r) == ("failed to load 'nope', failed to poll from model "
                           "repository")
    r = http_unload(srv, "nope")
    assert r.status_code == 400, r.text
    assert error_of(r) == "failed to unload 'nope', no version is available"
    assert sorted(e["name"] for e in http_index(srv)) == ["ids", "simple"]


def test_load_with_missing_backend(start_server):
    cfg = SIMPLE_CONFIG.replace('name: "simple"', 'name: "nobk"').replace(
        'backend: "add_sub"', 'backend: "doesnotexist"')
    srv = start_explicit(start_server, {"nobk": Model(cfg)})
    r = http_load(srv, "nobk")
    assert r.status_code >= 400, r.text
    assert "doesnotexist" in error_of(r)
    states = model_states(srv, "nobk")
    assert [s for s, _ in states.values()] == ["UNAVAILABLE"], states
    assert "doesnotexist" in list(states.values())[0][1]
    assert not is_ready(srv, "nobk")
    # the server is fine afterwards
    assert requests.get(srv.url + "/v2/health/live", timeout=10).ok


def test_load_of_unchanged_model_is_a_noop(start_server):
    # fail_every_n counts requests in the loaded model's state: a repeated
    # load that really reloaded would restart the count.
    cfg = testing_config("counter", {"fail_every_n": 3})
    srv = start_explicit(start_server, {"counter": Model(cfg)},
                         extra=["--load-model=counter"])

    def infer():
        return requests.post(srv.url + "/v2/models/counter/infer", json={
            "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [2],
                        "data": [1.0, 2.0]}]}, timeout=30)

    assert infer().status_code == 200
    assert infer().status_code == 200
    for _ in range(3):
        r = http_load(srv, "counter")
        assert r.status_code == 200, r.text
        assert model_states(srv, "counter") == {"1": ("READY", "")}
    r = infer()
    assert r.status_code != 200 and "request 3 failed on purpose" in \
        error_of(r), r.text
    assert infer().status_code == 200
    # a config override always reloads: the count starts again
    cfg_json = {"name": "counter", "backend": "testing", "max_batch_size": 0,
                "input": [{"name": "INPUT0", "data_type": "TYPE_FP32",
                           "dims": [-1]}],
                "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32",
                            "dims": [-1]}],
                "parameters": {"fail_every_n": {"string_value": "3"}}}
    r = http_load(srv, "counter", config=cfg_json)
    assert r.status_code == 200, r.text
    assert infer().status_code == 200
    assert infer().status_code == 200
    r = infer()
    assert "request 3 failed on purpose" in error_of(r), r.text


# ------------------------------------------------------ config override


def test_load_with_config_override(start_server):
    srv = start_explicit(start_server, extra=["--load-model=simple"])
    cfg = requests.get(srv.url + "/v2/models/simple/config", timeout=10)
    assert cfg.json()["max_batch_size"] == 8
    r = http_load(srv, "simple", config=simple_config_json(max_batch_size=2))
    assert r.status_code == 200, r.text
    cfg = requests.get(srv.url + "/v2/models/simple/config", timeout=10)
    assert cfg.json()["max_batch_size"] == 2
    assert model_states(srv, "simple") == {"1": ("READY", "")}
    check_simple_result(infer_simple(srv))
    r = infer_simple(srv, batch=3)  # over the new limit
    assert r.status_code == 400, r.text
    # a second override reloads again
    r = http_load(srv, "simple", config=simple_config_json(max_batch_size=4))
    assert r.status_code == 200, r.text
    assert requests.get(srv.url + "/v2/models/simple/config",
                        timeout=10).json()["max_batch_size"] == 4
    assert infer_simple(srv, batch=3).status_code == 200
    # a model not loaded yet can be loaded with an override too
    r = http_load(srv, "ids", config=identity_config_json("ids", dims=[2]))
    assert r.status_code == 200, r.text
    r = requests.post(srv.url + "/v2/models/ids/infer", json={
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [2],
                    "data": [5.0, 6.0]}]}, timeout=30)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [5, 6]


@pytest.mark.parametrize("config, fragment", [
    ("{", "config JSON"),                            # not JSON
    ("[1, 2]", "config JSON"),                       # not an object
    (json.dumps({"name": "simple", "backend": "add_sub",
                 "bogus_field": 1}), "bogus_field"),  # unknown field
    (json.dumps(simple_config_json(max_batch_size="many")),
     "max_batch_size"),                              # wrong type
    (json.dumps(dict(simple_config_json(), input=[
        {"name": "INPUT0", "data_type": "TYPE_NOPE", "dims": [16]}])),
     "TYPE_NOPE"),                                   # bad enum
], ids=["not-json", "not-object", "unknown-field", "wrong-type", "bad-enum"])
def test_load_with_bad_config_json(start_server, config, fragment):
    srv = start_explicit(start_server, extra=["--load-model=simple"])
    r = http_load(srv, "simple", config=config)
    assert r.status_code == 400, r.text
    msg = error_of(r)
    assert msg, r.text
    if fragment:
        assert fragment in msg, msg
    # a failed reload leaves the old version serving, and the index says
    # why the reload failed
    states = model_states(srv, "simple")
    assert states["1"][0] == "READY", states
    assert msg in states["1"][1], states
    assert requests.get(srv.url + "/v2/models/simple/config",
                        timeout=10).json()["max_batch_size"] == 8
    check_simple_result(infer_simple(srv))


def test_load_config_parameter_must_be_a_string(start_server):
    srv = start_explicit(start_server)
    r = http_load(srv, "simple", body={"parameters": {
        "config": simple_config_json()}})
    assert r.status_code == 400, r.text
    assert "config" in error_of(r)
    r = http_load(srv, "simple", body={"parameters": {"bogus": "1"}})
    assert r.status_code == 400
    assert error_of(r) == "Unrecognized load parameter 'bogus'"


# ------------------------------------------------------ file overrides


def test_file_override_serves_a_model_not_in_the_repository(start_server):
    srv = start_explicit(start_server)
    files = {"1/notes.txt": b"any content \x00\xff",
             "1/sub/dir/more.bin": bytes(range(256))}
    r = http_load(srv, "fresh", config=identity_config_json("fresh"),
                  files=files)
    assert r.status_code == 200, r.text
    assert model_states(srv, "fresh") == {"1": ("READY", "")}
    r = infer_ids(srv, name="fresh", data=(9, 8, 7, 6))
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [9, 8, 7, 6]
    assert r.json()["model_version"] == "1"
    # nothing was written into the repository
    assert not (srv.repo / "fresh").exists()
    r = http_unload(srv, "fresh")
    assert r.status_code == 200, r.text
    assert not is_ready(srv, "fresh")


def test_file_override_needs_config(start_server):
    srv = start_explicit(start_server)
    r = http_load(srv, "fresh", files={"1/model.txt": b"x"})
    assert r.status_code == 400, r.text
    assert "config" in error_of(r)
    assert not is_ready(srv, "fresh")


@pytest.mark.parametrize("path", [
    "../x", "/etc/passwd", "1/../../x", "1/../x", "..", "1//x", "",
    "1/x/..", "1/x/", "//etc/passwd"])
def test_file_override_paths_that_escape(start_server, tmp_path, path):
    srv = start_explicit(start_server)
    before = sorted(p.name for p in tmp_path.iterdir())
    body = {"parameters": {
        "config": json.dumps(identity_config_json("fresh")),
        "file:" + path: base64.b64encode(b"pwned").decode()}}
    r = http_load(srv, "fresh", body=body)
    assert r.status_code == 400, r.text
    assert path in error_of(r), error_of(r)
    assert not is_ready(srv, "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (srv.repo / "x").exists()
    assert not (srv.repo.parent / "x").exists()


def test_file_override_content_must_be_base64(start_server):
    srv = start_explicit(start_server)
    r = http_load(srv, "fresh", body={"parameters": {
        "config": json.dumps(identity_config_json("fresh")),
        "file:1/model.txt": "not base64 !!"}})
    assert r.status_code == 400, r.text
    assert "file:1/model.txt" in error_of(r)


# --------------------------------------------------------- model names


def test_model_names_that_escape_are_refused(start_server, tmp_path):
    # Traps: directories a name resolved naively against the repository
    # would reach, each holding a loadable model (no name in the config,
    # so that any name would fit). A 200 below means the trap was loaded.
    outer = tmp_path / "outer"
    repo = outer / "repo"
    trap_cfg = identity_config("x", "FP32", [4]).replace('name: "x"\n', "")
    (outer / "1").mkdir(parents=True)
    (outer / "config.pbtxt").write_text(trap_cfg)
    (repo / "a" / "b" / "1").mkdir(parents=True)
    (repo / "a" / "b" / "config.pbtxt").write_text(trap_cfg)
    srv = start_server(models=models(), repo=repo, extra_args=EXPLICIT,
                       wait_ready=False)
    paths = ["..", "%2E%2E", "%2e%2e", ".", "%2E", "a%2Fb", "a%2fb",
             "..%2Fouter", "%2E%2E%2F%2E%2E%2Fouter", "a%00b", "%00",
             "ids%2F..%2F..", "..%2F..%2F..%2Fetc"]
    for p in paths:
        for op in ("load", "unload"):
            status, text = raw_request(
                srv, "POST", f"/v2/repository/models/{p}/{op}")
            assert status in (400, 404), (p, op, status, text)
            if status == 400 and op == "load":
                err = json.loads(text)["error"]
                assert err.startswith(("invalid model name",
                                       "failed to load")), (p, err)
    idx = http_index(srv)
    assert sorted({e["name"] for e in idx}) == ["a", "ids", "simple"], idx
    assert http_index(srv, ready=True) == []
    assert requests.get(srv.url + "/v2/health/live", timeout=10).ok


def test_invalid_model_name_message(start_server):
    srv = start_explicit(start_server)
    for p in ("..", "%2E%2E", "."):
        status, text = raw_request(srv, "POST",
                                   f"/v2/repository/models/{p}/load")
        if status == 400:
            assert json.loads(text)["error"].startswith(
                "invalid model name"), (p, text)
        else:
            assert status == 404, (p, status, text)


# ----------------------------------------------- modes none and poll


@pytest.mark.parametrize("mode", ["none", "poll"])
def test_load_unload_refused_unless_explicit(start_server, mode):
    extra = [f"--model-control-mode={mode}"]
    if mode == "poll":
        extra.append("--repository-poll-secs=1")
    srv = start_server(models=models(), extra_args=extra)
    for name in ("simple", "ids", "nope"):
        r = http_load(srv, name)
        assert r.status_code == 503, r.text
        assert error_of(r) == NOT_ALLOWED
        r = http_unload(srv, name)
        assert r.status_code == 503, r.text
        assert error_of(r) == NOT_ALLOWED
    r = http_load(srv, "simple", config=simple_config_json(max_batch_size=2))
    assert r.status_code == 503 and error_of(r) == NOT_ALLOWED
    # nothing changed
    assert requests.get(srv.url + "/v2/models/simple/config",
                        timeout=10).json()["max_batch_size"] == 8
    assert model_states(srv, "simple") == {"1": ("READY", "")}
    check_simple_result(infer_simple(srv))
    assert [e["name"] for e in index_entries(http_index(srv), "ids")] == [
        "ids"]
