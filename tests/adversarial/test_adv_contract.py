"""The contract harness over every registered public callable (see adv_harness.py).

All entries run in child processes (``probspace.testing.run_isolated``): a segfault or a
hang in a kernel fails the entry it happened in, and the others still run.  Under
``NUMBA_BOUNDSCHECK=1`` (CI's second run) the child inherits it, so an out-of-bounds access
in a kernel shows up as an unexpected ``IndexError`` of that entry.
"""
import pytest

from adv_harness import run_entries_isolated
from adv_registry import REGISTRY

CALLED = sorted(n for n, e in REGISTRY.items() if e.build is not None)


@pytest.fixture(scope="module")
def outcomes():
    return run_entries_isolated(CALLED)


@pytest.mark.parametrize("name", CALLED)
def test_public_callable_keeps_the_boundary_contract(name, outcomes):
    failures = outcomes[name]
    assert not failures, f"{name}: {len(failures)} contract violation(s):\n  " + "\n  ".join(
        failures)


def test_the_registry_calls_most_of_the_api():
    assert len(CALLED) >= 95
    not_called = [e for e in REGISTRY.values() if e.build is None]
    assert all(e.reason for e in not_called), [e.name for e in not_called if not e.reason]
