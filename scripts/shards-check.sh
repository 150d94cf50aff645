#!/usr/bin/env bash
# CI: `ugrn infer` in 3 shards under Snakemake (installed from PyPI into a throwaway venv)
# must write exactly the files one process writes (timings.tsv aside). Without Snakemake it
# prints SKIPPED and runs the shards and the merge itself.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ugrn=$root/target/release/ugrn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$ugrn" --quiet run workflows/quickstart.toml --output "$work/run" > /dev/null
translator=$work/run/translators/STRING/GDT
expression=$root/data/example/mDC-100cells.h5ad
# Ten of the example's TFs keep it quick: each run scores ten sources.
head -n 10 data/example/mDC-tfs.txt > "$work/tfs.txt"
# Small blocks, so that each shard holds several.
infer_args="--block-pairs 3000"
"$ugrn" --quiet infer --translator "$translator" --expression "$expression" --tfs "$work/tfs.txt" $infer_args \
    --cache "$work/cache-whole" --output "$work/whole"

if python3 -m venv "$work/venv" && "$work/venv/bin/pip" install --quiet snakemake; then
    "$work/venv/bin/snakemake" --version
    "$work/venv/bin/snakemake" -s workflows/snakemake/Snakefile --cores 2 --directory "$work" --quiet rules \
        --config ugrn="$ugrn" translator="$translator" expression="$expression" tfs_args="--tfs $work/tfs.txt" \
        infer_args="$infer_args" shards=3 output="$work/smk"
    merged=$work/smk/network
else
    echo "SKIPPED: Snakemake could not be installed from PyPI; the shards run and merge without it"
    for k in 1 2 3; do
        "$ugrn" --quiet infer --translator "$translator" --expression "$expression" --tfs "$work/tfs.txt" $infer_args \
            --shard "$k/3" --cache "$work/cache-$k" --output "$work/shards/$k"
    done
    "$ugrn" --quiet merge "$work/shards/1" "$work/shards/2" "$work/shards/3" --output "$work/merged"
    merged=$work/merged
fi
# Snakemake marks a finished directory output with a file of its own.
diff -r -x timings.tsv -x .snakemake_timestamp "$work/whole" "$merged"
echo "3 shards merged: the same files as one process ($(($(wc -l < "$merged/edges.tsv") - 1)) edges)"
