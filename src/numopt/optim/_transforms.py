"""Gradient transformations that compose with :func:`chain` (optax names and semantics).

Each returns an :class:`Optimizer` pair ``init(params) -> state``,
``update(updates, state, params=None) -> (updates, state)``.  Step counts start at 0 and a
schedule sees the count *before* the step is taken (``scale_by_schedule`` evaluates
``fn(count)`` and then increments), exactly as in optax.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from probspace import array_namespace, backend_for
from probspace._validation import check_nonnegative, check_positive, check_probability
from probspace.typing import Array

from ._base import (EmptyState, Optimizer, adam_direction, check_count, check_leaves, check_state_type,
                    grads_only, state_leaves, zeros_like_tree)
from ._tree import Path, TreeDef, unflatten
from ._types import MaskTree, Params, ScalarOrSchedule, Updates

__all__ = ["identity", "set_to_zero", "scale", "scale_by_schedule", "scale_by_learning_rate",
           "add_decayed_weights", "clip", "clip_by_global_norm", "trace", "scale_by_adam",
           "scale_by_lion", "ScaleByScheduleState", "TraceState", "ScaleByAdamState",
           "ScaleByLionState"]


class ScaleByScheduleState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax


class TraceState(NamedTuple):
    trace: Updates


class ScaleByAdamState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax
    mu: Updates
    nu: Updates


class ScaleByLionState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax
    mu: Updates


def _empty_init(params: Params) -> EmptyState:
    return EmptyState()


def _check_empty(state: object, fn: str) -> None:
    if state is not None and not isinstance(state, (EmptyState, tuple)):
        raise TypeError(f"state must be the EmptyState returned by {fn}().init, got "
                        f"{type(state).__name__}")
    if isinstance(state, tuple) and len(state) != 0:
        raise TypeError(f"state must be the EmptyState returned by {fn}().init, got "
                        f"{type(state).__name__} with {len(state)} entries")


@overload
def _updates_and_params(updates: Updates, params: Params | None, need_params: Literal[True],
                        fn: str) -> tuple[list[Array], list[Array], list[Path], TreeDef]: ...


@overload
def _updates_and_params(updates: Updates, params: Params | None, need_params: bool, fn: str
                        ) -> tuple[list[Array], list[Array] | None, list[Path], TreeDef]: ...


def _updates_and_params(updates: Updates, params: Params | None, need_params: bool, fn: str
                        ) -> tuple[list[Array], list[Array] | None, list[Path], TreeDef]:
    """Leaves of ``updates`` (and of ``params`` when given: same structure and shapes)."""
    if params is None:
        if need_params:
            raise TypeError(f"{fn} needs params: call update(updates, state, params)")
        ul, paths, td = grads_only(updates)
        return ul, None, paths, td
    pl, ul, paths, td = check_leaves(updates, params)
    return ul, pl, paths, td


def _real_scalar(value: Any, name: str) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def identity() -> Optimizer:
    """The identity transformation: updates pass unchanged.

    NaN or inf in the gradients pass through unchanged.
    """
    def update(updates: Updates, state: EmptyState,
               params: Params | None = None) -> tuple[Updates, EmptyState]:
        _check_empty(state, "identity")
        grads_only(updates)
        return updates, state
    return Optimizer(_empty_init, update)


def set_to_zero() -> Optimizer:
    """Every update becomes zero (freezes the parameters it sees; see :func:`masked`).

    The updates are zeros whatever the gradients hold (NaN and inf included).
    """
    def update(updates: Updates, state: EmptyState,
               params: Params | None = None) -> tuple[Updates, EmptyState]:
        _check_empty(state, "set_to_zero")
        ul, _, td = grads_only(updates)
        return unflatten(td, [array_namespace(u).zeros_like(u) for u in ul]), state
    return Optimizer(_empty_init, update)


def scale(step_size: float) -> Optimizer:
    """Multiply every update by the constant ``step_size`` (any finite real).

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.
    """
    step_size = _real_scalar(step_size, "step_size")

    def update(updates: Updates, state: EmptyState,
               params: Params | None = None) -> tuple[Updates, EmptyState]:
        _check_empty(state, "scale")
        ul, _, td = grads_only(updates)
        return unflatten(td, [step_size * u for u in ul]), state
    return Optimizer(_empty_init, update)


def scale_by_schedule(step_size_fn: Callable[[int], float]) -> Optimizer:
    """Multiply the updates by ``step_size_fn(count)``; ``count`` starts at 0 and is
    incremented after each update (so the first update uses ``step_size_fn(0)``).

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    Parameters
    ----------
    step_size_fn : callable
        ``count -> float``; any finite real value (negative values flip the direction, as
        ``scale_by_learning_rate`` uses).  A non-finite value raises ``ValueError``.
    """
    if not callable(step_size_fn):
        raise TypeError(f"step_size_fn must be callable, got {type(step_size_fn).__name__}")

    def init(params: Params) -> ScaleByScheduleState:
        return ScaleByScheduleState(count=0)

    def update(updates: Updates, state: ScaleByScheduleState,
               params: Params | None = None) -> tuple[Updates, ScaleByScheduleState]:
        check_state_type(state, ScaleByScheduleState, "scale_by_schedule")
        count = check_count(state.count)
        ul, _, td = grads_only(updates)
        s = _real_scalar(step_size_fn(count), f"step_size_fn({count})")
        return unflatten(td, [s * u for u in ul]), ScaleByScheduleState(count + 1)
    return Optimizer(init, update)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *, flip_sign: bool = True) -> Optimizer:
    """Scale by ``-learning_rate`` (a float or a schedule ``count -> lr``); with
    ``flip_sign=False`` by ``+learning_rate``.  The last link of optax-style chains.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.
    """
    m = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    lr = _real_scalar(learning_rate, "learning_rate")
    return scale(m * lr)


def add_decayed_weights(weight_decay: float = 0.0,
                        mask: MaskTree | Callable[[Params], MaskTree] | None = None) -> Optimizer:
    """``updates + weight_decay * params`` (decoupled weight decay, applied before the
    learning-rate scaling in a chain, as in optax's ``adamw``).

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    Parameters
    ----------
    weight_decay : float >= 0
    mask : tree of bool or callable, optional
        Decay only where True (a tree shaped like the parameters or a prefix of it, or a
        callable ``params -> mask``); see :func:`masked`.
    """
    wd = check_nonnegative(weight_decay, "weight_decay")
    if mask is not None:
        from ._combine import masked
        return masked(add_decayed_weights(wd), mask)

    def update(updates: Updates, state: EmptyState,
               params: Params | None = None) -> tuple[Updates, EmptyState]:
        _check_empty(state, "add_decayed_weights")
        ul, pl, _, td = _updates_and_params(updates, params, True, "add_decayed_weights")
        return unflatten(td, [u + wd * p for u, p in zip(ul, pl)]), state
    return Optimizer(_empty_init, update)


def clip(max_delta: float) -> Optimizer:
    """Clip every update element to ``[-max_delta, max_delta]`` (NaN stays NaN)."""
    max_delta = check_nonnegative(max_delta, "max_delta")

    def update(updates: Updates, state: EmptyState,
               params: Params | None = None) -> tuple[Updates, EmptyState]:
        _check_empty(state, "clip")
        ul, _, td = grads_only(updates)
        out = []
        for u in ul:
            xp = array_namespace(u)
            out.append(xp.clip(u, -max_delta, max_delta))
        return unflatten(td, out), state
    return Optimizer(_empty_init, update)


def clip_by_global_norm(max_norm: float) -> Optimizer:
    """Rescale all updates together so that their global L2 norm (over every leaf) is at
    most ``max_norm``: ``u * max_norm / norm`` when ``norm >= max_norm``, unchanged
    otherwise (Pascanu et al. 2012; optax's rule).  A NaN norm leaves NaN updates.

    Parameters
    ----------
    max_norm : float > 0
    """
    max_norm = check_positive(max_norm, "max_norm")

    def update(updates: Updates, state: EmptyState,
               params: Params | None = None) -> tuple[Updates, EmptyState]:
        _check_empty(state, "clip_by_global_norm")
        ul, _, td = grads_only(updates)
        sq = 0.0
        for u in ul:
            xp = array_namespace(u)
            sq += float(xp.sum(u * u))
        g_norm = math.sqrt(sq)
        if g_norm < max_norm:
            return updates, state
        return unflatten(td, [(u / g_norm) * max_norm for u in ul]), state
    return Optimizer(_empty_init, update)


def trace(decay: float, nesterov: bool = False) -> Optimizer:
    """Momentum trace: ``t <- g + decay * t``; the update is ``t`` (or ``g + decay * t`` with
    ``nesterov=True``).  ``chain(trace(b), scale_by_learning_rate(lr))`` is
    :func:`numopt.optim.momentum` (``nesterov``).

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.
    """
    decay = check_probability(decay, "decay")

    def init(params: Params) -> TraceState:
        return TraceState(trace=zeros_like_tree(params))

    def update(updates: Updates, state: TraceState,
               params: Params | None = None) -> tuple[Updates, TraceState]:
        check_state_type(state, TraceState, "trace")
        ul, paths, td = grads_only(updates)
        tl = state_leaves(state.trace, td, ul, paths, "state.trace", ref="updates")
        new = [g + decay * t for g, t in zip(ul, tl)]
        out = [g + decay * t for g, t in zip(ul, new)] if nesterov else new
        return unflatten(td, out), TraceState(unflatten(td, new))
    return Optimizer(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  eps_root: float = 0.0) -> Optimizer:
    """Adam's direction without the learning rate: ``m_hat / (sqrt(v_hat + eps_root) + eps)``
    with bias corrections ``1 - b^t`` (``t = count + 1``).

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.
    """
    b1 = check_probability(b1, "b1", open_right=True)
    b2 = check_probability(b2, "b2", open_right=True)
    eps = check_nonnegative(eps, "eps")
    eps_root = check_nonnegative(eps_root, "eps_root")

    def init(params: Params) -> ScaleByAdamState:
        return ScaleByAdamState(count=0, mu=zeros_like_tree(params), nu=zeros_like_tree(params))

    def update(updates: Updates, state: ScaleByAdamState,
               params: Params | None = None) -> tuple[Updates, ScaleByAdamState]:
        check_state_type(state, ScaleByAdamState, "scale_by_adam")
        t = check_count(state.count) + 1
        ul, paths, td = grads_only(updates)
        ml = state_leaves(state.mu, td, ul, paths, "state.mu", ref="updates")
        vl = state_leaves(state.nu, td, ul, paths, "state.nu", ref="updates")
        c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        out, mus, nus = [], [], []
        for g, m, v in zip(ul, ml, vl):
            xp = array_namespace(g)
            if eps_root == 0.0 and backend_for(xp) == "numba" and _nb().usable(g, m, v):
                k = _nb()
                u, mo, vo = (xp.empty_like(g) for _ in range(3))
                # Adam's fused kernel with lr = -1 and no decay gives the direction itself.
                k.adam_step(k.flat(g), k.flat(g), k.flat(m), k.flat(v), k.flat(u), k.flat(mo),
                            k.flat(vo), b1, b2, c1, c2, -1.0, eps, 0.0)
            else:
                mo = b1 * m + (1.0 - b1) * g
                vo = b2 * v + (1.0 - b2) * (g * g)
                u = adam_direction(xp, mo / c1, xp.sqrt(vo / c2 + eps_root) + eps)
            out.append(u)
            mus.append(mo)
            nus.append(vo)
        return unflatten(td, out), ScaleByAdamState(t, unflatten(td, mus), unflatten(td, nus))
    return Optimizer(init, update)


def scale_by_lion(b1: float = 0.9, b2: float = 0.99) -> Optimizer:
    """Lion's direction without the learning rate: ``sign((1-b1) g + b1 m)``, then
    ``m <- b2 m + (1-b2) g``.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.
    """
    b1 = check_probability(b1, "b1", open_right=True)
    b2 = check_probability(b2, "b2", open_right=True)

    def init(params: Params) -> ScaleByLionState:
        return ScaleByLionState(count=0, mu=zeros_like_tree(params))

    def update(updates: Updates, state: ScaleByLionState,
               params: Params | None = None) -> tuple[Updates, ScaleByLionState]:
        check_state_type(state, ScaleByLionState, "scale_by_lion")
        t = check_count(state.count) + 1
        ul, paths, td = grads_only(updates)
        ml = state_leaves(state.mu, td, ul, paths, "state.mu", ref="updates")
        out, mus = [], []
        for g, m in zip(ul, ml):
            xp = array_namespace(g)
            if backend_for(xp) == "numba" and _nb().usable(g, m):
                k = _nb()
                u, mo = xp.empty_like(g), xp.empty_like(g)
                k.lion_step(k.flat(g), k.flat(g), k.flat(m), k.flat(u), k.flat(mo), b1, b2,
                            -1.0, 0.0)
            else:
                u = xp.sign((1.0 - b1) * g + b1 * m)
                mo = b2 * m + (1.0 - b2) * g
            out.append(u)
            mus.append(mo)
        return unflatten(td, out), ScaleByLionState(t, unflatten(td, mus))
    return Optimizer(init, update)


def _nb() -> ModuleType:
    from . import _kernels_numba
    return _kernels_numba


Schedule = Callable[[int], float]
