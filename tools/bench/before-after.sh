#!/usr/bin/env bash
# Two builds of starattn on one machine, alternating round by round: `bench engine` (prefill and decode
# tokens/s) and `bench attention` (phase-1 wall and critical path, TTFT per strategy), then the median of
# each figure over the rounds for both builds and their ratio. A change that should not change speed is
# checked this way: noise is what the two builds' spreads show, not a single run.
#
#   tools/bench/before-after.sh BEFORE.jar AFTER.jar [ROUNDS] [OUTDIR]
#
# Build the "before" jar from another commit with, e.g.:
#   git worktree add /tmp/before COMMIT && (cd /tmp/before && mvn -B -q -DskipTests package -pl app -am)
set -euo pipefail
before=$1 after=$2 rounds=${3:-5} out=${4:-bench-results/before-after}
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
mkdir -p "$out"
run() {  # jar name round
  local jar=$1 name=$2 r=$3
  "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
    --sun-misc-unsafe-memory-access=allow -jar "$jar" bench engine --prompt "${PROMPT:-512}" --decode "${DECODE:-16}" \
    --repeats 2 --json "$out/engine-$name-$r.json" >/dev/null 2>&1
  "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
    --sun-misc-unsafe-memory-access=allow -jar "$jar" bench attention --context "${CONTEXT:-2k}" --hosts "${HOSTS:-4}" \
    --repeats 1 --warmup 1 --json "$out/attention-$name-$r.json" >/dev/null 2>&1
}
for r in $(seq 1 "$rounds"); do
  # Alternate which build goes first, so that a drift over time falls on both.
  if [ $((r % 2)) = 1 ]; then run "$before" before "$r"; run "$after" after "$r"
  else run "$after" after "$r"; run "$before" before "$r"; fi
  echo "round $r/$rounds done" >&2
done
python3 - "$out" "$rounds" <<'EOF'
import json, statistics, sys, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(kind, name):
    return [json.load(open(os.path.join(out, f"{kind}-{name}-{r}.json"))) for r in range(1, rounds + 1)]
rows = []
for key, label in [("prefill_tokens_per_s", "engine prefill tok/s"), ("decode_tokens_per_s", "engine decode tok/s")]:
    b = [j[key] for j in load("engine", "before")]; a = [j[key] for j in load("engine", "after")]
    rows.append((label, b, a))
def attention_rows(runs):
    by = {}
    for j in runs:
        for row in (j["rows"] if isinstance(j, dict) else j):
            for field, name in (("wallMs", "phase-1 wall ms"), ("critMs", "phase-1 critical path ms"), ("ttftMs", "TTFT ms"),
                                ("decodeTps", "decode tok/s")):
                by.setdefault(f"{row['mode']} {name}", []).append(row[field])
    return by
bb, aa = attention_rows(load("attention", "before")), attention_rows(load("attention", "after"))
for k in sorted(bb):
    if k in aa: rows.append((f"attention {k}", bb[k], aa[k]))
print(f"| figure | before (median of {rounds}) | after (median of {rounds}) | after / before |")
print("|---|---|---|---|")
for label, b, a in rows:
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"| {label} | {mb:.1f} (range {min(b):.1f}-{max(b):.1f}) | {ma:.1f} (range {min(a):.1f}-{max(a):.1f}) | {ma / mb:.3f} |")
EOF
