"""fishgate: edge controller for AI fish traps."""

__version__ = "0.1.0"
