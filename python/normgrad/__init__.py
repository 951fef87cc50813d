"""normgrad from Python: the C++ library (libnormgrad, the one the normgrad command links)
through the nanobind module normgrad._core, re-exported here.

    import normgrad as ng
    x = ng.from_numpy(np.ones((2, 3), np.float32))   # zero-copy view of the array
    model = ng.nn.GPT(n_layer=2, n_embd=64, norm="dyt", alpha0=0.5)
"""
import pathlib as _pathlib
import sys as _sys

from . import _core
from ._core import *  # noqa: F401,F403 (the public API is the C++ one, under its names)
from ._core import Error, Tensor, nn, optim  # noqa: F401

# `import normgrad.nn` / `from normgrad.optim import AdamW` find the submodules; imported
# again through the package so that type checkers read their stubs (nn.pyi, optim.pyi).
_sys.modules[__name__ + ".nn"] = nn
_sys.modules[__name__ + ".optim"] = optim
from . import nn, optim  # noqa: E402,F811

# compare, sweep and convert draw their figures with the scripts shipped in the package.
_core.set_script_dir(str(_pathlib.Path(__file__).resolve().parent / "figures"))

_NUMPY_DTYPES = {"float32": "float32", "float64": "float64", "int64": "int64"}


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of `data` (anything numpy.array accepts).

    The explicit copy: from_numpy() refuses what it cannot view without one (other dtypes,
    reversed strides, read-only arrays). dtype: float32, float64 or int64 (default: float32
    for floating data, int64 for integers).
    """
    import numpy as np

    arr = np.array(data)
    if dtype is None:
        dtype = "int64" if np.issubdtype(arr.dtype, np.integer) else "float32"
    if dtype not in _NUMPY_DTYPES:
        raise Error(f"[tensor] unknown dtype '{dtype}' (float32, float64 or int64)")
    arr = np.array(arr, dtype=_NUMPY_DTYPES[dtype], copy=True, order="C")
    t = from_numpy(arr)  # the tensor holds the fresh array: nobody else writes it
    if requires_grad:
        t.requires_grad = True
    return t
