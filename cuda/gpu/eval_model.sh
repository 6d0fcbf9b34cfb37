#!/usr/bin/env bash
# The shipped model scored in our engine on a GPU (`starattn eval --device cuda`), for models/MODEL_CARD.md. Runs on
# the GPU machine from the repository root, after `WITH_CLI=lean bash cuda/gpu/make-harness.sh` here (carry .gpu):
#   bash cuda/gpu/eval_model.sh
# Stages, in this order (STAGES=a,b picks some; each has its own time limit, and what it scored before being cut off
# is kept: eval writes each prediction as it is scored):
#   agree   eval --device cpu against --device cuda on the stored 4K texts (AGREE_SAMPLES per task, default 2), dense
#           and star (4 hosts); run.sh runs this stage too
#   fresh   16K niah_multikey_2/3, held-out samples 40-119 and 220-259 (no choice of the shipped file looked at
#           them): dense, star with 4 hosts and with 8 (block = anchor = N/hosts)
#   stored  every sample models/heldout.jsonl stores texts for (11 tasks; 10 at 4K, 4 at 16K): dense, star 4 and 8
#   seen    16K niah_multikey_2/3 samples 120-219 and 260-359 (PyTorch's answers in tools/train/TRAINING_LOG.md), dense
#   large   16K niah_multikey_2/3 samples 400-899, never generated before: dense, star 4 and 8
#   single  niah_single_1/2/3 at 4K and 16K, samples 400-499: dense and star 4
#   anchor  the anchor's effect (--preset no-anchor: dense, star, star without anchor; 4 hosts, then 8): vt at 4K and
#           16K, samples 400-499, and 16K niah_multikey_3 samples 400-599
# Results: $OUT/log.txt (scores per task and configuration) and $OUT/predictions.tar.gz (each stage's
# predictions.jsonl and report.md: the device tool returns few files); compare afterwards with
# cuda/gpu/eval_agreement.py and tools/eval/heldout_agreement.py.
set -o pipefail
. .gpu/java.sh
MODEL=${MODEL:-models/starattn-tiny-q8_0.gguf}
STAGES=${STAGES:-agree,fresh,stored,seen,large,single,anchor}
AGREE_SAMPLES=${AGREE_SAMPLES:-2}
EVAL="$JAVA_BIN --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp $CP dev.starattn.app.Main eval -m $MODEL"
DATA=/tmp/eval-data
mkdir -p $DATA
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/log.txt

# One eval run: stage name, time limit in s, then eval's own arguments. Keeps the last lines (the report's table).
run_eval() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout $limit $EVAL --out $OUT/$name "$@" 2>&1 | grep -v incubator | tr '\r' '\n' | grep -v '^\[eval\]' | tail -40 > $OUT/$name.last.txt
  echo "== $name ($*): rc ${PIPESTATUS[0]} in $(( $(date +%s) - t0 )) s" | tee -a $OUT/log.txt
  # from the predictions themselves, so that a run cut off by its time limit still says what it scored
  [ -f $OUT/$name/predictions.jsonl ] && python3 -c "
import collections, json
c = collections.defaultdict(lambda: [0, 0.0])
for l in open('$OUT/$name/predictions.jsonl'):
    p = json.loads(l); k = (p['task'], p['length'], p['config']); c[k][0] += 1; c[k][1] += p['score']
for (t, n, cfg), (k, s) in sorted(c.items()): print(f'  {t} @{n} [{cfg}]: {100 * s / k:.1f} % of {k}')" 2>&1 | tee -a $OUT/log.txt
}

has() { [[ ",$STAGES," == *",$1,"* ]]; }

if has agree || has stored; then
  python3 tools/eval/heldout_agreement.py data $DATA/stored.jsonl > /dev/null
fi
if has agree; then
  python3 -c "import json; [print(l, end='') for l in open('$DATA/stored.jsonl') if json.loads(l)['target_length'] == 4096]" > $DATA/agree.jsonl
  run_eval agree-cuda 120 --data $DATA/agree.jsonl --samples $AGREE_SAMPLES --attention dense,star --hosts 4 --device cuda
  run_eval agree-cpu 200 --data $DATA/agree.jsonl --samples $AGREE_SAMPLES --attention dense,star --hosts 4 --device cpu
  python3 cuda/gpu/eval_agreement.py $OUT/agree-cpu $OUT/agree-cuda 2>&1 | tee -a $OUT/log.txt
fi
if has fresh; then
  python3 tools/eval/heldout_texts.py $DATA/fresh-a.jsonl niah_multikey_2,niah_multikey_3 16384 40 80 > /dev/null
  python3 tools/eval/heldout_texts.py $DATA/fresh-b.jsonl niah_multikey_2,niah_multikey_3 16384 220 40 > /dev/null
  # eval --data groups by task and length, so the two ranges of a task form one group of 120
  python3 -c "
import json
rows = [json.loads(l) for f in ('$DATA/fresh-a.jsonl', '$DATA/fresh-b.jsonl') for l in open(f)]
rows.sort(key=lambda r: (r['task'], r['index']))
print(''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows), end='')" > $DATA/fresh.jsonl
  run_eval fresh 200 --data $DATA/fresh.jsonl --samples 120 --attention dense,star --hosts 4 --device cuda
  run_eval fresh 150 --data $DATA/fresh.jsonl --samples 120 --attention star --hosts 8 --device cuda
fi
if has stored; then
  run_eval stored 60 --data $DATA/stored.jsonl --samples 10 --attention dense,star --hosts 4 --device cuda
  run_eval stored 40 --data $DATA/stored.jsonl --samples 10 --attention star --hosts 8 --device cuda
fi
if has seen; then
  python3 tools/eval/heldout_texts.py $DATA/seen-a.jsonl niah_multikey_2,niah_multikey_3 16384 120 100 > /dev/null
  python3 tools/eval/heldout_texts.py $DATA/seen-b.jsonl niah_multikey_2,niah_multikey_3 16384 260 100 > /dev/null
  cat $DATA/seen-a.jsonl $DATA/seen-b.jsonl > $DATA/seen.jsonl
  run_eval seen 60 --data $DATA/seen.jsonl --samples 200 --attention dense --device cuda
fi
if has large; then
  python3 tools/eval/heldout_texts.py $DATA/large.jsonl niah_multikey_2,niah_multikey_3 16384 400 500 > /dev/null
  run_eval large 190 --data $DATA/large.jsonl --samples 500 --attention dense,star --hosts 4 --device cuda
  run_eval large 150 --data $DATA/large.jsonl --samples 500 --attention star --hosts 8 --device cuda
fi
if has single; then
  python3 tools/eval/heldout_texts.py $DATA/single-4k.jsonl niah_single_1,niah_single_2,niah_single_3 4096 400 100 > /dev/null
  python3 tools/eval/heldout_texts.py $DATA/single-16k.jsonl niah_single_1,niah_single_2,niah_single_3 16384 400 100 > /dev/null
  cat $DATA/single-4k.jsonl $DATA/single-16k.jsonl > $DATA/single.jsonl
  run_eval single 100 --data $DATA/single.jsonl --samples 100 --attention dense,star --hosts 4 --device cuda
fi
if has anchor; then
  python3 tools/eval/heldout_texts.py $DATA/anchor-a.jsonl vt 4096 400 100 > /dev/null
  python3 tools/eval/heldout_texts.py $DATA/anchor-b.jsonl vt 16384 400 100 > /dev/null
  python3 tools/eval/heldout_texts.py $DATA/anchor-c.jsonl niah_multikey_3 16384 400 200 > /dev/null
  cat $DATA/anchor-a.jsonl $DATA/anchor-b.jsonl $DATA/anchor-c.jsonl > $DATA/anchor.jsonl
  run_eval anchor 200 --data $DATA/anchor.jsonl --samples 200 --preset no-anchor --hosts 4 --device cuda
  run_eval anchor 160 --data $DATA/anchor.jsonl --samples 200 --preset no-anchor --hosts 8 --device cuda
fi
# One archive instead of a folder per stage (the device tool returns a limited number of files).
(cd $OUT && tar czf predictions.tar.gz $(ls -d */ 2>/dev/null | tr -d /) && rm -rf $(ls -d */ 2>/dev/null) *.last.txt)
ls -la $OUT
