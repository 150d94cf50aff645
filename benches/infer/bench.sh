#!/usr/bin/env bash
# The scale benchmark of `ugrn infer` (the README's "Large data"), not a test: a synthetic
# sparse atlas (CELLS × GENES, DENSITY stored), the streamed means of its X, then `ugrn infer`
# with the quickstart's GDT translator for TFS listed TFs of which KNOWN are in ugrn-mini's
# vocabulary, in one process and in SHARDS shards under Snakemake; wall time, peak resident
# memory (/usr/bin/time) and disk of each, and whether the shards merge into the one-process
# files. Environment (defaults): CELLS=100000 GENES=20000 DENSITY=0.05 TFS=2000 KNOWN="50 100"
# SHARDS=4 WORK=a temporary folder (kept when given).
#
#   bash benches/infer/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
CELLS=${CELLS:-100000} GENES=${GENES:-20000} DENSITY=${DENSITY:-0.05} TFS=${TFS:-2000}
KNOWN=${KNOWN:-50 100} SHARDS=${SHARDS:-4}
if [[ -n ${WORK:-} ]]; then mkdir -p "$WORK"; work=$(cd "$WORK" && pwd); else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
cargo build --quiet --release --workspace
bin=$root/target/release
measure() { # label, command...: prints "label: wall s, peak RSS MiB"
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/stdout"
    read -r wall rss < "$work/time"
    printf '%s: %s s, peak RSS %d MiB\n' "$label" "$wall" $((rss / 1024))
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); $("$bin/ugrn" --version)"

# The atlas: ugrn-mini's genes first (so the model knows them), the rest SYN<k>.
python3 -c 'import json, sys; print("\n".join(k for k in json.load(open(sys.argv[1])) if not k.startswith("<")))' \
    models/ugrn-mini/vocab.json > "$work/genes.txt"
atlas=$work/atlas.h5ad
measure "synthetic h5ad" "$bin/synthetic-h5ad" --cells "$CELLS" --genes "$GENES" --density "$DENSITY" \
    --genes-from "$work/genes.txt" --output "$atlas"
cat "$work/stdout"
echo "atlas on disk: $(du -h "$atlas" | cut -f1) (dense f32 would be $((CELLS * GENES * 4 / 1048576)) MiB)"
measure "streamed means of every gene over every cell" "$bin/h5ad-means" "$atlas"
cat "$work/stdout"

"$bin/ugrn" --quiet run workflows/quickstart.toml --output "$work/quickstart" > /dev/null
translator=$work/quickstart/translators/STRING/GDT
# Known TFs: the shipped mouse list in ugrn-mini's vocabulary; the listed rest are SYN genes
# of the atlas, which the model does not know (reported and skipped, as a user's would be).
grep -vx '#.*' data/tfs/mouse-mgi.txt | tr '[:lower:]' '[:upper:]' | grep -Fxf "$work/genes.txt" > "$work/known-tfs.txt" || true
echo "known TFs available: $(wc -l < "$work/known-tfs.txt")"
# One block per shard for the largest run, and the same blocks in one process: a block's cells
# batch together, so equal files need equal blocks.
last=${KNOWN##* }
block_pairs=$(( (last + SHARDS - 1) / SHARDS * ($(wc -l < "$work/genes.txt") - 1) ))
echo "blocks of $block_pairs pairs"
for k in $KNOWN; do
    { head -n "$k" "$work/known-tfs.txt"; seq -f 'SYN%.0f' "$((GENES - TFS + k))" "$((GENES - 1))"; } > "$work/tfs-$k.txt"
    measure "one process, $TFS TFs listed, $k known" "$bin/ugrn" --quiet infer --translator "$translator" \
        --expression "$atlas" --tfs "$work/tfs-$k.txt" --block-pairs "$block_pairs" --cache "$work/cache-$k" \
        --output "$work/infer-$k"
    pairs=$(($(wc -l < "$work/infer-$k/edges.tsv") - 1))
    echo "  $pairs pairs, $(awk -v p="$pairs" -v s="$wall" 'BEGIN {printf "%.0f", p / s}') pairs/s;" \
        "disk: output $(du -sh "$work/infer-$k" | cut -f1), feature cache $(du -sh "$work/cache-$k" | cut -f1)"
done

# Shards of the last run under Snakemake, each timed by a wrapper.
if python3 -m venv "$work/venv" && "$work/venv/bin/pip" install --quiet snakemake; then
    cat > "$work/timed-ugrn" <<WRAP
#!/usr/bin/env bash
exec /usr/bin/time -f "%e %M" -a -o "$work/shard-times" "$bin/ugrn" "\$@"
WRAP
    chmod +x "$work/timed-ugrn"
    rm -f "$work/shard-times"
    measure "$SHARDS shards under Snakemake --cores 2 (shards, then merge)" "$work/venv/bin/snakemake" \
        -s workflows/snakemake/Snakefile --cores 2 --directory "$work" --quiet rules \
        --config ugrn="$work/timed-ugrn" translator="$translator" expression="$atlas" \
        tfs_args="--tfs $work/tfs-$last.txt" infer_args="--block-pairs $block_pairs" shards="$SHARDS" \
        output="$work/smk"
    awk '{printf "  job %d: %s s, peak RSS %d MiB\n", NR, $1, $2 / 1024}' "$work/shard-times"
    diff -r -x timings.tsv -x .snakemake_timestamp "$work/infer-$last" "$work/smk/network" \
        && echo "  merged shards: the same files as one process"
else
    echo "SKIPPED: Snakemake could not be installed from PyPI"
fi
