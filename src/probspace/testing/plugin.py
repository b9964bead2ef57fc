"""pytest plugin: the ``xp`` fixture and the ``gpu`` marker's auto-skip.

``xp`` runs a test on NumPy (array-api-compat wrapped) and array_api_strict, plus CuPy when a
CUDA device is present (that parameter carries the ``gpu`` marker).
"""
from __future__ import annotations

from typing import Any

import pytest

from . import available_namespaces, gpu_available

# Loaded by pytest (``pytest_plugins``), not imported by users: no public names.
__all__: list[str] = []


def _params() -> list[Any]:
    out = []
    for name, ns in available_namespaces(include_gpu=True):
        marks = [pytest.mark.gpu] if name == "cupy" else []
        out.append(pytest.param(ns, id=name, marks=marks))
    return out


@pytest.fixture(params=_params())
def xp(request: Any) -> Any:
    """An array-API namespace: numpy, array_api_strict, and cupy when a GPU is present."""
    return request.param


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "gpu: needs CuPy and a CUDA device (skipped otherwise)")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device / CuPy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
