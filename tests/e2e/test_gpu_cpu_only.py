"""The GPU layer on a CPU-only host (issue 10, DESIGN §5): a KIND_GPU model
is UNAVAILABLE with the reason while every other model serves, KIND_AUTO
runs on CPU, GPU ids are refused, tritonserver's GPU memory flags are
accepted (and logged as unused) or refused with the flag named, and the
cuda_add_sub backend refuses its instances with the CUDA runtime's reason.

On a host with a GPU these expectations do not hold: the module skips
itself there (scripts/gpu-check.sh runs the GPU checks instead)."""

import glob
import os
from pathlib import Path

import pytest
import requests

from conftest import (INFERD_BACKEND_DIR, SIMPLE_CONFIG, Model,
                      check_simple_result, error_of, http_load, infer_simple,
                      model_states, run_inferd, wait_until)


def _host_has_gpu():
    return bool(glob.glob("/dev/nvidia[0-9]*"))


pytestmark = pytest.mark.skipif(
    _host_has_gpu(), reason="a GPU is present: scripts/gpu-check.sh covers it")

# what the server's probe says on a CPU-only host: the runtime is missing,
# or it is there and finds no device
REASONS = ("could not be loaded", "no CUDA device (cudaGetDeviceCount: ")


def simple_config(name, group="", backend="add_sub"):
    cfg = SIMPLE_CONFIG.replace('name: "simple"', f'name: "{name}"')
    cfg = cfg.replace('backend: "add_sub"', f'backend: "{backend}"')
    return cfg + group


GPU_GROUP = 'instance_group [ { name: "g" kind: KIND_GPU gpus: [ 0 ] } ]\n'
AUTO_GROUP = 'instance_group [ { name: "a" kind: KIND_AUTO count: 2 } ]\n'


def wait_ready(server, name):
    wait_until(lambda: requests.get(
        f"{server.url}/v2/models/{name}/ready", timeout=5).status_code == 200,
        what=f"model {name} ready")


def wait_unavailable(server, name):
    def reason():
        # a config error leaves a name-only entry (""), a load error the
        # version's own
        for state, why in model_states(server, name).values():
            if state == "UNAVAILABLE":
                return why
        return None
    wait_until(lambda: reason() is not None,
               what=f"model {name} UNAVAILABLE")
    return reason()


def test_kind_gpu_unavailable_others_serve(start_server):
    s = start_server({"simple": Model(SIMPLE_CONFIG),
                      "gpu": Model(simple_config("gpu", GPU_GROUP)),
                      "auto": Model(simple_config("auto", AUTO_GROUP))},
                     extra_args=["--exit-on-error=false"], wait_ready=False)
    wait_ready(s, "simple")
    wait_ready(s, "auto")
    reason = wait_unavailable(s, "gpu")
    assert "KIND_GPU" in reason, reason
    check_simple_result(infer_simple(s, "simple"))
    check_simple_result(infer_simple(s, "auto"))
    # the startup log says once why there is no GPU
    assert "no CUDA GPU: " in s.log()


def test_kind_gpu_reason_names_library_or_device(start_server):
    s = start_server({"gpu": Model(simple_config("gpu", GPU_GROUP))},
                     extra_args=["--exit-on-error=false"], wait_ready=False)
    reason = wait_unavailable(s, "gpu")
    assert 'instance_group[0] "g": kind KIND_GPU needs a CUDA GPU: ' in reason, \
        reason
    assert any(r in reason for r in REASONS), reason


def test_kind_auto_serves_on_cpu(start_server):
    s = start_server({"auto": Model(simple_config("auto", AUTO_GROUP))})
    check_simple_result(infer_simple(s, "auto"))
    cfg = requests.get(f"{s.url}/v2/models/auto/config", timeout=10).json()
    groups = cfg["instance_group"]
    assert groups[0]["kind"] == "KIND_CPU" and groups[0]["count"] == 2, groups


def test_gpu_id_refused(start_server):
    s = start_server({"simple": Model(SIMPLE_CONFIG)},
                     extra_args=["--model-control-mode=explicit",
                                 "--load-model=simple"])
    group = ('instance_group [ { name: "g3" kind: KIND_GPU '
             'gpus: [ 3 ] } ]\n')
    (s.repo / "g3").mkdir()
    (s.repo / "g3" / "1").mkdir()
    (s.repo / "g3" / "config.pbtxt").write_text(simple_config("g3", group))
    r = http_load(s, "g3")
    assert r.status_code == 400, r.text
    assert "KIND_GPU" in error_of(r) and "g3" in error_of(r), error_of(r)
    check_simple_result(infer_simple(s, "simple"))


def test_gpu_memory_flags_accepted_and_unused(start_server):
    s = start_server({"simple": Model(SIMPLE_CONFIG)},
                     extra_args=["--pinned-memory-pool-byte-size=1048576",
                                 "--cuda-memory-pool-byte-size=0:67108864",
                                 "--cuda-memory-pool-byte-size=1:1Mi"])
    check_simple_result(infer_simple(s, "simple"))
    assert ("--pinned-memory-pool-byte-size and --cuda-memory-pool-byte-size "
            "are unused: ") in s.log()


@pytest.mark.parametrize("flag, fragment", [
    ("--pinned-memory-pool-byte-size=lots", '"lots"'),
    ("--cuda-memory-pool-byte-size=67108864", "<device id>:<bytes>"),
    ("--cuda-memory-pool-byte-size=x:1", "a device id from 0"),
    ("--cuda-memory-pool-byte-size=0:big", "a byte count after the ':'"),
])
def test_gpu_memory_flags_refused(tmp_path, flag, fragment):
    p = run_inferd([f"--model-repository={tmp_path}", flag])
    assert p.returncode != 0
    err = p.stdout + p.stderr
    assert flag.split("=")[0] in err and fragment in err, err
    assert "not implemented" not in err


def test_help_names_gpu_flags():
    p = run_inferd(["--help"])
    assert p.returncode == 0
    assert "--pinned-memory-pool-byte-size" in p.stdout
    assert "--cuda-memory-pool-byte-size" in p.stdout
    assert "CPU-only host accepted and unused" in p.stdout


CUDA_BACKEND = Path(INFERD_BACKEND_DIR) / "cuda_add_sub" / \
    "libinferd_cuda_add_sub.so"


@pytest.mark.skipif(not CUDA_BACKEND.exists(),
                    reason="cuda_add_sub not built (no nvcc at configure "
                    "time)")
def test_cuda_add_sub_refused_with_reason(start_server):
    s = start_server({"simple": Model(SIMPLE_CONFIG),
                      "cuda_simple": Model(simple_config(
                          "cuda_simple", backend="cuda_add_sub"))},
                     extra_args=["--exit-on-error=false"], wait_ready=False)
    wait_ready(s, "simple")
    reason = wait_unavailable(s, "cuda_simple")
    assert "backend cuda_add_sub needs a CUDA GPU: no CUDA device " \
        "(cudaGetDeviceCount: error " in reason, reason
    check_simple_result(infer_simple(s, "simple"))
