"""probspace.random: Stream.normal / Stream.uniform (Numba rung: lane-vectorized Philox4x32-10
and Box-Muller, counter-block chunks on probspace._pool when threads pay) against NumPy's
``Generator.standard_normal`` / ``Generator.random`` (PCG64; ziggurat for normals), quiet and
then with one core held by a busy process (contention).

Run: python benchmarks/bench_random.py   (--no-contention skips the second part)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import busy_cores, fmt_time, measure, table, write_section  # noqa: E402

from probspace.random import Stream  # noqa: E402

SIZES = [("2^16", 1 << 16), ("2^20", 1 << 20), ("2^24", 1 << 24)]


def _cases():
    s = Stream(2024)
    rng = np.random.default_rng(2024)
    out = []
    for label, n in SIZES:
        out.append((f"normal, {label}", lambda n=n: s.normal(n),
                    lambda n=n: rng.standard_normal(n), n))
        out.append((f"uniform, {label}", lambda n=n: s.uniform(n), lambda n=n: rng.random(n), n))
    return out


def _times(cases):
    res = []
    for name, ours, peer, n in cases:
        rep = 5 if n >= 1 << 24 else 15
        res.append((name, measure(ours, repeat=rep), measure(peer, repeat=rep)))
    return res


def main():
    cases = _cases()
    for _, ours, _, _ in cases:       # compile / load the cached kernels, calibrate the gates
        for _ in range(3):
            ours()
    threads = numba.get_num_threads()
    quiet = _times(cases)
    numba.set_num_threads(1)
    one = _times(cases)
    numba.set_num_threads(threads)
    rows = [[name, fmt_time(t), fmt_time(t1), fmt_time(tp), f"{tp / t:.2f}", f"{n / t / 1e6:.0f}"]
            for (name, t, tp), (_, t1, _), (_, _, _, n) in zip(quiet, one, cases)]
    body = table(["case", "ours", "ours, 1 thread", "NumPy", "NumPy/ours", "M numbers/s"], rows)
    body += ("\n\nfloat64, a new array per call on both sides (NumPy's `Generator` with PCG64: "
             "ziggurat normals; ours: Philox4x32-10 and Box-Muller, identical numbers on the "
             "generic, Numba and CuPy rungs whatever the thread count).  \"ours\" uses up to "
             f"{threads} threads: counter-block chunks on the non-spinning pool "
             "(``probspace/_pool.py``), only where the calibrated single-thread time is at "
             "least 0.3 ms and cores are idle (``probspace._parallel.ThreadGate``).")
    if "--no-contention" not in sys.argv:
        with busy_cores(1):
            busy = _times(cases)
        crow = []
        for (name, tq, nq), (_, tb, nb) in zip(quiet, busy):
            rq, rb = nq / tq, nb / tb
            crow.append([name, fmt_time(tq), fmt_time(tb), f"{tb / tq:.2f}", f"{rq:.2f}",
                         f"{rb:.2f}", f"{rq / rb:.2f}"])
        body += "\n\n### Under contention\n\n" + table(
            ["case", "ours quiet", "ours contended", "contended / quiet time", "NumPy/ours quiet",
             "NumPy/ours contended", "quiet ratio / contended ratio"], crow)
        body += ("\n\nThe same calls while a competing busy process (`python -c \"while True: "
                 "pass\"`, pinned to one core) runs; NumPy is single-threaded.  Goal (issue 13): "
                 "the contended ratio within 2x of the quiet one (last column <= 2).")
    write_section("random", "probspace.random: Stream.normal / uniform against NumPy", body)


if __name__ == "__main__":
    main()
