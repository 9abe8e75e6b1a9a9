#!/usr/bin/python3
"""Build folders for every converted estimator family and every feature-spec step, by export_bundle,
for the browser parity test (e2e/estimators.spec.ts): each is packed and loaded in Chromium, whose gate
compares the browser's outputs with scikit-learn's on the end-to-end rows (held-out rows, gaps included).

Run: /usr/bin/python3 models/ondevice_export/export_cases.py <out folder> [case ...]
Writes <out>/<case>/ for each case, and <out>/cases.json: {case: {"kind": "estimator" | "step", "what", "dtype"}}.
Data: scikit-learn's bundled sets (wine, diabetes, breast cancer), with gaps and a category added.
"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine  # noqa: E402
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.naive_bayes import BernoulliNB, GaussianNB  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import (FunctionTransformer, KBinsDiscretizer, MaxAbsScaler, Normalizer, OneHotEncoder,  # noqa: E402
                                   OrdinalEncoder, PolynomialFeatures, RobustScaler, StandardScaler)
from sklearn.svm import SVC, SVR, LinearSVR  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402
from xgboost import XGBClassifier  # noqa: E402

from ondevice_export import export_bundle  # noqa: E402

Q = dict(random_state=0)


def frames():
    """name -> (X, y, numbers, categories): pandas frames of scikit-learn's data, some with gaps and a category."""
    rng = np.random.default_rng(7)
    wine = load_wine(as_frame=True).frame
    wine["cellar"] = np.where(wine["alcohol"] > 13, "north", np.where(wine["hue"] > 1, "east", "south"))
    wine_gaps = wine.copy()
    for column in ["alcohol", "magnesium", "cellar", "color_intensity"]:
        wine_gaps.loc[rng.random(len(wine_gaps)) < 0.08, column] = np.nan
    diabetes = load_diabetes(as_frame=True).frame
    cancer = load_breast_cancer(as_frame=True).frame
    out = {}
    for name, frame, target in (("wine", wine, "target"), ("wine_gaps", wine_gaps, "target"),
                                ("diabetes", diabetes, "target"), ("cancer", cancer, "target")):
        X, y = frame.drop(columns=target), frame[target]
        if name.startswith("wine"):
            y = y.map({0: "class_0", 1: "class_1", 2: "class_2"})
        numbers = [c for c in X.columns if c != "cellar"]
        out[name] = (X, y, numbers, [c for c in X.columns if c == "cellar"])
    return out


def numeric(step, estimator, numbers):
    return Pipeline([("features", ColumnTransformer([("num", step, numbers)], sparse_threshold=0)), ("model", estimator)])


def scaled(estimator, numbers):
    return numeric(StandardScaler(), estimator, numbers)


def estimator_cases():
    """case -> (data, pipeline builder(numbers, categories), dtype, what)."""
    return {
        "hist-gb-clf-nan": ("wine_gaps", lambda n, c: numeric("passthrough", HistGradientBoostingClassifier(max_iter=30, **Q), n), "float64",
                            "HistGradientBoostingClassifier, NaN passed to the model"),
        "hist-gb-reg": ("diabetes", lambda n, c: numeric("passthrough", HistGradientBoostingRegressor(max_iter=40, **Q), n), "float64",
                        "HistGradientBoostingRegressor"),
        "extra-trees-clf": ("wine", lambda n, c: numeric("passthrough", ExtraTreesClassifier(n_estimators=15, **Q), n), "float64",
                            "ExtraTreesClassifier"),
        "decision-tree-reg": ("diabetes", lambda n, c: numeric("passthrough", DecisionTreeRegressor(max_depth=6, **Q), n), "float64",
                              "DecisionTreeRegressor"),
        "calibrated-sigmoid": ("cancer", lambda n, c: scaled(CalibratedClassifierCV(LogisticRegression(), cv=3), n), "float64",
                               "CalibratedClassifierCV(LogisticRegression, sigmoid)"),
        "calibrated-isotonic": ("cancer", lambda n, c: scaled(CalibratedClassifierCV(GaussianNB(), method="isotonic", cv=3), n),
                                "float64", "CalibratedClassifierCV(GaussianNB, isotonic)"),
        "svc-rbf-proba": ("wine", lambda n, c: scaled(SVC(probability=True, **Q), n), "float64", "SVC(rbf, probability=True)"),
        "svr-poly": ("diabetes", lambda n, c: scaled(SVR(kernel="poly", degree=2), n), "float64", "SVR(poly)"),
        "linear-svr": ("diabetes", lambda n, c: scaled(LinearSVR(**Q), n), "float64", "LinearSVR"),
        "sgd-clf-log": ("cancer", lambda n, c: scaled(SGDClassifier(loss="log_loss", **Q), n), "float64", "SGDClassifier(log_loss)"),
        "sgd-reg": ("diabetes", lambda n, c: scaled(SGDRegressor(**Q), n), "float64", "SGDRegressor"),
        "knn-clf": ("wine", lambda n, c: scaled(KNeighborsClassifier(5), n), "float64", "KNeighborsClassifier"),
        "knn-reg": ("diabetes", lambda n, c: scaled(KNeighborsRegressor(5, weights="distance"), n), "float64",
                    "KNeighborsRegressor(distance)"),
        "mlp-clf": ("wine", lambda n, c: scaled(MLPClassifier((16,), max_iter=500, **Q), n), "float64", "MLPClassifier"),
        "mlp-reg": ("diabetes", lambda n, c: scaled(MLPRegressor((16,), max_iter=500, **Q), n), "float64", "MLPRegressor"),
        "gaussian-nb": ("wine", lambda n, c: numeric("passthrough", GaussianNB(), n), "float64", "GaussianNB"),
        "bernoulli-nb": ("cancer", lambda n, c: scaled(BernoulliNB(), n), "float64", "BernoulliNB"),
        "xgboost-clf-nan": ("wine_gaps", lambda n, c: numeric("passthrough", XGBClassifier(n_estimators=30, max_depth=3, nthread=1, **Q), n),
                            "float32", "XGBClassifier, NaN passed to the model"),
    }


def logistic(steps_numbers, steps_categories, n, c):
    parts = [("num", steps_numbers, n)] + ([("cat", steps_categories, c)] if steps_categories is not None else [])
    return Pipeline([("features", ColumnTransformer(parts, sparse_threshold=0)), ("model", LogisticRegression(max_iter=3000))])


def step_cases():
    impute = lambda *steps: Pipeline([("impute", SimpleImputer(strategy="median")), *steps])  # noqa: E731
    cat = lambda encoder: Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)])  # noqa: E731
    return {
        "onehot-drop-first": ("wine_gaps", lambda n, c: logistic(impute(("s", StandardScaler())), cat(OneHotEncoder(drop="first")), n, c),
                              "OneHotEncoder(drop='first')"),
        "onehot-min-frequency": ("wine_gaps", lambda n, c: logistic(impute(("s", StandardScaler())),
                                                                    cat(OneHotEncoder(min_frequency=30, handle_unknown="infrequent_if_exist")), n, c),
                                 "OneHotEncoder(min_frequency)"),
        "impute-add-indicator": ("wine_gaps", lambda n, c: logistic(Pipeline([("impute", SimpleImputer(add_indicator=True)),
                                                                              ("s", StandardScaler())]), None, n, c),
                                 "SimpleImputer(add_indicator=True)"),
        "robust-scaler": ("wine", lambda n, c: logistic(RobustScaler(), None, n, c), "RobustScaler"),
        "max-abs-scaler": ("wine", lambda n, c: logistic(MaxAbsScaler(), None, n, c), "MaxAbsScaler"),
        "normalizer": ("wine", lambda n, c: logistic(Pipeline([("s", StandardScaler()), ("n", Normalizer())]), None, n, c), "Normalizer(l2)"),
        "kbins-onehot": ("wine", lambda n, c: logistic(KBinsDiscretizer(4, encode="onehot-dense"), None, n, c),
                         "KBinsDiscretizer(onehot-dense, quantile)"),
        "polynomial": ("diabetes", lambda n, c: Pipeline([("features", ColumnTransformer([("num", Pipeline([
            ("p", PolynomialFeatures(2)), ("s", StandardScaler())]), n[:4])], sparse_threshold=0)), ("model", Ridge())]),
            "PolynomialFeatures(2)"),
        "ordinal-nan-unknown": ("wine_gaps", lambda n, c: Pipeline([("features", ColumnTransformer([
            ("num", "passthrough", n),
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), c)], sparse_threshold=0)),
            ("model", HistGradientBoostingClassifier(max_iter=20, **Q))]), "OrdinalEncoder(unknown_value=NaN) into HistGradientBoosting"),
        "function-log-sqrt-clip": ("diabetes", lambda n, c: Pipeline([("features", ColumnTransformer([
            ("log", FunctionTransformer(np.log1p), ["bmi"]),
            ("clip", FunctionTransformer(np.clip, kw_args={"a_min": -0.05, "a_max": 0.05}), ["bp", "s1"]),
            ("rest", StandardScaler(), ["age", "s5"])], sparse_threshold=0)), ("model", Ridge())]),
            "FunctionTransformer(log1p, clip)"),
    }


def build(case, data, make, dtype, out):
    X, y, numbers, categories = data
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1)
    pipeline = make(numbers, categories)
    xgb = isinstance(pipeline[-1], XGBClassifier)
    codes = {label: k for k, label in enumerate(sorted(y.dropna().unique()))} if xgb else None
    pipeline.fit(X_train, y_train.map(codes) if xgb else y_train)
    classification = hasattr(pipeline[-1], "predict_proba")
    tolerance = 1e-4 if dtype == "float32" else 1e-5
    export_bundle(pipeline, os.path.join(out, case), name=case, version="1.0.0", X_train=X_train, X_test=X_test,
                  y_test=y_test.map(codes) if xgb else y_test, metric_range=[0, 1] if classification else [0, 1e9],
                  e2e="held-out", e2e_every=3, confidence_rows=40, dtype=dtype, tolerance=tolerance,
                  tolerance_reason=f"{dtype} model input; the browser gate's check")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: export_cases.py <out folder> [case ...]")
    out, only = sys.argv[1], set(sys.argv[2:])
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    data = frames()
    listed = {}
    for case, (set_name, make, dtype, what) in estimator_cases().items():
        listed[case] = ({"kind": "estimator", "what": what, "dtype": dtype}, set_name, make, dtype)
    for case, (set_name, make, what) in step_cases().items():
        listed[case] = ({"kind": "step", "what": what, "dtype": "float64"}, set_name, make, "float64")
    os.makedirs(out, exist_ok=True)
    written = {}
    for case, (meta, set_name, make, dtype) in listed.items():
        if only and case not in only:
            continue
        build(case, data[set_name], make, dtype, out)
        written[case] = meta
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(written, f, indent=1)


if __name__ == "__main__":
    main()
