"""probspace._parallel.ThreadGate: the decision logic, driven by recorded timings and a fake
/proc/loadavg (no wall-clock assertions)."""
from __future__ import annotations

import pytest

from probspace import _parallel
from probspace._parallel import ThreadGate, free_cores


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def env(monkeypatch, tmp_path):
    clock = Clock()
    monkeypatch.setattr(_parallel.time, "monotonic", clock)
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 4)
    load = tmp_path / "loadavg"
    load.write_text("0.50 0.40 0.30 1/300 12345\n")
    monkeypatch.setattr(_parallel, "_LOADAVG", str(load))
    monkeypatch.delenv("PROBSPACE_THREADS", raising=False)
    return clock, load


def _calibrated(rate=1e-9):
    g = ThreadGate("test", min_seconds=1e-4)
    g.record(1, 1000, 1.0)            # the first sample is ignored (compile / cache load)
    g.record(1, 10**6, rate * 10**6)
    return g


def test_serial_until_calibrated_and_below_the_work_floor(env):
    g = ThreadGate("test", min_seconds=1e-4)
    assert g.threads(10**7, max_threads=4) == 1          # no estimate yet
    g.record(1, 10**6, 5.0)                                # ignored: first sample
    assert g.threads(10**7, max_threads=4) == 1
    g.record(1, 10**6, 1e-3)                               # 1 ns per unit
    assert g.threads(5 * 10**4, max_threads=4) == 1        # 50 us: not worth threads
    assert g.threads(10**6, max_threads=4) == 4            # 1 ms: worth it, 4 free cores
    assert g.threads(10**6, max_threads=1) == 1


def test_busy_machine_keeps_it_serial(env):
    clock, load = env
    g = _calibrated()
    load.write_text("5.0 5.0 5.0 4/300 1\n")               # 3 others runnable on 4 cores
    assert g.threads(10**7, max_threads=4) == 1
    clock.t += 10.0
    load.write_text("5.0 5.0 5.0 3/300 1\n")               # 2 others: 2 cores free
    assert g.threads(10**7, max_threads=4) == 2


def test_a_parallel_call_that_does_not_pay_switches_threads_off_for_a_while(env):
    clock, _ = env
    g = _calibrated(rate=1e-9)
    assert g.threads(10**7, max_threads=4) == 4
    g.record(4, 10**7, 0.5)                                # 50x slower than serial: contention
    assert g.threads(10**7, max_threads=4) == 1
    clock.t += 0.3                                         # first back-off is 0.25 s
    assert g.threads(10**7, max_threads=4) == 4
    g.record(4, 10**7, 0.5)                                # again: back-off doubles
    clock.t += 0.3
    assert g.threads(10**7, max_threads=4) == 1
    clock.t += 0.3
    assert g.threads(10**7, max_threads=4) == 4
    g.record(4, 10**7, 0.004)                              # pays off: back-off resets
    g.record(4, 10**7, 0.5)
    clock.t += 0.3
    assert g.threads(10**7, max_threads=4) == 4


def test_environment_switch_and_free_cores(env, monkeypatch):
    g = _calibrated()
    monkeypatch.setenv("PROBSPACE_THREADS", "1")
    assert g.threads(10**8, max_threads=4) == 1
    assert free_cores() == 4                               # 1 running: the reader itself
    monkeypatch.setattr(_parallel, "_LOADAVG", "/nonexistent/loadavg")
    assert free_cores() is None
    monkeypatch.delenv("PROBSPACE_THREADS")
    assert g.threads(10**8, max_threads=4) == 4            # unknown load: trust the timings
