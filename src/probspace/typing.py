"""Type aliases used in the annotations of probspace and its domain packages.

The array API standard has no static array type that every library implements, so ``Array`` is
an alias of ``Any`` that documents intent: any array-API array (NumPy, CuPy, array_api_strict,
PyTorch, JAX).  Results come back in the namespace of the inputs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from .random import Stream

__all__ = ["Array", "ArrayLike", "Namespace", "Seed", "DType"]

#: Any array-API array (NumPy, CuPy, array_api_strict, PyTorch, JAX, ...).
Array = Any
#: An array, or anything ``xp.asarray`` accepts (nested sequences of numbers, scalars).
ArrayLike = Any
#: An array-API namespace (``array_api_compat.numpy``, ``cupy``, ``array_api_strict``, ...).
Namespace = Any
#: A dtype object of some namespace (``xp.float64``, ``xp.float32``).
DType = Any
#: A seed: a non-negative integer below 2**64, a :class:`probspace.random.Stream`, or ``None``
#: (fresh operating-system entropy, not reproducible).
Seed = Union[int, "Stream", None]
