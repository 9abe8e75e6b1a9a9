"""Parity of the feature-spec ops for scikit-learn's preprocessing steps with transform(), in float64.

Each case fits a step (or a Pipeline of them) on one of scikit-learn's bundled data sets with gaps and
categories injected, writes its spec, raw rows and transform() output, and has the library's own
tabular transform (src/features, through tsx) compute the rows: every value must agree to 1e-12
relative, and NaN where transform() gives NaN. `ONDEVICE_WRITE_FIXTURES=1` also writes the cases to
test/fixtures/steps-parity.json, which test/steps.test.ts checks without Python.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import (FunctionTransformer, KBinsDiscretizer, MaxAbsScaler, Normalizer, OneHotEncoder,  # noqa: E402
                                   OrdinalEncoder, PolynomialFeatures, QuantileTransformer, RobustScaler, StandardScaler)

from sklearn.model_selection import train_test_split  # noqa: E402

from ondevice_export import UnsupportedStep, export_bundle, feature_spec, json_row  # noqa: E402
from ondevice_export.spec import block_width  # noqa: E402

FIXTURE = os.path.join(ROOT, "test", "fixtures", "steps-parity.json")
TSX = os.path.join(ROOT, "node_modules", ".bin", "tsx")
TOLERANCE = 1e-12


def wine(seed=0):
    """Wine's 13 numbers with gaps in three, and two string columns with rare levels and gaps."""
    rng = np.random.default_rng(seed)
    X = load_wine(as_frame=True).data
    n = len(X)
    X["cellar"] = rng.choice(["North", "South", "East", "West", "Tiny", "Lost"], n, p=[0.4, 0.3, 0.2, 0.07, 0.02, 0.01])
    X["grade"] = np.where(X["alcohol"] > 13, "high", "low")
    X["colour"] = pd.cut(X["color_intensity"], [0, 3, 5, 8, 20], labels=["pale", "light", "deep", "dark"]).astype(str)
    for column in ("alcohol", "magnesium", "hue", "cellar", "colour"):
        X.loc[rng.random(n) < 0.08, column] = np.nan
    return X


def with_unseen(X, column, levels):
    """X with rows whose `column` is a level never seen in fitting, for encoders that accept them."""
    extra = X.head(len(levels)).copy()
    extra[column] = levels
    return pd.concat([X, extra], ignore_index=True)


def diabetes():
    return load_diabetes(as_frame=True).data


def cancer():
    return load_breast_cancer(as_frame=True).data


NUMBERS = ["alcohol", "malic_acid", "ash", "magnesium", "hue", "proline"]


def cases():
    """(name, fitted transformer or pipeline, rows to transform)."""
    X = wine()
    y = load_wine().target
    impute = SimpleImputer(strategy="most_frequent")
    out = []

    def add(name, fitted, rows):
        out.append((name, fitted, rows))

    def ct(*groups):
        return ColumnTransformer(list(groups), sparse_threshold=0)

    add("onehot_drop_first", ct(("c", make_pipeline(impute, OneHotEncoder(drop="first", sparse_output=False)), ["cellar", "colour"])).fit(X), X)
    add("onehot_drop_if_binary", ct(("c", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                        OneHotEncoder(drop="if_binary", sparse_output=False)), ["grade", "colour"])).fit(X), X)
    add("onehot_drop_list_ignore", ct(("c", make_pipeline(impute, OneHotEncoder(drop=["East", "deep"], handle_unknown="ignore",
                                                                                sparse_output=False)), ["cellar", "colour"])).fit(X),
        with_unseen(X, "cellar", ["Atlantis", "Mu"]))
    rare = make_pipeline(impute, OneHotEncoder(min_frequency=10, handle_unknown="infrequent_if_exist", sparse_output=False))
    add("onehot_min_frequency", ct(("c", rare, ["cellar", "colour"])).fit(X), with_unseen(X, "cellar", ["Atlantis"]))
    add("onehot_max_categories_drop_first", ct(("c", make_pipeline(impute, OneHotEncoder(max_categories=3, drop="first", handle_unknown="ignore",
                                                                                         sparse_output=False)), ["cellar", "colour"])).fit(X),
        with_unseen(X, "colour", ["violet"]))
    add("onehot_min_frequency_error", ct(("c", make_pipeline(impute, OneHotEncoder(min_frequency=0.05, sparse_output=False)), ["cellar"])).fit(X), X)
    add("imputer_add_indicator_then_scaler", ct(("n", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), NUMBERS)).fit(X), X)
    add("imputer_add_indicator_median", ct(("n", SimpleImputer(strategy="median", add_indicator=True), NUMBERS),
                                           ("c", make_pipeline(impute, OneHotEncoder(sparse_output=False)), ["cellar"])).fit(X), X)
    add("robust_scaler", ct(("n", make_pipeline(SimpleImputer(), RobustScaler()), NUMBERS),
                            ("m", make_pipeline(SimpleImputer(), RobustScaler(with_centering=False, quantile_range=(10, 90))), ["proline"]),
                            ("u", make_pipeline(SimpleImputer(), RobustScaler(with_scaling=False, unit_variance=True)), ["ash"])).fit(X), X)
    add("robust_unit_variance", ct(("n", make_pipeline(SimpleImputer(), RobustScaler(unit_variance=True)), NUMBERS)).fit(X), X)
    add("max_abs_scaler", ct(("n", make_pipeline(SimpleImputer(), MaxAbsScaler()), NUMBERS)).fit(X), X)
    for strategy in ("uniform", "quantile", "kmeans"):
        for encode in ("ordinal", "onehot-dense", "onehot"):
            bins = KBinsDiscretizer(n_bins=5, encode=encode, strategy=strategy, subsample=None)
            add(f"kbins_{strategy}_{encode}", ct(("n", make_pipeline(SimpleImputer(), bins), NUMBERS)).fit(X), X)
    add("kbins_then_scaler", ct(("n", make_pipeline(SimpleImputer(), KBinsDiscretizer(n_bins=4, encode="ordinal", subsample=None),
                                                    StandardScaler()), NUMBERS)).fit(X), X)
    add("ordinal_unknown_nan", ct(("c", make_pipeline(impute, OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)),
                                   ["cellar", "colour"])).fit(X), with_unseen(X, "cellar", ["Atlantis", "Mu"]))
    add("ordinal_missing_nan", ct(("c", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["cellar", "colour", "grade"])).fit(X),
        with_unseen(X, "colour", ["violet"]))
    add("ordinal_missing_encoded", ct(("c", OrdinalEncoder(encoded_missing_value=-2), ["cellar", "colour"])).fit(X), X)
    add("ordinal_nan_everything", ct(("c", make_pipeline(OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                                                         StandardScaler()), ["cellar", "colour"])).fit(X),
        with_unseen(X, "colour", ["violet"]))
    positive = ["malic_acid", "ash", "proline", "magnesium"]
    for func in (np.log, np.log1p, np.sqrt):
        add(f"function_{func.__name__}", ct(("n", make_pipeline(SimpleImputer(), FunctionTransformer(func), StandardScaler()), positive)).fit(X), X)
    for func in (np.exp, np.expm1):
        add(f"function_{func.__name__}", ct(("n", make_pipeline(SimpleImputer(), StandardScaler(), FunctionTransformer(func)), NUMBERS)).fit(X), X)
    add("function_clip", ct(("n", make_pipeline(SimpleImputer(), FunctionTransformer(np.clip, kw_args={"a_min": 2.0, "a_max": 14.0})), NUMBERS),
                            ("m", FunctionTransformer(np.clip, kw_args={"a_min": None, "a_max": 1000}), ["proline"]),
                            ("s", make_pipeline(StandardScaler(), FunctionTransformer(np.clip, kw_args={"a_min": -1.5, "a_max": None})), ["ash"])).fit(X), X)
    add("after_the_column_transformer", Pipeline([
        ("features", ct(("n", SimpleImputer(add_indicator=True), NUMBERS), ("c", make_pipeline(impute, OrdinalEncoder()), ["cellar"]))),
        ("scale", RobustScaler()), ("model", LogisticRegression(max_iter=5000))]).fit(X, y), X)

    for norm in ("l1", "l2", "max"):
        add(f"normalizer_{norm}", ct(("n", make_pipeline(SimpleImputer(), Normalizer(norm=norm)), NUMBERS),
                                     ("c", make_pipeline(impute, OneHotEncoder(sparse_output=False)), ["cellar"])).fit(X), X)
    add("polynomial_degree2", ct(("n", make_pipeline(SimpleImputer(), StandardScaler(), PolynomialFeatures(2)), NUMBERS[:4])).fit(X), X)
    add("polynomial_interaction_only_no_bias", ct(("n", make_pipeline(SimpleImputer(), PolynomialFeatures(3, interaction_only=True, include_bias=False)),
                                                   ["ash", "hue", "malic_acid"])).fit(X), X)
    add("polynomial_then_scaler", ct(("n", make_pipeline(SimpleImputer(), PolynomialFeatures(2), StandardScaler()), ["ash", "hue"]),
                                     ("c", make_pipeline(impute, OrdinalEncoder()), ["colour"])).fit(X), X)
    add("polynomial_over_one_hot_then_normalizer", Pipeline([
        ("features", ct(("n", make_pipeline(SimpleImputer(), MaxAbsScaler()), ["ash", "hue"]),
                        ("c", make_pipeline(impute, OneHotEncoder(drop="first", sparse_output=False)), ["grade"]))),
        ("poly", PolynomialFeatures((2, 3))), ("norm", Normalizer()), ("scale", StandardScaler()),
        ("model", LogisticRegression(max_iter=5000))]).fit(X, y), X)

    D = diabetes()
    target = load_diabetes().target
    add("pipeline_numpy_standard", make_pipeline(StandardScaler(), Ridge()).fit(D.to_numpy(), target), D.to_numpy())
    gappy = D.copy()
    gappy.iloc[::9, 2] = np.nan
    gappy.iloc[::13, 5] = np.nan
    add("pipeline_frame_indicator_robust", make_pipeline(SimpleImputer(add_indicator=True), RobustScaler(), Ridge()).fit(gappy, target), gappy)
    C = cancer()
    add("pipeline_frame_maxabs_kbins", make_pipeline(MaxAbsScaler(), KBinsDiscretizer(n_bins=6, encode="onehot-dense", strategy="quantile",
                                                                                       subsample=None)).fit(C), C)
    add("pipeline_numpy_log_clip", make_pipeline(FunctionTransformer(np.log1p), FunctionTransformer(np.clip, kw_args={"a_min": 0.0, "a_max": 5.0}),
                                                 StandardScaler(), LogisticRegression(max_iter=5000)).fit(C.to_numpy(), load_breast_cancer().target),
        C.to_numpy())
    return out


def written(name, fitted, rows):
    """The fixture case: spec, JSON rows and transform()'s output (NaN as null)."""
    spec = feature_spec(fitted, name, "1.0.0", dtype="float64")
    preprocessing = fitted[:-1] if isinstance(fitted, Pipeline) and hasattr(fitted[-1], "predict") else fitted
    expected = preprocessing.transform(rows)
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected, dtype=np.float64)
    fields = {f["name"]: f["type"] for f in spec["fields"]}
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=list(fields))
    return {
        "name": name,
        "spec": spec,
        "rows": [json_row(r, fields) for _, r in frame.iterrows()],
        "expected": [[None if np.isnan(v) else float(v) for v in row] for row in expected],
    }


def fixture_rows(case, every=10, last=4):
    """The committed fixture keeps every tenth row, and the last rows (the unseen levels some cases append)."""
    keep = sorted(set(range(0, len(case["rows"]), every)) | set(range(max(0, len(case["rows"]) - last), len(case["rows"]))))
    return {**case, "rows": [case["rows"][i] for i in keep], "expected": [case["expected"][i] for i in keep]}


class StepParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = [written(*case) for case in cases()]
        if os.environ.get("ONDEVICE_WRITE_FIXTURES") == "1":
            with open(FIXTURE, "w") as f:
                json.dump({"cases": [fixture_rows(case) for case in cls.cases]}, f, separators=(",", ":"))
                f.write("\n")

    def test_spec_widths_match_transform(self):
        for case in self.cases:
            width = sum(block_width(b) for b in case["spec"]["features"])
            self.assertEqual(width, len(case["expected"][0]), case["name"])

    @unittest.skipUnless(shutil.which("node") and os.path.exists(TSX), "node and node_modules/.bin/tsx are needed")
    def test_the_library_reproduces_transform(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cases.json")
            with open(path, "w") as f:
                json.dump({"cases": self.cases}, f)
            run = subprocess.run([TSX, os.path.join("test", "feature-parity.ts"), path], cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr)
        results = json.loads(run.stdout)
        report = "\n".join(f"{r['name']}: {r.get('error') or (r['maxRelative'], r['maxAbsolute'])}" for r in results)
        for result in results:
            self.assertNotIn("error", result, report)
            self.assertEqual(result["mismatches"], 0, report)
            self.assertLessEqual(result["maxRelative"], TOLERANCE, report)
        if os.environ.get("ONDEVICE_PARITY_REPORT") == "1":
            print("\n" + report)


class StepRefusalTest(unittest.TestCase):
    def test_row_wise_and_other_steps_are_refused_by_name(self):
        X = wine()[NUMBERS].fillna(1.0)
        for step, words in [
            (make_pipeline(PolynomialFeatures(2), OneHotEncoder()), "OneHotEncoder after polynomial"),
            (make_pipeline(Normalizer(), KBinsDiscretizer(n_bins=3, subsample=None)), "KBinsDiscretizer after normalize"),
            (QuantileTransformer(n_quantiles=10), "QuantileTransformer"),
            (FunctionTransformer(np.tanh), "tanh"),
            (FunctionTransformer(np.log, kw_args={"out": None}), "only np.clip"),
            (FunctionTransformer(np.clip, kw_args={"a_min": np.zeros(6), "a_max": None}), "a_min"),
            (KBinsDiscretizer(n_bins=3, dtype=np.float32, subsample=None), "dtype"),
        ]:
            with self.subTest(step=type(step).__name__):
                with self.assertRaisesRegex(UnsupportedStep, words) as caught:
                    feature_spec(ColumnTransformer([("n", step, NUMBERS)], sparse_threshold=0).fit(X), "t", "1")
                self.assertIn("alcohol", str(caught.exception))

    def test_an_encoding_is_the_last_step_of_a_block(self):
        X = wine().fillna({"cellar": "North"})
        for step in (OneHotEncoder(sparse_output=False), KBinsDiscretizer(n_bins=3, encode="onehot-dense", subsample=None)):
            column = "cellar" if isinstance(step, OneHotEncoder) else "proline"
            transformer = ColumnTransformer([("x", make_pipeline(step, StandardScaler()), [column])], sparse_threshold=0).fit(X)
            with self.assertRaisesRegex(UnsupportedStep, f"StandardScaler after a one-hot encoding on column '{column}'"):
                feature_spec(transformer, "t", "1")

    def test_bins_of_categories_are_not_one_hot_encoded(self):
        X = wine().fillna({"cellar": "North"})
        step = make_pipeline(OrdinalEncoder(), KBinsDiscretizer(n_bins=2, encode="onehot-dense", subsample=None))
        with self.assertRaisesRegex(UnsupportedStep, "KBinsDiscretizer.*on column 'cellar'.*number field only"):
            feature_spec(ColumnTransformer([("c", step, ["cellar"])], sparse_threshold=0).fit(X), "t", "1")

    def test_numpy_pipelines_name_their_fields(self):
        D = diabetes().to_numpy()
        spec = feature_spec(make_pipeline(StandardScaler(), Ridge()).fit(D, load_diabetes().target), "t", "1")
        self.assertEqual([f["name"] for f in spec["fields"]], [f"x{i}" for i in range(10)])
        self.assertTrue(all(f["type"] == "number" for f in spec["fields"]))


class NumpyExportTest(unittest.TestCase):
    """export_bundle end to end for pipelines without a ColumnTransformer, fitted on NumPy arrays."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ondevice-steps-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def export(self, pipeline, X, y, name, **options):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=2)
        pipeline.fit(X_train, y_train)
        build = os.path.join(self.tmp, name)
        card = export_bundle(pipeline, build, name=name, version="1.0.0", X_train=X_train, X_test=X_test, y_test=y_test, **options)
        with open(os.path.join(build, "feature-spec.json")) as f:
            spec = json.load(f)
        with open(os.path.join(build, "e2e-set.json")) as f:
            e2e = json.load(f)
        return build, card, spec, e2e

    def test_a_numpy_regressor_and_classifier_export_pack_and_verify(self):
        D = load_diabetes()
        build, card, spec, e2e = self.export(make_pipeline(StandardScaler(), Ridge()), D.data, D.target, "diabetes-numpy",
                                             dtype="float64", metric_range=[0, 80])
        names = [f"x{i}" for i in range(10)]
        self.assertEqual(spec["fields"], [{"name": n, "type": "number"} for n in names])
        self.assertEqual(list(e2e["rows"][0]), names)
        self.assertEqual(card["task"]["kind"], "regression")
        C = load_breast_cancer()
        X = C.data.copy()
        X[np.random.default_rng(4).random(X.shape) < 0.05] = np.nan
        pipeline = make_pipeline(SimpleImputer(add_indicator=True), RobustScaler(), LogisticRegression(max_iter=5000))
        build2, card2, spec2, e2e2 = self.export(pipeline, X, C.target, "cancer-numpy", metric_range=[0.8, 1.0])
        self.assertEqual(len(spec2["features"]), 60)  # 30 imputed columns, then 30 missing indicators
        self.assertTrue(any(v is None for row in e2e2["rows"] for v in row.values()))
        self.assertEqual(card2["task"]["classes"], ["0", "1"])
        if not os.path.exists(TSX):
            self.skipTest("node_modules/.bin/tsx is needed to pack and verify")
        for path, name in ((build, "diabetes-numpy"), (build2, "cancer-numpy")):
            out = os.path.join(self.tmp, "bundles")
            packed = ondevice("pack", path, "--out", out)
            self.assertEqual(packed.returncode, 0, packed.stderr + packed.stdout)
            verified = ondevice("verify", os.path.join(out, name))
            self.assertEqual(verified.returncode, 0, verified.stderr + verified.stdout)


def ondevice(*args):
    return subprocess.run([TSX, os.path.join(ROOT, "src", "cli", "main.ts"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


if __name__ == "__main__":
    unittest.main()
