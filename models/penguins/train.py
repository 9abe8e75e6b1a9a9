#!/usr/bin/python3
"""Train the penguin species model and export everything `ondevice pack` needs.

Research environment: Debian's python3-sklearn and python3-onnx, run with /usr/bin/python3.

Writes into models/penguins/build/:
  feature-spec.json   the fitted preprocessing (imputation, one-hot, scaling) as an ondevice feature spec
  model.onnx          the logistic regression as an ONNX graph (no ZipMap: onnxruntime-web cannot return maps)
Both come from the project's exporter, models/ondevice_export/.
  e2e-set.json        raw rows and the exact outputs this pipeline gave for them
  confidence-set.json held-out rows with their labels
  model-card.json     metadata, outputs, the gate's metric, range and tolerance
  parity.json         research features and probabilities for every confidence row (tests only, not packed)
  reference.json      the training distribution (fields, predicted classes, feature means) for drift and explanations

Re-running it reproduces the same files: fixed split seed, deterministic solver, no timestamps.
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ondevice_export import feature_spec, is_additive, json_row, reference_stats, to_onnx  # noqa: E402  (the project's exporter, beside this folder)

DATA = os.path.join(HERE, "data", "penguins.csv")
OUT = os.path.join(HERE, "build")

MODEL_NAME = "penguins"
MODEL_VERSION = "1.0.0"
FEATURE_SPEC_VERSION = "1.0.0"
SEED = 42

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]
TARGET = "species"
# Accuracy on the held-out confidence set must stay inside this range for a version to serve.
ACCURACY_RANGE = [0.95, 1.0]
# float32 scoring against float64 research outputs: softmax of float32 logits differs by < 1e-6.
TOLERANCE = 1e-5


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def raw_row(record):
    """A data-frame row as the JSON an app would send."""
    return json_row(record, {**{f: "category" for f in CATEGORICAL}, **{f: "number" for f in NUMERIC}})


def write_json(name, value):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    frame = pd.read_csv(DATA)
    X = frame[NUMERIC + CATEGORICAL]
    y = frame[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=SEED)

    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]), NUMERIC),
                        (
                            "cat",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="most_frequent")),
                                    ("encode", OneHotEncoder(handle_unknown="error")),
                                ]
                            ),
                            CATEGORICAL,
                        ),
                    ],
                    sparse_threshold=0,
                ),
            ),
            ("model", LogisticRegression(C=1.0, max_iter=1000)),
        ]
    )
    pipeline.fit(X_train, y_train)
    model = pipeline.named_steps["model"]
    classes = [str(c) for c in model.classes_]

    accuracy = float(accuracy_score(y_test, pipeline.predict(X_test)))
    if not ACCURACY_RANGE[0] <= accuracy <= ACCURACY_RANGE[1]:
        sys.exit(f"held-out accuracy {accuracy} is outside {ACCURACY_RANGE}: refusing to export")

    # float32 model input: the ONNX graph runs in float32, like most browser models.
    spec = feature_spec(pipeline, MODEL_NAME, FEATURE_SPEC_VERSION, dtype="float32", fields={**{f: "number" for f in NUMERIC}, **{f: "category" for f in CATEGORICAL}})
    n_features = pipeline.named_steps["features"].transform(X_train.head(1)).shape[1]
    onnx.save(to_onnx(model, n_features, input_dtype=np.float32, graph_name="penguins_logistic_regression"), os.path.join(OUT, "model.onnx"))
    write_json("feature-spec.json", spec)
    # What the model was trained on: the browser measures drift against it.
    task = {"kind": "classification", "classes": classes, "probabilities": "probabilities", "label": "label"}
    write_json(
        "reference.json",
        reference_stats(
            X_train, spec, pipeline.named_steps["features"].transform(X_train), pipeline.predict(X_train), task, is_additive(model)
        ),
    )

    # End-to-end set: every row with a missing value (the imputation paths) plus a spread of held-out rows.
    has_missing = X.isna().any(axis=1)
    e2e_index = list(X.index[has_missing]) + [i for i in X_test.index[::6] if not has_missing[i]]
    e2e = X.loc[e2e_index]
    write_json(
        "e2e-set.json",
        {
            "rows": [raw_row(r) for _, r in e2e.iterrows()],
            "expected": {
                "features": pipeline.named_steps["features"].transform(e2e).tolist(),
                "probabilities": pipeline.predict_proba(e2e).tolist(),
                "label": [str(v) for v in pipeline.predict(e2e)],
            },
        },
    )
    # Parity data for the tests (not packed): the research features and probabilities of every held-out row.
    write_json(
        "parity.json",
        {
            "features": pipeline.named_steps["features"].transform(X_test).tolist(),
            "predictions": pipeline.predict_proba(X_test).tolist(),
        },
    )
    write_json(
        "confidence-set.json",
        {"rows": [raw_row(r) for _, r in X_test.iterrows()], "labels": [str(v) for v in y_test]},
    )
    write_json(
        "model-card.json",
        {
            "name": MODEL_NAME,
            "version": MODEL_VERSION,
            "description": "Palmer penguins species from island, sex and body measurements.",
            "runtime": "onnxruntime-web",
            "task": task,
            "algorithm": {
                "name": "LogisticRegression",
                "hyperparameters": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool))},
            },
            "training": {
                "library": "scikit-learn",
                "libraryVersion": sklearn.__version__,
                "onnxVersion": onnx.__version__,
                "data": {
                    "name": "palmerpenguins",
                    "file": "models/penguins/data/penguins.csv",
                    "sha256": sha256_file(DATA),
                    "rows": int(len(frame)),
                    "trainRows": int(len(X_train)),
                    "split": {"testSize": 0.25, "stratify": TARGET, "seed": SEED},
                },
            },
            "featureSpecVersion": FEATURE_SPEC_VERSION,
            "gate": {
                "tolerance": TOLERANCE,
                "toleranceReason": "float32 ONNX scoring of float64 research outputs: softmax of float32 logits differs by about 1e-7",
                "metric": {"name": "accuracy", "range": ACCURACY_RANGE, "research": accuracy},
            },
        },
    )
    print(f"accuracy on {len(X_test)} held-out rows: {accuracy:.4f}; e2e rows: {len(e2e)}; features: {n_features}")


if __name__ == "__main__":
    main()
