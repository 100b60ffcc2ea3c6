"""Stage 3, the features: indicator and membership wrappers over the kernels, the feature frame
and its :class:`FeatureSchema`, the train-only transform, warm-up checks, labels (quarantined:
they look ahead by design, and no feature module imports them) and the training dataset.

Owns: ``indicators``, ``membership``, ``frame`` (:func:`resolve_features`,
:func:`build_features`, :func:`select_features`), ``transform``, ``warmup``, ``labels``,
``dataset``, ``summary`` (what a strategy computes, as data).
May import: ``strategy``, ``data``, :mod:`fuzzyvec.nb`, and the shared helpers.
"""
