"""Two categorical transformers that ondevice feature specs can describe (ops `rare_label`, `ordinal`).

Both take 2-D input (a DataFrame or an object array), one category column per input column, with
strings for categories and None/NaN for missing values.
"""
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


def is_missing(value):
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def _columns(estimator, X, reset):
    """X as an object array of shape (rows, columns), remembering (or checking) the column names."""
    names = getattr(X, "columns", None)
    array = np.asarray(X, dtype=object)
    if array.ndim != 2:
        raise ValueError(f"{type(estimator).__name__} expects 2-D input, got shape {array.shape}")
    if reset:
        estimator.n_features_in_ = array.shape[1]
        if names is not None:
            estimator.feature_names_in_ = np.asarray([str(n) for n in names], dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif array.shape[1] != estimator.n_features_in_:
        raise ValueError(f"{type(estimator).__name__} was fitted on {estimator.n_features_in_} columns, got {array.shape[1]}")
    return array


def _column_name(estimator, j):
    names = getattr(estimator, "feature_names_in_", None)
    return str(names[j]) if names is not None else f"x{j}"


def _check_strings(estimator, column, j):
    for value in column:
        if not is_missing(value) and not isinstance(value, str):
            raise TypeError(
                f"{type(estimator).__name__}: column '{_column_name(estimator, j)}' holds {value!r} "
                f"({type(value).__name__}); categories must be strings (None/NaN for missing)"
            )


class _FeatureNamesOut:
    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        return np.asarray([_column_name(self, j) for j in range(self.n_features_in_)], dtype=object)


class RareLabelGrouper(_FeatureNamesOut, TransformerMixin, BaseEstimator):
    """Groups infrequent levels, per column, into one label.

    Levels whose training frequency is below `min_frequency` (a fraction of the column's non-missing
    values, or an absolute count when an int >= 1) become `label`, and so does any level not seen at
    fit time. Missing values stay missing. Fitted attribute: `keep_`, the kept levels per column (sorted).
    """

    def __init__(self, min_frequency=0.01, label="Rare"):
        self.min_frequency = min_frequency
        self.label = label

    def fit(self, X, y=None):
        threshold = self.min_frequency
        is_count = isinstance(threshold, numbers.Integral) and not isinstance(threshold, bool)
        if is_count and threshold < 1 or not is_count and not (isinstance(threshold, numbers.Real) and 0 < threshold < 1):
            raise ValueError(f"RareLabelGrouper: min_frequency must be a fraction in (0, 1) or a count >= 1, got {threshold!r}")
        if not isinstance(self.label, str):
            raise TypeError(f"RareLabelGrouper: label must be a string, got {self.label!r}")
        X = _columns(self, X, reset=True)
        self.keep_ = []
        for j in range(X.shape[1]):
            column = X[:, j]
            _check_strings(self, column, j)
            levels, counts = np.unique([v for v in column if not is_missing(v)], return_counts=True)
            if len(levels) == 0:
                raise ValueError(f"RareLabelGrouper: column '{_column_name(self, j)}' has no non-missing values")
            if self.label in levels:
                # The label would merge a real level with the rare ones, and the spec could not tell them apart.
                raise ValueError(f"RareLabelGrouper: column '{_column_name(self, j)}' already has a level named {self.label!r}")
            frequent = counts >= threshold if is_count else counts / counts.sum() >= threshold
            self.keep_.append([str(level) for level in levels[frequent]])
        return self

    def transform(self, X):
        check_is_fitted(self, "keep_")
        X = _columns(self, X, reset=False)
        out = X.copy()
        for j, keep in enumerate(self.keep_):
            _check_strings(self, X[:, j], j)
            kept = set(keep)
            for i, value in enumerate(X[:, j]):
                if not is_missing(value) and value not in kept:
                    out[i, j] = self.label
        return out


class TargetOrderedEncoder(_FeatureNamesOut, TransformerMixin, BaseEstimator):
    """Ordinal codes with each column's categories sorted by the mean training target (ties by name).

    `handle_unknown`: "error" refuses a category not seen at fit time; "use_encoded_value" encodes it
    as `unknown_value` (a finite number that is not a valid code). Missing values are refused: impute
    them first. Fitted attribute: `categories_`, per column, in code order.
    """

    def __init__(self, handle_unknown="error", unknown_value=None):
        self.handle_unknown = handle_unknown
        self.unknown_value = unknown_value

    def fit(self, X, y):
        if self.handle_unknown not in ("error", "use_encoded_value"):
            raise ValueError(f"TargetOrderedEncoder: handle_unknown must be 'error' or 'use_encoded_value', got {self.handle_unknown!r}")
        if self.handle_unknown == "use_encoded_value":
            value = self.unknown_value
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
                raise ValueError(f"TargetOrderedEncoder: unknown_value must be a finite number, got {value!r}")
        elif self.unknown_value is not None:
            raise ValueError("TargetOrderedEncoder: unknown_value is only used with handle_unknown='use_encoded_value'")
        X = _columns(self, X, reset=True)
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"TargetOrderedEncoder: X has {X.shape[0]} rows but y has {y.shape[0]}")
        self.categories_ = []
        for j in range(X.shape[1]):
            column = self._check_column(X[:, j], j)
            levels, inverse = np.unique(column.astype(str), return_inverse=True)
            means = np.bincount(inverse, weights=y) / np.bincount(inverse)
            order = sorted(range(len(levels)), key=lambda k: (means[k], levels[k]))
            self.categories_.append(np.asarray([str(levels[k]) for k in order], dtype=object))
        if self.handle_unknown == "use_encoded_value" and any(0 <= self.unknown_value < len(c) for c in self.categories_):
            raise ValueError(f"TargetOrderedEncoder: unknown_value {self.unknown_value!r} is also the code of a known category")
        return self

    def transform(self, X):
        check_is_fitted(self, "categories_")
        X = _columns(self, X, reset=False)
        out = np.empty(X.shape, dtype=np.float64)
        for j, categories in enumerate(self.categories_):
            codes = {category: float(code) for code, category in enumerate(categories)}
            for i, value in enumerate(self._check_column(X[:, j], j)):
                code = codes.get(value)
                if code is None:
                    if self.handle_unknown == "error":
                        raise ValueError(f"TargetOrderedEncoder: column '{_column_name(self, j)}' has unknown category {value!r}")
                    code = float(self.unknown_value)
                out[i, j] = code
        return out

    def _check_column(self, column, j):
        _check_strings(self, column, j)
        if any(is_missing(v) for v in column):
            raise ValueError(f"TargetOrderedEncoder: column '{_column_name(self, j)}' has missing values; impute them first")
        return column
