"""Shared plumbing for the losses: argument checks, target handling, reductions, stable softmax."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import array_api_compat

from probspace import array_namespace, as_float_array
from probspace._validation import check_choice
from probspace.typing import Array, ArrayLike, DType, Namespace

REDUCTIONS = ("mean", "sum", "none")
#: The ``reduction`` argument of every loss.
Reduction = Literal["mean", "sum", "none"]


def namespace(logits: ArrayLike, targets: ArrayLike) -> Namespace:
    """The common namespace of ``logits`` and ``targets`` (lists are treated as NumPy)."""
    return array_namespace(logits, targets, names=("logits", "targets"))


def check_reduction(reduction: str) -> str:
    return check_choice(reduction, "reduction", REDUCTIONS)


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_not_half(x: Array, name: str) -> None:
    """Reject half-precision floats (float16, bfloat16): the losses compute in float32 or
    float64 and would otherwise silently change the caller's dtype or lose accuracy."""
    dt = str(x.dtype)
    if "float16" in dt:
        raise TypeError(f"{name} has dtype {dt}; the losses support float32 and float64 "
                        f"(cast it first, e.g. {name}.astype(float32))")


def as_logits(logits: ArrayLike, xp: Namespace, *, ndim_min: int = 1,
              check_finite: bool = True) -> Array:
    """Logits as a real floating array (integers promoted; float16 refused).  With
    ``check_finite=False`` the NaN/inf scan is left to the caller (the Numba kernels check
    finiteness in their own pass and defer to the generic path, which raises)."""
    z = as_float_array(logits, "logits", xp, ndim_min=ndim_min, allow_nan=True, allow_inf=True)
    check_not_half(z, "logits")
    # one pass instead of separate NaN and inf scans
    if check_finite and not bool(xp.all(xp.isfinite(z))):
        raise ValueError("logits contains NaN or infinite values")
    return z


def check_temperature(z: Array, T: float, xp: Namespace) -> None:
    """``z / T`` and ``1 / T`` (the gradient's factor) must not overflow ``z``'s dtype: a tiny
    temperature would otherwise turn the softmax into inf / inf = NaN."""
    zmax = float(xp.max(xp.abs(z))) if z.size else 0.0
    if zmax != zmax or zmax == float("inf"):   # non-finite logits: reported by the caller
        return
    if max(zmax, 1.0) / T > float(xp.finfo(z.dtype).max):
        raise ValueError(f"temperature {T!r} is too small: logits / temperature overflows "
                         f"{z.dtype} (max |logits| = {zmax:.3g})")


def numba_rung(xp: Namespace) -> bool:
    """True when the NumPy (Numba kernel) rung of the ladder serves namespace ``xp``."""
    from probspace import backend_for
    return backend_for(xp, available=("numba", "generic")) == "numba"


def _as_array(x: ArrayLike, xp: Namespace, name: str = "targets") -> Array:
    if isinstance(x, (list, tuple, int, float, bool)):
        return xp.asarray(x)
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):   # None, strings, dicts ...
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    return x


def is_integer_array(t: Array, xp: Namespace) -> bool:
    return xp.isdtype(t.dtype, "integral")


def device_of(x: Array) -> Any:
    return array_api_compat.device(x)


def check_class_indices(targets: ArrayLike, logits: Array, xp: Namespace,
                        name: str = "targets") -> Array:
    """Validate integer class indices of shape ``logits.shape[:-1]``; returns the array."""
    C = logits.shape[-1]
    t = _as_array(targets, xp, name)
    if C == 0:   # no index is valid: say so about logits, not about every target
        raise ValueError(f"logits has no classes (shape {tuple(logits.shape)})")
    if not is_integer_array(t, xp):
        raise TypeError(f"{name} must be integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"{name} must have shape {tuple(logits.shape[:-1])} (class indices "
                         f"for logits of shape {tuple(logits.shape)}), got {tuple(t.shape)}")
    if t.size and (bool(xp.any(t < 0)) or bool(xp.any(t >= C))):
        raise ValueError(f"{name} must be class indices in [0, {C - 1}] (logits has {C} "
                         "classes)")
    return t


def class_index_onehot(targets: ArrayLike, logits: Array, xp: Namespace,
                       name: str = "targets") -> Array:
    """One-hot (dtype of ``logits``) of integer class indices of shape ``logits.shape[:-1]``."""
    C = logits.shape[-1]
    t = check_class_indices(targets, logits, xp, name)
    classes = xp.arange(C, device=device_of(logits))
    return xp.astype(xp.expand_dims(t, axis=-1) == classes, logits.dtype)


def probability_targets(targets: ArrayLike, shape: Sequence[int], dtype: DType, xp: Namespace,
                        name: str = "targets", *, sum_to_one: bool = False) -> Array:
    """Float targets in [0, 1] of exactly ``shape`` (integers/bools promoted), as ``dtype``."""
    t = _as_array(targets, xp, name)
    if xp.isdtype(t.dtype, "bool"):
        t = xp.astype(t, dtype)
    t = as_float_array(t, name, xp)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (the shape of logits), got "
                         f"{tuple(t.shape)}")
    t = xp.astype(t, dtype)
    if t.size and (bool(xp.any(t < 0)) or bool(xp.any(t > 1))):
        raise ValueError(f"{name} must lie in [0, 1]")
    if sum_to_one and t.size:
        s = xp.sum(t, axis=-1)
        tol = 1e-4 if dtype == xp.float32 else 1e-10
        if bool(xp.any(xp.abs(s - 1) > tol)):
            raise ValueError(f"{name} (class probabilities) must sum to 1 along the last axis")
    return t


def class_targets(targets: ArrayLike, logits: Array, xp: Namespace, name: str = "targets", *,
                  sum_to_one: bool = True) -> Array:
    """Class targets as an array of shape ``logits.shape``: integer indices of shape
    ``logits.shape[:-1]`` become one-hot rows, float rows of shape ``logits.shape`` are class
    probabilities (non-negative, summing to one)."""
    t = _as_array(targets, xp, name)
    if is_integer_array(t, xp):
        return class_index_onehot(t, logits, xp, name)
    if tuple(t.shape) == tuple(logits.shape[:-1]):
        raise TypeError(f"{name} of shape {tuple(t.shape)} must be integer class indices, "
                        f"got dtype {t.dtype}")
    if tuple(t.shape) != tuple(logits.shape):
        raise ValueError(f"{name} must be integer class indices of shape {tuple(logits.shape[:-1])} "
                         f"or class probabilities of shape {tuple(logits.shape)} (for logits of "
                         f"shape {tuple(logits.shape)}), got dtype {t.dtype} and shape "
                         f"{tuple(t.shape)}")
    return probability_targets(t, logits.shape, logits.dtype, xp, name, sum_to_one=sum_to_one)


def reduce(per: Array, reduction: str, xp: Namespace) -> Array:
    """Apply ``reduction`` to the per-sample losses."""
    if reduction == "none":
        return per
    if reduction == "sum":
        return xp.sum(per)
    return xp.mean(per)


def grad_scale(per_shape: Iterable[int], reduction: str) -> float:
    """Factor by which per-sample gradients are multiplied for ``reduction``."""
    if reduction == "mean":
        n = 1
        for s in per_shape:
            n *= int(s)
        return 1.0 / n
    return 1.0


def finish(per: Array, grad: Array | None, reduction: str, return_grad: bool,
           xp: Namespace) -> Array | tuple[Array, Array]:
    """Reduce the per-sample loss and scale the per-sample gradient to match."""
    value = reduce(per, reduction, xp)
    if not return_grad:
        return value
    assert grad is not None   # every caller computes it when return_grad is True
    return value, grad * grad_scale(per.shape, reduction)


def check_nonempty(per_shape: Iterable[int], name: str = "logits") -> None:
    n = 1
    for s in per_shape:
        n *= int(s)
    if n == 0:
        raise ValueError(f"{name} must hold at least one sample")


# ---- numerically stable building blocks (pure array API) ------------------------------------
def logsumexp(z: Array, xp: Namespace, axis: int = -1, keepdims: bool = False) -> Array:
    m = xp.max(z, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = xp.log(xp.sum(xp.exp(z - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def cross_entropy_rows(z: Array, t: Array, xp: Namespace) -> Array:
    """sum_i t_i (logsumexp(z) - z_i) along the last axis, on max-shifted logits so that the
    large common offset cancels exactly (float32 logits of size 1e4 keep full precision)."""
    m = xp.max(z, axis=-1, keepdims=True)
    zs = z - m
    lse = xp.log(xp.sum(xp.exp(zs), axis=-1))
    return xp.sum(t, axis=-1) * lse - xp.sum(t * zs, axis=-1)


def softmax(z: Array, xp: Namespace, axis: int = -1) -> Array:
    m = xp.max(z, axis=axis, keepdims=True)
    e = xp.exp(z - m)
    return e / xp.sum(e, axis=axis, keepdims=True)


def log_softmax(z: Array, xp: Namespace, axis: int = -1) -> Array:
    return z - logsumexp(z, xp, axis=axis, keepdims=True)


def sigmoid(z: Array, xp: Namespace) -> Array:
    e = xp.exp(-xp.abs(z))
    one = xp.ones_like(z)
    return xp.where(z >= 0, one / (one + e), e / (one + e))


def softplus(z: Array, xp: Namespace) -> Array:
    """log(1 + e^z) without overflow."""
    return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def softmax_backward(p: Array, g: Array, xp: Namespace, axis: int = -1) -> Array:
    """Gradient w.r.t. logits of a function of ``p = softmax(z)``, given ``g = dF/dp``."""
    return p * (g - xp.sum(p * g, axis=axis, keepdims=True))
