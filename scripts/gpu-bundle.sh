#!/usr/bin/env bash
# Packs what a GPU machine without Rust needs to check and measure the CUDA build into
# gpu-bundle.tar.xz (git-ignored, about 40 MB): the CUDA `ugrn` and plugins, the backbones'
# parity tests and the two benches built with CUDA, the fixtures, scGPT whole-human's args and
# vocabulary, BEELINE hESC (STRING, TFs+500), and scripts/gpu-figures.sh to run it all.
#
# On the GPU machine, in a checkout of the same commit (the quickstart reads its data there):
#     mkdir -p /tmp/ugrn-gpu && tar xJf gpu-bundle.tar.xz -C /tmp/ugrn-gpu
#     /tmp/ugrn-gpu/gpu-figures.sh OUT_DIR
#
# Env: UGRN_SHARED (the folder with fixtures/, models/ and data/beeline/; default ../shared).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shared="${UGRN_SHARED:-../shared}"
target="${CARGO_TARGET_DIR:-target}"
scripts/build-cuda.sh
source .cuda-toolchain/env.sh

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,plugins,tests,benches,data}

# Copies the executables of targets named `$2...` that cargo reports building (its JSON messages
# on stdin) into folder `$1`, as `<crate folder>-<target>`: both backbones name theirs `integration`.
copy_executables() {
    python3 -c '
import json, os, shutil, sys
folder, names = sys.argv[1], sys.argv[2:]
for line in sys.stdin:
    m = json.loads(line)
    target = m.get("target", {}).get("name")
    if m.get("reason") == "compiler-artifact" and m.get("executable") and target in names:
        crate = os.path.basename(os.path.dirname(m["manifest_path"]))
        shutil.copy(m["executable"], f"{folder}/{crate}-{target}")
' "$@"
}
cargo test --release -p 'ugrn-backbone-*' --features cuda --no-run --message-format=json \
    | copy_executables "$stage/tests" integration
cargo bench --no-run -p ugrn-backbone-scgpt --features cuda --message-format=json \
    | copy_executables "$stage/benches" scgpt
cargo bench --no-run -p ugrn-probe-bench --features cuda --message-format=json \
    | copy_executables "$stage/benches" probes

cp "$target/release/ugrn" "$stage/bin/"
cp "$target"/release/libugrn_*.so "$stage/plugins/"
cp scripts/gpu-figures.sh "$stage/"
cp -r "$shared/fixtures/scgpt-tiny" "$shared/fixtures/geneformer-tiny" "$stage/data/"
mkdir -p "$stage/data/scgpt-whole-human-vocab"
cp "$shared"/models/scgpt-whole-human-vocab/{args.json,default_census_vocab.json} "$stage/data/scgpt-whole-human-vocab/"
hesc="benchmark_datasets/STRING Dataset/hESC/TFs+500"
mkdir -p "$stage/data/beeline/$hesc"
cp "$shared/data/beeline/$hesc"/* "$stage/data/beeline/$hesc/"

tar cJf gpu-bundle.tar.xz.part -C "$stage" .
mv gpu-bundle.tar.xz.part gpu-bundle.tar.xz
ls -l gpu-bundle.tar.xz
