"""growstack: carry the growstack kernel patch series from base tree to results."""

__version__ = "0.1.0"
