#!/usr/bin/env bash
# Whole-process `generate` of starattn and llama.cpp on the same GGUF and the same prompt token ids:
# what a user who runs the command once waits for, JVM start and warm-up included.
#   tools/bench/cold-generate.sh [MODEL.gguf] [PROMPTS] [DECODE] [REPEATS] [KV]
# (called by tools/bench/vs-llamacpp.sh --cold). PROMPTS is a comma-separated list of prompt lengths.
# Each repeat runs both, alternating which goes first so that a drift in the machine's load falls on
# both; the table gives medians of wall, CPU seconds (user+sys) and peak RSS (GNU time's maximum
# resident set), and the load average when the runs ended, since the machine may be shared.
# STARATTN_JAVA_OPTS, when set, is passed through to starattn's launcher as usual.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:-}"; prompts="${2:-2048,8192}"; decode="${3:-64}"; repeats="${4:-5}"; kv="${5:-f16}"
threads="$(nproc)"
[ -x /usr/bin/time ] || { echo "cold-generate: needs GNU time at /usr/bin/time" >&2; exit 2; }
if [ -z "$model" ]; then
  model="$HOME/.cache/starattn/random-125m-q8_0.gguf"
  [ -f "$model" ] || ./starattn bench engine --random 125m --weights q8_0 --prompt 16 --decode 1 --repeats 1 >/dev/null
fi
[ -d oracle/node_modules ] || (cd oracle && npm ci --no-audit --no-fund)
./starattn --version >/dev/null  # builds the jar (and the launcher's caches) before anything is timed
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

# The same pseudo-random ids as oracle/llamacpp-bench.mjs (ids 3.. avoid control tokens); the last id
# is starattn's query, the others its context: both engines see one prompt of N tokens.
write_tokens() {  # N
  python3 - "$1" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
s, ids = 1, []
for _ in range(n):
    s = (s * 1103515245 + 12345) % 2147483648
    ids.append(3 + s % (32000 - 3))
open(f"{work}/prompt-{n}.txt", "w").write(" ".join(map(str, ids)))
open(f"{work}/context-{n}.txt", "w").write(" ".join(map(str, ids[:-1])))
open(f"{work}/query-{n}.txt", "w").write(str(ids[-1]))
PY
}

timed() {  # OUT_PREFIX command...
  local out=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" "$@" >"$out.json" 2>"$out.err" || {
    echo "cold-generate: failed: $*" >&2; cat "$out.err" >&2; exit 1; }
}
run_starattn() {  # N R
  timed "$work/starattn-$1-$2" ./starattn generate -m "$model" --context-tokens "$work/context-$1.txt" \
    --query-tokens "$work/query-$1.txt" -n "$decode" --attention dense --hosts 1 --kv-type "$kv" --json
}
run_llamacpp() {  # N R
  timed "$work/llamacpp-$1-$2" node oracle/llamacpp-generate.mjs "$model" "$work/prompt-$1.txt" "$decode" "$threads"
}

IFS=, read -r -a lengths <<<"$prompts"
for n in "${lengths[@]}"; do
  write_tokens "$n"
  for r in $(seq 1 "$repeats"); do
    if [ $((r % 2)) = 1 ]; then run_starattn "$n" "$r"; run_llamacpp "$n" "$r"
    else run_llamacpp "$n" "$r"; run_starattn "$n" "$r"; fi
    echo "prompt $n: repeat $r/$repeats done" >&2
  done
  uptime | sed 's/.*load/load/' >"$work/load-$n.txt"
done

python3 - "$work" "$prompts" "$repeats" "$decode" "$kv" "$threads" <<'PY'
import json, statistics, sys
work, prompts, repeats, decode, kv, threads = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def runs(engine, n):
    rows = []
    for r in range(1, repeats + 1):
        wall, user, sys_, rss = open(f"{work}/{engine}-{n}-{r}.time").read().split()[-4:]
        rows.append((float(wall), float(user) + float(sys_), int(rss) / 1024))
    return rows
def tokens(engine, n):
    return json.load(open(f"{work}/{engine}-{n}-1.json"))["tokens"]
print(f"cold generate, {threads} threads, {decode} decoded tokens, starattn KV {kv}, llama.cpp KV f16, medians of {repeats} alternating runs")
for n in prompts:
    a, b = runs("starattn", n), runs("llamacpp", n)
    ta, tb = tokens("starattn", n), tokens("llamacpp", n)
    same = sum(1 for x, y in zip(ta, tb) if x == y)
    print(f"\nprompt {n} tokens ({open(f'{work}/load-{n}.txt').read().strip()})")
    print(f"| {'':12} | {'starattn':>9} | {'llama.cpp':>9} | {'ratio':>6} |")
    for i, (name, unit) in enumerate([("wall", "s"), ("CPU", "s"), ("peak RSS", "MiB")]):
        ma, mb = statistics.median(x[i] for x in a), statistics.median(x[i] for x in b)
        fmt = "{:.0f}" if unit == "MiB" else "{:.2f}"
        print(f"| {name + ' ' + unit:12} | {fmt.format(ma):>9} | {fmt.format(mb):>9} | {ma / mb:5.2f}x |")
    print(f"greedy tokens: starattn {len(ta)}, llama.cpp {len(tb)}, the same at {same} of {min(len(ta), len(tb))} positions"
          + (f" (first difference at {next(i for i, (x, y) in enumerate(zip(ta, tb)) if x != y)})" if same < min(len(ta), len(tb)) else ""))
PY
