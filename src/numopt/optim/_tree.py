"""Minimal pytree helpers: params are an array or a dict/list/tuple (nested) of arrays.

A structure descriptor ("treedef") is ``("leaf",)``, ``("dict", type, keys, subs)`` or
``("seq", type, length, subs)``.  Leaves come depth first, dicts in insertion order.
:class:`MaskedNode` (an empty named tuple) stands for a leaf that a :func:`masked` transform
hides from its inner transform: it has no leaves, so inner transforms never see it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from probspace import array_namespace
from probspace.typing import Array, Namespace

from ._types import Tree

__all__ = ["flatten", "unflatten", "tree_map", "leaf_namespace", "path_name", "leaves_like",
           "prefix_leaves", "MaskedNode", "is_array"]


#: A leaf's position: the dict keys and sequence indices from the root down to it.
Path = tuple[Any, ...]
#: A structure descriptor: ``("leaf",)``, ``("dict", type, keys, subs)`` or
#: ``("seq", type, length, subs)`` with ``subs`` a tuple of descriptors.
TreeDef = tuple[Any, ...]


class MaskedNode(NamedTuple):
    """Placeholder for a leaf that a ``masked`` transform hides from its inner transform.

    It is an empty tuple: it holds no leaves, so the inner transform's ``init`` and ``update``
    skip it and the inner state keeps the parameter tree's shape with ``MaskedNode()`` there.
    """


def is_array(x: object) -> bool:
    return isinstance(x, np.ndarray) or array_api_compat.is_array_api_obj(x)


def path_name(path: Path) -> str:
    """'a/b/0' style name of a leaf path (used in error messages and Tiger's roles)."""
    return "/".join(str(p) for p in path)


def _where(path: Path) -> str:
    return repr(path_name(path)) if path else "the root"


def flatten(tree: Tree, name: str = "params") -> tuple[list[Array], list[Path], TreeDef]:
    """Leaves (depth first, dict insertion order), their paths, and a structure descriptor."""
    leaves, paths = [], []

    def rec(node: Tree, path: Path) -> TreeDef:
        if isinstance(node, dict):
            keys = tuple(node.keys())
            return ("dict", type(node), keys, tuple(rec(node[k], path + (k,)) for k in keys))
        if isinstance(node, (list, tuple)):
            return ("seq", type(node), len(node),
                    tuple(rec(c, path + (i,)) for i, c in enumerate(node)))
        if not is_array(node):
            raise TypeError(f"{name} leaves must be arrays, got {type(node).__name__} at "
                            f"{_where(path)}")
        leaves.append(node)
        paths.append(path)
        return ("leaf",)

    treedef = rec(tree, ())
    return leaves, paths, treedef


def unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Tree:
    it = iter(leaves)

    def rec(d: TreeDef) -> Tree:
        kind = d[0]
        if kind == "leaf":
            return next(it)
        if kind == "dict":
            _, typ, keys, subs = d
            return typ((k, rec(s)) for k, s in zip(keys, subs))
        _, typ, _, subs = d
        items = [rec(s) for s in subs]
        if issubclass(typ, tuple) and hasattr(typ, "_fields"):
            return typ(*items)
        return typ(items)

    return rec(treedef)


def leaves_like(tree: Tree, treedef: TreeDef, name: str, ref: str = "params") -> list[Array]:
    """The leaves of ``tree`` in the order of ``treedef``; ``ValueError`` naming the first path
    where ``tree`` differs (extra or missing dict key, other length, subtree vs array).

    Dict entries are matched by key, so insertion order does not matter; lists and tuples are
    interchangeable.  Leaves must be arrays.
    """
    out = []

    def rec(node: Tree, d: TreeDef, path: Path) -> None:
        kind = d[0]
        if kind == "leaf":
            if not is_array(node):
                raise ValueError(f"{name} has a {type(node).__name__} at {_where(path)} where "
                                 f"{ref} has an array")
            out.append(node)
            return
        if kind == "dict":
            keys = d[2]
            if not isinstance(node, dict):
                raise ValueError(f"{name} has a {type(node).__name__} at {_where(path)} where "
                                 f"{ref} has a dict")
            if len(node) != len(keys) or any(k not in node for k in keys):
                extra = [k for k in node if k not in keys]
                if extra:
                    raise ValueError(f"{name} has an extra key {extra[0]!r} at {_where(path)} "
                                     f"that {ref} does not have")
                missing = next(k for k in keys if k not in node)
                raise ValueError(f"{name} is missing the key {missing!r} at {_where(path)} "
                                 f"that {ref} has")
            for k, sub in zip(keys, d[3]):
                rec(node[k], sub, path + (k,))
            return
        length, subs = d[2], d[3]
        if not isinstance(node, (list, tuple)):
            raise ValueError(f"{name} has a {type(node).__name__} at {_where(path)} where {ref} "
                             f"has a sequence of length {length}")
        if len(node) != length:
            raise ValueError(f"{name} has a sequence of length {len(node)} at {_where(path)} "
                             f"where {ref} has length {length}")
        for i, (c, sub) in enumerate(zip(node, subs)):
            rec(c, sub, path + (i,))

    rec(tree, treedef, ())
    return out


def prefix_leaves(prefix: Any, treedef: TreeDef, name: str, is_value: Callable[[Any], bool],
                  ref: str = "params") -> list[Any]:
    """Broadcast a prefix tree (``prefix`` has the structure of ``treedef`` down to some
    depth, with values where ``is_value(node)``) to one value per leaf of ``treedef``."""
    out = []

    def fill(value: Any, d: TreeDef) -> None:
        if d[0] == "leaf":
            out.append(value)
        else:
            for sub in d[3]:
                fill(value, sub)

    def rec(node: Any, d: TreeDef, path: Path) -> None:
        if is_value(node):
            fill(node, d)
            return
        kind = d[0]
        if kind == "leaf":
            raise ValueError(f"{name} has a {type(node).__name__} at {_where(path)} where "
                             f"{ref} has an array (expected a value for the whole leaf)")
        if kind == "dict":
            keys = d[2]
            if not isinstance(node, dict):
                raise ValueError(f"{name} has a {type(node).__name__} at {_where(path)} where "
                                 f"{ref} has a dict")
            extra = [k for k in node if k not in keys]
            if extra:
                raise ValueError(f"{name} has an extra key {extra[0]!r} at {_where(path)} that "
                                 f"{ref} does not have")
            for k, sub in zip(keys, d[3]):
                if k not in node:
                    raise ValueError(f"{name} is missing the key {k!r} at {_where(path)} that "
                                     f"{ref} has")
                rec(node[k], sub, path + (k,))
            return
        length = d[2]
        if not isinstance(node, (list, tuple)) or len(node) != length:
            raise ValueError(f"{name} has a {type(node).__name__} at {_where(path)} where {ref} "
                             f"has a sequence of length {length}")
        for i, (c, sub) in enumerate(zip(node, d[3])):
            rec(c, sub, path + (i,))

    rec(prefix, treedef, ())
    return out


def same_structure(treedef: TreeDef, other: TreeDef, name: str) -> None:
    """Raise ValueError naming ``name`` when two structures differ."""
    if treedef != other:
        raise ValueError(f"{name} must have the same structure (dict keys, list lengths) as params")


def tree_map(fn: Callable[..., Array], tree: Tree, *rest: Tree,
             names: Sequence[str] = ()) -> Tree:
    """Apply ``fn`` leaf-wise over trees of identical structure (matched like ``leaves_like``)."""
    leaves, _, td = flatten(tree)
    others = [leaves_like(r, td, names[i] if i < len(names) else "tree")
              for i, r in enumerate(rest)]
    return unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def leaf_namespace(x: Array) -> Namespace:
    return array_namespace(x)
