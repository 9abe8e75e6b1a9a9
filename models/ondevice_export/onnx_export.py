"""Fitted estimators as ONNX graphs, written with onnx.helper (opset 17, ai.onnx.ml 3, IR version 8).

Regressors output one tensor [N, 1]; classifiers output probabilities [N, classes] (in the order of
estimator.classes_) and the label index [N] (int64); there is never a ZipMap (onnxruntime-web cannot
return maps). The label is scikit-learn's predict: the first argmax of the probabilities, except where
predict is not that (SVC's votes, a linear classifier's decision function; see Converted in graph.py).

One module per family, each saying how its graph stays exact to the trainer: trees.py (scikit-learn
trees, forests, boosting, HistGradientBoosting with missing values and categorical splits, XGBoost),
linear.py, svm.py, neighbors.py, neural.py, bayes.py, calibration.py.

Input dtypes: float64 graphs compute in float64 (tree operators aside, whose output is float32).
float32 graphs compute in float32, except nearest neighbours, SVC/NuSVC/SVR/NuSVR, LinearSVC,
SGDClassifier, naive Bayes and CalibratedClassifierCV, which cast the input to float64 first (see
graph.in_double): their outputs jump (neighbour sets, votes, isotonic steps, the sign of large scores)
or cancel large terms (naive Bayes' log likelihoods), so their float32 graph agrees with scikit-learn
on the float32 input as closely as the float64 one does. A float64
result for a float32 output is ranked (ArgMax) before it is rounded.

onnxruntime-web (WASM) has the ai.onnx.ml operators this uses (TreeEnsembleRegressor); it also has
TreeEnsembleClassifier, LinearClassifier/Regressor, SVMClassifier/Regressor, Scaler, Normalizer,
Imputer, Binarizer, ArrayFeatureExtractor, FeatureVectorizer, OneHotEncoder, LabelEncoder,
CategoryMapper and ml opset 5's TreeEnsemble. Of the core operators, OneHot has no double kernel, so a
one-hot is written as Equal against a range.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper

from . import bayes, calibration, linear, neighbors, neural, svm, trees
from .graph import IR_VERSION, ML_OPSET, ONNX_TYPES, OPSET, SUPPORTED, Converted, Graph, UnsupportedEstimator, refuse

_Graph = Graph  # the name earlier code used
__all__ = ["IR_VERSION", "ML_OPSET", "ONNX_TYPES", "OPSET", "SUPPORTED", "UnsupportedEstimator", "append_expm1", "convert",
           "finish_model", "to_onnx"]


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
    g = Graph(input_dtype)
    kind, result, result_dtype, label = convert(estimator, g, input_name, n_features)
    if kind == "regression":
        g.cast(result, output_dtype, output_name) if result_dtype != output_dtype else g.op("Identity", [result], output=output_name)
        outputs = [helper.make_tensor_value_info(output_name, ONNX_TYPES[output_dtype], ["N", 1])]
    else:
        g.cast(result, output_dtype, probabilities_name) if result_dtype != output_dtype else g.op("Identity", [result], output=probabilities_name)
        if label is None:
            # A float64 result is ranked before its rounding to float32 could tie two classes.
            ranked = result if (result_dtype, output_dtype) == (np.float64, np.float32) else probabilities_name
            g.op("ArgMax", [ranked], output=label_name, axis=1, keepdims=0)
        else:
            g.op("Identity", [label], output=label_name)
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
    g = Graph(dtype, prefix="expm1/")
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


def convert(estimator, g, x, n_features):
    """Adds the estimator's nodes to g, reading tensor x [N, n_features]; returns a graph.Converted."""
    name = type(estimator).__name__
    if not _is_fitted(estimator):
        refuse(name, "it is not fitted (or not a scikit-learn/XGBoost estimator)")
    if getattr(estimator, "n_features_in_", n_features) != n_features:
        refuse(name, f"it was fitted on {estimator.n_features_in_} features, not {n_features}")
    if type(estimator).__module__.startswith("xgboost") and name in ("XGBRegressor", "XGBClassifier"):
        return trees.xgboost(estimator, g, x, n_features)
    converter = _converters().get(type(estimator))
    if converter is None:
        refuse(name)
    return converter(estimator, g, x, n_features)


def _is_fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    try:
        estimator.get_booster() if hasattr(estimator, "get_booster") else check_is_fitted(estimator)
    except Exception:  # NotFittedError, XGBoostError, TypeError for a non-estimator
        return False
    return True


def _converters():
    """Exact types only: a subclass may change what predict computes."""
    from sklearn import calibration as sk_calibration
    from sklearn import compose, ensemble, linear_model, naive_bayes, neural_network, tree
    from sklearn import neighbors as sk_neighbors
    from sklearn import svm as sk_svm

    table = {
        linear.regression: (linear_model.LinearRegression, linear_model.Ridge, linear_model.Lasso, linear_model.ElasticNet,
                            linear_model.SGDRegressor, sk_svm.LinearSVR),
        linear.logistic_regression: (linear_model.LogisticRegression,),
        linear.linear_classifier: (sk_svm.LinearSVC, linear_model.SGDClassifier),
        svm.regressor: (sk_svm.SVR, sk_svm.NuSVR),
        svm.classifier: (sk_svm.SVC, sk_svm.NuSVC),
        trees.forest: (ensemble.RandomForestRegressor, ensemble.RandomForestClassifier, ensemble.ExtraTreesRegressor,
                       ensemble.ExtraTreesClassifier, tree.DecisionTreeRegressor, tree.DecisionTreeClassifier,
                       tree.ExtraTreeRegressor, tree.ExtraTreeClassifier),
        trees.gradient_boosting: (ensemble.GradientBoostingRegressor, ensemble.GradientBoostingClassifier),
        trees.hist_gradient_boosting: (ensemble.HistGradientBoostingRegressor, ensemble.HistGradientBoostingClassifier),
        neighbors.regressor: (sk_neighbors.KNeighborsRegressor,),
        neighbors.classifier: (sk_neighbors.KNeighborsClassifier,),
        neural.mlp: (neural_network.MLPRegressor, neural_network.MLPClassifier),
        bayes.gaussian: (naive_bayes.GaussianNB,),
        bayes.bernoulli: (naive_bayes.BernoulliNB,),
        bayes.multinomial: (naive_bayes.MultinomialNB,),
        _calibrated: (sk_calibration.CalibratedClassifierCV,),
        _transformed_target: (compose.TransformedTargetRegressor,),
    }
    return {kind: converter for converter, kinds in table.items() for kind in kinds}


def _calibrated(model, g, x, n_features):
    return calibration.calibrated(model, g, x, n_features, convert)


def _transformed_target(model, g, x, n_features):
    if model.transformer is not None or model.func is not np.log1p or model.inverse_func is not np.expm1:
        refuse("TransformedTargetRegressor", "only func=np.log1p with inverse_func=np.expm1 is supported")
    kind, raw, dtype, _ = convert(model.regressor_, g, x, n_features)
    if kind != "regression":
        refuse(f"TransformedTargetRegressor around {type(model.regressor_).__name__}", "the inner model must be a regressor")
    g = g.view(dtype)  # the inner regressor may compute in float64 for a float32 input
    return Converted("regression", g.op("Sub", [g.op("Exp", [raw]), g.const(1.0, "one")]), dtype)
