"""End-to-end tests of the HTTP frontend's non-infer endpoints: health,
server/model metadata, model ready/config/stats, repository, logging, 404/405
and the 501 answers for features not there yet."""
import requests

from conftest import SIMPLE_CONFIG, Model, identity_config


def models():
    return {"simple": Model(SIMPLE_CONFIG + "version_policy: { all: {} }\n",
                            versions=(1, 2)),
            "ids": Model(identity_config("ids", "BYTES", [-1]))}


def err(r):
    assert r.headers["Content-Type"] == "application/json", r.headers
    body = r.json()
    assert list(body) == ["error"], body
    return body["error"]


def test_health_and_server_metadata(start_server):
    srv = start_server(models=models())
    assert requests.get(srv.url + "/v2/health/live").status_code == 200
    assert requests.get(srv.url + "/v2/health/ready").status_code == 200
    r = requests.get(srv.url + "/v2")
    assert r.status_code == 200
    meta = r.json()
    assert meta["name"] == "inferd" and isinstance(meta["version"], str)
    assert "binary_tensor_data" in meta["extensions"]
    r = requests.get(srv.url + "/v2", params={"x": "1"})  # query ignored
    assert r.status_code == 200


def test_not_found_and_method_not_allowed(start_server):
    srv = start_server(models=models())
    for path in ["/v1", "/v2/", "/v2/health", "/v2/models/simple/versions/x",
                 "/v2/models/simple/versions/-1/ready", "/v2/models/simple/bogus",
                 "/metrics"]:
        r = requests.get(srv.url + path)
        assert r.status_code == 404, path
        assert err(r) == "Not Found"
    for method, path in [("POST", "/v2/health/live"), ("GET", "/v2/models/simple/infer"),
                         ("POST", "/v2"), ("GET", "/v2/repository/index"),
                         ("DELETE", "/v2/models/simple"), ("PUT", "/v2/logging")]:
        r = requests.request(method, srv.url + path)
        assert r.status_code == 405, (method, path)
        assert err(r) == "Method Not Allowed"


def test_model_metadata(start_server):
    srv = start_server(models=models())
    m = requests.get(srv.url + "/v2/models/simple").json()
    assert m["name"] == "simple" and m["versions"] == ["1", "2"]
    assert m["platform"] == "add_sub"
    assert m["inputs"] == [{"name": "INPUT0", "datatype": "INT32", "shape": [-1, 16]},
                           {"name": "INPUT1", "datatype": "INT32", "shape": [-1, 16]}]
    assert [o["name"] for o in m["outputs"]] == ["OUTPUT0", "OUTPUT1"]
    m = requests.get(srv.url + "/v2/models/simple/versions/1").json()
    assert m["versions"] == ["1"]
    m = requests.get(srv.url + "/v2/models/ids").json()
    assert m["inputs"][0] == {"name": "INPUT0", "datatype": "BYTES", "shape": [-1]}

    r = requests.get(srv.url + "/v2/models/nope")
    assert r.status_code == 404
    assert err(r).startswith("Request for unknown model: 'nope' is not found")
    r = requests.get(srv.url + "/v2/models/simple/versions/7")
    assert r.status_code == 404
    assert "'simple' version 7 is not found" in err(r)


def test_model_ready_and_config(start_server):
    srv = start_server(models=models())
    assert requests.get(srv.url + "/v2/models/simple/ready").status_code == 200
    assert requests.get(srv.url + "/v2/models/simple/versions/2/ready").status_code == 200
    r = requests.get(srv.url + "/v2/models/simple/versions/3/ready")
    assert r.status_code == 404 and "version 3 is not found" in err(r)
    r = requests.get(srv.url + "/v2/models/x/ready")
    assert r.status_code == 404 and "'x' is not found" in err(r)
    r = requests.get(srv.url + "/v2/models/simple/config")
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["name"] == "simple" and cfg["max_batch_size"] == 8
    r = requests.get(srv.url + "/v2/models/nope/config")
    assert r.status_code == 404


def test_stats(start_server):
    srv = start_server(models=models())
    r = requests.get(srv.url + "/v2/models/stats")
    assert r.status_code == 200, r.text
    names = {(s["name"], s["version"]) for s in r.json()["model_stats"]}
    assert ("simple", "1") in names and ("simple", "2") in names
    r = requests.get(srv.url + "/v2/models/simple/versions/1/stats")
    st = r.json()["model_stats"]
    assert len(st) == 1 and "inference_stats" in st[0]
    assert set(st[0]["inference_stats"]["success"]) == {"count", "ns"}
    r = requests.get(srv.url + "/v2/models/nope/stats")
    assert r.status_code == 404 and "'nope' is not found" in err(r)


def test_repository_index_and_mode_none(start_server):
    srv = start_server(models=models())
    r = requests.post(srv.url + "/v2/repository/index")
    assert r.status_code == 200
    idx = r.json()
    assert {"name": "simple", "version": "1", "state": "READY"} in idx
    r = requests.post(srv.url + "/v2/repository/index", json={"ready": True})
    assert r.status_code == 200 and all(e["state"] == "READY" for e in r.json())
    r = requests.post(srv.url + "/v2/repository/index", json={"ready": "yes"})
    assert r.status_code == 400 and err(r) == "\"ready\" must be a boolean"
    r = requests.post(srv.url + "/v2/repository/index", data="{")
    assert r.status_code == 400 and "failed to parse the request JSON" in err(r)
    # mode none: load/unload refused by the server
    r = requests.post(srv.url + "/v2/repository/models/simple/load")
    assert r.status_code in (400, 503), r.text
    assert "not allowed" in err(r)
    r = requests.post(srv.url + "/v2/repository/models/simple/unload")
    assert "not allowed" in err(r)
    r = requests.post(srv.url + "/v2/repository/models/simple/load",
                      json={"parameters": {"bogus": 1}})
    assert r.status_code == 400 and err(r) == "Unrecognized load parameter 'bogus'"
    r = requests.post(srv.url + "/v2/repository/myrepo/models/simple/load")
    assert r.status_code == 501
    assert requests.get(srv.url + "/v2/health/ready").status_code == 200


def test_repository_explicit_load_unload(start_server):
    srv = start_server(models=models(), wait_ready=False,
                       extra_args=["--model-control-mode=explicit"])
    assert requests.get(srv.url + "/v2/models/ids/ready").status_code != 200
    r = requests.post(srv.url + "/v2/repository/models/ids/load")
    assert r.status_code == 200, r.text
    assert requests.get(srv.url + "/v2/models/ids/ready").status_code == 200
    r = requests.post(srv.url + "/v2/repository/models/ids/unload",
                      json={"parameters": {"unload_dependents": False}})
    assert r.status_code == 200, r.text
    r = requests.post(srv.url + "/v2/repository/models/nope/load")
    assert r.status_code >= 400 and err(r)


def test_logging(start_server):
    srv = start_server(models=models())
    r = requests.get(srv.url + "/v2/logging")
    assert r.status_code == 200
    s = r.json()
    assert set(s) == {"log_file", "log_info", "log_warning", "log_error",
                      "log_verbose_level", "log_format"}
    r = requests.post(srv.url + "/v2/logging",
                      json={"log_verbose_level": 2, "log_format": "ISO8601",
                            "log_info": False, "log_file": None})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["log_verbose_level"] == 2 and s["log_format"] == "ISO8601"
    assert s["log_info"] is False
    assert requests.get(srv.url + "/v2/logging").json() == s
    r = requests.post(srv.url + "/v2/logging", json={"log_file": "/tmp/x"})
    assert r.status_code == 501 and "log_file" in err(r)
    r = requests.post(srv.url + "/v2/logging", json={"log_format": "xml"})
    assert r.status_code == 400 and "log_format" in err(r)
    r = requests.post(srv.url + "/v2/logging", json={"log_verbose_level": -1})
    assert r.status_code == 400 and "non-negative" in err(r)
    r = requests.post(srv.url + "/v2/logging", json={"log_infos": True})
    assert r.status_code == 400 and err(r) == 'unknown logging setting "log_infos"'
    r = requests.post(srv.url + "/v2/logging",
                      json={"log_format": "default", "log_info": True,
                            "log_verbose_level": 0})
    assert r.status_code == 200


def test_not_supported_yet(start_server):
    srv = start_server(models=models())
    for method, path in [("GET", "/v2/trace/setting"),
                         ("POST", "/v2/models/simple/trace/setting"),
                         ("POST", "/v2/models/simple/generate"),
                         ("POST", "/v2/models/simple/generate_stream")]:
        r = requests.request(method, srv.url + path, json={})
        assert r.status_code == 501, (method, path)
        assert "is not supported yet" in err(r)
