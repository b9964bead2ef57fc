"""Composing transformations: ``chain``, ``masked`` and ``multi_transform`` (optax semantics)."""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from ._base import Optimizer, check_state_type, grads_only
from probspace.typing import Array

from ._tree import MaskedNode, TreeDef, flatten, prefix_leaves, unflatten
from ._types import LabelTree, MaskTree, OptState, Params, Updates

__all__ = ["chain", "masked", "multi_transform", "partition", "MaskedState",
           "MultiTransformState"]


_T = TypeVar("_T")


def _check_transform(t: _T, name: str) -> _T:
    if not (isinstance(t, tuple) and hasattr(t, "init") and hasattr(t, "update")
            and callable(t.init) and callable(t.update)):
        raise TypeError(f"{name} must be an Optimizer / gradient transformation (an "
                        f"(init, update) pair), got {type(t).__name__}")
    return t


def chain(*transforms: Optimizer) -> Optimizer:
    """Apply transformations in sequence: the updates of each feed the next.

    NaN or inf in the gradients propagate through the chained transformations.

    ``init`` returns the tuple of the inner states; ``update(updates, state, params=None)``
    passes ``params`` to every link.  ``chain(clip_by_global_norm(1.0), adam(1e-3))`` or
    ``chain(scale_by_adam(), add_decayed_weights(1e-4), scale_by_learning_rate(sched))`` work
    as in optax.

    Raises
    ------
    TypeError
        An argument that is not an ``(init, update)`` pair.
    ValueError
        From ``update``, a state that is not a tuple with one entry per link.
    """
    ts = [_check_transform(t, f"chain argument {i}") for i, t in enumerate(transforms)]

    def init(params: Params) -> tuple[OptState, ...]:
        return tuple(t.init(params) for t in ts)

    def update(updates: Updates, state: tuple[OptState, ...], params: Params | None = None
               ) -> tuple[Updates, tuple[OptState, ...]]:
        if not isinstance(state, tuple) or hasattr(state, "_fields") or len(state) != len(ts):
            raise ValueError(f"state must be the tuple of {len(ts)} states returned by this "
                             f"chain's init, got {type(state).__name__}"
                             + (f" of length {len(state)}" if isinstance(state, tuple) else ""))
        new = []
        for t, s in zip(ts, state):
            updates, s = t.update(updates, s, params)
            new.append(s)
        return updates, tuple(new)

    return Optimizer(init, update)


class MaskedState(NamedTuple):
    inner_state: OptState


def _is_flag(x: object) -> bool:
    return isinstance(x, (bool, np.bool_))


def _mask_flags(mask: MaskTree | Callable[[Updates], MaskTree], tree: Updates, td: TreeDef,
                name: str = "mask") -> list[bool]:
    mtree = mask(tree) if callable(mask) else mask
    flags = prefix_leaves(mtree, td, name, _is_flag)
    return [bool(f) for f in flags]


def _hide(leaves: list[Array], flags: list[bool], td: TreeDef) -> Updates:
    return unflatten(td, [x if f else MaskedNode() for x, f in zip(leaves, flags)])


def masked(inner: Optimizer, mask: MaskTree | Callable[[Updates], MaskTree]) -> Optimizer:
    """Apply ``inner`` only to the leaves where ``mask`` is True; the other updates pass
    through unchanged.

    NaN or inf in the gradients propagate (masked-out leaves pass unchanged).

    The inner transform sees the trees with :class:`MaskedNode` in place of the masked-out
    leaves (so its state holds buffers only for the leaves it transforms), as in optax.

    Parameters
    ----------
    inner : Optimizer
        The transformation to apply.
    mask : tree of bool or callable
        Booleans shaped like the parameters, or a prefix of that tree (a bool for a whole
        subtree), or a callable ``tree -> mask`` (called with the params in ``init`` and with
        the updates in ``update``).  A mask of another structure (an extra or missing key)
        raises ``ValueError`` naming it.
    """
    _check_transform(inner, "inner")
    if not callable(mask) and not isinstance(mask, (dict, list, tuple, bool, np.bool_)):
        raise TypeError(f"mask must be a tree of bools or a callable, got {type(mask).__name__}")

    def init(params: Params) -> MaskedState:
        pl, _, td = flatten(params, "params")
        flags = _mask_flags(mask, params, td)
        return MaskedState(inner.init(_hide(pl, flags, td)))

    def update(updates: Updates, state: MaskedState,
               params: Params | None = None) -> tuple[Updates, MaskedState]:
        check_state_type(state, MaskedState, "masked")
        ul, _, td = grads_only(updates)
        flags = _mask_flags(mask, updates, td)
        mp = None
        if params is not None:
            from ._tree import leaves_like
            mp = _hide(leaves_like(params, td, "params", ref="updates"), flags, td)
        new_u, new_inner = inner.update(_hide(ul, flags, td), state.inner_state, mp)
        inner_leaves = iter(flatten(new_u, "inner updates")[0])
        out = [next(inner_leaves) if f else u for u, f in zip(ul, flags)]
        return unflatten(td, out), MaskedState(new_inner)

    return Optimizer(init, update)


class MultiTransformState(NamedTuple):
    inner_states: Mapping[Hashable, Any]


def _is_label(x: object) -> bool:
    return not isinstance(x, (dict, list, tuple))


def multi_transform(transforms: Mapping[Any, Optimizer],
                    param_labels: LabelTree | Callable[[Updates], LabelTree]) -> Optimizer:
    """A different transformation per group of parameters (optax's ``multi_transform``,
    also named ``partition``).

    NaN or inf in the gradients propagate through each group's transformation.

    Parameters
    ----------
    transforms : dict
        ``label -> transformation``.
    param_labels : tree or callable
        A label per parameter leaf (a tree shaped like the parameters or a prefix of it), or a
        callable ``tree -> labels`` (called with the params in ``init`` and with the updates in
        ``update``).  Every label must be a key of ``transforms`` (``ValueError`` otherwise).

    Each group's transformation is ``masked(transforms[label], labels == label)``, so every
    update leaf is transformed by exactly one of them.
    """
    if not isinstance(transforms, Mapping):
        raise TypeError(f"transforms must be a dict label -> transformation, got "
                        f"{type(transforms).__name__}")
    for k, t in transforms.items():
        _check_transform(t, f"transforms[{k!r}]")

    def labels_of(tree: Updates, name: str) -> tuple[list[Any], TreeDef]:
        _, _, td = flatten(tree, name)
        lt = param_labels(tree) if callable(param_labels) else param_labels
        labels = prefix_leaves(lt, td, "param_labels", _is_label)
        unknown = sorted({repr(lb) for lb in labels if lb not in transforms})
        if unknown:
            raise ValueError(f"param_labels has labels {', '.join(unknown)} with no "
                             f"transformation; transforms has {sorted(map(repr, transforms))}")
        return labels, td

    def group_mask(labels: list[Any], td: TreeDef, group: Hashable) -> MaskTree:
        return unflatten(td, [lb == group for lb in labels])

    def init(params: Params) -> MultiTransformState:
        labels, td = labels_of(params, "params")
        return MultiTransformState({g: masked(t, group_mask(labels, td, g)).init(params)
                                    for g, t in transforms.items()})

    def update(updates: Updates, state: MultiTransformState,
               params: Params | None = None) -> tuple[Updates, MultiTransformState]:
        check_state_type(state, MultiTransformState, "multi_transform")
        if not isinstance(state.inner_states, Mapping) or set(state.inner_states) != set(
                transforms):
            raise ValueError("state.inner_states must have one entry per label of transforms")
        labels, td = labels_of(updates, "updates")
        new = {}
        for g, t in transforms.items():
            updates, new[g] = masked(t, group_mask(labels, td, g)).update(
                updates, state.inner_states[g], params)
        return updates, MultiTransformState(new)

    return Optimizer(init, update)


#: optax's newer name for :func:`multi_transform`.
partition = multi_transform
