"""libsvm models (SVC, NuSVC, SVR, NuSVR) from core operators, computed in float64.

Why not ai.onnx.ml SVMClassifier/SVMRegressor (onnxruntime-web has both, and its SVMClassifier does run
libsvm's coupling, for two classes too: on standardised wine and breast cancer its float32 probabilities
are within 3e-7 to 8e-7 of scikit-learn's): their support vectors, coefficients and Platt parameters are
float32 attributes computed in float, so they follow libsvm's float64 decision values only to float32
precision (worse on unscaled features), a row near a pairwise boundary or near the coupling's stopping
test (below) can take another branch, and the label they output is not libsvm's vote. This graph is
float64 throughout and agrees with scikit-learn to ~1e-14.

Decision values are libsvm's svm_predict_values: for each class pair (i, j), i < j, the kernel row
times the pair's dual coefficients minus rho. predict is libsvm's vote (decision > 0 votes i, else j;
the first class with most votes wins), also when probability=True: scikit-learn's predict never looks at
predict_proba, so the label output is the vote, and may differ from the argmax of the probabilities
(as it does in scikit-learn). Without probability=True the probabilities output is the one-hot of the
vote.

predict_proba (probability=True) is scikit-learn's libsvm svm_predict_probability: Platt's sigmoid of
each pair's decision value clipped to [1e-7, 1 - 1e-7], then Wu, Lin and Weng's pairwise coupling
(multiclass_probability), which scikit-learn's libsvm runs for two classes too. That is an iterative
solver that stops once max_t |Qp_t - pQp| < 0.005 / k (at most max(100, k) rounds), so its result depends
on the round it stops at: the graph runs the same rounds in an ONNX Loop, freezing each row at the
round libsvm would have stopped it.
"""
import numpy as np
from onnx import TensorProto, helper

from .graph import Converted, in_double, labels_from_scores, one_hot, refuse

KERNELS = ("linear", "poly", "rbf", "sigmoid")


def _check_kernel(model):
    if not isinstance(model.kernel, str) or model.kernel not in KERNELS:
        refuse(f"{type(model).__name__}(kernel={model.kernel!r})", f"supported kernels: {', '.join(KERNELS)}")


def _dense(values):
    """A model fitted on sparse X keeps sparse support vectors and dual coefficients."""
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=np.float64)


def _support_vectors(model):
    return _dense(model.support_vectors_)


def kernel(model, g, x, vectors):
    """K(x, support vectors) [N, S] as libsvm's k_function: rbf from the differences, not the GEMM trick."""
    if model.kernel == "rbf":
        difference = g.op("Sub", [g.op("Unsqueeze", [x, g.ints([1], "axes")]), g.const(vectors[None], "support_vectors")])
        squared = g.op("ReduceSum", [g.op("Mul", [difference, difference]), g.ints([2], "axes")], keepdims=0)
        return g.op("Exp", [g.op("Mul", [squared, g.const(-model._gamma, "minus_gamma")])])
    dot = g.op("MatMul", [x, g.const(vectors.T, "support_vectors")])
    if model.kernel == "linear":
        return dot
    inner = g.op("Add", [g.op("Mul", [dot, g.const(model._gamma, "gamma")]), g.const(model.coef0, "coef0")])
    if model.kernel == "poly":
        return g.op("Pow", [inner, g.const(float(model.degree), "degree")])
    return g.op("Tanh", [inner])


def regressor(model, g, x, n_features):
    """SVR, NuSVR: K @ dual_coef - rho."""
    _check_kernel(model)
    g, x = in_double(g, x)
    k = kernel(model, g, x, _support_vectors(model))
    value = g.op("Add", [g.op("MatMul", [k, g.const(_dense(model._dual_coef_).reshape(-1, 1), "dual_coef")]),
                         g.const(np.ravel(model._intercept_), "intercept")])
    return Converted("regression", value, g.dtype)


def _pairs(n_classes):
    return [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]


def pairwise_decisions(model, g, x):
    """libsvm's dec_values [N, pairs] (for two classes, minus scikit-learn's decision_function)."""
    _check_kernel(model)
    n_classes = len(model.classes_)
    start = np.concatenate([[0], np.cumsum(model._n_support)])
    coef = _dense(model._dual_coef_)
    weights = np.zeros((coef.shape[1], len(_pairs(n_classes))))
    for p, (i, j) in enumerate(_pairs(n_classes)):
        # classifier (i, j): class i's vectors weighted by sv_coef[j - 1], class j's by sv_coef[i]
        weights[start[i]:start[i + 1], p] = coef[j - 1, start[i]:start[i + 1]]
        weights[start[j]:start[j + 1], p] = coef[i, start[j]:start[j + 1]]
    k = kernel(model, g, x, _support_vectors(model))
    return g.op("Add", [g.op("MatMul", [k, g.const(weights, "pair_coef")]), g.const(np.ravel(model._intercept_).reshape(1, -1), "minus_rho")])


def _pair_matrices(n_classes):
    """[pairs, classes] one-hots of each pair's first and second class."""
    pairs = _pairs(n_classes)
    first, second = np.zeros((len(pairs), n_classes)), np.zeros((len(pairs), n_classes))
    for p, (i, j) in enumerate(pairs):
        first[p, i], second[p, j] = 1.0, 1.0
    return first, second


def _votes(g, decisions, n_classes, positive):
    """[N, classes] vote counts: a pair votes for its first class where `positive` (a bool [N, pairs])."""
    first, second = _pair_matrices(n_classes)
    wins = g.cast(positive, g.dtype)
    losses = g.op("Sub", [g.const(1.0, "one"), wins])
    return g.op("Add", [g.op("MatMul", [wins, g.const(first, "first_class")]), g.op("MatMul", [losses, g.const(second, "second_class")])])


def decision_function(model, g, x):
    """scikit-learn's SVC.decision_function, 2-D: [N, 1] for two classes; ovo, or with
    decision_function_shape='ovr' _ovr_decision_function(dec < 0, -dec, k) (votes plus confidences)."""
    n_classes = len(model.classes_)
    decisions = pairwise_decisions(model, g, x)
    if n_classes == 2:
        return g.op("Neg", [decisions])
    if model.decision_function_shape != "ovr":
        return decisions
    votes = _votes(g, decisions, n_classes, g.op("GreaterOrEqual", [decisions, g.const(0.0, "zero")]))
    first, second = _pair_matrices(n_classes)
    confidence = g.op("MatMul", [decisions, g.const(first - second, "confidence_signs")])
    scaled = g.op("Div", [confidence, g.op("Mul", [g.const(3.0, "three"), g.op("Add", [g.op("Abs", [confidence]), g.const(1.0, "one")])])])
    return g.op("Add", [votes, scaled])


def classifier(model, g, x, n_features):
    """SVC, NuSVC: the vote as label; probabilities from the coupling, or the vote's one-hot."""
    n_classes = len(model.classes_)
    g, x = in_double(g, x)
    decisions = pairwise_decisions(model, g, x)
    if model.break_ties and model.decision_function_shape == "ovr" and n_classes > 2:
        label = labels_from_scores(g, decision_function(model, g, x), n_classes)
    else:
        votes = _votes(g, decisions, n_classes, g.op("Greater", [decisions, g.const(0.0, "zero")]))
        label = g.op("ArgMax", [votes], axis=1, keepdims=0)  # first most-voted class, as libsvm
    if not model.probability:
        return Converted("classification", one_hot(g, label, n_classes), g.dtype, label)
    pairwise = _platt(g, decisions, model._probA, model._probB)
    return Converted("classification", _coupling(g, pairwise, n_classes), g.dtype, label)


def _platt(g, decisions, prob_a, prob_b):
    """libsvm's sigmoid_predict, both branches as written (exp of -|fApB|), clipped to [1e-7, 1 - 1e-7]."""
    f = g.op("Add", [g.op("Mul", [decisions, g.const(np.reshape(prob_a, (1, -1)), "prob_a")]), g.const(np.reshape(prob_b, (1, -1)), "prob_b")])
    e = g.op("Exp", [g.op("Neg", [g.op("Abs", [f])])])
    one_plus = g.op("Add", [g.const(1.0, "one"), e])
    r = g.op("Where", [g.op("GreaterOrEqual", [f, g.const(0.0, "zero")]), g.op("Div", [e, one_plus]),
                       g.op("Div", [g.const(1.0, "one"), one_plus])])
    return g.op("Min", [g.op("Max", [r, g.const(1e-7, "min_prob")]), g.const(1 - 1e-7, "max_prob")])


def _coupling_matrix(g, pairwise, k):
    """libsvm's Q for each row: Q[t][t] = sum over j != t of r[j][t]^2 (j ascending), Q[t][j] = -r[j][t] r[t][j].
    Returns (Q [N, k, k], the diagonal columns [N, 1] and the rows [N, k] by t)."""
    r = {}
    for p, (i, j) in enumerate(_pairs(k)):
        r[i, j] = g.column(pairwise, p)
        r[j, i] = g.op("Sub", [g.const(1.0, "one"), r[i, j]])
    entries = {}
    for t in range(k):
        diagonal = None
        for j in range(k):
            if j == t:
                continue
            square = g.op("Mul", [r[j, t], r[j, t]])
            diagonal = square if diagonal is None else g.op("Add", [diagonal, square])
            entries[t, j] = g.op("Neg", [g.op("Mul", [r[j, t], r[t, j]])])
        entries[t, t] = diagonal
    rows = [g.op("Concat", [entries[t, j] for j in range(k)], axis=1) for t in range(k)]
    matrix = g.op("Reshape", [g.op("Concat", rows, axis=1), g.ints([-1, k, k], "shape")])
    return matrix, [entries[t, t] for t in range(k)], rows


def _coupling(g, pairwise, k):
    """multiclass_probability for every row at once, in a Loop of max(100, k) rounds that ends early
    when every row has met libsvm's stopping rule."""
    matrix, diagonal, rows = _coupling_matrix(g, pairwise, k)
    rows_count = g.op("Slice", [g.op("Shape", [pairwise]), g.ints([0], "start"), g.ints([1], "end")])
    p0 = g.op("Expand", [g.const(np.full((1, k), 1.0 / k), "uniform"), g.op("Concat", [rows_count, g.ints([k], "k")], axis=0)])
    done0 = g.op("Less", [diagonal[0], g.const(-1.0, "never")])  # all false: Q[0][0] >= 0
    body = _coupling_round(g.subgraph(), matrix, diagonal, rows, k)
    p, _ = g.ops("Loop", [g.ints(max(100, k), "max_iter"), g.const(True, "true", bool), p0, done0], 2, "coupling", body=body)
    return p


def _coupling_round(g, matrix, diagonal, rows, k):
    """One round of libsvm's loop for all rows: the stopping test, then the k sequential updates; rows
    that have stopped keep their p."""
    iteration, cond_in, p_in, done_in = (g.fresh(n) for n in ("iteration", "cond", "p", "done"))
    qp = g.op("Squeeze", [g.op("MatMul", [matrix, g.op("Unsqueeze", [p_in, g.ints([2], "axes")])]), g.ints([2], "axes")])
    pqp = g.reduce_sum(g.op("Mul", [p_in, qp]), 1)
    error = g.op("ReduceMax", [g.op("Abs", [g.op("Sub", [qp, pqp])])], axes=[1], keepdims=1)
    done = g.op("Or", [done_in, g.op("Less", [error, g.const(0.005 / k, "eps")])])
    p = p_in
    for t in range(k):
        qp_t = g.column(qp, t)
        diff = g.op("Div", [g.op("Sub", [pqp, qp_t]), diagonal[t]])
        p = g.op("Where", [g.const(np.arange(k).reshape(1, k) == t, "is_t", bool), g.op("Add", [p, diff]), p])
        one_plus = g.op("Add", [g.const(1.0, "one"), diff])
        step = g.op("Mul", [diff, g.op("Add", [g.op("Mul", [diff, diagonal[t]]), g.op("Mul", [g.const(2.0, "two"), qp_t])])])
        pqp = g.op("Div", [g.op("Div", [g.op("Add", [pqp, step]), one_plus]), one_plus])
        qp = g.op("Div", [g.op("Add", [qp, g.op("Mul", [diff, rows[t]])]), one_plus])
        p = g.op("Div", [p, one_plus])
    p_out = g.op("Where", [done, p_in, p])
    running = g.op("Greater", [g.op("ReduceSum", [g.cast(g.op("Not", [done]), np.int64)], keepdims=0), g.ints(0, "zero")])
    cond_out = g.op("Identity", [running])
    done_out = g.op("Identity", [done])
    double = TensorProto.DOUBLE
    return helper.make_graph(
        g.nodes, "coupling_round",
        [helper.make_tensor_value_info(iteration, TensorProto.INT64, []), helper.make_tensor_value_info(cond_in, TensorProto.BOOL, []),
         helper.make_tensor_value_info(p_in, double, ["N", k]), helper.make_tensor_value_info(done_in, TensorProto.BOOL, ["N", 1])],
        [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, []), helper.make_tensor_value_info(p_out, double, ["N", k]),
         helper.make_tensor_value_info(done_out, TensorProto.BOOL, ["N", 1])])
