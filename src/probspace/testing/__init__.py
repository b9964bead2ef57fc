"""Test helpers: namespace-aware closeness checks, goodness-of-fit tests, and the ``xp`` fixture.

Use in a ``conftest.py``::

    pytest_plugins = ["probspace.testing.plugin"]
"""
from typing import Any

from ._asserts import xp_assert_close, xp_assert_equal
from ._stats import chisquare_gof, ChiSquareResult, finite_difference_grad
from ._isolated import run_isolated, IsolatedResult

__all__ = ["xp_assert_close", "xp_assert_equal", "chisquare_gof", "ChiSquareResult",
           "finite_difference_grad", "available_namespaces", "gpu_available", "run_isolated",
           "IsolatedResult"]


def available_namespaces(include_gpu: bool = True) -> list[tuple[str, Any]]:
    """(name, namespace) pairs the test-suite runs array tests on: numpy, array_api_strict, cupy.

    Takes no numeric input (NaN and inf do not apply).
    """
    import array_api_compat.numpy as cnp
    out = [("numpy", cnp)]
    try:
        import array_api_strict
        out.append(("array_api_strict", array_api_strict))
    except ImportError:
        pass
    if include_gpu and gpu_available():
        import array_api_compat.cupy as ccp
        out.append(("cupy", ccp))
    return out


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device.

    Takes no numeric input (NaN and inf do not apply).
    """
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False
