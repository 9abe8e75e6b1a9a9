"""k-nearest neighbours: the training set is a constant of the graph; distances, TopK, gathered targets.

Computed in float64 whatever the input dtype: which neighbours are chosen is discontinuous in the
distances, and scikit-learn ranks them in float64.

Ties: TopK returns equal distances in index order, so when the k-th smallest distance is shared by
more training rows than fit, the graph keeps the lowest training indices (a documented, deterministic
rule; ties inside the k nearest do not matter). scikit-learn 1.2 does not follow any such rule there:
its brute force (ArgKmin) keeps whichever tied rows its bounded max-heap holds at the end, which
depends on the heap's layout, not on the index alone (test_estimators' grid data has rows where it keeps
a later index over an earlier one); kd_tree / ball_tree (what algorithm='auto' picks for up to 15
features) keep the tied rows their tree search happens to meet. So on rows
whose k-th distance is exactly tied among training rows of different targets, scikit-learn's
prediction and the graph's may differ; on every other row they agree.

Distances are computed from the differences (sum of squares, of absolute values, or their maximum),
and neighbours are ranked on the squared euclidean distance, as scikit-learn does. (scikit-learn's brute
force computes euclidean distances as |x|^2 - 2 x.y + |y|^2, which rounds differently: a test row equal
to a training row may get a tiny non-zero distance there and exactly 0 here, which matters only with
weights='distance'.) The difference tensor is [rows, training rows, features]: a graph for a large
training set is large and scores many rows at a time slowly.
"""
import numpy as np

from .graph import Converted, in_double, refuse

METRICS = {"euclidean": "euclidean", "l2": "euclidean", "manhattan": "manhattan", "cityblock": "manhattan",
           "l1": "manhattan", "chebyshev": "chebyshev", "infinity": "chebyshev"}


def _metric(model):
    name = model.effective_metric_
    if not isinstance(name, str) or name not in METRICS or model.effective_metric_params_:
        p = getattr(model, "p", None)
        refuse(f"{type(model).__name__}(metric={model.metric!r}, p={p!r})",
               "supported metrics: euclidean, manhattan, chebyshev (minkowski with p=1, 2 or inf), without metric_params")
    return METRICS[name]


def _neighbors(model, g, x):
    """(distances [N, k] (None for uniform weights), indices [N, k]) of the k nearest training rows."""
    metric = _metric(model)
    if callable(model.weights) or model.weights not in ("uniform", "distance"):
        refuse(f"{type(model).__name__}(weights={model.weights!r})", "weights must be 'uniform' or 'distance'")
    fit = model._fit_X
    fit = np.asarray(fit.toarray() if hasattr(fit, "toarray") else fit, dtype=np.float64)
    difference = g.op("Sub", [g.op("Unsqueeze", [x, g.ints([1], "axes")]), g.const(fit[None], "training_rows")])
    axes = g.ints([2], "axes")
    if metric == "euclidean":
        distance = g.op("ReduceSum", [g.op("Mul", [difference, difference]), axes], keepdims=0)  # squared
    elif metric == "manhattan":
        distance = g.op("ReduceSum", [g.op("Abs", [difference]), axes], keepdims=0)
    else:
        distance = g.op("ReduceMax", [g.op("Abs", [difference])], axes=[2], keepdims=0)
    nearest, indices = g.ops("TopK", [distance, g.ints([model.n_neighbors], "k")], 2, "neighbors", axis=1, largest=0, sorted=1)
    if model.weights == "uniform":
        return None, indices
    return (g.op("Sqrt", [nearest]) if metric == "euclidean" else nearest), indices


def _weights(g, distances):
    """neighbors._base._get_weights('distance'): 1 / d, except rows where some 1 / d is infinite, which
    weigh those neighbours 1 and the others 0."""
    inverse = g.op("Div", [g.const(1.0, "one"), distances])
    infinite = g.cast(g.op("IsInf", [inverse]), g.dtype)
    any_infinite = g.op("Greater", [g.op("ReduceMax", [infinite], axes=[1], keepdims=1), g.const(0.0, "zero")])
    return g.op("Where", [any_infinite, infinite, inverse])


def classifier(model, g, x, n_features):
    """KNeighborsClassifier.predict_proba: each class's (weighted) neighbour count over their sum."""
    if model.outputs_2d_:
        refuse("KNeighborsClassifier with several outputs", "only single-output models are supported")
    g, x = in_double(g, x)
    distances, indices = _neighbors(model, g, x)
    classes = len(model.classes_)
    labels = g.const(np.eye(classes)[np.asarray(model._y).ravel()], "training_labels")
    votes = g.op("Gather", [labels, indices])  # [N, k, classes]
    if distances is not None:
        votes = g.op("Mul", [votes, g.op("Unsqueeze", [_weights(g, distances), g.ints([2], "axes")])])
    counts = g.op("ReduceSum", [votes, g.ints([1], "axes")], keepdims=0)
    total = g.reduce_sum(counts, 1)
    total = g.op("Where", [g.op("Equal", [total, g.const(0.0, "zero")]), g.const(1.0, "one"), total])
    return Converted("classification", g.op("Div", [counts, total]), g.dtype)


def regressor(model, g, x, n_features):
    """KNeighborsRegressor.predict: the neighbours' mean, or their 1/d-weighted mean."""
    targets = np.asarray(model._y, dtype=np.float64)
    if targets.ndim != 1:
        refuse("KNeighborsRegressor with several outputs", "only single-output models are supported")
    g, x = in_double(g, x)
    distances, indices = _neighbors(model, g, x)
    values = g.op("Gather", [g.const(targets, "training_targets"), indices])  # [N, k]
    if distances is None:
        return Converted("regression", g.op("ReduceMean", [values], axes=[1], keepdims=1), g.dtype)
    weights = _weights(g, distances)
    weighted = g.reduce_sum(g.op("Mul", [values, weights]), 1)
    return Converted("regression", g.op("Div", [weighted, g.reduce_sum(weights, 1)]), g.dtype)
