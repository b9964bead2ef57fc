"""Run every benchmarks/bench_*.py in its own process, then collect RESULTS.md."""
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
for script in sorted(here.glob("bench_*.py")):
    if len(sys.argv) > 1 and not any(a in script.name for a in sys.argv[1:]):
        continue
    print(f"== {script.name}", flush=True)
    subprocess.run([sys.executable, str(script)], check=False)
subprocess.run([sys.executable, str(here / "collect.py")], check=True)
