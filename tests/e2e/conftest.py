"""End-to-end test harness: starts the real inferd binary on a free loopback
port with a temporary model repository.

Environment:
  INFERD_BIN          the binary (default <repo>/build/inferd)
  INFERD_BACKEND_DIR  backend directory (default <dir of INFERD_BIN>/backends)
  INFERD_START_TIMEOUT  seconds to wait for a server to come up (default 20)
  INFERD_E2E_GRPC     "0": start servers with --allow-grpc=false (the TSan
                      run: Debian's libgrpc is not instrumented, so TSan
                      reports races inside it); gRPC tests then skip

Fixture `start_server` returns a function
    start_server(models=None, repo=None, extra_args=(), wait_ready=True,
                 expect_exit=False) -> Server
Every server a test starts is stopped at teardown (SIGTERM, then SIGKILL),
and the test fails if the server's log holds a sanitizer report.

Model lifecycle helpers (http_load, http_unload, http_index, model_states,
wait_until, raw_request, rss_kib, ...) are plain functions at the end of this
file; the marker `slow` tags tests that the TSan run deselects.

Tests import the helpers with `from conftest import Model, SIMPLE_CONFIG, ...`
(tests/e2e has no __init__.py, so pytest puts this directory on sys.path).
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running test (many load cycles); deselect "
        "with -m 'not slow' where time is short (e.g. the TSan run)")

REPO_ROOT = Path(__file__).resolve().parents[2]
INFERD_BIN = os.environ.get("INFERD_BIN", str(REPO_ROOT / "build" / "inferd"))
INFERD_BACKEND_DIR = os.environ.get(
    "INFERD_BACKEND_DIR", str(Path(INFERD_BIN).parent / "backends"))
START_TIMEOUT = float(os.environ.get("INFERD_START_TIMEOUT", "20"))
E2E_GRPC = os.environ.get("INFERD_E2E_GRPC", "1") != "0"

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
)

# ---------------------------------------------------------------- configs

SIMPLE_CONFIG = """\
name: "simple"
backend: "add_sub"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
"""


def config_type(datatype):
    """Protocol datatype ("FP32", "BYTES") -> config enum ("TYPE_FP32",
    "TYPE_STRING")."""
    return "TYPE_STRING" if datatype == "BYTES" else "TYPE_" + datatype


def _dims(dims):
    return "[ " + ", ".join(str(int(d)) for d in dims) + " ]"


def identity_config(name, datatype, dims, max_batch_size=0):
    """Config of an identity-backend model: INPUT0 -> OUTPUT0."""
    t = config_type(datatype)
    return f"""\
name: "{name}"
backend: "identity"
max_batch_size: {max_batch_size}
input [
  {{
    name: "INPUT0"
    data_type: {t}
    dims: {_dims(dims)}
  }}
]
output [
  {{
    name: "OUTPUT0"
    data_type: {t}
    dims: {_dims(dims)}
  }}
]
"""


def _pbtxt_string(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def testing_config(name, params, count=1, max_batch_size=0):
    """Config of a testing-backend model (FP32 INPUT0 [-1] -> OUTPUT0 [-1])
    with `count` CPU instances and the given config parameters (values are
    written as strings)."""
    parameters = "".join(
        f"parameters {{\n  key: {_pbtxt_string(k)}\n"
        f"  value {{ string_value: {_pbtxt_string(v)} }}\n}}\n"
        for k, v in (params or {}).items())
    return f"""\
name: "{name}"
backend: "testing"
max_batch_size: {max_batch_size}
input [
  {{
    name: "INPUT0"
    data_type: TYPE_FP32
    dims: [ -1 ]
  }}
]
output [
  {{
    name: "OUTPUT0"
    data_type: TYPE_FP32
    dims: [ -1 ]
  }}
]
instance_group [
  {{
    count: {count}
    kind: KIND_CPU
  }}
]
{parameters}"""


# Not a test class, whatever pytest's name heuristics think.
testing_config.__test__ = False


@dataclass
class Model:
    """A model to write into a repository: its config.pbtxt text, the
    version directories to create, and extra files (paths relative to the
    model directory, e.g. "1/model.onnx"; str is written as UTF-8)."""
    config: str
    versions: tuple = (1,)
    files: dict = field(default_factory=dict)


def write_repository(repo, models):
    """Writes models (dict name -> Model) under the directory repo."""
    repo = Path(repo)
    repo.mkdir(parents=True, exist_ok=True)
    for name, m in (models or {}).items():
        d = repo / name
        d.mkdir(parents=True, exist_ok=True)
        if m.config is not None:
            (d / "config.pbtxt").write_text(m.config)
        for v in m.versions:
            (d / str(v)).mkdir(exist_ok=True)
        for rel, content in (m.files or {}).items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
    return repo


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


def run_inferd(args, timeout=30):
    """Runs inferd with exactly these arguments (no defaults added) and
    returns the CompletedProcess (text stdout/stderr). For command-line tests
    of a process that exits by itself."""
    return subprocess.run([INFERD_BIN, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


_HAS_GRPC = []


def inferd_has_grpc():
    """True when INFERD_BIN was built with the gRPC frontend. --help lists
    the --grpc-* flags in every build, so look for the service name that
    only the gRPC frontend puts in the binary."""
    if not _HAS_GRPC:
        try:
            _HAS_GRPC.append(
                b"GRPCInferenceService" in Path(INFERD_BIN).read_bytes())
        except OSError:
            _HAS_GRPC.append(False)
    return _HAS_GRPC[0]


class Server:
    """A running (or exited) inferd process. grpc_port is the gRPC port the
    harness gave it (None: no gRPC frontend, or the test chose the flag)."""

    def __init__(self, proc, port, repo, log_path):
        self.proc = proc
        self.port = port
        self.grpc_port = None
        self.repo = Path(repo)
        self.log_path = Path(log_path)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        """Everything the process wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig (if still running) and waits up to timeout seconds;
        returns the exit code (negative: killed by that signal). If the
        process does not exit in time it is killed and AssertionError is
        raised with its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"inferd did not exit within {timeout}s of signal {sig}; "
                f"log:\n{self.log()}")

    def _teardown(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_http(server, path, deadline):
    """Polls GET path until 200; returns True, or False when the process
    exited or the deadline passed."""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        try:
            r = requests.get(server.url + path, timeout=2)
            if r.status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


_PORT_LINE = re.compile(r"Started HTTPService at \S*:(\d+)")


@pytest.fixture
def start_server(tmp_path):
    servers = []
    counter = [0]

    def start(models=None, repo=None, extra_args=(), wait_ready=True,
              expect_exit=False):
        counter[0] += 1
        n = counter[0]
        if repo is None:
            repo = Path(tempfile.mkdtemp(prefix=f"repo{n}_", dir=tmp_path))
        repo = write_repository(repo, models)
        extra_args = [str(a) for a in extra_args]
        port_given = any(a == "--http-port" or a.startswith("--http-port=")
                         for a in extra_args)
        port = None if port_given else free_port()
        args = [INFERD_BIN, f"--model-repository={repo}",
                "--http-address=127.0.0.1",
                f"--backend-directory={INFERD_BACKEND_DIR}"]
        if port is not None:
            args.append(f"--http-port={port}")
        grpc_port = None
        grpc_chosen = any(a.startswith(("--grpc-port", "--allow-grpc"))
                          for a in extra_args)
        if not E2E_GRPC and not grpc_chosen:
            args.append("--allow-grpc=false")
        elif inferd_has_grpc() and not grpc_chosen:
            grpc_port = free_port()
            args.append(f"--grpc-port={grpc_port}")
        args += extra_args

        log_path = tmp_path / f"inferd{n}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        server = Server(proc, port, repo, log_path)
        server.grpc_port = grpc_port
        servers.append(server)
        deadline = time.monotonic() + START_TIMEOUT

        if expect_exit:
            try:
                proc.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"inferd was expected to exit but still runs after "
                    f"{START_TIMEOUT}s; args {args}; log:\n{server.log()}")
            return server

        if port is None:  # the test chose the port (e.g. 0): read the log
            while time.monotonic() < deadline and proc.poll() is None:
                m = _PORT_LINE.search(server.log())
                if m:
                    server.port = int(m.group(1))
                    break
                time.sleep(0.05)
            if server.port is None:
                raise RuntimeError(
                    f"no 'Started HTTPService' line from inferd; args {args}; "
                    f"log:\n{server.log()}")

        if not _wait_http(server, "/v2/health/live", deadline) or (
                wait_ready and
                not _wait_http(server, "/v2/health/ready", deadline)):
            rc = proc.poll()
            what = (f"exited early with code {rc}" if rc is not None else
                    f"not {'ready' if wait_ready else 'live'} after "
                    f"{START_TIMEOUT}s")
            raise RuntimeError(
                f"inferd {what}; args {args}; log:\n{server.log()}")
        return server

    yield start

    problems = []
    for s in servers:
        s._teardown()
        marker = sanitizer_report(s.log())
        if marker:
            problems.append(f"inferd (pid {s.proc.pid}) reported "
                            f"'{marker}'; log:\n{s.log()}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# ------------------------------------------------- model lifecycle helpers
# Used by test_lifecycle_*.py (explicit/poll control modes, reload under
# load). Plain functions, no fixtures: each takes the Server it talks to.

# Triton's text for load/unload in control modes none and poll.
NOT_ALLOWED = ("explicit model load / unload is not allowed if polling is "
               "enabled")


def simple_config_json(name="simple", max_batch_size=8, version_policy=None,
                       parameters=None, backend="add_sub"):
    """The JSON form (reference §3.5) of SIMPLE_CONFIG, as a dict, for the
    `config` load parameter. version_policy: e.g. {"all": {}} or
    {"specific": {"versions": [1]}}; parameters: {key: string value}."""
    def io(n):
        return {"name": n, "data_type": "TYPE_INT32", "dims": [16]}
    cfg = {"name": name, "backend": backend,
           "max_batch_size": max_batch_size,
           "input": [io("INPUT0"), io("INPUT1")],
           "output": [io("OUTPUT0"), io("OUTPUT1")]}
    if version_policy is not None:
        cfg["version_policy"] = version_policy
    if parameters:
        cfg["parameters"] = {k: {"string_value": str(v)}
                             for k, v in parameters.items()}
    return cfg


def identity_config_json(name, datatype="FP32", dims=(4,), max_batch_size=0):
    """JSON config of an identity-backend model: INPUT0 -> OUTPUT0."""
    t = config_type(datatype)
    return {"name": name, "backend": "identity",
            "max_batch_size": max_batch_size,
            "input": [{"name": "INPUT0", "data_type": t, "dims": list(dims)}],
            "output": [{"name": "OUTPUT0", "data_type": t,
                        "dims": list(dims)}]}


def http_load(server, name, config=None, files=None, body=None, timeout=60):
    """POST /v2/repository/models/<name>/load. config: dict (sent as the JSON
    string Triton expects) or str (sent as is); files: {"1/model.x": bytes}
    sent base64-encoded as "file:<path>" parameters. body: send exactly this
    JSON instead. Returns the requests.Response."""
    if body is None:
        params = {}
        if config is not None:
            params["config"] = (config if isinstance(config, str)
                                else json.dumps(config))
        for path, data in (files or {}).items():
            params["file:" + path] = base64.b64encode(data).decode()
        body = {"parameters": params} if params else None
    url = f"{server.url}/v2/repository/models/{name}/load"
    if body is None:
        return requests.post(url, timeout=timeout)
    return requests.post(url, json=body, timeout=timeout)


def http_unload(server, name, unload_dependents=None, timeout=60):
    url = f"{server.url}/v2/repository/models/{name}/unload"
    if unload_dependents is None:
        return requests.post(url, timeout=timeout)
    return requests.post(
        url, json={"parameters": {"unload_dependents": unload_dependents}},
        timeout=timeout)


def http_index(server, ready=None, timeout=30):
    """The repository index as a list of dicts (asserts 200)."""
    url = f"{server.url}/v2/repository/index"
    r = (requests.post(url, timeout=timeout) if ready is None else
         requests.post(url, json={"ready": ready}, timeout=timeout))
    assert r.status_code == 200, r.text
    return r.json()


def index_entries(index, name):
    """The index entries of one model, sorted by version ("" first)."""
    return sorted((e for e in index if e["name"] == name),
                  key=lambda e: int(e.get("version", -1)))


def model_states(server, name):
    """{version string: (state, reason)} of one model in the index; a
    name-only entry appears as key ""."""
    return {e.get("version", ""): (e.get("state", ""), e.get("reason", ""))
            for e in index_entries(http_index(server), name)}


def error_of(r):
    """The "error" text of a JSON error response."""
    try:
        return r.json().get("error", r.text)
    except ValueError:
        return r.text


def wait_until(fn, timeout=15.0, what="condition", interval=0.1):
    """Calls fn until it returns a truthy value (returned) or timeout seconds
    passed (AssertionError naming `what` and fn's last value). Exceptions
    from fn count as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported below if it lasts
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not true after {timeout}s "
                                 f"(last: {last!r})")
        time.sleep(interval)


def simple_infer_body(a=None, b=None, batch=1):
    """JSON infer body for `simple` (add_sub INT32 [batch, 16])."""
    a = list(range(16 * batch)) if a is None else a
    b = [1] * (16 * batch) if b is None else b
    return {"inputs": [
        {"name": "INPUT0", "datatype": "INT32", "shape": [batch, 16],
         "data": a},
        {"name": "INPUT1", "datatype": "INT32", "shape": [batch, 16],
         "data": b}]}


def infer_simple(server, name="simple", session=None, timeout=30, batch=1):
    """One JSON inference on an add_sub model; returns the Response."""
    post = (session or requests).post
    return post(f"{server.url}/v2/models/{name}/infer",
                json=simple_infer_body(batch=batch), timeout=timeout)


def check_simple_result(r):
    """Asserts r is a correct add_sub answer for simple_infer_body()."""
    assert r.status_code == 200, r.text
    out = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert out["OUTPUT0"] == [x + 1 for x in range(16)]
    assert out["OUTPUT1"] == [x - 1 for x in range(16)]


def raw_request(server, method, path, body=b"", timeout=30):
    """Sends path exactly as given (no dot-segment removal or quoting, unlike
    requests/urllib3). Returns (status, decoded body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        if body:
            conn.putheader("Content-Type", "application/json")
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def rss_kib(pid):
    """VmRSS of a process in KiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


_SANITIZER = []


def inferd_sanitizer():
    """"asan", "tsan" or None: the sanitizer INFERD_BIN was built with (its
    runtime's init symbol is in the binary)."""
    if not _SANITIZER:
        try:
            data = Path(INFERD_BIN).read_bytes()
        except OSError:
            data = b""
        _SANITIZER.append("asan" if b"__asan_init" in data else
                          "tsan" if b"__tsan_init" in data else None)
    return _SANITIZER[0]
