"""Stage 5, the backtest: decisions from probabilities, the engine wrapper (kernel -> records ->
stats, trades, equity; vectorbt as the analytics layer), sweeps, prediction-file backtests.

Owns: ``decision`` (:func:`decide`), ``engine`` (:func:`backtest`), ``sweep``,
``predictions`` (SPEC section 8).
May import: ``strategy``, ``data``, ``features``, ``model``, :mod:`fuzzyvec.nb`, and the shared helpers.
"""
