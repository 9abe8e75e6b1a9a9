"""Naive Bayes: the joint log likelihood as scikit-learn computes it, then predict_proba's normalisation
exp(jll - logsumexp(jll)), with logsumexp written out as scipy does (max, exp, sum, log, add the max).

Computed in float64 whatever the input dtype: the joint log likelihoods grow with the features (in the
thousands for raw counts or unscaled measurements) and the normalisation subtracts two of them, so
float32 would lose the probabilities' leading digits."""
import numpy as np

from .graph import Converted, in_double


def _normalised(g, jll):
    top = g.op("ReduceMax", [jll], axes=[1], keepdims=1)
    total = g.reduce_sum(g.op("Exp", [g.op("Sub", [jll, top])]), 1)
    log_px = g.op("Add", [g.op("Log", [total]), top])
    return g.op("Exp", [g.op("Sub", [jll, log_px])])


def gaussian(model, g, x, n_features):
    """GaussianNB: log prior - 0.5 sum log(2 pi var) - 0.5 sum (x - theta)^2 / var, per class."""
    g, x = in_double(g, x)
    prior = np.log(model.class_prior_)
    spread = np.array([-0.5 * np.sum(np.log(2.0 * np.pi * model.var_[i, :])) for i in range(len(model.classes_))])
    difference = g.op("Sub", [g.op("Unsqueeze", [x, g.ints([1], "axes")]), g.const(model.theta_[None], "theta")])
    scaled = g.op("Div", [g.op("Mul", [difference, difference]), g.const(model.var_[None], "var")])
    distance = g.op("ReduceSum", [scaled, g.ints([2], "axes")], keepdims=0)
    n_ij = g.op("Sub", [g.const(spread.reshape(1, -1), "log_spread"), g.op("Mul", [g.const(0.5, "half"), distance])])
    jll = g.op("Add", [g.const(prior.reshape(1, -1), "log_prior"), n_ij])
    return Converted("classification", _normalised(g, jll), g.dtype)


def bernoulli(model, g, x, n_features):
    """BernoulliNB: x binarised (x > threshold), then x @ (log p - log(1 - p)).T + log prior + sum log(1 - p)."""
    g, x = in_double(g, x)
    if model.binarize is not None:
        x = g.cast(g.op("Greater", [x, g.const(model.binarize, "binarize")]), g.dtype)
    neg_prob = np.log(1 - np.exp(model.feature_log_prob_))
    weights = (model.feature_log_prob_ - neg_prob).T
    constant = model.class_log_prior_ + neg_prob.sum(axis=1)
    jll = g.op("Add", [g.op("MatMul", [x, g.const(weights, "log_odds")]), g.const(constant.reshape(1, -1), "log_prior")])
    return Converted("classification", _normalised(g, jll), g.dtype)


def multinomial(model, g, x, n_features):
    """MultinomialNB: x @ feature_log_prob_.T + class_log_prior_."""
    g, x = in_double(g, x)
    jll = g.op("Add", [g.op("MatMul", [x, g.const(model.feature_log_prob_.T, "log_prob")]),
                       g.const(model.class_log_prior_.reshape(1, -1), "log_prior")])
    return Converted("classification", _normalised(g, jll), g.dtype)
