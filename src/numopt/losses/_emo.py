"""EMO: earth-mover distance optimisation for classification / language modelling
(S. Ren, Z. Wu, K. Q. Zhu, "EMO: Earth mover distance optimization for auto-regressive language
modeling", 2023, arXiv:2310.04691; J. Su, "EMO: a classification loss function designed based on
optimal transport", kexue.fm, 2023, https://kexue.fm/archives/9797)."""
from __future__ import annotations

from typing import Literal, overload

import numpy as np

from probspace import as_float_array
from probspace._validation import check_positive
from probspace.typing import Array, ArrayLike, DType, Namespace

from ._common import Reduction
from ._common import (as_logits, check_bool, check_nonempty, check_not_half, check_reduction,
                      class_targets, cross_entropy_rows, finish, namespace, numba_rung, softmax,
                      softmax_backward)
from ._numpy_rung import DEFER, finish_rows, grad_scale, kernel_float, run_rows
from ._numpy_rung import RungResult

__all__ = ["emo"]


@overload
def emo(logits: ArrayLike, targets: ArrayLike, /, *, cost: ArrayLike | None = ...,
        embeddings: ArrayLike | None = ..., mix: Literal[1, 2] | None = ...,
        mix_cap: float | None = ..., reduction: Reduction = ..., return_grad: Literal[False] = ...
        ) -> Array: ...


@overload
def emo(logits: ArrayLike, targets: ArrayLike, /, *, cost: ArrayLike | None = ...,
        embeddings: ArrayLike | None = ..., mix: Literal[1, 2] | None = ...,
        mix_cap: float | None = ..., reduction: Reduction = ..., return_grad: Literal[True]
        ) -> tuple[Array, Array]: ...


@overload
def emo(logits: ArrayLike, targets: ArrayLike, /, *, cost: ArrayLike | None = ...,
        embeddings: ArrayLike | None = ..., mix: Literal[1, 2] | None = ...,
        mix_cap: float | None = ..., reduction: Reduction = ..., return_grad: bool = ...
        ) -> Array | tuple[Array, Array]: ...


def emo(logits: ArrayLike, targets: ArrayLike, /, *, cost: ArrayLike | None = None,
        embeddings: ArrayLike | None = None, mix: Literal[1, 2] | None = None,
        mix_cap: float | None = 3.0, reduction: Reduction = "mean",
        return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""EMO loss: the earth-mover cost of moving the predicted distribution onto the target.

    NaN or inf in ``logits``, ``targets``, ``cost`` or ``embeddings`` raise ``ValueError``.

    With ``p = softmax(z)`` and target distribution ``tau`` (one-hot for a class index) the loss
    is the transport upper bound ``sum_{i,j} p_i tau_j c_{ij}``, exact (the EMD itself) for
    one-hot targets.  With the 0/1 cost ``c_ij = 1 - delta_ij`` it is ``1 - p_target``
    (the smoothed accuracy).

    Parameters
    ----------
    logits : array, shape (..., C)
    targets : array
        Integer class indices of shape ``logits.shape[:-1]`` or class probabilities of shape
        ``logits.shape``.
    cost : array, shape (C, C), optional
        Class-to-class cost ``c_ij`` (``i`` predicted, ``j`` target).
    embeddings : array, shape (C, d), optional
        Class embeddings (e.g. a frozen LM head); the cost is ``1 - cos(e_i, e_j)``.  Computed in
        embedding dimension without forming the ``C x C`` matrix:
        ``loss = 1 - <sum_i p_i e_i/|e_i|, sum_j tau_j e_j/|e_j|>``.
    mix : {None, 1, 2}
        ``None``: pure EMO.  The official code's mixtures with cross-entropy ``ce``
        (per sample; ``sg`` = stop-gradient):
        ``1``: ``0.5 * (min(sg(ce / emo), mix_cap) * emo + ce)``;
        ``2``: ``sg(emo / ce) * ce + emo``.
        In plain numerics the ``sg`` factors are constants in the gradient: the returned
        gradient is ``0.5 * (r * d emo + d ce)`` (mode 1) or ``r * d ce + d emo`` (mode 2) with
        ``r`` the ratio evaluated at the current logits, i.e. what autodiff through the official
        code produces -- not the derivative of the returned value.  A zero denominator makes the
        ratio ``mix_cap`` (mode 1) or 0 (mode 2).
    mix_cap : float > 0 or None
        Upper bound of the ratio in mode 1 (3 in the official code); ``None`` leaves it unbounded.
    reduction : {"mean", "sum", "none"}
    return_grad : bool

    Returns
    -------
    value : array
    grad : array, optional

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import emo
    >>> z = np.array([[1.0, 2.0, 0.5]])
    >>> p = np.exp(z) / np.exp(z).sum()
    >>> bool(np.isclose(float(emo(z, np.array([1]))), 1 - p[0, 1]))
    True
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    if mix not in (None, 1, 2) or isinstance(mix, bool):
        raise ValueError(f"mix must be None, 1 or 2, got {mix!r}")
    cap = None if mix_cap is None else check_positive(mix_cap, "mix_cap")
    if cost is not None and embeddings is not None:
        raise ValueError("give either cost or embeddings, not both")
    if numba_rung(xp):
        z = as_logits(logits, xp, ndim_min=1, check_finite=False)
        if kernel_float(z):
            table = _cost_table(cost, embeddings, z.shape[-1], z.dtype, xp)
            out = _emo_numba(z, targets, table, mix, cap, reduction, return_grad)
            if out is not DEFER:
                return out
    z = as_logits(logits, xp, ndim_min=1)
    tau = class_targets(targets, z, xp)
    check_nonempty(z.shape[:-1])
    C = z.shape[-1]
    kind, M = _cost_table(cost, embeddings, C, z.dtype, xp)
    p = softmax(z, xp)
    if kind == "embeddings":
        Eh = M
        v = tau @ Eh                                 # (..., d) target representation
        q = p @ Eh                                   # (..., d) predicted representation
        per = 1.0 - xp.sum(q * v, axis=-1)
        g_p = 1.0 - v @ xp.matrix_transpose(Eh) if return_grad else None   # (C tau)_i
    elif kind == "cost":
        g_all = tau @ xp.matrix_transpose(M)          # (..., C): sum_j c_ij tau_j
        per = xp.sum(p * g_all, axis=-1)
        g_p = g_all
    else:
        per = 1.0 - xp.sum(p * tau, axis=-1)
        g_p = 1.0 - tau
    grad = softmax_backward(p, g_p, xp) if return_grad else None
    if mix is None:
        return finish(per, grad, reduction, return_grad, xp)
    ce = cross_entropy_rows(z, tau, xp)
    g_ce = p - tau if return_grad else None
    if mix == 1:
        pos = per > 0
        fill = cap if cap is not None else 0.0
        r = xp.where(pos, ce / xp.where(pos, per, xp.ones_like(per)), xp.full_like(per, fill))
        if cap is not None:
            r = xp.minimum(r, xp.full_like(r, cap))
        total = 0.5 * (r * per + ce)
        g = 0.5 * (xp.expand_dims(r, axis=-1) * grad + g_ce) if return_grad else None
    else:
        pos = ce > 0
        r = xp.where(pos, per / xp.where(pos, ce, xp.ones_like(ce)), xp.zeros_like(ce))
        total = r * ce + per
        g = xp.expand_dims(r, axis=-1) * g_ce + grad if return_grad else None
    return finish(total, g, reduction, return_grad, xp)


def _cost_table(cost: ArrayLike | None, embeddings: ArrayLike | None, C: int, dtype: DType,
                xp: Namespace) -> tuple[str, Array | None]:
    """Validated cost description: ("none", None), ("cost", M (C, C)) or ("embeddings",
    row-normalised E (C, d)), in ``dtype``."""
    if embeddings is not None:
        E = as_float_array(embeddings, "embeddings", xp, ndim_min=2)
        check_not_half(E, "embeddings")
        if E.ndim != 2 or E.shape[0] != C:
            raise ValueError(f"embeddings must have shape (C={C}, d), got {tuple(E.shape)}")
        E = xp.astype(E, dtype)
        norms = xp.sqrt(xp.sum(E * E, axis=-1, keepdims=True))
        if bool(xp.any(norms == 0)):
            raise ValueError("embeddings must have no zero rows (cosine similarity undefined)")
        return "embeddings", E / norms
    if cost is not None:
        M = as_float_array(cost, "cost", xp, ndim_min=2)
        check_not_half(M, "cost")
        if tuple(M.shape) != (C, C):
            raise ValueError(f"cost must have shape ({C}, {C}) for logits with {C} classes, "
                             f"got {tuple(M.shape)}")
        return "cost", xp.astype(M, dtype)
    return "none", None


# Materialise the C x C cosine cost (1 - E E^T) for class-index targets when it is no larger
# than the per-sample cost rows it replaces (and at most this many entries).
_MAX_COSINE_TABLE = 1 << 24
_SERIAL_TABLE_WORK = 1 << 27     # multiply-adds below which the table is built without BLAS


def _emo_numba(z: np.ndarray, targets: ArrayLike, table: tuple[str, Array | None],
               mix: int | None, cap: float | None, reduction: str,
               return_grad: bool) -> RungResult:
    """NumPy rung: ``_numba_expected_cost.expected_cost_rows`` (BLAS for the cost rows that
    need a matrix product)."""
    from ._numba_expected_cost import cosine_cost_table, expected_cost_rows
    from ._smooth import _rows_and_targets
    rt = _rows_and_targets(z, targets)
    if rt is None:
        return DEFER
    n, C, z2, y, t2 = rt
    by_index = y.size > 0
    kind_name, M = table
    dt = z2.dtype
    if kind_name == "none":
        kind, tab = 0, np.empty((0, 0), dt)
    elif kind_name == "cost":
        assert M is not None
        if by_index:
            kind, tab = 1, np.ascontiguousarray(M.T)            # row y: cost to target y
        else:
            kind, tab = 2, np.asarray(t2, dt) @ M.T              # sum_j c_ij tau_j
    else:
        assert M is not None      # "embeddings"
        Eh = M
        if by_index and C * C <= max(n * C, 1) and C * C <= _MAX_COSINE_TABLE:
            Eh = np.ascontiguousarray(Eh, dtype=dt)
            if C * C * Eh.shape[1] <= _SERIAL_TABLE_WORK:
                tab = cosine_cost_table(Eh, np.empty((C, C), dt))
            else:
                tab = 1.0 - Eh @ Eh.T
            kind = 1                                             # symmetric cosine cost
        else:
            V = Eh[y] if by_index else np.asarray(t2, dt) @ Eh
            kind, tab = 2, 1.0 - V @ Eh.T
    tab = np.ascontiguousarray(tab, dtype=dt)
    loss = np.empty(n)
    grad = np.empty_like(z2) if return_grad else z2[:0]
    scale = grad_scale(n, reduction)
    tol = 1e-4 if dt == np.float32 else 1e-10
    mode = 0 if mix is None else int(mix)
    capv = 0.0 if cap is None else float(cap)

    def rows(r0: int, r1: int) -> int:
        return expected_cost_rows(z2, y, t2, tab, kind, 1.0, mode, capv, tol, scale,
                                  return_grad, loss, grad, np.empty(C, dt), r0, r1)
    if run_rows(rows, n, 16 * C, f"emo/{dt}"):
        return DEFER
    return finish_rows(loss, grad.reshape(z.shape) if return_grad else None, z.shape[:-1],
                       dt, reduction, return_grad)
