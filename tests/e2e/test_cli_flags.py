"""Command-line parsing of the real binary: bad input exits 2 with one line
naming the flag and the value; --help/--version; flags that change what the
server reports."""

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import (INFERD_BACKEND_DIR, INFERD_BIN, REPO_ROOT, SIMPLE_CONFIG,
                      Model, free_port, identity_config, run_inferd,
                      sanitizer_report, write_repository)


def one_error_line(proc):
    """Asserts a usage error: exit 2, nothing on stdout, exactly one line on
    stderr; returns that line."""
    assert sanitizer_report(proc.stderr) is None, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_binary_exists():
    assert Path(INFERD_BIN).is_file(), f"{INFERD_BIN} missing: build first"


def test_unknown_flag(tmp_path):
    line = one_error_line(run_inferd([f"--model-repository={tmp_path}",
                                      "--no-such-flag=3"]))
    assert "unknown flag" in line and "--no-such-flag" in line


def test_unknown_flag_without_value(tmp_path):
    line = one_error_line(run_inferd(["--bogus", f"--model-repository={tmp_path}"]))
    assert "--bogus" in line


def test_positional_argument(tmp_path):
    line = one_error_line(run_inferd([f"--model-repository={tmp_path}", "extra"]))
    assert '"extra"' in line


def test_triton_flag_not_supported_yet(tmp_path):
    line = one_error_line(run_inferd([f"--model-repository={tmp_path}",
                                      "--grpc-use-ssl=true"]))
    assert "--grpc-use-ssl" in line and "not supported" in line


@pytest.mark.parametrize("flag,value", [
    ("--http-port", "abc"),
    ("--http-port", "70000"),
    ("--http-port", "-1"),
    ("--http-port", "8000x"),
    ("--http-thread-count", "0"),
    ("--exit-timeout-secs", "soon"),
    ("--http-max-input-size", "64MB"),
    ("--log-verbose", "-1"),
    ("--strict-readiness", "maybe"),
    ("--exit-on-error", "2"),
    ("--log-info", "perhaps"),
    ("--log-format", "json"),
    ("--model-control-mode", "sometimes"),
])
@pytest.mark.parametrize("form", ["equals", "separate"])
def test_bad_value(tmp_path, flag, value, form):
    args = [f"--model-repository={tmp_path}"]
    args += [f"{flag}={value}"] if form == "equals" else [flag, value]
    line = one_error_line(run_inferd(args))
    assert flag in line and f'"{value}"' in line, line


def test_missing_value(tmp_path):
    line = one_error_line(run_inferd([f"--model-repository={tmp_path}",
                                      "--http-port"]))
    assert "--http-port" in line and "missing value" in line


def test_missing_model_repository():
    line = one_error_line(run_inferd(["--http-port=8000"]))
    assert "--model-repository" in line


def test_empty_model_repository():
    line = one_error_line(run_inferd(["--model-repository="]))
    assert "--model-repository" in line


ALL_FLAGS = [
    "--model-repository", "--model-store", "--http-port", "--http-address",
    "--http-thread-count", "--id", "--strict-readiness", "--exit-on-error",
    "--exit-timeout-secs", "--backend-directory", "--log-verbose",
    "--log-info", "--log-warning", "--log-error", "--log-format",
    "--http-max-input-size", "--strict-model-config",
    "--disable-auto-complete-config", "--model-control-mode",
    "--model-config-name", "--allow-http", "--help", "--version",
]


def test_help_lists_every_flag_with_defaults():
    p = run_inferd(["--help"])
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    for flag in ALL_FLAGS:
        assert re.search(re.escape(flag) + r"[=\s]", p.stdout), flag
    for default in ["[default: 8000]", "[default: 0.0.0.0]", "[default: 30]",
                    "[default: true]", "[default: none]",
                    "[default: default]", "[default: 67108864]"]:
        assert default in p.stdout, default


def test_version():
    header = (REPO_ROOT / "include/inferd/version.h").read_text()
    version = re.search(r'INFERD_VERSION_STRING "([^"]+)"', header).group(1)
    p = run_inferd(["--version"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"inferd {version}"


def test_help_wins_over_missing_repository():
    assert run_inferd(["--help", "--http-port=1"]).returncode == 0


def test_nonexistent_repository_fails_to_start(start_server, tmp_path):
    missing = tmp_path / "does-not-exist"
    s = start_server(repo=None, extra_args=[f"--model-repository={missing}"],
                     expect_exit=True)
    assert s.proc.returncode == 1, s.log()
    assert "error: creating server:" in s.log()


def test_port_in_use_fails_to_start(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        s = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                         extra_args=[f"--http-port={port}"], expect_exit=True)
    assert s.proc.returncode == 1, s.log()
    assert "error" in s.log().lower()


def test_port_zero_picks_a_free_port(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                     extra_args=["--http-port=0"])
    assert s.port and s.port != 0
    assert requests.get(s.url + "/v2/health/live").status_code == 200
    assert s.stop() == 0


def test_started_line_names_address_and_port(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)})
    assert f"Started HTTPService at 127.0.0.1:{s.port}" in s.log()


@pytest.mark.parametrize("args", [["--id=my-inferd"], ["--id", "my-inferd"]])
def test_id_reported_by_server_metadata(start_server, args):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)}, extra_args=args)
    r = requests.get(s.url + "/v2")
    assert r.status_code == 200
    assert r.json()["name"] == "my-inferd"


def test_default_id(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)})
    assert requests.get(s.url + "/v2").json()["name"] == "inferd"


def test_model_store_alias_and_several_repositories(start_server, tmp_path):
    other = write_repository(tmp_path / "other", {
        "ident": Model(identity_config("ident", "FP32", [4]))})
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                     extra_args=[f"--model-store={other}"])
    for m in ("simple", "ident"):
        assert requests.get(f"{s.url}/v2/models/{m}/ready").status_code == 200


def test_iso8601_log_format(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                     extra_args=["--log-format=ISO8601"])
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ I .*Started HTTPService",
                     s.log(), re.M), s.log()


def test_log_info_off_silences_info_lines(start_server):
    s = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                     extra_args=["--log-info=false"])
    assert s.stop() == 0
    assert "Started HTTPService" not in s.log()


def test_allow_http_false_serves_nothing_and_stops_cleanly(tmp_path):
    # With HTTP off there is nothing to poll: drive the process directly.
    repo = write_repository(tmp_path / "repo", {"simple": Model(SIMPLE_CONFIG)})
    p = subprocess.Popen([INFERD_BIN, f"--model-repository={repo}",
                          f"--backend-directory={INFERD_BACKEND_DIR}",
                          "--allow-http=false",
                          f"--grpc-port={free_port()}"],
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out
    assert "HTTP disabled" in out
    assert sanitizer_report(out) is None, out


def test_model_control_mode_poll_runs_and_stops(tmp_path):
    p = subprocess.Popen([INFERD_BIN, f"--model-repository={tmp_path}",
                          f"--backend-directory={INFERD_BACKEND_DIR}",
                          "--http-address=127.0.0.1",
                          f"--http-port={free_port()}",
                          "--model-control-mode=poll"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, stdin=subprocess.DEVNULL)
    with pytest.raises(subprocess.TimeoutExpired):
        p.communicate(timeout=2)  # it serves: it must not exit by itself
    p.terminate()
    out, err = p.communicate(timeout=30)
    assert sanitizer_report(err) is None, err
    assert p.returncode == 0, err