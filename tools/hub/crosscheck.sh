#!/usr/bin/env bash
# Checks by hand (not in CI: it needs Python with huggingface_hub and transformers) that `starattn pull`
# and huggingface_hub's snapshot_download write the same cache, and that each reads the other's.
# Serves two repositories from core's test Hub (HubTestServer) on 127.0.0.1; nothing leaves the machine.
# Usage: tools/hub/crosscheck.sh [PYTHON]   (after: mvn -B -o -DskipTests package -pl app -am)
set -euo pipefail
PY=${1:-/work/venv/bin/python}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
W=$(mktemp -d)
PORT=18765
export HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 HF_ENDPOINT=http://127.0.0.1:$PORT
unset HF_TOKEN HF_HUB_OFFLINE HF_HOME

mkdir -p "$W/repos/acme/tiny"
echo '{"model_type":"llama"}' > "$W/repos/acme/tiny/config.json"
echo '{"model":{}}' > "$W/repos/acme/tiny/tokenizer.json"
echo '# not pulled' > "$W/repos/acme/tiny/README.md"
head -c 2500000 /dev/urandom > "$W/repos/acme/tiny/model.safetensors"
"$PY" - "$W/repos/acme/real" <<'PY'
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, vocab_size=300)).save_pretrained(sys.argv[1])
PY

"$JAVA" -cp "$ROOT/core/target/classes:$ROOT/core/target/test-classes" dev.starattn.hub.HubTestServer "$W/repos" $PORT > "$W/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER; rm -rf "$W"' EXIT
sleep 3

for r in acme/tiny acme/real; do
  HF_HUB_CACHE="$W/py" "$PY" -c "from huggingface_hub import snapshot_download as s; s('$r', allow_patterns=['config.json','tokenizer.json','generation_config.json','*.safetensors'])" 2>/dev/null
  HF_HUB_CACHE="$W/java" "$ROOT/starattn" pull -q "$r" > /dev/null 2>&1
done

# The trees: every file with its hash and mode, every link with its target; huggingface_hub's own
# tree-listing cache (trees/) and the modes of lock files (its file lock opens them 0664) aside.
tree() { (cd "$1" && find . \( -type f -o -type l \) -not -path './*/trees/*' | sort | while read -r f; do
  if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [[ $f == ./.locks/* ]]; then echo "$f"; else echo "$f $(sha256sum < "$f" | cut -c1-16) $(stat -c %a "$f")"; fi; done); }
diff <(tree "$W/py") <(tree "$W/java") && echo "same tree: $(tree "$W/java" | wc -l) entries"

# Each reads the other's cache, offline.
HF_HUB_OFFLINE=1 HF_HUB_CACHE="$W/java" "$PY" -c "
from transformers import AutoModelForCausalLM
m = AutoModelForCausalLM.from_pretrained('acme/real'); print('transformers read starattn\'s cache:', type(m).__name__)" 2>/dev/null
HF_HUB_OFFLINE=1 HF_HUB_CACHE="$W/py" "$ROOT/starattn" info -m acme/real 2>/dev/null | grep -E '^(path|architecture|parameters) '
HF_HUB_CACHE="$W/py" "$ROOT/starattn" list 2>/dev/null
