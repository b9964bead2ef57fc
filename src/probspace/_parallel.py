"""Thread decisions for Numba kernels on shared machines.

A ``prange`` kernel is a bet that every thread gets a core.  On a loaded machine the bet
goes badly wrong: the region ends at a barrier, the team waits for its slowest thread, and a
thread that shares its core with another busy process runs only in scheduler time slices
(milliseconds).  With Numba's OpenMP layer the waiting threads also *spin* (libgomp's
default wait policy), holding the very cores the late thread needs.  Measured here on a
2-core machine with about 6 runnable processes: a Condat projection of 1e6 entries took
0.55 ms on one thread and 116 ms (median) on two.

:class:`ThreadGate` makes that bet only when it is likely to pay:

* **Enough work.**  Threads are used only when the estimated single-thread time of the call
  is at least ``min_seconds`` (default 300 us): waking a team and joining it costs tens of
  microseconds even on an idle machine.  The estimate is the kernel's measured serial rate
  (seconds per unit of work, an exponential average over the serial calls it observed; the
  first calls run serially to calibrate it).
* **Idle cores.**  Before it (re)starts using threads, the gate reads the number of runnable
  tasks from ``/proc/loadavg`` (Linux; a few microseconds) and stays serial unless at least
  two cores are free for this call.  During a streak of parallel calls it does not read it
  (the team's own spinning workers would count as load); it relies on the next rule.
* **Observed efficiency.**  Every parallel call is timed; when it took longer than the
  serial estimate for the same work, threads are switched off for a back-off period (0.25 s,
  doubling up to 8 s while it keeps happening; reset by a parallel call that pays off).

So a busy machine costs at most one slow call per back-off period, and in between the
kernel runs serially -- which never waits for another core.  The gate never changes global
state (thread counts, ``OMP_WAIT_POLICY``, the threading layer): those belong to the user.
On machines shared with other busy processes, ``OMP_WAIT_POLICY=PASSIVE`` set before Numba
starts its thread pool also makes idle workers sleep instead of spin.

Usage (see ``numopt.simplex._project``)::

    _GATE = ThreadGate("simplex.long_row")
    nt = _GATE.threads(work)          # 1 -> call the serial kernel
    t0 = time.perf_counter()
    ... run the serial or the parallel kernel ...
    _GATE.record(nt, work, time.perf_counter() - t0)

Set ``PROBSPACE_THREADS=1`` in the environment to keep every gated kernel serial.
"""
from __future__ import annotations

import os
import threading
import time

__all__ = ["ThreadGate", "free_cores", "usable_cores"]

_LOADAVG = "/proc/loadavg"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores() -> int | None:
    """Cores not busy with other runnable tasks right now, counting the caller's own core as
    free; ``None`` where the system does not say (no ``/proc/loadavg``)."""
    try:
        with open(_LOADAVG, "rb") as fh:
            field = fh.read().split()[3]          # b"running/total"
        running = int(field.split(b"/")[0])       # includes the reading thread itself
    except (OSError, IndexError, ValueError):
        return None
    return max(0, usable_cores() - (running - 1))


class ThreadGate:
    """Per-kernel decision between the serial and the threaded version of a kernel.

    Parameters
    ----------
    name : str
        For messages and debugging.
    min_seconds : float
        Estimated single-thread time below which threads are never used.
    backoff : float
        First back-off (seconds) after a parallel call that did not pay; doubles up to
        ``max_backoff`` while it keeps happening.
    """

    def __init__(self, name: str, *, min_seconds: float = 3e-4, backoff: float = 0.25,
                 max_backoff: float = 8.0) -> None:
        self.name = name
        self.min_seconds = float(min_seconds)
        self._backoff0 = float(backoff)
        self._max_backoff = float(max_backoff)
        self._backoff = self._backoff0
        self._rate: float | None = None   # seconds per unit of work on one thread
        self._samples = 0
        self._off_until = 0.0      # monotonic time until which threads stay off
        self._last_parallel = -1e9
        self._lock = threading.Lock()

    def serial_estimate(self, work: float) -> float | None:
        """Estimated single-thread seconds for ``work`` units (None before calibration)."""
        return None if self._rate is None else self._rate * work

    def threads(self, work: float, max_threads: int | None = None) -> int:
        """Number of threads to use for a call of ``work`` units (1 means serial)."""
        if max_threads is None:
            import numba
            max_threads = numba.get_num_threads()
        nt = min(int(max_threads), usable_cores())
        if nt < 2 or os.environ.get("PROBSPACE_THREADS") == "1":
            return 1
        est = self.serial_estimate(work)
        if est is None or est < self.min_seconds:
            return 1
        now = time.monotonic()
        if now < self._off_until:
            return 1
        if now - self._last_parallel > 0.05:
            free = free_cores()
            if free is not None and free < 2:
                with self._lock:
                    self._off_until = now + self._backoff0
                return 1
            if free is not None:
                nt = min(nt, free)
        return nt

    def record(self, nthreads: int, work: float, seconds: float) -> None:
        """Report how long a call took, to calibrate the serial rate and judge threads."""
        if work <= 0 or seconds <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if nthreads <= 1:
                self._samples += 1
                if self._samples == 1:
                    return                 # the first call may include a compile / cache load
                rate = seconds / work
                if self._rate is None:
                    self._rate = rate
                else:   # an exponential average; a single outlier moves it by at most 2x
                    self._rate = 0.7 * self._rate + 0.3 * min(rate, 4.0 * self._rate)
                return
            self._last_parallel = now
            est = self.serial_estimate(work)
            if est is not None and seconds > est:
                self._off_until = now + self._backoff
                self._backoff = min(2.0 * self._backoff, self._max_backoff)
                self._last_parallel = -1e9   # re-check the load before the next try
            else:
                self._backoff = self._backoff0

    def __repr__(self) -> str:
        rate = "uncalibrated" if self._rate is None else f"{self._rate * 1e9:.2f} ns/unit"
        return f"ThreadGate({self.name!r}, serial {rate})"
