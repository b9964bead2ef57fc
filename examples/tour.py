"""
A tour of every probspace capability on built-in data
=====================================================

Runs each section in ``examples/tour_sections/`` in order: each prints its results and
writes its plots to ``examples/output/``.  Usage::

    python examples/tour.py            # everything
    python examples/tour.py simplex    # only sections whose name contains "simplex"
"""
from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "output"


def main(argv):
    OUT.mkdir(exist_ok=True)
    sections = sorted((HERE / "tour_sections").glob("s[0-9]*.py"))
    picked = [s for s in sections if not argv or any(a in s.stem for a in argv)]
    if not picked:
        raise SystemExit(f"no tour section matches {argv}; have {[s.stem for s in sections]}")
    failures = []
    for path in picked:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        title = getattr(mod, "TITLE", path.stem)
        print("\n" + "=" * 78 + f"\n{title}\n" + "=" * 78, flush=True)
        t0 = time.perf_counter()
        try:
            mod.run(OUT)
        except Exception as exc:  # keep touring, report at the end
            import traceback
            traceback.print_exc()
            failures.append((path.stem, exc))
        plt.close("all")
        print(f"[{path.stem}: {time.perf_counter() - t0:.1f} s]", flush=True)
    print(f"\nplots written to {OUT}")
    if failures:
        raise SystemExit(f"{len(failures)} section(s) failed: {[f[0] for f in failures]}")


if __name__ == "__main__":
    main(sys.argv[1:])
