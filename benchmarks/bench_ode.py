"""Batched dopri5 ensemble: N Lorenz systems with different rho, t in [0, 10].

probspace ``solve_ode`` (fused Numba rung: one compiled loop per member, each with its own
adaptive step; the generic vectorized rung; the sympy-generated kernel) against scipy's
``solve_ivp(method="RK45")`` called in a loop (timed on a subset and scaled per member) and
diffrax ``Dopri5`` + ``PIDController`` under ``jax.vmap`` (CPU, float64; compile time reported
separately).  Same tolerances for everyone: rtol 1e-6, atol 1e-8, output at t = 10.

Usage: python benchmarks/bench_ode.py [N]   (default N = 10000)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fmt_time, measure, pip_install, table, write_section  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
N_SCIPY = 200
T1 = 10.0
RTOL, ATOL = 1e-6, 1e-8
rho = np.linspace(10.0, 50.0, N)
y0 = np.tile([1.0, 1.0, 1.0], (N, 1)) + 1e-3 * np.arange(N)[:, None] / N


def lorenz_member(t, y, rho):
    return np.array([10.0 * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])


def lorenz_vec(t, y, rho):
    return np.stack([10.0 * (y[..., 1] - y[..., 0]), y[..., 0] * (rho - y[..., 2]) - y[..., 1],
                     y[..., 0] * y[..., 1] - 8.0 / 3.0 * y[..., 2]], axis=-1)


def main():
    import numba
    from solvers import ode_from_sympy, per_member, solve_ode
    import sympy as sp

    notes = []
    threads = numba.get_num_threads()

    # --- ours, fused Numba rung (compile once, then time)
    t0 = time.perf_counter()
    # the per-member plain-Python form (as in scipy): compiled into the fused kernel
    args = (per_member(rho),)
    ours = solve_ode(lorenz_member, (0.0, T1), y0, args=args, rtol=RTOL, atol=ATOL, t_eval=[T1])
    compile_ours = time.perf_counter() - t0
    assert ours.backend == "numba" and bool(np.all(ours.success))
    t_ours = measure(lambda: solve_ode(lorenz_member, (0.0, T1), y0, args=args, rtol=RTOL,
                                       atol=ATOL, t_eval=[T1]), repeat=5)
    steps = np.asarray(ours.nsteps)
    notes.append(f"Numba rung: {threads} threads; steps per member min/median/max "
                 f"{steps.min()}/{int(np.median(steps))}/{steps.max()} (each member adapts on "
                 f"its own); first call incl. compilation {compile_ours:.1f} s.")
    rows_ours = [("probspace solve_ode, Numba rung (fused per-member loop)", t_ours)]

    # Tsitouras 5(4): same cost per step, fewer steps
    solve_ode(lorenz_member, (0.0, T1), y0[:16], args=(per_member(rho[:16]),), rtol=RTOL,
              atol=ATOL, t_eval=[T1], method="tsit5")
    t_ts = measure(lambda: solve_ode(lorenz_member, (0.0, T1), y0, args=args, rtol=RTOL,
                                     atol=ATOL, t_eval=[T1], method="tsit5"), repeat=3)
    rows_ours.append(("same with method='tsit5'", t_ts))
    ts_res = solve_ode(lorenz_member, (0.0, T1), y0, args=args, rtol=RTOL, atol=ATOL,
                       t_eval=[T1], method="tsit5")
    notes.append(f"mean accepted steps per member: dopri5 {np.mean(ours.nsteps):.0f}, tsit5 "
                 f"{np.mean(ts_res.nsteps):.0f}; rejected: dopri5 {np.mean(ours.nreject):.1f}, "
                 f"tsit5 {np.mean(ts_res.nreject):.1f}.")

    # dense output at 1001 points
    te = np.linspace(0.0, T1, 1001)
    t_dense = measure(lambda: solve_ode(lorenz_member, (0.0, T1), y0, args=args, rtol=RTOL,
                                        atol=ATOL, t_eval=te), repeat=3)
    rows_ours.append(("same, dense output at 1001 t_eval points", t_dense))

    # sympy-generated kernel
    x, y, z, r_ = sp.symbols("x y z rho")
    sym = ode_from_sympy([10 * (y - x), x * (r_ - z) - y, x * y - sp.Rational(8, 3) * z],
                         [x, y, z], params=[r_])
    solve_ode(sym, (0.0, T1), y0[:4], args=(per_member(rho[:4]),), rtol=RTOL, atol=ATOL,
              t_eval=[T1])
    t_sym = measure(lambda: solve_ode(sym, (0.0, T1), y0, args=args, rtol=RTOL, atol=ATOL,
                                      t_eval=[T1]), repeat=3)
    rows_ours.append(("probspace, sympy right-hand side (generated Numba kernel)", t_sym))

    # generic vectorized rung on a subset (scaled): array steps over the batch, masked members
    n_gen = min(N, 2000)
    args_gen = (per_member(rho[:n_gen]),)
    t_gen = measure(lambda: solve_ode(lorenz_vec, (0.0, T1), y0[:n_gen], args=args_gen,
                                      rtol=RTOL, atol=ATOL, t_eval=[T1], vectorized=True),
                    repeat=1, warmup=0) * N / n_gen
    rows_ours.append((f"probspace, generic array-API rung (NumPy; {n_gen} members, scaled)",
                      t_gen))

    # --- scipy solve_ivp in a loop (subset, scaled per member)
    from scipy.integrate import solve_ivp
    idx = np.linspace(0, N - 1, N_SCIPY).astype(int)

    def scipy_loop():
        out = np.empty((N_SCIPY, 3))
        nfe = 0
        for j, i in enumerate(idx):
            s = solve_ivp(lorenz_member, (0.0, T1), y0[i], args=(rho[i],), rtol=RTOL, atol=ATOL,
                          method="RK45")
            out[j] = s.y[:, -1]
            nfe += s.nfev
        return out, nfe

    t_scipy = measure(lambda: scipy_loop(), repeat=1, warmup=0) * N / N_SCIPY
    sc_y, sc_nfev = scipy_loop()
    ours_sub = ours.y[idx, -1]
    # agreement: non-chaotic members (rho < 24.7 converge to a fixed point) agree to ~tol,
    # chaotic ones decorrelate over t = 10 at this tolerance (for every solver)
    calm = rho[idx] < 24.0
    err_calm = np.max(np.abs(ours_sub[calm] - sc_y[calm]) / (1 + np.abs(sc_y[calm])))
    notes.append(f"scipy RK45 in a loop: {N_SCIPY} members timed, scaled by N/{N_SCIPY}; mean "
                 f"nfev per member scipy {sc_nfev / N_SCIPY:.0f} vs ours "
                 f"{np.asarray(ours.nfev)[idx].mean():.0f}; max relative difference at t=10 on the "
                 f"non-chaotic members (rho < 24) {err_calm:.1e}.")

    peers = [("scipy solve_ivp(RK45) in a loop", t_scipy)]

    # --- diffrax vmap (CPU)
    import importlib.util
    have_jax = all(importlib.util.find_spec(m) is not None for m in ("jax", "diffrax"))
    if not have_jax:
        have_jax = pip_install("jax", "diffrax")
    if have_jax:
        try:
            t_dfx, c_dfx, dfx_steps = _diffrax(N)
            peers.append(("diffrax Dopri5 + PIDController, jax.vmap (CPU, float64)", t_dfx))
            notes.append(f"diffrax: compile {c_dfx:.1f} s (excluded); mean accepted steps per "
                         f"member {dfx_steps:.0f} (its PID controller defaults differ from DOPRI5's "
                         "PI constants; accuracy per member not compared). vmap of the adaptive "
                         "while-loop keeps every lane until the slowest member finishes "
                         "(jax#2586).")
        except Exception as exc:  # report, do not hide
            notes.append(f"diffrax could not run: {exc!r}")
    else:
        notes.append("diffrax: could not be installed here.")

    hdr = ["case", "time", f"ratio vs {rows_ours[0][0].split(',')[0]} Numba rung"]
    tb = [(name, fmt_time(t), f"{t / t_ours:.3g}x" if i else "1x")
          for i, (name, t) in enumerate(rows_ours)]
    tb += [(name, fmt_time(t), f"**{t / t_ours:.3g}x**") for name, t in peers]
    body = (f"N = {N} Lorenz systems (sigma 10, beta 8/3, rho from 10 to 50), t in [0, {T1}], "
            f"dopri5, rtol {RTOL}, atol {ATOL}, state saved at t = {T1}. Ratio = time / "
            "probspace Numba-rung time (peer rows: how many times slower the peer is).\n\n"
            + table(hdr, tb) + "\n\n" + "\n".join(f"- {n}" for n in notes))
    write_section("ode", "ODE ensembles: batched dopri5 Lorenz", body)


def _diffrax(n):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import diffrax

    def vf(t, y, r):
        return jnp.stack([10.0 * (y[1] - y[0]), y[0] * (r - y[2]) - y[1],
                          y[0] * y[1] - 8.0 / 3.0 * y[2]])

    term = diffrax.ODETerm(vf)
    solver = diffrax.Dopri5()
    ctrl = diffrax.PIDController(rtol=RTOL, atol=ATOL)

    def one(y, r):
        sol = diffrax.diffeqsolve(term, solver, 0.0, T1, None, y, args=r,
                                  stepsize_controller=ctrl, saveat=diffrax.SaveAt(t1=True),
                                  max_steps=100_000)
        return sol.ys[-1], sol.stats["num_accepted_steps"]

    fn = jax.jit(jax.vmap(one))
    ys, rs = jnp.asarray(y0[:n]), jnp.asarray(rho[:n])
    t0 = time.perf_counter()
    comp = fn.lower(ys, rs).compile()
    c = time.perf_counter() - t0

    def run():
        out = comp(ys, rs)
        jax.block_until_ready(out)
        return out

    t = measure(run, repeat=3)
    _, steps = run()
    return t, c, float(np.mean(np.asarray(steps)))


if __name__ == "__main__":
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    main()
