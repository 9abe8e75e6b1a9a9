"""export_bundle: a fitted scikit-learn Pipeline and its data as a complete build folder for `ondevice pack`.

One call writes what a training script used to write by hand: feature-spec.json, model.onnx,
e2e-set.json, confidence-set.json, model-card.json, reference.json (and parity.json for the tests).
Everything it infers (fields and their kinds, the task, classes, the feature count, the metric) can be
given instead.
"""
import hashlib
import json
import os

import numpy as np
import onnx
import pandas as pd
import sklearn

from .onnx_export import to_onnx
from .reference import is_additive, reference_stats
from .rows import json_row
from .spec import feature_spec

DTYPES = {"float32": np.float32, "float64": np.float64}


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
    confidence_rows=None,
    seed=0,
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
      stratified by class for a classifier; None: all of them. They are real records: keep the set as
      small as the metric's range allows.
    seed: the draws' seed (synthetic rows, the confidence subset).
    Returns the model card it wrote.
    """
    if metric_range is None:
        raise ValueError("export_bundle: metric_range is required: the range the held-out metric must stay in to serve")
    if dtype not in DTYPES:
        raise ValueError(f"export_bundle: dtype must be float32 or float64, got {dtype!r}")
    if e2e not in ("synthetic", "held-out"):
        raise ValueError(f"export_bundle: e2e must be 'synthetic' or 'held-out', got {e2e!r}")
    features, estimator = pipeline[:-1], pipeline[-1]
    fields = fields if fields is not None else infer_fields(X_train)
    row_fields = row_fields if row_fields is not None else fields
    task = task_of(estimator)
    metric_name, research = held_out_metric(pipeline, task, X_test, y_test)
    if not metric_range[0] <= research <= metric_range[1]:
        raise ValueError(f"export_bundle: held-out {metric_name} {research} is outside {metric_range}: refusing to export")

    # Everything is made before anything is written: a refused step or estimator leaves no half folder.
    spec = feature_spec(pipeline, name, feature_spec_version or version, dtype=dtype, fields=fields)
    n_features = features.transform(X_train.head(1)).shape[1]
    graph = to_onnx(estimator, n_features, input_dtype=DTYPES[dtype], graph_name=graph_name)
    raw = lambda frame: [json_row(r, row_fields) for _, r in frame.iterrows()]  # noqa: E731
    e2e_frame = synthetic_rows(X_train, e2e_rows, seed) if e2e == "synthetic" else end_to_end_rows(X_train, X_test, e2e_every)
    X_conf, y_conf = confidence_subset(X_test, y_test, task, confidence_rows, seed)
    truth = "labels" if task["kind"] == "classification" else "targets"
    description = description or f"{name}: {type(estimator).__name__} on {len(fields)} fields ({task['kind']})"
    card = model_card(name, version, description, task, estimator, data or frame_data(name, X_train, X_test), len(X_train), feature_spec_version or version)
    card["gate"] = {
        "tolerance": tolerance,
        **({"toleranceReason": tolerance_reason} if tolerance_reason else {}),
        "metric": {"name": metric_name, "range": list(metric_range), "research": research},
    }
    files = {
        "feature-spec.json": spec,
        "reference.json": reference_stats(X_train, spec, features.transform(X_train), pipeline.predict(X_train), task, is_additive(estimator)),
        "e2e-set.json": {"rows": raw(e2e_frame), "expected": expected_outputs(pipeline, task, e2e_frame)},
        "parity.json": {"features": features.transform(X_test).tolist(), "predictions": predictions(pipeline, task, X_test)},
        "confidence-set.json": {"rows": raw(X_conf), truth: labels(task, y_conf)},
        "model-card.json": card,
    }
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(graph, os.path.join(out_dir, "model.onnx"))
    for file, value in files.items():
        write_json(os.path.join(out_dir, file), value)
    return card


def infer_fields(frame):
    """{column: "number" | "category"}: numeric dtypes are numbers, anything else (object, category, bool) categories."""
    return {c: "number" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "category" for c in frame.columns}


def task_of(estimator):
    if hasattr(estimator, "classes_"):
        return {"kind": "classification", "classes": [str(c) for c in estimator.classes_], "probabilities": "probabilities", "label": "label"}
    return {"kind": "regression", "value": "value"}


def held_out_metric(pipeline, task, X_test, y_test):
    predicted = pipeline.predict(X_test)
    if task["kind"] == "classification":
        return "accuracy", float(np.mean(np.asarray(predicted).astype(str) == np.asarray(y_test).astype(str)))
    return "rmse", float(np.sqrt(np.mean((np.asarray(predicted, dtype=float) - np.asarray(y_test, dtype=float)) ** 2)))


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
    return [[float(v)] for v in pipeline.predict(frame)]


def expected_outputs(pipeline, task, frame):
    features = pipeline[:-1].transform(frame).tolist()
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


def model_card(name, version, description, task, estimator, data, train_rows, spec_version):
    """The model card's metadata: library versions, the algorithm and its hyperparameters, the data it was trained on."""
    training = {"library": "scikit-learn", "libraryVersion": sklearn.__version__, "onnxVersion": onnx.__version__}
    if data is not None:
        described = {"name": data["name"], "file": data["file"]}
        described["sha256"] = sha256_file(data["path"]) if "path" in data else data["sha256"]
        described.update({k: data[k] for k in ("rows",) if k in data})
        described["trainRows"] = int(train_rows)
        described.update({k: v for k, v in data.items() if k not in ("name", "file", "path", "sha256", "rows")})
        training["data"] = described
    return {
        "name": name,
        "version": version,
        "description": description,
        "runtime": "onnxruntime-web",
        "task": task,
        "algorithm": {
            "name": type(estimator).__name__,
            "hyperparameters": {k: v for k, v in estimator.get_params().items() if isinstance(v, (int, float, str, bool))},
        },
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
