"""Row-block parallelism for the loss kernels that stays fast on a busy machine.

Numba's ``prange`` hands every thread one fixed share of the rows; with the default OpenMP
threading layer idle workers also spin before they sleep.  When another process holds a core,
the thread that shares it finishes its fixed share last while the others spin: a 2-thread
kernel then ran 20-40 times slower than the serial one on the 2-core development machine.
The loss kernels are therefore serial, ``nogil`` Numba functions over a block range, and this
module runs them on a small pool of persistent Python threads:

* threads only when the call has at least ``PARALLEL_MIN_WORK`` elementary steps, and at most
  one thread per ``MIN_CHUNK_WORK`` steps;
* the work is cut into ``CHUNKS_PER_THREAD`` chunks per thread, taken dynamically (the caller
  works too), so a thread that gets less CPU simply takes fewer chunks;
* idle helpers block on a queue (a futex wait): nothing spins, whatever Numba's threading
  layer (``numba.threading_layer()``) or ``OMP_WAIT_POLICY`` is.

The thread budget is ``numba.get_num_threads()`` (``NUMBA_NUM_THREADS``,
``numba.set_num_threads``), as for the library's ``prange`` kernels.  Results do not depend on
the number of threads: every chunk writes its own rows, and reductions are summed per fixed
block (independent of the chunking) by the callers.
"""
from __future__ import annotations

import itertools
import os
import queue
import threading

import numba

PARALLEL_MIN_WORK = 1 << 18     # below this many elementary steps one thread is faster
MIN_CHUNK_WORK = 1 << 16        # never cut the work into pieces smaller than this
CHUNKS_PER_THREAD = 4


class _Pool:
    def __init__(self):
        self._lock = threading.Lock()
        self._jobs = queue.SimpleQueue()
        self._threads = []
        self._pid = os.getpid()

    def _reset_after_fork(self):
        self.__init__()

    def _grow(self, k):
        with self._lock:
            while len(self._threads) < k:
                t = threading.Thread(target=self._serve, daemon=True,
                                     name=f"numopt-losses-{len(self._threads)}")
                t.start()
                self._threads.append(t)

    def _serve(self):
        while True:
            self._jobs.get()()

    def map_chunks(self, fn, n_chunks, n_threads):
        """``[fn(c) for c in range(n_chunks)]`` on ``n_threads`` threads (caller included)."""
        counter = itertools.count()
        results = [None] * n_chunks
        errors = []
        left = [n_chunks]
        done = threading.Event()
        lock = threading.Lock()

        def work():
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


def budget():
    """Threads a call may use: ``numba.get_num_threads()``."""
    return numba.get_num_threads()


def plan(n_items, work_per_item):
    """Number of chunks (1 = run serially in the caller) for ``n_items`` items."""
    threads = budget()
    work = n_items * max(int(work_per_item), 1)
    if threads <= 1 or n_items < 2 or work < PARALLEL_MIN_WORK:
        return 1
    threads = min(threads, max(work // MIN_CHUNK_WORK, 1))
    if threads <= 1:
        return 1
    return int(min(n_items, threads * CHUNKS_PER_THREAD))


def run(kernel, n_items, work_per_item):
    """Call ``kernel(start, stop)`` over ``[0, n_items)`` cut into chunks, serially or on the
    pool; returns the list of the chunks' return values in order."""
    n_chunks = plan(n_items, work_per_item)
    if n_chunks == 1:
        return [kernel(0, n_items)]
    bounds = [n_items * c // n_chunks for c in range(n_chunks + 1)]
    return _POOL.map_chunks(lambda c: kernel(bounds[c], bounds[c + 1]), n_chunks,
                            min(budget(), n_chunks))


def status(results):
    """Bitwise OR of integer kernel status codes."""
    out = 0
    for r in results:
        out |= int(r)
    return out
