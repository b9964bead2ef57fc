"""Array-namespace helpers shared by every package."""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import array_api_compat
import array_api_compat.numpy

_compat_numpy: Any = array_api_compat.numpy   # (its names are generated: no static stubs)

Array = Any       # any array-API array (see probspace.typing)
Namespace = Any   # an array-API namespace

__all__ = ["array_namespace", "as_float_array", "is_numpy", "is_cupy", "to_numpy",
           "default_float", "check_axis"]


def array_namespace(*arrays: Any, xp: Namespace | None = None,
                    names: Sequence[str] | None = None) -> Namespace:
    """The array-API namespace of ``arrays`` (array-api-compat wrapped), or ``xp`` if given.

    Values are not inspected: NaN and inf entries pass unchanged.

    Python scalars and ``None`` are ignored; plain lists count as NumPy input.

    Parameters
    ----------
    *arrays : arrays, Python scalars or None
        The inputs of a computation; they must all belong to one namespace.
    xp : namespace, optional
        Returned unchanged when given (lets a caller skip the inspection).
    names : sequence of str, optional
        The argument names of ``arrays``, one each: an input that is not an array, a
        sequence, a number or ``None`` (a string, a dict ...) then raises ``TypeError``
        naming its argument, instead of array-api-compat's anonymous error.

    Returns
    -------
    namespace
        ``array_api_compat.numpy`` for NumPy input (or no arrays at all), the compat-wrapped
        namespace of CuPy / PyTorch input, the library itself for array_api_strict.

    Raises
    ------
    TypeError
        When the arrays come from different libraries (from ``array_api_compat``).

    Examples
    --------
    >>> import numpy as np
    >>> from probspace import array_namespace
    >>> array_namespace(np.ones(3), 2.0, None).__name__
    'array_api_compat.numpy'
    """
    if xp is not None:
        return xp
    if names is not None:
        for a, n in zip(arrays, names, strict=True):
            if not (a is None or isinstance(a, (numbers.Number, list, tuple))
                    or array_api_compat.is_array_api_obj(a)):
                raise TypeError(f"{n} must be an array, got {type(a).__name__}")
    arrs = []
    for i, a in enumerate(arrays):
        if a is None or isinstance(a, (numbers.Number, bool)):
            continue
        if isinstance(a, (list, tuple)):
            try:
                a = _compat_numpy.asarray(a)
            except (TypeError, ValueError) as e:   # ragged or non-numeric nested sequences
                if names is None:
                    raise
                raise TypeError(f"{names[i]} must be a rectangular numeric array: {e}") from None
        arrs.append(a)
    if not arrs:
        return _compat_numpy
    return array_api_compat.array_namespace(*arrs)


def is_numpy(xp: Namespace) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def is_cupy(xp: Namespace) -> bool:
    return array_api_compat.is_cupy_namespace(xp)


def to_numpy(x: Array) -> Any:
    """Copy any array-API array to a NumPy array (host).

    Values are copied as they are: NaN and inf entries pass unchanged.

    CuPy arrays are copied from the device; NumPy input is returned without a copy.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from probspace import to_numpy
    >>> to_numpy(xp.asarray([1.0, 2.0]))
    array([1., 2.])
    """
    import numpy as np
    if array_api_compat.is_cupy_array(x):
        return x.get()
    try:
        return np.asarray(x)
    except Exception:  # array_api_strict and friends
        return np.from_dlpack(x)


def default_float(xp: Namespace, device: Any = None) -> Any:
    """The default real floating dtype of ``xp`` (float64 where available)."""
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    except Exception:
        return xp.float64


def as_float_array(x: Any, name: str, xp: Namespace, *, allow_nan: bool = False,
                   allow_inf: bool = False, ndim_min: int = 0) -> Array:
    """Convert ``x`` to a real floating array of namespace ``xp``.

    Integer and boolean input is promoted to the default float dtype; float input keeps its
    dtype (float32 stays float32); half precision (float16, bfloat16) is refused, as the
    library computes in float32 or float64 and would otherwise change the caller's dtype.

    Parameters
    ----------
    x : array, sequence or scalar
    name : str
        The argument's name, used in error messages.
    xp : namespace
    allow_nan, allow_inf : bool, default False
        Accept NaN / infinite entries instead of raising.
    ndim_min : int, default 0
        Minimum number of dimensions.

    Returns
    -------
    array
        ``x`` in namespace ``xp`` with a real floating dtype.

    Raises
    ------
    TypeError
        For ``None``, complex, half-precision or non-numeric input.
    ValueError
        For NaN or infinite entries (unless allowed) or too few dimensions; the message names
        ``name``.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> from probspace import as_float_array
    >>> as_float_array([1, 2], "v", xp).dtype
    dtype('float64')
    >>> as_float_array([1.0, float("nan")], "v", xp)
    Traceback (most recent call last):
    ...
    ValueError: v contains NaN
    """
    if isinstance(x, (list, tuple)) or isinstance(x, numbers.Number):
        try:
            x = xp.asarray(x)
        except (TypeError, ValueError) as e:   # ragged or non-numeric sequences
            raise TypeError(f"{name} must be a real numeric array: {e}") from None
    if not hasattr(x, "dtype") or not hasattr(x, "ndim"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    dt = x.dtype
    if "float16" in str(dt):   # float16 and bfloat16 (not standard array-API dtypes)
        raise TypeError(f"{name} has dtype {dt}, which is not supported: cast it to float32 "
                        "or float64")
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


def check_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    """Normalise ``axis`` for an array of ``ndim`` dims, raising a clear error."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {axis!r}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return int(axis) % ndim
