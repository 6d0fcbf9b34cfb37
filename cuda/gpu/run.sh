#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: bash .gpu/run.sh
# SECTIONS='star on GPUs' bash .gpu/run.sh runs only those self-check sections (comma-separated names).
set -o pipefail
G=.gpu
. $G/java.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/log.txt
CUB=$(find /usr /opt -name 'libcublas.so*' 2>/dev/null | head -20)
echo "cublas candidates: $CUB" | tee -a $OUT/log.txt
PYTHONUNBUFFERED=1 timeout 120 python3 $G/hf_oracle.py /tmp/hfrand 2>&1 | grep -v Warning | tail -3 | tee -a $OUT/log.txt
HF=/tmp/hfrand; [ -f $HF/ref_logits.f32 ] || HF=
timeout 260 $JAVA_BIN --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g -cp "$CP" \
  "-Dstarattn.selfcheck.sections=${SECTIONS:-}" dev.starattn.cuda.CudaSelfCheck $HF 2>&1 | grep -v 'incubator' | tee -a $OUT/log.txt
echo "exit ${PIPESTATUS[0]}" | tee -a $OUT/log.txt
# The CLI end to end: star over 3 hosts against the CPU: the query host on the CPU (--query-host cpu, 2 GPU hosts), then
# all 3 on the GPU(s), the query host too (the default: CudaStarQuery). Then ring, which is exact (the tokens of dense): the
# CPU's in-process ring, the GPU ring with the query host on the CPU (2 GPU hosts hold the context) and ring-zigzag with
# all 3 hosts on the GPU(s); then star-pass on the CPU, on the GPU(s) and on GPU hosts with the query host on the CPU (the
# same tokens up to a near tie); last dense on the CPU and on a GPU (the query host alone).
if [ -n "$HF" ] && [ -f $G/cli/starattn.jar ]; then
  # -cp, not -jar: kernels rebuilt on this machine (java.sh puts them first on $CP) reach the CLI too.
  python3 -c "import random; random.seed(3); print(' '.join(str(random.randrange(512)) for _ in range(900)))" > /tmp/ctx.txt
  echo "5 17 300 42 7" > /tmp/q.txt
  for d in cpu "cuda --query-host cpu" cuda "cpu --attention ring" "cuda --attention ring --query-host cpu" "cuda --attention ring-zigzag" \
      "cpu --attention star-pass" "cuda --attention star-pass" "cuda --attention star-pass --query-host cpu" \
      "cpu --attention dense" "cuda --attention dense"; do
    timeout 60 $JAVA_BIN --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$CP" dev.starattn.app.Main generate -m $HF \
      --context-tokens /tmp/ctx.txt --query-tokens /tmp/q.txt --hosts 3 -n 8 --json --device $d 2>&1 | grep -v incubator \
      | python3 -c "import sys,json; t=sys.stdin.read(); j=json.loads(t[t.index('{'):]); print('CLI --device', '$d', 'tokens', j['tokens'], 'timing', j['timing'])" 2>&1 | tee -a $OUT/log.txt
  done
fi
# serve --device cuda against serve on the CPU: the shipped model's held-out samples as documents, greedy answers
# compared, then two questions at once on the GPU server (cuda/gpu/serve_smoke.py).
if [ -f $G/cli/starattn.jar ] && [ -f models/starattn-tiny-q8_0.gguf ] && [ "${SERVE:-1}" = 1 ]; then
  SERVE_JAVA="$JAVA_BIN --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx16g -cp $CP dev.starattn.app.Main serve -m models/starattn-tiny-q8_0.gguf --hosts 4"
  $SERVE_JAVA --port 8101 > /tmp/serve-cpu.log 2>&1 &
  CPU_PID=$!
  $SERVE_JAVA --port 8102 --device cuda > /tmp/serve-cuda.log 2>&1 &
  GPU_PID=$!
  for i in $(seq 1 60); do
    curl -sf localhost:8101/health > /dev/null && curl -sf localhost:8102/health > /dev/null && break
    sleep 1
  done
  timeout 240 python3 cuda/gpu/serve_smoke.py http://localhost:8101 http://localhost:8102 ${SERVE_SAMPLES:-6} 2>&1 | tee -a $OUT/log.txt
  kill $CPU_PID $GPU_PID 2>/dev/null
  grep -v incubator /tmp/serve-cuda.log | head -5 | sed 's/^/serve-cuda.log: /' | tee -a $OUT/log.txt
fi
# eval --device cuda against eval on the CPU: the shipped model's stored 4K held-out texts, dense and star (4 hosts),
# predictions compared sample by sample: eval_model.sh's `agree` stage, in a folder of its own.
if [ -f $G/cli/starattn.jar ] && [ -f models/starattn-tiny-q8_0.gguf ] && [ "${EVAL:-1}" = 1 ]; then
  mkdir -p /tmp/eval-agree
  OUT=/tmp/eval-agree STAGES=agree AGREE_SAMPLES=${EVAL_SAMPLES:-3} bash cuda/gpu/eval_model.sh 2>&1 | tee -a $OUT/log.txt
fi
