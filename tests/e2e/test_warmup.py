"""model_warmup (reference §3, ModelWarmup): samples run after the instances
and the scheduler exist and before the version turns READY. zero_data,
random_data and input_data_file inputs; count (0 = once) and batch_size on a
batching model, proven by the testing backend's batch record; a failing
sample fails the load naming the sample; config errors (missing data file,
a path leaving warmup/) name the file; warmup executions count in the
statistics extension, as in Triton."""
import json
import re
import struct
import time

import numpy as np
import pytest
import requests

from conftest import Model
from test_backends_helpers import (error_text, infer_binary, model_config,
                                   wait_settled)


def warmup_block(samples):
    """samples: list of (name, batch_size, count, inputs) with inputs a list
    of (input name, config data type, dims, source) where source is "zero",
    "random" or a file name."""
    text = "model_warmup [\n"
    for i, (name, batch, count, inputs) in enumerate(samples):
        text += "  {\n" f'    name: "{name}"\n    batch_size: {batch}\n'
        if count is not None:
            text += f"    count: {count}\n"
        for iname, dt, dims, src in inputs:
            data = {"zero": "zero_data: true",
                    "random": "random_data: true"}.get(
                        src, f'input_data_file: "{src}"')
            text += (f'    inputs {{ key: "{iname}" value {{ data_type: {dt} '
                     f'dims: [ {", ".join(str(d) for d in dims)} ] {data} }} }}\n')
        text += "  }" + ("," if i + 1 < len(samples) else "") + "\n"
    return text + "]\n"


def tcfg(name, params=None, max_batch_size=0, dims=(-1,), dtype="INT32",
         count=1):
    return model_config(name, "testing", [("INPUT0", dtype, list(dims))],
                        [("OUTPUT0", dtype, list(dims))],
                        max_batch_size=max_batch_size, params=params,
                        count=count)


def simple_cfg(name):
    return model_config(name, "add_sub",
                        [("INPUT0", "INT32", [16]), ("INPUT1", "INT32", [16])],
                        [("OUTPUT0", "INT32", [16]), ("OUTPUT1", "INT32", [16])],
                        max_batch_size=8)


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def stats(url, model):
    r = requests.get(f"{url}/v2/models/{model}/stats", timeout=10)
    assert r.status_code == 200, r.text
    (s,) = r.json()["model_stats"]
    return s


def test_zero_data_runs_once_before_ready(start_server, tmp_path):
    rec = tmp_path / "zero.jsonl"
    cfg = tcfg("z", {"record_batches_file": str(rec)}, max_batch_size=8) + \
        warmup_block([("zeros", 1, None, [("INPUT0", "TYPE_INT32", [3], "zero")])])
    srv = start_server(models={"z": Model(cfg)})
    # ready now, and nobody sent a request: the one record is the warmup's
    assert records(rec) == [{"batch_size": 1, "requests": 1,
                             "instance": "z_0_0", "ids": [""]}]
    log = srv.log()
    assert re.search(r'model "z" version 1: warmup sample "zeros" \(count 1\) '
                     r'done in [0-9.]+ ms', log), log
    # warmup finished before the version was reported loaded
    assert log.index('warmup sample "zeros"') < log.index('loaded model "z"')
    r, _, out = infer_binary(srv.url, "z", [("INPUT0", "INT32", [1, 2],
                                             np.array([[5, 6]]))])
    assert r.status_code == 200, error_text(r)
    assert len(records(rec)) == 2


def test_count_and_batch_size_on_batching_model(start_server, tmp_path):
    rec = tmp_path / "cb.jsonl"
    cfg = tcfg("cb", {"record_batches_file": str(rec),
                      "execute_delay_ms": 200}, max_batch_size=8) + \
        warmup_block([("b4", 4, 3, [("INPUT0", "TYPE_INT32", [2], "random")])])
    srv = start_server(models={"cb": Model(cfg)})
    lines = records(rec)
    assert [(l["batch_size"], l["requests"]) for l in lines] == [(4, 1)] * 3
    m = re.search(r'warmup sample "b4" \(count 3\) done in ([0-9.]+) ms',
                  srv.log())
    assert m, srv.log()
    assert float(m.group(1)) >= 3 * 200 * 0.95  # three executions, one by one


def test_count_zero_means_once(start_server, tmp_path):
    rec = tmp_path / "c0.jsonl"
    cfg = tcfg("c0", {"record_batches_file": str(rec)}) + \
        warmup_block([("once", 1, 0, [("INPUT0", "TYPE_INT32", [4], "zero")])])
    start_server(models={"c0": Model(cfg)})
    # non-batching model: batch_size counts requests
    assert [(l["batch_size"], l["requests"]) for l in records(rec)] == [(1, 1)]


def test_batch_size_zero_sample_is_skipped(start_server, tmp_path):
    rec = tmp_path / "skip.jsonl"
    cfg = tcfg("skip", {"record_batches_file": str(rec)}, max_batch_size=4) + \
        warmup_block([("none", 0, 5, [("INPUT0", "TYPE_INT32", [4], "zero")]),
                      ("one", 2, 1, [("INPUT0", "TYPE_INT32", [4], "zero")])])
    start_server(models={"skip": Model(cfg)})
    assert [l["batch_size"] for l in records(rec)] == [2]


def test_random_zero_and_file_data_on_add_sub(start_server):
    ints = np.arange(16, dtype=np.int32)
    cfg = simple_cfg("simple") + warmup_block([
        ("rand", 2, 2, [("INPUT0", "TYPE_INT32", [16], "random"),
                        ("INPUT1", "TYPE_INT32", [16], "zero")]),
        ("file", 8, None, [("INPUT0", "TYPE_INT32", [16], "in0.bin"),
                           ("INPUT1", "TYPE_INT32", [16], "sub/in1.bin")]),
    ])
    srv = start_server(models={"simple": Model(cfg, files={
        "warmup/in0.bin": ints.tobytes(),
        "warmup/sub/in1.bin": (ints * 2).tobytes()})})
    log = srv.log()
    assert 'warmup sample "rand" (count 2) done' in log, log
    assert 'warmup sample "file" (count 1) done' in log, log
    s = stats(srv.url, "simple")
    assert s["execution_count"] == 3
    assert s["inference_count"] == 2 * 2 + 8


def test_bytes_inputs_zero_random_and_framed_file(start_server):
    framed = b"".join(struct.pack("<I", len(x)) + x
                      for x in (b"ab", b"", b"xyz"))
    cfg = model_config("s", "identity", [("INPUT0", "BYTES", [-1])],
                       [("OUTPUT0", "BYTES", [-1])], max_batch_size=4) + \
        warmup_block([
            ("z", 2, None, [("INPUT0", "TYPE_STRING", [5], "zero")]),
            ("r", 1, None, [("INPUT0", "TYPE_STRING", [5], "random")]),
            ("f", 3, None, [("INPUT0", "TYPE_STRING", [3], "strings")]),
        ])
    srv = start_server(models={"s": Model(cfg, files={"warmup/strings": framed})})
    for name in ("z", "r", "f"):
        assert f'warmup sample "{name}" (count 1) done' in srv.log()
    assert stats(srv.url, "s")["inference_count"] == 2 + 1 + 3


def test_statistics_count_warmup_executions(start_server, tmp_path):
    cfg = tcfg("st", max_batch_size=8) + \
        warmup_block([("b4", 4, 3, [("INPUT0", "TYPE_INT32", [2], "zero")])])
    srv = start_server(models={"st": Model(cfg)})
    s = stats(srv.url, "st")
    # as Triton, whose warmup requests report statistics like any other
    assert s["execution_count"] == 3
    assert s["inference_count"] == 12
    assert s["inference_stats"]["success"]["count"] == 3
    assert s["last_inference"] > 0
    assert [(b["batch_size"], b["compute_infer"]["count"])
            for b in s["batch_stats"]] == [(4, 3)]
    r, _, _ = infer_binary(srv.url, "st", [("INPUT0", "INT32", [1, 2],
                                            np.array([[1, 2]]))])
    assert r.status_code == 200, error_text(r)
    s = stats(srv.url, "st")
    assert s["execution_count"] == 4 and s["inference_count"] == 13


def test_failing_sample_fails_startup(start_server):
    cfg = tcfg("bad", {"fail_execute": "true"}) + \
        warmup_block([("s1", 1, None, [("INPUT0", "TYPE_INT32", [2], "zero")])])
    srv = start_server(models={"bad": Model(cfg)}, expect_exit=True)
    assert srv.proc.returncode == 1, srv.log()
    assert ('model "bad" version 1: warmup sample "s1": model "bad": execute '
            'failed on purpose (fail_execute)') in srv.log()


def test_failing_sample_leaves_model_unavailable(start_server, tmp_path):
    rec = tmp_path / "second.jsonl"
    models = {
        # the response of the second iteration is an error
        "flaky": Model(tcfg("flaky", {"fail_every_n": 2}) + warmup_block(
            [("s1", 1, 5, [("INPUT0", "TYPE_INT32", [2], "zero")])])),
        # the second sample has a data file too short for its dims
        "short": Model(simple_cfg("short") + warmup_block([
            ("ok", 1, None, [("INPUT0", "TYPE_INT32", [16], "zero"),
                             ("INPUT1", "TYPE_INT32", [16], "zero")]),
            ("s2", 1, None, [("INPUT0", "TYPE_INT32", [16], "zero"),
                             ("INPUT1", "TYPE_INT32", [16], "small.bin")]),
        ]), files={"warmup/small.bin": b"\0" * 60}),
        "good": Model(tcfg("good", {"record_batches_file": str(rec)}) +
                      warmup_block([("w", 1, None, [("INPUT0", "TYPE_INT32",
                                                     [2], "zero")])])),
    }
    srv = start_server(models=models, extra_args=("--exit-on-error=false",),
                       wait_ready=False)
    idx = wait_settled(srv.url, models)
    e = idx["flaky"]
    assert e.get("state") == "UNAVAILABLE", e
    assert e["reason"] == ('model "flaky" version 1: warmup sample "s1": '
                           'model "flaky": request 2 failed on purpose '
                           '(fail_every_n=2)'), e
    e = idx["short"]
    assert e.get("state") == "UNAVAILABLE", e
    assert e["reason"] == ('model "short" version 1: warmup sample "s2": '
                           'input "INPUT1": input_data_file "small.bin": '
                           'expected at least 64 bytes for dims [16] of '
                           'TYPE_INT32, got 60'), e
    assert idx["good"].get("state") == "READY", idx
    assert len(records(rec)) == 1
    r = requests.get(f"{srv.url}/v2/models/flaky/ready", timeout=10)
    assert r.status_code != 200


def test_missing_data_file_is_a_config_error(start_server):
    models = {
        "nofile": Model(tcfg("nofile") + warmup_block(
            [("s", 1, None, [("INPUT0", "TYPE_INT32", [2], "nope.bin")])])),
        "escape": Model(tcfg("escape") + warmup_block(
            [("s", 1, None, [("INPUT0", "TYPE_INT32", [2], "../config.pbtxt")])])),
    }
    srv = start_server(models=models, extra_args=("--exit-on-error=false",),
                       wait_ready=False)
    idx = wait_settled(srv.url, models)
    e = idx["nofile"]
    assert e.get("state") == "UNAVAILABLE", e
    assert re.fullmatch(
        r'.*/nofile/config\.pbtxt:\d+:\d+: model_warmup\[0\] "s": input '
        r'"INPUT0": input_data_file "nope\.bin": cannot open '
        r'.*/nofile/warmup/nope\.bin: No such file or directory', e["reason"]), e
    e = idx["escape"]
    assert e.get("state") == "UNAVAILABLE", e
    assert 'input_data_file "../config.pbtxt" must be a relative path inside ' \
        "the model's warmup/ directory" in e["reason"], e


def test_non_batching_model_rejects_batch_size_above_one(start_server):
    models = {"nb": Model(tcfg("nb") + warmup_block(
        [("s", 4, None, [("INPUT0", "TYPE_INT32", [2], "zero")])]))}
    srv = start_server(models=models, extra_args=("--exit-on-error=false",),
                       wait_ready=False)
    e = wait_settled(srv.url, models)["nb"]
    assert e.get("state") == "UNAVAILABLE", e
    assert 'model_warmup[0] "s": batch_size must be 0 or 1 for a model that ' \
        "does not batch (max_batch_size 0), got 4" in e["reason"], e


# The repository API's load (explicit mode) is being built beside this
# feature; these turn into passes when it lands.
def test_explicit_load_waits_for_warmup(start_server, tmp_path):
    rec = tmp_path / "load.jsonl"
    models = {"lw": Model(tcfg("lw", {"record_batches_file": str(rec),
                                      "execute_delay_ms": 300}) + warmup_block(
        [("s", 1, 2, [("INPUT0", "TYPE_INT32", [2], "zero")])]))}
    srv = start_server(models=models,
                       extra_args=("--model-control-mode=explicit",))
    t0 = time.monotonic()
    r = requests.post(f"{srv.url}/v2/repository/models/lw/load", timeout=30)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert elapsed >= 0.55, elapsed  # READY only after both executions
    assert len(records(rec)) == 2
    assert requests.get(f"{srv.url}/v2/models/lw/ready",
                        timeout=10).status_code == 200


def test_explicit_load_with_failing_warmup(start_server):
    models = {"lf": Model(tcfg("lf", {"fail_execute": "true"}) + warmup_block(
        [("s1", 1, None, [("INPUT0", "TYPE_INT32", [2], "zero")])]))}
    srv = start_server(models=models,
                       extra_args=("--model-control-mode=explicit",))
    r = requests.post(f"{srv.url}/v2/repository/models/lf/load", timeout=30)
    assert r.status_code == 400, r.text  # INVALID_ARG, as Triton
    assert 'warmup sample "s1"' in error_text(r), r.text
    e = wait_settled(srv.url, models)["lf"]
    assert e.get("state") == "UNAVAILABLE" and \
        'warmup sample "s1"' in e.get("reason", ""), e
