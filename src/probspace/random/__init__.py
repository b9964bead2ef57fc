"""Counter-based random streams (Philox4x32-10), bit-identical on the generic, Numba and CuPy rungs.

The scalar device functions for compiled kernels live in ``probspace.random._numba``
(``normal_pair``, ``uniform_pair``, ``philox4x32``) and ``probspace.random._cupy.CUDA_SOURCE``.
"""
from ._stream import Stream, as_stream

__all__ = ["Stream", "as_stream"]
