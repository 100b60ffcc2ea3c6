"""The training loop: a pure function of arrays and configs, with no file I/O.

:func:`train_model` builds the :class:`~fuzzyvec.model.mlp.MLP` from its config, trains it with
the strategy's ``model.training`` section and returns a :class:`TrainResult`. Writing
checkpoints and bundles is the caller's job (:mod:`fuzzyvec.model.bundle`); the loop only hands the
full training state to ``on_checkpoint``.

Determinism
-----------
``torch.manual_seed(seed)`` is called right before the model is built (weights and the
dropout masks come from torch's global CPU generator), and batches are shuffled with a
separate ``torch.Generator`` seeded with the same seed. Both generator states travel in the
checkpoints, so a resumed run ends with weights bit-identical to an uninterrupted one. The
loop runs inside :func:`torch.random.fork_rng`, so the caller's global RNG state is left as
it was. The operations used (``Linear``, activations, dropout, cross-entropy, the optimizers)
are deterministic on CPU, so ``torch.use_deterministic_algorithms`` is not switched on (it is
global state). The thread count can matter: a BLAS library may split a large matrix product
differently for another number of threads and round differently. The loop therefore trains
with one intra-op thread by default (``num_threads=1``, restored afterwards), which is also
the fastest setting for these small layers; the tests found identical weights with 1 and 2
threads at the sizes used here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..strategy.config import ModelTraining
from .metrics import classification_metrics
from .mlp import MLP, MLPConfig
from .optim import SGD, Adam, AdamW, Optimizer

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainResult",
    "build_optimizer",
    "evaluate_model",
    "inverse_frequency_weights",
    "train_model",
]

#: ``format`` tag of the training-state dicts handed to ``on_checkpoint``.
CHECKPOINT_FORMAT = "fuzzyvec-train-state-1"

# training keys that may differ between a checkpoint and the resumed run
_RESUME_MAY_CHANGE = ("epochs", "checkpoint_every")


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    state_dict:
        The returned weights (CPU tensors, detached clones): the best epoch's weights when
        early stopping is enabled, else the final weights.
    history:
        One dict per epoch: ``epoch`` (1-based), ``train_loss``, ``train_accuracy``,
        ``val_loss``, ``val_accuracy`` (None without a validation set), ``lr``.
    best_epoch, best_val_loss:
        Epoch with the lowest validation loss (improvements smaller than ``min_delta`` do not
        count) and that loss; None without a validation set. Recorded even when early stopping
        is disabled.
    stopped_early:
        True when early stopping ended training before ``epochs``.
    epochs_run:
        Epochs completed (including those before a resume).
    restored_best:
        True when :attr:`state_dict` holds the best epoch's weights rather than the last's.
    class_weights:
        The cross-entropy class weights used (None for ``class_weights: none``).
    """

    state_dict: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_val_loss: float | None
    stopped_early: bool
    epochs_run: int
    restored_best: bool = False
    class_weights: list[float] | None = None
    model_config: MLPConfig | None = field(default=None, repr=False)

    def model(self) -> MLP:
        """The trained network in eval mode."""
        if self.model_config is None:
            raise ValueError("this TrainResult has no model_config")
        net = MLP(self.model_config)
        net.load_state_dict(self.state_dict)
        return net.eval()


# ---------------------------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------------------------


def inverse_frequency_weights(y: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Cross-entropy class weights ``n / (n_classes * count_c)``.

    A class absent from ``y`` gets weight 0: it has no training rows to weight, and a finite
    weight keeps the loss defined should such a class appear in validation rows.

    Parameters
    ----------
    y:
        Training labels (class ids ``0 .. n_classes-1``).
    n_classes:
        Number of classes.
    """
    y = np.asarray(y).astype(np.int64, copy=False).reshape(-1)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    out = np.zeros(n_classes)
    np.divide(y.size, n_classes * counts, out=out, where=counts > 0)
    return out


def build_optimizer(model: nn.Module, training: ModelTraining) -> Optimizer:
    """The optimizer named by ``training.optimizer``.

    ``adam`` → :class:`fuzzyvec.model.optim.Adam`, ``adamw`` → :class:`~fuzzyvec.model.optim.AdamW`,
    ``sgd`` → :class:`~fuzzyvec.model.optim.SGD` with ``momentum``; all with ``learning_rate`` and
    ``weight_decay``. They compute what :class:`torch.optim.Adam`, ``AdamW`` and ``SGD`` compute, to
    the bit, without importing ``torch._dynamo`` (see :mod:`fuzzyvec.model.optim`).
    """
    params = model.parameters()
    lr, wd = float(training.learning_rate), float(training.weight_decay)
    if training.optimizer == "adam":
        return Adam(params, lr=lr, weight_decay=wd)
    if training.optimizer == "adamw":
        return AdamW(params, lr=lr, weight_decay=wd)
    if training.optimizer == "sgd":
        return SGD(params, lr=lr, momentum=float(training.momentum), weight_decay=wd)
    raise ValueError(f"optimizer: expected adam, adamw or sgd, got {training.optimizer!r}")


def _clone_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A deep copy of a state dict as detached CPU tensors (later training cannot touch it)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _tensors(X: Any, y: Any, name: str, n_features: int, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    if X is None:
        X = np.empty((0, n_features), dtype=np.float32)
        y = np.empty(0, dtype=np.int64)
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X_{name}: expected shape (n, {n_features}), got {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X_{name} has {X.shape[0]} rows but y_{name} has {y.shape[0]}")
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise ValueError(f"X_{name}: {bad} row(s) contain NaN or inf; drop warm-up rows before training")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_{name}: expected class ids 0..{n_classes - 1} (drop NO_LABEL rows), "
                         f"got values {sorted(set(np.unique(y).tolist()))[:10]}")
    return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(y.astype(np.int64))


def _loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy, weighted by class when ``weight`` is given (unweighted if all weights are 0)."""
    if weight is not None and float(weight[y].sum()) > 0:
        return F.cross_entropy(logits, y, weight=weight)
    return F.cross_entropy(logits, y)


@torch.no_grad()
def _evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None,
              chunk: int = 65_536) -> tuple[float, float, torch.Tensor]:
    """Loss, accuracy and predicted classes of ``model`` in eval mode (restores its mode)."""
    was_training = model.training
    model.eval()
    try:
        logits = torch.cat([model(X[i:i + chunk]) for i in range(0, X.shape[0], chunk)])
    finally:
        model.train(was_training)
    pred = logits.argmax(dim=1)
    return float(_loss(logits, y, weight)), float((pred == y).float().mean()), pred


def evaluate_model(model: nn.Module | Mapping[str, torch.Tensor], X: np.ndarray, y: np.ndarray, *,
                   model_config: MLPConfig | None = None,
                   class_weights: np.ndarray | None = None) -> dict[str, Any]:
    """Loss and classification metrics of a model on labelled rows (e.g. the test split).

    Parameters
    ----------
    model:
        An :class:`~fuzzyvec.model.mlp.MLP` or a state dict (then ``model_config`` is required).
    X, y:
        Transformed inputs (no NaN) and class ids.
    model_config:
        Needed when ``model`` is a state dict.
    class_weights:
        Weights for the cross-entropy; None (default) for the plain mean loss.

    Returns
    -------
    dict
        ``loss`` plus :func:`fuzzyvec.model.metrics.classification_metrics` (``accuracy``, macro and
        weighted precision/recall/F1, ``confusion_matrix``, ``class_balance`` ...). For empty
        input ``loss`` and ``accuracy`` are None.
    """
    if not isinstance(model, nn.Module):
        if model_config is None:
            raise ValueError("evaluate_model: pass model_config with a state dict")
        net = MLP(model_config)
        net.load_state_dict(dict(model))
        model = net
    cfg = model.config if isinstance(model, MLP) else model_config
    if cfg is None:
        raise ValueError("evaluate_model: pass model_config for a module that is not an MLP")
    Xt, yt = _tensors(X, y, "eval", cfg.n_features, cfg.n_classes)
    if Xt.shape[0] == 0:
        return {"loss": None, **classification_metrics(np.empty(0), np.empty(0), n_classes=cfg.n_classes)}
    weight = None if class_weights is None else torch.as_tensor(np.asarray(class_weights), dtype=torch.float32)
    loss, _, pred = _evaluate(model, Xt, yt, weight)
    return {"loss": loss, **classification_metrics(yt.numpy(), pred.numpy(), n_classes=cfg.n_classes)}


@contextmanager
def _intra_op_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch intra-op threads inside the block (None: leave the setting alone)."""
    previous = torch.get_num_threads()
    if n is None or n == previous:
        yield
        return
    if n < 1:
        raise ValueError(f"num_threads: expected a positive integer or None, got {n!r}")
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_resume(state: Mapping[str, Any], model_config: MLPConfig, training: ModelTraining,
                  n_train: int, n_val: int) -> None:
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"resume: not a training state of this version (format {state.get('format')!r}, "
                         f"expected {CHECKPOINT_FORMAT!r})")
    if state["model_config"] != model_config.to_dict():
        raise ValueError(f"resume: the checkpoint's architecture {state['model_config']} differs from "
                         f"{model_config.to_dict()}")
    now = training.model_dump(mode="json")
    then = dict(state["training"])
    diff = sorted(k for k in set(now) | set(then) if k not in _RESUME_MAY_CHANGE and now.get(k) != then.get(k))
    if diff:
        shown = ", ".join(f"{k}: {then.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise ValueError(f"resume: training settings differ from the checkpoint's ({shown}); "
                         f"only {', '.join(_RESUME_MAY_CHANGE)} may change")
    if (state["n_train"], state["n_val"]) != (n_train, n_val):
        raise ValueError(f"resume: the checkpoint saw {state['n_train']} training and {state['n_val']} "
                         f"validation rows, got {n_train} and {n_val}")


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------


def train_model(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    model_config: MLPConfig,
    training: ModelTraining,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume: Mapping[str, Any] | None = None,
    num_threads: int | None = 1,
) -> TrainResult:
    """Train an MLP; no file I/O.

    Parameters
    ----------
    X_train, y_train:
        Transformed training inputs ``(n, n_features)`` without NaN, and class ids (BUY = 0,
        HOLD = 1, SELL = 2; NO_LABEL rows dropped).
    X_val, y_val:
        Validation rows for the validation loss and early stopping; empty or None for none
        (early stopping then cannot be enabled).
    model_config:
        The network to build (seeded with ``training.seed``).
    training:
        The strategy's ``model.training`` section: optimizer, learning rate, batch size,
        epochs, weight decay, momentum, gradient clipping (``None`` = off), class weights,
        early stopping, seed and checkpoint interval.
    on_epoch:
        Called after every epoch with that epoch's history record (progress bars).
    on_checkpoint:
        Called every ``training.checkpoint_every`` epochs with the full training state: a dict
        of tensors and plain values only (a ``weights_only`` load reads it back) —
        model and optimizer state, epoch, history, best weights, best validation loss and
        epoch, patience counter, and both RNG states. Save it with
        :func:`fuzzyvec.model.bundle.save_checkpoint`.
    resume:
        A state from ``on_checkpoint``: training continues after its epoch and ends with the
        weights an uninterrupted run would have had. Only ``epochs`` and ``checkpoint_every``
        may differ from the checkpoint's settings.
    num_threads:
        torch intra-op threads while training (the previous setting is restored afterwards).
        The default 1 is the fastest for these small layers — several threads only add
        synchronisation, and on a busy machine they can be an order of magnitude slower — and
        makes the weights independent of the machine's core count. None keeps torch's setting.

    Returns
    -------
    TrainResult
        Weights (the best epoch's — a deep copy — when early stopping is enabled, else the
        last epoch's), history, best epoch, and whether training stopped early.
    """
    n_classes = model_config.n_classes
    Xtr, ytr = _tensors(X_train, y_train, "train", model_config.n_features, n_classes)
    Xv, yv = _tensors(X_val, y_val, "val", model_config.n_features, n_classes)
    n, has_val = Xtr.shape[0], Xv.shape[0] > 0
    if n == 0:
        raise ValueError("X_train is empty: no training rows")
    es = training.early_stopping
    if es.enabled and not has_val:
        raise ValueError("early_stopping.enabled needs a validation split, but there are no validation rows; "
                         "set training.data_split.validation > 0 or disable early stopping")
    weights_np = inverse_frequency_weights(ytr.numpy(), n_classes) if training.class_weights == "inverse_frequency" else None
    weight = None if weights_np is None else torch.as_tensor(weights_np, dtype=torch.float32)
    batch = int(training.batch_size)
    clip = training.gradient_clip

    with _intra_op_threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(training.seed)
        model = MLP(model_config)
        optimizer = build_optimizer(model, training)
        shuffle = torch.Generator().manual_seed(training.seed)
        history: list[dict[str, Any]] = []
        best_state: dict[str, torch.Tensor] = {}
        best_epoch, best_val_loss, bad_epochs, epoch = 0, math.inf, 0, 0
        if resume is not None:
            _check_resume(resume, model_config, training, n, Xv.shape[0])
            model.load_state_dict(resume["model_state"])
            optimizer.load_state_dict(copy.deepcopy(resume["optimizer_state"]))
            torch.set_rng_state(resume["torch_rng_state"].clone())
            shuffle.set_state(resume["shuffle_rng_state"].clone())
            history = copy.deepcopy(list(resume["history"]))
            best_state = _clone_state(resume["best_state"])
            best_epoch, best_val_loss = int(resume["best_epoch"]), float(resume["best_val_loss"])
            bad_epochs, epoch = int(resume["bad_epochs"]), int(resume["epoch"])
        stop = es.enabled and bad_epochs >= es.patience

        while epoch < training.epochs and not stop:
            epoch += 1
            model.train()
            loss_sum, correct = 0.0, 0
            perm = torch.randperm(n, generator=shuffle)
            for start in range(0, n, batch):
                idx = perm[start:start + batch]
                xb, yb = Xtr[idx], ytr[idx]
                optimizer.zero_grad(set_to_none=True)
                logits = model(xb)
                loss = _loss(logits, yb, weight)
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), float(clip))
                optimizer.step()
                loss_sum += loss.item() * idx.numel()
                correct += int((logits.detach().argmax(dim=1) == yb).sum())
            record: dict[str, Any] = {
                "epoch": epoch, "train_loss": loss_sum / n, "train_accuracy": correct / n,
                "val_loss": None, "val_accuracy": None, "lr": float(optimizer.param_groups[0]["lr"]),
            }
            if has_val:
                val_loss, val_acc, _ = _evaluate(model, Xv, yv, weight)
                record["val_loss"], record["val_accuracy"] = val_loss, val_acc
                if val_loss < best_val_loss - es.min_delta:
                    best_val_loss, best_epoch, bad_epochs = val_loss, epoch, 0
                    if es.enabled:
                        best_state = _clone_state(model.state_dict())
                else:
                    bad_epochs += 1
            history.append(record)
            stop = es.enabled and bad_epochs >= es.patience
            if on_checkpoint is not None and epoch % training.checkpoint_every == 0:
                on_checkpoint({
                    "format": CHECKPOINT_FORMAT,
                    "epoch": epoch,
                    "model_state": _clone_state(model.state_dict()),
                    "optimizer_state": copy.deepcopy(optimizer.state_dict()),
                    "history": copy.deepcopy(history),
                    "best_state": _clone_state(best_state),
                    "best_epoch": best_epoch,
                    "best_val_loss": best_val_loss,
                    "bad_epochs": bad_epochs,
                    "torch_rng_state": torch.get_rng_state(),
                    "shuffle_rng_state": shuffle.get_state(),
                    "model_config": model_config.to_dict(),
                    "training": training.model_dump(mode="json"),
                    "n_train": n,
                    "n_val": int(Xv.shape[0]),
                })
            if on_epoch is not None:
                on_epoch(dict(record))

        final_state = _clone_state(model.state_dict())

    restored = bool(es.enabled and best_state)
    return TrainResult(
        state_dict=best_state if restored else final_state,
        history=history,
        best_epoch=best_epoch if best_epoch > 0 else None,
        best_val_loss=best_val_loss if best_epoch > 0 else None,
        stopped_early=bool(stop and epoch < training.epochs),
        epochs_run=epoch,
        restored_best=restored,
        class_weights=None if weights_np is None else [float(w) for w in weights_np],
        model_config=model_config,
    )
