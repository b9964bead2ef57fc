"""Batch-size / learning-rate laws: SGD's ``eta*(B) = eta_max/(1 + B_noise/B)`` and the
sign-SGD (Adam) model with its surge."""
from ._batch_size import optimal_lr, lr_max, b_noise, b_simple
from ._sign_sgd import expected_sign, sign_sgd_lr, sign_sgd_peak, SignSGDPeak

__all__ = ["optimal_lr", "lr_max", "b_noise", "b_simple", "expected_sign", "sign_sgd_lr",
           "sign_sgd_peak", "SignSGDPeak"]
