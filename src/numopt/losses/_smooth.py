"""Smoothed accuracy and smoothed F1: replace argmax by softmax.

J. Su, "Miscellaneous talk on function smoothing: differentiable approximations of
non-differentiable functions", kexue.fm, 2019, https://kexue.fm/archives/6620; J. Su, "How to
train your accuracy?", kexue.fm, 2022, https://kexue.fm/archives/9098.
"""
from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

from probspace._validation import check_positive
from probspace.typing import Array, ArrayLike, Namespace

from ._common import Reduction
from ._common import (_as_array, as_logits, check_bool, check_nonempty, check_reduction,
                      check_temperature,
                      class_targets, finish, namespace, numba_rung, probability_targets,
                      sigmoid, softmax, softmax_backward)
from ._numpy_rung import (DEFER, as_c, class_indices, elementwise, finish_rows, grad_scale,
                          kernel_float, plain_targets, run_rows)
from ._numpy_rung import RungResult

__all__ = ["smoothed_accuracy", "smoothed_f1"]


@overload
def smoothed_accuracy(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = ...,
                      reduction: Reduction = ..., return_grad: Literal[False] = ...) -> Array: ...


@overload
def smoothed_accuracy(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = ...,
                      reduction: Reduction = ..., return_grad: Literal[True]
                      ) -> tuple[Array, Array]: ...


@overload
def smoothed_accuracy(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = ...,
                      reduction: Reduction = ..., return_grad: bool = ...
                      ) -> Array | tuple[Array, Array]: ...


def smoothed_accuracy(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = 1.0,
                      reduction: Reduction = "mean",
                      return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""Smoothed-accuracy loss, ``1 - <t, softmax(z / temperature)>``.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    Accuracy is ``<onehot(y), onehot(argmax z)>``; replacing ``onehot(argmax)`` by
    ``softmax(z / T)`` gives a differentiable accuracy, and this function returns the loss
    ``1 - smoothed accuracy`` (to be minimised).  ``T -> 0`` recovers the 0/1 error.

    Parameters
    ----------
    logits : array
        Binary: scores of shape ``(n,)`` (the smooth prediction is ``sigmoid(z / T)``).
        Multiclass: ``(..., C)`` with at least two axes (a single sample is ``(1, C)``).
    targets : array
        Binary (same shape as ``logits``): labels in {0, 1} or probabilities.  Multiclass:
        integer class indices of shape ``logits.shape[:-1]`` or class probabilities of shape
        ``logits.shape``.
    temperature : float > 0
    reduction : {"mean", "sum", "none"}
    return_grad : bool
        Also return the gradient with respect to ``logits``.

    Returns
    -------
    value : array
    grad : array, optional

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import smoothed_accuracy
    >>> float(smoothed_accuracy(np.array([[0.0, 0.0]]), np.array([1])))
    0.5
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    T = check_positive(temperature, "temperature")
    if numba_rung(xp):
        z = as_logits(logits, xp, ndim_min=0, check_finite=False)
        check_temperature(z, T, xp)
        out = _smoothed_accuracy_numba(z,
                                       targets, T, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=0)
    check_temperature(z, T, xp)
    t = _as_array(targets, xp)
    if _is_binary(z, t):
        return _binary_smoothed(z, t, T, reduction, return_grad, xp)
    if z.ndim < 1:
        raise ValueError("multiclass logits need a class axis")
    tt = class_targets(t, z, xp)
    check_nonempty(z.shape[:-1])
    p = softmax(z / T, xp)
    per = 1.0 - xp.sum(tt * p, axis=-1)
    grad = softmax_backward(p, -tt, xp) / T if return_grad else None
    return finish(per, grad, reduction, return_grad, xp)


def _is_binary(z: Array, t: Array) -> bool:
    """The shape rule: 1-D (or 0-D) logits with targets of the same shape are binary; otherwise
    the last axis of ``logits`` holds the classes."""
    return tuple(t.shape) == tuple(z.shape) and z.ndim <= 1


def _binary_smoothed(z: Array, t: Array, T: float, reduction: str, return_grad: bool,
                     xp: Namespace) -> Array | tuple[Array, Array]:
    t = probability_targets(t, z.shape, z.dtype, xp)
    check_nonempty(z.shape)
    p = sigmoid(z / T, xp)
    q = sigmoid(-z / T, xp)
    per = t * q + (1.0 - t) * p
    grad = (1.0 - 2.0 * t) * p * q / T if return_grad else None
    return finish(per, grad, reduction, return_grad, xp)


@overload
def smoothed_f1(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = ...,
                reduction: Reduction = ..., return_grad: Literal[False] = ...) -> Array: ...


@overload
def smoothed_f1(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = ...,
                reduction: Reduction = ..., return_grad: Literal[True]) -> tuple[Array, Array]: ...


@overload
def smoothed_f1(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = ...,
                reduction: Reduction = ..., return_grad: bool = ...
                ) -> Array | tuple[Array, Array]: ...


def smoothed_f1(logits: ArrayLike, targets: ArrayLike, /, *, temperature: float = 1.0,
                reduction: Reduction = "mean",
                return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""Smoothed-F1 loss, ``1 - 2 sum(t p) / sum(t + p)`` with ``p`` the soft prediction.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    F1 = 2 TP / (2 TP + FP + FN) = 2 sum(t * yhat) / (sum t + sum yhat) for 0/1 predictions;
    the smooth version puts ``p = sigmoid(z / T)`` (binary) or ``softmax(z / T)`` (multiclass)
    in place of ``yhat``.  F1 is a batch-level quantity: the sums run over the whole batch.

    Parameters
    ----------
    logits : array
        Binary: scores of shape ``(n,)``.  Multiclass: ``(..., C)`` with at least two axes; one
        F1 per class, pooled over the leading axes.
    targets : array
        Binary: labels in {0, 1} or probabilities of the shape of ``logits``.  Multiclass:
        integer class indices of shape ``logits.shape[:-1]`` or class probabilities of shape
        ``logits.shape``.
    temperature : float > 0
    reduction : {"mean", "sum", "none"}
        Multiclass: ``"mean"`` is the macro average of the per-class losses ``1 - F1_c``,
        ``"sum"`` their sum, ``"none"`` the array of shape ``(C,)``.  Binary: a scalar in every
        case (the positive class's F1).
    return_grad : bool

    Returns
    -------
    value : array
    grad : array, optional

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import smoothed_f1
    >>> z = np.array([50.0, -50.0, 50.0]); t = np.array([1, 0, 0])
    >>> round(float(smoothed_f1(z, t)), 6)  # hard F1 = 2*1/(1+2) = 2/3
    0.333333
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    T = check_positive(temperature, "temperature")
    if numba_rung(xp):
        z = as_logits(logits, xp, ndim_min=0, check_finite=False)
        check_temperature(z, T, xp)
        out = _smoothed_f1_numba(z,
                                 targets, T, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=0)
    check_temperature(z, T, xp)
    t = _as_array(targets, xp)
    if _is_binary(z, t):
        t = probability_targets(t, z.shape, z.dtype, xp)
        check_nonempty(z.shape)
        p = sigmoid(z / T, xp)
        q = sigmoid(-z / T, xp)
        A = xp.sum(t * p)
        B = xp.sum(t) + xp.sum(p)
        value = 1.0 - 2.0 * A / B
        if not return_grad:
            return value
        dF_dp = 2.0 * t / B - 2.0 * A / (B * B)
        return value, -dF_dp * p * q / T
    if z.ndim < 1:
        raise ValueError("multiclass logits need a class axis")
    tt = class_targets(t, z, xp)
    check_nonempty(z.shape[:-1])
    p = softmax(z / T, xp)
    lead = tuple(range(z.ndim - 1))
    A = xp.sum(tt * p, axis=lead)
    B = xp.sum(tt, axis=lead) + xp.sum(p, axis=lead)
    per = 1.0 - 2.0 * A / B
    if reduction == "none":
        value = per
        scale = 1.0
    elif reduction == "sum":
        value = xp.sum(per)
        scale = 1.0
    else:
        value = xp.mean(per)
        scale = 1.0 / z.shape[-1]
    if not return_grad:
        return value
    dF_dp = 2.0 * tt / B - 2.0 * A / (B * B)
    grad = softmax_backward(p, -scale * dF_dp, xp) / T
    return value, grad


# ---- NumPy rung -----------------------------------------------------------------------------
def _rows_and_targets(z: np.ndarray, targets: ArrayLike
                      ) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray] | None:
    """(n, C, z2, y, t2) for a multiclass call the kernels can take, or None."""
    if z.ndim < 1 or z.size == 0:
        return None
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    n = math.prod(lead)
    z2 = as_c(z).reshape(n, C)
    y = class_indices(targets, lead, C)
    if y is not None:
        return n, C, z2, y, z2[:0]
    t = plain_targets(targets, z.shape)
    if t is None or t.dtype.kind != "f":
        return None
    return n, C, z2, np.empty(0, np.int64), t.reshape(n, C)


def _smoothed_accuracy_numba(z: np.ndarray, targets: ArrayLike, T: float, reduction: str,
                             return_grad: bool) -> RungResult:
    if not kernel_float(z) or z.size == 0:
        return DEFER
    if z.ndim <= 1:
        t = plain_targets(targets, z.shape)
        if t is None:
            return DEFER
        from ._numba_smooth import binary_smoothed_accuracy_blocks
        return elementwise(binary_smoothed_accuracy_blocks, z, t, (1.0 / T,), reduction,
                           return_grad, 60)
    rt = _rows_and_targets(z, targets)
    if rt is None:
        return DEFER
    n, C, z2, y, t2 = rt
    from ._numba_expected_cost import expected_cost_rows
    loss = np.empty(n)
    grad = np.empty_like(z2) if return_grad else z2[:0]
    scale = grad_scale(n, reduction)
    tol = 1e-4 if z.dtype == np.float32 else 1e-10
    no_table = np.empty((0, 0), z2.dtype)

    def rows(r0: int, r1: int) -> int:
        work = np.empty(C, z2.dtype)
        return expected_cost_rows(z2, y, t2, no_table, 0, 1.0 / T, 0, 0.0, tol, scale,
                                  return_grad, loss, grad, work, r0, r1)
    if run_rows(rows, n, 12 * C, f"smoothed_accuracy/{z2.dtype}"):
        return DEFER
    return finish_rows(loss, grad.reshape(z.shape) if return_grad else None, z.shape[:-1],
                       z.dtype, reduction, return_grad)


def _smoothed_f1_numba(z: np.ndarray, targets: ArrayLike, T: float, reduction: str,
                       return_grad: bool) -> RungResult:
    from . import _numba_smooth as K
    from ._numba_crossentropy import BLOCK
    from ._threads import run, status
    if not kernel_float(z) or z.size == 0:
        return DEFER
    dt = z.dtype
    if z.ndim <= 1:
        t = plain_targets(targets, z.shape)
        if t is None:
            return DEFER
        zf, tf = as_c(z).reshape(-1), t.reshape(-1)
        nb = -(-zf.size // BLOCK)
        partial = np.empty((nb, 3))
        pq = np.empty_like(zf) if return_grad else zf[:0]
        if status(run(lambda b0, b1: K.binary_f1_pass1(zf, tf, 1.0 / T, return_grad, pq,
                                                      np.empty(BLOCK, zf.dtype), partial,
                                                      b0, b1), nb, 60 * BLOCK,
                      f"binary_f1/{dt}")):
            return DEFER
        A, P, S = partial.sum(axis=0)
        B = S + P
        value = dt.type(1.0 - 2.0 * A / B)
        if not return_grad:
            return value
        run(lambda b0, b1: K.binary_f1_pass2(tf, 2.0 / B, 2.0 * A / (B * B), 1.0 / T, pq,
                                             b0, b1), nb, 2 * BLOCK, f"binary_f1_grad/{dt}")
        return value, pq.reshape(z.shape)
    rt = _rows_and_targets(z, targets)
    if rt is None:
        return DEFER
    n, C, z2, y, t2 = rt
    nb = -(-n // K.ROW_BLOCK)
    partial = np.empty((nb, 3, C))
    p = np.empty_like(z2)
    tol = 1e-4 if dt == np.float32 else 1e-10
    if status(run(lambda b0, b1: K.multiclass_f1_pass1(z2, y, t2, 1.0 / T, tol, p, partial,
                                                      b0, b1), nb, 12 * C * K.ROW_BLOCK,
                      f"f1/{dt}")):
        return DEFER
    A, P, S = partial.sum(axis=0)
    B = S + P
    per = 1.0 - 2.0 * A / B
    if reduction == "none":
        value = per.astype(dt)
        scale = 1.0
    elif reduction == "sum":
        value = dt.type(per.sum())
        scale = 1.0
    else:
        value = dt.type(per.mean())
        scale = 1.0 / C
    if not return_grad:
        return value
    alpha = scale * 2.0 / B
    beta = scale * 2.0 * A / (B * B)
    run(lambda r0, r1: K.multiclass_f1_pass2(y, t2, alpha, beta, 1.0 / T, p, r0, r1), n, 4 * C,
        f"f1_grad/{dt}")
    return value, p.reshape(z.shape)
