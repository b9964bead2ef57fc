"""Row-block parallelism for the loss kernels that stays fast on a busy machine.

Numba's ``prange`` hands every thread one fixed share of the rows; with the default OpenMP
threading layer idle workers also spin before they sleep.  When other processes hold the
cores, the thread that shares one finishes its fixed share last while the others spin: on the
2-core development machine a 2-thread softmax cross-entropy over 4096 x 100 float64 went from
0.3 ms to 20 ms with other processes running (serial: 0.55 ms either way).  The loss kernels
are therefore serial, ``nogil`` Numba functions over a block range, and this module runs them
on a small pool of persistent Python threads:

* **whether** to use threads, and how many, is decided per kernel (and dtype) by the library's
  :class:`probspace._parallel.ThreadGate`: only when the calibrated single-thread time of the
  call is at least 0.3 ms, only on cores that no other runnable thread occupies at the time
  (``/proc/loadavg``), and not again for a back-off period after a threaded call that did not
  beat the serial estimate;
* the work is cut into chunks of at least ~50 us, at most ``CHUNKS_PER_THREAD`` per thread,
  taken dynamically (the caller works too), so a thread that gets less CPU takes fewer chunks;
* idle helpers block on a queue (a futex wait): nothing spins, whatever Numba's threading
  layer (``numba.threading_layer()``) or ``OMP_WAIT_POLICY`` is, and the pool never changes
  global state.

The thread budget is ``numba.get_num_threads()`` (``NUMBA_NUM_THREADS``,
``numba.set_num_threads``; ``PROBSPACE_THREADS=1`` keeps every gated kernel serial).  Results
do not depend on the number of threads: every chunk writes its own rows, and reductions are
summed per fixed block (independent of the chunking) by the callers.
"""
from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numba

from probspace._parallel import ThreadGate

CHUNKS_PER_THREAD = 4
MIN_CHUNK_SECONDS = 5e-5


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pid = os.getpid()

    def _reset_after_fork(self) -> None:
        self.__init__()  # type: ignore[misc]  # _Pool has no subclasses

    def _grow(self, k: int) -> None:
        with self._lock:
            while len(self._threads) < k:
                t = threading.Thread(target=self._serve, daemon=True,
                                     name=f"numopt-losses-{len(self._threads)}")
                t.start()
                self._threads.append(t)

    def _serve(self) -> None:
        while True:
            self._jobs.get()()

    def map_chunks(self, fn: Callable[[int], Any], n_chunks: int, n_threads: int) -> list[Any]:
        """``[fn(c) for c in range(n_chunks)]`` on ``n_threads`` threads (caller included)."""
        counter = itertools.count()
        results = [None] * n_chunks
        errors = []
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

        helpers = min(n_threads, n_chunks) - 1
        self._grow(helpers)
        for _ in range(helpers):
            self._jobs.put(work)
        work()
        done.wait()
        if errors:
            raise errors[0]
        return results


_POOL = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL._reset_after_fork)

_GATES: dict[str, ThreadGate] = {}


def gate(name: str) -> ThreadGate:
    """The :class:`ThreadGate` of kernel ``name`` (one per kernel and dtype)."""
    g = _GATES.get(name)
    if g is None:
        g = _GATES.setdefault(name, ThreadGate(f"numopt.losses.{name}"))
    return g


def threads_for(g: ThreadGate, work: float) -> int:
    """Threads for a call of ``work`` units through gate ``g`` (1 = serial)."""
    return g.threads(work, numba.get_num_threads())


def run(kernel: Callable[[int, int], Any], n_items: int, work_per_item: float,
        name: str) -> list[Any]:
    """Call ``kernel(start, stop)`` over ``[0, n_items)``, serially or in chunks on the pool as
    gate ``name`` decides; returns the list of the chunks' return values in order."""
    work = float(n_items) * max(float(work_per_item), 1.0)
    g = gate(name)
    nt = min(threads_for(g, work), n_items)
    t0 = time.perf_counter()
    if nt <= 1:
        out = [kernel(0, n_items)]
        nt = 1
    else:
        est = g.serial_estimate(work)
        by_time = int(est / MIN_CHUNK_SECONDS) if est else n_items
        n_chunks = max(nt, min(n_items, nt * CHUNKS_PER_THREAD, by_time))
        bounds = [n_items * c // n_chunks for c in range(n_chunks + 1)]
        out = _POOL.map_chunks(lambda c: kernel(bounds[c], bounds[c + 1]), n_chunks, nt)
    g.record(nt, work, time.perf_counter() - t0)
    return out


def status(results: Iterable[Any]) -> int:
    """Bitwise OR of integer kernel status codes."""
    out = 0
    for r in results:
        out |= int(r)
    return out
