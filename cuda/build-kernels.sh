#!/usr/bin/env bash
# Rebuilds the kernels resource (needs nvcc; the Maven build does not). sm_90 machine code for
# Hopper plus compute_90 PTX that the driver compiles for any newer GPU.
set -euo pipefail
cd "$(dirname "$0")"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/bin/nvcc)}
"$NVCC" -O3 -std=c++17 -fatbin \
  -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90 \
  -Xptxas -v \
  -o src/main/resources/dev/starattn/cuda/kernels.fatbin src/main/cuda/kernels.cu
