"""Shared plumbing for the losses: argument checks, target handling, reductions, stable softmax."""
from __future__ import annotations

import array_api_compat

from probspace import array_namespace, as_float_array
from probspace._validation import check_choice

REDUCTIONS = ("mean", "sum", "none")


def namespace(logits, targets):
    """The common namespace of ``logits`` and ``targets`` (lists are treated as NumPy)."""
    return array_namespace(logits, targets)


def check_reduction(reduction):
    return check_choice(reduction, "reduction", REDUCTIONS)


def check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_not_half(x, name):
    """Reject half-precision floats (float16, bfloat16): the losses compute in float32 or
    float64 and would otherwise silently change the caller's dtype or lose accuracy."""
    dt = str(x.dtype)
    if "float16" in dt:
        raise TypeError(f"{name} has dtype {dt}; the losses support float32 and float64 "
                        f"(cast it first, e.g. {name}.astype(float32))")


def as_logits(logits, xp, *, ndim_min=1, check_finite=True):
    """Logits as a real floating array (integers promoted; float16 refused).  With
    ``check_finite=False`` the NaN/inf scan is left to the caller (the Numba kernels check
    finiteness in their own pass and defer to the generic path, which raises)."""
    z = as_float_array(logits, "logits", xp, ndim_min=ndim_min, allow_nan=True, allow_inf=True)
    check_not_half(z, "logits")
    # one pass instead of separate NaN and inf scans
    if check_finite and not bool(xp.all(xp.isfinite(z))):
        raise ValueError("logits contains NaN or infinite values")
    return z


def numba_rung(xp):
    """True when the NumPy (Numba kernel) rung of the ladder serves namespace ``xp``."""
    from probspace import backend_for
    return backend_for(xp, available=("numba", "generic")) == "numba"


def _as_array(x, xp):
    if isinstance(x, (list, tuple, int, float, bool)):
        return xp.asarray(x)
    return x


def is_integer_array(t, xp):
    return xp.isdtype(t.dtype, "integral")


def device_of(x):
    return array_api_compat.device(x)


def check_class_indices(targets, logits, xp, name="targets"):
    """Validate integer class indices of shape ``logits.shape[:-1]``; returns the array."""
    C = logits.shape[-1]
    t = _as_array(targets, xp)
    if not is_integer_array(t, xp):
        raise TypeError(f"{name} must be integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"{name} must have shape {tuple(logits.shape[:-1])} (class indices), "
                         f"got {tuple(t.shape)}")
    if t.size and (bool(xp.any(t < 0)) or bool(xp.any(t >= C))):
        raise ValueError(f"{name} must be class indices in [0, {C - 1}]")
    return t


def class_index_onehot(targets, logits, xp, name="targets"):
    """One-hot (dtype of ``logits``) of integer class indices of shape ``logits.shape[:-1]``."""
    C = logits.shape[-1]
    t = check_class_indices(targets, logits, xp, name)
    classes = xp.arange(C, device=device_of(logits))
    return xp.astype(xp.expand_dims(t, axis=-1) == classes, logits.dtype)


def probability_targets(targets, shape, dtype, xp, name="targets", *, sum_to_one=False):
    """Float targets in [0, 1] of exactly ``shape`` (integers/bools promoted), as ``dtype``."""
    t = _as_array(targets, xp)
    if xp.isdtype(t.dtype, "bool"):
        t = xp.astype(t, dtype)
    t = as_float_array(t, name, xp)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    t = xp.astype(t, dtype)
    if t.size and (bool(xp.any(t < 0)) or bool(xp.any(t > 1))):
        raise ValueError(f"{name} must lie in [0, 1]")
    if sum_to_one and t.size:
        s = xp.sum(t, axis=-1)
        tol = 1e-4 if dtype == xp.float32 else 1e-10
        if bool(xp.any(xp.abs(s - 1) > tol)):
            raise ValueError(f"{name} (class probabilities) must sum to 1 along the last axis")
    return t


def class_targets(targets, logits, xp, name="targets", *, sum_to_one=True):
    """Class targets as an array of shape ``logits.shape``: integer indices of shape
    ``logits.shape[:-1]`` become one-hot rows, float rows of shape ``logits.shape`` are class
    probabilities (non-negative, summing to one)."""
    t = _as_array(targets, xp)
    if is_integer_array(t, xp):
        return class_index_onehot(t, logits, xp, name)
    if tuple(t.shape) == tuple(logits.shape[:-1]):
        raise TypeError(f"{name} of shape {tuple(t.shape)} must be integer class indices, "
                        f"got dtype {t.dtype}")
    if tuple(t.shape) != tuple(logits.shape):
        raise ValueError(f"{name} must be integer class indices of shape {tuple(logits.shape[:-1])} "
                         f"or class probabilities of shape {tuple(logits.shape)}, got dtype "
                         f"{t.dtype} and shape {tuple(t.shape)}")
    return probability_targets(t, logits.shape, logits.dtype, xp, name, sum_to_one=sum_to_one)


def reduce(per, reduction, xp):
    """Apply ``reduction`` to the per-sample losses."""
    if reduction == "none":
        return per
    if reduction == "sum":
        return xp.sum(per)
    return xp.mean(per)


def grad_scale(per_shape, reduction):
    """Factor by which per-sample gradients are multiplied for ``reduction``."""
    if reduction == "mean":
        n = 1
        for s in per_shape:
            n *= int(s)
        return 1.0 / n
    return 1.0


def finish(per, grad, reduction, return_grad, xp):
    """Reduce the per-sample loss and scale the per-sample gradient to match."""
    value = reduce(per, reduction, xp)
    if not return_grad:
        return value
    return value, grad * grad_scale(per.shape, reduction)


def check_nonempty(per_shape, name="logits"):
    n = 1
    for s in per_shape:
        n *= int(s)
    if n == 0:
        raise ValueError(f"{name} must hold at least one sample")


# ---- numerically stable building blocks (pure array API) ------------------------------------
def logsumexp(z, xp, axis=-1, keepdims=False):
    m = xp.max(z, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = xp.log(xp.sum(xp.exp(z - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def cross_entropy_rows(z, t, xp):
    """sum_i t_i (logsumexp(z) - z_i) along the last axis, on max-shifted logits so that the
    large common offset cancels exactly (float32 logits of size 1e4 keep full precision)."""
    m = xp.max(z, axis=-1, keepdims=True)
    zs = z - m
    lse = xp.log(xp.sum(xp.exp(zs), axis=-1))
    return xp.sum(t, axis=-1) * lse - xp.sum(t * zs, axis=-1)


def softmax(z, xp, axis=-1):
    m = xp.max(z, axis=axis, keepdims=True)
    e = xp.exp(z - m)
    return e / xp.sum(e, axis=axis, keepdims=True)


def log_softmax(z, xp, axis=-1):
    return z - logsumexp(z, xp, axis=axis, keepdims=True)


def sigmoid(z, xp):
    e = xp.exp(-xp.abs(z))
    one = xp.ones_like(z)
    return xp.where(z >= 0, one / (one + e), e / (one + e))


def softplus(z, xp):
    """log(1 + e^z) without overflow."""
    return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def softmax_backward(p, g, xp, axis=-1):
    """Gradient w.r.t. logits of a function of ``p = softmax(z)``, given ``g = dF/dp``."""
    return p * (g - xp.sum(p * g, axis=axis, keepdims=True))
