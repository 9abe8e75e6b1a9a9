"""The machine and packages a model was built with, for its model card, and the switches that make a
training run as repeatable as the libraries allow.

build_environment() -> dict
    What built the model: Python, the platform, the versions of the numeric packages loaded (numpy,
    scipy, scikit-learn, pandas, onnx; xgboost and torch when the script imported them), the BLAS and
    OpenMP libraries numpy and scikit-learn actually loaded (threadpoolctl: library, version, the CPU
    kernel it picked, threads), the BLAS numpy was built against, the SIMD extensions numpy dispatches to,
    PyTorch's threads and SIMD level, the thread and kernel variables, and the CPU (model name, the SIMD
    flags that change which kernels run). export_bundle writes it as the model card's training.environment.

deterministic(seed)
    Seeds Python's, NumPy's and (when imported) PyTorch's generators, and makes PyTorch run on one thread
    with deterministic algorithms and without oneDNN (whose kernels are generated for each CPU). BLAS threads must be fixed before numpy starts: models/build-all.sh sets
    OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS to 1; a script run directly should too.

out_dir(default) -> str
    The build folder: the path after --out on the command line, else `default` (a training script's own
    build/ folder). models/build-all.sh builds into a temporary folder this way and compares.
"""
import os
import platform
import random
import sys

import numpy as np

# Variables that set threads or pin SIMD kernels (models/build-all.sh sets them; models/README.md, "Rebuilding").
VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES",
             "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "PYTHONHASHSEED")
# CPU flags that decide which SIMD kernels numpy, OpenBLAS, XGBoost and PyTorch pick (so the order of float sums).
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
              "amx_tile", "asimd", "sve")


def out_dir(default):
    """The folder after --out on the command line, else default."""
    if "--out" in sys.argv:
        at = sys.argv.index("--out")
        if at + 1 >= len(sys.argv):
            sys.exit("--out needs a folder")
        return os.path.abspath(sys.argv[at + 1])
    return default


def deterministic(seed):
    """Seeds every generator a training script may use; PyTorch (if imported) on one thread, deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(1)
        # oneDNN generates its convolution kernels for the CPU it runs on (instruction set, cache sizes): without
        # it PyTorch convolves with its own loops and the BLAS, which ATEN_CPU_CAPABILITY and OPENBLAS_CORETYPE pin.
        torch.backends.mkldnn.enabled = False


def _versions():
    import onnx
    import pandas
    import scipy
    import sklearn

    versions = {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                "pandas": pandas.__version__, "onnx": onnx.__version__}
    for module, label in (("xgboost", "xgboost"), ("torch", "torch")):
        if module in sys.modules:
            versions[label] = getattr(sys.modules[module], "__version__", "unknown")
    return versions


def _libraries():
    """The BLAS / OpenMP libraries loaded in this process, as threadpoolctl (a scikit-learn dependency) sees them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = {"internal_api": "api", "version": "version", "architecture": "kernels", "threading_layer": "threadingLayer", "num_threads": "threads"}
    found = []
    for library in threadpool_info():
        entry = {label: library[k] for k, label in keep.items() if library.get(k) is not None}
        entry["file"] = os.path.basename(library.get("filepath", ""))
        found.append(entry)
    return sorted(found, key=lambda e: (e.get("api", ""), e["file"]))


def _numpy():
    """The BLAS numpy was built against (its config) and the SIMD extensions it dispatches to on this CPU."""
    blas = None
    config = getattr(np, "__config__", None)
    try:
        if hasattr(config, "CONFIG"):  # numpy >= 1.26
            blas = config.CONFIG["Build Dependencies"]["blas"].get("name")
        else:
            info = getattr(config, "blas_opt_info", None) or getattr(config, "blas_ilp64_opt_info", None) or {}
            blas = ",".join(dict.fromkeys(info.get("libraries", []))) or None  # Debian's "blas": the alternative, OpenBLAS here
    except (AttributeError, KeyError, TypeError):
        pass
    try:
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        simd = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    except ImportError:
        simd = []
    return {"blas": blas, "simd": simd}


def _cpu():
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model") and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "machine": platform.machine(), "simd": [f for f in SIMD_FLAGS if f in flags], "cores": os.cpu_count()}


def build_environment():
    """The environment that built the model, as the model card records it (training.environment)."""
    torch = sys.modules.get("torch")
    environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _versions(),
        "numpy": _numpy(),
        "libraries": _libraries(),
    }
    if torch is not None:
        capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
        environment["torch"] = {"threads": torch.get_num_threads(), "simd": capability() if capability else _torch_capability(torch)}
    environment["variables"] = {v: os.environ[v] for v in VARIABLES if v in os.environ}
    environment["cpu"] = _cpu()
    return environment


def _torch_capability(torch):
    """PyTorch's SIMD level from its build description (older versions have no torch.backends.cpu.get_cpu_capability)."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return None
