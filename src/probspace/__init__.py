"""probspace: the shared core of the probspace distribution.

Array-namespace dispatch, the kernel ladder (``use_backend``), counter-based random streams
(``probspace.random``), scipy-style results, argument checks, the sympy bridge
(``probspace.sym``) and test helpers (``probspace.testing``).
"""
from ._array import array_namespace, as_float_array, to_numpy
from ._backend import use_backend, get_backend, backend_for
from ._result import Result
from . import random
from ._version import __version__
from . import _compile_notice

_compile_notice.watch_numba()  # one stderr line while a Numba kernel compiles for >1 s

__all__ = ["use_backend", "get_backend", "backend_for", "array_namespace", "as_float_array",
           "to_numpy", "Result", "random", "__version__"]
