"""Discrete-time noise schedules in the paper's (Bao et al.) notation: variances, steps 0..N."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from probspace._validation import check_int, check_positive

from ._inputs import as_float64

__all__ = ["NoiseSchedule", "even_trajectory", "check_trajectory"]


class NoiseSchedule:
    r"""Variance schedule of a discrete-time diffusion ``q(x_n | x_0) = N(sqrt(alpha_bar[n]) x_0, beta_bar[n] I)``.

    NaN, inf or betas outside (0, 1) raise ``ValueError``; complex betas raise ``TypeError``.

    Paper notation (Bao et al. 2022): ``alpha_bar`` and ``beta_bar = 1 - alpha_bar`` are
    *variances* (J. Su's posts on diffusion models use the standard deviations
    ``sqrt(alpha_bar)``, ``sqrt(beta_bar)``).
    Arrays have ``N + 1`` entries, index ``n = 0..N`` with ``betas[0] = 0`` and
    ``alpha_bar[0] = 1``.

    Parameters
    ----------
    betas : array_like, shape (N,)
        ``beta_1 .. beta_N``, each in ``(0, 1)``.

    Attributes
    ----------
    N : int
    betas, alphas, alpha_bar, beta_bar, log_alpha_bar : ndarray, shape (N + 1,)
        float64 NumPy arrays; ``beta_bar`` is computed as ``-expm1(log_alpha_bar)`` so that
        it keeps full relative precision at small ``n``.

    Examples
    --------
    >>> from solvers.diffusion import NoiseSchedule
    >>> sch = NoiseSchedule.linear(1000)
    >>> float(sch.beta_bar[1])
    0.0001
    """

    def __init__(self, betas: Any) -> None:
        b = as_float64(betas, "betas")
        if b.ndim != 1 or b.size < 1:
            raise ValueError(f"betas must be a non-empty 1-D array, got shape {b.shape}")
        if not np.all(np.isfinite(b)) or np.any(b <= 0) or np.any(b >= 1):
            raise ValueError("betas must lie in the open interval (0, 1)")
        self.N = int(b.size)
        self.betas = np.concatenate([[0.0], b])
        self.alphas = 1.0 - self.betas
        self.log_alpha_bar = np.concatenate([[0.0], np.cumsum(np.log1p(-b))])
        self.alpha_bar = np.exp(self.log_alpha_bar)
        self.beta_bar = -np.expm1(self.log_alpha_bar)
        for arr in (self.betas, self.alphas, self.log_alpha_bar, self.alpha_bar, self.beta_bar):
            arr.setflags(write=False)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_betas(cls, betas: Any) -> NoiseSchedule:
        """Schedule from ``beta_1 .. beta_N`` (length ``N``)."""
        return cls(betas)

    @classmethod
    def linear(cls, N: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> NoiseSchedule:
        """Ho et al. (2020) linear schedule: ``beta_n`` evenly spaced from ``beta_start`` to ``beta_end``.

        Examples
        --------
        >>> from solvers.diffusion import NoiseSchedule
        >>> sch = NoiseSchedule.linear(1000)
        >>> sch.N, float(sch.betas[1]), float(sch.betas[1000])
        (1000, 0.0001, 0.02)
        >>> bool(sch.alpha_bar[1000] < 1e-4)     # x_N is almost pure noise
        True
        """
        N = check_int(N, "N", minimum=1)
        beta_start = check_positive(beta_start, "beta_start")
        beta_end = check_positive(beta_end, "beta_end")
        if beta_start >= 1 or beta_end >= 1:
            raise ValueError("beta_start and beta_end must be below 1")
        if N == 1:
            return cls([beta_start])
        return cls(np.linspace(beta_start, beta_end, N))

    @classmethod
    def cosine(cls, N: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """Nichol & Dhariwal (2021) cosine schedule.

        ``alpha_bar(n) = f(n) / f(0)`` with ``f(n) = cos^2(((n/N + s)/(1 + s)) pi/2)``; the
        betas ``1 - alpha_bar[n]/alpha_bar[n-1]`` are capped at ``max_beta`` (0.999, as in
        the original) because the last one is 1.
        """
        N = check_int(N, "N", minimum=1)
        s = check_positive(s, "s")
        max_beta = check_positive(max_beta, "max_beta")
        if max_beta >= 1:
            raise ValueError(f"max_beta must be below 1, got {max_beta}")
        n = np.arange(N + 1, dtype=np.float64)
        f = np.cos((n / N + s) / (1 + s) * math.pi / 2) ** 2
        ab = f / f[0]
        betas = np.minimum(1.0 - ab[1:] / ab[:-1], max_beta)
        if not np.all((betas > 0) & (betas < 1)):   # s so large that f no longer decreases
            raise ValueError(f"s={s!r} gives betas outside (0, 1) for N={N} (alpha_bar does not "
                             "decrease strictly in float64)")
        return cls(betas)

    def __repr__(self) -> str:
        return (f"NoiseSchedule(N={self.N}, beta_1={self.betas[1]:.3g}, beta_N={self.betas[-1]:.3g}, "
                f"alpha_bar_N={self.alpha_bar[-1]:.3g})")

    # -- skip quantities -------------------------------------------------------------------
    def _st(self, s: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
        s_arr = np.asarray(s)
        t_arr = np.asarray(t)
        for name, v in (("s", s_arr), ("t", t_arr)):
            if not np.issubdtype(v.dtype, np.integer):
                raise TypeError(f"{name} must be integer time indices, got dtype {v.dtype}")
            if np.any(v < 0) or np.any(v > self.N):
                raise ValueError(f"{name} must lie in [0, N={self.N}]")
        if np.any(s_arr > t_arr):
            raise ValueError("need s <= t")
        return s_arr, t_arr

    @staticmethod
    def _out(v: Any, s: Any, t: Any) -> Any:
        return float(v) if np.ndim(s) == 0 and np.ndim(t) == 0 else v

    def alpha_ts(self, s: Any, t: Any) -> Any:
        r"""``alpha_{t|s} = alpha_bar[t] / alpha_bar[s]`` (variance kept from ``s`` to ``t``)."""
        s_arr, t_arr = self._st(s, t)
        return self._out(np.exp(self.log_alpha_bar[t_arr] - self.log_alpha_bar[s_arr]), s, t)

    def beta_ts(self, s: Any, t: Any) -> Any:
        r"""``beta_{t|s} = 1 - alpha_{t|s}`` (noise variance added from ``s`` to ``t``), full precision."""
        s_arr, t_arr = self._st(s, t)
        return self._out(-np.expm1(self.log_alpha_bar[t_arr] - self.log_alpha_bar[s_arr]), s, t)

    def tilde_beta(self, s: Any, t: Any) -> Any:
        r"""``tilde beta_{s|t} = beta_{t|s} beta_bar[s] / beta_bar[t]``: the variance of ``q(x_s | x_t, x_0)``."""
        s_arr, t_arr = self._st(s, t)
        if np.any(t_arr == 0):
            raise ValueError("tilde_beta needs t >= 1")
        bts = -np.expm1(self.log_alpha_bar[t_arr] - self.log_alpha_bar[s_arr])
        return self._out(bts * self.beta_bar[s_arr] / self.beta_bar[t_arr], s, t)


def even_trajectory(N: int | NoiseSchedule, K: int) -> np.ndarray:
    """The even trajectory (ET) of the official code, with ``0`` prepended.

    Takes integers only (a NaN or inf argument raises ``TypeError``).

    ``tau_k = round(1 + a (k - 1))`` for ``k = 1..K`` with ``a = (N - 1)/(K - 1)``, so that
    ``tau_1 = 1`` and ``tau_K = N``; returns ``[0, tau_1, ..., tau_K]`` (``K + 1`` indices).
    ``K = 1`` gives ``[0, N]``.  ``N`` may also be a :class:`NoiseSchedule`.

    Examples
    --------
    >>> from solvers.diffusion import even_trajectory
    >>> even_trajectory(1000, 4)
    array([   0,    1,  334,  667, 1000])
    """
    if isinstance(N, NoiseSchedule):
        N = N.N
    N = check_int(N, "N", minimum=1)
    K = check_int(K, "K", minimum=1)
    if K > N:
        raise ValueError(f"K must be <= N={N}, got {K}")
    if K == 1:
        return np.array([0, N], dtype=np.int64)
    a = (N - 1) / (K - 1)
    taus = [0] + [int(round(1 + a * k)) for k in range(K)]
    return np.array(taus, dtype=np.int64)


def check_trajectory(trajectory: Any, N: int, name: str = "trajectory") -> np.ndarray:
    """Validate ``0 = tau_0 < tau_1 < ... < tau_K = N``; returns an int64 NumPy array."""
    try:
        tr = np.asarray(trajectory)
    except Exception:
        raise TypeError(f"{name} must be a sequence of integers") from None
    if tr.ndim != 1 or tr.size < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 time indices, got shape {tr.shape}")
    if tr.dtype.kind == "f":
        if not np.all(tr == np.round(tr)):
            raise TypeError(f"{name} must contain integers")
        tr = tr.astype(np.int64)
    elif tr.dtype.kind not in "iu":
        raise TypeError(f"{name} must contain integers, got dtype {tr.dtype}")
    tr = tr.astype(np.int64)
    if tr[0] != 0 or tr[-1] != N:
        raise ValueError(f"{name} must start at 0 and end at N={N}, got {tr[0]} .. {tr[-1]}")
    if np.any(np.diff(tr) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return tr


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)
