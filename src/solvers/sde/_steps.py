"""One step of each SDE method on a whole batch (the generic array-API rung).

``y`` has shape ``(*batch, d)``; ``dW`` and ``Hl`` (space-time Levy area) have shape
``(*batch, m)``.  ``F(t, y)`` and ``Gm(t, y)`` are the user's drift and diffusion on the batch.
"""
from __future__ import annotations

import math

from ._tableaus import SRA1, SRIW1


def _sqrt(xp, h):
    """sqrt of the step: a float (fixed steps) or an array (per-path adaptive steps)."""
    return math.sqrt(h) if isinstance(h, float) else xp.sqrt(h)


def gdot(xp, noise, g, v):
    """The diffusion applied to noise-shaped ``v``: ``g * v`` (diagonal), ``g * v[...,:1]``
    (scalar), ``g @ v`` (general, or additive with a matrix diffusion)."""
    if noise == "scalar":
        return g * v[..., 0:1]
    if g.ndim == v.ndim:  # diagonal (or diagonal additive)
        return g * v
    return xp.sum(g * v[..., None, :], axis=-1)


def step_em(xp, noise, F, Gm, t, h, y, dW, Hl, ctx):
    return y + F(t, y) * h + gdot(xp, noise, Gm(t, y), dW)


def step_heun(xp, noise, F, Gm, t, h, y, dW, Hl, ctx):
    f0, g0 = F(t, y), Gm(t, y)
    yp = y + f0 * h + gdot(xp, noise, g0, dW)
    f1, g1 = F(t + h, yp), Gm(t + h, yp)
    return y + (0.5 * h) * (f0 + f1) + 0.5 * (gdot(xp, noise, g0, dW) + gdot(xp, noise, g1, dW))


def _milstein_l(xp, noise, F, Gm, t, h, y, f0, g0, ctx):
    """L = (g . grad) g per noise component (shape of g), exact or derivative-free."""
    dg = ctx.get("dg")
    if dg is not None:
        der = dg(t, y)
        if noise == "scalar" and der.ndim == y.ndim + 1:  # full Jacobian d g_i / d y_k
            return xp.sum(der * g0[..., None, :], axis=-1)
        return g0 * der
    sq = _sqrt(xp, h)
    if ctx["calculus"] == "ito":
        ybar = y + f0 * h + g0 * sq  # Runge-Kutta support value (Kloeden-Platen 11.1)
        return (Gm(t, ybar) - g0) / sq
    # Stratonovich: the correction multiplies dW^2 (mean h, not 0), so the one-sided
    # difference's O(sqrt h) error would bias every step; a central difference is O(h).
    return (Gm(t, y + g0 * sq) - Gm(t, y - g0 * sq)) / (2.0 * sq)


def step_milstein(xp, noise, F, Gm, t, h, y, dW, Hl, ctx):
    f0, g0 = F(t, y), Gm(t, y)
    L = _milstein_l(xp, noise, F, Gm, t, h, y, f0, g0, ctx)
    w = dW[..., 0:1] if noise == "scalar" else dW
    corr = w * w - h if ctx["calculus"] == "ito" else w * w
    return y + f0 * h + gdot(xp, noise, g0, dW) + 0.5 * L * corr


def step_sra1(xp, noise, F, Gm, t, h, y, dW, Hl, ctx):
    tb = SRA1
    chi2 = 0.5 * dW + Hl  # I_(1,0) / h
    f1 = F(t, y)
    gA = Gm(t + tb["c1"][0] * h, y)  # additive: no dependence on y
    gB = Gm(t + tb["c1"][1] * h, y)
    H02 = y + (tb["A0"][1][0] * h) * f1 + tb["B0"][1][0] * gdot(xp, noise, gA, chi2)
    f2 = F(t + tb["c0"][1] * h, H02)
    a1, a2 = tb["alpha"]
    return (y + h * (a1 * f1 + a2 * f2)
            + gdot(xp, noise, gA, tb["beta1"][0] * dW + tb["beta2"][0] * chi2)
            + gdot(xp, noise, gB, tb["beta1"][1] * dW + tb["beta2"][1] * chi2))


def step_sri(xp, noise, F, Gm, t, h, y, dW, Hl, ctx):
    tb = SRIW1
    sq = _sqrt(xp, h)
    w = dW[..., 0:1] if noise == "scalar" else dW
    hl = Hl[..., 0:1] if noise == "scalar" else Hl
    chi1 = (w * w - h) / (2.0 * sq)            # I_(1,1) / sqrt(h)
    chi2 = 0.5 * w + hl                        # I_(1,0) / h
    chi3 = (w * w * w - 3.0 * h * w) / (6.0 * h)  # I_(1,1,1) / h
    fs, gs = [], []
    matrix = noise == "additive" and ctx.get("gmat", False)
    for i in range(4):
        H0 = y
        H1 = y
        for j in range(i):
            a0, a1 = tb["A0"][i][j], tb["A1"][i][j]
            b0, b1 = tb["B0"][i][j], tb["B1"][i][j]
            if a0:
                H0 = H0 + (a0 * h) * fs[j]
            if b0:
                H0 = H0 + (gdot(xp, noise, gs[j], b0 * chi2) if matrix else (b0 * chi2) * gs[j])
            if a1:
                H1 = H1 + (a1 * h) * fs[j]
            if b1 and not matrix:  # (additive g ignores H1: only its time matters)
                H1 = H1 + (b1 * sq) * gs[j]
        fs.append(F(t + tb["c0"][i] * h, H0))
        gs.append(Gm(t + tb["c1"][i] * h, H1))
    out = y
    for i in range(4):
        if tb["alpha"][i]:
            out = out + (tb["alpha"][i] * h) * fs[i]
        coef = (tb["beta1"][i] * w + tb["beta2"][i] * chi1 + tb["beta3"][i] * chi2
                + tb["beta4"][i] * chi3)
        out = out + (gdot(xp, noise, gs[i], coef) if matrix else coef * gs[i])
    return out


STEPS = {"euler_maruyama": step_em, "heun": step_heun, "milstein": step_milstein,
         "sra1": step_sra1, "sri": step_sri}
