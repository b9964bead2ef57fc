"""The one-line compile notice: printed once per kernel while a Numba compilation runs long,
silent for quick compilations and when disabled; installed by importing probspace before numba."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

SCRIPT = textwrap.dedent("""
    import sys
    import probspace
    from probspace import _compile_notice as cn
    assert "numba" not in sys.modules          # importing probspace does not import numba
    cn.THRESHOLD = {threshold}
    import numba
    assert cn._installed                        # the import hook installed the listener

    @numba.njit(cache=False)
    def slow_kernel(x):
        s = 0.0
        for i in range(x.shape[0]):
            s += x[i] * x[i]
        return s

    import numpy as np
    slow_kernel(np.ones(3))
    slow_kernel(np.ones(3, dtype=np.float32))  # a second signature of the same kernel
    print("done")
""")


def _run(threshold, env_extra=None):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("PROBSPACE_COMPILE_NOTICE", None)
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(threshold=threshold)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    return out.stderr


def test_long_compile_is_announced_once_per_kernel():
    err = _run(0.0)
    lines = [ln for ln in err.splitlines() if ln.startswith("probspace: compiling")]
    assert len(lines) == 1, err
    assert "__main__.slow_kernel" in lines[0]
    assert "first call in this process" in lines[0]   # cache=False: not cached on disk


def test_quick_compile_says_nothing():
    assert "probspace: compiling" not in _run(60.0)


def test_environment_variable_silences_it():
    assert "probspace: compiling" not in _run(0.0, {"PROBSPACE_COMPILE_NOTICE": "0"})


def test_compiling_context_manager(capsys):
    import time

    from probspace import _compile_notice as cn
    name = "test kernel for the context manager"
    with cn.compiling(name, "CuPy", threshold=0.0):
        time.sleep(0.2)
    with cn.compiling(name, "CuPy", threshold=0.0):  # once per name
        time.sleep(0.2)
    err = capsys.readouterr().err
    assert err.count(f"probspace: compiling {name} (CuPy) ...") == 1
