"""ondevice_export: a fitted scikit-learn / XGBoost research pipeline as the files `ondevice pack` reads.

Use from a training script (Debian's /usr/bin/python3; numpy, scikit-learn, onnx; xgboost only to
convert an XGBoost model):

    sys.path.insert(0, "<repo>/models")
    from ondevice_export import RareLabelGrouper, TargetOrderedEncoder, feature_spec, reference_stats, to_onnx

API

feature_spec(transformer, name, version, dtype="float32", fields=None, input_name="features") -> dict
    The ondevice feature spec (models/README.md) of a fitted ColumnTransformer, or of a Pipeline whose
    first step is one. Per-column transformers: a step or a Pipeline of SimpleImputer (mean, median,
    most_frequent, constant; first step only), StandardScaler, MinMaxScaler (clip too),
    FunctionTransformer(np.log1p), RareLabelGrouper, OneHotEncoder (dense; handle_unknown error or
    ignore; last step), OrdinalEncoder and TargetOrderedEncoder (handle_unknown error or
    use_encoded_value), 'passthrough'; remainder 'drop' (or 'passthrough'). Anything else raises
    UnsupportedStep naming the step and the column. Ops written:
      {"op": "impute", "strategy": "mean"|"median"|"most_frequent"|"constant", "value": number|string}
      {"op": "rare_label", "keep": [levels kept, sorted], "label": "Rare"}
      {"op": "one_hot", "categories": [...], "unknown": "error"|"ignore"}
      {"op": "ordinal", "categories": [... code = index], "unknown": "error"}
      {"op": "ordinal", "categories": [...], "unknown": "value", "unknownValue": -1.0}
      {"op": "log1p"}
      {"op": "standardize", "mean": m, "scale": s}                 (x - m) / s
      {"op": "min_max", "scale": s, "min": m, "clip": [lo, hi]}    x * s + m, then clip ("clip" only if clip=True)

to_onnx(estimator, n_features, input_dtype=np.float64, output_name="value", output_dtype=None,
        input_name="features", probabilities_name="probabilities", label_name="label", graph_name=None) -> onnx.ModelProto
    LinearRegression, Ridge, Lasso, ElasticNet, LogisticRegression, RandomForest{Regressor,Classifier},
    GradientBoosting{Regressor,Classifier}, XGB{Regressor,Classifier}, and TransformedTargetRegressor
    (func=np.log1p, inverse_func=np.expm1) around any of the regressors. Anything else raises
    UnsupportedEstimator. See onnx_export.py for how trees stay exact.

append_expm1(model, output_name="value", dtype=np.float64) -> onnx.ModelProto
    A one-output ONNX model (e.g. from torch.onnx.export, trained on log1p(target)) with Cast, Exp, Sub 1 appended.

tfjs_layers_model(layers, input_name="features", generated_by=..., converted_by=...) -> (dict, bytes)
write_tfjs_layers_model(directory, layers, **options) -> dict
    Dense layers [(name, kernel [in, out], bias [out], activation)] as a TF.js layers model.json + weights.bin.

json_row(record, fields) -> dict
    A data-frame row as the JSON an app sends (null for missing), for the end-to-end and confidence sets.

reference_stats(X_train, fields, transformed, predictions, task, additive, thresholds=None) -> dict
    The training distribution as reference.json (models/README.md): per raw field (in `fields` order: the
    feature spec, its "fields" list or {name: type}) decile bins of a number (edges + frequencies) or the
    shares of a category's levels (top 49 + "(other)" past 50), and its missing share; the distribution
    of `predictions` on X_train (class labels, or the regression's final value); the column means of
    `transformed` (the feature matrix of X_train); `additive`; drift thresholds (DEFAULT_THRESHOLDS,
    overridable). Deterministic.
feature_columns(spec) -> list[str]
    The raw field behind each feature column of a tabular feature spec (one_hot: one per category).
is_additive(estimator) -> bool
    Whether the output before the task's inverse is linear in the feature columns: LinearRegression,
    Ridge, Lasso, ElasticNet (bare, in a TransformedTargetRegressor, or ending a Pipeline).

ondevice_export.variants.int8_static(model, calibration) -> onnx.ModelProto
    An int8 build of an exported MLP for the WASM backend (Gemm -> QuantizeLinear with calibrated
    scales + MatMulInteger on int8 weights); evaluate(model, x) computes such a graph in numpy.
    See variants.py and models/README.md, "Variants".

RareLabelGrouper(min_frequency=0.01, label="Rare"), TargetOrderedEncoder(handle_unknown="error", unknown_value=None)
    The two scikit-learn transformers behind the rare_label and ordinal ops (see transformers.py).
"""
from .onnx_export import UnsupportedEstimator, append_expm1, to_onnx
from .reference import DEFAULT_THRESHOLDS, feature_columns, is_additive, reference_stats
from .rows import json_row
from .spec import UnsupportedStep, feature_spec
from .tfjs import tfjs_layers_model, write_tfjs_layers_model
from .transformers import RareLabelGrouper, TargetOrderedEncoder

__all__ = [
    "DEFAULT_THRESHOLDS",
    "RareLabelGrouper",
    "TargetOrderedEncoder",
    "UnsupportedEstimator",
    "UnsupportedStep",
    "append_expm1",
    "feature_columns",
    "feature_spec",
    "is_additive",
    "json_row",
    "reference_stats",
    "tfjs_layers_model",
    "to_onnx",
    "write_tfjs_layers_model",
]
