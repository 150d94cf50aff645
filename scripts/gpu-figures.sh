#!/usr/bin/env bash
# Runs on a GPU machine from an unpacked bundle of scripts/gpu-bundle.sh (no Rust needed there),
# from the root of a checkout of the same commit. Writes into OUT_DIR (default ./gpu-figures):
#   devices.txt            `ugrn devices`
#   test-<crate>-integration.txt  the backbones' parity tests, their CUDA ones included (f32, bf16)
#   scgpt-<dtype>.md       virtual cells/s, readout and derivative, at contexts 3, 512 and 1200
#   gdt-<dtype>.md         GDT (T = 8) wall time over every hESC TFs+500 source, `dataset` context,
#                          on a model of scGPT whole-human's size (seeded random weights)
#   quickstart/            workflows/quickstart.toml on cuda:0 (the embedded ugrn-mini)
#   summary.txt            each step's exit status
# A failing step is recorded and the next one still runs; the script exits non-zero if any did.
# Further arguments pick steps (devices, tests, oracle, gdt, quickstart; default all), so a
# machine with a per-command time limit can take them in several calls.
set -uo pipefail
bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mkdir -p "${1:-gpu-figures}" && cd "${1:-gpu-figures}" && pwd)"
shift || true
steps=" ${*:-devices tests oracle gdt quickstart} "
wanted() { [[ "$steps" == *" $1 "* ]]; }

# CUDA 13's runtime and cuBLAS from pip (PyTorch's cu130 wheels), where the system has none.
if lib="$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))' 2>/dev/null)"; then
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export UGRN_SCGPT_FIXTURE="$bundle/data/scgpt-tiny"
export UGRN_GENEFORMER_FIXTURE="$bundle/data/geneformer-tiny"
export UGRN_SCGPT_WHOLE_HUMAN="$bundle/data/scgpt-whole-human-vocab"
export UGRN_BEELINE="$bundle/data/beeline"

failed=0
step() {
    local name="$1" file="$2"
    shift 2
    local start=$SECONDS
    "$@" >"$out/$file" 2>&1
    local status=$?
    echo "$name: exit $status, $((SECONDS - start)) s" | tee -a "$out/summary.txt"
    [ "$status" -eq 0 ] || failed=1
}

touch "$out/summary.txt"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1
if wanted devices; then
    step devices devices.txt "$bundle/bin/ugrn" --plugins "$bundle/plugins" devices
fi
if wanted tests; then
    for test in "$bundle"/tests/*; do
        step "$(basename "$test")" "test-$(basename "$test").txt" "$test" parity:: --test-threads 1
    done
fi
if wanted oracle; then
    for dtype in f32 bf16; do
        step "scgpt bench $dtype" "scgpt-$dtype.md" "$bundle/benches/backbone-scgpt-scgpt" --device cuda:0 \
            --dtype "$dtype"
    done
fi
if wanted gdt; then
    # The host's batch budget: 80% of the GPU's free memory.
    free_mib="$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits -i 0 2>/dev/null | head -1)"
    budget=$(( ${free_mib:-1280} * 8 / 10 ))
    for dtype in f32 bf16; do
        step "gdt every hESC source $dtype" "gdt-$dtype.md" "$bundle/benches/probes-probes" --model whole-human \
            --contexts dataset --pairs all --probes gdt --runs 3 --device cuda:0 --dtype "$dtype" --budget-mib "$budget"
    done
fi
if wanted quickstart; then
    # Beside the original, so its relative paths still hold.
    workflow=workflows/quickstart-cuda0.toml
    sed -e 's/^device = "cpu"/device = "cuda:0"/' workflows/quickstart.toml >"$workflow"
    step "quickstart on cuda:0" quickstart.txt "$bundle/bin/ugrn" --plugins "$bundle/plugins" run "$workflow" \
        --output "$out/quickstart" --force
    rm -f "$workflow"
fi
exit $failed
