"""Exact oracles: data laws whose noisy marginals, scores and posteriors are known in closed form.

With ``x_n = a x_0 + b eps`` (``a = sqrt(alpha_bar[n])``, ``b^2 = beta_bar[n]``):

* Gaussian mixture ``sum_k w_k N(mu_k, L_k)``: the marginal is ``sum_k w_k N(a mu_k, C_k)`` with
  ``C_k = a^2 L_k + b^2 I``; component posteriors of ``x_0`` are Gaussian with gain
  ``a L_k C_k^{-1}`` and covariance ``b^2 L_k C_k^{-1}``.  Working in the eigenbasis of ``L_k``
  needs no inverse of ``L_k``, so singular covariances (point masses) are fine.
* Point set ``{y_i, w_i}``: responsibilities ``softmax(log w_i - |x - a y_i|^2 / (2 b^2))``.

The exact noise predictor is ``eps*(x, n) = E[eps | x_n = x] = -b grad log q_n(x)``.
Responsibilities use log-sum-exp, so the oracles stay finite at tiny ``b``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from probspace import array_namespace, as_float_array, to_numpy
from probspace.random import as_stream
from probspace.typing import Array, DType, Namespace, Seed

from ._schedule import NoiseSchedule

EpsFn = Callable[[Array, Any], Array]

from ._inputs import as_float64
from ._common import as_batch, check_schedule, logsumexp0, softmax0, step_coeffs

__all__ = ["GaussianMixture", "PointSet"]


def _check_weights(weights, k, name="weights"):
    w = as_float64(weights, name)
    if w.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    if abs(w.sum() - 1.0) > 1e-8:
        raise ValueError(f"{name} must sum to 1, got {w.sum()!r}")
    return w / w.sum()


class _Oracle:
    """Shared machinery: predictors bound to a schedule and the SN/NPR second moments."""

    dim: int

    # implemented by each oracle -----------------------------------------------------------
    def sample(self, m: int, seed: Seed = None, *, xp: Namespace = None,
               dtype: DType = None) -> Array:
        raise NotImplementedError

    def _score(self, xp: Namespace, x: Array, a: Array, b2: Array) -> Array:
        raise NotImplementedError

    def _score_var(self, xp: Namespace, x: Array, a: Array, b2: Array) -> tuple[Array, Array]:
        raise NotImplementedError

    def _moments(self, xp: Namespace, x: Array, a: Array, b2: Array, what: str) -> Array:
        raise NotImplementedError

    def _log_prob(self, xp: Namespace, x: Array, a: Array, b2: Array) -> Array:
        raise NotImplementedError

    # shared -------------------------------------------------------------------------------
    def noise_predictor(self, schedule: NoiseSchedule) -> EpsFn:
        """The exact noise predictor ``eps(x_n, n) = E[eps | x_n]`` for ``schedule``.

        The returned function takes ``x_n`` of shape ``(m, d)`` and a step ``n`` (an integer in
        ``1..N`` or an integer array of shape ``(m,)``) and returns an array like ``x_n``.
        """
        check_schedule(schedule)

        def eps(x_n: Array, n: Any) -> Array:
            return self.eps(x_n, n, schedule)
        eps.oracle = self  # type: ignore[attr-defined]
        return eps

    def eps(self, x_n: Array, n: Any, schedule: NoiseSchedule) -> Array:
        """Exact ``E[eps | x_n]`` (``= -sqrt(beta_bar[n]) * score``)."""
        xp, x = as_batch(x_n, "x_n", dim=self.dim)
        a, b2 = step_coeffs(check_schedule(schedule), n, xp, x.dtype, x.shape[0])
        return -(b2 ** 0.5) * self._score(xp, x, a, b2)

    def score(self, x_n: Array, n: Any, schedule: NoiseSchedule) -> Array:
        """Exact score ``grad log q_n(x_n)``, shape ``(m, d)``."""
        xp, x = as_batch(x_n, "x_n", dim=self.dim)
        a, b2 = step_coeffs(check_schedule(schedule), n, xp, x.dtype, x.shape[0])
        return self._score(xp, x, a, b2)

    def posterior_mean(self, x_n: Array, n: Any, schedule: NoiseSchedule) -> Array:
        """``E[x_0 | x_n]``, shape ``(m, d)``."""
        xp, x = as_batch(x_n, "x_n", dim=self.dim)
        a, b2 = step_coeffs(check_schedule(schedule), n, xp, x.dtype, x.shape[0])
        return self._moments(xp, x, a, b2, "mean")[0]

    def posterior_var(self, x_n: Array, n: Any, schedule: NoiseSchedule) -> Array:
        """Diagonal of ``Cov[x_0 | x_n]``, shape ``(m, d)``."""
        xp, x = as_batch(x_n, "x_n", dim=self.dim)
        a, b2 = step_coeffs(check_schedule(schedule), n, xp, x.dtype, x.shape[0])
        return self._moments(xp, x, a, b2, "var")[1]

    def posterior_cov(self, x_n: Array, n: Any, schedule: NoiseSchedule) -> Array:
        """``Cov[x_0 | x_n]``, shape ``(m, d, d)``."""
        xp, x = as_batch(x_n, "x_n", dim=self.dim)
        a, b2 = step_coeffs(check_schedule(schedule), n, xp, x.dtype, x.shape[0])
        return self._moments(xp, x, a, b2, "cov")[1]

    def log_prob(self, x_n: Array, n: Any, schedule: NoiseSchedule) -> Array:
        """``log q_n(x_n)`` (``n = 0`` is the data density itself where it exists), shape ``(m,)``."""
        xp, x = as_batch(x_n, "x_n", dim=self.dim)
        a, b2 = step_coeffs(check_schedule(schedule), n, xp, x.dtype, x.shape[0], allow_zero=True)
        return self._log_prob(xp, x, a, b2)

    # SN / NPR targets -------------------------------------------------------------------
    def eps_second_moment(self, schedule: NoiseSchedule) -> EpsFn:
        """Exact SN-DPM target ``h(x_n, n) = E[eps^2 | x_n]`` (elementwise), as a function.

        ``E[eps_i^2 | x] = eps*_i(x)^2 + (alpha_bar/beta_bar) Var[x_0i | x]``.
        """
        check_schedule(schedule)

        def h(x_n: Array, n: Any) -> Array:
            xp, x = as_batch(x_n, "x_n", dim=self.dim)
            a, b2 = step_coeffs(schedule, n, xp, x.dtype, x.shape[0])
            score, var = self._score_var(xp, x, a, b2)
            e = -(b2 ** 0.5) * score
            return e * e + (a * a / b2) * var
        return h

    def npr_second_moment(self, schedule: NoiseSchedule, eps_fn: EpsFn) -> EpsFn:
        """Exact NPR-DPM target ``g(x_n, n) = E[(eps - eps_fn(x_n, n))^2 | x_n]`` for a given predictor.

        ``g = (eps* - eps_hat)^2 + (alpha_bar/beta_bar) Var[x_0 | x_n]`` elementwise.
        """
        check_schedule(schedule)
        if not callable(eps_fn):
            raise TypeError("eps_fn must be callable")

        def g(x_n: Array, n: Any) -> Array:
            xp, x = as_batch(x_n, "x_n", dim=self.dim)
            a, b2 = step_coeffs(schedule, n, xp, x.dtype, x.shape[0])
            score, var = self._score_var(xp, x, a, b2)
            diff = -(b2 ** 0.5) * score - eps_fn(x, n)
            return diff * diff + (a * a / b2) * var
        return g

    def sample_noisy(self, m: int, n: Any, schedule: NoiseSchedule, seed: Seed = None, *,
                     xp: Namespace = None,
                     dtype: DType = None) -> tuple[Array, Array, Array]:
        """``(x0, eps, x_n)`` with ``x_n = sqrt(alpha_bar[n]) x0 + sqrt(beta_bar[n]) eps``."""
        s0, s1 = as_stream(seed).spawn(2)
        x0 = self.sample(m, s0, xp=xp, dtype=dtype)
        xq = array_namespace(x0, names=("x0",))
        eps = s1.normal((m, self.dim), xp=xq, dtype=x0.dtype)
        a, b2 = step_coeffs(check_schedule(schedule), n, xq, x0.dtype, m, allow_zero=True)
        return x0, eps, a * x0 + (b2 ** 0.5) * eps


class GaussianMixture(_Oracle):
    r"""Gaussian mixture ``sum_k w_k N(mu_k, Sigma_k)`` in ``R^d`` with full (possibly singular) covariances.

    NaN or inf in ``weights``, ``means`` or ``covs`` raise ``ValueError``.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, summing to 1.
    means : array_like, shape (K, d)
    covs : array_like, shape (K, d, d)
        Symmetric positive semi-definite.

    Notes
    -----
    All methods taking ``x_n`` accept any array-API array of shape ``(m, d)`` and return arrays
    of the same namespace and dtype.  Parameters are stored as float64 NumPy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.diffusion import GaussianMixture, NoiseSchedule
    >>> gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.1]], [[0.1]]])
    >>> sch = NoiseSchedule.linear(100)
    >>> eps = gm.noise_predictor(sch)
    >>> eps(np.zeros((1, 1)), 50).shape
    (1, 1)
    """

    def __init__(self, weights: Any, means: Any, covs: Any) -> None:
        mu = as_float64(means, "means")
        if mu.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {mu.shape}")
        k, d = mu.shape
        cv = as_float64(covs, "covs")
        if cv.shape != (k, d, d):
            raise ValueError(f"covs must have shape ({k}, {d}, {d}) for means of shape ({k}, {d}), "
                             f"got {cv.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cv))):
            raise ValueError("means and covs must be finite")
        if not np.allclose(cv, np.swapaxes(cv, 1, 2), rtol=1e-10, atol=1e-12):
            raise ValueError("covs must be symmetric")
        self.weights = _check_weights(weights, k)
        self.means = mu
        self.covs = 0.5 * (cv + np.swapaxes(cv, 1, 2))
        lam, U = np.linalg.eigh(self.covs)
        scale = max(1.0, float(np.max(np.abs(lam))))
        if np.any(lam < -1e-10 * scale):
            raise ValueError("covs must be positive semi-definite")
        self._lam = np.maximum(lam, 0.0)   # round-off negatives of singular covariances -> 0
        self._U = U
        self.dim = d
        self.n_components = k
        self._cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"GaussianMixture(n_components={self.n_components}, dim={self.dim})"

    @property
    def mean(self) -> np.ndarray:
        """Mean of the data law (NumPy, shape (d,))."""
        return self.weights @ self.means

    @property
    def second_moment(self) -> np.ndarray:
        """``E[x_0 x_0^T]`` (NumPy, shape (d, d))."""
        return np.einsum("k,kij->ij", self.weights, self.covs + self.means[:, :, None] * self.means[:, None, :])

    def sample(self, m: int, seed: Seed = None, *, xp: Namespace = None,
               dtype: DType = None) -> Array:
        """``m`` draws of ``x_0``, shape ``(m, d)`` (NumPy unless ``xp``), reproducible from ``seed``."""
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise ValueError(f"m must be a non-negative integer, got {m!r}")
        m = int(m)
        su, sz = as_stream(seed).spawn(2)
        u = su.uniform((m,))
        comp = np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), self.n_components - 1)
        z = sz.normal((m, self.dim))
        x = self.means[comp] + np.einsum("mij,mj->mi", self._U[comp], np.sqrt(self._lam[comp]) * z)
        if xp is None:
            import array_api_compat.numpy as xp
        out = xp.asarray(x)
        if dtype is not None:
            out = xp.astype(out, dtype)
        return out

    def _params(self, xp, dtype):
        key = (xp.__name__, str(dtype))
        if key not in self._cache:
            self._cache[key] = (xp.asarray(self.means, dtype=dtype), xp.asarray(self._lam, dtype=dtype),
                                xp.asarray(self._U, dtype=dtype), xp.asarray(np.log(self.weights + 1e-300), dtype=dtype),
                                xp.asarray(np.ascontiguousarray(np.swapaxes(self._U, 1, 2)), dtype=dtype))
        return self._cache[key]

    def _core(self, xp, x, a, b2):
        """Per-component pieces in layout (K, m, d): z (eigen-coordinates of x - a mu), c, log-weights."""
        mu, lam, U, logw, _ = self._params(xp, x.dtype)
        A = a if isinstance(a, float) else a[None, ...]
        B2 = b2 if isinstance(b2, float) else b2[None, ...]
        diff = x[None, :, :] - A * mu[:, None, :]
        z = xp.matmul(diff, U)                       # (K, m, d): coordinates along eigenvectors
        c = (A * A) * lam[:, None, :] + B2          # eigenvalues of C_k, (K, 1 or m, d)
        logp = (logw[:, None] - 0.5 * xp.sum(z * z / c, axis=2) - 0.5 * xp.sum(xp.log(c), axis=2)
                - 0.5 * self.dim * math.log(2 * math.pi))
        return z, c, logp, A, B2

    def _log_prob(self, xp, x, a, b2):
        if isinstance(b2, float) and b2 == 0.0 and np.any(self._lam <= 0):
            raise ValueError("the data law has a singular component: log q_0 does not exist")
        _, _, logp, _, _ = self._core(xp, x, a, b2)
        return logsumexp0(xp, logp)

    def _score(self, xp, x, a, b2):
        z, c, logp, _, _ = self._core(xp, x, a, b2)
        r = softmax0(xp, logp)
        Ut = self._params(xp, x.dtype)[4]
        return -xp.sum(xp.matmul(r[:, :, None] * (z / c), Ut), axis=0)

    def _score_var(self, xp, x, a, b2):
        return self._moments(xp, x, a, b2, "score_var")

    def _moments(self, xp, x, a, b2, what):
        z, c, logp, A, B2 = self._core(xp, x, a, b2)
        mu, lam, U, _, Ut = self._params(xp, x.dtype)
        r = softmax0(xp, logp)[:, :, None]               # (K, m, 1)
        gain = A * lam[:, None, :] / c                   # eigen-gains of a L C^{-1}
        mk = mu[:, None, :] + xp.matmul(gain * z, Ut)    # component posterior means, (K, m, d)
        mean = xp.sum(r * mk, axis=0)
        if what == "mean":
            return mean, None
        v = lam[:, None, :] * B2 / c                     # eigenvalues of V_k = b^2 L C^{-1}
        dm = mk - mean[None, :, :]
        if what in ("var", "score_var"):
            # diag(U diag(v) U^T)_i = sum_j U_ij^2 v_j; plus the between-component spread
            within = xp.matmul(v, xp.permute_dims(U * U, (0, 2, 1)))
            var = xp.sum(r * (within + dm * dm), axis=0)
            if what == "var":
                return mean, var
            return -xp.sum(xp.matmul(r * (z / c), Ut), axis=0), var
        # full covariance: sum_k r_k (U_k diag(v_k) U_k^T + dm_k dm_k^T)
        Vk = xp.matmul(U[:, None, :, :] * v[:, :, None, :], Ut[:, None, :, :])   # (K, m|1, d, d)
        cov = xp.sum(r[..., None] * (Vk + dm[..., :, None] * dm[..., None, :]), axis=0)
        return mean, cov


class PointSet(_Oracle):
    r"""Discrete data law: points ``y_i`` with probabilities ``w_i`` (the "ideal denoiser" case).

    NaN or inf in ``points`` or ``weights`` raise ``ValueError``.

    Parameters
    ----------
    points : array_like, shape (P, d)
    weights : array_like, shape (P,), optional
        Probabilities (uniform when omitted).

    Notes
    -----
    ``E[x_0 | x_n] = sum_i r_i y_i`` with ``r = softmax(log w_i - |x_n - a y_i|^2 / (2 b^2))``;
    the posterior variance is bounded by Popoviciu's inequality, ``((hi - lo)/2)^2`` per
    coordinate for points in ``[lo, hi]^d``.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.diffusion import NoiseSchedule, PointSet
    >>> data = PointSet([[-1.0], [1.0]])            # two points, probability 1/2 each
    >>> sch = NoiseSchedule.linear(1000)
    >>> x = np.array([[0.9], [0.0]])
    >>> m = data.posterior_mean(x, 10, sch)        # E[x_0 | x_10]: nearly the closest point
    >>> bool(abs(m[0, 0] - 1.0) < 1e-9), float(m[1, 0])   # x = 0 is halfway: the mean is 0
    (True, 0.0)
    """

    def __init__(self, points: Any, weights: Any = None) -> None:
        y = as_float64(points, "points")
        if y.ndim != 2 or y.shape[0] < 1:
            raise ValueError(f"points must have shape (P, d) with P >= 1, got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("points must be finite")
        p, d = y.shape
        self.weights = np.full(p, 1.0 / p) if weights is None else _check_weights(weights, p)
        self.points = y
        self._center = self.weights @ y
        self.dim = d
        self.n_points = p
        self._cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"PointSet(n_points={self.n_points}, dim={self.dim})"

    @property
    def mean(self) -> np.ndarray:
        """Mean of the data law (NumPy, shape (d,))."""
        return self._center.copy()

    @property
    def second_moment(self) -> np.ndarray:
        """``E[x_0 x_0^T]`` (NumPy, shape (d, d))."""
        return np.einsum("p,pi,pj->ij", self.weights, self.points, self.points)

    def sample(self, m: int, seed: Seed = None, *, xp: Namespace = None,
               dtype: DType = None) -> Array:
        """``m`` draws (rows of ``points``), shape ``(m, d)``."""
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise ValueError(f"m must be a non-negative integer, got {m!r}")
        u = as_stream(seed).uniform((int(m),))
        idx = np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), self.n_points - 1)
        if xp is None:
            import array_api_compat.numpy as xp
        out = xp.asarray(self.points[idx])
        if dtype is not None:
            out = xp.astype(out, dtype)
        return out

    def _params(self, xp, dtype):
        key = (xp.__name__, str(dtype))
        if key not in self._cache:
            yc = self.points - self._center      # centred: smaller numbers, less cancellation
            self._cache[key] = (xp.asarray(yc, dtype=dtype), xp.asarray(self._center, dtype=dtype),
                                xp.asarray(np.log(self.weights + 1e-300), dtype=dtype),
                                xp.asarray(np.sum(yc * yc, axis=1), dtype=dtype),
                                xp.asarray(yc * yc, dtype=dtype))
        return self._cache[key]

    def _logits(self, xp, x, a, b2):
        yc, center, logw, ysq, _ = self._params(xp, x.dtype)
        xc = x - a * center[None, :]                       # x - a*center, so x - a y_i = xc - a yc_i
        # -|xc - a yc|^2/(2 b^2) up to the row constant -|xc|^2/(2b^2)
        return logw[None, :] + (a * xp.matmul(xc, xp.permute_dims(yc, (1, 0))) - 0.5 * (a * a) * ysq[None, :]) / b2, xc

    def _log_prob(self, xp, x, a, b2):
        if isinstance(b2, float) and b2 == 0.0:
            raise ValueError("a point set has no density at n = 0")
        lg, xc = self._logits(xp, x, a, b2)
        lse = logsumexp0(xp, xp.permute_dims(lg, (1, 0)))
        if isinstance(b2, float):
            lognorm = 0.5 * self.dim * math.log(2 * math.pi * b2)
            return lse - xp.sum(xc * xc, axis=1) / (2 * b2) - lognorm
        return lse - xp.sum(xc * xc, axis=1) / (2 * b2[:, 0]) - 0.5 * self.dim * xp.log(2 * math.pi * b2[:, 0])

    def _resp(self, xp, x, a, b2):
        lg, xc = self._logits(xp, x, a, b2)
        return xp.permute_dims(softmax0(xp, xp.permute_dims(lg, (1, 0))), (1, 0)), xc   # (m, P)

    def _score(self, xp, x, a, b2):
        r, xc = self._resp(xp, x, a, b2)
        yc = self._params(xp, x.dtype)[0]
        return (a * xp.matmul(r, yc) - xc) / b2

    def _score_var(self, xp, x, a, b2):
        r, xc = self._resp(xp, x, a, b2)
        yc, _, _, _, ysq_el = self._params(xp, x.dtype)
        ec = xp.matmul(r, yc)
        return (a * ec - xc) / b2, xp.clip(xp.matmul(r, ysq_el) - ec * ec, 0.0, None)

    def _moments(self, xp, x, a, b2, what):
        r, _ = self._resp(xp, x, a, b2)
        yc, center, _, _, ysq_el = self._params(xp, x.dtype)
        ec = xp.matmul(r, yc)
        mean = ec + center[None, :]
        if what == "mean":
            return mean, None
        if what == "var":
            # E[y^2] - E[y]^2 on centred points; round-off can leave tiny negatives -> 0
            return mean, xp.clip(xp.matmul(r, ysq_el) - ec * ec, 0.0, None)
        p, d = self.points.shape
        outer = xp.reshape(yc[:, :, None] * yc[:, None, :], (p, d * d))
        second = xp.reshape(xp.matmul(r, outer), (r.shape[0], d, d))
        return mean, second - ec[:, :, None] * ec[:, None, :]
