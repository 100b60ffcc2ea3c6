"""numba kernels: every numerical inner loop of fuzzyvec lives here.

Rules for this sub-package (ARCHITECTURE.md, house rule 1):

- functions are ``@njit(cache=True)``, named ``*_nb`` (``*_1d_nb`` for 1-D variants);
- numpy arrays in and out, time on axis 0, float64 unless stated;
- no polars, pandas, pydantic or torch imports;
- each docstring names the reference definition the kernel matches, and a test checks it.

Modules are imported on first use by :mod:`fuzzyvec.strategy.registry`, so importing this package is
cheap.
"""
