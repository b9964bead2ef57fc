"""Monte Carlo moments of a noise predictor per time step: ``ms_eps[n] = E ||eps_hat(x_n, n)||^2 / d``."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from probspace import Result, array_namespace, as_float_array, to_numpy
from probspace._validation import check_int
from probspace.random import as_stream
from probspace.typing import Array, ArrayLike, Seed

from ._common import StepNoise, check_schedule
from ._inputs import as_int64
from ._schedule import NoiseSchedule

__all__ = ["estimate_gamma", "estimate_eps_mse", "GammaEstimate"]

_FILL_LIMIT = 1 << 22      # numbers of noise drawn per Philox fill (bounds the memory held)


class GammaEstimate(Result):
    """Per-step Monte Carlo estimate.

    Attributes
    ----------
    ms_eps : array, shape (N + 1,)
        The estimate (``mse`` for :func:`estimate_eps_mse`); entry 0 is 0, steps that were
        not requested are NaN.
    stderr : array, shape (N + 1,)
        Standard error of each entry (sample standard deviation of the per-sample means over
        dimensions, divided by sqrt(M)).
    n_samples : int
    """


def _steps(steps, N):
    if steps is None:
        return np.arange(1, N + 1)
    st = np.unique(as_int64(steps, "steps"))
    if st.size == 0 or st[0] < 1 or st[-1] > N:
        raise ValueError(f"steps must be integers in [1, N={N}]")
    return st


def _run(eps_fn, x0, schedule, seed, steps, steps_per_call, which, with_mse=False):
    if not callable(eps_fn):
        raise TypeError("eps_fn must be callable as eps_fn(x_n, n)")
    schedule = check_schedule(schedule)
    xp = array_namespace(x0, names=("x0",))
    x0 = as_float_array(x0, "x0", xp, ndim_min=2)
    m = x0.shape[0]
    if m < 2:
        raise ValueError(f"x0 needs at least 2 samples (rows), got {m}")
    steps_per_call = check_int(steps_per_call, "steps_per_call", minimum=1)
    stream = as_stream(seed)
    N = schedule.N
    st = _steps(steps, N)
    mean = np.full(N + 1, np.nan)
    se = np.full(N + 1, np.nan)
    mean[0] = se[0] = 0.0
    mse_mean, mse_se = mean.copy(), se.copy()
    sq_ab = np.sqrt(schedule.alpha_bar)
    sq_bb = np.sqrt(schedule.beta_bar)
    axes = tuple(range(1, x0.ndim))
    noise = StepNoise(stream, x0.shape, N, xp, x0.dtype)
    # draw noise for runs of consecutive steps at once (bounded memory), then feed eps_fn
    per_fill = max(1, min(steps_per_call * 8, _FILL_LIMIT // max(1, noise.size)))
    pending: dict[int, Any] = {}
    for i0 in range(0, st.size, steps_per_call):
        chunk = st[i0:i0 + steps_per_call]
        missing = [int(n) for n in chunk if int(n) not in pending]
        while missing:
            lo = missing[0]
            hi = min(N, lo + per_fill - 1)
            pending = {k: v for k, v in pending.items() if k >= int(chunk[0])}
            pending.update(zip(range(lo, hi + 1), noise.steps(lo, hi - lo + 1)))
            missing = [n for n in missing if n not in pending]
        noises = [pending.pop(int(n)) for n in chunk]
        xs = [float(sq_ab[n]) * x0 + float(sq_bb[n]) * e for n, e in zip(chunk, noises)]
        if len(chunk) == 1:
            preds = [eps_fn(xs[0], int(chunk[0]))]
        else:
            nn = np.repeat(chunk, m)
            out = eps_fn(xp.concat(xs, axis=0), xp.asarray(nn))
            preds = [out[j * m:(j + 1) * m, ...] for j in range(len(chunk))]
        for n, e, p in zip(chunk, noises, preds):
            if tuple(p.shape) != tuple(x0.shape):
                raise ValueError(f"eps_fn returned shape {tuple(p.shape)}, expected {tuple(x0.shape)}")
            v = p * p if which == "ms" else (e - p) * (e - p)
            per = to_numpy(xp.mean(v, axis=axes)).astype(np.float64)
            mean[n] = per.mean()
            se[n] = per.std(ddof=1) / math.sqrt(m)
            if with_mse:
                per = to_numpy(xp.mean((e - p) * (e - p), axis=axes)).astype(np.float64)
                mse_mean[n] = per.mean()
                mse_se[n] = per.std(ddof=1) / math.sqrt(m)
    noise.finish()
    if not np.all(np.isfinite(mean[st])):
        raise ValueError("eps_fn returned non-finite values")
    if with_mse:
        return xp, x0, mean, se, m, mse_mean, mse_se
    return xp, x0, mean, se, m


def estimate_gamma(eps_fn: Callable[[Array, Any], Array], x0: Array, schedule: NoiseSchedule, /, *,
                   seed: Seed = None, steps: ArrayLike | None = None, steps_per_call: int = 1,
                   return_stderr: bool = False, with_mse: bool = False) -> Array | GammaEstimate:
    r"""Monte Carlo ``ms_eps[n] = E ||eps_fn(x_n, n)||^2 / d`` for every step (Analytic-DPM's Gamma).

    For each step ``n`` one fresh ``eps ~ N(0, I)`` is drawn per data row and
    ``x_n = sqrt(alpha_bar[n]) x0 + sqrt(beta_bar[n]) eps`` (as in the official
    ``save_ms_eps``).  In the paper's notation ``ms_eps[n] = beta_bar[n] Gamma_n`` with
    ``Gamma_n = E ||s_n||^2 / d`` and ``s_n`` the score.

    Parameters
    ----------
    eps_fn : callable
        ``eps_fn(x_n, n)`` -> array shaped like ``x_n``; ``n`` is an int, or (with
        ``steps_per_call > 1``) an integer array giving each row its step.
    x0 : array, shape (M, ...)
        Data samples (any array-API namespace).
    schedule : NoiseSchedule
    seed : int, Stream or None
        Step ``n`` draws its noise from its own run of counter blocks of the stream (see
        ``StepNoise``), so results do not depend on ``steps`` or ``steps_per_call``.
    steps : array_like of int, optional
        Only these steps (others are NaN); default ``1..N``.
    steps_per_call : int
        Number of steps stacked into one ``eps_fn`` call (fewer Python round trips for cheap
        predictors; the predictor must then accept an integer array ``n``).
    return_stderr : bool
        If True return a :class:`GammaEstimate` with ``ms_eps`` and ``stderr``.
    with_mse : bool
        Also estimate ``mse[n] = E ||eps - eps_fn(x_n, n)||^2 / d`` from the same draws (fields
        ``mse`` and ``mse_stderr``; implies a :class:`GammaEstimate` return).

    Returns
    -------
    ms_eps : array, shape (N + 1,)  (or GammaEstimate)
        In ``x0``'s namespace and dtype; ``ms_eps[0] = 0``.

    Raises
    ------
    TypeError
        For a non-callable ``eps_fn`` or a schedule that is not a :class:`NoiseSchedule`.
    ValueError
        For ``x0`` with NaN/inf or fewer than 2 dimensions, steps outside ``1..N``, or an
        ``eps_fn`` that returns an array of the wrong shape.

    Notes
    -----
    With the exact predictor ``ms_eps[n] = E[E[eps|x_n]^2] <= E[eps^2] = 1`` (Jensen); an
    estimate above 1 signals Monte Carlo error, which :func:`optimal_trajectory` guards against.

    Examples
    --------
    Gaussian data ``N(0, s2 I)``: the exact predictor gives
    ``ms_eps[n] = beta_bar[n] / (alpha_bar[n] s2 + beta_bar[n])``.

    >>> import numpy as np
    >>> from solvers.diffusion import GaussianMixture, NoiseSchedule, estimate_gamma
    >>> sch, s2 = NoiseSchedule.linear(1000), 0.25
    >>> data = GaussianMixture([1.0], [[0.0, 0.0]], [s2 * np.eye(2)])
    >>> est = estimate_gamma(data.noise_predictor(sch), data.sample(4000, seed=0), sch,
    ...                      seed=1, steps=[100], return_stderr=True)
    >>> exact = sch.beta_bar[100] / (sch.alpha_bar[100] * s2 + sch.beta_bar[100])
    >>> bool(abs(est.ms_eps[100] - exact) < 4 * est.stderr[100])
    True
    """
    if with_mse:
        xp, x0, mean, se, m, mm, mse_se = _run(eps_fn, x0, schedule, seed, steps, steps_per_call, "ms", True)
        return GammaEstimate(ms_eps=xp.asarray(mean, dtype=x0.dtype), stderr=xp.asarray(se, dtype=x0.dtype),
                             n_samples=m, mse=xp.asarray(mm, dtype=x0.dtype),
                             mse_stderr=xp.asarray(mse_se, dtype=x0.dtype))
    xp, x0, mean, se, m = _run(eps_fn, x0, schedule, seed, steps, steps_per_call, "ms")
    ms = xp.asarray(mean, dtype=x0.dtype)
    if not return_stderr:
        return ms
    return GammaEstimate(ms_eps=ms, stderr=xp.asarray(se, dtype=x0.dtype), n_samples=m)


def estimate_eps_mse(eps_fn: Callable[[Array, Any], Array], x0: Array, schedule: NoiseSchedule, /, *,
                     seed: Seed = None, steps: ArrayLike | None = None, steps_per_call: int = 1,
                     return_stderr: bool = False) -> Array | GammaEstimate:
    r"""Monte Carlo ``mse[n] = E ||eps - eps_fn(x_n, n)||^2 / d`` per step.

    NaN or inf in ``x0`` raise ``ValueError``, as does an ``eps_fn`` that returns non-finite
    values.

    The maximum-likelihood (averaged NPR) moment of J. Su, "Talk on generative diffusion
    models (8): optimal diffusion variance estimation (part 2)", kexue.fm, 2022,
    https://kexue.fm/archives/9246: with an imperfect mean,
    the best isotropic variance uses ``E ||x_0 - x0_hat||^2 / d = (beta_bar/alpha_bar) mse``
    instead of ``(beta_bar/alpha_bar)(1 - ms_eps)``.  Pass it to :func:`analytic_variance`
    with ``moment="mse"``.  Same arguments and noise layout as :func:`estimate_gamma`.
    """
    xp, x0, mean, se, m = _run(eps_fn, x0, schedule, seed, steps, steps_per_call, "mse")
    ms = xp.asarray(mean, dtype=x0.dtype)
    if not return_stderr:
        return ms
    return GammaEstimate(ms_eps=ms, stderr=xp.asarray(se, dtype=x0.dtype), n_samples=m)
