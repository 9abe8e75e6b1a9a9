"""Tree ensembles as one ai.onnx.ml TreeEnsembleRegressor (ml opset 3) each, exact to the trainer's decisions.

Comparisons: scikit-learn's DecisionTree/forests/GradientBoosting cast X to float32 and test
`float32(x) <= threshold` (float64 thresholds); XGBoost casts X to float32 and tests `x < threshold`
(float32 thresholds); HistGradientBoosting keeps X in float64 and tests `x <= threshold`. With float64
input the graph reproduces the trainer's rounding of x (cast to float32 and back, or none for
HistGradientBoosting), then runs double thresholds. With float32 input the thresholds are rounded to
the float32 value that makes the same decision for every float32 x (down for <=, up for <). The tree
operator's output is always float32; it is cast to the input dtype before any post-processing, and its
magnitude is kept small (the base score and, for averages, the mean leaf value are added afterwards).

Missing values: a NaN takes the branch the trainer sends it (XGBoost's default_left, HistGradientBoosting's
missing_go_to_left) through nodes_missing_value_tracks_true. HistGradientBoosting's categorical
(bitset) splits have no ml opset 3 mode: BRANCH_MEMBER belongs to ml opset 5's TreeEnsemble (which
onnxruntime-web 1.30 runs, but onnx 1.12's checker and older runtimes do not know; onnxruntime-web
accepts "BRANCH_MEMBER" in an ml 3 TreeEnsembleRegressor without error and then decides wrongly, as it
has no member list there). So each distinct categorical split becomes an extra 0/1 input column computed
with core ops (the category code looked up in the split's 257-entry table: Gather, Floor, Mod, Where),
tested with `column <= 0.5`. That keeps scikit-learn's rules exactly: NaN and negative values take the
missing-value direction; a known category goes left if in the split's bitset, else right; a category
not seen in training takes the missing-value direction; x is truncated to an integer and, as
scikit-learn's cast to uint8 on x86-64 does, reduced modulo 256 (0 at or past 2**31).
"""
import json

import numpy as np
from onnx import numpy_helper

from .graph import Converted, binary_from_probability, refuse

# scikit-learn casts a category value to uint8 through a 32-bit integer (x86-64 cvttsd2si): values at
# or past 2**31 (and +inf) become 0, others keep their low byte. Index 256 of a table is "missing".
_INT32_LIMIT = 2.0 ** 31
_MISSING = 256


def check_single_output(model):
    if getattr(model, "n_outputs_", 1) != 1:
        refuse(f"{type(model).__name__} with {model.n_outputs_} outputs", "only single-output models are supported")


def sklearn_tree(tree, leaf_values):
    """A scikit-learn tree_ in exporter form; leaf_values(values [nodes, ...]) -> [nodes, targets]."""
    leaf = tree.children_left == -1
    return {
        "feature": np.where(leaf, 0, tree.feature),
        "threshold": np.where(leaf, 0.0, tree.threshold),
        "left": tree.children_left,
        "right": tree.children_right,
        "leaf": leaf,
        "missing_left": np.zeros(tree.node_count, dtype=bool),
        "values": leaf_values(tree.value),
    }


def _class_shares(value):
    """DecisionTreeClassifier.predict_proba: each leaf's class counts normalised to sum 1."""
    counts = value[:, 0, :]
    total = counts.sum(axis=1, keepdims=True)
    return counts / np.where(total == 0, 1.0, total)


def forest(model, g, x, n_features):
    """RandomForest / ExtraTrees (the mean of their trees) and a single DecisionTree / ExtraTree."""
    check_single_output(model)
    estimators = model.estimators_ if hasattr(model, "estimators_") else [model]
    if hasattr(model, "classes_"):
        trees = [sklearn_tree(e.tree_, _class_shares) for e in estimators]
        return Converted("classification", tree_ensemble(g, x, trees, "BRANCH_LEQ", len(model.classes_), "AVERAGE"), g.dtype)
    trees = [sklearn_tree(e.tree_, lambda value: value[:, 0, :1]) for e in estimators]
    return Converted("regression", tree_ensemble(g, x, trees, "BRANCH_LEQ", 1, "AVERAGE"), g.dtype)


def gradient_boosting_raw(model, g, x):
    """GradientBoosting's raw prediction (its decision_function) [N, targets]."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    check_single_output(model)
    if not (isinstance(model.init_, str) and model.init_ == "zero") and type(model.init_) not in (DummyRegressor, DummyClassifier):
        refuse(f"{type(model).__name__}(init={type(model.init_).__name__})", "only the default init or 'zero' give a constant start")
    # The init estimator's raw prediction (e.g. the log-odds of the prior) is constant: read it off one row.
    base = model._raw_predict_init(np.zeros((1, model.n_features_in_), dtype=np.float32))[0]
    stages, targets = model.estimators_.shape
    trees, target_of = [], []
    for stage in range(stages):
        for k in range(targets):
            # predict_stages adds learning_rate * leaf value per stage: fold the product into the leaf.
            trees.append(sklearn_tree(model.estimators_[stage, k].tree_, lambda value: model.learning_rate * value[:, 0, :1]))
            target_of.append(k)
    return tree_ensemble(g, x, trees, "BRANCH_LEQ", targets, "SUM", base=base, target_of=target_of)


def gradient_boosting(model, g, x, n_features):
    from sklearn.ensemble import GradientBoostingClassifier

    raw = gradient_boosting_raw(model, g, x)
    if not isinstance(model, GradientBoostingClassifier):
        return Converted("regression", raw, g.dtype)
    if model.loss not in ("log_loss", "deviance", "exponential"):
        refuse(f"GradientBoostingClassifier(loss={model.loss!r})")
    if model.estimators_.shape[1] == 1:
        scores = g.op("Mul", [raw, g.const(2.0, "two")]) if model.loss == "exponential" else raw
        return Converted("classification", binary_from_probability(g, g.op("Sigmoid", [scores])), g.dtype)
    return Converted("classification", g.op("Softmax", [raw], axis=1), g.dtype)


def hist_gradient_boosting_raw(model, g, x, n_features):
    """HistGradientBoosting's raw prediction [N, trees per iteration]: the baseline plus every tree's leaf."""
    if model.is_categorical_ is not None:
        known, feature_slot = model._bin_mapper.make_known_categories_bitsets()
    else:
        known, feature_slot = None, None
    columns = {}  # (feature, table bytes) -> index of the extra column, shared by identical splits
    trees, target_of = [], []
    for predictors in model._predictors:
        for k, predictor in enumerate(predictors):
            trees.append(_hist_tree(predictor, known, feature_slot, columns, n_features))
            target_of.append(k)
    if columns:
        x = _with_category_columns(g, x, columns)
    targets = model.n_trees_per_iteration_
    return tree_ensemble(g, x, trees, "BRANCH_LEQ", targets, "SUM", base=np.ravel(model._baseline_prediction),
                         target_of=target_of, trainer_float32=False)


def hist_gradient_boosting(model, g, x, n_features):
    raw = hist_gradient_boosting_raw(model, g, x, n_features)
    loss = type(model._loss).__name__
    if hasattr(model, "classes_"):
        if loss == "HalfBinomialLoss":
            return Converted("classification", binary_from_probability(g, g.op("Sigmoid", [raw])), g.dtype)
        if loss == "HalfMultinomialLoss":
            return Converted("classification", g.op("Softmax", [raw], axis=1), g.dtype)
        refuse(f"{type(model).__name__}(loss={model.loss!r})")
    link = type(model._loss.link).__name__
    if link == "IdentityLink":  # squared_error, absolute_error, quantile
        return Converted("regression", raw, g.dtype)
    if link == "LogLink":  # poisson (and gamma): predict = exp(raw)
        return Converted("regression", g.op("Exp", [raw]), g.dtype)
    refuse(f"{type(model).__name__}(loss={model.loss!r})", f"its inverse link {link} is not supported")


def _hist_tree(predictor, known, feature_slot, columns, n_features):
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64)
    threshold = np.where(leaf, 0.0, nodes["num_threshold"])
    missing_left = nodes["missing_go_to_left"].astype(bool) & ~leaf
    for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
        f = int(feature[i])
        table = _category_table(predictor.raw_left_cat_bitsets[nodes["bitset_idx"][i]], known[feature_slot[f]], missing_left[i])
        feature[i] = n_features + columns.setdefault((f, table.tobytes()), len(columns))
        threshold[i], missing_left[i] = 0.5, False
    return {"feature": feature, "threshold": threshold, "left": nodes["left"].astype(np.int64),
            "right": nodes["right"].astype(np.int64), "leaf": leaf, "missing_left": missing_left,
            "values": nodes["value"].astype(np.float64).reshape(-1, 1)}


def _category_table(left_bitset, known_bitset, missing_left):
    """uint8 [257]: 1 where a category code goes right, as _predict_one_from_raw_data decides: in the
    split's bitset -> left; another known category -> right; unknown, negative or NaN (index 256) ->
    the missing-value direction."""
    codes = np.arange(256)

    def member(bitset):
        return ((np.asarray(bitset, dtype=np.uint32)[codes // 32] >> (codes % 32).astype(np.uint32)) & 1).astype(bool)

    left = member(left_bitset) | (~member(known_bitset) & bool(missing_left))
    return np.append(~left, not missing_left).astype(np.uint8)


def _with_category_columns(g, x, columns):
    """x with one 0 (left) / 1 (right) column per distinct categorical split appended."""
    features = [f for f, _ in columns]
    tables = np.stack([np.frombuffer(t, dtype=np.uint8) for _, t in columns])
    values = g.op("Gather", [x, g.ints(features, "category_features")], axis=1)
    missing = g.op("Or", [g.op("IsNaN", [values]), g.op("Less", [values, g.const(0.0, "zero")])])
    beyond = g.op("GreaterOrEqual", [values, g.const(_INT32_LIMIT, "int32_limit")])
    safe = g.op("Where", [g.op("Or", [missing, beyond]), g.const(0.0, "zero"), values])
    code = g.op("Mod", [g.cast(g.op("Floor", [safe]), np.int64), g.ints(256, "byte")])
    code = g.op("Where", [missing, g.ints(_MISSING, "missing_code"), code])
    index = g.op("Add", [code, g.ints(np.arange(len(features)) * tables.shape[1], "table_offsets")])
    goes_right = g.op("Gather", [g.const(tables.ravel(), "category_tables", np.uint8), index])
    return g.op("Concat", [x, g.cast(goes_right, g.dtype)], axis=1)


def xgboost(model, g, x, n_features):
    booster = model.get_booster()
    learner = json.loads(booster.save_raw("json"))["learner"]
    objective = learner["objective"]["name"]
    params = learner["learner_model_param"]
    base_score = float(params["base_score"])
    booster_name = learner["gradient_booster"]["name"]
    if booster_name != "gbtree":
        refuse(f"{type(model).__name__}(booster={booster_name!r})", "only gbtree boosters are supported")
    forest_json = learner["gradient_booster"]["model"]
    groups = max(1, int(params["num_class"]))
    per_round = groups * int(forest_json["gbtree_model_param"]["num_parallel_tree"])
    rounds = len(forest_json["trees"]) // per_round
    best = getattr(model, "best_iteration", None)  # predict() stops at the best round after early stopping
    if best is not None:
        rounds = min(rounds, int(best) + 1)
    if int(params["num_feature"]) != n_features:
        refuse(f"{type(model).__name__} trained on {params['num_feature']} features", f"expected {n_features}")
    x = _xgboost_missing(model, g, x)

    if objective == "binary:logistic":
        f32 = np.float32
        base_margin = -np.log(f32(1.0) / f32(base_score) - f32(1.0))  # float32, as XGBoost's ProbToMargin
    else:
        base_margin = np.float32(base_score)
    trees, target_of = _xgboost_trees(model, forest_json, rounds * per_round, base_margin)

    # Identity-link objectives only: the margin is the prediction.
    if objective in ("reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror") and type(model).__name__ == "XGBRegressor":
        return Converted("regression", tree_ensemble(g, x, trees, "BRANCH_LT", 1, "SUM"), g.dtype)
    if objective == "binary:logistic" and type(model).__name__ == "XGBClassifier":
        raw = tree_ensemble(g, x, trees, "BRANCH_LT", 1, "SUM")
        return Converted("classification", binary_from_probability(g, g.op("Sigmoid", [raw])), g.dtype)
    if objective in ("multi:softprob", "multi:softmax") and type(model).__name__ == "XGBClassifier":
        raw = tree_ensemble(g, x, trees, "BRANCH_LT", groups, "SUM", target_of=target_of)
        return Converted("classification", g.op("Softmax", [raw], axis=1), g.dtype)
    refuse(f"{type(model).__name__}(objective={objective!r})", "supported objectives: reg:squarederror, reg:pseudohubererror, "
           "reg:absoluteerror, binary:logistic, multi:softprob, multi:softmax")


def _xgboost_missing(model, g, x):
    """XGBoost treats NaN as missing, and also any value equal to `missing` (compared in float32, as its
    DMatrix stores the data): such values become NaN so they follow each split's default direction."""
    missing = getattr(model, "missing", np.nan)
    if missing is None or np.isnan(missing):
        return x
    if not np.isfinite(np.float32(missing)):
        refuse(f"{type(model).__name__}(missing={missing!r})", "missing must be NaN or a finite number")
    x32 = x if g.dtype == np.float32 else g.cast(x, np.float32)
    is_missing = g.op("Equal", [x32, g.const(np.float32(missing), "missing", np.float32)])
    return g.op("Where", [is_missing, g.const(np.nan, "nan"), x])


def _xgboost_trees(model, forest_json, count, base_margin):
    trees, target_of, started = [], [], set()
    for index, tree in enumerate(forest_json["trees"][:count]):
        if any(tree["split_type"]) or tree["categories"]:
            refuse(f"{type(model).__name__} with categorical splits", "use numeric (encoded) features")
        left = np.asarray(tree["left_children"])
        leaf = left == -1
        conditions = np.asarray(tree["split_conditions"], dtype=np.float32)
        group = forest_json["tree_info"][index]
        weights = np.where(leaf, conditions, np.float32(0))
        if group not in started:
            # XGBoost sums in float32 starting from the base margin, tree by tree; the operator sums from 0
            # in float32 (float thresholds). Adding the base to the first tree's leaves (in float32) makes
            # the two sequences of additions identical.
            started.add(group)
            weights = np.where(leaf, weights + base_margin, weights)
        conditions = conditions.astype(np.float64)
        trees.append({
            "feature": np.where(leaf, 0, np.asarray(tree["split_indices"])),
            "threshold": np.where(leaf, 0.0, conditions),
            "left": left,
            "right": np.asarray(tree["right_children"]),
            "leaf": leaf,
            "missing_left": np.asarray(tree["default_left"], dtype=bool),
            # A leaf's split_condition is its weight (learning rate included).
            "values": weights.astype(np.float64).reshape(-1, 1),
        })
        target_of.append(group)
    return trees, target_of


def float32_thresholds(thresholds, mode):
    """The float32 thresholds deciding every float32 x as the float64 ones do (x <= t, or x < t)."""
    t32 = thresholds.astype(np.float32)
    if mode == "BRANCH_LEQ":
        too_high = t32.astype(np.float64) > thresholds
        return np.where(too_high, np.nextafter(t32, np.float32(-np.inf)), t32)
    too_low = t32.astype(np.float64) < thresholds
    return np.where(too_low, np.nextafter(t32, np.float32(np.inf)), t32)


def _attributes(trees, mode, target_of):
    """The TreeEnsembleRegressor node and target lists, plus the thresholds and leaf weights as arrays."""
    ids = {k: [] for k in ("tree", "node", "feature", "mode", "value", "true", "false", "missing")}
    targets = {k: [] for k in ("tree", "node", "id", "weight")}
    for t, tree in enumerate(trees):
        nodes = np.arange(len(tree["leaf"]))
        branch = ~tree["leaf"]
        ids["tree"].append(np.full(len(nodes), t))
        ids["node"].append(nodes)
        ids["feature"].append(tree["feature"])
        ids["mode"] += [mode if b else "LEAF" for b in branch]
        ids["value"].append(tree["threshold"])
        ids["true"].append(np.where(branch, tree["left"], 0))
        ids["false"].append(np.where(branch, tree["right"], 0))
        ids["missing"].append(branch & tree["missing_left"])
        leaves = nodes[tree["leaf"]]
        values = tree["values"][leaves]
        for k in range(values.shape[1]):
            target = k if target_of is None else target_of[t]
            targets["tree"].append(np.full(len(leaves), t))
            targets["node"].append(leaves)
            targets["id"].append(np.full(len(leaves), target))
            targets["weight"].append(values[:, k])
    cat = {k: np.concatenate(v) if k != "mode" else v for k, v in ids.items()}
    tcat = {k: np.concatenate(v) for k, v in targets.items()}

    def ints(values):
        return [int(v) for v in values]

    attrs = dict(
        nodes_treeids=ints(cat["tree"]),
        nodes_nodeids=ints(cat["node"]),
        nodes_featureids=ints(cat["feature"]),
        nodes_modes=cat["mode"],
        nodes_truenodeids=ints(cat["true"]),
        nodes_falsenodeids=ints(cat["false"]),
        nodes_missing_value_tracks_true=ints(cat["missing"]),
        target_treeids=ints(tcat["tree"]),
        target_nodeids=ints(tcat["node"]),
        target_ids=ints(tcat["id"]),
    )
    return attrs, cat["value"], tcat["weight"].astype(np.float64), tcat["id"]


def tree_ensemble(g, x, trees, mode, n_targets, aggregate, base=None, target_of=None, trainer_float32=True):
    """An ai.onnx.ml TreeEnsembleRegressor over x; returns its [N, n_targets] output in the graph's dtype.

    trainer_float32: the trainer rounds x to float32 before comparing (scikit-learn trees, XGBoost)."""
    tree_attrs, thresholds, weights, target_ids = _attributes(trees, mode, target_of)
    attrs = dict(n_targets=n_targets, aggregate_function=aggregate, post_transform="NONE", **tree_attrs)
    base = np.zeros(n_targets) if base is None else np.asarray(base, dtype=np.float64)
    if g.dtype == np.float32:
        attrs["nodes_values"] = [float(v) for v in float32_thresholds(thresholds, mode)]
        attrs["target_weights"] = [float(v) for v in weights.astype(np.float32)]
        attrs["base_values"] = [float(v) for v in base.astype(np.float32)]
        return g.op("TreeEnsembleRegressor", [x], "trees", domain="ai.onnx.ml", **attrs)

    if trainer_float32:  # the trainer's rounding of x, then exact double comparisons and double sums
        x = g.cast(g.cast(x, np.float32), np.float64)
    # Y is always float32, so the graph keeps its magnitude small: the operator returns the sum minus
    # a per-target centre (the base, and for averages the mean leaf value), added back in double.
    centre = base.copy()
    if aggregate == "AVERAGE" and n_targets == 1:  # a regressor; probabilities are small already
        for k in range(n_targets):
            mean = weights[target_ids == k].mean()
            weights[target_ids == k] -= mean
            centre[k] += mean
    attrs["nodes_values_as_tensor"] = numpy_helper.from_array(thresholds.astype(np.float64))
    attrs["target_weights_as_tensor"] = numpy_helper.from_array(weights)
    attrs["base_values_as_tensor"] = numpy_helper.from_array(np.zeros(n_targets))
    out = g.cast(g.op("TreeEnsembleRegressor", [x], "trees", domain="ai.onnx.ml", **attrs), np.float64)
    return g.op("Add", [out, g.const(centre.reshape(1, n_targets), "centre")])
