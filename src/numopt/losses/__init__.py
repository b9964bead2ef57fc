"""Losses with analytic gradients (no autodiff needed): baselines, EXACT, smoothed accuracy/F1,
ZLPR (multi-label softmax + cross-entropy) and EMO (earth-mover).

Every loss has the signature ``fn(logits, targets, /, *, ..., reduction="mean",
return_grad=False)``; ``reduction`` is one of ``"mean"``, ``"sum"``, ``"none"`` and
``return_grad=True`` returns ``(value, dvalue/dlogits)``.  Inputs may be any array-API arrays;
results come back in the same namespace and floating dtype.

Binary versus multiclass is read off the shapes: targets with the shape of ``logits`` are binary
labels (for ``smoothed_accuracy``/``smoothed_f1`` only when ``logits`` is 1-D; 2-D targets of the
logits' shape are class probabilities there), integer targets with one axis less are class
indices along the last axis of ``logits``.

Logits must be float32 or float64 (or integers, promoted to float64); float16/bfloat16 logits,
costs and embeddings raise ``TypeError``.  NumPy input runs fused Numba kernels (loss and
gradient in one pass per row, float32 computed in float32 with float64 sums); large batches are
split over ``numba.get_num_threads()`` threads unless other processes keep the cores busy (see
``probspace/_pool.py``).  Every other namespace runs the generic array-API code, which is the
reference the kernels are tested against.
"""
from ._crossentropy import sigmoid_cross_entropy, softmax_cross_entropy
from ._hinge import hinge
from ._exact import exact
from ._smooth import smoothed_accuracy, smoothed_f1
from ._zlpr import zlpr, zlpr_soft
from ._emo import emo

__all__ = ["sigmoid_cross_entropy", "softmax_cross_entropy", "hinge", "exact",
           "smoothed_accuracy", "smoothed_f1", "zlpr", "zlpr_soft", "emo"]
