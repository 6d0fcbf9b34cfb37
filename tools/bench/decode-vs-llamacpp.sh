#!/usr/bin/env bash
# Decode of starattn (our Java and native Q8_0 decode kernels, alternating repeat by repeat) and llama.cpp
# on the same GGUF and the same KV type, each prefilling the prompt once and decoding from it REPEATS times.
# Prints decode tokens/s (wall) and tokens per CPU second (the process's CPU time: with THREADS=1 the
# work per token, whatever else runs on the machine) and the ratios to llama.cpp.
# Usage: tools/bench/decode-vs-llamacpp.sh [PROMPT] [DECODE] [REPEATS] [THREADS] [MODEL.gguf]
set -euo pipefail
cd "$(dirname "$0")/../.."
prompt="${1:-2048}"; decode="${2:-64}"; repeats="${3:-5}"; threads="${4:-$(nproc)}"; model="${5:-}"
if [ -z "$model" ]; then
  ./starattn bench engine --random 125m --weights q8_0 --prompt 16 --decode 1 --repeats 1 >/dev/null
  model="$HOME/.cache/starattn/random-125m-q8_0.gguf"
fi
[ -d oracle/node_modules ] || (cd oracle && npm ci --no-audit --no-fund)
echo "== load: $(uptime)" >&2
STARATTN_JAVA_OPTS="-Dstarattn.threads=$threads ${STARATTN_JAVA_OPTS:-}" ./starattn bench engine -m "$model" --prompt "$prompt" \
  --decode "$decode" --repeats "$repeats" --kv-type f16 --reuse-context --decode-kernel java,native --json /tmp/starattn-decode.json
node oracle/llamacpp-bench.mjs "$model" "$prompt" "$decode" "$repeats" "$threads" reuse > /tmp/llamacpp-decode.json
echo "== load: $(uptime)" >&2
python3 - "$threads" <<'PY'
import json, sys
a = json.load(open("/tmp/starattn-decode.json")); b = json.load(open("/tmp/llamacpp-decode.json"))
print(f"{a['prompt_tokens']}-token context, KV f16 (both), {sys.argv[1]} thread(s), medians of {len(b['decode_runs'])}")
print(f"llama.cpp: decode {b['decode_tokens_per_s']:.2f} tok/s, {b['decode_cpu_tokens_per_s']:.2f} per CPU second")
for name, m in a["by_gemm"].items():
    print(f"starattn {name} ({m['decode_kernel']}): decode {m['decode_tokens_per_s']:.2f} tok/s ({m['decode_tokens_per_s']/b['decode_tokens_per_s']:.2f}x), "
          f"{m['decode_cpu_tokens_per_s']:.2f} per CPU second ({m['decode_cpu_tokens_per_s']/b['decode_cpu_tokens_per_s']:.2f}x)")
PY
