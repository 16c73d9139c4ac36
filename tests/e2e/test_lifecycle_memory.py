"""End-to-end test that model load/unload does not leak: 100 cycles of
load, infer, unload of `simple` in explicit mode leave the server's resident
set (VmRSS) within max(5 %, 5 MiB) of what it was after the first cycle.
Marked slow (deselected in the TSan run); skipped under sanitizers, whose
quarantine and shadow memory make RSS meaningless (ASan/LSan find leaks
there instead)."""
import time

import pytest

from conftest import (SIMPLE_CONFIG, Model, check_simple_result, http_load,
                      http_unload, infer_simple, inferd_sanitizer,
                      model_states, rss_kib)

CYCLES = 100


@pytest.mark.slow
def test_load_unload_cycles_do_not_grow_rss(start_server):
    if inferd_sanitizer():
        pytest.skip(f"RSS is not meaningful under {inferd_sanitizer()}")
    srv = start_server(models={"simple": Model(SIMPLE_CONFIG)},
                       extra_args=["--model-control-mode=explicit"],
                       wait_ready=False)

    def cycle(i):
        r = http_load(srv, "simple")
        assert r.status_code == 200, f"cycle {i}: {r.text}"
        check_simple_result(infer_simple(srv))
        r = http_unload(srv, "simple")
        assert r.status_code == 200, f"cycle {i}: {r.text}"

    cycle(0)
    base = rss_kib(srv.proc.pid)
    for i in range(1, CYCLES):
        cycle(i)
    # unload returns when the version left the table; it is finalised
    # (UNAVAILABLE "unloaded") once its last user let go, moments later
    deadline = time.monotonic() + 30
    while (model_states(srv, "simple") != {"1": ("UNAVAILABLE", "unloaded")}
           and time.monotonic() < deadline):
        time.sleep(0.01)
    assert model_states(srv, "simple") == {"1": ("UNAVAILABLE", "unloaded")}
    end = rss_kib(srv.proc.pid)
    allowed = max(base * 0.05, 5 * 1024)
    assert end - base <= allowed, (
        f"VmRSS grew from {base} KiB after the first cycle to {end} KiB "
        f"after {CYCLES} (allowed {allowed:.0f} KiB)")
