"""Sphinx configuration of the probspace documentation.

Build (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The gallery runs ``examples/plot_*.py`` in quick mode (``PROBSPACE_EXAMPLES_QUICK=1``, set here
unless already set); ``PROBSPACE_EXAMPLES_QUICK=0`` runs the full-size examples.
``PROBSPACE_DOCS_OFFLINE=1`` skips the intersphinx probe of numpy.org / docs.scipy.org.
"""
from __future__ import annotations

import datetime
import os
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

os.environ.setdefault("PROBSPACE_EXAMPLES_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import probspace  # noqa: E402
import _apigen  # noqa: E402

project = "probspace"
author = "the probspace developers"
copyright = f"{datetime.date.today().year}, the probspace developers"
release = probspace.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.py", "auto_examples/*.ipynb",
                    "auto_examples/*.md5", "auto_examples/*.pickle", "auto_examples/*.zip",
                    "auto_examples/*.json"]
root_doc = "index"
default_role = "obj"
nitpicky = False

# -- API pages, generated from every public module's __all__ -----------------------------------
N_API_OBJECTS = _apigen.write(HERE / "api")
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"          # the numpydoc Parameters section carries the types
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- intersphinx: numpy and scipy, when their inventories can be had ---------------------------
# CI machines and this project's own machines may have no route to numpy.org / docs.scipy.org.
# An inventory that cannot be fetched would be a warning (an error under -W), so each one is
# probed first (3 s) and left out when unreachable: references to numpy/scipy objects then
# render as plain code instead of links.  A genuine inventory saved as
# docs/_intersphinx/<name>-objects.inv is used instead of the network when present.
_INVENTORIES = {
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "python": "https://docs.python.org/3/",
}


def _inventory(name, url):
    local = HERE / "_intersphinx" / f"{name}-objects.inv"
    if local.is_file():
        return (url, str(local))
    if os.environ.get("PROBSPACE_DOCS_OFFLINE", "0") == "1":
        return None
    try:
        with urllib.request.urlopen(url + "objects.inv", timeout=3) as r:  # noqa: S310 (fixed https URLs)
            r.read(16)
        return (url, None)
    except Exception:
        return None


intersphinx_mapping = {k: v for k, v in ((k, _inventory(k, u)) for k, u in _INVENTORIES.items()) if v}
INTERSPHINX_SKIPPED = sorted(set(_INVENTORIES) - set(intersphinx_mapping))
intersphinx_timeout = 5

# -- gallery ------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"[\\/]plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": _apigen.PACKAGES,
    "backreferences_dir": "api/backrefs",
    "reference_url": {pkg: None for pkg in _apigen.PACKAGES},
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "first_notebook_cell": None,
    "matplotlib_animations": False,
    "min_reported_time": 1,
}

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"probspace {release}"
html_static_path = ["_static"]
html_css_files = ["probspace.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "theory": [], "changelog": []}
html_show_sourcelink = False
math_number_all = False


def setup(app):
    from sphinx.util import logging
    log = logging.getLogger("probspace.docs")
    log.info(f"probspace docs: {N_API_OBJECTS} API objects from __all__; intersphinx "
             f"{sorted(intersphinx_mapping) or 'off'}"
             + (f" (unreachable, left out: {', '.join(INTERSPHINX_SKIPPED)})" if INTERSPHINX_SKIPPED else ""))
