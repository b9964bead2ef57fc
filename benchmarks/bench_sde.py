"""GBM ensemble, Euler-Maruyama and Milstein, 1000 steps, float64, keep X(1).

Ours: the fused Numba kernel (sympy input and @njit per-path input), noise from the
counter-based Philox stream (each path its own child stream, drawn inside the loop), paths
spread over the machine's cores.  Peers in the same run: a plain vectorized NumPy loop
(``default_rng().standard_normal`` per step), torchsde ``sdeint`` as users call it (default
BrownianInterval), and diffrax Euler with ``UnsafeBrownianPath`` on a batched state (jit
compile excluded).  Ratios are peer time / our time.

Run: ``python benchmarks/bench_sde.py [--quick]``.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _harness import fmt_time, measure, pip_install, table, write_section  # noqa: E402

MU, SIG, X0 = 0.5, 0.3, 1.0
NSTEPS = 1000
DT = 1.0 / NSTEPS
EXACT = X0 * math.exp(MU)


def ours_sympy(n, method="euler_maruyama"):
    import sympy as sp
    from solvers import solve_sde
    t, x = sp.symbols("t x")
    y0 = np.full((n, 1), X0)

    def run():
        return solve_sde([MU * x], [SIG * x], (0.0, 1.0), y0, dt=DT, seed=1, method=method,
                         symbols=(t, [x]), t_eval=[1.0]).y[:, -1, 0]
    return run


def ours_njit(n):
    import numba
    from solvers import solve_sde

    @numba.njit
    def f(t, y, out):
        out[0] = MU * y[0]

    @numba.njit
    def g(t, y, out):
        out[0] = SIG * y[0]
    y0 = np.full((n, 1), X0)

    def run():
        return solve_sde(f, g, (0.0, 1.0), y0, dt=DT, seed=1, t_eval=[1.0]).y[:, -1, 0]
    return run


def numpy_loop(n):
    def run():
        rng = np.random.default_rng(1)
        x = np.full(n, X0)
        sq = math.sqrt(DT)
        for _ in range(NSTEPS):
            x = x + MU * x * DT + SIG * x * sq * rng.standard_normal(n)
        return x
    return run


def torchsde_run(n, method):
    import torch
    import torchsde

    class GBM(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, t, y):
            return MU * y

        def g(self, t, y):
            return SIG * y

    sde = GBM()
    y0 = torch.full((n, 1), X0, dtype=torch.float64)
    ts = torch.tensor([0.0, 1.0], dtype=torch.float64)

    def run():
        with torch.no_grad() if method == "euler" else _null():
            return torchsde.sdeint(sde, y0, ts, method=method, dt=DT)[-1, :, 0].detach().numpy()
    return run


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def diffrax_run(n):
    import jax
    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp
    import lineax

    def solve(key, y0):
        bm = diffrax.UnsafeBrownianPath(shape=y0.shape, key=key)
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(lambda t, y, a: MU * y),
            diffrax.ControlTerm(lambda t, y, a: lineax.DiagonalLinearOperator(SIG * y), bm))
        sol = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, 1.0, dt0=DT, y0=y0,
                                  saveat=diffrax.SaveAt(t1=True), adjoint=diffrax.ForwardMode(),
                                  max_steps=NSTEPS + 8)
        return sol.ys[-1]

    key = jax.random.PRNGKey(1)
    y0 = jnp.full((n,), X0)
    t0 = time.perf_counter()
    compiled = jax.jit(solve).lower(key, y0).compile()
    compile_s = time.perf_counter() - t0

    def run():
        return np.asarray(compiled(key, y0).block_until_ready())
    return run, compile_s


def main(quick=False):
    import numba
    have_torch = pip_install("torch==2.13.0") and pip_install("torchsde")
    have_jax = pip_install("jax", "diffrax")
    sizes = (10_000,) if quick else (10_000, 100_000)
    rows, notes = [], []
    # compile once (excluded from timings, reported)
    t0 = time.perf_counter()
    ours_sympy(8)()
    compile_sym = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_njit(8)()
    compile_njit = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_sympy(8, "milstein")()
    compile_mil = time.perf_counter() - t0
    notes.append(f"Our compile times (first call, excluded): EM sympy {compile_sym:.1f} s, "
                 f"EM @njit {compile_njit:.1f} s, Milstein sympy {compile_mil:.1f} s; "
                 f"numba threads: {numba.get_num_threads()}.")
    for n in sizes:
        slow_rep = 1 if n >= 100_000 else 3
        ours = ours_sympy(n)
        x = ours()
        t_ours = measure(ours, repeat=3, warmup=0)
        t_njit = measure(ours_njit(n), repeat=3, warmup=1)
        mean_ok = abs(x.mean() - EXACT) < 5 * x.std() / math.sqrt(n)
        rows.append((f"EM n={n:.0e}", "ours fused (sympy)", fmt_time(t_ours), "-", "1.00",
                     f"mean X(1) {x.mean():.4f} (exact {EXACT:.4f}) {'ok' if mean_ok else 'OFF'}"))
        rows.append((f"EM n={n:.0e}", "ours fused (@njit per-path)", fmt_time(t_njit), "-",
                     f"{t_ours / t_njit:.2f}", "same numbers as sympy input"))
        t_np = measure(numpy_loop(n), repeat=3, warmup=1)
        rows.append((f"EM n={n:.0e}", "NumPy loop (PCG64 ziggurat, 1 core)", fmt_time(t_ours),
                     fmt_time(t_np), f"{t_np / t_ours:.2f}", "goal >= 3"))
        if have_torch:
            try:
                tr = torchsde_run(n, "euler")
                t_ts = measure(tr, repeat=slow_rep, warmup=0 if n >= 100_000 else 1)
                rows.append((f"EM n={n:.0e}", "torchsde euler (default BrownianInterval)",
                             fmt_time(t_ours), fmt_time(t_ts), f"{t_ts / t_ours:.1f}", "goal >= 10"))
            except Exception as exc:  # noqa: BLE001
                notes.append(f"torchsde euler n={n}: failed: {exc!r}")
        if have_jax:
            try:
                dr, comp = diffrax_run(n)
                t_dx = measure(dr, repeat=3, warmup=1)
                rows.append((f"EM n={n:.0e}", "diffrax Euler + UnsafeBrownianPath (batched)",
                             fmt_time(t_ours), fmt_time(t_dx), f"{t_dx / t_ours:.2f}",
                             f"goal >= 2; jit compile {comp:.1f} s excluded"))
            except Exception as exc:  # noqa: BLE001
                notes.append(f"diffrax n={n}: failed: {exc!r}")
        mil = ours_sympy(n, "milstein")
        t_mil = measure(mil, repeat=3, warmup=0)
        if have_torch:
            try:
                trm = torchsde_run(n, "milstein")
                t_tsm = measure(trm, repeat=slow_rep, warmup=0 if n >= 100_000 else 1)
                rows.append((f"Milstein n={n:.0e}", "torchsde milstein (autograd)", fmt_time(t_mil),
                             fmt_time(t_tsm), f"{t_tsm / t_mil:.1f}", "ours: derivative-free RK form"))
            except Exception as exc:  # noqa: BLE001
                notes.append(f"torchsde milstein n={n}: failed: {exc!r}")
        print(table(("case", "peer", "ours", "peer time", "ratio", "note"), rows), flush=True)
    body = (__doc__.split("\n\n", 1)[1] + "\n"
            + table(("case", "peer", "ours", "peer time", "ratio (peer/ours)", "note"), rows)
            + "\n\n" + "\n".join(f"- {s}" for s in notes)
            + "\n- Our noise: Philox4x32-10 (counter-based), path p = child stream p of the seed, the"
              " Stream's own Box-Muller transform evaluated lane-vectorized over blocks of 32 paths"
              " (bit-identical to probspace.random's normal_pair / Stream.normal). The NumPy peer uses"
              " PCG64 + ziggurat, a faster non-counter generator."
            + "\n- sympy + EM runs a generated kernel with the expressions inline (vectorized across"
              " paths); @njit per-path functions are recompiled inline into the generic fused kernel." + "\n")
    write_section("sde", "SDE ensembles: GBM Euler-Maruyama / Milstein (solvers.solve_sde)", body)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
