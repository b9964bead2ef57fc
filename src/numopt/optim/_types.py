"""The types in the annotations of ``numopt.optim`` (optax's vocabulary).

``Array`` is ``probspace.typing.Array`` (any array-API array), so the tree aliases below check
as ``Any`` and document intent.  Trees are built from ``dict``, ``list`` and ``tuple`` only
(``_tree.flatten`` tests for exactly these; another ``Mapping`` or ``Sequence`` is not a tree
node), hence ``MaskTree`` names those types rather than ``Mapping``/``Sequence``.  Where a
plain mapping is read (``multi_transform``'s transforms, ``piecewise_constant_schedule``'s
boundaries) the annotation is ``Mapping``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, Union, overload

import numpy as np
from numpy.typing import NDArray

from probspace.typing import Array

__all__ = ["Tree", "Params", "Updates", "OptState", "InitFn", "UpdateFn", "MaskTree",
           "LabelTree", "Schedule", "ScalarOrSchedule"]

#: A tree of arrays: an array, or a dict / list / tuple (nested) of trees.  ``Any`` for the
#: checker, like ``probspace.typing.Array``: the leaves are ``Any`` already, so a union with the
#: container types would accept exactly the same arguments and only make results (a dict of
#: updates, say) harder to use.
Tree = Any
#: ``masked``'s mask: a bool per leaf, as a tree shaped like the parameters or a prefix of it.
#: Spelled out one level deep: dict and list are invariant, so a recursive
#: ``dict[Any, MaskTree]`` would refuse a ``dict[str, bool]`` (and ``typing.get_type_hints``
#: cannot resolve a recursive alias from the modules that use it).
MaskTree = Union[bool, np.bool_, dict[Any, Any], list[Any], tuple[Any, ...]]
#: The parameters, a tree of real floating arrays.
Params = Tree
#: Gradients or updates: a tree with the structure of the parameters.
Updates = Tree
#: An optimizer's state: the named tuple (or, for ``chain``, the tuple of states) that ``init``
#: returns and ``update`` takes back.
OptState = Any
#: ``init(params) -> state``.
InitFn = Callable[[Params], OptState]
#: ``update(updates, state, params=None) -> (updates, state)``.  The argument list is left open:
#: ``eg``, ``eg_adaptive`` and ``tiger`` need ``params`` (``eg``/``eg_adaptive`` have no default
#: for it), the others accept ``update(updates, state)``.
UpdateFn = Callable[..., tuple[Updates, OptState]]
#: ``multi_transform``'s labels: a label (any hashable that is not a dict, list or tuple) per
#: leaf, as a tree shaped like the parameters or a prefix of it.
LabelTree = Any


class Schedule(Protocol):
    """What the schedule functions return: ``count -> value``, with ``count`` a Python or
    NumPy integer (a float comes back) or a NumPy array of counts (an array of values, except
    for a constant schedule, which returns its constant)."""

    @overload
    def __call__(self, count: int | np.integer[Any], /) -> float: ...

    @overload
    def __call__(self, count: NDArray[Any], /) -> float | NDArray[np.float64]: ...


#: A learning rate: a float >= 0, or a schedule ``count -> float`` (called with the number of
#: updates made so far, 0 for the first).
ScalarOrSchedule = Union[float, Callable[[int], float]]
