"""The sympy bridge: turn symbolic derivations into functions of any array namespace."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

__all__ = ["lambdify", "namespace_module"]

_FUNCS = ("sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
          "acosh", "atanh", "exp", "expm1", "log", "log1p", "sqrt", "floor", "ceil", "sign")


def namespace_module(xp: Any) -> dict[str, Any]:
    """A name -> function mapping for ``sympy.lambdify`` built from array namespace ``xp``.

    Takes no numeric input (NaN and inf do not apply).
    """
    mod = {name: getattr(xp, name) for name in _FUNCS if hasattr(xp, name)}
    mod.update({"Abs": xp.abs, "pi": xp.pi, "E": xp.e, "Heaviside": lambda x, h0=0.5: xp.where(
        x > 0, 1.0, xp.where(x < 0, 0.0, h0)), "Max": xp.maximum, "Min": xp.minimum,
        "pow": xp.pow, "erf": _erf(xp)})
    mod["Piecewise"] = None  # handled by sympy's printer through `select` for numpy only
    return {k: v for k, v in mod.items() if v is not None}


def _erf(xp: Any) -> Callable[[Any], Any] | None:
    try:
        import scipy.special as sps  # only numpy-compatible arrays
        return lambda x: xp.asarray(sps.erf(x))
    except ImportError:  # pragma: no cover
        return None


def lambdify(args: sp.Symbol | Sequence[sp.Symbol], expr: Any, xp: Any = None, *,
             backend: str = "array") -> Callable[..., Any]:
    """Compile sympy ``expr`` of ``args`` into a function.

    The compiled function follows the namespace's arithmetic: NaN and inf propagate.

    Parameters
    ----------
    args : Symbol or sequence of Symbols
    expr : sympy expression (or a matrix / list of expressions)
    xp : array namespace, optional
        Namespace the function computes in (NumPy when omitted).  Any array-API namespace
        works for the elementary functions listed in ``namespace_module``.
    backend : {"array", "numba"}
        ``"numba"`` returns a scalar ``@njit`` function (for fused compiled kernels).

    Returns
    -------
    callable
        ``f(*values)`` evaluating ``expr`` at ``args = values``.

    Raises
    ------
    ValueError
        For a ``backend`` other than ``"array"`` or ``"numba"``.

    Examples
    --------
    >>> import sympy as sp, array_api_strict as xp
    >>> from probspace.sym import lambdify
    >>> x = sp.Symbol("x")
    >>> f = lambdify(x, sp.exp(-x**2 / 2), xp)
    >>> f(xp.asarray([0.0, 2.0]))
    Array([1.        , 0.13533528], dtype=array_api_strict.float64)
    """
    if backend not in ("array", "numba"):
        raise ValueError(f"backend must be 'array' or 'numba', got {backend!r}")
    if backend == "numba":
        import math
        import numba as nb
        fn = sp.lambdify(args, expr, modules=[{"Abs": abs}, "math"])
        return nb.njit(cache=False)(fn)
    if xp is None:
        return sp.lambdify(args, expr, modules="numpy")
    name = getattr(xp, "__name__", "")
    if name in ("numpy", "array_api_compat.numpy"):
        return sp.lambdify(args, expr, modules="numpy")
    if name in ("cupy", "array_api_compat.cupy"):
        return sp.lambdify(args, expr, modules="cupy")
    return sp.lambdify(args, expr, modules=[namespace_module(xp)])
