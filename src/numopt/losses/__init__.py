"""Losses with analytic gradients (no autodiff needed): baselines, EXACT, smoothed accuracy/F1,
ZLPR (multi-label softmax + cross-entropy) and EMO (earth-mover).

Every loss has the signature ``fn(logits, targets, /, *, ..., reduction="mean",
return_grad=False)``; ``reduction`` is one of ``"mean"``, ``"sum"``, ``"none"`` and
``return_grad=True`` returns ``(value, dvalue/dlogits)``.  Inputs may be any array-API arrays;
results come back in the same namespace and floating dtype.
"""
from ._crossentropy import sigmoid_cross_entropy, softmax_cross_entropy
from ._hinge import hinge
from ._exact import exact

__all__ = ["sigmoid_cross_entropy", "softmax_cross_entropy", "hinge", "exact"]
