"""Array-namespace helpers shared by every package."""
from __future__ import annotations

import numbers

import array_api_compat

__all__ = ["array_namespace", "as_float_array", "is_numpy", "is_cupy", "to_numpy",
           "default_float", "check_axis"]


def array_namespace(*arrays, xp=None):
    """The array-API namespace of ``arrays`` (array-api-compat wrapped), or ``xp`` if given.

    Python scalars and ``None`` are ignored; plain lists count as NumPy input.
    """
    if xp is not None:
        return xp
    arrs = [a for a in arrays if a is not None and not isinstance(a, (numbers.Number, bool))]
    arrs = [array_api_compat.numpy.asarray(a) if isinstance(a, (list, tuple)) else a for a in arrs]
    if not arrs:
        return array_api_compat.numpy
    return array_api_compat.array_namespace(*arrs)


def is_numpy(xp) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def is_cupy(xp) -> bool:
    return array_api_compat.is_cupy_namespace(xp)


def to_numpy(x):
    """Copy any array-API array to a NumPy array (host)."""
    import numpy as np
    if array_api_compat.is_cupy_array(x):
        return x.get()
    try:
        return np.asarray(x)
    except Exception:  # array_api_strict and friends
        return np.from_dlpack(x)


def default_float(xp, device=None):
    """The default real floating dtype of ``xp`` (float64 where available)."""
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    except Exception:
        return xp.float64


def as_float_array(x, name, xp, *, allow_nan=False, allow_inf=False, ndim_min=0):
    """Convert ``x`` to a real floating array of namespace ``xp``.

    Integer and boolean input is promoted to the default float dtype; float input keeps its
    dtype (float32 stays float32).  Complex input raises ``TypeError``; NaN or infinite
    entries raise ``ValueError`` naming ``name`` unless allowed.
    """
    if isinstance(x, (list, tuple)) or isinstance(x, numbers.Number):
        x = xp.asarray(x)
    dt = x.dtype
    if xp.isdtype(dt, "complex floating"):
        raise TypeError(f"{name} must be real, got complex dtype {dt}")
    if not xp.isdtype(dt, "real floating"):
        if xp.isdtype(dt, ("integral", "bool")):
            x = xp.astype(x, default_float(xp, device=array_api_compat.device(x)))
        else:
            raise TypeError(f"{name} must be a real numeric array, got dtype {dt}")
    if x.ndim < ndim_min:
        raise ValueError(f"{name} must have at least {ndim_min} dimension(s), got shape {x.shape}")
    if not allow_nan and bool(xp.any(xp.isnan(x))):
        raise ValueError(f"{name} contains NaN")
    if not allow_inf and bool(xp.any(xp.isinf(x))):
        raise ValueError(f"{name} contains infinite values")
    return x


def check_axis(axis, ndim, name="axis"):
    """Normalise ``axis`` for an array of ``ndim`` dims, raising a clear error."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return int(axis) % ndim
