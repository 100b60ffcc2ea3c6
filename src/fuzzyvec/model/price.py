"""The price-only model (SPEC §9): network, training, ONNX export and its strategy.

Data flow: bars → :func:`price_features` (the price-only extractor: five rolling min-max
columns) → :func:`price_windows` (zero-copy ``(n − L + 1, L, 5)`` float32 sequences, flagged
by :func:`complete_windows`) → :class:`PriceModel` → the predicted normalised next close → a
price → a prediction frame (SPEC §8) → :func:`~fuzzyvec.backtest.predictions.backtest_predictions`.
Export, runner and registry: :mod:`fuzzyvec.model.onnx`.

Target
------
For a window ending at bar ``e`` the model predicts the next close normalised with the
*same* min and max as the window's last ``close_normalized``: ``lo_e`` / ``hi_e`` = min / max
of ``close`` over bars ``e − W + 1 .. e`` (``W`` = ``normalization_window``), and

    target_e = (close[e + 1] − lo_e) / (hi_e − lo_e)

so that turning a prediction back into a price, ``lo_e + pred · (hi_e − lo_e)``, is the
exact inverse (normalising ``close[e + 1]`` with its own window, which contains it, would
clip breakouts to 1 and not invert). The target can leave ``[0, 1]`` on a breakout. Windows
with a NaN row or a flat close (``hi_e == lo_e``) are not trained on.

Network
-------
``Flatten → Linear(L·5, hidden) → ReLU → Linear(hidden, 1)`` plus a residual: the output is
the window's last ``close_normalized`` plus the network's correction, so an untrained
network predicts "no change". Tiny and fast on a CPU (BTCUSDT 2023-Q1, 26k windows: about
a second per epoch).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from ..errors import DataError
from .onnx import (
    PRICE_FEATURE_NAMES,
    IncompatibleModelError,
    OnnxRunner,
    _positive_int,
    compatibility_problems,
    write_model_pair,
)
from .optim import Adam

__all__ = [
    "PRICE_FEATURE_NAMES",
    "PriceModel",
    "PriceModelConfig",
        "complete_windows",
    "export_price_model",
    "price_feature_array",
    "price_features",
    "price_model_predictions",
    "price_windows",
    "train_price_model",
]

_PRICE_SOURCES: tuple[str, ...] = ("close", "volume", "high", "low", "open")  # of PRICE_FEATURE_NAMES


# ---------------------------------------------------------------------------------------------
# the price-only extractor
# ---------------------------------------------------------------------------------------------


def price_features(bars: pl.DataFrame, *, normalization_window: int = 120) -> pl.DataFrame:
    """The five price-only features of SPEC §9: rolling min-max normalised OHLCV.

    Each column is ``(x - min) / (max - min)`` over the last ``normalization_window`` bars
    (the bar itself included, so row ``t`` uses bars ``t - window + 1 .. t`` only), 0.5 where
    ``max == min``, NaN for the first ``window - 1`` bars (kernel:
    :func:`fuzzyvec.nb.windows.minmax_normalize_1d_nb`).

    Parameters
    ----------
    bars:
        Bars with ``timestamp, open, high, low, close, volume`` (:func:`fuzzyvec.load_ohlcv`).
    normalization_window:
        Window length in bars, ``>= 2``.

    Returns
    -------
    polars.DataFrame
        ``timestamp`` then :data:`PRICE_FEATURE_NAMES` (Float64), one row per bar.
    """
    from ..nb.windows import minmax_normalize_1d_nb

    window = _positive_int("normalization_window", normalization_window, minimum=2)
    missing = [c for c in ("timestamp", *_PRICE_SOURCES) if c not in bars.columns]
    if missing:
        raise ValueError(f"bars: missing column(s) {missing}; expected timestamp, open, high, low, close, volume")
    cols = {out: minmax_normalize_1d_nb(np.ascontiguousarray(bars[src].to_numpy(), dtype=np.float64), window)
            for out, src in zip(PRICE_FEATURE_NAMES, _PRICE_SOURCES, strict=True)}
    return pl.DataFrame({"timestamp": bars["timestamp"], **cols})


def price_feature_array(features: pl.DataFrame) -> np.ndarray:
    """The five feature columns, selected by name, as a C-contiguous float32 ``(n, 5)`` array."""
    missing = [c for c in PRICE_FEATURE_NAMES if c not in features.columns]
    if missing:
        raise ValueError(f"features: missing column(s) {missing}; expected {list(PRICE_FEATURE_NAMES)}")
    return np.ascontiguousarray(features.select(PRICE_FEATURE_NAMES).to_numpy(), dtype=np.float32)


def price_windows(features: np.ndarray | pl.DataFrame, sequence_length: int = 120) -> np.ndarray:
    """Every sequence of ``sequence_length`` consecutive feature rows, as a zero-copy view.

    Parameters
    ----------
    features:
        ``(n, 5)`` array (pass a C-contiguous float32 array, e.g. from
        :func:`price_feature_array`, and the windows share its memory; anything else is
        converted once first), or the frame of :func:`price_features`.
    sequence_length:
        Rows per window, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Read-only float32 view of shape ``(n - L + 1, L, 5)`` (``(0, L, 5)`` when
        ``n < L``): window ``j`` holds rows ``j .. j + L - 1``, so it *ends* at row
        ``j + L - 1``. Every window is returned, incomplete ones too (the first
        ``normalization_window + L - 2`` rows' windows contain warm-up NaN): excluding them
        would need a copy; :func:`complete_windows` flags the ones without a NaN row.
    """
    if isinstance(features, pl.DataFrame):
        features = price_feature_array(features)
    length = _positive_int("sequence_length", sequence_length, minimum=1)
    arr = np.ascontiguousarray(features, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != len(PRICE_FEATURE_NAMES):
        raise ValueError(f"features: expected shape (n, {len(PRICE_FEATURE_NAMES)}), got {arr.shape}")
    if arr.shape[0] < length:
        return np.empty((0, length, arr.shape[1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(arr, (length, arr.shape[1]))[:, 0]
    view.flags.writeable = False
    return view


def complete_windows(features: np.ndarray | pl.DataFrame, sequence_length: int = 120) -> np.ndarray:
    """Boolean flags, one per window of :func:`price_windows`: True when it holds no NaN row."""
    from ..nb.windows import complete_rows_nb

    if isinstance(features, pl.DataFrame):
        features = price_feature_array(features)
    length = _positive_int("sequence_length", sequence_length, minimum=1)
    return complete_rows_nb(np.asarray(features), length)


@dataclass(frozen=True)
class PriceModelConfig:
    """Everything that defines a :class:`PriceModel` and the inputs it takes.

    Parameters
    ----------
    sequence_length:
        Feature rows per input window (``L``).
    normalization_window:
        Bars of the rolling min-max normalisation (``W``).
    hidden:
        Width of the hidden layer.
    """

    sequence_length: int = 120
    normalization_window: int = 120
    hidden: int = 32

    def __post_init__(self) -> None:
        for key, minimum in (("sequence_length", 1), ("normalization_window", 2), ("hidden", 1)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
                raise ValueError(f"{key}: expected an integer >= {minimum}, got {v!r}")
            object.__setattr__(self, key, int(v))


class PriceModel(nn.Module):
    """Windows ``(batch, L, 5)`` → predicted normalised next close ``(batch,)``.

    Parameters
    ----------
    config:
        The shape of the network and of its inputs.
    """

    def __init__(self, config: PriceModelConfig) -> None:
        super().__init__()
        self.config = config
        n_in = config.sequence_length * len(PRICE_FEATURE_NAMES)
        self.net = nn.Sequential(nn.Flatten(1), nn.Linear(n_in, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, 1))
        self.history: tuple[float, ...] = ()
        self.training_info: dict[str, Any] = {}

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """The last ``close_normalized`` of each window plus the network's correction."""
        return windows[:, -1, 0] + self.net(windows)[:, 0]


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    """The extractor's output for one bar frame, aligned for training and prediction."""

    windows: np.ndarray  # (m, L, 5) zero-copy view; window j ends at bar j + L - 1
    complete: np.ndarray  # (m,) bool: window j holds no NaN row
    close: np.ndarray  # (n,) float64
    lo: np.ndarray  # (n,) rolling min of close over W bars
    hi: np.ndarray  # (n,) rolling max of close over W bars


def _inputs(bars: pl.DataFrame, sequence_length: int, normalization_window: int) -> _Inputs:
    from ..nb.windows import rolling_minmax_1d_nb

    arr = price_feature_array(price_features(bars, normalization_window=normalization_window))
    close = np.ascontiguousarray(bars["close"].to_numpy(), dtype=np.float64)
    lo, hi = rolling_minmax_1d_nb(close, normalization_window)
    return _Inputs(price_windows(arr, sequence_length), complete_windows(arr, sequence_length), close, lo, hi)


def train_price_model(bars: pl.DataFrame, *, sequence_length: int = 120, normalization_window: int = 120,
                      epochs: int = 3, seed: int = 0, hidden: int = 32, learning_rate: float = 1e-3,
                      batch_size: int = 256, num_threads: int | None = 1) -> PriceModel:
    """Train a :class:`PriceModel` to predict the next bar's normalised close (module docs).

    Every complete window whose next bar exists is a sample (in-sample: split the bars
    yourself to hold data out). Mean-squared error, Adam, shuffled mini-batches; the
    batches are gathered from the zero-copy windows, so memory stays O(batch).

    Parameters
    ----------
    bars:
        Bars (:func:`fuzzyvec.load_ohlcv`), at least ``sequence_length +
        normalization_window`` of them.
    sequence_length, normalization_window, hidden:
        See :class:`PriceModelConfig`.
    epochs, learning_rate, batch_size:
        Training loop settings.
    seed:
        Seeds the weights and the shuffling: the same seed gives bit-identical weights on
        the same machine (the caller's global torch RNG state is left untouched).
    num_threads:
        torch intra-op threads while training (restored afterwards); None leaves the setting.

    Returns
    -------
    PriceModel
        In eval mode; ``history`` holds the mean training loss of each epoch and
        ``training_info`` the settings and data range (written into the export metadata).

    Raises
    ------
    DataError
        If the bars give no training window.
    """
    from .train import _intra_op_threads

    config = PriceModelConfig(sequence_length, normalization_window, hidden)
    for key, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{key}: expected a positive integer, got {v!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate: expected a positive number, got {learning_rate!r}")
    inp = _inputs(bars, config.sequence_length, config.normalization_window)
    m, length = inp.windows.shape[0], config.sequence_length
    end = np.arange(m) + length - 1
    span = inp.hi[end] - inp.lo[end]
    usable = inp.complete & (end + 1 < inp.close.shape[0]) & (span > 0)
    idx = np.flatnonzero(usable)
    if idx.size == 0:
        raise DataError(f"train_price_model: no training window in {bars.height} bars (need more than "
                        f"sequence_length + normalization_window - 1 = {length + config.normalization_window - 1} "
                        f"bars and a close that moves)")
    e = end[idx]
    target = ((inp.close[e + 1] - inp.lo[e]) / span[idx]).astype(np.float32)
    history: list[float] = []
    with _intra_op_threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PriceModel(config)
        optimizer = Adam(model.parameters(), lr=learning_rate)
        shuffle = np.random.default_rng(seed)
        model.train()
        for _ in range(epochs):
            order = shuffle.permutation(idx.size)
            total = 0.0
            for b in range(0, order.size, batch_size):
                pick = order[b:b + batch_size]
                xb = torch.from_numpy(inp.windows[idx[pick]])
                yb = torch.from_numpy(target[pick])
                loss = nn.functional.mse_loss(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * pick.size
            history.append(total / idx.size)
    model.eval()
    model.history = tuple(history)
    model.training_info = {
        "epochs": epochs, "seed": seed, "learning_rate": learning_rate, "batch_size": batch_size,
        "windows": int(idx.size), "bars": bars.height,
        "first_bar": str(bars["timestamp"][0]), "last_bar": str(bars["timestamp"][-1]),
        "loss": "mse", "history": list(history),
    }
    return model


def export_price_model(model: PriceModel, out_dir: str | os.PathLike, name: str) -> Path:
    """Export a :class:`PriceModel` to ``{out_dir}/{name}.onnx`` plus ``{name}_metadata.json``.

    The graph takes ``windows`` float32 ``(batch, L, 5)`` (dynamic batch, columns in
    :data:`PRICE_FEATURE_NAMES` order) and returns
    ``predicted_close_normalized`` float32 ``(batch,)``. The metadata has
    ``sequence_length`` (L), ``feature_count`` 5, ``feature_names``,
    ``price_normalization: "rolling_minmax"``, ``normalization_params: {"window": W}``, the
    target definition, the architecture and the training summary.

    Returns
    -------
    pathlib.Path
        The ``.onnx`` path.
    """
    cfg = model.config
    n_feat = len(PRICE_FEATURE_NAMES)
    metadata = {
        "model_type": "price_regressor",
        "sequence_length": cfg.sequence_length,
        "feature_count": n_feat,
        "feature_names": list(PRICE_FEATURE_NAMES),
        "price_normalization": "rolling_minmax",
        "normalization_params": {"window": cfg.normalization_window,
                                 "formula": "(x - min) / (max - min) over the last `window` bars, "
                                            "0.5 when max == min"},
        "target": "next close normalised with the close min/max of the window's last bar: "
                  "(close[e+1] - min_e) / (max_e - min_e); price = min_e + pred * (max_e - min_e)",
        "inputs": [{"name": "windows", "shape": ["batch", cfg.sequence_length, n_feat], "dtype": "float32",
                    "description": "sequences of price-only feature rows, oldest first"}],
        "outputs": [{"name": "predicted_close_normalized", "shape": ["batch"], "dtype": "float32",
                     "description": "the next bar's close, normalised with the last row's close window"}],
        "architecture": asdict(cfg),
        "training": dict(model.training_info),
    }
    example = torch.full((2, cfg.sequence_length, n_feat), 0.5, dtype=torch.float32)
    return write_model_pair(model, example, out_dir, name, metadata,
                            input_name="windows", output_name="predicted_close_normalized")


# ---------------------------------------------------------------------------------------------
# the strategy: predictions and backtest
# ---------------------------------------------------------------------------------------------


def price_model_predictions(bars: pl.DataFrame, runner: OnnxRunner, *, threshold: float = 0.001,
                            stop_loss: float = 0.02, take_profit: float = 0.04, sequence_length: int = 120,
                            normalization_window: int = 120) -> pl.DataFrame:
    """A prediction frame (SPEC §8) from a price model, one row per bar from the second on.

    The row of bar ``t`` is decided from completed bars only: the window ending at bar
    ``t − 1`` gives ``pred``; ``price = lo + pred · (hi − lo)`` with ``lo`` / ``hi`` the min /
    max of ``close`` over the ``normalization_window`` bars ending at ``t − 1``;
    ``ret = price / close[t − 1] − 1``. The row acts at bar ``t``'s open, which is also the
    reference of its stops, so nothing after that open is used.

    Parameters
    ----------
    bars:
        Bars (:func:`fuzzyvec.load_ohlcv`).
    runner:
        The model (:class:`~fuzzyvec.model.onnx.OnnxRunner`, e.g. from
        :meth:`~fuzzyvec.model.onnx.ModelRegistry.get`); its metadata must match
        ``sequence_length`` and ``normalization_window``.
    threshold:
        ``ret > threshold`` → long, ``ret < −threshold`` → short, otherwise neutral.
    stop_loss, take_profit:
        Fractions of bar ``t``'s open: long ``open·(1 − stop_loss)`` / ``open·(1 +
        take_profit)``, short ``open·(1 + stop_loss)`` / ``open·(1 − take_profit)``.
    sequence_length, normalization_window:
        The extractor's configuration.

    Returns
    -------
    polars.DataFrame
        ``timestamp, signal, confidence, stop_loss, take_profit`` for bars ``1 .. n − 1``.
        ``confidence = min(1, 0.5 · |ret| / threshold)``: 0.5 at the threshold, 1 at twice
        it, so every long or short row has a confidence above 0.5. Bars without a complete
        window are neutral with confidence 0; neutral rows have null stops.

    Raises
    ------
    IncompatibleModelError
        If the runner's model does not take this extractor's windows (both numbers named).
    """
    for key, v in (("threshold", threshold), ("stop_loss", stop_loss), ("take_profit", take_profit)):
        if not (isinstance(v, int | float) and 0.0 < v < 1.0):
            raise ValueError(f"{key}: expected a fraction in (0, 1), got {v!r}")
    problems = compatibility_problems(runner.metadata, runner.name, sequence_length=sequence_length,
                                      normalization_window=normalization_window)
    if problems:
        raise IncompatibleModelError("; ".join(problems))
    n = bars.height
    inp = _inputs(bars, sequence_length, normalization_window)
    m = inp.windows.shape[0]
    ret = np.full(n, np.nan)  # ret[t]: predicted return of bar t, from the window ending at t - 1
    usable = np.flatnonzero(inp.complete[:max(m - 1, 0)])  # the last window predicts a bar beyond the data
    if usable.size:
        first, last = int(usable[0]), int(usable[-1]) + 1
        pred = np.asarray(runner.run(inp.windows[first:last]), dtype=np.float64).reshape(-1)
        keep = inp.complete[first:last]
        e = np.arange(first, last)[keep] + sequence_length - 1
        price = inp.lo[e] + pred[keep] * (inp.hi[e] - inp.lo[e])
        ret[e + 1] = price / inp.close[e] - 1.0
    ret = ret[1:]
    finite = np.isfinite(ret)
    with np.errstate(invalid="ignore"):
        direction = np.where(finite & (ret > threshold), 1, np.where(finite & (ret < -threshold), -1, 0))
    conf = np.where(finite, np.minimum(1.0, 0.5 * np.abs(np.where(finite, ret, 0.0)) / threshold), 0.0)
    entry = bars["open"].to_numpy()[1:].astype(np.float64)
    sl = np.where(direction != 0, entry * (1.0 - direction * stop_loss), np.nan)
    tp = np.where(direction != 0, entry * (1.0 + direction * take_profit), np.nan)
    names = np.array(["short", "neutral", "long"])[direction + 1]
    return pl.DataFrame({
        "timestamp": bars["timestamp"][1:],
        "signal": pl.Series(names.tolist(), dtype=pl.String),
        "confidence": conf,
        "stop_loss": pl.Series(sl, dtype=pl.Float64).fill_nan(None),
        "take_profit": pl.Series(tp, dtype=pl.Float64).fill_nan(None),
    })
