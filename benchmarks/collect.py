"""Assemble benchmarks/results/*.md into benchmarks/RESULTS.md."""
from pathlib import Path

here = Path(__file__).resolve().parent
sections = sorted((here / "results").glob("*.md"))
head = """# Benchmark results

Produced by the `benchmarks/bench_*.py` scripts (run all with `python benchmarks/run_all.py`).
Each section was measured in one process run with this library and its peers side by side;
*ratio* = peer time / probspace time (above 1: probspace is faster). Medians of repeated
runs after a warm-up; compile time excluded and reported separately where it matters.
"""
text = head + "\n" + "\n\n".join(p.read_text().strip() for p in sections) + "\n"
(here / "RESULTS.md").write_text(text)
print(f"wrote {here / 'RESULTS.md'} from {len(sections)} sections")
