"""export_bundle: a fitted scikit-learn Pipeline and its data as a complete build folder for `ondevice pack`.

One call writes what a training script used to write by hand: feature-spec.json, model.onnx,
e2e-set.json, confidence-set.json, model-card.json, reference.json (and parity.json for the tests).
Everything it infers (fields and their kinds, the task, classes, the feature count, the metric, the
algorithm, the library, the graph) can be given instead. Every parameter: REFERENCE.md beside this file.
"""
import hashlib
import json
import os
import warnings

import numpy as np
import onnx
import pandas as pd
import sklearn

from .environment import build_environment
from .onnx_export import to_onnx
from .reference import feature_columns, is_additive, reference_stats
from .rows import json_row
from .spec import feature_spec

DTYPES = {"float32": np.float32, "float64": np.float64}
METRICS = {"classification": ("accuracy",), "regression": ("rmse", "mae", "r2")}
RUNTIMES = ("onnxruntime-web", "tensorflow-js")
LINEAR_ROWS = 20  # held-out rows whose exact linear attributions parity.json carries (additive models)


def export_bundle(
    pipeline,
    out_dir,
    *,
    name,
    version,
    X_train,
    X_test,
    y_test,
    fields=None,
    row_fields=None,
    dtype="float32",
    description=None,
    data=None,
    metric_range=None,
    tolerance=1e-5,
    tolerance_reason=None,
    feature_spec_version=None,
    graph_name=None,
    e2e="synthetic",
    e2e_rows=32,
    e2e_every=6,
    confidence_rows="auto",
    seed=0,
    metric=None,
    output="value",
    output_dtype=None,
    task=None,
    model=None,
    runtime="onnxruntime-web",
    algorithm=None,
    training=None,
    spec_name=None,
    card_extra=None,
    parity_extra=None,
    compact_sets=False,
    environment=True,
):
    """Writes the build folder for `pipeline` (fitted; a ColumnTransformer, then the estimator) into out_dir.

    X_train, X_test, y_test: pandas frames/series of raw columns, as the pipeline was fitted and held out.
    fields: {column: "number" | "category"} for the feature spec; inferred from X_train's dtypes (numeric
      dtypes are numbers, anything else categories) when None.
    row_fields: the same, in the order the sets' rows list their keys (default: fields).
    dtype: the model input's dtype, "float32" or "float64"; the spec and the ONNX graph are paired on it.
    data: {"name", "file" (as written in the card), "path" (read for its SHA-256) or "sha256", "rows", and
      anything else, e.g. "split"} for the model card; without it, the training frame's CSV is hashed.
    metric_range: [low, high] the held-out metric (accuracy for a classifier, RMSE for a regressor) must be
      inside to serve; required. The research value must be inside it, or nothing is written.
    description: one line for people (default: the estimator, the number of fields and the task).
    tolerance, tolerance_reason: the gate's allowed difference from the research outputs, and why.
    e2e: what the end-to-end set's rows are. "synthetic" (the default): e2e_rows rows drawn column by column
      from the training data's values, missing at each column's rate (every column with gaps has some), so
      the set, which every browser downloads, holds no real record; "held-out": every row with a missing
      value, then every e2e_every-th held-out row. Either way the expected outputs are the pipeline's own.
    confidence_rows: how many held-out rows (and their labels or targets) the confidence set holds, drawn
      stratified by class for a classifier; None: all of them; "auto" (the default): enough for the gate's
      metric to stay in its range by chance no more than about one time in 700 (for accuracy p with range
      low, 9 p (1 - p) / (p - low)^2 rows, at least 50; a regressor's metric: 200), never more than held out.
      They are real records, sent to every browser: keep the set as small as the metric's range allows.
    seed: the draws' seed (synthetic rows, the confidence subset).
    metric: the held-out metric the gate checks: "accuracy" (a classifier's, the default), "rmse" (a regressor's
      default), "mae" or "r2" (regressors).
    output: a regressor's output name (the task's "value"). A TransformedTargetRegressor(func=np.log1p,
      inverse_func=np.expm1) around a linear regressor is written as its linear part (output "log_<output>")
      with the task's inverse "expm1", so the model stays additive and its attributions exact.
    output_dtype: the graph's output dtype (default: dtype).
    task: the model card's task, instead of the inferred one.
    model: the model instead of to_onnx(estimator): an onnx.ModelProto (written as model.onnx), a dict
      {file name: ModelProto or bytes}, or a function(out_dir) that writes the model files (another runtime).
    runtime: "onnxruntime-web" (default) or "tensorflow-js" (then `model` writes model.json + weights.bin).
    algorithm: entries laid over the inferred {"name", "hyperparameters"} (e.g. a "target" note).
    training: entries laid over the inferred {"library", "libraryVersion"} (e.g. "preprocessing").
    spec_name: the feature spec's name (default: name).
    card_extra: entries appended to the model card (e.g. "variants").
    parity_extra: entries appended to parity.json (tests only).
    compact_sets: write the sets and parity.json one row per line (smaller files, readable diffs).
    environment: record the build environment (environment.build_environment) as training.environment.
    Returns the model card it wrote.
    """
    if metric_range is None:
        raise ValueError("export_bundle: metric_range is required: the range the held-out metric must stay in to serve")
    if dtype not in DTYPES:
        raise ValueError(f"export_bundle: dtype must be float32 or float64, got {dtype!r}")
    if not (isinstance(e2e, pd.DataFrame) or e2e in ("synthetic", "held-out")):
        raise ValueError(f"export_bundle: e2e must be 'synthetic' or 'held-out' (or a DataFrame of the rows), got {e2e!r}")
    if runtime not in RUNTIMES:
        raise ValueError(f"export_bundle: runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime != "onnxruntime-web" and model is None:
        raise ValueError(f"export_bundle: a {runtime} model cannot be converted here: give model=, a function that writes its files")
    if not isinstance(X_train, pd.DataFrame) or not isinstance(X_test, pd.DataFrame):
        options = {k: v for k, v in locals().items() if k not in ("pipeline", "out_dir")}
        return _from_numpy(pipeline, out_dir, options)
    features, estimator = pipeline[:-1], pipeline[-1]
    fields = fields if fields is not None else infer_fields(X_train)
    row_fields = row_fields if row_fields is not None else fields
    log_linear = model is None and task is None and splits_log_target(estimator)
    if task is None:
        task = task_of(estimator, f"log_{output}" if log_linear else output)
        if log_linear:
            task["inverse"] = "expm1"
    metric = metric or METRICS[task["kind"]][0]
    if task["kind"] not in METRICS or metric not in METRICS[task["kind"]]:
        raise ValueError(f"export_bundle: metric {metric!r} does not fit a {task['kind']} model (one of {', '.join(METRICS.get(task['kind'], ()))})")
    research = held_out_metric(pipeline, metric, X_test, y_test)
    if not metric_range[0] <= research <= metric_range[1]:
        raise ValueError(f"export_bundle: held-out {metric} {research} is outside {metric_range}: refusing to export")

    # Everything is made before anything is written: a refused step or estimator leaves no half folder.
    spec = feature_spec(pipeline, spec_name or name, feature_spec_version or version, dtype=dtype, fields=fields,
                        missing="model" if takes_missing(estimator) else "error")
    n_features = features.transform(X_train.head(1)).shape[1]
    if model is None:
        names = {"output_name": task["value"]} if task["kind"] == "regression" else \
            {"probabilities_name": task.get("probabilities", "probabilities"), "label_name": task.get("label", "label")}
        model = to_onnx(inner_regressor(estimator) if log_linear else estimator, n_features, input_dtype=DTYPES[dtype],
                        output_dtype=output_dtype, graph_name=graph_name, **names)
    raw = lambda frame: [json_row(r, row_fields) for _, r in frame.iterrows()]  # noqa: E731
    if isinstance(e2e, pd.DataFrame):
        e2e_frame = e2e
    else:
        e2e_frame = synthetic_rows(X_train, e2e_rows, seed) if e2e == "synthetic" else end_to_end_rows(X_train, X_test, e2e_every)
    X_conf, y_conf = confidence_subset(X_test, y_test, task, confidence_size(confidence_rows, metric, research, metric_range, len(X_test)), seed)
    truth = "labels" if task["kind"] == "classification" else "targets"
    description = description or f"{name}: {type(estimator).__name__} on {len(fields)} fields ({task['kind']})"
    card = model_card(name, version, description, task, estimator, data or frame_data(name, X_train, X_test), len(X_train),
                      feature_spec_version or version, runtime, algorithm, training, environment)
    card["gate"] = {
        "tolerance": tolerance,
        **({"toleranceReason": tolerance_reason} if tolerance_reason else {}),
        "metric": {"name": metric, "range": list(metric_range), "research": research},
    }
    card.update(card_extra or {})
    Z_train, Z_test = features.transform(X_train), features.transform(X_test)
    additive = is_additive(estimator)
    reference = reference_stats(X_train, spec, Z_train, pipeline.predict(X_train), task, additive)
    parity = {"features": [[None if v != v else v for v in row] for row in Z_test.tolist()], "predictions": predictions(pipeline, task, X_test), **(parity_extra or {})}
    if additive and model_is_linear(estimator, log_linear):
        parity["linear"] = linear_parity(spec, inner_regressor(estimator), reference["featureMeans"], Z_test[:LINEAR_ROWS])
    sets = write_rows_json if compact_sets else write_json
    files = {
        "feature-spec.json": (spec, write_json),
        "reference.json": (reference, write_json),
        "e2e-set.json": ({"rows": raw(e2e_frame), "expected": expected_outputs(pipeline, task, e2e_frame)}, sets),
        "confidence-set.json": ({"rows": raw(X_conf), truth: labels(task, y_conf)}, sets),
        "parity.json": (parity, sets),
        "model-card.json": (card, write_json),
    }
    os.makedirs(out_dir, exist_ok=True)
    write_model(model, out_dir)
    for file, (value, write) in files.items():
        write(os.path.join(out_dir, file), value)
    return card


def write_model(model, out_dir):
    """model: a ModelProto (model.onnx), {file: ModelProto | bytes}, or a function(out_dir) that writes the files."""
    if callable(model):
        model(out_dir)
        return
    for file, content in (model if isinstance(model, dict) else {"model.onnx": model}).items():
        if isinstance(content, (bytes, bytearray)):
            with open(os.path.join(out_dir, file), "wb") as f:
                f.write(content)
        else:
            onnx.save(content, os.path.join(out_dir, file))


def inner_regressor(estimator):
    """The regressor inside a TransformedTargetRegressor (fitted), or the estimator itself."""
    from sklearn.compose import TransformedTargetRegressor

    return getattr(estimator, "regressor_", estimator) if isinstance(estimator, TransformedTargetRegressor) else estimator


def splits_log_target(estimator):
    """A TransformedTargetRegressor(log1p / expm1) around a linear model: its graph stops before expm1 (the task's inverse)."""
    from sklearn.compose import TransformedTargetRegressor

    return (isinstance(estimator, TransformedTargetRegressor) and estimator.func is np.log1p and estimator.inverse_func is np.expm1
            and estimator.transformer is None and is_additive(estimator))


def model_is_linear(estimator, log_linear):
    """Whether the graph's output is the linear model's own (a bare linear regressor, or the log-target split)."""
    from sklearn.compose import TransformedTargetRegressor

    return log_linear or not isinstance(estimator, TransformedTargetRegressor)


def linear_parity(spec, regressor, feature_means, Z):
    """A linear model's exact explanation of the rows Z, in the space its graph outputs: per raw field, the sum over its
    feature columns of coef * (x - training mean); with the base value (the output at the training means) they add up
    to the model's output (checked to 1e-9)."""
    coefficients = np.asarray(regressor.coef_, dtype=np.float64).ravel()
    intercept = float(np.ravel(regressor.intercept_)[0]) if np.ndim(regressor.intercept_) else float(regressor.intercept_)
    means = np.asarray(feature_means, dtype=np.float64)
    fields = [f["name"] for f in spec["fields"]]
    columns = np.array(feature_columns(spec))
    contributions = coefficients * (Z - means)
    attributions = [[float(row[columns == field].sum()) for field in fields] for row in contributions]
    outputs = [float(v) for v in np.ravel(regressor.predict(Z))]
    base = float(intercept + coefficients @ means)
    for r, (row, output) in enumerate(zip(attributions, outputs)):
        if abs(base + sum(row) - output) > 1e-9:
            raise ValueError(f"export_bundle: linear attributions of row {r} sum to {base + sum(row)}, not the model's {output}")
    return {
        "fields": fields,
        "coefficients": [float(c) for c in coefficients],
        "intercept": intercept,
        "featureMeans": [float(m) for m in means],
        "baseValue": base,
        "attributions": attributions,
        "outputs": outputs,
    }


def _from_numpy(pipeline, out_dir, options):
    """export_bundle for NumPy arrays: as frames with the columns feature_spec names them (x0, x1, ...), or
    the pipeline's feature_names_in_. The pipeline still gets what it was fitted on: scikit-learn warns of
    names it was not fitted with but computes the same, so that warning is silenced here."""
    names = getattr(pipeline, "feature_names_in_", None)
    def frame(X):
        X = np.asarray(X)
        return pd.DataFrame(X, columns=[str(c) for c in names] if names is not None else [f"x{i}" for i in range(X.shape[1])])
    options["X_train"], options["X_test"] = frame(options["X_train"]), frame(options["X_test"])
    options["y_test"] = pd.Series(np.asarray(options["y_test"]), index=options["X_test"].index)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X has feature names, but")
        return export_bundle(pipeline, out_dir, **options)


def infer_fields(frame):
    """{column: "number" | "category"}: numeric dtypes are numbers, anything else (object, category, bool) categories."""
    return {c: "number" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "category" for c in frame.columns}


def task_of(estimator, output="value"):
    if hasattr(estimator, "classes_"):
        return {"kind": "classification", "classes": [str(c) for c in estimator.classes_], "probabilities": "probabilities", "label": "label"}
    return {"kind": "regression", "value": output}


def held_out_metric(pipeline, metric, X_test, y_test):
    predicted = pipeline.predict(X_test)
    if metric == "accuracy":
        return float(np.mean(np.asarray(predicted).astype(str) == np.asarray(y_test).astype(str)))
    from sklearn.metrics import mean_absolute_error, r2_score

    if metric == "r2":
        return float(r2_score(y_test, predicted))
    if metric == "mae":
        return float(mean_absolute_error(y_test, predicted))
    return float(np.sqrt(np.mean((np.asarray(predicted, dtype=float) - np.asarray(y_test, dtype=float)) ** 2)))


def end_to_end_rows(X_train, X_test, every):
    """Every row with a missing value (the imputation paths), in the data's order, then a spread of complete held-out rows."""
    everything = pd.concat([X_train, X_test]).sort_index()
    has_missing = everything.isna().any(axis=1)
    index = list(everything.index[has_missing]) + [i for i in X_test.index[::every] if not has_missing[i]]
    return everything.loc[index]


def synthetic_rows(X_train, count, seed):
    """count rows, each column drawn on its own from the training values (so no row is a real record), missing
    at the column's own rate; the first rows carry one gap each for every column that has gaps, so each
    imputation path is checked."""
    rng = np.random.default_rng(seed)
    columns = {}
    for column in X_train.columns:
        present = X_train[column].dropna().to_numpy()
        drawn = pd.Series(present[rng.integers(0, len(present), count)], dtype=X_train[column].dtype)
        rate = float(X_train[column].isna().mean())
        drawn[rng.random(count) < rate] = np.nan
        columns[column] = drawn
    frame = pd.DataFrame(columns)
    gappy = [c for c in X_train.columns if X_train[c].isna().any()]
    for i, column in enumerate(gappy[:count]):
        frame.loc[i, column] = np.nan
    return frame


def confidence_size(rows, metric, research, metric_range, held_out):
    """The confidence set's rows: as asked, or (\"auto\") sized from the metric's wanted precision."""
    if rows != "auto":
        return rows
    if metric != "accuracy":
        return min(held_out, 200)
    margin = research - metric_range[0]
    if margin <= 0:
        return held_out
    # Three standard errors of a proportion between the research accuracy and the range's low end.
    return min(held_out, max(50, int(np.ceil(9 * research * (1 - research) / margin ** 2))))


def confidence_subset(X_test, y_test, task, count, seed):
    """The held-out rows the confidence set keeps: all, or `count` of them (stratified by class for a classifier), in their order."""
    if count is None or count >= len(X_test):
        return X_test, y_test
    from sklearn.model_selection import train_test_split

    stratify = y_test if task["kind"] == "classification" else None
    kept, _ = train_test_split(X_test.index, train_size=count, stratify=stratify, random_state=seed)
    in_order = X_test.index[X_test.index.isin(kept)]
    return X_test.loc[in_order], y_test.loc[in_order]


def predictions(pipeline, task, frame):
    if task["kind"] == "classification":
        return pipeline.predict_proba(frame).tolist()
    return [float(v) for v in pipeline.predict(frame)]


def takes_missing(estimator):
    """Whether the estimator scores NaN itself (each split sends it its learned way), so a null may reach it."""
    return type(estimator).__name__ in ("XGBClassifier", "XGBRegressor", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def expected_outputs(pipeline, task, frame):
    # NaN (a missing value the model takes itself) is null in JSON.
    features = [[None if v != v else v for v in row] for row in pipeline[:-1].transform(frame).tolist()]
    if task["kind"] == "classification":
        return {"features": features, "probabilities": pipeline.predict_proba(frame).tolist(), "label": [str(v) for v in pipeline.predict(frame)]}
    return {"features": features, "value": [float(v) for v in pipeline.predict(frame)]}


def labels(task, y):
    return [str(v) for v in y] if task["kind"] == "classification" else [float(v) for v in y]


def frame_data(name, X_train, X_test):
    """The data's description when the caller gives none: its rows, and the SHA-256 of the training frame as CSV."""
    return {
        "name": f"{name} training frame",
        "file": "",
        "sha256": hashlib.sha256(X_train.to_csv().encode()).hexdigest(),
        "rows": int(len(X_train) + len(X_test)),
    }


def hyperparameters(estimator):
    """The estimator's parameters that are plain values (no NaN), sorted by name."""
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in sorted(params.items()) if isinstance(v, (int, float, str, bool)) and not (isinstance(v, float) and np.isnan(v))}


def library_of(estimator):
    """(library, version) of the package the estimator comes from: scikit-learn, xgboost, ..."""
    import sys

    package = type(estimator).__module__.split(".")[0]
    if package == "sklearn":
        return "scikit-learn", sklearn.__version__
    return package, str(getattr(sys.modules.get(package), "__version__", "unknown"))


def model_card(name, version, description, task, estimator, data, train_rows, spec_version, runtime="onnxruntime-web", algorithm=None,
               training_extra=None, environment=True):
    """The model card's metadata: library versions, the algorithm and its hyperparameters, the data it was trained on."""
    inner = inner_regressor(estimator)
    library, library_version = library_of(inner)
    training = {"library": library, "libraryVersion": library_version}
    training.update(training_extra or {})
    if runtime == "onnxruntime-web":
        training.setdefault("onnxVersion", onnx.__version__)
    if data is not None:
        described = {"name": data["name"], "file": data["file"]}
        described["sha256"] = sha256_file(data["path"]) if "path" in data else data["sha256"]
        described.update({k: data[k] for k in ("rows",) if k in data})
        described["trainRows"] = int(train_rows)
        described.update({k: v for k, v in data.items() if k not in ("name", "file", "path", "sha256", "rows")})
        training["data"] = described
    if environment:
        training["environment"] = build_environment()
    return {
        "name": name,
        "version": version,
        "description": description,
        "runtime": runtime,
        "task": task,
        "algorithm": {"name": type(inner).__name__, "hyperparameters": hyperparameters(inner), **(algorithm or {})},
        "training": training,
        "featureSpecVersion": spec_version,
    }


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, value):
    """JSON as the training scripts write it; NaN or Infinity refused (JSON has neither; write None for a missing value)."""
    with open(path, "w") as f:
        json.dump(value, f, indent=1, allow_nan=False)
        f.write("\n")


def write_rows_json(path, value):
    """Large sets: one row per line, so the files stay small and diffs stay readable; NaN or Infinity refused."""

    def encode(v, level):
        pad = " " * (level + 1)
        if isinstance(v, dict):
            return "{\n" + ",\n".join(f"{pad}{json.dumps(k)}: {encode(x, level + 1)}" for k, x in v.items()) + "\n" + " " * level + "}"
        if isinstance(v, list) and v and all(isinstance(x, (dict, list)) for x in v):
            return "[\n" + ",\n".join(pad + json.dumps(x, separators=(",", ":"), allow_nan=False) for x in v) + "\n" + " " * level + "]"
        return json.dumps(v, separators=(",", ":"), allow_nan=False)

    with open(path, "w") as f:
        f.write(encode(value, 0) + "\n")
