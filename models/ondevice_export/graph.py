"""The graph builder the converters share, what a converter returns, and how an estimator is refused."""
from typing import NamedTuple, Optional

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 3
IR_VERSION = 8
ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}
CAST_TYPES = {**ONNX_TYPES, np.dtype(np.int64): TensorProto.INT64, np.dtype(bool): TensorProto.BOOL}
SUPPORTED = (
    "LinearRegression, Ridge, Lasso, ElasticNet, LogisticRegression, SGDRegressor, SGDClassifier, LinearSVR, LinearSVC, "
    "SVR, NuSVR, SVC, NuSVC (linear, poly, rbf, sigmoid kernels), DecisionTreeRegressor, DecisionTreeClassifier, "
    "ExtraTreeRegressor, ExtraTreeClassifier, RandomForestRegressor, RandomForestClassifier, ExtraTreesRegressor, "
    "ExtraTreesClassifier, GradientBoostingRegressor, GradientBoostingClassifier, HistGradientBoostingRegressor, "
    "HistGradientBoostingClassifier, XGBRegressor, XGBClassifier, KNeighborsRegressor, KNeighborsClassifier "
    "(euclidean, manhattan, chebyshev), MLPRegressor, MLPClassifier, GaussianNB, BernoulliNB, MultinomialNB, "
    "CalibratedClassifierCV (sigmoid, isotonic) around a supported classifier, "
    "TransformedTargetRegressor(func=np.log1p, inverse_func=np.expm1)"
)


class UnsupportedEstimator(ValueError):
    """An estimator (or one of its options) that this exporter cannot write as ONNX."""


def refuse(what, why=None):
    raise UnsupportedEstimator(f"{what} is not supported by ondevice_export.to_onnx" + (f": {why}" if why else f"; supported: {SUPPORTED}"))


class Converted(NamedTuple):
    """A converter's result: "regression" ([N, 1] value) or "classification" ([N, classes] probabilities),
    the tensor's dtype, and for a classifier whose predict is not the argmax of those probabilities
    (votes, a decision function) its own int64 label index [N]."""
    kind: str
    value: str
    dtype: np.dtype
    label: Optional[str] = None


class Graph:
    """Nodes and initializers under construction, computing in `dtype` (constants default to it).

    view() and subgraph() share the name counter and the initializers, so names stay unique across
    a model, its float64 part and its Loop bodies."""

    def __init__(self, dtype, prefix="", _shared=None):
        self.dtype = np.dtype(dtype)
        self.prefix = prefix
        self.nodes, self.initializers, self._counter = _shared or ([], [], [0])

    def view(self, dtype):
        """The same graph, computing in another dtype."""
        return Graph(dtype, self.prefix, (self.nodes, self.initializers, self._counter))

    def subgraph(self):
        """A node list of its own (a Loop body) that reads this graph's tensors and initializers."""
        return Graph(self.dtype, self.prefix, ([], self.initializers, self._counter))

    def fresh(self, base):
        self._counter[0] += 1
        return f"{self.prefix}{base}_{self._counter[0]}"

    def const(self, value, base, dtype=None):
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def ints(self, values, base="ints"):
        return self.const(np.asarray(values, dtype=np.int64), base, np.int64)

    def op(self, op_type, inputs, base=None, output=None, domain="", **attrs):
        output = output or self.fresh(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.fresh(op_type), domain=domain, **attrs))
        return output

    def ops(self, op_type, inputs, n_outputs, base=None, **attrs):
        """A node with several outputs (TopK, Loop); returns their names."""
        outputs = [self.fresh(base or op_type.lower()) for _ in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.fresh(op_type), **attrs))
        return outputs

    def cast(self, name, dtype, output=None):
        return self.op("Cast", [name], "cast", output, to=CAST_TYPES[np.dtype(dtype)])

    def reduce_sum(self, x, axis, keepdims=1):
        return self.op("ReduceSum", [x, self.ints([axis], "axes")], keepdims=keepdims)

    def column(self, x, j):
        """x[:, j:j+1]."""
        return self.op("Slice", [x, self.ints([j], "start"), self.ints([j + 1], "end"), self.ints([1], "axis")])


def in_double(g, x):
    """(graph, x) computing in float64 whatever the input dtype: for the estimators whose output jumps
    (nearest neighbours, SVM votes and the coupling's stopping rule, isotonic steps), where float32
    arithmetic would flip decisions that scikit-learn takes in float64."""
    if g.dtype == np.float64:
        return g, x
    g64 = g.view(np.float64)
    return g64, g64.cast(x, np.float64)


def binary_from_probability(g, p):
    """[N, 1] probability of the positive class -> [N, 2] as scikit-learn orders them."""
    return g.op("Concat", [g.op("Sub", [g.const(np.ones((1, 1)), "one"), p]), p], axis=1)


def one_hot(g, label, n_classes):
    """[N] int64 class index -> [N, n_classes] 0/1 in the graph's dtype (OneHot has no double kernel in
    onnxruntime-web, so Equal against 0..n-1)."""
    column = g.op("Unsqueeze", [label, g.ints([1], "axes")])
    return g.cast(g.op("Equal", [column, g.ints(np.arange(n_classes).reshape(1, -1), "classes")]), g.dtype)


def labels_from_scores(g, scores, n_columns):
    """scikit-learn's LinearClassifierMixin.predict: one column -> (score > 0), else the first argmax."""
    if n_columns == 1:
        positive = g.cast(g.op("Greater", [scores, g.const(0.0, "zero")]), np.int64)
        return g.op("Reshape", [positive, g.ints([-1], "shape")])
    return g.op("ArgMax", [scores], axis=1, keepdims=0)
