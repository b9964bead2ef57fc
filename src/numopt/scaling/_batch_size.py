"""Batch size vs learning rate for SGD.

McCandlish, Kaplan, Amodei et al., "An empirical model of large-batch training", 2018,
arXiv:1812.06162; J. Su, "When batch size increases, how should the learning rate change
accordingly?", kexue.fm, 2024, https://kexue.fm/archives/10542.
"""
from __future__ import annotations

from typing import Any

from probspace import array_namespace, as_float_array
from probspace.typing import Array, ArrayLike, Namespace
from probspace._validation import check_int

__all__ = ["optimal_lr", "lr_max", "b_noise", "b_simple", "check_quadratic_model"]


def check_quadratic_model(grad: Array, hessian: Array, cov: Array | None = None, *,
                          need_cov: bool = False
                          ) -> tuple[Namespace, Array, Array, Array | None]:
    """Validate ``grad (d,)``, ``hessian (d, d)`` and ``cov (d, d)``; returns them and ``xp``."""
    if need_cov and cov is None:
        raise TypeError("cov must be an array (the per-example gradient covariance), got None")
    xp = array_namespace(grad, hessian, cov, names=("grad", "hessian", "cov"))
    grad = as_float_array(grad, "grad", xp)
    hessian = as_float_array(hessian, "hessian", xp)
    if grad.ndim != 1 or grad.shape[0] == 0:
        raise ValueError(f"grad must be a non-empty 1-D array, got shape {tuple(grad.shape)}")
    d = grad.shape[0]
    if tuple(hessian.shape) != (d, d):
        raise ValueError(f"hessian must have shape ({d}, {d}) for grad of shape ({d},), got "
                         f"{tuple(hessian.shape)}")
    if cov is not None:
        cov = as_float_array(cov, "cov", xp)
        if tuple(cov.shape) != (d, d):
            raise ValueError(f"cov must have shape ({d}, {d}) for grad of shape ({d},), got "
                             f"{tuple(cov.shape)}")
    return xp, grad, hessian, cov


def _check_symmetric(xp: Namespace, a: Array, name: str) -> None:
    d = a.shape[0]
    eps = float(xp.finfo(a.dtype).eps)
    scale = float(xp.max(xp.abs(a))) if d else 0.0
    asym = float(xp.max(xp.abs(a - a.T))) if d else 0.0
    if asym > 64 * d * eps * scale:
        raise ValueError(f"{name} must be symmetric; max |{name} - {name}.T| = {asym:.3g}")


def check_covariance(xp: Namespace, cov: Array, name: str = "cov") -> None:
    """``cov`` must be symmetric positive semidefinite, both within rounding
    (``64 d eps`` relative to its largest entry / eigenvalue)."""
    _check_symmetric(xp, cov, name)
    d = cov.shape[0]
    if d == 0:
        return
    w = xp.linalg.eigvalsh(cov)
    eps = float(xp.finfo(cov.dtype).eps)
    wmin, wmax = float(xp.min(w)), float(xp.max(xp.abs(w)))
    if wmin < -64 * d * eps * wmax:
        raise ValueError(f"{name} must be positive semidefinite (a covariance); its smallest "
                         f"eigenvalue is {wmin:.3g}")


def _curv(xp: Namespace, g: Array, h: Array) -> Array:
    ghg = xp.sum(g * (h @ g))
    if not bool(ghg > 0):
        raise ValueError("grad^T hessian grad must be positive (the model needs positive curvature "
                         "along the gradient)")
    return ghg


def lr_max(grad: Array, hessian: Array) -> Array:
    """Noise-free optimal SGD step along the gradient, ``g^T g / g^T H g``.

    Parameters
    ----------
    grad : array (d,)
        True (full-batch) gradient ``g``.
    hessian : array (d, d)
        Hessian ``H``.

    Returns
    -------
    0-d array

    Raises
    ------
    ValueError
        Shapes that do not match, ``g^T H g <= 0``, or NaN/inf entries.
    """
    xp, g, h, _ = check_quadratic_model(grad, hessian)
    # scale-free in g: divide by its largest entry so that |g|^2 and g^T H g cannot overflow
    # (inf / inf = NaN) or underflow (0 / 0) for extreme gradients
    big = xp.max(xp.abs(g)) if g.shape[0] else xp.asarray(0.0, dtype=g.dtype)
    gs = g / big if bool(big > 0) else g
    return xp.sum(gs * gs) / _curv(xp, gs, h)


def b_noise(grad: Array, hessian: Array, cov: Array) -> Array:
    """Critical ("noise") batch size ``B_noise = tr(Sigma H) / g^T H g``.

    ``Sigma`` is the per-example gradient covariance; the minibatch gradient has covariance
    ``Sigma / B``.  For the second-order model ``L(theta - eta G_B)`` the expected loss change is
    ``-eta |g|^2 + eta^2/2 (g^T H g + tr(H Sigma)/B)``, minimised by
    ``eta*(B) = lr_max / (1 + B_noise / B)`` (McCandlish et al., arXiv 1812.06162).

    Parameters
    ----------
    grad : array (d,)
        True gradient ``g``.
    hessian : array (d, d)
        Symmetric Hessian ``H`` with ``g^T H g > 0``.
    cov : array (d, d)
        Per-example gradient covariance ``Sigma``: symmetric positive semidefinite.

    Returns
    -------
    0-d array, >= 0

    Raises
    ------
    ValueError
        A non-symmetric ``hessian``/``cov``, a ``cov`` that is not positive semidefinite
        (within rounding), ``g^T H g <= 0``, or ``tr(Sigma H) < 0`` (an indefinite Hessian
        whose negative directions carry the noise: the noise scale is then undefined).
        NaN or inf entries raise too.
    """
    xp, g, h, c = check_quadratic_model(grad, hessian, cov, need_cov=True)
    _check_symmetric(xp, h, "hessian")
    check_covariance(xp, c)
    tr = xp.sum(c * h.T)
    if bool(tr < 0):
        raise ValueError(f"tr(cov @ hessian) = {float(tr):.3g} < 0: the Hessian is negative "
                         "along the noise directions, so B_noise is undefined")
    return tr / _curv(xp, g, h)


def optimal_lr(batch_size: ArrayLike, lr_max: ArrayLike, b_noise: ArrayLike) -> Array:
    """``eta*(B) = lr_max / (1 + b_noise / B)`` (elementwise in ``batch_size``).

    Parameters
    ----------
    batch_size : float or array, > 0
    lr_max, b_noise : float or 0-d array
        From :func:`lr_max` and :func:`b_noise` (or :func:`b_simple`).

    Returns
    -------
    array
        The optimal learning rate for each batch size.

    Raises
    ------
    ValueError
        For a non-positive batch size or ``lr_max``, a negative ``b_noise``, or NaN/inf.

    Examples
    --------
    The noisy quadratic ``H = diag(1, 2, 5)``, ``theta = (1, -1, 0.5)``, ``Sigma = diag(4, 1, 9)``
    (the law agrees with a brute-force minimization of the exact one-step expected loss):

    >>> import numpy as np
    >>> from numopt.scaling import b_noise, lr_max, optimal_lr
    >>> H, C = np.diag([1.0, 2.0, 5.0]), np.diag([4.0, 1.0, 9.0])
    >>> g = H @ np.array([1.0, -1.0, 0.5])
    >>> lm, bn = lr_max(g, H), b_noise(g, H, C)
    >>> print(f"{float(lm):.5f} {float(bn):.4f}")
    0.27950 1.2671
    >>> np.round(optimal_lr(np.array([1.0, 4.0, 16.0, 64.0]), lm, bn), 4)
    array([0.1233, 0.2123, 0.259 , 0.2741])
    """
    xp = array_namespace(batch_size, lr_max, b_noise, names=("batch_size", "lr_max", "b_noise"))
    bs = as_float_array(batch_size, "batch_size", xp)
    if not bool(xp.all(bs > 0)):
        raise ValueError("batch_size must be positive")
    lm = as_float_array(lr_max, "lr_max", xp)
    bn = as_float_array(b_noise, "b_noise", xp)
    if not bool(xp.all(lm > 0)):
        raise ValueError("lr_max must be positive")
    if not bool(xp.all(bn >= 0)):
        raise ValueError("b_noise must be >= 0")
    return lm / (1.0 + bn / bs)


def b_simple(per_example_grads: Array, *, unbiased: bool = True) -> Array:
    """Simple noise scale ``B_simple = tr(Sigma) / |g|^2`` from per-example gradients.

    NaN or inf entries raise ``ValueError``.

    Parameters
    ----------
    per_example_grads : array (n, ...)
        ``n >= 2`` per-example gradients (trailing axes are flattened).
    unbiased : bool
        ``tr Sigma`` is the unbiased (``n - 1``) sample estimate.  With ``unbiased=True``,
        ``|g|^2`` is estimated by ``|gbar|^2 - tr(Sigma)/n`` (``|gbar|^2`` alone is biased up by
        ``tr(Sigma)/n``); if that is not positive the gradient is not resolved by ``n`` samples
        and ``inf`` is returned.  With ``unbiased=False`` ``|gbar|^2`` is used.

    Returns
    -------
    0-d array
        Equals :func:`b_noise` when the Hessian is a multiple of the identity.
    """
    xp = array_namespace(per_example_grads, names=("per_example_grads",))
    G = as_float_array(per_example_grads, "per_example_grads", xp, ndim_min=1)
    n = check_int(G.shape[0], "per_example_grads.shape[0]", minimum=2)
    G = xp.reshape(G, (n, -1))
    gbar = xp.mean(G, axis=0)
    tr = xp.sum(xp.var(G, axis=0, correction=1))
    g2 = xp.sum(gbar * gbar)
    if unbiased:
        g2 = g2 - tr / n
    if not bool(g2 > 0):
        return xp.asarray(float("inf"), dtype=G.dtype)
    return tr / g2
