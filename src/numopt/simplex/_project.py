"""Public entry of the simplex toolkit: the Euclidean projection (dispatching to the Numba,
CuPy or generic rung) and the closed-form steps of simplex optimization."""
from __future__ import annotations

import threading
import time
from typing import Literal

import numpy as np

from probspace import array_namespace, backend_for
from probspace._array import check_axis, default_float
from probspace._parallel import ThreadGate
from probspace._validation import check_choice, check_positive
from probspace.typing import Array, ArrayLike, Namespace

from ._generic import sort_projection as _sort_projection

__all__ = ["project_simplex", "project_simplex_jvp", "sparsemax", "entropic_argmin", "eg_step",
           "optimality_gap"]

_METHODS = ("auto", "sort", "condat")
_tls = threading.local()


def _float_input(v: ArrayLike, name: str, xp: Namespace) -> Array:
    """Promote integer/bool input to the default float dtype; reject complex and float16."""
    if isinstance(v, (list, tuple, int, float)):
        v = xp.asarray(v)
    if not hasattr(v, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(v).__name__}")
    if xp.isdtype(v.dtype, "complex floating"):
        raise TypeError(f"{name} must be real, got complex dtype {v.dtype}")
    if not xp.isdtype(v.dtype, "real floating"):
        if not xp.isdtype(v.dtype, ("integral", "bool")):
            raise TypeError(f"{name} must be a real numeric array, got dtype {v.dtype}")
        v = xp.astype(v, default_float(xp))
    elif str(v.dtype).endswith("float16"):
        raise TypeError(f"{name} has dtype {v.dtype}, which is not supported (too few digits "
                        "for the threshold arithmetic): cast it to float32 or float64")
    return v


def _check_simplex_axis(v: Array, axis: int, name: str = "v") -> None:
    """A slice along ``axis`` must have coordinates; an empty batch is fine (empty result)."""
    if v.shape[axis] == 0:
        raise ValueError(f"{name} has length 0 along axis {axis} (shape {tuple(v.shape)}): "
                         "a simplex needs at least one coordinate")


def _check_radius(radius: float, v: Array, axis: int, xp: Namespace) -> None:
    """The slices' entries, down to ``radius / n``, must be normal numbers of ``v``'s dtype:
    below that they lose digits (or underflow to 0, and the slice no longer sums to
    ``radius``); above its largest finite value they overflow."""
    fi = xp.finfo(v.dtype)
    n = v.shape[axis]
    if radius > float(fi.max):
        raise ValueError(f"radius {radius!r} overflows {v.dtype}")
    if radius < n * float(fi.smallest_normal):
        raise ValueError(f"radius {radius!r} is too small for {n} coordinates in {v.dtype}: "
                         f"the entries would be subnormal (need radius >= "
                         f"{n * float(fi.smallest_normal):.3g})")


def _check_projection_input(v: Array, xp: Namespace) -> None:
    if bool(xp.any(xp.isnan(v))):
        raise ValueError("v contains NaN; the projection is undefined")
    if bool(xp.any(v == xp.inf)):
        raise ValueError("v contains +inf; the projection is undefined (-inf entries are allowed "
                         "and project to 0)")


def _check_out(out: object, v: np.ndarray) -> None:
    """``out=`` must be a writable NumPy array of v's shape and dtype that is either ``v``
    itself (in place: allowed, the kernels read each entry before writing it) or disjoint
    from ``v`` (a partial overlap would let the output overwrite input not read yet)."""
    if not isinstance(out, np.ndarray) or out.shape != v.shape or out.dtype != v.dtype:
        raise ValueError(f"out must be a NumPy array of shape {tuple(v.shape)} and dtype "
                         f"{v.dtype}, got {type(out).__name__}"
                         + (f" {out.shape} {out.dtype}" if isinstance(out, np.ndarray) else ""))
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writable array")
    same = (out.__array_interface__["data"][0] == v.__array_interface__["data"][0]
            and out.strides == v.strides)
    if same:
        return
    try:
        # numpy's stub allows only max_work -1 or 0; the function takes any bound
        overlap = np.shares_memory(out, v, max_work=10_000)  # type: ignore[arg-type]
    except np.exceptions.TooHardError:
        overlap = True
    if overlap:
        raise ValueError("out overlaps v without being v itself; pass out=v to project in "
                         "place, or a separate array")


def _workspace(rows_threads: int, n: int) -> np.ndarray:
    buf = getattr(_tls, "aux", None)
    if buf is None or buf.shape[0] < rows_threads or buf.shape[1] < n:
        buf = np.empty((max(rows_threads, 1), n), dtype=np.float64)
        _tls.aux = buf
    return buf[:rows_threads, :n]


def _workspace_merged(n: int) -> np.ndarray:
    """(2, n): the merged candidates of a long row and the workspace of their Condat pass."""
    buf = getattr(_tls, "merged", None)
    if buf is None or buf.shape[1] < n:
        buf = np.empty((2, n), dtype=np.float64)
        _tls.merged = buf
    return buf[:, :n]


# Threads only where they pay on this machine at this moment (probspace._parallel): at
# least ~300 us of single-thread work, idle cores, and parallel calls that actually beat
# the serial estimate.  Work units: entries.
_LONG_ROW_GATE = ThreadGate("numopt.project_simplex (one long row)")
_ROWS_GATE = ThreadGate("numopt.project_simplex (rows)")
_CHUNKS_PER_THREAD = 4   # a descheduled thread then holds back a quarter of its share


class _dynamic_schedule:
    """prange iterations handed out one at a time (Numba's dynamic schedule, thread-local
    setting): with several chunks per thread, a thread that the OS deschedules holds back one
    chunk, and the others take the rest."""

    def __enter__(self) -> None:
        import numba
        self._old = numba.set_parallel_chunksize(1)

    def __exit__(self, *exc: object) -> Literal[False]:
        import numba
        numba.set_parallel_chunksize(self._old)
        return False


def _numba_projection(v: np.ndarray, radius: float, axis: int,
                      out: np.ndarray | None) -> np.ndarray:
    from . import _numba as K
    vm = np.moveaxis(v, axis, -1)
    rows2d = vm.reshape(-1, vm.shape[-1]) if vm.flags.c_contiguous else np.ascontiguousarray(
        vm).reshape(-1, vm.shape[-1])
    if out is None:
        out = np.empty(v.shape, dtype=v.dtype)
    om = np.moveaxis(out, axis, -1)
    direct = om.flags.c_contiguous
    o2d = om.reshape(-1, om.shape[-1]) if direct else np.empty(rows2d.shape, dtype=v.dtype)
    nrows, n = rows2d.shape
    if nrows == 0:
        return out
    gate = _LONG_ROW_GATE if nrows == 1 else _ROWS_GATE
    nt = gate.threads(nrows * n)
    t0 = time.perf_counter()
    if nt > 1 and nrows == 1:
        nchunks = _CHUNKS_PER_THREAD * nt
        aux = _workspace(nchunks, (n + nchunks - 1) // nchunks)
        merged = _workspace_merged(n)
        with _dynamic_schedule():
            nonfinite = K.project_long_row(rows2d[0], float(radius), o2d[0], aux, merged,
                                           nchunks)
    elif nt > 1 and nrows >= 2 * nt:
        nblocks = min(nrows, _CHUNKS_PER_THREAD * nt)
        aux = _workspace(nblocks, n)
        with _dynamic_schedule():
            nonfinite = K.project_rows_parallel(rows2d, float(radius), o2d, aux, nblocks)
    else:
        nt = 1
        aux = _workspace(1, n)
        nonfinite = K.project_rows_serial(rows2d, float(radius), o2d, aux)
    gate.record(nt, nrows * n, time.perf_counter() - t0)
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


def project_simplex(v: ArrayLike, /, *, radius: float = 1.0, axis: int = -1,
                    method: Literal["auto", "sort", "condat"] = "auto",
                    out: np.ndarray | None = None) -> Array:
    r"""Euclidean projection onto the simplex :math:`\{p \ge 0,\ \sum p = r\}` along ``axis``.

    Solves :math:`\min_p \|p - v\|^2` subject to :math:`p \ge 0`, :math:`\sum_i p_i = r`
    for every 1-D slice of ``v`` along ``axis``; the answer is :math:`\max(v - \tau, 0)`
    with the unique threshold :math:`\tau`.

    The result is accurate to a few ulps of ``radius`` at any magnitude of ``v`` (every rung
    works relative to an entry near the maximum, so ``v`` around 1e300 projects as exactly as
    ``v`` around 1: entries that differ from the maximum by less than its spacing are equal,
    and share the mass).

    Parameters
    ----------
    v : array
        Any array-API array (NumPy, CuPy, array_api_strict, ...).  Integer input is
        promoted to the default float dtype; float32 stays float32; float16 is refused
        (``TypeError``).  ``-inf`` entries project to 0; NaN or ``+inf`` raise
        ``ValueError``, as does a slice that is entirely ``-inf``.  A batch with no slices
        (a zero-length axis other than ``axis``) gives an empty result; a zero length along
        ``axis`` raises ``ValueError``.
    radius : float, default 1.0
        The sum ``r > 0`` of the projected slices.
    axis : int, default -1
        The axis of the simplex (``-1``: rows of a batch; ``0``: columns, as POT does).
    method : {"auto", "sort", "condat"}
        ``"sort"`` is the sort-based method (O(n log n)) of Held, Wolfe & Crowder / Duchi et
        al.; ``"condat"`` is Condat's algorithm (expected O(n)), available on the Numba (NumPy
        input) and CuPy rungs; ``"auto"`` picks Condat where available, else sort.
    out : array, optional
        NumPy rung only: a preallocated, writable output of ``v``'s shape and float dtype
        (avoids faulting in fresh memory pages, which dominates for large ``n``).  ``out=v``
        projects in place; an ``out`` that overlaps ``v`` otherwise raises ``ValueError``.

    Returns
    -------
    p : array
        The projection, same namespace, shape and (float) dtype as ``v``.

    Notes
    -----
    On NumPy input large problems (about 300 us of work or more) run on several threads
    only while that pays on the machine at hand (see ``probspace._parallel.ThreadGate``):
    on a busy machine they stay on one thread instead of waiting for cores.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt import project_simplex
    >>> project_simplex(np.array([0.5, 2.5, 3.2]))
    array([0.  , 0.15, 0.85])
    """
    xp = array_namespace(v, names=("v",))
    v = _float_input(v, "v", xp)
    check_choice(method, "method", _METHODS)
    radius = check_positive(radius, "radius")
    if v.ndim == 0:
        raise ValueError("v must have at least one dimension")
    axis = check_axis(axis, v.ndim)
    _check_simplex_axis(v, axis)
    _check_radius(radius, v, axis, xp)
    rung = backend_for(xp)
    if out is not None and rung != "numba":
        raise TypeError("out= is supported for NumPy input only")
    if out is not None:
        _check_out(out, v)
    if rung == "numba" and method != "sort":
        return _numba_projection(np.asarray(v), radius, axis, out)
    if method == "condat" and rung == "generic":
        raise ValueError("method='condat' needs NumPy (Numba rung) or CuPy input; use "
                         "method='sort' for other array namespaces")
    if v.size == 0:
        res = xp.empty_like(v)
        if out is not None:
            return out
        return res
    _check_projection_input(v, xp)
    vm = xp.moveaxis(v, axis, -1) if axis != v.ndim - 1 else v
    if xp.any(xp.all(vm == -xp.inf, axis=-1)):
        raise ValueError("v has a slice that is entirely -inf along axis; it has no projection")
    if rung == "cupy" and method != "sort":
        from . import _cupy as _simplex_cupy
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


def project_simplex_jvp(v: ArrayLike, tangent: ArrayLike, /, *, radius: float = 1.0,
                        axis: int = -1) -> Array:
    r"""Jacobian-vector product of :func:`project_simplex` at ``v`` applied to ``tangent``.

    Where the support :math:`s = 1[p > 0]` is locally constant the Jacobian is
    :math:`J = \mathrm{diag}(s) - s s^\top / |s|`; it is symmetric, so this is also the
    vector-Jacobian product (the backward pass of sparsemax).  ``v`` follows :func:`project_simplex`'s
    rules for NaN and inf; a NaN or infinite ``tangent`` raises ``ValueError``.
    """
    xp = array_namespace(v, tangent, names=("v", "tangent"))
    p = project_simplex(v, radius=radius, axis=axis)
    tangent = _float_input(tangent, "tangent", xp)
    if tuple(tangent.shape) != tuple(p.shape):
        raise ValueError(f"tangent must have the shape of v {tuple(p.shape)}, got {tuple(tangent.shape)}")
    if not bool(xp.all(xp.isfinite(tangent))):   # it would spread NaN over its whole slice
        raise ValueError("tangent contains NaN or infinite values")
    s = xp.astype(p > 0, p.dtype)
    st = s * tangent
    return st - s * (xp.sum(st, axis=axis, keepdims=True) / xp.sum(s, axis=axis, keepdims=True))


def sparsemax(x: ArrayLike, /, *, axis: int = -1) -> Array:
    """Sparsemax (Martins & Astudillo 2016): the Euclidean projection of ``x`` onto the
    probability simplex along ``axis`` (``project_simplex`` with radius 1).

    NaN or ``+inf`` in ``x`` raise ``ValueError``; ``-inf`` entries get probability 0.
    """
    return project_simplex(x, radius=1.0, axis=axis)


def _logsoftmax(xp: Namespace, z: Array, axis: int) -> Array:
    m = xp.max(z, axis=axis, keepdims=True)
    zs = z - m
    return zs - xp.log(xp.sum(xp.exp(zs), axis=axis, keepdims=True))


def entropic_argmin(c: ArrayLike, tau: float, /, *, axis: int = -1) -> Array:
    r"""Minimizer over the simplex of :math:`\langle c, p\rangle + \tau \sum_i p_i \log p_i`.

    The closed form is :math:`p^* = \mathrm{softmax}(-c/\tau)`, evaluated in the log
    domain as :math:`\mathrm{softmax}(-(c - \min c)/\tau)`: the exponents are <= 0 and the
    minimal costs have exponent exactly 0, so no temperature overflows.  As
    :math:`\tau \to 0` (down to the smallest subnormal) the result tends to, and reaches,
    the uniform distribution over the set of minimal costs.  ``+inf`` costs give
    probability 0.

    Parameters
    ----------
    c : array
        Costs; the simplex runs along ``axis``.  NaN or ``-inf`` raise ``ValueError``, as does
        a slice that is entirely ``+inf`` or has length 0 (an empty batch gives an empty
        result).
    tau : float
        Entropic temperature, ``tau > 0`` and finite.
    """
    xp = array_namespace(c, names=("c",))
    c = _float_input(c, "c", xp)
    tau = check_positive(tau, "tau")
    if c.ndim == 0:
        raise ValueError("c must have at least one dimension")
    axis = check_axis(axis, c.ndim)
    _check_simplex_axis(c, axis, "c")
    if c.size == 0:
        return xp.empty_like(c)
    if bool(xp.any(xp.isnan(c))):
        raise ValueError("c contains NaN")
    if bool(xp.any(c == -xp.inf)):
        raise ValueError("c contains -inf; the minimum is unbounded")
    if bool(xp.any(xp.all(c == xp.inf, axis=axis))):
        raise ValueError("c has a slice that is entirely +inf; no feasible point")
    cmin = xp.min(c, axis=axis, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        # c - cmin >= 0 (inf for +inf costs or overflow); / tau may overflow to inf: the
        # exponent -inf is probability 0, as intended.  The minimal costs give exactly 0.
        z = -((c - cmin) / tau)
    return xp.exp(_logsoftmax(xp, z, axis))


def _check_simplex_point(p: Array, xp: Namespace, name: str = "p",
                         atol: float | None = None) -> None:
    if bool(xp.any(xp.isnan(p))) or bool(xp.any(xp.isinf(p))):
        raise ValueError(f"{name} must be finite")
    if bool(xp.any(p < 0)):
        raise ValueError(f"{name} must be non-negative (a point of the simplex)")


def eg_step(p: ArrayLike, grad: ArrayLike, lr: float, /, *, axis: int = -1) -> Array:
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
    xp = array_namespace(p, grad, names=("p", "grad"))
    p = _float_input(p, "p", xp)
    grad = _float_input(grad, "grad", xp)
    lr = check_positive(lr, "lr")
    if tuple(p.shape) != tuple(grad.shape):
        raise ValueError(f"grad must have the shape of p {tuple(p.shape)}, got {tuple(grad.shape)}")
    if p.ndim == 0:
        raise ValueError("p must have at least one dimension")
    axis = check_axis(axis, p.ndim)
    _check_simplex_axis(p, axis, "p")
    if p.size == 0:
        return xp.empty_like(p)
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


def optimality_gap(p: ArrayLike, grad: ArrayLike, /, *, axis: int = -1) -> Array:
    r"""Frank–Wolfe gap :math:`\langle p, g\rangle - \min_i g_i \ge 0` of ``p`` on the simplex.

    For a convex ``f`` with gradient ``g`` at ``p`` it bounds the suboptimality,
    :math:`f(p) - \min f \le` gap, and is 0 exactly at a minimizer (every coordinate in the
    support has the minimal partial derivative: the optimality condition of J. Su, "The path to
    optimal distribution: minimization in probability space", kexue.fm, 2024,
    https://kexue.fm/archives/10289).

    Computed as :math:`\sum_i p_i (g_i - \min g) + (\sum_i p_i - 1) \min g`, the same value
    without the cancellation of :math:`\langle p, g\rangle - \min g` when ``|g|`` is large
    (the second term is exactly 0 when ``p`` sums to 1).  NaN in ``p`` or ``grad`` propagates.
    """
    xp = array_namespace(p, grad, names=("p", "grad"))
    p = _float_input(p, "p", xp)
    grad = _float_input(grad, "grad", xp)
    if tuple(p.shape) != tuple(grad.shape):
        raise ValueError(f"grad must have the shape of p {tuple(p.shape)}, got {tuple(grad.shape)}")
    if p.ndim == 0:
        raise ValueError("p must have at least one dimension")
    axis = check_axis(axis, p.ndim)
    _check_simplex_axis(p, axis, "p")
    gmin = xp.min(grad, axis=axis, keepdims=True)
    gap = xp.sum(p * (grad - gmin), axis=axis) + (xp.sum(p, axis=axis) - 1.0) * xp.squeeze(
        gmin, axis=axis)
    return gap
