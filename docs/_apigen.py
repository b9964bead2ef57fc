"""Write the API reference pages from each public module's ``__all__``.

Every module of the four import packages whose dotted name has no ``_``-prefixed part is public;
each must define ``__all__`` (the build fails otherwise).  One page per public module lists its
names in an autosummary table; every object gets its own page once, under the first public module
that exports it (shortest dotted name first), and other modules that re-export it link there.
Names added to an ``__all__`` later appear in the docs without editing anything here.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from pathlib import Path

PACKAGES = ("probspace", "numopt", "solvers", "tokenize_lab")


def public_modules(packages=PACKAGES):
    """Dotted names of the public modules, parents before children."""
    out = []

    def walk(name):
        mod = importlib.import_module(name)
        out.append(name)
        for info in sorted(pkgutil.iter_modules(getattr(mod, "__path__", [])), key=lambda i: i.name):
            if not info.name.startswith("_"):
                walk(f"{name}.{info.name}")

    for pkg in packages:
        walk(pkg)
    return out


def _summary(obj):
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ") if doc else ""


def _title(text, char="="):
    return f"{text}\n{char * len(text)}\n"


def collect(packages=PACKAGES):
    """(module name, module, [(name, obj)]) for every public module; raises if __all__ is missing."""
    rows, missing = [], []
    for name in public_modules(packages):
        mod = importlib.import_module(name)
        names = getattr(mod, "__all__", None)
        if names is None:
            missing.append(name)
            continue
        items = []
        for n in names:
            if n.startswith("__"):
                continue  # __version__ and friends
            if not hasattr(mod, n):
                raise AttributeError(f"{name}.__all__ lists {n!r}, which {name} does not define")
            items.append((n, getattr(mod, n)))
        rows.append((name, mod, items))
    if missing:
        raise RuntimeError("public modules without __all__ (add one so the API reference is "
                           f"complete): {', '.join(missing)}")
    return rows


def _kind(obj):
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def write(outdir, packages=PACKAGES):
    """Write ``outdir/index.rst`` and one page per public module; return the number of objects."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = collect(packages)
    canonical = {}  # id(obj) -> "module.name" of the page that documents it
    order = sorted(rows, key=lambda r: (r[0].count("."), r[0]))
    for modname, _mod, items in order:
        for n, obj in items:
            if _kind(obj) in ("module", "data"):
                continue
            canonical.setdefault(id(obj), f"{modname}.{n}")
    n_objects = 0
    pages = []
    for modname, mod, items in rows:
        lines = [f".. _api-{modname}:", "", _title(modname), f".. automodule:: {modname}", "   :no-members:",
                 "", f".. currentmodule:: {modname}", ""]
        own = [(n, o) for n, o in items if _kind(o) not in ("module",)
               and (_kind(o) == "data" or canonical[id(o)] == f"{modname}.{n}")]
        subs = [(n, o) for n, o in items if _kind(o) == "module"]
        alias = [(n, o) for n, o in items if _kind(o) not in ("module", "data")
                 and canonical[id(o)] != f"{modname}.{n}"]
        for kind, label in (("class", "Classes"), ("function", "Functions"), ("data", "Constants")):
            group = [n for n, o in own if _kind(o) == kind]
            if not group:
                continue
            lines += [_title(label, "-"), ".. autosummary::", "   :toctree: generated/",
                      "   :nosignatures:", ""]
            lines += [f"   {n}" for n in group]
            lines.append("")
            n_objects += len(group)
        if alias:
            lines += [_title("Also exported here", "-"),
                      "These names are documented under their shorter public path:", ""]
            lines += [f"- :obj:`{modname}.{n} <{canonical[id(o)]}>`" for n, o in alias]
            lines.append("")
        if subs:
            lines += [_title("Subpackages", "-")]
            lines += [f"- :ref:`api-{o.__name__}`" for n, o in subs]
            lines.append("")
        (outdir / f"{modname}.rst").write_text("\n".join(lines))
        pages.append((modname, mod))
    index = [".. _api:", "", _title("API reference"),
             "Every public name of the four import packages, generated from each module's "
             "``__all__``.  Import names from the module shown (``from numopt import "
             "project_simplex``); the private ``_*.py`` modules they live in may move.", ""]
    for pkg in packages:
        index += [_title(f"``{pkg}``", "-"), ".. list-table::", "   :widths: 30 70", ""]
        for modname, mod in pages:
            if modname == pkg or modname.startswith(pkg + "."):
                summary = _summary(mod).replace("|", "\\|") or " "
                index += [f"   * - :ref:`{modname} <api-{modname}>`", f"     - {summary}"]
        index.append("")
    index += [".. toctree::", "   :hidden:", ""] + [f"   {m}" for m, _ in pages] + [""]
    (outdir / "index.rst").write_text("\n".join(index))
    return n_objects
