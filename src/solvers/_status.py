"""Status codes and messages shared by every solver in :mod:`solvers` (ODE and SDE alike).

One vocabulary for every result object: ``0`` success, ``1`` a terminal event stopped the
member, negative codes are failures and always come with a message.  Codes are per member
(per path) for batched problems.
"""
from __future__ import annotations

__all__ = ["STATUS_SUCCESS", "STATUS_EVENT", "STATUS_MAX_STEPS", "STATUS_NONFINITE",
           "STATUS_UNDERFLOW", "STATUS_STIFF", "STATUS_CALLBACK", "MESSAGES", "BACKENDS"]

STATUS_SUCCESS = 0
STATUS_EVENT = 1
STATUS_MAX_STEPS = -1
STATUS_NONFINITE = -2
STATUS_UNDERFLOW = -3
STATUS_STIFF = -4
# a user callable misbehaved during the solve (e.g. returned an array of the wrong shape)
STATUS_CALLBACK = -5

MESSAGES = {
    STATUS_SUCCESS: "The solver successfully reached the end of the integration interval.",
    STATUS_EVENT: "A termination event occurred.",
    STATUS_MAX_STEPS: "Maximum number of steps (max_steps) reached.",
    STATUS_NONFINITE: "Non-finite state or derivative encountered.",
    STATUS_UNDERFLOW: "Step size underflow: the required step is below the resolution of t.",
    STATUS_STIFF: ("The problem appears stiff: an explicit method would need tiny steps. "
                   "Use method='rodas4' or method='kvaerno5'."),
    STATUS_CALLBACK: "A user-supplied function returned an invalid result.",
}

# the labels every result's ``backend`` field uses
BACKENDS = ("numba", "cupy", "generic")
