"""model.py, transform.py, metrics.py and train.py: the network, the fitted transform, the
metrics (scikit-learn as the oracle) and the training loop (early stopping, checkpoints,
resume, repeatability). Tiny synthetic data: the file runs in seconds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.preprocessing import StandardScaler
from torch import nn

from fuzzyvec.features.frame import FeatureSchema, FeatureSpec
from fuzzyvec.features.transform import FeatureTransform, fit_transform
from fuzzyvec.model import optim as fv_optim
from fuzzyvec.model.bundle import load_checkpoint, save_checkpoint
from fuzzyvec.model.metrics import (
    class_balance,
    classification_metrics,
    confusion_matrix,
    precision_recall_f1,
)
from fuzzyvec.model.mlp import MLP, MLPConfig
from fuzzyvec.model.train import (
    build_optimizer,
    evaluate_model,
    inverse_frequency_weights,
    train_model,
)
from fuzzyvec.strategy.config import Architecture, EarlyStopping, ModelTraining

N_FEATURES = 6


def _data(n: int = 300, seed: int = 0, noise: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 3-class data: the class is decided by a noisy linear score."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1] + noise * rng.normal(size=n)
    y = np.where(score > 0.5, 0, np.where(score < -0.5, 2, 1)).astype(np.int64)
    return X, y


def _split(X: np.ndarray, y: np.ndarray, n_train: int):
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


CFG = MLPConfig(n_features=N_FEATURES, hidden_layers=(16, 8), activation="relu", dropout=0.1)


def _training(**kw) -> ModelTraining:
    base = {"epochs": 8, "batch_size": 32, "learning_rate": 0.01}
    base.update(kw)
    return ModelTraining.model_validate(base)


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation, cls", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid),
                                             ("leaky_relu", nn.LeakyReLU), ("gelu", nn.GELU)])
def test_mlp_structure_linear_activation_dropout_per_layer(activation, cls):
    net = MLP(MLPConfig(n_features=5, hidden_layers=(7, 4, 3), activation=activation, dropout=0.25))
    layers = list(net.hidden)
    assert len(layers) == 9
    widths = [5, 7, 4, 3]
    for i in range(3):
        lin, act, drop = layers[3 * i: 3 * i + 3]
        assert isinstance(lin, nn.Linear) and (lin.in_features, lin.out_features) == (widths[i], widths[i + 1])
        assert type(act) is cls
        assert isinstance(drop, nn.Dropout) and drop.p == 0.25
    assert isinstance(net.head, nn.Linear) and (net.head.in_features, net.head.out_features) == (3, 3)
    x = torch.randn(10, 5)
    net.eval()
    logits = net(x)
    assert logits.shape == (10, 3)
    probs = net.predict_proba(x)
    assert torch.allclose(probs.sum(1), torch.ones(10))
    assert torch.allclose(probs, torch.softmax(logits, 1))


def test_mlp_config_round_trip_and_validation():
    cfg = MLPConfig.from_architecture(Architecture(hidden_layers=(12, 6), activation="gelu", dropout=0.1), 9)
    assert cfg == MLPConfig(9, (12, 6), "gelu", 0.1, 3)
    assert MLPConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="activation"):
        MLPConfig(3, (4,), "swish")
    with pytest.raises(ValueError, match="hidden_layers"):
        MLPConfig(3, ())
    with pytest.raises(ValueError, match="unknown architecture key"):
        MLPConfig.from_dict({**cfg.to_dict(), "bogus": 1})


# ---------------------------------------------------------------------------------------------
# metrics vs scikit-learn
# ---------------------------------------------------------------------------------------------


def _metric_cases():
    rng = np.random.default_rng(3)
    yield rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    yield rng.integers(0, 2, 50), rng.integers(0, 3, 50)            # SELL never true
    yield rng.integers(0, 3, 50), np.ones(50, dtype=int)            # one class predicted
    yield np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])            # perfect, SELL absent everywhere
    yield np.array([2, 2, 2]), np.array([0, 1, 0])                  # all wrong


@pytest.mark.parametrize("case", range(5))
def test_metrics_equal_sklearn(case):
    y_true, y_pred = list(_metric_cases())[case]
    got = classification_metrics(y_true, y_pred)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        assert got[f"precision_{avg}"] == pytest.approx(p, abs=1e-12)
        assert got[f"recall_{avg}"] == pytest.approx(r, abs=1e-12)
        assert got[f"f1_{avg}"] == pytest.approx(f, abs=1e-12)
        assert got[f"f1_{avg}"] == pytest.approx(skm.f1_score(y_true, y_pred, average=avg, zero_division=0), abs=1e-12)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    np.testing.assert_allclose(got["precision"], p, atol=1e-12)
    np.testing.assert_allclose(got["recall"], r, atol=1e-12)
    np.testing.assert_allclose(got["f1"], f, atol=1e-12)
    np.testing.assert_array_equal(got["support"], s)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]))
    assert got["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist()
    json.dumps(got, allow_nan=False)


def test_class_balance_and_empty_input():
    bal = class_balance(np.array([0, 1, 1, 1]))
    assert bal["counts"] == {"BUY": 1, "HOLD": 3, "SELL": 0}
    assert bal["fractions"] == {"BUY": 0.25, "HOLD": 0.75, "SELL": 0.0}
    empty = classification_metrics(np.empty(0, int), np.empty(0, int))
    assert empty["n"] == 0 and empty["accuracy"] is None
    assert empty["confusion_matrix"] == [[0] * 3] * 3
    assert precision_recall_f1(np.empty(0, int), np.empty(0, int))["f1_macro"] == 0.0
    with pytest.raises(ValueError, match="class ids"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]))


# ---------------------------------------------------------------------------------------------
# transform
# ---------------------------------------------------------------------------------------------


def _schema() -> FeatureSchema:
    f = [
        FeatureSpec("1h_rsi_low", "1h", "fuzzy", "rsi", "low"),
        FeatureSpec("1h_rsi_14_raw", "1h", "raw", "rsi_14", normalization="zscore"),
        FeatureSpec("1h_atr_14_raw", "1h", "raw", "atr_14", normalization="minmax"),
        FeatureSpec("1h_sma_5_raw", "1h", "raw", "sma_5", normalization="none"),
        FeatureSpec("1h_return_1", "1h", "price", "return_1"),
    ]
    lag = [FeatureSpec(s.name + "_lag1", s.timeframe, s.kind, s.source, s.membership, 1, s.normalization) for s in f]
    return FeatureSchema(tuple(f + lag), {"1h": 14}, "1h")


def _raw_frame(n: int = 200, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lag0 = np.column_stack([rng.uniform(0, 1, n), rng.normal(50, 10, n + 1)[1:], rng.uniform(1, 3, n),
                            rng.normal(100, 5, n), rng.normal(0, 0.01, n)])
    lag1 = np.vstack([np.full((1, 5), np.nan), lag0[:-1]])
    return np.hstack([lag0, lag1])


def test_transform_normalisation_per_feature_spec():
    X = _raw_frame()[1:]                      # drop the NaN warm-up row
    t = fit_transform(X, _schema(), scale_features=False)
    Z = t.apply(X).astype(np.float64)
    assert Z.dtype == np.float64 and t.apply(X).dtype == np.float32
    np.testing.assert_array_equal(Z[:, 0], X[:, 0].astype(np.float32))        # fuzzy untouched
    assert abs(Z[:, 1].mean()) < 1e-6 and abs(Z[:, 1].std() - 1) < 1e-5       # zscore
    assert Z[:, 2].min() == pytest.approx(0, abs=1e-6) and Z[:, 2].max() == pytest.approx(1, abs=1e-6)
    np.testing.assert_array_equal(t.offset[[0, 3, 4]], 0)                      # none / fuzzy / price
    np.testing.assert_array_equal(t.scale[[0, 3, 4]], 1)
    # lag copies use the lag-0 column's statistics
    assert t.offset[6] == t.offset[1] and t.scale[6] == t.scale[1]
    assert t.offset[7] == t.offset[2] and t.scale[7] == t.scale[2]
    assert t.offset[1] == pytest.approx(X[:, 1].mean()) and t.scale[1] == pytest.approx(X[:, 1].std())
    steps = t.steps[0]["features"]
    assert steps["1h_rsi_14_raw_lag1"]["fitted_on"] == "1h_rsi_14_raw"
    assert steps["1h_atr_14_raw"]["method"] == "minmax"


def test_transform_scale_features_composes_with_normalisation():
    X = _raw_frame()[1:]
    t = fit_transform(X, _schema(), scale_features=True)
    step1 = fit_transform(X, _schema(), scale_features=False).apply(X).astype(np.float64)
    oracle = StandardScaler().fit(step1).transform(step1)
    np.testing.assert_allclose(t.apply(X), oracle, atol=2e-5)
    Z = t.apply(X)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(0), 1, atol=1e-4)


def test_transform_constant_columns_nan_and_round_trip():
    X = _raw_frame()
    X[:, 1] = 7.0                      # constant zscore input: std 0 -> scale 1
    X[:, 2] = 2.0                      # constant minmax input: range 0 -> scale 1
    t = fit_transform(X, _schema(), scale_features=True)
    assert np.isfinite(t.offset).all() and np.isfinite(t.scale).all()
    Z = t.apply(X)
    assert np.isnan(Z[0, 5:]).all() and not np.isnan(Z[1:]).any()   # NaN stays NaN, nowhere else
    np.testing.assert_array_equal(Z[1:, 1], 0.0)
    back = FeatureTransform.from_dict(json.loads(json.dumps(t.to_dict(), allow_nan=False)))
    assert back == t
    np.testing.assert_array_equal(back.apply(X), Z)
    with pytest.raises(ValueError, match="shape"):
        t.apply(X[:, :3])


def test_transform_is_fitted_on_training_rows_only():
    X = _raw_frame()[1:]
    n_train = 120
    t = fit_transform(X[:n_train], _schema(), scale_features=True)
    changed = X.copy()
    changed[n_train:] = changed[n_train:] * 10 + 1000            # validation/test rows change ...
    t2 = fit_transform(changed[:n_train], _schema(), scale_features=True)
    assert t2 == t                                              # ... the transform does not
    assert fit_transform(changed, _schema(), scale_features=True) != t
    Z = t.apply(X[:n_train])
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# training: class weights, optimizers, repeatability
# ---------------------------------------------------------------------------------------------


def test_inverse_frequency_class_weights():
    w = inverse_frequency_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 9, 4 / 3, 0.0])       # SELL absent -> weight 0
    X, y = _data()
    r = train_model(X, y, None, None, model_config=CFG, training=_training(epochs=1))
    counts = np.bincount(y, minlength=3)
    np.testing.assert_allclose(r.class_weights, len(y) / (3 * counts), rtol=1e-12)
    assert train_model(X, y, None, None, model_config=CFG,
                       training=_training(epochs=1, class_weights="none")).class_weights is None


def test_class_weights_shift_predictions_towards_rare_classes():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, N_FEATURES)).astype(np.float32)
    y = np.where(rng.uniform(size=400) < 0.85, 1, rng.integers(0, 3, 400))   # mostly HOLD
    cfg = MLPConfig(N_FEATURES, (8,), "relu", 0.0)
    hold = {}
    for mode in ("inverse_frequency", "none"):
        r = train_model(X, y, None, None, model_config=cfg, training=_training(epochs=15, class_weights=mode))
        hold[mode] = (r.model()(torch.from_numpy(X)).argmax(1) == 1).float().mean().item()
    assert hold["inverse_frequency"] < hold["none"] - 0.2


@pytest.mark.parametrize("name, cls", [("adam", fv_optim.Adam), ("adamw", fv_optim.AdamW),
                                       ("sgd", fv_optim.SGD)])
def test_optimizer_choice(name, cls):
    kw = {"momentum": 0.9} if name == "sgd" else {}
    tr = _training(optimizer=name, weight_decay=0.01, learning_rate=0.05, **kw)
    opt = build_optimizer(MLP(CFG), tr)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 0.01
    if name == "sgd":
        assert group["momentum"] == 0.9


def test_optimizer_choice_changes_training():
    X, y = _data()
    states = {name: train_model(X, y, None, None, model_config=CFG,
                                training=_training(optimizer=name, epochs=2, **({"momentum": 0.9} if name == "sgd" else {}))).state_dict
              for name in ("adam", "adamw", "sgd")}
    assert not _equal_states(states["adam"], states["sgd"])
    assert not _equal_states(states["adamw"], states["sgd"])


def test_training_learns_and_history_is_complete():
    X, y = _data(400)
    Xt, yt, Xv, yv = _split(X, y, 300)
    r = train_model(Xt, yt, Xv, yv, model_config=CFG, training=_training(epochs=10))
    assert r.epochs_run == 10 and len(r.history) == 10 and not r.stopped_early
    assert [h["epoch"] for h in r.history] == list(range(1, 11))
    assert set(r.history[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.history[-1]["val_accuracy"] > 0.6      # chance is about 0.4
    assert all(v.device.type == "cpu" for v in r.state_dict.values())
    ev = evaluate_model(r.state_dict, Xv, yv, model_config=CFG)
    pred = r.model()(torch.from_numpy(Xv)).argmax(1).numpy()
    assert ev["accuracy"] == pytest.approx(skm.accuracy_score(yv, pred))
    assert ev["f1_macro"] == pytest.approx(skm.f1_score(yv, pred, average="macro", zero_division=0))
    assert ev["loss"] == pytest.approx(nn.functional.cross_entropy(r.model()(torch.from_numpy(Xv)), torch.from_numpy(yv)).item(), rel=1e-5)
    assert evaluate_model(r.model(), Xv, yv) == ev


def test_repeatable_bit_identical_and_caller_rng_untouched():
    X, y = _data()
    Xt, yt, Xv, yv = _split(X, y, 200)
    tr = _training(epochs=4, early_stopping=EarlyStopping(enabled=True, patience=2))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr)
    assert torch.equal(torch.get_rng_state(), before)
    b = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr)
    assert _equal_states(a.state_dict, b.state_dict) and a.history == b.history
    threads = torch.get_num_threads()
    c = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr, num_threads=2)   # default is 1
    assert torch.get_num_threads() == threads                                      # restored
    assert _equal_states(a.state_dict, c.state_dict)
    d = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr.model_copy(update={"seed": 7}))
    assert not _equal_states(a.state_dict, d.state_dict)


def test_input_validation():
    X, y = _data(50)
    with pytest.raises(ValueError, match="validation"):
        train_model(X, y, X[:0], y[:0], model_config=CFG, training=_training(early_stopping=EarlyStopping(enabled=True)))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_model(bad, y, None, None, model_config=CFG, training=_training())
    with pytest.raises(ValueError, match="NO_LABEL"):
        train_model(X, np.where(y == 0, -1, y), None, None, model_config=CFG, training=_training())
    with pytest.raises(ValueError, match="shape"):
        train_model(X[:, :3], y, None, None, model_config=CFG, training=_training())


# ---------------------------------------------------------------------------------------------
# early stopping
# ---------------------------------------------------------------------------------------------


def _overfit_data():
    """60 noisy training rows for a wide MLP: validation loss falls for ~10 epochs, then rises."""
    X, y = _data(300, seed=11, noise=1.0)
    return X[:60], y[:60], X[60:], y[60:]


BIG = MLPConfig(N_FEATURES, (64, 64), "relu", 0.0)
BIG_DROPOUT = MLPConfig(N_FEATURES, (64, 64), "relu", 0.1)
OVERFIT = {"batch_size": 16, "learning_rate": 0.003}


def _replay(val_losses: list[float], patience: int, min_delta: float) -> tuple[int, int]:
    """(best_epoch, epochs_run) by the documented rule, from a full validation-loss history."""
    best, best_epoch, bad = math.inf, 0, 0
    for epoch, v in enumerate(val_losses, 1):
        if v < best - min_delta:
            best, best_epoch, bad = v, epoch, 0
        else:
            bad += 1
        if bad >= patience:
            return best_epoch, epoch
    return best_epoch, len(val_losses)


def test_early_stopping_stops_and_restores_the_best_weights_not_the_last():
    Xt, yt, Xv, yv = _overfit_data()
    tr = _training(epochs=60, checkpoint_every=1, early_stopping=EarlyStopping(enabled=True, patience=3),
                   **OVERFIT)
    per_epoch: dict[int, dict] = {}
    r = train_model(Xt, yt, Xv, yv, model_config=BIG, training=tr,
                    on_checkpoint=lambda s: per_epoch.__setitem__(s["epoch"], s["model_state"]))
    assert r.stopped_early and r.epochs_run < 60 and len(r.history) == r.epochs_run
    assert r.restored_best and r.best_epoch is not None and r.best_epoch == r.epochs_run - 3
    assert r.best_epoch > 3                                     # a genuine mid-run optimum
    val = [h["val_loss"] for h in r.history]
    assert r.best_val_loss == min(val) == val[r.best_epoch - 1]
    assert _equal_states(r.state_dict, per_epoch[r.best_epoch])
    assert not _equal_states(r.state_dict, per_epoch[r.epochs_run])
    # the returned weights reproduce the best epoch's validation loss
    assert evaluate_model(r.state_dict, Xv, yv, model_config=BIG, class_weights=r.class_weights)["loss"] == pytest.approx(r.best_val_loss, rel=1e-6)


def test_early_stopping_disabled_returns_final_weights_and_records_best_epoch():
    Xt, yt, Xv, yv = _overfit_data()
    per_epoch: dict[int, dict] = {}
    tr = _training(epochs=16, checkpoint_every=1, **OVERFIT)
    r = train_model(Xt, yt, Xv, yv, model_config=BIG, training=tr,
                    on_checkpoint=lambda s: per_epoch.__setitem__(s["epoch"], s["model_state"]))
    assert r.epochs_run == 16 and not r.stopped_early and not r.restored_best
    assert _equal_states(r.state_dict, per_epoch[16])
    val = [h["val_loss"] for h in r.history]
    assert r.best_epoch == int(np.argmin(val)) + 1 < 16
    assert r.best_val_loss == min(val)
    assert not _equal_states(r.state_dict, per_epoch[r.best_epoch])


@pytest.mark.parametrize("min_delta", [0.0, 0.005, 0.05, 1e6])
def test_early_stopping_min_delta(min_delta):
    X, y = _data(400, noise=1.0)
    Xt, yt, Xv, yv = _split(X, y, 300)
    patience = 2
    full = train_model(Xt, yt, Xv, yv, model_config=CFG, training=_training(epochs=25, learning_rate=0.003))
    expected_best, expected_run = _replay([h["val_loss"] for h in full.history], patience, min_delta)
    r = train_model(Xt, yt, Xv, yv, model_config=CFG,
                    training=_training(epochs=25, learning_rate=0.003,
                                       early_stopping=EarlyStopping(enabled=True, patience=patience, min_delta=min_delta)))
    assert (r.best_epoch, r.epochs_run) == (expected_best, expected_run)
    assert r.history == full.history[:expected_run]
    if min_delta == 1e6:
        assert (r.best_epoch, r.epochs_run) == (1, 1 + patience) and r.stopped_early


def test_min_delta_changes_when_training_stops():
    X, y = _data(400, noise=1.0)
    Xt, yt, Xv, yv = _split(X, y, 300)
    runs = {d: train_model(Xt, yt, Xv, yv, model_config=CFG,
                           training=_training(epochs=25, learning_rate=0.003,
                                              early_stopping=EarlyStopping(enabled=True, patience=2, min_delta=d))).epochs_run
            for d in (0.0, 0.05)}
    assert runs[0.05] < runs[0.0]


# ---------------------------------------------------------------------------------------------
# checkpoints and resume
# ---------------------------------------------------------------------------------------------

_PLAIN = (torch.Tensor, int, float, str, bool, type(None))


def _assert_plain(obj, where="state"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str | int), where
            _assert_plain(v, f"{where}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _assert_plain(v, f"{where}[{i}]")
    else:
        assert isinstance(obj, _PLAIN), f"{where}: {type(obj)}"


def test_checkpoint_every_n_epochs_with_full_plain_state(tmp_path):
    X, y = _data()
    Xt, yt, Xv, yv = _split(X, y, 200)
    states = []
    train_model(Xt, yt, Xv, yv, model_config=CFG, training=_training(epochs=7, checkpoint_every=3),
                on_checkpoint=states.append)
    assert [s["epoch"] for s in states] == [3, 6]
    s = states[-1]
    for key in ("model_state", "optimizer_state", "history", "best_state", "best_epoch", "best_val_loss",
                "bad_epochs", "torch_rng_state", "shuffle_rng_state"):
        assert key in s
    assert len(s["history"]) == 6 and len(states[0]["history"]) == 3     # deep copies, not live views
    _assert_plain(s)
    save_checkpoint(s, tmp_path / "ckpt.pt")
    back = load_checkpoint(tmp_path / "ckpt.pt")      # weights_only=True inside
    assert _equal_states(back["model_state"], s["model_state"])
    assert torch.equal(back["torch_rng_state"], s["torch_rng_state"])
    assert train_model(Xt, yt, Xv, yv, model_config=CFG, training=_training(epochs=2, checkpoint_every=3),
                       on_checkpoint=states.append).epochs_run == 2 and len(states) == 2


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("early_stopping", [False, True])
def test_resume_after_interruption_is_bit_identical(tmp_path, early_stopping):
    Xt, yt, Xv, yv = _overfit_data()
    es = EarlyStopping(enabled=early_stopping, patience=3)
    tr = _training(epochs=16, checkpoint_every=2, early_stopping=es, **OVERFIT)
    full = train_model(Xt, yt, Xv, yv, model_config=BIG_DROPOUT, training=tr)
    assert full.stopped_early == early_stopping            # with early stopping: stops at epoch 13

    ckpt = tmp_path / "train_state.pt"

    def crash(record):
        if record["epoch"] == 5:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_model(Xt, yt, Xv, yv, model_config=BIG_DROPOUT, training=tr, on_epoch=crash,
                    on_checkpoint=lambda s: save_checkpoint(s, ckpt))
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 4
    resumed = train_model(Xt, yt, Xv, yv, model_config=BIG_DROPOUT, training=tr, resume=state)
    assert _equal_states(resumed.state_dict, full.state_dict)
    assert resumed.history == full.history
    assert (resumed.best_epoch, resumed.best_val_loss, resumed.epochs_run, resumed.stopped_early) == \
        (full.best_epoch, full.best_val_loss, full.epochs_run, full.stopped_early)


def test_resume_from_a_shorter_run_is_bit_identical():
    X, y = _data()
    Xt, yt, Xv, yv = _split(X, y, 200)
    tr = _training(epochs=8, checkpoint_every=4, early_stopping=EarlyStopping(enabled=True, patience=8))
    full = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr)
    states = []
    short = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr.model_copy(update={"epochs": 4}),
                        on_checkpoint=states.append)
    assert short.epochs_run == 4 and not _equal_states(short.state_dict, full.state_dict)
    resumed = train_model(Xt, yt, Xv, yv, model_config=CFG, training=tr, resume=states[-1])
    assert _equal_states(resumed.state_dict, full.state_dict) and resumed.history == full.history


def test_resume_after_early_stop_checkpoint_stops_immediately():
    Xt, yt, Xv, yv = _overfit_data()
    tr = _training(epochs=60, checkpoint_every=1, early_stopping=EarlyStopping(enabled=True, patience=3), **OVERFIT)
    states = []
    full = train_model(Xt, yt, Xv, yv, model_config=BIG, training=tr, on_checkpoint=states.append)
    resumed = train_model(Xt, yt, Xv, yv, model_config=BIG, training=tr, resume=states[-1])
    assert resumed.epochs_run == full.epochs_run and resumed.stopped_early
    assert _equal_states(resumed.state_dict, full.state_dict)
    mid = train_model(Xt, yt, Xv, yv, model_config=BIG, training=tr, resume=states[full.best_epoch])
    assert _equal_states(mid.state_dict, full.state_dict)


def test_resume_refuses_changed_settings():
    X, y = _data()
    states = []
    tr = _training(epochs=2, checkpoint_every=2)
    train_model(X, y, None, None, model_config=CFG, training=tr, on_checkpoint=states.append)
    with pytest.raises(ValueError, match="learning_rate"):
        train_model(X, y, None, None, model_config=CFG, training=tr.model_copy(update={"learning_rate": 0.5}),
                    resume=states[0])
    with pytest.raises(ValueError, match="architecture"):
        train_model(X, y, None, None, model_config=MLPConfig(N_FEATURES, (4,)), training=tr, resume=states[0])
    with pytest.raises(ValueError, match="rows"):
        train_model(X[:100], y[:100], None, None, model_config=CFG, training=tr, resume=states[0])
