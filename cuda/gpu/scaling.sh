#!/usr/bin/env bash
# Issue 9's matrix on a machine with several GPUs (nvidia-h200-x4 / -x8), from the repository root after
# cuda/gpu/make-harness.sh built .gpu/ (carry [".gpu"]):
#   bash cuda/gpu/scaling.sh GPUS [lengths=32768,65536,131072,262144] [repeats=2] [parts=dense,multi]
# For each context length: dense on one GPU (CudaStarBench with hosts=1), then star, ring and ring-zigzag with
# GPUS hosts on GPUS GPUs (block = anchor = N / GPUS), phase 1 and end to end (32-token query, 32 greedy
# tokens), each with FlopModel's prediction ("model" lines). Appends to $OUT/scaling.log; tabulate with
#   python3 cuda/gpu/scaling_table.py $OUT/scaling.log [more logs] > table.md   (and scaling.png where matplotlib is)
# A device call is at most 10 minutes: 256K takes several, so give one length (or one part) per call, e.g.
#   bash cuda/gpu/scaling.sh 8 262144 1 dense ; bash cuda/gpu/scaling.sh 8 262144 1 multi
# STARATTN_SCALING_CHUNK (default 8192) is the prefill chunk of dense and of every star host (ring pushes each
# host's share at once); chunks keep dense's activations at 256K within one GPU.
set -o pipefail
GPUS=${1:?usage: bash cuda/gpu/scaling.sh GPUS [lengths] [repeats] [parts]}
LENGTHS=${2:-32768,65536,131072,262144}
REPEATS=${3:-2}
PARTS=${4:-dense,multi}
CHUNK=${STARATTN_SCALING_CHUNK:-8192}
LOG=${OUT:-.}/scaling.log
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee -a "$LOG"
for n in ${LENGTHS//,/ }; do
  if [[ ",$PARTS," == *",dense,"* ]]; then
    bash cuda/gpu/bench.sh ring "$n" 1 32 32 "$REPEATS" 1 "$CHUNK" star 2>&1 | tee -a "$LOG"
  fi
  if [[ ",$PARTS," == *",multi,"* ]]; then
    bash cuda/gpu/bench.sh ring "$n" "$GPUS" 32 32 "$REPEATS" "$GPUS" "$CHUNK" star,ring,ring-zigzag 2>&1 | tee -a "$LOG"
  fi
done
