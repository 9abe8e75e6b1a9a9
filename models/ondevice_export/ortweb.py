"""Runs exported ONNX graphs with onnxruntime-web's WASM build in Node (the runtime ondevice ships), for tests.

There is no Python onnxruntime here, and the browser's runtime is the one that must agree with the
trainer anyway. One Node process scores a whole batch of models (start-up dominates the cost).
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ORT = os.path.join(REPO, "node_modules", "onnxruntime-web", "dist", "ort.wasm.bundle.min.mjs")
SCRIPT = os.path.join(HERE, "ort_run.mjs")


def available():
    return bool(shutil.which("node")) and os.path.exists(ORT)


def run(cases, timeout=600, raise_errors=True):
    """cases: {name: (onnx.ModelProto, X [rows, columns] float64 (NaN allowed), input dtype "float64"|"float32")}.

    Returns {name: {output name: np.ndarray (flat, float64; null -> NaN)}}; raises RuntimeError naming
    the cases that onnxruntime-web could not load or run (with raise_errors=False: {name: {"error": text}}).
    """
    with tempfile.TemporaryDirectory() as tmp:
        listing = []
        for i, (name, (model, X, dtype)) in enumerate(cases.items()):
            X = np.ascontiguousarray(X, dtype="<f8")
            model_path, features_path = os.path.join(tmp, f"{i}.onnx"), os.path.join(tmp, f"{i}.bin")
            onnx.save(model, model_path)
            X.tofile(features_path)
            listing.append({"name": name, "model": model_path, "dtype": str(np.dtype(dtype)), "features": features_path,
                            "rows": X.shape[0], "columns": X.shape[1], "input": model.graph.input[0].name})
        cases_path = os.path.join(tmp, "cases.json")
        with open(cases_path, "w") as f:
            json.dump(listing, f)
        result = subprocess.run(["node", SCRIPT, ORT, cases_path], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"node failed: {result.stderr[-4000:]}")
    raw = json.loads(result.stdout)
    errors = {name: r["error"] for name, r in raw.items() if "error" in r}
    if errors and raise_errors:
        raise RuntimeError("onnxruntime-web could not run: " + json.dumps(errors, indent=1)[:6000])
    return {name: outputs if "error" in outputs else {output: _array(values) for output, values in outputs.items()}
            for name, outputs in raw.items()}


def _array(values):
    if any(isinstance(v, str) for v in values):
        return list(values)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
