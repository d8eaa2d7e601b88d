# Converts the exported network in the current folder to model.onnx (run by `grownet export
# --format onnx` with the torch environment's Python): batch size free, the rest as INPUT_SHAPE.
import sys

import torch

sys.path.insert(0, ".")
from model import INPUT_SHAPE, Net  # noqa: E402

torch.onnx.export(Net.load(), (torch.zeros(1, *INPUT_SHAPE),), "model.onnx", dynamo=False,
                  input_names=["input"], output_names=["output"],
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
