"""Wasserstein distances: 1-D weighted samples (quantile functions) and Gaussians (Bures)."""
from __future__ import annotations

import math
import numbers

from probspace import array_namespace, as_float_array, backend_for

__all__ = ["wasserstein_1d", "wasserstein_gaussian"]


def _flat_take(xp, a, idx):
    """``take_along_axis(a, idx, axis=-1)`` for 2-D ``a``/``idx`` with only ``xp.take``."""
    rows, n = a.shape
    off = xp.reshape(xp.arange(rows, dtype=idx.dtype) * n, (rows, 1))
    flat = xp.reshape(a, (rows * n,))
    return xp.reshape(xp.take(flat, xp.reshape(idx + off, (-1,))), idx.shape)


def _prepare(xp, v, w, name, wname, batch):
    n = v.shape[-1]
    v = xp.reshape(xp.broadcast_to(v, (*batch, n)), (-1, n))
    if w is None:
        w = xp.ones_like(v)
    else:
        w = as_float_array(w, wname, xp)
        if w.shape[-1] != n:
            raise ValueError(f"{wname} must have last axis {n} like {name}, got shape {w.shape}")
        if bool(xp.any(w < 0)):
            raise ValueError(f"{wname} must be non-negative")
        w = xp.reshape(xp.broadcast_to(xp.astype(w, v.dtype), (*batch, n)), (-1, n))
    tot = xp.sum(w, axis=-1, keepdims=True)
    if bool(xp.any(tot <= 0)):
        raise ValueError(f"{wname} must have a positive sum along the last axis")
    order = xp.argsort(v, axis=-1)
    vs = _flat_take(xp, v, order)
    ws = _flat_take(xp, w, order) / tot
    c = xp.cumulative_sum(ws, axis=-1)
    return vs, c


def wasserstein_1d(x, y, /, *, p=2, x_weights=None, y_weights=None):
    """Wasserstein distance ``W_p`` between two weighted samples on the real line.

    Uses the quantile-function formula ``W_p^p = int_0^1 |F^{-1}(s) - G^{-1}(s)|^p ds``, exact
    for empirical (weighted) measures: the two cumulative-weight sequences are merged and the
    integral is summed over the merged pieces.

    Parameters
    ----------
    x, y : array, shape (..., n) and (..., m)
        Sample locations along the last axis; leading axes are a batch (broadcast together).
    p : float, default 2
        Order, ``p >= 1``.
    x_weights, y_weights : array, optional
        Non-negative weights of the same shape as ``x`` / ``y`` (normalized internally).
        Uniform when omitted.

    Returns
    -------
    array, shape (...)
        ``W_p`` itself (not ``W_p**p``, which is what POT's ``ot.wasserstein_1d`` returns).
        Computed as ``D (sum ds (|d| / D)^p)^(1/p)`` with ``D`` the largest distance between
        the quantile functions, so large ``p`` neither overflows nor underflows (``W_p`` tends
        to ``D`` as ``p`` grows).

    Raises
    ------
    ValueError
        ``p < 1`` or infinite, empty samples, negative weights or weights summing to 0,
        non-finite samples or weights.

    Notes
    -----
    NaN and inf: samples and weights must be finite (``ValueError`` otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> float(wasserstein_1d(np.array([0.0, 1.0]), np.array([2.0, 3.0]), p=1))
    2.0
    """
    xp = array_namespace(x, y, x_weights, y_weights)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not (p >= 1) or math.isinf(p):
        raise ValueError(f"p must be a finite real number >= 1, got {p!r}")
    x = as_float_array(x, "x", xp, ndim_min=1)
    y = as_float_array(y, "y", xp, ndim_min=1)
    if x.shape[-1] == 0 or y.shape[-1] == 0:
        raise ValueError("x and y must have at least one sample along the last axis")
    dtype = xp.result_type(x, y)
    x, y = xp.astype(x, dtype), xp.astype(y, dtype)
    try:
        batch = tuple(xp.broadcast_shapes(x.shape[:-1], y.shape[:-1])) if hasattr(
            xp, "broadcast_shapes") else _bshape(x.shape[:-1], y.shape[:-1])
    except ValueError:
        raise ValueError(f"leading axes of x {x.shape} and y {y.shape} do not broadcast") from None
    n, m = x.shape[-1], y.shape[-1]
    if backend_for(xp) == "numba":
        return _numba_path(xp, x, y, x_weights, y_weights, batch, float(p))
    xs, cx = _prepare(xp, x, x_weights, "x", "x_weights", batch)
    ys, cy = _prepare(xp, y, y_weights, "y", "y_weights", batch)
    rows = xs.shape[0]
    levels = xp.concat([cx, cy], axis=-1)
    is_x = xp.concat([xp.ones((rows, n), dtype=xp.int64), xp.zeros((rows, m), dtype=xp.int64)],
                     axis=-1)
    order = xp.argsort(levels, axis=-1, stable=True)  # ties: x levels first
    s = _flat_take(xp, levels, order)
    lab = _flat_take(xp, is_x, order)
    nx_upto = xp.cumulative_sum(lab, axis=-1)          # x levels at positions <= k
    ny_upto = xp.cumulative_sum(1 - lab, axis=-1)
    ix = xp.clip(nx_upto - lab, 0, n - 1)               # x levels strictly before k
    iy = xp.clip(ny_upto - (1 - lab), 0, m - 1)
    ds = xp.concat([s[:, :1], s[:, 1:] - s[:, :-1]], axis=-1)
    diff = xp.abs(_flat_take(xp, xs, ix) - _flat_take(xp, ys, iy))
    # W_p = D (sum ds (diff / D)^p)^(1/p) with D the largest distance over pieces of positive
    # length: |diff|**p neither overflows nor underflows for large p
    zero = xp.zeros_like(diff)
    scale = xp.max(xp.where(ds > 0, diff, zero), axis=-1, keepdims=True)
    safe = xp.where(scale > 0, scale, xp.ones_like(scale))
    wpp = xp.sum(ds * (diff / safe) ** p, axis=-1)
    wpp = xp.clip(wpp, 0.0, None)
    out = scale[:, 0] * wpp ** (1.0 / p)
    return xp.reshape(out, batch)


def _numba_path(xp, x, y, wx, wy, batch, p):
    """NumPy input: sort, then one O(n + m) merge per row in a Numba kernel."""
    import numpy as np
    from ._wasserstein_numba import wpp_rows
    n, m = x.shape[-1], y.shape[-1]
    xs = np.reshape(np.broadcast_to(x, (*batch, n)), (-1, n))
    ys = np.reshape(np.broadcast_to(y, (*batch, m)), (-1, m))
    uniform = wx is None and wy is None
    if uniform:
        xs, ys = np.sort(xs, axis=-1), np.sort(ys, axis=-1)
        cx = cy = np.empty((1, 1))
    else:
        xs, cx = _prepare(xp, x, wx, "x", "x_weights", batch)
        ys, cy = _prepare(xp, y, wy, "y", "y_weights", batch)
    out = np.empty(xs.shape[0], dtype=np.float64)
    scale = np.empty(xs.shape[0], dtype=np.float64)
    wpp_rows(np.ascontiguousarray(xs, dtype=np.float64), np.ascontiguousarray(cx, dtype=np.float64),
             np.ascontiguousarray(ys, dtype=np.float64), np.ascontiguousarray(cy, dtype=np.float64),
             p, uniform, out, scale)
    out = scale * np.maximum(out, 0.0) ** (1.0 / p)
    return xp.asarray(np.reshape(out, batch), dtype=x.dtype)


def _bshape(a, b):
    import numpy as np
    return np.broadcast_shapes(tuple(a), tuple(b))


def _sqrtm_psd(xp, c):
    w, v = xp.linalg.eigh(c)
    w = xp.clip(w, 0.0, None)
    return (v * xp.sqrt(w)[..., None, :]) @ xp.matrix_transpose(v)


def wasserstein_gaussian(m1, C1, m2, C2):
    """``W_2`` between Gaussians ``N(m1, C1)`` and ``N(m2, C2)`` (the Bures closed form).

    ``W_2^2 = |m1 - m2|^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2})``.

    Parameters
    ----------
    m1, m2 : array, shape (..., d)
    C1, C2 : array, shape (..., d, d)
        Symmetric positive semi-definite covariances. Leading axes are a batch.

    Returns
    -------
    array, shape (...)
        ``W_2`` (not squared).

    Raises
    ------
    ValueError
        Mismatched shapes, a covariance that is not symmetric or not positive semi-definite
        (an eigenvalue below ``-1e-10 (1 + max |eigenvalue|)``), non-finite entries.

    Notes
    -----
    NaN and inf: every entry must be finite (``ValueError`` otherwise).
    """
    xp = array_namespace(m1, C1, m2, C2)
    m1 = as_float_array(m1, "m1", xp, ndim_min=1)
    m2 = as_float_array(m2, "m2", xp, ndim_min=1)
    C1 = as_float_array(C1, "C1", xp, ndim_min=2)
    C2 = as_float_array(C2, "C2", xp, ndim_min=2)
    d = m1.shape[-1]
    if m2.shape[-1] != d:
        raise ValueError(f"m2 must have last axis {d} like m1, got shape {m2.shape}")
    for name, c in (("C1", C1), ("C2", C2)):
        if c.shape[-2:] != (d, d):
            raise ValueError(f"{name} must have trailing shape ({d}, {d}), got {c.shape}")
        if bool(xp.any(xp.abs(c - xp.matrix_transpose(c)) > 1e-8 * (1 + xp.max(xp.abs(c))))):
            raise ValueError(f"{name} must be symmetric")
        ev = xp.linalg.eigvalsh(c)
        # rounding allows eigenvalues of about -eps * |C| for a PSD matrix, not more
        tol = 1e-10 * (1.0 + xp.max(xp.abs(ev), axis=-1))
        if bool(xp.any(xp.min(ev, axis=-1) < -tol)):
            lo = float(xp.min(ev))
            raise ValueError(f"{name} must be positive semi-definite (a covariance); its "
                             f"smallest eigenvalue is {lo!r}")
    s1 = _sqrtm_psd(xp, C1)
    mid = _sqrtm_psd(xp, s1 @ C2 @ s1)
    tr = lambda a: xp.sum(xp.linalg.diagonal(a), axis=-1)  # noqa: E731
    w2 = xp.sum((m1 - m2) ** 2, axis=-1) + tr(C1) + tr(C2) - 2 * tr(mid)
    return xp.sqrt(xp.clip(w2, 0.0, None))
