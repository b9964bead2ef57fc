"""solvers package of probspace."""
