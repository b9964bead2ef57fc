"""``solve_sde``: fixed-step SDE integration of whole ensembles, with reproducible noise."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from probspace import Result, array_namespace, as_float_array, backend_for, get_backend, to_numpy
from probspace._validation import check_choice
from probspace.random import as_stream

from .._callables import CallArgs, check_args, is_numba_function
from .._status import MESSAGES, STATUS_CALLBACK, STATUS_MAX_STEPS, STATUS_NONFINITE
from ..ode._common import check_memory
from . import _noise as noise_mod
from ._member import MemberBatch, MemberFn, prepare_member
from ._steps import STEPS
from ._sympy import SymbolicSDE, is_symbolic

__all__ = ["solve_sde", "SDEResult"]

METHODS = ("euler_maruyama", "milstein", "heun", "sra1", "sri")
NOISES = ("diagonal", "scalar", "additive", "general")
CALCULI = ("ito", "stratonovich")
_LEVY_METHODS = ("sra1", "sri")
# per-member Python callables are compiled into the fused kernel for at least this many paths
# (or always under probspace.use_backend("numba")): compiling takes a second or more, which a
# few paths do not win back; smaller batches call them per member in Python
AUTO_NUMBA_MIN_PATHS = 16


class SDEResult(Result):
    """Result of :func:`solve_sde` (the fields of :class:`solvers.ODEResult`).

    Attributes
    ----------
    t : array, shape (n_times,)
        Saved times (every step, or ``t_eval``).
    y : array, shape ``(*batch, n_times, d)``
        The state at the saved times, in the namespace and dtype of ``y0``.  Rows after a
        path failed (status < 0) are NaN.
    t_final : array, shape batch
        Time each path stopped: ``t1`` on success, the start of the failing step otherwise.
    y_final : array, shape ``(*batch, d)``
        The state at ``t_final`` (the last finite state of a failed path).
    nsteps : int array, shape batch
        Steps each path took (accepted steps in the adaptive mode).
    status : int array, shape batch
        0: reached ``t1``; -1: ``max_steps`` reached (adaptive mode); -2: the state became
        NaN or infinite; -5: a user callable returned a value of the wrong shape.  The codes
        of :mod:`solvers` (``solvers/_status.py``), shared with :func:`solvers.solve_ode`.
    message : str (unbatched) or NumPy str array of shape batch
    success : bool array, shape batch (``status >= 0``)
    method, noise, calculus : str
    backend : str
        ``"numba"`` (one fused compiled loop per path), ``"cupy"`` (fused CUDA kernel) or
        ``"generic"`` (array steps over the batch) -- all draw the same noise for a seed.
    seed : int
        The Philox key of the root stream (path ``p`` uses its child ``path_offset + p``).
    nrejected : int array, shape batch
        Rejected steps (adaptive mode only).
    """


def _time_grid(t_span, dt):
    try:
        t0, t1 = (float(v) for v in t_span)
    except (TypeError, ValueError):
        raise ValueError(f"t_span must be a pair (t0, t1) of numbers, got {t_span!r}") from None
    if not (math.isfinite(t0) and math.isfinite(t1)) or not t1 > t0:
        raise ValueError(f"t_span must satisfy t0 < t1 (finite), got {t_span!r}")
    if dt is None or isinstance(dt, bool) or not isinstance(dt, numbers.Real):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    dt = float(dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    r = (t1 - t0) / dt
    n = round(r)
    if n >= 1 and abs(r - n) <= 1e-9 * max(1.0, r):
        N = int(n)
    else:
        N = int(math.ceil(r))
    if N > 10**9:
        raise ValueError(f"dt={dt} gives {N} steps; use a larger dt")
    return t0, t1, dt, N


def grid_times(t0, t1, dt, N):
    ts = t0 + dt * np.arange(N + 1, dtype=np.float64)
    ts[N] = t1
    return ts


def _save_indices(t_eval, ts, dt):
    N = ts.shape[0] - 1
    if t_eval is None:
        return np.arange(N + 1, dtype=np.int64)
    te = np.asarray(to_numpy(t_eval) if not isinstance(t_eval, (list, tuple)) else t_eval, dtype=np.float64)
    te = np.atleast_1d(te)
    if te.ndim != 1 or te.size == 0:
        raise ValueError("t_eval must be a non-empty 1-D sequence of times")
    if np.any(np.diff(te) <= 0):
        raise ValueError("t_eval must be strictly increasing")
    idx = np.searchsorted(ts, te)
    idx = np.clip(idx, 0, N)
    lo = np.clip(idx - 1, 0, N)
    pick = np.where(np.abs(ts[lo] - te) < np.abs(ts[idx] - te), lo, idx)
    if np.any(np.abs(ts[pick] - te) > 1e-9 * dt + 1e-12 * np.abs(te)):
        bad = te[np.abs(ts[pick] - te) > 1e-9 * dt + 1e-12 * np.abs(te)]
        raise ValueError(f"t_eval times must lie on the step grid t0 + n*dt (or equal t1); "
                         f"not on it: {bad[:5]}")
    return pick.astype(np.int64)


def _check_method(method, noise, calculus, has_dg):
    check_choice(method, "method", METHODS)
    check_choice(noise, "noise", NOISES)
    check_choice(calculus, "calculus", CALCULI)
    if method == "euler_maruyama" and calculus == "stratonovich" and noise != "additive":
        raise ValueError("method='euler_maruyama' converges to the Ito solution; for calculus="
                         "'stratonovich' use method='heun' or 'milstein', or convert the drift with "
                         "stratonovich_to_ito_drift")
    if method == "heun" and calculus == "ito" and noise != "additive":
        raise ValueError("method='heun' solves Stratonovich SDEs; pass calculus='stratonovich' "
                         "(or convert the drift with ito_to_stratonovich_drift)")
    if method == "milstein" and noise == "general":
        raise ValueError("method='milstein' supports diagonal, scalar and additive noise, not "
                         "noise='general' (it would need iterated Levy areas)")
    if method == "sra1" and noise != "additive":
        raise ValueError("method='sra1' needs noise='additive'")
    if method == "sri":
        if noise not in ("diagonal", "scalar", "additive"):
            raise ValueError("method='sri' supports diagonal, scalar and additive noise")
        if calculus != "ito" and noise != "additive":
            raise ValueError("method='sri' (SRIW1) solves Ito SDEs; pass calculus='ito'")
    if has_dg and method != "milstein":
        raise ValueError("diffusion_derivative is only used by method='milstein'")


class _VecCall:
    """A ``vectorized=True`` callable on the batch, its value's shape checked at every call."""

    def __init__(self, fn, args, name, tail):
        self.fn, self.args, self.name, self.tail = fn, tuple(args), name, tail

    def __call__(self, t, y):
        r = self.fn(t, y, *self.args)
        shape = getattr(r, "shape", None)
        want = tuple(y.shape[:-1]) + self.tail(y)
        if shape is None or tuple(shape) != want:
            got = "a value without a shape" if shape is None else f"shape {tuple(shape)}"
            raise ValueError(f"{self.name} (vectorized=True) returned {got} for y of shape "
                             f"{tuple(y.shape)}; expected {want} (the batch shape followed by "
                             "one member's shape). Values are never broadcast")
        if r.dtype != y.dtype:
            r = array_namespace(y).astype(r, y.dtype)
        return r


class _Problem:
    """The user's drift/diffusion (and diffusion derivative) in the forms the rungs need."""

    def __init__(self, drift, diffusion, noise, symbols, diffusion_derivative, args, vectorized,
                 m):
        self.symbolic = None
        self.vectorized = vectorized
        self.noise = noise
        self.m_arg = m
        self.members: dict[str, Any] = {}
        self.batchers: list = []
        self.raw = {"drift": drift, "diffusion": diffusion,
                    "diffusion_derivative": diffusion_derivative}
        self.args = args
        if is_symbolic(drift) or is_symbolic(diffusion):
            if not (is_symbolic(drift) and is_symbolic(diffusion)):
                raise TypeError("drift and diffusion must both be sympy expressions, or both "
                                "callables")
            self.symbolic = SymbolicSDE(drift, diffusion, symbols, noise)
            if args.raw:
                raise ValueError("args are not used with sympy expressions; substitute "
                                 "parameters (expr.subs(...)) instead")
            if diffusion_derivative is not None:
                raise ValueError("diffusion_derivative is derived symbolically for sympy input; "
                                 "do not pass it")
            if vectorized:
                raise ValueError("vectorized=True is for callables; sympy input is compiled")
            return
        for name in ("drift", "diffusion"):
            if not callable(self.raw[name]):
                raise TypeError(f"{name} must be callable or a sympy expression, got "
                                f"{type(self.raw[name]).__name__}")
        if diffusion_derivative is not None and not callable(diffusion_derivative):
            raise TypeError("diffusion_derivative must be callable")

    # ---------------------------------------------------------------- shapes and m
    def g_shape(self, d, m):
        """One member's diffusion shape: ``(d,)`` (diagonal/scalar/additive without ``m``),
        ``(d, m)`` (general, additive with ``m``); ``m`` None: read from the first value."""
        if self.noise in ("diagonal", "scalar"):
            return (d,)
        if self.noise == "additive" and self.m_arg is None:
            return (d,)
        return (d, m)

    def prepare(self, xp, y0a, t0, batch, rung, method):
        """Decide the callables' forms; returns ``m`` (Brownian motions)."""
        d = int(y0a.shape[-1])
        noise = self.noise
        if self.symbolic is not None:
            return self.symbolic.m
        m = self.m_arg
        if m is not None:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
                raise ValueError(f"m must be a positive integer, got {m!r}")
            m = int(m)
            if noise in ("diagonal", "scalar"):
                raise ValueError(f"m is implied by noise={noise!r} ({'d' if noise == 'diagonal' else 1}"
                                 "); pass m only for noise='general' or a (d, m) additive matrix")
        if self.vectorized:
            args = self.args.vectorized()
            self.F = _VecCall(self.raw["drift"], args, "drift", lambda y: (d,))
            if noise == "general" and m is None:
                g0 = self.raw["diffusion"](t0, y0a, *args)
                shape = tuple(getattr(g0, "shape", ()))
                if len(shape) != y0a.ndim + 1 or shape[:-1] != tuple(y0a.shape):
                    raise ValueError(f"diffusion (vectorized=True, noise='general') returned "
                                     f"shape {shape}; expected (*batch, d, m) = "
                                     f"{tuple(y0a.shape)} + (m,)")
                m = int(shape[-1])
            gsh = self.g_shape(d, m)
            self.G = _VecCall(self.raw["diffusion"], args, "diffusion", lambda y: gsh)
            dg = self.raw["diffusion_derivative"]
            self.DG = None if dg is None else _DerivCall(dg, args, noise)
            return _m_of(noise, d, m)
        # per member
        y_first = np.asarray(to_numpy(xp.reshape(y0a, (-1, d))[0, ...]), dtype=np.float64)
        P = math.prod(batch)
        compile_it = rung == "numba" and (P >= AUTO_NUMBA_MIN_PATHS or get_backend() == "numba"
                                          or any(is_numba_function(f) for f in self.raw.values()))
        mf, _ = prepare_member(self.raw["drift"], "drift", (d,), d, self.args, t0, y_first,
                               compile_it=compile_it)
        self.members["drift"] = mf
        gsh = self.g_shape(d, m if m is not None else None)
        mg, ref = prepare_member(self.raw["diffusion"], "diffusion", gsh, d, self.args, t0,
                                 y_first, compile_it=compile_it)
        self.members["diffusion"] = mg
        if noise == "general" and m is None:
            m = int(ref.shape[1])
        dg = self.raw["diffusion_derivative"]
        if dg is not None:
            self.members["diffusion_derivative"], _ = prepare_member(
                dg, "diffusion_derivative", (d,), d, self.args, t0, y_first,
                compile_it=compile_it)
        return _m_of(noise, d, m)

    @property
    def gmat(self):
        if self.symbolic is not None:
            return self.symbolic.gmat
        return self.noise == "general" or (self.noise == "additive" and self.m_arg is not None)

    def fused_ok(self):
        if self.symbolic is not None:
            return True
        return not self.vectorized and all(mf.compiled for mf in self.members.values())

    def member_fns(self):
        """MemberFn for drift, diffusion, derivative (None) on the fused rung."""
        if self.symbolic is not None:
            s = self.symbolic
            out = []
            for which, name, shape in (("f", "drift", (s.d,)),
                                       ("g", "diffusion", s.g.shape if s.gmat else (s.d,))):
                lines, outs = s.member_code(which)
                mf = MemberFn("symbolic", name, tuple(shape), lines=lines, outs=outs)
                mf.n_in = s.d
                out.append(mf)
            return out[0], out[1], None
        mb = self.members
        return mb["drift"], mb["diffusion"], mb.get("diffusion_derivative")

    def batch(self, xp, y0a, batch):
        """Batch callables (F, G, DG) on arrays of ``xp`` (the generic and adaptive rungs)."""
        if self.symbolic is not None:
            s = self.symbolic
            return s.batch(xp, "f"), s.batch(xp, "g"), None
        if self.vectorized:
            return self.F, self.G, self.DG
        mk = [MemberBatch(self.members[n], self.args, batch, xp, y0a.dtype)
              if n in self.members else None
              for n in ("drift", "diffusion", "diffusion_derivative")]
        self.batchers = [b for b in mk if b is not None]
        return mk[0], mk[1], mk[2]

    def failures(self, P):
        """(failed mask, messages) of per-member callables on the batch rungs."""
        failed = np.zeros(P, dtype=bool)
        msgs: dict = {}
        for b in self.batchers:
            for i, text in b.fail_msg.items():
                if not failed[i]:
                    msgs[i] = text
            failed |= b.failed
        return failed, msgs


class _DerivCall:
    """A ``vectorized=True`` diffusion derivative: shape of ``y`` (or the Jacobian
    ``(*batch, d, d)`` for scalar noise), checked at every call."""

    def __init__(self, fn, args, noise):
        self.fn, self.args, self.noise = fn, tuple(args), noise

    def __call__(self, t, y):
        r = self.fn(t, y, *self.args)
        shape = tuple(getattr(r, "shape", ()))
        ok = shape == tuple(y.shape) or (self.noise == "scalar"
                                         and shape == tuple(y.shape) + (y.shape[-1],))
        if not ok:
            raise ValueError(f"diffusion_derivative (vectorized=True) returned shape {shape}; "
                             f"expected {tuple(y.shape)}")
        return r


def _m_of(noise, d, m):
    if noise == "scalar":
        return 1
    if noise == "diagonal":
        return d
    if noise == "additive" and m is None:
        return d
    return int(m)


def _check_y0(y0, xp):
    dt = getattr(y0, "dtype", None)
    if dt is not None and xp.isdtype(dt, "complex floating"):
        raise TypeError("y0 is complex: solve_sde integrates real systems (solve the real and "
                        "imaginary parts as a real system of twice the size)")
    if dt is not None and dt == getattr(xp, "float16", None):
        raise TypeError("y0 is float16: solve_sde needs float32 or float64")
    return as_float_array(y0, "y0", xp, ndim_min=1)


def solve_sde(drift, diffusion, t_span, y0, /, *, method="euler_maruyama", noise="diagonal",
              calculus="ito", dt, seed=None, brownian=None, t_eval=None, args=(),
              vectorized=False, diffusion_derivative=None, symbols=None, m=None, path_offset=0,
              adaptive=False, rtol=1e-3, atol=1e-6, max_steps=100_000):
    """Integrate ``dY = drift dt + diffusion dW`` for a whole batch of paths.

    Parameters
    ----------
    drift, diffusion : callable or sympy expressions
        ``drift(t, y, *args)`` and ``diffusion(t, y, *args)``.  By default a callable receives
        **one member** (one path) -- ``t`` a float, ``y`` of shape ``(d,)`` -- as in
        ``scipy.integrate.solve_ivp`` and :func:`solvers.solve_ode`, and returns that member's
        value: the drift an array of shape ``(d,)``; the diffusion shape ``(d,)`` for
        ``noise="diagonal"`` (component ``i`` driven by ``W_i``), ``"scalar"`` (one ``W``
        drives every component) and ``"additive"`` without ``m``, shape ``(d, m)`` for
        ``"general"`` and for ``"additive"`` with ``m``.  Every value's shape is checked, at
        every call: nothing is broadcast.  For NumPy input the library compiles per-member
        callables into the fused kernel (one compiled loop per path): plain arithmetic
        (``lambda t, y: mu * y``) is compiled to allocation-free scalar code, anything else
        Numba supports is compiled as is; a callable Numba cannot compile runs per member in
        Python after a one-time :class:`solvers.CompileFallbackWarning`.  A callable taking
        one more positional parameter than ``args`` supplies, ``f(t, y, out, *args)``, writes
        its value into ``out`` instead (the allocation-free form for ``@numba.njit``
        functions).  With ``vectorized=True`` the callables receive the whole batch instead:
        ``y`` of shape ``(*batch, d)`` (any array-API namespace), ``t`` a float (an array of
        shape ``(P, 1)`` in the adaptive mode), and return ``(*batch, d)`` / ``(*batch, d)``
        or ``(*batch, d, m)``.  Nothing is inferred from shapes.  Sympy expressions (a list of
        ``d`` entries for the drift; ``d`` entries or a ``(d, m)`` Matrix for the diffusion) in
        ``symbols=(t, [y1, ..., yd])`` are compiled for NumPy (and CuPy) input.
    t_span : (t0, t1)
        Finite, ``t0 < t1``.
    y0 : array, shape (..., d)
        Initial states, real and finite; leading dimensions are the batch of paths.
    method : {"euler_maruyama", "milstein", "heun", "sra1", "sri"}
        Strong orders: EM 0.5 (1.0 for additive noise), Milstein 1.0 (diagonal/scalar noise;
        derivative-free Runge-Kutta form, or exact with ``diffusion_derivative``), Heun 1.0
        (Stratonovich, commutative noise), SRA1 1.5 (additive noise), SRI = SRIW1 1.5
        (Ito, diagonal/scalar noise, and additive noise also as a ``(d, m)`` matrix).  SRA1
        and SRI use the space-time Levy area.
    noise : {"diagonal", "scalar", "additive", "general"}
        The shape of the diffusion (see ``diffusion``).
    calculus : {"ito", "stratonovich"}
    dt : float
        Step size; the last step is shortened to end at ``t1``.
    seed : int, Stream or None
        Path ``p`` (C order over the batch) draws from child ``path_offset + p`` of the root
        stream; step ``n`` uses draws ``n*k .. n*k+k-1`` of that child (``k = m``, or
        ``2m`` for SRA1/SRI: the increments' normals then the Levy areas' normals).
    brownian : BrownianPath, optional
        Drive the paths with this Brownian path (shape ``(*batch, m)``, spanning ``t_span``)
        instead; the same path at any ``dt`` (used for convergence studies).
    t_eval : sequence of float, optional
        Times to save (each on the step grid).  ``None`` saves every step.
    args : tuple
        Extra arguments passed to every call of the callables (scipy's semantics); wrap an
        entry as :func:`solvers.per_member` to give each path its own value.
    vectorized : bool
        ``False`` (default): callables receive one member; ``True``: the whole batch.
    diffusion_derivative : callable, optional
        ``dg(t, y, *args)``: ``d g_i / d y_i``, shape ``(d,)`` per member (with
        ``vectorized=True`` the shape of ``y``, or for scalar noise the full Jacobian
        ``(*batch, d, d)``), for the exact Milstein correction.
    symbols : (t, [y1, ..., yd]), optional
        Symbols of sympy input.  Every free symbol of the expressions must be one of them
        (``ValueError`` naming the others); any names work (``lambda``, ``print``, ...): the
        generated code uses its own.
    m : int, optional
        Number of Brownian motions: for ``noise="general"`` (default: the number of columns
        of the diffusion's first value) and for additive noise given as a ``(d, m)`` matrix.
    path_offset : int
        Global index of this batch's first path (``ensemble`` uses it for chunks).
    adaptive : bool
        Per-path adaptive steps (``dt`` is the initial step), error estimated by step doubling
        (one step of ``h`` against two of ``h/2``) with tolerance ``atol + rtol |y|`` per
        component.  Needs ``brownian=``: rejected steps re-query the same Brownian tree, so
        rejection does not bias the solution.  Every method, on the generic rung.
        ``t_eval`` defaults to ``(t0, t1)``.
    rtol, atol : float
        Tolerances of the adaptive mode.
    max_steps : int
        Fixed steps: the grid may have at most this many steps (``ValueError`` before any
        work otherwise).  Adaptive mode: step attempts allowed; paths not finished get
        status -1.

    Returns
    -------
    SDEResult
        ``t``, ``y``, ``t_final``, ``y_final``, ``nsteps``, ``status``, ``message``,
        ``success``, ``backend``, ``seed``, ...

    Raises
    ------
    TypeError
        Callables that are not callable, complex or float16 ``y0``, ``args`` not a tuple.
    ValueError
        Bad ``t_span``, ``dt``, ``t_eval``, method/noise combinations, a callable whose first
        value has the wrong shape, sympy free symbols outside ``symbols``, a grid longer than
        ``max_steps``, output that cannot fit in memory.

    Notes
    -----
    Fixed-step solves draw their noise from the (path, step)-addressed stream; with
    ``brownian=`` (and always in the adaptive mode) the noise comes from the Brownian tree.

    NaN and inf: ``y0`` must be finite.  A path whose state becomes NaN or infinite stops
    with status -2 (``success`` False, a message saying so) at its last finite state
    (``t_final``, ``y_final``); its later rows of ``y`` are NaN.  A per-member callable that
    returns a value of the wrong shape during the run stops its path with status -5 and a
    message naming the shapes (``vectorized=True`` callables raise ``ValueError``: one path
    cannot be blamed).  The other paths are unaffected.

    Examples
    --------
    Geometric Brownian motion, written for one path (any batch size works the same way):

    >>> import numpy as np
    >>> from solvers import solve_sde
    >>> mu, sigma = 0.5, 0.3
    >>> res = solve_sde(lambda t, y: mu * y, lambda t, y: sigma * y, (0.0, 1.0),
    ...                 np.ones((3, 1)), dt=0.01, seed=1, t_eval=[1.0])
    >>> res.y.shape, bool(res.success.all())
    ((3, 1, 1), True)
    """
    check_choice(method, "method", METHODS)
    check_choice(noise, "noise", NOISES)
    check_choice(calculus, "calculus", CALCULI)
    if not isinstance(vectorized, (bool, np.bool_)):
        raise TypeError(f"vectorized must be True or False, got {vectorized!r}")
    args = check_args(args)
    _check_method(method, noise, calculus, diffusion_derivative is not None)
    if isinstance(path_offset, bool) or not isinstance(path_offset, numbers.Integral) or \
            path_offset < 0:
        raise ValueError(f"path_offset must be a non-negative integer, got {path_offset!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or \
            max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    xp = array_namespace(y0)
    y0a = _check_y0(y0, xp)
    d = int(y0a.shape[-1])
    batch = tuple(y0a.shape[:-1])
    P = math.prod(batch)
    cargs = CallArgs(args, batch)
    problem = _Problem(drift, diffusion, noise, symbols, diffusion_derivative, cargs,
                       bool(vectorized), m)
    if problem.symbolic is not None and problem.symbolic.d != d:
        raise ValueError(f"y0 has d={d} components but symbols list {problem.symbolic.d} "
                         "state variables")
    t0, t1, dt, N = _time_grid(t_span, dt)
    rung = backend_for(xp, available=("numba", "cupy", "generic"))
    if adaptive:
        return _adaptive(problem, method, noise, calculus, xp, y0a, d, t0, t1, dt, t_eval,
                         brownian, rtol, atol, max_steps, rung)
    if N > max_steps:
        raise ValueError(f"dt={dt!r} over t_span ({t0!r}, {t1!r}) needs {N} steps, more than "
                         f"max_steps={max_steps}; increase dt or max_steps")
    ts = grid_times(t0, t1, dt, N)
    save = _save_indices(t_eval, ts, dt)
    check_memory(8 * P * save.shape[0] * max(d, 1) * 2,
                 f"the output y ({P} paths of y0 x {save.shape[0]} saved times (t_eval) x d={d})",
                 "save fewer times with t_eval, or solve the paths in chunks (solvers.ensemble)")
    stream = as_stream(seed)
    if P == 0:  # no path: nothing to call or integrate
        t_out = _asx(ts[save], xp, y0a, y0a.dtype)
        return _pack(xp.zeros(batch + (save.shape[0], d), dtype=y0a.dtype),
                     np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros((0, d)), None,
                     np.zeros(0, dtype=np.int64), xp, y0a, batch, save, "generic", problem, {},
                     t=t_out, method=method, noise=noise, calculus=calculus, seed=stream.seed)
    mm = problem.prepare(xp, y0a, t0, batch, rung, method)
    k = 2 * mm if method in _LEVY_METHODS else mm
    if brownian is not None:
        _check_brownian(brownian, batch, mm, t0, t1)
    t_out = _asx(ts[save], xp, y0a, y0a.dtype)
    common = dict(t=t_out, method=method, noise=noise, calculus=calculus, seed=stream.seed)

    if brownian is None and rung in ("numba", "cupy") and P > 0 and problem.fused_ok():
        sids = noise_mod.path_ids(stream, path_offset, P)
        if rung == "numba":
            y, status, tf, yf, cb = _run_numba(problem, method, noise, calculus, y0a, mm, k, sids,
                                               stream.seed, t0, dt, N, t1, save, cargs)
            nsteps = np.where(status == 0, N, np.searchsorted(ts, tf))
            return _pack(y, status, tf, yf, cb, nsteps, xp, y0a, batch, save, "numba", problem,
                         {}, **common)
        if problem.symbolic is not None:
            from ._cupy import run_cupy
            y = run_cupy(problem.symbolic, method, noise, calculus, y0a, mm, k, sids, stream.seed,
                         t0, dt, N, t1, save)
            y = xp.reshape(y, batch + (save.shape[0], d))
            fin = np.asarray(to_numpy(xp.all(xp.isfinite(y[..., -1, :]), axis=-1))).reshape(-1)
            status = np.where(fin, 0, STATUS_NONFINITE).astype(np.int32)
            yl = np.asarray(to_numpy(y[..., -1, :]), dtype=np.float64).reshape(P, d)
            tf = np.where(fin, t1, math.nan)
            nsteps = np.full(P, N)
            return _pack(y, status, tf, yl, None, nsteps, xp, y0a, batch, save, "cupy",
                         problem, {}, **common)

    F, G, DG = problem.batch(xp, y0a, batch)
    y, status, tf, yf, nsteps = _run_vectorized(xp, rung, F, G, DG, method, noise, calculus, y0a,
                                                batch, d, mm, k, stream, path_offset, ts, save,
                                                brownian, problem)
    failed, msgs = problem.failures(P)
    return _pack(y, status, tf, yf, None, nsteps, xp, y0a, batch, save, "generic", problem,
                 msgs, failed=failed, **common)


def _asx(a, xp, like, dtype=None):
    import array_api_compat
    a = np.asarray(a)
    arr = xp.asarray(a if a.flags.c_contiguous else a.copy(), device=array_api_compat.device(like))
    return arr if dtype is None or arr.dtype == dtype else xp.astype(arr, dtype)


def _pack(y, status, tf, yf, cb, nsteps, xp, y0a, batch, save, backend, problem, cb_msgs, *,
          failed=None, nrejected=None, **common):
    """The result object: fields in the namespace of ``y0``, messages per path."""
    d = int(y0a.shape[-1])
    dtype = y0a.dtype
    status = np.asarray(status, dtype=np.int32).reshape(-1).copy()
    if failed is not None and failed.any():
        status[failed] = STATUS_CALLBACK
    msgs = np.empty(status.shape, dtype=object)
    for code, text in MESSAGES.items():
        msgs[status == code] = text
    if cb is not None:
        names = [mf.name for mf in problem.member_fns() if mf is not None] \
            if problem.symbolic is None else []
        for i in np.flatnonzero(status == STATUS_CALLBACK):
            msgs[i] = (f"{MESSAGES[STATUS_CALLBACK]} {' or '.join(names)} returned a value of "
                       f"size {int(cb[i])} in the step from t={float(tf[i])!r}; expected the "
                       "documented shape")
    for i, text in cb_msgs.items():
        if status[i] == STATUS_CALLBACK:
            msgs[i] = f"{MESSAGES[STATUS_CALLBACK]} {text}"
    for i in np.flatnonzero(status == STATUS_NONFINITE):
        if tf is not None and math.isfinite(float(tf[i])):
            msgs[i] = f"{MESSAGES[STATUS_NONFINITE]} (in the step from t={float(tf[i])!r})"
    msgs = msgs.astype(str).reshape(batch) if msgs.size else np.empty(batch, dtype=str)
    if not hasattr(y, "__array_namespace__") or isinstance(y, np.ndarray):
        y = _asx(np.reshape(np.asarray(y), batch + (save.shape[0], d)), xp, y0a, dtype)
    st = status.reshape(batch)
    res = SDEResult(
        y=y,
        t_final=_asx(np.asarray(tf, dtype=np.float64).reshape(batch), xp, y0a, dtype),
        y_final=_asx(np.asarray(yf, dtype=np.float64).reshape(batch + (d,)), xp, y0a, dtype),
        nsteps=_asx(np.asarray(nsteps, dtype=np.int64).reshape(batch), xp, y0a),
        status=_asx(st, xp, y0a),
        message=str(msgs[()]) if st.ndim == 0 else msgs,
        success=_asx(st >= 0, xp, y0a),
        backend=backend, **common)
    if nrejected is not None:
        res["nrejected"] = _asx(np.asarray(nrejected).reshape(batch), xp, y0a)
    return res


def _adaptive(problem, method, noise, calculus, xp, y0a, d, t0, t1, dt, t_eval, brownian,
              rtol, atol, max_steps, rung):
    from ._adaptive import solve_adaptive
    for name, v in (("rtol", rtol), ("atol", atol)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or \
                not (float(v) >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a non-negative number, got {v!r}")
    if rtol == 0 and atol == 0:
        raise ValueError("rtol and atol cannot both be 0")
    if brownian is None:
        raise ValueError("adaptive=True needs brownian= (a BrownianPath): rejected steps must "
                         "re-query the same Brownian path")
    batch = tuple(y0a.shape[:-1])
    P = math.prod(batch)
    if t_eval is None:
        te = np.array([t0, t1])
    else:
        te = np.atleast_1d(np.asarray(to_numpy(t_eval) if not isinstance(t_eval, (list, tuple))
                                      else t_eval, dtype=np.float64))
        if te.ndim != 1 or te.size == 0 or np.any(np.diff(te) <= 0) or te[0] < t0 or \
                te[-1] > t1:
            raise ValueError("t_eval must be strictly increasing times inside t_span")
    check_memory(8 * P * te.size * max(d, 1) * 2,
                 f"the output y ({P} paths of y0 x {te.size} saved times (t_eval) x d={d})",
                 "save fewer times with t_eval, or solve the paths in chunks (solvers.ensemble)")
    mm = problem.prepare(xp, y0a, t0, batch, rung, method)
    _check_brownian(brownian, batch, mm, t0, t1)
    F, G, DG = problem.batch(xp, y0a, batch)
    with np.errstate(all="ignore"):
        y, nacc, nrej, status, tf, yf = solve_adaptive(
            xp, F, G, DG, method, noise, calculus, y0a, batch, d, mm, brownian, t0, te[-1], te,
            float(rtol), float(atol), min(dt, t1 - t0), int(max_steps), gmat=problem.gmat)
    failed, msgs = problem.failures(P)
    t_out = _asx(te, xp, y0a, y0a.dtype)
    status = np.asarray(status, dtype=np.int32).reshape(-1)
    yf = np.asarray(to_numpy(yf), dtype=np.float64)
    return _pack(y, status, np.asarray(tf, dtype=np.float64), yf, None, nacc, xp, y0a, batch,
                 te, "generic", problem, msgs, failed=failed, nrejected=nrej, t=t_out,
                 method=method, noise=noise, calculus=calculus, seed=brownian.stream.seed)


def _run_numba(problem, method, noise, calculus, y0a, m, k, sids, key, t0, dt, N, t1, save,
               cargs):
    from ._numba import build_kernel, run_paths
    from ._numba_gen import build_em_kernel
    fm, gm, dgm = problem.member_fns()
    if method == "milstein" and problem.symbolic is not None:
        dgm = None  # derivative-free form (symbolic scalar noise would need the full L)
    gmat = problem.gmat
    flags, vals = cargs.numba()
    # the traced callables' numbers, one table after the user's args (offsets per callable)
    off, table = 0, []
    for mf in (fm, gm, dgm):
        if mf is not None:
            mf.const_off = off
            off += len(mf.consts)
            table += list(mf.consts)
    if table:  # (only then: an array in args costs reference counting at every call)
        vals = vals + (np.array(table, dtype=np.float64),)
    d = int(y0a.shape[-1])
    if method == "euler_maruyama" and not gmat and fm.scalar_code and gm.scalar_code:
        # scalar code for both: the generated kernel, vectorized across paths
        kern = build_em_kernel(d, (fm.lines, fm.outs, fm.consts, fm.const_off),
                               (gm.lines, gm.outs, gm.consts, gm.const_off), noise, flags)
        cost = 1.0
    else:
        kern = build_kernel(method, noise, calculus, gmat, fm.kernel_fn(flags),
                            gm.kernel_fn(flags), None if dgm is None else dgm.kernel_fn(flags))
        cost = 4.0
    Y0 = np.ascontiguousarray(np.reshape(np.asarray(to_numpy(y0a), dtype=np.float64), (-1, d)))
    P = Y0.shape[0]
    out = np.empty((P, save.shape[0], d))
    status = np.zeros(P, dtype=np.int32)
    tf = np.empty(P)
    yf = np.empty((P, d))
    cb = np.full(P, -1, dtype=np.int64)
    with np.errstate(all="ignore"):
        run_paths(kern, Y0, np.uint64(key), sids, float(t0), float(dt), int(N), float(t1), save,
                  out, int(m), int(k), vals, status, tf, yf, cb, cost_per_step=cost * d)
    return out, status, tf, yf, cb


def _check_brownian(bm, batch, m, t0, t1):
    from ._brownian import BrownianPath
    if not isinstance(bm, BrownianPath):
        raise TypeError(f"brownian must be a BrownianPath, got {type(bm).__name__}")
    want = tuple(batch) + (m,)
    if bm.shape != want:
        raise ValueError(f"brownian has shape {bm.shape}; this problem needs (*batch, m) = {want}")
    if bm.t0 > t0 or bm.t1 < t1:
        raise ValueError(f"brownian spans [{bm.t0}, {bm.t1}], which does not cover t_span [{t0}, {t1}]")



def _brownian_increments(bm, ts, levy):
    """dW and H on the step grid from a BrownianPath: arrays (E, N) (H None unless levy)."""
    T = bm.t1 - bm.t0
    N = ts.shape[0] - 1
    lev = int(round(math.log2(N))) if N >= 1 else 0
    if (bm.t0 == ts[0] and bm.t1 == ts[-1] and (1 << lev) == N and lev <= bm.depth
            and np.allclose(ts, bm.t0 + T * np.arange(N + 1) / N, rtol=0, atol=1e-12 * max(1.0, abs(T)))):
        W, H = bm._levels(lev)  # dyadic grid: the tree's own nodes, one pass
        return W, (H if levy else None)
    if levy:
        dw, h = bm.increment(ts[:-1], ts[1:], levy_area=True)
        xp = bm.xp
        return xp.reshape(dw, (bm.size, N)), xp.reshape(h, (bm.size, N))
    vals, _ = bm._descend(ts)
    return vals[:, 1:] - vals[:, :-1], None


def _noise_block(xp, rung, key, sids, first_step, nsteps, k, m, ts, device=None):
    """Scaled normals for steps ``first_step .. first_step+nsteps-1``: array (nsteps, k, P)
    (one step's contiguous), components ``< m`` times ``sqrt(h)`` (the Brownian increments),
    the others times ``sqrt(h / 12)`` (the Levy areas' normals)."""
    first = first_step * k
    cnt = nsteps * k
    P = sids.shape[0]
    h = np.diff(ts[first_step:first_step + nsteps + 1])
    scale = np.empty((nsteps, k))
    for j in range(k):  # (the same products as sqrt(h) * z, computed where z is made)
        scale[:, j] = np.sqrt(h) if j < m else np.sqrt(h / 12.0)
    if rung == "numba":
        z = xp.asarray(noise_mod.normals_numpy(key, sids, first, cnt, scale=scale.reshape(-1)))
        return xp.reshape(z, (nsteps, k, P))
    z = noise_mod.normals_generic(xp, key, sids, first, cnt, device=device)
    z = xp.permute_dims(xp.reshape(z, (P, nsteps, k)), (1, 2, 0))
    sc = xp.asarray(scale[:, :, None], dtype=z.dtype, device=device)
    return z * sc


def _run_vectorized(xp, rung, F, G, DG, method, noise, calculus, y0a, batch, d, m, k, stream,
                    path_offset, ts, save, brownian, problem):
    """Array steps over the whole batch; a path whose state leaves the reals is recorded at
    its first non-finite step (status -2) and its later rows are NaN."""
    step = STEPS[method]
    ctx = {"calculus": calculus, "dg": DG, "gmat": problem.gmat}
    P = math.prod(batch)
    N = ts.shape[0] - 1
    dtype = y0a.dtype
    try:
        import array_api_compat
        device = array_api_compat.device(y0a)
    except Exception:  # pragma: no cover
        device = None
    y = y0a
    saved = []
    si = 0
    while si < save.shape[0] and save[si] == 0:
        saved.append(y)
        si += 1
    levy = method in _LEVY_METHODS
    if brownian is not None:
        Wb, Hb = _brownian_increments(brownian, ts, levy)
        Wb = xp.reshape(Wb, (P, m, N))
        Hb = xp.reshape(Hb, (P, m, N)) if Hb is not None else None
    else:
        sids = noise_mod.path_ids(stream, path_offset, P)
        noise_rung = "numba" if rung == "numba" else "generic"
        chunk = max(1, min(N, 2_000_000 // max(1, P * k)))
    fail_step = np.full(P, -1, dtype=np.int64)   # first step whose result is not finite
    y_last = np.zeros((P, d))                      # the state before that step
    Z: Any = None
    with np.errstate(all="ignore"):
        for n in range(N):
            t = float(ts[n])
            h = float(ts[n + 1] - ts[n])
            if brownian is not None:
                dW = Wb[:, :, n]
                Hl = Hb[:, :, n] if levy else None
            else:
                j = n % chunk
                if j == 0:
                    Z = _noise_block(xp, noise_rung, stream.seed, sids, n, min(chunk, N - n), k,
                                     m, ts, device)
                z = Z[j, ...]  # (k, P): sqrt(h) z, then sqrt(h/12) z for the Levy areas
                dW = xp.matrix_transpose(z[:m, ...])
                Hl = xp.matrix_transpose(z[m:2 * m, ...]) if levy else None
            dW = xp.reshape(dW, batch + (m,))
            if dW.dtype != dtype:
                dW = xp.astype(dW, dtype)
            if Hl is not None:
                Hl = xp.reshape(Hl, batch + (m,))
                if Hl.dtype != dtype:
                    Hl = xp.astype(Hl, dtype)
            y_new = step(xp, noise, F, G, t, h, y, dW, Hl, ctx)
            # one reduction per step: the sum is finite unless some entry is not (or it
            # overflows, then the full check below finds nothing)
            if not math.isfinite(float(xp.sum(y_new))):
                fin = np.asarray(to_numpy(xp.all(xp.isfinite(xp.reshape(y_new, (P, d))),
                                                 axis=-1))).reshape(-1)
                new = ~fin & (fail_step < 0)
                if new.any():
                    fail_step[new] = n
                    y_last[new] = np.asarray(to_numpy(xp.reshape(y, (P, d))),
                                             dtype=np.float64)[new]
            y = y_new
            while si < save.shape[0] and save[si] == n + 1:
                saved.append(y)
                si += 1
    y_out = xp.stack(saved, axis=-2)
    failed = fail_step >= 0
    status = np.where(failed, STATUS_NONFINITE, 0).astype(np.int32)
    tf = np.where(failed, ts[np.maximum(fail_step, 0)], ts[-1])
    yf = np.asarray(to_numpy(xp.reshape(y, (P, d))), dtype=np.float64).copy()
    yf[failed] = y_last[failed]
    nsteps = np.where(failed, fail_step, N)
    if failed.any():
        # rows saved after the failing step are NaN
        drop = save[None, :] > fail_step[:, None]
        drop &= failed[:, None]
        mask = _asx(drop.reshape(batch + (save.shape[0], 1)), xp, y0a)
        y_out = xp.where(mask, xp.asarray(math.nan, dtype=y_out.dtype), y_out)
    return y_out, status, tf, yf, nsteps
