"""ZLPR: multi-label "softmax + cross-entropy" and its soft-label version.

J. Su, M. Zhu, A. Murtadha, S. Pan, B. Wen, Y. Liu, "ZLPR: a novel loss for multi-label
classification", 2022, arXiv:2208.02955; J. Su, "Extending 'softmax + cross entropy' to
multi-label classification", kexue.fm, 2020, https://kexue.fm/archives/7359; soft labels:
J. Su, "ZLPR: a novel loss for multi-label classification", kexue.fm, 2022,
https://kexue.fm/archives/9064.
"""
from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

from probspace._validation import check_choice, check_int, check_probability
from probspace.typing import Array, ArrayLike, Namespace

from ._common import Reduction
from ._common import (as_logits, check_bool, check_nonempty, check_reduction,
                      device_of, finish, logsumexp, namespace, numba_rung, probability_targets)
from ._numpy_rung import (DEFER, as_c, finish_rows, grad_scale, kernel_float, plain_targets,
                          run_rows)
from ._numpy_rung import RungResult

__all__ = ["zlpr", "zlpr_soft"]

_NEG_INF = -math.inf


def _lse_with_zero(u: Array, xp: Namespace) -> tuple[Array, Array]:
    """log(1 + sum(exp(u), axis=-1)) for u possibly containing -inf; returns (value, weights)
    where weights = exp(u - value) = d value / d u."""
    if u.shape[-1] == 0:                         # no labels: log(e^0) = 0
        return xp.zeros(u.shape[:-1], dtype=u.dtype, device=device_of(u)), u
    m = xp.max(u, axis=-1, keepdims=True)
    m = xp.maximum(m, xp.zeros_like(m))          # includes the constant term e^0
    e = xp.exp(u - m)
    S = xp.exp(-m) + xp.sum(e, axis=-1, keepdims=True)
    return xp.squeeze(m + xp.log(S), axis=-1), e / S


def _binary_targets(targets: ArrayLike, z: Array, xp: Namespace) -> Array:
    t = probability_targets(targets, z.shape, z.dtype, xp)
    if t.size and bool(xp.any((t != 0) & (t != 1))):
        raise ValueError("targets must be 0/1 multi-label indicators (use zlpr_soft for soft labels)")
    return t


@overload
def zlpr(logits: ArrayLike, targets: ArrayLike, /, *, threshold_index: int | None = ...,
         k: int | None = ..., topk_method: Literal["recursion", "newton"] = ...,
         reduction: Reduction = ..., return_grad: Literal[False] = ...) -> Array: ...


@overload
def zlpr(logits: ArrayLike, targets: ArrayLike, /, *, threshold_index: int | None = ...,
         k: int | None = ..., topk_method: Literal["recursion", "newton"] = ...,
         reduction: Reduction = ..., return_grad: Literal[True]) -> tuple[Array, Array]: ...


@overload
def zlpr(logits: ArrayLike, targets: ArrayLike, /, *, threshold_index: int | None = ...,
         k: int | None = ..., topk_method: Literal["recursion", "newton"] = ...,
         reduction: Reduction = ..., return_grad: bool = ...) -> Array | tuple[Array, Array]: ...


def zlpr(logits: ArrayLike, targets: ArrayLike, /, *, threshold_index: int | None = None,
         k: int | None = None, topk_method: Literal["recursion", "newton"] = "recursion",
         reduction: Reduction = "mean",
         return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""ZLPR multi-label loss (multi-label softmax + cross-entropy with threshold 0).

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    ``log(1 + sum_{i in neg} e^{s_i}) + log(1 + sum_{j in pos} e^{-s_j})``: every positive score
    is pushed above 0 and every negative one below, with no class-imbalance weighting.

    Parameters
    ----------
    logits : array, shape (..., C)
        Scores ``s``.
    targets : array, shape (..., C)
        0/1 (or boolean) indicators of the positive labels.
    threshold_index : int, optional
        Column of ``logits`` that is a learned threshold class ``s_0``:
        ``log(e^{s_0} + sum_neg e^{s_i}) + log(e^{-s_0} + sum_pos e^{-s_j})`` (the same as the
        threshold-0 loss of ``s - s_0``).  That column's target entry is ignored and it receives
        gradient like any other logit.
    k : int, optional
        Fixed-``k`` "combinatorial softmax": every row has exactly ``k`` positives and the loss is
        ``log Z_k - sum_{j in pos} s_j`` with ``Z_k = sum_{|S|=k} exp(sum_{i in S} s_i)`` (a
        softmax over the ``C choose k`` label sets).  Not combinable with ``threshold_index``.
    topk_method : {"recursion", "newton"}
        How ``Z_k`` is computed.  ``"newton"``: Newton's identities
        ``m Z_m = sum_{i=1}^m (-1)^{i-1} Z_{m-i} S_i``, ``S_i = sum_j e^{i s_j}`` (Su's recipe;
        alternating sums, so accuracy degrades when ``k`` is large or the scores are spread out --
        a non-positive ``Z_k`` raises ``FloatingPointError``).  ``"recursion"`` (default): the
        elementary-symmetric recursion ``e_m(x_1..x_n) = e_m(x_1..x_{n-1}) + x_n e_{m-1}(...)``,
        all terms positive, stable for logits of any size; the gradient (the inclusion
        probabilities of each label) comes from a forward-backward pass.  The generic rung runs
        it in the log domain; the NumPy rung runs it on ``exp(s - max s)`` directly when every
        term stays inside the float64 range (``k (max s - min s) < 600`` and
        ``log binom(C, k) < 600``) and in the log domain otherwise, row by row.
    reduction : {"mean", "sum", "none"}
    return_grad : bool

    Returns
    -------
    value : array
    grad : array, optional

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import zlpr
    >>> round(float(zlpr(np.array([2.0, -1.0, 0.5, -3.0]), np.array([1, 0, 1, 0]))), 6)
    0.903969
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    check_choice(topk_method, "topk_method", ("recursion", "newton"))
    if numba_rung(xp):
        out = _zlpr_numba(as_logits(logits, xp, ndim_min=1, check_finite=False), targets,
                          threshold_index, k, topk_method, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=1)
    t = _binary_targets(targets, z, xp)
    check_nonempty(z.shape[:-1])
    C = z.shape[-1]
    if k is not None:
        if threshold_index is not None:
            raise ValueError("k and threshold_index cannot be combined")
        kk = check_int(k, "k", minimum=1)
        if kk > C:
            raise ValueError(f"k={kk} exceeds the number of classes {C}")
        if bool(xp.any(xp.sum(t, axis=-1) != kk)):
            raise ValueError(f"with k={kk} every row of targets must have exactly {kk} positives")
        if topk_method == "newton":
            logz, incl = _topk_newton(z, kk, return_grad, xp)
        else:
            logz, incl = _topk_recursion(z, kk, return_grad, xp)
        per = logz - xp.sum(t * z, axis=-1)
        grad = incl - t if return_grad else None
        return finish(per, grad, reduction, return_grad, xp)
    valid = xp.ones_like(z) > 0
    s = z
    if threshold_index is not None:
        j = check_int(threshold_index, "threshold_index")
        if not -C <= j < C:
            raise ValueError(f"threshold_index={j} is out of range for {C} classes")
        j %= C
        col = xp.arange(C, device=device_of(z)) == j
        s0 = z[..., j:j + 1]
        s = z - s0
        valid = xp.broadcast_to(~col, z.shape)
    neg_inf = xp.full_like(z, _NEG_INF)
    u_neg = xp.where(valid & (t == 0), s, neg_inf)
    u_pos = xp.where(valid & (t == 1), -s, neg_inf)
    l1, w1 = _lse_with_zero(u_neg, xp)
    l2, w2 = _lse_with_zero(u_pos, xp)
    per = l1 + l2
    grad = None
    if return_grad:
        g = w1 - w2                                # d/ds of the shifted loss
        if threshold_index is not None:
            gs0 = -xp.sum(g, axis=-1, keepdims=True)
            g = xp.where(col, xp.broadcast_to(gs0, z.shape), g)
        grad = g
    return finish(per, grad, reduction, return_grad, xp)


def _shift_right(a: Array, xp: Namespace) -> Array:
    """a[..., j] -> a[..., j-1] with -inf entering at j = 0."""
    pad = xp.full_like(a[..., :1], _NEG_INF)
    return xp.concat([pad, a[..., :-1]], axis=-1)


def _topk_recursion(z: Array, k: int, return_grad: bool,
                    xp: Namespace) -> tuple[Array, Array | None]:
    """log e_k(exp(z)) along the last axis and its gradient (inclusion probabilities)."""
    C = z.shape[-1]
    lead = z.shape[:-1]
    init = xp.concat([xp.zeros(lead + (1,), dtype=z.dtype, device=device_of(z)),
                      xp.full(lead + (k,), _NEG_INF, dtype=z.dtype, device=device_of(z))], axis=-1)
    fwd = [init]
    for i in range(C):
        f = fwd[-1]
        fwd.append(xp.logaddexp(f, z[..., i:i + 1] + _shift_right(f, xp)))
    logz = fwd[-1][..., k]
    if not return_grad:
        return logz, None
    bwd: list[Array] = [None] * (C + 1)
    bwd[C] = init
    for i in range(C - 1, -1, -1):
        b = bwd[i + 1]
        bwd[i] = xp.logaddexp(b, z[..., i:i + 1] + _shift_right(b, xp))
    cols = []
    for i in range(C):
        # log sum_{j=0}^{k-1} e_j(x_<i) e_{k-1-j}(x_>i)
        f = fwd[i][..., :k]
        b = xp.flip(bwd[i + 1][..., :k], axis=-1)
        cols.append(z[..., i] + logsumexp(f + b, xp, axis=-1) - logz)
    return logz, xp.exp(xp.stack(cols, axis=-1))


def _topk_newton(z: Array, k: int, return_grad: bool,
                 xp: Namespace) -> tuple[Array, Array | None]:
    """Su's recipe: Newton's identities on x = exp(z - max z)."""
    m = xp.max(z, axis=-1, keepdims=True)
    x = xp.exp(z - m)
    S = [None] + [xp.sum(x ** i, axis=-1) for i in range(1, k + 1)]
    Z = [xp.ones_like(S[1])]
    for mm in range(1, k + 1):
        acc = xp.zeros_like(S[1])
        for i in range(1, mm + 1):
            acc = acc + (-1) ** (i - 1) * Z[mm - i] * S[i]
        Z.append(acc / mm)
    if bool(xp.any(Z[k] <= 0)):
        raise FloatingPointError("Newton's identities lost all precision (Z_k <= 0); use "
                                 "topk_method='recursion'")
    logz = xp.log(Z[k]) + k * xp.squeeze(m, axis=-1)
    if not return_grad:
        return logz, None
    # d log Z_k / d z_i = x_i e_{k-1}(x without i) / Z_k, e_{k-1}(x \ i) = sum_j (-x_i)^j Z_{k-1-j}.
    e = xp.zeros_like(x)
    for j in range(k):
        e = e + (-x) ** j * xp.expand_dims(Z[k - 1 - j], axis=-1)
    return logz, x * e / xp.expand_dims(Z[k], axis=-1)


@overload
def zlpr_soft(logits: ArrayLike, targets: ArrayLike, /, *, eps: float = ...,
              reduction: Reduction = ..., return_grad: Literal[False] = ...) -> Array: ...


@overload
def zlpr_soft(logits: ArrayLike, targets: ArrayLike, /, *, eps: float = ...,
              reduction: Reduction = ..., return_grad: Literal[True]) -> tuple[Array, Array]: ...


@overload
def zlpr_soft(logits: ArrayLike, targets: ArrayLike, /, *, eps: float = ...,
              reduction: Reduction = ..., return_grad: bool = ...
              ) -> Array | tuple[Array, Array]: ...


def zlpr_soft(logits: ArrayLike, targets: ArrayLike, /, *, eps: float = 0.0,
              reduction: Reduction = "mean",
              return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""Soft-label ZLPR: ``log(1 + sum_i t_i e^{-s_i}) + log(1 + sum_i (1 - t_i) e^{s_i})``.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    Reduces to :func:`zlpr` for 0/1 targets; for a single sample its minimiser satisfies
    ``t_i = sigmoid(2 s_i)``, i.e. ``s_i = logit(t_i) / 2`` (so probabilities are read off as
    ``sigmoid(2 s)``, not ``sigmoid(s)``).

    Parameters
    ----------
    logits : array, shape (..., C)
    targets : array, shape (..., C)
        Soft labels in [0, 1].
    eps : float in [0, 0.5)
        Labels below ``eps`` are treated as exactly 0 and labels above ``1 - eps`` as exactly 1
        (the intent of the reference implementation's clip-and-mask: there ``t`` is clipped to
        ``[eps, 1 - eps]`` before ``log t`` and the entries that were outside are re-masked to
        ``-inf``, so that masked logits such as ``-1e7`` cannot leak through ``log eps``).
        The default 0 changes nothing: ``log t`` and ``log(1 - t)`` are taken only where they
        are finite and the other entries are masked to ``-inf`` exactly, so no clipping is
        needed.
    reduction : {"mean", "sum", "none"}
    return_grad : bool

    Returns
    -------
    value : array
    grad : array, optional

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import zlpr_soft
    >>> s = np.array([2.0, -1.0, 0.5, -3.0])
    >>> round(float(zlpr_soft(s, np.array([1.0, 0.0, 1.0, 0.0]))), 6)
    0.903969
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    e = check_probability(eps, "eps")
    if e >= 0.5:
        raise ValueError(f"eps must be below 0.5, got {eps!r}")
    if numba_rung(xp):
        out = _zlpr_soft_numba(as_logits(logits, xp, ndim_min=1, check_finite=False), targets,
                               e, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=1)
    t = probability_targets(targets, z.shape, z.dtype, xp)
    check_nonempty(z.shape[:-1])
    if e > 0:
        t = xp.where(t < e, xp.zeros_like(t), xp.where(t > 1 - e, xp.ones_like(t), t))
    one = xp.ones_like(t)
    neg_inf = xp.full_like(z, _NEG_INF)
    log_t = xp.where(t > 0, xp.log(xp.where(t > 0, t, one)), neg_inf)
    log_1mt = xp.where(t < 1, xp.log1p(-xp.where(t < 1, t, xp.zeros_like(t))), neg_inf)
    u_pos = xp.where(t > 0, log_t - z, neg_inf)
    u_neg = xp.where(t < 1, log_1mt + z, neg_inf)
    l1, w1 = _lse_with_zero(u_pos, xp)
    l2, w2 = _lse_with_zero(u_neg, xp)
    per = l1 + l2
    grad = (w2 - w1) if return_grad else None
    return finish(per, grad, reduction, return_grad, xp)


# ---- NumPy rung -----------------------------------------------------------------------------
def _rows(z: np.ndarray, targets: ArrayLike
          ) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """(n, C, z2, t2) for a call the kernels can take, or None (the generic path decides)."""
    if not kernel_float(z) or z.size == 0:
        return None
    t = plain_targets(targets, z.shape)
    if t is None:
        return None
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    n = math.prod(lead)
    return n, C, as_c(z).reshape(n, C), t.reshape(n, C)


def _zlpr_numba(z: np.ndarray, targets: ArrayLike, threshold_index: int | None, k: int | None,
                topk_method: str, reduction: str, return_grad: bool) -> RungResult:
    from . import _numba_zlpr as K
    rt = _rows(z, targets)
    if rt is None:
        return DEFER
    n, C, z2, t2 = rt
    thr = -1
    if k is not None:
        if threshold_index is not None:
            return DEFER
        kk = check_int(k, "k", minimum=1)
        if kk > C:
            return DEFER
    elif threshold_index is not None:
        thr = check_int(threshold_index, "threshold_index")
        if not -C <= thr < C:
            return DEFER
        thr %= C
    loss = np.empty(n)
    grad = np.empty_like(z2) if return_grad else z2[:0]
    scale = grad_scale(n, reduction)
    if k is None:
        def rows(r0: int, r1: int) -> int:
            return K.zlpr_rows(z2, t2, thr, scale, return_grad, loss, grad,
                               np.empty(C, z2.dtype), r0, r1)
        work = 24 * C
    elif topk_method == "newton":
        def rows(r0: int, r1: int) -> int:
            return K.zlpr_topk_newton_rows(z2, t2, kk, scale, return_grad, loss, grad,
                                           np.empty(C), np.empty(C), np.empty(2 * kk + 1),
                                           r0, r1)
        work = 22 * C * kk
    else:
        log_binom = math.lgamma(C + 1) - math.lgamma(kk + 1) - math.lgamma(C - kk + 1)

        def rows(r0: int, r1: int) -> int:
            L = K.LANES
            return K.zlpr_topk_rows(z2, t2, kk, log_binom, scale, return_grad, loss, grad,
                                    np.empty((C, L)), np.empty((C + 1, kk + 1, L)),
                                    np.empty((C + 1, kk + 1, L)), r0, r1)
        work = 40 * C * kk
    if run_rows(rows, n, work, f"zlpr/{'hard' if k is None else topk_method}/{z2.dtype}"):
        return DEFER
    return finish_rows(loss, grad.reshape(z.shape) if return_grad else None, z.shape[:-1],
                       z.dtype, reduction, return_grad)


def _zlpr_soft_numba(z: np.ndarray, targets: ArrayLike, eps: float, reduction: str,
                     return_grad: bool) -> RungResult:
    from . import _numba_zlpr as K
    rt = _rows(z, targets)
    if rt is None:
        return DEFER
    n, C, z2, t2 = rt
    loss = np.empty(n)
    grad = np.empty_like(z2) if return_grad else z2[:0]
    scale = grad_scale(n, reduction)
    if run_rows(lambda r0, r1: K.zlpr_soft_rows(z2, t2, eps, scale, return_grad, loss, grad,
                                                np.empty((2, C), z2.dtype), r0, r1),
                n, 28 * C, f"zlpr_soft/{z2.dtype}"):
        return DEFER
    return finish_rows(loss, grad.reshape(z.shape) if return_grad else None, z.shape[:-1],
                       z.dtype, reduction, return_grad)
