"""Every public module defines a correct ``__all__``: the API reference (docs/_apigen.py) and
``from module import *`` are generated from it, so a name missing there is missing from the docs.

Public modules are those of the four packages whose dotted names have no ``_``-prefixed part.
"""
import importlib
import inspect
import pkgutil
import types

import pytest

PACKAGES = ("probspace", "numopt", "solvers", "tokenize_lab")


def public_modules():
    out = []

    def walk(name):
        mod = importlib.import_module(name)
        out.append(name)
        for info in sorted(pkgutil.iter_modules(getattr(mod, "__path__", [])), key=lambda i: i.name):
            if not info.name.startswith("_"):
                walk(f"{name}.{info.name}")

    for pkg in PACKAGES:
        walk(pkg)
    return out


MODULES = public_modules()


def test_the_walk_finds_the_known_public_modules():
    for name in ("probspace", "probspace.random", "probspace.sym", "probspace.testing", "numopt",
                 "numopt.optim", "numopt.losses", "numopt.estimators", "numopt.scaling",
                 "solvers", "solvers.diffusion", "solvers.symbolic", "tokenize_lab"):
        assert name in MODULES


@pytest.mark.parametrize("modname", MODULES)
def test_all_is_defined_and_resolves(modname):
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    assert names is not None, f"{modname} has no __all__"
    assert len(names) == len(set(names)), f"{modname}.__all__ lists a name twice"
    for n in names:
        assert hasattr(mod, n), f"{modname}.__all__ lists {n!r}, which {modname} does not define"


@pytest.mark.parametrize("modname", MODULES)
def test_all_lists_every_public_function_and_class(modname):
    """A public function or class defined in the module, or in one of its private ``_*``
    submodules (a re-export), is in ``__all__``.  Submodules need not be listed (the docs find
    them by walking the package); pytest hooks (``pytest_*``) are not API."""
    mod = importlib.import_module(modname)
    listed = set(getattr(mod, "__all__", ()))
    missing = []
    for n, obj in vars(mod).items():
        if n.startswith(("_", "pytest_")) or n in listed or isinstance(obj, types.ModuleType):
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = getattr(obj, "__module__", "") or ""
        if home == modname or home.startswith(modname + "._"):
            missing.append(n)
    assert not missing, f"{modname}: public names missing from __all__: {sorted(missing)}"
