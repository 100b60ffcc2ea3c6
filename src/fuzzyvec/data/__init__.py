"""Stage 2, the data: bars loading and validation, resampling, the bundled sample data, and
the bars a strategy reads.

Owns: ``bars`` (:func:`load_ohlcv`, timestamp parsing, validation, :func:`resample`), ``files``
(:func:`load_strategy_data`, :func:`sample_data_dir`, truncation).
May import: earlier stages (``strategy``), :mod:`fuzzyvec.errors`, :mod:`fuzzyvec.timeframes`,
:mod:`fuzzyvec.io_utils`.
"""
