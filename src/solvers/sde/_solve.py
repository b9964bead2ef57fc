"""``solve_sde``: fixed-step SDE integration of whole ensembles, with reproducible noise."""
from __future__ import annotations

import math
import numbers

import numpy as np

from probspace import Result, array_namespace, as_float_array, backend_for, to_numpy
from probspace._validation import check_choice
from probspace.random import as_stream

from . import _noise as noise_mod
from ._steps import STEPS
from ._sympy import SymbolicSDE, is_symbolic

__all__ = ["solve_sde", "SDEResult"]

METHODS = ("euler_maruyama", "milstein", "heun", "sra1", "sri")
NOISES = ("diagonal", "scalar", "additive", "general")
CALCULI = ("ito", "stratonovich")
_LEVY_METHODS = ("sra1", "sri")


class SDEResult(Result):
    """Result of :func:`solve_sde`.

    Attributes
    ----------
    t : array, shape (n_times,)
        Saved times (every step, or ``t_eval``).
    y : array, shape ``(*batch, n_times, d)``
        The state at the saved times, in the namespace and dtype of ``y0``.
    nsteps : int
        Number of steps taken (per path).
    method, noise, calculus : str
    backend : str
        ``"numba-fused"`` (one compiled loop per path), ``"cupy-fused"``, ``"vectorized"``
        (array steps over the batch) -- all draw the same noise for a seed.
    seed : int
        The Philox key of the root stream (path ``p`` uses its child ``path_offset + p``).
    success, status, message
        Always ``True``, 0 and a short text for fixed-step solves.
    """


def _is_numba_dispatcher(fn):
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover
        return False
    return isinstance(fn, CPUDispatcher)


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


class _Problem:
    """The user's drift/diffusion in the forms the rungs need."""

    def __init__(self, drift, diffusion, noise, symbols, diffusion_derivative, args):
        self.symbolic = None
        self.pf = self.pg = self.pdg = None
        self.F = self.G = self.DG = None
        self.args = tuple(args)
        if is_symbolic(drift) or is_symbolic(diffusion):
            ssde = SymbolicSDE(drift, diffusion, symbols, noise)
            self.symbolic = ssde
            if args:
                raise ValueError("args are not used with sympy expressions; substitute parameters instead")
            if diffusion_derivative is not None:
                raise ValueError("diffusion_derivative is derived symbolically for sympy input; do not pass it")
            return
        if not callable(drift):
            raise TypeError(f"drift must be callable or a sympy expression, got {type(drift).__name__}")
        if not callable(diffusion):
            raise TypeError(f"diffusion must be callable or a sympy expression, got {type(diffusion).__name__}")
        jf, jg = _is_numba_dispatcher(drift), _is_numba_dispatcher(diffusion)
        if jf != jg:
            raise TypeError("drift and diffusion must both be @numba.njit per-path functions "
                            "(signature f(t, y, out, *args)) or both batch callables f(t, y, *args)")
        if diffusion_derivative is not None and not callable(diffusion_derivative):
            raise TypeError("diffusion_derivative must be callable")
        if jf:
            if diffusion_derivative is not None and not _is_numba_dispatcher(diffusion_derivative):
                raise TypeError("with @njit drift/diffusion, diffusion_derivative must also be @njit "
                                "with signature dg(t, y, out, *args)")
            self.pf, self.pg, self.pdg = drift, diffusion, diffusion_derivative
        else:
            a = self.args
            self.F = (lambda t, y: drift(t, y, *a)) if a else drift
            self.G = (lambda t, y: diffusion(t, y, *a)) if a else diffusion
            if diffusion_derivative is not None:
                self.DG = (lambda t, y: diffusion_derivative(t, y, *a)) if a else diffusion_derivative

    @property
    def has_perpath(self):
        return self.pf is not None or self.symbolic is not None

    def perpath(self, inline=False):
        if self.symbolic is not None:
            return self.symbolic.perpath(inline=inline)
        return self.pf, self.pg, self.pdg

    def batch(self, xp, y_example, noise, m_hint):
        """Batch callables (F, G, DG) on arrays of ``xp``."""
        if self.symbolic is not None:
            s = self.symbolic
            return s.batch(xp, "f"), s.batch(xp, "g"), None
        if self.F is not None:
            return self.F, self.G, self.DG
        # per-path jitted functions on NumPy batches (used off the fused path)
        from ._numba import map_paths
        if not noise_mod_is_numpy(xp):
            raise TypeError("@njit per-path drift/diffusion need NumPy input")
        args = self.args
        d = y_example.shape[-1]

        def wrap(pfun, gshape):
            kern = map_paths(pfun, gshape)

            def fn(t, y):
                Y = np.ascontiguousarray(np.reshape(np.asarray(y, dtype=np.float64), (-1, d)))
                out = np.empty((Y.shape[0],) + gshape)
                kern(float(t), Y, out, args)
                return xp.asarray(np.reshape(out, y.shape[:-1] + gshape))
            return fn

        matrix = noise == "general" or (noise == "additive" and m_hint != d)
        gshape = (d, m_hint) if matrix else (d,)
        F = wrap(self.pf, (d,))
        G = wrap(self.pg, gshape)
        DG = wrap(self.pdg, (d,)) if self.pdg is not None else None
        return F, G, DG


def noise_mod_is_numpy(xp):
    from probspace._array import is_numpy
    return is_numpy(xp)


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


def _noise_dims(problem, noise, d, m, xp, y0b, t0):
    """Number of Brownian components m."""
    if noise == "scalar":
        return 1
    if noise == "diagonal":
        return d
    if problem.symbolic is not None:
        return problem.symbolic.m
    if m is not None:
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"m must be a positive integer, got {m!r}")
        return int(m)
    if problem.F is not None:
        g0 = problem.G(t0, y0b)
        if g0.ndim == y0b.ndim:
            if noise == "general":
                raise ValueError("for noise='general' diffusion must return shape (*batch, d, m)")
            return d
        return int(g0.shape[-1])
    if noise == "general":
        raise ValueError("for noise='general' with @njit functions pass m= (number of Brownian motions)")
    return d


def solve_sde(drift, diffusion, t_span, y0, /, *, method="euler_maruyama", noise="diagonal",
              calculus="ito", dt, seed=None, brownian=None, t_eval=None, args=(),
              diffusion_derivative=None, symbols=None, m=None, path_offset=0, adaptive=False,
              rtol=1e-3, atol=1e-6, max_steps=100_000):
    """Integrate ``dY = drift dt + diffusion dW`` for a whole batch of paths.

    Parameters
    ----------
    drift, diffusion : callable or sympy expressions
        Three accepted forms:

        * batch callables ``drift(t, y, *args)`` and ``diffusion(t, y, *args)`` acting on the
          whole batch ``y`` of shape ``(*batch, d)`` (any array-API namespace): vectorized steps;
        * ``@numba.njit`` per-path functions ``drift(t, y, out, *args)`` and
          ``diffusion(t, y, out, *args)`` writing into ``out`` (``y`` and ``out`` 1-D of length
          ``d``; ``out`` is ``(d, m)`` for general noise): the fused kernel, one compiled loop
          per path over all steps, paths spread over cores by threads (the kernel releases
          the GIL).  They are recompiled with ``inline="always"`` into the kernel;
        * sympy expressions (a list of ``d`` entries for the drift; ``d`` entries or a
          ``(d, m)`` Matrix for the diffusion) in ``symbols=(t, [y1, ..., yd])``: the fused
          Numba kernel for NumPy input, a fused CuPy RawKernel for CuPy input, vectorized
          steps otherwise.
    t_span : (t0, t1)
    y0 : array, shape (..., d)
        Initial states; leading dimensions are the batch of paths.
    method : {"euler_maruyama", "milstein", "heun", "sra1", "sri"}
        Strong orders: EM 0.5 (1.0 for additive noise), Milstein 1.0 (diagonal/scalar noise;
        derivative-free Runge-Kutta form, or exact with ``diffusion_derivative``), Heun 1.0
        (Stratonovich, commutative noise), SRA1 1.5 (additive noise), SRI = SRIW1 1.5
        (Ito, diagonal/scalar noise).  SRA1 and SRI use the space-time Levy area.
    noise : {"diagonal", "scalar", "additive", "general"}
        ``diffusion`` returns ``(*batch, d)`` for diagonal (m = d Brownian motions, component
        i driven by W_i) and scalar noise (one W shared by all components); additive noise
        (no dependence on y) returns ``(*batch, d)`` or ``(*batch, d, m)``; general noise
        returns ``(*batch, d, m)``.
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
        Extra arguments for the callables.
    diffusion_derivative : callable, optional
        ``dg(t, y)``: ``d g_i / d y_i`` (shape of ``y``) for the exact Milstein correction (for
        scalar noise it may return the full Jacobian ``(*batch, d, d)`` on the batch rung).
    symbols : (t, [y1, ..., yd]), optional
        Symbols of sympy input.
    m : int, optional
        Number of Brownian motions for general/additive-matrix noise with @njit functions.
    path_offset : int
        Global index of this batch's first path (``ensemble`` uses it for chunks).
    adaptive : bool
        Per-path adaptive steps (``dt`` is the initial step), error estimated by step doubling
        (one step of ``h`` against two of ``h/2``) with tolerance ``atol + rtol |y|`` per
        component.  Needs ``brownian=``: rejected steps re-query the same Brownian tree, so
        rejection does not bias the solution.  Every method; the vectorized rung (batch
        callables then get ``t`` as an array of shape ``(P, 1)`` and ``y`` as ``(P, d)``).
        ``t_eval`` defaults to ``(t0, t1)``.
    rtol, atol : float
        Tolerances of the adaptive mode.
    max_steps : int
        Step attempts allowed in the adaptive mode; paths not finished get ``status`` 1.

    Returns
    -------
    SDEResult
        ``t`` (n_times,), ``y`` ``(*batch, n_times, d)``, ``nsteps``, ``backend``, ``seed``, ...

    Notes
    -----
    Fixed-step solves draw their noise from the (path, step)-addressed stream; with
    ``brownian=`` (and always in the adaptive mode) the noise comes from the Brownian tree.
    """
    problem = _Problem(drift, diffusion, noise, symbols, diffusion_derivative, args)
    _check_method(method, noise, calculus, diffusion_derivative is not None)
    if isinstance(path_offset, bool) or not isinstance(path_offset, numbers.Integral) or path_offset < 0:
        raise ValueError(f"path_offset must be a non-negative integer, got {path_offset!r}")
    xp = array_namespace(y0)
    y0a = as_float_array(y0, "y0", xp, ndim_min=1)
    d = y0a.shape[-1]
    if problem.symbolic is not None and problem.symbolic.d != d:
        raise ValueError(f"y0 has d={d} components but symbols list {problem.symbolic.d} state variables")
    batch = tuple(y0a.shape[:-1])
    P = math.prod(batch)
    t0, t1, dt, N = _time_grid(t_span, dt)
    if adaptive:
        return _adaptive(problem, method, noise, calculus, xp, y0a, d, t0, t1, dt, t_eval, brownian,
                         m, rtol, atol, max_steps)
    ts = grid_times(t0, t1, dt, N)
    save = _save_indices(t_eval, ts, dt)
    mm = _noise_dims(problem, noise, d, m, xp, y0a, t0)
    k = 2 * mm if method in _LEVY_METHODS else mm
    stream = as_stream(seed)
    if brownian is not None:
        _check_brownian(brownian, batch, mm, t0, t1)
    rung = backend_for(xp, available=("numba", "cupy", "generic"))
    t_out = xp.asarray(ts[save], dtype=y0a.dtype) if y0a.dtype == xp.float32 else xp.asarray(ts[save])
    common = dict(t=t_out, nsteps=N, method=method, noise=noise, calculus=calculus,
                  seed=stream.seed, success=True, status=0, message="fixed-step integration finished")

    if brownian is None and problem.has_perpath and rung in ("numba", "cupy"):
        sids = noise_mod.path_ids(stream, path_offset, P)
        if rung == "numba":
            y = _run_numba(problem, method, noise, calculus, y0a, mm, k, sids, stream.seed, t0, dt,
                           N, t1, save)
            out = xp.asarray(np.reshape(y, batch + (save.shape[0], d)))
            if y0a.dtype != xp.float64:
                out = xp.astype(out, y0a.dtype)
            return SDEResult(y=out, backend="numba-fused", **common)
        if problem.symbolic is not None:
            from ._cupy import run_cupy
            y = run_cupy(problem.symbolic, method, noise, calculus, y0a, mm, k, sids, stream.seed,
                         t0, dt, N, t1, save)
            out = xp.reshape(y, batch + (save.shape[0], d))
            if y0a.dtype != out.dtype:
                out = xp.astype(out, y0a.dtype)
            return SDEResult(y=out, backend="cupy-fused", **common)

    F, G, DG = problem.batch(xp, y0a, noise, mm)
    y = _run_vectorized(xp, rung, F, G, DG, method, noise, calculus, y0a, batch, d, mm, k, stream,
                        path_offset, ts, save, brownian)
    return SDEResult(y=y, backend="vectorized", **common)


def _adaptive(problem, method, noise, calculus, xp, y0a, d, t0, t1, dt, t_eval, brownian, m,
              rtol, atol, max_steps):
    from ._adaptive import solve_adaptive
    for name, v in (("rtol", rtol), ("atol", atol)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a non-negative number, got {v!r}")
    if rtol == 0 and atol == 0:
        raise ValueError("rtol and atol cannot both be 0")
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if brownian is None:
        raise ValueError("adaptive=True needs brownian= (a BrownianPath): rejected steps must "
                         "re-query the same Brownian path")
    batch = tuple(y0a.shape[:-1])
    mm = _noise_dims(problem, noise, d, m, xp, y0a, t0)
    _check_brownian(brownian, batch, mm, t0, t1)
    if t_eval is None:
        te = np.array([t0, t1])
    else:
        te = np.atleast_1d(np.asarray(to_numpy(t_eval) if not isinstance(t_eval, (list, tuple)) else t_eval,
                                      dtype=np.float64))
        if te.ndim != 1 or te.size == 0 or np.any(np.diff(te) <= 0) or te[0] < t0 or te[-1] > t1:
            raise ValueError("t_eval must be strictly increasing times inside t_span")
    F, G, DG = problem.batch(xp, y0a, noise, mm)
    y, nacc, nrej, status = solve_adaptive(xp, F, G, DG, method, noise, calculus, y0a, batch, d, mm,
                                           brownian, t0, te[-1], te, float(rtol), float(atol),
                                           min(dt, t1 - t0), int(max_steps))
    ok = bool(np.all(status == 0))
    t_out = xp.asarray(te, dtype=y0a.dtype) if y0a.dtype == xp.float32 else xp.asarray(te)
    return SDEResult(t=t_out, y=y, nsteps=np.reshape(nacc, batch), nrejected=np.reshape(nrej, batch),
                     status=np.reshape(status, batch), success=ok,
                     message="adaptive integration finished" if ok else "max_steps reached on some paths",
                     method=method, noise=noise, calculus=calculus, seed=brownian.stream.seed,
                     backend="vectorized-adaptive")


def _check_brownian(bm, batch, m, t0, t1):
    from ._brownian import BrownianPath
    if not isinstance(bm, BrownianPath):
        raise TypeError(f"brownian must be a BrownianPath, got {type(bm).__name__}")
    want = tuple(batch) + (m,)
    if bm.shape != want:
        raise ValueError(f"brownian has shape {bm.shape}; this problem needs (*batch, m) = {want}")
    if bm.t0 > t0 or bm.t1 < t1:
        raise ValueError(f"brownian spans [{bm.t0}, {bm.t1}], which does not cover t_span [{t0}, {t1}]")


def _run_numba(problem, method, noise, calculus, y0a, m, k, sids, key, t0, dt, N, t1, save):
    import numba as nb
    from ._numba import build_kernel
    pf, pg, pdg = problem.perpath(inline=True)
    if method == "milstein" and problem.symbolic is not None:
        pdg = None  # derivative-free form unless the user passed dg (symbolic scalar noise needs the full L)
    gmat = noise == "general" or (noise == "additive" and problem.symbolic is not None
                                  and problem.symbolic.gmat)
    if noise == "additive" and problem.symbolic is None and m != y0a.shape[-1]:
        gmat = True
    if method == "euler_maruyama" and problem.symbolic is not None and not gmat:
        # sympy + EM: a generated kernel with the expressions inline, vectorized across paths
        from ._numba import run_threads
        from ._numba_gen import build_em_kernel
        rr = build_em_kernel(problem.symbolic, noise)

        def kern(*a):
            return run_threads(rr, *a)
    else:
        kern = build_kernel(method, noise, calculus, gmat, pf, pg, pdg, nargs=len(problem.args))
    Y0 = np.ascontiguousarray(np.reshape(np.asarray(to_numpy(y0a), dtype=np.float64), (-1, y0a.shape[-1])))
    P = Y0.shape[0]
    out = np.empty((P, save.shape[0], Y0.shape[1]))
    nchunks = nb.get_num_threads() if P * N >= 20_000 else 1
    kern(Y0, np.uint64(key), sids, float(t0), float(dt), int(N), float(t1), save, out, int(m), int(k),
         int(nchunks), problem.args)
    return out


def _noise_block(xp, rung, key, sids, first_step, nsteps, k, device=None):
    """Normals for steps ``first_step .. first_step+nsteps-1``: array (P, nsteps, k)."""
    first = first_step * k
    cnt = nsteps * k
    if rung == "numba":
        z = noise_mod.normals_numpy(key, sids, first, cnt)
        z = xp.asarray(z)
    else:
        z = noise_mod.normals_generic(xp, key, sids, first, cnt, device=device)
    return xp.reshape(z, (sids.shape[0], nsteps, k))


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


def _run_vectorized(xp, rung, F, G, DG, method, noise, calculus, y0a, batch, d, m, k, stream,
                    path_offset, ts, save, brownian):
    step = STEPS[method]
    ctx = {"calculus": calculus, "dg": DG}
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
    Z = None
    for n in range(N):
        t = float(ts[n])
        h = float(ts[n + 1] - ts[n])
        if brownian is not None:
            dW = Wb[:, :, n]
            Hl = Hb[:, :, n] if levy else None
        else:
            j = n % chunk
            if j == 0:
                Z = _noise_block(xp, noise_rung, stream.seed, sids, n, min(chunk, N - n), k, device)
            z = Z[:, j, :]
            dW = math.sqrt(h) * z[:, :m]
            Hl = math.sqrt(h / 12.0) * z[:, m:2 * m] if levy else None
        dW = xp.reshape(dW, batch + (m,))
        if dW.dtype != dtype:
            dW = xp.astype(dW, dtype)
        if Hl is not None:
            Hl = xp.reshape(Hl, batch + (m,))
            if Hl.dtype != dtype:
                Hl = xp.astype(Hl, dtype)
        y = step(xp, noise, F, G, t, h, y, dW, Hl, ctx)
        while si < save.shape[0] and save[si] == n + 1:
            saved.append(y)
            si += 1
    return xp.stack(saved, axis=-2)
