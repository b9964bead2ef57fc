"""The Numba rung of :func:`solvers.solve_ode`: one fused compiled loop per member.

The kernel is generated for the user's right-hand side (a Numba-compiled per-member
function ``f(t, y, *member_args) -> (d,)``), the number of its arguments (which of them are
per-member arrays), the tableau (coefficients baked in as literals) and the event functions.
The kernel loops over a range of members and releases the GIL; chunks of members run on
``numba.get_num_threads()`` threads (this compiles several times faster than a
``parallel=True``/``prange`` kernel and scales the same way).  Each member adapts its own step, evaluates the dense output at ``t_eval`` and locates its events
inside the loop, so nothing leaves the compiled code until every member has finished.
The arithmetic mirrors the generic rung (``_generic``) step for step.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from ._common import (BETA, FAC_MAX, FAC_MIN, NONFINITE_SHRINK, SAFE, STATUS_EVENT,
                          STATUS_MAX_STEPS, STATUS_NONFINITE, STATUS_SUCCESS, STATUS_UNDERFLOW,
                          EventSpec)

__all__ = ["integrate_numba", "compile_member_function", "is_numba_function"]

_KERNELS: dict = {}
# user function -> its njit dispatcher, so that repeated solves reuse the compiled kernels
_JITTED = weakref.WeakKeyDictionary()
_FAILED = object()


def _jit_cached(f):
    try:
        return _JITTED.get(f)
    except TypeError:  # not weak-referenceable
        return None


def _remember_jit(f, fj):
    try:
        _JITTED[f] = fj
    except TypeError:
        pass


def is_numba_function(f) -> bool:
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover
        return False
    return isinstance(f, CPUDispatcher)


def member_args(args, batch):
    """(per-member flags, prepared args): arrays whose leading dims equal ``batch`` are
    reshaped to (B, ...) and indexed per member inside the kernel."""
    flags, out = [], []
    nb = len(batch)
    for a in args:
        if isinstance(a, (bool, int, float, np.integer, np.floating)):
            flags.append(False)
            out.append(a)
            continue
        arr = np.asarray(a)
        if nb and arr.ndim >= nb and tuple(arr.shape[:nb]) == batch:
            flags.append(True)
            out.append(np.ascontiguousarray(arr.reshape((-1,) + arr.shape[nb:])))
        elif arr.ndim == 0:
            flags.append(False)
            out.append(arr[()])
        else:
            flags.append(False)
            out.append(np.ascontiguousarray(arr))
    return tuple(flags), tuple(out)


def _member_view(prepared, flags, i):
    return tuple(a[i] if fl else a for a, fl in zip(prepared, flags))


def compile_member_function(f, t0, y0, args, batch, *, required):
    """Numba-compile ``f`` for per-member calls and check it against the vectorized ``f``.

    Returns the compiled function, or None (auto mode) when it does not compile.  Raises
    ``TypeError`` when ``required`` and it does not compile, ``ValueError`` when the compiled
    per-member results disagree with a successful vectorized call (ambiguous ``f``).
    """
    import numba
    fj = f if is_numba_function(f) else _jit_cached(f)
    if fj is _FAILED:
        if not required:
            return None
        fj = None  # numba=True: try again (and report the error)
    if fj is None:
        try:
            fj = numba.njit(cache=False)(f)
            _remember_jit(f, fj)
        except Exception as exc:  # not a function (njit of functions is lazy: errors come later)
            _remember_jit(f, _FAILED)
            if required:
                raise TypeError(f"numba=True but f could not be compiled: {exc}") from exc
            return None
    y0n = np.asarray(y0, dtype=np.float64)
    yflat = y0n.reshape(-1, y0n.shape[-1])
    flags, prepared = member_args(args, batch)
    nb = yflat.shape[0]
    probe = sorted(set(np.linspace(0, nb - 1, min(nb, 8)).astype(int).tolist()))
    try:
        rows = []
        for i in probe:
            r = np.asarray(fj(float(t0), yflat[i].copy(), *_member_view(prepared, flags, i)),
                           dtype=np.float64)
            if r.shape != (y0n.shape[-1],):
                raise ValueError(f"the compiled per-member f returned shape {r.shape}; expected "
                                 f"({y0n.shape[-1]},)")
            rows.append(r)
    except Exception as exc:
        if not is_numba_function(f):
            _remember_jit(f, _FAILED)  # do not pay for a failed compilation twice
        if required:
            raise TypeError(f"numba=True but f does not compile/run as a per-member Numba "
                            f"function f(t: float, y: (d,), *member_args) -> (d,): {exc}") from exc
        return None
    if required or is_numba_function(f):
        return fj
    # auto mode: the same f must also mean the same thing on the whole batch
    try:
        tv = np.full(y0n.shape[:-1], float(t0))
        vec = np.asarray(f(tv, y0n.copy(), *args), dtype=np.float64)
    except Exception:
        return fj  # f is a per-member function only
    if vec.shape != y0n.shape:
        return fj  # idem: it does not act on the whole batch
    vec = vec.reshape(-1, y0n.shape[-1])[probe]
    want = np.array(rows)
    if vec.shape == want.shape and np.allclose(vec, want, rtol=1e-12, atol=1e-300, equal_nan=True):
        return fj
    raise ValueError("f gives different results when compiled per member and when called on the "
                     "whole batch; pass numba=True if f is a per-member function "
                     "(y of shape (d,)), or numba=False if it is a vectorized one")


# --------------------------------------------------------------------------- kernel source
_HELPERS = '''
@numba.njit(cache=False, fastmath=False, inline="always")
def _dense_into(y, hs, k, P, theta, out):
{DENSE}
'''

_FIXED = '''
def kernel(lo, hi, y0, ts, hs, ks_out, n_start, cA, aA, bA, yout, status, nfev, nsteps, t_final, y_final,
           hit_max{argdefs}):
    B = y0.shape[0]
    d = y0.shape[1]
    S = bA.shape[0]
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
{FIXED_STAGES}
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
        # outputs never reached (failure or max_steps) are NaN; yout is not pre-filled
        for kk in range(wrote, yout.shape[1]):
            for q in range(d):
                yout[i, kk, q] = np.nan
        if st == 0 and hit_max:
            st = {MAXSTEPS}
        status[i] = st
        nsteps[i] = ns
        nfev[i] = (ns + (1 if st == {NONFINITE} else 0)) * S
        t_final[i] = tf
        for q in range(d):
            y_final[i, q] = y[q]
'''

_ADAPTIVE = '''
def kernel(lo, hi, y0, t0, t1, t_out, n_start, cA, aA, bA, eA, P, rtol, atol, dt0, max_step, max_steps,
           expo1, yout, status, nfev, nsteps, nreject, t_final, y_final, ev_t, ev_y, ev_n{argdefs}):
    B = y0.shape[0]
    d = y0.shape[1]
    S = bA.shape[0]
    nout = t_out.shape[0]
    cap = ev_t.shape[2]
    eps = 2.220446049250313e-16
    for i in range(lo, hi):
        y = y0[i].copy()
        ynew = np.empty(d)
        ytmp = np.empty(d)
        errv = np.empty(d)
        k = np.empty((S, d))
        gold = np.empty({NEV})
        gnew = np.empty({NEV})
        th_ev = np.empty({NEV})
        for kk in range(n_start):
            for q in range(d):
                yout[i, kk, q] = y[q]
        ptr = n_start
        t = t0
{FIRST_EVAL}
        fin = True
        for q in range(d):
            if not np.isfinite(k[0, q]):
                fin = False
        nf = 1
        ns = 0
        nr = 0
        st = {RUNNING}
        tf = t0
        if not fin:
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
{HINIT_EVAL}
            nf += 1
            d2 = 0.0
            for q in range(d):
                sc = atol + abs(y[q]) * rtol
                d2 += ((f1[q] - k[0, q]) / sc) ** 2
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
        {EV_INIT}
        facold = 1e-4
        last_rej = False
        last_nonfinite = False
        while st == {RUNNING}:
            if ns + nr >= max_steps:
                st = {MAXSTEPS}
                tf = t
                break
            remaining = t1 - t
            last = h >= remaining - 16.0 * eps * max(abs(t1), 1.0)
            hs = remaining if last else h
{ADAPT_STAGES}
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
                theta_stop = 1.0
                terminal = False
                {EV_STEP}
                t_stop = t_new if not terminal else t + theta_stop * hs
                while ptr < nout and t_out[ptr] <= t_stop:
                    if t_out[ptr] == t_new:
                        for q in range(d):
                            yout[i, ptr, q] = ynew[q]
                    else:
                        theta = (t_out[ptr] - t) / hs
                        theta = min(max(theta, 0.0), 1.0)
                        _dense_into(y, hs, k, P, theta, ytmp)
                        for q in range(d):
                            yout[i, ptr, q] = ytmp[q]
                    ptr += 1
                fac11 = errn ** expo1
                fac = fac11 / facold ** {BETA}
                fac = min(max(fac / {SAFE}, 1.0 / {FAC_MAX}), 1.0 / {FAC_MIN})
                hnew = hs / fac
                if last_rej:
                    hnew = min(hnew, hs)
                facold = max(errn, 1e-4)
                if terminal:
                    _dense_into(y, hs, k, P, theta_stop, ytmp)
                    for q in range(d):
                        y_final[i, q] = ytmp[q]
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
'''

# events: per event function, root of g on the dense output by the Illinois method
_EV_INIT_ONE = "gold[{e}] = g{e}(t, y{call})"
_EV_STEP_ONE = '''
                gnew[{e}] = g{e}(t_new, ynew{call})
                th_ev[{e}] = -1.0
                go = gold[{e}]
                gn = gnew[{e}]
                hit = False
                if {DIR} >= 0 and go < 0.0 and gn >= 0.0:
                    hit = True
                if {DIR} <= 0 and go > 0.0 and gn <= 0.0:
                    hit = True
                if hit:
                    if gn == 0.0:
                        th_ev[{e}] = 1.0
                    else:
                        lo = 0.0
                        hi = 1.0
                        glo = go
                        ghi = gn
                        side = 0
                        best = 1.0
                        tol = 4.0 * eps * max(abs(t) + hs, 1e-300)
                        for _it in range(100):
                            den = ghi - glo
                            if den != 0.0:
                                th = hi - ghi * (hi - lo) / den
                            else:
                                th = 0.5 * (lo + hi)
                            th = min(max(th, lo), hi)
                            _dense_into(y, hs, k, P, th, ytmp)
                            gt = g{e}(t + hs * th, ytmp{call})
                            best = th
                            if gt == 0.0:
                                break
                            if np.sign(gt) == np.sign(glo):
                                lo = th
                                glo = gt
                                if side == -1:
                                    ghi *= 0.5
                                side = -1
                            else:
                                hi = th
                                ghi = gt
                                if side == 1:
                                    glo *= 0.5
                                side = 1
                            if (hi - lo) * hs <= tol:
                                best = hi
                                break
                        th_ev[{e}] = best
                    if {TERM} and th_ev[{e}] < theta_stop:
                        theta_stop = th_ev[{e}]
                        terminal = True
'''
_EV_RECORD = '''
                for e in range({NEV}):
                    if th_ev[e] >= 0.0 and th_ev[e] <= theta_stop:
                        c_ = ev_n[i, e]
                        if c_ < cap:
                            ev_t[i, e, c_] = t + th_ev[e] * hs
                            _dense_into(y, hs, k, P, th_ev[e], ytmp)
                            if th_ev[e] == 1.0:
                                for q in range(d):
                                    ytmp[q] = ynew[q]
                            for q in range(d):
                                ev_y[i, e, c_, q] = ytmp[q]
                        ev_n[i, e] = c_ + 1
                    gold[e] = gnew[e]
'''


def _lin(coefs, rows, col="q"):
    """Source of sum_j coefs[j] * k[j, q] over the nonzero coefficients (literal floats)."""
    terms = [f"{float(cf)!r} * k[{jj}, {col}]" for jj, cf in zip(rows, coefs) if cf != 0.0]
    return " + ".join(terms) if terms else "0.0"


def _eval(target_row, t_expr, y_expr, call, inplace, indent):
    """Source that evaluates f at (t_expr, y_expr) into row ``target_row`` of k."""
    pad = " " * indent
    if inplace:
        return f"{pad}f({t_expr}, {y_expr}, k[{target_row}]{call})"
    return (f"{pad}fv = f({t_expr}, {y_expr}{call})\n"
            f"{pad}for q in range(d):\n{pad}    k[{target_row}, q] = fv[q]")


def _stages_src(tab, call, inplace, indent, first, hname):
    """Unrolled stage evaluations with the tableau's coefficients baked in as literals."""
    c, a, _, _, _ = tab.arrays()
    pad = " " * indent
    out = []
    for s_ in range(first, tab.stages):
        if s_ == 0:
            out.append(_eval(0, "t", "y", call, inplace, indent))
            continue
        out.append(f"{pad}for q in range(d):\n{pad}    ytmp[q] = y[q] + {hname} * ("
                   f"{_lin(a[s_, :s_], range(s_))})")
        out.append(_eval(s_, f"t + {float(c[s_])!r} * {hname}", "ytmp", call, inplace, indent))
    return "\n".join(out)


def _dense_src(tab):
    """Body of _dense_into(y, hs, k, P, theta, out) with the continuous extension unrolled."""
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


def _build(kind, f, nargs_flags, ev=None, tab=None, inplace=False):
    import numba
    flags = nargs_flags
    argdefs = "".join(f", a{j}" for j in range(len(flags)))
    call = "".join(f", a{j}[i]" if fl else f", a{j}" for j, fl in enumerate(flags))
    _, _, b, e, _ = tab.arrays()
    S = tab.stages
    fmt = dict(argdefs=argdefs, call=call, NONFINITE=STATUS_NONFINITE, MAXSTEPS=STATUS_MAX_STEPS,
               RUNNING=99, SUCCESS=STATUS_SUCCESS, EVENT=STATUS_EVENT, UNDERFLOW=STATUS_UNDERFLOW,
               BETA=repr(BETA), SAFE=repr(SAFE), FAC_MAX=repr(FAC_MAX), FAC_MIN=repr(FAC_MIN),
               SHRINK=repr(NONFINITE_SHRINK), ORDER=5,
               BSUM=_lin(b, range(S)), ESUM=_lin(e, range(S)),
               FIXED_STAGES=_stages_src(tab, call, inplace, 12, 0, "h"),
               ADAPT_STAGES=_stages_src(tab, call, inplace, 12, 1, "hs"),
               FIRST_EVAL=_eval(0, "t", "y", call, inplace, 8),
               HINIT_EVAL=("            f1 = np.empty(d)\n            f(t0 + h0, ytmp, f1" + call + ")"
                           if inplace else "            f1 = f(t0 + h0, ytmp" + call + ")"))
    ns = {"np": np, "math": math, "numba": numba, "f": f}
    if kind == "fixed":
        src = _FIXED.format(**fmt)
    else:
        nev = 0 if ev is None else len(ev.funcs)
        fmt["NEV"] = max(nev, 1)
        if nev:
            fmt["EV_INIT"] = "\n        ".join(_EV_INIT_ONE.format(e=e, call=call) for e in range(nev))
            fmt["EV_STEP"] = "".join(
                _EV_STEP_ONE.format(e=e, call=call, DIR=repr(ev.directions[e]),
                                    TERM="True" if ev.terminal[e] else "False")
                for e in range(nev)) + _EV_RECORD.format(NEV=nev)
            for e, g in enumerate(ev.funcs):
                ns[f"g{e}"] = g
        else:
            fmt["EV_INIT"] = "pass"
            fmt["EV_STEP"] = "pass"
        src = _ADAPTIVE.format(**fmt)
    exec(compile(_HELPERS.format(DENSE=_dense_src(tab)), "<solve_ode numba helpers>", "exec"), ns)
    exec(compile(src, f"<solve_ode numba {kind} kernel>", "exec"), ns)
    return numba.njit(cache=False, nogil=True)(ns["kernel"])


def _kernel(kind, f, flags, ev=None, tab=None, inplace=False):
    key = (kind, tab.name, inplace, f, flags,
           None if ev is None else (ev.funcs, ev.terminal, ev.directions))
    kern = _KERNELS.get(key)
    if kern is None:
        kern = _build(kind, f, flags, ev, tab, inplace)
        _KERNELS[key] = kern
    return kern


def _compile_events(events, y0, t0, args, batch):
    ev = EventSpec.from_user(events)
    if ev is None:
        return None
    funcs = []
    for g in ev.funcs:
        fwd = getattr(g, "forward", None)  # a reversed-time wrapper (backward integration)
        if fwd is not None:
            gj = _reversed_event_member(compile_member_function_event(fwd, -t0, y0, args, batch))
        else:
            gj = compile_member_function_event(g, t0, y0, args, batch)
        funcs.append(gj)
    return EventSpec(funcs, ev.terminal, ev.directions)


_REVERSED: dict = {}


def _reversed_member(fj, inplace):
    """A compiled ``-f(-tau, y, ...)`` around the compiled forward right-hand side."""
    key = ("f", fj, inplace)
    if key not in _REVERSED:
        import numba
        if inplace:
            def fr(t, y, out, *args):
                fj(-t, y, out, *args)
                for q in range(out.shape[0]):
                    out[q] = -out[q]
        else:
            def fr(t, y, *args):
                return -fj(-t, y, *args)
        _REVERSED[key] = numba.njit(cache=False)(fr)
    return _REVERSED[key]


def _reversed_event_member(gj):
    key = ("g", gj)
    if key not in _REVERSED:
        import numba

        def gr(t, y, *args):
            return gj(-t, y, *args)
        _REVERSED[key] = numba.njit(cache=False)(gr)
    return _REVERSED[key]


class EventCompileError(TypeError):
    """An event function does not compile as a per-member Numba function."""


def compile_member_function_event(g, t0, y0, args, batch):
    import numba
    y0n = np.asarray(y0, dtype=np.float64).reshape(-1, np.shape(y0)[-1])
    flags, prepared = member_args(args, batch)
    try:
        gj = g if is_numba_function(g) else _jit_cached(g)
        if gj is None or gj is _FAILED:
            gj = numba.njit(cache=False)(g)
            _remember_jit(g, gj)
        v = gj(float(t0), y0n[0].copy(), *_member_view(prepared, flags, 0))
        float(v)
    except Exception as exc:
        raise EventCompileError("on the compiled rung event functions must compile with Numba "
                                f"as g(t: float, y: (d,), *member_args) -> float: {exc}") from exc
    return gj


def n_threads() -> int:
    """Worker threads for the member loop (Numba's thread count, i.e. NUMBA_NUM_THREADS)."""
    try:
        import numba
        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover
        return 1


def _run_chunks(kern, B, args):
    """Run ``kern(lo, hi, *args)`` over member chunks on threads (the kernel releases the GIL).

    A serial kernel driven by threads compiles several times faster than a ``parallel=True``
    kernel with ``prange`` and scales the same way; more chunks than threads balance members
    that need very different numbers of steps.
    """
    nt = n_threads()
    if nt == 1 or B < 2:
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


def integrate_numba(f, t0, t1, y0, tab, *, dt0, rtol, atol, t_out, args, max_steps, events,
                    max_step, batch, inplace=False, reverse=False):
    """Run the fused kernel; ``y0`` is a NumPy array (*batch, d).  ``inplace``: ``f`` has the
    signature ``f(t, y, out, *member_args)`` and writes the derivative into ``out``."""
    if reverse:  # f is already compiled for forward time; integrate tau = -t
        f = _reversed_member(f, inplace)
    d = y0.shape[-1]
    y0f = np.ascontiguousarray(np.asarray(y0, dtype=np.float64).reshape(-1, d))
    B = y0f.shape[0]
    flags, prepared = member_args(args, batch)
    c, a, b, e, P = tab.arrays()
    nout = t_out.size
    yout = np.empty((B, nout, d))  # every entry is written by the kernel (NaN if not reached)
    status = np.zeros(B, dtype=np.int32)
    nfev = np.zeros(B, dtype=np.int64)
    nsteps = np.zeros(B, dtype=np.int64)
    nreject = np.zeros(B, dtype=np.int64)
    t_final = np.zeros(B)
    y_final = np.zeros((B, d))
    evres = None
    if not tab.adaptive:
        from ._generic import fixed_grid
        ts, hs, ks_out, n_start = fixed_grid(t0, t_out, dt0)
        hit_max = ts.size > max_steps
        ts, hs, ks_out = ts[:max_steps], hs[:max_steps], ks_out[:max_steps]
        kern = _kernel("fixed", f, flags, tab=tab, inplace=inplace)
        _run_chunks(kern, B, (y0f, ts, hs, ks_out, n_start, c, a, b, yout, status, nfev, nsteps,
                              t_final, y_final, hit_max, *prepared))
    else:
        from ._common import Controller
        ev = _compile_events(events, y0, t0, args, batch) if events is not None else None
        nev = 0 if ev is None else len(ev.funcs)
        n_start = int(np.sum(t_out <= t0))
        kern = _kernel("adaptive", f, flags, ev, tab=tab, inplace=inplace)
        expo1 = Controller(tab.error_order).expo1
        cap = 8 if nev else 0
        while True:
            ev_t = np.full((B, max(nev, 1), cap), np.nan)
            ev_y = np.full((B, max(nev, 1), cap, d), np.nan)
            ev_n = np.zeros((B, max(nev, 1)), dtype=np.int64)
            _run_chunks(kern, B, (y0f, float(t0), float(t1), t_out, n_start, c, a, b, e, P, rtol,
                                  atol, -1.0 if dt0 is None else float(dt0), float(max_step),
                                  int(max_steps), expo1, yout, status, nfev, nsteps, nreject,
                                  t_final, y_final, ev_t, ev_y, ev_n, *prepared))
            need = int(ev_n.max()) if nev else 0
            if need <= cap:
                break
            cap = need  # rerun with room for every event (the run is deterministic)
        if nev:
            evres = []
            for j in range(nev):
                nmax = int(ev_n[:, j].max())
                evres.append((ev_t[:, j, :nmax].reshape(batch + (nmax,)),
                              ev_y[:, j, :nmax].reshape(batch + (nmax, d)),
                              ev_n[:, j].reshape(batch)))
    return dict(y=yout.reshape(batch + (nout, d)), status=status.reshape(batch),
                nfev=nfev.reshape(batch), nsteps=nsteps.reshape(batch),
                nreject=nreject.reshape(batch), t_final=t_final.reshape(batch),
                y_final=y_final.reshape(batch + (d,)), events=evres)
