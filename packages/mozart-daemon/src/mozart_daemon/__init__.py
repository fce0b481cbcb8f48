"""mozartd, the Mozart daemon."""

__version__ = "0.1.0"
