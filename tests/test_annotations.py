"""Every public function and class method of the packages already typed carries complete type
annotations (parameters and return), so ``py.typed`` is honest for them.  mypy (``.ci/run``)
checks that the annotations are consistent; this checks that none is missing.

Scope: ``probspace`` and ``numopt`` (all of them), ``solvers.diffusion``; the remaining packages
join when their public API is annotated.
"""
import importlib
import inspect
import pkgutil
import types

import pytest

TYPED = ("probspace", "numopt", "solvers.diffusion")


def _modules(root):
    mod = importlib.import_module(root)
    out = [mod]
    for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
        if not info.name.startswith("_"):
            out += _modules(f"{root}.{info.name}")
    return out


def _callables():
    seen, out = set(), []
    for root in TYPED:
        for mod in _modules(root):
            for name in getattr(mod, "__all__", ()):
                obj = getattr(mod, name)
                if isinstance(obj, types.ModuleType) or id(obj) in seen:
                    continue
                seen.add(id(obj))
                if inspect.isclass(obj):
                    own = [k for k in obj.__mro__ if k.__module__.startswith(TYPED)]
                    members = {a: m for k in reversed(own) for a, m in vars(k).items()}
                    for attr, member in members.items():
                        if attr.startswith("_") and attr not in ("__init__", "__call__"):
                            continue
                        if isinstance(member, (staticmethod, classmethod)):
                            member = member.__func__
                        if isinstance(member, property):
                            member = member.fget
                        if inspect.isfunction(member):
                            out.append((f"{mod.__name__}.{name}.{attr}", member))
                elif inspect.isfunction(obj) or inspect.isgeneratorfunction(obj):
                    out.append((f"{mod.__name__}.{name}", obj))
                elif callable(obj) and hasattr(obj, "__wrapped__"):   # contextmanager etc.
                    out.append((f"{mod.__name__}.{name}", inspect.unwrap(obj)))
    return out


CALLABLES = _callables()


def test_scope_is_not_empty():
    assert len(CALLABLES) > 60


@pytest.mark.parametrize("qualname, fn", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_fully_annotated(qualname, fn):
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{qualname}: parameters without annotation: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{qualname}: no return annotation"
