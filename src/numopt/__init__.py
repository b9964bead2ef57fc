"""numopt package of probspace."""
