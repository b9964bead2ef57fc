"""One line on standard error while a kernel compiles for its first call.

Numba compiles a kernel the first time it meets new argument types, which can take seconds; a
user should not wait that long without a word.  Every Numba compilation in the process (of this
library's kernels and of user functions it compiles) is watched through Numba's event API: if
one is still running after ``threshold`` seconds (1 s), a single line such as::

    probspace: compiling solvers._ode_numba.dopri5_kernel with Numba for its first call (cached on disk for later runs) ...

is written to ``sys.stderr``, at most once per kernel.  Loading a kernel from Numba's disk
cache is not a compilation and says nothing.

Silence it with the environment variable ``PROBSPACE_COMPILE_NOTICE=0`` (read at import) or
:func:`enable(False) <enable>`.  Other compilers (CuPy, sympy code generation) can use the
context manager :func:`compiling` around their first build.

The watcher is installed when ``probspace`` is imported: at once if Numba is already imported,
otherwise by a one-shot import hook that fires when Numba is (so importing probspace does not
import Numba).
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["enable", "is_enabled", "compiling", "announce", "watch_numba"]

THRESHOLD = 1.0  # seconds a compilation may take before it is announced

_enabled = os.environ.get("PROBSPACE_COMPILE_NOTICE", "1").strip().lower() not in (
    "0", "false", "no", "off")
_announced: set[str] = set()
_lock = threading.Lock()
_local = threading.local()
_installed = False


def enable(flag: bool = True) -> None:
    """Turn the compile notices on or off for this process."""
    global _enabled
    _enabled = bool(flag)


def is_enabled() -> bool:
    """Whether compile notices are printed."""
    return _enabled


def announce(what: str, detail: str = "") -> bool:
    """Print the notice for ``what`` once per process; returns whether it printed."""
    if not _enabled:
        return False
    with _lock:
        if what in _announced:
            return False
        _announced.add(what)
    tail = f" ({detail})" if detail else ""
    try:
        print(f"probspace: compiling {what}{tail} ...", file=sys.stderr, flush=True)
    except Exception:  # a closed or broken stderr must never break a computation
        return False
    return True


@contextlib.contextmanager
def compiling(what: str, detail: str = "", *, threshold: float = THRESHOLD) -> Iterator[None]:
    """Announce ``what`` on stderr if the ``with`` block is still running after ``threshold`` s.

    Wrap a first build (a CuPy kernel, generated code) in it; nothing is printed when the block
    is quick, when ``what`` was announced before, or when notices are disabled.
    """
    if not _enabled or what in _announced:
        yield
        return
    timer = threading.Timer(threshold, announce, (what, detail))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _kernel_name(dispatcher: Any) -> str:
    fn = getattr(dispatcher, "py_func", None)
    if fn is None:
        return repr(dispatcher)
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "?"))
    module = getattr(fn, "__module__", None)
    if module:
        return f"{module}.{name}"
    code = getattr(fn, "__code__", None)     # generated source: its compile() filename says what
    where = getattr(code, "co_filename", "") if code is not None else ""
    return f"{where.strip('<>')} ({name})" if where.startswith("<") else f"generated kernel {name}"


def _install_numba_listener() -> None:
    global _installed
    if _installed:
        return
    from numba.core import event

    class _Listener(event.Listener):
        # Numba fires "numba:compile" for real compilations only (not for cache loads), and
        # nested ones for the functions a kernel calls: only the outermost is timed.
        def on_start(self, ev: Any) -> None:
            depth = getattr(_local, "depth", 0)
            _local.depth = depth + 1
            if depth or not _enabled:
                return
            disp = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
            name = _kernel_name(disp)
            if name in _announced:
                return
            cached = type(getattr(disp, "_cache", None)).__name__ not in ("NullCache", "NoneType")
            detail = ("with Numba for its first call; cached on disk for later runs" if cached
                      else "with Numba for its first call in this process")
            timer = threading.Timer(THRESHOLD, announce, (name, detail))
            timer.daemon = True
            _local.timer = timer
            timer.start()

        def on_end(self, ev: Any) -> None:
            _local.depth = max(getattr(_local, "depth", 1) - 1, 0)
            if _local.depth == 0:
                timer = getattr(_local, "timer", None)
                if timer is not None:
                    timer.cancel()
                    _local.timer = None

    event.register("numba:compile", _Listener())
    _installed = True


class _NumbaImportHook(importlib.abc.MetaPathFinder):
    """One-shot finder: lets the normal machinery import numba, then installs the listener."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "numba":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("numba")
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            with contextlib.suppress(Exception):  # a notice must never break importing numba
                _install_numba_listener()

        loader.exec_module = exec_module
        return spec


def watch_numba() -> None:
    """Watch Numba compilations (idempotent): now if Numba is imported, else when it is."""
    if _installed:
        return
    if "numba" in sys.modules:
        with contextlib.suppress(Exception):
            _install_numba_listener()
        return
    if not any(isinstance(f, _NumbaImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _NumbaImportHook())

