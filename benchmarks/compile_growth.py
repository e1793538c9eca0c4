"""Does `torch.compile` pay off when the network grows? Every width change is a new architecture, so a
compiled model recompiles at every growth; the compiled steps must win back that time within a stage.

For each stage of a width schedule (the VT paper's kind: the model at `--fractions` of its full width),
one process times, alternating: `--steps` eager training steps, and the same steps of a freshly compiled
copy (the first step includes the compilation).  It records per stage the compile time, the steady
seconds a step of each, and the break-even: the steps a stage needs before compiling wins.  A stage of
an actual run has `steps per epoch x epochs` steps: where that exceeds the break-even, compile.

    python benchmarks/compile_growth.py                  # CPU (inductor needs a C++ compiler)
    python benchmarks/compile_growth.py --device cuda    # GPU, bf16 + channels_last (benchmarks/gpu_suite.sh)
    python benchmarks/compile_growth.py --quick --backend aot_eager   # tiny sizes, no code generation: checks it runs
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_timing import each_step_seconds, write_result  # noqa: E402

import growth  # noqa: E402
from growth.train import resolve_device  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default="ResNet-20")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=30, help="timed steps per stage and mode")
    p.add_argument("--quick", action="store_true", help="tiny sizes (2 stages, batch 8, 4 steps): checks it runs")
    p.add_argument("--backend", default="inductor", help="torch.compile's backend (inductor: the one that pays off; "
                                                         "aot_eager: traces and recompiles alike, generates no code)")
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/compile_growth_<device>.json)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    amp = device.type == "cuda"
    memory = torch.channels_last if amp else torch.contiguous_format
    fractions, batch, steps = ([0.5, 1.0], 8, 4) if args.quick else (args.fractions, args.batch_size, args.steps)
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=memory)
    y = torch.randint(0, 10, (batch,), device=device)
    rows = []
    for fraction in fractions:
        torch.manual_seed(0)
        model = growth.build_model(args.model, width=fraction, num_classes=10).to(device, memory_format=memory)
        eager = each_step_seconds(model, x, y, steps + 2, amp, device)[2:]
        torch._dynamo.reset()  # a new architecture: nothing cached from the previous stage
        compiled = each_step_seconds(torch.compile(model, backend=args.backend), x, y, steps + 2, amp, device)
        first, steady = compiled[0], statistics.median(compiled[2:])
        eager_step = statistics.median(eager)
        compile_seconds = first - steady
        gain = eager_step - steady
        rows.append({"fraction": fraction, "eager_step_seconds": round(eager_step, 5),
                     "compiled_step_seconds": round(steady, 5), "compile_seconds": round(compile_seconds, 3),
                     "speedup": round(eager_step / steady, 3),
                     "break_even_steps": round(compile_seconds / gain) if gain > 0 else None})
        print(f"width {fraction:.2f}: eager {eager_step * 1e3:.2f} ms, compiled {steady * 1e3:.2f} ms a step, "
              f"compile {compile_seconds:.1f} s, break-even {rows[-1]['break_even_steps']} steps")
    result = {
        "benchmark": "torch.compile across width growth: compile time against faster steps, per stage",
        "model": args.model, "batch_size": batch, "steps": steps, "stages": rows,
        "precision": "bf16 autocast, channels_last" if amp else "fp32",
        "reading": "compile a stage only if it runs more steps than break_even_steps (None: compiled is not faster)",
    }
    write_result(result, args.out, f"compile_growth_{device.type}.json", device, quick=args.quick, backend=args.backend)

if __name__ == "__main__":
    main()
