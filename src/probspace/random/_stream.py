"""``Stream``: a counter-based random stream (Philox4x32-10) that is identical on every rung."""
from __future__ import annotations

import math
import numbers
import secrets
from typing import Any

import numpy as np

from .._array import array_namespace, is_cupy, is_numpy
from .._backend import backend_for
from . import _generic

__all__ = ["Stream", "as_stream"]

_U64 = 1 << 64
# From this many numbers on, a fill asks its ThreadGate whether threads pay (they do only for
# calls of >= 0.3 ms on one thread, about 2**17 normals); smaller fills skip the question.
_GATED_MIN = 1 << 16


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must have non-negative entries, got {shape}")
    return shape


class Stream:
    """A reproducible, counter-based stream of random numbers.

    A NaN, infinite, negative or fractional seed raises (``TypeError``/``ValueError``).

    Numbers are a pure function of ``(seed, stream id, counter)``: draw ``i`` of a
    ``normal``/``uniform`` call made at counter offset ``c`` comes from Philox4x32-10 block
    ``c + i // 2``.  The generic array-API rung, the Numba rung and the CuPy rung return
    bit-identical values, so a seed reproduces a computation on any backend and however
    the work is split.

    Parameters
    ----------
    seed : int or None
        A non-negative integer below 2**64 (the Philox key).  ``None`` draws a fresh key
        from the operating system (not reproducible; read it back from ``.seed``).

    Examples
    --------
    >>> import numpy as np, array_api_strict
    >>> from probspace.random import Stream
    >>> s = Stream(42)
    >>> z = s.normal((3, 2))          # advances the stream by 3 blocks
    >>> s.offset
    3
    >>> a, b = Stream(42).spawn(2)   # independent child streams
    >>> a == Stream(42).child(0)       # children are stateless: child i is always the same
    True

    The generic array-API rung gives the same bits as the Numba rung used for NumPy:

    >>> zs = Stream(42).normal((3, 2), xp=array_api_strict)
    >>> bool(np.array_equal(np.asarray(z), np.from_dlpack(zs)))
    True
    """

    __slots__ = ("_key", "_id", "_offset", "_nspawned")
    _key: int
    _id: int
    _offset: int
    _nspawned: int

    def __init__(self, seed: int | Stream | None = None, *, _stream_id: int = 0) -> None:
        if seed is None:
            seed = secrets.randbits(64)
        if isinstance(seed, Stream):
            _stream_id = seed.id
            seed = seed.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be a non-negative integer or None, got {type(seed).__name__}")
        seed = int(seed)
        if not 0 <= seed < _U64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        self._key = seed
        self._id = int(_stream_id)
        self._offset = 0
        self._nspawned = 0

    # -- identity -----------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The Philox key (the seed the stream was made from)."""
        return self._key

    @property
    def id(self) -> int:
        """64-bit stream id (0 for a root stream; derived from the parent for children)."""
        return self._id

    @property
    def offset(self) -> int:
        """The next unused counter block."""
        return self._offset

    def __repr__(self) -> str:
        return f"Stream(seed={self._key}, id={self._id:#x}, offset={self._offset})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Stream) and (self._key, self._id, self._offset)
                == (other._key, other._id, other._offset))

    def __hash__(self) -> int:
        return hash((self._key, self._id, self._offset))

    def __getstate__(self) -> tuple[int, int, int, int]:
        return (self._key, self._id, self._offset, self._nspawned)

    def __setstate__(self, state: tuple[int, int, int, int]) -> None:
        self._key, self._id, self._offset, self._nspawned = state

    # -- moving around ------------------------------------------------------------------
    def at(self, offset: int) -> Stream:
        """A copy of this stream positioned at counter block ``offset``."""
        if isinstance(offset, bool) or not isinstance(offset, numbers.Integral) or offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
        s = Stream(self._key, _stream_id=self._id)
        s._offset = int(offset)
        return s

    def advance(self, nblocks: int) -> Stream:
        """Skip ``nblocks`` counter blocks (two numbers each); returns ``self``."""
        if isinstance(nblocks, bool) or not isinstance(nblocks, numbers.Integral) or nblocks < 0:
            raise ValueError(f"nblocks must be a non-negative integer, got {nblocks!r}")
        self._offset += int(nblocks)
        return self

    def child(self, i: int) -> Stream:
        """Child stream number ``i`` (stateless: the same ``i`` always gives the same child)."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < 2**32:
            raise ValueError(f"child index must be an integer in [0, 2**32), got {i!r}")
        ids = self.child_ids(int(i), 1)
        return Stream(self._key, _stream_id=int(ids[0]))

    def child_ids(self, first: int, n: int, *, xp: Any = None) -> Any:
        """Stream ids (uint64 array) of children ``first .. first+n-1``, for compiled kernels."""
        if first < 0 or n < 0 or first + n > 2**32:
            raise ValueError(f"children must lie in [0, 2**32), got first={first}, n={n}")
        import array_api_compat.numpy as cnp
        ids = _generic.spawn_ids(cnp, self._key, self._id, int(first), int(n))
        if xp is None:
            return np.asarray(ids)
        return xp.asarray(ids)

    def spawn(self, n: int) -> list[Stream]:
        """``n`` new independent child streams (children ``k .. k+n-1`` for the next ``k``)."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        ids = self.child_ids(self._nspawned, int(n))
        self._nspawned += int(n)
        return [Stream(self._key, _stream_id=int(i)) for i in ids]

    # -- drawing ------------------------------------------------------------------------
    def _draw(self, shape: Any, xp: Any, dtype: Any, device: Any, normal: bool) -> Any:
        shape = _check_shape(shape)
        if xp is None:
            import array_api_compat.numpy as xp
        else:
            xp = array_namespace(xp.empty(0)) if not hasattr(xp, "isdtype") else xp
        if dtype is None:
            dtype = xp.float64
        if dtype not in (xp.float64, xp.float32):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        size = math.prod(shape)
        npairs = (size + 1) // 2
        start = self._offset
        if start + npairs >= _U64:
            raise OverflowError("stream exhausted (2**64 counter blocks)")
        rung = backend_for(xp)
        if rung == "numba":
            from . import _numba
            out = np.empty(size, dtype=np.float64)
            key, sid, st = np.uint64(self._key), np.uint64(self._id), np.uint64(start)
            if size < _GATED_MIN:
                fill = _numba.fill_normal_serial if normal else _numba.fill_uniform_serial
                fill(out, key, sid, st)
            else:
                # counter blocks in chunks on the shared non-spinning pool, when it pays;
                # every number depends only on its counter, not on the split
                from .._pool import run
                blocks = _numba.fill_normal_blocks if normal else _numba.fill_uniform_blocks
                run(lambda a, b: blocks(out, key, sid, st, a, b), npairs, 1.0,
                    "probspace.random.normal" if normal else "probspace.random.uniform",
                    align=_numba.LANES)
            flat = xp.asarray(out)
        elif rung == "cupy":
            from . import _cupy
            import cupy as cp
            with cp.cuda.Device(device) if device is not None else _nullcontext():
                out = cp.empty(size, dtype=cp.float64)
                _cupy.fill(out, self._key, self._id, start, normal)
            flat = out
        else:
            fn = _generic.normal_pairs if normal else _generic.uniform_pairs
            flat = fn(xp, self._key, self._id, start, npairs, device=device)[:size]
        self._offset = start + npairs
        out = xp.reshape(flat, shape)
        if dtype != xp.float64:
            out = xp.astype(out, dtype)
        return out

    def normal(self, shape: int | tuple[int, ...] = (), *, loc: float = 0.0, scale: float = 1.0,
               xp: Any = None, dtype: Any = None, device: Any = None) -> Any:
        """Normal draws of ``shape`` in namespace ``xp`` (NumPy by default), float64 unless ``dtype``.

        ``loc + scale * z`` with ``z`` standard normal (Box-Muller on Philox blocks).  The
        stream advances by ``ceil(size / 2)`` counter blocks.

        Parameters
        ----------
        shape : int or tuple of int
        loc, scale : float
        xp : namespace, optional
            Array namespace of the result (NumPy when omitted).
        dtype : {xp.float64, xp.float32}, optional
            float32 results are the float64 draws rounded.
        device : optional
            Device of the result (CuPy: a device id).

        Returns
        -------
        array
            Of ``shape``, in ``xp``; identical values on every rung for the same stream state.

        Raises
        ------
        TypeError
            For a bad shape or a dtype other than float32 / float64.
        OverflowError
            When the stream's 2**64 counter blocks are used up.

        Examples
        --------
        >>> from probspace.random import Stream
        >>> z = Stream(0).normal(100_000, loc=1.0, scale=2.0)
        >>> bool(abs(z.mean() - 1.0) < 0.02 and abs(z.std() - 2.0) < 0.02)   # 3 s.e. is 0.019
        True
        """
        z = self._draw(shape, xp, dtype, device, True)
        if loc != 0.0 or scale != 1.0:
            z = z * scale + loc
        return z

    def uniform(self, shape: int | tuple[int, ...] = (), *, low: float = 0.0, high: float = 1.0,
                xp: Any = None, dtype: Any = None, device: Any = None) -> Any:
        """Uniform draws on ``[low, high)`` with 53-bit resolution.

        Same parameters and guarantees as :meth:`normal`; raises ``ValueError`` unless
        ``high > low``.

        Examples
        --------
        >>> from probspace.random import Stream
        >>> u = Stream(1).uniform((2, 3), low=-1.0, high=1.0)
        >>> u.shape, bool(((u >= -1) & (u < 1)).all())
        ((2, 3), True)
        """
        if not high > low:
            raise ValueError(f"uniform needs high > low, got low={low}, high={high}")
        u = self._draw(shape, xp, dtype, device, False)
        if low != 0.0 or high != 1.0:
            u = u * (high - low) + low
        return u


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def as_stream(seed: int | Stream | None) -> Stream:
    """``seed`` as a :class:`Stream` (a Stream is returned unchanged; an int or None seeds one).

    A NaN, infinite or fractional seed raises (``TypeError``/``ValueError``).
    """
    if isinstance(seed, Stream):
        return seed
    return Stream(seed)
