#!/usr/bin/python3
"""The rival of `ondevice score` in bench/README.md: pandas + scikit-learn on the same CSV file.

Fits the house-prices gradient-boosting pipeline as models/house-prices/train.py does (its own
preprocessing, GradientBoostingRegressor, log target), then times what a batch-scoring script does:
read the CSV (pandas.read_csv, cells read as train.py reads them), predict, write the input's columns
plus `prediction` (DataFrame.to_csv). Prints one JSON object: every repetition's seconds and rows.

Usage: /usr/bin/python3 bench/cli/pandas_rival.py <input.csv> <output.csv> [repetitions]
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "models", "house-prices"))
import train  # noqa: E402


def fitted_pipeline():
    _, X, y = train.load()
    estimator = train.SKLEARN_VARIANTS["gradient-boosting"][0]()
    return Pipeline([("features", train.make_features()), ("model", estimator)]).fit(X, y)


def score_file(pipeline, source, target):
    frame = pd.read_csv(source, keep_default_na=False, na_values=[""])
    X = frame[train.NUMBERS + train.CATEGORIES].copy()
    X[train.NUMBERS] = X[train.NUMBERS].astype(np.float64)
    frame["prediction"] = pipeline.predict(X)
    frame.to_csv(target, index=False)
    return len(frame)


def main():
    source, target = sys.argv[1], sys.argv[2]
    repetitions = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    started = time.perf_counter()
    pipeline = fitted_pipeline()
    fit_seconds = time.perf_counter() - started
    runs = []
    for _ in range(repetitions):
        started = time.perf_counter()
        rows = score_file(pipeline, source, target)
        runs.append({"seconds": time.perf_counter() - started, "rows": rows})
    print(json.dumps({"fitSeconds": fit_seconds, "runs": runs, "pandas": pd.__version__, "sklearn": sklearn.__version__, "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
