"""Run a snippet of code in a fresh Python process, so a crash fails a test instead of pytest."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass

__all__ = ["run_isolated", "IsolatedResult"]


@dataclass
class IsolatedResult:
    """Outcome of :func:`run_isolated`."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        """True when the child died from a signal (segfault, abort, bus error ...)."""
        return self.returncode < 0

    def describe(self) -> str:
        if self.crashed:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = str(-self.returncode)
            head = f"child process killed by {name}"
        else:
            head = f"child process exited with code {self.returncode}"
        return f"{head}\n--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


def run_isolated(code: str, *, timeout: float = 300.0, env: dict | None = None,
                 expect_ok: bool = True) -> IsolatedResult:
    """Run ``code`` with the current interpreter in a new process and return its outcome.

    Takes no numeric input (NaN and inf do not apply).

    Use it for inputs that could crash the interpreter (memory-unsafe kernels): a segfault then
    fails the test with the child's output instead of killing the test run.  The child sees the
    same ``sys.path`` as the caller (so it imports the same source tree) and inherits the
    environment, updated with ``env``.

    Parameters
    ----------
    code : str
        Python source; dedented before it runs.
    timeout : float
        Seconds before the child is killed (the test then fails with ``TimeoutExpired``).
    env : dict, optional
        Extra environment variables for the child, e.g. ``{"NUMBA_BOUNDSCHECK": "1"}``.
    expect_ok : bool
        When true (the default), raise ``AssertionError`` with the child's output unless it
        exited with code 0.

    Returns
    -------
    IsolatedResult
        ``returncode`` (negative: killed by that signal), ``stdout``, ``stderr``.
    """
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    child_env.setdefault("PYTHONFAULTHANDLER", "1")
    if env:
        child_env.update({k: str(v) for k, v in env.items()})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=child_env)
    res = IsolatedResult(proc.returncode, proc.stdout, proc.stderr)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(res.describe())
    return res
