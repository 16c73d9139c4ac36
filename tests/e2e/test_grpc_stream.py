"""gRPC ModelStreamInfer: many requests on one stream with interleaved
errors, triton_final_response, concurrent streams, client cancellation, and
the triton_grpc_error mode."""

import queue
import threading

import numpy as np
import pytest

from conftest import SIMPLE_CONFIG, Model, testing_config
from test_grpc_helpers import (grpc, grpc_server, infer_request,  # noqa: F401
                               output_array, pb)


def models():
    return {"simple": Model(SIMPLE_CONFIG),
            "tst": Model(testing_config("tst", {}, count=2)),
            "slow": Model(testing_config("slow", {"execute_delay_ms": "400"}))}


def simple_req(i, id=None):
    a = np.full((1, 16), i, np.int32)
    b = np.ones((1, 16), np.int32)
    return infer_request("simple", [("INPUT0", "INT32", [1, 16], a),
                                    ("INPUT1", "INT32", [1, 16], b)],
                         id=id if id is not None else str(i))


class Requests:
    """A request iterator the test can feed and close."""

    def __init__(self):
        self.q = queue.Queue()

    def put(self, r):
        self.q.put(r)

    def close(self):
        self.q.put(None)

    def __iter__(self):
        while True:
            r = self.q.get()
            if r is None:
                return
            yield r


def test_thousand_requests_with_interleaved_errors(grpc_server):
    _, stub, _ = grpc_server(models())
    reqs = []
    for i in range(1000):
        if i % 10 == 3:   # unknown model: error from the frontend
            r = simple_req(i)
            r.model_name = "nope"
        elif i % 10 == 7:  # error from the backend
            r = infer_request("tst", [("INPUT0", "FP32", [2],
                                       np.ones(2, np.float32))],
                              id=str(i), params={"fail": True})
        else:
            r = simple_req(i)
        reqs.append(r)
    got = {}
    errors = {}
    for resp in stub.ModelStreamInfer(iter(reqs), timeout=120):
        ir = resp.infer_response
        if resp.error_message:
            errors[ir.id] = resp.error_message
            continue
        assert ir.parameters["triton_final_response"].bool_param is True
        _, _, out = output_array(ir, "OUTPUT0")
        got[ir.id] = int(out[0, 0])
    assert len(got) + len(errors) == 1000
    assert len(errors) == 200
    for i in range(1000):
        if i % 10 == 3:
            assert "nope" in errors[str(i)]
        elif i % 10 == 7:
            assert str(i) in errors
        else:
            assert got[str(i)] == i + 1


def test_fifty_concurrent_streams(grpc_server):
    _, stub, _ = grpc_server(models())
    results = [None] * 50

    def run(k):
        reqs = [simple_req(k * 100 + j) for j in range(20)]
        outs = {}
        for resp in stub.ModelStreamInfer(iter(reqs), timeout=60):
            assert not resp.error_message
            ir = resp.infer_response
            outs[ir.id] = int(output_array(ir, "OUTPUT0")[2][0, 0])
        results[k] = outs

    threads = [threading.Thread(target=run, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    for k in range(50):
        assert results[k] == {str(k * 100 + j): k * 100 + j + 1
                              for j in range(20)}


def test_stream_stays_open_between_requests(grpc_server):
    _, stub, _ = grpc_server(models())
    feed = Requests()
    it = stub.ModelStreamInfer(iter(feed), timeout=60)
    for i in range(5):
        feed.put(simple_req(i))
        resp = next(it)
        assert resp.infer_response.id == str(i)
    bad = simple_req(9)
    bad.inputs[0].datatype = "FP32"
    feed.put(bad)
    resp = next(it)
    assert resp.error_message and resp.infer_response.id == "9"
    feed.put(simple_req(10))
    assert next(it).infer_response.id == "10"
    feed.close()
    assert list(it) == []


def test_client_cancel_mid_request(grpc_server):
    """Cancelling a stream while its requests run: the server cancels and
    frees them and keeps serving."""
    server, stub, _ = grpc_server(models())
    v = np.ones(4, np.float32)
    for _ in range(3):
        feed = Requests()
        call = stub.ModelStreamInfer(iter(feed), timeout=60)
        for j in range(3):
            feed.put(infer_request("slow", [("INPUT0", "FP32", [4], v)],
                                   id=str(j)))
        threading.Timer(0.2, call.cancel).start()
        with pytest.raises(grpc.RpcError) as e:
            for _ in call:
                pass
        assert e.value.code() == grpc.StatusCode.CANCELLED
        feed.close()
    resp = stub.ModelInfer(infer_request("slow", [("INPUT0", "FP32", [4],
                                                   v)]), timeout=30)
    assert (output_array(resp, "OUTPUT0")[2] == v).all()
    assert server.proc.poll() is None


def test_error_as_status_with_triton_grpc_error(grpc_server):
    _, stub, _ = grpc_server(models())
    bad = simple_req(1)
    bad.model_name = "nope"
    call = stub.ModelStreamInfer(iter([simple_req(0), bad]), timeout=30,
                                 metadata=[("triton_grpc_error", "true")])
    with pytest.raises(grpc.RpcError) as e:
        for _ in call:
            pass
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in e.value.details()


def test_empty_stream(grpc_server):
    _, stub, _ = grpc_server(models())
    assert list(stub.ModelStreamInfer(iter([]), timeout=10)) == []
