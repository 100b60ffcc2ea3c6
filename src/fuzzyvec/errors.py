"""One exception hierarchy for everything fuzzyvec raises on purpose.

The command line maps :class:`FuzzyvecError` subclasses that describe bad *input*
(strategy, data, schema, bundle) to exit code 2 and prints only the message.
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "DataError",
    "FuzzyvecError",
    "SchemaMismatchError",
    "StrategyError",
    "UsageError",
]


class FuzzyvecError(Exception):
    """Base class of every error fuzzyvec raises deliberately."""


class StrategyError(FuzzyvecError):
    """A strategy file or strategy object is invalid (names the key path and the value)."""


class DataError(FuzzyvecError):
    """Market data or a prediction file is invalid (names the file, column and rows)."""


class SchemaMismatchError(FuzzyvecError):
    """A feature frame or bundle does not match the expected feature schema."""


class BundleError(FuzzyvecError):
    """A model bundle is missing, corrupt, tampered with or incompatible."""


class UsageError(FuzzyvecError):
    """A bad command-line argument or a missing optional dependency (CLI exit code 2)."""
