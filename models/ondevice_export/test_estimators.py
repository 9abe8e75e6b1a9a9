"""Parity of to_onnx with scikit-learn / XGBoost for every supported estimator family, scored by the
project's runtime (onnxruntime-web's WASM build, in Node; see ortweb.py). Skipped without node and
node_modules/onnxruntime-web.

Run: cd models && /usr/bin/python3 -m unittest discover -s ondevice_export -t . -q

Every case is exported twice, with float64 and with float32 input, and checked against the trainer
run on the very rows the graph receives (for float32, the rows rounded to float32, as float64):
  - values and probabilities: |graph - trainer| <= tolerance * max(1, |trainer|), with
    tolerance 1e-5 for float64 input and 1e-4 for float32 input. float32 graphs compute in float32
    (float32's unit roundoff is 6e-8; a score is a sum over tens of features and layers or trees, and
    exp/softmax turn an absolute error of the score into a relative error of the probability, so a few
    hundred roundoffs of headroom), except the families that compute in float64 (graph.in_double);
  - labels: equal to the trainer's predict on every row, except rows where the trainer itself is
    within that tolerance of a tie (the top two probabilities, or the decision values that predict
    reads), which must be rare;
  - missing values (NaN) are present in the test rows of HistGradientBoosting and XGBoost.
"""
import os
import sys
import unittest
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine, make_classification  # noqa: E402
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,  # noqa: E402
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression, SGDClassifier, SGDRegressor  # noqa: E402
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR, NuSVC, NuSVR  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

from ondevice_export import UnsupportedEstimator, ortweb, to_onnx  # noqa: E402

TOLERANCE = {"float64": 1e-5, "float32": 1e-4}
GRID_CASES = ("knn-ties-uniform", "knn-ties-distance", "knn-ties-reg")
MAX_TIED_SHARE = 0.05  # rows exempted from the label check as near-ties, at most


def split(X, y, seed=0, test=0.3):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    cut = int(len(y) * (1 - test))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


def scaled(X_train, y_train, X_test):
    """Standardised features (what an app's feature spec would feed SVMs, neighbours and networks)."""
    mean, scale = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / scale, y_train, (X_test - mean) / scale


def with_nans(X, share, seed):
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < share] = np.nan
    return X


def datasets():
    """Each: (X_train, y_train, X_test) from scikit-learn's bundled data or generators (offline)."""
    data = {}
    X, y = load_breast_cancer(return_X_y=True)
    Xa, ya, Xb, _ = split(X, y)
    data["cancer_raw"] = (Xa, ya, Xb)
    data["cancer"] = scaled(Xa, ya, Xb)
    data["cancer_nan"] = (with_nans(Xa, 0.1, 1), ya, with_nans(Xb, 0.15, 2))
    X, y = load_wine(return_X_y=True)
    Xa, ya, Xb, _ = split(X, y)
    data["wine_raw"] = (Xa, ya, Xb)
    data["wine"] = scaled(Xa, ya, Xb)
    data["wine_nan"] = (with_nans(Xa, 0.1, 3), ya, with_nans(Xb, 0.15, 4))
    X, y = load_iris(return_X_y=True)
    Xa, ya, Xb, _ = split(X, np.array(["virginica", "setosa", "versicolor"])[y])  # string classes, not in first-seen order
    data["iris"] = (Xa, ya, Xb)
    X, y = load_diabetes(return_X_y=True)
    Xa, ya, Xb, _ = split(X, y)
    data["diabetes"] = (Xa, ya, Xb)
    data["diabetes_scaled"] = scaled(Xa, ya / 100, Xb)
    data["diabetes_nan"] = (with_nans(Xa, 0.1, 5), ya, with_nans(Xb, 0.15, 6))
    data["categories_reg"], data["categories_clf"] = categorical_data()
    data["grid"] = grid_data()
    X, y = make_classification(400, 8, n_informative=5, n_classes=4, n_clusters_per_class=1, random_state=0)
    Xa, ya, Xb, _ = split(X, y)
    data["four"] = (Xa, ya, Xb)
    return data


def categorical_data():
    """Two categorical columns (codes 0..5 and 0..11, with NaN) and two numbers; the test rows add
    codes the trainer never saw, negative and non-integer codes, huge values and infinities."""
    rng = np.random.default_rng(7)
    n = 600
    X = np.c_[rng.integers(0, 6, n), rng.integers(0, 12, n), rng.normal(size=n), rng.normal(size=n)].astype(float)
    effect_a, effect_b = rng.normal(size=6) * 2, rng.normal(size=12)
    value = effect_a[X[:, 0].astype(int)] + effect_b[X[:, 1].astype(int)] + X[:, 2] + rng.normal(size=n) * 0.3
    X[rng.random(n) < 0.08, 0] = np.nan
    X[rng.random(n) < 0.08, 2] = np.nan
    Xa, Xb = X[:450], X[450:].copy()
    odd = [6.0, 11.0, 13.0, -1.0, -0.5, 2.7, 255.0, 256.0, 258.0, 300.0, 2.0 ** 31 + 1, 1e12, np.inf, -np.inf, np.nan]
    Xb[:len(odd), 0] = odd
    Xb[len(odd):2 * len(odd), 1] = odd
    classes = np.digitize(value, np.quantile(value, [1 / 3, 2 / 3]))
    return (Xa, value[:450], Xb), (Xa, classes[:450], Xb)


def grid_data():
    """Integer rows with many exactly equal distances, test rows that repeat training rows, and labels
    / targets that differ among equidistant neighbours: ties must resolve as scikit-learn's brute force."""
    rng = np.random.default_rng(11)
    Xa = rng.integers(0, 4, size=(120, 3)).astype(float)
    ya = rng.integers(0, 3, size=120)
    Xb = np.r_[rng.integers(0, 4, size=(60, 3)), Xa[:10]].astype(float)
    return Xa, ya, Xb


def estimators():
    """name -> (estimator, data set, margin): margin says what predict reads, for the near-tie exemption:
    'proba' (the top two probabilities), 'decision' (sign or argmax of decision_function), 'pairs'
    (libsvm's pairwise decision values) or 'exact' (vote counts: ties are exact and both sides take the
    first class, so no exemption)."""
    quick = dict(random_state=0)
    return {
        # trees
        "tree-reg": (DecisionTreeRegressor(max_depth=6, **quick), "diabetes", "proba"),
        "tree-clf": (DecisionTreeClassifier(max_depth=5, **quick), "wine_raw", "proba"),
        "extra-reg": (ExtraTreesRegressor(n_estimators=15, **quick), "diabetes", "proba"),
        "extra-clf": (ExtraTreesClassifier(n_estimators=15, **quick), "cancer_raw", "proba"),
        # histogram gradient boosting: NaN in the test rows, categorical bitset splits
        "hgb-reg-nan": (HistGradientBoostingRegressor(max_iter=40, **quick), "diabetes_nan", "proba"),
        "hgb-poisson": (HistGradientBoostingRegressor(loss="poisson", max_iter=30, **quick), "diabetes_nan", "proba"),
        "hgb-binary-nan": (HistGradientBoostingClassifier(max_iter=30, **quick), "cancer_nan", "proba"),
        "hgb-multi-nan": (HistGradientBoostingClassifier(max_iter=20, **quick), "wine_nan", "proba"),
        "hgb-cat-reg": (HistGradientBoostingRegressor(max_iter=40, categorical_features=[0, 1], **quick), "categories_reg", "proba"),
        "hgb-cat-multi": (HistGradientBoostingClassifier(max_iter=20, categorical_features=[True, True, False, False], **quick),
                          "categories_clf", "proba"),
        # calibration
        "cal-sigmoid-logistic": (CalibratedClassifierCV(LogisticRegression(), cv=3), "cancer", "proba"),
        "cal-isotonic-linearsvc": (CalibratedClassifierCV(LinearSVC(**quick), method="isotonic", cv=3), "cancer", "proba"),
        "cal-isotonic-logistic-multi": (CalibratedClassifierCV(LogisticRegression(), method="isotonic", cv=3), "wine", "proba"),
        "cal-sigmoid-forest-multi": (CalibratedClassifierCV(RandomForestClassifier(n_estimators=10, **quick), cv=3), "wine_raw", "proba"),
        "cal-isotonic-gaussiannb": (CalibratedClassifierCV(GaussianNB(), method="isotonic", cv=3), "iris", "proba"),
        "cal-sigmoid-svc-multi": (CalibratedClassifierCV(SVC(**quick), cv=3), "wine", "proba"),
        "cal-sigmoid-boosting": (CalibratedClassifierCV(GradientBoostingClassifier(n_estimators=15, **quick), cv=3), "wine", "proba"),
        "cal-sigmoid-nb-single": (CalibratedClassifierCV(GaussianNB(), ensemble=False, cv=3), "wine_raw", "proba"),
        "cal-isotonic-hgb-nan": (CalibratedClassifierCV(HistGradientBoostingClassifier(max_iter=15, **quick), method="isotonic", cv=3),
                                 "cancer_nan", "proba"),
        # libsvm
        "svc-linear-proba": (SVC(kernel="linear", probability=True, **quick), "cancer", "pairs"),
        "svc-poly-proba-multi": (SVC(kernel="poly", degree=3, probability=True, **quick), "wine", "pairs"),
        "svc-rbf-proba-multi": (SVC(probability=True, **quick), "iris", "pairs"),
        "svc-rbf-proba-four": (SVC(C=3.0, probability=True, **quick), "four", "pairs"),
        "svc-sigmoid": (SVC(kernel="sigmoid", gamma=0.01, **quick), "cancer", "pairs"),
        "svc-rbf-votes-multi": (SVC(**quick), "four", "pairs"),
        "svc-break-ties": (SVC(break_ties=True, **quick), "four", "decision"),
        "nusvc-rbf-proba": (NuSVC(nu=0.3, probability=True, **quick), "wine", "pairs"),
        "svr-rbf": (SVR(C=50.0), "diabetes_scaled", "proba"),
        "svr-poly": (SVR(kernel="poly", degree=2, C=10.0), "diabetes_scaled", "proba"),
        "svr-linear": (SVR(kernel="linear"), "diabetes_scaled", "proba"),
        "svr-log-target": (TransformedTargetRegressor(SVR(C=10.0), func=np.log1p, inverse_func=np.expm1), "diabetes_scaled", "proba"),
        "nusvr-sigmoid": (NuSVR(kernel="sigmoid", gamma=0.05, C=5.0), "diabetes_scaled", "proba"),
        # linear
        "linearsvc-binary": (LinearSVC(**quick), "cancer", "decision"),
        "linearsvc-multi": (LinearSVC(**quick), "wine", "decision"),
        "linearsvc-crammer": (LinearSVC(multi_class="crammer_singer", **quick), "four", "decision"),
        "linearsvr": (LinearSVR(max_iter=5000, **quick), "diabetes_scaled", "proba"),
        "sgd-log-binary": (SGDClassifier(loss="log_loss", **quick), "cancer", "decision"),
        "sgd-log-multi": (SGDClassifier(loss="log_loss", **quick), "wine", "decision"),
        "sgd-huber-binary": (SGDClassifier(loss="modified_huber", **quick), "cancer", "decision"),
        "sgd-huber-multi": (SGDClassifier(loss="modified_huber", **quick), "four", "decision"),
        "sgd-hinge-multi": (SGDClassifier(**quick), "wine", "decision"),
        "sgd-regressor": (SGDRegressor(**quick), "diabetes_scaled", "proba"),
        # nearest neighbours
        "knn-uniform": (KNeighborsClassifier(5), "iris", "exact"),
        "knn-distance-manhattan": (KNeighborsClassifier(7, weights="distance", p=1), "wine", "exact"),
        "knn-chebyshev": (KNeighborsClassifier(4, metric="chebyshev"), "four", "exact"),
        "knn-reg-uniform": (KNeighborsRegressor(6), "diabetes", "proba"),
        "knn-reg-distance": (KNeighborsRegressor(5, weights="distance", metric="euclidean"), "diabetes", "proba"),
        "knn-ties-uniform": (KNeighborsClassifier(4, algorithm="brute"), "grid", "exact"),
        "knn-ties-distance": (KNeighborsClassifier(6, weights="distance", algorithm="brute", p=1), "grid", "exact"),
        "knn-ties-reg": (KNeighborsRegressor(5, weights="distance", algorithm="brute"), "grid", "proba"),
        # neural networks
        "mlp-reg-relu": (MLPRegressor((16, 8), max_iter=300, **quick), "diabetes_scaled", "proba"),
        "mlp-binary-tanh": (MLPClassifier((12,), activation="tanh", max_iter=300, **quick), "cancer", "proba"),
        "mlp-multi-logistic": (MLPClassifier((10, 6), activation="logistic", max_iter=400, **quick), "wine", "proba"),
        "mlp-multi-identity": (MLPClassifier((8,), activation="identity", max_iter=300, **quick), "iris", "proba"),
        # naive Bayes
        "gaussian-nb-binary": (GaussianNB(), "cancer_raw", "proba"),
        "gaussian-nb-multi": (GaussianNB(), "wine_raw", "proba"),
        "bernoulli-nb": (BernoulliNB(binarize=0.0), "wine", "proba"),
        "multinomial-nb": (MultinomialNB(), "wine_raw", "proba"),
    }


def xgboost_estimators():
    try:
        import xgboost
    except ImportError:
        return {}
    common = dict(n_estimators=25, max_depth=4, n_jobs=1, random_state=0)
    return {
        "xgb-reg-nan": (xgboost.XGBRegressor(**common), "diabetes_nan", "proba"),
        "xgb-binary-nan": (xgboost.XGBClassifier(**common), "cancer_nan", "proba"),
        "xgb-multi-nan": (xgboost.XGBClassifier(**common), "wine_nan", "proba"),
        "xgb-missing-value": (xgboost.XGBClassifier(missing=-1.0, **common), "categories_clf", "proba"),
    }


def reference(estimator, X, margin, tolerance):
    """(expected output, expected label index or None, rows exempt from the label check, rows exempt
    from every check) from the trainer on rows X."""
    exempt = np.zeros(len(X), dtype=bool)
    if isinstance(estimator, (KNeighborsClassifier, KNeighborsRegressor)):
        exempt = boundary_ties(estimator, X)
    if not hasattr(estimator, "classes_"):
        return estimator.predict(X).ravel(), None, None, exempt
    classes = estimator.classes_
    label = np.searchsorted(classes, estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        expected = estimator.predict_proba(X)
    else:
        expected = np.eye(len(classes))[label]
    if margin == "exact":  # ties are exact (vote counts) and both sides take the first class
        return expected.ravel(), label, np.zeros(len(X), dtype=bool), exempt
    if margin == "pairs":  # libsvm votes: any pairwise decision near 0 could flip a vote
        scores = np.atleast_2d(estimator._decision_function(X).T).T
        gap = np.abs(scores).min(axis=1)
    else:
        scores = expected if margin == "proba" else np.atleast_2d(estimator.decision_function(X).T).T
        gap = np.abs(scores[:, 0]) if scores.shape[1] == 1 else np.diff(np.sort(scores, axis=1)[:, -2:], axis=1).ravel()
    near_tie = gap < tolerance * np.maximum(1.0, np.abs(scores).max(axis=1))
    return expected.ravel(), label, near_tie, exempt


def boundary_ties(estimator, X):
    """Rows whose k-th nearest training distance is shared with the (k+1)-th: which of the tied rows
    scikit-learn keeps follows its heap / tree order, the graph keeps the lowest indices. Those rows are
    checked against stable_neighbours instead."""
    distances, _ = estimator.kneighbors(X, estimator.n_neighbors + 1)
    return distances[:, -2] == distances[:, -1]


def stable_neighbours(estimator, X):
    """predict / predict_proba with exact ties at the k-th distance resolved by the lowest training
    index (the exporter's documented rule), from exact differences."""
    fit, k = estimator._fit_X, estimator.n_neighbors
    difference = np.abs(X[:, None, :] - fit[None])
    if estimator.effective_metric_ == "chebyshev":
        distance, power = difference.max(axis=2), 1
    else:
        power = {"euclidean": 2, "manhattan": 1}[estimator.effective_metric_]
        distance = (difference ** power).sum(axis=2)
    order = np.argsort(distance, axis=1, kind="stable")[:, :k]
    nearest = np.take_along_axis(distance, order, axis=1) ** (1 / power)
    with np.errstate(divide="ignore"):
        weights = np.ones_like(nearest) if estimator.weights == "uniform" else 1 / nearest
    infinite = np.isinf(weights)
    weights = np.where(infinite.any(axis=1, keepdims=True), infinite, weights)
    if isinstance(estimator, KNeighborsRegressor):
        return (estimator._y[order] * weights).sum(axis=1) / weights.sum(axis=1)
    votes = np.zeros((len(X), len(estimator.classes_)))
    for j in range(k):
        votes[np.arange(len(X)), estimator._y[order[:, j]]] += weights[:, j]
    return votes / votes.sum(axis=1, keepdims=True)


@unittest.skipUnless(ortweb.available(), "needs node and node_modules/onnxruntime-web")
class EstimatorParityTest(unittest.TestCase):
    results = None

    @classmethod
    def setUpClass(cls):
        data = datasets()
        cases, cls.expected = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for name, (estimator, dataset, margin) in {**estimators(), **xgboost_estimators()}.items():
                X_train, y_train, X_test = data[dataset]
                estimator.fit(X_train, y_train)
                for dtype in ("float64", "float32"):
                    X = X_test if dtype == "float64" else X_test.astype(np.float32).astype(np.float64)
                    cases[name, dtype] = (to_onnx(estimator, X.shape[1], input_dtype=dtype), X, dtype)
                    cls.expected[name, dtype] = (estimator, X, *reference(estimator, X, margin, TOLERANCE[dtype]))
        cls.results = ortweb.run({f"{n}|{d}": case for (n, d), case in cases.items()})

    def outputs(self, name, dtype):
        return self.results[f"{name}|{dtype}"]

    def differences(self, name, dtype):
        """(max relative difference, label mismatches that are not near-ties, near-ties, exempt rows)."""
        estimator, X, expected, label, near_tie, exempt = self.expected[name, dtype]
        outputs = self.outputs(name, dtype)
        got = outputs["probabilities" if label is not None else "value"]
        self.assertEqual(got.shape, expected.shape, name)
        relative = (np.abs(got - expected) / np.maximum(1.0, np.abs(expected))).reshape(len(X), -1)[~exempt]
        worst = float(np.max(relative, initial=0.0)) if np.all(np.isfinite(got)) else np.inf
        if label is None:
            return worst, 0, 0, int(exempt.sum())
        wrong = (outputs["label"].astype(np.int64) != label) & ~near_tie & ~exempt
        return worst, int(wrong.sum()), int(near_tie.sum()), int(exempt.sum())

    def check(self, prefix, max_exempt_share=0.0, skip=()):
        names = sorted({n for n, _ in self.expected if n.startswith(prefix) and n not in skip})
        self.assertTrue(names, prefix)
        for name in names:
            for dtype in ("float64", "float32"):
                worst, wrong, near_ties, exempt = self.differences(name, dtype)
                rows = len(self.expected[name, dtype][1])
                with self.subTest(case=name, dtype=dtype):
                    self.assertLessEqual(worst, TOLERANCE[dtype])
                    self.assertEqual(wrong, 0, "labels differ from predict")
                    self.assertLessEqual(near_ties, MAX_TIED_SHARE * rows, "too many near-ties to trust the label check")
                    self.assertLessEqual(exempt, max_exempt_share * rows, "too many rows exempted")

    def test_decision_trees_and_extra_trees(self):
        self.check("tree-")
        self.check("extra-")

    def test_hist_gradient_boosting_with_missing_values_and_categories(self):
        self.check("hgb-")

    def test_xgboost_with_missing_values(self):
        if not xgboost_estimators():
            self.skipTest("xgboost is not installed")
        self.check("xgb-")

    def test_calibrated_classifiers(self):
        self.check("cal-")

    def test_support_vector_machines(self):
        self.check("svc-")
        self.check("nusvc-")
        self.check("svr-")
        self.check("nusvr-")

    def test_linear_svm_and_sgd(self):
        self.check("linearsvc-")
        self.check("linearsvr")
        self.check("sgd-")

    def test_nearest_neighbours_and_their_ties(self):
        # Rows without a tie at the k-th distance agree with scikit-learn (continuous data has none,
        # the grid has many); every row agrees with the lowest-index rule.
        self.check("knn-", skip=GRID_CASES, max_exempt_share=MAX_TIED_SHARE)
        self.check("knn-", max_exempt_share=1.0)
        for name in sorted({n for n, _ in self.expected if n.startswith("knn-")}):
            for dtype in ("float64", "float32"):
                estimator, X, expected, label, near_tie, exempt = self.expected[name, dtype]
                outputs = self.outputs(name, dtype)
                got = outputs["probabilities" if label is not None else "value"].reshape(len(X), -1)
                stable = stable_neighbours(estimator, X).reshape(len(X), -1)
                with self.subTest(case=name, dtype=dtype):
                    np.testing.assert_allclose(got, stable, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
                    if label is not None:
                        np.testing.assert_array_equal(outputs["label"], np.argmax(stable, axis=1))
                    if name in GRID_CASES:  # built to have ties at the k-th distance and zero distances
                        self.assertGreater(exempt.sum(), 10)

    def test_mlp(self):
        self.check("mlp-")

    def test_naive_bayes(self):
        self.check("gaussian-nb")
        self.check("bernoulli-nb")
        self.check("multinomial-nb")


@unittest.skipUnless(ortweb.available(), "needs node and node_modules/onnxruntime-web")
class CalibrationEdgeTest(unittest.TestCase):
    def test_a_fold_without_a_class_leaves_its_column_at_zero_before_normalising(self):
        X_train, y_train, X_test = datasets()["wine"]
        no_class_two = np.flatnonzero(y_train != 2)
        folds = [(no_class_two[::2], np.arange(len(y_train))), (np.arange(len(y_train))[::2], np.arange(len(y_train)))]
        model = CalibratedClassifierCV(LogisticRegression(), method="isotonic", cv=folds).fit(X_train, y_train)
        self.assertEqual(list(model.calibrated_classifiers_[0].estimator.classes_), [0, 1])
        got = ortweb.run({"m": (to_onnx(model, X_test.shape[1]), X_test, "float64")})["m"]
        expected = model.predict_proba(X_test)
        np.testing.assert_allclose(got["probabilities"].reshape(expected.shape), expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got["label"], np.searchsorted(model.classes_, model.predict(X_test)))


class RefusalTest(unittest.TestCase):
    def test_unsupported_options_are_refused_by_name(self):
        X, y = load_iris(return_X_y=True)
        cases = [
            (SVC(kernel=lambda a, b: a @ b.T), "SVC(kernel=<function"),
            (KNeighborsClassifier(metric="cosine"), "metric='cosine'"),
            (KNeighborsClassifier(p=3), "p=3"),
            (KNeighborsClassifier(weights=lambda d: d), "weights="),
            (MLPClassifier((3,), max_iter=5), None),  # supported: a control
            (MLPRegressor((3,), max_iter=5), "2 outputs"),
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for estimator, message in cases:
                target = np.c_[y, y] if message == "2 outputs" else y
                estimator.fit(X, target)
                if message is None:
                    to_onnx(estimator, 4)
                    continue
                with self.assertRaises(UnsupportedEstimator) as caught:
                    to_onnx(estimator, 4)
                self.assertIn(type(estimator).__name__, str(caught.exception))
                self.assertIn(message, str(caught.exception))

    def test_calibrated_around_an_unsupported_estimator_is_refused(self):
        from sklearn.linear_model import RidgeClassifier
        X, y = load_iris(return_X_y=True)
        with self.assertRaisesRegex(UnsupportedEstimator, "RidgeClassifier"):
            to_onnx(CalibratedClassifierCV(RidgeClassifier(), cv=2).fit(X, y), 4)


if __name__ == "__main__":
    unittest.main()
