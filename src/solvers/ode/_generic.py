"""The generic (array-API) rung of :func:`solvers.solve_ode`.

Vectorized Runge-Kutta steps over the whole batch; every member keeps its own time ``t``
and step size ``h`` (shape ``batch``), finished members are masked (their step is zero).
Bookkeeping that needs data-dependent indexing (which ``t_eval`` point a member writes
next, event records) is done on small host arrays of shape ``batch``.
"""
from __future__ import annotations

import math

import numpy as np

from probspace import to_numpy

from ._common import (STATUS_CALLBACK, STATUS_EVENT, STATUS_MAX_STEPS, STATUS_NONFINITE,
                      STATUS_STIFF, STATUS_SUCCESS, STATUS_UNDERFLOW, RUNNING, Controller)

__all__ = ["integrate_generic"]

# Hairer's stiffness test: the constants live with the compiled rung (same decisions)
from ._numba import STIFF_BOUNDS, STIFF_COUNT, STIFF_EVERY  # noqa: E402


def _rms(x, xp):
    return xp.sqrt(xp.mean(x * x, axis=-1))


def _full(xp, shape, value, dtype, like):
    return xp.full(shape, value, dtype=dtype, device=_device(like))


def _device(x):
    try:
        import array_api_compat
        return array_api_compat.device(x)
    except Exception:  # pragma: no cover
        return None


def integrate_generic(F, t0, t1, y0, tab, *, dt0, rtol, atol, t_out, max_steps, events,
                      max_step, xp, dense=False, grid=None):
    """Integrate; returns a dict of host/xp arrays (see ``_solve.solve_ode`` for fields).

    ``F``: a :class:`solvers._callables.BatchCaller` for the right-hand side (it already
    applies the calling convention and the time reversal); ``events``: an ``EventSpec`` whose
    functions are BatchCallers returning one number per member, or None.
    """
    batch = tuple(y0.shape[:-1])
    d = y0.shape[-1]
    dtype = y0.dtype
    if tab.adaptive:
        return _adaptive(F, t0, t1, y0, tab, dt0, rtol, atol, t_out, max_steps, events,
                         max_step, xp, batch, d, dtype, dense)
    return _fixed(F, y0, tab, grid, t_out, xp, batch, d, dtype)


def _callback_failures(callers, batch):
    """Members for which a callable returned an invalid result (host bool, shape batch) and
    their messages (flat index -> text)."""
    nb = math.prod(batch) if batch else 1
    bad = np.zeros(nb, dtype=bool)
    msgs = {}
    for c in callers:
        if c.failed.any():
            new = c.failed & ~bad
            for i in np.flatnonzero(new):
                msgs[int(i)] = c.fail_msg.get(int(i), "")
            bad |= c.failed
    return bad.reshape(batch), msgs


def _stages(F, t, y, h, k1, tab, xp):
    """All stages of one step; returns the list of k (the last one is f(t+h, y_new) if FSAL)."""
    c, a, b, _, _ = tab.arrays()
    ks = [k1]
    hh = h[..., None]
    for s in range(1, tab.stages):
        acc = None
        for j in range(s):
            if a[s, j] != 0.0:
                term = float(a[s, j]) * ks[j]
                acc = term if acc is None else acc + term
        ys = y + hh * acc if acc is not None else y
        ks.append(F(t + float(c[s]) * h, ys))
    return ks


def _combine(y, h, ks, w, xp):
    acc = None
    for wi, k in zip(w, ks):
        if wi != 0.0:
            term = float(wi) * k
            acc = term if acc is None else acc + term
    return y + h[..., None] * acc


def grid_steps(t0, t_out, dt0):
    """Number of fixed steps per output interval (equal steps no longer than ``dt0`` between t0
    and consecutive output times), without building the grid."""
    n_start = int(np.sum(t_out <= t0))
    ends = np.asarray(t_out[n_start:], dtype=np.float64)
    starts = np.concatenate([[t0], ends[:-1]])
    with np.errstate(over="ignore"):
        n = np.maximum(1.0, np.ceil(np.abs(ends - starts) / dt0 - 1e-9))
    return n, n_start


def fixed_grid(t0, t_out, dt0):
    """The shared step grid of fixed-step methods: equal steps no longer than ``dt0`` between
    t0 and consecutive output times.  Returns (t_start, h, output index or -1) arrays and the
    number of leading outputs at t0.  (The caller checks the step count against
    ``max_steps`` with :func:`grid_steps` first.)"""
    n, n_start = grid_steps(t0, t_out, dt0)
    n = n.astype(np.int64)
    total = int(n.sum())
    ts = np.empty(total)
    hs = np.empty(total)
    ks = np.full(total, -1, dtype=np.int64)
    prev = float(t0)
    pos = 0
    for j, nj in enumerate(n):
        b_ = float(t_out[n_start + j])
        i = np.arange(nj)
        ta = prev + (b_ - prev) * i / nj
        tb = np.where(i == nj - 1, b_, prev + (b_ - prev) * (i + 1) / nj)
        ts[pos:pos + nj] = ta
        hs[pos:pos + nj] = tb - ta
        ks[pos + nj - 1] = n_start + j
        pos += nj
        prev = b_
    return ts, hs, ks, n_start


def _fixed(F, y0, tab, grid, t_out, xp, batch, d, dtype):
    """Fixed-step methods: a grid shared by all members (equal steps between output times)."""
    nout = t_out.size
    outs = [None] * nout
    nan = _full(xp, batch + (d,), math.nan, dtype, y0)
    ts, hs, ks_out, n_start = grid
    for k in range(n_start):
        outs[k] = y0
    y = y0
    dev = _device(y0)
    ok = xp.ones(batch, dtype=xp.bool, device=dev)
    nst = xp.zeros(batch, dtype=xp.int64, device=dev)
    tf = _full(xp, batch, float(ts[0]) if ts.size else 0.0, dtype, y0)
    _, _, b, _, _ = tab.arrays()
    cb = np.zeros(batch, dtype=bool)
    for ta, h, k in zip(ts, hs, ks_out):
        if not F.vectorized:
            F.active = to_numpy(ok).astype(bool).reshape(-1)
        tt = _full(xp, batch, float(ta), dtype, y0)
        hh = _full(xp, batch, float(h), dtype, y0)
        k1 = F(tt, y)
        kk = _stages(F, tt, y, hh, k1, tab, xp)
        y_new = _combine(y, hh, kk, b, xp)
        ok = ok & xp.all(xp.isfinite(y_new), axis=-1)
        y = xp.where(ok[..., None], y_new, y)
        nst = nst + xp.astype(ok, xp.int64)
        tf = xp.where(ok, tt + hh, tf)
        if k >= 0:
            outs[k] = xp.where(ok[..., None], y, nan)
    cb, cb_msgs = _callback_failures([F], batch)
    ok_np = to_numpy(ok).astype(bool)
    status = np.zeros(batch, dtype=np.int32)
    status[~ok_np] = STATUS_NONFINITE
    status[cb] = STATUS_CALLBACK
    outs = [o if o is not None else nan for o in outs]
    y_out = xp.stack(outs, axis=-2) if nout else xp.empty(batch + (0, d), dtype=dtype)
    nst_np = to_numpy(nst).astype(np.int64)
    # outputs written: those at t0 and the output steps among the completed ones
    cum = n_start + np.concatenate([[0], np.cumsum(ks_out >= 0)])
    n_out = cum[np.minimum(nst_np, ks_out.size)]
    return dict(y=y_out, status=status, nfev=(nst_np + ~ok_np) * tab.stages, nsteps=nst_np,
                nreject=np.zeros(batch, dtype=np.int64),
                t_final=to_numpy(tf).astype(np.float64), y_final=y, events=None,
                n_out=n_out.astype(np.int64), cb_msgs=cb_msgs)


def initial_step(F, t0, t1, y0, f0, order, rtol, atol, xp):
    """Hairer's starting step (Solving ODEs I, II.4), per member; returns (h, extra nfev)."""
    scale = atol + xp.abs(y0) * rtol
    d0 = _rms(y0 / scale, xp)
    d1 = _rms(f0 / scale, xp)
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = xp.where(small, xp.full_like(d0, 1e-6), 0.01 * d0 / xp.where(small, xp.ones_like(d1), d1))
    h0 = xp.minimum(h0, t1 - t0)  # t0: per-member times (array), t1: float
    y1 = y0 + h0[..., None] * f0
    f1 = F(t0 + h0, y1)
    d2 = _rms((f1 - f0) / scale, xp) / h0
    dm = xp.maximum(d1, d2)
    tiny = dm <= 1e-15
    h1 = xp.where(tiny, xp.maximum(xp.full_like(h0, 1e-6), h0 * 1e-3),
                  (0.01 / xp.where(tiny, xp.ones_like(dm), dm)) ** (1.0 / order))
    h = xp.minimum(100 * h0, h1)
    h = xp.where(xp.isfinite(h), h, h0)
    return h


def _dense_weights(P, theta, xp):
    """Stage weights of the continuous extension at theta (shape batch): list of arrays."""
    w = []
    for i in range(P.shape[0]):
        if not np.any(P[i] != 0.0):
            w.append(None)  # the stage does not enter the interpolant
            continue
        acc = float(P[i, -1])
        for j in range(P.shape[1] - 2, -1, -1):  # Horner in theta, times theta at the end
            acc = acc * theta + float(P[i, j])
        w.append(acc * theta)
    return w


def _dense(y, h, ks, P, theta, xp):
    w = _dense_weights(P, theta, xp)
    acc = None
    for wi, k in zip(w, ks):
        if wi is None:
            continue
        term = wi[..., None] * k
        acc = term if acc is None else acc + term
    return y + h[..., None] * acc


def _dense_coefs(h, ks, P, xp):
    """Q[j] = h * sum_s P[s, j] k_s (shape batch + (m, d)): the interpolant is
    y + sum_j theta**(j+1) Q[j]."""
    cols = []
    for j in range(P.shape[1]):
        acc = None
        for s_, k in enumerate(ks):
            if P[s_, j] != 0.0:
                term = float(P[s_, j]) * k
                acc = term if acc is None else acc + term
        cols.append(h[..., None] * acc)
    return xp.stack(cols, axis=-2)


def _adaptive(F, t0, t1, y0, tab, dt0, rtol, atol, t_out, max_steps, events, max_step, xp,
              batch, d, dtype, dense):
    c, a, b, e, P = tab.arrays()
    ctl = Controller(tab.error_order)
    dev = _device(y0)
    nout = t_out.size
    nan = _full(xp, batch + (d,), math.nan, dtype, y0)
    outs = [None] * nout
    ptr = np.zeros(batch, dtype=np.int64)
    n_at_start = int(np.sum(t_out <= t0))
    for k in range(n_at_start):
        outs[k] = y0
    ptr[...] = n_at_start
    callers = [F] + (list(events.funcs) if events is not None else [])

    t = _full(xp, batch, t0, dtype, y0)
    y = y0
    k1 = F(t, y)
    nfev = np.ones(batch, dtype=np.int64)
    nsteps = np.zeros(batch, dtype=np.int64)
    nreject = np.zeros(batch, dtype=np.int64)
    status = np.full(batch, RUNNING, dtype=np.int32)
    start_ok = to_numpy(xp.all(xp.isfinite(k1), axis=-1)).astype(bool)
    status[~start_ok] = STATUS_NONFINITE
    if dt0 is None:
        h = initial_step(F, t, t1, y, k1, tab.error_order + 1, rtol, atol, xp)
        nfev += 1
    else:
        h = _full(xp, batch, dt0, dtype, y0)
    h = xp.minimum(h, _full(xp, batch, max_step, dtype, y0))
    cb0, _ = _callback_failures([F], batch)
    status[cb0] = STATUS_CALLBACK
    facold = _full(xp, batch, 1e-4, dtype, y0)
    last_rej = xp.zeros(batch, dtype=xp.bool, device=dev)
    last_nonfinite = np.zeros(batch, dtype=bool)
    t_final = np.full(batch, np.nan)
    t_final[status != RUNNING] = t0
    y_final = nan
    dense_recs = [] if dense else None

    ev = events
    if ev is not None:
        g_old = [_gcall(g, t, y) for g in ev.funcs]
        ev_records = [[] for _ in ev.funcs]  # per event: list of (flat member idx, t, y rows)
        ev_count = [np.zeros(batch, dtype=np.int64) for _ in ev.funcs]
        cbe, _ = _callback_failures(ev.funcs, batch)
        status[cbe & (status == RUNNING)] = STATUS_CALLBACK
        t_final[cbe] = t0

    eps = float(np.finfo(to_numpy(y0).dtype).eps)
    T1 = float(t1)
    iasti = np.zeros(batch, dtype=np.int64)
    nonsti = np.zeros(batch, dtype=np.int64)
    while True:
        active_np = status == RUNNING
        if not active_np.any():
            break
        over = active_np & (nsteps + nreject >= max_steps)
        if over.any():
            status[over] = STATUS_MAX_STEPS
            t_final[over] = to_numpy(t)[over]
            active_np = status == RUNNING
            if not active_np.any():
                break
        remaining = T1 - t
        # the last step lands exactly on t1 (also when rounding leaves a sliver)
        last = h >= remaining - 16 * eps * max(abs(T1), 1.0)
        h_try = xp.where(last, remaining, h)
        # a step that no longer advances t (Hairer's criterion) stops the member at once
        t_np = to_numpy(t).astype(np.float64)
        stuck = active_np & ~to_numpy(last).astype(bool) & (
            to_numpy(h_try).astype(np.float64) <= 10 * eps * np.abs(t_np))
        if stuck.any():
            status[stuck] = STATUS_UNDERFLOW
            t_final[stuck] = t_np[stuck]
            active_np = status == RUNNING
            if not active_np.any():
                break
        active = xp.asarray(active_np, device=dev)
        for cl in callers:
            cl.active = active_np.reshape(-1)
        h_eff = xp.where(active, h_try, xp.zeros_like(h))
        ks = _stages(F, t, y, h_eff, k1, tab, xp)
        cbf, _ = _callback_failures([F], batch)
        cbf &= active_np
        if cbf.any():
            status[cbf] = STATUS_CALLBACK
            t_final[cbf] = t_np[cbf]
            active_np = active_np & ~cbf
            active = xp.asarray(active_np, device=dev)
        nfev[active_np] += tab.stages - (1 if tab.fsal else 0)
        y_new = _combine(y, h_eff, ks, b, xp)
        if not tab.fsal:
            raise NotImplementedError("adaptive non-FSAL tableaus are not used")
        k_new = ks[-1]
        err = _combine(xp.zeros_like(y), h_eff, ks, e, xp)
        scale = atol + rtol * xp.maximum(xp.abs(y), xp.abs(y_new))
        errn = _rms(err / scale, xp)
        finite = xp.isfinite(errn) & xp.all(xp.isfinite(k_new), axis=-1) & \
            xp.all(xp.isfinite(y_new), axis=-1)
        accept = active & finite & (errn <= 1.0)
        # --- step-size control (PI, Hairer's DOPRI5 constants)
        errc = xp.where(finite, errn, xp.ones_like(errn))
        h_acc, facold_acc = ctl.accept_xp(h_eff, errc, facold, last_rej, xp)
        h_rej = ctl.reject_xp(h_eff, errc, xp)
        h_rej = xp.where(finite, h_rej, h_eff * ctl.nonfinite_shrink)
        t_new = xp.where(last, _full(xp, batch, T1, dtype, y0), t + h_eff)

        acc_np = to_numpy(accept).astype(bool)
        tnew_np = to_numpy(t_new).astype(np.float64)
        h_np = to_numpy(h_eff).astype(np.float64)
        theta_stop = np.ones(batch)
        y_stop = None
        terminal = np.zeros(batch, dtype=bool)

        if ev is not None and acc_np.any():
            for g in ev.funcs:
                g.active = acc_np.reshape(-1)
            g_new = [_gcall(g, t_new, y_new) for g in ev.funcs]
            roots = []  # per event: (mask, theta)
            for i, g in enumerate(ev.funcs):
                go, gn = g_old[i], g_new[i]
                up = (go < 0) & (gn >= 0)
                down = (go > 0) & (gn <= 0)
                dirn = ev.directions[i]
                hit = up if dirn > 0 else down if dirn < 0 else (up | down)
                hit = hit & acc_np
                theta = np.full(batch, np.nan)
                if hit.any():
                    theta = _locate(g, t, y, h_eff, ks, P, go, gn, hit, xp, batch, eps)
                roots.append((hit, theta))
            cbe, _ = _callback_failures(ev.funcs, batch)
            cbe &= acc_np
            if cbe.any():  # an event function misbehaved: stop there, keep the step out
                status[cbe] = STATUS_CALLBACK
                t_final[cbe] = t_np[cbe]
                acc_np = acc_np & ~cbe
                accept = xp.asarray(acc_np, device=dev)
                roots = [(hit & acc_np, theta) for hit, theta in roots]
            # earliest terminal root per member (terminal at the k-th occurrence)
            th_term = np.full(batch, np.inf)
            for i, (hit, theta) in enumerate(roots):
                kterm = ev.terminal[i]
                if kterm > 0:
                    stop_here = hit & (ev_count[i] + 1 >= kterm)
                    th_term = np.where(stop_here, np.minimum(th_term, theta), th_term)
            terminal = np.isfinite(th_term)
            theta_stop = np.where(terminal, th_term, 1.0)
            for i, (hit, theta) in enumerate(roots):
                keep = hit & (theta <= theta_stop)
                if keep.any():
                    ev_count[i] += keep
                    th_x = xp.asarray(np.where(keep, theta, 1.0).astype(to_numpy(y0).dtype),
                                      device=dev)
                    yr = to_numpy(_dense(y, h_eff, ks, P, th_x, xp))
                    yr = np.where((keep & (theta == 1.0))[..., None], to_numpy(y_new), yr)
                    tr = t_np + theta * h_np
                    idx = np.flatnonzero(keep.reshape(-1))
                    ev_records[i].append((idx, tr.reshape(-1)[idx], yr.reshape(-1, d)[idx]))
            if terminal.any():
                th_x = xp.asarray(np.where(terminal, theta_stop, 1.0).astype(to_numpy(y0).dtype),
                                  device=dev)
                y_stop = _dense(y, h_eff, ks, P, th_x, xp)
            for i in range(len(ev.funcs)):
                g_old[i] = np.where(acc_np, g_new[i], g_old[i])
        t_stop = np.where(acc_np, np.where(terminal, t_np + theta_stop * h_np, tnew_np), np.nan)

        # --- dense output at t_eval points inside (t, t_stop]
        if nout and acc_np.any():
            while True:
                pc = np.minimum(ptr, nout - 1)
                pending = acc_np & (ptr < nout) & (t_out[pc] <= t_stop)
                if not pending.any():
                    break
                te = t_out[pc]
                theta = np.where(pending, (te - t_np) / np.where(h_np > 0, h_np, 1.0), 1.0)
                theta = np.clip(theta, 0.0, 1.0)
                th_x = xp.asarray(theta.astype(to_numpy(y0).dtype), device=dev)
                val = _dense(y, h_eff, ks, P, th_x, xp)
                at_end = xp.asarray(pending & (te == tnew_np), device=dev)
                val = xp.where(at_end[..., None], y_new, val)
                for k in np.unique(pc[pending]):
                    m = xp.asarray(pending & (pc == k), device=dev)
                    prev = outs[k] if outs[k] is not None else nan
                    outs[k] = xp.where(m[..., None], val, prev)
                ptr = ptr + pending

        # --- interpolants of the accepted steps (dense_output=True)
        if dense and acc_np.any():
            idx = np.flatnonzero(acc_np.reshape(-1))
            q = to_numpy(_dense_coefs(h_eff, ks, P, xp)).astype(np.float64)
            dense_recs.append((idx, t_np.reshape(-1)[idx], h_np.reshape(-1)[idx],
                               to_numpy(y).astype(np.float64).reshape(-1, d)[idx],
                               q.reshape((-1,) + q.shape[-2:])[idx]))

        # --- Hairer's stiffness test, as in the compiled rung (_numba.STIFF_*)
        test = acc_np & (status == RUNNING) & (((nsteps + 1) % STIFF_EVERY == 0) | (iasti > 0))
        if test.any():
            S = tab.stages
            ysti = _combine(y, h_eff, ks[:S - 2], a[S - 2, :S - 2], xp)
            stnum = to_numpy(xp.sum((ks[S - 1] - ks[S - 2]) ** 2, axis=-1)).astype(np.float64)
            stden = to_numpy(xp.sum((y_new - ysti) ** 2, axis=-1)).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                hlamb = np.where(stden > 0, h_np * np.sqrt(stnum / np.where(stden > 0, stden, 1.0)),
                                 0.0)
            pos = test & (hlamb > STIFF_BOUNDS.get(tab.name, 3.25))
            neg = test & ~pos
            iasti = np.where(pos, iasti + 1, iasti)
            nonsti = np.where(pos, 0, np.where(neg, nonsti + 1, nonsti))
            iasti = np.where(neg & (nonsti == 6), 0, iasti)
            stiff_now = pos & (iasti >= STIFF_COUNT)
        else:
            stiff_now = np.zeros(batch, dtype=bool)

        # --- update state
        acc_x = accept
        t = xp.where(acc_x, t_new, t)
        y = xp.where(acc_x[..., None], y_new, y)
        k1 = xp.where(acc_x[..., None], k_new, k1)
        facold = xp.where(acc_x, facold_acc, facold)
        h_next = xp.where(acc_x, h_acc, h_rej)
        h_next = xp.minimum(h_next, _full(xp, batch, max_step, dtype, y0))
        h = xp.where(active, h_next, h)
        rej_np = active_np & ~acc_np & (status == RUNNING)
        last_rej = xp.asarray(rej_np, device=dev)
        nsteps[acc_np] += 1
        nreject[rej_np] += 1
        fin_np = to_numpy(finite).astype(bool)
        last_nonfinite = np.where(active_np, ~fin_np, last_nonfinite)

        if terminal.any():
            status[terminal] = STATUS_EVENT
            t_final[terminal] = t_stop[terminal]
            y_final = xp.where(xp.asarray(terminal, device=dev)[..., None], y_stop, y_final)
        done = acc_np & ~terminal & (tnew_np >= T1)
        if done.any():
            status[done] = STATUS_SUCCESS
            t_final[done] = T1
        stiff_now &= (status == RUNNING)
        if stiff_now.any():
            status[stiff_now] = STATUS_STIFF
            t_final[stiff_now] = tnew_np[stiff_now]
        # step size underflow (after a rejection the step cannot shrink further)
        hn_np = to_numpy(h).astype(np.float64)
        tn_np = to_numpy(t).astype(np.float64)
        under = (status == RUNNING) & rej_np & (
            hn_np <= 10 * eps * np.maximum(np.abs(tn_np), 1e-300))
        if under.any():
            status[under & last_nonfinite] = STATUS_NONFINITE
            status[under & ~last_nonfinite] = STATUS_UNDERFLOW
            t_final[under] = tn_np[under]

    # every member that did not stop at a terminal event ends in its current state
    not_ev = xp.asarray(status != STATUS_EVENT, device=dev)
    y_final = xp.where(not_ev[..., None], y, y_final)
    outs = [o if o is not None else nan for o in outs]
    y_out = xp.stack(outs, axis=-2) if nout else xp.empty(batch + (0, d), dtype=dtype)
    evres = None
    if ev is not None:
        evres = [(recs, len(batch)) for recs in ev_records]
    _, cb_msgs = _callback_failures(callers, batch)
    return dict(y=y_out, status=status, nfev=nfev, nsteps=nsteps, nreject=nreject,
                t_final=t_final, y_final=y_final, events=evres, n_out=ptr, cb_msgs=cb_msgs,
                dense=_assemble_dense(dense_recs, batch, d, P.shape[1]) if dense else None)


def _assemble_dense(recs, batch, d, m):
    """Per-step records -> padded per-member arrays (B, cap, ...), steps in order."""
    nb = math.prod(batch) if batch else 1
    if recs:
        idx = np.concatenate([r[0] for r in recs])
        order = np.argsort(idx, kind="stable")
        idx = idx[order]
        cols = [np.concatenate([r[j] for r in recs])[order] for j in range(1, 5)]
    else:
        idx = np.zeros(0, dtype=np.int64)
        cols = [np.zeros(0), np.zeros(0), np.zeros((0, d)), np.zeros((0, m, d))]
    n = np.bincount(idx, minlength=nb).astype(np.int64)
    cap = int(n.max()) if nb else 0
    pos = np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n)
    out_t = np.zeros((nb, cap))
    out_h = np.zeros((nb, cap))
    out_y = np.zeros((nb, cap, d))
    out_q = np.zeros((nb, cap, m, d))
    out_t[idx, pos] = cols[0]
    out_h[idx, pos] = cols[1]
    out_y[idx, pos] = cols[2]
    out_q[idx, pos] = cols[3]
    return dict(t=out_t, h=out_h, y=out_y, q=out_q, n=n)


def _gcall(g, t, y):
    """An event caller's values as a host float64 array of the batch shape."""
    return to_numpy(g(t, y)).astype(np.float64)


def _locate(g, t, y, h, ks, P, go, gn, hit, xp, batch, eps):
    """Illinois (modified regula falsi) on theta in [0, 1] for the members in ``hit``."""
    lo = np.zeros(batch)
    hi = np.ones(batch)
    glo = np.where(hit, go, -1.0)
    ghi = np.where(hit, gn, 1.0)
    side = np.zeros(batch, dtype=np.int8)
    t_np = to_numpy(t).astype(np.float64)
    h_np = to_numpy(h).astype(np.float64)
    best = np.where(ghi == 0, 1.0, np.nan)
    conv = ~hit | (ghi == 0)
    tol = 4 * eps * np.maximum(np.abs(t_np) + h_np, 1e-300)
    dt_np = to_numpy(y).dtype
    for _ in range(100):
        if conv.all():
            break
        g.active = (~conv).reshape(-1)
        denom = ghi - glo
        th = np.where(denom != 0, hi - ghi * (hi - lo) / np.where(denom != 0, denom, 1.0),
                      0.5 * (lo + hi))
        th = np.clip(th, lo, hi)
        th = np.where(conv, 1.0, th)
        th_x = xp.asarray(th.astype(dt_np), device=_device(y))
        yt = _dense(y, h, ks, P, th_x, xp)
        gt = _gcall(g, t + h * th_x, yt)
        gt = np.where(g.failed.reshape(batch), glo, gt)  # a failed member stops moving
        same_lo = np.sign(gt) == np.sign(glo)
        upd = ~conv & ~g.failed.reshape(batch)
        # Illinois: halve the retained end's value when the same side is kept twice
        new_lo = np.where(upd & same_lo, th, lo)
        new_hi = np.where(upd & ~same_lo, th, hi)
        glo_new = np.where(upd & same_lo, gt,
                           np.where(upd & ~same_lo & (side == 1), glo * 0.5, glo))
        ghi_new = np.where(upd & ~same_lo, gt,
                           np.where(upd & same_lo & (side == -1), ghi * 0.5, ghi))
        side = np.where(upd, np.where(same_lo, -1, 1), side).astype(np.int8)
        glo, ghi, lo, hi = glo_new, ghi_new, new_lo, new_hi
        best = np.where(upd, th, best)
        conv = conv | (gt == 0) | ((hi - lo) * h_np <= tol) | g.failed.reshape(batch)
    # the root estimate: the bracket end after the crossing when the bracket has closed
    return np.where(hit, np.where((hi - lo) * h_np <= tol, hi, best), np.nan)
