#!/usr/bin/env bash
# Star over gRPC context host processes on this machine against the same run in one process (issue 27, item 4):
#   bash tools/bench/grpc-hosts.sh [tokens=16384] [hosts=8] [model=~/.cache/starattn/random-125m-q8_0.gguf] [new=8] [vocab=32000]
# Starts HOSTS-1 `starattn host` processes (this process is the last host and the query host), runs `generate --json`
# over them, then `generate --hosts HOSTS` in one process on the same tokens. Prints both runs' greedy tokens (they must
# be equal), their phase-1 critical paths, and for each host process its resident memory after loading the model (idle)
# and at the end (VmHWM), and the host's own accounting after phase 1: its resident memory and peak (VmHWM) against what it should take
# (weights + its KV share + one block's working set: the [anchor; block] KV and a prefill chunk's activations).
# Writes the JSON of both runs and hosts.tsv into OUTDIR (default /tmp/grpc-hosts). Hosts are stopped by their process
# ids on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-16384}
H=${2:-8}
MODEL=${3:-$HOME/.cache/starattn/random-125m-q8_0.gguf}
NEW=${4:-8}
VOCAB=${5:-32000}
OUTDIR=${OUTDIR:-/tmp/grpc-hosts}
mkdir -p "$OUTDIR"
[ -f "$MODEL" ] || { echo "grpc-hosts.sh: no model file $MODEL (starattn bench attention --random 125m writes it)" >&2; exit 2; }
python3 -c "import random,sys; r=random.Random(7); print(' '.join(str(r.randrange($VOCAB)) for _ in range($N)))" > "$OUTDIR/context.txt"
python3 -c "import random; r=random.Random(8); print(' '.join(str(r.randrange($VOCAB)) for _ in range(16)))" > "$OUTDIR/query.txt"
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop EXIT
ADDRS=()
for i in $(seq 1 $((H - 1))); do
  ./starattn host -m "$MODEL" --port 0 > "$OUTDIR/host$i.out" 2> "$OUTDIR/host$i.err" &
  PIDS+=($!)
done
for i in $(seq 1 $((H - 1))); do
  for _ in $(seq 1 240); do grep -q listening "$OUTDIR/host$i.out" 2>/dev/null && break; sleep 1; done
  port=$(python3 -c "import json; print(next(json.loads(l) for l in open('$OUTDIR/host$i.out') if l.startswith('{\"listening\"'))['port'])")
  ADDRS+=("127.0.0.1:$port")
done
idle=()
for p in "${PIDS[@]}"; do idle+=($(awk '/VmRSS/ {print $2}' /proc/$p/status)); done
addrs=$(IFS=,; echo "${ADDRS[*]}")
./starattn generate -m "$MODEL" --context-tokens "$OUTDIR/context.txt" --query-tokens "$OUTDIR/query.txt" --host-addrs "$addrs" \
  -n "$NEW" --json 2>/dev/null > "$OUTDIR/remote.json"
: > "$OUTDIR/hosts.tsv"
for i in "${!PIDS[@]}"; do
  echo -e "${ADDRS[$i]}\t${idle[$i]}\t$(awk '/VmHWM/ {print $2}' /proc/${PIDS[$i]}/status)\t$(grep 'memory: ' "$OUTDIR/host$((i + 1)).err" | tail -n 1 | sed 's/.*memory: //')" >> "$OUTDIR/hosts.tsv"
done
stop
PIDS=()
./starattn generate -m "$MODEL" --context-tokens "$OUTDIR/context.txt" --query-tokens "$OUTDIR/query.txt" --hosts "$H" \
  -n "$NEW" --json 2>/dev/null > "$OUTDIR/local.json"
python3 - "$OUTDIR" "$N" "$H" <<'EOF'
import json, sys
out, n, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r, l = json.load(open(f"{out}/remote.json")), json.load(open(f"{out}/local.json"))
print(f"{n} tokens, {h} hosts ({h - 1} gRPC host processes + this one), star")
print("tokens, gRPC hosts:", r["tokens"])
print("tokens, in-process:", l["tokens"])
print("EQUAL" if r["tokens"] == l["tokens"] else "DIFFERENT")
# On one machine the gRPC hosts run at once on the same cores (each host's time is about the wall), while in one process
# each host's own time is measured alone: compare the walls.
print(f"phase 1: gRPC wall {r['timing']['phase1_ms'] / 1e3:.1f} s (critical path {r['timing']['phase1_critical_path_ms'] / 1e3:.1f} s), "
      f"in-process wall {l['timing']['phase1_ms'] / 1e3:.1f} s (critical path {l['timing']['phase1_critical_path_ms'] / 1e3:.1f} s)")
rows = {a: (int(i), int(p), m) for a, i, p, m in (line.split("\t") for line in open(f"{out}/hosts.tsv").read().splitlines())}
for host in r["hosts"]:
    if host["name"] not in rows: continue
    idle, peak, memory = rows[host["name"]]
    print(f"{host['name']}: {host['tokens']} tokens, KV {host['kv_bytes'] / 2**20:.1f} MiB; RSS idle {idle / 1024:.0f} MiB, "
          f"peak after phase 2 {peak / 1024:.0f} MiB; the host's own line after phase 1: {memory}")
EOF
