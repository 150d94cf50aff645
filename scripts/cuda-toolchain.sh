#!/usr/bin/env bash
# Installs the CUDA toolchain a `cuda` build needs from PyPI wheels into .cuda-toolchain/
# (git-ignored) and writes .cuda-toolchain/env.sh, the environment to source before building.
# No system CUDA, GPU or nvidia-smi is needed. Re-running is quick: the wheels are fetched again
# only when the pins change.
set -euo pipefail

# CUDA 13.0 (update 2). PyPI's CUDA 12 nvcc wheels hold ptxas alone; CUDA 13's hold the whole
# compiler. 13.0 is also what the GPU machines run: driver 580 (it JIT-compiles PTX no newer than
# 13.0's), nvcc 13.0, and PyTorch cu130 with these libraries' .so.13 files.
PINS=(
    nvidia-cuda-nvcc==13.0.88     # nvcc, ptxas, fatbinary, nvlink
    nvidia-cuda-crt==13.0.88      # nvcc's crt/ headers
    nvidia-nvvm==13.0.88          # cicc and libdevice
    nvidia-cuda-runtime==13.0.96  # cudart; cuda.h, cuda_runtime.h, cuda_fp16.h, cuda_bf16.h
    nvidia-cuda-cccl==13.0.85     # cub, thrust, cuda/std
    nvidia-cuda-nvrtc==13.0.88
    nvidia-cublas==13.1.0.3
    nvidia-curand==10.4.0.35
)
# Hopper (H100, H200). candle's kernel builder turns 90 into sm_90a; it reads this variable
# instead of asking nvidia-smi.
COMPUTE_CAP=90

prefix=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cuda-toolchain
# Every CUDA 13 wheel installs into nvidia/cu13/, which nvcc takes as its root (bin/, include/,
# lib/, nvvm/).
root=$prefix/site/nvidia/cu13

if [[ ! -x $root/bin/nvcc || "$(cat "$prefix/pins" 2>/dev/null)" != "${PINS[*]}" ]]; then
    rm -rf "$prefix/site"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$prefix/site" "${PINS[@]}"
    printf '%s' "${PINS[*]}" >"$prefix/pins"
fi

# The wheels hold versioned libraries only (libcublas.so.13); the linker's -lcublas wants the
# plain name.
for lib in "$root"/lib/lib*.so.*; do
    name=$(basename "$lib")
    ln -sfn "$name" "$root/lib/${name%%.so.*}.so"
done

# libcuda comes with the driver, not in a wheel. Link against a stub that defines every entry
# point cuda.h declares, as a CUDA toolkit's lib64/stubs/libcuda.so does; at run time the
# driver's libcuda.so.1 answers. cudarc searches lib/stubs under $CUDA_HOME.
stub=$root/lib/stubs/libcuda.so
if [[ ! -e $stub ]]; then
    mkdir -p "$root/lib/stubs"
    # The names as declared, the legacy ones (without _v2), and the per-thread-stream ones.
    for defines in "" -D__CUDA_API_VERSION_INTERNAL -DCUDA_API_PER_THREAD_DEFAULT_STREAM; do
        # shellcheck disable=SC2086 # an empty $defines must vanish
        gcc -E -P $defines -I"$root/include" "$root/include/cuda.h"
    done | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d '( \t' | sort -u |
        sed 's/.*/void &(void) {}/' >"$stub.c"
    gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$stub.c"
fi

cat >"$prefix/env.sh" <<ENV
# Written by scripts/cuda-toolchain.sh: source it before a \`cuda\` build.
export CUDA_HOME=$root CUDA_PATH=$root CUDA_ROOT=$root
export PATH=$root/bin:\$PATH
export CUDA_COMPUTE_CAP=$COMPUTE_CAP
ENV
echo "CUDA $("$root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p') for sm_$COMPUTE_CAP in $root"
echo "source $prefix/env.sh"
