"""Tests for ondevice_export: /usr/bin/python3 -m unittest discover -s models/ondevice_export

The ONNX graphs are checked numerically with the project's real runtime (onnxruntime-web, WASM) in
Node when node and node_modules/onnxruntime-web are present; that test is skipped otherwise.
"""
import json
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import onnx  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor  # noqa: E402
from sklearn.ensemble import (AdaBoostRegressor, GradientBoostingClassifier, GradientBoostingRegressor,  # noqa: E402
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import (FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder,  # noqa: E402
                                   PolynomialFeatures, QuantileTransformer, StandardScaler)
from sklearn.svm import SVR  # noqa: E402

from ondevice_export import (DEFAULT_THRESHOLDS, RareLabelGrouper, TargetOrderedEncoder, UnsupportedEstimator,  # noqa: E402
                             UnsupportedStep, append_expm1, feature_columns, feature_spec, is_additive, ortweb, reference_stats,
                             tfjs_layers_model, to_onnx)


def frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "area": rng.lognormal(7, 0.5, n),
        "rooms": rng.integers(1, 9, n).astype(float),
        "year": rng.integers(1900, 2011, n).astype(float),
        "town": rng.choice(["North", "South", "East", "West", "Tiny"], n, p=[0.4, 0.3, 0.2, 0.095, 0.005]),
        "kind": rng.choice(["House", "Flat", "Barn"], n),
    })
    for column in ("area", "year", "town", "kind"):
        data.loc[rng.random(n) < 0.1, column] = np.nan
    y = data["area"].fillna(1000) * 50 + data["rooms"] * 1000 + rng.normal(0, 100, n)
    return data, y.to_numpy()


def full_transformer():
    return ColumnTransformer([
        ("log", Pipeline([("impute", SimpleImputer(strategy="median")), ("log", FunctionTransformer(np.log1p)),
                          ("scale", StandardScaler())]), ["area"]),
        ("rooms", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=3)), ("scale", MinMaxScaler())]), ["rooms"]),
        ("year", Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", MinMaxScaler(clip=True))]), ["year"]),
        ("town", Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("rare", RareLabelGrouper(0.02)),
                           ("encode", TargetOrderedEncoder("use_encoded_value", -1)), ("scale", StandardScaler())]), ["town"]),
        ("town_ordinal", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="Missing")),
                                   ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))]), ["town"]),
        ("kind", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                           ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), ["kind"]),
        ("raw", "passthrough", ["rooms"]),
    ], remainder="drop", sparse_threshold=0)


def apply_spec(spec, rows):
    """A plain reading of models/README.md's ops, to hold the spec to what scikit-learn computes."""
    out = []
    for row in rows:
        values = []
        for block in spec["features"]:
            v = row[block["field"]]
            for step in block["steps"]:
                op = step["op"]
                if op == "impute":
                    v = step["value"] if v is None else v
                elif v is None:
                    raise ValueError(f"missing {block['field']}")
                elif op == "rare_label":
                    v = v if v in step["keep"] else step["label"]
                elif op == "one_hot":
                    if v not in step["categories"] and step["unknown"] == "error":
                        raise ValueError(f"unknown {v}")
                    v = [1.0 if v == c else 0.0 for c in step["categories"]]
                elif op == "ordinal":
                    if v in step["categories"]:
                        v = float(step["categories"].index(v))
                    elif step["unknown"] == "value":
                        v = step["unknownValue"]
                    else:
                        raise ValueError(f"unknown {v}")
                elif op == "log1p":
                    v = np.log1p(v)
                elif op == "standardize":
                    v = (v - step["mean"]) / step["scale"]
                elif op == "min_max":
                    v = v * step["scale"] + step["min"]
                    if "clip" in step:
                        v = min(max(v, step["clip"][0]), step["clip"][1])
            values += v if isinstance(v, list) else [v]
        out.append(values)
    return np.asarray(out, dtype=np.float64)


def rows_of(data):
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in data.to_dict("records")]


class FeatureSpecTest(unittest.TestCase):
    def test_spec_reproduces_the_transformer_exactly(self):
        data, y = frame()
        transformer = full_transformer().fit(data, y)
        spec = feature_spec(transformer, "test", "1.0.0", dtype="float64")
        fresh, _ = frame(200, seed=1)
        fresh.loc[0, "town"] = "Atlantis"  # unseen: grouped as Rare
        fresh.loc[1, "kind"] = "Castle"  # unseen: all-zero one-hot
        fresh.loc[2, "year"] = 2050.0  # clipped
        expected = transformer.transform(fresh)
        np.testing.assert_array_equal(apply_spec(spec, rows_of(fresh)), expected)
        self.assertEqual([f["name"] for f in spec["fields"]], ["area", "rooms", "year", "town", "kind"])
        self.assertEqual({f["type"] for f in spec["fields"] if f["name"] in ("town", "kind")}, {"category"})
        self.assertEqual(spec["output"], {"input": "features", "dtype": "float64"})

    def test_emitted_op_shapes(self):
        data, y = frame()
        spec = feature_spec(Pipeline([("features", full_transformer()), ("model", Ridge())]).fit(data, y), "t", "1")
        ops = {(b["field"], s["op"]): s for b in spec["features"] for s in b["steps"]}
        self.assertEqual(set(ops["town", "rare_label"]), {"op", "keep", "label"})
        self.assertNotIn("Tiny", ops["town", "rare_label"]["keep"])
        self.assertEqual(ops["year", "min_max"]["clip"], [0.0, 1.0])
        self.assertNotIn("clip", ops["rooms", "min_max"])
        self.assertEqual(ops["kind", "one_hot"]["unknown"], "ignore")
        ordinal = [s for b in spec["features"] for s in b["steps"] if s["op"] == "ordinal"]
        self.assertTrue(all(s["unknown"] == "value" and s["unknownValue"] == -1.0 for s in ordinal))
        self.assertEqual(ops["rooms", "impute"]["value"], 3.0)

    def refused(self, step, column_names=("area",), message=None):
        data, y = frame()
        transformer = ColumnTransformer([("x", step, list(column_names))], sparse_threshold=0).fit(data, y)
        with self.assertRaises(UnsupportedStep) as caught:
            feature_spec(transformer, "t", "1")
        text = str(caught.exception)
        self.assertIn(f"column '{column_names[0]}'", text)
        if message:
            self.assertIn(message, text)
        return text

    def test_unsupported_steps_are_refused_by_name(self):
        # The steps test_steps.py holds to transform() (drop, min_frequency, add_indicator, np.sqrt, NaN
        # unknown_value, PolynomialFeatures, ...) are accepted; these are not.
        impute = ("impute", SimpleImputer(strategy="median"))
        self.refused(Pipeline([impute, ("q", QuantileTransformer(n_quantiles=10))]), message="QuantileTransformer")
        self.refused(Pipeline([impute, ("p", PolynomialFeatures()), ("i", SimpleImputer())]), message="SimpleImputer after polynomial")
        self.refused(Pipeline([impute, ("f", FunctionTransformer(np.tanh))]), message="tanh")
        self.refused(Pipeline([impute, ("s", StandardScaler()), ("i", SimpleImputer())]), message="first step")
        cat = ("impute", SimpleImputer(strategy="most_frequent"))
        self.refused(Pipeline([cat, ("e", OneHotEncoder(sparse_output=False)), ("s", StandardScaler())]), ["kind"], "after a one-hot encoding")
        self.refused(Pipeline([cat, ("e", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)),
                               ("s", StandardScaler())]), ["kind"], "after a one-hot encoding")
        self.refused(Pipeline([cat, ("r", RareLabelGrouper())]), ["kind"], "encoder")
        self.refused(OneHotEncoder(sparse_output=False), ["kind"], "categories must be strings")  # NaN became a category

    def test_remainder_and_sparse_output_are_refused(self):
        data, y = frame()
        numbers = Pipeline([("impute", SimpleImputer()), ("s", StandardScaler())])
        with self.assertRaisesRegex(UnsupportedStep, "remainder"):
            feature_spec(ColumnTransformer([("n", numbers, ["area"])], remainder=StandardScaler(), sparse_threshold=0)
                         .fit(data[["area", "rooms"]], y), "t", "1")
        cats = Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("e", OneHotEncoder())])
        with self.assertRaisesRegex(UnsupportedStep, "sparse"):
            feature_spec(ColumnTransformer([("c", cats, ["kind"])], sparse_threshold=1.0).fit(data, y), "t", "1")

    def test_declared_field_types_are_checked(self):
        data, y = frame()
        transformer = ColumnTransformer([("raw", "passthrough", ["rooms"])]).fit(data, y)
        with self.assertRaisesRegex(UnsupportedStep, "declared a category"):
            feature_spec(transformer, "t", "1", fields={"rooms": "category"})


class TransformerTest(unittest.TestCase):
    def test_rare_label_grouper(self):
        X = pd.DataFrame({"c": ["a"] * 97 + ["b", "b", None]})
        grouper = RareLabelGrouper(min_frequency=0.05, label="Other").fit(X)
        self.assertEqual(grouper.keep_, [["a"]])
        out = grouper.transform(pd.DataFrame({"c": ["a", "b", "z", None]}))[:, 0].tolist()
        self.assertEqual(out, ["a", "Other", "Other", None])
        self.assertEqual(RareLabelGrouper(min_frequency=2).fit(X).keep_, [["a", "b"]])
        with self.assertRaisesRegex(ValueError, "already has a level"):
            RareLabelGrouper(label="a").fit(X)

    def test_target_ordered_encoder(self):
        X = pd.DataFrame({"c": ["lo", "hi", "mid", "hi", "lo"]})
        encoder = TargetOrderedEncoder().fit(X, [1, 9, 5, 11, 2])
        self.assertEqual(list(encoder.categories_[0]), ["lo", "mid", "hi"])
        self.assertEqual(encoder.transform(pd.DataFrame({"c": ["hi", "lo"]}))[:, 0].tolist(), [2.0, 0.0])
        with self.assertRaisesRegex(ValueError, "unknown category 'new'"):
            encoder.transform(pd.DataFrame({"c": ["new"]}))
        lenient = TargetOrderedEncoder("use_encoded_value", unknown_value=-1).fit(X, [1, 9, 5, 11, 2])
        self.assertEqual(lenient.transform(pd.DataFrame({"c": ["new"]}))[0, 0], -1.0)
        with self.assertRaisesRegex(ValueError, "impute them first"):
            encoder.transform(pd.DataFrame({"c": [None]}))
        with self.assertRaisesRegex(ValueError, "also the code"):
            TargetOrderedEncoder("use_encoded_value", unknown_value=1).fit(X, [1, 9, 5, 11, 2])


def regression_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = np.exp(10 + X[:, 0] / 2 + np.sin(X[:, 1]) / 3 + rng.normal(size=n) / 20)
    return X, y


class ToOnnxTest(unittest.TestCase):
    def test_unsupported_estimators_are_refused_by_name(self):
        X, y = regression_data()
        for estimator in (KernelRidge(), AdaBoostRegressor(n_estimators=2), KNeighborsRegressor(metric="cosine"),
                          SVR(kernel=lambda a, b: a @ b.T)):
            with self.assertRaisesRegex(UnsupportedEstimator, type(estimator).__name__):
                to_onnx(estimator.fit(X, y), 5)
        with self.assertRaisesRegex(UnsupportedEstimator, "not fitted"):
            to_onnx(Ridge(), 5)
        with self.assertRaisesRegex(UnsupportedEstimator, "log1p"):
            to_onnx(TransformedTargetRegressor(Ridge(), func=np.log, inverse_func=np.exp).fit(X, y), 5)
        with self.assertRaisesRegex(UnsupportedEstimator, "init"):
            to_onnx(GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y), 5)
        with self.assertRaisesRegex(UnsupportedEstimator, "not 4"):
            to_onnx(Ridge().fit(X, y), 4)

    def test_graph_interface(self):
        X, y = regression_data()
        model = to_onnx(TransformedTargetRegressor(RandomForestRegressor(n_estimators=3, random_state=0), func=np.log1p,
                                                   inverse_func=np.expm1).fit(X, y), 5, output_name="price")
        self.assertEqual(model.ir_version, 8)
        self.assertEqual({(o.domain, o.version) for o in model.opset_import}, {("", 17), ("ai.onnx.ml", 3)})
        self.assertEqual([i.name for i in model.graph.input], ["features"])
        self.assertEqual([(o.name, o.type.tensor_type.elem_type) for o in model.graph.output], [("price", onnx.TensorProto.DOUBLE)])
        self.assertFalse(any(n.op_type == "ZipMap" for n in model.graph.node))
        clf = to_onnx(LogisticRegression().fit(X, y > np.median(y)), 5, input_dtype=np.float32)
        self.assertEqual([o.name for o in clf.graph.output], ["probabilities", "label"])

    def test_append_expm1_and_tfjs_layers(self):
        X, y = regression_data()
        log_model = to_onnx(Ridge().fit(X, np.log1p(y)), 5, output_name="log_value")
        model = append_expm1(log_model, output_name="value")
        self.assertEqual([o.name for o in model.graph.output], ["value"])
        self.assertEqual([n.op_type for n in model.graph.node][-3:], ["Cast", "Exp", "Sub"])
        layers = [("hidden", np.ones((5, 3)), np.zeros(3), "relu"), ("out", np.ones((3, 1)), np.zeros(1), "linear")]
        manifest, weights = tfjs_layers_model(layers)
        self.assertEqual(manifest["format"], "layers-model")
        self.assertEqual(manifest["weightsManifest"][0]["paths"], ["weights.bin"])
        self.assertEqual(len(weights), 4 * (15 + 3 + 3 + 1))
        with self.assertRaisesRegex(ValueError, "do not follow"):
            tfjs_layers_model([("out", np.ones((4, 1)), np.zeros(1), "linear")] + layers)

    @unittest.skipUnless(ortweb.available(), "needs node and node_modules/onnxruntime-web")
    def test_onnxruntime_web_matches_the_trainers(self):
        X, y = regression_data()
        Xt, _ = regression_data(200, seed=1)
        classes = np.digitize(X[:, 0] + X[:, 2], [-0.5, 0.5])
        log_y = np.log1p(y)  # float32 graphs of values in the 10^4 would measure float32, not the export
        estimators = {
            "linear": (LinearRegression().fit(X, log_y), "value"),
            "lasso": (Lasso(alpha=0.01).fit(X, log_y), "value"),
            "elastic": (ElasticNet(alpha=0.01).fit(X, log_y), "value"),
            "logistic-binary": (LogisticRegression().fit(X, classes > 0), "probabilities"),
            "logistic-multi": (LogisticRegression().fit(X, classes), "probabilities"),
            "logistic-ovr": (LogisticRegression(multi_class="ovr").fit(X, classes), "probabilities"),
            "forest": (RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y), "value"),
            "forest-classes": (RandomForestClassifier(n_estimators=10, random_state=0).fit(X, classes), "probabilities"),
            "boosting": (GradientBoostingRegressor(n_estimators=30, random_state=0).fit(X, y), "value"),
            "boosting-binary": (GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, classes > 0), "probabilities"),
            "boosting-classes": (GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, classes), "probabilities"),
            "log-target": (TransformedTargetRegressor(GradientBoostingRegressor(n_estimators=30, random_state=0),
                                                      func=np.log1p, inverse_func=np.expm1).fit(X, y), "value"),
        }
        try:
            import xgboost
        except ImportError:
            xgboost = None
        if xgboost is not None:
            common = dict(n_estimators=30, max_depth=3, n_jobs=1, random_state=0)
            estimators["xgboost"] = (xgboost.XGBRegressor(**common).fit(X, log_y), "value")
            estimators["xgboost-binary"] = (xgboost.XGBClassifier(**common).fit(X, classes > 0), "probabilities")
            estimators["xgboost-classes"] = (xgboost.XGBClassifier(**common).fit(X, classes), "probabilities")
        cases, expectations = {}, {}
        for name, (estimator, output) in estimators.items():
            for dtype in ("float64", "float32"):
                cases[f"{name}-{dtype}"] = (to_onnx(estimator, 5, input_dtype=dtype), Xt, dtype)
                expected = estimator.predict(Xt) if output == "value" else estimator.predict_proba(Xt)
                expectations[f"{name}-{dtype}"] = (output, np.ravel(expected))
        results = ortweb.run(cases)
        differences = {}
        for name, (output, expected) in expectations.items():
            got = results[name][output]
            differences[name] = float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected)))) \
                if got.shape == expected.shape and np.all(np.isfinite(got)) else np.inf
        for name in cases:
            # float64 graphs: exact up to summation order and the tree operator's float32 output.
            limit = 1e-6 if name.endswith("float64") else 1e-5
            self.assertLessEqual(differences[name], limit, name)
        if xgboost is not None:
            self.assertEqual(differences["xgboost-float32"], 0.0, "XGBoost's float32 sums are repeated exactly")


class VariantsTest(unittest.TestCase):
    @staticmethod
    def mlp(seed=0):
        """A float32 Gemm-Relu-Gemm network as torch.onnx.export writes one (transB = 1)."""
        from onnx import TensorProto, helper, numpy_helper
        rng = np.random.default_rng(seed)
        w1, b1 = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=8).astype(np.float32)
        w2, b2 = rng.normal(size=(1, 8)).astype(np.float32), rng.normal(size=1).astype(np.float32)
        graph = helper.make_graph(
            [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1, name="g1"), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1, name="g2")],
            "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
            [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    def test_int8_static_is_close_smaller_and_row_independent(self):
        from ondevice_export.variants import evaluate, int8_static
        model = self.mlp()
        x = np.random.default_rng(1).normal(size=(300, 5)).astype(np.float32)
        quantized = int8_static(model, x)
        self.assertNotIn("Gemm", [n.op_type for n in quantized.graph.node])
        self.assertIn("MatMulInteger", [n.op_type for n in quantized.graph.node])
        self.assertEqual({i.name for i in quantized.graph.initializer if i.data_type == onnx.TensorProto.INT8}, {"g1/int8/weight", "g2/int8/weight"})
        exact, approximate = evaluate(model, x), evaluate(quantized, x)
        self.assertLess(float(np.max(np.abs(approximate - exact))), 0.05 * float(np.max(np.abs(exact))))
        self.assertGreater(float(np.max(np.abs(approximate - exact))), 0.0)
        # Fixed scales: a row scored alone gets what it gets in the batch.
        np.testing.assert_array_equal(evaluate(quantized, x[:1]), approximate[:1])

    def test_int8_static_refuses_what_it_cannot_quantize(self):
        from onnx import helper
        from ondevice_export.variants import int8_static
        model = self.mlp()
        model.graph.node[0].attribute.append(helper.make_attribute("alpha", 2.0))
        with self.assertRaisesRegex(UnsupportedEstimator, "alpha"):
            int8_static(model, np.zeros((2, 5), dtype=np.float32))


class ReferenceTest(unittest.TestCase):
    def fitted(self):
        data, y = frame()
        pipeline = Pipeline([("features", full_transformer()), ("model", Ridge())]).fit(data, y)
        spec = feature_spec(pipeline, "t", "1.0.0", dtype="float64")
        Z = pipeline.named_steps["features"].transform(data)
        return data, pipeline, spec, Z

    def test_fields_output_and_feature_means(self):
        data, pipeline, spec, Z = self.fitted()
        predictions = pipeline.predict(data)
        reference = reference_stats(data, spec, Z, predictions, {"kind": "regression", "value": "v"}, is_additive(pipeline))
        self.assertEqual(list(reference), ["format", "formatVersion", "rows", "fields", "output", "featureMeans", "additive", "thresholds"])
        self.assertEqual((reference["format"], reference["formatVersion"], reference["rows"]), ("ondevice/reference", 1, 300))
        self.assertEqual([f["name"] for f in reference["fields"]], [f["name"] for f in spec["fields"]])
        self.assertEqual([f["type"] for f in reference["fields"]], [f["type"] for f in spec["fields"]])
        for field, summary in zip(spec["fields"], reference["fields"]):
            column = data[field["name"]]
            present = column.dropna()
            self.assertEqual(summary["missing"], column.isna().sum() / len(column), field["name"])
            self.assertAlmostEqual(sum(summary["frequencies"]), 1.0, places=12)
            if field["type"] == "number":
                edges = summary["edges"]
                self.assertEqual(edges, sorted(set(edges)))
                self.assertEqual(edges, list(np.unique(np.quantile(present.to_numpy(float), np.arange(1, 10) / 10))))
                self.assertEqual(len(summary["frequencies"]), len(edges) + 1)
                bins = np.searchsorted(edges, present.to_numpy(float), side="left")
                self.assertEqual(summary["frequencies"], [float(np.mean(bins == i)) for i in range(len(edges) + 1)])
            else:
                counts = present.astype(str).value_counts()
                self.assertEqual(summary["levels"], sorted(counts.index, key=lambda level: (-counts[level], level)))
                self.assertEqual(summary["frequencies"], [counts[level] / len(present) for level in summary["levels"]])
        self.assertEqual(reference["output"]["type"], "number")
        self.assertEqual(len(reference["output"]["frequencies"]), len(reference["output"]["edges"]) + 1)
        self.assertEqual(reference["featureMeans"], [float(m) for m in Z.mean(axis=0)])
        self.assertEqual(len(reference["featureMeans"]), len(feature_columns(spec)))
        self.assertTrue(reference["additive"])
        self.assertEqual(reference["thresholds"], DEFAULT_THRESHOLDS)

    def test_deterministic_json(self):
        data, pipeline, spec, Z = self.fitted()
        args = (data, spec, Z, pipeline.predict(data), {"kind": "regression"}, False)
        first = json.dumps(reference_stats(*args), indent=1)
        self.assertEqual(first, json.dumps(reference_stats(*args), indent=1))
        self.assertEqual(json.loads(first), reference_stats(*args))  # floats survive the round trip exactly

    def test_bins_count_edges_strictly_below(self):
        rows = pd.DataFrame({"x": [1.0] * 50 + [2.0] * 49 + [None]})
        reference = reference_stats(rows, {"x": "number"}, np.zeros((100, 1)), ["a"] * 100, {"kind": "classification", "classes": ["a", "b"]}, False)
        field = reference["fields"][0]
        # Deciles 0.1..0.5 are 1 and 0.6..0.9 are 2: the repeats are dropped; 1 is in bin 0, 2 in bin 1, nothing above 2.
        self.assertEqual(field["edges"], [1.0, 2.0])
        self.assertEqual(field["frequencies"], [50 / 99, 49 / 99, 0.0])
        self.assertEqual(field["missing"], 0.01)
        self.assertEqual(reference["output"], {"type": "category", "levels": ["a", "b"], "frequencies": [1.0, 0.0]})

    def test_categories_are_ranked_and_capped(self):
        levels = [f"L{i:02d}" for i in range(60)]
        values = [level for i, level in enumerate(levels) for _ in range(60 - i)] + ["L59", None, float("nan")]
        rows = pd.DataFrame({"c": values})
        n = len(values)
        reference = reference_stats(rows, [{"name": "c", "type": "category"}], np.zeros((n, 1)), [0.0] * n, {"kind": "regression"}, False)
        field = reference["fields"][0]
        self.assertEqual(len(field["levels"]), 50)
        self.assertEqual(field["levels"][:49], levels[:49])
        self.assertEqual(field["levels"][49], "(other)")
        present = n - 2
        self.assertEqual(field["frequencies"][0], 60 / present)
        self.assertEqual(field["frequencies"][49], (sum(60 - i for i in range(49, 60)) + 1) / present)
        self.assertAlmostEqual(sum(field["frequencies"]), 1.0, places=12)
        self.assertEqual(field["missing"], 2 / n)
        # Ties are broken by name; numbers in a category field are levels as json_row sends them.
        tied = reference_stats(pd.DataFrame({"c": ["b", "a", 3, "b", "a"]}), {"c": "category"}, np.zeros((5, 1)), [1.0] * 5,
                               {"kind": "regression"}, False)
        self.assertEqual(tied["fields"][0]["levels"], ["a", "b", "3"])
        # Regression output: a constant prediction has one edge and everything in its first bin.
        self.assertEqual(tied["output"], {"type": "number", "edges": [1.0], "frequencies": [1.0, 0.0]})

    def test_additive_and_feature_columns(self):
        X, y = regression_data()
        for estimator in (LinearRegression(), Ridge(), Lasso(alpha=0.01), ElasticNet(alpha=0.01),
                          TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1)):
            self.assertTrue(is_additive(estimator.fit(X, y)), type(estimator).__name__)
        self.assertTrue(is_additive(Pipeline([("scale", StandardScaler()), ("model", Ridge())])))
        for estimator in (LogisticRegression(), RandomForestRegressor(n_estimators=2),
                          TransformedTargetRegressor(GradientBoostingRegressor(n_estimators=2), func=np.log1p, inverse_func=np.expm1)):
            self.assertFalse(is_additive(estimator))
        _, _, spec, Z = self.fitted()
        columns = feature_columns(spec)
        self.assertEqual(len(columns), Z.shape[1])
        kinds = [block for block in spec["features"] if block["field"] == "kind"][0]["steps"][-1]["categories"]
        self.assertEqual(columns, ["area", "rooms", "year", "town", "town"] + ["kind"] * len(kinds) + ["rooms"])

    def test_bad_inputs_are_refused(self):
        data, pipeline, spec, Z = self.fitted()
        predictions = pipeline.predict(data)
        regression = {"kind": "regression"}
        with self.assertRaisesRegex(ValueError, "feature spec makes"):
            reference_stats(data, spec, Z[:, 1:], predictions, regression, False)
        with self.assertRaisesRegex(ValueError, "one row per training row"):
            reference_stats(data, spec, Z[1:], predictions, regression, False)
        with self.assertRaisesRegex(ValueError, "predictions has 299"):
            reference_stats(data, spec, Z, predictions[1:], regression, False)
        with self.assertRaisesRegex(ValueError, "not one of the task's classes"):
            reference_stats(data, spec, Z, ["x"] * 300, {"kind": "classification", "classes": ["a", "b"]}, False)
        with self.assertRaisesRegex(ValueError, "no non-missing"):
            reference_stats(pd.DataFrame({"x": [None, np.nan]}), {"x": "number"}, np.zeros((2, 1)), [1.0, 1.0], regression, False)
        with self.assertRaisesRegex(ValueError, "non-finite"):
            reference_stats(pd.DataFrame({"x": [1.0, np.inf]}), {"x": "number"}, np.zeros((2, 1)), [1.0, 1.0], regression, False)
        with self.assertRaisesRegex(ValueError, "unknown threshold"):
            reference_stats(data, spec, Z, predictions, regression, False, thresholds={"drift": 1})
        with self.assertRaisesRegex(ValueError, "minRows"):
            reference_stats(data, spec, Z, predictions, regression, False, thresholds={"minRows": 0.5})
        with self.assertRaisesRegex(ValueError, "additive"):
            reference_stats(data, spec, Z, predictions, regression, 1)
        self.assertEqual(reference_stats(data, spec, Z, predictions, regression, False, thresholds={"psi": 0.25, "minRows": 50})["thresholds"],
                         {**DEFAULT_THRESHOLDS, "psi": 0.25, "minRows": 50})


if __name__ == "__main__":
    unittest.main()
