"""fuzzyvec: vectorised research toolkit for fuzzy-neural trading strategies."""

__version__ = "0.1.0"
