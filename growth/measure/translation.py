"""Translating with an encoder-decoder model, and scoring it with BLEU (VT paper, Table 5).

:func:`translate` decodes a batch of sources by beam search (``beam=1`` is greedy decoding: the top
token at every step), batched over sentences and beams.  A hypothesis ends at EOS (PAD and BOS are never
generated); a finished hypothesis stays in its beam, extended by PAD at no cost.  The best of the final beams is the one
with the highest log-probability per generated token (EOS included), fairseq's ``lenpen=1``.  There
is no cache of the decoder's keys and values: each step re-runs the decoder on the prefix, which
costs more compute, not a different result.

:func:`bleu` translates a split of a :class:`growth.data.translation.TranslationSplits` and scores the
detokenised hypotheses against the split's references with sacrebleu (:func:`growth.measure.bleu.corpus_bleu`).
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from ..data.translation import BOS, EOS, PAD
from .bleu import corpus_bleu

__all__ = ["bleu", "translate"]


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed: give a positive integer")
    return int(value)


@torch.inference_mode()
def translate(model: nn.Module, src: torch.Tensor, *, beam: int = 1, max_len: int | None = None) -> torch.Tensor:
    """Target ids ``(B, T)`` for source ids ``src`` ``(B, Ls)`` (PAD after the end), in eval mode: each row
    the best hypothesis without BOS, ending with EOS unless ``max_len`` tokens (default: the model's
    ``max_len - 1``) ran out first, then PAD."""
    beam = _check_positive("beam", beam)
    limit = getattr(model, "max_len", None)
    max_len = _check_positive("max_len", max_len if max_len is not None else (limit or 2) - 1)
    if limit is not None and max_len >= limit:
        raise ValueError(f"max_len={max_len} is not allowed: the model has positions for {limit} tokens, BOS "
                         f"included: give at most {limit - 1}")
    was_training = model.training
    model.eval()
    try:
        return _search(model, src, beam, max_len)
    finally:
        model.train(was_training)


def _search(model: nn.Module, src: torch.Tensor, beam: int, max_len: int) -> torch.Tensor:
    batch = src.shape[0]
    memory, src_blocked = model.encode(src)
    memory, src_blocked = memory.repeat_interleave(beam, 0), src_blocked.repeat_interleave(beam, 0)
    tokens = torch.full((batch * beam, 1), BOS, dtype=torch.long, device=src.device)
    scores = torch.full((batch, beam), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # one live hypothesis per sentence at the start
    finished = torch.zeros(batch * beam, dtype=torch.bool, device=src.device)
    rows = torch.arange(batch, device=src.device)[:, None]
    for _ in range(max_len):
        logp = model.decode(tokens, memory, src_blocked)[:, -1].float().log_softmax(-1)
        vocab = logp.shape[-1]
        logp[:, (PAD, BOS)] = float("-inf")  # a hypothesis never pads or restarts before its EOS
        logp[finished] = float("-inf")
        logp[finished, PAD] = 0.0
        top, index = (scores.reshape(-1, 1) + logp).reshape(batch, beam * vocab).topk(beam, dim=1)
        origin, token = index // vocab, index % vocab
        tokens = torch.cat([tokens.reshape(batch, beam, -1)[rows, origin], token[..., None]], -1)
        tokens = tokens.reshape(batch * beam, -1)
        finished = (finished.reshape(batch, beam)[rows, origin] | (token == EOS)).reshape(-1)
        scores = top
        if bool(finished.all()):
            break
    generated = tokens[:, 1:]
    lengths = (generated != PAD).sum(-1).clamp_min(1).reshape(batch, beam)
    best = (scores / lengths).argmax(1)
    return generated.reshape(batch, beam, -1)[rows[:, 0], best]


def bleu(model: nn.Module, data, split: str = "test", *, beam: int = 1, batch_size: int = 256,
         max_len: int | None = None) -> dict:
    """Corpus BLEU of ``model``'s translations of ``split`` (``data`` a TranslationSplits): a dict with
    ``bleu``, ``beam``, ``sentences`` and the first three ``examples`` (source, hypothesis, reference)."""
    batch_size = _check_positive("batch_size", batch_size)
    x, _ = data.tensors(split)
    device = next(model.parameters()).device
    hypotheses = []
    for start in range(0, x.shape[0], batch_size):
        ids = translate(model, x[start:start + batch_size, 0].to(device), beam=beam, max_len=max_len)
        hypotheses += [data.tokenizer.decode(row.tolist()) for row in ids.cpu()]
    references, sources = data.references(split), data.sources(split)
    score = corpus_bleu(hypotheses, references, tokenize=data.bleu_tokenize)
    return {"bleu": score, "beam": beam, "sentences": len(hypotheses),
            "examples": [list(t) for t in zip(sources[:3], hypotheses[:3], references[:3])]}
