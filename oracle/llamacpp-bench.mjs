// llama.cpp (node-llama-cpp, CPU) prefill and decode speed on a GGUF, for BENCHMARKS.md beside
// `starattn bench engine` on the same file. Usage: node llamacpp-bench.mjs FILE PROMPT DECODE REPEATS THREADS
import {getLlama} from "node-llama-cpp";

const [file, promptArg = "2048", decodeArg = "32", repeatsArg = "3", threadsArg = "2"] = process.argv.slice(2);
const prompt = Number(promptArg), decode = Number(decodeArg), repeats = Number(repeatsArg), threads = Number(threadsArg);
const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath: file});
const vocab = model.tokens.vocabSize ?? 32000;
// The same pseudo-random token ids for every run (ids 3.. avoid control tokens).
let s = 1;
const tokens = Array.from({length: prompt + 1}, () => { s = (s * 1103515245 + 12345) % 2147483648; return 3 + (s % (vocab - 3)); });
const median = v => { const a = [...v].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
const pre = [], dec = [];
for (let r = -1; r < repeats; r++) {
  const ctx = await model.createContext({contextSize: prompt + decode + 16, batchSize: Math.min(prompt, 2048), threads});
  const seq = ctx.getSequence();
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, prompt));
  const prefillMs = performance.now() - t0;
  let n = 0;
  t0 = performance.now();
  for await (const tok of seq.evaluate([tokens[prompt]], {temperature: 0})) {
    if (++n >= decode) break;
  }
  const decodeMs = performance.now() - t0;
  await ctx.dispose();
  if (r < 0) continue;
  pre.push(prompt / (prefillMs / 1000));
  dec.push(decode / (decodeMs / 1000));
  console.error(`  llama.cpp repeat ${r + 1}: prefill ${pre.at(-1).toFixed(1)} tok/s, decode ${dec.at(-1).toFixed(2)} tok/s`);
}
console.log(JSON.stringify({engine: "llama.cpp (node-llama-cpp 3.21.1, CPU)", prompt_tokens: prompt, decode_tokens: decode,
  threads, prefill_tokens_per_s: median(pre), decode_tokens_per_s: median(dec), prefill_runs: pre, decode_runs: dec}));
