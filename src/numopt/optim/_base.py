"""The ``Optimizer`` pair, ``apply_updates`` and learning-rate schedules."""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple

from probspace import array_namespace

from ._tree import flatten, same_structure, unflatten

__all__ = ["Optimizer", "apply_updates", "as_schedule", "check_leaves", "store"]


class Optimizer(NamedTuple):
    """A pure optimizer: ``state = init(params)``; ``updates, state = update(grads, state, params)``.

    ``init`` and ``update`` never modify their inputs; new parameters are
    ``apply_updates(params, updates)``.  ``params`` is an array or a dict/list/tuple (nested) of
    arrays of any array-API namespace; ``grads`` and ``updates`` have the same structure.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], tuple]


def apply_updates(params, updates, *, inplace=False):
    """``params + updates`` leaf by leaf (same structure, namespace and dtype as ``params``).

    Parameters
    ----------
    params, updates : array or dict/list/tuple of arrays
        Trees of identical structure.
    inplace : bool
        Add into the ``params`` arrays themselves (``p += u``) and return ``params``; needs
        mutable arrays.  Default: new arrays, inputs untouched.

    Returns
    -------
    New parameters with the dtype of each ``params`` leaf.
    """
    leaves, _, td = flatten(params, "params")
    ups, _, tdu = flatten(updates, "updates")
    same_structure(td, tdu, "updates")
    out = []
    for p, u in zip(leaves, ups):
        if tuple(p.shape) != tuple(u.shape):
            raise ValueError(f"updates leaf of shape {tuple(u.shape)} does not match params leaf "
                             f"of shape {tuple(p.shape)}")
        xp = array_namespace(p)
        if inplace:
            p += u if u.dtype == p.dtype else xp.astype(u, p.dtype)
            out.append(p)
            continue
        new = p + u
        if new.dtype != p.dtype:
            new = xp.astype(new, p.dtype)
        out.append(new)
    return unflatten(td, out)


def store(buf, value):
    """Write ``value`` into the existing array ``buf`` and return ``buf``."""
    buf[...] = value
    return buf


def as_schedule(lr, name="lr"):
    """A callable ``step -> learning rate`` from a non-negative float or a callable."""
    if callable(lr):
        def sched(step, _f=lr):
            value = _f(step)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                    value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} schedule returned {value!r} at step {step}; "
                                 "it must be a finite number >= 0")
            return float(value)
        return sched
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"{name} must be a float or a callable step -> float, got "
                        f"{type(lr).__name__}")
    if not (lr >= 0 and math.isfinite(lr)):
        raise ValueError(f"{name} must be finite and >= 0, got {lr!r}")
    value = float(lr)
    return lambda step: value


def check_leaves(grads, params, td_params=None):
    """Flatten ``grads`` and ``params`` and check they match (structure, shapes, real dtypes)."""
    pl, paths, td = flatten(params, "params")
    gl, _, tdg = flatten(grads, "grads")
    same_structure(td, tdg, "grads")
    for p, g, path in zip(pl, gl, paths):
        if tuple(p.shape) != tuple(g.shape):
            raise ValueError(f"grads leaf {'/'.join(map(str, path)) or '<root>'} has shape "
                             f"{tuple(g.shape)}, params has {tuple(p.shape)}")
        xp = array_namespace(p)
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"params leaves must be real floating arrays, got {p.dtype}")
        if not xp.isdtype(g.dtype, "real floating"):
            raise TypeError(f"grads leaves must be real floating arrays, got {g.dtype}")
    return pl, gl, paths, td


def check_params(params):
    pl, paths, td = flatten(params, "params")
    for p in pl:
        xp = array_namespace(p)
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"params leaves must be real floating arrays, got {p.dtype}")
    return pl, paths, td


def zeros_like_tree(params):
    pl, _, td = check_params(params)
    return unflatten(td, [array_namespace(p).zeros_like(p) for p in pl])
