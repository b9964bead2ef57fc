"""Minimal pytree helpers: params are an array or a dict/list/tuple (nested) of arrays."""
from __future__ import annotations

import array_api_compat
import numpy as np

from probspace import array_namespace

__all__ = ["flatten", "unflatten", "tree_map", "leaf_namespace", "path_name"]


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def flatten(tree, name="params"):
    """Leaves (depth first, dict insertion order), their paths, and a structure descriptor."""
    leaves, paths = [], []

    def rec(node, path):
        if isinstance(node, dict):
            keys = tuple(node.keys())
            return ("dict", type(node), keys, tuple(rec(node[k], path + (k,)) for k in keys))
        if isinstance(node, (list, tuple)):
            return ("seq", type(node), len(node),
                    tuple(rec(c, path + (i,)) for i, c in enumerate(node)))
        if not isinstance(node, np.ndarray) and not array_api_compat.is_array_api_obj(node):
            where = path_name(path) or "<root>"
            raise TypeError(f"{name} leaves must be arrays, got {type(node).__name__} at {where}")
        leaves.append(node)
        paths.append(path)
        return ("leaf",)

    treedef = rec(tree, ())
    return leaves, paths, treedef


def unflatten(treedef, leaves):
    it = iter(leaves)

    def rec(d):
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


def same_structure(treedef, other, name):
    """Raise ValueError naming ``name`` when two structures differ."""
    if treedef != other:
        raise ValueError(f"{name} must have the same structure (dict keys, list lengths) as params")


def tree_map(fn, tree, *rest, names=()):
    """Apply ``fn`` leaf-wise over trees of identical structure."""
    leaves, _, td = flatten(tree)
    others = []
    for i, r in enumerate(rest):
        nm = names[i] if i < len(names) else "tree"
        lv, _, tdr = flatten(r, nm)
        same_structure(td, tdr, nm)
        others.append(lv)
    return unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def leaf_namespace(x):
    return array_namespace(x)


def path_name(path):
    """'a/b/0' style name of a leaf path (used for Tiger's parameter roles)."""
    return "/".join(str(p) for p in path)
