// llama.cpp's whole `generate` as one process, for the cold-start comparison with `starattn generate`
// (tools/bench/vs-llamacpp.sh --cold): load the GGUF, evaluate the prompt's token ids, greedy-decode N.
//   node llamacpp-generate.mjs MODEL.gguf TOKENS_FILE N THREADS
// TOKENS_FILE holds whitespace- or comma-separated ids, evaluated as given (no BOS added). The KV cache
// is llama.cpp's default (f16); the batch is 2048 tokens, as in llamacpp-bench.mjs.
// Prints {"tokens":[...]} on stdout.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, tokensFile, nArg = "64", threadsArg = "2"] = process.argv.slice(2);
if (!modelPath || !tokensFile) {
  console.error("usage: node llamacpp-generate.mjs MODEL.gguf TOKENS_FILE [N=64] [THREADS=2]");
  process.exit(2);
}
const prompt = readFileSync(tokensFile, "utf8").split(/[\s,]+/).filter(s => s.length > 0).map(Number);
const n = Number(nArg), threads = Number(threadsArg);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const context = await model.createContext({contextSize: prompt.length + n + 16, batchSize: Math.min(prompt.length, 2048), threads});
const sequence = context.getSequence();
const out = [];
for await (const token of sequence.evaluate(prompt, {temperature: 0, yieldEogToken: true})) {
  out.push(token);
  if (out.length >= n) break;
}
process.stdout.write(JSON.stringify({tokens: out}) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
