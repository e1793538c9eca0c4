"""Loaders: in-memory tensors on the device with batch augmentation, and a DataLoader wrapper.

Every loader is an iterable of ``(x, y)`` with ``x`` float32 ``(N, C, H, W)`` (normalised) and
``y`` int64 ``(N,)``, both on the loader's device, plus ``len(loader)`` (batches per epoch) and
``loader.num_samples`` (samples per epoch). The last batch may be smaller (``drop_last=False``).

:class:`TensorLoader` follows airbench: the whole split sits on the device, and a batch is an index
into it, augmented on the device in one shot. All randomness (the epoch's order and its crop
offsets and flips) is drawn on the CPU from two ``torch.Generator``\\ s seeded from ``seed``, so a
seed gives the same batches on every device, and each new ``iter(loader)`` is the next epoch.
The order stream and the augmentation stream are separate: the same seed visits the samples in
the same order with and without augmentation.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor

__all__ = ["TensorLoader", "DeviceLoader", "shift_and_flip", "random_shift_and_flip"]

_AUGMENT_SEED_OFFSET = 0x9E3779B97F4A7C15  # golden-ratio constant: decorrelates the two streams


def shift_and_flip(x: Tensor, dx: Tensor, dy: Tensor, flip: Tensor | None, pad: int) -> Tensor:
    """Zero-pad ``x`` by ``pad`` and take, per image, the window at offset ``(dy, dx)``; then flip.

    ``x``: ``(B, C, H, W)``; ``dx, dy``: int64 ``(B,)`` in ``[0, 2 * pad]`` (``pad`` = no shift);
    ``flip``: bool ``(B,)`` or None. Output pixel ``(i, j)`` of image ``b`` is input pixel
    ``(i + dy - pad, j + dx - pad)`` (zero outside), mirrored left-right where ``flip[b]``.
    This is torchvision's ``RandomCrop(H, padding=pad)`` + ``RandomHorizontalFlip`` done for the
    whole batch at once; here the padding value 0 is the dataset mean, as ``x`` is normalised.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        rows = dy.to(x.device).view(b, 1) + torch.arange(h, device=x.device).view(1, h)  # (B, H)
        cols = dx.to(x.device).view(b, 1) + torch.arange(w, device=x.device).view(1, w)  # (B, W)
        batch_idx = torch.arange(b, device=x.device).view(b, 1, 1, 1)
        chan_idx = torch.arange(c, device=x.device).view(1, c, 1, 1)
        x = padded[batch_idx, chan_idx, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
    if flip is not None:
        x = torch.where(flip.to(x.device).view(b, 1, 1, 1), x.flip(3), x)
    return x


def random_shift_and_flip(x: Tensor, *, pad: int = 4, flip: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """Random crop after zero-padding ``pad`` and (if ``flip``) random horizontal flip, per image.

    Offsets and flips are drawn on the CPU from ``generator``.
    """
    b = x.shape[0]
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    mirror = torch.rand(b, generator=generator) < 0.5 if flip else None
    return shift_and_flip(x, dx, dy, mirror, pad)


class TensorLoader:
    """Batches of in-memory tensors ``x`` (float32, N x C x H x W) and ``y`` (int64, N).

    ``shuffle``: a new order every epoch (every ``iter``), from a generator seeded with ``seed``.
    ``augment``: random crop after zero-pad ``pad`` and, if ``flip``, a random horizontal flip.
    The tensors stay where they are (on the device); batches come out on the same device.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        augment: bool = False,
        pad: int = 4,
        flip: bool = True,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y disagree on the number of samples: {x.shape[0]} vs {y.shape[0]}")
        if (shuffle or augment) and seed is None:
            raise ValueError("seed is required when shuffle or augment is on (got seed=None)")
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad!r}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.augment, self.pad, self.flip = shuffle, augment, pad, flip
        self.seed = seed
        self.epoch = 0
        self._order_gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self._aug_gen = (
            torch.Generator().manual_seed((int(seed) + _AUGMENT_SEED_OFFSET) % 2**64) if seed is not None else None
        )

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = self.num_samples
        self.epoch += 1
        order = torch.randperm(n, generator=self._order_gen) if self.shuffle else None
        if self.augment and n:
            # The whole epoch's offsets and flips in one draw: one host-to-device copy per epoch.
            dx = torch.randint(0, 2 * self.pad + 1, (n,), generator=self._aug_gen).to(self.device)
            dy = torch.randint(0, 2 * self.pad + 1, (n,), generator=self._aug_gen).to(self.device)
            mirror = (torch.rand(n, generator=self._aug_gen) < 0.5).to(self.device) if self.flip else None
        if order is not None:
            order = order.to(self.device)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                xb, yb = self.x[start:stop], self.y[start:stop]
            else:
                idx = order[start:stop]
                xb, yb = self.x[idx], self.y[idx]
            if self.augment:
                xb = shift_and_flip(
                    xb, dx[start:stop], dy[start:stop], None if mirror is None else mirror[start:stop], self.pad
                )
            yield xb, yb

    def state_dict(self) -> dict:
        """Where the loader's random streams are (for a checkpoint): the epochs begun and both
        generators' states."""
        return {"epoch": self.epoch,
                "order": None if self._order_gen is None else self._order_gen.get_state(),
                "augment": None if self._aug_gen is None else self._aug_gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`: the next ``iter`` gives the epoch that followed it."""
        self.epoch = state["epoch"]
        for gen, key in ((self._order_gen, "order"), (self._aug_gen, "augment")):
            if gen is not None and state[key] is not None:
                gen.set_state(state[key])

    def __repr__(self) -> str:
        return (
            f"TensorLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"augment={self.augment}, flip={self.flip}, device={self.device})"
        )


class DeviceLoader:
    """Wraps a ``torch.utils.data.DataLoader`` of ``(x, y)``: moves each batch to ``device``."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device) -> None:
        self.loader = loader
        self.device = torch.device(device)

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    @property
    def num_samples(self) -> int:
        return len(self.loader.dataset)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        non_blocking = self.device.type == "cuda"
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)

    def state_dict(self) -> dict:
        """The state of the generator the loader's sampler (and its workers' seeds) draw from."""
        gen = self.loader.generator
        return {"generator": None if gen is None else gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if self.loader.generator is not None and state["generator"] is not None:
            self.loader.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"DeviceLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, device={self.device})"
