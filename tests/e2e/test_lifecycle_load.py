"""End-to-end tests of model changes under traffic (explicit mode): a model
reloaded 50 times while 16 keep-alive HTTP clients send inferences loses no
request; reloads that alternate the version policy between versions 1 and 2
move traffic between them, still without a failure; an unload under load
gives each client a success or a clean UNAVAILABLE/NOT_FOUND answer (no hang,
no dropped connection) while another model keeps serving."""
import threading
import time

import requests

from conftest import (SIMPLE_CONFIG, Model, check_simple_result, error_of,
                      http_index, http_load, http_unload, infer_simple,
                      model_states, simple_config_json, testing_config,
                      wait_until)

EXPLICIT = ["--model-control-mode=explicit"]
CLIENTS = 16
RELOADS = 50


class Clients:
    """n threads, each with its own keep-alive requests.Session, sending
    `simple` inferences until stop(). Every outcome is recorded; a response
    that is not a correct answer is a failure unless `allowed(resp)` says
    it is a clean refusal."""

    def __init__(self, server, n, model="simple", allowed=None, check=True):
        self.server = server
        self.model = model
        self.allowed = allowed
        self.check = check
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.ok = [0] * n
        self.refused = 0
        self.failures = []
        self.versions = {}
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True) for i in range(n)]

    def _run(self, i):
        with requests.Session() as s:
            while not self.stop_ev.is_set():
                try:
                    r = infer_simple(self.server, self.model, session=s,
                                     timeout=60)
                except requests.RequestException as e:  # hang, reset, ...
                    with self.lock:
                        self.failures.append(f"client {i}: {e!r}")
                    continue
                if r.status_code == 200:
                    try:
                        if self.check:
                            check_simple_result(r)
                        v = r.json()["model_version"]
                    except (AssertionError, KeyError, ValueError) as e:
                        with self.lock:
                            self.failures.append(f"client {i}: bad answer "
                                                 f"{e!r}: {r.text[:300]}")
                        continue
                    with self.lock:
                        self.ok[i] += 1
                        self.versions[v] = self.versions.get(v, 0) + 1
                elif self.allowed and self.allowed(r):
                    with self.lock:
                        self.refused += 1
                    # the model is gone: do not spin at full speed
                    time.sleep(0.01)
                else:
                    with self.lock:
                        self.failures.append(
                            f"client {i}: HTTP {r.status_code}: "
                            f"{r.text[:300]}")

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def total_ok(self):
        with self.lock:
            return sum(self.ok)

    def each_answered(self, than):
        """True when every client has more successes than `than[i]`."""
        with self.lock:
            return all(a > b for a, b in zip(self.ok, than))

    def snapshot(self):
        with self.lock:
            return list(self.ok)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=90)
        hung = [t.name for t in self.threads if t.is_alive()]
        assert not hung, f"client threads did not finish: {hung}"


def test_reload_under_load_loses_no_request(start_server):
    srv = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                       extra_args=EXPLICIT + ["--load-model=simple"])
    clients = Clients(srv, CLIENTS).start()
    try:
        # every client is running before the first reload
        wait_until(lambda: clients.each_answered([0] * CLIENTS), 30,
                   "every client answered once")
        for i in range(RELOADS):
            # alternate two configs so that each load really reloads
            mbs = 8 if i % 2 else 16
            cfg = simple_config_json(max_batch_size=mbs,
                                     parameters={"variant": str(i % 2)})
            r = http_load(srv, "simple", config=cfg)
            assert r.status_code == 200, f"reload {i}: {r.text}"
            got = requests.get(srv.url + "/v2/models/simple/config",
                               timeout=10).json()["max_batch_size"]
            assert got == mbs, f"reload {i}: max_batch_size {got}"
        # and each client is answered again after the last one
        after = clients.snapshot()
        wait_until(lambda: clients.each_answered(after), 30,
                   "every client answered after the reloads")
    finally:
        clients.stop()
    assert clients.failures == [], (f"{len(clients.failures)} failures, "
                                    f"first: {clients.failures[:5]}")
    assert clients.total_ok() >= 2 * CLIENTS
    assert model_states(srv, "simple") == {"1": ("READY", "")}
    check_simple_result(infer_simple(srv))


def test_version_switch_under_load(start_server):
    srv = start_server(
        models={"simple": Model(SIMPLE_CONFIG, versions=(1, 2))},
        extra_args=EXPLICIT + ["--load-model=simple"])
    # default policy: latest 1
    assert infer_simple(srv).json()["model_version"] == "2"
    clients = Clients(srv, CLIENTS).start()
    seen_after_load = []
    try:
        wait_until(lambda: clients.each_answered([0] * CLIENTS), 30,
                   "every client answered once")
        for i in range(RELOADS):
            v = 1 if i % 2 == 0 else 2
            cfg = simple_config_json(
                version_policy={"specific": {"versions": [v]}})
            r = http_load(srv, "simple", config=cfg)
            assert r.status_code == 200, f"reload {i} to {v}: {r.text}"
            # once the load returned, new requests go to the new version
            got = infer_simple(srv).json()["model_version"]
            seen_after_load.append((v, got))
            # the old version leaves READY (it may still be draining)
            wait_until(lambda: {e["version"] for e in
                                http_index(srv, ready=True)
                                if e["name"] == "simple"} == {str(v)},
                       15, f"reload {i}: only version {v} READY")
        after = clients.snapshot()
        wait_until(lambda: clients.each_answered(after), 30,
                   "every client answered after the reloads")
    finally:
        clients.stop()
    assert clients.failures == [], (f"{len(clients.failures)} failures, "
                                    f"first: {clients.failures[:5]}")
    assert [str(v) for v, _ in seen_after_load] == [
        got for _, got in seen_after_load]
    assert set(clients.versions) == {"1", "2"}, clients.versions
    states = model_states(srv, "simple")
    assert states["2"] == ("READY", ""), states
    assert states.get("1", ("UNAVAILABLE", ""))[0] == "UNAVAILABLE", states


def clean_refusal(r):
    """An answer for a model that is going or gone: UNAVAILABLE (503) or
    NOT_FOUND (404), with a JSON error naming the model."""
    return r.status_code in (404, 503) and "slow" in error_of(r)


def test_unload_under_load(start_server):
    slow = testing_config("slow", {"execute_delay_ms": 20}, count=2)
    slow = slow.replace("TYPE_FP32", "TYPE_INT32").replace(
        'dims: [ -1 ]', "dims: [ 16 ]")
    # `slow` (testing backend, 20 ms per execute) echoes INT32 [16]
    srv = start_server(
        models={"simple": Model(SIMPLE_CONFIG),
                "slow": Model(slow)},
        extra_args=EXPLICIT + ["--load-model=*"])

    slow_body = {"inputs": [{"name": "INPUT0", "datatype": "INT32",
                             "shape": [16], "data": list(range(16))}]}
    failures, ok, refused = [], [0], [0]
    lock = threading.Lock()
    stop = threading.Event()

    def slow_client(i):
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = s.post(srv.url + "/v2/models/slow/infer",
                               json=slow_body, timeout=60)
                except requests.RequestException as e:
                    with lock:
                        failures.append(f"slow client {i}: {e!r}")
                    continue
                with lock:
                    if r.status_code == 200:
                        if r.json()["outputs"][0]["data"] != list(range(16)):
                            failures.append(f"slow client {i}: {r.text}")
                        ok[0] += 1
                    elif clean_refusal(r):
                        refused[0] += 1
                    else:
                        failures.append(f"slow client {i}: HTTP "
                                        f"{r.status_code}: {r.text[:300]}")
                if r.status_code != 200:
                    time.sleep(0.01)

    threads = [threading.Thread(target=slow_client, args=(i,), daemon=True)
               for i in range(8)]
    others = Clients(srv, 4, model="simple").start()
    for t in threads:
        t.start()
    try:
        wait_until(lambda: ok[0] >= 16, 30, "slow model answered")
        r = http_unload(srv, "slow")
        assert r.status_code == 200, r.text
        wait_until(lambda: model_states(srv, "slow") ==
                   {"1": ("UNAVAILABLE", "unloaded")}, 30,
                   "slow shown as unloaded")
        # requests after the unload are refused cleanly
        n = refused[0]
        wait_until(lambda: refused[0] > n + 8, 30, "refusals after unload")
        before = others.snapshot()
        wait_until(lambda: others.each_answered(before), 30,
                   "simple still serving")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
        others.stop()
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert failures == [], f"{len(failures)} failures: {failures[:5]}"
    assert others.failures == [], others.failures[:5]
    r = requests.post(srv.url + "/v2/models/slow/infer", json=slow_body,
                      timeout=30)
    assert clean_refusal(r), r.text
    assert [e["name"] for e in http_index(srv, ready=True)] == ["simple"]
    check_simple_result(infer_simple(srv))
    # and it comes back
    assert http_load(srv, "slow").status_code == 200
    r = requests.post(srv.url + "/v2/models/slow/infer", json=slow_body,
                      timeout=30)
    assert r.status_code == 200, r.text
