"""Hinge loss: binary (labels +-1) and multiclass (Crammer-Singer or Weston-Watkins)."""
from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

from probspace._validation import check_choice, check_nonnegative
from probspace.typing import Array, ArrayLike

from ._common import Reduction
from ._common import (_as_array, as_logits, check_bool, check_nonempty, check_reduction,
                      class_index_onehot, device_of, finish, is_integer_array, namespace,
                      numba_rung)
from ._numpy_rung import (DEFER, as_c, class_indices, elementwise, finish_rows, grad_scale,
                          kernel_float, plain_targets, run_rows)
from ._numpy_rung import RungResult

__all__ = ["hinge"]


@overload
def hinge(logits: ArrayLike, targets: ArrayLike, /, *,
          multiclass: Literal["crammer_singer", "weston_watkins"] = ..., margin: float = ...,
          reduction: Reduction = ..., return_grad: Literal[False] = ...) -> Array: ...


@overload
def hinge(logits: ArrayLike, targets: ArrayLike, /, *,
          multiclass: Literal["crammer_singer", "weston_watkins"] = ..., margin: float = ...,
          reduction: Reduction = ..., return_grad: Literal[True]) -> tuple[Array, Array]: ...


@overload
def hinge(logits: ArrayLike, targets: ArrayLike, /, *,
          multiclass: Literal["crammer_singer", "weston_watkins"] = ..., margin: float = ...,
          reduction: Reduction = ..., return_grad: bool = ...) -> Array | tuple[Array, Array]: ...


def hinge(logits: ArrayLike, targets: ArrayLike, /, *,
          multiclass: Literal["crammer_singer", "weston_watkins"] = "crammer_singer",
          margin: float = 1.0, reduction: Reduction = "mean",
          return_grad: bool = False) -> Array | tuple[Array, Array]:
    r"""Hinge loss, binary or multiclass.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    Parameters
    ----------
    logits : array
        Binary: real scores of any shape, e.g. ``(n,)``.  Multiclass: ``(..., C)``.
    targets : array
        Binary: labels in {-1, +1} with the shape of ``logits``; the loss is
        :math:`\max(0, m - y z)`.  Multiclass: integer class indices of shape
        ``logits.shape[:-1]``.  Which case applies is decided by the shapes: equal shapes mean
        binary, one axis less means multiclass.
    multiclass : {"crammer_singer", "weston_watkins"}
        Crammer-Singer: :math:`\max(0, m + \max_{j \ne y} z_j - z_y)`;
        Weston-Watkins: :math:`\sum_{j \ne y} \max(0, m + z_j - z_y)`.
    margin : float >= 0
        The margin :math:`m` (1 by default).
    reduction : {"mean", "sum", "none"}
    return_grad : bool
        Also return a subgradient with respect to ``logits``.  At the kinks (loss term exactly
        zero at the hinge) the zero subgradient is taken; for Crammer-Singer ties in
        :math:`\max_{j\ne y} z_j` send the gradient to the lowest such index.

    Returns
    -------
    value : array
    grad : array, optional

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import hinge
    >>> float(hinge(np.array([0.5, -2.0]), np.array([1, -1])))
    0.25
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    check_choice(multiclass, "multiclass", ("crammer_singer", "weston_watkins"))
    m = check_nonnegative(margin, "margin")
    if numba_rung(xp):
        out = _hinge_numba(as_logits(logits, xp, ndim_min=0, check_finite=False), targets,
                           multiclass, m, reduction, return_grad)
        if out is not DEFER:
            return out
    z = as_logits(logits, xp, ndim_min=0)
    t = _as_array(targets, xp)
    if tuple(t.shape) == tuple(z.shape):
        if xp.isdtype(t.dtype, "bool"):
            raise TypeError("targets for the binary hinge must be labels in {-1, +1}, got booleans")
        t = xp.astype(t, z.dtype)
        if t.size and bool(xp.any((t != 1) & (t != -1))):
            raise ValueError("targets for the binary hinge must be labels in {-1, +1}")
        check_nonempty(z.shape)
        viol = m - t * z
        per = xp.maximum(viol, xp.zeros_like(viol))
        grad = xp.where(viol > 0, -t, xp.zeros_like(t)) if return_grad else None
        return finish(per, grad, reduction, return_grad, xp)
    if z.ndim < 1 or not is_integer_array(t, xp):
        raise ValueError("targets must be labels in {-1, +1} of the shape of logits (binary) or "
                         "integer class indices of shape logits.shape[:-1] (multiclass)")
    onehot = class_index_onehot(t, z, xp)
    check_nonempty(z.shape[:-1])
    zy = xp.sum(onehot * z, axis=-1, keepdims=True)
    # Margins against every class; the target's own entry is excluded by the mask.
    viol = m + z - zy
    is_y = onehot > 0
    if multiclass == "weston_watkins":
        active = (viol > 0) & ~is_y
        terms = xp.where(active, viol, xp.zeros_like(viol))
        per = xp.sum(terms, axis=-1)
        grad = None
        if return_grad:
            a = xp.astype(active, z.dtype)
            grad = a - onehot * xp.sum(a, axis=-1, keepdims=True)
        return finish(per, grad, reduction, return_grad, xp)
    neg_inf = xp.full_like(viol, -float("inf"))
    other = xp.where(is_y, neg_inf, viol)
    worst = xp.max(other, axis=-1)
    per = xp.maximum(worst, xp.zeros_like(worst))
    if z.shape[-1] == 1:  # a single class: nothing to violate
        per = xp.zeros_like(worst)
    grad = None
    if return_grad:
        C = z.shape[-1]
        idx = xp.argmax(other, axis=-1)
        sel = xp.astype(xp.expand_dims(idx, axis=-1) == xp.arange(C, device=device_of(z)),
                        z.dtype)
        on = xp.expand_dims(xp.astype(worst > 0, z.dtype), axis=-1)
        grad = on * (sel - onehot)
    return finish(per, grad, reduction, return_grad, xp)


def _hinge_numba(z: np.ndarray, targets: ArrayLike, multiclass: str, margin: float, reduction: str,
                 return_grad: bool) -> RungResult:
    """NumPy rung: ``_numba_hinge`` kernels (binary blocks or multiclass rows)."""
    from . import _numba_hinge as K
    if not kernel_float(z) or z.size == 0:
        return DEFER
    t = plain_targets(targets, z.shape)
    if t is not None:
        if t.dtype.kind == "b":          # booleans are refused by the generic rung
            return DEFER
        return elementwise(K.binary_hinge_blocks, z, t, (margin,), reduction, return_grad, 30)
    if z.ndim < 1:
        return DEFER
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    n = math.prod(lead)
    y = class_indices(targets, lead, C)
    if y is None:
        return DEFER
    z2 = as_c(z).reshape(n, C)
    loss = np.empty(n)
    grad = np.empty_like(z2) if return_grad else z2[:0]
    scale = grad_scale(n, reduction)
    kern = K.weston_watkins_rows if multiclass == "weston_watkins" else K.crammer_singer_rows
    if run_rows(lambda r0, r1: kern(z2, y, margin, scale, return_grad, loss, grad, r0, r1), n,
                10 * C, f"{multiclass}/{z2.dtype}"):
        return DEFER
    return finish_rows(loss, grad.reshape(z.shape) if return_grad else None, lead, z.dtype,
                       reduction, return_grad)
