"""Adam, AdamW and SGD as plain tensor updates, equal to :mod:`torch.optim`'s to the bit on CPU.

Why not :mod:`torch.optim` itself: every ``torch.optim`` step (and the constructor) imports
``torch._dynamo``, the compiler front end, which costs ~0.8 s of CPU in each new process:
the first ``train``/``walk-forward`` of a fresh command and every new pool worker paid it
for a compiler this package never uses. The updates here are the same tensor operations, in
the same order, as torch's single-tensor CPU path (``foreach`` and ``fused`` off, which is what
``torch.optim`` picks for CPU tensors), so the trained weights are identical (tested against
``torch.optim`` step for step). :meth:`Optimizer.state_dict` writes torch's layout (``state``
keyed by parameter index, ``param_groups`` with the same keys), so checkpoints load in either
direction; the resume of a run started with an older fuzzyvec keeps working.

Supported: one parameter group; Adam/AdamW with ``lr``, ``betas``, ``eps``, ``weight_decay``;
SGD with ``lr``, ``momentum``, ``dampening``, ``nesterov``, ``weight_decay``. Anything else
(amsgrad, maximize, differentiable, capturable, sparse gradients) is refused by
:meth:`Optimizer.load_state_dict` rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]

#: flags of torch's param groups that must hold these values for the updates below to be torch's
_FIXED = {"amsgrad": False, "maximize": False, "capturable": False, "differentiable": False}


class Optimizer:
    """One parameter group, torch's ``param_groups`` / ``state`` / ``zero_grad`` / ``state_dict`` API."""

    def __init__(self, params: Iterable[torch.nn.Parameter], defaults: Mapping[str, Any]) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if float(defaults["lr"]) < 0:
            raise ValueError(f"learning rate must be >= 0, got {defaults['lr']}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = [{**self.defaults, "params": params}]
        self.state: dict[torch.Tensor, dict[str, Any]] = {}

    def __repr__(self) -> str:
        g = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return f"{type(self).__name__}({g})"

    @property
    def _params(self) -> list[torch.nn.Parameter]:
        return self.param_groups[0]["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (default) or zero every parameter's gradient, as :meth:`torch.optim.Optimizer.zero_grad`."""
        for p in self._params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                p.grad.zero_()

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        with torch.no_grad():
            group = self.param_groups[0]
            for p in self._params:
                if p.grad is not None:
                    if p.grad.is_sparse:
                        raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                    self._update(p, p.grad, group, self.state.setdefault(p, {}))

    def _update(self, p: torch.Tensor, grad: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        The tensors are this optimizer's own (not copies), as in torch; deep-copy to keep a snapshot.
        """
        params = self._params
        index = {id(p): i for i, p in enumerate(params)}
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(params)))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` of this class or of the torch.optim class of the same name.

        Raises
        ------
        ValueError
            Another number of groups or parameters, or a group flag these updates do not implement.
        """
        groups = list(state_dict["param_groups"])
        params = self._params
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError(f"optimizer state has {len(groups)} group(s) of "
                             f"{[len(g['params']) for g in groups]} parameters; this optimizer has 1 group of "
                             f"{len(params)}")
        saved = groups[0]
        for key, want in _FIXED.items():
            if bool(saved.get(key, want)) != want:
                raise ValueError(f"optimizer state has {key}={saved[key]!r}; fuzzyvec's {type(self).__name__} "
                                 f"supports only {key}={want!r}")
        for key, value in saved.items():  # the saved hyperparameters win, as in torch
            if key != "params" and key in self.defaults:
                self.param_groups[0][key] = value
        self.state = {}
        for pos, idx in enumerate(saved["params"]):
            entry = state_dict["state"].get(idx)
            if not entry:
                continue
            p = params[pos]
            self.state[p] = {k: (v.clone() if k == "step" else v.to(dtype=p.dtype, device=p.device).clone())
                             if isinstance(v, torch.Tensor) else v for k, v in entry.items()}


class Adam(Optimizer):
    """Adam (Kingma & Ba), torch's default settings; ``weight_decay`` adds ``wd * param`` to the gradient."""

    decoupled_weight_decay = False

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"eps and weight_decay must be >= 0, got {eps}, {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                                  "differentiable": False, "fused": None,
                                  "decoupled_weight_decay": self.decoupled_weight_decay})

    def _update(self, p: torch.Tensor, grad: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, (beta1, beta2) = float(group["lr"]), group["betas"]
        wd, eps = group["weight_decay"], group["eps"]
        if not state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        step_t += 1
        if wd != 0:
            if group.get("decoupled_weight_decay", self.decoupled_weight_decay):
                p.mul_(1 - lr * wd)
            else:
                grad = grad.add(p, alpha=wd)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = step_t.item()
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        p.addcdiv_(exp_avg, denom, value=-step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``param *= 1 - lr * wd`` before the step."""

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, torch's rules."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": False,
                                  "foreach": None, "differentiable": False, "fused": None})

    def _update(self, p: torch.Tensor, grad: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        wd, momentum = group["weight_decay"], group["momentum"]
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.detach().clone()
                state["momentum_buffer"] = buf
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(grad, alpha=-float(group["lr"]))
