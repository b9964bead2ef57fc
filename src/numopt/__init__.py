"""numopt package of probspace."""
from . import losses
