"""Stage-wise learning-rate adaptation (RA) for growing networks, and the layer-wise baseline LARS.

Yuan, Savarese, Maire, "Accelerated Training via Incrementally Growing Neural Networks using Variance
Transfer and Learning Rate Adaptation", NeurIPS 2023: Sec. 3.1 ("Stage-wise Learning Rate Adaptation",
Eq. 5, Table 1 bottom), App. C (Adam and AvaGrad, Tables 9-10), App. D (the inverse rule, Table 12),
Table 11 (LARS).  Most of the paper's formulas were lost in our copy; tags say where a detail comes
from: **[secondary]** (a third party's write-up of the paper), **[code]** (an author's
public code), **[open]** (our choice, a parameter where it matters).

Stages.  Every entry of a parameter belongs to the growth stage that added it: 0 for the entries the
optimizer first saw (the seed net), k for those width growth added at the parameter's k-th growth.
The map is an integer tensor of the parameter's shape, ``optimizer.state[p]["stage"]``; width growth
appends channels, so the old entries are the leading corner (:class:`growth.how.WidthGrowth`), and
:func:`growth.optim.rebuild_optimizer` pads the map with the old maximum + 1 (``state_fill``) and
keeps it even when the buffers are reset (``carried_keys``).  Stage k of a parameter is thus the k-th
growth *that parameter* took part in; width growth grows every layer at once, so that is the k-th
growth of the run (the logits' bias, which never grows, stays one stage).  A parameter new to the
model (depth growth) starts as a single stage 0 of its own.  Biases and BatchNorm parameters grow
with their channels and are split by stage like weights **[open]**: the paper speaks of a layer's
"parameter variables".

The rule (Sec. 3.1, Eq. 5) **[secondary]**: part ``W_k`` of a parameter is updated with the LR
``lr_base * f(W_k) / f(W_0)``, ``f`` the Frobenius norm of the part's current values, recomputed at
every step before the update; ``rule="inverse"`` is App. D's ``f(W_0) / f(W_k)``.  Where either norm
is 0 (a zero-initialised bias, VT's unpaired zero unit) the ratio is 1 **[open]**: else a zero part
would never move (norm-ratio) or divide by zero (inverse).  On top, the output layer's weight (the
logits, by default the model's last ``nn.Linear``) takes muP's ``1/fan_in`` LR factor (Sec. 3.1,
"following [42] ... when using SGD") **[secondary]**; its normalisation is **[open]**:
``output_lr="fan-in-ratio"`` (default) ``fan_in(seed) / fan_in(now)``, so the seed net trains at
``lr_base``; ``"fan-in"`` the bare ``1 / fan_in(now)``; ``"none"``.  ``fan_in(seed)`` is read off the
stage map (stage-0 entries per output row).  The output bias (its fan-in does not grow) keeps its
stage factor only **[open]**.  Adam and AvaGrad default to ``"none"`` **[open]**: the paper states the
factor for SGD.

Adaptive optimizers (App. C) **[secondary]**: each entry keeps its own step count ("age") for the bias
correction, so a part born at stage k is corrected as if its training had just begun; buffers are
kept across growth, zero-padded (ages of new entries 0).  Whether Table 9 also multiplies by the norm
ratio is **[open]**: with ``with_ra=True`` (default) both apply.  ``with_ra=False`` is the plain
optimizer (one step count per tensor, the oldest part's, no LR factor) and ``keep_buffers=False``
drops the buffers at every growth: Table 10's rows "Growing, buffers No / Yes / + RA".

:meth:`stage_lrs` returns, per parameter name, the LR each stage received at the last step:
``lr_base x`` its RA factor (x the output factor); the optimizers' own per-entry scaling (Adam's
``1/sqrt(v)``, AvaGrad's normalised ``eta``, bias corrections) is not included.  The training loop
records it per epoch as ``record["stage_lrs"]``.
"""
from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Collection, Iterable

import torch
from torch import nn

from ..machine import exact_sqrt

__all__ = [
    "LARS", "OPTIMIZERS", "OUTPUT_LRS", "RAAdam", "RAAvaGrad", "RASGD", "RULES", "build_ra_optimizer",
    "output_layer", "stage_factors", "stage_norms",
]

RULES = ("norm-ratio", "inverse")
OUTPUT_LRS = ("fan-in-ratio", "fan-in", "none")


def output_layer(model: nn.Module) -> str | None:
    """The qualified name of ``model``'s output layer: its last ``nn.Linear`` (the logits of every
    family of :mod:`growth.models`); None if it has none."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return names[-1] if names else None


def stage_norms(values: torch.Tensor, stage: torch.Tensor, stages: int) -> torch.Tensor:
    """The Frobenius norm of ``values`` on each stage's part, a tensor of ``stages`` values in their dtype."""
    squares = torch.zeros(stages, dtype=values.dtype, device=values.device)
    squares.index_add_(0, stage.reshape(-1), values.detach().reshape(-1).square())
    return exact_sqrt(squares)


def stage_factors(param: torch.Tensor, stage: torch.Tensor, stages: int, rule: str = "norm-ratio") -> torch.Tensor:
    """Eq. 5's factor per stage, a tensor of ``stages`` values: ``f(W_k) / f(W_0)`` (``"norm-ratio"``)
    or ``f(W_0) / f(W_k)`` (``"inverse"``), ``f`` the Frobenius norm; 1 where either norm is 0."""
    norms = stage_norms(param, stage, stages)
    base = norms[0].expand_as(norms)
    ratio = norms / base if rule == "norm-ratio" else base / norms
    return torch.where((norms > 0) & (base > 0), ratio, torch.ones_like(ratio))


# --------------------------------------------------------------------------- argument checks


def _check_real(name: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False,
                high_open: bool = True) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name}={value!r} is not allowed: give a number in {left}{low}, {high}{right}")


def _check_choice(name: str, value: Any, choices: Collection[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is unknown: choose one of {', '.join(map(str, choices))}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not allowed: give True or False")


def _check_betas(betas: Any) -> None:
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise ValueError(f"betas={betas!r} is not allowed: give two numbers in [0, 1)")
    for i, beta in enumerate(betas):
        _check_real(f"betas[{i}]", beta, 0.0, 1.0)


def _names(optimizer: torch.optim.Optimizer) -> list[list[str]]:
    """Per group, its parameters' names: ``param_names`` if built over named parameters, else running
    indices ``"0"``, ``"1"``, ..."""
    out, index = [], 0
    for group in optimizer.param_groups:
        names = group.get("param_names")
        if names is None:
            names = [str(i) for i in range(index, index + len(group["params"]))]
        index += len(group["params"])
        out.append(list(names))
    return out


def _weight_of(layer: str | None) -> str | None:
    """The parameter name of a layer's weight (``"weight"`` for the root module ``""``)."""
    return None if layer is None else f"{layer}.weight" if layer else "weight"


def _next_stage(old: torch.Tensor) -> int:
    """The stage of the entries a growth adds: one above the parameter's old stages."""
    return int(old.max()) + 1


# --------------------------------------------------------------------------- the stage-wise optimizers


class _StageWise(torch.optim.Optimizer):
    """Shared by the RA optimizers: the stage map, Eq. 5's factors, the output layer, the LR log."""

    #: how :func:`growth.optim.carry_state` fills the grown region of a state tensor (default 0)
    state_fill = {"stage": _next_stage}

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        _check_real("lr", defaults["lr"], 0.0)
        _check_real("weight_decay", defaults["weight_decay"], 0.0)
        _check_choice("rule", defaults["rule"], RULES)
        _check_choice("output_lr", defaults["output_lr"], OUTPUT_LRS)
        _check_bool("with_ra", defaults["with_ra"])
        output = defaults["output"]
        if output is not None and not isinstance(output, str):
            raise ValueError(f"output={output!r} is not allowed: give the output layer's qualified name or None")
        super().__init__(params, defaults)
        names = [n for group in _names(self) for n in group]
        if output is not None and _weight_of(output) not in names:
            raise ValueError(f"output={output!r} is not allowed: no parameter {_weight_of(output)!r} among the "
                             "optimised ones (build over model.named_parameters() and give the output layer's "
                             "qualified name, e.g. 'head.fc', or None)")
        self._counts: dict[torch.Tensor, tuple[torch.Tensor, int, int]] = {}
        self._last: dict[str, torch.Tensor] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (a checkpoint): the per-step caches start empty; the next step refills them."""
        super().__setstate__(state)
        self._counts, self._last = {}, {}

    def carried_keys(self, reset: bool) -> Collection[str] | None:
        """State kept by :func:`growth.optim.rebuild_optimizer`: all, or only the stage map on a reset."""
        return ("stage",) if reset else None

    def _stage(self, param: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The parameter's stage map (all 0 the first time) and its number of stages."""
        state = self.state[param]
        if "stage" not in state:
            state["stage"] = torch.zeros_like(param, dtype=torch.long)
        elif state["stage"].dtype != torch.long:  # load_state_dict casts state to the parameter's dtype
            state["stage"] = state["stage"].long()
        stage = state["stage"]
        cached = self._counts.get(param)  # (map, its in-place version, count): one device sync per new map
        if cached is None or cached[0] is not stage or cached[1] != stage._version:
            cached = self._counts[param] = (stage, stage._version, _next_stage(stage))
        return stage, cached[2]

    def _factor(self, param: torch.Tensor, name: str, group: dict[str, Any]) -> torch.Tensor | float:
        """The LR factor of every entry (a float where it is the same for all) for this step; logs
        ``lr x`` the per-stage factors under ``name``."""
        stage, stages = self._stage(param)
        is_output = group["with_ra"] and name == _weight_of(group["output"])
        if not group["with_ra"] or (stages == 1 and not is_output):
            self._last[name] = group["lr"] * torch.ones(stages)
            return 1.0
        factors = stage_factors(param, stage, stages, group["rule"])
        if is_output and group["output_lr"] != "none":
            fan_in = param[0].numel()
            top = (stage[0] == 0).sum().to(factors.dtype) if group["output_lr"] == "fan-in-ratio" else 1.0
            factors = factors * (top / fan_in)
        self._last[name] = group["lr"] * factors.detach()
        return factors[stage] if stages > 1 else factors[0]

    def stage_lrs(self) -> dict[str, list[float]]:
        """Per parameter name, the LR of each stage (index = stage) at the last step."""
        return {name: [float(v) for v in lrs.tolist()] for name, lrs in self._last.items()}


class RASGD(_StageWise):
    """SGD with momentum (PyTorch's convention) and the stage-wise LR of Eq. 5 (Sec. 3.1, Table 1).

    Each step: ``d = g + weight_decay * w``; ``buf = momentum * buf + d`` (``d`` at the first step);
    ``d = d + momentum * buf`` (Nesterov) or ``buf``; ``w -= lr * factor * d``, ``factor`` Eq. 5's
    per-stage factor from the current weights (x the output factor).  With one stage and no output
    layer it is ``torch.optim.SGD``.  The paper re-initialises the momentum at each growth with SGD
    (Sec. 4): ``TrainConfig(reset_optimizer=True)``; the stage map is kept.
    """

    def __init__(self, params: Iterable, lr: float = 0.1, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0, *, rule: str = "norm-ratio", output: str | None = None,
                 output_lr: str = "fan-in-ratio", with_ra: bool = True) -> None:
        _check_real("momentum", momentum, 0.0, 1.0)
        _check_bool("nesterov", nesterov)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True is not allowed with momentum=0: give a momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      rule=rule, output=output, output_lr=output_lr, with_ra=with_ra))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, names in zip(self.param_groups, _names(self)):
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for param, name in zip(group["params"], names):
                if param.grad is None:
                    continue
                factor = self._factor(param, name, group)
                d = param.grad if wd == 0 else param.grad.add(param, alpha=wd)
                if momentum:
                    state = self.state[param]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d.clone().detach()
                    else:
                        buf.mul_(momentum).add_(d)
                    d = d.add(buf, alpha=momentum) if group["nesterov"] else buf
                param.add_(d * factor if torch.is_tensor(factor) else d, alpha=-lr)
        return loss


class _Adaptive(_StageWise):
    """Adam / AvaGrad state: moments, per-entry ages (App. C), buffers kept or dropped at growth."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        _check_betas(defaults["betas"])
        _check_real("eps", defaults["eps"], 0.0, low_open=True)
        _check_bool("keep_buffers", defaults["keep_buffers"])
        super().__init__(params, defaults)

    def carried_keys(self, reset: bool) -> Collection[str] | None:
        """All state, or only the stage map on a reset or with ``keep_buffers=False``."""
        return ("stage",) if reset or not self.defaults["keep_buffers"] else None

    def _buffers(self, param: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``exp_avg``, ``exp_avg_sq`` and ``age`` (steps each entry has been trained), zeros at first."""
        state = self.state[param]
        for key in ("exp_avg", "exp_avg_sq"):
            if key not in state:
                state[key] = torch.zeros_like(param)
        if "age" not in state:
            state["age"] = torch.zeros_like(param, dtype=torch.long)
        return state["exp_avg"], state["exp_avg_sq"], state["age"]

    @staticmethod
    def _steps(age: torch.Tensor, group: dict[str, Any], dtype: torch.dtype) -> torch.Tensor:
        """The step count of the bias correction: per entry (RA), else the tensor's oldest entry's."""
        return (age if group["with_ra"] else age.amax()).to(dtype)


class RAAdam(_Adaptive):
    """Adam (L2 weight decay, as ``torch.optim.Adam``) with App. C's per-entry ages and Eq. 5's factor.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, ``age += 1``,
    ``w -= lr * factor * (m / (1 - b1^age)) / (sqrt(v / (1 - b2^age)) + eps)``.  With one stage it is
    ``torch.optim.Adam``; ``with_ra=False`` is ``torch.optim.Adam`` also across growth (one step count
    per tensor, carried).
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, rule: str = "norm-ratio",
                 output: str | None = None, output_lr: str = "none", with_ra: bool = True,
                 keep_buffers: bool = True) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, rule=rule, output=output, output_lr=output_lr,
                                      with_ra=with_ra, keep_buffers=keep_buffers))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, names in zip(self.param_groups, _names(self)):
            (b1, b2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
            for param, name in zip(group["params"], names):
                if param.grad is None:
                    continue
                factor = self._factor(param, name, group)
                g = param.grad if wd == 0 else param.grad.add(param, alpha=wd)
                m, v, age = self._buffers(param)
                age.add_(1)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                steps = self._steps(age, group, param.dtype)
                correction1 = 1 - torch.pow(b1, steps)
                correction2 = 1 - torch.pow(b2, steps)
                denom = (exact_sqrt(v) / exact_sqrt(correction2)).add_(eps)
                param.addcdiv_(m * (group["lr"] * factor / correction1), denom, value=-1)
        return loss


class RAAvaGrad(_Adaptive):
    """AvaGrad (Savarese, McAllester, Babu, Maire, "Domain-independent Dominance of Adaptive Methods",
    CVPR 2021) with App. C's per-entry ages and Eq. 5's factor.

    ``m = b1 m + (1 - b1) g``; ``eta = 1 / (sqrt(v_prev / (1 - b2^(age-1))) + eps)`` from the *previous*
    second moment (AvaGrad's delay); ``w -= lr * factor * (eta / (||eta||_2 / sqrt(d))) * m / (1 - b1^age)``;
    then ``v = b2 v + (1 - b2) g^2``.  ``||eta||`` and ``d`` run over every entry of the parameter group
    that has a previous ``v`` (the authors' code normalises over the group [code]); an entry without
    one (its first step, age 0) is not updated, as the authors' code skips the first step.  L2 weight
    decay (their ``AvaGrad``; ``eps=0.1`` their default).  ``with_ra=False`` is plain AvaGrad (one
    step count per tensor: grown entries use the old ones').
    """

    def __init__(self, params: Iterable, lr: float = 0.1, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 0.1, weight_decay: float = 0.0, *, rule: str = "norm-ratio",
                 output: str | None = None, output_lr: str = "none", with_ra: bool = True,
                 keep_buffers: bool = True) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, rule=rule, output=output, output_lr=output_lr,
                                      with_ra=with_ra, keep_buffers=keep_buffers))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, names in zip(self.param_groups, _names(self)):
            (b1, b2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
            pending, squares, count = [], 0.0, 0.0
            for param, name in zip(group["params"], names):
                if param.grad is None:
                    continue
                factor = self._factor(param, name, group)
                g = param.grad if wd == 0 else param.grad.add(param, alpha=wd)
                m, v, age = self._buffers(param)
                previous = self._steps(age, group, param.dtype)
                seen = previous > 0
                eta = 1 / (exact_sqrt(v / torch.where(seen, 1 - torch.pow(b2, previous), 1)) + eps)
                eta = torch.where(seen, eta, torch.zeros_like(eta))
                squares = squares + eta.square().sum()
                count = count + seen.expand_as(eta).sum()
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                age.add_(1)
                correction1 = 1 - torch.pow(b1, self._steps(age, group, param.dtype))
                pending.append((param, eta, m, factor / correction1))
            if not pending:
                continue
            gamma = torch.where(squares > 0, exact_sqrt(count / squares), 0.0)
            for param, eta, m, scale in pending:
                param.add_(eta * m * scale * gamma, alpha=-group["lr"])
        return loss


class LARS(torch.optim.Optimizer):
    """LARS (You, Gitman, Ginsburg 2017, Alg. 1), the layer-wise baseline of Table 11.

    Per parameter tensor: ``local = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w||)`` (1 where
    a norm is 0 [open], as common implementations); ``buf = momentum * buf + lr * local * (g + weight_decay * w)``;
    ``w -= buf``.  Every tensor is adapted, biases and BatchNorm included (the original does not
    exclude them) [open].  :meth:`stage_lrs` gives ``lr * local`` per tensor (one stage).
    """

    def __init__(self, params: Iterable, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 1e-3) -> None:
        _check_real("lr", lr, 0.0)
        _check_real("momentum", momentum, 0.0, 1.0)
        _check_real("weight_decay", weight_decay, 0.0)
        _check_real("trust_coefficient", trust_coefficient, 0.0, low_open=True)
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient))
        self._last: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, names in zip(self.param_groups, _names(self)):
            wd = group["weight_decay"]
            for param, name in zip(group["params"], names):
                if param.grad is None:
                    continue
                w_norm, g_norm = param.norm(), param.grad.norm()
                local = torch.where((w_norm > 0) & (g_norm > 0),
                                    group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm), 1.0)
                self._last[name] = group["lr"] * local
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(param.grad.add(param, alpha=wd) * (group["lr"] * local))
                param.sub_(buf)
        return loss

    def stage_lrs(self) -> dict[str, list[float]]:
        """Per parameter name, ``[lr * local LR]`` of the last step."""
        return {name: [float(lr)] for name, lr in self._last.items()}


# --------------------------------------------------------------------------- by name

#: name -> (class, fixed options)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "ra-sgd": (RASGD, {}),
    "ra-adam": (RAAdam, {}),
    "ra-avagrad": (RAAvaGrad, {}),
    "avagrad": (RAAvaGrad, {"with_ra": False}),
    "lars": (LARS, {}),
}


def build_ra_optimizer(model: nn.Module, name: str, *, lr: float, momentum: float = 0.9, nesterov: bool = False,
                       weight_decay: float = 0.0, **options: Any) -> torch.optim.Optimizer:
    """The optimizer ``name`` of :data:`OPTIMIZERS` over ``model.named_parameters()`` (trainable ones).

    ``momentum`` / ``nesterov`` go to the SGD-like ones (``ra-sgd``; ``lars`` takes ``momentum``);
    ``options`` are the class's further keyword arguments (``rule``, ``output_lr``, ``betas``, ``eps``,
    ``keep_buffers``, ``trust_coefficient``, ...).  ``output`` defaults to :func:`output_layer` of the
    model ("auto"); give a layer name or None.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r} is unknown: choose one of {', '.join(OPTIMIZERS)}")
    cls, fixed = OPTIMIZERS[name]
    accepted = set(inspect.signature(cls).parameters) - {"params", "lr", "weight_decay", "momentum", "nesterov",
                                                         *fixed}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"options {unknown} are not allowed with optimizer={name!r}: allowed are "
                         f"{', '.join(sorted(accepted))}")
    kwargs: dict[str, Any] = dict(lr=lr, weight_decay=weight_decay, **fixed, **options)
    if cls is RASGD:
        kwargs.update(momentum=momentum, nesterov=nesterov)
    if cls is LARS:
        kwargs.update(momentum=momentum)
    if "output" in accepted and kwargs.get("output", "auto") == "auto":
        kwargs["output"] = output_layer(model)
    return cls([(n, p) for n, p in model.named_parameters() if p.requires_grad], **kwargs)
