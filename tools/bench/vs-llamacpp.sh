#!/usr/bin/env bash
# Dense prefill and decode of starattn and llama.cpp on the same GGUF, one after the other in one
# run, on the same threads. Usage: tools/bench/vs-llamacpp.sh [MODEL.gguf] [PROMPT] [DECODE] [REPEATS] [KV] [GEMM]
# KV is our KV cache type (default f16: what llama.cpp keeps by default, so both read the same bytes
# per decoded token; f32 doubles the cache reads, which at 2K context outweigh a 125M model's weights).
# GEMM is our prefill matrix-product engine, passed to `bench engine --gemm` (default auto: the
# native OpenBLAS GEMM when it loads, else the Java kernel); a list such as native,java measures
# each in the same run, alternating repeat by repeat, and prints each against llama.cpp.
# Without a model, the random 125M Q8_0 model of the engine issue is written to ~/.cache/starattn.
#
# Cold start: tools/bench/vs-llamacpp.sh --cold [MODEL.gguf] [PROMPTS] [DECODE] [REPEATS] [KV]
# times whole processes instead: `./starattn generate` (dense, one host) against
# oracle/llamacpp-generate.mjs, both evaluating the same prompt token ids and greedy-decoding DECODE
# tokens (default prompts 2048,8192, 64 tokens, 5 repeats, KV f16), alternating which goes first, and
# prints the medians of wall time, CPU seconds (user+sys) and peak RSS with their ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--cold" ]; then shift; exec tools/bench/cold-generate.sh "$@"; fi
model="${1:-}"; prompt="${2:-2048}"; decode="${3:-32}"; repeats="${4:-3}"; kv="${5:-f16}"; gemm="${6:-auto}"
threads="$(nproc)"
if [ -z "$model" ]; then
  ./starattn bench engine --random 125m --weights q8_0 --prompt 16 --decode 1 --repeats 1 >/dev/null
  model="$HOME/.cache/starattn/random-125m-q8_0.gguf"
fi
[ -d oracle/node_modules ] || (cd oracle && npm ci --no-audit --no-fund)
echo "== starattn" >&2
./starattn bench engine -m "$model" --prompt "$prompt" --decode "$decode" --repeats "$repeats" --kv-type "$kv" --gemm "$gemm" --json /tmp/starattn-engine.json
echo "== llama.cpp" >&2
node oracle/llamacpp-bench.mjs "$model" "$prompt" "$decode" "$repeats" "$threads" > /tmp/llamacpp-engine.json
python3 - <<'PY'
import json
a = json.load(open("/tmp/starattn-engine.json")); b = json.load(open("/tmp/llamacpp-engine.json"))
modes = a.get("by_gemm") or {"default": a}
for name, m in modes.items():
    tag = f" (gemm {name}: {m['engine']})" if "engine" in m else ""
    print(f"prefill {a['prompt_tokens']} tokens{tag}: starattn {m['prefill_tokens_per_s']:.1f} tok/s, llama.cpp {b['prefill_tokens_per_s']:.1f} tok/s, ratio {m['prefill_tokens_per_s']/b['prefill_tokens_per_s']:.2f}x")
print(f"KV cache: starattn {a['kv_type']}, llama.cpp f16 (its default)")
for name, m in modes.items():
    tag = f" (gemm {name})" if len(modes) > 1 else ""
    print(f"decode{tag}: starattn {m['decode_tokens_per_s']:.2f} tok/s, llama.cpp {b['decode_tokens_per_s']:.2f} tok/s, ratio {m['decode_tokens_per_s']/b['decode_tokens_per_s']:.2f}x")
PY
