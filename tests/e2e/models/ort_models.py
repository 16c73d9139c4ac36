"""Test models for the onnxruntime backend, generated with Debian's
python3-torch / torchvision / onnx (random weights, fixed seeds, nothing
downloaded): resnet18, a 2-layer transformer encoder with a dynamic sequence
length, an LSTM, a model passing every Triton data type through (BOOL,
INT8..64, UINT8..64, FP16, FP32, FP64, BYTES as ONNX strings), an MLP whose
weights live in an external data file, and a Reshape that fails at run time.

Each maker returns a fw_models.FwModel (files beyond model.onnx in
`extra_files`). Command line (used by bench/ort_bench.py):
    python3 ort_models.py OUTDIR [name ...]
writes OUTDIR/<name>/config.pbtxt and OUTDIR/<name>/1/model.onnx (+ files).
"""
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import fw_models  # noqa: E402
from fw_models import FwModel, config  # noqa: E402

BACKEND = "onnxruntime"


def _export(mod, example, in_names, out_names, axes, opset=14, grad=False):
    buf = io.BytesIO()
    with torch.set_grad_enabled(grad):
        torch.onnx.export(mod, example, buf, input_names=in_names,
                          output_names=out_names, dynamic_axes=axes,
                          opset_version=opset)
    return buf.getvalue()


def ort_resnet18(name="ort_resnet18", count=1, params=None, max_batch=8):
    mod = fw_models.resnet18_module()
    data = _export(mod, torch.zeros(1, 3, 224, 224), ["input"], ["logits"],
                   {"input": {0: "batch"}, "logits": {0: "batch"}})
    return FwModel("model.onnx", data, config(
        name, BACKEND, [("input", "FP32", [3, 224, 224])],
        [("logits", "FP32", [1000])], max_batch_size=max_batch, count=count,
        params=params), fw_models._eager(mod, ["input"], ["logits"]))


def transformer_module():
    torch.manual_seed(4)
    layer = torch.nn.TransformerEncoderLayer(d_model=64, nhead=4,
                                             dim_feedforward=128,
                                             dropout=0.0,
                                             batch_first=True)
    return torch.nn.TransformerEncoder(layer, num_layers=2,
                                       enable_nested_tensor=False).eval()


def ort_transformer(name="ort_transformer", count=1, params=None,
                    max_batch=8):
    """x [batch, seq, 64] -> y [batch, seq, 64]; seq is dynamic."""
    mod = transformer_module()
    axes = {"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}}
    # with grad enabled: torch 1.13 then keeps its exportable attention path
    # instead of the fused eval-mode kernels
    data = _export(mod, torch.zeros(2, 7, 64), ["x"], ["y"], axes, grad=True)
    return FwModel("model.onnx", data, config(
        name, BACKEND, [("x", "FP32", [-1, 64])], [("y", "FP32", [-1, 64])],
        max_batch_size=max_batch, count=count, params=params),
        fw_models._eager(mod, ["x"], ["y"]))


class LstmModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.lstm = torch.nn.LSTM(16, 32, num_layers=1, batch_first=True)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, x):
        seq, (h, _) = self.lstm(x)
        return seq, self.head(h[-1])


def ort_lstm(name="ort_lstm"):
    """x [batch, seq, 16] -> seq [batch, seq, 32], last [batch, 4]."""
    mod = LstmModel().eval()
    axes = {"x": {0: "batch", 1: "seq"}, "seq": {0: "batch", 1: "seq"},
            "last": {0: "batch"}}
    data = _export(mod, torch.zeros(2, 5, 16), ["x"], ["seq", "last"], axes)
    return FwModel("model.onnx", data, config(
        name, BACKEND, [("x", "FP32", [-1, 16])],
        [("seq", "FP32", [-1, 32]), ("last", "FP32", [4])], max_batch_size=8),
        fw_models._eager(mod, ["x"], ["seq", "last"]))


# Triton datatype -> (ONNX element type name, numpy dtype or None for BYTES)
TYPES = {
    "BOOL": ("BOOL", np.bool_), "INT8": ("INT8", np.int8),
    "INT16": ("INT16", np.int16), "INT32": ("INT32", np.int32),
    "INT64": ("INT64", np.int64), "UINT8": ("UINT8", np.uint8),
    "UINT16": ("UINT16", np.uint16), "UINT32": ("UINT32", np.uint32),
    "UINT64": ("UINT64", np.uint64), "FP16": ("FLOAT16", np.float16),
    "FP32": ("FLOAT", np.float32), "FP64": ("DOUBLE", np.float64),
    "BYTES": ("STRING", None),
}


def ort_types(name="ort_types"):
    """IN_<T> [batch, 3] -> OUT_<T> (Identity) for every type; FP16 also
    doubled (OUT_FP16_X2 = IN_FP16 + IN_FP16) so that FP16 is computed."""
    from onnx import TensorProto, helper
    nodes, ins, outs = [], [], []
    for t, (onnx_t, _) in TYPES.items():
        et = getattr(TensorProto, onnx_t)
        ins.append(helper.make_tensor_value_info(f"IN_{t}", et, ["b", 3]))
        outs.append(helper.make_tensor_value_info(f"OUT_{t}", et, ["b", 3]))
        nodes.append(helper.make_node("Identity", [f"IN_{t}"], [f"OUT_{t}"]))
    nodes.append(helper.make_node("Add", ["IN_FP16", "IN_FP16"],
                                  ["OUT_FP16_X2"]))
    outs.append(helper.make_tensor_value_info("OUT_FP16_X2",
                                              TensorProto.FLOAT16, ["b", 3]))
    graph = helper.make_graph(nodes, "types", ins, outs)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    ct = {t: "STRING" if t == "BYTES" else t for t in TYPES}  # TYPE_STRING
    cfg = config(name, BACKEND, [(f"IN_{t}", ct[t], [3]) for t in TYPES],
                 [(f"OUT_{t}", ct[t], [3]) for t in TYPES] +
                 [("OUT_FP16_X2", "FP16", [3])], max_batch_size=4)
    return FwModel("model.onnx", model.SerializeToString(), cfg, None)


def ort_external(name="ort_external"):
    """The fw_models MLP with its weights in 1/weights.bin beside the model
    (ONNX external data)."""
    import onnx
    mod = fw_models.mlp_module()
    data = _export(mod, torch.zeros(1, 16), ["x"], ["y"],
                   {"x": {0: "batch"}, "y": {0: "batch"}})
    model = onnx.load_from_string(data)
    with tempfile.TemporaryDirectory() as d:
        onnx.save_model(model, f"{d}/model.onnx", save_as_external_data=True,
                        all_tensors_to_one_file=True, location="weights.bin",
                        size_threshold=0)
        m = FwModel("model.onnx", Path(f"{d}/model.onnx").read_bytes(),
                    config(name, BACKEND, [("x", "FP32", [16])],
                           [("y", "FP32", [4])], max_batch_size=16),
                    fw_models._eager(mod, ["x"], ["y"]))
        m.extra_files = {"1/weights.bin": Path(f"{d}/weights.bin").read_bytes()}
    return m


def ort_reshape(name="ort_reshape"):
    """x [-1] -> Reshape to [2, 3]: any x without 6 elements fails inside
    ONNX Runtime at run time."""
    from onnx import TensorProto, helper
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, 3])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=[shape])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return FwModel("model.onnx", model.SerializeToString(), config(
        name, BACKEND, [("x", "FP32", [-1])], [("y", "FP32", [2, 3])]), None)


MAKERS = {
    "ort_resnet18": ort_resnet18, "ort_transformer": ort_transformer,
    "ort_lstm": ort_lstm, "ort_types": ort_types,
    "ort_external": ort_external, "ort_reshape": ort_reshape,
}


def files_of(m):
    """{path relative to the model dir: bytes} of a made model."""
    files = {f"1/{m.file_name}": m.data}
    files.update(getattr(m, "extra_files", {}) or {})
    return files


def write(outdir, names, **kw):
    for n in names:
        m = MAKERS[n](**kw) if kw else MAKERS[n]()
        d = Path(outdir) / n
        (d / "1").mkdir(parents=True, exist_ok=True)
        (d / "config.pbtxt").write_text(m.config)
        for rel, data in files_of(m).items():
            (d / rel).write_bytes(data)


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2:] or list(MAKERS))
