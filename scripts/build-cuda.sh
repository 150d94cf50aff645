#!/usr/bin/env bash
# Release build with CUDA: the host and every plugin, the backbones on candle's CUDA path, with
# the toolchain from scripts/cuda-toolchain.sh. Extra arguments go to both cargo runs.
#
# Two cargo runs because one cannot hold both: the host's cudarc opens the driver at run time
# (`dynamic-loading`, so `ugrn devices` runs where there is none) and candle's links it
# (`dynamic-linking`); cudarc refuses the two features together, and a single cargo run unifies
# them. Only the second run builds the backbones' plugin libraries (the first builds their rlibs
# for `ugrn-pretrain`, on the CPU), so either can be repeated alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/cuda-toolchain.sh >/dev/null
source .cuda-toolchain/env.sh
cargo build --release --workspace --exclude 'ugrn-backbone-*' --exclude ugrn-candle-shared \
    --exclude ugrn-tests --exclude 'ugrntest-*' --features ugrn/cuda "$@"
cargo build --release -p 'ugrn-backbone-*' --features cuda "$@"
