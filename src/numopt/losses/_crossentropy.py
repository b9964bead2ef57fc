"""Baseline losses: sigmoid (binary) and softmax (multiclass) cross-entropy."""
from __future__ import annotations

from probspace._validation import check_probability

from ._common import (_as_array, as_logits, check_bool, check_class_indices, check_nonempty,
                      check_reduction, class_targets, cross_entropy_rows, finish, grad_scale,
                      is_integer_array, namespace, numba_rung, probability_targets, reduce,
                      softmax)

__all__ = ["sigmoid_cross_entropy", "softmax_cross_entropy"]


def sigmoid_cross_entropy(logits, targets, /, *, reduction="mean", return_grad=False):
    r"""Binary cross-entropy on logits, :math:`\log(1+e^{z}) - t z`.

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


def softmax_cross_entropy(logits, targets, /, *, label_smoothing=0.0, reduction="mean",
                          return_grad=False):
    r"""Softmax cross-entropy, :math:`\mathrm{logsumexp}(z) - \sum_i t_i z_i`.

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
    z = as_logits(logits, xp, ndim_min=1)
    C = z.shape[-1]
    if numba_rung(xp):
        return _softmax_ce_numba(z, targets, eps, reduction, return_grad, xp)
    t = class_targets(targets, z, xp)
    check_nonempty(z.shape[:-1])
    if eps > 0:
        t = (1.0 - eps) * t + eps / C
    per = cross_entropy_rows(z, t, xp)
    grad = softmax(z, xp) - t if return_grad else None
    return finish(per, grad, reduction, return_grad, xp)


def _softmax_ce_numba(z, targets, eps, reduction, return_grad, xp):
    """NumPy rung: fused per-row kernels (``_kernels_numba``)."""
    import numpy as np

    from ._kernels_numba import pick
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    check_nonempty(lead)
    t = _as_array(targets, xp)
    z2 = np.ascontiguousarray(np.asarray(z)).reshape(-1, C)
    scale = grad_scale(lead, reduction)
    loss = np.empty(z2.shape[0], dtype=z2.dtype)
    grad = np.empty_like(z2) if return_grad else np.empty((0, 0), dtype=z2.dtype)
    if is_integer_array(t, xp) and eps == 0:
        idx = np.asarray(check_class_indices(t, z, xp), dtype=np.int64).reshape(-1)
        pick("softmax_ce_index", z2.size)(z2, idx, scale, return_grad, loss, grad)
    else:
        tt = class_targets(t, z, xp)
        if eps > 0:
            tt = (1.0 - eps) * tt + eps / C
        t2 = np.ascontiguousarray(np.asarray(tt, dtype=z2.dtype)).reshape(-1, C)
        pick("softmax_ce_prob", z2.size)(z2, t2, scale, return_grad, loss, grad)
    value = reduce(xp.asarray(loss.reshape(lead)), reduction, xp)
    if not return_grad:
        return value
    return value, xp.asarray(grad.reshape(z.shape))
