#!/usr/bin/python3
"""Train the handwritten digits model (a small convolutional network) and export what `ondevice pack` needs.

Research environment: Debian's python3-torch, python3-onnx and python3-sklearn, run with /usr/bin/python3.

Data: the 8x8 handwritten digits that ship with scikit-learn (`sklearn.datasets.load_digits()`,
1,797 images, pixel values 0..16). No download.

Writes into models/digits/build/:
  feature-spec.json   a tensor spec: one input `image`, float32, [batch, 1, 8, 8], the raw 0..16 pixels
  model.onnx          the network as ONNX (opset 17, IR 8): Div by 16, convolutions, Softmax, ArgMax
  e2e-set.json        two held-out images of each digit and the probabilities/labels PyTorch gave for them
  confidence-set.json every held-out image with its label
  parity.json         PyTorch's probabilities for every confidence row (tests only, not in the bundle)
  model-card.json     metadata, outputs, the gate's metric, range and tolerance

Deterministic on one machine: fixed split seed, fixed torch seed, deterministic algorithms, one CPU
thread, no oneDNN, a fixed number of epochs, no timestamps. --out <folder> writes there instead of
build/. Across machines, see models/README.md ("Rebuilding").
"""
import hashlib
import io
import os
import sys

import numpy as np
import onnx
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ondevice_export.environment import build_environment, deterministic, out_dir  # noqa: E402
from ondevice_export.json_lists import write_json_lists  # noqa: E402

OUT = out_dir(os.path.join(HERE, "build"))

MODEL_NAME = "digits"
MODEL_VERSION = "1.0.0"
FEATURE_SPEC_VERSION = "1.0.0"
SEED = 42
TEST_SIZE = 0.25
CLASSES = [str(d) for d in range(10)]

EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
OPSET = 17
IR_VERSION = 8  # onnxruntime-web 1.30 loads IR 8 (opset 17) models
E2E_PER_CLASS = 2

# Accuracy on the held-out confidence set must stay inside this range for a version to serve.
ACCURACY_RANGE = [0.93, 1.0]
# Measured with onnxruntime-web 1.30 (wasm, one thread) in Node against these PyTorch float32
# probabilities, batched and one image at a time: max |difference| 2.1e-7 over the e2e set and
# 8.9e-7 over the whole confidence set (450 images).
TOLERANCE = 1e-5
TOLERANCE_REASON = (
    "float32 on both sides, but PyTorch (CPU) and onnxruntime-web (wasm) accumulate the convolutions "
    "and matrix products in a different order; measured with onnxruntime-web 1.30 in Node, the largest "
    "absolute difference in probabilities was 2.1e-7 over the e2e set and 8.9e-7 over the 450 confidence "
    "images, so 1e-5 leaves at least 10x headroom"
)


class ConvNet(nn.Module):
    """Raw 0..16 pixels in, class probabilities (and the arg-max class) out."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def logits(self, image):
        return self.features(image / 16.0)

    def forward(self, image):
        logits = self.logits(image)
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


def write_json(name, value):
    write_json_lists(os.path.join(OUT, name), value)


def raw_row(pixels):
    """One image as the JSON an app would send: 64 raw pixel values (0..16), row-major."""
    return {"image": [int(v) for v in pixels]}


def data_sha256(digits):
    """Digest of the data as loaded: pixels as little-endian float64, then targets as little-endian int64."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(digits.data, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(digits.target, dtype="<i8").tobytes())
    return h.hexdigest()


def to_tensor(pixels):
    return torch.from_numpy(np.asarray(pixels, dtype=np.float32).reshape(-1, 1, 8, 8))


def train(X_train, y_train):
    model = ConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    images = to_tensor(X_train)
    targets = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    shuffle = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(images), generator=shuffle)
        for start in range(0, len(images), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model.logits(images[batch]), targets[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def export_onnx(model):
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 8, 8),),
        buffer,
        input_names=["image"],
        output_names=["probabilities", "label"],
        dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}},
        opset_version=OPSET,
        do_constant_folding=True,
    )
    onnx_model = onnx.load_from_string(buffer.getvalue())
    onnx_model.ir_version = IR_VERSION
    onnx_model.producer_name = "ondevice-models-digits"
    onnx_model.producer_version = torch.__version__
    onnx.checker.check_model(onnx_model, full_check=True)
    graph = onnx_model.graph
    ops = {node.op_type for node in graph.node}
    if "ZipMap" in ops or any(not o.type.HasField("tensor_type") for o in graph.output):
        sys.exit("the exported graph has a ZipMap or a non-tensor output")
    if [i.name for i in graph.input] != ["image"] or [o.name for o in graph.output] != ["probabilities", "label"]:
        sys.exit(f"unexpected graph inputs/outputs: {[i.name for i in graph.input]} -> {[o.name for o in graph.output]}")
    return onnx_model


def main():
    deterministic(SEED)  # seeds, one thread, deterministic algorithms, no oneDNN (its kernels are generated for each CPU)
    os.makedirs(OUT, exist_ok=True)

    digits = load_digits()
    X, y = digits.data, digits.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )

    model = train(X_train, y_train)
    with torch.no_grad():
        probabilities, labels = model(to_tensor(X_test))
    probabilities = probabilities.numpy()  # float32
    labels = labels.numpy()
    accuracy = float(np.mean(labels == y_test))
    if not ACCURACY_RANGE[0] <= accuracy <= ACCURACY_RANGE[1]:
        sys.exit(f"held-out accuracy {accuracy} is outside {ACCURACY_RANGE}: refusing to export")

    onnx.save(export_onnx(model), os.path.join(OUT, "model.onnx"))

    write_json(
        "feature-spec.json",
        {
            "format": "ondevice/feature-spec",
            "formatVersion": 1,
            "name": MODEL_NAME,
            "version": FEATURE_SPEC_VERSION,
            "tensors": [{"name": "image", "dtype": "float32", "shape": ["batch", 1, 8, 8]}],
        },
    )

    # End-to-end set: the first E2E_PER_CLASS held-out images of each digit, in held-out order.
    e2e_index = [i for i in range(len(y_test)) if list(y_test[: i + 1]).count(y_test[i]) <= E2E_PER_CLASS]
    write_json(
        "e2e-set.json",
        {
            "rows": [raw_row(X_test[i]) for i in e2e_index],
            "expected": {
                "probabilities": [[float(p) for p in probabilities[i]] for i in e2e_index],
                "label": [CLASSES[labels[i]] for i in e2e_index],
            },
        },
    )
    write_json(
        "confidence-set.json",
        {"rows": [raw_row(x) for x in X_test], "labels": [CLASSES[t] for t in y_test]},
    )
    write_json(
        "parity.json",
        {"features": None, "predictions": [[float(p) for p in row] for row in probabilities]},
    )
    write_json(
        "model-card.json",
        {
            "name": MODEL_NAME,
            "version": MODEL_VERSION,
            "description": "Handwritten digit (0-9) from an 8x8 grey-scale image with pixel values 0..16, "
            "by a small convolutional network.",
            "runtime": "onnxruntime-web",
            "task": {"kind": "classification", "classes": CLASSES, "probabilities": "probabilities", "label": "label"},
            "algorithm": {
                "name": "ConvNet",
                "hyperparameters": {
                    "layers": "Div(16)-Conv2d(1,16,3,pad=1)-ReLU-Conv2d(16,32,3,pad=1)-ReLU-MaxPool2d(2)"
                    "-Flatten-Linear(512,64)-ReLU-Linear(64,10)-Softmax",
                    "parameters": int(sum(p.numel() for p in model.parameters())),
                    "optimizer": "Adam",
                    "learningRate": LEARNING_RATE,
                    "epochs": EPOCHS,
                    "batchSize": BATCH_SIZE,
                    "loss": "cross-entropy",
                    "seed": SEED,
                },
            },
            "training": {
                "library": "torch",
                "libraryVersion": torch.__version__,
                "onnxVersion": onnx.__version__,
                "data": {
                    "name": "sklearn-digits",
                    "file": f"sklearn.datasets.load_digits() (scikit-learn {sklearn.__version__}, "
                    "sklearn/datasets/data/digits.csv.gz); sha256 over data as <f8 then target as <i8",
                    "sha256": data_sha256(digits),
                    "rows": int(len(y)),
                    "trainRows": int(len(y_train)),
                    "split": {"testSize": TEST_SIZE, "stratify": "target", "seed": SEED},
                },
                "environment": build_environment(),
            },
            "featureSpecVersion": FEATURE_SPEC_VERSION,
            "gate": {
                "tolerance": TOLERANCE,
                "toleranceReason": TOLERANCE_REASON,
                "metric": {"name": "accuracy", "range": ACCURACY_RANGE, "research": accuracy},
            },
        },
    )
    print(f"accuracy on {len(y_test)} held-out images: {accuracy:.4f}; e2e rows: {len(e2e_index)}")


if __name__ == "__main__":
    main()
