"""fuzzyvec.model.optim against torch.optim (the oracle): the same weights, step for step, to the bit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from fuzzyvec.model import optim as fo

CASES = {
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01), lambda p: fo.Adam(p, lr=0.01)),
    "adam-l2": (lambda p: torch.optim.Adam(p, lr=0.02, weight_decay=0.05),
                lambda p: fo.Adam(p, lr=0.02, weight_decay=0.05)),
    "adam-betas": (lambda p: torch.optim.Adam(p, lr=0.003, betas=(0.8, 0.99), eps=1e-6),
                   lambda p: fo.Adam(p, lr=0.003, betas=(0.8, 0.99), eps=1e-6)),
    "adamw": (lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
              lambda p: fo.AdamW(p, lr=0.01, weight_decay=0.1)),
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.05), lambda p: fo.SGD(p, lr=0.05)),
    "sgd-momentum": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
                     lambda p: fo.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd-dampening": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5, dampening=0.3),
                      lambda p: fo.SGD(p, lr=0.05, momentum=0.5, dampening=0.3)),
    "sgd-nesterov": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
                     lambda p: fo.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
}


def _model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Dropout(0.25), nn.Linear(12, 3))


def _train(model: nn.Module, opt, steps: int, seed: int = 1, clip: float | None = 1.0) -> None:
    data = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    for _ in range(steps):
        x = torch.randn(16, 5, generator=data)
        y = torch.randint(0, 3, (16,), generator=data)
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("case", sorted(CASES))
def test_updates_equal_torch_optim_bit_for_bit(case):
    make_torch, make_ours = CASES[case]
    a, b = _model(), _model()
    ta, ob = make_torch(a.parameters()), make_ours(b.parameters())
    _train(a, ta, 40)
    _train(b, ob, 40)
    assert _same(a, b)
    assert not _same(a, _model())  # the parameters did move
    sa, sb = ta.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]  # torch's keys and values
    assert sa["state"].keys() == sb["state"].keys()
    for i, entry in sa["state"].items():
        assert entry.keys() == sb["state"][i].keys()
        assert all(torch.equal(v, sb["state"][i][k]) for k, v in entry.items())


@pytest.mark.parametrize("case", ["adam", "adamw", "sgd-momentum"])
@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_state_dicts_load_across(case, direction):
    """A checkpoint written by torch.optim (older fuzzyvec) resumes here, and the other way round."""
    make_torch, make_ours = CASES[case]
    first, second = (make_torch, make_ours) if direction == "torch-to-ours" else (make_ours, make_torch)
    ref = _model()
    ref_opt = make_torch(ref.parameters())
    _train(ref, ref_opt, 25, seed=1)
    _train(ref, ref_opt, 15, seed=2)

    m = _model()
    opt = first(m.parameters())
    _train(m, opt, 25, seed=1)
    saved_model, saved_opt = m.state_dict(), opt.state_dict()
    resumed = _model()
    resumed.load_state_dict(saved_model)
    opt2 = second(resumed.parameters())
    opt2.load_state_dict(saved_opt)
    _train(resumed, opt2, 15, seed=2)
    assert _same(resumed, ref)


def test_saved_hyperparameters_win_on_load():
    m = _model()
    opt = fo.Adam(m.parameters(), lr=0.5)
    other = torch.optim.Adam(_model().parameters(), lr=0.02, betas=(0.8, 0.9))
    opt.load_state_dict(other.state_dict())
    assert opt.param_groups[0]["lr"] == 0.02 and opt.param_groups[0]["betas"] == (0.8, 0.9)


def test_load_refuses_what_the_updates_do_not_implement():
    m = _model()
    amsgrad = torch.optim.Adam(m.parameters(), amsgrad=True).state_dict()
    with pytest.raises(ValueError, match="amsgrad=True"):
        fo.Adam(m.parameters()).load_state_dict(amsgrad)
    small = torch.optim.Adam(nn.Linear(2, 2).parameters()).state_dict()
    with pytest.raises(ValueError, match="1 group of 4"):
        fo.Adam(m.parameters()).load_state_dict(small)


def test_zero_grad_and_arguments():
    m = _model()
    opt = fo.SGD(m.parameters(), lr=0.1)
    nn.functional.cross_entropy(m(torch.ones(2, 5)), torch.tensor([0, 1])).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    opt.step()  # no gradients: nothing moves, nothing fails
    with pytest.raises(ValueError, match="empty parameter list"):
        fo.Adam([])
    with pytest.raises(ValueError, match="betas"):
        fo.Adam(m.parameters(), betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Nesterov"):
        fo.SGD(m.parameters(), nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        fo.SGD(m.parameters(), lr=-1.0)


def test_training_a_model_does_not_import_torch_dynamo():
    """The point of the module: a fresh process trains without paying for torch's compiler."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from fuzzyvec.model.mlp import MLPConfig
        from fuzzyvec.model.train import train_model
        from fuzzyvec.strategy.config import ModelTraining
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 4)).astype(np.float32)
        y = (X[:, 0] > 0).astype(np.int64)
        for opt in ("adam", "adamw", "sgd"):
            training = ModelTraining.model_validate({"epochs": 2, "batch_size": 32, "optimizer": opt,
                                                     **({"momentum": 0.9} if opt == "sgd" else {})})
            train_model(X, y, None, None, model_config=MLPConfig(n_features=4, hidden_layers=(8,)),
                        training=training)
        print("dynamo" if "torch._dynamo" in sys.modules else "clean")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "clean"
