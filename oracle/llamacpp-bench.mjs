// llama.cpp (node-llama-cpp, CPU) prefill and decode speed on a GGUF, for BENCHMARKS.md beside
// `starattn bench engine` on the same file. Usage: node llamacpp-bench.mjs FILE PROMPT DECODE REPEATS THREADS [reuse]
// With "reuse" the prompt is evaluated once and every repeat decodes from it (the decoded tokens are erased
// after each repeat), like `bench engine --reuse-context`. decode_cpu_tokens_per_s counts this process's CPU
// seconds (user + system): with 1 thread it is the work per token whatever else runs on the machine.
import {getLlama} from "node-llama-cpp";

const [file, promptArg = "2048", decodeArg = "32", repeatsArg = "3", threadsArg = "2", reuseArg = ""] = process.argv.slice(2);
const prompt = Number(promptArg), decode = Number(decodeArg), repeats = Number(repeatsArg), threads = Number(threadsArg);
const reuse = reuseArg === "reuse";
const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath: file});
const vocab = model.tokens.vocabSize ?? 32000;
// The same pseudo-random token ids for every run (ids 3.. avoid control tokens).
let s = 1;
const tokens = Array.from({length: prompt + 1}, () => { s = (s * 1103515245 + 12345) % 2147483648; return 3 + (s % (vocab - 3)); });
const median = v => { const a = [...v].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const pre = [], dec = [], decCpu = [];
let ctx = null, seq = null, prefillMs = 0;
const fresh = async () => {
  ctx = await model.createContext({contextSize: prompt + decode + 16, batchSize: Math.min(prompt, 2048), threads});
  seq = ctx.getSequence();
  const t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, prompt));
  prefillMs = performance.now() - t0;
};
for (let r = -1; r < repeats; r++) {
  if (!reuse || ctx === null) await fresh();
  let n = 0;
  const c0 = cpuSeconds(), t0 = performance.now();
  for await (const tok of seq.evaluate([tokens[prompt]], {temperature: 0})) {
    if (++n >= decode) break;
  }
  const decodeMs = performance.now() - t0, decodeCpu = cpuSeconds() - c0;
  if (reuse) await seq.eraseContextTokenRanges([{start: prompt, end: seq.nextTokenIndex}]);
  else await ctx.dispose();
  if (r < 0) continue;
  pre.push(prompt / (prefillMs / 1000));
  dec.push(decode / (decodeMs / 1000));
  decCpu.push(decode / decodeCpu);
  console.error(`  llama.cpp repeat ${r + 1}: prefill ${pre.at(-1).toFixed(1)} tok/s, decode ${dec.at(-1).toFixed(2)} tok/s, ${decCpu.at(-1).toFixed(2)} per CPU second`);
}
console.log(JSON.stringify({engine: "llama.cpp (node-llama-cpp 3.21.1, CPU)", prompt_tokens: prompt, decode_tokens: decode,
  threads, prefill_tokens_per_s: median(pre), decode_tokens_per_s: median(dec), decode_cpu_tokens_per_s: median(decCpu),
  prefill_runs: pre, decode_runs: dec, decode_cpu_runs: decCpu}));
