"""A module-scoped inferd for the framework backend tests: the models are
generated once and libtorch/OpenCV load once per test module instead of once
per test. Same command line as conftest's start_server."""
import subprocess
import time

import conftest
from conftest import Model


def start_module_server(tmp_dir, made, name):
    """made: {model name: fw_models.FwModel}. Returns a ready conftest.Server;
    raises with the server log when it does not come up."""
    conftest.write_repository(tmp_dir, {
        n: Model(m.config, files={f"1/{m.file_name}": m.data})
        for n, m in made.items()})
    port = conftest.free_port()
    args = [conftest.INFERD_BIN, f"--model-repository={tmp_dir}",
            f"--backend-directory={conftest.INFERD_BACKEND_DIR}",
            "--http-address=127.0.0.1", f"--http-port={port}"]
    grpc_port = conftest.free_port() if conftest.inferd_has_grpc() else None
    if grpc_port:
        args.append(f"--grpc-port={grpc_port}")
    log_path = tmp_dir.parent / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    srv = conftest.Server(proc, port, tmp_dir, log_path)
    srv.grpc_port = grpc_port
    if not conftest._wait_http(srv, "/v2/health/ready",
                               time.monotonic() + 60):
        srv._teardown()
        raise RuntimeError(f"inferd not ready; args {args}; log:\n{srv.log()}")
    return srv


def stop_module_server(srv):
    srv.stop()
    report = conftest.sanitizer_report(srv.log())
    assert not report, srv.log()
