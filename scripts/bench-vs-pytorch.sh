#!/usr/bin/env bash
# ugrn's scGPT oracle against scGPT 0.2.4's own TransformerModel on PyTorch, in one run, on the
# same random whole-human-sized checkpoint (12 layers, 512 wide, 8 heads, vocabulary 60,697) and
# the same virtual cells (bin 1, one source at 20), at contexts 512 and 1200: readout against
# PyTorch's forward, the exact derivative against `torch.func.jvp`, with ratios and GFLOP/s, and
# a check that both compute the same values. Not part of CI: it installs PyTorch (5.4 GB with its
# CUDA libraries, which the CPU run does not use) and takes several minutes.
#
#   scripts/bench-vs-pytorch.sh [THREADS]     (default 2; run on an idle machine)
#
# Env: UGRN_BENCH_VENV (default target/bench-vs-pytorch/venv), UGRN_SCGPT_WHOLE_HUMAN (the folder
# with whole-human's args.json and census vocabulary; default ../shared/models/scgpt-whole-human-vocab).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads="${1:-2}"
venv="${UGRN_BENCH_VENV:-$repo/target/bench-vs-pytorch/venv}"
work="$repo/target/bench-vs-pytorch/checkpoint"

# `import scgpt` would run its __init__, which needs the trainer's dependencies; finding it is enough.
if ! "$venv/bin/python" -c 'import importlib.util, torch, safetensors, tqdm; assert importlib.util.find_spec("scgpt")' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch==2.15.0 numpy safetensors tqdm
    # scgpt's own requirements (scanpy, torchtext, wandb, …) serve its trainer, not the model.
    "$venv/bin/pip" install --quiet --no-deps scgpt==0.2.4
fi

rm -rf "$work" && mkdir -p "$work"
cd "$repo"
CANDLE_NUM_THREADS="$threads" RAYON_NUM_THREADS="$threads" \
    cargo bench --quiet -p ugrn-backbone-scgpt --bench scgpt -- --side-by-side "$work"
OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
    "$venv/bin/python" -W ignore "$repo/scripts/bench_vs_pytorch.py" "$work" "$threads"
