"""The Transformer of the zoo, its width growth (VT paper, Sec. 4.3) and decoding: oracles."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from growth.how.width import grow_width
from growth.how.width_methods import VarianceTransfer, WidthMethod
from growth.measure.cost import forward_macs_by_operator
from growth.data.translation import BOS, EOS
from growth.measure.translation import translate
from growth.models import build_model, channel_counts, list_models
from growth.models.transformer import PAD

VOCAB = 23
KEEP = VarianceTransfer(rescale_without_bn=False)


def small(norm: str = "pre", **options) -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = {"d_model": 16, "heads": 2, "head_dim": 4, "d_ff": 24, "max_len": 10, "norm": norm, **options}
    return build_model("Transformer-2-2", num_classes=VOCAB, **sizes).eval()


def batch(seed: int = 1, length: int = 10) -> torch.Tensor:
    """Three pairs with padding in the source of one and the target of another."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, VOCAB, (3, 2, length), generator=g)
    x[0, 0, 6:] = PAD
    x[1, 1, 4:] = PAD
    x[:, 1, 0] = BOS
    return x


def doubled(model, groups=None) -> dict[str, int]:
    counts = channel_counts(model)
    return {g: 2 * n for g, n in counts.items() if groups is None or g in groups or g.startswith(groups)}


# --------------------------------------------------------------------------- the model


def test_listed_apart_from_the_image_models():
    assert "Transformer-6-6" in list_models(inputs="tokens")
    assert "Transformer-6-6" not in list_models(inputs="image")


def test_paper_size_parameter_count():
    """Hand count of Transformer-6-6 (d 512, 8 x 64 heads, d_ff 2048, pre-norm, untied output, vocab V)."""
    V, d, f = 10_000, 512, 2048
    with torch.device("meta"):
        model = build_model("Transformer-6-6", num_classes=V)
    attention = 4 * (d * d + d)
    ffn = d * f + f + f * d + d
    encoder = 6 * (attention + ffn + 2 * 2 * d)
    decoder = 6 * (2 * attention + ffn + 3 * 2 * d)
    expected = V * d + encoder + decoder + 2 * 2 * d + d * V + V
    assert sum(p.numel() for p in model.parameters()) == expected


def test_macs_by_hand():
    """fvcore: every Linear costs its weight per position; attention scores and mixing L^2 x inner each."""
    model = small()
    L, inner = 10, 2 * 4
    counts = forward_macs_by_operator(model, (2, L))
    linear = sum(m.weight.numel() for n, m in model.named_modules() if isinstance(m, torch.nn.Linear))
    assert counts["linear"] == linear * L
    assert counts["matmul"] == 6 * 2 * L * L * inner  # 2 encoder + 2 decoder self + 2 cross attentions


def test_decoder_is_causal_and_padding_is_ignored():
    model = small()
    x = batch()
    out = model(x)
    later = x.clone()
    later[:, 1, 5:] = torch.randint(3, VOCAB, later[:, 1, 5:].shape)
    assert torch.equal(model(later)[:, :, :5], out[:, :, :5])
    padded = x.clone()
    padded[0, 0, 6:] = 7  # what stands behind the source's end... is no longer padding: it changes row 0
    assert not torch.allclose(model(padded)[0], out[0])
    assert torch.equal(model(padded)[1:], out[1:])


def test_bad_options_name_the_option():
    with pytest.raises(ValueError, match="norm='mid'"):
        build_model("Transformer-1-1", num_classes=5, norm="mid")
    with pytest.raises(ValueError, match="heads=0"):
        build_model("Transformer-1-1", num_classes=5, heads=0)
    with pytest.raises(ValueError, match="not option"):
        build_model("Transformer-1-1", num_classes=5, depth=3)
    with pytest.raises(ValueError, match="not option"):
        build_model("ResNet-20", num_classes=5, d_model=3)


# --------------------------------------------------------------------------- growth keeps the function


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("method", ["net2net", KEEP], ids=["net2net", "vt"])
@pytest.mark.parametrize("groups", ["inner", "all"])
def test_growth_keeps_the_logits_and_loss(norm, method, groups):
    model = small(norm)
    x, y = batch(), batch(seed=2)[:, 1]
    y[1, 4:] = -100
    loss = torch.nn.functional.cross_entropy(model(x), y)
    before = model(x)
    memory = model.encode(x[:, 0])[0]
    target = doubled(model, None if groups == "all" else ("stages",))
    grow_width(model, channels=target, method=method, generator=torch.Generator().manual_seed(3))
    assert channel_counts(model) == {**channel_counts(model), **target}
    after_memory = model.encode(x[:, 0])[0]
    if groups == "all":  # the residual stream is copied: [m, m]
        torch.testing.assert_close(after_memory, torch.cat([memory, memory], -1), rtol=1e-5, atol=1e-5)
    else:
        torch.testing.assert_close(after_memory, memory, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.nn.functional.cross_entropy(model(x), y), loss, rtol=1e-5, atol=1e-6)


@settings(max_examples=12, deadline=None)
@given(heads=st.integers(1, 3), added=st.integers(1, 3), ffn=st.integers(1, 9), copies=st.integers(1, 3),
       net2net=st.booleans())
def test_any_growth_keeps_the_function(heads, added, ffn, copies, net2net):
    """Heads added in any number, any FFN growth, d_model by any number of copies."""
    model = small(heads=heads, head_dim=2, d_model=8, d_ff=4)
    x = batch()
    before = model(x)
    counts = channel_counts(model)
    target = {g: n * copies if g == "model" else n + (2 * added if g.endswith(("attn", "cross")) else ffn)
              for g, n in counts.items()}
    grow_width(model, channels=target, method="net2net" if net2net else KEEP,
               generator=torch.Generator().manual_seed(heads))
    torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-5)


def test_paper_vt_rescaling_changes_the_function():
    """The CNN rule (rescale old weights where no BatchNorm reads them) does change a Transformer: why the
    recipe keeps the old weights."""
    model = small()
    x = batch()
    before = model(x)
    grow_width(model, channels=doubled(model, ("stages",)), method="vt", generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(model(x), before, atol=1e-3)


def test_net2net_copies_whole_heads():
    model = small(heads=2, head_dim=4)
    grow_width(model, channels={"stages.0.0.attn": 16}, method="net2net", generator=torch.Generator().manual_seed(0))
    q = model.stages[0][0].attn.q.weight.detach().view(4, 4, -1)
    for new in (2, 3):
        assert any(torch.equal(q[new], q[old]) for old in (0, 1))


def test_bad_growths_are_refused_before_any_change():
    model = small()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="multiple of 4"):
        grow_width(model, channels={"stages.0.0.attn": 10}, method="net2net")
    with pytest.raises(ValueError, match="LayerNorm"):
        grow_width(model, channels={"model": 24}, method=KEEP)
    with pytest.raises(ValueError, match="even"):
        grow_width(small(head_dim=3, heads=2), channels={"stages.0.0.attn": 9}, method=KEEP)
    with pytest.raises(ValueError, match="whole units"):  # a method that does not keep units whole
        grow_width(model, channels={"stages.0.0.attn": 16}, method=type("Plain", (WidthMethod,), {"name": "plain"})())
    with pytest.raises(ValueError, match="gradmax"):  # GradMax's own check: no gradient path through the table
        grow_width(model, channels={"stages.0.0.attn": 16}, method="gradmax")
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


# --------------------------------------------------------------------------- decoding


def _greedy_by_hand(model, src, steps):
    tokens = torch.full((src.shape[0], 1), BOS)
    memory, blocked = model.encode(src)
    for _ in range(steps):
        logp = model.decode(tokens, memory, blocked)[:, -1].log_softmax(-1)
        logp[:, (PAD, BOS)] = float("-inf")
        tokens = torch.cat([tokens, logp.argmax(-1, keepdim=True)], 1)
    out = tokens[:, 1:]
    for row in out:  # after the first EOS: padding
        ends = (row == EOS).nonzero()
        if len(ends):
            row[ends[0, 0] + 1:] = PAD
    return out


def test_greedy_is_the_argmax_at_every_step():
    model = small()
    src = batch()[:, 0]
    got = translate(model, src, beam=1, max_len=6)
    expected = _greedy_by_hand(model, src, 6)
    assert torch.equal(got, expected[:, : got.shape[1]])


def test_a_wide_beam_finds_the_best_sequence_by_exhaustive_search():
    """With a beam as wide as the set of all hypotheses, beam search is exhaustive: compare with the best
    length-normalised log-probability over every sequence of at most 3 tokens (a 6-token vocabulary)."""
    torch.manual_seed(4)
    model = build_model("Transformer-1-1", num_classes=6, d_model=8, heads=2, head_dim=4, d_ff=8, max_len=6,
                        dropout=0.0).eval()
    with torch.no_grad():
        model.generator.weight.mul_(8)  # peaked distributions, so that greedy and the best differ
    src = torch.tensor([[4, 5, 3, EOS, PAD, PAD]])
    memory, blocked = model.encode(src)
    best, best_seq = -math.inf, None
    words = (3, 4, 5, EOS)
    for length in (1, 2, 3):
        for seq in itertools.product(words, repeat=length):
            if EOS in seq[:-1]:
                continue
            tokens = torch.tensor([[BOS, *seq]])
            logp = model.decode(tokens[:, :-1], memory, blocked).log_softmax(-1)[0]
            score = sum(float(logp[i, t]) for i, t in enumerate(seq)) / length
            if length < 3 and seq[-1] != EOS:
                continue  # unfinished and not at the length limit
            if score > best:
                best, best_seq = score, list(seq)
    got = translate(model, src, beam=4 ** 3, max_len=3)[0]
    assert got[got != PAD].tolist() == best_seq


def test_translate_refuses_bad_arguments():
    model = small()
    src = batch()[:, 0]
    with pytest.raises(ValueError, match="beam=0"):
        translate(model, src, beam=0)
    with pytest.raises(ValueError, match="max_len=10"):
        translate(model, src, max_len=10)
