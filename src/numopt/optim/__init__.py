"""Optimizers as pure ``init``/``update`` pairs (optax style) for any array-API namespace.

``opt = adam(1e-3)``; ``state = opt.init(params)``; per step
``updates, state = opt.update(grads, state, params)``; ``params = apply_updates(params, updates)``.
``params`` is an array or a dict/list/tuple (nested) of arrays; ``lr`` is a float or a schedule.
"""
from ._base import Optimizer, apply_updates
from ._sgd import sgd, momentum, nesterov, SgdState, MomentumState
from ._adam import adam, AdamState
from ._lion import lion, tiger, LionState, TigerState, TIGER_ROLES
from ._eg import eg, eg_adaptive, EgState, EgAdaptiveState
from ._friction import momentum_to_friction, friction_to_momentum, rescale_momentum

__all__ = ["Optimizer", "apply_updates", "sgd", "momentum", "nesterov", "adam", "lion", "tiger",
           "eg", "eg_adaptive", "momentum_to_friction", "friction_to_momentum",
           "rescale_momentum", "TIGER_ROLES", "SgdState", "MomentumState", "AdamState",
           "LionState", "TigerState", "EgState", "EgAdaptiveState"]
