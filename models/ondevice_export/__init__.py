"""ondevice_export: a fitted scikit-learn / XGBoost research pipeline as the files `ondevice pack` reads.

Use from a training script (Debian's /usr/bin/python3; numpy, scikit-learn, onnx; xgboost only to
convert an XGBoost model):

    sys.path.insert(0, "<repo>/models")
    from ondevice_export import RareLabelGrouper, TargetOrderedEncoder, feature_spec, reference_stats, to_onnx

API

export_bundle(pipeline, out_dir, *, name, version, X_train, X_test, y_test, metric_range, fields=None,
              row_fields=None, dtype="float32", description=None, data=None, tolerance=1e-5,
              tolerance_reason=None, feature_spec_version=None, graph_name=None, e2e="synthetic", e2e_rows=32,
              e2e_every=6, confidence_rows=None, seed=0, metric=None, output="value", output_dtype=None, task=None,
              model=None, runtime="onnxruntime-web", algorithm=None, training=None, spec_name=None,
              card_extra=None, parity_extra=None, compact_sets=False, environment=True) -> dict
    One call: a fitted Pipeline (a ColumnTransformer, then the estimator) and its data as a complete
    build folder (feature spec, model.onnx, end-to-end and confidence sets, model card, reference
    statistics, parity.json). The end-to-end set is synthetic by default (no real record ships);
    confidence_rows sizes the labelled set. Infers fields, task, classes and the feature count; refuses (ValueError,
    nothing written) when the held-out metric is outside metric_range. Returns the model card.
    Every parameter, default and refusal: REFERENCE.md beside this file.

feature_spec(transformer, name, version, dtype="float32", fields=None, input_name="features") -> dict
    The ondevice feature spec (models/README.md) of a fitted ColumnTransformer, or of a Pipeline: its steps
    before the estimator, starting with a ColumnTransformer (later steps apply to all its columns) or not
    (the steps apply to every input column, named from feature_names_in_ or x0, x1, ... for NumPy).
    Steps (spec.SUPPORTED): SimpleImputer (mean, median, most_frequent, constant; add_indicator; first step
    only), StandardScaler, RobustScaler, MaxAbsScaler, MinMaxScaler (clip too), FunctionTransformer
    (np.log1p, np.log, np.sqrt, np.exp, np.expm1, np.clip with constant bounds), KBinsDiscretizer (ordinal
    or one-hot), RareLabelGrouper, OneHotEncoder (handle_unknown error/ignore/infrequent_if_exist, drop,
    min_frequency/max_categories; last step), OrdinalEncoder (unknown_value a number or NaN,
    encoded_missing_value) and TargetOrderedEncoder, Normalizer and PolynomialFeatures (group blocks),
    'passthrough'; remainder 'drop' (or 'passthrough'). Anything else raises UnsupportedStep naming the
    step and the column. Ops written (models/README.md has each one's meaning):
      {"op": "impute", "strategy": "mean"|"median"|"most_frequent"|"constant", "value": number|string}
      {"op": "missing_indicator"}
      {"op": "rare_label", "keep": [levels kept, sorted], "label": "Rare"}
      {"op": "one_hot", "categories": [...], "unknown": "error"|"ignore"|"infrequent", "infrequent": [...], "drop": k}
      {"op": "ordinal", "categories": [... code = index], "unknown": "error", "missing": number|null}
      {"op": "ordinal", "categories": [...], "unknown": "value", "unknownValue": -1.0 (or null: NaN)}
      {"op": "log1p"} {"op": "log"} {"op": "sqrt"} {"op": "exp"} {"op": "expm1"}
      {"op": "clip", "min": lo, "max": hi}                         either bound may be left out
      {"op": "standardize", "mean": m, "scale": s}                 (x - m) / s
      {"op": "min_max", "scale": s, "min": m, "clip": [lo, hi]}    x * s + m, then clip ("clip" only if clip=True)
      {"op": "bins", "edges": [inner edges], "encode": "ordinal"|"one_hot"}
      {"inputs": [blocks], "combine": {"op": "polynomial", "terms": [[i, j], ...]} | {"op": "normalize", "norm": "l2"},
       "outputs": [[steps of output 0], ...]}                      a group block

to_onnx(estimator, n_features, input_dtype=np.float64, output_name="value", output_dtype=None,
        input_name="features", probabilities_name="probabilities", label_name="label", graph_name=None) -> onnx.ModelProto
    A fitted estimator as an ONNX graph (opset 17, ai.onnx.ml 3) for onnxruntime-web, input [N, n_features]
    float64 or float32. Regressors output `output_name` [N, 1]; classifiers output `probabilities_name`
    [N, classes] in estimator.classes_ order and `label_name` [N] (int64 index into classes_, equal to
    predict); never a ZipMap. Supported (SUPPORTED lists them; anything else, or an unsupported option,
    raises UnsupportedEstimator naming the estimator and why):
      linear      LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LinearSVR; LogisticRegression;
                  LinearSVC and SGDClassifier (predict_proba for loss log_loss / modified_huber; other losses
                  and LinearSVC have none: "probabilities" is then the one-hot of the predicted class)
      trees       DecisionTree{Regressor,Classifier}, ExtraTree{Regressor,Classifier},
                  RandomForest{Regressor,Classifier}, ExtraTrees{Regressor,Classifier},
                  GradientBoosting{Regressor,Classifier}, HistGradientBoosting{Regressor,Classifier} (NaN go
                  where the fitted tree sends them; categorical_features bitset splits),
                  XGB{Regressor,Classifier} (gbtree; NaN and `missing` follow each split's default direction)
      libsvm      SVR, NuSVR, SVC, NuSVC with linear, poly, rbf or sigmoid kernels; probability=True gives
                  libsvm's Platt + pairwise-coupling probabilities (without it, the one-hot of predict);
                  the label is libsvm's vote, as predict
      neighbours  KNeighbors{Regressor,Classifier}, uniform or distance weights, euclidean / manhattan /
                  chebyshev (minkowski p = 2, 1, inf): the training set is in the graph; an exact tie at
                  the k-th distance keeps the lowest training indices (scikit-learn's heap or tree order
                  may keep others there)
      neural      MLP{Regressor,Classifier}, relu / tanh / logistic / identity
      Bayes       GaussianNB, BernoulliNB (binarize), MultinomialNB
      calibrated  CalibratedClassifierCV (sigmoid, isotonic; ensemble or not) around a supported classifier
      target      TransformedTargetRegressor (func=np.log1p, inverse_func=np.expm1) around a supported regressor
    Exactness: float64 input agrees with the trainer within 1e-5 relative (trees decide exactly as the
    trainer); float32 input within 1e-4 of the trainer on the float32 rows (SVMs, neighbours, LinearSVC /
    SGDClassifier, naive Bayes and CalibratedClassifierCV compute in float64 inside). Both are what
    test_estimators.py checks on scikit-learn's bundled data sets. See onnx_export.py and the module
    of each family (trees.py, linear.py, svm.py, neighbors.py, neural.py, bayes.py, calibration.py).

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

ondevice_export.environment: build_environment() (the machine and packages, for the model card),
    deterministic(seed), out_dir(default) (a training script's --out). See REFERENCE.md.

ondevice_export.ortweb.run(cases) -> {name: {output: values}}
    Scores ONNX models with onnxruntime-web's WASM build in Node (ort_run.mjs), as the tests do.

ondevice_export.variants.int8_static(model, calibration) -> onnx.ModelProto
    An int8 build of an exported MLP for the WASM backend (Gemm -> QuantizeLinear with calibrated
    scales + MatMulInteger on int8 weights); evaluate(model, x) computes such a graph in numpy.
    See variants.py and models/README.md, "Variants".

RareLabelGrouper(min_frequency=0.01, label="Rare"), TargetOrderedEncoder(handle_unknown="error", unknown_value=None)
    The two scikit-learn transformers behind the rare_label and ordinal ops (see transformers.py).
"""
from .bundle import export_bundle, infer_fields
from .onnx_export import SUPPORTED, UnsupportedEstimator, append_expm1, to_onnx
from .reference import DEFAULT_THRESHOLDS, feature_columns, is_additive, reference_stats
from .rows import json_row
from .spec import UnsupportedStep, feature_spec
from .tfjs import tfjs_layers_model, write_tfjs_layers_model
from .transformers import RareLabelGrouper, TargetOrderedEncoder

__all__ = [
    "export_bundle",
    "infer_fields",
    "DEFAULT_THRESHOLDS",
    "RareLabelGrouper",
    "SUPPORTED",
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
