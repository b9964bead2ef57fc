"""Every public name of probspace, numopt and solvers.diffusion has a registry entry, so a new
public function cannot skip the adversarial contract (register it in adv_registry.py).

solvers.ode / solvers.sde / solvers.flows / solvers.symbolic and tokenize_lab are outside this
module's scope: their own adversarial tests (tests/solvers/{ode,sde,flows}/,
tests/tokenize_lab/) cover them, maintained with those packages.
"""
import importlib
import pkgutil
import types

from adv_registry import REGISTRY

IN_SCOPE = ("probspace", "numopt", "solvers.diffusion")
OUT_OF_SCOPE = ("solvers.ode", "solvers.sde", "solvers.flows", "solvers.symbolic", "solvers",
                "tokenize_lab")


def _public_modules(root):
    out = [root]
    mod = importlib.import_module(root)
    for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
        if not info.name.startswith("_"):
            out += _public_modules(f"{root}.{info.name}")
    return out


def _public_names():
    names = {}
    for root in IN_SCOPE:
        for modname in _public_modules(root):
            mod = importlib.import_module(modname)
            for n in getattr(mod, "__all__", ()):
                names[f"{modname}.{n}"] = getattr(mod, n)
    return names


def test_every_public_name_in_scope_has_a_registry_entry():
    registered = {k.split("[")[0] for k in REGISTRY}
    missing = sorted(n for n, obj in _public_names().items()
                     if n not in registered and not isinstance(obj, types.ModuleType))
    assert not missing, ("public names without an entry in tests/adversarial/adv_registry.py "
                         f"(add one saying how to call them validly): {missing}")


def test_registry_names_still_exist():
    for key in REGISTRY:
        path = key.split("[")[0].split(".")
        for i in range(len(path), 0, -1):
            try:
                obj = importlib.import_module(".".join(path[:i]))
                break
            except ImportError:
                continue
        for attr in path[i:]:
            obj = getattr(obj, attr)   # AttributeError: a registry entry for a removed name


def test_out_of_scope_packages_are_not_registered_here():
    assert not [k for k in REGISTRY if k.startswith(OUT_OF_SCOPE[:4] + ("tokenize_lab",))]
