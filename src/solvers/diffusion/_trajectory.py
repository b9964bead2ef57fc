"""Optimal trajectories (Analytic-DPM Theorem 3): a least-cost path over time steps."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from probspace import backend_for, to_numpy
from probspace._validation import check_int
from probspace.typing import ArrayLike

from ._common import check_schedule
from ._inputs import as_float64
from ._schedule import NoiseSchedule, check_trajectory

__all__ = ["optimal_trajectory", "trajectory_cost", "step_cost_matrix", "baseline_cost_matrix",
           "vb_trajectory"]


def _ms(schedule, ms_eps):
    ms = as_float64(ms_eps, "ms_eps")
    if ms.shape != (schedule.N + 1,):
        raise ValueError(f"ms_eps must have shape (N + 1,) = ({schedule.N + 1},), got {ms.shape}")
    if not np.all(np.isfinite(ms[1:])):
        raise ValueError("ms_eps must be finite at steps 1..N")
    if np.any(ms[1:] < 0):
        raise ValueError("ms_eps must be non-negative")
    return ms


def step_cost_matrix(schedule: NoiseSchedule, ms_eps: ArrayLike, n_max: int | None = None) -> np.ndarray:
    r"""``F[s, t] = J(s, t) = log(1 - beta_{t|s} ms_eps[t] / beta_bar[t])`` for ``1 <= s < t <= n_max``, else ``inf``.

    The DDPM-case step cost of Theorem 3 (``J = log(sigma*^2 / lambda^2)`` up to terms that
    telescope).  Entries where the argument of the log is not positive (possible only when
    ``ms_eps > 1``) are ``nan``.  A NumPy array of shape ``(n_max + 1, n_max + 1)``.
    """
    schedule = check_schedule(schedule)
    ms = _ms(schedule, ms_eps)
    n = schedule.N if n_max is None else check_int(n_max, "n_max", minimum=1)
    la = schedule.log_alpha_bar[: n + 1]
    s = np.arange(n + 1)[:, None]
    t = np.arange(n + 1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        b = -np.expm1(la[None, :] - la[:, None])
        F = np.log1p(-b * (ms[: n + 1] / np.where(schedule.beta_bar[: n + 1] > 0, schedule.beta_bar[: n + 1], 1.0))[None, :])
    F[(s >= t) | (s < 1)] = np.inf
    return F


def trajectory_cost(schedule: NoiseSchedule, ms_eps: ArrayLike, trajectory: ArrayLike) -> float:
    r"""``sum_{k=2}^{K} J(tau_{k-1}, tau_k)`` for a trajectory ``0, tau_1, ..., tau_K = N`` (the DP objective).

    NaN or inf in ``ms_eps`` at the trajectory's steps raise ``ValueError`` (entry 0 is not read).

    Examples
    --------
    The optimal trajectory costs no more than the even one (the bound's trajectory-dependent
    part is half this sum, in nats per dimension):

    >>> import numpy as np
    >>> from solvers.diffusion import (NoiseSchedule, even_trajectory, optimal_trajectory,
    ...                                trajectory_cost)
    >>> sch = NoiseSchedule.linear(1000)
    >>> lam = np.array([0.01, 1.0])               # Gaussian data with these two variances
    >>> ms_eps = np.r_[0.0, [np.mean(sch.beta_bar[n] / (sch.alpha_bar[n] * lam + sch.beta_bar[n]))
    ...                      for n in range(1, 1001)]]
    >>> ot, et = optimal_trajectory(sch, ms_eps, 10), even_trajectory(sch, 10)
    >>> bool(trajectory_cost(sch, ms_eps, ot) <= trajectory_cost(sch, ms_eps, et))
    True
    """
    schedule = check_schedule(schedule)
    ms = _ms(schedule, ms_eps)
    tr = check_trajectory(trajectory, schedule.N)[1:]
    s, t = tr[:-1], tr[1:]
    b = -np.expm1(schedule.log_alpha_bar[t] - schedule.log_alpha_bar[s])
    if np.any(b * ms[t] >= schedule.beta_bar[t]):   # log(1 - b ms / beta_bar) undefined (NaN)
        raise ValueError("ms_eps is too large on the trajectory: 1 - beta_(s,t) ms_eps[t] / "
                         "beta_bar[t] <= 0, so the cost is undefined (an exact ms_eps is <= 1)")
    return _path_cost(schedule, ms, tr)


def _path_cost(schedule, ms, nodes):
    s, t = nodes[:-1], nodes[1:]
    b = -np.expm1(schedule.log_alpha_bar[t] - schedule.log_alpha_bar[s])
    return float(np.sum(np.log1p(-b * ms[t] / schedule.beta_bar[t])))


def _dp_generic(F, start, n1, k1):
    """Vectorized NumPy DP over node counts: C[k, n] = min_s C[k-1, s] + F[s, n]."""
    C = np.full(n1 + 1, np.inf)
    C[start] = 0.0
    D = np.full((k1 + 1, n1 + 1), -1, dtype=np.int64)
    for k in range(2, k1 + 1):
        tot = C[:, None] + F
        D[k] = np.argmin(tot, axis=0)
        Cn = tot[D[k], np.arange(n1 + 1)]
        Cn[: start + k - 1] = np.inf                # fewer than k positions available
        Cn[n1 - (k1 - k) + 1:] = np.inf             # no room left for the remaining nodes
        C = Cn
    path = [n1]
    n = n1
    for k in range(k1, 1, -1):
        n = int(D[k, n])
        path.append(n)
    return np.array(path[::-1], dtype=np.int64), float(C[n1])


def _solve(schedule, ms, n1, k1):
    """Nodes 1 = tau_1 < ... < tau_k1 = n1 minimizing the summed step costs."""
    if k1 == n1:
        path = np.arange(1, n1 + 1, dtype=np.int64)
        return path, _path_cost(schedule, ms, path)
    if k1 == 1:
        return np.array([1], dtype=np.int64), 0.0
    rung = backend_for(np, available=("numba", "generic"))
    if rung == "numba":
        from probspace._pool import run
        from . import _trajectory_numba as K
        # NumPy allocates this (large) matrix on huge pages; only s < t entries are written and read
        F = np.empty((n1 + 1, n1 + 1))
        la, bb = schedule.log_alpha_bar, schedule.beta_bar
        run(lambda i0, i1: K.cost_rows(F, la, ms, bb, n1, i0, i1), n1 // 2 + 1, n1,
            "solvers.diffusion.cost_matrix")
        path, cost = K.dp(F, 1, n1, k1)
        return path, float(cost)
    F = step_cost_matrix(schedule, ms, n1)
    return _dp_generic(F, 1, n1, k1)


def _guard_split(ms, N, K):
    """The reference's guard against unreliable Gamma (``ms_eps > 1`` from some step on).

    From the first step ``n`` with ``ms_eps[n] > 1`` (impossible for the exact predictor), a tail
    of ``2 (N - n + 1)`` steps is treated as unreliable: the DP runs on ``1..N1`` with
    ``K1 = ceil((1 - 0.8 r) K)`` nodes (``r`` the unreliable fraction) and the tail gets ``K2 = K - K1``
    evenly spaced nodes.
    """
    bad = np.nonzero(ms[1:] > 1.0)[0]
    first = int(bad[0]) + 1 if bad.size else N + 1
    num_bad = 2 * (N - first + 1)
    if num_bad == 0:
        return K, N, 0, 0, first
    if num_bad >= N - 1:
        raise ValueError(f"ms_eps exceeds 1 from step {first} on: too much of the Gamma estimate is "
                         "unreliable for the guard (use more samples)")
    n1 = N - num_bad
    k1 = math.ceil((1.0 - 0.8 * num_bad / N) * K)
    k2 = K - k1
    if k1 > n1:
        k1, k2 = n1, K - n1
    if k2 > num_bad:
        k2 = num_bad
        k1 = K - k2
    if k2 == 0:
        k2, k1 = 1, K - 1
    if k1 < 2 and n1 > 1:
        raise ValueError(f"K={K} is too small for the unreliable-Gamma guard (tail from step {first})")
    return k1, n1, k2, num_bad, first


def optimal_trajectory(schedule: NoiseSchedule, ms_eps: ArrayLike, K: int, *, guard: bool = True,
                       return_info: bool = False,
                       moment: str = "ms_eps") -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    r"""The trajectory minimizing the Analytic-DPM KL (Theorem 3, DDPM forward process).

    Minimizes ``sum_{k=2}^{K} J(tau_{k-1}, tau_k)`` with
    ``J(s, t) = log(1 - beta_{t|s} ms_eps[t] / beta_bar[t])`` over ``1 = tau_1 < ... < tau_K = N``
    by the least-cost-path dynamic program of Watson et al. (2021) (``O(K N^2)``; a Numba kernel
    for the NumPy rung, a vectorized NumPy DP for the generic rung).  No network calls: only
    ``ms_eps`` is used.

    Parameters
    ----------
    schedule : NoiseSchedule
    ms_eps : array, shape (N + 1,)
        From :func:`estimate_gamma`.
    K : int
        Number of reverse steps (the decoder step included), ``1 <= K <= N``.
    guard : bool
        Apply the reference's guard when ``ms_eps > 1`` somewhere (see Notes).  With
        ``guard=False`` such an estimate raises ``ValueError``.
    moment : {"ms_eps", "mse"}
        ``"mse"``: the second argument is ``E ||eps - eps_hat||^2 / d`` per step
        (:func:`estimate_eps_mse`) and the cost uses ``1 - mse`` in place of ``ms_eps``: then
        ``J/2`` is exactly the bound term of the maximum-likelihood variance for the given mean
        (``analytic_variance(..., moment="mse")``), and no guard is needed.
    return_info : bool
        Also return a dict with ``cost`` (the DP objective of the head), ``n_dp`` (``N1``),
        ``k_dp`` (``K1``), ``unreliable_from`` (first step with ``ms_eps > 1`` or ``None``).

    Returns
    -------
    trajectory : ndarray of int64, shape (K + 1,)
        ``[0, 1, tau_2, ..., N]`` (``[0, N]`` for ``K = 1``).

    Raises
    ------
    TypeError
        For a schedule that is not a :class:`NoiseSchedule`.
    ValueError
        For ``ms_eps`` of the wrong shape, with NaN/inf or negative entries, ``K`` outside
        ``1..N``, an unknown ``moment``, or ``ms_eps > 1`` with ``guard=False``.

    Notes
    -----
    Guard (official ``_split``): from the first ``n`` with ``ms_eps[n] > 1``, the last
    ``2 (N - n + 1)`` steps are unreliable; the DP runs on the head with
    ``ceil((1 - 0.8 r) K)`` nodes and the tail gets the remaining nodes evenly spaced.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.diffusion import NoiseSchedule, optimal_trajectory
    >>> sch = NoiseSchedule.linear(1000)
    >>> ms_eps = np.r_[0.0, sch.beta_bar[1:] / (sch.alpha_bar[1:] * 0.25 + sch.beta_bar[1:])]
    >>> tr = optimal_trajectory(sch, ms_eps, 5)
    >>> tr.size, int(tr[0]), int(tr[1]), int(tr[-1]), bool(np.all(np.diff(tr) > 0))
    (6, 0, 1, 1000, True)
    """
    schedule = check_schedule(schedule)
    if moment not in ("ms_eps", "mse"):
        raise ValueError(f"moment must be 'ms_eps' or 'mse', got {moment!r}")
    ms = _ms(schedule, ms_eps)
    if moment == "mse":
        ms = 1.0 - ms
        ms[0] = 0.0
    N = schedule.N
    K = check_int(K, "K", minimum=1)
    if K > N:
        raise ValueError(f"K must be <= N={N}, got {K}")
    info: dict[str, Any] = {"cost": 0.0, "n_dp": N, "k_dp": K, "unreliable_from": None}
    if K == 1:
        out = np.array([0, N], dtype=np.int64)
        return (out, info) if return_info else out
    if guard:
        k1, n1, k2, num_bad, first = _guard_split(ms, N, K)
    else:
        if np.any(ms[1:] > 1.0):
            raise ValueError("ms_eps exceeds 1 (impossible for the exact predictor); use guard=True")
        k1, n1, k2, num_bad, first = K, N, 0, 0, N + 1
    head, cost = _solve(schedule, ms, n1, k1)
    if k2 > 0:
        frac = (N - n1) / k2
        tail = [int(round(N - frac * k)) for k in range(k2)][::-1]
        nodes = np.concatenate([head, np.array(tail, dtype=np.int64)])
        info["unreliable_from"] = first
    else:
        nodes = head
    out = np.concatenate([[0], nodes]).astype(np.int64)
    if out.size != K + 1 or np.any(np.diff(out) <= 0) or out[-1] != N:
        raise RuntimeError(f"internal error: bad trajectory {out}")
    info.update(cost=cost, n_dp=n1, k_dp=k1)
    return (out, info) if return_info else out


def baseline_cost_matrix(schedule: NoiseSchedule, mse: ArrayLike, kind: str = "beta", /, *,
                         decoder_variance: float | None = None) -> np.ndarray:
    r"""All-pairs NELBO terms ``F[s, t]`` (nats/dim) of the handcrafted variances, for :func:`vb_trajectory`.

    NaN or inf in ``mse`` at steps 1..N raise ``ValueError`` (entry 0 is not read).

    The DDPM-forward bound of a trajectory is ``sum_k F[tau_{k-1}, tau_k]`` plus the prior term.
    For ``1 <= s < t``: ``F = (lambda^2/sigma^2 - 1 - log(lambda^2/sigma^2))/2 + gamma^2 e_t / (2 sigma^2)``
    with ``sigma^2 = tilde_beta_{s|t}`` (``"beta_tilde"``) or ``beta_{t|s}`` (``"beta"``) and
    ``e_t = E ||x_0 - x0_hat(x_t)||^2 / d = (beta_bar_t/alpha_bar_t) mse[t]``; the decoder terms are
    ``F[0, t] = log(2 pi v_t)/2 + e_t / (2 v_t)`` with the official convention ``v_1 = tilde_beta_{1|2}``,
    ``v_t = beta_bar_t`` for ``t > 1`` (or ``decoder_variance``).  ``mse`` comes from
    :func:`estimate_eps_mse` (or ``estimate_gamma(..., with_mse=True).mse``), so building ``F`` needs
    no predictor calls beyond those ``N`` passes (as the official ``get_nelbo_terms``).
    """
    schedule = check_schedule(schedule)
    e = as_float64(mse, "mse")
    N = schedule.N
    if e.shape != (N + 1,):
        raise ValueError(f"mse must have shape (N + 1,) = ({N + 1},), got {e.shape}")
    if not np.all(np.isfinite(e[1:])) or np.any(e[1:] < 0):
        raise ValueError("mse must be finite and non-negative at steps 1..N")
    if kind not in ("beta", "beta_tilde"):
        raise ValueError(f"kind must be 'beta' or 'beta_tilde', got {kind!r}")
    ex0 = np.zeros(N + 1)
    ex0[1:] = schedule.beta_bar[1:] / schedule.alpha_bar[1:] * e[1:]
    la = schedule.log_alpha_bar
    s = np.arange(N + 1)[:, None]
    t = np.arange(N + 1)[None, :]
    F = np.full((N + 1, N + 1), np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        b_ts = -np.expm1(la[t] - la[s])
        bb_s, bb_t, ab_s = schedule.beta_bar[s], schedule.beta_bar[t], schedule.alpha_bar[s]
        lam2 = b_ts * bb_s / np.where(bb_t > 0, bb_t, 1.0)
        g2 = ab_s * b_ts ** 2 / np.where(bb_t > 0, bb_t, 1.0) ** 2
        var = lam2 if kind == "beta_tilde" else b_ts
        r = lam2 / var
        body = 0.5 * (r - 1.0 - np.log(r)) + g2 * ex0[None, :] / (2 * var)
    ok = (s >= 1) & (s < t)
    F[ok] = np.broadcast_to(body, F.shape)[ok]
    if decoder_variance is None:
        if N < 2:
            raise ValueError("the default decoder variance tilde_beta_{1|2} needs N >= 2; pass decoder_variance")
        v = schedule.beta_bar[1:].copy()
        v[0] = schedule.tilde_beta(1, 2)
    else:
        from probspace._validation import check_positive
        v = np.full(N, check_positive(decoder_variance, "decoder_variance"))
    F[0, 1:] = 0.5 * np.log(2 * np.pi * v) + ex0[1:] / (2 * v)
    return F


def vb_trajectory(F: ArrayLike, K: int, /, *,
                  return_cost: bool = False) -> np.ndarray | tuple[np.ndarray, float]:
    r"""Least-cost trajectory for all-pairs step costs ``F[s, t]`` (Watson et al. 2021).

    ``+inf`` entries of ``F`` are forbidden steps; NaN raises ``ValueError``.

    Returns ``K + 1`` time indices ``0 = tau_0 < tau_1 < ... < tau_K = N``.  The "OT" of the baselines in Analytic-DPM's Table 1: minimizes ``sum_k F[tau_{k-1}, tau_k]``
    (e.g. :func:`baseline_cost_matrix`) by dynamic programming, ``O(K N^2)``.
    """
    F = as_float64(F, "F")
    if F.ndim != 2 or F.shape[0] != F.shape[1] or F.shape[0] < 2:
        raise ValueError(f"F must be a square (N + 1, N + 1) matrix, got shape {F.shape}")
    if np.any(np.isnan(F)):
        raise ValueError("F contains NaN")
    N = F.shape[0] - 1
    K = check_int(K, "K", minimum=1)
    if K > N:
        raise ValueError(f"K must be <= N={N}, got {K}")
    Fm = F.copy()
    Fm[np.tril_indices(N + 1)] = np.inf                 # only s < t are steps
    if backend_for(np, available=("numba", "generic")) == "numba":
        from . import _trajectory_numba as Kn
        path, cost = Kn.dp(Fm, 0, N, K + 1)
        path, cost = np.asarray(path), float(cost)
    else:
        path, cost = _dp_generic(Fm, 0, N, K + 1)
    if not np.isfinite(cost):
        raise ValueError("no finite-cost trajectory with these K steps")
    path = path.astype(np.int64)
    return (path, cost) if return_cost else path
