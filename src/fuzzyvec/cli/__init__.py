"""The command line ``python -m fuzzyvec.run``: argument parsing (``main``) and one module per
command group. :mod:`fuzzyvec.run` only dispatches here.

May import: everything.
"""
