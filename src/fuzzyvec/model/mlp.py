"""The network: a small MLP classifier and its frozen configuration.

This module defines the network only — no file I/O and no training loop (those live in
:mod:`fuzzyvec.model.train` and :mod:`fuzzyvec.model.bundle`). :class:`MLPConfig` is everything needed
to rebuild an :class:`MLP`; the bundle stores it next to the state dict (nanoGPT's
``model_args``), so a model is never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "MLPConfig"]

#: Activation name -> module class. One table, shared by the config check and the network.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


@dataclass(frozen=True)
class MLPConfig:
    """Everything that defines the shape of an :class:`MLP`.

    Parameters
    ----------
    n_features:
        Number of input columns (the feature schema's length).
    hidden_layers:
        Width of each hidden layer, input side first.
    activation:
        One of ``relu``, ``tanh``, ``sigmoid``, ``leaky_relu``, ``gelu``.
    dropout:
        Dropout probability after each hidden activation, in ``[0, 1)``.
    n_classes:
        Number of output logits (3: BUY, HOLD, SELL).
    """

    n_features: int
    hidden_layers: tuple[int, ...] = (32, 16)
    activation: str = "relu"
    dropout: float = 0.0
    n_classes: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_layers", tuple(int(w) for w in self.hidden_layers))
        if isinstance(self.n_features, bool) or int(self.n_features) != self.n_features or self.n_features < 1:
            raise ValueError(f"n_features: expected a positive integer, got {self.n_features!r}")
        if not self.hidden_layers or any(w < 1 for w in self.hidden_layers):
            raise ValueError(f"hidden_layers: expected a non-empty list of positive widths, got {list(self.hidden_layers)!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout: expected 0 <= dropout < 1, got {self.dropout!r}")
        if int(self.n_classes) < 2:
            raise ValueError(f"n_classes: expected >= 2, got {self.n_classes!r}")
        object.__setattr__(self, "n_features", int(self.n_features))
        object.__setattr__(self, "n_classes", int(self.n_classes))
        object.__setattr__(self, "dropout", float(self.dropout))

    @classmethod
    def from_architecture(cls, architecture: Any, n_features: int) -> MLPConfig:
        """Build from a strategy's ``model.architecture`` section and a feature count.

        Parameters
        ----------
        architecture:
            A :class:`fuzzyvec.strategy.config.Architecture` (anything with ``hidden_layers``,
            ``activation`` and ``dropout`` attributes).
        n_features:
            Number of model inputs.
        """
        return cls(
            n_features=n_features,
            hidden_layers=tuple(architecture.hidden_layers),
            activation=architecture.activation,
            dropout=architecture.dropout,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe representation (stored as ``architecture`` in the bundle metadata)."""
        return {
            "n_features": self.n_features,
            "hidden_layers": list(self.hidden_layers),
            "activation": self.activation,
            "dropout": self.dropout,
            "n_classes": self.n_classes,
            "output_activation": "softmax",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MLPConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        data = dict(data)
        out_act = data.pop("output_activation", "softmax")
        if out_act != "softmax":
            raise ValueError(f"output_activation: expected 'softmax', got {out_act!r}")
        unknown = sorted(set(data) - {"n_features", "hidden_layers", "activation", "dropout", "n_classes"})
        if unknown:
            raise ValueError(f"unknown architecture key(s): {', '.join(unknown)}")
        if "n_features" not in data:
            raise ValueError("architecture: missing key 'n_features'")
        return cls(**data)


class MLP(nn.Module):
    """``Linear → activation → Dropout`` per hidden layer, then a linear logits head.

    ``forward`` returns logits (train with ``cross_entropy``); the strategy's
    ``output_activation: softmax`` is applied by :meth:`predict_proba` at prediction time.

    Parameters
    ----------
    config:
        The network's shape.
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.n_features
        for hidden in config.hidden_layers:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[config.activation](), nn.Dropout(config.dropout)]
            width = hidden
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, config.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(n, n_classes)`` for inputs of shape ``(n, n_features)``."""
        return self.head(self.hidden(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities (no gradient; call :meth:`eval` first for inference)."""
        return torch.softmax(self.forward(x), dim=-1)
