"""solvers package of probspace."""
from ._wasserstein import wasserstein_1d, wasserstein_gaussian
from ._fokker_planck import fokker_planck_1d
from ._fokker_planck_2d import fokker_planck_2d
