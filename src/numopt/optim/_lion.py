"""Lion and Tiger.

Lion: X. Chen et al., "Symbolic discovery of optimization algorithms", 2023, arXiv:2302.06675.
Tiger: J. Su, "Tiger: an 'ultra-stingy' optimizer", kexue.fm, 2023,
https://kexue.fm/archives/9512.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Literal, NamedTuple, Union

from probspace import array_namespace, backend_for
from probspace._validation import check_int, check_nonnegative, check_probability
from probspace.typing import Array, Namespace

from ._base import Optimizer, as_schedule, prepare, resolve_lr, store, zeros_like_tree
from ._tree import flatten, path_name, unflatten
from ._types import Params, ScalarOrSchedule, Updates

__all__ = ["lion", "tiger", "LionState", "TigerState", "TIGER_ROLES"]


class LionState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax
    mu: Updates
    scratch: Updates | None = None   # reused updates buffer (inplace=True only)


class TigerState(NamedTuple):
    count: int  # type: ignore[assignment]  # micro-steps (gradients) seen so far
    mu: Updates
    scratch: Updates | None = None   # reused updates buffer (inplace=True only)


def _nb() -> ModuleType:
    from . import _kernels_numba
    return _kernels_numba


def _cu() -> ModuleType:
    from . import _kernels_cupy
    return _kernels_cupy


def _fast(xp: Namespace, *arrays: Array) -> bool:
    return backend_for(xp) == "numba" and _nb().usable(*arrays)


def _gpu(xp: Namespace, *arrays: Array) -> bool:
    return backend_for(xp) == "cupy" and _cu().usable(*arrays)


def lion(lr: ScalarOrSchedule | None = None, *, learning_rate: ScalarOrSchedule | None = None,
         b1: float = 0.9, b2: float = 0.99, weight_decay: float = 0.0,
         inplace: bool = False) -> Optimizer:
    """Lion: ``update = -lr_t (sign(b1 m + (1-b1) g) + weight_decay theta)``, then
    ``m <- b2 m + (1-b2) g``.

    The weight decay is decoupled and outside the sign (the decay term is multiplied by the
    learning rate, as in the paper and optax).  From a zero state the first update is
    ``-lr (sign g + weight_decay theta)``.  Lion wants a learning rate 3-10x below AdamW's and a
    proportionally larger ``weight_decay``.

    Parameters
    ----------
    lr : float or callable
        Learning rate or schedule ``step -> lr`` (step counts from 0); also accepted as
        ``learning_rate=`` (optax's name), not both.
    b1 : float in [0, 1)
        Interpolation weight inside the sign.
    b2 : float in [0, 1)
        Decay of the momentum buffer.
    weight_decay : float >= 0
        Decoupled weight decay.  With 0, ``update`` may be called without ``params``.
    inplace : bool
        Reuse buffers: ``update`` overwrites the momentum of the ``state`` it is given and
        returns ``updates`` in a buffer that the next call overwrites (pair it with
        ``apply_updates(..., inplace=True)``); needs mutable arrays.

    Notes
    -----
    ``update`` checks that ``state`` is a :class:`LionState` whose momentum tree has the
    structure, shapes and dtypes of ``params`` (``ValueError`` naming the leaf) before any
    kernel runs.  NaN gradients propagate.
    """
    lr, lr_name = resolve_lr(lr, learning_rate, "lion")
    sched = as_schedule(lr, lr_name)
    b1 = check_probability(b1, "b1", open_right=True)
    b2 = check_probability(b2, "b2", open_right=True)
    wd = check_nonnegative(weight_decay, "weight_decay")

    def init(params: Params) -> LionState:
        return LionState(count=0, mu=zeros_like_tree(params),
                         scratch=zeros_like_tree(params) if inplace else None)

    def update(grads: Updates, state: LionState,
               params: Params | None = None) -> tuple[Updates, LionState]:
        pl, gl, td, st, sl = prepare(grads, state, params, LionState, "lion", ("mu",),
                                     need_params=wd > 0, inplace=inplace)
        a = sched(state.count)
        ups, mus = [], []
        for p, g, m, buf in zip(pl, gl, st["mu"], sl):
            xp = array_namespace(g)
            extra = [buf] if inplace else []
            if _fast(xp, p, g, m, *extra):
                k = _nb()
                if inplace:
                    u, mo = buf, m
                    k.lion_step_inplace(k.flat(p), k.flat(g), k.flat(m), k.flat(u), b1, b2, a, wd)
                else:
                    u, mo = xp.empty_like(g), xp.empty_like(g)
                    k.lion_step(k.flat(p), k.flat(g), k.flat(m), k.flat(u), k.flat(mo), b1, b2,
                                a, wd)
            elif _gpu(xp, p, g, m, *extra):
                u, mo = (buf, m) if inplace else (xp.empty_like(g), xp.empty_like(g))
                _cu().lion_step(p, g, m, u, mo, b1, b2, a, wd)
            else:
                c = b1 * m + (1.0 - b1) * g
                u = -a * (xp.sign(c) + wd * p) if wd else -a * xp.sign(c)
                mo = b2 * m + (1.0 - b2) * g
                if inplace:
                    u, mo = store(buf, u), store(m, mo)
            ups.append(u)
            mus.append(mo)
        return unflatten(td, ups), LionState(state.count + 1, unflatten(td, mus), state.scratch)

    return Optimizer(init, update)


#: Tiger's parameter roles: (learning-rate factor, RMS scaling, weight decay kept, shrink centre)
TIGER_ROLES = {
    "plain": "lr, weight decay, shrink towards 0",
    "kernel": "lr * RMS(theta) of the whole tensor, weight decay, shrink towards 0",
    "embedding": "lr * RMS of each row (last axis), weight decay, shrink towards 0",
    "bias": "lr / 2, no weight decay, shrink towards 0 (also for LayerNorm beta)",
    "gamma": "lr / 2, no weight decay, shrink towards 1 (LayerNorm/BatchNorm scales)",
}

#: ``tiger``'s ``labels``: None, "auto", ``(path_name, param) -> role`` or ``{path_name: role}``.
TigerLabels = Union[None, Literal["auto"], Callable[[str, Array], str], dict[str, str]]


def _auto_role(name: str, _param: Array) -> str:
    # the naming rule of the reference implementation (bojone/tiger)
    if re.search("bias|beta|gamma", name):
        return "gamma" if "gamma" in name else "bias"
    if "embeddings" in name:
        return "embedding"
    return "kernel"


def _role_fn(labels: TigerLabels) -> Callable[[str, Array], str]:
    if labels is None:
        return lambda name, p: "plain"
    if isinstance(labels, str):
        if labels != "auto":
            raise ValueError(f"labels must be None, 'auto', a callable or a dict, got {labels!r}")
        return _auto_role
    if callable(labels):
        return labels
    if isinstance(labels, dict):
        return lambda name, p: labels.get(name, "plain")
    raise TypeError(f"labels must be None, 'auto', a callable or a dict, got {type(labels).__name__}")


def tiger(lr: ScalarOrSchedule | None = None, *, learning_rate: ScalarOrSchedule | None = None,
          beta: float = 0.965, weight_decay: float = 0.01, grad_accum_steps: int = 1,
          shrink_ratio: float | None = 0.99, labels: TigerLabels = None,
          inplace: bool = False) -> Optimizer:
    """Tiger ("a tight-fisted optimizer"): Lion with ``b1 = b2 = beta``, per-tensor learning
    rates, gradient accumulation without an extra buffer, and a NaN guard.

    Per micro-step ``t = 0, 1, ...`` (one call of ``update`` per gradient) with ``k =
    grad_accum_steps``::

        m <- keep_t m + (1 - beta)/k g,     keep_t = beta if t % k == 0 else 1
        update = -lr_eff (sign(m) + wd_eff theta)   if (t + 1) % k == 0, else 0

    so ``k`` accumulated micro-steps give exactly ``m <- beta m + (1-beta) mean(g)`` and one
    Lion/Tiger step, with no second buffer.  With ``k = 1`` this is ``lion(lr, b1=beta,
    b2=beta)``; from a zero state the first update is ``-lr (sign g + wd theta)``.

    NaN guard (per tensor): if a gradient leaf contains NaN, its momentum is left unchanged and
    the parameter shrinks, ``theta <- (theta - c) * shrink_ratio + c`` (``c = 1`` for "gamma"
    tensors, else 0), which pulls a diverging mixed-precision run back.

    Parameters
    ----------
    lr : float or callable
        Learning rate, or a schedule ``n -> lr`` where ``n`` counts parameter updates made so
        far (micro-step ``t`` uses ``n = t // k``; the reference code indexes by ``t``).
        Also accepted as ``learning_rate=`` (not both).
    beta : float in [0, 1)
        The single momentum coefficient (Su suggests 0.945 for vision, 0.965 for NLP).
    weight_decay : float >= 0
        Decoupled weight decay (multiplied by the effective learning rate).
    grad_accum_steps : int >= 1
        Number ``k`` of micro-batch gradients per parameter update.
    shrink_ratio : float in (0, 1] or None
        Factor ``s`` of the NaN guard; ``None`` disables the guard (NaN then propagates).
    labels : None, "auto", callable or dict
        Per-tensor roles (see ``TIGER_ROLES``): ``None`` treats every tensor as "plain" (a
        global learning rate); "auto" applies the reference code's naming rule to the leaf path
        names ("a/b/0"): names containing bias/beta/gamma are "bias"/"gamma", names containing
        "embeddings" are "embedding", everything else "kernel" (``lr * RMS(theta)``, the
        LAMB-like scaling); a callable ``(path_name, param) -> role``; or a dict
        ``{path_name: role}`` (missing names are "plain").  Note that a "kernel" tensor that is
        exactly zero has RMS 0 and never moves.
    inplace : bool
        Reuse buffers: ``update`` overwrites the momentum of the ``state`` it is given and
        returns ``updates`` in a buffer that the next call overwrites (pair it with
        ``apply_updates(..., inplace=True)``); needs mutable arrays.

    Notes
    -----
    ``update`` always needs ``params`` (roles, decay and the NaN guard use them) and checks
    that ``state`` is a :class:`TigerState` whose momentum tree has the structure, shapes and
    dtypes of ``params`` (``ValueError`` naming the leaf) before any kernel runs.
    """
    lr, lr_name = resolve_lr(lr, learning_rate, "tiger")
    sched = as_schedule(lr, lr_name)
    beta = check_probability(beta, "beta", open_right=True)
    wd = check_nonnegative(weight_decay, "weight_decay")
    k = check_int(grad_accum_steps, "grad_accum_steps", minimum=1)
    if shrink_ratio is not None:
        shrink_ratio = check_probability(shrink_ratio, "shrink_ratio", open_left=True)
    role_of = _role_fn(labels)

    def _roles(params: Params) -> list[str]:
        pl, paths, _ = flatten(params, "params")
        roles = []
        for p, path in zip(pl, paths):
            r = role_of(path_name(path), p)
            if r not in TIGER_ROLES:
                raise ValueError(f"labels gave role {r!r} for {path_name(path) or '<root>'}; "
                                 f"roles are {tuple(TIGER_ROLES)}")
            roles.append(r)
        return roles

    def init(params: Params) -> TigerState:
        _roles(params)
        return TigerState(count=0, mu=zeros_like_tree(params),
                          scratch=zeros_like_tree(params) if inplace else None)

    def update(grads: Updates, state: TigerState,
               params: Params | None = None) -> tuple[Updates, TigerState]:
        pl, gl, td, st, sl = prepare(grads, state, params, TigerState, "tiger", ("mu",),
                                     need_params=True, inplace=inplace)
        ml = st["mu"]
        roles = _roles(params)
        t = state.count
        keep = beta if t % k == 0 else 1.0
        gain = (1.0 - beta) / k
        apply_now = (t + 1) % k == 0
        base_lr = sched(t // k) if apply_now else 0.0
        ups, mus = [], []
        for p, g, m, role, buf in zip(pl, gl, ml, roles, sl):
            xp = array_namespace(p)
            fast = _fast(xp, p, g, m, *([buf] if inplace else []))
            centre = 1.0 if role == "gamma" else 0.0
            if shrink_ratio is not None and (
                    _nb().has_nan(_nb().flat(g)) if fast else bool(xp.any(xp.isnan(g)))):
                u = (shrink_ratio - 1.0) * (p - centre)
                ups.append(store(buf, u) if inplace else u)
                mus.append(m)
                continue
            a, d = base_lr, wd
            if role in ("bias", "gamma"):
                a, d = 0.5 * a, 0.0
            elif role == "kernel":
                if fast:
                    a = a * float(_nb().mean_square(_nb().flat(p))) ** 0.5
                else:
                    a = a * xp.sqrt(xp.mean(p * p))
            elif role == "embedding":
                fast = False  # row-wise learning rate: generic path
                a = a * xp.sqrt(xp.mean(p * p, axis=-1, keepdims=True))
            if fast:
                nb = _nb()
                if inplace:
                    u, mo = buf, m
                    nb.tiger_step_inplace(nb.flat(p), nb.flat(g), nb.flat(m), nb.flat(u),
                                          keep, gain, float(a), d)
                else:
                    u, mo = xp.empty_like(p), xp.empty_like(p)
                    nb.tiger_step(nb.flat(p), nb.flat(g), nb.flat(m), nb.flat(u), nb.flat(mo),
                                  keep, gain, float(a), d)
            elif _gpu(xp, p, g, m, *([buf] if inplace else [])) and role != "embedding":
                u, mo = (buf, m) if inplace else (xp.empty_like(p), xp.empty_like(p))
                _cu().tiger_step(p, g, m, u, mo, keep, gain, float(a), d)
            else:
                mo = keep * m + gain * g
                if apply_now:
                    u = -a * (xp.sign(mo) + d * p) if d else -a * xp.sign(mo)
                    if u.dtype != p.dtype:
                        u = xp.astype(u, p.dtype)
                else:
                    u = xp.zeros_like(p)
                if inplace:
                    u, mo = store(buf, u), store(m, mo)
            ups.append(u)
            mus.append(mo)
        return unflatten(td, ups), TigerState(t + 1, unflatten(td, mus), state.scratch)

    return Optimizer(init, update)
