"""numopt package of probspace."""
from . import optim, estimators, scaling  # noqa: E402,F401
