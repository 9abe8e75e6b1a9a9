"""export_bundle on scikit-learn's own bundled data: one call gives a build folder that `ondevice pack`
takes and `ondevice verify` (the browser's loader and gate, onnxruntime-web's WASM build, in Node)
passes; what it infers is right; a metric outside its range writes nothing.

Run: cd models && /usr/bin/python3 -m unittest ondevice_export.test_bundle
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_diabetes, load_wine  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler  # noqa: E402

from ondevice_export import UnsupportedStep, export_bundle, infer_fields  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TSX = os.path.join(REPO, "node_modules", ".bin", "tsx")
FILES = ["feature-spec.json", "model.onnx", "e2e-set.json", "confidence-set.json", "model-card.json", "reference.json", "parity.json"]


def ondevice(*args):
    return subprocess.run([TSX, os.path.join(REPO, "src", "cli", "main.ts"), *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def wine_with_gaps():
    """Wine (13 numbers, 3 classes) plus a category column, with values knocked out to exercise imputation."""
    frame = load_wine(as_frame=True).frame
    rng = np.random.default_rng(7)
    frame["cellar"] = np.where(frame["alcohol"] > 13, "north", "south")
    for column in ["alcohol", "magnesium", "cellar"]:
        frame.loc[rng.random(len(frame)) < 0.05, column] = np.nan
    return frame.drop(columns="target"), frame["target"].map({0: "class_0", 1: "class_1", 2: "class_2"})


def wine_pipeline(numbers, categories):
    return Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numbers),
                        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", OneHotEncoder())]), categories),
                    ],
                    sparse_threshold=0,
                ),
            ),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    )


def fitted_wine():
    """The wine frame with gaps, split, and the classifier fitted on its training part."""
    X, y = wine_with_gaps()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=1)
    pipeline = wine_pipeline([c for c in X.columns if c != "cellar"], ["cellar"]).fit(X_train, y_train)
    return X, X_train, X_test, y_test, pipeline


@unittest.skipUnless(os.path.exists(TSX), "needs node_modules (npm install) for ondevice pack and verify")
class ExportBundleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ondevice-export-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_classifier_with_missing_values_and_categories_packs_and_passes_the_gate(self):
        X, y = wine_with_gaps()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=1)
        fields = infer_fields(X_train)
        self.assertEqual(fields["cellar"], "category")
        self.assertEqual(fields["alcohol"], "number")
        pipeline = wine_pipeline([c for c, k in fields.items() if k == "number"], ["cellar"])
        pipeline.fit(X_train, y_train)
        build = os.path.join(self.tmp, "build")
        card = export_bundle(pipeline, build, name="wine", version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test,
                             metric_range=[0.8, 1.0], description="Wine cultivar")
        self.assertEqual(sorted(os.listdir(build)), sorted(FILES))
        self.assertEqual(card["task"], {"kind": "classification", "classes": ["class_0", "class_1", "class_2"],
                                        "probabilities": "probabilities", "label": "label"})
        self.assertEqual(card["algorithm"]["name"], "LogisticRegression")
        self.assertEqual(card["gate"]["metric"]["name"], "accuracy")
        with open(os.path.join(build, "e2e-set.json")) as f:
            e2e = json.load(f)
        with_gaps = [r for r in e2e["rows"] if any(v is None for v in r.values())]
        self.assertGreater(len(with_gaps), 0)
        self.assertTrue(np.allclose(e2e["expected"]["probabilities"], pipeline.predict_proba(pd.DataFrame(
            [{k: (np.nan if v is None else v) for k, v in r.items()} for r in e2e["rows"]])[X.columns]), atol=0, rtol=0))
        self.pack_and_verify(build, "wine")

    def test_synthetic_end_to_end_rows_are_no_real_record_and_the_confidence_set_is_sized(self):
        X, X_train, X_test, y_test, pipeline = fitted_wine()
        build = os.path.join(self.tmp, "build")
        export_bundle(pipeline, build, name="wine", version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test,
                      metric_range=[0.8, 1.0], e2e_rows=40, confidence_rows=30)
        with open(os.path.join(build, "e2e-set.json")) as f:
            e2e = json.load(f)
        with open(os.path.join(build, "confidence-set.json")) as f:
            confidence = json.load(f)
        self.assertEqual(len(e2e["rows"]), 40)
        real = {tuple(None if pd.isna(v) else v for v in row) for row in X.itertuples(index=False)}
        self.assertFalse(any(tuple(r[c] for c in X.columns) in real for r in e2e["rows"]))
        for column in ["alcohol", "magnesium", "cellar"]:
            self.assertTrue(any(r[column] is None for r in e2e["rows"]), column)
        self.assertEqual(len(confidence["rows"]), 30)
        self.assertEqual(sorted(set(confidence["labels"])), ["class_0", "class_1", "class_2"])
        self.pack_and_verify(build, "wine")

    def test_a_regressor_on_numbers_only_packs_and_passes_the_gate(self):
        frame = load_diabetes(as_frame=True).frame
        X, y = frame.drop(columns="target"), frame["target"]
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=3)
        pipeline = Pipeline([("features", ColumnTransformer([("num", StandardScaler(), list(X.columns))])), ("model", Ridge())])
        pipeline.fit(X_train, y_train)
        build = os.path.join(self.tmp, "build")
        card = export_bundle(pipeline, build, name="diabetes", version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test,
                             dtype="float64", metric_range=[0, 80])
        self.assertEqual(card["task"], {"kind": "regression", "value": "value"})
        self.assertEqual(card["gate"]["metric"]["name"], "rmse")
        with open(os.path.join(build, "confidence-set.json")) as f:
            self.assertEqual(json.load(f)["targets"], [float(v) for v in y_test])
        self.pack_and_verify(build, "diabetes")

    def test_a_log_target_linear_model_stays_additive_and_everything_inferred_can_be_given(self):
        from sklearn.compose import TransformedTargetRegressor

        frame = load_diabetes(as_frame=True).frame
        X, y = frame.drop(columns="target"), frame["target"]
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=3)
        pipeline = Pipeline([("features", ColumnTransformer([("num", StandardScaler(), list(X.columns))])),
                             ("model", TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1))]).fit(X_train, y_train)
        build = os.path.join(self.tmp, "build")
        rows = X_test.head(5)
        card = export_bundle(pipeline, build, name="diabetes-log", version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test,
                             dtype="float64", metric="r2", metric_range=[0.2, 1.0], output="progression", e2e=rows, compact_sets=True,
                             algorithm={"target": "log1p(progression)"}, training={"preprocessing": "scikit-learn"}, spec_name="diabetes",
                             card_extra={"note": "test"})
        # The graph stops at log1p (linear in the features); the task's inverse gives the progression.
        self.assertEqual(card["task"], {"kind": "regression", "value": "log_progression", "inverse": "expm1"})
        self.assertEqual(card["gate"]["metric"]["name"], "r2")
        self.assertEqual(card["algorithm"]["name"], "Ridge")
        self.assertEqual(card["algorithm"]["target"], "log1p(progression)")
        self.assertEqual(list(card["training"])[:4], ["library", "libraryVersion", "preprocessing", "onnxVersion"])
        self.assertIn("numpy", card["training"]["environment"]["packages"])
        self.assertEqual(card["note"], "test")
        with open(os.path.join(build, "feature-spec.json")) as f:
            self.assertEqual(json.load(f)["name"], "diabetes")
        with open(os.path.join(build, "e2e-set.json")) as f:
            text = f.read()
        self.assertEqual(len(text.splitlines()), 1 + 1 + 5 + 1 + 1 + 1 + 5 + 1 + 1 + 1 + 1)  # one row per line
        e2e = json.loads(text)
        self.assertEqual(e2e["expected"]["value"], [float(v) for v in pipeline.predict(rows)])
        with open(os.path.join(build, "parity.json")) as f:
            parity = json.load(f)
        self.assertEqual(parity["predictions"], [float(v) for v in pipeline.predict(X_test)])
        linear = parity["linear"]
        for attribution, output in zip(linear["attributions"], linear["outputs"]):
            self.assertAlmostEqual(linear["baseValue"] + sum(attribution), output, delta=1e-9)
        self.pack_and_verify(build, "diabetes-log")

        # A model made elsewhere (here the same graph, given) and a wrong metric.
        import onnx

        graph = onnx.load(os.path.join(build, "model.onnx"))
        other = os.path.join(self.tmp, "given")
        card = export_bundle(pipeline, other, name="diabetes-given", version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test,
                             dtype="float64", metric_range=[0, 1000], model={"model.onnx": graph}, environment=False,
                             task={"kind": "regression", "value": "log_progression", "inverse": "expm1"})
        self.assertNotIn("environment", card["training"])
        with self.assertRaisesRegex(ValueError, "metric 'accuracy' does not fit a regression"):
            export_bundle(pipeline, os.path.join(self.tmp, "wrong"), name="d", version="1.0.0", X_train=X_train, X_test=X_test,
                          y_test=y_test, metric="accuracy", metric_range=[0, 1])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "wrong")))

    def test_a_metric_outside_its_range_or_a_bad_option_writes_nothing(self):
        _, X_train, X_test, y_test, pipeline = fitted_wine()
        build = os.path.join(self.tmp, "build")
        data = dict(name="wine", version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test)
        outside = [0.999, 1.0] if pipeline.score(X_test, y_test) < 0.999 else [0, 0.5]
        for options, why in [
            (dict(metric_range=outside), "outside"),
            (dict(), "metric_range is required"),
            (dict(metric_range=[0, 1], dtype="int8"), "dtype must be float32 or float64"),
            (dict(metric_range=[0, 1], e2e="real"), "e2e must be 'synthetic' or 'held-out'"),
        ]:
            with self.assertRaisesRegex(ValueError, why):
                export_bundle(pipeline, build, **data, **options)
            self.assertFalse(os.path.exists(build), why)
        # A step the exporter cannot write is found before any file is.
        numbers = [c for c in X_train.columns if c != "cellar"]
        refused = Pipeline([("features", ColumnTransformer([("num", Pipeline([("impute", SimpleImputer()), ("scale", QuantileTransformer(n_quantiles=50))]), numbers)])),
                            ("model", LogisticRegression(max_iter=2000))]).fit(X_train[numbers], pipeline.predict(X_train))
        with self.assertRaises(UnsupportedStep):
            export_bundle(refused, build, name="wine", version="1.0.0", X_train=X_train[numbers], X_test=X_test[numbers],
                          y_test=refused.predict(X_test[numbers]), metric_range=[0, 1])
        self.assertFalse(os.path.exists(build))

    def test_models_that_take_missing_values_get_nulls_as_nan_through_the_browser_gate(self):
        """XGBoost and HistGradientBoosting on numbers with gaps and no imputer: a null goes to the model as NaN."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from xgboost import XGBClassifier

        X, y = wine_with_gaps()
        numbers = [c for c in X.columns if c != "cellar"]
        X_train, X_test, y_train, y_test = train_test_split(X[numbers], y, test_size=0.3, stratify=y, random_state=1)
        codes = {"class_0": 0, "class_1": 1, "class_2": 2}
        for estimator in (HistGradientBoostingClassifier(max_iter=30, random_state=0),
                          XGBClassifier(n_estimators=30, max_depth=3, nthread=1, random_state=0)):
            name = type(estimator).__name__.lower()
            passthrough = ColumnTransformer([("num", "passthrough", numbers)], sparse_threshold=0)
            pipeline = Pipeline([("features", passthrough), ("model", estimator)])
            target = y_train.map(codes) if name.startswith("xgb") else y_train
            pipeline.fit(X_train, target)
            test_target = y_test.map(codes) if name.startswith("xgb") else y_test
            build = os.path.join(self.tmp, name)
            # scikit-learn's trees split float64 values (a float32 input could cross a threshold); XGBoost's float32 ones.
            dtype = "float32" if name.startswith("xgb") else "float64"
            export_bundle(pipeline, build, name=name, version="1.0.0", X_train=X_train, X_test=X_test, y_test=test_target,
                          metric_range=[0.8, 1], e2e="held-out", e2e_every=2, dtype=dtype)
            with open(os.path.join(build, "feature-spec.json")) as f:
                spec = json.load(f)
            self.assertEqual(spec["features"][0]["steps"][0], {"op": "keep_missing"})
            with open(os.path.join(build, "e2e-set.json")) as f:
                e2e = json.load(f)
            # The end-to-end rows hold gaps, and the model's features keep them as missing (null).
            self.assertTrue(any(v is None for row in e2e["rows"] for v in row.values()))
            self.assertTrue(any(v is None for row in e2e["expected"]["features"] for v in row))
            self.pack_and_verify(build, name)

    def pack_and_verify(self, build, name):
        out = os.path.join(self.tmp, "bundles")
        packed = ondevice("pack", build, "--out", out)
        self.assertEqual(packed.returncode, 0, packed.stderr + packed.stdout)
        verified = ondevice("verify", os.path.join(out, name))
        self.assertEqual(verified.returncode, 0, verified.stderr + verified.stdout)
        self.assertIn(f"verified {name} 1.0.0", verified.stdout)


if __name__ == "__main__":
    unittest.main()
