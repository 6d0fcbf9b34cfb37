#!/usr/bin/env bash
# Rebuilds the kernels resource (needs nvcc; the Maven build does not). sm_90a machine code for
# Hopper (the "a" target has wgmma, which flash_attn_wg needs) plus compute_90 PTX that the driver
# compiles for any newer GPU (there the wgmma kernels are traps, and CudaAttention does not pick them).
set -euo pipefail
cd "$(dirname "$0")"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/bin/nvcc)}
"$NVCC" -O3 -std=c++17 -fatbin \
  -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90 \
  -Xptxas -v \
  -o src/main/resources/dev/starattn/cuda/kernels.fatbin src/main/cuda/kernels.cu
