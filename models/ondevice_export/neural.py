"""MLPRegressor / MLPClassifier: the forward pass of _forward_pass_fast, layer by layer (MatMul + Add + activation)."""

from .graph import Converted, binary_from_probability, refuse

ACTIVATIONS = {"identity": None, "relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid"}


def mlp(model, g, x, n_features):
    if model.activation not in ACTIVATIONS:
        refuse(f"{type(model).__name__}(activation={model.activation!r})", f"supported: {', '.join(ACTIVATIONS)}")
    h = x
    last = len(model.coefs_) - 1
    for i, (weights, bias) in enumerate(zip(model.coefs_, model.intercepts_)):
        h = g.op("Add", [g.op("MatMul", [h, g.const(weights, f"layer{i}_weights")]), g.const(bias.reshape(1, -1), f"layer{i}_bias")])
        if i < last and ACTIVATIONS[model.activation]:
            h = g.op(ACTIVATIONS[model.activation], [h])
    out = model.out_activation_
    if not hasattr(model, "classes_"):
        if model.n_outputs_ != 1:
            refuse(f"MLPRegressor with {model.n_outputs_} outputs", "only single-output models are supported")
        return Converted("regression", h, g.dtype)
    if out == "logistic" and model.n_outputs_ == 1:  # binary: predict_proba is [1 - p, p]
        return Converted("classification", binary_from_probability(g, g.op("Sigmoid", [h])), g.dtype)
    if out == "softmax":
        return Converted("classification", g.op("Softmax", [h], axis=1), g.dtype)
    refuse(f"MLPClassifier(out_activation_={out!r}, {model.n_outputs_} outputs)", "multi-label classifiers are not supported")
