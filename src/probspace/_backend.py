"""The kernel ladder: which implementation rung serves a given array namespace.

NumPy input goes to a Numba kernel, CuPy input to a CuPy kernel, anything else to the
generic array-API reference.  ``use_backend`` forces a rung so that every rung can be
tested against the generic one on a CPU.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

__all__ = ["use_backend", "get_backend", "backend_for", "BACKENDS"]

BACKENDS = ("auto", "numba", "cupy", "generic")

_forced: contextvars.ContextVar[str] = contextvars.ContextVar("probspace_backend", default="auto")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Force a rung of the kernel ladder inside a ``with`` block.

    Takes no numeric input (NaN and inf do not apply).

    Parameters
    ----------
    name : {"auto", "numba", "cupy", "generic"}
        ``"auto"`` picks the rung from the input's namespace (NumPy -> Numba,
        CuPy -> CuPy, anything else -> generic).  ``"generic"`` runs the pure
        array-API reference for every input.  ``"numba"`` and ``"cupy"`` require
        NumPy or CuPy input respectively and raise ``TypeError`` otherwise.

    Yields
    ------
    str
        ``name``.

    Raises
    ------
    ValueError
        For a name outside the four above.

    Examples
    --------
    >>> import numpy as np, probspace, numopt
    >>> with probspace.use_backend("generic"):
    ...     p = numopt.project_simplex(np.array([0.1, 0.2, 0.3]))
    ...     probspace.get_backend()
    'generic'
    >>> p
    array([0.23333333, 0.33333333, 0.43333333])
    >>> probspace.get_backend()
    'auto'
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"use_backend: name must be one of {BACKENDS}, got {name!r}")
    token = _forced.set(name)
    try:
        yield name
    finally:
        _forced.reset(token)


def get_backend() -> str:
    """The rung currently forced by :func:`use_backend` (``"auto"`` when none).

    Takes no numeric input (NaN and inf do not apply).
    """
    return _forced.get()


def _is_numpy(xp: Any) -> bool:
    name = getattr(xp, "__name__", "")
    return name in ("numpy", "array_api_compat.numpy")


def _is_cupy(xp: Any) -> bool:
    name = getattr(xp, "__name__", "")
    return name in ("cupy", "array_api_compat.cupy")


def backend_for(xp: Any, *, available: tuple[str, ...] = ("numba", "cupy", "generic")) -> str:
    """Resolve the rung for namespace ``xp``.

    Takes no numeric input (NaN and inf do not apply).

    ``available`` lists the rungs a routine implements; the generic rung must always be
    among them.  A forced rung that does not fit the namespace raises ``TypeError``.

    Examples
    --------
    >>> import array_api_compat.numpy as np_xp, array_api_strict
    >>> from probspace import backend_for, use_backend
    >>> backend_for(np_xp), backend_for(array_api_strict)
    ('numba', 'generic')
    >>> with use_backend("generic"):
    ...     backend_for(np_xp)
    'generic'
    """
    forced = _forced.get()
    if forced == "generic":
        return "generic"
    if forced == "numba":
        if not _is_numpy(xp):
            raise TypeError(f"backend 'numba' was forced but the input is a {xp.__name__} array; "
                            "it needs NumPy arrays")
        return "numba" if "numba" in available else "generic"
    if forced == "cupy":
        if not _is_cupy(xp):
            raise TypeError(f"backend 'cupy' was forced but the input is a {xp.__name__} array; "
                            "it needs CuPy arrays")
        return "cupy" if "cupy" in available else "generic"
    if _is_numpy(xp) and "numba" in available:
        return "numba"
    if _is_cupy(xp) and "cupy" in available:
        return "cupy"
    return "generic"
