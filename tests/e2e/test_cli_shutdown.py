"""Signals: SIGTERM/SIGINT let an in-flight request finish, refuse new
connections at once, and exit 0; --exit-timeout-secs bounds the wait."""

import signal
import socket
import threading
import time

import pytest
import requests

from conftest import SIMPLE_CONFIG, Model, testing_config

SLOW_MS = 1500


def slow_request_body():
    return {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [4],
                        "data": [1.0, 2.0, 3.0, 4.5]}]}


def connection_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        # a connection caught in the closing listen queue is reset: refused
        return True


def post_in_background(url, body, timeout=30):
    """Starts a POST in a thread; returns (thread, result dict)."""
    result = {}

    def run():
        t0 = time.monotonic()
        try:
            result["response"] = requests.post(url, json=body, timeout=timeout)
        except requests.RequestException as e:
            result["error"] = e
        result["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_in_flight_request(start_server, sig):
    s = start_server(models={
        "slow": Model(testing_config("slow", {"execute_delay_ms": SLOW_MS}))})
    t, result = post_in_background(s.url + "/v2/models/slow/infer",
                                   slow_request_body())
    time.sleep(0.4)  # the request is now executing
    signalled = time.monotonic()
    s.proc.send_signal(sig)

    # New connections are refused well before the slow request is done.
    refused_at = None
    while time.monotonic() - signalled < 1.0:
        if connection_refused(s.port):
            refused_at = time.monotonic()
            break
        time.sleep(0.02)
    assert refused_at is not None, "new connections still accepted after " \
        "the signal:\n" + s.log()

    t.join(timeout=30)
    assert "error" not in result, f"{result.get('error')}\n{s.log()}"
    r = result["response"]
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["OUTPUT0"]["data"] == [1.0, 2.0, 3.0, 4.5]
    assert refused_at < signalled + SLOW_MS / 1000.0

    # the server was signalled already: wait for it, don't signal again
    assert s.proc.wait(timeout=30) == 0, s.log()
    assert "Received SIG" in s.log()


def test_idle_server_exits_promptly(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)})
    t0 = time.monotonic()
    assert s.stop(signal.SIGTERM) == 0, s.log()
    assert time.monotonic() - t0 < 5


def test_exit_timeout_bounds_shutdown(start_server):
    s = start_server(
        models={"slow": Model(testing_config("slow",
                                             {"execute_delay_ms": 8000}))},
        extra_args=["--exit-timeout-secs=1"])
    t, result = post_in_background(s.url + "/v2/models/slow/infer",
                                   slow_request_body())
    time.sleep(0.4)
    t0 = time.monotonic()
    rc = s.stop(signal.SIGTERM, timeout=30)
    elapsed = time.monotonic() - t0
    # The request outlives the timeout: the server gives up after ~1 s and
    # says so with exit code 1.
    assert rc == 1, s.log()
    assert elapsed < 6, (elapsed, s.log())
    assert "shutdown" in s.log()
    t.join(timeout=30)
    if "response" in result:
        assert result["response"].status_code != 200
