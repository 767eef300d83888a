"""Runs a .tflite model with TensorFlow Lite's reference int8 kernels.

Usage: python3 tflite_reference.py MODEL.tflite INPUT.i8 [INPUT.i8 ...]
Each INPUT.i8 is a raw int8 input tensor; its output tensor is written to
INPUT.i8.out. Called by crates/engine/tests/tflite_export.rs. Needs
`pip install ai-edge-litert` (or tflite-runtime / tensorflow-cpu).
"""
import sys

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:
    try:
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    except ImportError:
        from tensorflow.lite.python.interpreter import Interpreter, OpResolverType


def main():
    model, inputs = sys.argv[1], sys.argv[2:]
    it = Interpreter(
        model_path=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    for path in inputs:
        x = np.fromfile(path, dtype=np.int8).reshape(inp["shape"])
        it.set_tensor(inp["index"], x)
        it.invoke()
        it.get_tensor(out["index"]).astype(np.int8).tofile(path + ".out")


if __name__ == "__main__":
    main()
