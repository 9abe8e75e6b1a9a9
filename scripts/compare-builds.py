#!/usr/bin/python3
"""Compares freshly built model folders with the committed ones, model by model (models/README.md, "Rebuilding").

    /usr/bin/python3 scripts/compare-builds.py BUILT COMMITTED [--report report.json]

BUILT and COMMITTED are laid out like models/: every folder holding a model-card.json is a build
(models/penguins/build, models/house-prices/build/ridge, ...). For each committed build it reports:
  files       how many files are byte-identical (the model card's training.environment left out)
  model       whether the model files (model.onnx, model.int8.onnx, model.json, weights.bin) are the same
              bytes, and if not the largest change of their numbers (ONNX initializers and node attributes,
              TF.js weights)
  spec        the largest change of the feature spec's numbers (means, scales, medians, ...)
  e2e         the largest change of the end-to-end set's expected features and outputs (values or probabilities)
  parity      the largest change of the research predictions on the held-out rows
  labels      how many predicted classes changed (end-to-end and held-out rows)
  metric      the held-out metric, committed -> rebuilt
A change is |rebuilt - committed| / max(1, |committed|): absolute for probabilities and standardised
features, relative for prices and raw means. Each model has a stated tolerance (TOLERANCE below, with the
reason); the verdict is "identical" (every byte the same), "within" (every change within the tolerance, no
label changed) or "MOVED". It prints a table, writes the JSON report when asked, and exits 0 either way
(a rebuild that moved is information, not a failure); it exits 2 when a build is missing or malformed.
"""
import json
import math
import os
import sys

import numpy as np

# (tolerance, why). Keyed by the model card's name.
EXACT = "float64 all the way (feature spec, training, research predictions): with the same inputs and the same BLAS kernels the " \
        "result is the same bits; 1e-12 allows last-bit differences in a sum and flags anything else"
TREES64 = "float64 features; trees split on float32-cast values, leaves are float64 sums: the same trees give the same bits, and " \
          "1e-12 flags a split that moved (one changed split moves a prediction by far more)"
XGB = "float32 features and trees (XGBoost's own precision): 1e-6 is a few float32 steps at the output; a changed split moves " \
      "predictions by far more"
NETWORK = "a float32 network trained by stochastic gradient descent: with bit-identical inputs, kernels and seeds it is the same bits; " \
          "any other difference grows over the epochs into a different network (percent-level changes). 1e-6 (a few float32 steps) " \
          "says whether training was reproduced; a network that moved is a new model, judged by the gate's metric range, not here"
TOLERANCE = {
    "penguins": (1e-12, EXACT),
    "house-prices-ridge": (1e-12, EXACT),
    "house-prices-gradient-boosting": (1e-12, TREES64),
    "house-prices-random-forest": (1e-12, TREES64),
    "house-prices-xgboost": (1e-6, XGB),
    "house-prices-mlp-onnx": (1e-6, NETWORK),
    "house-prices-mlp-tfjs": (1e-6, NETWORK),
    "digits": (1e-6, NETWORK),
    "tone-detector": (1e-6, NETWORK),
}
DEFAULT_TOLERANCE = (1e-6, "no tolerance stated for this model: a few float32 steps")
MODEL_FILES = ("model.onnx", "model.int8.onnx", "model.json", "weights.bin")


class Diff:
    """The largest change between two JSON-like trees of numbers, and where they differ otherwise."""

    def __init__(self):
        self.max_abs = 0.0
        self.max_change = 0.0
        self.numbers = 0
        self.changed = 0
        self.mismatches = []

    def walk(self, a, b, path=""):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str) or isinstance(b, str):
            if a != b:
                self.mismatch(path, a, b)
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
            self.number(float(a), float(b))
        elif isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key not in a or key not in b:
                    self.mismatch(f"{path}.{key}", a.get(key, "(absent)"), b.get(key, "(absent)"))
                else:
                    self.walk(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            if len(a) != len(b):
                self.mismatch(path, f"{len(a)} items", f"{len(b)} items")
            else:
                for i, (x, y) in enumerate(zip(a, b)):
                    self.walk(x, y, f"{path}[{i}]")
        elif a != b:
            self.mismatch(path, a, b)

    def number(self, rebuilt, committed):
        self.numbers += 1
        if rebuilt == committed or (math.isnan(rebuilt) and math.isnan(committed)):
            return
        self.changed += 1
        gap = abs(rebuilt - committed)
        self.max_abs = max(self.max_abs, gap)
        self.max_change = max(self.max_change, gap / max(1.0, abs(committed)))

    def array(self, rebuilt, committed):
        rebuilt, committed = np.asarray(rebuilt, dtype=np.float64).ravel(), np.asarray(committed, dtype=np.float64).ravel()
        if rebuilt.shape != committed.shape:
            self.mismatch("", f"{rebuilt.size} numbers", f"{committed.size} numbers")
            return
        self.numbers += rebuilt.size
        same = (rebuilt == committed) | (np.isnan(rebuilt) & np.isnan(committed))
        self.changed += int((~same).sum())
        if (~same).any():
            gap = np.abs(rebuilt - committed)[~same]
            self.max_abs = max(self.max_abs, float(gap.max()))
            self.max_change = max(self.max_change, float((gap / np.maximum(1.0, np.abs(committed[~same]))).max()))

    def mismatch(self, path, a, b):
        if len(self.mismatches) < 5:
            self.mismatches.append({"path": path, "rebuilt": short(a), "committed": short(b)})
        else:
            self.mismatches.append(None)

    def report(self):
        other = [m for m in self.mismatches if m is not None]
        return {
            "numbers": self.numbers,
            "changed": self.changed,
            "maxAbs": self.max_abs,
            "maxChange": self.max_change,
            **({"otherDifferences": len(self.mismatches), "first": other} if self.mismatches else {}),
        }


def short(value):
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def load_json(path):
    with open(path) as f:
        return json.load(f)


def without_environment(card):
    card = json.loads(json.dumps(card))
    card.get("training", {}).pop("environment", None)
    return card


def onnx_numbers(path):
    """An ONNX model as a tree of numbers: initializers and every node's attributes (tree thresholds live there)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(path)

    def value(attribute):
        v = helper.get_attribute_value(attribute)
        if isinstance(v, onnx.TensorProto):
            return numpy_helper.to_array(v).astype(np.float64).ravel().tolist() if v.data_type != onnx.TensorProto.STRING else str(v)
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if isinstance(v, list):
            return [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
        return v if isinstance(v, (int, float, str)) else str(v)

    return {
        "nodes": [{"op": n.op_type, "domain": n.domain, "inputs": list(n.input), "outputs": list(n.output),
                   "attributes": {a.name: value(a) for a in n.attribute}} for n in model.graph.node],
        "initializers": {t.name: numpy_helper.to_array(t).astype(np.float64).ravel().tolist() for t in model.graph.initializer},
    }


def compare_model_file(built, committed, name):
    a, b = os.path.join(built, name), os.path.join(committed, name)
    with open(a, "rb") as f, open(b, "rb") as g:
        if f.read() == g.read():
            return {"file": name, "identical": True}
    diff = Diff()
    if name.endswith(".onnx"):
        diff.walk(onnx_numbers(a), onnx_numbers(b))
    elif name == "weights.bin":
        diff.array(np.fromfile(a, dtype="<f4"), np.fromfile(b, dtype="<f4"))
    else:
        diff.walk(load_json(a), load_json(b))
    return {"file": name, "identical": False, **diff.report()}


def argmax_labels(rows):
    return [int(np.argmax(r)) if isinstance(r, list) else None for r in rows]


def compare_build(built, committed, relative):
    card = load_json(os.path.join(committed, "model-card.json"))
    name = card["name"]
    tolerance, reason = TOLERANCE.get(name, DEFAULT_TOLERANCE)
    result = {"model": name, "folder": relative, "tolerance": tolerance, "toleranceReason": reason}
    if not os.path.isfile(os.path.join(built, "model-card.json")):
        return {**result, "verdict": "MISSING", "error": f"the rebuild wrote no {relative}/model-card.json"}
    committed_files = sorted(os.listdir(committed))
    built_files = sorted(os.listdir(built))
    identical, differing = [], []
    for file in committed_files:
        path = os.path.join(built, file)
        if not os.path.isfile(path):
            differing.append(file)
            continue
        if file == "model-card.json":
            same = json.dumps(without_environment(load_json(path)), indent=1) == json.dumps(without_environment(card), indent=1)
        else:
            with open(path, "rb") as f, open(os.path.join(committed, file), "rb") as g:
                same = f.read() == g.read()
        (identical if same else differing).append(file)
    result["files"] = {"identical": identical, "differ": differing, "onlyRebuilt": [f for f in built_files if f not in committed_files]}
    result["modelFiles"] = [compare_model_file(built, committed, f) for f in MODEL_FILES if f in committed_files and f in built_files]

    sections = {}
    spec = Diff()
    spec.walk(load_json(os.path.join(built, "feature-spec.json")), load_json(os.path.join(committed, "feature-spec.json")))
    sections["spec"] = spec
    rebuilt_e2e, committed_e2e = load_json(os.path.join(built, "e2e-set.json")), load_json(os.path.join(committed, "e2e-set.json"))
    rows = Diff()
    rows.walk(rebuilt_e2e.get("rows"), committed_e2e.get("rows"))
    sections["e2eRows"] = rows
    expected_r, expected_c = rebuilt_e2e.get("expected", {}), committed_e2e.get("expected", {})
    for key in expected_c:
        if key != "label":  # features; the outputs: value, probabilities, or a tensor model's outputs
            d = sections.setdefault("e2eFeatures" if key == "features" else "e2eOutputs", Diff())
            d.walk(expected_r.get(key), expected_c[key])
    labels_changed = 0
    if "label" in expected_c:
        labels_changed += sum(1 for x, y in zip(expected_r.get("label", []), expected_c["label"]) if x != y)
    if os.path.isfile(os.path.join(committed, "parity.json")) and os.path.isfile(os.path.join(built, "parity.json")):
        pr, pc = load_json(os.path.join(built, "parity.json")), load_json(os.path.join(committed, "parity.json"))
        d = Diff()
        if "predictions" in pc:
            d.walk(pr.get("predictions"), pc["predictions"])
        else:  # another layout (e.g. a stream's outputs and states): everything but the features
            d.walk({k: v for k, v in pr.items() if k != "features"}, {k: v for k, v in pc.items() if k != "features"})
        sections["parity"] = d
        if card.get("task", {}).get("kind") == "classification":
            labels_changed += sum(1 for x, y in zip(argmax_labels(pr["predictions"]), argmax_labels(pc["predictions"])) if x != y)
        if "variants" in pc:
            v = Diff()
            v.walk(pr.get("variants"), pc["variants"])
            sections["parityVariants"] = v
    reference = Diff()
    if os.path.isfile(os.path.join(committed, "reference.json")):
        reference.walk(load_json(os.path.join(built, "reference.json")), load_json(os.path.join(committed, "reference.json")))
        sections["reference"] = reference
    result.update({k: d.report() for k, d in sections.items()})
    result["labelsChanged"] = labels_changed
    rebuilt_card = load_json(os.path.join(built, "model-card.json"))
    result["metric"] = {
        "name": card.get("gate", {}).get("metric", {}).get("name"),
        "committed": card.get("gate", {}).get("metric", {}).get("research"),
        "rebuilt": rebuilt_card.get("gate", {}).get("metric", {}).get("research"),
    }
    card_diff = Diff()
    card_diff.walk(without_environment(rebuilt_card), without_environment(card))
    result["card"] = card_diff.report()

    model_change = max([m.get("maxChange", 0.0) for m in result["modelFiles"]] + [0.0])
    answer_change = max(sections[k].max_change for k in ("spec", "e2eFeatures", "e2eOutputs", "parity") if k in sections)
    structural = any(d.mismatches for k, d in sections.items() if k != "reference")
    if not differing and not result["files"]["onlyRebuilt"]:
        verdict = "identical"
    elif not structural and labels_changed == 0 and answer_change <= tolerance:
        verdict = "within"
    else:
        verdict = "MOVED"
    result["largestChange"] = {"answers": answer_change, "model": model_change}
    result["verdict"] = verdict
    return result


def builds(root):
    found = []
    for directory, folders, files in os.walk(root, followlinks=True):
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in ("node_modules", "__pycache__"))
        # A pretrained model taken as published (models/nsfw-mobilenet: extract.mjs, no train.py) has nothing to rebuild.
        model = os.path.relpath(directory, root).split(os.sep)[0]
        if "model-card.json" in files and os.path.exists(os.path.join(root, model, "train.py")):
            found.append(os.path.relpath(directory, root))
    return sorted(found)


def fmt(x):
    return "0" if x == 0 else f"{x:.1e}"


def table(results):
    head = ["model", "files same", "model bytes", "model Δ", "spec Δ", "e2e feat Δ", "e2e out Δ", "held-out Δ", "labels",
            "metric committed -> rebuilt", "tolerance", "verdict"]
    lines = []
    for r in results:
        if r["verdict"] == "MISSING":
            lines.append([r["model"]] + ["-"] * 9 + [fmt(r["tolerance"]), "MISSING"])
            continue
        files = r["files"]
        same_bytes = all(m["identical"] for m in r["modelFiles"])
        metric = r["metric"]
        m = f"{metric['name']} {metric['committed']:.6g} -> {metric['rebuilt']:.6g}" if metric["committed"] is not None else "-"
        lines.append([
            r["model"],
            f"{len(files['identical'])}/{len(files['identical']) + len(files['differ'])}",
            "same" if same_bytes else "differ",
            fmt(r["largestChange"]["model"]),
            fmt(r["spec"]["maxChange"]),
            fmt(r.get("e2eFeatures", {}).get("maxChange", 0.0)),
            fmt(r.get("e2eOutputs", {}).get("maxChange", 0.0)),
            fmt(r.get("parity", {}).get("maxChange", 0.0)),
            str(r["labelsChanged"]),
            m,
            fmt(r["tolerance"]),
            r["verdict"],
        ])
    widths = [max(len(str(row[i])) for row in [head] + lines) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in lines]
    return "\n".join(out)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    report = argv[argv.index("--report") + 1] if "--report" in argv else None
    if report in args:
        args.remove(report)
    if len(args) != 2:
        sys.exit(__doc__)
    built_root, committed_root = args
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
    from ondevice_export.environment import build_environment

    results = []
    for relative in builds(committed_root):
        try:
            results.append(compare_build(os.path.join(built_root, relative), os.path.join(committed_root, relative), relative))
        except (OSError, ValueError, KeyError) as error:
            results.append({"model": relative, "folder": relative, "verdict": "MISSING", "error": str(error), "tolerance": 0.0})
    print(table(results))
    print("Δ: the largest |rebuilt - committed| / max(1, |committed|). Tolerances and their reasons: the JSON report's toleranceReason.")
    for r in results:
        if r["verdict"] == "MISSING":
            print(f"{r['model']}: {r['error']}")
    if report:
        os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
        with open(report, "w") as f:
            json.dump({"environment": build_environment(), "tolerance": "|rebuilt - committed| / max(1, |committed|)", "models": results},
                      f, indent=1)
            f.write("\n")
        print(f"report: {report}")
    return 2 if any(r["verdict"] == "MISSING" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
