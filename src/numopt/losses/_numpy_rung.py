"""Plumbing between the public loss functions and their Numba kernels (the NumPy rung).

The fast path takes only the cases it can hand to a kernel safely -- float32/float64 logits,
targets of the expected shape and a plain real or boolean dtype, class indices inside
``[0, C)`` -- and otherwise returns :data:`DEFER`: the public function then runs the generic
array-API code, whose validation raises the documented error (or computes the result, for
unusual but valid input such as float16 targets).  A kernel that meets a non-finite logit or
a target outside its range reports it in its status; the public function then defers as well,
so the error messages are the generic rung's, word for word.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from probspace.typing import Array, ArrayLike

from . import _threads

DEFER = object()   # "not handled here: run the generic path (it validates and raises)"
#: What a NumPy-rung helper returns: the value, ``(value, grad)``, or :data:`DEFER`.
RungResult = Any

_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def kernel_float(z: np.ndarray) -> bool:
    """True when ``z`` (a NumPy array) has a dtype the kernels are compiled for."""
    return z.dtype in _KERNEL_FLOATS


def as_c(x: ArrayLike) -> np.ndarray:
    """C-contiguous NumPy view (copy only when needed)."""
    return np.ascontiguousarray(np.asarray(x))


def plain_targets(t: object, shape: Sequence[int]) -> np.ndarray | None:
    """Targets of exactly ``shape`` as a contiguous array the kernels can read (bool viewed as
    uint8; real or integer dtypes kept), or ``None`` when the generic path must handle them."""
    if isinstance(t, (list, tuple, int, float, bool)):
        t = np.asarray(t)
    if not isinstance(t, np.ndarray) or tuple(t.shape) != tuple(shape):
        return None
    kind = t.dtype.kind
    if kind == "b":
        return as_c(t).view(np.uint8)
    if kind in "iu" or (kind == "f" and t.dtype.itemsize >= 4 and t.dtype.itemsize <= 8):
        return as_c(t)
    return None


def class_indices(t: object, lead: tuple[int, ...], C: int) -> np.ndarray | None:
    """Integer class indices of shape ``lead`` inside ``[0, C)`` as contiguous int64, or
    ``None`` (wrong shape, dtype or range: the generic path raises)."""
    if isinstance(t, (list, tuple)):
        t = np.asarray(t)
    if not isinstance(t, np.ndarray) or t.dtype.kind not in "iu" or tuple(t.shape) != lead:
        return None
    if t.size and (int(t.min()) < 0 or int(t.max()) >= C):
        return None
    return np.ascontiguousarray(t, dtype=np.int64).reshape(-1)


def finish_rows(loss64: np.ndarray, grad: np.ndarray | None, lead: tuple[int, ...],
                dtype: np.dtype, reduction: str, return_grad: bool) -> Array | tuple[Array, Array]:
    """Per-sample float64 losses -> the reduced value in ``dtype`` (plus the gradient)."""
    if reduction == "none":
        value = loss64.reshape(lead).astype(dtype, copy=False)
    elif reduction == "sum":
        value = dtype.type(loss64.sum())
    else:
        value = dtype.type(loss64.mean())
    if not return_grad:
        return value
    return value, grad


def finish_total(total: float, n: int, per: np.ndarray | None, grad: np.ndarray | None,
                 dtype: np.dtype, reduction: str, return_grad: bool
                 ) -> Array | tuple[Array, Array]:
    """Reduced value from a float64 total of ``n`` per-element losses (``per`` for "none")."""
    if reduction == "none":
        value = per
    elif reduction == "sum":
        value = dtype.type(total)
    else:
        value = dtype.type(total / n)
    if not return_grad:
        return value
    return value, grad


def grad_scale(n: int, reduction: str) -> float:
    return 1.0 / n if reduction == "mean" else 1.0


def run_rows(kernel: Callable[[int, int], Any], n_rows: int, work_per_row: float,
             name: str) -> int:
    """Run ``kernel(r0, r1)`` over the rows (threads when gate ``name`` says they pay); OR of
    the statuses."""
    return _threads.status(_threads.run(kernel, n_rows, work_per_row, name))


def elementwise(kernel: Callable[..., Any], z: np.ndarray, t: np.ndarray, args: tuple[float, ...],
                reduction: str, return_grad: bool, work_per_element: float) -> RungResult:
    """Run an elementwise block kernel ``kernel(z, t, *args, scale, want_grad, per, per_off,
    grad, partial, b0, b1)`` over flat ``z``/``t``; DEFER when it reports bad data."""
    from ._numba_crossentropy import BLOCK
    zf, tf = as_c(z).reshape(-1), t.reshape(-1)
    n = zf.size
    want_per = reduction == "none"
    per = np.empty_like(zf) if want_per else None
    grad = np.empty_like(zf) if return_grad else zf[:0]
    n_blocks = -(-n // BLOCK)
    partial = np.empty(n_blocks)
    scale = grad_scale(n, reduction)

    def blocks(b0: int, b1: int) -> Any:
        out = per if want_per else np.empty(BLOCK, zf.dtype)   # per-thread scratch
        return kernel(zf, tf, *args, scale, return_grad, out, not want_per, grad, partial, b0, b1)
    name = f"{getattr(kernel, '__name__', 'elementwise')}/{zf.dtype}"
    if run_rows(blocks, n_blocks, work_per_element * BLOCK, name):
        return DEFER
    return finish_total(partial.sum(), n, per.reshape(z.shape) if per is not None else None,
                        grad.reshape(z.shape) if return_grad else None, z.dtype, reduction,
                        return_grad)
