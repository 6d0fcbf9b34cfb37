#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (after cuda/gpu/make-harness.sh built .gpu/):
# ours and PyTorch's on the same shapes, one after the other in one run.
#   bash cuda/gpu/bench.sh attention [lengths=8192,16384,32768] [repeats=10]
#   bash cuda/gpu/bench.sh prefill [lengths=16384,32768,65536] [hosts=4,8] [repeats=3]
#   bash cuda/gpu/bench.sh star [lengths=32768,65536] [hosts=4] [query=32] [new=32] [repeats=3] [gpus=0: all] [chunk=0: whole]
#     (ours only: star end to end with the query host on a GPU, CudaStarBench; its PyTorch peer is
#     cuda/gpu/star_reference.py (starref below); JAVA_OPTS=-Dstarattn.cuda.peerSync=false drops the explicit syncs)
#   bash cuda/gpu/bench.sh ring [lengths=32768,65536] [hosts=4] [query=32] [new=32] [repeats=3] [gpus=0: all] [chunk=0: whole] [modes=star,ring,ring-zigzag]
#     (ours only: CudaStarBench with ring and ring-zigzag phase 1 (CudaRing) beside star on the same model, hosts
#     and context, phase 2 the same; lines STAR / RING / RING-ZIGZAG; hosts=1 is dense. Not run on a GPU yet)
#   bash cuda/gpu/bench.sh compare [lengths=32768,65536] [gpus=2] [repeats=3]
#     (issue 8's comparison in one call: starref with GPUS processes, then ours with GPUS hosts on GPUS GPUs, the query
#     host on the last; the log in $OUT/compare.log and the ratio table from cuda/gpu/compare.py)
#   bash cuda/gpu/bench.sh million [lengths=131072,262144,524288,1048576] [budget_s=420] [configs=star8-b32k,star16-b32k,star16,star8,ring8@262144,zigzag8@262144,dense@131072]
#       [query=32] [new=32] [chunk=32768] [gpus=0: all]
#     (issue 27, CudaMillionBench: a Llama-3.2-1B-shaped random bf16 model; star with 8 and 16 hosts (block = anchor, and the
#     paper's fixed 32K block), ring and ring-zigzag with 8, dense; host h on GPU h % gpus, each host timed on its own (one
#     GPU: the hosts take turns; critical path = the slowest host), phase 2 over the hosts' caches; star/ring ratios beside
#     the FLOP model's. Prints the plan (FLOPs, GiB) first; skips what the budget's time or the GPU's memory cannot hold,
#     saying why; lengths small to large, lines printed as measured. The same command runs one host per GPU on 8 GPUs.
#     Without a GPU it prints the plan and stops.)
#   bash cuda/gpu/bench.sh starref [lengths=32768,65536] [gpus=2] [query=32] [gen=32] [repeats=3] [flags...]
#     (PyTorch only: the reference design's star under torch.distributed, one process per GPU;
#     gpus=1 is dense. No Java, so .gpu/ is not needed for it.)
set -o pipefail
G=${G:-.gpu}   # the harness folder (cuda/gpu/make-harness.sh); G=.gpu/NAME for one of several
[ "$1" = starref ] || . $G/java.sh
JAVA="$JAVA_BIN --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g ${JAVA_OPTS:-} -cp $CP"
case "$1" in
  attention)
    $JAVA dev.starattn.cuda.CudaAttentionBench "${2:-8192,16384,32768}" "${3:-10}" 2>&1 | grep -v incubator
    python3 cuda/gpu/sdpa_bench.py "${2:-8192,16384,32768}" "${3:-10}" ;;
  prefill)
    $JAVA dev.starattn.cuda.CudaPrefillBench "${2:-16384,32768,65536}" "${3:-4,8}" "${4:-3}" 2>&1 | grep -v incubator
    python3 cuda/gpu/prefill_bench.py "${2:-16384,32768,65536}" "${3:-4,8}" "${4:-3}" 2>&1 | grep -v Warning ;;
  star)
    $JAVA dev.starattn.cuda.CudaStarBench "${2:-32768,65536}" "${3:-4}" "${4:-32}" "${5:-32}" "${6:-3}" "${7:-0}" "${8:-0}" 2>&1 | grep -v incubator ;;
  ring)
    $JAVA dev.starattn.cuda.CudaStarBench "${2:-32768,65536}" "${3:-4}" "${4:-32}" "${5:-32}" "${6:-3}" "${7:-0}" "${8:-0}" "${9:-star,ring,ring-zigzag}" 2>&1 | grep -v incubator ;;
  million)
    $JAVA dev.starattn.cuda.CudaMillionBench "${2:-131072,262144,524288,1048576}" "${3:-420}" "${4:-star8-b32k,star16-b32k,star16,star8,ring8@262144,zigzag8@262144,dense@131072}" \
      "${5:-32}" "${6:-32}" "${7:-32768}" "${8:-0}" 2>&1 | grep -v incubator ;;
  compare)
    G2=${3:-2}
    { python3 -m torch.distributed.run --standalone --nproc_per_node="$G2" cuda/gpu/star_reference.py "${2:-32768,65536}" 32 32 "${4:-3}" 2>&1 \
        | grep -v Warning
      $JAVA dev.starattn.cuda.CudaStarBench "${2:-32768,65536}" "$G2" 32 32 "${4:-3}" "$G2" 0 2>&1 | grep -v incubator
    } | tee "${OUT:-.}/compare.log"
    python3 cuda/gpu/compare.py "${OUT:-.}/compare.log" ;;
  starref)
    python3 -m torch.distributed.run --standalone --nproc_per_node="${3:-2}" cuda/gpu/star_reference.py \
      "${2:-32768,65536}" "${4:-32}" "${5:-32}" "${6:-3}" "${@:7}" 2>&1 | grep -v Warning ;;
  *) echo "usage: bash cuda/gpu/bench.sh attention|prefill|star|ring|million|compare|starref [lengths] ..." >&2; exit 2 ;;
esac
