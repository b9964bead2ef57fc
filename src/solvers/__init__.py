"""solvers package of probspace."""
from . import diffusion
