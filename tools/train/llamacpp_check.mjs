// Cross-check with llama.cpp (node-llama-cpp, from ../../oracle/node_modules):
//   node tools/train/llamacpp_check.mjs MODEL.gguf tokenize SAMPLES.json   -> compares ids
//   node tools/train/llamacpp_check.mjs MODEL.gguf probs ID,ID,...          -> next-token probs after each prefix (JSON)
//   node tools/train/llamacpp_check.mjs MODEL.gguf generate HELDOUT.jsonl N  -> greedy generations (JSON lines)
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";
const here = path.dirname(fileURLToPath(import.meta.url));
const {getLlama} = await import(path.join(here, "../../oracle/node_modules/node-llama-cpp/dist/index.js"));
const [modelPath, cmd, arg, arg2] = process.argv.slice(2);
const llama = await getLlama({gpu: false, logLevel: "error"});
const model = await llama.loadModel({modelPath});
if (cmd === "tokenize") {
  const samples = JSON.parse(fs.readFileSync(arg, "utf8"));
  let bad = 0;
  for (const s of samples) {
    const ids = Array.from(model.tokenize(s.text, false));
    const same = ids.length === s.ids.length && ids.every((v, i) => v === s.ids[i]);
    if (!same) { bad++; console.log("MISMATCH", JSON.stringify(s.text), JSON.stringify(ids), JSON.stringify(s.ids)); }
  }
  console.log(`tokenize: ${samples.length - bad}/${samples.length} equal`);
} else if (cmd === "probs") {
  const ids = arg.split(",").map(Number);
  const ctx = await model.createContext({contextSize: Math.max(256, ids.length + 8), batchSize: 512});
  const seq = ctx.getSequence();
  const input = ids.map((t) => [t, {generateNext: {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0}}}]);
  const res = await seq.controlledEvaluate(input);
  const out = res.map((r) => {
    const top = Array.from(r.next.probabilities.entries()).slice(0, 5);
    return top;
  });
  console.log(JSON.stringify(out));
} else if (cmd === "generate") {
  const lines = fs.readFileSync(arg, "utf8").split("\n").filter((l) => l.trim());
  const n = Math.min(Number(arg2 || lines.length), lines.length);
  for (let i = 0; i < n; i++) {
    const r = JSON.parse(lines[i]);
    if (!r.input_context) continue;
    const ctxIds = Array.from(model.tokenize(r.input_context, false));
    const qIds = Array.from(model.tokenize(r.input_query, false));
    const prompt = [1, ...ctxIds, ...qIds];
    const cs = prompt.length + r.max_new + 16;
    const ctx = await model.createContext({contextSize: cs, batchSize: Math.min(512, cs)});
    const seq = ctx.getSequence();
    const gen = [];
    for await (const t of seq.evaluate(prompt, {temperature: 0})) {
      gen.push(t);
      if (t === 2 || gen.length >= r.max_new) break;
    }
    await ctx.dispose();
    // node-llama-cpp ends the generator at </s> without yielding it: compare without it
    const strip = (a) => a.filter((t) => t !== 2);
    const same = JSON.stringify(strip(gen)) === JSON.stringify(strip(r.pred_ids));
    console.log(JSON.stringify({task: r.task, length: r.length, seed: r.seed, prompt_len: prompt.length,
      prompt_ids_equal: JSON.stringify(prompt) === JSON.stringify(r.prompt_ids ?? prompt), llama_ids: gen, torch_ids: r.pred_ids, same}));
  }
}
process.exit(0);
