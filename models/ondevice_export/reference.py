"""The training distribution as `reference.json` (format ondevice/reference, src/monitor/reference.ts).

The browser measures drift against it (live rows binned like the training rows, compared by PSI,
unknown and missing rates) and takes the base values of its explanations from it (`featureMeans`).
"""
import math
import numbers

import numpy as np

from .spec import block_width
from .transformers import is_missing

FORMAT = "ondevice/reference"
FORMAT_VERSION = 1
DEFAULT_THRESHOLDS = {"psi": 0.2, "unknownRate": 0.05, "missingRate": 0.1, "minRows": 200}
# Deciles: the quantiles at 0.1, 0.2, ..., 0.9 (exact decimal fractions, not an accumulated step).
QUANTILES = np.arange(1, 10) / 10
MAX_LEVELS = 50
OTHER_LEVEL = "(other)"


def reference_stats(X_train, fields, transformed, predictions, task, additive, thresholds=None):
    """The reference (a JSON-ready dict) of a model trained on `X_train`.

    X_train: the raw training rows, a data frame (or {name: column}) holding every raw field.
        Missing means what json_row writes as null: None or NaN.
    fields: the feature spec the training script writes (a dict with "fields" and "features"), its
        "fields" list ([{"name", "type"}]), or {name: "number" | "category"}; in the spec's order.
        With a whole spec, `transformed` must have as many columns as its features make.
    transformed: the feature matrix the model is given for X_train (the pipeline's transform), shape
        (rows, columns): its column means are `featureMeans`.
    predictions: what the model answers for X_train: class labels (classification, one per row), or
        the final value (regression: after the task's inverse, e.g. dollars after expm1).
    task: the model card's task: {"kind": "classification", "classes": [...]} or {"kind": "regression", ...}.
    additive: whether the model output before the task's inverse is linear in the feature columns
        (see is_additive).
    thresholds: overrides of DEFAULT_THRESHOLDS (psi, unknownRate, missingRate, minRows).

    Numbers: `edges` are the distinct decile cut points of the non-missing values; a value v falls
    in bin searchsorted(edges, v, side="left") (the count of edges < v), so there are len(edges) + 1
    bins. Categories: every level, by descending frequency then name; past 50 levels the top 49 are
    kept and the rest become "(other)". Frequencies are shares of the non-missing values; `missing`
    is the share of rows with the field missing. Deterministic: the same inputs give the same dict.
    Raises ValueError for inconsistent inputs, a field with no training values, or non-finite numbers.
    """
    field_types, spec = _field_types(fields)
    rows = len(X_train)
    if rows < 1:
        raise ValueError("reference_stats needs at least one training row")
    matrix = np.asarray(transformed, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise ValueError(f"transformed must have one row per training row ({rows}), got shape {matrix.shape}")
    if spec is not None and matrix.shape[1] != len(feature_columns(spec)):
        raise ValueError(f"transformed has {matrix.shape[1]} columns but the feature spec makes {len(feature_columns(spec))}")
    # NaN is a missing value the model takes itself (keep_missing); infinities are refused.
    if np.any(np.isinf(matrix)):
        raise ValueError("transformed holds infinite values")
    predictions = list(np.asarray(predictions, dtype=object).ravel())
    if len(predictions) != rows:
        raise ValueError(f"predictions has {len(predictions)} values for {rows} training rows")
    if not isinstance(additive, bool):
        raise ValueError(f"additive must be True or False, got {additive!r}")

    summary = []
    for name, kind in field_types.items():
        values = list(X_train[name])
        present = [v for v in values if not is_missing(v)]
        if not present:
            raise ValueError(f"field '{name}' has no non-missing training value to summarise")
        distribution = _numbers(present, name) if kind == "number" else _categories(present)
        summary.append({"name": name, **distribution, "missing": (rows - len(present)) / rows})

    return {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "rows": rows,
        "fields": summary,
        "output": _output(predictions, task),
        "featureMeans": _means(matrix),
        "additive": additive,
        "thresholds": _thresholds(thresholds),
    }


def feature_columns(spec):
    """The raw field behind every feature column of a tabular feature spec, in column order: a one-hot
    encoding makes one column per level (or bin), every other one-field block one column; a group's
    columns (models/README.md) are named by its first field, though each depends on all of its fields."""
    columns = []
    for block in spec["features"]:
        first = block
        while "inputs" in first:
            first = first["inputs"][0]
        columns += [first["field"]] * block_width(block)
    return columns


def is_additive(estimator):
    """True when the estimator's output (before a TransformedTargetRegressor's inverse) is linear in its
    input columns: LinearRegression, Ridge, Lasso, ElasticNet, bare or inside a TransformedTargetRegressor
    (or as the last step of a Pipeline). False for everything else (logistic regression, trees, ...)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    if isinstance(estimator, TransformedTargetRegressor):
        estimator = getattr(estimator, "regressor_", estimator.regressor)
    return isinstance(estimator, (LinearRegression, Ridge, Lasso, ElasticNet))


def _field_types(fields):
    spec = None
    if isinstance(fields, dict) and isinstance(fields.get("fields"), list):
        spec = fields if "features" in fields else None
        fields = fields["fields"]
    if isinstance(fields, dict):
        types = {str(name): kind for name, kind in fields.items()}
    else:
        types = {}
        for field in fields:
            if field["name"] in types:
                raise ValueError(f"field '{field['name']}' is listed twice")
            types[field["name"]] = field["type"]
    for name, kind in types.items():
        if kind not in ("number", "category"):
            raise ValueError(f"field '{name}' has type {kind!r}; expected 'number' or 'category'")
    if not types:
        raise ValueError("reference_stats needs at least one field")
    return types, spec


def _means(matrix):
    """Each column's mean over its non-missing values (0 when it has none); without NaN, numpy's mean as ever (same bits)."""
    if not np.any(np.isnan(matrix)):
        return [float(m) for m in matrix.mean(axis=0)]
    counts = np.sum(~np.isnan(matrix), axis=0)
    sums = np.nansum(matrix, axis=0)
    return [float(s / c) if c else 0.0 for s, c in zip(sums, counts)]


def _numbers(values, name):
    """Decile bins of the values: {"type": "number", "edges", "frequencies"}."""
    try:
        array = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"number field '{name}' holds a value that is not a number: {error}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"number field '{name}' holds a non-finite value")
    return _binned(array)


def _binned(array):
    # np.unique sorts and drops repeats: strictly ascending. + 0.0 turns -0.0 into 0.0.
    edges = np.unique(np.quantile(array, QUANTILES)) + 0.0
    counts = np.bincount(np.searchsorted(edges, array, side="left"), minlength=len(edges) + 1)
    return {"type": "number", "edges": [float(e) for e in edges], "frequencies": [int(c) / len(array) for c in counts]}


def _categories(values):
    """Level shares: {"type": "category", "levels", "frequencies"}, capped at MAX_LEVELS."""
    counts = {}
    for value in values:
        level = str(value)  # as json_row sends it
        counts[level] = counts.get(level, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) > MAX_LEVELS:
        kept = [item for item in ranked if item[0] != OTHER_LEVEL][: MAX_LEVELS - 1]
        ranked = kept + [(OTHER_LEVEL, len(values) - sum(count for _, count in kept))]
    return {"type": "category", "levels": [level for level, _ in ranked], "frequencies": [count / len(values) for _, count in ranked]}


def _output(predictions, task):
    kind = task.get("kind")
    if kind == "classification":
        classes = [str(c) for c in task["classes"]]
        counts = dict.fromkeys(classes, 0)
        for label in predictions:
            label = str(label)
            if label not in counts:
                raise ValueError(f"prediction {label!r} is not one of the task's classes {classes}")
            counts[label] += 1
        return {"type": "category", "levels": classes, "frequencies": [counts[c] / len(predictions) for c in classes]}
    if kind == "regression":
        array = np.array([float(v) for v in predictions], dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError("a regression prediction is not finite")
        return _binned(array)
    raise ValueError(f"task kind must be 'classification' or 'regression', got {kind!r}")


def _thresholds(overrides):
    thresholds = dict(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise ValueError(f"unknown threshold {key!r}; known: {', '.join(DEFAULT_THRESHOLDS)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"threshold {key} must be a finite number, got {value!r}")
        thresholds[key] = value
    if not (isinstance(thresholds["minRows"], numbers.Integral) and thresholds["minRows"] >= 1):
        raise ValueError(f"threshold minRows must be a positive whole number, got {thresholds['minRows']!r}")
    if thresholds["psi"] <= 0:
        raise ValueError(f"threshold psi must be positive, got {thresholds['psi']!r}")
    for key in ("unknownRate", "missingRate"):
        if not 0 <= thresholds[key] <= 1:
            raise ValueError(f"threshold {key} must be between 0 and 1, got {thresholds[key]!r}")
    return {key: int(value) if key == "minRows" else float(value) for key, value in thresholds.items()}
