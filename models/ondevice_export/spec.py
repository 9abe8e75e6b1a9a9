"""A fitted scikit-learn ColumnTransformer or Pipeline as an ondevice feature spec (see models/README.md)."""
import numbers

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (FunctionTransformer, KBinsDiscretizer, MaxAbsScaler, MinMaxScaler, Normalizer, OneHotEncoder,
                                   OrdinalEncoder, PolynomialFeatures, RobustScaler, StandardScaler)
from sklearn.utils.validation import check_is_fitted

from .transformers import RareLabelGrouper, TargetOrderedEncoder, is_missing

SUPPORTED = (
    "SimpleImputer (mean, median, most_frequent, constant; add_indicator), StandardScaler, MinMaxScaler, RobustScaler, "
    "MaxAbsScaler, OneHotEncoder (handle_unknown error/ignore/infrequent_if_exist; drop; min_frequency/max_categories), "
    "OrdinalEncoder (handle_unknown error/use_encoded_value, a number or NaN; encoded_missing_value), "
    "KBinsDiscretizer (encode ordinal/onehot/onehot-dense), "
    "FunctionTransformer (np.log1p, np.log, np.sqrt, np.exp, np.expm1, np.clip with constant a_min/a_max), "
    "RareLabelGrouper, TargetOrderedEncoder, 'passthrough'; in a ColumnTransformer or a Pipeline on all columns"
)
CATEGORY_OPS = ("rare_label", "one_hot", "ordinal")
# FunctionTransformer functions and their ops: elementwise, float64 in numpy and in JavaScript's Math.
FUNCTIONS = {np.log1p: "log1p", np.log: "log", np.sqrt: "sqrt", np.exp: "exp", np.expm1: "expm1"}
# Numeric steps a group's output columns may take (a one-column op each, no encoding).
OUTPUT_STEPS = (StandardScaler, RobustScaler, MaxAbsScaler, MinMaxScaler, FunctionTransformer, KBinsDiscretizer)


class UnsupportedStep(ValueError):
    """A preprocessing step (or one of its options) that the ondevice feature spec cannot express."""


def _refuse(step, column, why=None):
    reason = f": {why}" if why else f"; supported: {SUPPORTED}"
    raise UnsupportedStep(f"{step} on column '{column}' is not supported by ondevice{reason}")


class _Lane:
    """One output block while the steps are read: its field, ops, what flows out of it and its columns."""

    def __init__(self, field, kind=None, value="raw", ops=None):
        self.field = field
        self.kind = kind  # the raw field's type, once a step shows it (None: not yet)
        self.value = value  # raw (number or category), category, number, or encoded (one column per level)
        self.ops = ops if ops is not None else []
        self.width = 1

    def block(self):
        return {"field": self.field, "type": self.kind, "steps": self.ops}


class _Group:
    """A step that mixes a row's columns (Normalizer, PolynomialFeatures) over the lanes before it, and the
    one-column ops each of its output columns takes after it."""

    kind = None
    value = "number"

    def __init__(self, inputs, combine, width):
        self.inputs = inputs
        self.combine = combine
        self.width = width
        self.outputs = [[] for _ in range(width)]
        self.field = ", ".join(dict.fromkeys(f for lane in inputs for f in lane.field.split(", ")))

    def block(self):
        block = {"inputs": [lane.block() for lane in self.inputs], "combine": self.combine}
        if any(self.outputs):
            block["outputs"] = self.outputs
        return block


def feature_spec(transformer, name, version, dtype="float32", fields=None, input_name="features", missing="error"):
    """The feature spec (a JSON-ready dict) of a fitted ColumnTransformer or Pipeline.

    A Pipeline's steps before its estimator (the last step, when it predicts) are read in order: the
    first may be a ColumnTransformer, and steps after it apply to all its output columns; without one,
    the steps apply to all the input columns (named from feature_names_in_, or x0, x1, ... for a NumPy
    array).
    fields: optional {column: "number" | "category"} (or a list of {"name", "type"} dicts) fixing the
    raw fields' order and types; by default every column the transformer uses, typed by its steps.
    missing: "error" (a null in a number column nothing imputes is refused) or "model" (it reaches the
    model as NaN, for an estimator that takes missing values itself: XGBoost, HistGradientBoosting).
    Raises UnsupportedStep, naming the step and the column, for anything the spec cannot express.
    """
    if missing not in ("error", "model"):
        raise ValueError(f"missing must be 'error' or 'model', got {missing!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    steps = _preprocessing(transformer)
    if not steps:
        raise UnsupportedStep(f"{type(transformer).__name__} has no preprocessing step to describe")
    if isinstance(steps[0], ColumnTransformer):
        lanes, order = _column_transformer(steps[0]), [str(c) for c in getattr(steps[0], "feature_names_in_", [])]
        steps = steps[1:]
    else:
        order = _input_names(steps[0])
        lanes = [_Lane(column) for column in order]
    for step in [s for fitted in steps for s in _flatten(fitted)]:
        if isinstance(step, ColumnTransformer):
            raise UnsupportedStep("a ColumnTransformer after another step is not supported by ondevice: put it first")
        lanes = _apply(step, lanes)
    for lane in lanes:
        if lane.kind == "category" and lane.value == "category":
            _refuse("RareLabelGrouper without an encoder", lane.field, "a category block must end with OneHotEncoder or an ordinal encoder")
        if lane.kind is None and lane.value == "raw":
            lane.kind = "number"  # passed through, or imputed only
    blocks = [lane.block() for lane in lanes]
    if missing == "model":
        blocks = [_keep_missing(block) for block in blocks]
    return _assemble(blocks, order, fields, name, version, dtype, input_name)


def _keep_missing(block):
    """A number column's block that nothing imputes sends a null on to the model as NaN (op keep_missing)."""
    first = block["steps"][0]["op"] if block.get("steps") else None
    if "inputs" in block or block.get("type") == "category" or first in ("impute", "missing_indicator"):
        return block
    return {**block, "steps": [{"op": "keep_missing"}, *block["steps"]]}


def _preprocessing(transformer):
    """The fitted steps before the estimator: a Pipeline's, or the transformer itself."""
    if not isinstance(transformer, Pipeline):
        check_is_fitted(transformer)
        return [transformer]
    steps = [step for _, step in transformer.steps if step is not None and step != "passthrough"]
    if steps and hasattr(steps[-1], "predict"):
        steps = steps[:-1]
    for step in steps:
        check_is_fitted(step)
    return steps


def _input_names(step):
    names = getattr(step, "feature_names_in_", None)
    if names is not None:
        return [str(c) for c in names]
    count = getattr(step, "n_features_in_", None)
    if count is None:
        raise UnsupportedStep(f"{type(step).__name__} does not say how many columns it was fitted on (n_features_in_)")
    return [f"x{i}" for i in range(count)]


def _column_transformer(transformer):
    check_is_fitted(transformer, "transformers_")
    if transformer.sparse_output_:
        raise UnsupportedStep("ColumnTransformer with sparse output is not supported by ondevice: set sparse_threshold=0")
    if transformer.transformer_weights:
        raise UnsupportedStep("ColumnTransformer with transformer_weights is not supported by ondevice")
    lanes = []
    for group, fitted, columns in transformer.transformers_:
        columns = _column_names(transformer, columns)
        if fitted == "drop" or not columns:
            continue
        if group == "remainder" and fitted != "passthrough":
            raise UnsupportedStep(f"remainder={type(fitted).__name__} is not supported by ondevice: use remainder='drop' or 'passthrough'")
        group_lanes = [_Lane(column) for column in columns]
        for step in _flatten(fitted):
            group_lanes = _apply(step, group_lanes)
        width = sum(lane.width for lane in group_lanes)
        produced = transformer.output_indices_.get(group)
        if produced is not None and produced.stop - produced.start != width:
            raise UnsupportedStep(f"transformer '{group}' yields {produced.stop - produced.start} columns but its steps describe {width}")
        lanes += group_lanes
    return lanes


def _assemble(blocks, order, fields, name, version, dtype, input_name):
    """The spec's fields (declared or inferred) checked against the blocks' types, and the spec itself."""
    types = {}
    for block in _field_blocks(blocks):
        kind = block.pop("type")
        if kind is not None and types.setdefault(block["field"], kind) != kind:
            raise UnsupportedStep(f"column '{block['field']}' is used both as a number and as a category")
    for block in _field_blocks(blocks):
        types.setdefault(block["field"], "number")  # a field only a missing indicator reads
    if fields is None:
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

    for block in _field_blocks(blocks):
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


def _field_blocks(blocks):
    """The one-field blocks, those inside groups included."""
    for block in blocks:
        if "inputs" in block:
            yield from _field_blocks(block["inputs"])
        else:
            yield block


def block_width(block):
    """The columns a spec block writes (models/README.md): one per level of a one-hot encoding, one per
    output of a group, else one."""
    if "combine" in block:
        combine = block["combine"]
        return len(combine["terms"]) if combine["op"] == "polynomial" else sum(block_width(b) for b in block["inputs"])
    last = block["steps"][-1] if block.get("steps") else None
    if last is None:
        return 1
    if last["op"] == "one_hot":
        return len(last["categories"]) + (1 if last.get("infrequent") else 0) - (1 if "drop" in last else 0)
    if last["op"] == "bins" and last["encode"] == "one_hot":
        return len(last["edges"]) + 1
    return 1


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
    """Estimators in order; pipelines are flattened and identity steps dropped."""
    if fitted is None or (isinstance(fitted, str) and fitted == "passthrough"):
        return []
    if isinstance(fitted, Pipeline):
        return [step for _, step in fitted.steps for step in _flatten(step)]
    return [fitted]


def _apply(step, lanes):
    """The lanes after one fitted step: each lane's column j (its place among the step's inputs) gets its op."""
    label = type(step).__name__
    if type(step) in (Normalizer, PolynomialFeatures):
        return [_group(step, lanes)]
    out = []
    j = 0
    for lane in lanes:
        if lane.value == "encoded":
            _refuse(f"{label} after a one-hot encoding", lane.field, "a one-hot encoding must be the last step of a block")
        width = lane.width  # the columns the step reads (a one-hot step widens the lane)
        if isinstance(lane, _Group):
            for k in range(width):
                _output_step(step, j + k, lane, k)
        else:
            _step(step, j, lane)
        out.append(lane)
        j += width
    if type(step) is SimpleImputer and step.add_indicator:
        # The indicator columns follow every imputed column, in the order of the imputer's inputs.
        out += [_Lane(lanes[k].field, value="number", ops=[{"op": "missing_indicator"}]) for k in step.indicator_.features_]
    return out


def _group(step, lanes):
    """A Normalizer or PolynomialFeatures over all the lanes' columns, as one group block."""
    column = ", ".join(lane.field for lane in lanes)
    for lane in lanes:
        if lane.value not in ("number", "encoded") and not (lane.value == "raw" and lane.kind != "category"):
            _refuse(type(step).__name__, lane.field, f"it needs numbers but gets {lane.value}s from the step before")
        if lane.value == "raw":
            lane.kind = "number"
    width = sum(lane.width for lane in lanes)
    if type(step) is Normalizer:
        if step.norm not in ("l1", "l2", "max"):
            _refuse(f"Normalizer(norm={step.norm!r})", column)
        return _Group(lanes, {"op": "normalize", "norm": step.norm}, width)
    if step.order != "C":
        _refuse(f"PolynomialFeatures(order={step.order!r})", column)
    if step.n_features_in_ != width:
        _refuse("PolynomialFeatures", column, f"it was fitted on {step.n_features_in_} columns but its inputs describe {width}")
    # Each output column is the product of the input columns its powers_ row names, in scikit-learn's order.
    terms = [[int(i) for i in np.repeat(np.arange(width), row)] for row in step.powers_]
    return _Group(lanes, {"op": "polynomial", "terms": terms}, len(terms))


def _output_step(step, j, group, k):
    """The op of a one-column step on output k of a group (its column j among the step's inputs)."""
    if type(step) not in OUTPUT_STEPS or (type(step) is KBinsDiscretizer and step.encode != "ordinal"):
        _refuse(f"{type(step).__name__} after {group.combine['op']}", group.field, "a group's outputs take one-column numeric steps only")
    op = _numeric(step, j, group.field)
    if op is not None:
        group.outputs[k].append(op)


def _step(step, j, lane):
    """Adds fitted step's op for its input column j to the lane."""
    label = type(step).__name__
    column = lane.field
    if type(step) is SimpleImputer:
        if lane.ops:
            _refuse(label, column, "impute must be the first step of a block")
        lane.ops.append(_impute(step, j, column))
        return

    # Exact types: a subclass may transform differently from what the op describes.
    if type(step) in (RareLabelGrouper, OneHotEncoder, OrdinalEncoder, TargetOrderedEncoder):
        if lane.value not in ("raw", "category"):
            _refuse(label, column, f"it needs categories but gets {lane.value}s from the step before")
        lane.kind = lane.kind or "category"
        if type(step) is RareLabelGrouper:
            lane.ops.append({"op": "rare_label", "keep": [str(c) for c in step.keep_[j]], "label": step.label})
            lane.value = "category"
        elif type(step) is OneHotEncoder:
            op = _one_hot(step, j, column)
            lane.ops.append(op)
            lane.value, lane.width = "encoded", block_width({"steps": [op]})
        else:
            lane.ops.append(_ordinal(step, j, column, missing=not any(o["op"] == "impute" for o in lane.ops)))
            lane.value = "number"
        return

    op = _numeric(step, j, column)
    if op is None:
        return
    if lane.value == "category":
        _refuse(label, column, "it needs numbers but gets categories from the step before")
    lane.kind = lane.kind or ("number" if lane.value == "raw" else None)
    lane.ops.append(op)
    lane.value = "number"
    if op["op"] == "bins" and op["encode"] == "one_hot":
        if lane.kind == "category":
            _refuse("KBinsDiscretizer(encode='onehot') after an encoder", column, "the spec one-hot encodes the bins of a number field only")
        lane.value, lane.width = "encoded", len(op["edges"]) + 1


def _numeric(step, j, column):
    """The op of a step on numbers for column j; None for an identity step."""
    if type(step) is StandardScaler:
        # with_mean=False still fits mean_ (for the variance) but transform() does not subtract it.
        mean = float(step.mean_[j]) if step.with_mean else 0.0
        scale = float(step.scale_[j]) if step.with_std else 1.0
        return {"op": "standardize", "mean": mean, "scale": scale}
    if type(step) is RobustScaler:
        # transform(): x - center_, then / scale_; x - 0.0 and x / 1.0 are x exactly.
        center = float(step.center_[j]) if step.with_centering else 0.0
        scale = float(step.scale_[j]) if step.with_scaling else 1.0
        return {"op": "standardize", "mean": center, "scale": scale}
    if type(step) is MaxAbsScaler:
        return {"op": "standardize", "mean": 0.0, "scale": float(step.scale_[j])}
    if type(step) is MinMaxScaler:
        op = {"op": "min_max", "scale": float(step.scale_[j]), "min": float(step.min_[j])}
        if step.clip:
            op["clip"] = [float(step.feature_range[0]), float(step.feature_range[1])]
        return op
    if type(step) is KBinsDiscretizer:
        return _bins(step, j, column)
    if type(step) is FunctionTransformer:
        return _function(step, column)
    _refuse(type(step).__name__, column)


def _function(step, column):
    if step.func is None:
        if step.kw_args:
            _refuse(f"FunctionTransformer(kw_args={step.kw_args!r})", column, "the identity takes no arguments")
        return None
    name = getattr(step.func, "__name__", repr(step.func))
    if step.func is np.clip:
        return _clip(step.kw_args or {}, column)
    if step.func not in FUNCTIONS:
        _refuse(f"FunctionTransformer({name!r})", column, "the functions supported are np.log1p, np.log, np.sqrt, np.exp, np.expm1 and np.clip")
    if step.kw_args:
        _refuse(f"FunctionTransformer({name}, kw_args={step.kw_args!r})", column, "only np.clip takes arguments")
    return {"op": FUNCTIONS[step.func]}


def _clip(kw_args, column):
    unknown = set(kw_args) - {"a_min", "a_max"}
    if unknown:
        _refuse(f"FunctionTransformer(np.clip, kw_args={kw_args!r})", column, "np.clip takes constant a_min and a_max only")
    op = {"op": "clip"}
    for key, bound in (("a_min", "min"), ("a_max", "max")):
        value = kw_args.get(key)
        if value is None:
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            _refuse(f"FunctionTransformer(np.clip, {key}={value!r})", column, f"{key} must be a finite number (one per column is not supported)")
        op[bound] = float(value)
    if len(op) == 1:
        _refuse("FunctionTransformer(np.clip) without a_min or a_max", column, "np.clip needs a bound")
    if "min" in op and "max" in op and op["min"] > op["max"]:
        _refuse(f"FunctionTransformer(np.clip, a_min={op['min']}, a_max={op['max']})", column, "a_min must not exceed a_max")
    return op


def _bins(step, j, column):
    if step.dtype not in (None, np.float64):
        _refuse(f"KBinsDiscretizer(dtype={step.dtype!r})", column, "the spec computes in float64")
    edges = [float(e) for e in step.bin_edges_[j][1:-1]]
    encode = {"ordinal": "ordinal", "onehot": "one_hot", "onehot-dense": "one_hot"}.get(step.encode)
    if encode is None:
        _refuse(f"KBinsDiscretizer(encode={step.encode!r})", column)
    return {"op": "bins", "edges": edges, "encode": encode}


def _impute(step, j, column):
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


def _categories(step, j, column, allow_missing=False):
    """The fitted levels of column j; with allow_missing, a missing level (fitted on NaN, listed last) is left out."""
    categories = list(step.categories_[j])
    if allow_missing and categories and is_missing(categories[-1]):
        categories = categories[:-1]
    for category in categories:
        if not isinstance(category, str):
            _refuse(f"{type(step).__name__} category {category!r}", column, "categories must be strings (impute missing values first)")
    return categories


def _one_hot(step, j, column):
    if step.handle_unknown not in ("error", "ignore", "infrequent_if_exist"):
        _refuse(f"OneHotEncoder(handle_unknown={step.handle_unknown!r})", column)
    levels = _categories(step, j, column)
    infrequent = getattr(step, "_infrequent_indices", None) if getattr(step, "_infrequent_enabled", False) else None
    infrequent = None if infrequent is None else infrequent[j]
    op = {"op": "one_hot", "categories": levels, "unknown": step.handle_unknown}
    if infrequent is not None:
        # transform() maps the infrequent levels to one column after the frequent ones.
        rare = set(int(i) for i in infrequent)
        op["categories"] = [c for i, c in enumerate(levels) if i not in rare]
        op["infrequent"] = [c for i, c in enumerate(levels) if i in rare]
    if op["unknown"] == "infrequent_if_exist":
        # Unknown levels go to the infrequent column if this column has one, else encode as zeros.
        op["unknown"] = "infrequent" if infrequent is not None else "ignore"
    drop = None if step.drop_idx_ is None else step.drop_idx_[j]
    if drop is not None:
        # drop_idx_ counts in the grouped columns (frequent levels, then the infrequent one).
        op["drop"] = int(drop)
    return op


def _ordinal(step, j, column, missing):
    """The ordinal op; `missing`: no impute step before it, so a null reaches the encoder."""
    seen_missing = type(step) is OrdinalEncoder and bool(list(step.categories_[j])) and is_missing(step.categories_[j][-1])
    categories = _categories(step, j, column, allow_missing=type(step) is OrdinalEncoder)
    if type(step) is OrdinalEncoder and step.dtype not in (np.float64, float):
        _refuse(f"OrdinalEncoder(dtype={step.dtype!r})", column, "the spec computes in float64")
    if step.handle_unknown == "error":
        op = {"op": "ordinal", "categories": categories, "unknown": "error"}
    elif step.handle_unknown == "use_encoded_value":
        unknown = step.unknown_value
        if not isinstance(unknown, numbers.Real) or isinstance(unknown, (bool, np.bool_)) or np.isinf(unknown):
            _refuse(f"{type(step).__name__}(unknown_value={unknown!r})", column, "unknown_value must be a number or NaN")
        # NaN is null in JSON: the op then writes NaN for the model (one that takes missing values).
        op = {"op": "ordinal", "categories": categories, "unknown": "value", "unknownValue": None if np.isnan(unknown) else float(unknown)}
    else:
        _refuse(f"{type(step).__name__}(handle_unknown={step.handle_unknown!r})", column)
    if missing and type(step) is OrdinalEncoder:
        # transform(): a level fitted on NaN is encoded_missing_value, else NaN is one more unknown value.
        if seen_missing:
            encoded = float(step.encoded_missing_value)
            op["missing"] = None if np.isnan(encoded) else encoded
        elif op["unknown"] == "value":
            op["missing"] = op["unknownValue"]
    return op
