"""Every public function and callable class of probspace, numopt and solvers.diffusion says in
its docstring what it does with NaN and inf (issue 14: raise, propagate, or not applicable)."""
import importlib
import inspect

import pytest

from test_adv_coverage import IN_SCOPE, _public_modules

OBJECTS = {}
for root in IN_SCOPE:
    for modname in _public_modules(root):
        mod = importlib.import_module(modname)
        for n in getattr(mod, "__all__", ()):
            obj = getattr(mod, n)
            if inspect.isfunction(obj) or (inspect.isclass(obj) and "__init__" in vars(obj)
                                           and not hasattr(obj, "_fields")
                                           and not hasattr(obj, "__dataclass_fields__")):
                OBJECTS.setdefault(f"{getattr(obj, '__module__', modname)}.{obj.__qualname__}",
                                   obj)


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_says_what_happens_to_nan_and_inf(name):
    doc = inspect.getdoc(OBJECTS[name]) or ""
    assert "NaN" in doc or "nan" in doc.lower(), f"{name}: say what NaN/inf input does"
