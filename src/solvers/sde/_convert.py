"""Conversion between Ito and Stratonovich drifts.

``dY = f_I dt + g dW`` (Ito) and ``dY = f_S dt + g o dW`` (Stratonovich) have the same solution
when ``f_S = f_I - L/2`` with ``L_i = sum_{j,k} g_kj d g_ij / d y_k``: for diagonal noise
(component ``i`` driven by ``W_i`` alone) ``L_i = g_i d g_i / d y_i``; for scalar noise
``L_i = sum_k g_k d g_i / d y_k``; for additive noise ``L = 0``.
"""
from __future__ import annotations

import math

import sympy as sp

from probspace import array_namespace
from probspace._validation import check_choice

from ._sympy import SymbolicSDE, is_symbolic, symbolic_correction

__all__ = ["ito_to_stratonovich_drift", "stratonovich_to_ito_drift"]


def _correction(diffusion, noise, diffusion_derivative, eps):
    """Batch callable ``L(t, y)`` (shape of y)."""

    def L(t, y):
        xp = array_namespace(y)
        g = diffusion(t, y)
        if diffusion_derivative is not None:
            der = diffusion_derivative(t, y)
            if noise == "scalar" and der.ndim == y.ndim + 1:
                return xp.sum(der * g[..., None, :], axis=-1)
            return g * der
        if noise == "scalar":
            # directional derivative of g along g: one central difference
            scale = eps * (1.0 + xp.max(xp.abs(y), axis=-1, keepdims=True))
            return (diffusion(t, y + scale * g) - diffusion(t, y - scale * g)) / (2.0 * scale)
        d = y.shape[-1]
        cols = []
        for i in range(d):
            e = xp.reshape(xp.asarray([1.0 if j == i else 0.0 for j in range(d)], dtype=y.dtype),
                           (1,) * (y.ndim - 1) + (d,))
            step = eps * (1.0 + xp.abs(y[..., i:i + 1]))
            gp = diffusion(t, y + step * e)[..., i]
            gm = diffusion(t, y - step * e)[..., i]
            cols.append((gp - gm) / (2.0 * step[..., 0]))
        return g * xp.stack(cols, axis=-1)

    return L


def _convert(drift, diffusion, sign, noise, diffusion_derivative, symbols, eps):
    check_choice(noise, "noise", ("diagonal", "scalar", "additive"))
    if is_symbolic(drift) or is_symbolic(diffusion):
        ssde = SymbolicSDE(drift, diffusion, symbols, noise)
        if noise == "additive":
            return ssde.f
        return sp.simplify(symbolic_correction(ssde, sign))
    if not callable(drift) or not callable(diffusion):
        raise TypeError("drift and diffusion must be batch callables f(t, y) or sympy expressions")
    if diffusion_derivative is not None and not callable(diffusion_derivative):
        raise TypeError("diffusion_derivative must be callable")
    if eps is None:
        eps = 6e-6  # ~ cbrt(machine epsilon): balances truncation O(eps^2) and rounding O(u/eps)
    if not (isinstance(eps, float) and 0 < eps < 1 and math.isfinite(eps)):
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    if noise == "additive":
        return drift
    L = _correction(diffusion, noise, diffusion_derivative, eps)
    half = 0.5 * sign

    def converted(t, y):
        return drift(t, y) + half * L(t, y)

    return converted


def ito_to_stratonovich_drift(drift, diffusion, /, *, noise="diagonal", diffusion_derivative=None,
                              symbols=None, eps=None):
    """The Stratonovich drift ``f - L/2`` of the Ito SDE ``dY = f dt + g dW``.

    Parameters
    ----------
    drift, diffusion : callables ``(t, y) -> array`` or sympy expressions
        Callables written per member (``y`` of shape ``(d,)``, the default convention of
        :func:`solve_sde`) or for the whole batch (``y`` of shape ``(*batch, d)``: then pass
        ``vectorized=True`` to :func:`solve_sde`); the converted drift follows the same
        convention.  With sympy input (and ``symbols=(t, [y1..yd])``) the result is an exact
        sympy Matrix.
    noise : {"diagonal", "scalar", "additive"}
    diffusion_derivative : callable, optional
        ``d g_i / d y_i`` (diagonal; or the Jacobian ``(*batch, d, d)`` for scalar noise).
        Without it the derivative is taken by central finite differences with relative step ``eps``.
    eps : float, optional
        Finite-difference step (relative), default 6e-6.

    Returns
    -------
    callable or sympy.Matrix
        The converted drift, same form as the input.
    """
    return _convert(drift, diffusion, -1, noise, diffusion_derivative, symbols, eps)


def stratonovich_to_ito_drift(drift, diffusion, /, *, noise="diagonal", diffusion_derivative=None,
                              symbols=None, eps=None):
    """The Ito drift ``f + L/2`` of the Stratonovich SDE ``dY = f dt + g o dW`` (see
    :func:`ito_to_stratonovich_drift`)."""
    return _convert(drift, diffusion, +1, noise, diffusion_derivative, symbols, eps)
