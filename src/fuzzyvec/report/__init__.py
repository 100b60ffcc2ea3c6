"""Stage 6, the report: plotly figures, the self-contained ``report.html``, console tables and
progress bars (rich). Used by ``research``, ``live`` and ``cli``.

Owns: ``figures``, ``html``, ``console``.
May import: the stages before it and the shared helpers.
"""
