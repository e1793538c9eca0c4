"""Counting compute: forward and training MACs per sample, and the cost of a growing run.

Convention
----------
* fvcore counts one multiply-add as one flop. In code we call these numbers **MACs**; the book prints
  them as "FLOPs (fvcore, 1 MAC = 1)". All counts are plain Python ``int``.
* :func:`forward_macs` is fvcore's ``FlopCountAnalysis`` total for **one** sample, with **all of
  fvcore's default op handles**, as the papers that use fvcore report it:

  ========================  =========================================================
  convolution               ``C_out * C_in/groups * k_h * k_w`` per output position
  linear / matmul / addmm   ``in * out`` per row
  batch norm (eval mode)    2 per element with affine parameters, 1 without
  adaptive average pooling  1 per input element
  group / layer norm        5 per element (4 without affine); instance norm likewise
  upsample                  1 (nearest) or 4 (bilinear) per output element
  ========================  =========================================================

  Everything else (ReLU, additions, max pooling, flatten, dropout, ...) counts zero. Biases are not
  counted. The *products* (convolution and matrix products, :data:`PRODUCT_OPS`) are what
  :func:`torch.utils.flop_counter.FlopCounterMode` counts too, at 2 FLOPs per MAC; for the CIFAR
  ResNets the other ops add about 1% (ResNet-20: 40,551,040 product MACs, 40,931,968 in all).
* :func:`training_macs_per_sample` is ``3 x forward`` (the forward pass, then backward's two products:
  the gradient with respect to the input and the one with respect to the weights). Measure instead with
  :func:`flop_counter_macs` (``backward=True``) where the difference matters.
* The training cost of a run is the sum over its architecture stages of
  ``samples seen x training MACs per sample`` (:meth:`CostMeter.add_training`), plus whatever the growth
  procedures compute themselves (AdamInit, GradMax's SVD, Firefly's candidates:
  :meth:`CostMeter.add_extra`). Evaluation passes are kept apart (:meth:`CostMeter.add_eval`).

Counts are cached per architecture, so growing back to an architecture already seen, or charging the
same architecture every step, costs no trace: only building the key (parameter and buffer shapes, module
types and ``torch.nn`` hyper-parameters), about 1 ms for a ResNet-50, so charge per epoch or per
architecture stage rather than per batch where that matters.
"""
from __future__ import annotations

import copy
import logging
import math
import numbers
import threading
import time
import warnings
from collections import OrderedDict
from typing import Any, Iterable, Mapping

import torch
from torch import nn

__all__ = [
    "PRODUCT_OPS",
    "example_input",
    "forward_macs",
    "forward_macs_by_operator",
    "training_macs_per_sample",
    "flop_counter_macs",
    "cache_info",
    "cache_clear",
    "format_macs",
    "CostMeter",
    "Stopwatch",
]

#: fvcore operator names (as :func:`forward_macs_by_operator` reports them) of the convolution and
#: matrix products: the part of the count that ``FlopCounterMode`` also makes (divided by 2).
PRODUCT_OPS: frozenset[str] = frozenset({"conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum"})

#: How many architectures the count cache keeps (least recently used ones are dropped first).
CACHE_SIZE = 1024

_cache: "OrderedDict[tuple, dict[str, int]]" = OrderedDict()
_cache_lock = threading.Lock()
_cache_stats = {"hits": 0, "misses": 0}


# --------------------------------------------------------------------------- per-sample counts


def _input_shape(model: nn.Module, input_shape: Iterable[int] | None) -> tuple[int, ...]:
    """The shape of one sample (no batch dimension): given, or from the model's attributes."""
    if input_shape is None:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            image_size = getattr(model, "image_size", None)
            if image_size is None:
                raise ValueError(
                    f"input_shape=None: {type(model).__name__} has no `image_size` (or `input_shape`) "
                    "attribute, so pass the shape of one sample, e.g. input_shape=(3, 32, 32)"
                )
            channels = getattr(model, "in_channels", 3)
            shape = (channels, image_size, image_size)
        input_shape = shape
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(
            f"input_shape={input_shape!r} is not a shape: give a tuple of positive ints, e.g. (3, 32, 32)"
        ) from None
    if not shape or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(
            f"input_shape={input_shape!r} is not a shape: give a tuple of positive ints (one sample, no batch "
            "dimension), e.g. (3, 32, 32)"
        )
    return tuple(int(d) for d in shape)


def _architecture_key(model: nn.Module, shape: tuple[int, ...]) -> tuple:
    """What determines the count: class, parameter and buffer names and shapes, module structure, input.

    For modules of ``torch.nn`` itself the ``extra_repr`` (stride, padding, groups, affine, ...) is part of
    the key, since it changes the count without changing any shape; user modules' ``extra_repr`` is left
    out, as it may show state that changes every step; a user module whose compute depends on more than
    its shapes says so in a ``cost_key`` attribute (a template-mixing layer: member or tiled).
    """
    cls = type(model)
    return (
        f"{cls.__module__}.{cls.__qualname__}",
        tuple((name, tuple(p.shape)) for name, p in model.named_parameters()),
        tuple((name, tuple(b.shape)) for name, b in model.named_buffers()),
        tuple(
            (name, type(m).__qualname__,
             m.extra_repr() if type(m).__module__.startswith("torch.nn") else str(getattr(m, "cost_key", "")))
            for name, m in model.named_modules()
        ),
        shape,
    )


def _as_int(value: Any, what: str) -> int:
    """fvcore's handles return ints for the default ops; a float only from einsum's estimate."""
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"fvcore counted a non-finite number of MACs ({value}) for op {what!r}")
    return int(round(value))


def _cpu_float_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode, on the CPU, in float32: counting never touches the model itself."""
    return copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()


def example_input(model: nn.Module, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """One input of ``shape`` (batch of one) for ``model``: fixed normal draws for an image model; for a
    model reading token ids (``model.input_dtype`` an integer type), id 1 everywhere (no padding).  It
    leaves the global random state alone."""
    dtype = getattr(model, "input_dtype", torch.float32)
    if not dtype.is_floating_point:
        return torch.ones((1, *shape), dtype=dtype, device=device)
    generator = torch.Generator().manual_seed(0)
    return torch.randn((1, *shape), generator=generator).to(device=device, dtype=next(model.parameters()).dtype)


def _count(model: nn.Module, shape: tuple[int, ...]) -> dict[str, int]:
    """Trace a copy of ``model`` on one sample with fvcore; MACs by operator. Warnings and logs silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis  # imported late: fvcore's import is slow and noisy

    work = _cpu_float_copy(model)
    x = example_input(work, shape)
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            analysis = (
                FlopCountAnalysis(work, (x,))
                .unsupported_ops_warnings(False)
                .uncalled_modules_warnings(False)
                .tracer_warnings("none")
            )
            by_op = analysis.by_operator()
    except RuntimeError as err:  # the model cannot run on this input (too small an image, wrong channels)
        raise ValueError(
            f"input_shape={shape}: {type(model).__name__} cannot run a forward pass on a sample of this "
            f"shape ({err})"
        ) from err
    finally:
        logger.setLevel(level)
    return {op: _as_int(n, op) for op, n in sorted(by_op.items()) if n}


def forward_macs_by_operator(model: nn.Module, input_shape: Iterable[int] | None = None) -> dict[str, int]:
    """Forward MACs of one sample, by fvcore operator name (``conv``, ``linear``, ``batch_norm``, ...).

    Counted with fvcore's ``FlopCountAnalysis`` (all default handles, 1 MAC = 1 flop) on a deep copy of
    ``model`` in eval mode, on the CPU, in float32; ``input_shape`` (one sample, no batch dimension)
    defaults to ``(model.in_channels or 3, model.image_size, model.image_size)``. Cached per architecture.
    """
    shape = _input_shape(model, input_shape)
    key = _architecture_key(model, shape)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            _cache_stats["hits"] += 1
            return dict(hit)
    counts = _count(model, shape)
    with _cache_lock:
        _cache_stats["misses"] += 1
        _cache[key] = counts
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return dict(counts)


def forward_macs(model: nn.Module, input_shape: Iterable[int] | None = None) -> int:
    """Forward multiply-accumulates for ONE sample: fvcore's total, all default ops (see module doc).

    ``input_shape`` (no batch dimension) defaults to ``(3, model.image_size, model.image_size)``.
    Cached per architecture. Raises ``ValueError`` when the shape is missing or the model cannot run on it.
    """
    return sum(forward_macs_by_operator(model, input_shape).values())


def training_macs_per_sample(model: nn.Module, input_shape: Iterable[int] | None = None) -> int:
    """Training MACs for one sample = 3 x :func:`forward_macs` (forward, then backward's two products).

    The book's convention. :func:`flop_counter_macs` with ``backward=True`` measures it instead.
    """
    return 3 * forward_macs(model, input_shape)


def cache_info() -> dict[str, int]:
    """``{"hits", "misses", "size"}`` of the per-architecture count cache (a miss is one fvcore trace)."""
    with _cache_lock:
        return {**_cache_stats, "size": len(_cache)}


def cache_clear() -> None:
    """Forget every cached count (and reset :func:`cache_info`)."""
    with _cache_lock:
        _cache.clear()
        _cache_stats.update(hits=0, misses=0)


def flop_counter_macs(
    model: nn.Module, input_shape: Iterable[int] | None = None, *, backward: bool = False
) -> int:
    """MACs of one sample as PyTorch's ``FlopCounterMode`` counts them: products only, FLOPs / 2.

    The cross-check of :func:`forward_macs`: its :data:`PRODUCT_OPS` part equals this number. With
    ``backward=True`` the backward pass of ``output.sum()`` is counted too (the input does not require a
    gradient, so the first layer computes only its weight gradient): a measured alternative to
    ``3 x forward``. Not cached; runs on a float32 CPU copy in eval mode.
    """
    from torch.utils.flop_counter import FlopCounterMode

    shape = _input_shape(model, input_shape)
    work = _cpu_float_copy(model)
    x = example_input(work, shape)
    counter = FlopCounterMode(display=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backward:
            with counter:
                work(x).sum().backward()
        else:
            with torch.no_grad(), counter:
                work(x)
    flops = int(counter.get_total_flops())
    if flops % 2:
        raise AssertionError(f"FlopCounterMode counted an odd number of FLOPs ({flops})")
    return flops // 2


def format_macs(macs: int, digits: int = 2) -> str:
    """``40931968 -> '40.93M'``; ``1819065856 -> '1.82G'`` (decimal prefixes, as the papers print)."""
    for scale, prefix in ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(macs) >= scale:
            return f"{macs / scale:.{digits}f}{prefix}"
    return str(int(macs))


# --------------------------------------------------------------------------- a run's cost


def _count_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}={value!r}: expected a non-negative integer")
    return int(value)


def _macs_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r}: expected a non-negative number of MACs")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(float(value)):
            raise ValueError(f"{name}={value!r}: expected a finite, non-negative number of MACs")
        value = round(float(value))
    if value < 0:
        raise ValueError(f"{name}={value!r}: expected a non-negative number of MACs")
    return int(value)


def _architecture_label(model: nn.Module) -> str:
    spec = getattr(model, "spec", None)
    return spec if isinstance(spec, str) and spec else type(model).__name__


class CostMeter:
    """The compute of a (growing) run, integrated over its architecture timeline. Plain ints throughout.

    * :meth:`add_training` charges ``samples x training MACs per sample`` of the model's *current*
      architecture (``3 x forward``) to :attr:`training_macs`, plus what the model computes once per
      batch (:attr:`batch_macs`);
    * :meth:`add_extra` charges what a growth procedure computes itself (AdamInit's steps, GradMax's SVD,
      Firefly's candidates), kept per label in :attr:`extra_macs`;
    * :meth:`add_eval` charges forward passes for evaluation to :attr:`eval_macs`.

    :attr:`total_macs` = training + extras. Evaluation is **not** in the total unless the meter was made
    with ``include_eval=True``: the papers compare training cost, and how often one evaluates is a
    choice of the experimenter, not of the method.

    :attr:`timeline` lists the architecture stages trained: ``{"arch", "macs_per_sample", "samples"}``,
    consecutive charges to the same architecture merged (``macs_per_sample`` is training MACs).
    """

    def __init__(self, *, input_shape: Iterable[int] | None = None, include_eval: bool = False) -> None:
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.include_eval = bool(include_eval)
        self.training_macs = 0
        self.training_samples = 0
        self.batch_macs = 0
        self.extra_macs: dict[str, int] = {}
        self.eval_macs = 0
        self.eval_samples = 0
        self.timeline: list[dict[str, Any]] = []

    # -- charging
    def add_training(self, model: nn.Module, samples: int, steps: int = 0) -> int:
        """Charge ``samples`` training samples, in ``steps`` optimizer steps, on ``model``'s current
        architecture; returns the MACs added.  A model that computes something once per batch, whatever its
        size (a template-mixing net's Eq. 1, ``model.batch_macs()`` per forward pass), is charged
        ``3 x batch_macs`` per step on top (kept in :attr:`batch_macs` too)."""
        samples = _count_arg(samples, "samples")
        steps = _count_arg(steps, "steps")
        per_sample = training_macs_per_sample(model, self.input_shape)
        per_batch = getattr(model, "batch_macs", None)
        batch = 3 * int(per_batch()) * steps if callable(per_batch) else 0
        self.batch_macs += batch
        macs = samples * per_sample + batch
        self.training_macs += macs
        self.training_samples += samples
        arch = _architecture_label(model)
        last = self.timeline[-1] if self.timeline else None
        if last is not None and last["arch"] == arch and last["macs_per_sample"] == per_sample:
            last["samples"] += samples
        else:
            self.timeline.append({"arch": arch, "macs_per_sample": per_sample, "samples": samples})
        return macs

    def add_extra(self, macs: int, what: str) -> int:
        """Charge ``macs`` computed by a growth procedure, under label ``what``; returns the MACs added.

        A float is rounded to the nearest int (cost formulas such as an SVD's may produce one).
        """
        if not isinstance(what, str) or not what:
            raise ValueError(f"what={what!r}: expected a non-empty label, e.g. 'AdamInit' or 'GradMax SVD'")
        macs = _macs_arg(macs, "macs")
        self.extra_macs[what] = self.extra_macs.get(what, 0) + macs
        return macs

    def add_eval(self, model: nn.Module, samples: int) -> int:
        """Charge ``samples`` forward-only evaluation samples on ``model``; returns the MACs added."""
        samples = _count_arg(samples, "samples")
        macs = samples * forward_macs(model, self.input_shape)
        self.eval_macs += macs
        self.eval_samples += samples
        return macs

    # -- totals
    @property
    def extra_total(self) -> int:
        """Sum of :attr:`extra_macs` over labels."""
        return sum(self.extra_macs.values())

    @property
    def total_macs(self) -> int:
        """Training + growth procedures (+ evaluation when ``include_eval``)."""
        return self.training_macs + self.extra_total + (self.eval_macs if self.include_eval else 0)

    # -- persistence
    def state_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable state (ints, strings, lists, dicts); ``batch_macs`` where not 0."""
        state = {
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "include_eval": self.include_eval,
            "training_macs": self.training_macs,
            "training_samples": self.training_samples,
            "extra_macs": dict(self.extra_macs),
            "eval_macs": self.eval_macs,
            "eval_samples": self.eval_samples,
            "timeline": [dict(stage) for stage in self.timeline],
            "total_macs": self.total_macs,
        }
        if self.batch_macs:  # only models with per-batch compute have any
            state["batch_macs"] = self.batch_macs
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (``total_macs`` in it is derived, and ignored)."""
        shape = state.get("input_shape")
        self.input_shape = None if shape is None else tuple(int(d) for d in shape)
        self.include_eval = bool(state.get("include_eval", False))
        self.training_macs = _count_arg(state["training_macs"], "training_macs")
        self.training_samples = _count_arg(state.get("training_samples", 0), "training_samples")
        self.batch_macs = _count_arg(state.get("batch_macs", 0), "batch_macs")
        self.extra_macs = {str(k): _count_arg(v, f"extra_macs[{k!r}]") for k, v in state.get("extra_macs", {}).items()}
        self.eval_macs = _count_arg(state.get("eval_macs", 0), "eval_macs")
        self.eval_samples = _count_arg(state.get("eval_samples", 0), "eval_samples")
        self.timeline = [
            {
                "arch": str(stage["arch"]),
                "macs_per_sample": _count_arg(stage["macs_per_sample"], "macs_per_sample"),
                "samples": _count_arg(stage["samples"], "samples"),
            }
            for stage in state.get("timeline", [])
        ]

    def __repr__(self) -> str:
        extras = ", ".join(f"{k}={format_macs(v)}" for k, v in self.extra_macs.items())
        return (
            f"CostMeter(total={format_macs(self.total_macs)}, training={format_macs(self.training_macs)} "
            f"over {self.training_samples} samples, extra={{{extras}}}, eval={format_macs(self.eval_macs)})"
        )


# --------------------------------------------------------------------------- wall clock


def _synchronize(target: Any) -> None:
    """Wait for queued GPU work, if ``target`` (a module, tensor, device or device string) lives on a GPU."""
    if target is None:
        return
    device: torch.device | None
    if isinstance(target, nn.Module):
        ref = next(target.parameters(), None)
        if ref is None:
            ref = next(target.buffers(), None)
        device = None if ref is None else ref.device
    elif isinstance(target, torch.Tensor):
        device = target.device
    else:
        device = torch.device(target)
    if device is None:
        return
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.synchronize()


class Stopwatch:
    """Wall-clock seconds, synchronising the GPU (when ``sync`` lives on one) before reading the clock.

    >>> with Stopwatch(model) as sw:   # doctest: +SKIP
    ...     train_one_epoch(model)
    >>> sw.seconds                     # doctest: +SKIP

    Re-entering (or :meth:`start` after :meth:`stop`) accumulates; :meth:`reset` zeroes.
    ``sync`` is a module, tensor, ``torch.device`` or device string, or ``None`` (no synchronisation).
    """

    def __init__(self, sync: Any = None) -> None:
        self.sync = sync
        self._elapsed = 0.0
        self._started: float | None = None

    def start(self) -> "Stopwatch":
        if self._started is not None:
            raise RuntimeError("Stopwatch is already running")
        _synchronize(self.sync)
        self._started = time.perf_counter()
        return self

    def stop(self) -> float:
        """Stop; returns the seconds of this lap."""
        if self._started is None:
            raise RuntimeError("Stopwatch is not running")
        _synchronize(self.sync)
        lap = time.perf_counter() - self._started
        self._elapsed += lap
        self._started = None
        return lap

    def reset(self) -> None:
        self._elapsed = 0.0
        self._started = None

    @property
    def running(self) -> bool:
        return self._started is not None

    @property
    def seconds(self) -> float:
        """Accumulated seconds, including the running lap (read without synchronising)."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self._elapsed + running

    def __enter__(self) -> "Stopwatch":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
