"""How long does a width growth of the Transformer take beside a training step, and how many tokens a
second does the bench Transformer train on this CPU? (Issue: "a width growth step of the Transformer
under one training step; tokens per second of training at bench".)

Two models: the VT recipe's bench Transformer (2 + 2 blocks, d_model 64, 8 heads of 8, d_ff 256) and the
paper's (6 + 6 blocks, d_model 512, 8 heads of 64, d_ff 2048).  For each, its last growth of the
recipe's schedule (heads and FFN units doubling into the full model: 4 -> 8 heads, d_ff / 2 -> d_ff) by
``growth.grow_width`` with Net2Net and with Variance Transfer (old weights kept), noise 1e-3, against
one training step of the grown model: forward, backward and an Adam step (the recipe's optimizer) on a
batch of sentence pairs of the translation-synthetic task (its vocabulary of 256) at the recipe's sizes (bench: 32 pairs; the
paper's model: 64 pairs, about its 1500 tokens; both padded to the bench length, 32).  Tokens per second are
target tokens (padding excluded) and padded positions, over the median step.  Growths and steps take
turns round after round, medians over ``--rounds`` after a warm-up; each growth grows a fresh deep copy
(not timed).  One process, one thread unless ``OMP_NUM_THREADS`` says otherwise.

    OMP_NUM_THREADS=1 python benchmarks/transformer_step.py   # writes benchmarks/results/transformer_step_cpu.json
    python benchmarks/transformer_step.py --quick             # the bench model only, two rounds: checks that it runs
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

import growth
from growth.data import load as load_dataset
from growth.how.width_methods import VarianceTransfer
from growth.models import channel_counts
from growth.recipes.vt_transformer import vt_transformer_config
from growth.train import resolve_device
from step_timing import sync, write_result

#: name -> (recipe profile whose model it is, pairs per batch)
MODELS = {"bench Transformer-2-2 (d_model 64)": ("bench", 32), "paper Transformer-6-6 (d_model 512)": ("paper", 64)}
METHODS = {"net2net": "net2net", "vt (old weights kept)": VarianceTransfer(rescale_without_bn=False)}


def models(profile: str, vocab: int, length: int):
    """The model before and after the recipe's last growth (heads and FFNs half -> full), and its channels."""
    cfg = vt_transformer_config(profile)
    options = dict(d_model=cfg.d_model, head_dim=cfg.head_dim, dropout=cfg.dropout, norm=cfg.norm, max_len=length)
    torch.manual_seed(0)
    narrow = growth.build_model(cfg.model, num_classes=vocab, heads=cfg.heads // 2, d_ff=cfg.d_ff // 2, **options)
    wide = growth.build_model(cfg.model, num_classes=vocab, heads=cfg.heads, d_ff=cfg.d_ff, **options)
    return narrow, wide, channel_counts(wide)


def grow_seconds(narrow, channels, method, seed: int, device) -> float:
    work = copy.deepcopy(narrow)
    sync(device)
    start = time.perf_counter()
    growth.grow_width(work, channels=channels, method=method, noise=1e-3, generator=torch.Generator().manual_seed(seed))
    sync(device)
    return time.perf_counter() - start


def step_seconds(model, optimizer, x, y, device) -> float:
    sync(device)
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    sync(device)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/transformer_step_<device>.json)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    rounds = 2 if args.quick else args.rounds
    data = load_dataset("translation-synthetic", num_train=256, num_test=8, max_len=32, device=device)
    x_all, y_all = data.tensors("train")
    results = {}
    for name, (profile, pairs) in list(MODELS.items())[: 1 if args.quick else None]:
        narrow, wide, channels = models(profile, data.num_classes, x_all.shape[-1])
        narrow, wide = narrow.to(device), wide.to(device).train()
        x, y = x_all[:pairs], y_all[:pairs]
        optimizer = torch.optim.Adam(wide.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
        grows = {m: [] for m in METHODS}
        steps = []
        for r in range(rounds + 1):  # round 0 warms up; growths and steps alternate
            steps.append(step_seconds(wide, optimizer, x, y, device))
            for label, method in METHODS.items():
                grows[label].append(grow_seconds(narrow, channels, method, r, device))
        step = statistics.median(steps[1:])
        targets, padded = int((y != -100).sum()), y.numel()
        results[name] = {
            "params": {"before": sum(q.numel() for q in narrow.parameters()),
                       "after": sum(q.numel() for q in wide.parameters())},
            "growth": f"heads {channel_counts(narrow)['stages.0.0.attn'] // wide.stages[0][0].attn.head_dim} -> "
                      f"{channels['stages.0.0.attn'] // wide.stages[0][0].attn.head_dim} per attention, d_ff "
                      f"{channel_counts(narrow)['stages.0.0.ffn']} -> {channels['stages.0.0.ffn']}",
            "training_step_s": round(step, 6),
            "batch": {"pairs": pairs, "length": int(x.shape[-1]), "target_tokens": targets, "positions": padded},
            "target_tokens_per_s": round(targets / step, 1), "padded_tokens_per_s": round(padded / step, 1),
            "grow_s": {m: round(statistics.median(t[1:]), 6) for m, t in grows.items()},
            "grow_vs_training_step": {m: round(statistics.median(t[1:]) / step, 4) for m, t in grows.items()},
        }
        print(f"{name}: step {step * 1e3:.1f} ms, {targets / step:.0f} target tokens/s; growth "
              + ", ".join(f"{m} {v:.3f}x a step" for m, v in results[name]["grow_vs_training_step"].items()))
    write_result({"benchmark": "a Transformer width growth against one training step; tokens per second",
                  "goal": "a width growth step under one training step",
                  "met": {n: all(v < 1 for v in r["grow_vs_training_step"].values()) for n, r in results.items()},
                  "models": results, "rounds": rounds, "statistic": "median of the rounds after a warm-up",
                  "threads": torch.get_num_threads()},
                 args.out, f"transformer_step_{device.type}.json", device)


if __name__ == "__main__":
    main()
