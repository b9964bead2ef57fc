"""The ``Optimizer`` pair, ``apply_updates``, learning-rate arguments and the checks every
``update`` runs on its inputs (grads and state against params) before any kernel sees them."""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

import numpy as np

from probspace import array_namespace
from probspace.typing import Array

from ._tree import Path, TreeDef, flatten, leaves_like, path_name, unflatten
from ._types import InitFn, OptState, Params, ScalarOrSchedule, UpdateFn, Updates

__all__ = ["Optimizer", "GradientTransformation", "apply_updates", "as_schedule",
           "check_leaves", "store", "resolve_lr", "check_state_type", "state_leaves",
           "check_count", "EmptyState", "prepare"]


_S = TypeVar("_S")


class Optimizer(NamedTuple):
    """A pure optimizer: ``state = init(params)``; ``updates, state = update(grads, state, params)``.

    ``init`` and ``update`` never modify their inputs (unless built with ``inplace=True``); new
    parameters are ``apply_updates(params, updates)``.  ``params`` is an array or a
    dict/list/tuple (nested) of arrays of any array-API namespace; ``grads`` and ``updates``
    have the same structure.  The same pair is a *gradient transformation* in optax's sense:
    :func:`chain` composes them.
    """

    init: InitFn
    update: UpdateFn


#: optax's name for the same pair.
GradientTransformation = Optimizer


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


def _leaf(path: Path) -> str:
    return repr(path_name(path)) if path else "<root>"


def apply_updates(params: Params, updates: Updates, *, inplace: bool = False) -> Params:
    """``params + updates`` leaf by leaf (same structure, namespace and dtype as ``params``).

    Parameters
    ----------
    params, updates : array or dict/list/tuple of arrays
        Trees of identical structure (dict keys matched by name).  ``params`` leaves must be
        real floating arrays: integer or boolean parameters are refused (``TypeError``), since
        adding a fractional update and casting back would silently truncate it; cast them to a
        floating dtype first.
    inplace : bool
        Add into the ``params`` arrays themselves (``p += u``) and return ``params``; needs
        mutable arrays.  Default: new arrays, inputs untouched.

    Returns
    -------
    New parameters with the dtype of each ``params`` leaf (float64 updates added to float32
    parameters are rounded to float32, as in optax).  NaN or inf in ``updates`` propagate.

    Raises
    ------
    TypeError
        A ``params`` leaf that is not a real floating array, or a complex ``updates`` leaf.
    ValueError
        ``updates`` of another structure or leaf shape (naming the leaf).
    """
    leaves, paths, td = flatten(params, "params")
    ups = leaves_like(updates, td, "updates")
    out = []
    for p, u, path in zip(leaves, ups, paths):
        xp = array_namespace(p)
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"params leaf {_leaf(path)} has dtype {p.dtype}: apply_updates needs "
                            "real floating parameters (adding an update to integer parameters "
                            "would truncate it); cast the parameters to a floating dtype")
        if tuple(p.shape) != tuple(u.shape):
            raise ValueError(f"updates leaf {_leaf(path)} has shape {tuple(u.shape)}, params has "
                             f"{tuple(p.shape)}")
        if array_namespace(u).isdtype(u.dtype, "complex floating"):
            raise TypeError(f"updates leaf {_leaf(path)} is complex ({u.dtype})")
        if inplace:
            p += u if u.dtype == p.dtype else xp.astype(u, p.dtype)
            out.append(p)
            continue
        new = p + u
        if new.dtype != p.dtype:
            new = xp.astype(new, p.dtype)
        out.append(new)
    return unflatten(td, out)


def adam_direction(xp: Any, m_hat: Array, denom: Array) -> Array:
    """``m_hat / denom`` for Adam; a zero ``denom`` (only with ``eps = 0``) gives the limit
    ``sign(m_hat)`` (0 for a zero moment) instead of 0/0 = NaN (the Numba and CuPy kernels
    do the same)."""
    pos = denom > 0
    safe = xp.where(pos, denom, xp.ones_like(denom))
    return xp.where(pos, m_hat / safe, xp.sign(m_hat))


def store(buf: Array, value: Array) -> Array:
    """Write ``value`` into the existing array ``buf`` and return ``buf``."""
    buf[...] = value
    return buf


_MISSING = object()


def resolve_lr(lr: ScalarOrSchedule | None, learning_rate: ScalarOrSchedule | None,
               fn: str) -> tuple[ScalarOrSchedule, str]:
    """The learning rate given as ``lr`` (positional or keyword) or ``learning_rate`` (optax's
    name); exactly one of them."""
    if learning_rate is not _MISSING and learning_rate is not None:
        if lr is not _MISSING and lr is not None:
            raise TypeError(f"{fn}() got both lr and learning_rate; pass one of them")
        return learning_rate, "learning_rate"
    if lr is _MISSING or lr is None:
        raise TypeError(f"{fn}() missing the learning rate (first argument, lr= or "
                        "learning_rate=)")
    return lr, "lr"


def as_schedule(lr: ScalarOrSchedule, name: str = "lr") -> Callable[[int], float]:
    """A callable ``step -> learning rate`` from a non-negative float or a callable."""
    if callable(lr):
        def sched(step: int, _f: Callable[[int], float] = lr) -> float:
            value = _f(step)
            if isinstance(value, np.ndarray) and value.ndim == 0:
                value = value[()]
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


def check_state_type(state: Any, cls: type[_S], fn: str) -> _S:
    """``TypeError`` unless ``state`` is the ``cls`` named tuple made by ``fn``'s ``init``."""
    if not isinstance(state, cls):
        raise TypeError(f"state must be the {cls.__name__} returned by {fn}().init, got "
                        f"{type(state).__name__}")
    return state


def check_count(count: Any, name: str = "state.count") -> int:
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {count!r}")
    return int(count)


def state_leaves(tree: Any, td: TreeDef, ref_leaves: list[Array], paths: list[Path], name: str, *,
                 writeable: bool = False, ref: str = "params") -> list[Array]:
    """Leaves of a state tree checked against the parameters: same structure (naming any extra
    or missing key), and per leaf the same array type, shape and dtype; with ``writeable``
    also mutable (NumPy).  One cheap pass over the leaves, before any kernel runs: the fused
    kernels index the state buffers with the parameters' sizes.  ``ref`` names the argument
    the state is compared with in messages (``"updates"`` for the gradient transformations,
    whose ``update`` sees no parameters).
    """
    leaves = leaves_like(tree, td, name, ref)
    for s, p, path in zip(leaves, ref_leaves, paths):
        if type(s) is not type(p) and array_namespace(s) is not array_namespace(p):
            raise ValueError(f"{name} leaf {_leaf(path)} is a {type(s).__name__}, {ref} leaf "
                             f"is a {type(p).__name__}; the state was made for other parameters "
                             "(call init again)")
        if tuple(s.shape) != tuple(p.shape):
            raise ValueError(f"{name} leaf {_leaf(path)} has shape {tuple(s.shape)}, {ref} leaf "
                             f"has {tuple(p.shape)}; the state was made for other parameters "
                             "(call init again)")
        if s.dtype != p.dtype:
            raise ValueError(f"{name} leaf {_leaf(path)} has dtype {s.dtype}, {ref} leaf has "
                             f"{p.dtype}; the state was made for other parameters "
                             "(call init again)")
        if writeable and isinstance(s, np.ndarray) and not s.flags.writeable:
            raise ValueError(f"{name} leaf {_leaf(path)} is read-only; inplace=True writes the "
                             "state in place")
    return leaves


def check_leaves(grads: Updates, params: Params, td_params: TreeDef | None = None
                 ) -> tuple[list[Array], list[Array], list[Path], TreeDef]:
    """Flatten ``grads`` and ``params`` and check they match (structure, shapes, real dtypes).

    Returns ``(param leaves, grad leaves, paths, treedef)``; grads are matched to params by
    dict key, so the leaves line up even when the dicts were built in another order.
    """
    pl, paths, td = flatten(params, "params")
    gl = leaves_like(grads, td, "grads")
    for p, g, path in zip(pl, gl, paths):
        if tuple(p.shape) != tuple(g.shape):
            raise ValueError(f"grads leaf {_leaf(path)} has shape {tuple(g.shape)}, params has "
                             f"{tuple(p.shape)}")
        xp = array_namespace(p)
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"params leaves must be real floating arrays, got {p.dtype} at "
                            f"{_leaf(path)}")
        if not array_namespace(g).isdtype(g.dtype, "real floating"):
            raise TypeError(f"grads leaves must be real floating arrays, got {g.dtype} at "
                            f"{_leaf(path)}")
    return pl, gl, paths, td


def grads_only(grads: Updates) -> tuple[list[Array], list[Path], TreeDef]:
    """Flatten ``grads`` alone (no params given): real floating leaves."""
    gl, paths, td = flatten(grads, "grads")
    for g, path in zip(gl, paths):
        if not array_namespace(g).isdtype(g.dtype, "real floating"):
            raise TypeError(f"grads leaves must be real floating arrays, got {g.dtype} at "
                            f"{_leaf(path)}")
    return gl, paths, td


def check_params(params: Params) -> tuple[list[Array], list[Path], TreeDef]:
    pl, paths, td = flatten(params, "params")
    for p, path in zip(pl, paths):
        xp = array_namespace(p)
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"params leaves must be real floating arrays, got {p.dtype} at "
                            f"{_leaf(path)}")
    return pl, paths, td


def zeros_like_tree(params: Params) -> Params:
    pl, _, td = check_params(params)
    return unflatten(td, [array_namespace(p).zeros_like(p) for p in pl])


def prepare(grads: Updates, state: OptState, params: Params | None, cls: type, fn: str,
            trees: Iterable[str], *, need_params: bool, inplace: bool
            ) -> tuple[list[Array], list[Array], TreeDef, dict[str, list[Array]],
                       list[Array | None]]:
    """Shared prelude of the moment-based optimizers: check grads against params (or grads
    alone when ``params`` is None), the state's type and count, and every state tree named in
    ``trees`` against the parameters.  Returns ``(pl, gl, td, {tree: leaves}, scratch)``;
    ``pl`` is ``gl`` when no params were given (the kernels then get ``weight_decay = 0``)."""
    check_state_type(state, cls, fn)
    check_count(state.count)
    if params is None:
        if need_params:
            raise TypeError(f"{fn} update needs params (weight decay or per-tensor roles use "
                            "them): call update(grads, state, params)")
        gl, paths, td = grads_only(grads)
        pl = gl
    else:
        pl, gl, paths, td = check_leaves(grads, params)
    out = {t: state_leaves(getattr(state, t), td, pl, paths, f"state.{t}", writeable=inplace)
           for t in trees}
    if inplace:
        if state.scratch is None:
            raise ValueError(f"state has no scratch buffer: it was made by {fn}(..., "
                             "inplace=False); call init of this optimizer")
        sl = state_leaves(state.scratch, td, pl, paths, "state.scratch", writeable=True)
    else:
        sl = [None] * len(pl)
    return pl, gl, td, out, sl
