"""Reverse-process sampling and the variational bound (NELBO) on a trajectory."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Union

import numpy as np

from probspace import Result, array_namespace, as_float_array, to_numpy
from probspace.random import as_stream
from probspace.typing import Array, ArrayLike, Seed

from ._common import StepNoise, check_schedule
from ._inputs import as_float64
from ._schedule import NoiseSchedule, check_trajectory

#: Reverse variances: an array of ``K`` values, or a per-point callable ``(x_t, eps_hat, s, t)``.
Variances = Union[ArrayLike, Callable[[Array, Array, int, int], Array]]
from ._variance import _check_eta, _range_width_given, step_coefficients

__all__ = ["sample", "nelbo", "NelboResult"]

_FILL_LIMIT = 1 << 22      # numbers of noise drawn per Philox fill (bounds the memory held)


def _variance_source(variances, K):
    if callable(variances):
        return variances
    v = as_float64(variances, "variances")
    if v.shape != (K,):
        raise ValueError(f"variances must have shape (K,) = ({K},) for a trajectory of K={K} steps "
                         f"(or be callable as variances(x_t, eps_hat, s, t)), got {v.shape}")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("variances must be finite and non-negative")
    return v


def _step_var(xp, src, k, x, eps_hat, s, t, dtype):
    """Variance of p(x_s | x_t): a float for array sources, an array broadcastable to x otherwise."""
    if callable(src):
        v = src(x, eps_hat, int(s), int(t))
        v = as_float_array(v, "variances(...)", xp)
        if bool(xp.any(v < 0)):
            raise ValueError(f"variances(x_t, eps_hat, {s}, {t}) returned negative values")
        return v
    return float(src[k - 1])


def _x0_hat(x, eps_hat, sa_t, sb_t, clip):
    x0 = (x - sb_t * eps_hat) / sa_t
    return x0 if clip is None else _clip(x0, clip)


def _clip(x0, clip):
    xp = array_namespace(x0, names=("x0",))
    return xp.clip(x0, clip[0], clip[1])


def sample(eps_fn: Callable[[Array, int], Array], schedule: NoiseSchedule, trajectory: ArrayLike,
           variances: Variances, x_T: Array, /, *, eta: float = 1.0, seed: Seed = None,
           clip_x0: tuple[float, float] | None = None, denoise_last: bool = True,
           return_path: bool = False) -> Array | tuple[Array, list[Array]]:
    r"""Run the reverse process ``p(x_{tau_{k-1}} | x_{tau_k})`` from ``x_T`` down to ``x_0``.

    Each step uses the DDIM-family mean with ``x_0`` replaced by
    ``x0_hat = (x_t - sqrt(beta_bar_t) eps_fn(x_t, t)) / sqrt(alpha_bar_t)``:
    ``mu = sqrt(alpha_bar_s) x0_hat + sqrt(beta_bar_s - lambda^2) (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(beta_bar_t)``,
    ``lambda^2 = eta^2 tilde_beta_{s|t}`` (``eta = 1``: DDPM, ``eta = 0``: DDIM), and the given
    variance.

    Parameters
    ----------
    eps_fn : callable ``eps_fn(x_t, t)``
    schedule : NoiseSchedule
    trajectory : sequence of int, ``0 = tau_0 < ... < tau_K = N``
    variances : array (K,) or callable
        Entry ``k - 1`` is the variance of ``p(x_{tau_{k-1}} | x_{tau_k})`` (e.g. from
        :func:`analytic_variance` or :func:`baseline_variances`); or a callable
        ``variances(x_t, eps_hat, s, t)`` returning per-point (per-dimension) variances
        (:class:`SNVariance`, :class:`NPRVariance`).
    x_T : array, shape (m, ...)
        Start at step ``N`` (usually standard normal draws).
    eta : float
    seed : int, Stream or None
        The noise of step ``k`` is drawn from counter blocks reserved for step ``k``
        (``StepNoise``): same seed, same samples, on every backend.  A Stream passed in is
        advanced past the blocks used.
    clip_x0 : (lo, hi), optional
        Clip ``x0_hat`` to the data range (changes the mean only, as in the official code).
    denoise_last : bool
        The last step ``p(x_0 | x_{tau_1})`` outputs its mean (paper and official code);
        ``False`` adds the decoder noise with ``variances[0]``.
    return_path : bool
        Also return the list of states ``[x_{tau_K}, ..., x_{tau_0}]``.

    Returns
    -------
    x_0 : array like ``x_T`` (and the path when ``return_path``)

    Raises
    ------
    TypeError
        For a non-callable ``eps_fn`` or a schedule that is not a :class:`NoiseSchedule`.
    ValueError
        For a bad trajectory, variances of the wrong length or negative, ``x_T`` with NaN/inf,
        or an ``eps_fn`` that returns the wrong shape.

    Examples
    --------
    For Gaussian data the optimal Gaussian reverse step is exact, so ten steps with the
    analytic variances (exact ``ms_eps``) reproduce the data variance ``s2``:

    >>> import numpy as np
    >>> from solvers.diffusion import (GaussianMixture, NoiseSchedule, analytic_variance,
    ...                                even_trajectory, sample)
    >>> sch, s2 = NoiseSchedule.linear(1000), 0.25
    >>> data = GaussianMixture([1.0], [[0.0]], [[[s2]]])
    >>> ms_eps = np.r_[0.0, sch.beta_bar[1:] / (sch.alpha_bar[1:] * s2 + sch.beta_bar[1:])]
    >>> tr = even_trajectory(sch, 10)
    >>> x_T = np.random.default_rng(0).standard_normal((40_000, 1))
    >>> x0 = sample(data.noise_predictor(sch), sch, tr, analytic_variance(sch, ms_eps, tr), x_T,
    ...             seed=1, denoise_last=False)
    >>> bool(abs(x0.var() - s2) < 0.01)     # 4 standard errors of the variance: 0.0071
    True
    """
    if not callable(eps_fn):
        raise TypeError("eps_fn must be callable as eps_fn(x_t, t)")
    schedule = check_schedule(schedule)
    tr = check_trajectory(trajectory, schedule.N)
    K = tr.size - 1
    src = _variance_source(variances, K)
    xp = array_namespace(x_T, names=("x_T",))
    x = as_float_array(x_T, "x_T", xp, ndim_min=1)
    if clip_x0 is not None:
        half = _range_width_given(clip_x0)
        clip_x0 = (float(clip_x0[0]), float(clip_x0[0]) + 2 * half)
    shape = tuple(x.shape)
    noise = StepNoise(as_stream(seed), shape, K, xp, x.dtype)
    path: list[Array] = [x]
    for k in range(K, 0, -1):
        s, t = int(tr[k - 1]), int(tr[k])
        lam2, c_x, gamma = (float(v) for v in step_coefficients(schedule, s, t, eta))
        eps_hat = eps_fn(x, t)
        if tuple(eps_hat.shape) != shape:
            raise ValueError(f"eps_fn returned shape {tuple(eps_hat.shape)}, expected {shape}")
        if not bool(xp.all(xp.isfinite(eps_hat))):   # would turn the result into NaN silently
            raise ValueError(f"eps_fn returned non-finite values at step t={t}")
        x0 = _x0_hat(x, eps_hat, math.sqrt(schedule.alpha_bar[t]), math.sqrt(schedule.beta_bar[t]), clip_x0)
        mean = c_x * x + gamma * x0
        if s == 0 and denoise_last:
            x = mean
        else:
            var = _step_var(xp, src, k, x, eps_hat, s, t, x.dtype)
            z = noise.step(k)
            x = mean + (var ** 0.5) * z
        if return_path:
            path.append(x)
    noise.finish()
    return (x, path) if return_path else x


class NelboResult(Result):
    """Variational bound in nats per dimension.

    Attributes
    ----------
    nelbo : float
        ``E[-ELBO] / d``, averaged over the data rows.
    stderr : float
        Its Monte Carlo standard error (over rows).
    terms : ndarray, shape (K + 1,)
        ``terms[0]``: decoder ``-log p(x_0 | x_{tau_1})``; ``terms[k]`` (``1 <= k < K``):
        ``KL(q(x_{tau_k} | x_{tau_{k+1}}, x_0) || p(x_{tau_k} | x_{tau_{k+1}}))``; ``terms[K]``:
        ``KL(q(x_N | x_0) || N(0, I))``; each per dimension and averaged over rows.
    terms_stderr : ndarray, shape (K + 1,)
    per_sample : array, shape (m,)
        The bound of each row (input namespace).
    """

    def __float__(self) -> float:
        return float(self["nelbo"])


def nelbo(eps_fn: Callable[[Array, int], Array], x0: Array, schedule: NoiseSchedule,
          trajectory: ArrayLike, variances: Variances | dict[Any, Variances], /, *, eta: float = 1.0,
          seed: Seed = None,
          clip_x0: tuple[float, float] | None = None) -> NelboResult | dict[Any, NelboResult]:
    r"""Negative evidence lower bound of continuous data, in nats per dimension.

    NaN or inf in ``x0`` or the variances raise ``ValueError``, as does an ``eps_fn`` that returns
    non-finite values.

    ``-ELBO = KL(q(x_N|x_0) || N(0, I)) + sum_{k=2}^{K} KL(q(x_{tau_{k-1}} | x_{tau_k}, x_0) || p(x_{tau_{k-1}} | x_{tau_k}))
    - log p(x_0 | x_{tau_1})`` with the Gaussian decoder ``p(x_0 | x_{tau_1}) = N(x0_hat, variances[0] I)``.
    ``q(x_s | x_t, x_0) = N(mu~, lambda^2 I)`` is the DDIM-family forward posterior
    (``eta = 1``: the DDPM forward process), and each KL is Gaussian:
    ``d/2 (lambda^2/sigma^2 - 1 - log(lambda^2/sigma^2)) + gamma^2 ||x_0 - x0_hat||^2 / (2 sigma^2)``.
    One fresh ``x_t ~ q(x_t | x_0)`` per row and step (noise of step ``k`` from its own counter blocks).

    Parameters
    ----------
    eps_fn, schedule, trajectory, eta, clip_x0 : as in :func:`sample`
        ``eta`` must be positive (``eta = 0`` has an infinite bound).
    variances : array (K,), callable, or dict of them
        As in :func:`sample`; entry 0 is the decoder variance.  A dict ``name -> variances``
        evaluates every choice on the same draws of ``x_t`` and predictor calls (common random
        numbers, one predictor pass) and returns a dict of results.
    x0 : array, shape (m, ...)
        Data.

    Returns
    -------
    NelboResult (or dict of them)
        ``float(result)`` is the bound.  Lower is better; it is at least the differential
        entropy per dimension of the data.

    Raises
    ------
    TypeError, ValueError
        As :func:`sample`; also for ``eta <= 0`` or a non-positive variance.

    Examples
    --------
    On Gaussian data with the analytic variances the bound is close to the exact negative
    log-likelihood, and the handcrafted ``beta`` variances give a larger (worse) bound:

    >>> import numpy as np
    >>> from solvers.diffusion import (GaussianMixture, NoiseSchedule, analytic_variance,
    ...                                baseline_variances, even_trajectory, nelbo)
    >>> sch = NoiseSchedule.linear(1000)
    >>> data = GaussianMixture([1.0], [[0.0]], [[[0.25]]])
    >>> ms_eps = np.r_[0.0, sch.beta_bar[1:] / (sch.alpha_bar[1:] * 0.25 + sch.beta_bar[1:])]
    >>> tr = even_trajectory(sch, 10)
    >>> res = nelbo(data.noise_predictor(sch), data.sample(2000, seed=0), sch, tr,
    ...             {"analytic": analytic_variance(sch, ms_eps, tr),
    ...              "beta": baseline_variances(sch, tr, "beta")}, seed=1)
    >>> bool(res["analytic"].nelbo < res["beta"].nelbo)
    True
    """
    if not callable(eps_fn):
        raise TypeError("eps_fn must be callable as eps_fn(x_t, t)")
    schedule = check_schedule(schedule)
    eta = _check_eta(eta)
    if not eta > 0:
        raise ValueError(f"eta must be positive for a finite bound, got {eta!r}")
    tr = check_trajectory(trajectory, schedule.N)
    K = tr.size - 1
    several = isinstance(variances, dict)
    if isinstance(variances, dict):
        srcs = {k: _variance_source(v, K) for k, v in variances.items()}
    else:
        srcs = {None: _variance_source(variances, K)}
    xp = array_namespace(x0, names=("x0",))
    x0 = as_float_array(x0, "x0", xp, ndim_min=2)
    m = x0.shape[0]
    shape = tuple(x0.shape)
    axes = tuple(range(1, x0.ndim))
    if clip_x0 is not None:
        half = _range_width_given(clip_x0)
        clip_x0 = (float(clip_x0[0]), float(clip_x0[0]) + 2 * half)
    noise = StepNoise(as_stream(seed), shape, K, xp, x0.dtype)
    per_fill = max(1, _FILL_LIMIT // max(1, noise.size))
    pending: dict[int, Any] = {}
    per_term: dict[Any, list[Any]] = {name: [] for name in srcs}
    for k in range(1, K + 1):
        if k not in pending:
            hi = min(K, k + per_fill - 1)
            pending = dict(zip(range(k, hi + 1), noise.steps(k, hi - k + 1)))
        s, t = int(tr[k - 1]), int(tr[k])
        lam2, c_x, gamma = (float(v) for v in step_coefficients(schedule, s, t, eta))
        if s > 0 and not lam2 > 0:   # eta^2 underflowed: the KL would take log(0)
            raise ValueError(f"eta={eta!r} is too small: lambda^2 underflows to 0 at step {k} "
                             "(the bound is infinite)")
        sa_t, sb_t = math.sqrt(schedule.alpha_bar[t]), math.sqrt(schedule.beta_bar[t])
        eps = pending.pop(k)
        xt = sa_t * x0 + sb_t * eps
        eps_hat = eps_fn(xt, t)
        if tuple(eps_hat.shape) != shape:
            raise ValueError(f"eps_fn returned shape {tuple(eps_hat.shape)}, expected {shape}")
        if not bool(xp.all(xp.isfinite(eps_hat))):   # would turn the result into NaN silently
            raise ValueError(f"eps_fn returned non-finite values at step t={t}")
        x0h = _x0_hat(xt, eps_hat, sa_t, sb_t, clip_x0)
        err2 = (x0 - x0h) * (x0 - x0h)
        for name, src in srcs.items():     # the same x_t and eps_hat serve every variance choice
            var = _step_var(xp, src, k, xt, eps_hat, s, t, x0.dtype)
            if (not callable(src) and var <= 0) or (callable(src) and bool(xp.any(var <= 0))):
                raise ValueError(f"variances: the variance of step {k} (p(x_{s} | x_{t})) must be "
                                 "positive for a finite bound")
            log = math.log if isinstance(var, float) else xp.log
            if s == 0:
                term = 0.5 * log(2 * math.pi * var) + err2 / (2 * var)
            else:
                ratio = lam2 / var
                term = 0.5 * (ratio - 1.0 - log(ratio)) + (gamma * gamma) * err2 / (2 * var)
            per_term[name].append(xp.mean(term, axis=axes))
    ab_N, bb_N = float(schedule.alpha_bar[-1]), float(schedule.beta_bar[-1])
    prior = xp.mean(0.5 * (bb_N + ab_N * x0 * x0 - 1.0 - math.log(bb_N)), axis=axes)
    noise.finish()
    out = {}
    for name, terms in per_term.items():
        per_np = np.stack([np.asarray(to_numpy(v), dtype=np.float64) for v in terms + [prior]])   # (K+1, m)
        total = per_np.sum(axis=0)
        out[name] = NelboResult(
            nelbo=float(total.mean()),
            stderr=float(total.std(ddof=1) / math.sqrt(m)) if m > 1 else float("nan"),
            terms=per_np.mean(axis=1),
            terms_stderr=per_np.std(axis=1, ddof=1) / math.sqrt(m) if m > 1 else np.full(K + 1, np.nan),
            per_sample=xp.asarray(total, dtype=x0.dtype))
    return out if several else out[None]
