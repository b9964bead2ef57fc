"""Row-block parallelism for the loss kernels: the library's one pool, ``probspace._pool``
(serial ``nogil`` kernels over row ranges on persistent threads that never spin, threads only
where a :class:`probspace._parallel.ThreadGate` says they pay).  This module names the loss
kernels' gates ``numopt.losses.<kernel>/<dtype>`` and keeps the decision in one replaceable
function (``threads_for``), which the tests force to exercise the threaded paths.

Results do not depend on the number of threads: every chunk writes its own rows, and
reductions are summed per fixed block (independent of the chunking) by the callers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numba

from probspace import _pool
from probspace._parallel import ThreadGate


def gate(name: str) -> ThreadGate:
    """The :class:`ThreadGate` of kernel ``name`` (one per kernel and dtype)."""
    return _pool.gate(f"numopt.losses.{name}")


def threads_for(g: ThreadGate, work: float) -> int:
    """Threads for a call of ``work`` units through gate ``g`` (1 = serial)."""
    return g.threads(work, numba.get_num_threads())


def run(kernel: Callable[[int, int], Any], n_items: int, work_per_item: float,
        name: str) -> list[Any]:
    """Call ``kernel(start, stop)`` over ``[0, n_items)``, serially or in chunks on the pool as
    gate ``name`` decides; returns the list of the chunks' return values in order."""
    g = gate(name)
    work = float(n_items) * max(float(work_per_item), 1.0)
    return _pool.run(kernel, n_items, work_per_item, g, threads=threads_for(g, work))


def status(results: Iterable[Any]) -> int:
    """Bitwise OR of integer kernel status codes."""
    out = 0
    for r in results:
        out |= int(r)
    return out
