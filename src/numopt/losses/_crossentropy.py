"""Baseline losses: sigmoid (binary) and softmax (multiclass) cross-entropy."""
from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

from probspace._validation import check_probability
from probspace.typing import Array, ArrayLike

from ._common import Reduction
from ._common import (as_logits, check_bool, check_nonempty, check_reduction, class_targets,
                      cross_entropy_rows, finish, namespace, numba_rung, probability_targets,
                      softmax)
from ._numpy_rung import (DEFER, as_c, class_indices, elementwise, finish_rows, grad_scale,
                          kernel_float, plain_targets, run_rows)
from ._numpy_rung import RungResult

__all__ = ["sigmoid_cross_entropy", "softmax_cross_entropy"]


@overload
def sigmoid_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *, reduction: Reduction = ...,
                          return_grad: Literal[False] = ...) -> Array: ...


@overload
def sigmoid_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *, reduction: Reduction = ...,
                          return_grad: Literal[True]) -> tuple[Array, Array]: ...


@overload
def sigmoid_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *, reduction: Reduction = ...,
                          return_grad: bool = ...) -> Array | tuple[Array, Array]: ...


def sigmoid_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *,
                          reduction: Reduction = "mean",
                          return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""Binary cross-entropy on logits, :math:`\log(1+e^{z}) - t z`.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    Parameters
    ----------
    logits : array, shape (n,) (any shape works elementwise)
        Real scores :math:`z`; the model's probability of class 1 is :math:`\sigma(z)`.
    targets : array, same shape as ``logits``
        Labels in {0, 1} or probabilities in [0, 1] (soft labels).
    reduction : {"mean", "sum", "none"}
        How per-element losses are combined.
    return_grad : bool
        Also return the gradient with respect to ``logits``, :math:`\sigma(z) - t`
        (scaled by ``1/n`` for ``"mean"``).

    Returns
    -------
    value : array
        Scalar, or per-element losses for ``reduction="none"``; dtype of ``logits``.
    grad : array, optional
        Same shape and dtype as ``logits``.

    Notes
    -----
    Computed as ``max(z, 0) - t z + log1p(exp(-|z|))``, exact for any finite ``z``
    (``z = 1e4`` included) in float32 and float64.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import sigmoid_cross_entropy
    >>> float(sigmoid_cross_entropy(np.array([0.0]), np.array([1])))  # log 2
    0.6931471805599453
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    if numba_rung(xp):
        out = _sigmoid_ce_numba(as_logits(logits, xp, ndim_min=0, check_finite=False),
                                targets, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=0)
    t = probability_targets(targets, z.shape, z.dtype, xp)
    check_nonempty(z.shape)
    # One exponential serves both the loss and the gradient.
    e = xp.exp(-xp.abs(z))
    per = xp.maximum(z, xp.zeros_like(z)) - t * z + xp.log1p(e)
    grad = None
    if return_grad:
        r = 1.0 / (1.0 + e)
        grad = xp.where(z >= 0, r, e * r) - t
    return finish(per, grad, reduction, return_grad, xp)


@overload
def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *,
                          label_smoothing: float = ..., reduction: Reduction = ...,
                          return_grad: Literal[False] = ...) -> Array: ...


@overload
def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *,
                          label_smoothing: float = ..., reduction: Reduction = ...,
                          return_grad: Literal[True]) -> tuple[Array, Array]: ...


@overload
def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *,
                          label_smoothing: float = ..., reduction: Reduction = ...,
                          return_grad: bool = ...) -> Array | tuple[Array, Array]: ...


def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike, /, *, label_smoothing: float = 0.0,
                          reduction: Reduction = "mean",
                          return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""Softmax cross-entropy, :math:`\mathrm{logsumexp}(z) - \sum_i t_i z_i`.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    Parameters
    ----------
    logits : array, shape (..., C)
        Class scores; the last axis holds the classes.
    targets : array
        Integer class indices of shape ``logits.shape[:-1]``, or class probabilities of shape
        ``logits.shape`` (non-negative, summing to one along the last axis).
    label_smoothing : float in [0, 1)
        Mixes the targets with the uniform distribution: ``t <- (1 - e) t + e / C``.
    reduction : {"mean", "sum", "none"}
        Combine the per-sample losses (shape ``logits.shape[:-1]``).
    return_grad : bool
        Also return the gradient ``softmax(z) - t`` (scaled by ``1/n`` for ``"mean"``).

    Returns
    -------
    value : array
    grad : array, optional

    Notes
    -----
    The log-sum-exp subtracts the row maximum, so logits of size 1e4 are handled exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import softmax_cross_entropy
    >>> round(float(softmax_cross_entropy(np.zeros((1, 4)), np.array([2]))), 6)  # log 4
    1.386294
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    eps = check_probability(label_smoothing, "label_smoothing", open_right=True)
    if numba_rung(xp):
        out = _softmax_ce_numba(as_logits(logits, xp, ndim_min=1, check_finite=False),
                                targets, eps, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=1)
    C = z.shape[-1]
    t = class_targets(targets, z, xp)
    check_nonempty(z.shape[:-1])
    if eps > 0:
        t = (1.0 - eps) * t + eps / C
    per = cross_entropy_rows(z, t, xp)
    grad = softmax(z, xp) - t if return_grad else None
    return finish(per, grad, reduction, return_grad, xp)


def _sigmoid_ce_numba(z: np.ndarray, targets: ArrayLike, reduction: str,
                      return_grad: bool) -> RungResult:
    """NumPy rung: one fused pass (``_numba_crossentropy.sigmoid_ce_blocks``)."""
    if not kernel_float(z) or z.size == 0:
        return DEFER
    t = plain_targets(targets, z.shape)
    if t is None:
        return DEFER
    from ._numba_crossentropy import sigmoid_ce_blocks
    return elementwise(sigmoid_ce_blocks, z, t, (), reduction, return_grad, 60)


def _softmax_ce_numba(z: np.ndarray, targets: ArrayLike, eps: float, reduction: str,
                      return_grad: bool) -> RungResult:
    """NumPy rung: fused per-row kernels (``_numba_crossentropy``)."""
    from . import _numba_crossentropy as K
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    n = math.prod(lead)
    if not kernel_float(z) or n == 0 or C == 0:
        return DEFER
    z2 = as_c(z).reshape(n, C)
    loss = np.empty(n)
    grad = np.empty_like(z2) if return_grad else z2[:0]
    scale = grad_scale(n, reduction)
    work = 12 * C
    y = class_indices(targets, lead, C)
    if y is not None:
        status = run_rows(lambda r0, r1: K.softmax_ce_index_rows(
            z2, y, eps, scale, return_grad, loss, grad, np.empty(C, z2.dtype), r0, r1), n, work,
            f"softmax_ce_index/{z2.dtype}")
    else:
        t = plain_targets(targets, z.shape)
        if t is None or t.dtype.kind != "f":
            return DEFER
        t2 = t.reshape(n, C)
        tol = 1e-4 if z.dtype == np.float32 else 1e-10
        status = run_rows(lambda r0, r1: K.softmax_ce_prob_rows(
            z2, t2, eps, tol, scale, return_grad, loss, grad, np.empty(C, z2.dtype), r0, r1),
            n, work, f"softmax_ce_prob/{z2.dtype}")
    if status:
        return DEFER
    return finish_rows(loss, grad.reshape(z.shape) if return_grad else None, lead, z.dtype,
                       reduction, return_grad)
