"""The Prometheus metrics endpoint (reference §6): its own listener, Triton's
families with their names, types and labels, values equal to the statistics
extension's for the same traffic, inferd_* families, flags; and a real
Prometheus scraping inferd."""

import json
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import Model, free_port, testing_config

_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Parses the text format 0.0.4 strictly: returns ({family: type},
    [(name, {label: value}, float)]). Asserts HELP/TYPE come once per family
    and before its samples, and that every sample belongs to a declared
    family."""
    types, samples, seen = {}, [], set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            assert typ in ("counter", "gauge", "histogram", "summary")
            types[name] = typ
            continue
        assert not line.startswith("#"), line
        m = _SAMPLE.match(line)
        assert m, f"bad sample line {line!r}"
        name, _, lbl, value = m.groups()
        labels = dict(_LABEL.findall(lbl or ""))
        if lbl:  # every byte of the label set was a label
            rebuilt = ",".join(f'{k}="{v}"' for k, v in _LABEL.findall(lbl))
            assert rebuilt == lbl, line
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[:-len(suf)] in types:
                fam = name[:-len(suf)]
        assert fam in types, f"sample of undeclared family: {line}"
        samples.append((name, labels, float(value)))
        seen.add(fam)
    return types, samples


def scrape(port, host="127.0.0.1"):
    r = requests.get(f"http://{host}:{port}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "version=0.0.4" in r.headers["Content-Type"]
    return parse(r.text)


def value(samples, name, **labels):
    got = [v for n, lbl, v in samples
           if n == name and all(lbl.get(k) == w for k, w in labels.items())]
    assert len(got) == 1, (name, labels, got)
    return got[0]


def metrics_args(port):
    return [f"--metrics-port={port}", "--metrics-interval-ms=200"]


def infer_body(values, batch=1, params=None):
    b = {"inputs": [{"name": "INPUT0", "shape": [batch, len(values) // batch],
                     "datatype": "FP32", "data": values}]}
    if params:
        b["parameters"] = params
    return b


TRITON_COUNTERS = [
    "nv_inference_request_success", "nv_inference_request_failure",
    "nv_inference_count", "nv_inference_exec_count",
    "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
    "nv_cache_num_hits_per_model", "nv_cache_num_misses_per_model",
    "nv_cache_hit_duration_per_model", "nv_cache_miss_duration_per_model"]
TRITON_GAUGES = ["nv_inference_pending_request_count",
                 "nv_model_load_duration_secs", "nv_cpu_utilization",
                 "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes",
                 "nv_pinned_memory_pool_total_bytes",
                 "nv_pinned_memory_pool_used_bytes"]


def test_every_family_after_traffic_equals_statistics(start_server, tmp_path):
    """Success (batch 1 and 4), a BACKEND failure, a REJECTED (queue full and
    queue timeout) and a CANCELED (client gone while queued) request; every
    family present with Triton's type and labels, values equal to the
    statistics extension's."""
    cfg = testing_config("m", {"execute_delay_ms": "0"}, max_batch_size=8) + \
        'metric_tags { key: "team" value: "vision" }\n'
    slow = testing_config("slow", {"execute_delay_ms": "600"},
                          max_batch_size=1) + (
        "dynamic_batching { max_queue_delay_microseconds: 0 "
        "default_queue_policy { max_queue_size: 1 "
        "default_timeout_microseconds: 10000000 "
        "allow_timeout_override: true } }\n")
    mport = free_port()
    srv = start_server({"m": Model(cfg), "slow": Model(slow)},
                       extra_args=metrics_args(mport))
    url = srv.url + "/v2/models/m/infer"
    for _ in range(3):
        assert requests.post(url, json=infer_body([1.0, 2.0]), timeout=10).ok
    for _ in range(2):
        assert requests.post(url, json=infer_body([1.0] * 8, batch=4),
                             timeout=10).ok
    r = requests.post(url, json=infer_body([1.0], params={"fail": True}),
                      timeout=10)
    assert r.status_code == 500

    # slow: one executing, one queued that times out, one refused (queue
    # full), one queued whose client goes away (CANCELED)
    surl = srv.url + "/v2/models/slow/infer"
    codes = {}

    def send(tag, params=None):
        codes[tag] = requests.post(surl, json=infer_body([1.0], params=params),
                                   timeout=30).status_code

    running = threading.Thread(target=send, args=("running",))
    running.start()
    time.sleep(0.2)
    waiting = threading.Thread(target=send,
                               args=("waiting", {"timeout": 100000}))
    waiting.start()
    time.sleep(0.05)
    send("refused")
    waiting.join()
    running.join()
    assert codes == {"running": 200, "waiting": 503, "refused": 503}, codes
    running = threading.Thread(target=send, args=("running2",))
    running.start()
    time.sleep(0.2)
    body = json.dumps(infer_body([2.0])).encode()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" +
              body)
    time.sleep(0.2)
    s.close()
    running.join()
    time.sleep(0.3)

    types, samples = scrape(mport)
    for f in TRITON_COUNTERS:
        assert types.get(f) == "counter", f
    for f in TRITON_GAUGES:
        assert types.get(f) == "gauge", f
    assert types["inferd_request_duration_seconds"] == "histogram"
    assert types["inferd_queue_duration_seconds"] == "histogram"
    assert types["inferd_model_memory_bytes"] == "gauge"
    assert "nv_inference_first_response_histogram_ms" not in types  # off
    assert not any(n.startswith("nv_gpu_") for n in types)  # no NVML here
    assert "GPU metrics off" in srv.log()

    st = {s["name"]: s for s in requests.get(
        srv.url + "/v2/models/stats", timeout=10).json()["model_stats"]}
    for model in ("m", "slow"):
        s = st[model]
        inf = s["inference_stats"]
        lbl = {"model": model, "version": "1"}
        if model == "m":
            lbl["_team"] = "vision"
        assert value(samples, "nv_inference_request_success", **lbl) == \
            inf["success"]["count"]
        fails = {r: value(samples, "nv_inference_request_failure",
                          reason=r, **lbl)
                 for r in ("REJECTED", "CANCELED", "BACKEND", "OTHER")}
        assert sum(fails.values()) == inf["fail"]["count"]
        assert value(samples, "nv_inference_count", **lbl) == \
            s["inference_count"]
        assert value(samples, "nv_inference_exec_count", **lbl) == \
            s["execution_count"]
        for fam, key in [("request", None), ("queue", "queue"),
                         ("compute_input", "compute_input"),
                         ("compute_infer", "compute_infer"),
                         ("compute_output", "compute_output")]:
            ns = (inf["success"]["ns"] + inf["fail"]["ns"] if key is None
                  else inf[key]["ns"])
            name = ("nv_inference_request_duration_us" if key is None else
                    f"nv_inference_{fam}_duration_us")
            assert value(samples, name, **lbl) == ns // 1000, name
        assert value(samples, "nv_inference_pending_request_count",
                     **lbl) == 0
        assert value(samples, "nv_model_load_duration_secs", **lbl) > 0
        assert value(samples, "nv_cache_num_hits_per_model", **lbl) == 0
        # the histograms count what the statistics count
        assert value(samples, "inferd_request_duration_seconds_count",
                     **lbl) == inf["success"]["count"] + inf["fail"]["count"]
        assert value(samples, "inferd_queue_duration_seconds_count",
                     **lbl) == inf["queue"]["count"]
        assert value(samples, "inferd_request_duration_seconds_bucket",
                     le="+Inf", **lbl) == \
            inf["success"]["count"] + inf["fail"]["count"]
        if model == "m":
            assert fails == {"REJECTED": 0, "CANCELED": 0, "BACKEND": 1,
                             "OTHER": 0}
            assert s["inference_count"] == 3 + 8
        else:
            assert fails == {"REJECTED": 2, "CANCELED": 1, "BACKEND": 0,
                             "OTHER": 0}, fails
    assert value(samples, "inferd_model_loads_total", model="m") == 1
    assert value(samples, "inferd_model_state", model="m", version="1",
                 state="READY") == 1
    assert 0 <= value(samples, "nv_cpu_utilization") <= 1
    assert value(samples, "nv_cpu_memory_total_bytes") > \
        value(samples, "nv_cpu_memory_used_bytes") > 0


def test_listener_methods_paths_and_address(start_server):
    mport = free_port()
    srv = start_server({"m": Model(testing_config("m", {}))},
                       extra_args=metrics_args(mport) +
                       ["--metrics-address=127.0.0.2"])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{mport}/metrics", timeout=5)
    base = f"http://127.0.0.2:{mport}"
    assert requests.get(base + "/metrics/", timeout=5).status_code == 200
    r = requests.get(base + "/other", timeout=5)
    assert r.status_code == 200 and r.text == ""
    for verb in ("POST", "PUT", "DELETE"):
        assert requests.request(verb, base + "/metrics",
                                timeout=5).status_code == 405
    # the HTTP port has no /metrics (it has its own listener)
    assert requests.get(srv.url + "/metrics", timeout=5).status_code == 404


def test_metrics_off(start_server):
    mport = free_port()
    srv = start_server({"m": Model(testing_config("m", {}))},
                       extra_args=metrics_args(mport) +
                       ["--allow-metrics=false"])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{mport}/metrics", timeout=5)
    assert requests.get(srv.url + "/v2/health/ready", timeout=5).ok


def test_metrics_config(start_server):
    mport = free_port()
    srv = start_server(
        {"m": Model(testing_config("m", {}))},
        extra_args=metrics_args(mport) + [
            "--metrics-config=counter_latencies=false",
            "--metrics-config", "histogram_latencies=true",
            "--allow-cpu-metrics=false"])
    assert requests.post(srv.url + "/v2/models/m/infer",
                         json={"inputs": [{"name": "INPUT0", "shape": [2],
                                           "datatype": "FP32",
                                           "data": [1, 2]}]},
                         timeout=10).ok
    types, samples = scrape(mport)
    assert "nv_inference_request_duration_us" not in types
    assert "nv_inference_queue_duration_us" not in types
    assert "nv_cpu_utilization" not in types
    assert types["nv_inference_first_response_histogram_ms"] == "histogram"
    les = [lbl["le"] for n, lbl, v in samples
           if n == "nv_inference_first_response_histogram_ms_bucket"]
    assert les == ["100", "500", "2000", "5000", "+Inf"]
    assert value(samples, "nv_inference_first_response_histogram_ms_count",
                 model="m", version="1") == 1


@pytest.mark.parametrize("flag,msg", [
    ("--metrics-config=nope=1", 'unknown key "nope"'),
    ("--metrics-config=counter_latencies=maybe", "expected true or false"),
    ("--metrics-config=summary_quantiles=2:0.1", "summary_quantiles"),
    ("--metrics-port=70000", "--metrics-port"),
])
def test_bad_metrics_flags(start_server, flag, msg):
    srv = start_server({}, extra_args=[flag], expect_exit=True)
    assert srv.proc.returncode == 2
    assert msg in srv.log()


def test_port_taken_explicitly_is_an_error(start_server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        srv = start_server({}, extra_args=[f"--metrics-port={port}"],
                           expect_exit=True)
        assert srv.proc.returncode == 1
        assert "metrics" in srv.log()
    finally:
        s.close()


def test_concurrent_scrapes_during_load_and_unload(start_server):
    """Scrapes while requests run and a model is loaded and unloaded: every
    scrape parses and never blocks inference."""
    mport = free_port()
    srv = start_server({"m": Model(testing_config("m", {})),
                        "n": Model(testing_config("n", {}))},
                       extra_args=metrics_args(mport) + [
                           "--model-control-mode=explicit",
                           "--load-model=m"])
    stop = threading.Event()
    errors = []

    def scraper():
        while not stop.is_set():
            try:
                scrape(mport)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))

    def client():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.post(srv.url + "/v2/models/m/infer",
                           json={"inputs": [{"name": "INPUT0", "shape": [1],
                                             "datatype": "FP32",
                                             "data": [1]}]}, timeout=10)
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=scraper) for _ in range(3)] + \
        [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        assert requests.post(srv.url + "/v2/repository/models/n/load",
                             timeout=30).ok
        assert requests.post(srv.url + "/v2/repository/models/n/unload",
                             timeout=30).ok
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    types, samples = scrape(mport)
    assert value(samples, "inferd_model_loads_total", model="n") == 5
    assert not [1 for n, lbl, v in samples
                if n == "nv_inference_count" and lbl.get("model") == "n"]


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed "
                           "(scripts/setup-deps.sh --observability)")
def test_real_prometheus_scrapes_inferd(start_server, tmp_path):
    mport = free_port()
    srv = start_server({"simple": Model(testing_config("simple", {},
                                                       max_batch_size=8))},
                       extra_args=metrics_args(mport))
    n_requests, inferences = 7, 0
    for i in range(n_requests):
        batch = 1 + i % 3
        assert requests.post(srv.url + "/v2/models/simple/infer",
                             json=infer_body([1.0] * batch, batch=batch),
                             timeout=10).ok
        inferences += batch
    pport = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: inferd\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{mport}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={cfg}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{pport}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        api = f"http://127.0.0.1:{pport}/api/v1"
        deadline = time.monotonic() + 60
        got = None
        while time.monotonic() < deadline:
            try:
                r = requests.get(api + "/query", params={
                    "query": 'nv_inference_count{model="simple"}'},
                    timeout=5)
                res = r.json()["data"]["result"]
                if res:
                    got = res
                    break
            except (requests.ConnectionError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        assert got, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert float(got[0]["value"][1]) == inferences
        assert got[0]["metric"]["version"] == "1"
        # the target is up and its scrape had no error
        t = requests.get(api + "/targets", timeout=5).json()
        (target,) = t["data"]["activeTargets"]
        assert target["health"] == "up", target
        r = requests.get(api + "/query", params={
            "query": 'nv_inference_request_success{model="simple"}'},
            timeout=5).json()["data"]["result"]
        assert float(r[0]["value"][1]) == n_requests
        r = requests.get(api + "/query", params={
            "query": 'histogram_quantile(0.5, '
                     'inferd_request_duration_seconds_bucket)'},
            timeout=5).json()["data"]["result"]
        assert r and float(r[0]["value"][1]) >= 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
