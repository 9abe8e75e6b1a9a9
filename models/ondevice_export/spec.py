"""A fitted scikit-learn ColumnTransformer as an ondevice feature spec (see models/README.md)."""
import numbers

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from .transformers import RareLabelGrouper, TargetOrderedEncoder, is_missing

SUPPORTED = (
    "SimpleImputer (mean, median, most_frequent, constant), StandardScaler, MinMaxScaler, "
    "OneHotEncoder (dense, handle_unknown error/ignore), OrdinalEncoder (handle_unknown error/use_encoded_value), "
    "FunctionTransformer(np.log1p), RareLabelGrouper, TargetOrderedEncoder, 'passthrough'"
)
CATEGORY_OPS = ("rare_label", "one_hot", "ordinal")


class UnsupportedStep(ValueError):
    """A preprocessing step (or one of its options) that the ondevice feature spec cannot express."""


def _refuse(step, column, why=None):
    reason = f": {why}" if why else f"; supported: {SUPPORTED}"
    raise UnsupportedStep(f"{step} on column '{column}' is not supported by ondevice{reason}")


def feature_spec(transformer, name, version, dtype="float32", fields=None, input_name="features"):
    """The feature spec (a JSON-ready dict) of a fitted ColumnTransformer, or a Pipeline that starts with one.

    fields: optional {column: "number" | "category"} (or a list of {"name", "type"} dicts) fixing the
    raw fields' order and types; by default every column the transformer uses, typed by its steps.
    Raises UnsupportedStep, naming the step and the column, for anything the spec cannot express.
    """
    if isinstance(transformer, Pipeline):
        transformer = transformer.steps[0][1]
    if not isinstance(transformer, ColumnTransformer):
        raise UnsupportedStep(f"expected a ColumnTransformer (or a Pipeline starting with one), got {type(transformer).__name__}")
    check_is_fitted(transformer, "transformers_")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if transformer.sparse_output_:
        raise UnsupportedStep("ColumnTransformer with sparse output is not supported by ondevice: set sparse_threshold=0")
    if transformer.transformer_weights:
        raise UnsupportedStep("ColumnTransformer with transformer_weights is not supported by ondevice")

    blocks = []
    for group, fitted, columns in transformer.transformers_:
        columns = _column_names(transformer, columns)
        if fitted == "drop" or not columns:
            continue
        if group == "remainder" and fitted != "passthrough":
            raise UnsupportedStep(f"remainder={type(fitted).__name__} is not supported by ondevice: use remainder='drop' or 'passthrough'")
        steps = _flatten(fitted)
        group_blocks = [_block(column, j, steps) for j, column in enumerate(columns)]
        width = sum(len(b["steps"][-1]["categories"]) if b["steps"] and b["steps"][-1]["op"] == "one_hot" else 1 for b in group_blocks)
        produced = transformer.output_indices_.get(group)
        if produced is not None and produced.stop - produced.start != width:
            raise UnsupportedStep(f"transformer '{group}' yields {produced.stop - produced.start} columns but its steps describe {width}")
        blocks += group_blocks

    types = {}
    for block in blocks:
        kind = block.pop("type")
        if types.setdefault(block["field"], kind) != kind:
            raise UnsupportedStep(f"column '{block['field']}' is used both as a number and as a category")
    if fields is None:
        order = [str(c) for c in getattr(transformer, "feature_names_in_", [])]
        fields = {f: types[f] for f in sorted(types, key=lambda f: order.index(f) if f in order else len(order))}
    elif not isinstance(fields, dict):
        fields = {f["name"]: f["type"] for f in fields}
    for field, kind in types.items():
        if field not in fields:
            raise ValueError(f"column '{field}' is used by the transformer but missing from fields")
        if fields[field] != kind:
            raise UnsupportedStep(f"column '{field}' is declared a {fields[field]} but its steps treat it as a {kind}")
    for field, kind in fields.items():
        if kind not in ("number", "category"):
            raise ValueError(f"field '{field}': type must be 'number' or 'category', got {kind!r}")

    for block in blocks:
        impute = block["steps"][0] if block["steps"] and block["steps"][0]["op"] == "impute" else None
        if impute is not None:
            impute["value"] = _typed_value(impute["value"], types[block["field"]], block["field"])
    return {
        "format": "ondevice/feature-spec",
        "formatVersion": 1,
        "name": name,
        "version": version,
        "fields": [{"name": f, "type": t} for f, t in fields.items()],
        "features": blocks,
        "output": {"input": input_name, "dtype": dtype},
    }


def _column_names(transformer, columns):
    if isinstance(columns, str):
        return [columns]
    names = getattr(transformer, "feature_names_in_", None)
    if isinstance(columns, slice) or (np.asarray(columns).dtype == bool and len(columns)):
        columns = np.arange(transformer.n_features_in_)[columns]
    out = []
    for column in columns:
        if isinstance(column, numbers.Integral):
            out.append(str(names[column]) if names is not None else f"x{column}")
        else:
            out.append(str(column))
    return out


def _flatten(fitted):
    """(name, estimator) pairs in order; pipelines are flattened and identity steps dropped."""
    if fitted == "passthrough" or fitted is None:
        return []
    if isinstance(fitted, Pipeline):
        return [pair for _, step in fitted.steps for pair in _flatten(step)]
    return [fitted]


def _block(column, j, steps):
    """One output block: the spec steps of column j (its index within its transformer's columns)."""
    ops = []
    value = "raw"  # what flows between steps: raw (number or category), category, number, or encoded (one-hot)
    kind = None  # the raw field's type, once a step shows it
    for position, step in enumerate(steps):
        label = type(step).__name__
        if value == "encoded":
            _refuse(f"{label} after OneHotEncoder", column, "one_hot must be the last step of a block")
        if type(step) is SimpleImputer:
            if position != 0:
                _refuse(label, column, "impute must be the first step of a block")
            ops.append(_impute(step, j, column))
            continue

        # Exact types: a subclass may transform differently from what the op describes.
        if type(step) in (RareLabelGrouper, OneHotEncoder, OrdinalEncoder, TargetOrderedEncoder):
            if value not in ("raw", "category"):
                _refuse(label, column, f"it needs categories but gets {value}s from the step before")
            kind = kind or "category"
            if type(step) is RareLabelGrouper:
                ops.append({"op": "rare_label", "keep": [str(c) for c in step.keep_[j]], "label": step.label})
                value = "category"
            elif type(step) is OneHotEncoder:
                ops.append(_one_hot(step, j, column))
                value = "encoded"
            else:
                ops.append(_ordinal(step, j, column))
                value = "number"
            continue

        if type(step) is StandardScaler:
            # with_mean=False still fits mean_ (for the variance) but transform() does not subtract it.
            mean = float(step.mean_[j]) if step.with_mean else 0.0
            scale = float(step.scale_[j]) if step.with_std else 1.0
            op = {"op": "standardize", "mean": mean, "scale": scale}
        elif type(step) is MinMaxScaler:
            op = {"op": "min_max", "scale": float(step.scale_[j]), "min": float(step.min_[j])}
            if step.clip:
                op["clip"] = [float(step.feature_range[0]), float(step.feature_range[1])]
        elif type(step) is FunctionTransformer:
            if step.kw_args:
                _refuse(f"FunctionTransformer(kw_args={step.kw_args!r})", column, "function arguments are not supported")
            if step.func is None:
                continue
            if step.func is not np.log1p:
                _refuse(f"FunctionTransformer({getattr(step.func, '__name__', step.func)!r})", column, "the only function supported is np.log1p")
            op = {"op": "log1p"}
        else:
            _refuse(label, column)
        if value == "category":
            _refuse(label, column, "it needs numbers but gets categories from the step before")
        kind = kind or "number"
        value = "number"
        ops.append(op)
    if kind == "category" and value == "category":
        _refuse("RareLabelGrouper without an encoder", column, "a category block must end with OneHotEncoder or an ordinal encoder")
    return {"field": column, "type": kind or "number", "steps": ops}


def _impute(step, j, column):
    if step.add_indicator:
        _refuse("SimpleImputer(add_indicator=True)", column, "missing-value indicator columns have no spec op")
    if not is_missing(step.missing_values) or step.missing_values is None:
        _refuse(f"SimpleImputer(missing_values={step.missing_values!r})", column, "only NaN (null in a row) counts as missing")
    if step.strategy not in ("mean", "median", "most_frequent", "constant"):
        _refuse(f"SimpleImputer(strategy={step.strategy!r})", column)
    statistic = step.statistics_[j]
    if is_missing(statistic):
        # scikit-learn drops (or keeps as NaN) a column it saw no value for: there is nothing to impute.
        _refuse("SimpleImputer", column, "the column had no non-missing value at fit time")
    return {"op": "impute", "strategy": step.strategy, "value": statistic}


def _typed_value(value, kind, column):
    if kind == "category":
        if not isinstance(value, str):
            _refuse(f"SimpleImputer(fill {value!r})", column, "a category field must be imputed with a string")
        return value
    if isinstance(value, str) or not isinstance(value, numbers.Real):
        _refuse(f"SimpleImputer(fill {value!r})", column, "a number field must be imputed with a number")
    return float(value)


def _categories(step, j, column):
    categories = list(step.categories_[j])
    for category in categories:
        if not isinstance(category, str):
            _refuse(f"{type(step).__name__} category {category!r}", column, "categories must be strings (impute missing values first)")
    return categories


def _one_hot(step, j, column):
    if step.drop_idx_ is not None or step.drop is not None:
        _refuse(f"OneHotEncoder(drop={step.drop!r})", column, "dropping a category has no spec op")
    if step.min_frequency is not None or step.max_categories is not None:
        _refuse("OneHotEncoder(min_frequency/max_categories)", column, "use RareLabelGrouper before the encoder instead")
    if step.handle_unknown not in ("error", "ignore"):
        _refuse(f"OneHotEncoder(handle_unknown={step.handle_unknown!r})", column)
    return {"op": "one_hot", "categories": _categories(step, j, column), "unknown": step.handle_unknown}


def _ordinal(step, j, column):
    if step.handle_unknown == "error":
        return {"op": "ordinal", "categories": _categories(step, j, column), "unknown": "error"}
    if step.handle_unknown != "use_encoded_value":
        _refuse(f"{type(step).__name__}(handle_unknown={step.handle_unknown!r})", column)
    unknown = step.unknown_value
    if is_missing(unknown) or not isinstance(unknown, numbers.Real):
        _refuse(f"{type(step).__name__}(unknown_value={unknown!r})", column, "unknown_value must be a finite number")
    return {"op": "ordinal", "categories": _categories(step, j, column), "unknown": "value", "unknownValue": float(unknown)}
