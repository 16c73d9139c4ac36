"""Test models for the pytorch and onnx backends, generated with Debian's
python3-torch / torchvision / onnx (random weights, fixed seeds, nothing
downloaded).

Each maker returns a FwModel: the model file bytes, the config.pbtxt text and
a function computing the reference outputs in Python (torch eager for
TorchScript, torch eager of the exported module for ONNX; OpenCV DNN agrees
within 1e-6 on these graphs).

Command line (used by the C tests and the benchmark):
    python3 fw_models.py OUTDIR [name ...]
writes OUTDIR/<name>/config.pbtxt and OUTDIR/<name>/1/model.{pt,onnx}.
"""
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

torch.manual_seed(0)


@dataclass
class FwModel:
    file_name: str      # "model.pt" or "model.onnx"
    data: bytes
    config: str
    reference: Callable  # dict name -> np.ndarray  ->  dict name -> ndarray


def _io(kind, name, dt, dims):
    return (f'{kind} [ {{ name: "{name}" data_type: TYPE_{dt} '
            f'dims: [ {", ".join(str(d) for d in dims)} ] }} ]\n')


def config(name, backend, inputs, outputs, max_batch_size=0, params=None,
           count=1):
    text = (f'name: "{name}"\nbackend: "{backend}"\n'
            f'max_batch_size: {max_batch_size}\n')
    for n, dt, dims in inputs:
        text += _io("input", n, dt, dims)
    for n, dt, dims in outputs:
        text += _io("output", n, dt, dims)
    text += f"instance_group [ {{ count: {count} kind: KIND_CPU }} ]\n"
    for k, v in (params or {}).items():
        text += f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}\n'
    return text


# ----------------------------------------------------------------- modules

class AddSub(torch.nn.Module):
    def forward(self, INPUT0, INPUT1):
        return INPUT0 + INPUT1, INPUT0 - INPUT1


def mlp_module():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 4)).eval()


class TwoTypes(torch.nn.Module):
    """FP32 x scaled by an INT64 k per row; also returns k * 2 (INT64)."""

    def forward(self, x, k):
        return x * k.to(torch.float32), k * 2


class SharedWeights(torch.nn.Module):
    """Two Linear layers with equal weights: torch.onnx.export merges the
    equal initializers and feeds the second through an Identity node."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)
        with torch.no_grad():
            self.b.weight.copy_(self.a.weight)
            self.b.bias.copy_(self.a.bias)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def resnet18_module():
    import torchvision
    torch.manual_seed(3)
    return torchvision.models.resnet18().eval()


# ----------------------------------------------------------------- helpers

def _script_bytes(mod):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(mod), buf)
    return buf.getvalue()


def _trace_bytes(mod, example):
    buf = io.BytesIO()
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(mod, example), buf)
    return buf.getvalue()


def _onnx_bytes(mod, example, in_names, out_names, dynamic_batch):
    buf = io.BytesIO()
    axes = None
    if dynamic_batch:
        axes = {n: {0: "batch"} for n in in_names + out_names}
    with torch.no_grad():
        torch.onnx.export(mod, example, buf, input_names=in_names,
                          output_names=out_names, dynamic_axes=axes,
                          opset_version=13)
    return buf.getvalue()


def _eager(mod, in_names, out_names):
    def ref(inputs):
        with torch.no_grad():
            res = mod(*[torch.from_numpy(np.ascontiguousarray(inputs[n]))
                        for n in in_names])
        if not isinstance(res, (tuple, list)):
            res = (res,)
        return {n: r.numpy() for n, r in zip(out_names, res)}
    return ref


# ----------------------------------------------------------------- makers

def pt_add_sub(name="pt_add_sub"):
    return FwModel("model.pt", _script_bytes(AddSub()), config(
        name, "pytorch", [("INPUT0", "FP32", [4]), ("INPUT1", "FP32", [4])],
        [("OUTPUT__0", "FP32", [4]), ("OUTPUT__1", "FP32", [4])],
        max_batch_size=8), _eager(AddSub(), ["INPUT0", "INPUT1"],
                                  ["OUTPUT__0", "OUTPUT__1"]))


def pt_mlp(name="pt_mlp", params=None, count=1):
    mod = mlp_module()
    return FwModel("model.pt", _trace_bytes(mod, torch.zeros(1, 16)), config(
        name, "pytorch", [("INPUT__0", "FP32", [16])],
        [("OUTPUT__0", "FP32", [4])], max_batch_size=16, params=params,
        count=count), _eager(mod, ["INPUT__0"], ["OUTPUT__0"]))


def pt_two_types(name="pt_two_types"):
    mod = TwoTypes()
    return FwModel("model.pt", _script_bytes(mod), config(
        name, "pytorch", [("x", "FP32", [3]), ("k", "INT64", [1])],
        [("y__0", "FP32", [3]), ("k2__1", "INT64", [1])], max_batch_size=4),
        _eager(mod, ["x", "k"], ["y__0", "k2__1"]))


def pt_resnet18(name="pt_resnet18", count=1, params=None):
    mod = resnet18_module()
    return FwModel("model.pt", _trace_bytes(mod, torch.zeros(1, 3, 224, 224)),
                   config(name, "pytorch", [("INPUT__0", "FP32", [3, 224, 224])],
                          [("OUTPUT__0", "FP32", [1000])], max_batch_size=8,
                          count=count, params=params),
                   _eager(mod, ["INPUT__0"], ["OUTPUT__0"]))


def onnx_mlp(name="onnx_mlp"):
    mod = mlp_module()
    return FwModel("model.onnx", _onnx_bytes(mod, torch.zeros(1, 16), ["x"],
                                             ["y"], True),
                   config(name, "onnx", [("x", "FP32", [16])],
                          [("y", "FP32", [4])], max_batch_size=16),
                   _eager(mod, ["x"], ["y"]))


def onnx_add_sub(name="onnx_add_sub"):
    mod = AddSub()
    ex = (torch.zeros(1, 4), torch.zeros(1, 4))
    return FwModel("model.onnx", _onnx_bytes(
        mod, ex, ["INPUT0", "INPUT1"], ["OUTPUT0", "OUTPUT1"], True), config(
        name, "onnx", [("INPUT0", "FP32", [4]), ("INPUT1", "FP32", [4])],
        [("OUTPUT0", "FP32", [4]), ("OUTPUT1", "FP32", [4])],
        max_batch_size=8), _eager(mod, ["INPUT0", "INPUT1"],
                                  ["OUTPUT0", "OUTPUT1"]))


def onnx_shared(name="onnx_shared"):
    mod = SharedWeights().eval()
    return FwModel("model.onnx", _onnx_bytes(mod, torch.zeros(1, 8), ["x"],
                                             ["y"], True),
                   config(name, "onnx", [("x", "FP32", [8])],
                          [("y", "FP32", [8])], max_batch_size=4),
                   _eager(mod, ["x"], ["y"]))


def onnx_resnet18(name="onnx_resnet18", count=1, params=None):
    mod = resnet18_module()
    return FwModel("model.onnx", _onnx_bytes(
        mod, torch.zeros(1, 3, 224, 224), ["input"], ["logits"], True),
        config(name, "onnx", [("input", "FP32", [3, 224, 224])],
               [("logits", "FP32", [1000])], max_batch_size=8, count=count,
               params=params),
        _eager(mod, ["input"], ["logits"]))


MAKERS = {
    "pt_add_sub": pt_add_sub, "pt_mlp": pt_mlp, "pt_two_types": pt_two_types,
    "pt_resnet18": pt_resnet18, "onnx_mlp": onnx_mlp,
    "onnx_add_sub": onnx_add_sub, "onnx_shared": onnx_shared,
    "onnx_resnet18": onnx_resnet18,
}


def write(outdir, names):
    for n in names:
        m = MAKERS[n]()
        d = Path(outdir) / n
        (d / "1").mkdir(parents=True, exist_ok=True)
        (d / "config.pbtxt").write_text(m.config)
        (d / "1" / m.file_name).write_bytes(m.data)


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2:] or list(MAKERS))
