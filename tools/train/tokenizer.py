"""SentencePiece-style BPE tokenizer for the starattn tiny model.

The encoder is exactly llama.cpp's ``llm_tokenizer_spm`` (vocab type "llama"):

1. add_space_prefix: prepend " " to the text; replace every " " by U+2581 ("▁");
2. split into Unicode characters (symbols);
3. repeatedly merge the adjacent pair of symbols whose concatenation is a vocab
   token with the highest score (ties: the leftmost pair);
4. every final symbol that is not a vocab token becomes the tokens of its UTF-8
   bytes, ``<0xXX>``.

Vocab layout: ``<unk>`` (0, type 2 UNKNOWN), ``<s>`` (1, type 3 CONTROL), ``</s>``
(2, type 3), ``<0x00>``..``<0xFF>`` (3..258, type 6 BYTE), then the normal pieces
(type 1): all printable ASCII characters, "▁" and "\\n" (single characters,
score -(n_merges + i)), then the BPE merges in rank order (score = -rank).

Vocabulary constraints (enforced when training and checked on load) that make a
fast, exact chunked encoder possible: no token contains a digit or "\\n" unless it
is that single character, and "▁" occurs in a token only as its first character.
So no token spans a boundary before a "▁", around a "\\n" or around a digit; the
encoding of a text is the concatenation of the encodings of its chunks
(see ``CHUNK_RE``), which are cached.
"""
from __future__ import annotations

import heapq
import json
import os
import re
import sys
from collections import Counter, defaultdict

SPACE = "\u2581"
UNK, BOS, EOS = 0, 1, 2
N_BYTES = 256
TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_BYTE = 1, 2, 3, 6

# Chunks: "▁..." up to (not including) the next ▁ / newline / digit; a newline; a
# digit; any other run (text that follows a newline or digit).
CHUNK_RE = re.compile("\u2581[^\u2581\n0-9]*|\n|[0-9]|[^\u2581\n0-9]+")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VOCAB = os.path.join(HERE, "tokenizer_vocab.json")


class Tokenizer:
    def __init__(self, tokens, scores, types):
        self.tokens = list(tokens)
        self.scores = [float(s) for s in scores]
        self.types = [int(t) for t in types]
        self.n_vocab = len(self.tokens)
        self.tok2id = {}
        for i, t in enumerate(self.tokens):
            if self.types[i] in (TYPE_NORMAL,):
                self.tok2id[t] = i
            elif self.types[i] in (TYPE_CONTROL, TYPE_UNKNOWN, TYPE_BYTE):
                # llama.cpp's text_to_token map holds every token text
                self.tok2id.setdefault(t, i)
        assert len(self.tok2id) == self.n_vocab, "duplicate token texts"
        self.byte_ids = [3 + b for b in range(256)]
        for b in range(256):
            assert self.tokens[3 + b] == "<0x%02X>" % b
        self._check_constraints()
        self.cache = {}
        # decoded bytes per token (for decode)
        self.piece_bytes = []
        for i, t in enumerate(self.tokens):
            ty = self.types[i]
            if ty == TYPE_BYTE:
                self.piece_bytes.append(bytes([int(t[3:5], 16)]))
            elif ty == TYPE_NORMAL:
                self.piece_bytes.append(t.replace(SPACE, " ").encode("utf-8"))
            else:
                self.piece_bytes.append(b"")

    def _check_constraints(self):
        for i, t in enumerate(self.tokens):
            if self.types[i] != TYPE_NORMAL or len(t) == 1:
                continue
            assert SPACE not in t[1:], t
            assert "\n" not in t, t
            assert not any(c.isdigit() for c in t), t

    # ---------------------------------------------------------------- encoding
    def spm_raw(self, text: str) -> list[int]:
        """llama.cpp llm_tokenizer_spm on already-escaped text (no prefix added)."""
        if not text:
            return []
        sym_text = list(text)
        n = len(sym_text)
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        alive = [True] * n
        heap = []
        tok2id, scores = self.tok2id, self.scores

        def add(left, right):
            if left == -1 or right == -1:
                return
            s = sym_text[left] + sym_text[right]
            tid = tok2id.get(s)
            if tid is None:
                return
            heapq.heappush(heap, (-scores[tid], left, right, len(s)))

        for i in range(1, n):
            add(i - 1, i)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            if not alive[left] or not alive[right] or len(sym_text[left]) + len(sym_text[right]) != size:
                continue
            if nxt[left] != right:
                continue
            sym_text[left] = sym_text[left] + sym_text[right]
            alive[right] = False
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            add(prev[left], left)
            add(left, nxt[left])
        out = []
        i = 0
        while i != -1:
            s = sym_text[i]
            tid = tok2id.get(s)
            if tid is not None:
                out.append(tid)
            else:
                # not merged (merged symbols are always tokens): byte fallback
                for b in s.encode("utf-8"):
                    out.append(3 + b)
            i = nxt[i]
        return out

    def encode_raw(self, text: str) -> list[int]:
        """Encode without the space prefix, via cached chunks (exact)."""
        esc = text.replace(" ", SPACE)
        cache = self.cache
        out = []
        for ch in CHUNK_RE.findall(esc):
            ids = cache.get(ch)
            if ids is None:
                ids = tuple(self.spm_raw(ch))
                if len(cache) > 400000:
                    cache.clear()
                cache[ch] = ids
            out.extend(ids)
        return out

    def encode(self, text: str, bos: bool = False) -> list[int]:
        """llama.cpp tokenization of one text: add_space_prefix, no parse_special."""
        # llama.cpp: an empty text has no fragment, so no space prefix either
        ids = self.encode_raw(" " + text) if text else []
        return [BOS] + ids if bos else ids

    def encode_slow(self, text: str) -> list[int]:
        if not text:
            return []
        return self.spm_raw((" " + text).replace(" ", SPACE))

    # ---------------------------------------------------------------- decoding
    def decode(self, ids, strip_prefix_space: bool = False) -> str:
        b = b"".join(self.piece_bytes[i] for i in ids if 0 <= i < self.n_vocab)
        s = b.decode("utf-8", errors="replace")
        if strip_prefix_space and s.startswith(" "):
            s = s[1:]
        return s

    # ---------------------------------------------------------------- io
    @classmethod
    def load(cls, path: str = DEFAULT_VOCAB) -> "Tokenizer":
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return cls(d["tokens"], d["scores"], d["token_type"])

    def save(self, path: str, meta: dict | None = None):
        d = {"model": "llama", "tokens": self.tokens, "scores": self.scores, "token_type": self.types}
        if meta:
            d["meta"] = meta
        with open(path, "w", encoding="utf-8") as f:
            json.dump(d, f, ensure_ascii=False, indent=0)


# ------------------------------------------------------------------ training
def base_pieces():
    chars = [chr(c) for c in range(33, 127)] + [SPACE, "\n"]
    return chars


def train_bpe(texts, vocab_size: int):
    """Learn BPE merges on the chunks of `texts`; returns a Tokenizer."""
    counts = Counter()
    for t in texts:
        esc = (" " + t).replace(" ", SPACE)
        counts.update(CHUNK_RE.findall(esc))
    chars = base_pieces()
    charset = set(chars)
    n_merges = vocab_size - 3 - N_BYTES - len(chars)
    assert n_merges > 0
    # words as symbol lists; only chunks of length >= 2 can merge
    words, freqs = [], []
    for w, c in counts.items():
        if len(w) >= 2 and not w[0].isdigit() and w != "\n":
            words.append(list(w))
            freqs.append(c)
    pair_count = Counter()
    pair_where = defaultdict(set)
    for wi, (syms, c) in enumerate(zip(words, freqs)):
        for a, b in zip(syms, syms[1:]):
            pair_count[(a, b)] += c
            pair_where[(a, b)].add(wi)
    merges = []
    vocab_set = set(chars)
    while len(merges) < n_merges and pair_count:
        best = max(pair_count.items(), key=lambda kv: (kv[1], kv[0]))
        (a, b), c = best
        if c <= 0:
            break
        new = a + b
        if new in vocab_set or new in ("<s>", "</s>", "<unk>") or (new.startswith("<0x") and new.endswith(">")):
            del pair_count[(a, b)]
            continue
        merges.append(new)
        vocab_set.add(new)
        for wi in list(pair_where[(a, b)]):
            syms = words[wi]
            f = freqs[wi]
            # remove old pairs
            for x, y in zip(syms, syms[1:]):
                pair_count[(x, y)] -= f
                if pair_count[(x, y)] <= 0:
                    pair_count.pop((x, y), None)
                pair_where[(x, y)].discard(wi)
            i = 0
            out = []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[wi] = out
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] += f
                pair_where[(x, y)].add(wi)
        pair_count.pop((a, b), None)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    scores = [0.0] * len(tokens)
    types = [TYPE_UNKNOWN, TYPE_CONTROL, TYPE_CONTROL] + [TYPE_BYTE] * 256
    nm = len(merges)
    for i, ch in enumerate(chars):
        tokens.append(ch)
        scores.append(float(-(nm + i)))
        types.append(TYPE_NORMAL)
    for r, m in enumerate(merges):
        tokens.append(m)
        scores.append(float(-r))
        types.append(TYPE_NORMAL)
    return Tokenizer(tokens, scores, types), merges


def bpe_apply(merges, word):
    """Plain BPE (merge rules in rank order) on one escaped chunk, for comparison."""
    rank = {}
    syms = list(word)
    # reconstruct pair ranks lazily: a merge string m can be formed by several
    # pairs; BPE used the specific pair at training time. We approximate by
    # allowing any split (same as SPM), so this is only used in tests for stats.
    for r, m in enumerate(merges):
        rank[m] = r
    while True:
        best = None
        for i in range(len(syms) - 1):
            r = rank.get(syms[i] + syms[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return syms
        i = best[1]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]


SAMPLE_TEXTS = [
    "Hello world",
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.",
    "One of the special magic numbers for quiet-harbor is: 4827193.",
    "One of the special magic uuids for 3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b is: a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d.",
    "What is the special magic number for brave-falcon mentioned in the provided text?",
    " The special magic numbers for bold-otter, calm-river, and dusty-lamp mentioned in the provided text are",
    "Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.\n",
    "VAR ABCDE = 12345 The grass is green.\n VAR FGHIJ = VAR ABCDE",
    " Answer: According to the chain(s) of variable assignment in the text above, 5 variables are assigned the value 40213, they are: ",
    "1. apple 2. river 3. apple 4. lantern 10. owl 123. compass",
    "Read the following coded text and track the frequency of each coded word. qwerty zxcvbn .... .... asdfgh",
    "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?",
    "line one\nline two\n\nline four\n",
    "  two leading spaces and  double  spaces  ",
    "trailing space ",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000000 9999999 3.14159 -42 +7 1,234,567",
    "Punctuation! Does it work? Yes; it does: (mostly) [brackets] {braces} <angle> \"quotes\" 'single' `tick` ~tilde^ @at #hash $dollar %percent &amp *star _under |pipe \\back /slash",
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve r\u00e9sum\u00e9",
    "Emoji test \U0001F600 and \U0001F680 rocket",
    "Stra\u00dfe, \u0441\u043b\u043e\u0432\u043e, \u65e5\u672c\u8a9e, \u03b1\u03b2\u03b3",
    "",
    " ",
    "\n",
    "a",
    "The quiet harbor carried the golden lantern near the old bridge. Nobody knew why the river was so cold.",
    "Alice and Bruno wandered slowly across the misty meadow in the morning.",
    "<s> </s> <unk> <0x41> are not special when parsed as text",
    "tab\tseparated\tvalues\tand\rcarriage return",
    "UPPERCASE LETTERS AND MiXeD CaSe WoRdS",
    "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
    "The top 10 words that appear most often in the list are: 1. apple 2. river",
    "\u2581already escaped\u2581text",
]


def corpus_for_training(n_samples=600, seed=12345):
    """Generated text from every task generator (text only), for BPE training."""
    import random
    sys.path.insert(0, HERE)
    import data as D
    rng = random.Random(seed)
    g = D.Grammar.load()
    texts = []
    # prose, weighted high
    for _ in range(30000):
        texts.append(" ".join(g.sentence(rng) for _ in range(5)))
    for _ in range(n_samples):
        texts.extend(D.text_for_bpe(rng, g))
    return texts


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["train", "samples", "selftest"])
    ap.add_argument("--vocab-size", type=int, default=1536)
    ap.add_argument("--out", default=DEFAULT_VOCAB)
    ap.add_argument("--samples-out", default=os.path.join(HERE, "..", "..", "models", "tokenizer_samples.json"))
    a = ap.parse_args()
    if a.cmd == "train":
        texts = corpus_for_training()
        tok, merges = train_bpe(texts, a.vocab_size)
        print("vocab", tok.n_vocab, "merges", len(merges), "first merges", merges[:20], "last", merges[-10:])
        tok.save(a.out, meta={"n_merges": len(merges), "vocab_size": a.vocab_size,
                              "trained_on": "tokenizer.corpus_for_training(seed=12345)"})
    elif a.cmd == "samples":
        tok = Tokenizer.load()
        out = [{"text": t, "ids": tok.encode(t)} for t in SAMPLE_TEXTS]
        with open(a.samples_out, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
        print("wrote", len(out), "samples to", a.samples_out)
    elif a.cmd == "selftest":
        selftest()


def selftest(n=2000):
    import random
    tok = Tokenizer.load()
    rng = random.Random(7)
    texts = list(SAMPLE_TEXTS) + corpus_for_training(n_samples=40, seed=99)[-600:]
    bad = 0
    for t in texts:
        a, b = tok.encode(t), tok.encode_slow(t)
        if a != b:
            bad += 1
            print("MISMATCH chunked vs slow:", repr(t[:80]))
        d = tok.decode(a)
        if d != ((" " + t) if t else "").replace(SPACE, " "):
            bad += 1
            print("ROUNDTRIP:", repr(t[:80]), repr(d[:80]))
    # random strings
    alphabet = "abcdefghijklmnopqrstuvwxyz ABC.,:-\n0123456789\u00e9\U0001F600\u2581"
    for _ in range(n):
        t = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        a, b = tok.encode(t), tok.encode_slow(t)
        if a != b:
            bad += 1
            print("MISMATCH random:", repr(t))
    print("selftest", "OK" if bad == 0 else "FAILED %d" % bad, "texts", len(texts) + n)
    return bad == 0


if __name__ == "__main__":
    main()
