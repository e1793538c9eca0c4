"""The encoder-decoder Transformer (Vaswani et al. 2017) that the Variance Transfer paper grows in width
on IWSLT'14 De-En (Yuan, Savarese, Maire 2023, Sec. 4.3, Table 5).

``Transformer-E-D``: ``E`` encoder and ``D`` decoder blocks (the paper: 6 and 6).  Options of
:func:`~growth.models.build_model`: ``d_model`` (the residual stream, 512), ``heads`` (8), ``head_dim``
(64: the attention scale ``1/sqrt(head_dim)`` never changes as heads are added), ``d_ff`` (2048),
``dropout`` (0.1), ``max_len`` (the longest sequence, 128), ``norm`` (``"pre"``: LayerNorm before each
sub-layer and after the last block; ``"post"``: after each residual addition, as in Vaswani et al.).
``width`` multiplies ``heads`` and ``d_ff`` (rounded half up, at least 1), not ``d_model``: the paper
"fixes the embedding layer dimension" while the layers grow (Sec. 4, setup).  ``num_classes`` is the
vocabulary, one shared by source and target; ``image_size`` is not used.

Inputs and outputs (one training pair per row): ``x`` int64 ``(B, 2, L)``, ``x[:, 0]`` the source ids
(PAD = 0 after the end), ``x[:, 1]`` the decoder's input (BOS, then the target); the logits come as
``(B, vocab, L)``, the layout ``nn.CrossEntropyLoss`` and ``argmax(1)`` read, so the training loop
treats a target token as it treats an image label.  Attention is written as explicit products and a
softmax (fvcore counts the products; no fused kernel differs between CPUs).

Width growth (:mod:`growth.how.width`) sees three kinds of channel groups:

- ``model``: the residual stream, written by the embedding, every attention's output projection and
  every FFN's second layer, normalised by every LayerNorm, read by every query / key / value
  projection, FFN first layer and the output layer.  A LayerNorm keeps its function only when the new
  channels copy the old ones whole (``[x, x]`` has the mean and variance of ``x``), so this group grows
  by whole copies (staged training's ``double_weights``, Shen et al. 2022).  The positional table
  is the sinusoid of the width the model was built at, tiled to the current width: the table the
  copies need.
- ``...attn``: one attention's heads (queries, keys, values; read by its output projection), grown
  in whole heads of ``head_dim`` channels (``ChannelGroup.unit``).
- ``...ffn``: one FFN's hidden layer.

Initialisation: Xavier-uniform weights and zero biases for every projection, as in Vaswani et al.'s
reference code; embeddings ``N(0, d_model^-1/2)``, scaled by ``sqrt(d_model)`` of the built model.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import fx, nn

from .base import ChannelGroup, GrowableNet
from .registry import register_family, scale_channels

__all__ = ["Attention", "DecoderBlock", "EncoderBlock", "FeedForward", "PAD", "Transformer", "causal_mask",
           "sinusoid", "tiled_positions"]

PAD = 0  #: the padding id of every sequence (growth.data.translation.PAD)
NORMS = ("pre", "post")
DEFAULTS = {"d_model": 512, "heads": 8, "head_dim": 64, "d_ff": 2048, "dropout": 0.1, "max_len": 128, "norm": "pre"}


def sinusoid(length: int, dim: int) -> torch.Tensor:
    """Vaswani et al.'s positional table ``(length, dim)``: sin on even, cos on odd channels."""
    position = torch.arange(length, dtype=torch.float64)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
    return table.float()


def causal_mask(tokens: torch.Tensor) -> torch.Tensor:
    """``(L, L)`` True above the diagonal: position ``i`` may not attend to ``j > i``."""
    length = tokens.shape[-1]
    return torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)


def tiled_positions(table: torch.Tensor, tokens: torch.Tensor, dim: int) -> torch.Tensor:
    """The first ``tokens.shape[1]`` rows of the positional ``table``, tiled to ``dim`` channels."""
    return table[: tokens.shape[1]].repeat(1, dim // table.shape[1])


fx.wrap("causal_mask")  # leaves of symbolic traces (growth.how.bridges): their sizes are the input's
fx.wrap("tiled_positions")


class Attention(nn.Module):
    """Multi-head attention with separate query, key, value and output projections.  The number of
    heads is read off the projections (``q.out_features // head_dim``), so width growth adds heads by
    widening them."""

    def __init__(self, d_model: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.q = nn.Linear(d_model, heads * head_dim)
        self.k = nn.Linear(d_model, heads * head_dim)
        self.v = nn.Linear(d_model, heads * head_dim)
        self.out = nn.Linear(heads * head_dim, d_model)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        """``blocked``: True where a query may not look, broadcastable to ``(B, heads, Lq, Lk)``."""
        batch, length = query.shape[0], query.shape[1]
        q = self.q(query).view(batch, length, -1, self.head_dim).transpose(1, 2)
        k = self.k(memory).view(batch, memory.shape[1], -1, self.head_dim).transpose(1, 2)
        v = self.v(memory).view(batch, memory.shape[1], -1, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(blocked, float("-inf"))  # every query sees a key: BOS, EOS or itself
        mixed = torch.matmul(scores.softmax(-1), v).transpose(1, 2).reshape(batch, length, -1)
        return self.out(mixed)


class FeedForward(nn.Module):
    """``fc2(dropout(relu(fc1(x))))``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.relu(self.fc1(x))))


class _Block(nn.Module):
    """Residual sub-layers, each ``x + dropout(f(LN(x)))`` (pre-norm) or ``LN(x + dropout(f(x)))`` (post)."""

    def __init__(self, d_model: int, dropout: float, norm: str, count: int) -> None:
        super().__init__()
        self.pre = norm == "pre"
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(count))
        self.drop = nn.Dropout(dropout)

    def _residual(self, index: int, x: torch.Tensor, layer) -> torch.Tensor:
        norm = self.norms[index]
        if self.pre:
            return x + self.drop(layer(norm(x)))
        return norm(x + self.drop(layer(x)))


class EncoderBlock(_Block):
    """Self-attention, then the FFN."""

    def __init__(self, d_model: int, heads: int, head_dim: int, d_ff: int, dropout: float, norm: str) -> None:
        super().__init__(d_model, dropout, norm, 2)
        self.attn = Attention(d_model, heads, head_dim)
        self.ffn = FeedForward(d_model, d_ff, dropout)

    def forward(self, x: torch.Tensor, src_blocked: torch.Tensor) -> torch.Tensor:
        x = self._residual(0, x, lambda h: self.attn(h, h, src_blocked))
        return self._residual(1, x, self.ffn)


class DecoderBlock(_Block):
    """Causal self-attention, attention over the encoder's output, then the FFN."""

    def __init__(self, d_model: int, heads: int, head_dim: int, d_ff: int, dropout: float, norm: str) -> None:
        super().__init__(d_model, dropout, norm, 3)
        self.attn = Attention(d_model, heads, head_dim)
        self.cross = Attention(d_model, heads, head_dim)
        self.ffn = FeedForward(d_model, d_ff, dropout)

    def forward(self, y: torch.Tensor, memory: torch.Tensor, tgt_blocked: torch.Tensor,
                src_blocked: torch.Tensor) -> torch.Tensor:
        y = self._residual(0, y, lambda h: self.attn(h, h, tgt_blocked))
        y = self._residual(1, y, lambda h: self.cross(h, memory, src_blocked))
        return self._residual(2, y, self.ffn)


class Transformer(GrowableNet):
    """The encoder-decoder Transformer; see the module's notes.  ``stages[0]`` holds the encoder blocks,
    ``stages[1]`` the decoder blocks (``depths`` = (E, D), the spec ``Transformer-E-D``)."""

    family = "Transformer"
    input_dtype = torch.long  # reads token ids (growth.measure.cost.example_input)

    def __init__(self, encoder: int, decoder: int, *, num_classes: int, image_size: int, width: float,
                 d_model: int, heads: int, head_dim: int, d_ff: int, dropout: float, max_len: int,
                 norm: str) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        self.build_options = {"d_model": d_model, "heads": heads, "head_dim": head_dim, "d_ff": d_ff,
                              "dropout": dropout, "max_len": max_len, "norm": norm}
        self.max_len, self.positions_dim = max_len, d_model
        self.embed_scale = math.sqrt(d_model)
        heads, d_ff = scale_channels(heads, width), scale_channels(d_ff, width)
        self.embed = nn.Embedding(num_classes, d_model, padding_idx=PAD)
        self.register_buffer("positions", sinusoid(max_len, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.stages = nn.ModuleList([
            nn.Sequential(*(EncoderBlock(d_model, heads, head_dim, d_ff, dropout, norm) for _ in range(encoder))),
            nn.Sequential(*(DecoderBlock(d_model, heads, head_dim, d_ff, dropout, norm) for _ in range(decoder))),
        ])
        final = nn.LayerNorm if norm == "pre" else nn.Identity
        self.encoder_norm, self.decoder_norm = final(d_model), final(d_model)
        self.generator = nn.Linear(d_model, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            self.layer_init(module)
        nn.init.normal_(self.embed.weight, std=self.positions_dim ** -0.5)
        with torch.no_grad():
            self.embed.weight[PAD] = 0

    @staticmethod
    def layer_init(module: nn.Module) -> None:
        """The family's initialisation of a fresh layer (width growth's ``random`` method)."""
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)

    @property
    def d_model(self) -> int:
        return self.embed.weight.shape[1]

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scaled token embeddings plus the positional table, tiled to the current ``d_model``."""
        table = tiled_positions(self.positions, tokens, self.embed.weight.shape[1])
        return self.drop(self.embed(tokens) * self.embed_scale + table)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output ``(B, Ls, d_model)`` and the source's padding mask ``(B, 1, 1, Ls)``."""
        src_blocked = (src == PAD)[:, None, None, :]
        memory = self._embed(src)
        for block in self.stages[0]:
            memory = block(memory, src_blocked)
        return self.encoder_norm(memory), src_blocked

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_blocked: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, Lt, vocab)`` for the decoder input ``tgt`` (each position sees itself and before)."""
        tgt_blocked = causal_mask(tgt)[None, None] | (tgt == PAD)[:, None, None, :]
        y = self._embed(tgt)
        for block in self.stages[1]:
            y = block(y, memory, tgt_blocked, src_blocked)
        return self.generator(self.decoder_norm(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        memory, src_blocked = self.encode(x[:, 0])
        return self.decode(x[:, 1], memory, src_blocked).transpose(1, 2)

    def channel_groups(self) -> list[ChannelGroup]:
        blocks = [(f"stages.{s}.{i}", block) for s in (0, 1) for i, block in enumerate(self.stages[s])]
        attentions = [f"{name}.{part}" for name, block in blocks for part in ("attn", "cross") if hasattr(block, part)]
        norms = [f"{name}.norms.{i}" for name, block in blocks for i in range(len(block.norms))]
        norms += [n for n in ("encoder_norm", "decoder_norm") if isinstance(getattr(self, n), nn.LayerNorm)]
        stream = ChannelGroup(
            name="model",
            producers=("embed", *(f"{a}.out" for a in attentions), *(f"{name}.ffn.fc2" for name, _ in blocks)),
            norms=tuple(norms),
            consumers=(*(f"{a}.{p}" for a in attentions for p in "qkv"), *(f"{name}.ffn.fc1" for name, _ in blocks),
                       "generator"),
        )
        heads = [ChannelGroup(name=a, producers=tuple(f"{a}.{p}" for p in "qkv"), consumers=(f"{a}.out",),
                              inner=True, unit=self.get_submodule(a).head_dim) for a in attentions]
        ffns = [ChannelGroup(name=f"{name}.ffn", producers=(f"{name}.ffn.fc1",), consumers=(f"{name}.ffn.fc2",),
                             inner=True) for name, _ in blocks]
        return [stream, *heads, *ffns]


def _check_options(options: dict) -> str | None:
    for name in ("d_model", "heads", "head_dim", "d_ff", "max_len"):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name}={value!r} is not allowed: give a positive integer"
    if options["d_model"] % 2:
        return f"d_model={options['d_model']} is not allowed: give an even number (the sinusoid pairs channels)"
    dropout = options["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        return f"dropout={dropout!r} is not allowed: give a number in [0, 1)"
    if options["norm"] not in NORMS:
        return f"norm={options['norm']!r} is not allowed: choose one of {', '.join(NORMS)}"
    return None


@register_family("Transformer-e-d", examples=("Transformer-6-6",), options=DEFAULTS, check_options=_check_options,
                 inputs="tokens")
def _build_transformer(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float,
                       **options) -> GrowableNet:
    return Transformer(*parts, num_classes=num_classes, image_size=image_size, width=width, **options)
