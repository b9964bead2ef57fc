"""scipy-style result objects: a dict with attribute access and a readable repr."""
from __future__ import annotations

from typing import Any

__all__ = ["Result"]


class Result(dict):
    """Result of an iterative routine.

    A ``dict`` whose keys are also attributes, like ``scipy.optimize.OptimizeResult``.
    Subclasses document their fields (``x``, ``success``, ``status``, ``message``,
    ``nit``, ``nfev`` and domain fields).

    Examples
    --------
    >>> from probspace import Result
    >>> r = Result(x=1.5, success=True)
    >>> r.x, r["success"]
    (1.5, True)
    >>> r
          x: 1.5
    success: True
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self) -> list[str]:
        return list(self.keys())

    def __repr__(self) -> str:
        if not self:
            return f"{type(self).__name__}()"
        width = max(len(k) for k in self) + 1
        lines = []
        for k, v in self.items():
            text = repr(v)
            if len(text) > 300:
                shape = getattr(v, "shape", None)
                text = f"<{type(v).__name__} shape={shape}>" if shape is not None else text[:300] + "..."
            lines.append(f"{k.rjust(width)}: {text}")
        return "\n".join(lines)
