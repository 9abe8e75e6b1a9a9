"""Linear models: MatMul + Add, then the estimator's own link.

LinearSVC and SGDClassifier with a loss that has no predict_proba (hinge, perceptron, ...): the
probabilities output is the one-hot of the predicted class, so the graph keeps the two-output
classifier interface and its label equals scikit-learn's predict (the sign or argmax of the decision
function). Those 0/1 "probabilities" are not calibrated; wrap the model in CalibratedClassifierCV
for probabilities.
"""
import numpy as np

from .graph import Converted, binary_from_probability, in_double, labels_from_scores, one_hot, refuse


def regression(model, g, x, n_features):
    """LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LinearSVR: x @ coef + intercept."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] != 1:
        refuse(f"{type(model).__name__} with {coef.shape[0]} targets", "only single-target regression is supported")
    weights = g.const(coef.reshape(n_features, 1), "coefficients")
    bias = g.const(np.asarray(model.intercept_, dtype=np.float64).reshape(1), "intercept")
    return Converted("regression", g.op("Add", [g.op("MatMul", [x, weights]), bias]), g.dtype)


def logistic_regression(model, g, x, n_features):
    coef, classes = model.coef_, len(model.classes_)
    scores = g.op("Add", [g.op("MatMul", [x, g.const(coef.T, "coefficients")]), g.const(model.intercept_, "intercepts")])
    # Mirrors LogisticRegression.predict_proba: one-vs-rest unless multinomial (liblinear is always OvR).
    ovr = model.multi_class == "ovr" or (model.multi_class == "auto" and (classes <= 2 or model.solver == "liblinear"))
    if classes == 2 and ovr:
        return Converted("classification", binary_from_probability(g, g.op("Sigmoid", [scores])), g.dtype)
    if classes == 2:
        both = g.op("Concat", [g.op("Neg", [scores]), scores], axis=1)
        return Converted("classification", g.op("Softmax", [both], axis=1), g.dtype)
    if ovr:
        p = g.op("Sigmoid", [scores])
        return Converted("classification", g.op("Div", [p, g.op("ReduceSum", [p, g.const([1], "axes", np.int64)], keepdims=1)]), g.dtype)
    return Converted("classification", g.op("Softmax", [scores], axis=1), g.dtype)


def decision_function(model, g, x):
    """LinearClassifierMixin.decision_function as [N, 1] (binary) or [N, classes]."""
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercept = np.broadcast_to(np.ravel(np.asarray(model.intercept_, dtype=np.float64)), (coef.shape[0],))
    return g.op("Add", [g.op("MatMul", [x, g.const(coef.T, "coefficients")]), g.const(intercept.reshape(1, -1), "intercepts")])


def linear_classifier(model, g, x, n_features):
    """LinearSVC and SGDClassifier: predict is the decision function's sign / argmax; predict_proba
    (SGD with log_loss or modified_huber only) is computed from the same scores. In float64 whatever the
    input dtype: these are trained without much regularisation, so their scores run into the hundreds,
    where float32 sums lose 1e-4 and flip labels near the boundary."""
    classes = len(model.classes_)
    g, x = in_double(g, x)
    scores = decision_function(model, g, x)
    columns = 1 if classes == 2 else classes
    label = labels_from_scores(g, scores, columns)
    loss = getattr(model, "loss", None)
    if type(model).__name__ == "SGDClassifier" and loss in ("log_loss", "log"):
        return Converted("classification", _log_loss_probabilities(g, scores, columns), g.dtype, label)
    if type(model).__name__ == "SGDClassifier" and loss == "modified_huber":
        return Converted("classification", _modified_huber_probabilities(g, scores, columns), g.dtype, label)
    return Converted("classification", one_hot(g, label, classes), g.dtype, label)


def _log_loss_probabilities(g, scores, columns):
    """BaseSGDClassifier._predict_proba_lr: expit, then [1 - p, p] or the one-vs-rest normalisation."""
    p = g.op("Sigmoid", [scores])
    if columns == 1:
        return binary_from_probability(g, p)
    return g.op("Div", [p, g.reduce_sum(p, 1)])


def _modified_huber_probabilities(g, scores, columns):
    """SGDClassifier.predict_proba for modified_huber: (clip(score, -1, 1) + 1) / 2, then [1 - p, p] or
    normalised by the row sum (a row of zeros becomes uniform)."""
    clipped = g.op("Min", [g.op("Max", [scores, g.const(-1.0, "minus_one")]), g.const(1.0, "one")])
    p = g.op("Div", [g.op("Add", [clipped, g.const(1.0, "one")]), g.const(2.0, "two")])
    if columns == 1:
        return binary_from_probability(g, p)
    total = g.reduce_sum(p, 1)
    zero = g.op("Equal", [total, g.const(0.0, "zero")])
    p = g.op("Where", [zero, g.const(1.0, "one"), p])
    total = g.op("Where", [zero, g.const(float(columns), "classes"), total])
    return g.op("Div", [p, total])
