"""Stage 4, the model: the MLP, the training loop and its metrics, the model bundle (the only
``torch.load``), predictions from a bundle, ONNX export and the price-only model.

Owns: ``mlp``, ``train``, ``metrics``, ``bundle``, ``predict``, ``onnx``, ``price``.
May import: ``strategy``, ``data``, ``features``, :mod:`fuzzyvec.nb`, and the shared helpers.
"""
