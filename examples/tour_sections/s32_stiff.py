"""Tour: stiff ODEs with solve_ode (rodas4, kvaerno5) and the stiffness test of dopri5."""
from __future__ import annotations

import os
import pathlib
import time

import numpy as np

TITLE = "Stiff ODEs: van der Pol (mu = 1000) with rodas4 / kvaerno5; dopri5's stiffness test"

MU = 1000.0


def vdp(t, y, mu):
    """Van der Pol's oscillator as a first-order system; one member, y of shape (2,)."""
    return np.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])


def run(outdir: pathlib.Path) -> None:
    import matplotlib.pyplot as plt
    from scipy.integrate import solve_ivp
    from solvers import solve_ode

    y0 = np.array([2.0, 0.0])
    T = 3000.0
    rtol = atol = 1e-6
    print(f"van der Pol, mu = {MU:g}, t in [0, {T:g}], rtol = atol = {rtol:g}:")
    # an explicit method: the stiffness test stops it (status -4) instead of max_steps later
    ex = solve_ode(vdp, (0.0, T), y0, method="dopri5", rtol=rtol, atol=atol, args=(MU,),
                   dense_output=True)
    print(f"  dopri5   status {int(ex.status)} after {int(ex.nsteps)} steps at "
          f"t = {float(ex.t_final):.3g}: {ex.message}")
    runs = {}
    for m in ("rodas4", "kvaerno5"):
        t0 = time.perf_counter()
        r = solve_ode(vdp, (0.0, T), y0, method=m, rtol=rtol, atol=atol, args=(MU,),
                      dense_output=True)
        runs[m] = r
        print(f"  {m:8s} status {int(r.status)}: {int(r.nsteps)} steps ({int(r.nreject)} "
              f"rejected), {int(r.nfev)} f evaluations, {int(r.njev)} Jacobians, "
              f"{time.perf_counter() - t0:.2f} s")
    rad = solve_ivp(vdp, (0.0, T), y0, method="Radau", rtol=rtol, atol=atol, args=(MU,))
    # the reference: Radau at a tight tolerance (1e-10 in quick mode: the same check, faster)
    tight = 1e-10 if os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1" else 1e-12
    ref = solve_ivp(vdp, (0.0, T), y0, method="Radau", rtol=tight, atol=tight, args=(MU,))
    print(f"  scipy Radau: {rad.t.size - 1} steps, {rad.nfev} f evaluations")
    for m, r in runs.items():
        err = np.max(np.abs(r.y_final - ref.y[:, -1]) / (atol + rtol * np.abs(ref.y[:, -1])))
        print(f"  {m}: error at t = {T:g} against Radau at rtol {tight:g}: "
              f"{err:.2g} x tolerance")
    # what dopri5 would need: its steps on the slow branch, extrapolated over [0, T]
    h_ex = np.median(np.diff(ex.sol.ts)[-200:])
    print(f"  dopri5's steps on the slow branch are ~{h_ex:.1e} (stability, not accuracy): "
          f"[0, {T:g}] would take ~{T / h_ex:.1e} steps")

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    r = runs["kvaerno5"]
    tt = np.linspace(0.0, T, 4000)
    yy = r.sol(tt)
    ax[0].plot(tt, yy[:, 0], lw=1.2, label="kvaerno5 dense output")
    ts = r.sol.ts
    ax[0].plot(ts, r.sol(ts)[:, 0], ".", ms=3, label="step ends")
    ax[0].set_xlabel("t")
    ax[0].set_ylabel("y_1(t)")
    ax[0].set_title(f"van der Pol limit cycle, mu = {MU:g}")
    ax[0].legend(loc="lower left")
    for m, st in (("kvaerno5", "-"), ("rodas4", "--")):
        s = runs[m].sol.ts
        ax[1].semilogy(s[:-1], np.diff(s), st, lw=1, label=f"{m}: {s.size - 1} steps")
    s = ex.sol.ts
    ax[1].semilogy(s[:-1], np.diff(s), ":", lw=1.5,
                   label=f"dopri5: {s.size - 1} steps, stopped at t = {s[-1]:.2g} (stiff)")
    ax[1].set_xlabel("t")
    ax[1].set_ylabel("step size h")
    ax[1].set_title("implicit vs explicit step sizes")
    ax[1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "ode_stiff_vdp.png", dpi=110)
