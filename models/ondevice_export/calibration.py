"""CalibratedClassifierCV: the mean of its calibrated classifiers' predict_proba, as scikit-learn 1.2 computes it.

Each calibrated classifier scores its estimator with decision_function when it has one, else
predict_proba (the positive column only for two classes), passes each column through its calibrator
(sigmoid: expit(-(a T + b)); isotonic: clip to the fitted range, then np.interp on the thresholds),
and normalises: two classes -> [1 - p1, p1]; more -> divided by the row sum (uniform where that is 0);
then values in (1, 1 + 1e-5] become 1. Computed in float64 whatever the input dtype: isotonic steps
turn a float32 rounding of the score into a jump of the probability.
"""
import numpy as np

from .graph import Converted, in_double, refuse


def calibrated(model, g, x, n_features, convert):
    """convert(estimator, g, x, n_features) -> Converted: the exporter's dispatcher, for the inner estimators."""
    g, x = in_double(g, x)
    n_classes = len(model.classes_)
    total = None
    for calibrated_classifier in model.calibrated_classifiers_:
        proba = _calibrated_one(calibrated_classifier, g, x, n_features, n_classes, convert)
        total = proba if total is None else g.op("Add", [total, proba])
    mean = g.op("Div", [total, g.const(float(len(model.calibrated_classifiers_)), "count")])
    return Converted("classification", mean, g.dtype)


def _calibrated_one(calibrated_classifier, g, x, n_features, n_classes, convert):
    estimator = getattr(calibrated_classifier, "estimator", None) or calibrated_classifier.base_estimator  # 1.2 / 1.1
    predictions, columns = _predictions(estimator, g, x, n_features, n_classes, convert)
    positions = np.searchsorted(calibrated_classifier.classes, estimator.classes_)  # LabelEncoder.transform
    calibrated_columns = {}
    for class_index, column, calibrator in zip(positions, range(columns), calibrated_classifier.calibrators):
        if n_classes == 2:
            class_index += 1  # predictions hold the positive class only
        calibrated_columns[int(class_index)] = _calibrate(calibrator, g, g.column(predictions, column))
    zero = None
    if len(calibrated_columns) < n_classes:
        zero = g.op("Mul", [g.column(predictions, 0), g.const(0.0, "zero")])
    if n_classes == 2:
        positive = calibrated_columns.get(1, zero)
        proba = g.op("Concat", [g.op("Sub", [g.const(1.0, "one"), positive]), positive], axis=1)
    else:
        proba = g.op("Concat", [calibrated_columns.get(c, zero) for c in range(n_classes)], axis=1)
        total = g.reduce_sum(proba, 1)
        nonzero = g.op("Not", [g.op("Equal", [total, g.const(0.0, "zero")])])
        proba = g.op("Where", [nonzero, g.op("Div", [proba, total]), g.const(1.0 / n_classes, "uniform")])
    barely_above = g.op("And", [g.op("Greater", [proba, g.const(1.0, "one")]), g.op("LessOrEqual", [proba, g.const(1.0 + 1e-5, "one_plus")])])
    return g.op("Where", [barely_above, g.const(1.0, "one"), proba])


def _predictions(estimator, g, x, n_features, n_classes, convert):
    """(tensor [N, m], m) of calibration._compute_predictions: decision_function if the estimator has one."""
    if hasattr(estimator, "decision_function"):
        scores = decision_function(estimator, g, x, n_features)
        return scores, _width(estimator)
    if not hasattr(estimator, "predict_proba"):
        refuse(f"CalibratedClassifierCV around {type(estimator).__name__}", "it has neither decision_function nor predict_proba")
    converted = convert(estimator, g, x, n_features)
    if converted.kind != "classification":
        refuse(f"CalibratedClassifierCV around {type(estimator).__name__}", "the inner estimator must be a classifier")
    proba = converted.value if converted.dtype == g.dtype else g.cast(converted.value, g.dtype)
    if n_classes == 2:
        return g.column(proba, 1), 1
    return proba, len(estimator.classes_)


def _width(estimator):
    """Columns of decision_function made 2-D: 1 for two classes, else one per class (or per pair for SVC ovo)."""
    k = len(estimator.classes_)
    if k == 2:
        return 1
    if getattr(estimator, "decision_function_shape", "ovr") == "ovo":
        return k * (k - 1) // 2
    return k


def decision_function(estimator, g, x, n_features):
    """The decision_function of the estimators that have one and that this exporter reads, as [N, m]."""
    from sklearn import ensemble, linear_model, svm as sk_svm

    from . import linear, svm, trees

    kind = type(estimator)
    if kind in (linear_model.LogisticRegression, linear_model.SGDClassifier, sk_svm.LinearSVC):
        return linear.decision_function(estimator, g, x)
    if kind in (sk_svm.SVC, sk_svm.NuSVC):
        return svm.decision_function(estimator, g, x)
    if kind is ensemble.GradientBoostingClassifier:
        return trees.gradient_boosting_raw(estimator, g, x)
    if kind is ensemble.HistGradientBoostingClassifier:
        return trees.hist_gradient_boosting_raw(estimator, g, x, n_features)
    refuse(f"CalibratedClassifierCV around {kind.__name__}", "its decision_function is not supported")


def _calibrate(calibrator, g, scores):
    name = type(calibrator).__name__
    if name == "_SigmoidCalibration":  # expit(-(a T + b))
        affine = g.op("Add", [g.op("Mul", [scores, g.const(float(calibrator.a_), "a")]), g.const(float(calibrator.b_), "b")])
        return g.op("Sigmoid", [g.op("Neg", [affine])])
    if name == "IsotonicRegression":
        return isotonic(calibrator, g, scores)
    refuse(f"CalibratedClassifierCV with a {name} calibrator")


def isotonic(calibrator, g, t):
    """IsotonicRegression.predict with out_of_bounds='clip': clip to [X_min_, X_max_], then np.interp:
    at or past the last threshold its value; else with j the last threshold <= t,
    slope_j * (t - x_j) + y_j, slope_j = (y_j+1 - y_j) / (x_j+1 - x_j) as numpy computes it."""
    if calibrator.out_of_bounds != "clip":
        refuse(f"IsotonicRegression(out_of_bounds={calibrator.out_of_bounds!r})", "only 'clip' is supported")
    xs = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
    ys = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
    if len(ys) == 1:
        return g.op("Add", [g.op("Mul", [t, g.const(0.0, "zero")]), g.const(ys[0], "constant")])
    t = g.op("Min", [g.op("Max", [t, g.const(float(calibrator.X_min_), "x_min")]), g.const(float(calibrator.X_max_), "x_max")])
    slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    if len(xs) > 2:  # j = how many of x_1 .. x_n-2 are <= t
        inner = g.const(xs[1:-1].reshape(1, -1), "inner_thresholds")
        j = g.reduce_sum(g.cast(g.op("LessOrEqual", [inner, t]), np.int64), 1)
        slope, x_j, y_j = (g.op("Gather", [g.const(v, name), j]) for v, name in ((slopes, "slopes"), (xs[:-1], "x"), (ys[:-1], "y")))
    else:
        slope, x_j, y_j = g.const(slopes[0], "slope"), g.const(xs[0], "x"), g.const(ys[0], "y")
    inside = g.op("Add", [g.op("Mul", [slope, g.op("Sub", [t, x_j])]), y_j])
    at_end = g.op("GreaterOrEqual", [t, g.const(xs[-1], "x_last")])
    return g.op("Where", [at_end, g.const(ys[-1], "y_last"), inside])
