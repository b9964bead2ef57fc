"""solvers.diffusion benchmarks: trajectory DP, Gamma estimation, sampling throughput.

Baselines are straightforward NumPy versions written here (no peer library implements
Analytic-DPM; the diffusers PR was dropped): the DP as in the reference description (cost matrix
built row by row, then one vectorized min per k), a loop DP, a per-step Gamma loop with
``numpy.random.default_rng``, and a plain ancestral-sampling loop.  Ratios are baseline time /
our time (> 1: we are faster).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import busy_cores, fmt_time, measure, table, write_section  # noqa: E402

import probspace  # noqa: E402
from solvers.diffusion import (GaussianMixture, NoiseSchedule, analytic_variance, estimate_gamma,  # noqa: E402
                               even_trajectory, optimal_trajectory, sample, trajectory_cost)


# -- baselines ------------------------------------------------------------------------------
def dp_reference_numpy(betas, ms, K):
    """Cost matrix row by row (cumprod per start s), then C[k] = min_s C[k-1, s] + F[s, :] per k."""
    N = len(betas) - 1
    alphas = 1.0 - betas
    bb = 1.0 - np.cumprod(alphas)
    F = np.full((N + 1, N + 1), np.inf)
    for s in range(1, N + 1):
        skip_b = 1.0 - np.cumprod(alphas[s + 1:])
        F[s, s + 1:] = np.log(1.0 - skip_b * ms[s + 1:] / bb[s + 1:])
    C = np.full((K + 1, N + 1), np.inf)
    D = np.full((K + 1, N + 1), -1)
    C[2, 2:N] = F[1, 2:N]
    D[2, 2:N] = 1
    for k in range(3, K + 1):
        tot = C[k - 1][:, None] + F
        C[k, k:] = tot.min(axis=0)[k:]
        D[k, k:] = tot.argmin(axis=0)[k:]
    path, n = [N], N
    for k in range(K, 2, -1):
        n = D[k, n]
        path.append(int(n))
    path.append(1)
    return [0] + path[::-1]


def dp_loop_numpy(F, N, K):
    """C[k, n] = min over s of C[k-1, s] + F[s, n], one numpy min per (k, n)."""
    C = np.full((K + 1, N + 1), np.inf)
    D = np.zeros((K + 1, N + 1), dtype=np.int64)
    C[1, 1] = 0.0
    for k in range(2, K + 1):
        for n in range(k, N - (K - k) + 1):
            v = C[k - 1, :n] + F[:n, n]
            j = int(np.argmin(v))
            C[k, n], D[k, n] = v[j], j
    path, n = [N], N
    for k in range(K, 1, -1):
        n = D[k, n]
        path.append(int(n))
    return [0] + path[::-1]


def gamma_loop_numpy(eps_fn, x0, sch, seed):
    rng = np.random.default_rng(seed)
    ms = np.zeros(sch.N + 1)
    for n in range(1, sch.N + 1):
        e = rng.standard_normal(x0.shape)
        xn = np.sqrt(sch.alpha_bar[n]) * x0 + np.sqrt(sch.beta_bar[n]) * e
        ms[n] = np.mean(eps_fn(xn, n) ** 2)
    return ms


def sample_loop_numpy(eps_fn, sch, tr, var, xT, seed):
    rng = np.random.default_rng(seed)
    x = xT
    for k in range(len(tr) - 1, 0, -1):
        s, t = tr[k - 1], tr[k]
        ab_s, ab_t, bb_s, bb_t = sch.alpha_bar[s], sch.alpha_bar[t], sch.beta_bar[s], sch.beta_bar[t]
        x0 = (x - np.sqrt(bb_t) * eps_fn(x, t)) / np.sqrt(ab_t)
        b_ts = 1 - ab_t / ab_s
        mean = np.sqrt(ab_s) * b_ts / bb_t * x0 + np.sqrt(ab_t / ab_s) * bb_s / bb_t * x
        x = mean if s == 0 else mean + np.sqrt(var[k - 1]) * rng.standard_normal(x.shape)
    return x


def dp_contention_rows(sch, ms):
    """Trajectory DP (ours vs the NumPy ref-style DP), quiet and with one core held by a busy
    process; the goal (issue 13) is a contended ratio within 2x of the quiet one."""
    Ks = (10, 100)

    def times():
        res = []
        for K in Ks:
            t_ours = measure(lambda: optimal_trajectory(sch, ms, K), repeat=7)
            t_ref = measure(lambda: dp_reference_numpy(sch.betas, ms, K), repeat=3)
            res.append((f"N=1000, K={K}", t_ours, t_ref))
        return res

    quiet = times()
    with busy_cores(1):
        busy = times()
    rows = []
    for (label, tq, nq), (_, tb, nb) in zip(quiet, busy):
        rq, rb = nq / tq, nb / tb
        rows.append([label, fmt_time(tq), fmt_time(tb), f"{tb / tq:.2f}", f"{rq:.1f}",
                     f"{rb:.1f}", f"{rq / rb:.2f}"])
    return table(["case", "ours quiet", "ours contended", "contended / quiet time",
                  "ref-style/ours quiet", "ref-style/ours contended",
                  "quiet ratio / contended ratio"], rows)


def main():
    rows_dp, rows_g, rows_s = [], [], []
    sch = NoiseSchedule.linear(1000)
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], np.stack([0.1 * np.eye(2)] * 2))
    exact = gm.noise_predictor(sch)
    # a smooth, realistic ms_eps without a > 1 tail (so that every DP variant solves the same problem)
    ms = estimate_gamma(exact, gm.sample(2000, 0), sch, seed=1)
    ms = np.minimum(ms, 1.0 - 1e-9)
    optimal_trajectory(sch, ms, 10)                      # compile
    for K in (10, 100, 400):
        t_ours = measure(lambda: optimal_trajectory(sch, ms, K), repeat=5)
        with probspace.use_backend("generic"):
            t_gen = measure(lambda: optimal_trajectory(sch, ms, K), repeat=3)
        t_ref = measure(lambda: dp_reference_numpy(sch.betas, ms, K), repeat=3)
        a = optimal_trajectory(sch, ms, K)
        b = dp_reference_numpy(sch.betas, ms, K)
        ok = abs(trajectory_cost(sch, ms, a) - trajectory_cost(sch, ms, b)) < 1e-9
        rows_dp.append([f"N=1000, K={K}", fmt_time(t_ours), "numpy ref-style DP", fmt_time(t_ref),
                        f"{t_ref / t_ours:.1f}", f"generic rung {fmt_time(t_gen)}", "same cost" if ok else "COST DIFFERS"])
    from solvers.diffusion import step_cost_matrix
    F = step_cost_matrix(sch, ms)
    K = 100
    t0 = time.perf_counter()
    c = dp_loop_numpy(F, sch.N, K)
    t_loop = time.perf_counter() - t0
    t_ours = measure(lambda: optimal_trajectory(sch, ms, K), repeat=5)
    ok = abs(trajectory_cost(sch, ms, c) - trajectory_cost(sch, ms, optimal_trajectory(sch, ms, K))) < 1e-9
    rows_dp.append([f"N=1000, K={K}", fmt_time(t_ours), "loop DP (np.min per (k, n), F given)", fmt_time(t_loop),
                    f"{t_loop / t_ours:.0f}", "", "same cost" if ok else "COST DIFFERS"])
    contention = None if "--no-contention" in sys.argv else dp_contention_rows(sch, ms)

    # Gamma estimation: N = 1000 steps, M rows
    lin = lambda x, n: 0.5 * x                          # a nearly free predictor: overhead only
    for label, fn, M in (("linear predictor, M=1000, d=2", lin, 1000),
                         ("GMM exact predictor, M=1000, d=2", exact, 1000),
                         ("linear predictor, M=20000, d=2", lin, 20000)):
        x0 = gm.sample(M, 3)
        t_ours = measure(lambda: estimate_gamma(fn, x0, sch, seed=1), repeat=3)
        t_b = measure(lambda: estimate_gamma(fn, x0, sch, seed=1, steps_per_call=25), repeat=3)
        t_np = measure(lambda: gamma_loop_numpy(fn, x0, sch, 1), repeat=3)
        rows_g.append([label, fmt_time(t_ours), fmt_time(t_b), fmt_time(t_np), f"{t_np / min(t_ours, t_b):.2f}"])

    # Sampling throughput: 1e5 samples, d = 2
    m = 100_000
    xT = np.random.default_rng(0).standard_normal((m, 2))
    for K in (10, 100):
        tr = even_trajectory(sch, K)
        var = analytic_variance(sch, ms, tr)
        for label, fn in (("linear predictor", lin), ("GMM exact predictor", exact)):
            t_ours = measure(lambda: sample(fn, sch, tr, var, xT, seed=1), repeat=3)
            t_np = measure(lambda: sample_loop_numpy(fn, sch, tr, var, xT, 1), repeat=3)
            rows_s.append([f"1e5 x 2, K={K}, {label}", fmt_time(t_ours), f"{m * K / t_ours / 1e6:.1f}",
                           fmt_time(t_np), f"{t_np / t_ours:.2f}"])

    body = "\n\n".join([
        "### Trajectory DP (Theorem 3 least-cost path)\n\n" + table(
            ["case", "ours (numba rung)", "baseline", "baseline time", "ratio", "generic rung", "check"], rows_dp)
        + "\n\nOurs: the cost matrix rows in chunks on the shared non-spinning pool (``probspace/_pool.py``, "
          "threads only when a ThreadGate finds the work worth it and cores idle), then a serial DP whose "
          "inner loop runs on SIMD lanes."
        + ("" if contention is None else
           "\n\n#### Under contention\n\n" + contention
           + "\n\nThe same calls while a competing busy process (`python -c \"while True: pass\"`, "
             "pinned to one core) runs; the NumPy baseline is single-threaded.  Goal (issue 13): the "
             "contended ratio within 2x of the quiet one (last column <= 2)."),
        "### Gamma estimation (N = 1000 steps)\n\n" + table(
            ["case", "ours (1 step/call)", "ours (25 steps/call)", "numpy loop (default_rng)", "ratio"], rows_g)
        + "\n\nOur noise comes from the counter-based Philox stream (Box-Muller; the numbers of step n do not "
          "depend on batching and are identical on the generic, Numba and CuPy rungs); the baseline uses numpy's "
          "PCG64 ziggurat.  We also compute the standard error of each entry; ratios below 1 mean the "
          "straightforward loop is faster.  Stacking steps per call helps only "
          "when the predictor has a per-call overhead.",
        "### Sampling throughput (1e5 samples)\n\n" + table(
            ["case", "ours", "M sample-steps/s", "numpy loop", "ratio"], rows_s)
        + "\n\nOurs: reproducible counter-based noise (Stream.normal, lane-vectorized Philox/Box-Muller on "
          "the NumPy rung) against numpy's ziggurat; with the exact mixture predictor the predictor dominates.",
    ])
    write_section("diffusion", "solvers.diffusion", body)


if __name__ == "__main__":
    main()
