// Independent oracle: greedy decoding with llama.cpp (node-llama-cpp 3.21.1, CPU build shipped in the package).
//   node llamacpp-greedy.mjs MODEL.gguf TOKEN_IDS N
// TOKEN_IDS: comma-separated prompt token ids, evaluated exactly as given (no BOS is added: evaluate()
// takes token ids). Prints {"tokens":[...N greedy ids...]} on stdout.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [modelPath, idsArg, nArg] = process.argv.slice(2);
if (!modelPath || !idsArg) {
  console.error('usage: node llamacpp-greedy.mjs MODEL.gguf ID,ID,... [N=32]');
  process.exit(2);
}
const prompt = idsArg.split(/[\s,]+/).filter(s => s.length > 0).map(Number);
const n = nArg ? Number(nArg) : 32;

const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const contextSize = Math.max(64, prompt.length + n + 8);
// One batch holds the whole prompt, so llama.cpp evaluates it in a single ubatch.
// F32 KV cache and no flash attention: llama.cpp's defaults (F16 KV) would round K and V to half precision.
const context = await model.createContext({
  contextSize, batchSize: contextSize, sequences: 1, threads: 2, flashAttention: false,
  experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
});
const sequence = context.getSequence();
const out = [];
if (process.env.ORACLE_PROBS === '1') {
  // Diagnostics: llama.cpp's next-token distribution after the prompt (temperature 1, no truncation).
  for await (const r of sequence.evaluateWithMetadata(prompt, { probabilities: true },
      { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 })) {
    process.stdout.write(JSON.stringify({ probabilities: [...r.probabilities.entries()] }) + '\n');
    break;
  }
  process.exit(0);
}
// yieldEogToken: keep going through end-of-generation tokens (our side runs with no stop token).
for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
  out.push(token);
  if (out.length >= n) break;
}
process.stdout.write(JSON.stringify({ tokens: out, contextSize: context.contextSize }) + '\n');
await context.dispose();
await model.dispose();
await llama.dispose();
