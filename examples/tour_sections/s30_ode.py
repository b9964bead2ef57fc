"""Tour: ODE ensembles with solvers.solve_ode (orders, a Lorenz ensemble, events)."""
from __future__ import annotations

import math
import pathlib
import time

import numpy as np

TITLE = "ODE ensembles: solve_ode (euler, heun, rk4, dopri5), per-member adaptive steps, events"


def f_cos(t, y):
    """y' = y cos t, exact solution y0 exp(sin t); one member: t a float, y of shape (1,)."""
    return y * np.cos(t)


def lorenz(t, y, rho):
    """One member of the Lorenz ensemble (compiled by Numba into the fused kernel)."""
    return np.array([10.0 * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])


def ballistic(t, y, g):
    """One projectile: y = (x, height, vx, vy)."""
    return np.array([y[2], y[3], 0.0, -g])


def ground(t, y, g):
    return y[1]


ground.terminal = True
ground.direction = -1


def run(outdir: pathlib.Path) -> None:
    import matplotlib.pyplot as plt
    from solvers import per_member, solve_ode

    # 1. measured orders: error at t = 2 against exp(sin 2), slope of log error vs log n
    print("Convergence orders on y' = y cos t (fit over 6 step sizes):")
    T = 2.0
    exact = math.exp(math.sin(T))
    print(f"  {'method':8s} {'theory':>6s} {'measured':>8s}   errors (n = 8 .. 256)")
    for method, order in (("euler", 1), ("heun", 2), ("rk4", 4), ("dopri5", 5)):
        ns = [8, 16, 32, 64, 128, 256] if method != "dopri5" else [8, 12, 16, 24, 32, 48]
        errs = []
        for n in ns:
            kw = dict(method=method, dt0=T / n)
            if method == "dopri5":  # pin the step: huge tolerances, max_step = dt0
                kw.update(max_step=T / n, rtol=1e6, atol=1e6)
            r = solve_ode(f_cos, (0.0, T), np.array([1.0]), **kw)
            errs.append(abs(float(r.y[-1, 0]) - exact))
        slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
        print(f"  {method:8s} {order:6d} {slope:8.2f}   {errs[0]:.1e} .. {errs[-1]:.1e}")

    print("\nAdaptive dopri5 on the harmonic oscillator: global error follows the tolerance")
    te = np.linspace(0, 10, 41)
    for rt in (1e-4, 1e-6, 1e-8, 1e-10):
        r = solve_ode(lambda t, y: np.array([y[1], -y[0]]), (0.0, 10.0),
                      np.array([1.0, 0.0]), rtol=rt, atol=rt * 1e-3, t_eval=te)
        err = np.max(np.abs(r.y[:, 0] - np.cos(te)))
        print(f"  rtol {rt:.0e}: max error {err:.2e} (error / rtol {err / rt:.2f}), "
              f"{int(r.nsteps)} steps")

    # 2. a Lorenz ensemble: 5000 members, each with its own rho and its own adaptive steps
    n = 5000
    rho = np.linspace(10.0, 50.0, n)
    y0 = np.tile([1.0, 1.0, 1.0], (n, 1))
    t_eval = np.linspace(0.0, 10.0, 1001)
    t0 = time.perf_counter()
    # per-member parameters are explicit: member i receives rho[i]
    solve_ode(lorenz, (0.0, 10.0), y0[:16], args=(per_member(rho[:16]),), t_eval=[10.0])  # compile
    t1 = time.perf_counter()
    res = solve_ode(lorenz, (0.0, 10.0), y0, args=(per_member(rho),), t_eval=t_eval, rtol=1e-6,
                    atol=1e-8)
    t2 = time.perf_counter()
    steps = np.asarray(res.nsteps)
    print(f"\nLorenz ensemble: {n} members, rho in [10, 50], dense output at {t_eval.size} times: "
          f"{t2 - t1:.2f} s on the {res.backend} rung (compilation {t1 - t0:.1f} s, once)")
    print(f"  all succeeded: {bool(np.all(res.success))}; steps per member: min {steps.min()}, "
          f"median {int(np.median(steps))}, max {steps.max()}")
    for lo, hi in ((10, 20), (20, 24.7), (24.7, 35), (35, 50)):
        m = (rho >= lo) & (rho < hi)
        print(f"  rho in [{lo:5.1f}, {hi:5.1f}): mean steps {steps[m].mean():6.0f}")

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for r_, c in ((15.0, "tab:blue"), (28.0, "tab:red"), (45.0, "tab:green")):
        i = int(np.argmin(np.abs(rho - r_)))
        ax[0].plot(res.y[i, :, 0], res.y[i, :, 2], lw=0.6, color=c, label=f"rho = {rho[i]:.1f}")
    ax[0].set(xlabel="x", ylabel="z", title="Lorenz trajectories (dense output)")
    ax[0].legend(fontsize=8)
    tail = res.y[:, 500:1000, 2]  # z over t in [5, 10): fixed point or attractor
    ax[1].scatter(np.repeat(rho[::10], 50), tail[::10, ::10].ravel(), s=0.3, color="k")
    ax[1].set(xlabel="rho", ylabel="z(t), t in [5, 10]", title="long-run z across the ensemble")
    ax[2].plot(rho, steps, lw=0.6)
    ax[2].set(xlabel="rho", ylabel="accepted steps", title="each member adapts its own step")
    fig.tight_layout()
    fig.savefig(outdir / "ode_lorenz_ensemble.png", dpi=110)
    plt.close(fig)

    # 3. events: projectiles hitting the ground, located on the dense output
    g, v = 9.81, 20.0
    angles = np.deg2rad(np.linspace(15, 75, 7))
    y0 = np.stack([np.zeros(7), np.full(7, 1.5), v * np.cos(angles), v * np.sin(angles)], -1)
    te = np.linspace(0.0, 5.0, 201)
    res = solve_ode(ballistic, (0.0, 5.0), y0, args=(g,), events=ground, t_eval=te)
    vy = v * np.sin(angles)
    t_hit = (vy + np.sqrt(vy ** 2 + 2 * g * 1.5)) / g
    err = np.max(np.abs(np.asarray(res.t_events[0][:, 0]) - t_hit))
    print(f"\nEvents: 7 projectiles, terminal ground event; status {np.asarray(res.status)} "
          f"(1 = stopped by an event); max |t_hit - closed form| = {err:.1e}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for i in range(7):
        ax.plot(res.y[i, :, 0], res.y[i, :, 1], lw=1)
        ax.plot(res.y_events[0][i, 0, 0], 0.0, "kx")
    ax.set(xlabel="x (m)", ylabel="height (m)", title="terminal events at the ground (x)")
    fig.tight_layout()
    fig.savefig(outdir / "ode_events.png", dpi=110)
    plt.close(fig)
    print(f"  plots: {outdir / 'ode_lorenz_ensemble.png'}, {outdir / 'ode_events.png'}")


if __name__ == "__main__":
    import matplotlib
    matplotlib.use("Agg")
    out = pathlib.Path(__file__).resolve().parents[1] / "output"
    out.mkdir(exist_ok=True)
    run(out)
