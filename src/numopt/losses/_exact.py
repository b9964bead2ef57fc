"""EXACT: expected accuracy under Gaussian logit noise (Karpukhin et al., arXiv 2205.09615).

The model's class scores are perturbed, ``s = z + sigma * eps`` with ``eps ~ N(0, I)``, and the
loss is the probability of a wrong argmax, ``1 - P(s_y > s_i for all i != y)``.

The C-1 differences ``s_y - s_i`` are Gaussian with mean ``Delta_i = z_y - z_i`` and covariance
``sigma^2 (I + 1 1^T)``, so ``P`` is the orthant probability ``P(Z < Delta / sigma)`` with
``Z ~ N(0, I + 1 1^T)``.  That covariance is the one-factor model ``Z = X - W 1`` (``X ~ N(0, I)``,
``W ~ N(0, 1)``; ``W`` is the target's own noise), hence the orthant probability is the
one-dimensional integral

    P = int phi(w) prod_{i != y} Phi(a_i + w) dw,      a_i = (z_y - z_i) / sigma,

and its gradient is again a one-dimensional integral,

    dP/da_i = int phi(w) phi(a_i + w) prod_{j != y, i} Phi(a_j + w) dw

(the density on the face ``Z_i = a_i`` times the lower-dimensional orthant probability of the
others, integrated over the shared factor).  Both are evaluated with the same ``n_points``-node
Gauss-Hermite rule in ``w`` (so the gradient is the exact derivative of the computed value), in the
log domain (sums of ``log Phi``, the ratio ``phi/Phi`` as ``exp(log phi - log Phi)``) so that no
product underflows into a 0/0.  The rule is deterministic; its error falls geometrically with
``n_points`` and is estimated, on request, by comparing with the ``2 n_points`` rule.
"""
from __future__ import annotations

import functools
import math
from typing import Literal, overload

import numpy as np

from probspace import to_numpy
from probspace._validation import check_choice, check_int, check_positive
from probspace.typing import Array, ArrayLike, Namespace

from ._common import Reduction
from ._common import (_as_array, as_logits, check_class_indices, numba_rung, check_bool, check_nonempty, check_reduction,
                      class_index_onehot, device_of, grad_scale, is_integer_array, namespace,
                      probability_targets, reduce)
from . import _exact_qmc as _qmc
from ._special import log_ndtr, log_norm_pdf, ndtr

__all__ = ["exact"]

_SQRT2 = math.sqrt(2.0)


_MIN_WEIGHT = 1e-20


@functools.lru_cache(maxsize=32)
def _gauss_hermite(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes and weights of the n-point rule for E[f(W)], W ~ N(0, 1) (weights sum to one).

    Nodes whose normalised weight is below 1e-20 are dropped: each term is a weight times a
    number in [0, 1], so together they move the result by less than ``n * 1e-20``, and at
    ``n_points=128`` half of the nodes go.  ``scipy.special.roots_hermitenorm`` stays accurate
    for large ``n`` (NumPy's ``hermegauss`` overflows beyond about 300 nodes).
    """
    import scipy.special as sc
    x, w = sc.roots_hermitenorm(n)
    w = w / w.sum()
    keep = w >= _MIN_WEIGHT
    return tuple(float(v) for v in x[keep]), tuple(float(v) for v in w[keep])


@overload
def exact(logits: ArrayLike, targets: ArrayLike, /, *, sigma: float = ..., n_points: int = ...,
          method: Literal["quadrature", "qmc"] = ..., seed: int = ..., reduction: Reduction = ...,
          return_grad: Literal[False] = ..., return_error: Literal[False] = ...) -> Array: ...


@overload
def exact(logits: ArrayLike, targets: ArrayLike, /, *, sigma: float = ..., n_points: int = ...,
          method: Literal["quadrature", "qmc"] = ..., seed: int = ..., reduction: Reduction = ...,
          return_grad: Literal[True], return_error: Literal[False] = ...
          ) -> tuple[Array, Array]: ...


@overload
def exact(logits: ArrayLike, targets: ArrayLike, /, *, sigma: float = ..., n_points: int = ...,
          method: Literal["quadrature", "qmc"] = ..., seed: int = ..., reduction: Reduction = ...,
          return_grad: Literal[False] = ..., return_error: Literal[True]
          ) -> tuple[Array, Array]: ...


@overload
def exact(logits: ArrayLike, targets: ArrayLike, /, *, sigma: float = ..., n_points: int = ...,
          method: Literal["quadrature", "qmc"] = ..., seed: int = ..., reduction: Reduction = ...,
          return_grad: Literal[True], return_error: Literal[True]
          ) -> tuple[Array, Array, Array]: ...


@overload
def exact(logits: ArrayLike, targets: ArrayLike, /, *, sigma: float = ..., n_points: int = ...,
          method: Literal["quadrature", "qmc"] = ..., seed: int = ..., reduction: Reduction = ...,
          return_grad: bool = ..., return_error: bool = ...) -> Array | tuple[Array, ...]: ...


def exact(logits: ArrayLike, targets: ArrayLike, /, *, sigma: float = 1.0, n_points: int = 32,
          method: Literal["quadrature", "qmc"] = "quadrature", seed: int = 0,
          reduction: Reduction = "mean", return_grad: bool = False,
          return_error: bool = False) -> Array | tuple[Array, ...]:
    r"""EXACT loss: the probability of a wrong prediction under Gaussian logit noise.

    NaN or inf in ``logits`` or ``targets`` raise ``ValueError``.

    ``loss = 1 - P(argmax(z + sigma * eps) = y)``, ``eps ~ N(0, I)``.

    Parameters
    ----------
    logits : array
        Binary: scores of shape ``(n,)`` (any shape, elementwise), read as the difference of two
        class scores (like ``sigmoid_cross_entropy``), so the noise on that difference has
        variance ``2 sigma^2`` and ``P(correct) = Phi(z / (sigma sqrt 2))`` for label 1.
        Multiclass: ``(..., C)`` class scores.
    targets : array
        Binary (same shape as ``logits``): labels in {0, 1} or probabilities ``t`` (the loss is
        then ``t P(wrong | 1) + (1 - t) P(wrong | 0)``).  Multiclass: integer class indices of
        shape ``logits.shape[:-1]``.
    sigma : float > 0
        Noise scale ("temperature"): ``sigma -> 0`` gives the 0/1 error.
    n_points : int >= 2
        Gauss-Hermite nodes of the multiclass integral (unused for binary, which is closed form);
        nodes whose weight is below 1e-20 are skipped.
        Measured maximum errors (``benchmarks/results/losses.md``): 32 nodes about 1e-7 with 10
        classes and 1e-6 with 100 (up to 2e-5 for 100 exactly equal logits, the hardest case),
        64 nodes 1e-12 to 1e-9.  Use ``return_error=True`` to check a given batch.
    method : {"quadrature", "qmc"}
        ``"quadrature"`` (default): the one-dimensional Gauss-Hermite rule above.
        ``"qmc"``: the paper's route, Genz's separation of variables on the (C-1)-dimensional
        orthant with ``n_points`` scrambled Sobol points split into 8 independent
        randomizations (``n_points`` must be 8 times a power of two); the gradient by the
        face formula on the same points; host NumPy/SciPy, cost ``O(n_points C^3)`` per sample
        with the gradient -- for comparison and small ``C`` (see ``_exact_qmc.py``).
    seed : int
        Scrambling seed of ``method="qmc"`` (fixed, so results are deterministic).
    reduction : {"mean", "sum", "none"}
    return_grad : bool
        Also return the analytic gradient with respect to ``logits`` (for multiclass the exact
        derivative of the computed quadrature value).
    return_error : bool
        Also return an estimate of the absolute integration error of the returned value:
        ``|L_n - L_2n|`` per sample (the ``2 n_points`` rule is far more accurate than the
        ``n_points`` one, so this is the error of ``L_n``), reduced like the value.  For
        ``method="qmc"`` the standard error over the 8 randomizations.  Zero for the binary
        closed form.

    Returns
    -------
    value : array
        dtype of ``logits`` (computed internally in float64 where the namespace has it).
    grad : array, optional
    error : array, optional
        Returned last, after ``grad`` when both are requested.

    Notes
    -----
    See the module docstring for the one-dimensional integral and its gradient.  The loss
    is accumulated as ``sum_k w_k (1 - prod_i Phi(a_i + x_k))`` through ``expm1`` so that tiny
    losses keep their relative accuracy; logits of size 1e4 give exactly 0 or 1.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.losses import exact
    >>> round(1 - float(exact(np.array([1.0]), np.array([1]), sigma=0.5)), 5)
    0.92135
    >>> round(1 - float(exact(np.array([[1.0, 0.0, -1.0]]), np.array([0]))), 5)
    0.72875
    """
    xp = namespace(logits, targets)
    check_reduction(reduction)
    check_bool(return_grad, "return_grad")
    check_bool(return_error, "return_error")
    sig = check_positive(sigma, "sigma")
    n = check_int(n_points, "n_points", minimum=2)
    if n > 100_000:
        raise ValueError(f"n_points must be at most 100000, got {n}")
    check_choice(method, "method", ("quadrature", "qmc"))
    s_ = check_int(seed, "seed", minimum=0)
    if method == "qmc":
        m = n // _qmc.N_RANDOMIZATIONS
        if n % _qmc.N_RANDOMIZATIONS or m < 1 or m & (m - 1):
            raise ValueError(f"n_points must be 8 times a power of two for method='qmc', got {n}")
    z = as_logits(logits, xp, ndim_min=0)
    t = _as_array(targets, xp)
    out_dtype = z.dtype
    f64 = getattr(xp, "float64", z.dtype)
    if tuple(t.shape) == tuple(z.shape):
        t = probability_targets(t, z.shape, out_dtype, xp)
        check_nonempty(z.shape)
        per, grad = _binary(xp.astype(z, f64), xp.astype(t, f64), sig, return_grad, xp)
        err = xp.zeros_like(per)
    else:
        if z.ndim < 1 or not is_integer_array(t, xp):
            raise ValueError("targets must have the shape of logits (binary labels or "
                             "probabilities) or be integer class indices of shape "
                             "logits.shape[:-1] (multiclass)")
        check_nonempty(z.shape[:-1])
        if method == "qmc":
            return _exact_qmc_wrap(z, t, sig, n, s_, reduction, return_grad, return_error, xp)
        if numba_rung(xp):
            return _exact_numba(z, t, sig, n, reduction, return_grad, return_error, xp)
        onehot = class_index_onehot(t, z, xp)
        z64 = xp.astype(z, f64)
        oh64 = xp.astype(onehot, f64)
        per, grad = _multiclass(z64, oh64, sig, n, return_grad, xp)
        err = None
        if return_error:
            per2, _ = _multiclass(z64, oh64, sig, 2 * n, False, xp)
            err = xp.abs(per - per2)
    outs = [xp.astype(reduce(per, reduction, xp), out_dtype)]
    if return_grad:
        assert grad is not None   # computed when return_grad is True
        outs.append(xp.astype(grad * grad_scale(per.shape, reduction), out_dtype))
    if return_error:
        outs.append(xp.astype(reduce(err, reduction, xp), out_dtype))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _binary(z: Array, t: Array, sigma: float, return_grad: bool,
            xp: Namespace) -> tuple[Array, Array | None]:
    u = z / (sigma * _SQRT2)
    # P(wrong | label 1) = Phi(-u), P(wrong | label 0) = Phi(u): no 1 - P cancellation.
    per = t * ndtr(-u, xp) + (1.0 - t) * ndtr(u, xp)
    grad = None
    if return_grad:
        dens = xp.exp(log_norm_pdf(u, xp)) / (sigma * _SQRT2)
        grad = (1.0 - 2.0 * t) * dens
    return per, grad


def _multiclass(z: Array, onehot: Array, sigma: float, n: int, return_grad: bool,
                xp: Namespace) -> tuple[Array, Array | None]:
    is_y = onehot > 0
    zy = xp.sum(onehot * z, axis=-1, keepdims=True)
    zero = xp.zeros_like(z)
    a = xp.where(is_y, zero, (zy - z) / sigma)
    nodes, weights = _gauss_hermite(n)
    loss = xp.zeros(z.shape[:-1], dtype=z.dtype, device=device_of(z))
    dp = xp.zeros_like(z) if return_grad else None
    for x, w in zip(nodes, weights):
        lphi = xp.where(is_y, zero, log_ndtr(a + x, xp))
        s = xp.sum(lphi, axis=-1)                 # log prod_{i != y} Phi(a_i + x)
        loss = loss + w * (-xp.expm1(s))
        if return_grad:
            # phi(a_i + x) * prod_{j != i} Phi(a_j + x) = exp(s + log phi - log Phi).
            mills = log_norm_pdf(a + x, xp) - lphi
            term = xp.exp(xp.expand_dims(s, axis=-1) + mills)
            dp = dp + w * xp.where(is_y, zero, term)
    grad = None
    if return_grad:
        assert dp is not None
        # dL/dz_i = -dP/da_i * da_i/dz_i = dP/da_i / sigma (i != y); z_y gets minus the sum.
        g = dp / sigma
        grad = g - onehot * xp.sum(g, axis=-1, keepdims=True)
    return loss, grad


def _exact_numba(z: Array, t: Array, sigma: float, n: int, reduction: str, return_grad: bool,
                 return_error: bool, xp: Namespace) -> Array | tuple[Array, ...]:
    """NumPy rung: one fused kernel over row ranges (``_numba_exact.exact_rows``)."""
    from ._numba_exact import exact_rows
    from ._threads import run
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    idx = np.asarray(check_class_indices(t, z, xp), dtype=np.int64).reshape(-1)
    z2 = np.ascontiguousarray(np.asarray(z, dtype=np.float64)).reshape(-1, C)
    nodes, weights = (np.asarray(v) for v in _gauss_hermite(n))
    scale = grad_scale(lead, reduction)
    loss = np.empty(z2.shape[0])
    grad = np.empty_like(z2) if return_grad else np.empty((0, 0))
    # one row costs about C * nodes (vectorized) log-ndtr evaluations
    run(lambda r0, r1: exact_rows(z2, idx, sigma, nodes, weights, scale, return_grad, loss,
                                  grad, r0, r1), z2.shape[0], C * nodes.size, "exact")
    dt = z.dtype
    outs = [xp.asarray(reduce(loss.reshape(lead), reduction, np), dtype=dt)]
    if return_grad:
        outs.append(xp.asarray(grad.reshape(z.shape), dtype=dt))
    if return_error:
        n2, w2 = (np.asarray(v) for v in _gauss_hermite(2 * n))
        loss2 = np.empty_like(loss)
        run(lambda r0, r1: exact_rows(z2, idx, sigma, n2, w2, 1.0, False, loss2,
                                      np.empty((0, 0)), r0, r1),
            z2.shape[0], C * n2.size, "exact")
        outs.append(xp.asarray(reduce(np.abs(loss - loss2).reshape(lead), reduction, np),
                               dtype=dt))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _exact_qmc_wrap(z: Array, t: Array, sigma: float, n: int, seed: int, reduction: str,
                    return_grad: bool, return_error: bool,
                    xp: Namespace) -> Array | tuple[Array, ...]:
    """method='qmc': host computation, results moved back to the input's namespace."""
    lead, C = tuple(z.shape[:-1]), z.shape[-1]
    idx = np.asarray(to_numpy(check_class_indices(t, z, xp)), dtype=np.int64).reshape(-1)
    z2 = np.asarray(to_numpy(z), dtype=np.float64).reshape(-1, C)
    loss, err, grad = _qmc.exact_qmc(z2, idx, sigma, n, seed, return_grad)
    dt, dev = z.dtype, device_of(z)
    outs = [xp.asarray(reduce(loss.reshape(lead), reduction, np), dtype=dt, device=dev)]
    if return_grad:
        assert grad is not None   # exact_qmc returns it when asked
        g = grad.reshape(z.shape) * grad_scale(lead, reduction)
        outs.append(xp.asarray(g, dtype=dt, device=dev))
    if return_error:
        outs.append(xp.asarray(reduce(err.reshape(lead), reduction, np), dtype=dt, device=dev))
    return outs[0] if len(outs) == 1 else tuple(outs)
