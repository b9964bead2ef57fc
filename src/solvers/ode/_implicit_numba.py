"""The compiled (Numba) rung of the stiff methods of :func:`solvers.solve_ode`.

One loop per member, members spread over threads like the explicit kernel (``_numba``): each
member owns its step size, error control, Jacobian, LU factors and status.  Dense LU with
partial pivoting per member (``d`` up to :data:`DENSE_MAX`).

- ``rodas4`` (Rosenbrock): the Jacobian (and, for a time-dependent ``f``, ``f_t``) at every
  accepted point; a rejected step refactors ``I/(h gamma) - J`` for the new ``h`` and keeps
  ``J``.
- ``kvaerno5`` (ESDIRK): simplified Newton on each implicit stage with ``I - h gamma J``; the
  Jacobian is reused across stages and steps and recomputed only when Newton converges slowly
  or fails; the LU is kept while the step size is unchanged (steps that would grow by less than
  20% keep their size, as in Hairer's RADAU5).  Convergence-rate control after Hairer & Wanner
  II, IV.8: ``theta = |dz_k| / |dz_{k-1}|``, stop when ``theta / (1 - theta) |dz_k| <= kappa``,
  give up when ``theta >= 1`` or the rate cannot reach ``kappa`` in the iterations left.

The kernel source is generated for the calling convention (per-member arguments, the
Jacobian's source) and compiled once per set of callables; ``jit=False`` runs the same source
in the interpreter (small problems, plain Python callables).  Every call of ``f`` checks the
length of its value and every call of ``jac`` its shape: a wrong one stops that member with
the callback status (-5).
"""
from __future__ import annotations

import math

import numpy as np

from ._common import (STATUS_CALLBACK, STATUS_EVENT, STATUS_MAX_STEPS, STATUS_NONFINITE,
                      STATUS_SUCCESS, STATUS_UNDERFLOW, NONFINITE_SHRINK)
from ._implicit_tableaus import IMPLICIT_METHODS
from ._numba import _EV_INIT_ONE, _EV_RECORD, _EV_STEP_ONE, _compile_now, _run_chunks

__all__ = ["integrate_implicit", "DENSE_MAX", "SAFE", "FAC_MIN", "FAC_MAX"]

# Per-member dense LU costs d**3 / 3 flops per factorization: beyond this size the problem
# wants a sparse or banded linear solver, which this library does not provide.
DENSE_MAX = 128
# Step-size control of Hairer's RODAS/RADAU5: safety 0.9, h shrinks by at most 5x and grows
# by at most 6x per step, Gustafsson's predictive controller after accepted steps.
SAFE = 0.9
FAC_MIN = 0.2
FAC_MAX = 6.0
NEWTON_MAXIT = 7        # RADAU5's default
JAC_REUSE_THETA = 0.1   # recompute J after a step whose Newton contraction rate exceeded this
KEEP_STEP = 1.2         # keep h (and its LU) when the controller would grow it by less

_KERNELS: dict = {}
_CODE: dict = {}

_LINALG = '''
def _lu(M, piv, d):
    """In-place LU with partial pivoting; False when singular or non-finite."""
    for k in range(d):
        p = k
        amax = abs(M[k, k])
        for r in range(k + 1, d):
            v = abs(M[r, k])
            if v > amax:
                amax = v
                p = r
        piv[k] = p
        if not (amax > 0.0) or not np.isfinite(amax):
            return False
        if p != k:
            for c_ in range(d):
                tmp = M[k, c_]
                M[k, c_] = M[p, c_]
                M[p, c_] = tmp
        inv = 1.0 / M[k, k]
        for r in range(k + 1, d):
            m = M[r, k] * inv
            M[r, k] = m
            if m != 0.0:
                for c_ in range(k + 1, d):
                    M[r, c_] -= m * M[k, c_]
    return True


def _lusolve(M, piv, b, d):
    """b <- M^-1 b with the factors of _lu."""
    for k in range(d):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for r in range(d):
        s_ = b[r]
        for c_ in range(r):
            s_ -= M[r, c_] * b[c_]
        b[r] = s_
    for r in range(d - 1, -1, -1):
        s_ = b[r]
        for c_ in range(r + 1, d):
            s_ -= M[r, c_] * b[c_]
        b[r] = s_ / M[r, r]


def _dense_into(y, hs, k, theta, out):
    """The interpolant y + theta k0 + theta^2 k1 + theta^3 k2 (coefficients in k)."""
    for q in range(y.shape[0]):
        out[q] = y[q] + theta * (k[0, q] + theta * (k[1, q] + theta * k[2, q]))
'''

_CALLS = '''
def _feval(t, yv, out, d{margs}):
{FEVAL}


def _jac(t, y, f0, J, ytmp, ftmp, fb, d{margs}):
    """J <- df/dy at (t, y); returns (-1, nfev) or (wrong rows, wrong cols) / (wrong f len, -2)."""
{JAC}


def _ftime(t, y, f0, fx, ftmp, d{margs}):
    """fx <- df/dt at (t, y); returns (-1, nfev) or (wrong f length, -2)."""
{FTIME}
'''

_ROSENBROCK_STAGES = '''
def _stages(t, y, hs, f0, fx, M, piv, ks, ytmp, ftmp, ynew, d{margs}):
    """The six stages of RODAS4; ynew <- solution, ks[5] = error estimate.  Returns -1, or
    the wrong length of a value of f."""
    for q in range(d):
        ks[0, q] = f0[q] + hs * D_[0] * fx[q]
    _lusolve(M, piv, ks[0], d)
    for s_ in range(1, 6):
        for q in range(d):
            acc = 0.0
            for j in range(s_):
                acc += A_[s_, j] * ks[j, q]
            ytmp[q] = y[q] + acc
        bad = _feval(t + C_[s_] * hs, ytmp, ftmp, d{margs})
        if bad >= 0:
            return bad
        for q in range(d):
            acc = 0.0
            for j in range(s_):
                acc += CC_[s_, j] * ks[j, q]
            ks[s_, q] = ftmp[q] + acc / hs + hs * D_[s_] * fx[q]
        _lusolve(M, piv, ks[s_], d)
    for q in range(d):
        ynew[q] = ytmp[q] + ks[5, q]
    return -1
'''

_ESDIRK_STAGES = '''
def _stages(t, y, hs, f0, M, piv, ks, z, base, dz, ftmp, scn, kappa, eta0, d{margs}):
    """The implicit stages of Kvaerno5 by simplified Newton with the factors of
    I - hs gamma J.  Returns (bad f length or -1, converged, nfev, max rate, eta)."""
    for q in range(d):
        ks[0, q] = f0[q]
    nfe = 0
    thmax = 0.0
    eta = eta0
    hg = hs * G_
    for s_ in range(1, S_):
        for q in range(d):
            acc = 0.0
            pred = 0.0
            for j in range(s_):
                acc += A_[s_, j] * ks[j, q]
                pred += AL_[s_, j] * ks[j, q]
            base[q] = y[q] + hs * acc
            z[q] = y[q] + hs * pred
        ts = t + C_[s_] * hs
        eta = max(eta, 2.220446049250313e-16) ** 0.8
        ndz_old = 1.0
        conv = False
        for it in range({MAXIT}):
            bad = _feval(ts, z, ftmp, d{margs})
            nfe += 1
            if bad >= 0:
                return bad, False, nfe, thmax, eta
            ndz = 0.0
            for q in range(d):
                dz[q] = base[q] + hg * ftmp[q] - z[q]
            _lusolve(M, piv, dz, d)
            for q in range(d):
                z[q] += dz[q]
                ndz += (dz[q] / scn[q]) ** 2
            ndz = math.sqrt(ndz / d)
            if not np.isfinite(ndz):
                return -1, False, nfe, thmax, eta
            if ndz == 0.0:
                conv = True
                break
            if it > 0:
                theta = ndz / ndz_old
                thmax = max(thmax, theta)
                if theta >= 0.99:
                    break
                eta = theta / (1.0 - theta)
                # the rate cannot reach kappa within the iterations left
                if theta ** ({MAXIT} - 1 - it) / (1.0 - theta) * ndz > kappa:
                    break
            if eta * ndz <= kappa:
                conv = True
                break
            ndz_old = ndz
        if not conv:
            return -1, False, nfe, thmax, eta
        for q in range(d):
            ks[s_, q] = (z[q] - base[q]) / hg
    return -1, True, nfe, thmax, eta
'''

_KERNEL = '''
def kernel(lo, hi, y0, t0, t1, t_out, n_start, rtol, atol, dt0, max_step, max_steps,
           yout, status, nfev, njev, nlu, nsteps, nreject, t_final, y_final, n_out,
           cb_len, cb_len2, cb_t, cb_who, ev_dir, ev_term, ev_t, ev_y, ev_n,
           dn_t, dn_h, dn_y, dn_q, dn_n{argdefs}):
    d = y0.shape[1]
    nout = t_out.shape[0]
    cap = ev_t.shape[2]
    dcap = dn_t.shape[1]
    eps = 2.220446049250313e-16
    expo = 1.0 / {QP1}
    kappa = max(10.0 * eps / rtol, min(0.03, math.sqrt(rtol)))
    for i in range(lo, hi):
        y = y0[i].copy()
        ynew = np.empty(d)
        ytmp = np.empty(d)
        ftmp = np.empty(d)
        f0 = np.empty(d)
        fx = np.zeros(d)
        z = np.empty(d)
        base = np.empty(d)
        dz = np.empty(d)
        scn = np.empty(d)
        J = np.empty((d, d))
        M = np.empty((d, d))
        piv = np.zeros(d, dtype=np.int64)
        ks = np.empty((S_, d))
        k = np.zeros((3, d))
        gold = np.empty({NEV})
        gnew = np.empty({NEV})
        th_ev = np.empty({NEV})
        for kk in range(n_start):
            for q in range(d):
                yout[i, kk, q] = y[q]
        ptr = n_start
        t = t0
        nf = 1
        nj = 0
        nl = 0
        ns = 0
        nr = 0
        st = {RUNNING}
        tf = t0
        bad = _feval(t, y, f0, d{mcall})
        if bad >= 0:
            st = {CALLBACK}
            cb_len[i] = bad
            cb_t[i] = t
        else:
            for q in range(d):
                if not np.isfinite(f0[q]):
                    st = {NONFINITE}
        h = dt0
        if st == {RUNNING} and dt0 <= 0.0:
            # Hairer's starting step (Solving ODEs I, II.4)
            d0 = 0.0
            d1 = 0.0
            for q in range(d):
                sc = atol + abs(y[q]) * rtol
                d0 += (y[q] / sc) ** 2
                d1 += (f0[q] / sc) ** 2
            d0 = math.sqrt(d0 / d)
            d1 = math.sqrt(d1 / d)
            if d0 < 1e-5 or d1 < 1e-5:
                h0 = 1e-6
            else:
                h0 = 0.01 * d0 / d1
            h0 = min(h0, t1 - t0)
            for q in range(d):
                ytmp[q] = y[q] + h0 * f0[q]
            bad = _feval(t0 + h0, ytmp, ftmp, d{mcall})
            nf += 1
            if bad >= 0:
                st = {CALLBACK}
                cb_len[i] = bad
                cb_t[i] = t0 + h0
            d2 = 0.0
            for q in range(d):
                sc = atol + abs(y[q]) * rtol
                d2 += ((ftmp[q] - f0[q]) / sc) ** 2
            d2 = math.sqrt(d2 / d) / h0
            dm = max(d1, d2)
            if dm <= 1e-15:
                h1 = max(1e-6, h0 * 1e-3)
            else:
                h1 = (0.01 / dm) ** expo
            h = min(100.0 * h0, h1)
            if not np.isfinite(h):
                h = h0
        h = min(h, max_step)
        if st == {RUNNING}:
            {EV_INIT}
        last_rej = False
        last_nonfinite = False
        first = True
        hacc = 0.0
        erracc = 1e-2
        need_jac = True
        jac_fresh = False
        lu_h = -1.0
        eta = 1.0
        thmax = 0.0
        while st == {RUNNING}:
            if ns + nr >= max_steps:
                st = {MAXSTEPS}
                tf = t
                break
            remaining = t1 - t
            last = h >= remaining - 16.0 * eps * max(abs(t1), 1.0)
            hs = remaining if last else h
            if not last and hs <= 10.0 * eps * abs(t):
                st = {UNDERFLOW}
                tf = t
                break
            if need_jac:
                r_, c_ = _jac(t, y, f0, J, ytmp, ftmp, base, d{mcall})
                if r_ >= 0:
                    st = {CALLBACK}
                    cb_len[i] = r_
                    cb_len2[i] = c_
                    cb_who[i] = 1 if c_ != -2 else 0
                    cb_t[i] = t
                    tf = t
                    break
                nf += c_
                if {ROSENBROCK}:
                    r_, c_ = _ftime(t, y, f0, fx, ftmp, d{mcall})
                    if r_ >= 0:
                        st = {CALLBACK}
                        cb_len[i] = r_
                        cb_t[i] = t
                        tf = t
                        break
                    nf += c_
                nj += 1
                need_jac = False
                jac_fresh = True
                lu_h = -1.0
                jfin = True
                for q in range(d):
                    for r in range(d):
                        if not np.isfinite(J[q, r]):
                            jfin = False
                if not jfin:
                    st = {NONFINITE}
                    tf = t
                    break
{ATTEMPT}
            if bad >= 0:
                st = {CALLBACK}
                cb_len[i] = bad
                cb_t[i] = t
                tf = t
                break
            if retry:
                continue
            if finite and errn <= 1.0:
                t_new = t1 if last else t + hs
                {DENSE_COEFS}
                theta_stop = 2.0
                terminal = False
                {EV_STEP}
                if not terminal:
                    theta_stop = 1.0
                t_stop = t_new if not terminal else t + theta_stop * hs
                while ptr < nout and t_out[ptr] <= t_stop:
                    if t_out[ptr] == t_new:
                        for q in range(d):
                            yout[i, ptr, q] = ynew[q]
                    else:
                        theta = (t_out[ptr] - t) / hs
                        theta = min(max(theta, 0.0), 1.0)
                        _dense_into(y, hs, k, theta, ytmp)
                        for q in range(d):
                            yout[i, ptr, q] = ytmp[q]
                    ptr += 1
                if dcap > 0:
                    c_ = dn_n[i]
                    if c_ < dcap:
                        dn_t[i, c_] = t
                        dn_h[i, c_] = hs
                        for q in range(d):
                            dn_y[i, c_, q] = y[q]
                            for j in range(3):
                                dn_q[i, c_, j, q] = k[j, q]
                    dn_n[i] = c_ + 1
                # Hairer's controller with Gustafsson's prediction
                fac = min(max(errn ** expo / {SAFE}, 1.0 / {FAC_MAX}), 1.0 / {FAC_MIN})
                if not first:
                    facg = (hacc / hs) * (errn * errn / erracc) ** expo / {SAFE}
                    facg = min(max(facg, 1.0 / {FAC_MAX}), 1.0 / {FAC_MIN})
                    fac = max(fac, facg)
                hnew = hs / fac
                hacc = hs
                erracc = max(1e-2, errn)
                first = False
                if last_rej:
                    hnew = min(hnew, hs)
                if terminal:
                    _dense_into(y, hs, k, theta_stop, ytmp)
                    for q in range(d):
                        y_final[i, q] = ytmp[q]
                for q in range(d):
                    y[q] = ynew[q]
{ON_ACCEPT}
                t = t_new
                ns += 1
                last_rej = False
                last_nonfinite = False
                h = min(hnew, max_step)
                if terminal:
                    st = {EVENT}
                    tf = t_stop
                    break
                if t_new >= t1:
                    st = {SUCCESS}
                    tf = t1
                    break
            else:
                if finite:
                    hnew = hs / min(1.0 / {FAC_MIN}, errn ** expo / {SAFE})
                else:
                    hnew = hs * {SHRINK}
                nr += 1
                last_rej = True
                last_nonfinite = not finite
                h = min(hnew, max_step)
                if h <= 10.0 * eps * max(abs(t), 1e-300):
                    st = {NONFINITE} if last_nonfinite else {UNDERFLOW}
                    tf = t
                    break
        for kk in range(ptr, nout):
            for q in range(d):
                yout[i, kk, q] = np.nan
        if st != {EVENT}:
            for q in range(d):
                y_final[i, q] = y[q]
        status[i] = st
        nfev[i] = nf
        njev[i] = nj
        nlu[i] = nl
        nsteps[i] = ns
        nreject[i] = nr
        t_final[i] = tf
        n_out[i] = ptr
'''

_ROSENBROCK_ATTEMPT = '''
            retry = False
            for q in range(d):
                for r in range(d):
                    M[q, r] = -J[q, r]
                M[q, q] += 1.0 / (hs * G_)
            nl += 1
            finite = _lu(M, piv, d)
            bad = -1
            errn = 0.0
            if finite:
                bad = _stages(t, y, hs, f0, fx, M, piv, ks, ytmp, ftmp, ynew, d{mcall})
                nf += 5
                if bad < 0:
                    for q in range(d):
                        sc = atol + rtol * max(abs(y[q]), abs(ynew[q]))
                        errn += (ks[5, q] / sc) ** 2
                        if not np.isfinite(ynew[q]):
                            finite = False
                    errn = math.sqrt(errn / d)
                    if not np.isfinite(errn):
                        finite = False
            if bad < 0 and finite and errn <= 1.0:
                # f at the new point: the next step's first stage
                bad = _feval(t + hs if not last else t1, ynew, ftmp, d{mcall})
                nf += 1
                if bad < 0:
                    for q in range(d):
                        if not np.isfinite(ftmp[q]):
                            finite = False
'''

_ROSENBROCK_DENSE = '''for q in range(d):
                    q2 = 0.0
                    q3 = 0.0
                    for j in range(5):
                        q2 += DN_[0, j] * ks[j, q]
                        q3 += DN_[1, j] * ks[j, q]
                    k[0, q] = ynew[q] - y[q] + q2
                    k[1, q] = q3 - q2
                    k[2, q] = -q3'''

_ROSENBROCK_ACCEPT = '''
                for q in range(d):
                    f0[q] = ftmp[q]
                need_jac = True
'''

_ESDIRK_ATTEMPT = '''
            retry = False
            bad = -1
            errn = 0.0
            finite = True
            newton_fail = False
            if hs != lu_h:
                for q in range(d):
                    for r in range(d):
                        M[q, r] = -hs * G_ * J[q, r]
                    M[q, q] += 1.0
                nl += 1
                lu_h = hs
                finite = _lu(M, piv, d)
                if not finite:
                    lu_h = -1.0
            if finite:
                for q in range(d):
                    scn[q] = atol + rtol * abs(y[q])
                bad, conv, nfe, thmax, eta = _stages(t, y, hs, f0, M, piv, ks, z, base, dz,
                                                     ftmp, scn, kappa, eta, d{mcall})
                nf += nfe
                if bad < 0 and not conv:
                    if not jac_fresh:
                        # Newton failed with an old Jacobian: a fresh one, same step
                        need_jac = True
                        retry = True
                    else:
                        newton_fail = True
                elif bad < 0:
                    for q in range(d):
                        acc = 0.0
                        for j in range(S_):
                            acc += E_[j] * ks[j, q]
                        dz[q] = hs * acc
                        ynew[q] = z[q]
                    # (no (I - h gamma J)^-1 filter: both solutions are stiffly accurate
                    # stages, and the filter hid the error of stiff scalar problems 1000x)
                    for q in range(d):
                        sc = atol + rtol * max(abs(y[q]), abs(ynew[q]))
                        errn += (dz[q] / sc) ** 2
                        if not (np.isfinite(ynew[q]) and np.isfinite(ks[S_ - 1, q])):
                            finite = False
                    errn = math.sqrt(errn / d)
                    if not np.isfinite(errn):
                        finite = False
            if newton_fail:
                # no convergence with a fresh Jacobian: reject, half the step
                errn = (2.0 * {SAFE}) ** {QP1}
'''

_ESDIRK_DENSE = '''for q in range(d):
                    dy_ = ynew[q] - y[q]
                    k[0, q] = hs * f0[q]
                    k[1, q] = 3.0 * dy_ - hs * (2.0 * f0[q] + ks[S_ - 1, q])
                    k[2, q] = -2.0 * dy_ + hs * (f0[q] + ks[S_ - 1, q])'''

_ESDIRK_ACCEPT = '''
                for q in range(d):
                    f0[q] = ks[S_ - 1, q]
                jac_fresh = False
                if thmax > {REUSE}:
                    need_jac = True
                elif hnew >= hs and hnew <= {KEEP} * hs:
                    hnew = hs  # keep the step and its LU factors
'''


def _feval_src(kind, reverse, margs):
    ts = "-t" if reverse else "t"
    if kind == "sympy":
        lines = [f"    f({ts}, yv, out{margs})"]
        if reverse:
            lines.append("    for q in range(d):\n        out[q] = -out[q]")
        lines.append("    return -1")
        return "\n".join(lines)
    neg = "-" if reverse else ""
    return "\n".join([f"    fv = f({ts}, yv{margs})", "    n = len(fv)", "    if n != d:",
                      "        return n", "    for q in range(d):",
                      f"        out[q] = {neg}fv[q]", "    return -1"])


def _jac_src(jkind, reverse, margs):
    ts = "-t" if reverse else "t"
    neg = "-" if reverse else ""
    if jkind == "sympy":
        lines = [f"    jacf({ts}, y, J{margs})"]
        if reverse:
            lines.append("    for q in range(d):\n        for r in range(d):\n"
                         "            J[q, r] = -J[q, r]")
        lines.append("    return -1, 0")
        return "\n".join(lines)
    if jkind == "user":
        return "\n".join([
            f"    Jv = np.asarray(jacf({ts}, y{margs}))",
            "    if Jv.shape[0] != d or Jv.shape[1] != d:",
            "        return Jv.shape[0], Jv.shape[1]",
            "    for q in range(d):", "        for r in range(d):",
            f"            J[q, r] = {neg}Jv[q, r]",
            "    return -1, 0"])
    if jkind == "fdc":
        # central differences (Rosenbrock methods need an accurate Jacobian: the truncation
        # error of forward differences costs them their order on tight tolerances)
        return "\n".join([
            "    for j in range(d):",
            "        for q in range(d):", "            ytmp[q] = y[q]",
            "        delt = 6.055454452393343e-06 * max(1e-5, abs(y[j]))",  # eps ** (1/3)
            "        ytmp[j] = y[j] + delt",
            "        dp = ytmp[j] - y[j]",
            f"        bad = _feval(t, ytmp, ftmp, d{margs})",
            "        if bad >= 0:", "            return bad, -2",
            "        for q in range(d):", "            J[q, j] = ftmp[q]",
            "        ytmp[j] = y[j] - delt",
            "        dm = y[j] - ytmp[j]",
            f"        bad = _feval(t, ytmp, ftmp, d{margs})",
            "        if bad >= 0:", "            return bad, -2",
            "        for q in range(d):", "            J[q, j] = (J[q, j] - ftmp[q]) / (dp + dm)",
            "    return -1, 2 * d"])
    # forward differences, one column per evaluation (Hairer's increment); the base value
    # is evaluated here: the stored f0 of an ESDIRK step is the stage's Newton estimate
    return "\n".join([
        f"    bad = _feval(t, y, fb, d{margs})",
        "    if bad >= 0:", "        return bad, -2",
        "    for j in range(d):",
        "        for q in range(d):", "            ytmp[q] = y[q]",
        "        delt = math.sqrt(2.220446049250313e-16 * max(1e-5, abs(y[j])))",
        "        ytmp[j] = y[j] + delt",
        "        delt = ytmp[j] - y[j]",
        f"        bad = _feval(t, ytmp, ftmp, d{margs})",
        "        if bad >= 0:", "            return bad, -2",
        "        for q in range(d):", "            J[q, j] = (ftmp[q] - fb[q]) / delt",
        "    return -1, d + 1"])


def _ftime_src(tkind, reverse, margs):
    if tkind == "none":
        return "    return -1, 0"
    if tkind == "sympy":
        ts = "-t" if reverse else "t"
        # d/dtau of -f(-tau, y) is f_t(-tau, y): no sign change
        return f"    dfdt({ts}, y, fx{margs})\n    return -1, 0"
    # central differences (an inaccurate f_t costs a Rosenbrock method its order)
    return "\n".join([
        "    delt = 6.055454452393343e-06 * max(1e-5, abs(t))",
        "    tp = t + delt", "    tm = t - delt",
        f"    bad = _feval(tp, y, fx, d{margs})",
        "    if bad >= 0:", "        return bad, -2",
        f"    bad = _feval(tm, y, ftmp, d{margs})",
        "    if bad >= 0:", "        return bad, -2",
        "    for q in range(d):", "        fx[q] = (fx[q] - ftmp[q]) / (tp - tm)",
        "    return -1, 2"])


def _sources(method, flags, nev, fkind, jkind, tkind, reverse, reverse_events):
    key = (method.name, flags, nev, fkind, jkind, tkind, reverse, reverse_events)
    code = _CODE.get(key)
    if code is not None:
        return code
    argdefs = "".join(f", a{j}" for j in range(len(flags)))
    mcall = "".join(f", a{j}[i]" if fl else f", a{j}" for j, fl in enumerate(flags))
    margs = "".join(f", m{j}" for j in range(len(flags)))
    ros = method.kind == "rosenbrock"
    helpers = _LINALG + _CALLS.format(
        margs=margs, FEVAL=_feval_src(fkind, reverse, margs),
        JAC=_jac_src(jkind, reverse, margs), FTIME=_ftime_src(tkind, reverse, margs))
    if ros:
        helpers += _ROSENBROCK_STAGES.format(margs=margs)
    else:
        helpers += _ESDIRK_STAGES.format(margs=margs, MAXIT=NEWTON_MAXIT)
    TS = "-" if reverse_events else ""
    fmt = dict(argdefs=argdefs, mcall=mcall, RUNNING=99, CALLBACK=STATUS_CALLBACK,
               NONFINITE=STATUS_NONFINITE, MAXSTEPS=STATUS_MAX_STEPS, UNDERFLOW=STATUS_UNDERFLOW,
               EVENT=STATUS_EVENT, SUCCESS=STATUS_SUCCESS, SAFE=repr(SAFE),
               FAC_MIN=repr(FAC_MIN), FAC_MAX=repr(FAC_MAX), SHRINK=repr(NONFINITE_SHRINK),
               QP1=method.error_order + 1, ROSENBROCK="True" if ros else "False",
               NEV=max(nev, 1))
    attempt = _ROSENBROCK_ATTEMPT if ros else _ESDIRK_ATTEMPT
    fmt["ATTEMPT"] = attempt.format(mcall=mcall, QP1=method.error_order + 1, SAFE=repr(SAFE))
    fmt["DENSE_COEFS"] = _ROSENBROCK_DENSE if ros else _ESDIRK_DENSE
    fmt["ON_ACCEPT"] = _ROSENBROCK_ACCEPT if ros else _ESDIRK_ACCEPT.format(
        REUSE=repr(JAC_REUSE_THETA), KEEP=repr(KEEP_STEP))
    if nev:
        fmt["EV_INIT"] = "\n            ".join(
            _EV_INIT_ONE.format(e=e, mcall=mcall, TS=TS) for e in range(nev))
        fmt["EV_STEP"] = "".join(_EV_STEP_ONE.format(e=e, mcall=mcall, TS=TS)
                                 for e in range(nev)) + _EV_RECORD.format(NEV=nev)
    else:
        fmt["EV_INIT"] = "pass"
        fmt["EV_STEP"] = "pass"
    src = _KERNEL.format(**fmt)
    code = (compile(helpers, f"<solve_ode {method.name} helpers>", "exec"),
            compile(src, f"<solve_ode {method.name} kernel>", "exec"))
    _CODE[key] = code
    return code


def _namespace(method):
    import numba
    ns = {"np": np, "math": math, "numba": numba, "S_": method.stages, "G_": method.gamma,
          "C_": np.array(method.c), "A_": np.array(method.a), "D_": np.array(method.d),
          "CC_": np.array(method.cc), "DN_": np.array(method.dense),
          "AL_": np.array(method.alpha)}
    if method.kind == "esdirk":
        b = np.array(method.a[-1])
        b[-1] = method.gamma
        bhat = np.zeros(method.stages)
        bhat[:-1] = method.a[-2, :-1]
        bhat[-2] = method.gamma
        ns["E_"] = b - bhat
    return ns


def _build(method, f, jacf, dfdt, ev, flags, fkind, jkind, tkind, reverse, reverse_events,
           jit):
    import numba
    nev = 0 if ev is None else len(ev.funcs)
    hcode, kcode = _sources(method, flags, nev, fkind, jkind, tkind, reverse, reverse_events)
    ns = _namespace(method)
    ns.update(f=f, jacf=jacf, dfdt=dfdt)
    for e in range(nev):
        ns[f"g{e}"] = ev.funcs[e]
    exec(hcode, ns)
    if jit:
        for name in ("_lu", "_lusolve", "_dense_into", "_feval", "_jac", "_ftime", "_stages"):
            ns[name] = numba.njit(cache=False, nogil=True)(ns[name])
    exec(kcode, ns)
    if not jit:
        return ns["kernel"]
    return numba.njit(cache=False, nogil=True)(ns["kernel"])


def integrate_implicit(method_name, f, t0, t1, y0, *, jac=None, dfdt=None, fkind="user",
                       jkind="fd", tkind="fd", dt0, rtol, atol, t_out, cargs, max_steps, events,
                       max_step, batch, reverse=False, reverse_events=False, dense=False,
                       jit=True):
    """Run the stiff kernel on a NumPy ``y0`` of shape ``(*batch, d)``.

    ``fkind``: ``"user"`` (``f(t, y, *args)`` returns a length-``d`` sequence) or ``"sympy"``
    (``f(t, y, out, *args)`` writes into ``out``).  ``jkind``: ``"user"`` (``jac(t, y, *args)``
    returns a ``(d, d)`` array), ``"sympy"`` (writes into its third argument) or ``"fd"``
    (forward differences of ``f``).  ``tkind`` (rodas4's ``f_t``): ``"fd"``, ``"sympy"``
    (``dfdt(t, y, out, *args)``) or ``"none"`` (autonomous).  Raises
    :class:`solvers.ode._numba.KernelCompileError` when the kernel does not compile.
    """
    method = IMPLICIT_METHODS[method_name]
    if method.kind != "rosenbrock":
        tkind = "none"
    elif jkind == "fd":
        jkind = "fdc"
    d = y0.shape[-1]
    y0f = np.ascontiguousarray(np.asarray(y0, dtype=np.float64).reshape(-1, d))
    B = y0f.shape[0]
    flags, prepared = cargs.numba()
    nev = 0 if events is None else len(events.funcs)
    key = (method.name, f, jac, dfdt, None if events is None else events.funcs, flags, fkind,
           jkind, tkind, reverse, reverse_events and events is not None)
    kern = _KERNELS.get(key) if jit else None
    if kern is None:
        kern = _build(method, f, jac, dfdt, events, flags, fkind, jkind, tkind, reverse,
                      reverse_events, jit)
        if jit:
            _KERNELS[key] = kern
    nout = t_out.size
    yout = np.empty((B, nout, d))
    status = np.zeros(B, dtype=np.int32)
    counts = [np.zeros(B, dtype=np.int64) for _ in range(5)]  # nfev njev nlu nsteps nreject
    t_final = np.zeros(B)
    y_final = np.zeros((B, d))
    n_out = np.zeros(B, dtype=np.int64)
    cb_len = np.full(B, -1, dtype=np.int64)
    cb_len2 = np.full(B, -1, dtype=np.int64)
    cb_t = np.full(B, np.nan)
    cb_who = np.zeros(B, dtype=np.int64)
    n_start = int(np.sum(t_out <= t0))
    ev_dir = np.zeros(max(nev, 1))
    ev_term = np.zeros(max(nev, 1), dtype=np.int64)
    if nev:
        ev_dir[:nev] = events.directions
        ev_term[:nev] = events.terminal
    cap = 8 if nev else 0
    dcap = min(64, max_steps) if dense else 0
    compiled = False
    while True:
        ev_t = np.full((B, max(nev, 1), cap), np.nan)
        ev_y = np.full((B, max(nev, 1), cap, d), np.nan)
        ev_n = np.zeros((B, max(nev, 1)), dtype=np.int64)
        dn_t = np.zeros((B, dcap))
        dn_h = np.zeros((B, dcap))
        dn_y = np.zeros((B, dcap, d))
        dn_q = np.zeros((B, dcap, 3, d))
        dn_n = np.zeros(B, dtype=np.int64)
        args = (y0f, float(t0), float(t1), t_out, n_start, float(rtol), float(atol),
                -1.0 if dt0 is None else float(dt0), float(max_step), int(max_steps), yout,
                status, *counts, t_final, y_final, n_out, cb_len, cb_len2, cb_t, cb_who,
                ev_dir, ev_term, ev_t, ev_y, ev_n, dn_t, dn_h, dn_y, dn_q, dn_n, *prepared)
        if not compiled:
            _compile_now(kern, args)
            compiled = True
        if jit:
            _run_chunks(kern, B, args)
        else:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                kern(0, B, *args)
        need = int(ev_n.max()) if nev else 0
        dneed = int(dn_n.max()) if dense else 0
        if need <= cap and dneed <= dcap:
            break
        cap = max(cap, need)
        dcap = max(dcap, dneed)
    evres = None
    if nev:
        evres = []
        for j in range(nev):
            nmax = int(ev_n[:, j].max())
            evres.append((ev_t[:, j, :nmax].reshape(batch + (nmax,)),
                          ev_y[:, j, :nmax].reshape(batch + (nmax, d)),
                          ev_n[:, j].reshape(batch)))
    cb_msgs = {}
    sgn = -1.0 if reverse else 1.0
    for i in np.flatnonzero(cb_len >= 0):
        tt = sgn * float(cb_t[i])
        if cb_who[i] == 1:
            cb_msgs[int(i)] = (f"jac returned an array of shape ({int(cb_len[i])}, "
                               f"{int(cb_len2[i])}) at t={tt!r}; expected shape ({d}, {d})")
        else:
            cb_msgs[int(i)] = (f"f returned an array of shape ({int(cb_len[i])},) in the step "
                               f"from t={tt!r}; expected shape ({d},)")
    nfev, njev, nlu, nsteps, nreject = counts
    return dict(y=yout.reshape(batch + (nout, d)), status=status.reshape(batch),
                nfev=nfev.reshape(batch), njev=njev.reshape(batch), nlu=nlu.reshape(batch),
                nsteps=nsteps.reshape(batch), nreject=nreject.reshape(batch),
                t_final=t_final.reshape(batch), y_final=y_final.reshape(batch + (d,)),
                n_out=n_out.reshape(batch), cb_msgs=cb_msgs, events=evres,
                dense=dict(t=dn_t, h=dn_h, y=dn_y, q=dn_q, n=dn_n) if dense else None)
