"""Reverse variances of ``p(x_s | x_t)``: the DDPM baselines, Analytic-DPM, and the per-point SN/NPR-DPM.

Paper notation (Bao et al. 2022), variances throughout.  For a step ``s < t`` of the
DDIM family with ``lambda^2 = eta^2 tilde_beta_{s|t}``:

* mean: ``mu = sqrt(alpha_bar_s) x0_hat + sqrt(beta_bar_s - lambda^2) (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(beta_bar_t)``
* optimal variance (Theorem 1 / Lemma 13): ``sigma*^2 = lambda^2 + gamma^2 E tr Cov[x0|x_t] / d`` with
  ``gamma = sqrt(alpha_bar_s) - sqrt((beta_bar_s - lambda^2) alpha_bar_t / beta_bar_t)``
* Analytic-DPM: ``E tr Cov[x0|x_t]/d = (beta_bar_t/alpha_bar_t)(1 - ms_eps[t])`` (Lemma 11).
* Bounds (Theorem 2): ``lambda^2 <= sigma*^2 <= lambda^2 + gamma^2 beta_bar_t/alpha_bar_t`` (11) and,
  for data in ``[lo, hi]^d``, ``sigma*^2 <= lambda^2 + gamma^2 ((hi - lo)/2)^2`` (12).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from probspace import Result, array_namespace, as_float_array, to_numpy
from probspace._validation import check_nonnegative, check_positive, check_probability
from probspace.typing import Array, ArrayLike

from ._common import check_schedule
from ._inputs import as_int64
from ._schedule import NoiseSchedule, check_trajectory

__all__ = ["step_coefficients", "analytic_variance", "baseline_variances", "sn_variance", "npr_variance",
           "SNVariance", "NPRVariance", "paper_sampling_clip", "AnalyticVariance"]


def _check_eta(eta: Any) -> float:
    return check_probability(eta, "eta")   # [0, 1]: beta_bar_s - lambda^2 >= 0 needs eta <= 1


def step_coefficients(schedule: NoiseSchedule, s: ArrayLike, t: ArrayLike,
                      eta: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of the DDIM-family step ``s < t`` (NumPy float64, broadcasting over ``s``, ``t``).

    NaN or inf steps or ``eta`` raise (``TypeError``/``ValueError``).

    All three are computed without cancellation:
    ``beta_bar_t - eta^2 beta_{t|s} = (1 - eta^2) beta_{t|s} + alpha_{t|s} beta_bar_s`` and
    ``gamma = (alpha_bar_s beta_{t|s} + alpha_bar_t lambda^2) /
    (beta_bar_t (sqrt(alpha_bar_s) + c_x sqrt(alpha_bar_t)))``.

    Parameters
    ----------
    schedule : NoiseSchedule
    s, t : int or array of int
        Time indices with ``0 <= s < t <= N``.
    eta : float, default 1.0
        ``eta = 1``: the DDPM family (``lambda^2 = tilde_beta``); ``eta = 0``: DDIM.

    Returns
    -------
    lam2 : ndarray
        ``lambda^2 = eta^2 tilde_beta_{s|t}`` (0 at ``s = 0``), the variance of
        ``q(x_s | x_t, x_0)``.
    c_x : ndarray
        Coefficient of ``x_t`` in the mean, ``sqrt(beta_bar_s - lambda^2) / sqrt(beta_bar_t)``.
    gamma : ndarray
        Coefficient of ``x0_hat`` in the mean, ``sqrt(alpha_bar_s) - c_x sqrt(alpha_bar_t)``.

    Raises
    ------
    ValueError
        Unless ``0 <= s < t <= N`` everywhere, or for ``eta`` outside ``[0, 1]``.

    Examples
    --------
    >>> from solvers.diffusion import NoiseSchedule, step_coefficients
    >>> sch = NoiseSchedule.linear(1000)
    >>> lam2, c_x, gamma = step_coefficients(sch, 9, 10)
    >>> bool(abs(lam2 - sch.tilde_beta(9, 10)) < 1e-15)   # eta = 1: the DDPM posterior variance
    True
    """
    schedule = check_schedule(schedule)
    eta = _check_eta(eta)
    s = as_int64(s, "s")
    t = as_int64(t, "t")
    try:
        np.broadcast_shapes(s.shape, t.shape)
    except ValueError:
        raise ValueError(f"s {s.shape} and t {t.shape} do not broadcast together") from None
    if np.any(s >= t) or np.any(s < 0) or np.any(t > schedule.N):
        raise ValueError(f"need 0 <= s < t <= N={schedule.N} for every pair (s, t)")
    ab_s, ab_t = schedule.alpha_bar[s], schedule.alpha_bar[t]
    bb_s, bb_t = schedule.beta_bar[s], schedule.beta_bar[t]
    b_ts = -np.expm1(schedule.log_alpha_bar[t] - schedule.log_alpha_bar[s])
    a_ts = np.exp(schedule.log_alpha_bar[t] - schedule.log_alpha_bar[s])
    lam2 = eta * eta * b_ts * bb_s / bb_t
    rest = bb_s * ((1 - eta * eta) * b_ts + a_ts * bb_s) / bb_t      # beta_bar_s - lambda^2
    c_x = np.sqrt(rest / bb_t)
    gamma = (ab_s * b_ts + ab_t * lam2) / (bb_t * (np.sqrt(ab_s) + c_x * np.sqrt(ab_t)))
    return lam2, c_x, gamma


def _range_half_width(data_range: Any) -> float | None:
    if data_range is None:
        return None
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise TypeError("data_range must be a pair (lo, hi)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"data_range must satisfy lo < hi (finite), got {data_range!r}")
    return 0.5 * (hi - lo)


def _range_width_given(data_range: Any) -> float:
    """:func:`_range_half_width` of a range that is not None."""
    half = _range_half_width(data_range)
    if half is None:
        raise TypeError("a data range (lo, hi) is required here, got None")
    return half


def paper_sampling_clip(y: float = 2.0, *, data_range: tuple[float, float] = (-1.0, 1.0),
                        levels: int = 256) -> float:
    r"""The paper's sampling-only threshold for the last noisy step (Appendix F.2).

    NaN or inf arguments, or a threshold that overflows, raise ``ValueError``.

    Clip ``sigma^2`` of ``p(x_{tau_1} | x_{tau_2})`` so that ``E|sigma eps| <= y * Delta`` with
    ``Delta = (hi - lo)/(levels - 1)`` the quantization width: ``sigma^2 <= (y Delta sqrt(pi/2))^2``
    (3.87e-4 for ``y = 2``, 9.66e-5 for ``y = 1`` on 8-bit data in ``[-1, 1]``).

    Examples
    --------
    >>> from solvers.diffusion import paper_sampling_clip
    >>> f"{paper_sampling_clip(2.0):.3g}, {paper_sampling_clip(1.0):.3g}"
    '0.000387, 9.66e-05'
    """
    y = check_positive(y, "y")
    half = _range_width_given(data_range)
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    delta = 2 * half / (levels - 1)
    clip = (y * delta * math.sqrt(math.pi / 2)) ** 2 if y * delta < 1e150 else math.inf
    if not math.isfinite(clip):
        raise ValueError(f"y * (hi - lo) is too large: the threshold overflows (y={y!r}, "
                         f"data_range={data_range!r})")
    return clip


class AnalyticVariance(Result):
    """Full output of :func:`analytic_variance`.

    Attributes
    ----------
    variances : array (K,)      the clipped estimate (what ``analytic_variance`` returns)
    raw : ndarray (K,)          ``lambda^2 + gamma^2 cov_x0`` before clipping
    lower : ndarray (K,)        ``lambda^2``
    upper_general : ndarray (K,)  bound (11)
    upper_range : ndarray (K,)  bound (12), ``inf`` without ``data_range``
    clipped_low, clipped_high : ndarray of bool (K,)
    clipped_sampling : ndarray of bool (K,)  where ``last_step_max`` engaged
    cov_x0 : ndarray (K,)       the estimate of ``E tr Cov[x0 | x_t] / d`` per step
    """


def analytic_variance(schedule: NoiseSchedule, ms_eps: Array, trajectory: ArrayLike, /, *,
                      eta: float = 1.0, data_range: tuple[float, float] | None = None,
                      moment: str = "ms_eps", last_step_max: float | None = None,
                      full_output: bool = False) -> Array | AnalyticVariance:
    r"""Analytic-DPM reverse variances on a trajectory, clipped to the paper's bounds.

    Parameters
    ----------
    schedule : NoiseSchedule
    ms_eps : array, shape (N + 1,)
        ``ms_eps[n] = E ||eps_hat(x_n, n)||^2 / d`` (:func:`estimate_gamma`); only the entries at
        ``trajectory[1:]`` are read.  With ``moment="mse"`` the entries are
        ``E ||eps - eps_hat||^2 / d`` instead (:func:`estimate_eps_mse`).
    trajectory : sequence of int, ``0 = tau_0 < tau_1 < ... < tau_K = N``
    eta : float
        ``lambda^2 = eta^2 tilde_beta``: 1 is the DDPM family (Analytic-DDPM), 0 is DDIM
        (Analytic-DDIM); anything in between (or above) is the generalized family.
    data_range : (lo, hi), optional
        Data in ``[lo, hi]^d``: also apply the data-range bound (12).
    moment : {"ms_eps", "mse"}
        ``"ms_eps"``: ``cov_x0 = (beta_bar_t/alpha_bar_t)(1 - ms_eps[t])`` (Analytic-DPM, assumes the
        mean is optimal); clipped to ``[lambda^2, min((11), (12))]``.  ``"mse"``:
        ``cov_x0 = (beta_bar_t/alpha_bar_t) mse[t]``, the best isotropic variance *for the given
        imperfect mean* (J. Su, "Talk on generative diffusion models (8): optimal diffusion
        variance estimation (part 2)", kexue.fm, 2022, https://kexue.fm/archives/9246); the
        bounds (11)-(12) hold for the optimal mean only, so
        only the lower bound applies.
    last_step_max : float, optional
        Sampling-only clip of the last noisy step ``p(x_{tau_1} | x_{tau_2})`` (entry 1): its
        variance is capped at this value (see :func:`paper_sampling_clip`).  Never use it for
        likelihoods.
    full_output : bool
        Return an :class:`AnalyticVariance` with the bounds and clipping masks.

    Returns
    -------
    variances : array, shape (K,)
        Entry ``k - 1`` is the variance of ``p(x_{tau_{k-1}} | x_{tau_k})``; entry 0 is the
        Gaussian decoder ``p(x_0 | x_{tau_1})`` (``lambda^2 = 0`` there, so its lower bound is 0).
        Same namespace and dtype as ``ms_eps``.

    Raises
    ------
    TypeError
        For a schedule that is not a :class:`NoiseSchedule` or a malformed ``data_range``.
    ValueError
        For ``ms_eps`` of the wrong shape or with NaN/inf, a bad trajectory, ``eta`` outside
        ``[0, 1]``, or an unknown ``moment``.

    Notes
    -----
    For ``eta = 1`` this is ``(beta_{t|s}/alpha_{t|s}) (1 - beta_{t|s} ms_eps[t] / beta_bar_t)``
    (Corollary 2) between ``tilde_beta_{s|t}`` and ``beta_{t|s}/alpha_{t|s}`` (Corollary 3).

    Examples
    --------
    The analytic variance lies between the two handcrafted choices ``tilde_beta`` and ``beta``:

    >>> import numpy as np
    >>> from solvers.diffusion import (NoiseSchedule, analytic_variance, baseline_variances,
    ...                                even_trajectory)
    >>> sch = NoiseSchedule.linear(1000)
    >>> ms_eps = np.r_[0.0, sch.beta_bar[1:] / (sch.alpha_bar[1:] * 0.25 + sch.beta_bar[1:])]
    >>> tr = even_trajectory(sch, 10)
    >>> v = analytic_variance(sch, ms_eps, tr)
    >>> small = baseline_variances(sch, tr, "beta_tilde")
    >>> large = baseline_variances(sch, tr, "beta")
    >>> v.shape, bool(np.all((small[1:] <= v[1:]) & (v[1:] <= large[1:] / (1 - large[1:]))))
    ((10,), True)
    """
    schedule = check_schedule(schedule)
    xp = array_namespace(ms_eps, names=("ms_eps",))
    ms_x = as_float_array(ms_eps, "ms_eps", xp, allow_nan=True)
    ms = np.asarray(to_numpy(ms_x), dtype=np.float64)
    if ms.shape != (schedule.N + 1,):
        raise ValueError(f"ms_eps must have shape (N + 1,) = ({schedule.N + 1},), got {ms.shape}")
    tr = check_trajectory(trajectory, schedule.N)
    if moment not in ("ms_eps", "mse"):
        raise ValueError(f"moment must be 'ms_eps' or 'mse', got {moment!r}")
    s, t = tr[:-1], tr[1:]
    mt = ms[t]
    if not np.all(np.isfinite(mt)):
        raise ValueError("ms_eps must be finite at the trajectory's steps")
    if moment == "mse" and np.any(mt < 0):
        raise ValueError("ms_eps (an mse) must be non-negative")
    lam2, _, gamma = step_coefficients(schedule, s, t, eta)
    g2 = gamma * gamma
    snr_inv = schedule.beta_bar[t] / schedule.alpha_bar[t]
    cov = snr_inv * (1.0 - mt) if moment == "ms_eps" else snr_inv * mt
    raw = lam2 + g2 * cov
    up11 = lam2 + g2 * snr_inv
    half = _range_half_width(data_range)
    up12 = lam2 + g2 * half * half if half is not None else np.full_like(raw, np.inf)
    if moment == "ms_eps":
        upper = np.minimum(up11, up12)
    else:
        upper = np.full_like(raw, np.inf)
    lo_mask = raw < lam2
    hi_mask = raw > upper
    var = np.clip(raw, lam2, upper)
    samp = np.zeros(var.shape, dtype=bool)
    if last_step_max is not None:
        cap = check_positive(last_step_max, "last_step_max")
        if var.size >= 2 and var[1] > cap:
            var[1] = cap
            samp[1] = True
    out = xp.asarray(var, dtype=ms_x.dtype)
    if not full_output:
        return out
    return AnalyticVariance(variances=out, raw=raw, lower=lam2, upper_general=up11, upper_range=up12,
                            clipped_low=lo_mask, clipped_high=hi_mask, clipped_sampling=samp, cov_x0=cov)


def baseline_variances(schedule: NoiseSchedule, trajectory: ArrayLike, kind: str = "beta_tilde", /, *,
                       eta: float = 1.0, decoder_variance: float | None = None) -> np.ndarray:
    r"""The handcrafted variances on a trajectory.

    NaN or inf arguments raise ``ValueError``.

    ``kind="beta_tilde"``: ``eta^2 tilde_beta_{s|t}`` (DDPM "small" for ``eta = 1``);
    ``kind="beta"``: ``beta_{t|s}`` (DDPM "large").  The decoder entry 0 (where
    ``tilde_beta_{0|t} = 0``) follows the official likelihood code: ``tilde_beta_{1|2}`` when
    ``tau_1 = 1``, else ``beta_bar[tau_1]``, unless ``decoder_variance`` is given.
    """
    schedule = check_schedule(schedule)
    tr = check_trajectory(trajectory, schedule.N)
    s, t = tr[:-1], tr[1:]
    if kind == "beta_tilde":
        lam2, _, _ = step_coefficients(schedule, s, t, eta)
        var = lam2.copy()
    elif kind == "beta":
        var = -np.expm1(schedule.log_alpha_bar[t] - schedule.log_alpha_bar[s])
    else:
        raise ValueError(f"kind must be 'beta_tilde' or 'beta', got {kind!r}")
    if decoder_variance is None:
        if tr[1] > 1:
            var[0] = schedule.beta_bar[tr[1]]
        elif schedule.N < 2:
            raise ValueError("the default decoder variance tilde_beta_{1|2} needs N >= 2; pass decoder_variance")
        else:
            var[0] = schedule.tilde_beta(1, 2)
    else:
        var[0] = check_positive(decoder_variance, "decoder_variance")
    return var


def _cov_clip(xp: Any, cov: Array, half: float | None) -> Array:
    upper = None if half is None else half * half
    return xp.clip(cov, 0.0, upper)


def _st_scalars(schedule: NoiseSchedule, s: Any, t: Any, eta: float) -> tuple[float, float, float]:
    for name, v in (("s", s), ("t", t)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an integer time index")
    lam2, _, gamma = step_coefficients(schedule, int(s), int(t), eta)
    return float(lam2), float(gamma) ** 2, float(schedule.beta_bar[t] / schedule.alpha_bar[t])


def sn_variance(schedule: NoiseSchedule, s: int, t: int, eps_hat: Array, h: Array, /, *,
                eta: float = 1.0, data_range: tuple[float, float] | None = None) -> Array:
    r"""SN-DPM per-point variance of ``p(x_s | x_t)`` from a second-moment prediction.

    NaN or inf in ``eps_hat`` or ``h`` raise ``ValueError``.

    ``Cov_hat = (beta_bar_t/alpha_bar_t)(h - eps_hat^2)`` elementwise, clipped to
    ``[0, ((hi - lo)/2)^2]`` (to ``>= 0`` without ``data_range``), then
    ``sigma^2 = lambda^2 + gamma^2 Cov_hat``.  ``h(x_t) ~ E[eps^2 | x_t]``; with the exact ``h`` and
    exact ``eps_hat`` ``Cov_hat`` is the diagonal of ``Cov[x0 | x_t]`` (second-order Tweedie).
    """
    schedule = check_schedule(schedule)
    xp = array_namespace(eps_hat, h, names=("eps_hat", "h"))
    e = as_float_array(eps_hat, "eps_hat", xp)
    h = as_float_array(h, "h", xp)
    if tuple(e.shape) != tuple(h.shape):
        raise ValueError(f"h must have the shape of eps_hat {tuple(e.shape)}, got {tuple(h.shape)}")
    lam2, g2, snr_inv = _st_scalars(schedule, s, t, eta)
    cov = _cov_clip(xp, snr_inv * (h - e * e), _range_half_width(data_range))
    return lam2 + g2 * cov


def npr_variance(schedule: NoiseSchedule, s: int, t: int, g: Array, /, *, eta: float = 1.0,
                 data_range: tuple[float, float] | None = None) -> Array:
    r"""NPR-DPM per-point variance of ``p(x_s | x_t)``.

    NaN or inf in ``g`` raise ``ValueError``.

    ``Cov_hat = (beta_bar_t/alpha_bar_t) g`` with ``g(x_t) ~ E[(eps - eps_hat)^2 | x_t]``, clipped to
    ``[0, ((hi - lo)/2)^2]`` as in the official code when ``data_range`` is given; then
    ``sigma^2 = lambda^2 + gamma^2 Cov_hat``.  With the exact ``g`` this is the best diagonal
    variance for the given (possibly imperfect) mean.
    """
    schedule = check_schedule(schedule)
    xp = array_namespace(g, names=("g",))
    g = as_float_array(g, "g", xp)
    if bool(xp.any(g < 0)):
        raise ValueError("g must be non-negative (a second moment)")
    lam2, g2, snr_inv = _st_scalars(schedule, s, t, eta)
    cov = _cov_clip(xp, snr_inv * g, _range_half_width(data_range))
    return lam2 + g2 * cov


class SNVariance:
    """Per-point SN-DPM variances as a callable ``(x_t, eps_hat, s, t) -> sigma^2`` for :func:`sample`/:func:`nelbo`.

    NaN or inf outputs of ``h_fn`` raise ``ValueError`` where the variances are used.

    Parameters
    ----------
    h_fn : callable
        ``h_fn(x_t, t) ~ E[eps^2 | x_t]`` elementwise (e.g. ``GaussianMixture.eps_second_moment``).
    schedule : NoiseSchedule
    eta, data_range : as in :func:`sn_variance`.
    """

    def __init__(self, h_fn: Callable[[Array, int], Array], schedule: NoiseSchedule, *,
                 eta: float = 1.0, data_range: tuple[float, float] | None = None) -> None:
        if not callable(h_fn):
            raise TypeError("h_fn must be callable")
        self.h_fn, self.schedule, self.eta, self.data_range = h_fn, check_schedule(schedule), _check_eta(eta), data_range
        _range_half_width(data_range)

    def __call__(self, x_t: Array, eps_hat: Array, s: int, t: int) -> Array:
        return sn_variance(self.schedule, s, t, eps_hat, self.h_fn(x_t, t), eta=self.eta, data_range=self.data_range)


class NPRVariance:
    """Per-point NPR-DPM variances as a callable ``(x_t, eps_hat, s, t) -> sigma^2``.

    ``g_fn(x_t, t) ~ E[(eps - eps_hat)^2 | x_t]`` (e.g. ``GaussianMixture.npr_second_moment``).
    NaN or inf outputs of ``g_fn`` raise ``ValueError`` where the variances are used.
    """

    def __init__(self, g_fn: Callable[[Array, int], Array], schedule: NoiseSchedule, *,
                 eta: float = 1.0, data_range: tuple[float, float] | None = None) -> None:
        if not callable(g_fn):
            raise TypeError("g_fn must be callable")
        self.g_fn, self.schedule, self.eta, self.data_range = g_fn, check_schedule(schedule), _check_eta(eta), data_range
        _range_half_width(data_range)

    def __call__(self, x_t: Array, eps_hat: Array, s: int, t: int) -> Array:
        return npr_variance(self.schedule, s, t, self.g_fn(x_t, t), eta=self.eta, data_range=self.data_range)
