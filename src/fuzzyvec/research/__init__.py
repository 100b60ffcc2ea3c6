"""Stage 7, research: the pipeline (``fit`` / ``evaluate``, the one place that chains stages),
walk-forward, strategy search (space, candidates, Ray Tune), look-ahead checks, batch runs and
the executors (local process pool, Ray).

Owns: ``pipeline``, ``walkforward``, ``search``, ``space``, ``candidate``, ``tune``,
``lookahead``, ``batch``, ``executors``.
May import: every stage before it and the shared helpers.
"""
