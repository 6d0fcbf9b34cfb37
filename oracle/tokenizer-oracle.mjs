// Independent tokenizer oracle for the Java tests.
//   node tokenizer-oracle.mjs dump   llama3|llama2 OUT.json   -> {tokens:[...], merges:[[a,b],...]}
//   node tokenizer-oracle.mjs encode llama3|llama2 TEXTS.json -> prints [[ids...], ...] (no BOS/EOS)
// llama3: llama3-tokenizer-js (byte-level BPE, Llama 3 vocabulary incl. its 256 special tokens).
// llama2: llama-tokenizer-js (SentencePiece-style BPE, Llama 2 vocabulary, with the preceding space).
import fs from 'node:fs';
import llama3Tokenizer from 'llama3-tokenizer-js';
import llama2Tokenizer from 'llama-tokenizer-js';

const [cmd, which, file] = process.argv.slice(2);
const tok = which === 'llama3' ? llama3Tokenizer : which === 'llama2' ? llama2Tokenizer : null;
if (!tok || !file || (cmd !== 'dump' && cmd !== 'encode')) {
  console.error('usage: node tokenizer-oracle.mjs dump|encode llama3|llama2 FILE');
  process.exit(2);
}

if (cmd === 'dump') {
  // merges: Map "a b" -> priority (ascending = earlier merge); split back into pairs by ids.
  const entries = [...tok.merges.entries()].sort((x, y) => x[1] - y[1]);
  const merges = entries.map(([key]) => {
    // Tokens never contain a plain space (byte-level uses "Ġ", SentencePiece uses "▁").
    const i = key.indexOf(' ', 1);
    return [key.slice(0, i), key.slice(i + 1)];
  });
  fs.writeFileSync(file, JSON.stringify({ tokens: tok.vocabById, merges }));
} else {
  const texts = JSON.parse(fs.readFileSync(file, 'utf8'));
  const out = texts.map(t => which === 'llama3'
    ? tok.encode(t, { bos: false, eos: false })
    : tok.encode(t, false, true));
  process.stdout.write(JSON.stringify(out));
}
