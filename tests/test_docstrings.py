"""Run the ``Examples`` sections of the public docstrings as doctests, so the documentation
cannot rot: every module docstring of a public module, and every object in its ``__all__``
(classes with their methods), once each.  Public modules are those of the four packages whose
dotted names have no ``_``-prefixed part (the same set as the API reference)."""
import doctest
import importlib
import inspect
import pkgutil
import types

import pytest

PACKAGES = ("probspace", "numopt", "solvers", "tokenize_lab")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_modules():
    out = []

    def walk(name):
        mod = importlib.import_module(name)
        out.append(mod)
        for info in sorted(pkgutil.iter_modules(getattr(mod, "__path__", [])), key=lambda i: i.name):
            if not info.name.startswith("_"):
                walk(f"{name}.{info.name}")

    for pkg in PACKAGES:
        walk(pkg)
    return out


def _collect():
    finder = doctest.DocTestFinder(exclude_empty=True)
    seen, tests = set(), []
    for mod in _public_modules():
        found = finder.find(mod, mod.__name__, module=mod, globs=vars(mod).copy())
        tests += [t for t in found if t.name == mod.__name__]      # the module docstring only
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if obj is None or isinstance(obj, types.ModuleType) or id(obj) in seen:
                continue
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            seen.add(id(obj))
            home = importlib.import_module(getattr(obj, "__module__", mod.__name__) or mod.__name__)
            tests += finder.find(obj, f"{mod.__name__}.{name}", module=home,
                                 globs=vars(mod).copy())
    tests = [t for t in tests if t.examples]
    return sorted(tests, key=lambda t: t.name)


DOCTESTS = _collect()


def test_there_are_doctests():
    assert len(DOCTESTS) >= 20


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples(test):
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=report.append, clear_globs=True)
    assert runner.failures == 0, "".join(report)
