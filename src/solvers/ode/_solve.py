"""``solve_ode``: explicit Runge-Kutta integration of batches of ODE initial-value problems.

Every member of a batch has its own adaptive step size, its own status and its own events.
Rungs of the kernel ladder: a fused Numba kernel (one compiled loop per member, members
spread over threads) when the right-hand side compiles with Numba and the input is NumPy; a fused
CuPy kernel for right-hand sides given as sympy expressions on CuPy input; otherwise the
generic array-API rung (vectorized steps over the batch, finished members masked).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from probspace import Result, array_namespace, as_float_array, backend_for, get_backend, to_numpy
from probspace._validation import check_choice, check_int

from ._common import EventSpec, messages_for
from ._tableaus import TABLEAUS

__all__ = ["solve_ode", "ODEResult"]

METHODS = tuple(TABLEAUS)
# with numba="auto", a plain Python f is compiled only for batches at least this large (or when
# the "numba" backend is forced): compiling the fused kernel for a new f takes seconds
AUTO_NUMBA_MIN_MEMBERS = 16


class ODEResult(Result):
    """Result of :func:`solve_ode`.

    Attributes
    ----------
    t : array, shape (n_times,)
        Output times (``t_eval``; without it the step grid for fixed-step methods, or
        ``[t0, t1]`` for adaptive methods).
    y : array, shape ``(*batch, n_times, d)``
        Solution at ``t``; NaN after a member stopped (failure or terminal event).
    status : int array, shape batch
        0: reached ``t1``; 1: a terminal event stopped the member; -1: ``max_steps``
        reached; -2: non-finite state or derivative; -3: step-size underflow.
    message : str (unbatched) or NumPy str array of shape batch
    success : bool array, shape batch (``status >= 0``)
    nfev, nsteps, nreject : int arrays, shape batch
        Right-hand-side evaluations, accepted and rejected steps of each member.
    t_final : array, shape batch
        Time at which each member stopped (``t1`` on success, the event time for a
        terminal event, the last accepted time on failure).
    y_final : array, shape ``(*batch, d)``
        State at ``t_final``.
    t_events, y_events : lists (one entry per event function), present with ``events``
        ``t_events[i]`` has shape ``(*batch, n_max)`` and ``y_events[i]`` shape
        ``(*batch, n_max, d)``, padded with NaN; ``n_events[i]`` (shape batch) counts each
        member's events.  Unbatched, these are scipy's layouts ``(n,)`` and ``(n, d)``.
    backend : str
        The rung that ran: ``"numba"``, ``"cupy"`` or ``"generic"``.
    """


def _check_tspan(t_span):
    try:
        t0, t1 = (float(v) for v in t_span)
    except (TypeError, ValueError):
        raise ValueError(f"t_span must be a pair (t0, t1) of real numbers, got {t_span!r}") from None
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise ValueError(f"t_span must be finite, got {t_span!r}")
    if t1 == t0:
        raise ValueError(f"t_span must have t1 != t0, got {t_span!r}")
    return t0, t1


def _check_teval(t_eval, t0, t1):
    te = np.asarray(to_numpy(t_eval), dtype=np.float64)
    if te.ndim != 1:
        raise ValueError(f"t_eval must be one-dimensional, got shape {te.shape}")
    if not np.all(np.isfinite(te)):
        raise ValueError("t_eval must be finite")
    lo, hi = min(t0, t1), max(t0, t1)
    if te.size and (te.min() < lo or te.max() > hi):
        raise ValueError(f"t_eval must lie within t_span [{t0}, {t1}]")
    sgn = 1.0 if t1 > t0 else -1.0
    if te.size > 1 and not np.all(sgn * np.diff(te) > 0):
        raise ValueError("t_eval must be strictly monotonic in the direction of integration "
                         "(increasing, or decreasing when t1 < t0)")
    return te


def solve_ode(f, t_span, y0, /, *, method="dopri5", dt0=None, rtol=1e-6, atol=1e-9, t_eval=None,
              args=(), max_steps=100_000, events=None, max_step=None, numba="auto"):
    """Solve a batch of ODE initial-value problems ``y' = f(t, y, *args)``.

    Parameters
    ----------
    f : callable or :class:`SympyODE`
        The right-hand side.  Generic (vectorized) rung: ``f(t, y, *args)`` gets the whole
        batch, ``y`` of shape ``(*batch, d)`` and ``t`` of shape ``batch`` (each member's own
        time; a 0-d array when ``y0`` is unbatched; use ``t[..., None]`` to broadcast it
        against ``y``), and returns an array of the shape of ``y``.  Compiled (Numba) rung:
        ``f`` is called per member with ``t`` a float and ``y`` of shape ``(d,)`` and
        returns an array of shape ``(d,)``; every array in ``args`` whose leading dimensions
        equal the batch shape is indexed to the member's slice (so per-member parameters
        of shape ``batch`` arrive as scalars).  Code written component-wise, e.g.
        ``np.stack([y[..., 1], -y[..., 0]], axis=-1)`` or with ``np.empty_like(y)`` and
        ``out[..., i] = ...``, serves both rungs.  ``f`` may also be a ``numba.njit``
        function or the result of :func:`ode_from_sympy`.
    t_span : (t0, t1)
        Integration interval; ``t1 < t0`` integrates backward in time (``t_eval`` then
        decreasing; event directions refer to the order of integration, as in scipy).
    y0 : array, shape ``(*batch, d)``
        Initial states; leading dimensions form the batch.
    method : {"dopri5", "tsit5", "rk4", "heun", "euler"}
        ``"dopri5"``: Dormand-Prince 5(4) with PI step-size control and 4th-order dense
        output (Shampine's continuous extension).  ``"tsit5"``: Tsitouras' 5(4) pair, same
        cost per step, typically ~10% fewer steps and smaller errors at equal tolerance,
        with its own 4th-order interpolant.  The others are fixed-step and need ``dt0``.
    dt0 : float, optional
        Step size for fixed-step methods (equal steps no longer than ``dt0`` between
        consecutive output times); the first step for ``dopri5`` (chosen by Hairer's
        heuristic when omitted).
    rtol, atol : float
        Tolerances of the adaptive method; the error of a step is measured, per member, as
        the RMS over components of ``err / (atol + rtol * max(|y|, |y_new|))``.
    t_eval : array, optional
        Output times within ``t_span`` (strictly increasing), shared by all members.
        Adaptive methods fill them with the dense output; without ``t_eval`` they return
        only ``t0`` and ``t1``.
    args : tuple
        Extra arguments of ``f`` (and of event functions).
    max_steps : int
        Maximum number of attempted steps per member (status -1 when reached).
    events : callable or sequence of callables, optional
        ``g(t, y, *args)`` (same calling convention as ``f``) with optional attributes
        ``terminal`` (bool) and ``direction`` (-1, 0, 1) as in scipy.  Zero crossings within
        an accepted step are located on the dense output by the Illinois method (the root of
        the interpolant to near machine precision; the interpolant itself is accurate to the
        tolerance).  Adaptive methods only.  One root per event function and step is found
        (a sign change between the step's ends), as in scipy.  On the Numba rung event
        functions are compiled like ``f`` (per member, returning a float); on CuPy input a
        problem with events runs on the generic rung (the CUDA kernel has no events).
    max_step : float, optional
        Upper bound on the adaptive step size.
    numba : {"auto", True, False}
        The compiled rung (NumPy input only).  ``"auto"``: Numba-compiled functions and
        :func:`ode_from_sympy` right-hand sides always use it; a plain Python ``f`` is
        compiled when the batch has at least 16 members, when ``f`` fails on the whole batch
        (a per-member function), or under ``probspace.use_backend("numba")``; the compiled
        per-member ``f`` is checked
        against one vectorized call of ``f`` at ``(t0, y0)``: if ``f`` does not compile the
        generic rung runs, if the two disagree a ``ValueError`` asks for an explicit choice.
        Compiling the fused kernel for a new ``f`` takes a few seconds once per process
        (keep ``f`` a module-level function so repeated solves reuse it).  ``True``
        requires the compiled rung; ``False`` uses the generic rung.

    Returns
    -------
    ODEResult
        Arrays in the namespace and floating dtype of ``y0`` (the Numba and CuPy rungs
        compute in float64 and cast back; the generic rung computes in ``y0``'s dtype).

    Notes
    -----
    Every member has its own time, step size, error control, dense output, events and
    status: a stiff or fast member does not slow the others down (unlike a shared step
    over the batch), and on the compiled rungs a finished member costs nothing.  The error
    norm, the PI controller (beta = 0.04, safety 0.9, step ratio within [0.2, 10]) and
    Hairer's starting-step heuristic follow DOPRI5 (Hairer, Norsett & Wanner, Solving ODEs
    I, II.4 and IV.2); all rungs run the same arithmetic, so they agree to rounding and
    take the same steps.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import solve_ode
    >>> res = solve_ode(lambda t, y: -y, (0.0, 1.0), np.array([[1.0], [2.0]]), t_eval=[1.0])
    >>> np.allclose(res.y[:, -1, 0], [np.exp(-1), 2 * np.exp(-1)])
    True
    """
    from ._sympy import SympyODE

    sym = f if isinstance(f, SympyODE) else None
    if sym is None and not callable(f):
        raise TypeError(f"f must be callable or a SympyODE (from ode_from_sympy), got {type(f)}")
    check_choice(method, "method", METHODS)
    t0, t1 = _check_tspan(t_span)
    xp = array_namespace(y0)
    y0 = as_float_array(y0, "y0", xp, ndim_min=1)
    tab = TABLEAUS[method]
    if not isinstance(args, tuple):
        args = (args,)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not rtol > 0:
        raise ValueError(f"rtol must be a positive number, got {rtol!r}")
    if isinstance(atol, bool) or not isinstance(atol, numbers.Real) or not atol >= 0:
        raise ValueError(f"atol must be a non-negative number, got {atol!r}")
    rtol, atol = float(rtol), float(atol)
    if dt0 is not None:
        if isinstance(dt0, bool) or not isinstance(dt0, numbers.Real) or not (
                dt0 > 0 and math.isfinite(dt0)):
            raise ValueError(f"dt0 must be a positive finite number, got {dt0!r}")
        dt0 = float(dt0)
    elif not tab.adaptive:
        raise ValueError(f"dt0 is required for the fixed-step method {method!r}")
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    if max_step is None:
        max_step = abs(t1 - t0)
    elif isinstance(max_step, bool) or not isinstance(max_step, numbers.Real) or not max_step > 0:
        raise ValueError(f"max_step must be a positive number, got {max_step!r}")
    max_step = float(max_step)
    if numba not in ("auto", True, False):
        raise ValueError(f"numba must be 'auto', True or False, got {numba!r}")
    if events is not None:
        if not tab.adaptive:
            raise ValueError(f"events need a method with dense output (dopri5, tsit5), got {method!r}")
        if EventSpec.from_user(events) is None:
            events = None

    if t_eval is None:
        if tab.adaptive:
            t_out = np.array([t0, t1])
        else:
            n = max(1, math.ceil(abs(t1 - t0) / dt0 - 1e-9))
            t_out = t0 + (t1 - t0) * np.arange(n + 1) / n
            t_out[-1] = t1
    else:
        t_out = _check_teval(t_eval, t0, t1)

    # backward integration (t1 < t0): integrate tau = -t forward, dy/dtau = -f(-tau, y)
    sgn = 1.0 if t1 > t0 else -1.0
    t_phys = t_out
    t0_user = t0
    if sgn < 0:
        from ._common import reversed_events, reversed_vectorized
        t0, t1, t_out = -t0, -t1, -t_out
        if sym is not None:
            sym = sym.time_reversed()
        else:
            f = reversed_vectorized(f)
        if events is not None:
            events = reversed_events(events)

    batch = tuple(y0.shape[:-1])
    rung = backend_for(xp, available=("numba", "cupy", "generic"))
    if numba is True and rung != "numba":
        raise TypeError("numba=True needs NumPy input (the compiled rung runs on the host) and "
                        "no other forced backend")
    out, used = None, "generic"
    f_vec = sym.vectorized(xp) if sym is not None else f
    if sym is not None and rung == "cupy" and events is None:  # events: generic rung on CuPy
        from ._cupy import integrate_cupy
        out = integrate_cupy(sym, t0, t1, y0, tab, dt0=dt0, rtol=rtol, atol=atol, t_out=t_out,
                             args=args, max_steps=max_steps, max_step=max_step, xp=xp)
        used = "cupy"
    elif rung == "numba" and numba is not False:
        from ._numba import compile_member_function, integrate_numba, is_numba_function
        n_members = math.prod(batch) if batch else 1
        # compiling a kernel for a new f costs seconds: in auto mode only when it can pay
        worth = (numba is True or get_backend() == "numba" or sym is not None
                 or is_numba_function(f.forward if sgn < 0 else f)
                 or n_members >= AUTO_NUMBA_MIN_MEMBERS)
        if not worth and numba == "auto" and not _acts_on_batch(f.forward if sgn < 0 else f,
                                                                 t0_user, y0, args, batch):
            worth = True  # f only works per member: the compiled rung is the one that can run it
        f_member = None
        if sym is not None:
            f_member = sym.numba_function(inplace=True)
        elif worth:
            f_member = compile_member_function(f.forward if sgn < 0 else f, t0_user, y0, args,
                                               batch, required=numba is True)
        if f_member is not None:
            from ._numba import EventCompileError
            try:
                out = integrate_numba(f_member, t0, t1, to_numpy(y0), tab, dt0=dt0, rtol=rtol,
                                      atol=atol, t_out=t_out, args=args, max_steps=max_steps,
                                      events=events, max_step=max_step, batch=batch,
                                      inplace=sym is not None, reverse=sgn < 0 and sym is None)
                used = "numba"
            except EventCompileError:
                if numba is True:
                    raise
                out = None  # auto: event functions that only work vectorized -> generic rung
    if out is None:
        from ._generic import integrate_generic
        out = integrate_generic(f_vec, t0, t1, y0, tab, dt0=dt0, rtol=rtol, atol=atol, t_out=t_out,
                                args=args, max_steps=max_steps, events=events,
                                max_step=max_step, xp=xp)
        used = "generic"
    if sgn < 0:
        out["t_final"] = -np.asarray(out["t_final"], dtype=np.float64)
    return _pack(out, t_phys, xp, y0, batch, used, events, sgn)


def _acts_on_batch(f, t0, y0, args, batch):
    """Does ``f`` accept the whole batch (one call at t0)?"""
    try:
        out = np.asarray(f(np.full(batch, t0, dtype=y0.dtype), np.asarray(y0).copy(), *args))
    except Exception:
        return False
    return out.shape == tuple(y0.shape)


def _asx(a, xp, like, dtype=None):
    import array_api_compat
    a = np.asarray(a)
    arr = xp.asarray(a if a.flags.c_contiguous else a.copy(), device=array_api_compat.device(like))
    return arr if dtype is None or arr.dtype == dtype else xp.astype(arr, dtype)


def _pack(out, t_out, xp, y0, batch, used, events, sgn=1.0):
    dtype = y0.dtype
    status = np.asarray(out["status"], dtype=np.int32)
    y = out["y"]
    if not hasattr(y, "__array_namespace__") or isinstance(y, np.ndarray):
        y = _asx(y, xp, y0, dtype)
    y_final = out["y_final"]
    if not hasattr(y_final, "__array_namespace__") or isinstance(y_final, np.ndarray):
        y_final = _asx(y_final, xp, y0, dtype)
    msgs = messages_for(status)
    res = ODEResult(
        t=_asx(t_out, xp, y0, dtype),
        y=y,
        status=_asx(status, xp, y0),
        message=str(msgs[()]) if status.ndim == 0 else msgs,
        success=_asx(status >= 0, xp, y0),
        nfev=_asx(np.asarray(out["nfev"], dtype=np.int64), xp, y0),
        nsteps=_asx(np.asarray(out["nsteps"], dtype=np.int64), xp, y0),
        nreject=_asx(np.asarray(out["nreject"], dtype=np.int64), xp, y0),
        t_final=_asx(np.asarray(out["t_final"], dtype=np.float64), xp, y0, dtype),
        y_final=y_final,
        backend=used,
    )
    if events is not None:
        d = y0.shape[-1]
        t_ev, y_ev, n_ev = [], [], []
        for recs in out["events"]:
            te, ye, cnt = _assemble_events(recs, batch, d)
            te = sgn * te
            t_ev.append(_asx(te, xp, y0, dtype))
            y_ev.append(_asx(ye, xp, y0, dtype))
            n_ev.append(_asx(cnt, xp, y0))
        res["t_events"], res["y_events"], res["n_events"] = t_ev, y_ev, n_ev
    return res


def _assemble_events(recs, batch, d):
    """Records -> NaN-padded (t, y, counts).  ``recs`` is (list of (idx, t, y), ndim) from the
    generic rung or a ready (t, y, counts) triple from a compiled rung."""
    if isinstance(recs, tuple) and len(recs) == 3 and isinstance(recs[0], np.ndarray):
        return recs
    recs = recs[0]
    nb = int(np.prod(batch)) if batch else 1
    counts = np.zeros(nb, dtype=np.int64)
    for idx, _, _ in recs:
        np.add.at(counts, idx, 1)
    nmax = int(counts.max()) if nb else 0
    te = np.full((nb, nmax), np.nan)
    ye = np.full((nb, nmax, d), np.nan)
    pos = np.zeros(nb, dtype=np.int64)
    for idx, tr, yr in recs:
        te[idx, pos[idx]] = tr
        ye[idx, pos[idx]] = yr
        pos[idx] += 1
    return te.reshape(batch + (nmax,)), ye.reshape(batch + (nmax, d)), counts.reshape(batch)
