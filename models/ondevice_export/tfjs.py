"""A stack of dense layers as a TensorFlow.js layers model (model.json + weights.bin), without TensorFlow."""
import json
import os

import numpy as np

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


def _dense_config(name, units, activation):
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": int(units),
            "activation": activation,
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def tfjs_layers_model(layers, input_name="features", generated_by="ondevice_export", converted_by="ondevice_export.tfjs"):
    """(model.json dict, weights.bin bytes) for a Sequential model of Dense layers.

    layers: [(name, kernel [inputs, units], bias [units], activation)], in order. The kernel is in
    Keras layout (a PyTorch Linear's weight transposed). Weights are little-endian float32.
    """
    if not layers:
        raise ValueError("tfjs_layers_model needs at least one layer")
    inputs = np.asarray(layers[0][1]).shape[0]
    topology = [{
        "class_name": "InputLayer",
        "config": {"batch_input_shape": [None, int(inputs)], "dtype": "float32", "sparse": False, "name": input_name},
    }]
    specs, blobs, width = [], [], inputs
    for name, kernel, bias, activation in layers:
        kernel, bias = np.asarray(kernel, dtype="<f4"), np.asarray(bias, dtype="<f4")
        if activation not in ACTIVATIONS:
            raise ValueError(f"layer '{name}': activation {activation!r} is not one of {ACTIVATIONS}")
        if kernel.ndim != 2 or kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
            raise ValueError(f"layer '{name}': kernel {kernel.shape} and bias {bias.shape} do not follow a {width}-wide input")
        topology.append(_dense_config(name, kernel.shape[1], activation))
        for suffix, array in (("kernel", kernel), ("bias", bias)):
            specs.append({"name": f"{name}/{suffix}", "shape": list(array.shape), "dtype": "float32"})
            blobs.append(np.ascontiguousarray(array).tobytes())
        width = kernel.shape[1]
    model = {
        "format": "layers-model",
        "generatedBy": generated_by,
        "convertedBy": converted_by,
        "modelTopology": {
            "class_name": "Sequential",
            "config": {"name": "sequential", "layers": topology},
            "keras_version": "tfjs-layers 4.22.0",
            "backend": "tensor_flow.js",
        },
        "weightsManifest": [{"paths": ["weights.bin"], "weights": specs}],
    }
    return model, b"".join(blobs)


def write_tfjs_layers_model(directory, layers, **options):
    """Writes model.json and weights.bin into directory; returns the model.json dict."""
    model, weights = tfjs_layers_model(layers, **options)
    with open(os.path.join(directory, "model.json"), "w") as f:
        json.dump(model, f, indent=1)
        f.write("\n")
    with open(os.path.join(directory, "weights.bin"), "wb") as f:
        f.write(weights)
    return model
