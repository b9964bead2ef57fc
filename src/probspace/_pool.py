"""One thread pool for the library's serial ``nogil`` Numba kernels, so that they stay fast on
a busy machine.

Numba's ``prange`` hands every thread one fixed share of the work, and with the default
OpenMP threading layer idle workers spin before they sleep.  When other processes hold the
cores, the thread that shares one finishes its fixed share last while the others spin: on the
2-core development machine a 2-thread softmax cross-entropy over 4096 x 100 float64 went from
0.3 ms to 20 ms with other processes running (serial: 0.55 ms either way).  Kernels that use
this module are therefore serial ``nogil`` Numba functions over an index range
``kernel(start, stop)``, and :func:`run` calls them on a small pool of persistent Python
threads:

* **whether** to use threads, and how many, is decided per kernel by a
  :class:`probspace._parallel.ThreadGate` (one per name, :func:`gate`): only when the calibrated
  single-thread time of the call is at least 0.3 ms, only on cores that no other runnable
  thread occupies at the time (``/proc/loadavg``), and not again for a back-off period after a
  threaded call that did not beat the serial estimate;
* the work is cut into chunks of at least ~50 us, at most ``CHUNKS_PER_THREAD`` per thread,
  taken dynamically (the caller works too), so a thread that gets less CPU takes fewer chunks;
* idle helpers block on a queue (a futex wait): nothing spins, whatever Numba's threading
  layer (``numba.threading_layer()``) or ``OMP_WAIT_POLICY`` is, and the pool never changes
  global state.

The thread budget is ``numba.get_num_threads()`` (``NUMBA_NUM_THREADS``,
``numba.set_num_threads``) bounded by the CPU affinity; ``PROBSPACE_THREADS=1`` keeps every
gated kernel serial.  Callers keep results independent of the number of threads: every chunk
writes its own outputs, and reductions are summed per fixed block (independent of the
chunking).

Users: ``numopt.losses`` (rows of a batch), ``probspace.random`` (counter blocks of a fill),
``solvers.diffusion`` (rows of the trajectory cost matrix).
"""
from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from typing import Any, Callable

from ._parallel import ThreadGate

__all__ = ["POOL", "Pool", "gate", "run"]

CHUNKS_PER_THREAD = 4
MIN_CHUNK_SECONDS = 5e-5


class Pool:
    """Persistent daemon threads that run ``map_chunks`` jobs; idle ones block on a queue."""

    def __init__(self) -> None:
        self._reset_after_fork()

    def _reset_after_fork(self) -> None:
        # threads do not survive a fork: the child starts with an empty pool
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def _grow(self, k: int) -> None:
        with self._lock:
            while len(self._threads) < k:
                t = threading.Thread(target=self._serve, daemon=True,
                                     name=f"probspace-pool-{len(self._threads)}")
                t.start()
                self._threads.append(t)

    def _serve(self) -> None:
        while True:
            self._jobs.get()()

    def map_chunks(self, fn: Callable[[int], Any], n_chunks: int, n_threads: int) -> list[Any]:
        """``[fn(c) for c in range(n_chunks)]`` on ``n_threads`` threads (caller included);
        chunks are taken in order by whichever thread is free.  The first exception raised by
        a chunk is re-raised here after every chunk has finished."""
        counter = itertools.count()
        results: list[Any] = [None] * n_chunks
        errors: list[BaseException] = []
        left = [n_chunks]
        done = threading.Event()
        lock = threading.Lock()

        def work() -> None:
            while True:
                c = next(counter)          # atomic under the GIL
                if c >= n_chunks:
                    return
                try:
                    results[c] = fn(c)
                except BaseException as exc:   # re-raised in the caller
                    errors.append(exc)
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        done.set()

        if n_chunks <= 0:
            return results
        helpers = min(n_threads, n_chunks) - 1
        self._grow(helpers)
        for _ in range(helpers):
            self._jobs.put(work)
        work()
        done.wait()
        if errors:
            raise errors[0]
        return results


POOL = Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL._reset_after_fork)

_GATES: dict[str, ThreadGate] = {}


def gate(name: str) -> ThreadGate:
    """The :class:`ThreadGate` named ``name`` (created on first use; one per kernel and dtype)."""
    g = _GATES.get(name)
    if g is None:
        g = _GATES.setdefault(name, ThreadGate(name))
    return g


def max_threads() -> int:
    """The thread budget: ``numba.get_num_threads()``."""
    import numba
    return numba.get_num_threads()


def chunk_bounds(n_items: int, n_chunks: int, align: int = 1) -> list[int]:
    """``n_chunks + 1`` increasing boundaries from 0 to ``n_items``, inner ones multiples of
    ``align`` (fewer chunks when ``n_items`` holds fewer aligned pieces)."""
    pieces = -(-n_items // align)
    n_chunks = max(1, min(n_chunks, pieces))
    return [min(n_items, (pieces * c // n_chunks) * align) for c in range(n_chunks + 1)]


def run(kernel: Callable[[int, int], Any], n_items: int, work_per_item: float,
        gate_or_name: ThreadGate | str, *, threads: int | None = None,
        align: int = 1) -> list[Any]:
    """Call ``kernel(start, stop)`` over ``[0, n_items)``, serially or in chunks on the pool.

    Parameters
    ----------
    kernel : callable
        Usually a serial ``nogil`` Numba function (it must release the GIL to run in parallel)
        that handles items ``start .. stop - 1`` and writes only their outputs.
    n_items : int
    work_per_item : float
        Relative cost of one item (any unit, the same for every call through one gate).
    gate_or_name : ThreadGate or str
        The gate that decides and learns the serial speed (a name: :func:`gate`).
    threads : int, optional
        The number of threads, decided by the caller (1: serial); default: the gate's decision.
    align : int
        Inner chunk boundaries are multiples of ``align`` (e.g. a kernel's SIMD block).

    Returns
    -------
    list
        The chunks' return values in order (one element when serial).
    """
    g = gate(gate_or_name) if isinstance(gate_or_name, str) else gate_or_name
    work = float(n_items) * max(float(work_per_item), 1.0)
    nt = g.threads(work, max_threads()) if threads is None else int(threads)
    nt = min(nt, -(-n_items // max(1, align)))
    t0 = time.perf_counter()
    if nt <= 1:
        out = [kernel(0, n_items)]
        nt = 1
    else:
        est = g.serial_estimate(work)
        by_time = int(est / MIN_CHUNK_SECONDS) if est else n_items
        n_chunks = max(nt, min(n_items, nt * CHUNKS_PER_THREAD, by_time))
        bounds = chunk_bounds(n_items, n_chunks, align)
        out = POOL.map_chunks(lambda c: kernel(bounds[c], bounds[c + 1]), len(bounds) - 1, nt)
    g.record(nt, work, time.perf_counter() - t0)
    return out
