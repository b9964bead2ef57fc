"""EXACT by Genz's separation of variables on randomized Sobol points (``method="qmc"``).

The EXACT paper integrates the (C-1)-dimensional orthant probability ``P(Z < a)``,
``Z ~ N(0, I + 1 1^T)``, with Genz's method.  This module does the same with scrambled Sobol
points (``scipy.stats.qmc.Sobol`` with fixed seeds, so results are deterministic):

    e_1 = Phi(a_1 / L_11);  y_{i-1} = Phi^{-1}(u_{i-1} e_{i-1});
    e_i = Phi((a_i - sum_{j<i} L_ij y_j) / L_ii);   P ~ mean over points of prod_i e_i,

with ``L`` the Cholesky factor.  The gradient uses the face formula
``dP/da_i = phi(a_i / sqrt 2) / sqrt 2 * P(Z' < a_{-i} - a_i / 2)``, ``Z' ~ N(0, I + 1 1^T / 2)``
(the conditional law given ``Z_i = a_i``), each conditional orthant estimated from the same
points.  ``R = 8`` independent scramblings give the estimate (their mean) and its standard
error.  Cost ``O(n_points C^2)`` per sample for the value and ``O(n_points C^3)`` with the
gradient: meant for comparison with the one-dimensional quadrature (the default), which is far
cheaper and more accurate because it exploits the one-factor structure of ``I + 1 1^T``.
Runs on the host (NumPy/SciPy); other namespaces are converted.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

N_RANDOMIZATIONS = 8


def _genz(b: np.ndarray, L: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Mean over points of Genz's integrand for P(Z < b), Z = L eps; b (B, d), U (N, d-1)."""
    B, d = b.shape
    N = U.shape[0]
    e = np.broadcast_to(sc.ndtr(b[:, :1] / L[0, 0]), (B, N)).copy()
    f = e.copy()
    Y = np.zeros((B, N, max(d - 1, 0)))
    for i in range(1, d):
        # Where e = 0 the product is already 0; keep y finite there.
        u = np.clip(U[:, i - 1] * e, 1e-300, 1.0 - 1e-16)
        Y[:, :, i - 1] = np.where(e > 0, sc.ndtri(u), 0.0)
        s = Y[:, :, :i] @ L[i, :i]
        e = sc.ndtr((b[:, i:i + 1] - s) / L[i, i])
        f *= e
    return f.mean(axis=1)


def _points(dim: int, m: int, seed: int, r: int) -> np.ndarray:
    if dim == 0:
        return np.zeros((m, 0))
    from scipy.stats import qmc  # scipy.stats costs ~0.3 s to import: only on this path
    return qmc.Sobol(dim, scramble=True, rng=np.random.default_rng([seed, r])).random(m)


def exact_qmc(z: np.ndarray, y: np.ndarray, sigma: float, n_points: int, seed: int,
              want_grad: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-sample EXACT loss, its standard error, and (optionally) dL/dz; NumPy float64."""
    B, C = z.shape
    d = C - 1
    m = n_points // N_RANDOMIZATIONS
    rows = np.arange(B)
    mask = np.ones((B, C), bool)
    mask[rows, y] = False
    a = ((z[rows, y][:, None] - z)[mask].reshape(B, d)) / sigma
    if d == 0:
        return np.zeros(B), np.zeros(B), (np.zeros((B, C)) if want_grad else None)
    L = np.linalg.cholesky(np.eye(d) + np.ones((d, d)))
    Lc = np.linalg.cholesky(np.eye(d - 1) + 0.5 * np.ones((d - 1, d - 1))) if d > 1 else None
    est = np.empty((N_RANDOMIZATIONS, B))
    dP = np.zeros((B, d)) if want_grad else None
    for r in range(N_RANDOMIZATIONS):
        U = _points(d - 1, m, seed, r)
        est[r] = _genz(a, L, U)
        if dP is not None:            # want_grad
            for i in range(d):
                dens = np.exp(-0.25 * a[:, i] ** 2) / (2.0 * math.sqrt(math.pi))
                if d == 1:
                    cond = np.ones(B)
                else:
                    assert Lc is not None   # d > 1
                    rest = np.delete(a, i, axis=1) - 0.5 * a[:, i:i + 1]
                    cond = _genz(rest, Lc, U[:, :d - 2])
                dP[:, i] += dens * cond / N_RANDOMIZATIONS
    P = est.mean(axis=0)
    stderr = est.std(axis=0, ddof=1) / math.sqrt(N_RANDOMIZATIONS)
    grad = None
    if dP is not None:                # want_grad
        grad = np.zeros((B, C))
        g = dP / sigma
        grad[mask] = g.reshape(-1)
        grad[rows, y] = -g.sum(axis=1)
    return 1.0 - P, stderr, grad
