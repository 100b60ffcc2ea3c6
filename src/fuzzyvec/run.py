"""Entry point: ``python -m fuzzyvec.run [COMMAND] ...`` (the demo with no command).

This module only dispatches: the parser and the commands live in :mod:`fuzzyvec.cli`.
"""

from __future__ import annotations

import sys

from .cli.main import build_parser, load_plugins, main

__all__ = ["build_parser", "load_plugins", "main"]

if __name__ == "__main__":
    sys.exit(main())
