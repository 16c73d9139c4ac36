"""End-to-end tests of control mode poll (reference §4.2): with
--repository-poll-secs=1 the server notices a model directory added (loads
it), a config.pbtxt whose content changed although its size and mtime did
not (reloads it), a version directory added (loads that version) and a model
directory removed (unloads it), while the other models keep serving.
Changes are made atomically (written beside the repository, then renamed
in) so that a scan never sees half a model. Waits are generous (15 s for a
1 s period); nothing asserts on elapsed time."""
import os
import shutil

import requests

from conftest import (SIMPLE_CONFIG, Model, check_simple_result, http_index,
                      identity_config, index_entries, infer_simple,
                      wait_until, write_repository)

POLL = ["--model-control-mode=poll", "--repository-poll-secs=1"]
WAIT = 15


def ready_versions(srv, name):
    return {e["version"] for e in index_entries(http_index(srv, ready=True),
                                                name)}


def config_of(srv, name):
    r = requests.get(f"{srv.url}/v2/models/{name}/config", timeout=10)
    return r.json() if r.status_code == 200 else None


def infer_ids(srv, name="ids"):
    return requests.post(f"{srv.url}/v2/models/{name}/infer", json={
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4],
                    "data": [1.0, 2.0, 3.0, 4.0]}]}, timeout=30)


def add_model_atomically(srv, tmp_path, name, model):
    """Writes the model outside the repository, then renames it in."""
    staging = tmp_path / "staging"
    write_repository(staging, {name: model})
    os.rename(staging / name, srv.repo / name)


def test_poll_add_change_version_remove(start_server, tmp_path):
    srv = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                       extra_args=POLL)
    assert ready_versions(srv, "simple") == {"1"}

    # a new model directory is loaded
    cfg = identity_config("ids", "FP32", [4], max_batch_size=4)
    add_model_atomically(srv, tmp_path, "ids", Model(cfg))
    wait_until(lambda: ready_versions(srv, "ids") == {"1"}, WAIT,
               "added model ids READY")
    r = infer_ids(srv)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == "1"

    # a content change of config.pbtxt with the same size and mtime is
    # still seen: only reading the content can tell
    path = srv.repo / "ids" / "config.pbtxt"
    st = os.stat(path)
    new = cfg.replace("max_batch_size: 4", "max_batch_size: 7")
    assert new != cfg and len(new) == len(cfg)
    with open(path, "r+") as f:  # in place: the directory does not change
        f.write(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(path)
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    wait_until(lambda: (config_of(srv, "ids") or {}).get(
        "max_batch_size") == 7, WAIT, "changed config reloaded")
    assert ready_versions(srv, "ids") == {"1"}
    assert infer_ids(srv).status_code == 200

    # a new version directory is loaded (default policy: latest 1)
    os.mkdir(srv.repo / "ids" / "2")
    wait_until(lambda: ready_versions(srv, "ids") == {"2"}, WAIT,
               "version 2 of ids READY")
    r = infer_ids(srv)
    assert r.status_code == 200 and r.json()["model_version"] == "2", r.text

    # the other model was not disturbed
    check_simple_result(infer_simple(srv))

    # removing the directory unloads the model
    shutil.move(str(srv.repo / "ids"), str(tmp_path / "ids_removed"))
    wait_until(lambda: not ready_versions(srv, "ids"), WAIT,
               "removed model ids unloaded")
    wait_until(lambda: requests.get(srv.url + "/v2/models/ids/ready",
                                    timeout=10).status_code != 200, WAIT,
               "ids not ready")
    r = infer_ids(srv)
    assert r.status_code in (400, 404, 503), r.text
    assert ready_versions(srv, "simple") == {"1"}
    check_simple_result(infer_simple(srv))
    assert requests.get(srv.url + "/v2/health/live", timeout=10).ok


def test_poll_version_policy_all_and_removed_version(start_server, tmp_path):
    cfg = SIMPLE_CONFIG + "version_policy: { all: {} }\n"
    srv = start_server(models={"simple": Model(cfg, versions=(1, 2))},
                       extra_args=POLL)
    assert ready_versions(srv, "simple") == {"1", "2"}
    os.mkdir(srv.repo / "simple" / "3")
    wait_until(lambda: ready_versions(srv, "simple") == {"1", "2", "3"},
               WAIT, "version 3 added")
    r = requests.post(srv.url + "/v2/models/simple/versions/3/infer",
                      json={"inputs": [
                          {"name": n, "datatype": "INT32", "shape": [1, 16],
                           "data": list(range(16))}
                          for n in ("INPUT0", "INPUT1")]}, timeout=30)
    assert r.status_code == 200 and r.json()["model_version"] == "3", r.text
    # a removed version directory is unloaded; the others keep serving
    os.rmdir(srv.repo / "simple" / "1")
    wait_until(lambda: ready_versions(srv, "simple") == {"2", "3"}, WAIT,
               "version 1 removed")
    assert infer_simple(srv).json()["model_version"] == "3"


def test_poll_broken_change_keeps_old_version(start_server, tmp_path):
    cfg = identity_config("ids", "FP32", [4], max_batch_size=4)
    srv = start_server(models={"ids": Model(cfg)}, extra_args=POLL)
    assert ready_versions(srv, "ids") == {"1"}
    path = srv.repo / "ids" / "config.pbtxt"
    tmp = tmp_path / "config.pbtxt"
    tmp.write_text(cfg.replace('backend: "identity"',
                               'backend: "doesnotexist"'))
    os.replace(tmp, path)
    # the failed reload is reported (index reason or log); the old version
    # keeps serving
    wait_until(lambda: "doesnotexist" in srv.log() or any(
        "doesnotexist" in e.get("reason", "")
        for e in index_entries(http_index(srv), "ids")),
        WAIT, "failed reload reported")
    assert ready_versions(srv, "ids") == {"1"}
    assert infer_ids(srv).status_code == 200
    # fixing the config reloads it
    tmp.write_text(cfg.replace("max_batch_size: 4", "max_batch_size: 5"))
    os.replace(tmp, path)
    wait_until(lambda: (config_of(srv, "ids") or {}).get(
        "max_batch_size") == 5, WAIT, "fixed config loaded")
    assert infer_ids(srv).status_code == 200
