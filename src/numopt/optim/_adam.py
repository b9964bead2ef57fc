"""Adam with decoupled weight decay (AdamW), and optax's ``adamw`` spelling."""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

from probspace import array_namespace, backend_for
from probspace._validation import check_nonnegative, check_probability

from ._base import (Optimizer, adam_direction, as_schedule, prepare, resolve_lr, store,
                    zeros_like_tree)
from ._tree import unflatten
from ._types import MaskTree, Params, ScalarOrSchedule, Updates

__all__ = ["adam", "adamw", "AdamState"]


class AdamState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax
    mu: Updates
    nu: Updates
    scratch: Updates | None = None   # reused updates buffer (inplace=True only)


def adam(lr: ScalarOrSchedule | None = None, *, learning_rate: ScalarOrSchedule | None = None,
         b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
         inplace: bool = False) -> Optimizer:
    """Adam; with ``weight_decay > 0`` the decoupled AdamW of Loshchilov & Hutter.

    ``m_t = b1 m + (1-b1) g``, ``v_t = b2 v + (1-b2) g^2``,
    ``update = -lr_t * (m_hat / (sqrt(v_hat) + eps) + weight_decay * theta)`` with
    ``m_hat = m_t / (1 - b1^t)``, ``v_hat = v_t / (1 - b2^t)``.  The decay is multiplied by the
    (scheduled) learning rate, as in PyTorch's ``AdamW`` and optax's ``adamw``.  From a zero
    state with ``eps = 0`` the first update is ``-lr (sign g + weight_decay theta)`` (0 for a
    zero gradient, never 0/0).  NaN or inf in the gradients propagate into the updates.

    Parameters
    ----------
    lr : float or callable
        Learning rate or schedule ``step -> lr`` (step counts from 0, as in optax).  May also
        be given as ``learning_rate=`` (optax's name); giving both is a ``TypeError``.
    b1, b2 : float in [0, 1)
        Decay rates of the first and second moments.
    eps : float >= 0
        Added to ``sqrt(v_hat)``.
    weight_decay : float >= 0
        Decoupled decay coefficient.  With 0, ``update`` may be called without ``params``.
    inplace : bool
        Reuse buffers: ``update`` overwrites the moments of the ``state`` it is given and
        returns ``updates`` in a buffer that the next call overwrites (pair it with
        ``apply_updates(..., inplace=True)``).  Saves the allocation (and page faults) of
        fresh arrays every step; needs mutable arrays (NumPy, CuPy, array_api_strict).

    Notes
    -----
    ``update`` checks, before any kernel runs, that ``state`` is an :class:`AdamState` whose
    moment trees have the structure, shapes and dtypes of ``params`` (``ValueError`` naming
    the first leaf or dict key that differs).  NaN or inf gradients propagate into the
    moments and the update.
    """
    lr, lr_name = resolve_lr(lr, learning_rate, "adam")
    sched = as_schedule(lr, lr_name)
    b1 = check_probability(b1, "b1", open_right=True)
    b2 = check_probability(b2, "b2", open_right=True)
    eps = check_nonnegative(eps, "eps")
    wd = check_nonnegative(weight_decay, "weight_decay")

    def init(params: Params) -> AdamState:
        return AdamState(count=0, mu=zeros_like_tree(params), nu=zeros_like_tree(params),
                         scratch=zeros_like_tree(params) if inplace else None)

    def update(grads: Updates, state: AdamState,
               params: Params | None = None) -> tuple[Updates, AdamState]:
        pl, gl, td, st, sl = prepare(grads, state, params, AdamState, "adam", ("mu", "nu"),
                                     need_params=wd > 0, inplace=inplace)
        t = state.count + 1
        a = sched(state.count)
        c1 = 1.0 - b1 ** t
        c2 = 1.0 - b2 ** t
        ups, mus, nus = [], [], []
        for p, g, m, v, buf in zip(pl, gl, st["mu"], st["nu"], sl):
            xp = array_namespace(g)
            rung = backend_for(xp)
            if rung == "numba" and _nb().usable(p, g, m, v, *([buf] if inplace else [])):
                k = _nb()
                if inplace:
                    u, mo, vo = buf, m, v
                    k.adam_step_inplace(k.flat(p), k.flat(g), k.flat(m), k.flat(v), k.flat(u),
                                        b1, b2, c1, c2, a, eps, wd)
                else:
                    u, mo, vo = (xp.empty_like(g) for _ in range(3))
                    k.adam_step(k.flat(p), k.flat(g), k.flat(m), k.flat(v), k.flat(u), k.flat(mo),
                                k.flat(vo), b1, b2, c1, c2, a, eps, wd)
            elif rung == "cupy" and _cu().usable(p, g, m, v, *([buf] if inplace else [])):
                u, mo, vo = (buf, m, v) if inplace else (xp.empty_like(g) for _ in range(3))
                _cu().adam_step(p, g, m, v, u, mo, vo, b1, b2, c1, c2, a, eps, wd)
            else:
                mo = b1 * m + (1.0 - b1) * g
                vo = b2 * v + (1.0 - b2) * (g * g)
                step = adam_direction(xp, mo / c1, xp.sqrt(vo / c2) + eps)
                u = -a * (step + wd * p) if wd else -a * step
                if inplace:
                    mo, vo, u = store(m, mo), store(v, vo), store(buf, u)
            ups.append(u)
            mus.append(mo)
            nus.append(vo)
        return unflatten(td, ups), AdamState(t, unflatten(td, mus), unflatten(td, nus),
                                             state.scratch)

    return Optimizer(init, update)


def adamw(lr: ScalarOrSchedule | None = None, *, learning_rate: ScalarOrSchedule | None = None,
          b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 1e-4,
          mask: MaskTree | Callable[[Params], MaskTree] | None = None,
          inplace: bool = False) -> Optimizer:
    """AdamW with optax's defaults and ``mask``: ``adam`` with decoupled weight decay.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    Same update as :func:`adam` (the decay is multiplied by the learning rate); the default
    ``weight_decay=1e-4`` is optax's.  ``mask`` (a tree of bools shaped like the parameters or
    a prefix of them, or a callable ``params -> mask``) restricts the decay to the leaves
    where it is True, exactly as ``optax.adamw(..., mask=...)``: the optimizer is then
    ``chain(scale_by_adam(...), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(lr))``.

    Parameters
    ----------
    lr, learning_rate : float or callable
        Learning rate or schedule (one of the two names).
    b1, b2, eps, weight_decay, inplace
        As in :func:`adam` (``inplace`` only without ``mask``).
    mask : tree of bool or callable, optional
        Where the weight decay applies.
    """
    lr, lr_name = resolve_lr(lr, learning_rate, "adamw")
    if mask is None:
        return adam(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, inplace=inplace)
    if inplace:
        raise ValueError("adamw: inplace=True is not available with a mask")
    from ._combine import chain
    from ._transforms import add_decayed_weights, scale_by_adam, scale_by_learning_rate
    as_schedule(lr, lr_name)   # validate now
    return chain(scale_by_adam(b1=b1, b2=b2, eps=eps),
                 add_decayed_weights(weight_decay, mask=mask),
                 scale_by_learning_rate(lr))


def _nb() -> ModuleType:
    from . import _kernels_numba
    return _kernels_numba


def _cu() -> ModuleType:
    from . import _kernels_cupy
    return _kernels_cupy
