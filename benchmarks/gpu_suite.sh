#!/usr/bin/env bash
# Every GPU measurement of the scale issue in one go, for a session that is lent a GPU (the `device` tool:
# one command, 10 minutes at most, 15 minutes of device time a session, all tries counted).
#
#   OUT=/path/for/results bash benchmarks/gpu_suite.sh [SECONDS_FOR_THE_BOOK]
#
# Needs the package's environment installed (make install) on the GPU machine. Writes under $OUT:
#   hardware.json             nvidia-smi and torch's view of the GPU
#   loop_overhead_cuda.json   growth.train against a minimal hand-written loop (bf16, channels_last)
#   mfu_cuda.json             model FLOP utilisation of the large baselines' training steps
#   compile_growth_cuda.json  torch.compile's compile time against its faster steps, per growth stage
#   book/                     the bench book executed on the GPU (VT's Fig. 7 page first), as far as
#                             SECONDS_FOR_THE_BOOK (default 240) allows; runs are content-addressed, so a
#                             second call with the same $OUT/book carries on where the first stopped
#   book_times_cuda.json      per notebook, the runs' seconds (benchmarks/book_times.py), to set beside
#                             benchmarks/results/book_times_cpu.json (the committed 2-core CPU book)
# Each step's log is $OUT/<step>.log; a failed step is reported and the next one runs.
set -u
OUT=${OUT:?set OUT to the folder for the results}
BOOK_SECONDS=${1:-240}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_suite: no GPU here (torch.cuda.is_available() is False): nothing measured" | tee "$OUT/no_gpu.txt"
  exit 3
fi

step() {  # step NAME COMMAND...: run, log, report
  local name=$1; shift
  local start=$SECONDS
  if "$@" > "$OUT/$name.log" 2>&1; then
    echo "ok     $name ($((SECONDS - start)) s)"
  else
    echo "FAILED $name ($((SECONDS - start)) s): see $OUT/$name.log"
  fi
}

step hardware "$PY" -c "
import json, subprocess, torch
p = torch.cuda.get_device_properties(0)
smi = subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total,driver_version,clocks.max.sm', '--format=csv'],
                     capture_output=True, text=True).stdout
json.dump({'name': p.name, 'memory_gib': round(p.total_memory / 2**30, 1), 'count': torch.cuda.device_count(),
           'capability': list(torch.cuda.get_device_capability(0)), 'torch': torch.__version__,
           'cuda': torch.version.cuda, 'nvidia_smi': smi}, open('$OUT/hardware.json', 'w'), indent=1)"
step loop_overhead "$PY" benchmarks/loop_overhead.py --device cuda --out "$OUT/loop_overhead_cuda.json"
step mfu "$PY" benchmarks/mfu.py --device cuda --out "$OUT/mfu_cuda.json"
step compile_growth "$PY" benchmarks/compile_growth.py --device cuda --out "$OUT/compile_growth_cuda.json"
step book_fig7 timeout "$BOOK_SECONDS" "$PY" tools/run_notebooks.py --profile bench --kernels native \
  --executor gpus --out "$OUT/book" notebooks/vt_batch_adaptation.ipynb
step book timeout "$BOOK_SECONDS" "$PY" tools/run_notebooks.py --profile bench --kernels native \
  --executor gpus --out "$OUT/book" notebooks
step book_times "$PY" benchmarks/book_times.py "$OUT/book" --out "$OUT/book_times_cuda.json"
