"""Smaller variants of an exported ONNX model, for the devices they suit (models/README.md, "Variants").

int8_static(model, calibration) -> onnx.ModelProto
    int8 quantization of every Gemm whose weight is a constant (the layers of an MLP). The weight is
    stored as int8 with one symmetric scale per output column; the Gemm's input is quantized to uint8
    with a fixed scale and zero point calibrated on `calibration` (float32 rows of the model input,
    the training features), so a row's answer never depends on the other rows of its batch (dynamic
    quantization would rescale per batch). Then MatMulInteger, a float rescale and the bias. About a
    quarter of the weight bytes, for onnxruntime-web's WASM (CPU) integer kernels. A Gemm with alpha,
    beta or transA, or with a weight that is not a constant, raises UnsupportedEstimator.

evaluate(model, x) -> numpy array
    The model's first output for a float32 batch, evaluated node by node in numpy with the ONNX
    operators' rounding and saturation (the ops an exported MLP and its int8 variant use): how a
    training script measures a variant's error and metric without an ONNX runtime.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .onnx_export import UnsupportedEstimator


def _attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _gemm_parts(node, weights):
    attrs = _attributes(node)
    if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0) != 0:
        raise UnsupportedEstimator(f"Gemm {node.name!r}: only alpha = beta = 1 and transA = 0 are quantized")
    if node.input[1] not in weights:
        raise UnsupportedEstimator(f"Gemm {node.name!r}: its weight is not a constant")
    has_bias = len(node.input) > 2 and node.input[2] != ""
    if has_bias and node.input[2] not in weights:
        raise UnsupportedEstimator(f"Gemm {node.name!r}: its bias is not a constant")
    w = weights[node.input[1]].astype(np.float32)
    return (w.T if attrs.get("transB", 0) else w), has_bias  # w: [in, out]


def _weight_columns(w):
    """Symmetric int8 per output column: w ~= q * scale, q in [-127, 127]."""
    peak = np.abs(w).max(axis=0)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int8), scale


def _activation_range(x):
    """uint8 scale and zero point covering x's range widened to include 0 (as DynamicQuantizeLinear does)."""
    low, high = min(0.0, float(np.min(x))), max(0.0, float(np.max(x)))
    scale = np.float32((high - low) / 255.0) if high > low else np.float32(1.0)
    return scale, np.uint8(np.clip(np.rint(-low / scale), 0, 255))


def int8_static(model, calibration):
    model = onnx.ModelProto.FromString(model.SerializeToString())
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    gemm_inputs = _intermediates(model, calibration, [n.input[0] for n in model.graph.node if n.op_type == "Gemm"])
    nodes, initializers, replaced = [], [], set()
    for node in model.graph.node:
        if node.op_type != "Gemm":
            nodes.append(node)
            continue
        w, has_bias = _gemm_parts(node, weights)
        q, w_scale = _weight_columns(w)
        x_scale, x_zero = _activation_range(gemm_inputs[node.input[0]])
        base = node.name or node.output[0]
        name = lambda suffix: f"{base}/int8/{suffix}"  # noqa: E731
        initializers += [
            numpy_helper.from_array(q, name("weight")),
            numpy_helper.from_array(np.asarray(x_scale, dtype=np.float32), name("x_scale")),
            numpy_helper.from_array(np.asarray(x_zero, dtype=np.uint8), name("x_zero")),
            numpy_helper.from_array((x_scale * w_scale).astype(np.float32), name("scale")),
        ]
        rescaled = name("rescaled") if has_bias else node.output[0]
        nodes += [
            helper.make_node("QuantizeLinear", [node.input[0], name("x_scale"), name("x_zero")], [name("x")], name=name("quantize")),
            helper.make_node("MatMulInteger", [name("x"), name("weight"), name("x_zero")], [name("product")], name=name("matmul")),
            helper.make_node("Cast", [name("product")], [name("product_float")], to=TensorProto.FLOAT, name=name("cast")),
            helper.make_node("Mul", [name("product_float"), name("scale")], [rescaled], name=name("rescale")),
        ]
        if has_bias:
            nodes.append(helper.make_node("Add", [rescaled, node.input[2]], [node.output[0]], name=name("bias")))
        replaced.add(node.input[1])
    keep = [init for init in model.graph.initializer if init.name not in replaced]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep + initializers)
    model.graph.name = f"{model.graph.name}_int8"
    onnx.checker.check_model(model)
    return model


_DTYPES = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.INT32: np.int32}


def _run(node, args):
    op = node.op_type
    if op == "Gemm":
        attrs = _attributes(node)
        w = args[1].T if attrs.get("transB", 0) else args[1]
        y = args[0] @ w
        return [y + args[2] if len(args) > 2 else y]
    if op == "QuantizeLinear":
        x, scale, zero = args
        return [np.clip(np.rint(x / scale) + int(zero), 0, 255).astype(np.int32)]
    if op == "MatMulInteger":
        return [(args[0] - int(args[2])).astype(np.int64) @ args[1].astype(np.int64)]
    if op == "Cast":
        return [args[0].astype(_DTYPES[_attributes(node)["to"]])]
    if op in ("Mul", "Add", "Sub"):
        return [{"Mul": np.multiply, "Add": np.add, "Sub": np.subtract}[op](args[0], args[1])]
    if op == "Relu":
        return [np.maximum(args[0], 0)]
    if op == "Exp":
        return [np.exp(args[0])]
    raise UnsupportedEstimator(f"evaluate: no numpy version of {op}")


def _intermediates(model, x, names):
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    values[model.graph.input[0].name] = np.asarray(x, dtype=np.float32)
    for node in model.graph.node:
        for output, value in zip(node.output, _run(node, [values[i] for i in node.input if i])):
            values[output] = value
    return {name: values[name] for name in names}


def evaluate(model, x):
    output = model.graph.output[0].name
    return _intermediates(model, x, [output])[output]
