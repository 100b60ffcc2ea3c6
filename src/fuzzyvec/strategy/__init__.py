"""Stage 1, the strategy: the version 3 YAML grammar (frozen pydantic models), strategy I/O,
the indicator and membership type registries, and the runtime configs of decisions and backtests.

Owns: ``grammar`` (:class:`Strategy`), ``load`` (:func:`load_strategy`, warnings), ``registry``
(indicator and membership types), ``config`` (section models), ``bundled`` (shipped strategy files).
May import: :mod:`fuzzyvec.errors`, :mod:`fuzzyvec.timeframes`, :mod:`fuzzyvec.nb` (kernels only).
"""
