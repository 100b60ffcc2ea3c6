"""Where bundled resources live (strategies and sample data ship inside the package)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEMO_STRATEGY", "bundled_strategy", "strategies_dir"]

#: the strategy ``python -m fuzzyvec.run`` runs with no arguments (multi-timeframe, BTCUSDT 5m + 1h)
DEMO_STRATEGY = "v3_test_example.yaml"


def strategies_dir() -> Path:
    """Folder of the strategy files shipped with the package (the repository's ``strategies/``)."""
    return Path(str(resources.files("fuzzyvec") / "strategies"))


def bundled_strategy(name: str = DEMO_STRATEGY) -> Path:
    """Path of a shipped strategy file (``v3_test_example.yaml``, ``v3_e2e_test.yaml``...)."""
    p = strategies_dir() / name
    if not p.exists():
        known = ", ".join(sorted(x.name for x in strategies_dir().glob("*.yaml")))
        raise FileNotFoundError(f"no bundled strategy {name!r}; bundled: {known}")
    return p
