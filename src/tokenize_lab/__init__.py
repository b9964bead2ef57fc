"""tokenize_lab package of probspace."""
