#!/usr/bin/env bash
# Regenerates the planted benchmark's data and model (see README.md here):
#   bash data/planted/make.sh [ugrn executable]
# Four random networks of 100 genes (disjoint names N1G…N4G), 1500 cells each, with ugrn
# simulate's defaults; then models/ugrn-planted pretrained on all four with ugrn pretrain's
# defaults, only max_seq_len (every gene of a cell, plus <cls>) and seed given.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ugrn="${1:-$repo/target/release/ugrn}"
for n in 1 2 3 4; do
    "$ugrn" simulate --output "$here/net$n" --gene-prefix "N${n}G" --seed "$n" --force
done
if [[ "${UGRN_PLANTED_DATA_ONLY:-}" != 1 ]]; then
    # From the repo root, so that the corpora are named by their paths in the repo.
    cd "$repo"
    "$ugrn" pretrain --output models/ugrn-planted --force \
        --expression data/planted/net1/ExpressionData.csv.gz --expression data/planted/net2/ExpressionData.csv.gz \
        --expression data/planted/net3/ExpressionData.csv.gz --expression data/planted/net4/ExpressionData.csv.gz \
        --set max_seq_len=101 --set seed=0
fi
