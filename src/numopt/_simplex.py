"""Euclidean projection onto the simplex and the closed-form steps of simplex optimization."""
from __future__ import annotations

import threading

import numpy as np

from probspace import array_namespace, backend_for
from probspace._array import check_axis, default_float
from probspace._validation import check_choice, check_positive

__all__ = ["project_simplex", "project_simplex_jvp", "sparsemax", "entropic_argmin", "eg_step",
           "optimality_gap"]

_METHODS = ("auto", "sort", "condat")
_tls = threading.local()


def _float_input(v, name, xp):
    """Promote integer/bool input to the default float dtype; reject complex."""
    if isinstance(v, (list, tuple, int, float)):
        v = xp.asarray(v)
    if xp.isdtype(v.dtype, "complex floating"):
        raise TypeError(f"{name} must be real, got complex dtype {v.dtype}")
    if not xp.isdtype(v.dtype, "real floating"):
        if not xp.isdtype(v.dtype, ("integral", "bool")):
            raise TypeError(f"{name} must be a real numeric array, got dtype {v.dtype}")
        v = xp.astype(v, default_float(xp))
    return v


def _check_projection_input(v, xp):
    if v.ndim == 0:
        raise ValueError("v must have at least one dimension")
    if v.size == 0 or any(s == 0 for s in v.shape):
        raise ValueError(f"v must be non-empty along every axis, got shape {v.shape}")
    if bool(xp.any(xp.isnan(v))):
        raise ValueError("v contains NaN; the projection is undefined")
    if bool(xp.any(v == xp.inf)):
        raise ValueError("v contains +inf; the projection is undefined (-inf entries are allowed "
                         "and project to 0)")


def _sort_projection(xp, v, radius):
    """Held–Wolfe–Crowder / Duchi et al.: sort, cumulative sums, threshold. ``v`` rows last."""
    n = v.shape[-1]
    u = xp.sort(v, axis=-1, descending=True)
    css = xp.cumulative_sum(u, axis=-1) - radius
    k = xp.arange(1, n + 1, dtype=v.dtype)
    with np.errstate(invalid="ignore"):  # -inf - (-inf) is NaN and compares False, as wanted
        cond = (u - css / k) > 0
    rho = xp.sum(xp.astype(cond, v.dtype), axis=-1, keepdims=True)
    theta = xp.sum(xp.where(k == rho, css / k, xp.zeros_like(css)), axis=-1, keepdims=True)
    return xp.maximum(v - theta, xp.zeros_like(v))


def _workspace(rows_threads, n):
    buf = getattr(_tls, "aux", None)
    if buf is None or buf.shape[0] < rows_threads or buf.shape[1] < n:
        buf = np.empty((max(rows_threads, 1), n), dtype=np.float64)
        _tls.aux = buf
    return buf[:rows_threads, :n]


_LONG_ROW = 200_000  # below this a single thread wins (thread start-up ~ tens of us)


def _workspace_merged(n):
    buf = getattr(_tls, "merged", None)
    if buf is None or buf.shape[0] < n:
        buf = np.empty(n, dtype=np.float64)
        _tls.merged = buf
    return buf


def _numba_projection(v, radius, axis, out):
    from . import _simplex_numba as K
    import numba
    vm = np.moveaxis(v, axis, -1)
    rows2d = vm.reshape(-1, vm.shape[-1]) if vm.flags.c_contiguous else np.ascontiguousarray(
        vm).reshape(-1, vm.shape[-1])
    if out is None:
        out = np.empty(v.shape, dtype=v.dtype)
    om = np.moveaxis(out, axis, -1)
    direct = om.flags.c_contiguous
    o2d = om.reshape(-1, om.shape[-1]) if direct else np.empty(rows2d.shape, dtype=v.dtype)
    nrows, n = rows2d.shape
    nthreads = numba.get_num_threads()
    if nrows == 1 and n >= _LONG_ROW and nthreads > 1:
        nchunks = 4 * nthreads
        aux = _workspace(nchunks, (n + nchunks - 1) // nchunks)
        merged = _workspace_merged(n)
        nonfinite = K.project_long_row(rows2d[0], float(radius), o2d[0], aux, merged, nchunks)
    elif nrows >= 2 * nthreads and nrows * n >= 20_000:
        aux = _workspace(nthreads, n)
        nonfinite = K.project_rows_parallel(rows2d, float(radius), o2d, aux)
    else:
        aux = _workspace(1, n)
        nonfinite = K.project_rows_serial(rows2d, float(radius), o2d, aux)
    if nonfinite:
        # Only -inf entries (in rows with a finite entry) are valid; anything else is an error.
        code = K.validate_rows(rows2d)
        if code == 1:
            raise ValueError("v contains NaN; the projection is undefined")
        if code == 2:
            raise ValueError("v contains +inf; the projection is undefined (-inf entries are "
                             "allowed and project to 0)")
        if code == 3:
            raise ValueError("v has a slice that is entirely -inf along axis; it has no projection")
    if not direct:
        om[...] = o2d.reshape(om.shape)
    return out


def project_simplex(v, /, *, radius=1.0, axis=-1, method="auto", out=None):
    r"""Euclidean projection onto the simplex :math:`\{p \ge 0,\ \sum p = r\}` along ``axis``.

    Solves :math:`\min_p \|p - v\|^2` subject to :math:`p \ge 0`, :math:`\sum_i p_i = r`
    for every 1-D slice of ``v`` along ``axis``; the answer is :math:`\max(v - \tau, 0)`
    with the unique threshold :math:`\tau`.

    Parameters
    ----------
    v : array
        Any array-API array (NumPy, CuPy, array_api_strict, ...).  Integer input is
        promoted to the default float dtype; float32 stays float32.  ``-inf`` entries
        project to 0; NaN or ``+inf`` raise ``ValueError``.
    radius : float, default 1.0
        The sum ``r > 0`` of the projected slices.
    axis : int, default -1
        The axis of the simplex (``-1``: rows of a batch; ``0``: columns, as POT does).
    method : {"auto", "sort", "condat"}
        ``"sort"`` is the sort-based method (O(n log n)) of Held, Wolfe & Crowder / Duchi et
        al.; ``"condat"`` is Condat's algorithm (expected O(n)), available on the Numba (NumPy
        input) and CuPy rungs; ``"auto"`` picks Condat where available, else sort.
    out : array, optional
        NumPy rung only: a preallocated output of ``v``'s shape and float dtype (avoids
        faulting in fresh memory pages, which dominates for large ``n``).

    Returns
    -------
    p : array
        The projection, same namespace, shape and (float) dtype as ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt import project_simplex
    >>> project_simplex(np.array([0.5, 2.5, 3.2]))
    array([0.  , 0.15, 0.85])
    """
    xp = array_namespace(v)
    v = _float_input(v, "v", xp)
    check_choice(method, "method", _METHODS)
    radius = check_positive(radius, "radius")
    if v.ndim == 0:
        raise ValueError("v must have at least one dimension")
    axis = check_axis(axis, v.ndim)
    rung = backend_for(xp)
    if out is not None and rung != "numba":
        raise TypeError("out= is supported for NumPy input only")
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != v.shape or out.dtype != v.dtype:
            raise ValueError(f"out must be a NumPy array of shape {v.shape} and dtype {v.dtype}")
    if rung == "numba" and method != "sort":
        if v.size == 0 or any(s == 0 for s in v.shape):
            raise ValueError(f"v must be non-empty along every axis, got shape {v.shape}")
        return _numba_projection(np.asarray(v), radius, axis, out)
    if method == "condat" and rung == "generic":
        raise ValueError("method='condat' needs NumPy (Numba rung) or CuPy input; use "
                         "method='sort' for other array namespaces")
    _check_projection_input(v, xp)
    vm = xp.moveaxis(v, axis, -1) if axis != v.ndim - 1 else v
    if xp.any(xp.all(vm == -xp.inf, axis=-1)):
        raise ValueError("v has a slice that is entirely -inf along axis; it has no projection")
    if rung == "cupy" and method != "sort":
        from . import _simplex_cupy
        rows2d = xp.reshape(vm, (-1, vm.shape[-1]))
        if rows2d.shape[0] >= _simplex_cupy.ROWS_FOR_KERNEL or method == "condat":
            import cupy as cp
            rows2d = cp.ascontiguousarray(rows2d)
            res = _simplex_cupy.project_rows(rows2d, radius, cp.empty_like(rows2d))
            res = xp.reshape(res, vm.shape)
        else:
            res = _sort_projection(xp, vm, radius)
    else:
        res = _sort_projection(xp, vm, radius)
    res = xp.moveaxis(res, -1, axis) if axis != v.ndim - 1 else res
    if out is not None:
        out[...] = res
        return out
    return res


def project_simplex_jvp(v, tangent, /, *, radius=1.0, axis=-1):
    r"""Jacobian-vector product of :func:`project_simplex` at ``v`` applied to ``tangent``.

    Where the support :math:`s = 1[p > 0]` is locally constant the Jacobian is
    :math:`J = \mathrm{diag}(s) - s s^\top / |s|`; it is symmetric, so this is also the
    vector-Jacobian product (the backward pass of sparsemax).
    """
    xp = array_namespace(v, tangent)
    p = project_simplex(v, radius=radius, axis=axis)
    tangent = _float_input(tangent, "tangent", xp)
    if tuple(tangent.shape) != tuple(p.shape):
        raise ValueError(f"tangent must have the shape of v {tuple(p.shape)}, got {tuple(tangent.shape)}")
    s = xp.astype(p > 0, p.dtype)
    st = s * tangent
    return st - s * (xp.sum(st, axis=axis, keepdims=True) / xp.sum(s, axis=axis, keepdims=True))


def sparsemax(x, /, *, axis=-1):
    """Sparsemax (Martins & Astudillo 2016): the Euclidean projection of ``x`` onto the
    probability simplex along ``axis`` (``project_simplex`` with radius 1)."""
    return project_simplex(x, radius=1.0, axis=axis)


def _logsoftmax(xp, z, axis):
    m = xp.max(z, axis=axis, keepdims=True)
    zs = z - m
    return zs - xp.log(xp.sum(xp.exp(zs), axis=axis, keepdims=True))


def entropic_argmin(c, tau, /, *, axis=-1):
    r"""Minimizer over the simplex of :math:`\langle c, p\rangle + \tau \sum_i p_i \log p_i`.

    The closed form is :math:`p^* = \mathrm{softmax}(-c/\tau)`, evaluated stably (max
    shift).  ``+inf`` costs give probability 0; NaN raises ``ValueError``.

    Parameters
    ----------
    c : array
        Costs; the simplex runs along ``axis``.
    tau : float
        Entropic temperature, ``tau > 0``.
    """
    xp = array_namespace(c)
    c = _float_input(c, "c", xp)
    tau = check_positive(tau, "tau")
    if c.ndim == 0:
        raise ValueError("c must have at least one dimension")
    axis = check_axis(axis, c.ndim)
    if bool(xp.any(xp.isnan(c))):
        raise ValueError("c contains NaN")
    if bool(xp.any(c == -xp.inf)):
        raise ValueError("c contains -inf; the minimum is unbounded")
    if bool(xp.any(xp.all(c == xp.inf, axis=axis))):
        raise ValueError("c has a slice that is entirely +inf; no feasible point")
    with np.errstate(over="ignore"):  # -c/tau may overflow to -inf: probability 0, as intended
        return xp.exp(_logsoftmax(xp, -c / tau, axis))


def _check_simplex_point(p, xp, name="p", atol=None):
    if bool(xp.any(xp.isnan(p))) or bool(xp.any(xp.isinf(p))):
        raise ValueError(f"{name} must be finite")
    if bool(xp.any(p < 0)):
        raise ValueError(f"{name} must be non-negative (a point of the simplex)")


def eg_step(p, grad, lr, /, *, axis=-1):
    r"""One exponentiated-gradient (entropic mirror descent) step on the simplex.

    :math:`p^+ \propto p \odot \exp(-\eta\, g)`, computed in the log domain: the gradient
    is shifted by its minimum over the support (which leaves the step unchanged) so that
    huge gradients or step sizes underflow to 0 instead of overflowing to NaN.
    Coordinates with ``p == 0`` stay at 0.

    Parameters
    ----------
    p : array
        Current point, non-negative (normalised along ``axis`` by the step).
    grad : array
        Gradient at ``p``, same shape; finite.
    lr : float
        Step size ``eta > 0``.
    """
    xp = array_namespace(p, grad)
    p = _float_input(p, "p", xp)
    grad = _float_input(grad, "grad", xp)
    lr = check_positive(lr, "lr")
    if tuple(p.shape) != tuple(grad.shape):
        raise ValueError(f"grad must have the shape of p {tuple(p.shape)}, got {tuple(grad.shape)}")
    if p.ndim == 0:
        raise ValueError("p must have at least one dimension")
    axis = check_axis(axis, p.ndim)
    _check_simplex_point(p, xp)
    if bool(xp.any(xp.isnan(grad))) or bool(xp.any(xp.isinf(grad))):
        raise ValueError("grad must be finite")
    support = p > 0
    if bool(xp.any(xp.all(~support, axis=axis))):
        raise ValueError("p has a slice that is entirely zero")
    big = xp.asarray(xp.finfo(grad.dtype).max, dtype=grad.dtype)
    gmin = xp.min(xp.where(support, grad, big), axis=axis, keepdims=True)
    with np.errstate(over="ignore", divide="ignore"):
        shifted = xp.where(support, grad - gmin, xp.zeros_like(grad))  # >= 0 on the support
        z = xp.where(support, xp.log(xp.where(support, p, xp.ones_like(p))) - lr * shifted,
                     xp.full_like(p, -xp.inf))
    return xp.exp(_logsoftmax(xp, z, axis))


def optimality_gap(p, grad, /, *, axis=-1):
    r"""Frank–Wolfe gap :math:`\langle p, g\rangle - \min_i g_i \ge 0` of ``p`` on the simplex.

    For a convex ``f`` with gradient ``g`` at ``p`` it bounds the suboptimality,
    :math:`f(p) - \min f \le` gap, and is 0 exactly at a minimizer (every coordinate in the
    support has the minimal partial derivative: the optimality condition of J. Su, "The path to
    optimal distribution: minimization in probability space", kexue.fm, 2024,
    https://kexue.fm/archives/10289).
    """
    xp = array_namespace(p, grad)
    p = _float_input(p, "p", xp)
    grad = _float_input(grad, "grad", xp)
    if tuple(p.shape) != tuple(grad.shape):
        raise ValueError(f"grad must have the shape of p {tuple(p.shape)}, got {tuple(grad.shape)}")
    if p.ndim == 0:
        raise ValueError("p must have at least one dimension")
    axis = check_axis(axis, p.ndim)
    return xp.sum(p * grad, axis=axis) - xp.min(grad, axis=axis)
