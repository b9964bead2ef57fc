"""The distribution's version: the single source read by pyproject.toml and every package."""
__version__ = "0.1.0"
