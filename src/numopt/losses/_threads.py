"""Row-block parallelism for the loss kernels that stays fast on a busy machine.

Numba's ``prange`` hands every thread one fixed share of the rows; with the default OpenMP
threading layer idle workers also spin before they sleep.  When other processes hold the
cores, the thread that shares one finishes its fixed share last while the others spin: on the
2-core development machine a 2-thread softmax cross-entropy over 4096 x 100 float64 went from
0.3 ms to 20 ms with other processes running (serial: 0.55 ms either way).
The loss kernels are therefore serial, ``nogil`` Numba functions over a block range, and this
module runs them on a small pool of persistent Python threads:

* threads only when the call has at least ``PARALLEL_MIN_WORK`` elementary steps, and at most
  one thread per ``MIN_CHUNK_WORK`` steps;
* no more threads than there are cores not running other threads at the time of the call
  (``/proc/loadavg``'s count of runnable threads): a helper that has to share a core can be
  descheduled for a whole time slice (milliseconds) in the middle of its chunk, and the caller
  would wait for it -- on a busy machine one thread is faster;
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

# Work is counted in "elementary steps" of roughly 0.05 ns of one core (a callers' estimate):
PARALLEL_MIN_WORK = 1 << 22     # ~0.2 ms serial: below this one thread is faster
MIN_CHUNK_WORK = 1 << 20        # never cut the work into pieces smaller than ~50 us
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


_CPUS = os.cpu_count() or 1


def _others_running():
    """Runnable threads of other processes right now (Linux: field 4 of /proc/loadavg counts
    the runnable threads of the whole system, the reader included); 0 when unknown."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(running - 1, 0)


def budget():
    """Threads a call may use: ``numba.get_num_threads()``, less the cores that other runnable
    threads occupy at this moment (so a busy machine runs the kernels serially instead of
    waiting for a descheduled helper)."""
    threads = numba.get_num_threads()
    if threads <= 1:
        return 1
    return max(1, min(threads, _CPUS - _others_running()))


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
