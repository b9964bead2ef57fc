"""Monte Carlo gradient estimators: zeroth order (Gaussian smoothing) and policy gradient."""
from ._zeroth_order import zeroth_order_grad, GradientEstimate
from ._policy_gradient import policy_gradient, categorical_sample

__all__ = ["zeroth_order_grad", "policy_gradient", "categorical_sample", "GradientEstimate"]
