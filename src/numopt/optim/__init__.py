"""Optimizers as pure ``init``/``update`` pairs (optax style) for any array-API namespace.

``opt = adam(1e-3)``; ``state = opt.init(params)``; per step
``updates, state = opt.update(grads, state, params)``; ``params = apply_updates(params, updates)``.
``params`` is an array or a dict/list/tuple (nested) of arrays; the learning rate (``lr`` or,
as in optax, ``learning_rate``) is a float or a schedule ``count -> value``.

Composition as in optax: ``chain(clip_by_global_norm(1.0), adamw(warmup_cosine_decay_schedule(
0.0, 1e-3, 100, 1000)))``; ``masked``/``multi_transform`` give per-tensor roles; the schedules
(``constant_schedule``, ``linear_schedule``, ``cosine_decay_schedule``,
``warmup_cosine_decay_schedule``, ``exponential_decay``, ``join_schedules``, ...) follow optax's
formulas and step-count convention (the first update uses count 0).

Every ``update`` checks its state against the parameters (tree, shapes, dtypes) before any
kernel runs, and ``apply_updates`` refuses integer parameters.
"""
from ._base import Optimizer, GradientTransformation, EmptyState, apply_updates
from ._tree import MaskedNode
from ._sgd import sgd, momentum, nesterov, SgdState, MomentumState
from ._adam import adam, adamw, AdamState
from ._lion import lion, tiger, LionState, TigerState, TIGER_ROLES
from ._eg import eg, eg_adaptive, EgState, EgAdaptiveState
from ._friction import momentum_to_friction, friction_to_momentum, rescale_momentum
from ._transforms import (identity, set_to_zero, scale, scale_by_schedule,
                          scale_by_learning_rate, add_decayed_weights, clip, clip_by_global_norm,
                          trace, scale_by_adam, scale_by_lion, ScaleByScheduleState, TraceState,
                          ScaleByAdamState, ScaleByLionState)
from ._combine import chain, masked, multi_transform, partition, MaskedState, MultiTransformState
from ._schedules import (constant_schedule, polynomial_schedule, linear_schedule,
                         piecewise_constant_schedule, exponential_decay, cosine_decay_schedule,
                         warmup_cosine_decay_schedule, warmup_exponential_decay_schedule,
                         join_schedules)

__all__ = ["Optimizer", "GradientTransformation", "EmptyState", "apply_updates", "sgd",
           "momentum", "nesterov", "adam", "adamw", "lion", "tiger", "eg", "eg_adaptive",
           "momentum_to_friction", "friction_to_momentum", "rescale_momentum", "TIGER_ROLES",
           "SgdState", "MomentumState", "AdamState", "LionState", "TigerState", "EgState",
           "EgAdaptiveState",
           # composition
           "chain", "masked", "multi_transform", "partition", "MaskedNode", "MaskedState",
           "MultiTransformState", "identity", "set_to_zero", "scale", "scale_by_schedule",
           "scale_by_learning_rate", "add_decayed_weights", "clip", "clip_by_global_norm",
           "trace", "scale_by_adam", "scale_by_lion", "ScaleByScheduleState", "TraceState",
           "ScaleByAdamState", "ScaleByLionState",
           # schedules
           "constant_schedule", "polynomial_schedule", "linear_schedule",
           "piecewise_constant_schedule", "exponential_decay", "cosine_decay_schedule",
           "warmup_cosine_decay_schedule", "warmup_exponential_decay_schedule",
           "join_schedules"]
