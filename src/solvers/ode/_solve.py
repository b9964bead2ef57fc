"""``solve_ode``: integration of batches of ODE initial-value problems (explicit Runge-Kutta
methods; the stiff methods rodas4 and kvaerno5 are dispatched to ``_implicit``).

Every member of a batch has its own adaptive step size, its own status and its own events.
Rungs of the kernel ladder: a fused Numba kernel (one compiled loop per member, members
spread over threads) for per-member right-hand sides on NumPy input; a fused CuPy kernel for
right-hand sides given as sympy expressions on CuPy input; otherwise the generic array-API
rung (vectorized steps over the batch, finished members masked).  The calling convention of
the user's callables lives in :mod:`solvers._callables`.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from probspace import Result, array_namespace, as_float_array, backend_for, get_backend, to_numpy
from probspace._validation import check_choice, check_int

from .._callables import (BatchCaller, CallArgs, PerMember, _row, check_args, compile_member,
                          is_numba_function, member_result_shape, warn_python_fallback)
from ._common import STATUS_CALLBACK, EventSpec, check_memory, messages_for
from ._implicit_tableaus import IMPLICIT_METHODS
from ._tableaus import TABLEAUS
from ._implicit_numba import DENSE_MAX

__all__ = ["solve_ode", "ODEResult"]

METHODS = tuple(TABLEAUS) + tuple(IMPLICIT_METHODS)
# a plain Python f is compiled into the fused kernel for batches of at least this many members
# (or always under probspace.use_backend("numba")): compiling a kernel for a new f takes
# seconds, which a smaller batch does not win back
AUTO_NUMBA_MIN_MEMBERS = 16
# below that, small problems (members x d up to this) run the same kernel in the interpreter,
# member by member: about scipy's speed per step (measured 60 ms vs scipy RK45 53 ms for 850
# Lorenz steps) where the batch-vectorized generic rung spends ~0.4 ms a step on bookkeeping
INTERPRETED_MAX_SIZE = 64


class ODEResult(Result):
    """Result of :func:`solve_ode`.

    Attributes
    ----------
    t : array, shape (n_times,)
        Output times: ``t_eval``; without it the step grid for fixed-step methods and
        ``[t0, t1]`` for adaptive methods (``[t0]`` when ``t1`` is infinite).  Unbatched
        problems return only the rows that were reached: after a terminal event or a failure
        the later ``t_eval`` times are dropped, and without ``t_eval`` the second time is
        ``t_final``.
    y : array, shape ``(*batch, n_times, d)``
        Solution at ``t``.  Batched problems keep every row: rows a member never reached
        (after its terminal event or failure) are NaN; ``n_out`` counts each member's valid
        rows (they are the first ``n_out``).
    t_final : array, shape batch
        Time at which each member stopped (``t1`` on success, the event time for a terminal
        event, the last accepted time on failure).
    y_final : array, shape ``(*batch, d)``
        State at ``t_final``.
    status : int array, shape batch
        0: reached ``t1``; 1: a terminal event stopped the member; -1: ``max_steps``
        reached; -2: non-finite state or derivative; -3: step-size underflow (the step no
        longer advances ``t``); -4: dopri5/tsit5 judged the problem stiff (use rodas4 or
        kvaerno5); -5: a user callable returned an invalid result (e.g. an array of the
        wrong length).  The codes of :mod:`solvers` (``solvers/_status.py``).
    message : str (unbatched) or NumPy str array of shape batch
    success : bool array, shape batch (``status >= 0``)
    nfev, nsteps, nreject : int arrays, shape batch
        Right-hand-side evaluations (finite-difference Jacobians included), accepted and
        rejected steps of each member.
    njev, nlu : int arrays, shape batch
        Jacobian evaluations and LU factorizations of each member (stiff methods; 0 for
        the explicit ones).
    n_out : int array, shape batch
        Rows of ``y`` each member reached.
    backend : str
        The rung that ran: ``"numba"``, ``"cupy"`` or ``"generic"``.
    t_events, y_events, n_events : lists (one entry per event function), present with ``events``
        Unbatched: scipy's layouts, ``t_events[i]`` of shape ``(n,)`` and ``y_events[i]`` of
        shape ``(n, d)`` (``(0,)`` when the event never occurred).  Batched: ``t_events[i]``
        of shape ``(*batch, n_max)`` and ``y_events[i]`` of shape ``(*batch, n_max, d)``,
        padded with NaN; ``n_events[i]`` (shape batch) counts each member's events.
    sol : DenseSolution or None
        With ``dense_output=True``: the solution as a callable, ``sol(t)`` of shape
        ``(*batch, d)`` or ``(*batch, n, d)``; ``sol[i]`` is member ``i``'s.
    """


# --------------------------------------------------------------------------- validation
def _check_tspan(t_span):
    try:
        t0, t1 = (float(v) for v in t_span)
    except (TypeError, ValueError):
        raise ValueError(f"t_span must be a pair (t0, t1) of real numbers, got {t_span!r}") \
            from None
    if not math.isfinite(t0) or math.isnan(t1):
        raise ValueError(f"t_span must have a finite t0 and a finite or infinite t1, got "
                         f"{t_span!r}")
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
    sgn = 1.0 if t1 >= t0 else -1.0
    if te.size > 1 and not np.all(sgn * np.diff(te) > 0):
        raise ValueError("t_eval must be strictly monotonic in the direction of integration "
                         "(increasing, or decreasing when t1 < t0)")
    return te


def _positive(value, name, *, allow_zero=False, allow_inf=False):
    ok_type = not isinstance(value, bool) and isinstance(value, numbers.Real)
    v = float(value) if ok_type else math.nan
    good = ok_type and (v >= 0 if allow_zero else v > 0) and (allow_inf or math.isfinite(v))
    if not good:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind}{'' if allow_inf else ' finite'} number, "
                         f"got {value!r}")
    return v


def _check_y0(y0, xp):
    dt = getattr(y0, "dtype", None)
    if dt is None:
        y0 = xp.asarray(y0)
        dt = y0.dtype
    if xp.isdtype(dt, "complex floating"):
        raise TypeError("y0 is complex: solve_ode integrates real systems. Solve for the real "
                        "and imaginary parts as a real system of twice the size, e.g. "
                        "y0r = concatenate([y0.real, y0.imag], axis=-1) with f returning the "
                        "real and imaginary parts of the derivative the same way")
    if dt == getattr(xp, "float16", None):
        raise TypeError("y0 is float16: solve_ode needs float32 or float64 (a float16 state "
                        "cannot meet usual tolerances)")
    return as_float_array(y0, "y0", xp, ndim_min=1)


# --------------------------------------------------------------------------- entry point
def solve_ode(f, t_span, y0, /, *, method="dopri5", dt0=None, rtol=1e-6, atol=1e-9, t_eval=None,
              args=(), max_steps=100_000, events=None, dense_output=False, jac=None,
              vectorized=False, max_step=None, numba=None):
    """Solve a batch of ODE initial-value problems ``y' = f(t, y, *args)``.

    Parameters
    ----------
    f : callable or :class:`SympyODE`
        The right-hand side ``f(t, y, *args)``.  By default a callable receives **one
        member** — ``t`` a float, ``y`` of shape ``(d,)`` — exactly as in
        ``scipy.integrate.solve_ivp``; the library compiles it (Numba) and runs it per
        member.  It returns that member's derivative: an array of shape ``(d,)`` (or a
        list/tuple of ``d`` numbers).  With ``vectorized=True`` it receives the whole batch
        (``y`` of shape ``(*batch, d)``, any array-API namespace; ``t`` of shape ``batch``,
        each member's own time, a 0-d array for an unbatched problem) and returns an array
        of ``y``'s shape, computing each member from that member's row only (members are at
        different times).  Nothing is inferred from shapes.  ``@njit`` functions and sympy
        expressions (:func:`ode_from_sympy`) are accepted too.  A plain Python ``f`` that
        Numba cannot compile runs per member in Python after a one-time
        :class:`solvers.CompileFallbackWarning` that says how to go faster (correct, but
        slow for large batches).  ``f`` must not modify ``y``.
    t_span : (t0, t1)
        Integration interval; ``t1 < t0`` integrates backward in time (``t_eval`` then
        decreasing; event directions refer to the order of integration, as in scipy).
        ``t0 == t1`` returns at once; ``t1`` may be infinite for adaptive methods (stop with
        a terminal event, or ``max_steps`` ends the run with status -1).
    y0 : array, shape ``(*batch, d)``
        Initial states; leading dimensions form the batch.  Must be real and finite
        (complex states: solve the real and imaginary parts as a real system of size
        ``2 d``; ``TypeError`` otherwise).  ``d = 0`` succeeds at once.
    method : {"dopri5", "tsit5", "rodas4", "kvaerno5", "rk4", "heun", "euler"}
        ``"dopri5"``: Dormand-Prince 5(4) with PI step-size control and 4th-order dense
        output (Shampine's continuous extension).  ``"tsit5"``: Tsitouras' 5(4) pair, same
        cost per step, typically ~10% fewer steps and smaller errors at equal tolerance,
        with its own 4th-order interpolant.  Both stop a member that the stiffness test
        judges stiff (status -4, see Notes).  Stiff methods: ``"rodas4"``, Hairer-Wanner's
        RODAS, a stiffly accurate L-stable Rosenbrock method of order 4(3) with 3rd-order
        dense output (Jacobian at every step, no Newton iteration); ``"kvaerno5"``,
        Kvaerno's stiffly accurate L-stable ESDIRK 5(4) with simplified Newton iterations,
        a Jacobian reused across steps and cubic Hermite dense output.  The others are
        fixed-step and need ``dt0``.
    dt0 : float, optional
        Step size for fixed-step methods (equal steps no longer than ``dt0`` between
        consecutive output times); the first step for adaptive methods (scipy's
        ``first_step``; chosen by Hairer's heuristic when omitted; it may not exceed the
        interval).
    rtol, atol : float
        Tolerances of the adaptive methods; the error of a step is measured, per member, as
        the RMS over components of ``err / (atol + rtol * max(|y|, |y_new|))``.
    t_eval : array, optional
        Output times within ``t_span`` (strictly monotonic in the direction of integration),
        shared by all members.  Adaptive methods fill them with the dense output.
    args : tuple
        Extra arguments passed unchanged to ``f``, the events (and ``jac``) on every call, as
        in scipy (a list is accepted; anything else raises ``TypeError``).  Wrap an entry as
        :func:`solvers.per_member` to give each member its own value: member ``i`` then
        receives ``array[i]`` (leading dimensions equal to the batch shape, ``ValueError``
        naming ``args[k]`` otherwise); with ``vectorized=True`` the whole array is passed.
    max_steps : int
        Maximum number of attempted steps per member (status -1 when reached).  Fixed-step
        methods check their step count against it before starting (``ValueError``).
    events : callable or sequence of callables, optional
        ``g(t, y, *args)`` with the calling convention of ``f``, returning a number per member
        (a ``(*batch)`` array with ``vectorized=True``); optional attributes as in scipy:
        ``terminal`` (``False``/``True``, or a positive integer ``k``: stop at the ``k``-th
        occurrence) and ``direction`` (its sign selects the crossing: +1 upward, -1
        downward, 0 both).  Zero crossings within an accepted step are located on the dense
        output by the Illinois method; one root per event function and step, as in scipy.
        Adaptive methods only.  Per-member event functions are compiled like ``f``.
    dense_output : bool
        Return ``sol``, the continuous solution (:class:`DenseSolution`): ``sol(t)`` of shape
        ``(*batch, d)`` or ``(*batch, n, d)``, ``sol[i]`` per member; NaN outside each
        member's ``[t0, t_final]``.  Adaptive methods only.
    jac : callable, optional
        Jacobian ``df/dy`` for the stiff methods, same calling convention as ``f``: one
        member returns shape ``(d, d)``; with ``vectorized=True`` the batch returns
        ``(*batch, d, d)``.  Its shape is checked on every call (status -5 with a message
        naming ``jac``).  Without it the Jacobian is derived exactly from a
        :class:`SympyODE` (``jac`` must then be None), otherwise by finite differences per
        member (central for rodas4, forward for kvaerno5).  The stiff methods factor a dense
        ``d x d`` matrix per member: ``d`` up to 128 (``ValueError`` beyond).  The explicit
        methods do not use ``jac`` (a warning says so, as scipy's does).
    vectorized : bool
        ``False`` (default): ``f``, events and ``jac`` receive one member at a time.
        ``True``: they receive the whole batch (see ``f``).
    max_step : float, optional
        Upper bound on the adaptive step size.
    numba : {None, True, False}
        Deprecated (a ``DeprecationWarning``): the rung follows the input and
        ``probspace.use_backend`` ("numba" compiles a per-member ``f`` for any batch size,
        "generic" runs the array-API rung).

    Returns
    -------
    ODEResult
        ``t``, ``y``, ``t_final``, ``y_final``, ``status``, ``message``, ``success``,
        ``nfev``, ``nsteps``, ``nreject``, ``n_out``, ``backend`` (and ``t_events``,
        ``y_events``, ``n_events``, ``sol``); arrays in the namespace and floating dtype of
        ``y0`` (the Numba and CuPy rungs compute in float64 and cast back; the generic rung
        computes in ``y0``'s dtype).

    Raises
    ------
    TypeError
        ``f`` not callable, ``args`` not a tuple, complex or float16 ``y0``.
    ValueError
        Bad ``t_span``, ``t_eval``, tolerances, step sizes, event attributes, ``per_member``
        shapes, a first call of ``f`` returning the wrong shape, a fixed-step grid longer
        than ``max_steps`` or output that cannot fit in memory.

    Notes
    -----
    NaN and inf: ``y0`` must be finite.  A right-hand side (or state) that becomes NaN or
    infinite makes the adaptive methods shrink the step; if it stays non-finite the member
    stops with status -2 at its last finite state, and rows after that are NaN (batched) or
    dropped (unbatched).  An adaptive member that blows up (status -2 or -3) locates its
    singularity only to about ``rtol * |t_fail - t0|``, so rows within ten times that of the
    failure are NaN / dropped as well: no value from past the pole is written.  Fixed-step
    methods have no error control: a step can jump over a singularity unnoticed (only a
    non-finite state stops them).  A callable that
    returns an array of the wrong length later in the run stops that member with status -5
    and a message naming the expected and the received shape (compiled kernels check every
    call).

    Every member has its own time, step size, error control, dense output, events and
    status: a stiff or fast member does not slow the others down (unlike a shared step
    over the batch), and on the compiled rungs a finished member costs nothing.  The error
    norm, the PI controller (beta = 0.04, safety 0.9, step ratio within [0.2, 10]) and
    Hairer's starting-step heuristic follow DOPRI5 (Hairer, Norsett & Wanner, Solving ODEs
    I, II.4 and IV.2); all rungs run the same arithmetic, so they agree to rounding and
    take the same steps.

    Stiffness: dopri5 and tsit5 apply Hairer's test (dopri5.f; Hairer & Wanner, Solving
    ODEs II, IV.2) every 1000 accepted steps, then at every step while it is positive:
    ``h |lambda|`` estimated from the two stages at ``t + h`` beyond 3.25 (dopri5; 3.45 for
    tsit5) fifteen times, without six negative tests in a row, stops the member with status
    -4.  The stiff methods use Hairer's RODAS/RADAU5 controller (safety 0.9, step ratio in
    [0.2, 6], Gustafsson's predictive control); kvaerno5 keeps its step and LU when the
    controller would grow it by less than 20% and recomputes the Jacobian when Newton
    contracts slowly (rate above 0.1) or fails.  Each member keeps its own Jacobian, LU
    factors and Newton history.  On very stiff problems the steps follow the slow manifold
    and can become long; the 3rd-order interpolant between them (``t_eval``,
    ``dense_output``, events) is then less accurate than the step end points (scipy's
    Radau behaves alike): bound the step with ``max_step`` where interpolated values
    matter.  rodas4 loses order on problems like ``y' = -lambda (y - g(t)) + g'(t)`` with
    moderate ``lambda h`` (Steinebach 1995) and then takes many steps at tight tolerances;
    kvaerno5 does not.  The CuPy rung runs the explicit methods only (no stiffness test);
    the stiff methods run on the Numba and generic rungs.  A plain Python ``f`` is compiled for batches of 16 members or more
    (a few seconds once per function and process, announced on stderr; keep ``f`` a
    module-level function so repeated solves reuse it).  Smaller problems (members x d up to
    64) run the same kernel loop in the interpreter, member by member, at about scipy's
    speed per step and without compiling (``backend`` reports ``"generic"``); other small
    batches run on the generic rung.  ``probspace.use_backend("numba")`` compiles at any size.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import solve_ode, per_member
    >>> def decay(t, y, k):                      # one member: y of shape (1,), k a float
    ...     return -k * y
    >>> res = solve_ode(decay, (0.0, 1.0), np.array([[1.0], [2.0]]), t_eval=[1.0],
    ...                 args=(per_member(np.array([1.0, 2.0])),))
    >>> np.allclose(res.y[:, -1, 0], [np.exp(-1), 2 * np.exp(-2)])
    True
    """
    from ._sympy import SympyODE

    sym = f if isinstance(f, SympyODE) else None
    if sym is None and not callable(f):
        raise TypeError(f"f must be callable or a SympyODE (from ode_from_sympy), got {type(f)}")
    check_choice(method, "method", METHODS)
    implicit = method in IMPLICIT_METHODS
    tab = IMPLICIT_METHODS[method] if implicit else TABLEAUS[method]
    t0, t1 = _check_tspan(t_span)
    if not isinstance(vectorized, (bool, np.bool_)):
        raise TypeError(f"vectorized must be True or False, got {vectorized!r}")
    vectorized = bool(vectorized)
    args = check_args(args)
    xp = array_namespace(y0)
    y0 = _check_y0(y0, xp)
    batch = tuple(y0.shape[:-1])
    d = int(y0.shape[-1])
    cargs = CallArgs(args, batch)
    rtol = _positive(rtol, "rtol")
    atol = _positive(atol, "atol", allow_zero=True)
    if dt0 is not None:
        dt0 = _positive(dt0, "dt0")
        if tab.adaptive and math.isfinite(t1) and dt0 > abs(t1 - t0):
            raise ValueError(f"dt0 (the first step of an adaptive method) = {dt0!r} exceeds the "
                             f"interval |t1 - t0| = {abs(t1 - t0)!r}")
    elif not tab.adaptive:
        raise ValueError(f"dt0 is required for the fixed-step method {method!r}")
    if not tab.adaptive and not math.isfinite(t1):
        raise ValueError(f"t_span must be finite for the fixed-step method {method!r}")
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    max_step = abs(t1 - t0) if max_step is None else _positive(max_step, "max_step", allow_inf=True)
    if max_step == 0.0:
        max_step = math.inf  # zero-length interval: no step is taken
    force = _numba_keyword(numba)
    if jac is not None:
        if not callable(jac):
            raise TypeError(f"jac must be callable, got {type(jac).__name__}")
        if sym is not None:
            raise ValueError("jac must not be given with a SympyODE right-hand side: its "
                             "Jacobian is derived exactly from the expressions")
        if not implicit:
            warnings.warn(f"jac has no effect for the explicit method {method!r}", UserWarning,
                          stacklevel=2)
    if implicit and d > DENSE_MAX:
        raise ValueError(f"method={method!r} factors a dense d x d matrix per member; d = {d} "
                         f"exceeds the dense limit DENSE_MAX = {DENSE_MAX} (use an explicit "
                         "method, or reduce the system)")
    if not isinstance(dense_output, (bool, np.bool_)):
        raise TypeError(f"dense_output must be True or False, got {dense_output!r}")
    dense_output = bool(dense_output)
    if dense_output and not tab.adaptive:
        raise ValueError("dense_output needs a method with an interpolant (dopri5, tsit5, "
                         f"rodas4, kvaerno5), got {method!r}")
    ev = None
    if events is not None:
        ev = EventSpec.from_user(events)
        if ev is not None and not tab.adaptive:
            raise ValueError("events need a method with dense output (dopri5, tsit5, rodas4, "
                             f"kvaerno5), got {method!r}")
    if sym is not None:
        _check_sympy_args(sym, cargs)

    # ---- output times
    if t_eval is None:
        if not tab.adaptive:
            n, _ = _grid_count(t0, t1, np.array([t1]), dt0, max_steps, method)
            n = max(int(n), 1)
            t_out = t0 + (t1 - t0) * np.arange(n + 1) / n
            t_out[-1] = t1
        elif math.isfinite(t1):
            t_out = np.array([t0, t1])
        else:
            t_out = np.array([t0])
    else:
        t_out = _check_teval(t_eval, t0, t1)
    n_members = math.prod(batch) if batch else 1
    check_memory(8 * n_members * t_out.size * max(d, 1) * 2, "the output y",
                 "save fewer times (t_eval)")
    if not tab.adaptive:
        _grid_count(t0, t1, t_out, dt0, max_steps, method)

    # ---- degenerate problems end at once
    if t0 == t1 or d == 0:
        return _trivial(t0, t1, t_out, y0, xp, batch, d, ev, dense_output, tab, t_eval is None)

    # ---- reversed time: integrate tau = -t forward (the rungs call f at -tau, negate f)
    sgn = 1.0 if t1 > t0 else -1.0
    t_phys = t_out
    if sgn < 0:
        t0, t1, t_out = -t0, -t1, -t_out
        if sym is not None:
            sym = sym.time_reversed()
    grid = None
    if not tab.adaptive:
        from ._generic import fixed_grid
        grid = fixed_grid(t0, t_out, dt0)

    rung = backend_for(xp, available=("numba", "cupy", "generic"))
    if force is False:
        rung = "generic"
    if force is True and rung != "numba":
        raise TypeError("numba=True needs NumPy input (the compiled rung runs on the host) and "
                        "no other forced backend")
    kw = dict(dt0=dt0, rtol=rtol, atol=atol, t_out=t_out, max_steps=max_steps, max_step=max_step)
    out, used = None, "generic"
    if implicit:
        from ._implicit import run_implicit
        out, used = run_implicit(method, f, sym, jac, ev, t0, t1, sgn, y0, cargs, batch, force,
                                 vectorized, xp, rung, dense_output, kw)
    elif sym is not None and rung == "cupy" and ev is None and not dense_output:
        from ._cupy import integrate_cupy
        out = integrate_cupy(sym, t0, t1, y0, tab, cargs=cargs, xp=xp, grid=grid, **kw)
        used = "cupy"
    elif rung == "numba" and (sym is not None or not vectorized):
        out = _try_numba(f, sym, ev, t0, t1, sgn, y0, tab, cargs, batch, force, dense_output,
                         grid, kw)
        if out is not None:
            # (the interpreted kernel is not compiled: it reports the generic label)
            used = "generic" if out.pop("interpreted", False) else "numba"
    if out is None:
        if sym is None and not vectorized and rung == "cupy":
            warn_python_fallback(f, "CuPy input: per-member callables are not compiled for the "
                                 "GPU", name="f", stacklevel=3)
        out = _run_generic(f, sym, ev, t0, t1, sgn, y0, tab, cargs, batch, vectorized, xp,
                           dense_output, grid, kw)
        used = "generic"
    if tab.adaptive:
        _trim_blowup(out, t0, t_out, rtol, xp, y0)
    if sgn < 0:
        out["t_final"] = -np.asarray(out["t_final"], dtype=np.float64)
        if "t_valid" in out:
            out["t_valid"] = -out["t_valid"]
    return _pack(out, t_phys, xp, y0, batch, used, ev, sgn, t_span_user=(sgn * t0, sgn * t1),
                 t_eval_given=t_eval is not None, adaptive=tab.adaptive, dense=dense_output)


def _numba_keyword(numba):
    if numba is None:
        return None
    if numba not in ("auto", True, False):
        raise ValueError(f"numba must be None, True or False (deprecated), got {numba!r}")
    if numba == "auto":
        return None
    warnings.warn("solve_ode(numba=...) is deprecated: the rung follows the input (NumPy -> "
                  "compiled) and probspace.use_backend('numba' | 'generic') forces one",
                  DeprecationWarning, stacklevel=3)
    return bool(numba)


def _grid_count(t0, t1, t_out, dt0, max_steps, method):
    """Steps of the fixed-step grid, checked against max_steps before anything is built."""
    from ._generic import grid_steps
    n, _ = grid_steps(t0, np.asarray(t_out, dtype=np.float64), dt0)
    total = float(n.sum())
    if total > max_steps:
        raise ValueError(f"method={method!r} with dt0={dt0!r} needs {total:.6g} steps over "
                         f"t_span ({t0!r}, {t1!r}), more than max_steps={max_steps}; increase "
                         "dt0 or max_steps")
    check_memory(24 * total, f"the fixed-step grid of {total:.6g} steps", "increase dt0")
    return total, n


def _check_sympy_args(sym, cargs):
    if len(cargs.raw) != len(sym.params):
        raise TypeError(f"the sympy right-hand side takes {len(sym.params)} parameter(s) (args), "
                        f"got {len(cargs.raw)}")
    for k, a in enumerate(cargs.raw):
        if isinstance(a, PerMember):
            shape = tuple(np.shape(to_numpy(a.value)))
            if shape != cargs.batch:
                raise ValueError(f"args[{k}] is per_member(...) with shape {shape}; a sympy "
                                 f"parameter takes one number per member: shape {cargs.batch}")
        elif not (isinstance(a, numbers.Real) and not isinstance(a, bool)) and np.ndim(
                to_numpy(a)) != 0:
            raise TypeError(f"args[{k}]: a sympy parameter is a number, or "
                            "solvers.per_member(array of the batch shape) for one value per "
                            f"member; got {type(a).__name__} of shape {np.shape(to_numpy(a))}")


# --------------------------------------------------------------------------- rungs
def _member_probe(f, t0, y_member, margs, out_shape, name):
    """Call a per-member callable once at the start and check the shape of its value."""
    r = f(float(t0), y_member, *margs)
    shape = member_result_shape(r)
    if shape != tuple(out_shape):
        got = "a value that is not an array" if shape is None else f"shape {shape}"
        want = "a number" if out_shape == () else f"shape {tuple(out_shape)}"
        raise ValueError(f"{name} returned {got} for one member at t0 (y of shape "
                         f"{tuple(y_member.shape)}); expected {want}. By default callables "
                         "receive one member (t a float, y of shape (d,)); pass "
                         "vectorized=True for a function of the whole batch")
    return r


def _try_numba(f, sym, ev, t0, t1, sgn, y0, tab, cargs, batch, force, dense, grid, kw):
    """The fused Numba kernel, or None when the callables should run on the generic rung."""
    from ._numba import KernelCompileError, integrate_numba
    y0n = np.asarray(to_numpy(y0), dtype=np.float64)
    d = y0n.shape[-1]
    t0_phys = sgn * t0
    evj = None
    if sym is not None:
        f_member = sym.numba_function(inplace=True)
        inplace, reverse = True, False
        if ev is not None:
            evj = _compile_events(ev, t0_phys, y0n, cargs, force, required=True)
    else:
        n_members = math.prod(batch) if batch else 1
        want = (force is True or get_backend() == "numba" or is_numba_function(f)
                or n_members >= AUTO_NUMBA_MIN_MEMBERS)
        small = n_members * d <= INTERPRETED_MAX_SIZE and force is not True
        if not want and not small:
            return None
        probe = (t0_phys, np.ascontiguousarray(y0n.reshape(-1, d)[0].copy()),
                 *cargs.numba_member(0))
        ref = _member_probe(f, probe[0], probe[1], probe[2:], (d,), "f")
        inplace, reverse = False, sgn < 0
        if not want:
            if ev is not None:
                for i, g in enumerate(ev.funcs):
                    _member_probe(g, probe[0], probe[1], probe[2:], (), f"events[{i}]")
            return _interpreted(f, ev, t0, t1, y0n, tab, cargs, batch, sgn, dense, grid, kw)
        from ._numba import _UNROLL_MAX
        f_member, reason = compile_member(f, probe, name="f", reference=ref,
                                          returns_length=d if d <= _UNROLL_MAX else None)
        if f_member is None:
            _fallback(f, reason, "f", force)
            return _interpreted(f, ev, t0, t1, y0n, tab, cargs, batch, sgn, dense, grid, kw) \
                if small else None
        if ev is not None:
            evj = _compile_events(ev, t0_phys, y0n, cargs, force)
            if evj is None:
                return _interpreted(f, ev, t0, t1, y0n, tab, cargs, batch, sgn, dense, grid,
                                    kw) if small else None
    try:
        return integrate_numba(f_member, t0, t1, y0n, tab, cargs=cargs, events=evj,
                               batch=batch, inplace=inplace, reverse=reverse,
                               reverse_events=sgn < 0, dense=dense, grid=grid, **kw)
    except KernelCompileError as exc:
        if sym is not None:
            raise TypeError(f"the sympy kernel did not compile: {exc}") from exc
        return _fallback(f, f"the fused kernel did not compile: {exc}", "f", force)


def _interpreted(f, ev, t0, t1, y0n, tab, cargs, batch, sgn, dense, grid, kw):
    """The fused kernel's source run by the interpreter, member by member (small problems)."""
    from ._numba import integrate_numba
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = integrate_numba(f, t0, t1, y0n, tab, cargs=cargs, events=ev, batch=batch,
                              inplace=False, reverse=sgn < 0, reverse_events=sgn < 0,
                              dense=dense, grid=grid, jit=False, **kw)
    out["interpreted"] = True
    return out


def _fallback(f, reason, name, force):
    if force is True:
        raise TypeError(f"numba=True but {name} could not be compiled: {reason}")
    warn_python_fallback(f, reason, name=name, stacklevel=5)
    return None


def _compile_events(ev, t0, y0n, cargs, force, required=False):
    d = y0n.shape[-1]
    funcs = []
    for i, g in enumerate(ev.funcs):
        probe = (t0, np.ascontiguousarray(y0n.reshape(-1, d)[0].copy()), *cargs.numba_member(0))
        ref = _member_probe(g, probe[0], probe[1], probe[2:], (), f"events[{i}]")
        gj, reason = compile_member(g, probe, name=f"events[{i}]", reference=ref)
        if gj is None:
            if required:
                raise TypeError(f"events[{i}] must compile with Numba as g(t: float, y: (d,), "
                                f"*args) -> float: {reason}")
            _fallback(g, reason, f"events[{i}]", force)
            return None
        funcs.append(gj)
    return ev.with_funcs(funcs)


def _run_generic(f, sym, ev, t0, t1, sgn, y0, tab, cargs, batch, vectorized, xp, dense, grid, kw):
    from ._generic import integrate_generic
    if sym is not None:
        fv, vec = sym.vectorized(xp), True  # already in reversed time when sgn < 0
        fsign = 1.0
    else:
        fv, vec, fsign = f, vectorized, sgn
    if not vec:  # check one member's value at the start (clear error at the boundary)
        yflat = xp.reshape(y0, (-1, y0.shape[-1]))
        _member_probe(fv, sgn * t0, _row(yflat, 0), cargs.member(0), (y0.shape[-1],), "f")
    F = BatchCaller(fv, cargs, vectorized=vec, batch=batch, out_shape=(y0.shape[-1],), xp=xp,
                    dtype=y0.dtype, name="f", t_sign=fsign, v_sign=fsign)
    evs = None
    if ev is not None:
        ev_vec = vectorized
        calls = []
        for i, g in enumerate(ev.funcs):
            if not ev_vec:
                yflat = xp.reshape(y0, (-1, y0.shape[-1]))
                _member_probe(g, sgn * t0, _row(yflat, 0), cargs.member(0), (), f"events[{i}]")
            calls.append(BatchCaller(g, cargs, vectorized=ev_vec, batch=batch, out_shape=(),
                                     xp=xp, dtype=y0.dtype, name=f"events[{i}]", t_sign=sgn))
        evs = ev.with_funcs(calls)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # (non-finite values are handled by the status codes)
        return integrate_generic(F, t0, t1, y0, tab, events=evs, xp=xp, dense=dense, grid=grid,
                                 **kw)


# --------------------------------------------------------------------------- results
# A member that fails by blowing up (status -2 or -3) locates its singularity only to about
# rtol * |t_fail - t0| (measured: within 0.6 rtol on y' = y^2, y^3, 1 + y^2, exp(y), y^1.5 for
# rtol 1e-3..1e-10), so output rows that close to the failure may lie past the true pole.
BLOWUP_BAND = 10.0


def _trim_blowup(out, t0, t_out, rtol, xp, y0):
    """NaN the output rows within BLOWUP_BAND * rtol * |t_fail - t0| of a blow-up failure (in
    integration time); their values may come from past the true singularity."""
    from ._common import STATUS_NONFINITE, STATUS_UNDERFLOW
    status = np.asarray(out["status"]).reshape(-1)
    blown = (status == STATUS_NONFINITE) | (status == STATUS_UNDERFLOW)
    if not blown.any() or t_out.size == 0:
        return
    tf = np.asarray(out["t_final"], dtype=np.float64).reshape(-1)
    cut = tf - BLOWUP_BAND * rtol * np.abs(tf - t0)
    out["t_valid"] = np.where(blown, np.maximum(cut, t0), tf).reshape(np.shape(out["status"]))
    n_out = np.asarray(out["n_out"], dtype=np.int64).reshape(-1).copy()
    keep = np.searchsorted(t_out, cut, side="right")
    n_new = np.where(blown, np.minimum(n_out, keep), n_out)
    if np.array_equal(n_new, n_out):
        return
    drop = np.arange(t_out.size)[None, :] >= n_new[:, None]
    drop &= blown[:, None]
    shape = tuple(np.shape(out["status"]))
    mask = _asx(drop.reshape(shape + (t_out.size, 1)), xp, y0)
    y = out["y"]
    if isinstance(y, np.ndarray):
        y = np.where(drop.reshape(shape + (t_out.size, 1)), np.nan, y)
    else:
        y = xp.where(mask, xp.asarray(float("nan"), dtype=y.dtype), y)
    out["y"] = y
    out["n_out"] = n_new.reshape(shape)


def _asx(a, xp, like, dtype=None):
    import array_api_compat
    a = np.asarray(a)
    arr = xp.asarray(a if a.flags.c_contiguous else a.copy(), device=array_api_compat.device(like))
    return arr if dtype is None or arr.dtype == dtype else xp.astype(arr, dtype)


def _trivial(t0, t1, t_out, y0, xp, batch, d, ev, dense, tab, default_t):
    """Zero-length interval or d = 0: nothing to integrate."""
    n = t_out.size
    if default_t and tab.adaptive and t0 != t1 and d == 0:
        t_out = np.array([t0, t1]) if math.isfinite(t1) else np.array([t0])
        n = t_out.size
    y = xp.broadcast_to(xp.expand_dims(y0, axis=-2), batch + (n, d)) if n else \
        xp.empty(batch + (0, d), dtype=y0.dtype)
    y = xp.asarray(y, copy=True) if n else y
    out = dict(y=y, status=np.zeros(batch, dtype=np.int32), nfev=np.zeros(batch, dtype=np.int64),
               nsteps=np.zeros(batch, dtype=np.int64), nreject=np.zeros(batch, dtype=np.int64),
               t_final=np.full(batch, t1 if d == 0 else t0), y_final=y0,
               n_out=np.full(batch, n, dtype=np.int64), cb_msgs={})
    if ev is not None:
        out["events"] = [(np.full(batch + (0,), np.nan), np.full(batch + (0, d), np.nan),
                          np.zeros(batch, dtype=np.int64)) for _ in ev.funcs]
    res = _pack(out, t_out, xp, y0, batch, "generic", ev, 1.0, t_span_user=(t0, t1),
                t_eval_given=not default_t, adaptive=True, dense=False, trivial=True)
    if dense:
        from ._dense import constant_solution
        res["sol"] = constant_solution(to_numpy(y0), t0, t1 if d == 0 else t0, batch=batch,
                                       xp=xp, like=y0, dtype=y0.dtype)
    return res


def _messages(status, out):
    """Per-member messages: the shared text of each code, with the callback details."""
    msgs = messages_for(status)
    cb_msgs = dict(out.get("cb_msgs") or {})
    cb = out.get("cb")
    if cb is not None:  # compiled rung: (received length, time) per member
        lens, times = cb
        for i in np.flatnonzero(lens >= 0):
            cb_msgs[int(i)] = (f"f returned an array of shape ({int(lens[i])},) in the step "
                               f"from t={float(times[i])!r}; expected shape ({out['d']},)")
    if cb_msgs:
        msgs = msgs.astype(object)
        flat = msgs.reshape(-1)
        for i, text in cb_msgs.items():
            if status.reshape(-1)[i] == STATUS_CALLBACK:
                flat[i] = f"{flat[i]} {text}".strip()
        msgs = flat.reshape(status.shape).astype(str)
    return msgs


def _pack(out, t_out, xp, y0, batch, used, ev, sgn=1.0, *, t_span_user, t_eval_given, adaptive,
          dense, trivial=False):
    dtype = y0.dtype
    d = int(y0.shape[-1])
    out.setdefault("d", d)
    status = np.asarray(out["status"], dtype=np.int32).reshape(batch)
    y = out["y"]
    if not hasattr(y, "__array_namespace__") or isinstance(y, np.ndarray):
        y = _asx(y, xp, y0, dtype)
    y_final = out["y_final"]
    if not hasattr(y_final, "__array_namespace__") or isinstance(y_final, np.ndarray):
        y_final = _asx(y_final, xp, y0, dtype)
    t_final = np.asarray(out["t_final"], dtype=np.float64).reshape(batch)
    n_out = np.asarray(out["n_out"], dtype=np.int64).reshape(batch)
    msgs = _messages(status, out)
    t_rows = np.asarray(t_out, dtype=np.float64)
    if not batch:
        # unbatched: only the rows that were reached (scipy's layout)
        t0 = t_span_user[0]
        if adaptive and not t_eval_given and not trivial:
            tf = float(t_final)
            # a blow-up's final state lies at (or past) the singularity: not an output row
            reached = status >= 0 or (tf != t0 and "t_valid" not in out)
            t_rows = np.array([t0, tf]) if reached else np.array([t0])
            y = xp.stack([y0, y_final], axis=0) if reached else xp.expand_dims(y0, axis=0)
            n_out = np.asarray(t_rows.size, dtype=np.int64)
        else:
            k = int(n_out)
            t_rows = t_rows[:k]
            y = y[:k, ...]
    res = ODEResult(
        t=_asx(t_rows, xp, y0, dtype),
        y=y,
        t_final=_asx(t_final, xp, y0, dtype),
        y_final=y_final,
        status=_asx(status, xp, y0),
        message=str(msgs[()]) if status.ndim == 0 else msgs,
        success=_asx(status >= 0, xp, y0),
        nfev=_asx(np.asarray(out["nfev"], dtype=np.int64).reshape(batch), xp, y0),
        nsteps=_asx(np.asarray(out["nsteps"], dtype=np.int64).reshape(batch), xp, y0),
        nreject=_asx(np.asarray(out["nreject"], dtype=np.int64).reshape(batch), xp, y0),
        njev=_asx(np.asarray(out.get("njev", 0), dtype=np.int64).reshape(batch)
                  if "njev" in out else np.zeros(batch, dtype=np.int64), xp, y0),
        nlu=_asx(np.asarray(out.get("nlu", 0), dtype=np.int64).reshape(batch)
                 if "nlu" in out else np.zeros(batch, dtype=np.int64), xp, y0),
        n_out=_asx(n_out, xp, y0),
        backend=used,
    )
    if ev is not None:
        t_ev, y_ev, n_ev = [], [], []
        for recs in out["events"]:
            te, ye, cnt = _assemble_events(recs, batch, d)
            te = sgn * te
            if not batch and int(cnt) == 0:
                ye = np.zeros((0,))  # scipy's shape for an event that never occurred
            t_ev.append(_asx(te, xp, y0, dtype))
            y_ev.append(_asx(ye, xp, y0, dtype))
            n_ev.append(_asx(cnt, xp, y0))
        res["t_events"], res["y_events"], res["n_events"] = t_ev, y_ev, n_ev
    else:
        res["t_events"] = res["y_events"] = None
    res["sol"] = None
    if dense and out.get("dense") is not None:
        from ._dense import DenseSolution
        dn = out["dense"]
        # (a member that blew up is defined only up to its last trusted time)
        t_valid = out.get("t_valid", t_final)
        y_end = np.asarray(to_numpy(out["y_final"]), dtype=np.float64).reshape(batch + (d,))
        y_end = np.where((np.asarray(t_valid) == t_final)[..., None], y_end, np.nan)
        res["sol"] = DenseSolution(dn["t"], dn["h"], dn["y"], dn["q"], dn["n"], t_span_user[0],
                                   t_valid, sign=sgn, batch=batch, xp=xp, like=y0, dtype=dtype,
                                   y_end=y_end)
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
