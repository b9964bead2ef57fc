"""Sign-SGD model of Adam's batch-size/learning-rate law and its surge.

S. Li et al., "Surge phenomenon in optimal learning rate and batch size scaling", 2024,
arXiv:2405.14578; the mean-field form of J. Su, "When batch size increases, how should the
learning rate change accordingly?", kexue.fm, 2024, https://kexue.fm/archives/10542.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from probspace import Result, array_namespace, as_float_array, to_numpy

from probspace.typing import Array, ArrayLike

from ._batch_size import check_quadratic_model

__all__ = ["expected_sign", "sign_sgd_lr", "sign_sgd_peak", "SignSGDPeak"]


def _erf(x_np: Any) -> Any:
    from scipy.special import erf
    return erf(x_np)


def expected_sign(grad: ArrayLike, noise_std: ArrayLike, batch_size: ArrayLike) -> Array:
    """``E[sign(g + sigma z / sqrt(B))] = erf(g / sigma * sqrt(B / 2))``, ``z ~ N(0, 1)``.

    NaN or inf entries raise ``ValueError``.

    Elementwise (broadcasting) in all three arguments; result in ``grad``'s namespace.
    """
    xp = array_namespace(grad, noise_std, batch_size, names=("grad", "noise_std", "batch_size"))
    g = as_float_array(grad, "grad", xp)
    s = as_float_array(noise_std, "noise_std", xp)
    b = as_float_array(batch_size, "batch_size", xp)
    if not bool(xp.all(s > 0)):
        raise ValueError("noise_std must be positive")
    if not bool(xp.all(b > 0)):
        raise ValueError("batch_size must be positive")
    try:
        np.broadcast_shapes(tuple(g.shape), tuple(s.shape), tuple(b.shape))
    except ValueError:
        raise ValueError(f"grad {tuple(g.shape)}, noise_std {tuple(s.shape)} and batch_size "
                         f"{tuple(b.shape)} do not broadcast together") from None
    x = to_numpy(g / s * xp.sqrt(b / 2.0))
    return xp.asarray(_erf(np.asarray(x)), dtype=g.dtype)


def _parts(grad: Array, hessian: Array, cov: Array) -> Any:
    xp, g, h, c = check_quadratic_model(grad, hessian, cov, need_cov=True)
    sig = xp.sqrt(xp.linalg.diagonal(c))
    if not bool(xp.all(sig > 0)):
        raise ValueError("cov must have a positive diagonal")
    s = xp.sign(g)
    diag_h = xp.sum(xp.linalg.diagonal(h))
    s_off = xp.sum(s * (h @ s)) - xp.sum(s * s * xp.linalg.diagonal(h))
    kappa2 = xp.sum(sig * sig) / xp.sum(g * g)
    return xp, g, h, sig, s, float(diag_h), float(s_off), float(kappa2)


def sign_sgd_lr(batch_size: ArrayLike, grad: Array, hessian: Array, cov: Array, *,
                model: str = "erf") -> Array:
    """Optimal learning rate of sign-SGD (the sign model of Adam) at batch size ``B``.

    NaN or inf entries raise ``ValueError``.

    With update ``-eta sign(G_B)`` and a quadratic model, ``E[Delta L] = -eta sum mu_i g_i +
    eta^2/2 (sum H_ii + sum_{i != j} mu_i mu_j H_ij)`` (gradient noise independent across
    coordinates, so only ``diag(cov)`` enters), hence

    ``eta*(B) = sum mu_i g_i / (sum_i H_ii + sum_{i != j} mu_i mu_j H_ij)``.

    * ``model="erf"``: ``mu_i = erf(g_i / sigma_i sqrt(B/2))`` (exact for Gaussian noise).
    * ``model="mean_field"``: Su's mean-field form, one noise-to-signal ratio
      ``kappa^2 = tr(cov) / |g|^2`` for every coordinate and ``mu_i = beta sign(g_i)`` with
      ``beta = (1 + pi kappa^2 / (2B))^{-1/2}`` (the ``x / sqrt(pi/4 + x^2)`` approximation of
      ``erf(x)``: exact as ``x -> 0`` and ``x -> inf``, at worst 11.6% low near ``x = 1.2``), giving ``eta* = beta sum|g| / (sum H_ii + beta^2 S)``,
      ``S = sum_{i != j} sign(g_i g_j) H_ij`` — i.e. ``eta_peak / [(beta_n/beta + beta/beta_n)/2]``
      with ``beta_n = sqrt(sum H_ii / S)``; see :func:`sign_sgd_peak` for the surge.

    For small ``B`` and diagonal ``H`` this grows like ``sqrt(B)`` (not linearly as for SGD);
    when ``S > sum H_ii`` it peaks at a finite ``B`` and then *decreases* (the surge).

    Parameters
    ----------
    batch_size : float or array, > 0
    grad : array (d,)
        True (full-batch) gradient ``g``.
    hessian : array (d, d)
    cov : array (d, d)
        Per-example gradient covariance (minibatch noise ``cov / B``).
    model : {"erf", "mean_field"}

    Returns
    -------
    array of the shape of ``batch_size`` (grad's namespace)
    """
    if model not in ("erf", "mean_field"):
        raise ValueError(f"model must be 'erf' or 'mean_field', got {model!r}")
    xp, g, h, sig, s, diag_h, s_off, kappa2 = _parts(grad, hessian, cov)
    bs = as_float_array(batch_size, "batch_size", xp)
    if not bool(xp.all(bs > 0)):
        raise ValueError("batch_size must be positive")
    shape = tuple(bs.shape)
    bflat = xp.reshape(bs, (-1,))
    if model == "mean_field":
        beta = (1.0 + math.pi * kappa2 / (2.0 * bflat)) ** -0.5
        out = beta * float(xp.sum(xp.abs(g))) / (diag_h + beta * beta * s_off)
        return xp.reshape(out, shape)
    x = to_numpy((g / sig)[None, :] * xp.sqrt(bflat[:, None] / 2.0))
    mu = xp.asarray(_erf(np.asarray(x)), dtype=g.dtype)            # (nB, d)
    num = xp.sum(mu * g[None, :], axis=1)
    hd = xp.linalg.diagonal(h)
    den = diag_h + xp.sum(mu * (mu @ h.T), axis=1) - xp.sum(mu * mu * hd[None, :], axis=1)
    return xp.reshape(num / den, shape)


class SignSGDPeak(Result):
    """Surge summary of the mean-field sign-SGD model.

    Fields: ``kappa2`` (``tr cov / |g|^2``), ``beta_noise`` (``sqrt(sum H_ii / S)``, ``inf``
    when ``S <= 0``), ``b_peak`` (batch size of the maximal learning rate, ``inf`` when the
    curve is monotone), ``lr_peak`` (``eta*`` at ``b_peak``, the supremum when monotone),
    ``lr_inf`` (the ``B -> inf`` limit ``sum|g| / s^T H s``), ``has_peak``.
    """


def sign_sgd_peak(grad: Array, hessian: Array, cov: Array) -> SignSGDPeak:
    """Peak ("surge") of the mean-field sign-SGD learning rate over the batch size.

    NaN or inf entries raise ``ValueError``.

    ``eta*(beta) = eta_peak / [(beta_n/beta + beta/beta_n)/2]`` is maximal at
    ``beta = beta_n``; since ``beta = (1 + pi kappa^2/(2B))^{-1/2} < 1`` that happens at the
    finite batch size ``B_peak = pi kappa^2 beta_n^2 / (2 (1 - beta_n^2))`` when ``beta_n < 1``
    (i.e. ``S > sum H_ii``); otherwise ``eta*`` increases monotonically to ``lr_inf``.
    ``eta_peak = sum|g| / (2 beta_n S)``.
    """
    xp, g, h, sig, s, diag_h, s_off, kappa2 = _parts(grad, hessian, cov)
    abs_g = float(xp.sum(xp.abs(g)))
    lr_inf = abs_g / (diag_h + s_off)
    if s_off <= 0:
        return SignSGDPeak(kappa2=kappa2, beta_noise=math.inf, b_peak=math.inf, lr_peak=lr_inf,
                           lr_inf=lr_inf, has_peak=False)
    bn = math.sqrt(diag_h / s_off)
    if bn >= 1:
        return SignSGDPeak(kappa2=kappa2, beta_noise=bn, b_peak=math.inf, lr_peak=lr_inf,
                           lr_inf=lr_inf, has_peak=False)
    return SignSGDPeak(kappa2=kappa2, beta_noise=bn,
                       b_peak=math.pi * kappa2 * bn * bn / (2.0 * (1.0 - bn * bn)),
                       lr_peak=abs_g / (2.0 * bn * s_off), lr_inf=lr_inf, has_peak=True)
