"""Benchmark harness: time this library and its peers side by side in one process run.

Every ``bench_*.py`` script builds a table of rows (case, ours, peer, ratio) with
:func:`measure`, and writes it with :func:`write_section` to ``benchmarks/results/<name>.md``.
``python benchmarks/collect.py`` assembles those sections, each with its machine line,
into ``benchmarks/RESULTS.md``.  Ratios are ``peer time / our time`` (> 1: we are faster).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_line() -> str:
    """CPU model, core count, memory, Python and key library versions, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    vers = []
    for mod in ("numpy", "numba", "scipy"):
        try:
            vers.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ""
    if hasattr(os, "getloadavg"):
        l1, l5, _ = os.getloadavg()
        load = f", load average {l1:.1f} (1 min) / {l5:.1f} (5 min) when written"
    return (f"{cpu}, {cores} cores{mem}, Python {platform.python_version()}, " + ", ".join(vers)
            + f", {_dt.date.today().isoformat()}{load}")


def measure(fn, *, repeat=7, warmup=1, min_time=0.0, sync=None) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` calls.

    ``sync`` is called after each run (e.g. a CUDA stream synchronize) so asynchronous
    work is inside the timed region.  With ``min_time`` a run loops ``fn`` until that much
    time has passed and reports the time per call.
    """
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeat):
        n = 0
        t0 = time.perf_counter()
        while True:
            fn()
            if sync:
                sync()
            n += 1
            el = time.perf_counter() - t0
            if el >= min_time:
                break
        times.append(el / n)
    return statistics.median(times)


def fmt_time(t: float) -> str:
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} us"


def table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def write_section(name: str, title: str, body: str) -> Path:
    """Write one benchmark's markdown section (with the machine line) to results/<name>.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(f"## {title}\n\nMachine: {machine_line()}\n\n{body.strip()}\n")
    print(path.read_text())
    return path


def pip_install(*packages) -> bool:
    """Install peers for a benchmark (quietly); returns False when they cannot be installed."""
    import sys
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"could not install {packages}: {r.stderr[-500:]}")
    return r.returncode == 0


class busy_cores:
    """Context manager: ``n`` competing busy processes (``while True: pass``), each pinned to
    one core where the OS allows it (the last cores of this process's affinity), for
    benchmarks that measure how a parallel kernel degrades on a shared machine.  The
    processes are ended by PID on exit."""

    def __init__(self, n=1):
        self.n = n
        self.procs = []

    def __enter__(self):
        import sys
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        for i in range(self.n):
            p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            if cores:
                try:
                    os.sched_setaffinity(p.pid, {cores[-1 - i % len(cores)]})
                except OSError:
                    pass
            self.procs.append(p)
        time.sleep(0.5)   # let the scheduler settle
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return False
