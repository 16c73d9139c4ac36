"""End-to-end tests of the live dashboard at GET / (issue 12, point 6): the
page itself over plain HTTP (content type, self-contained, GET only), and the
page in a real browser: Debian's chromium driven by npm's playwright-core
(scripts/setup-deps.sh --observability installs both, test-only) through
dashboard_check.js, which loads the page, sends traffic, loads a model and
checks that the charts moved and the events appeared. The browser test skips
only when chromium, node or playwright-core is missing; its screenshot stays
in the test's tmp dir (the path is printed)."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, SIMPLE_CONFIG, Model, identity_config, testing_config

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE_MODULES = REPO_ROOT / ".deps" / "node" / "node_modules"
CHECK_JS = Path(__file__).resolve().parent / "dashboard_check.js"
HTML = "text/html; charset=utf-8"


def models():
    # tst: one instance that takes 20 ms per execution behind a dynamic
    # batcher, so that concurrent requests queue and get batched
    tst = testing_config("tst", {"execute_delay_ms": "20"}, count=1,
                         max_batch_size=8)
    tst += "dynamic_batching { max_queue_delay_microseconds: 2000 }\n"
    return {"simple": Model(SIMPLE_CONFIG), "tst": Model(tst),
            "ids": Model(identity_config("ids", "FP32", [4])),
            "broken": Model(identity_config("broken", "FP32", [4]).replace(
                '"identity"', '"no_such_backend"'))}


def start(start_server):
    return start_server(models=models(), wait_ready=False, extra_args=[
        "--model-control-mode=explicit", "--load-model=simple",
        "--load-model=tst"])


def test_page_over_http(start_server):
    srv = start(start_server)
    pages = []
    for path in ["/", "/index.html"]:
        r = requests.get(srv.url + path, timeout=10)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["Content-Type"] == HTML, path
        pages.append(r.text)
    assert pages[0] == pages[1]
    page = pages[0]
    assert page.startswith("<!DOCTYPE html>") and "window.inferdDashboard" in page
    # self-contained: no script, style, image or font from anywhere else
    assert not re.search(r"(src|href)\s*=\s*\"(?!data:)", page), "external resource"
    assert not re.search(r"https?://|@import|url\(", page)
    for path in ["/v2/repository/index", "/v2/models/stats", "/v2"]:
        assert path in page, path
    for method in ["POST", "PUT", "DELETE"]:
        r = requests.request(method, srv.url + "/", timeout=10)
        assert r.status_code == 405, method
    # nothing else appeared outside /v2
    for path in ["/index.htm", "/index.html/", "/dashboard", "/favicon.ico"]:
        assert requests.get(srv.url + path, timeout=10).status_code == 404, path


def browser_missing():
    if not Path(CHROMIUM).is_file():
        return f"chromium not found at {CHROMIUM} (scripts/setup-deps.sh --observability)"
    if not shutil.which("node"):
        return "node not found (scripts/setup-deps.sh --observability)"
    if not (NODE_MODULES / "playwright-core" / "package.json").is_file():
        return (f"playwright-core not installed in {NODE_MODULES} "
                "(scripts/setup-deps.sh --observability)")
    return None


@pytest.mark.timeout(180)
def test_dashboard_in_chromium(start_server, tmp_path):
    why = browser_missing()
    if why:
        pytest.skip(why)
    srv = start(start_server)
    shot = tmp_path / "dashboard.png"
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES), CHROMIUM=CHROMIUM)
    p = subprocess.run(["node", str(CHECK_JS), srv.url, str(shot)], env=env,
                       capture_output=True, text=True, timeout=150,
                       stdin=subprocess.DEVNULL)
    print(f"dashboard screenshot: {shot}")
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"dashboard_check.js failed:\n{out}\ninferd log:\n{srv.log()}"
    line = next(l for l in p.stdout.splitlines() if l.startswith("RESULT "))
    res = json.loads(line[len("RESULT "):])
    print("dashboard events:\n  " + "\n  ".join(res["events"]))
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert res["counts"].get("200", 0) > 0 and res["counts"].get("500", 0) > 0
