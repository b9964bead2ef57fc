"""The Numba rung of :func:`solvers.solve_ode`: one fused compiled loop per member.

The kernel is generated for the user's right-hand side (a Numba-compiled per-member function
``f(t, y, *member_args)`` returning an array, list or tuple of length ``d``), the tableau
(coefficients baked in as literals) and the event functions.  The kernel loops over a range of
members and releases the GIL; chunks of members run on ``numba.get_num_threads()`` threads
(this compiles several times faster than a ``parallel=True``/``prange`` kernel and scales the
same way).  Each member adapts its own step, evaluates the dense output at ``t_eval``, locates
its events and (with ``dense_output``) stores its interpolants inside the loop, so nothing
leaves the compiled code until every member has finished.  The arithmetic mirrors the generic
rung (``_generic``) step for step.

Every evaluation of ``f`` checks the length of what it returned: a wrong length stops that
member with the callback status (-5) instead of reading past the returned array.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import (BETA, FAC_MAX, FAC_MIN, NONFINITE_SHRINK, SAFE, STATUS_CALLBACK,
                      STATUS_EVENT, STATUS_MAX_STEPS, STATUS_NONFINITE, STATUS_SUCCESS,
                      STATUS_UNDERFLOW, STATUS_STIFF, EventSpec)

__all__ = ["integrate_numba", "KernelCompileError", "n_threads"]

_KERNELS: dict = {}
# Hairer's stiffness detection (dopri5.f, Solving ODEs II, IV.2): test every STIFF_EVERY
# accepted steps, then at every step while the test is positive; STIFF_COUNT positive tests
# (six negative ones in a row reset the count) stop the member with STATUS_STIFF.  The bound on
# h |lambda| is the method's stability boundary on the negative real axis: 3.25 for dopri5
# (Hairer's constant, the boundary is 3.31); tsit5's boundary is 3.51 (Tsitouras), scaled
# alike.
STIFF_EVERY = 1000
STIFF_COUNT = 15
STIFF_BOUNDS = {"dopri5": 3.25, "tsit5": 3.45}
# right-hand sides returning arrays/lists/tuples: components are copied one by one up to this
# dimension (static indices also work for heterogeneous tuples), with a loop beyond it
_UNROLL_MAX = 16


class KernelCompileError(TypeError):
    """The fused kernel could not be compiled for these callables and arguments."""


# --------------------------------------------------------------------------- kernel source
_FIXED = '''
def kernel(lo, hi, y0, ts, hs, ks_out, n_start, yout, status, nfev, nsteps, t_final, y_final,
           n_out, cb_len, cb_t{argdefs}):
    d = y0.shape[1]
    S = {S}
    nout = yout.shape[1]
    for i in range(lo, hi):
        y = y0[i].copy()
        ytmp = np.empty(d)
        k = np.empty((S, d))
        for kk in range(n_start):
            for q in range(d):
                yout[i, kk, q] = y[q]
        st = 0
        ns = 0
        wrote = n_start
        tf = ts[0] if ts.shape[0] > 0 else 0.0
        for n in range(ts.shape[0]):
            t = ts[n]
            h = hs[n]
            bad = _stages(t, y, h, k, ytmp, d{mcall})
            if bad >= 0:
                st = {CALLBACK}
                cb_len[i] = bad
                cb_t[i] = t
                break
            good = True
            for q in range(d):
                ytmp[q] = y[q] + h * ({BSUM})
                if not np.isfinite(ytmp[q]):
                    good = False
            if not good:
                st = {NONFINITE}
                break
            for q in range(d):
                y[q] = ytmp[q]
            ns += 1
            tf = t + h
            if ks_out[n] >= 0:
                for q in range(d):
                    yout[i, ks_out[n], q] = y[q]
                wrote = ks_out[n] + 1
        # outputs never reached (failure) are NaN; yout is not pre-filled
        for kk in range(wrote, nout):
            for q in range(d):
                yout[i, kk, q] = np.nan
        status[i] = st
        nsteps[i] = ns
        nfev[i] = (ns + (1 if st != 0 else 0)) * S
        t_final[i] = tf
        n_out[i] = wrote
        for q in range(d):
            y_final[i, q] = y[q]
'''

_ADAPTIVE = '''
def kernel(lo, hi, y0, t0, t1, t_out, n_start, rtol, atol, dt0, max_step, max_steps,
           expo1, yout, status, nfev, nsteps, nreject, t_final, y_final, n_out, cb_len, cb_t,
           ev_dir, ev_term, ev_t, ev_y, ev_n, dn_t, dn_h, dn_y, dn_q, dn_n{argdefs}):
    d = y0.shape[1]
    S = {S}
    nout = t_out.shape[0]
    cap = ev_t.shape[2]
    dcap = dn_t.shape[1]
    eps = 2.220446049250313e-16
    for i in range(lo, hi):
        y = y0[i].copy()
        ynew = np.empty(d)
        ytmp = np.empty(d)
        k = np.empty((S, d))
        gold = np.empty({NEV})
        gnew = np.empty({NEV})
        th_ev = np.empty({NEV})
        for kk in range(n_start):
            for q in range(d):
                yout[i, kk, q] = y[q]
        ptr = n_start
        t = t0
        nf = 1
        ns = 0
        nr = 0
        st = {RUNNING}
        tf = t0
        bad = _feval(t, y, k, 0, d{mcall})
        if bad >= 0:
            st = {CALLBACK}
            cb_len[i] = bad
            cb_t[i] = t
        else:
            for q in range(d):
                if not np.isfinite(k[0, q]):
                    st = {NONFINITE}
        h = dt0
        if st == {RUNNING} and dt0 <= 0.0:
            # Hairer's starting step
            d0 = 0.0
            d1 = 0.0
            for q in range(d):
                sc = atol + abs(y[q]) * rtol
                d0 += (y[q] / sc) ** 2
                d1 += (k[0, q] / sc) ** 2
            d0 = math.sqrt(d0 / d)
            d1 = math.sqrt(d1 / d)
            if d0 < 1e-5 or d1 < 1e-5:
                h0 = 1e-6
            else:
                h0 = 0.01 * d0 / d1
            h0 = min(h0, t1 - t0)
            for q in range(d):
                ytmp[q] = y[q] + h0 * k[0, q]
            bad = _feval(t0 + h0, ytmp, k, 1, d{mcall})  # (row 1 is free until the first step)
            nf += 1
            if bad >= 0:
                st = {CALLBACK}
                cb_len[i] = bad
                cb_t[i] = t0 + h0
            d2 = 0.0
            for q in range(d):
                sc = atol + abs(y[q]) * rtol
                d2 += ((k[1, q] - k[0, q]) / sc) ** 2
            d2 = math.sqrt(d2 / d) / h0
            dm = max(d1, d2)
            if dm <= 1e-15:
                h1 = max(1e-6, h0 * 1e-3)
            else:
                h1 = (0.01 / dm) ** (1.0 / {ORDER})
            h = min(100.0 * h0, h1)
            if not np.isfinite(h):
                h = h0
        h = min(h, max_step)
        if st == {RUNNING}:
            {EV_INIT}
        facold = 1e-4
        last_rej = False
        last_nonfinite = False
        iasti = 0
        nonsti = 0
        stiff = False
        while st == {RUNNING}:
            if ns + nr >= max_steps:
                st = {MAXSTEPS}
                tf = t
                break
            remaining = t1 - t
            last = h >= remaining - 16.0 * eps * max(abs(t1), 1.0)
            hs = remaining if last else h
            if not last and hs <= 10.0 * eps * abs(t):
                # t + hs no longer advances t (Hairer's criterion): stop at once
                st = {UNDERFLOW}
                tf = t
                break
            bad = _stages(t, y, hs, k, ytmp, d{mcall})
            if bad >= 0:
                st = {CALLBACK}
                cb_len[i] = bad
                cb_t[i] = t
                tf = t
                break
            nf += S - 1
            errn = 0.0
            finite = True
            for q in range(d):
                acc = {BSUM}
                acce = {ESUM}
                ynew[q] = y[q] + hs * acc
                sc = atol + rtol * max(abs(y[q]), abs(ynew[q]))
                errn += (hs * acce / sc) ** 2
                if not (np.isfinite(ynew[q]) and np.isfinite(k[S - 1, q])):
                    finite = False
            errn = math.sqrt(errn / d)
            if not np.isfinite(errn):
                finite = False
            if finite and errn <= 1.0:
                t_new = t1 if last else t + hs
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
                        _dense_coefs(hs, k, dn_q, i, c_)
                    dn_n[i] = c_ + 1
                fac11 = errn ** expo1
                fac = fac11 / facold ** {BETA}
                fac = min(max(fac / {SAFE}, 1.0 / {FAC_MAX}), 1.0 / {FAC_MIN})
                hnew = hs / fac
                if last_rej:
                    hnew = min(hnew, hs)
                facold = max(errn, 1e-4)
                if terminal:
                    _dense_into(y, hs, k, theta_stop, ytmp)
                    for q in range(d):
                        y_final[i, q] = ytmp[q]
                if (ns + 1) % {NSTIFF} == 0 or iasti > 0:
                    # Hairer's stiffness test (dopri5.f): h |lambda| from the two stages at
                    # t + h, against the stability boundary on the negative real axis
                    stnum = 0.0
                    stden = 0.0
                    for q in range(d):
                        ysti = y[q] + hs * ({SSUM})
                        stnum += (k[S - 1, q] - k[S - 2, q]) ** 2
                        stden += (ynew[q] - ysti) ** 2
                    hlamb = hs * math.sqrt(stnum / stden) if stden > 0.0 else 0.0
                    if hlamb > {STIFF_BOUND}:
                        nonsti = 0
                        iasti += 1
                        if iasti >= {STIFF_COUNT}:
                            stiff = True
                    else:
                        nonsti += 1
                        if nonsti == 6:
                            iasti = 0
                for q in range(d):
                    y[q] = ynew[q]
                    k[0, q] = k[S - 1, q]
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
                if stiff:
                    st = {STIFF}
                    tf = t
                    break
            else:
                if finite:
                    fac11 = errn ** expo1
                    hnew = hs / min(1.0 / {FAC_MIN}, fac11 / {SAFE})
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
        for kk in range(ptr, nout):  # outputs never reached are NaN (yout is not pre-filled)
            for q in range(d):
                yout[i, kk, q] = np.nan
        if st != {EVENT}:
            for q in range(d):
                y_final[i, q] = y[q]
        status[i] = st
        nfev[i] = nf
        nsteps[i] = ns
        nreject[i] = nr
        t_final[i] = tf
        n_out[i] = ptr
'''

# events: per event function, root of g on the dense output by the Illinois method
_EV_INIT_ONE = "gold[{e}] = float(g{e}({TS}(t), y{mcall}))"
_EV_STEP_ONE = '''
                gnew[{e}] = float(g{e}({TS}(t_new), ynew{mcall}))
                th_ev[{e}] = -1.0
                go = gold[{e}]
                gn = gnew[{e}]
                hit = False
                if ev_dir[{e}] >= 0.0 and go < 0.0 and gn >= 0.0:
                    hit = True
                if ev_dir[{e}] <= 0.0 and go > 0.0 and gn <= 0.0:
                    hit = True
                if hit:
                    if gn == 0.0:
                        th_ev[{e}] = 1.0
                    else:
                        lo_ = 0.0
                        hi_ = 1.0
                        glo = go
                        ghi = gn
                        side = 0
                        best = 1.0
                        tol = 4.0 * eps * max(abs(t) + hs, 1e-300)
                        for _it in range(100):
                            den = ghi - glo
                            if den != 0.0:
                                th = hi_ - ghi * (hi_ - lo_) / den
                            else:
                                th = 0.5 * (lo_ + hi_)
                            th = min(max(th, lo_), hi_)
                            _dense_into(y, hs, k, th, ytmp)
                            # (float(): an interpreted g may return a view into ytmp)
                            gt = float(g{e}({TS}(t + hs * th), ytmp{mcall}))
                            best = th
                            if gt == 0.0:
                                break
                            if np.sign(gt) == np.sign(glo):
                                lo_ = th
                                glo = gt
                                if side == -1:
                                    ghi *= 0.5
                                side = -1
                            else:
                                hi_ = th
                                ghi = gt
                                if side == 1:
                                    glo *= 0.5
                                side = 1
                            if (hi_ - lo_) * hs <= tol:
                                best = hi_
                                break
                        th_ev[{e}] = best
                    # terminal at its ev_term-th occurrence (0: never)
                    kt = ev_term[{e}]
                    if kt > 0 and ev_n[i, {e}] + 1 >= kt and th_ev[{e}] < theta_stop:
                        theta_stop = th_ev[{e}]
                        terminal = True
'''
_EV_RECORD = '''
                for e in range({NEV}):
                    if th_ev[e] >= 0.0 and th_ev[e] <= theta_stop:
                        c_ = ev_n[i, e]
                        if c_ < cap:
                            ev_t[i, e, c_] = t + th_ev[e] * hs
                            _dense_into(y, hs, k, th_ev[e], ytmp)
                            if th_ev[e] == 1.0:
                                for q in range(d):
                                    ytmp[q] = ynew[q]
                            for q in range(d):
                                ev_y[i, e, c_, q] = ytmp[q]
                        ev_n[i, e] = c_ + 1
                    gold[e] = gnew[e]
'''

_HELPERS = '''
def _dense_into(y, hs, k, theta, out):
{DENSE}


def _dense_coefs(hs, k, qo, i, c):
{COEFS}


def _feval(t, yv, out, row, d{margs}):
{FEVAL}


def _stages(t, y, hs, k, ytmp, d{margs}):
{STAGES}
    return -1
'''


def _lin(coefs, rows, col="q"):
    """Source of sum_j coefs[j] * k[j, q] over the nonzero coefficients (literal floats)."""
    terms = [f"{float(cf)!r} * k[{jj}, {col}]" for jj, cf in zip(rows, coefs) if cf != 0.0]
    return " + ".join(terms) if terms else "0.0"


def _feval_src(inplace, d, reverse, margs):
    """Body of _feval(t, yv, out, row, d, *member_args): f at (t, yv) into out[row]; the
    returned length is checked on every call (returns it when wrong, -1 when right)."""
    ts = "-t" if reverse else "t"
    if inplace:
        lines = [f"    f({ts}, yv, out[row]{margs})"]
        if reverse:
            lines.append("    for q in range(d):\n        out[row, q] = -out[row, q]")
        lines.append("    return -1")
        return "\n".join(lines)
    neg = "-" if reverse else ""
    lines = [f"    fv = f({ts}, yv{margs})", "    n = len(fv)", "    if n != d:",
             "        return n"]
    if d is not None and d <= _UNROLL_MAX:
        lines += [f"    out[row, {q}] = {neg}fv[{q}]" for q in range(d)]
    else:
        lines += ["    for q in range(d):", f"        out[row, q] = {neg}fv[q]"]
    lines.append("    return -1")
    return "\n".join(lines)


def _stages_src(tab, first, margs):
    """Unrolled stage evaluations with the tableau's coefficients baked in as literals;
    returns early with the wrong length when f misbehaves."""
    c, a, _, _, _ = tab.arrays()
    out = []
    for s_ in range(first, tab.stages):
        if s_ == 0:
            out.append(f"    bad = _feval(t, y, k, 0, d{margs})\n"
                       "    if bad >= 0:\n        return bad")
            continue
        acc = _lin(a[s_, :s_], range(s_))
        out.append(f"    for q in range(d):\n        ytmp[q] = y[q] + hs * ({acc})")
        out.append(f"    bad = _feval(t + {float(c[s_])!r} * hs, ytmp, k, {s_}, d{margs})\n"
                   "    if bad >= 0:\n        return bad")
    return "\n".join(out) if out else "    pass"


def _dense_src(tab):
    """Body of _dense_into(y, hs, k, theta, out) with the continuous extension unrolled."""
    _, _, _, _, P = tab.arrays()
    lines = ["    d = y.shape[0]"]
    ws = []
    for s_ in range(P.shape[0]):
        if not np.any(P[s_] != 0.0):
            continue
        expr = f"{float(P[s_, -1])!r}"
        for jj in range(P.shape[1] - 2, -1, -1):
            expr = f"({expr}) * theta + {float(P[s_, jj])!r}"
        lines.append(f"    w{s_} = ({expr}) * theta")
        ws.append(s_)
    terms = " + ".join(f"w{s_} * k[{s_}, q]" for s_ in ws) or "0.0"
    lines.append(f"    for q in range(d):\n        out[q] = y[q] + hs * ({terms})")
    return "\n".join(lines)


def _coefs_src(tab):
    """Body of _dense_coefs(hs, k, qo, i, c): qo[i, c, j, q] = hs * sum_s P[s, j] k[s, q], so
    that the interpolant is y + sum_j theta**(j+1) qo[i, c, j]."""
    _, _, _, _, P = tab.arrays()
    lines = ["    d = k.shape[1]", "    for q in range(d):"]
    for j in range(P.shape[1]):
        terms = " + ".join(f"{float(P[s_, j])!r} * k[{s_}, q]" for s_ in range(P.shape[0])
                           if P[s_, j] != 0.0) or "0.0"
        lines.append(f"        qo[i, c, {j}, q] = hs * ({terms})")
    return "\n".join(lines)


_CODE: dict = {}  # (kind, tableau, options) -> compiled (helpers, kernel) code objects


def _sources(kind, flags, d, nev, tab, inplace, reverse, reverse_events):
    """The (helpers, kernel) code objects; they depend on the options, not on the callables."""
    key = (kind, tab.name, flags, d, nev, inplace, reverse, reverse_events)
    code = _CODE.get(key)
    if code is not None and code[0] is tab:
        return code[1], code[2]
    argdefs = "".join(f", a{j}" for j in range(len(flags)))
    mcall = "".join(f", a{j}[i]" if fl else f", a{j}" for j, fl in enumerate(flags))
    margs = "".join(f", m{j}" for j in range(len(flags)))
    _, _, b, e, _ = tab.arrays()
    S = tab.stages
    TS = "-" if reverse_events else ""
    fmt = dict(argdefs=argdefs, mcall=mcall, S=S, NONFINITE=STATUS_NONFINITE,
               MAXSTEPS=STATUS_MAX_STEPS, RUNNING=99, SUCCESS=STATUS_SUCCESS, EVENT=STATUS_EVENT,
               UNDERFLOW=STATUS_UNDERFLOW, CALLBACK=STATUS_CALLBACK, BETA=repr(BETA),
               SAFE=repr(SAFE), FAC_MAX=repr(FAC_MAX), FAC_MIN=repr(FAC_MIN),
               SHRINK=repr(NONFINITE_SHRINK), ORDER=5, STIFF=STATUS_STIFF,
               NSTIFF=STIFF_EVERY, STIFF_COUNT=STIFF_COUNT,
               STIFF_BOUND=repr(STIFF_BOUNDS.get(tab.name, 3.25)),
               SSUM=_lin(tab.arrays()[1][S - 2, :S - 2], range(S - 2)),
               BSUM=_lin(b, range(S)), ESUM=_lin(e, range(S)))
    helpers = _HELPERS.format(
        DENSE=_dense_src(tab), COEFS=_coefs_src(tab) if tab.adaptive else "    pass",
        FEVAL=_feval_src(inplace, d, reverse, margs), margs=margs,
        STAGES=_stages_src(tab, 1 if kind == "adaptive" else 0, margs))
    if kind == "fixed":
        src = _FIXED.format(**fmt)
    else:
        fmt["NEV"] = max(nev, 1)
        if nev:
            fmt["EV_INIT"] = "\n            ".join(
                _EV_INIT_ONE.format(e=e, mcall=mcall, TS=TS) for e in range(nev))
            fmt["EV_STEP"] = "".join(_EV_STEP_ONE.format(e=e, mcall=mcall, TS=TS)
                                     for e in range(nev)) + _EV_RECORD.format(NEV=nev)
        else:
            fmt["EV_INIT"] = "pass"
            fmt["EV_STEP"] = "pass"
        src = _ADAPTIVE.format(**fmt)
    hcode = compile(helpers, "<solve_ode numba helpers>", "exec")
    kcode = compile(src, f"<solve_ode numba {kind} kernel>", "exec")
    _CODE[key] = (tab, hcode, kcode)
    return hcode, kcode


def _build(kind, f, flags, d, ev=None, tab=None, inplace=False, reverse=False,
           reverse_events=False, jit=True):
    import numba
    nev = 0 if ev is None else len(ev.funcs)
    hcode, kcode = _sources(kind, flags, d, nev, tab, inplace, reverse, reverse_events)
    ns = {"np": np, "math": math, "numba": numba, "f": f}
    for e in range(nev):
        ns[f"g{e}"] = ev.funcs[e]
    exec(hcode, ns)
    if jit:
        for name in ("_dense_into", "_dense_coefs", "_feval", "_stages"):
            ns[name] = numba.njit(cache=False, nogil=True, inline="always")(ns[name])
    exec(kcode, ns)
    if not jit:  # the same loop run by CPython (the per-member Python rung for small batches)
        return ns["kernel"]
    return numba.njit(cache=False, nogil=True)(ns["kernel"])


def _kernel(kind, f, flags, d, ev=None, tab=None, inplace=False, reverse=False,
            reverse_events=False, jit=True):
    dkey = d if (not inplace and d <= _UNROLL_MAX) else None
    if not jit:  # interpreted kernels are cheap to build: not cached (they hold user objects)
        return _build(kind, f, flags, dkey, ev, tab, inplace, reverse, reverse_events, jit=False)
    key = (kind, tab.name, inplace, reverse, reverse_events and ev is not None, f, flags, dkey,
           None if ev is None else ev.funcs)
    kern = _KERNELS.get(key)
    if kern is None:
        kern = _build(kind, f, flags, dkey, ev, tab, inplace, reverse, reverse_events)
        _KERNELS[key] = kern
    return kern


def n_threads() -> int:
    """Worker threads for the member loop (Numba's thread count, i.e. NUMBA_NUM_THREADS)."""
    try:
        import numba
        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover
        return 1


def _compile_now(kern, args):
    """Compile the kernel for these argument types in this thread (an empty member range):
    a typing failure becomes :class:`KernelCompileError` before any thread starts."""
    if not hasattr(kern, "py_func"):
        return  # an interpreted kernel
    try:
        kern(0, 0, *args)
    except Exception as exc:
        from .._callables import _first_line, _is_numba_error
        if _is_numba_error(exc):
            raise KernelCompileError(_first_line(exc)) from exc
        raise


def _run_chunks(kern, B, args):
    """Run ``kern(lo, hi, *args)`` over member chunks on threads (the kernel releases the GIL).

    A serial kernel driven by threads compiles several times faster than a ``parallel=True``
    kernel with ``prange`` and scales the same way; more chunks than threads balance members
    that need very different numbers of steps.
    """
    nt = n_threads()
    if nt == 1 or B < 2 or not hasattr(kern, "py_func"):  # (interpreted: the GIL serializes)
        kern(0, B, *args)
        return
    from concurrent.futures import ThreadPoolExecutor
    nchunks = min(B, 8 * nt)
    edges = np.linspace(0, B, nchunks + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=nt) as pool:
        futs = [pool.submit(kern, int(lo), int(hi), *args) for lo, hi in zip(edges[:-1], edges[1:])
                if hi > lo]
        for fu in futs:
            fu.result()


def integrate_numba(f, t0, t1, y0, tab, *, dt0, rtol, atol, t_out, cargs, max_steps, events,
                    max_step, batch, inplace=False, reverse=False, reverse_events=False,
                    dense=False, grid=None, jit=True):
    """Run the fused kernel; ``y0`` is a NumPy array ``(*batch, d)``.

    ``f``: the compiled per-member right-hand side (``f(t, y, *member_args)`` returning a
    length-``d`` array, list or tuple; with ``inplace`` ``f(t, y, out, *member_args)``
    writing into ``out``).  ``events``: an :class:`EventSpec` of compiled per-member event
    functions, or None.  ``reverse``: integrate in reversed time ``tau = -t`` (``f`` is called
    at ``-tau`` and its value negated); ``reverse_events``: the events are called at ``-tau``
    (a sympy right-hand side arrives already reversed, its events do not).  ``grid``: the
    fixed-step grid (from ``_generic.fixed_grid``) for fixed-step methods.
    ``jit=False`` runs the same kernel source in the interpreter (plain Python ``f`` and
    events, per member: as fast as scipy's own loop for small problems, no compilation).
    Raises :class:`KernelCompileError` when the kernel does not compile for these types.
    """
    d = y0.shape[-1]
    y0f = np.ascontiguousarray(np.asarray(y0, dtype=np.float64).reshape(-1, d))
    B = y0f.shape[0]
    flags, prepared = cargs.numba()
    nout = t_out.size
    yout = np.empty((B, nout, d))  # every entry is written by the kernel (NaN if not reached)
    status = np.zeros(B, dtype=np.int32)
    nfev = np.zeros(B, dtype=np.int64)
    nsteps = np.zeros(B, dtype=np.int64)
    nreject = np.zeros(B, dtype=np.int64)
    t_final = np.zeros(B)
    y_final = np.zeros((B, d))
    n_out = np.zeros(B, dtype=np.int64)
    cb_len = np.full(B, -1, dtype=np.int64)
    cb_t = np.full(B, np.nan)
    evres = None
    dres = None
    if not tab.adaptive:
        ts, hs, ks_out, n_start = grid
        kern = _kernel("fixed", f, flags, d, tab=tab, inplace=inplace, reverse=reverse, jit=jit)
        args = (y0f, ts, hs, ks_out, n_start, yout, status, nfev, nsteps, t_final, y_final,
                n_out, cb_len, cb_t, *prepared)
        _compile_now(kern, args)
        _run_chunks(kern, B, args)
    else:
        from ._common import Controller
        nev = 0 if events is None else len(events.funcs)
        n_start = int(np.sum(t_out <= t0))
        kern = _kernel("adaptive", f, flags, d, events, tab=tab, inplace=inplace, reverse=reverse,
                       reverse_events=reverse_events, jit=jit)
        expo1 = Controller(tab.error_order).expo1
        m = tab.arrays()[4].shape[1]
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
            dn_q = np.zeros((B, dcap, m, d))
            dn_n = np.zeros(B, dtype=np.int64)
            args = (y0f, float(t0), float(t1), t_out, n_start, rtol, atol,
                    -1.0 if dt0 is None else float(dt0), float(max_step), int(max_steps), expo1,
                    yout, status, nfev, nsteps, nreject, t_final, y_final, n_out, cb_len, cb_t,
                    ev_dir, ev_term, ev_t, ev_y, ev_n, dn_t, dn_h, dn_y, dn_q, dn_n, *prepared)
            if not compiled:
                _compile_now(kern, args)
                compiled = True
            _run_chunks(kern, B, args)
            need = int(ev_n.max()) if nev else 0
            dneed = int(dn_n.max()) if dense else 0
            if need <= cap and dneed <= dcap:
                break
            # rerun with room for every event / interpolant (the run is deterministic)
            cap = max(cap, need)
            dcap = max(dcap, dneed)
        if nev:
            evres = []
            for j in range(nev):
                nmax = int(ev_n[:, j].max())
                evres.append((ev_t[:, j, :nmax].reshape(batch + (nmax,)),
                              ev_y[:, j, :nmax].reshape(batch + (nmax, d)),
                              ev_n[:, j].reshape(batch)))
        if dense:
            dres = dict(t=dn_t, h=dn_h, y=dn_y, q=dn_q, n=dn_n)
    return dict(y=yout.reshape(batch + (nout, d)), status=status.reshape(batch),
                nfev=nfev.reshape(batch), nsteps=nsteps.reshape(batch),
                nreject=nreject.reshape(batch), t_final=t_final.reshape(batch),
                y_final=y_final.reshape(batch + (d,)), n_out=n_out.reshape(batch),
                cb=(cb_len, cb_t), events=evres, dense=dres)
