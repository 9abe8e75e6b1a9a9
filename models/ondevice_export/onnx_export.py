"""Fitted estimators as ONNX graphs, written with onnx.helper (opset 17, ai.onnx.ml 3, IR version 8).

Regressors output one tensor [N, 1]; classifiers output probabilities [N, classes] and the label
index [N] (ArgMax, int64); there is never a ZipMap (onnxruntime-web cannot return maps).

Trees and exactness: scikit-learn casts X to float32 and tests `float32(x) <= threshold` with float64
thresholds; XGBoost casts X to float32 and tests `x < threshold` with float32 thresholds. With float64
input the graph casts to float32 and back, then runs a double-threshold TreeEnsembleRegressor whose
comparisons are exactly those of the trainer. With float32 input the thresholds are rounded to the
float32 value that makes the same decision for every float32 x (down for <=, up for <). The tree
operator's output is always float32; it is cast to the input dtype before any post-processing.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 3
IR_VERSION = 8
ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}
SUPPORTED = (
    "LinearRegression, Ridge, Lasso, ElasticNet, LogisticRegression, RandomForestRegressor, RandomForestClassifier, "
    "GradientBoostingRegressor, GradientBoostingClassifier, XGBRegressor, XGBClassifier, "
    "TransformedTargetRegressor(func=np.log1p, inverse_func=np.expm1)"
)


class UnsupportedEstimator(ValueError):
    """An estimator (or one of its options) that this exporter cannot write as ONNX."""


def _refuse(what, why=None):
    raise UnsupportedEstimator(f"{what} is not supported by ondevice_export.to_onnx" + (f": {why}" if why else f"; supported: {SUPPORTED}"))


class _Graph:
    def __init__(self, dtype, prefix=""):
        self.dtype = np.dtype(dtype)
        self.prefix = prefix
        self.nodes, self.initializers, self.count = [], [], 0

    def fresh(self, base):
        self.count += 1
        return f"{self.prefix}{base}_{self.count}"

    def const(self, value, base, dtype=None):
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def op(self, op_type, inputs, base=None, output=None, domain="", **attrs):
        output = output or self.fresh(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.fresh(op_type), domain=domain, **attrs))
        return output

    def cast(self, name, dtype, output=None):
        return self.op("Cast", [name], "cast", output, to=ONNX_TYPES[np.dtype(dtype)])


def to_onnx(estimator, n_features, input_dtype=np.float64, output_name="value", output_dtype=None,
            input_name="features", probabilities_name="probabilities", label_name="label", graph_name=None):
    """A fitted estimator as an onnx.ModelProto with input `input_name` [N, n_features] of `input_dtype`.

    Regression: output `output_name` [N, 1]. Classification: `probabilities_name` [N, classes] in the
    order of `estimator.classes_`, and `label_name` [N] (int64 index into the classes).
    Outputs are in `output_dtype` (default: the input dtype). Raises UnsupportedEstimator.
    """
    input_dtype = np.dtype(input_dtype)
    output_dtype = np.dtype(output_dtype or input_dtype)
    if input_dtype not in ONNX_TYPES or output_dtype not in ONNX_TYPES:
        raise ValueError("input_dtype and output_dtype must be float32 or float64")
    g = _Graph(input_dtype)
    kind, result, result_dtype = _convert(estimator, g, input_name, n_features)
    if kind == "regression":
        g.cast(result, output_dtype, output_name) if result_dtype != output_dtype else g.op("Identity", [result], output=output_name)
        outputs = [helper.make_tensor_value_info(output_name, ONNX_TYPES[output_dtype], ["N", 1])]
    else:
        g.cast(result, output_dtype, probabilities_name) if result_dtype != output_dtype else g.op("Identity", [result], output=probabilities_name)
        g.op("ArgMax", [probabilities_name], output=label_name, axis=1, keepdims=0)
        outputs = [
            helper.make_tensor_value_info(probabilities_name, ONNX_TYPES[output_dtype], ["N", len(estimator.classes_)]),
            helper.make_tensor_value_info(label_name, TensorProto.INT64, ["N"]),
        ]
    graph = helper.make_graph(
        g.nodes,
        graph_name or type(estimator).__name__,
        [helper.make_tensor_value_info(input_name, ONNX_TYPES[input_dtype], ["N", n_features])],
        outputs,
        initializer=g.initializers,
    )
    return finish_model(graph, uses_ml=any(n.domain == "ai.onnx.ml" for n in g.nodes))


def finish_model(graph, uses_ml=False, producer_name="ondevice_export"):
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("ai.onnx.ml", ML_OPSET)] if uses_ml else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer_name)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def append_expm1(model, output_name="value", dtype=np.float64):
    """A copy of a one-output model with expm1 appended (Cast to `dtype`, Exp, Sub 1): the output of a
    model trained on log1p(target), back in target units, named `output_name`."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"append_expm1 expects a model with one output, got {len(graph.output)}")
    source = graph.output[0]
    g = _Graph(dtype, prefix="expm1/")
    log_value = g.cast(source.name, dtype)
    g.op("Sub", [g.op("Exp", [log_value]), g.const(1.0, "one")], output=output_name)
    graph.node.extend(g.nodes)
    graph.initializer.extend(g.initializers)
    shape = [d.dim_param or d.dim_value for d in source.type.tensor_type.shape.dim]
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(output_name, ONNX_TYPES[np.dtype(dtype)], shape))
    del model.opset_import[:]
    uses_ml = any(n.domain == "ai.onnx.ml" for n in graph.node)
    model.opset_import.extend([helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("ai.onnx.ml", ML_OPSET)] if uses_ml else []))
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _convert(estimator, g, x, n_features):
    """Adds the estimator's nodes; returns (kind, output tensor, its dtype)."""
    from sklearn import compose, ensemble, linear_model

    name = type(estimator).__name__
    if not hasattr(estimator, "n_features_in_") and not hasattr(estimator, "get_booster"):
        _refuse(name, "it is not fitted (or not a scikit-learn/XGBoost estimator)")
    if getattr(estimator, "n_features_in_", n_features) != n_features:
        _refuse(name, f"it was fitted on {estimator.n_features_in_} features, not {n_features}")
    module = type(estimator).__module__
    if module.startswith("xgboost") and name in ("XGBRegressor", "XGBClassifier"):
        return _xgboost(estimator, g, x, n_features)
    if type(estimator) in (linear_model.LinearRegression, linear_model.Ridge, linear_model.Lasso, linear_model.ElasticNet):
        return _linear_regression(estimator, g, x, n_features)
    if type(estimator) is linear_model.LogisticRegression:
        return _logistic_regression(estimator, g, x, n_features)
    if type(estimator) in (ensemble.RandomForestRegressor, ensemble.RandomForestClassifier):
        return _random_forest(estimator, g, x)
    if type(estimator) in (ensemble.GradientBoostingRegressor, ensemble.GradientBoostingClassifier):
        return _gradient_boosting(estimator, g, x)
    if type(estimator) is compose.TransformedTargetRegressor:
        return _transformed_target(estimator, g, x, n_features)
    _refuse(name)


def _linear_regression(model, g, x, n_features):
    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] != 1:
        _refuse(f"{type(model).__name__} with {coef.shape[0]} targets", "only single-target regression is supported")
    weights = g.const(coef.reshape(n_features, 1), "coefficients")
    bias = g.const(np.asarray(model.intercept_, dtype=np.float64).reshape(1), "intercept")
    return "regression", g.op("Add", [g.op("MatMul", [x, weights]), bias]), g.dtype


def _logistic_regression(model, g, x, n_features):
    coef, classes = model.coef_, len(model.classes_)
    scores = g.op("Add", [g.op("MatMul", [x, g.const(coef.T, "coefficients")]), g.const(model.intercept_, "intercepts")])
    # Mirrors LogisticRegression.predict_proba: one-vs-rest unless multinomial (liblinear is always OvR).
    ovr = model.multi_class == "ovr" or (model.multi_class == "auto" and (classes <= 2 or model.solver == "liblinear"))
    if classes == 2 and ovr:
        return "classification", _binary_from_probability(g, g.op("Sigmoid", [scores])), g.dtype
    if classes == 2:
        both = g.op("Concat", [g.op("Neg", [scores]), scores], axis=1)
        return "classification", g.op("Softmax", [both], axis=1), g.dtype
    if ovr:
        p = g.op("Sigmoid", [scores])
        return "classification", g.op("Div", [p, g.op("ReduceSum", [p, g.const([1], "axes", np.int64)], keepdims=1)]), g.dtype
    return "classification", g.op("Softmax", [scores], axis=1), g.dtype


def _binary_from_probability(g, p):
    """[N, 1] probability of the positive class -> [N, 2] as scikit-learn orders them."""
    return g.op("Concat", [g.op("Sub", [g.const(np.ones((1, 1)), "one"), p]), p], axis=1)


def _check_single_output(model):
    if getattr(model, "n_outputs_", 1) != 1:
        _refuse(f"{type(model).__name__} with {model.n_outputs_} outputs", "only single-output models are supported")


def _sklearn_tree(tree, leaf_values):
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


def _random_forest(model, g, x):
    from sklearn.ensemble import RandomForestClassifier

    _check_single_output(model)
    if isinstance(model, RandomForestClassifier):
        # DecisionTreeClassifier.predict_proba: each leaf's class counts normalised to sum 1.
        def leaf_values(value):
            counts = value[:, 0, :]
            total = counts.sum(axis=1, keepdims=True)
            return counts / np.where(total == 0, 1.0, total)

        trees = [_sklearn_tree(e.tree_, leaf_values) for e in model.estimators_]
        return "classification", _tree_ensemble(g, x, trees, "BRANCH_LEQ", len(model.classes_), "AVERAGE"), g.dtype
    trees = [_sklearn_tree(e.tree_, lambda value: value[:, 0, :1]) for e in model.estimators_]
    return "regression", _tree_ensemble(g, x, trees, "BRANCH_LEQ", 1, "AVERAGE"), g.dtype


def _gradient_boosting(model, g, x):
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import GradientBoostingClassifier

    _check_single_output(model)
    if not (isinstance(model.init_, str) and model.init_ == "zero") and type(model.init_) not in (DummyRegressor, DummyClassifier):
        _refuse(f"{type(model).__name__}(init={type(model.init_).__name__})", "only the default init or 'zero' give a constant start")
    # The init estimator's raw prediction (e.g. the log-odds of the prior) is constant: read it off one row.
    base = model._raw_predict_init(np.zeros((1, model.n_features_in_), dtype=np.float32))[0]
    stages, targets = model.estimators_.shape
    trees, target_of = [], []
    for stage in range(stages):
        for k in range(targets):
            # predict_stages adds learning_rate * leaf value per stage: fold the product into the leaf.
            trees.append(_sklearn_tree(model.estimators_[stage, k].tree_, lambda value: model.learning_rate * value[:, 0, :1]))
            target_of.append(k)
    raw = _tree_ensemble(g, x, trees, "BRANCH_LEQ", targets, "SUM", base=base, target_of=target_of)
    if not isinstance(model, GradientBoostingClassifier):
        return "regression", raw, g.dtype
    if model.loss not in ("log_loss", "deviance", "exponential"):
        _refuse(f"GradientBoostingClassifier(loss={model.loss!r})")
    if targets == 1:
        scores = g.op("Mul", [raw, g.const(2.0, "two")]) if model.loss == "exponential" else raw
        return "classification", _binary_from_probability(g, g.op("Sigmoid", [scores])), g.dtype
    return "classification", g.op("Softmax", [raw], axis=1), g.dtype


def _xgboost(model, g, x, n_features):
    import json

    booster = model.get_booster()
    learner = json.loads(booster.save_raw("json"))["learner"]
    objective = learner["objective"]["name"]
    params = learner["learner_model_param"]
    base_score = float(params["base_score"])
    booster_name = learner["gradient_booster"]["name"]
    if booster_name != "gbtree":
        _refuse(f"{type(model).__name__}(booster={booster_name!r})", "only gbtree boosters are supported")
    forest = learner["gradient_booster"]["model"]
    groups = max(1, int(params["num_class"]))
    per_round = groups * int(forest["gbtree_model_param"]["num_parallel_tree"])
    rounds = len(forest["trees"]) // per_round
    best = getattr(model, "best_iteration", None)  # predict() stops at the best round after early stopping
    if best is not None:
        rounds = min(rounds, int(best) + 1)
    if int(params["num_feature"]) != n_features:
        _refuse(f"{type(model).__name__} trained on {params['num_feature']} features", f"expected {n_features}")

    if objective == "binary:logistic":
        f32 = np.float32
        base_margin = -np.log(f32(1.0) / f32(base_score) - f32(1.0))  # float32, as XGBoost's ProbToMargin
    else:
        base_margin = np.float32(base_score)

    trees, target_of, started = [], [], set()
    for index, tree in enumerate(forest["trees"][: rounds * per_round]):
        if any(tree["split_type"]) or tree["categories"]:
            _refuse(f"{type(model).__name__} with categorical splits", "use numeric (encoded) features")
        left = np.asarray(tree["left_children"])
        leaf = left == -1
        conditions = np.asarray(tree["split_conditions"], dtype=np.float32)
        group = forest["tree_info"][index]
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

    # Identity-link objectives only: the margin is the prediction.
    if objective in ("reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror") and type(model).__name__ == "XGBRegressor":
        return "regression", _tree_ensemble(g, x, trees, "BRANCH_LT", 1, "SUM"), g.dtype
    if objective == "binary:logistic" and type(model).__name__ == "XGBClassifier":
        raw = _tree_ensemble(g, x, trees, "BRANCH_LT", 1, "SUM")
        return "classification", _binary_from_probability(g, g.op("Sigmoid", [raw])), g.dtype
    if objective in ("multi:softprob", "multi:softmax") and type(model).__name__ == "XGBClassifier":
        raw = _tree_ensemble(g, x, trees, "BRANCH_LT", groups, "SUM", target_of=target_of)
        return "classification", g.op("Softmax", [raw], axis=1), g.dtype
    _refuse(f"{type(model).__name__}(objective={objective!r})", "supported objectives: reg:squarederror, reg:pseudohubererror, "
            "reg:absoluteerror, binary:logistic, multi:softprob, multi:softmax")


def _transformed_target(model, g, x, n_features):
    if model.transformer is not None or model.func is not np.log1p or model.inverse_func is not np.expm1:
        _refuse("TransformedTargetRegressor", "only func=np.log1p with inverse_func=np.expm1 is supported")
    kind, raw, dtype = _convert(model.regressor_, g, x, n_features)
    if kind != "regression":
        _refuse(f"TransformedTargetRegressor around {type(model.regressor_).__name__}", "the inner model must be a regressor")
    return "regression", g.op("Sub", [g.op("Exp", [raw]), g.const(1.0, "one")]), dtype


def _float32_thresholds(thresholds, mode):
    """The float32 thresholds deciding every float32 x as the float64 ones do (x <= t, or x < t)."""
    t32 = thresholds.astype(np.float32)
    if mode == "BRANCH_LEQ":
        too_high = t32.astype(np.float64) > thresholds
        return np.where(too_high, np.nextafter(t32, np.float32(-np.inf)), t32)
    too_low = t32.astype(np.float64) < thresholds
    return np.where(too_low, np.nextafter(t32, np.float32(np.inf)), t32)


def _tree_ensemble(g, x, trees, mode, n_targets, aggregate, base=None, target_of=None):
    """An ai.onnx.ml TreeEnsembleRegressor over x; returns its [N, n_targets] output in the graph's dtype."""
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
    base = np.zeros(n_targets) if base is None else np.asarray(base, dtype=np.float64)

    def ints(values):
        return [int(v) for v in values]

    attrs = dict(
        n_targets=n_targets,
        aggregate_function=aggregate,
        post_transform="NONE",
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
    if g.dtype == np.float32:
        attrs["nodes_values"] = [float(v) for v in _float32_thresholds(cat["value"], mode)]
        attrs["target_weights"] = [float(v) for v in tcat["weight"].astype(np.float32)]
        attrs["base_values"] = [float(v) for v in base.astype(np.float32)]
        return g.op("TreeEnsembleRegressor", [x], "trees", domain="ai.onnx.ml", **attrs)

    # Same float32 rounding of x as the trainer, then exact double comparisons and double sums.
    x = g.cast(g.cast(x, np.float32), np.float64)
    # Y is always float32, so the graph keeps its magnitude small: the operator returns the sum minus
    # a per-target centre (the base, and for averages the mean leaf value), added back in double.
    centre = base.copy()
    weights = tcat["weight"].astype(np.float64)
    if aggregate == "AVERAGE" and n_targets == 1:  # a regressor; probabilities are small already
        for k in range(n_targets):
            mean = weights[tcat["id"] == k].mean()
            weights[tcat["id"] == k] -= mean
            centre[k] += mean
    attrs["nodes_values_as_tensor"] = numpy_helper.from_array(cat["value"].astype(np.float64))
    attrs["target_weights_as_tensor"] = numpy_helper.from_array(weights)
    attrs["base_values_as_tensor"] = numpy_helper.from_array(np.zeros(n_targets))
    out = g.cast(g.op("TreeEnsembleRegressor", [x], "trees", domain="ai.onnx.ml", **attrs), np.float64)
    return g.op("Add", [out, g.const(centre.reshape(1, n_targets), "centre")])
